"""The Arrow path of a bulk pull (reinfer_nb.columnar) gives the JSON path's frame.

Pages decoded by pyarrow and framed once must equal the frame built from the parsed JSON
(frames.records_frame: json_normalize's columns, order and values), on the sandbox's
comments and on random JSON; shapes Arrow cannot type take the JSON path.
(Speed and memory are measured in benchmarks/bench_bulk.py, never asserted here.)
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reinfer_nb.columnar import PageDecoder, Unsupported, pages_frame
from reinfer_nb.frames import RawPages, pages_to_frame, records_frame, typed_columns
from reinfer_nb.results import Pages, RawAnswer, Result
from tests.support.frames import assert_same_frame

COMMENTS = "/api/_private/sources/dev/support-emails/comments"
QUERY = "/api/_private/datasets/dev/support-triage/query"


def results_of(pages: list[dict[str, Any]], decoder: PageDecoder | None = None) -> list[Result]:
    """Pages as a bulk pull keeps them: a RawAnswer where Arrow took the page, else JSON."""
    decoder = decoder or PageDecoder()
    out = []
    for page in pages:
        raw = decoder.decode(json.dumps(page, ensure_ascii=False).encode())
        out.append(Result(raw if raw is not None else page, 200, "GET", "http://x/p", None))  # type: ignore[arg-type]
    return out


def json_frame(pages: list[dict[str, Any]], *, typed: bool = True) -> pd.DataFrame:
    """The JSON path's frame of the pages' ``items`` (typed, as pages_to_frame gives it;
    ``typed=False``: as columnar.pages_frame gives it, before typing)."""
    frame = records_frame([record for page in pages for record in page["items"]])
    return typed_columns(frame) if typed else frame


# --------------------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        ("GET", COMMENTS, {"params": {"limit": 100}}),
        ("POST", QUERY, {"json": {"order": {"kind": "recent"}, "limit": 64}}),
    ],
)
def test_sandbox_pages_give_the_same_frame_both_ways(
    client: Any, method: str, path: str, options: dict[str, Any]
) -> None:
    arrow = client.fetch_all(method, path, **options)
    plain = client.fetch_all(method, path, columnar=False, **options)
    assert all(isinstance(r.answer, RawAnswer) for r in arrow.results)
    assert not any(isinstance(r.answer, RawAnswer) for r in plain.results)
    got, expected = pages_to_frame(arrow), pages_to_frame(plain)
    assert len(got) > 300
    assert_same_frame(got, expected)
    assert got.attrs["pages"] == expected.attrs["pages"] == len(plain.results)
    assert got.attrs["raw"] == plain.data  # the bytes, parsed when read


def test_comment_frame_dtypes_and_nested_values(client: Any) -> None:
    frame = pages_to_frame(client.fetch_all("GET", COMMENTS, params={"limit": 50}, limit=120))
    assert len(frame) == 120
    text = frame["id"].dtype
    assert pd.api.types.is_string_dtype(text) and text.storage == "pyarrow"
    assert isinstance(frame["messages"].dtype, pd.ArrowDtype)
    messages = frame["messages"][0]
    assert isinstance(messages, list) and isinstance(messages[0]["body"]["text"], str)
    assert frame["has_annotations"].dtype == bool


def test_raw_pages_are_bytes_until_read(client: Any) -> None:
    pages = client.fetch_all("GET", COMMENTS, params={"limit": 100}, limit=250)
    frame = pages_to_frame(pages)
    raw = frame.attrs["raw"]
    assert isinstance(raw, RawPages) and raw._pages is None  # nothing parsed yet
    assert len(raw) == len(pages.results)
    assert raw._pages is None
    first = raw[0]
    assert first["status"] == "ok" and len(first["comments"]) == 100
    assert raw._pages is not None  # parsed once, on first read, and kept
    assert list(raw) == [r.data for r in pages.results]
    assert json.loads(json.dumps(list(raw)))[0] == first


# --------------------------------------------------------------------------- fallbacks


def test_a_field_whose_type_changes_between_pages_takes_the_json_path() -> None:
    pages = [
        {"status": "ok", "items": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]},
        {"status": "ok", "items": [{"id": "c", "v": "three"}, {"id": "d"}]},
    ]
    results = results_of(pages)
    assert all(isinstance(r.answer, RawAnswer) for r in results)  # each page alone is fine
    with pytest.raises(Unsupported):
        pages_frame(results)
    frame = pages_to_frame(Pages("GET", "/p", results))
    assert_same_frame(frame, json_frame(pages))
    assert frame["v"].tolist()[:3] == [1, 2, "three"]


def test_an_integer_that_becomes_a_float_between_pages_stays_on_the_arrow_path() -> None:
    pages = [
        {"status": "ok", "items": [{"n": 1}, {"n": 2}]},
        {"status": "ok", "items": [{"n": 2.5}]},
    ]
    results = results_of(pages)
    frame = pages_frame(results)
    assert frame["n"].tolist() == [1.0, 2.0, 2.5]
    assert_same_frame(frame, json_frame(pages, typed=False))


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":"ok","items":[{"v":1},{"v":"x"}]}',  # mixed types in one page
        b'{"status":"ok","items":[{"v":"\\ud800"}]}',  # a lone surrogate
        '{"status":"ok","items":[{"v":"caf\u00e9"}]}'.encode("latin-1"),  # not UTF-8
        b'{"status":"ok","items":[{"v":123456789012345678901}]}',  # past 64 bits
        b'{"status":"ok","items":[1, 2]}',  # records that are not objects
        b'{"status":"ok","items":[{"a":1}, null]}',
        b'{"status":"error","message":"no"}',
        b'{"status":"ok","source":{"id":"x"}}',  # one object, not a page of records
        b'[{"a": 1}]',
    ],
)
def test_shapes_arrow_cannot_hold_are_left_to_the_json_path(body: bytes) -> None:
    assert PageDecoder().decode(body) is None


def test_iso_dates_stay_text_as_sent() -> None:
    pages = [{"status": "ok", "items": [
        {"t": "2024-01-01T00:00:00+01:00", "d": "2024-05-01", "m": [{"at": "2024-01-01"}]},
    ]}]
    results = results_of(pages)
    assert isinstance(results[0].answer, RawAnswer)
    frame = pages_frame(results)
    assert frame["t"][0] == "2024-01-01T00:00:00+01:00" and frame["d"][0] == "2024-05-01"
    assert frame["m"][0] == [{"at": "2024-01-01"}]


def test_a_key_first_seen_holding_null_is_placed_where_json_normalize_puts_it() -> None:
    pages = [
        {"status": "ok", "items": [{"b": None, "a": 1}, {"c": 2}]},
        {"status": "ok", "items": [{"b": 3, "a": 2, "o": None}, {"o": {"x": 1}}]},
    ]
    results = results_of(pages)
    frame = pages_frame(results)
    expected = json_frame(pages, typed=False)
    assert list(expected.columns) == ["b", "a", "c", "o", "o.x"]
    assert_same_frame(frame, expected)


def test_the_limit_cuts_the_arrow_frame_like_the_json_one() -> None:
    pages = [{"status": "ok", "items": [{"i": i} for i in range(j, j + 3)]} for j in (0, 3, 6)]
    frame = pages_to_frame(Pages("GET", "/p", results_of(pages), limit=5))
    assert frame["i"].tolist() == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- random JSON

KEYS = ["id", "a", "b", "c", "d.e", ""]
KINDS = ["int", "float", "number", "text", "bool", "ints", "objects", "date", "object"]


def scalar(kind: str) -> st.SearchStrategy[Any]:
    return {
        "int": st.integers(-(2**63), 2**63 - 1) | st.integers(-9, 9),
        "float": st.floats(allow_nan=False, allow_infinity=False),
        "number": st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False),
        "text": st.text(max_size=6) | st.sampled_from(["null", '"a":null', "x\ny", "é😀"]),
        "bool": st.booleans(),
        "ints": st.lists(st.integers(-3, 3), max_size=3),
        "objects": st.lists(
            st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 3), max_size=2),
            max_size=2,
        ),
        "date": st.sampled_from(
            ["2024-01-01", "2024-01-01T10:00:00Z", "2024-02-03T04:05:06+01:00"]
        ),
    }[kind]


@st.composite
def shapes(draw: Any, depth: int = 0) -> dict[str, Any]:
    """A record type: key -> kind, or a nested record type."""
    names = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
    shape: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(KINDS if depth < 2 else KINDS[:-1]))
        shape[name] = draw(shapes(depth + 1)) if kind == "object" else kind
    return shape


@st.composite
def records(draw: Any, shape: dict[str, Any]) -> dict[str, Any]:
    """A record of the shape: any subset of its keys, in its order or shuffled, some null."""
    items = []
    for name, kind in shape.items():
        if draw(st.booleans()) and draw(st.booleans()):
            continue  # missing
        if draw(st.integers(0, 9)) == 0:
            items.append((name, None))
        elif isinstance(kind, dict):
            items.append((name, draw(records(kind))))
        else:
            items.append((name, draw(scalar(kind))))
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    return dict(items)


@st.composite
def api_pages(draw: Any) -> list[dict[str, Any]]:
    """Pages of records of one shape; sometimes a field changes type on a later page."""
    shape = draw(shapes())
    pages = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.lists(records(shape), max_size=5))
        pages.append({"status": "ok", "items": rows, "continuation": None})
        if draw(st.integers(0, 4)) == 0:
            name = draw(st.sampled_from(sorted(shape)))
            shape = {**shape, name: draw(st.sampled_from(KINDS[:-1]))}
    return pages


PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(pages=api_pages())
def test_random_api_pages_give_the_same_frame_both_ways(pages: list[dict[str, Any]]) -> None:
    frame = pages_to_frame(Pages("GET", "/p", results_of(pages)))
    assert_same_frame(frame, json_frame(pages))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "a.b", ""]), inner, max_size=3),
    max_leaves=8,
)


@PROPERTY
@given(rows=st.lists(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "a.b"]),
                                                  json_values, max_size=4), max_size=4),
                     min_size=1, max_size=3))
def test_any_json_records_give_the_same_frame_whichever_path(
    rows: list[list[dict[str, Any]]]
) -> None:
    pages = [{"status": "ok", "items": items} for items in rows]
    frame = pages_to_frame(Pages("GET", "/p", results_of(pages)))
    assert_same_frame(frame, json_frame(pages))


def test_api_like_pages_take_the_arrow_path() -> None:
    """The properties above are about the Arrow path: pages like the API's must take it."""
    import random

    for seed in range(20):
        rng = random.Random(seed)
        rows = [{"id": str(i), "n": rng.choice([1, None, 2]), "o": {"x": rng.random()},
                 "l": [{"k": 1}] * rng.randint(0, 2)} for i in range(rng.randint(1, 6))]
        pages = [{"status": "ok", "items": rows[:3]}, {"status": "ok", "items": rows[3:]}]
        assert_same_frame(pages_frame(results_of(pages)), json_frame(pages, typed=False))


def test_an_empty_page_and_empty_objects() -> None:
    pages = [{"status": "ok", "items": []}, {"status": "ok", "items": [{"e": {}}, {"e": {}}]}]
    assert_same_frame(pages_to_frame(Pages("GET", "/p", results_of(pages))), json_frame(pages))
