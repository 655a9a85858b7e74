"""Bad input: property tests of the parsers, and hostile answers over a real socket.

* The cell grammar, the URL normaliser and the Server-Timing parser, on arbitrary text,
  raise nothing but their documented errors (ConfigError; nothing for the parser).
* Any JSON answer, any bytes, huge answers (50 MB) and deep nesting (100,000 levels)
  give a DataFrame or one clear error, never a crash.
* Non-UTF-8 bytes and odd Unicode (emoji, right-to-left text, NUL, lone surrogates) render.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from reinfer_nb.cells import CallSpec, interpolate, parse_body_cell, parse_query_cell
from reinfer_nb.client import Client, _same_origin
from reinfer_nb.endpoints import Endpoint, normalise_endpoint
from reinfer_nb.errors import ConfigError, NetworkError, ReinferError
from reinfer_nb.frames import error_frame, pages_to_frame, to_frame
from reinfer_nb.timing import ServerTimingMetric, parse_server_timing

from .support.servers import TOKEN, LoopbackServer, NoDns, Reply, Seen, guard_network, ok

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[NoDns]:
    """No DNS: every lookup of a name fails in-process, and fails the test."""
    yield from guard_network(monkeypatch)

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Every code point, surrogates included.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=200)
# Pieces of the grammar, so that random text often looks almost right.
FRAGMENTS = [
    "/api/v1/datasets", "api/v1/x", "v1/sources/dev", "_private/x", "/auth/user", "/",
    "http://", "https://", "//", "127.0.0.1", "localhost", ":8000", "[::1]", "@", "..", ".",
    "%", "%2F", "%2e%2e", "?", "#", "&", "=", ":", "{", "}", "{{", "}}", "{x}", "{x!r}",
    "{x:>10}", "{x[0]}", "{x.real}", "{ns}", "{bad}", "{missing}", "{0}", "{}", " ", "\t",
    "\n", "\r\n", "\x00", "\\", '"', "'", "limit: 10", "a=b", "# c", "  # note",
    '{"a": 1}', "[1, 2]", "null", "1e999", "-0", "\ud800", "😀", "\u202e", "é",
]
GRAMMAR_TEXT = st.lists(st.sampled_from(FRAGMENTS) | ANY_TEXT, max_size=12).map("".join)
CELL_TEXT = ANY_TEXT | GRAMMAR_TEXT


class Hostile:
    """A value whose formatting fails in every way it can."""

    def __format__(self, spec: str) -> str:
        raise RuntimeError("no format")

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:  # Hypothesis shows the examples it runs
        return "Hostile()"

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("no item")


NAMESPACE = {
    "x": "a b/c?d#e", "ns": 12, "n": 3.5, "items": [1, 2], "d": {"k": "v"}, "none": None,
    "bad": Hostile(), "emoji": "😀", "lone": "\ud800", "nul": "\x00", "token": TOKEN,
}
NAMESPACES = st.just(NAMESPACE) | st.dictionaries(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.one_of(ANY_TEXT, st.integers(), st.floats(), st.none(), st.just(Hostile())),
    max_size=5,
)


# --------------------------------------------------------------------------- cells


@PROPERTY
@given(cell=CELL_TEXT, namespace=NAMESPACES,
       line_path=st.none() | CELL_TEXT, line_params=st.lists(CELL_TEXT, max_size=3))
@example(cell="/api/v1/x\n{bad}: 1", namespace=NAMESPACE, line_path=None, line_params=[])
@example(cell="/api/v1/x\nq: {bad.attr}", namespace=NAMESPACE, line_path=None, line_params=[])
def test_parse_query_cell(cell: str, namespace: dict[str, Any], line_path: str | None,
                          line_params: list[str]) -> None:
    try:
        spec = parse_query_cell(cell, namespace, line_path=line_path, line_params=line_params)
    except ConfigError as err:
        assert err.message and TOKEN not in err.message
        return
    assert isinstance(spec, CallSpec) and isinstance(spec.path, str)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in spec.params)


@PROPERTY
@given(cell=CELL_TEXT, namespace=NAMESPACES, line_path=st.none() | CELL_TEXT)
@example(cell="/api/v1/x\n" + "1" * 5000, namespace={}, line_path=None)
@example(cell="/api/v1/x\n" + "[" * 100_000, namespace={}, line_path=None)
@example(cell="/api/v1/x\n" + "[" * 50_000 + "]" * 50_000, namespace={}, line_path=None)
@example(cell='/api/v1/x\n# c\n{"a": "\\ud800"}', namespace={}, line_path=None)
def test_parse_body_cell(cell: str, namespace: dict[str, Any], line_path: str | None) -> None:
    try:
        spec = parse_body_cell(cell, namespace, line_path=line_path)
    except ConfigError as err:
        assert err.message
        return
    assert isinstance(spec, CallSpec) and isinstance(spec.path, str)
    assert spec.has_body or spec.body is None


@PROPERTY
@given(text=CELL_TEXT, namespace=NAMESPACES, url_encode=st.booleans())
@example(text="{bad}", namespace=NAMESPACE, url_encode=True)
@example(text="{bad!r}", namespace=NAMESPACE, url_encode=False)
@example(text="{bad[0]}", namespace=NAMESPACE, url_encode=False)
@example(text="{x:{n}}", namespace=NAMESPACE, url_encode=False)
@example(text="{lone}", namespace=NAMESPACE, url_encode=True)
def test_interpolate(text: str, namespace: dict[str, Any], url_encode: bool) -> None:
    try:
        out = interpolate(text, namespace, url_encode=url_encode)
    except ConfigError as err:
        assert err.message
        return
    assert isinstance(out, str)


# --------------------------------------------------------------------------- URLs


ENDPOINTS = [
    normalise_endpoint("http://127.0.0.1:8000"),
    normalise_endpoint("https://acme.reinfer.io"),
    normalise_endpoint("https://cloud.uipath.com/org/tenant/reinfer_"),
    normalise_endpoint("http://[::1]:9"),
]


@PROPERTY
@given(text=CELL_TEXT)
@example(text="http://127.0.0.1:80@evil.com")
@example(text="https://acme.reinfer.io:99999")
@example(text="https://[::1")
@example(text="https://%zz")
@example(text="http://\u0130.com")
@example(text="https://xn--.com")
def test_normalise_endpoint(text: str) -> None:
    try:
        endpoint = normalise_endpoint(text)
    except ConfigError as err:
        assert err.message
        return
    assert endpoint.scheme in ("http", "https") and endpoint.host
    if endpoint.scheme == "http":
        assert endpoint.is_loopback  # plain HTTP only to loopback
    assert normalise_endpoint(endpoint.root) == endpoint  # idempotent


@PROPERTY
@given(path=CELL_TEXT, endpoint=st.sampled_from(ENDPOINTS))
@example(path="http://127.0.0.1:8000/api/v1/x", endpoint=ENDPOINTS[0])
@example(path="http://127.0.0.1:8001/api/v1/x", endpoint=ENDPOINTS[0])
@example(path="//evil.com/api/v1/x", endpoint=ENDPOINTS[1])
@example(path="/api/v1/%2e%2e/%2e%2e/x", endpoint=ENDPOINTS[2])
@example(path="/api/v1/x?next=http://evil.com", endpoint=ENDPOINTS[1])
def test_endpoint_join(path: str, endpoint: Endpoint) -> None:
    try:
        url = endpoint.join(path)
    except ConfigError as err:
        assert err.message
        return
    # Whatever was given, the URL stays below this tenant root, on this origin.
    assert url.startswith(endpoint.root + "/")
    assert _same_origin(url, endpoint.origin)
    prepared = requests.Request("GET", url).prepare()
    assert prepared.url is not None and _same_origin(prepared.url, endpoint.origin)


# --------------------------------------------------------------------------- Server-Timing


@PROPERTY
@given(header=st.one_of(ANY_TEXT, GRAMMAR_TEXT.map(lambda t: t.replace("{", ";")),
                        st.binary(max_size=200), st.lists(ANY_TEXT, max_size=3),
                        st.none(), st.integers(), st.floats()))
@example(header="total;dur=1e999, a;dur=-1e999, b;dur=nan")
@example(header='total;dur="' + "\\" * 10_000)
@example(header="a;" * 10_000)
def test_parse_server_timing_never_raises(header: Any) -> None:
    metrics = parse_server_timing(header)
    assert isinstance(metrics, list)
    for metric in metrics:
        assert isinstance(metric, ServerTimingMetric)
        assert isinstance(metric.name, str) and isinstance(metric.description, str)
        assert isinstance(metric.duration, float)


# --------------------------------------------------------------------------- answers


class Answers:
    """Serves whatever body the test sets, with the content type it sets."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.content_type = "application/json"

    def __call__(self, request: Seen, server: LoopbackServer) -> Reply:
        return Reply(200, self.body, {"Content-Type": self.content_type,
                                      "Server-Timing": "total;dur=1"})


