"""Honest paging and display: page sizes from the spec, --limit alone pages, has_more, the
progress bar's end and total, display_limit and one-line text cells, typed columns."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from IPython.utils.capture import capture_output
from tqdm.notebook import tqdm as notebook_tqdm

from reinfer_nb.client import Client
from reinfer_nb.magics import get_client
from reinfer_nb.paging import PAGE_MAXIMA, max_page_size, with_page_size
from reinfer_nb.spec import openapi

from .support.servers import TOKEN, LoopbackServer, Seen, ok
from .support.shell import login

LISTING = "/api/_private/sources/dev/support-emails/comments"
QUERY = "/api/_private/datasets/dev/support-triage/query"


# --------------------------------------------------------------------------- the table


def _limit_schema(spec: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    """The spec's ``limit`` of an operation: the query parameter, or the body property."""
    operation = spec["paths"][template][method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "limit":
            return {**parameter["schema"], "description": parameter.get("description", "")}
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return dict(body["properties"]["limit"])


@pytest.mark.parametrize(("method", "template"), list(PAGE_MAXIMA), ids=str)
def test_page_maxima_match_the_spec(method: str, template: str) -> None:
    schema = _limit_schema(openapi(), method, template)
    stated = re.search(r"\((\d+)-(\d+)\)", schema.get("description", ""))
    if "maximum" in schema:
        assert PAGE_MAXIMA[method, template] == schema["maximum"]
    elif stated:
        assert PAGE_MAXIMA[method, template] == int(stated.group(2))
    else:
        # The spec sets no maximum for the dataset query: the table uses the page of the
        # official `re` client (512). If the spec ever states one, this fails: update it.
        assert template.endswith("/query") and PAGE_MAXIMA[method, template] == 512


def test_with_page_size() -> None:
    assert max_page_size("GET", LISTING) == 256
    assert max_page_size("get", LISTING + "?after=x") == 256
    assert max_page_size("POST", QUERY) == 512 and max_page_size("GET", QUERY) is None
    assert max_page_size("GET", "/api/v1/datasets") is None
    assert with_page_size("GET", LISTING, None, None, None) == ({"limit": 256}, None)
    assert with_page_size("GET", LISTING, {"x": 1}, None, 300) == ({"x": 1, "limit": 256}, None)
    assert with_page_size("GET", LISTING, None, None, 40) == ({"limit": 40}, None)
    assert with_page_size("POST", QUERY, None, {"order": 1}, 700) == (None, {"order": 1,
                                                                            "limit": 512})
    # What the request says is kept.
    assert with_page_size("GET", LISTING, {"limit": "10"}, None, 300) == ({"limit": "10"}, None)
    assert with_page_size("GET", LISTING + "?limit=30", None, None, None) == (None, None)
    assert with_page_size("POST", QUERY, {"limit": 5}, {}, None) == ({"limit": 5}, {})
    assert with_page_size("POST", QUERY, None, {"limit": 64}, None) == (None, {"limit": 64})
    assert with_page_size("GET", "/api/v1/datasets", None, None, 5) == (None, None)


# --------------------------------------------------------------------------- --limit


def test_limit_alone_pages_until_n_rows(ip: Any, sb: Any) -> None:
    login(ip, sb)
    with capture_output():
        result = ip.run_cell(f"%%reinfer_get -o df --limit 300\n{LISTING}")
    assert result.success, result.error_in_exec
    df = ip.user_ns["df"]
    assert len(df) == 300 and df.attrs["has_more"] and df.attrs["complete"]
    assert df.attrs["pages"] == 2 and all("limit=256" in t.path for t in df.attrs["timings"])
    # The same through the Client.
    pages = get_client(ip).fetch_all("GET", LISTING, limit=300)
    assert pages.rows == 300 and pages.has_more and len(pages.results) == 2
    # A small --limit asks for a small page.
    with capture_output():
        ip.run_cell(f"%reinfer_get -o few --limit 5 {LISTING}")
    few = ip.user_ns["few"]
    assert len(few) == 5 and few.attrs["pages"] == 1 and "limit=5" in few.attrs["timings"][0].path


def test_all_uses_the_largest_page_unless_the_cell_gives_one(ip: Any, sb: Any) -> None:
    login(ip, sb)
    with capture_output():
        ip.run_cell(f"%%reinfer_post -o q --all --limit 700\n{QUERY}\n"
                    '{"order": {"kind": "recent"}}')
        ip.run_cell(f"%%reinfer_get -o small --all --limit 45\n{LISTING}\nlimit: 20")
    q = ip.user_ns["q"]
    assert len(q) == 700 and q.attrs["pages"] == 2  # pages of 512
    assert len(q.attrs["raw"][0]["results"]) == 512
    small = ip.user_ns["small"]
    assert small.attrs["pages"] == 3 and all("limit=20" in t.path for t in small.attrs["timings"])


def test_has_more_is_false_when_the_data_ends(client: Client, sb: Any) -> None:
    total = len(client.fetch_all("GET", LISTING).records)
    pages = client.fetch_all("GET", LISTING, limit=total + 100)
    assert pages.rows == total and not pages.has_more and pages.complete
    pages = client.fetch_all("GET", LISTING, limit=total)
    assert pages.rows == total and not pages.has_more
    pages = client.fetch_all("GET", LISTING, max_pages=1)
    assert pages.rows == 256 and pages.has_more
    sb.inject("error", path=r"/comments$", status=500, skip=1, times=20)
    pages = client.fetch_all("GET", LISTING, limit=1000)
    assert not pages.complete and not pages.has_more and pages.rows == 256


# --------------------------------------------------------------------------- progress


class RecordingBar(notebook_tqdm):  # type: ignore[misc]
    """tqdm's notebook bar (what Jupyter shows), recording every bar made."""

    made: list[RecordingBar] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingBar.made.append(self)
        self.totals: list[Any] = [self.total]

    def refresh(self, *args: Any, **kwargs: Any) -> Any:
        self.totals.append(self.total)
        return super().refresh(*args, **kwargs)


@pytest.fixture
def notebook_bars(monkeypatch: pytest.MonkeyPatch) -> list[RecordingBar]:
    RecordingBar.made = []
    monkeypatch.setattr("tqdm.auto.tqdm", RecordingBar)
    return RecordingBar.made


def test_bar_ends_finished_when_the_data_ends_early(
    client: Client, notebook_bars: list[RecordingBar]
) -> None:
    pages = client.fetch_all("GET", LISTING, limit=10_000, progress=True)
    assert pages.complete and pages.rows < 10_000
    (bar,) = notebook_bars
    _, widget, _ = bar.container.children
    assert widget.bar_style != "danger"
    assert bar.n == bar.total == pages.rows and widget.value == widget.max == pages.rows


def test_bar_stays_unfinished_when_a_page_fails(
    client: Client, sb: Any, notebook_bars: list[RecordingBar]
) -> None:
    sb.inject("error", path=r"/comments$", status=500, skip=1, times=20)
    pages = client.fetch_all("GET", LISTING, limit=10_000, progress=True)
    assert not pages.complete
    (bar,) = notebook_bars
    assert bar.container.children[1].bar_style == "danger" and bar.total == 10_000


def test_bar_total_is_the_servers_count(notebook_bars: list[RecordingBar]) -> None:
    def answer(request: Seen, server: LoopbackServer) -> Any:
        token = (request.json() or {}).get("continuation")
        if token is None:
            return ok({"results": [{"n": i} for i in range(3)], "continuation": "2",
                       "num_results": {"filtered": 5, "expected": 5}})
        return ok({"results": [{"n": 3}, {"n": 4}]})

    with LoopbackServer(answer) as server, Client(server.url, TOKEN, timeout=5) as client:
        pages = client.fetch_all("POST", "/api/_private/datasets/o/d/query",
                                 json={"order": {"kind": "recent"}}, limit=1000, progress=True)
        assert server.requests_to("/api/_private/datasets/o/d/query")[0].json()["limit"] == 512
    assert pages.server_count == 5 and pages.rows == 5 and not pages.has_more
    (bar,) = notebook_bars
    assert bar.totals[0] == 1000 and 5 in bar.totals  # the limit, then the server's count
    assert bar.n == bar.total == 5 and bar.container.children[1].bar_style != "danger"


# --------------------------------------------------------------------------- display


def test_display_limit_and_one_line_text_cells(ip: Any, sb: Any) -> None:
    login(ip, sb)
    magics = ip.magics_manager.registry["ReinferMagics"]
    assert magics.display_limit == 10
    before = pd.get_option("display.max_colwidth")
    # What the cell's frame shows (rendered in the cell, where the display options hold).
    with capture_output():
        result = ip.run_cell("df = %reinfer_comments dev/support-triage --limit 40\n"
                             "shown = df._repr_html_(), repr(df)")
    assert result.success, result.error_in_exec
    html, text = ip.user_ns["shown"]
    df = ip.user_ns["df"]
    # 10 rows shown (5 first, 5 last), one line each: bodies cut, newlines not broken.
    assert html.count("<tr>") == 10 + 1 and "<td>...</td>" in html  # rows, the "..." row
    cells = re.findall(r"<td>(.*?)</td>", html, flags=re.S)
    assert cells and all("\n" not in cell for cell in cells)
    assert max(len(cell) for cell in cells) <= magics.display_width + 10  # (HTML escapes)
    assert sum(cell.endswith("...") for cell in cells) >= 10  # the bodies, at least
    assert "[40 rows x " in text and len(text.splitlines()) < 40
    # The data keeps the whole text.
    assert df["body"].str.contains("\n").any() and df["body"].str.len().max() > 100
    assert pd.get_option("display.max_colwidth") == before


# --------------------------------------------------------------------------- typed columns


def test_every_frame_gets_typed_columns(ip: Any, sb: Any) -> None:
    login(ip, sb)
    with capture_output():
        ip.run_cell("%reinfer_get -o sources /api/v1/sources")
        ip.run_cell("%reinfer_get -o users /api/_private/users")
        ip.run_cell(f"%%reinfer_get -o page --limit 20\n{LISTING}")
    sources, page = ip.user_ns["sources"], ip.user_ns["page"]
    for name in ("created_at", "updated_at", "last_modified"):
        assert str(sources[name].dtype) == "datetime64[ns, UTC]", name
    assert str(ip.user_ns["users"]["created"].dtype) == "datetime64[ns, UTC]"
    for name in ("timestamp", "created_at", "last_modified"):
        assert str(page[name].dtype) == "datetime64[ns, UTC]", name
    assert page["user_properties.number:NPS"].dtype == "float64"
    # The raw JSON is still the server's text.
    first = page.attrs["raw"][0]["comments"][0]
    assert isinstance(first["timestamp"], str)
    assert page["timestamp"].iloc[0] == pd.Timestamp(first["timestamp"])


def test_typed_columns_convert_only_what_converts_cleanly() -> None:
    from reinfer_nb.frames import to_frame

    frame = to_frame({"items": [
        {"at": "2024-01-31T09:30:00Z", "day": "2024-01-31", "mixed": "2024-01-31T09:30:00Z",
         "far": "9999-12-31T00:00:00Z", "n": 1, "big": 2**70, "flag": True, "s": "12"},
        {"at": None, "day": "2024-02-01", "mixed": "soon", "far": "9999-12-31T00:00:00Z",
         "n": 2.5, "big": "x", "flag": None, "s": "13"},
        {"at": "2024-02-01T10:00:00.123456+01:00", "day": None, "mixed": None, "far": None,
         "n": None, "big": None, "flag": False, "s": None},
    ]})
    assert str(frame["at"].dtype) == "datetime64[ns, UTC]" and frame["at"].isna().tolist() == [
        False, True, False]
    assert frame["at"].iloc[2] == pd.Timestamp("2024-02-01T09:00:00.123456Z")
    assert frame["n"].dtype == "float64"
    for name in ("day", "mixed", "far", "s"):  # dates alone, mixed text, out of range, text
        assert not pd.api.types.is_datetime64_any_dtype(frame[name]), name
    assert frame["big"].dtype == object and frame["flag"].dtype == object