@pytest.fixture(scope="module")
def answers() -> Iterator[tuple[Answers, Client]]:
    handler = Answers()
    with LoopbackServer(handler) as server, Client(server.url, TOKEN, retries=0,
                                                    timeout=30) as client:
        yield handler, client


def fetch_frame(answers: tuple[Answers, Client], body: bytes,
                content_type: str = "application/json") -> pd.DataFrame | ReinferError:
    handler, client = answers
    handler.body, handler.content_type = body, content_type
    try:
        result = client.get("/api/v1/answer")
    except ReinferError as err:
        assert len(err._render_traceback_()) == 1 and "\n" not in err.message
        assert isinstance(error_frame(err), pd.DataFrame)
        return err
    frame = to_frame(result)
    render(frame)
    return frame


def render(frame: pd.DataFrame) -> None:
    """What a notebook does with a frame: show it as text and HTML, send it as UTF-8 JSON."""
    text, html = repr(frame), frame._repr_html_()
    assert isinstance(text, str) and isinstance(html, str)
    text.encode("utf-8")  # no lone surrogates: Jupyter sends outputs as UTF-8
    html.encode("utf-8")
    frame.to_csv().encode("utf-8")
    frame.head(3).copy()  # pandas copies attrs on every operation


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(payload=JSON_VALUES, status=st.sampled_from(["ok", None, "error", 1]))
def test_any_json_answer_gives_a_frame_or_one_clear_error(
    answers: tuple[Answers, Client], payload: Any, status: Any
) -> None:
    data = payload if not isinstance(payload, dict) or status is None else {
        **payload, "status": status}
    try:
        body = json.dumps(data).encode()
    except (UnicodeEncodeError, ValueError):
        assume(False)
        return
    out = fetch_frame(answers, body)
    ok_answer = isinstance(data, dict) and data.get("status") == "ok"
    assert isinstance(out, pd.DataFrame) == ok_answer


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "application/json; charset=latin-1", "application/json; charset=bogus",
     "text/html", "text/plain", ""]))
@example(body=b'{"status": "ok", "n": ' + b"1" * 5000 + b"}", content_type="application/json")
@example(body=b'{"status": "ok"}', content_type="application/json; charset=utf-16")
def test_any_bytes_give_a_frame_or_one_clear_error(
    answers: tuple[Answers, Client], body: bytes, content_type: str
) -> None:
    fetch_frame(answers, body, content_type)


def test_huge_answer_50_mb(answers: tuple[Answers, Client]) -> None:
    comments = [{"id": f"{i:08d}", "text": "x" * 200, "user_properties": {"string:n": str(i)}}
                for i in range(200_000)]
    body = json.dumps({"status": "ok", "comments": comments}).encode()
    del comments
    assert len(body) > 50_000_000
    frame = fetch_frame(answers, body)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 200_000
    assert frame["user_properties.string:n"].iloc[-1] == "199999"
    assert answers[1].timing_log.records[-1].bytes_received == len(body)


def test_huge_single_string(answers: tuple[Answers, Client]) -> None:
    body = json.dumps({"status": "ok", "comments": [{"id": "1", "text": "é" * 25_000_000}]})
    frame = fetch_frame(answers, body.encode())
    assert isinstance(frame, pd.DataFrame) and len(frame["text"][0]) == 25_000_000


@pytest.mark.parametrize("depth", [100_000, 5_000])
@pytest.mark.parametrize("shape", ["lists", "objects"])
def test_deep_nesting_is_a_clear_error(answers: tuple[Answers, Client], depth: int,
                                       shape: str) -> None:
    opening, closing = ("[", "]") if shape == "lists" else ('{"a":', "}")
    inner = opening * depth + ("" if shape == "lists" else "1") + closing * depth
    body = ('{"status": "ok", "comments": [{"id": "1", "v": ' + inner + "}]}").encode()
    err = fetch_frame(answers, body)
    assert isinstance(err, NetworkError) and err.reason == "too_deep" and err.attempts == 1
    assert "nested too deeply" in err.message


@pytest.mark.parametrize("depth", [10, 200, 800])
def test_deep_but_parseable_nesting_gives_a_frame(answers: tuple[Answers, Client],
                                                  depth: int) -> None:
    for inner in ('{"a":' * depth + "1" + "}" * depth, "[" * depth + "]" * depth):
        body = ('{"status": "ok", "comments": [{"id": "1", "v": ' + inner + "}]}").encode()
        frame = fetch_frame(answers, body)
        assert isinstance(frame, pd.DataFrame) and len(frame) == 1


def test_deep_nesting_through_the_magic(ip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    handler = Answers()
    with LoopbackServer(handler) as server:
        ip.run_line_magic("reinfer_login", f"--endpoint {server.url} --no-check")
        ip.run_line_magic("config", "ReinferMagics.check_spec = False")  # not the API's paths
        handler.body = ('{"status":"ok","comments":[' + "[" * 100_000 + "]" * 100_000
                        + "]}").encode()
        result = ip.run_cell("%reinfer_get -o deep /api/v1/x", store_history=True)
        assert isinstance(result.error_in_exec, NetworkError)
        assert result.error_in_exec.reason == "too_deep"
        assert list(ip.user_ns["deep"]["kind"]) == ["network"]
        handler.body = ok({"comments": [{"id": "1"}]}).body
        assert ip.run_cell("%reinfer_get -o fine /api/v1/x").error_in_exec is None


ODD_TEXTS = {
    "emoji": "😀👩‍👩‍👧‍👦🇬🇧",
    "rtl": "שלום עולם مرحبا \u202eevil\u202c",
    "nul": "a\x00b",
    "controls": "\x01\x1b[31mred\x7f",
    "combining": "e\u0301\u20dd",
    "bom": "\ufeffstart",
    "astral": "\U0010ffff\U0001d11e",
}


def test_odd_unicode_renders(answers: tuple[Answers, Client]) -> None:
    comments = [{"id": key, "text": value, key: value} for key, value in ODD_TEXTS.items()]
    frame = fetch_frame(answers, json.dumps({"status": "ok", "comments": comments}).encode())
    assert isinstance(frame, pd.DataFrame)
    assert dict(zip(frame["id"], frame["text"], strict=False)) == ODD_TEXTS  # nothing lost


def test_lone_surrogates_escaped_in_json_render(answers: tuple[Answers, Client]) -> None:
    body = (b'{"status": "ok", "comments": [{"id": "1", "text": "a\\ud800b\\udfffc", '
            b'"\\udbff": "key", "pair": "\\ud83d\\ude00", "nul": "x\\u0000y"}]}')
    frame = fetch_frame(answers, body)
    assert isinstance(frame, pd.DataFrame)
    row = frame.iloc[0]
    assert row["text"] == "a\ufffdb\ufffdc" and row["\ufffd"] == "key"
    assert row["pair"] == "😀" and row["nul"] == "x\x00y"  # valid pairs and NULs kept


@pytest.mark.parametrize(("content_type", "expected"), [
    ("application/json; charset=iso-8859-1", "café naïve"),  # declared: decoded as such
    ("application/json; charset=latin-1", "café naïve"),
    ("application/json", "caf\ufffd na\ufffdve"),  # undeclared, not UTF-8: marked, not lost
    ("application/json; charset=no-such-codec", "caf\ufffd na\ufffdve"),
])
def test_latin1_bytes_render(answers: tuple[Answers, Client], content_type: str,
                             expected: str) -> None:
    body = '{"status": "ok", "comments": [{"id": "1", "text": "café naïve"}]}'.encode("latin-1")
    frame = fetch_frame(answers, body, content_type)
    assert isinstance(frame, pd.DataFrame) and frame["text"][0] == expected


def test_other_encodings_render(answers: tuple[Answers, Client]) -> None:
    text = '{"status": "ok", "comments": [{"id": "1", "text": "café 😀"}]}'
    for body in (text.encode("utf-8-sig"), text.encode("utf-16"), text.encode("utf-32")):
        frame = fetch_frame(answers, body)
        assert isinstance(frame, pd.DataFrame) and frame["text"][0] == "café 😀"


def test_odd_answers_render_in_the_notebook(ip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the magic, displayed as a notebook would: text and HTML, as UTF-8 JSON."""
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    handler = Answers()
    handler.body = (b'{"status": "ok", "comments": [{"id": "1", "text": "\\ud800 caf\xe9 '
                    + "😀 שלום".encode() + b' \\u0000"}]}')
    with LoopbackServer(handler) as server:
        ip.run_line_magic("reinfer_login", f"--endpoint {server.url} --no-check")
        ip.run_line_magic("config", "ReinferMagics.check_spec = False")  # not the API's paths
        with capture_output() as cap:
            result = ip.run_cell("%reinfer_get /api/v1/x", store_history=True)
    assert result.error_in_exec is None and isinstance(result.result, pd.DataFrame)
    assert "😀" in cap.stdout
    try:
        from jupyter_client.session import json_packer
    except ImportError:  # pragma: no cover - jupyter_client comes with ipykernel
        return
    json_packer({"data": {"text/html": result.result._repr_html_(),
                          "text/plain": repr(result.result)}})


def test_pages_of_odd_answers_concatenate() -> None:
    """pages_to_frame and to_frame on raw JSON values never raise."""
    for data in ([], [1, "a", None], {"status": "ok"}, {"comments": []}, "text", 1.5,
                 {"comments": [{"a": {"b": [1, {"c": 2}]}}, "mixed", None]},
                 {"status": "ok", "x": {"y": {"z": 1}}}, [[["deep"]]] * 3):
        frame = to_frame(data)
        render(frame)
    assert isinstance(pages_to_frame([]), pd.DataFrame)
