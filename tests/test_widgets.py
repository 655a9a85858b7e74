"""Tests for reinfer_nb.widgets: the live timing widget's state, throttling and HTML."""

from __future__ import annotations

import gc
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from IPython.core.formatters import DisplayFormatter

from reinfer_nb.timing import TimingLog, TimingRecord
from reinfer_nb.widgets import (
    CHART_CALLS,
    NETWORK_COLOUR,
    SERVER_COLOUR,
    UNSPLIT_COLOUR,
    TimingWidget,
    render_timing_html,
)

THREAD_NAME = "reinfer_nb-timing-widget"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def _our_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    yield
    assert _our_threads() == []


@pytest.fixture
def make_widget() -> Iterator[Callable[..., TimingWidget]]:
    made: list[TimingWidget] = []

    def make(log: TimingLog, **kwargs: object) -> TimingWidget:
        widget = TimingWidget(log, **kwargs)  # type: ignore[arg-type]
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.close()


def record(
    i: int = 0,
    *,
    server_ms: float | None = 10.0,
    client_ms: float = 25.0,
    path: str = "/api/v1/datasets",
    method: str = "GET",
    status: int | None = 200,
    outcome: str = "ok",
    endpoint: str = "https://acme.reinfer.io",
) -> TimingRecord:
    return TimingRecord.from_measurement(
        started_at=T0 + timedelta(seconds=i),
        endpoint=endpoint,
        method=method,
        path=path,
        http_status=status,
        server_timing_header=None if server_ms is None else f"total;dur={server_ms}",
        client_ms=client_ms,
        outcome=outcome,
    )


def test_rows_and_summary(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, max_rows=3)
    for i in range(5):
        log.append(record(i, server_ms=10.0 * (i + 1), client_ms=10.0 * (i + 1) + 5, path=f"/p{i}"))
    widget.flush()
    assert [row["path"] for row in widget.rows] == ["/p2", "/p3", "/p4"]  # newest last
    newest = widget.rows[-1]
    assert newest == {
        "number": 5,
        "time": T0 + timedelta(seconds=4),
        "host": "acme.reinfer.io",
        "method": "GET",
        "path": "/p4",
        "status": 200,
        "outcome": "ok",
        "attempt": 1,
        "server_ms": 50.0,
        "network_ms": 5.0,
        "client_ms": 55.0,
        "calls": 1,
        "pages": None,
    }
    summary = widget.summary_html
    assert "5 calls" in summary
    assert "server median 30.0 ms, p95 48.0 ms" in summary
    assert "network median 5.0 ms, p95 5.0 ms" in summary
    assert f"{150 / 175:.0%} of the time on the server" in summary
    assert widget.table_html.count('role="row"') == 1 + 3  # header + max_rows
    assert ">12:00:04<" in widget.table_html and 'title="2024-05-01 12:00:04.000"' in (
        widget.table_html
    )
    assert "2 of 5 calls shown" not in widget.note_html and "3 of 5 calls shown" in (
        widget.note_html
    )


def test_empty_log_says_no_calls_yet(make_widget: Callable[..., TimingWidget]) -> None:
    widget = make_widget(TimingLog())
    assert "no calls yet" in widget.summary_html
    assert widget.rows == [] and widget.table_html == "" and widget.chart_html == ""
    assert "no calls yet" in render_timing_html(TimingLog())
    assert "no calls yet" in render_timing_html([])


def test_clear_shows_no_calls_yet(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog([record()])
    widget = make_widget(log, refresh_interval=60)
    assert "1 call" in widget.summary_html
    log.clear()
    widget.flush()
    assert "no calls yet" in widget.summary_html and widget.rows == []


def test_appends_are_throttled(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, refresh_interval=60)
    assert widget.redraw_count == 1  # the first view
    for i in range(1000):
        log.append(record(i))
    # The first append scheduled one redraw, 60 s after the first view: none happened yet.
    assert widget.redraw_count == 1
    assert len(_our_threads()) == 1
    widget.flush()
    assert widget.redraw_count == 2
    assert "1000 calls" in widget.summary_html
    assert len(widget.rows) == 20
    widget.close()  # cancels and joins the pending timer
    assert _our_threads() == []


def test_timer_redraws_by_itself(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, refresh_interval=0.01)
    for i in range(200):
        log.append(record(i))
    deadline = time.monotonic() + 30
    while "200 calls" not in widget.summary_html:  # the summary is drawn after the rows
        assert time.monotonic() < deadline, "the widget never redrew"
        time.sleep(0.01)
    assert widget.rows[-1]["time"] == T0 + timedelta(seconds=199)
    # However many appends there were, redraws are bounded by time, not by calls.
    assert widget.redraw_count < 200


def test_timer_redraws_only_when_dirty(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, refresh_interval=60)
    widget._on_timer()
    assert widget.redraw_count == 1
    log.append(record())
    widget._on_timer()
    assert widget.redraw_count == 2 and len(widget.rows) == 1


def test_close_stops_updates(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, refresh_interval=0)
    log.append(record(1))
    widget.close()
    assert widget.closed
    count = widget.redraw_count
    for i in range(50):
        log.append(record(i))
    widget.flush()
    assert widget.redraw_count == count
    assert _our_threads() == []
    widget.close()  # twice is fine


def test_closed_widget_is_collected() -> None:
    log = TimingLog()
    widget = TimingWidget(log)
    log.append(record())
    widget.close()
    ref = weakref.ref(widget)
    del widget
    gc.collect()
    assert ref() is None
    log.append(record())  # the log no longer calls it


def test_mimebundle(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog([record(path="/api/v1/datasets")])
    widget = make_widget(log)
    bundle = widget._repr_mimebundle_()
    assert {WIDGET_VIEW, "text/html", "text/plain"} <= set(bundle)
    assert bundle[WIDGET_VIEW]["model_id"] == widget.model_id
    assert "/api/v1/datasets" in bundle["text/html"] and "<svg" in bundle["text/html"]
    assert bundle["text/html"] == render_timing_html(log)
    assert bundle["text/plain"] == repr(widget)
    # What IPython puts in the notebook, before and after closing.
    data, _ = DisplayFormatter().format(widget)
    assert {WIDGET_VIEW, "text/html", "text/plain"} <= set(data)
    widget.close()
    data, _ = DisplayFormatter().format(widget)
    assert WIDGET_VIEW not in data and "/api/v1/datasets" in data["text/html"]


def test_fallback_is_current_when_displayed(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, refresh_interval=60)
    log.append(record(path="/fresh"))
    assert "/fresh" in widget._repr_mimebundle_()["text/html"]


def test_repr_is_short(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog([record() for _ in range(100)])
    widget = make_widget(log, max_rows=5)
    assert repr(widget) == "TimingWidget(calls=100, max_rows=5)"
    widget.close()
    assert repr(widget) == "TimingWidget(calls=100, max_rows=5, closed)"


def test_html_is_escaped(make_widget: Callable[..., TimingWidget]) -> None:
    evil = "/api/v1/<script>alert('x')</script>?q=\"&"
    log = TimingLog([record(path=evil, method="<b>GET")])
    widget = make_widget(log)
    for text in (widget.table_html, widget.chart_html, render_timing_html(log)):
        assert "<script>" not in text and "<b>GET" not in text
    assert "&lt;script&gt;" in widget.table_html
    assert "&lt;script&gt;" in widget.chart_html  # the bar's tooltip
    assert 'title="/api/v1/&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;?q=&quot;&amp;"' in (
        widget.table_html
    )


def test_host_never_shows_userinfo(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog([record(endpoint="https://user:secret@acme.reinfer.io:8443")])
    widget = make_widget(log)
    assert widget.rows[0]["host"] == "acme.reinfer.io:8443"
    assert "secret" not in render_timing_html(log)


def test_errors_in_table(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog(
        [
            record(0, status=429, outcome="api"),
            record(1, server_ms=None, status=None, outcome="network"),
        ]
    )
    widget = make_widget(log)
    api, network = widget.rows
    assert (network["status"], network["outcome"], network["server_ms"]) == (None, "network", None)
    assert api["status"] == 429
    assert ">network<" in widget.table_html and ">429<" in widget.table_html


def test_chart(make_widget: Callable[..., TimingWidget]) -> None:
    records = [record(i, server_ms=None if i % 10 == 0 else 10.0 + i) for i in range(80)]
    widget = make_widget(TimingLog(records))
    chart = widget.chart_html
    assert chart.count("<g>") == CHART_CALLS  # the last 50 calls only
    assert "server" in chart and "network" in chart and "no Server-Timing" in chart
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]+)"', chart)
    # 45 split calls (server + network), 5 without server time, and the 3 legend keys.
    assert bars.count(SERVER_COLOUR) == 45 + 1
    assert bars.count(NETWORK_COLOUR) == 45 + 1
    assert bars.count(UNSPLIT_COLOUR) == 5 + 1
    assert "server 39.0 ms" not in chart  # call 29 is too old for the chart
    assert "GET /api/v1/datasets: server 41.0 ms, network 0.0 ms" in chart  # call 31


def test_render_from_records() -> None:
    records = [record(i, path=f"/p{i}") for i in range(30)]
    page = render_timing_html(records, max_rows=5)
    assert page.count('class="reinfer-timing-row"') == 5
    assert "/p29" in page and "/p24" not in page.split("<svg")[0]
    assert "30 calls" in page
    assert page == render_timing_html(TimingLog(records), max_rows=5)


def test_max_rows_zero_hides_the_table(make_widget: Callable[..., TimingWidget]) -> None:
    widget = make_widget(TimingLog([record()]), max_rows=0)
    assert widget.rows == [] and widget.table_html == "" and "<svg" in widget.chart_html


@pytest.mark.parametrize("kwargs", [{"max_rows": -1}, {"refresh_interval": -0.1}])
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TimingWidget(TimingLog(), **kwargs)  # type: ignore[arg-type]


def test_appends_from_threads(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog()
    widget = make_widget(log, refresh_interval=0.001)

    def worker() -> None:
        for i in range(300):
            log.append(record(i))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    widget.flush()
    assert "1200 calls" in widget.summary_html and len(widget.rows) == 20


# --------------------------------------------------------------------------- issue 16


def page_record(i: int, pull: int, page: int) -> TimingRecord:
    return TimingRecord.from_measurement(
        started_at=T0 + timedelta(seconds=i), endpoint="https://acme.reinfer.io",
        method="GET", path=f"/api/_private/sources/dev/x/comments?limit=256&after=p{page}",
        http_status=200, server_timing_header="total;dur=10", client_ms=12.0,
        pull=pull, page=page,
    )


def test_a_pull_is_one_expandable_row(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog([record(0), *[page_record(1 + n, pull=1, page=n + 1) for n in range(9)],
                     record(10)])
    widget = make_widget(log)
    assert [(row["number"], row["calls"], row["pages"]) for row in widget.rows] == [
        (1, 1, None), (2, 9, 9), (11, 1, None)]
    assert widget.table.rows[1].is_group and widget.table.calls_shown == 11
    html_ = widget.table_html
    # One <details> per pull: its summary is the group's row, the pages are inside it.
    assert html_.count('<details class="reinfer-timing-group">') == 1
    assert re.search(r'<summary class="reinfer-timing-row" role="row"[^>]*>.*9 pages', html_)
    assert html_.count('reinfer-timing-page"') == 9 and 'title="calls 2–10"' in html_
    assert "page 9 · <code>?limit=256&amp;after=p9</code>" in html_
    assert widget.note_html == ""  # every call is shown


def test_the_note_says_what_is_hidden(make_widget: Callable[..., TimingWidget]) -> None:
    widget = make_widget(TimingLog([record(i) for i in range(31)]))
    assert "20 of 31 calls shown (the latest)" in widget.note_html
    assert "20 of 31 calls shown" in render_timing_html(widget.timing_log)


def test_host_column_only_for_several_endpoints(
    make_widget: Callable[..., TimingWidget],
) -> None:
    log = TimingLog([record(0), record(1)])
    widget = make_widget(log, refresh_interval=60)
    headers = re.findall(r'role="columnheader"[^>]*>([^<]+)<', widget.table_html)
    assert headers == ["#", "time", "method", "path", "status", "server ms", "network ms",
                       "client ms"]
    log.append(record(2, endpoint="https://prod.reinfer.io"))
    widget.flush()
    headers = re.findall(r'role="columnheader"[^>]*>([^<]+)<', widget.table_html)
    assert headers[2] == "host" and ">prod.reinfer.io<" in widget.table_html


def test_the_table_fits_a_narrow_notebook(make_widget: Callable[..., TimingWidget]) -> None:
    """Fixed columns add up to little; only the path column stretches and ends in '…'."""
    widget = make_widget(TimingLog([record(0, path="/api/" + "x" * 300)]))
    template = re.search(r"grid-template-columns:([^;\"]+)", widget.table_html)
    assert template is not None
    fixed = [float(part[:-2]) for part in template.group(1).split() if part.endswith("em")]
    assert sum(fixed) < 40  # about 470 px at 90% of 13 px: a path column always fits
    assert "minmax(6em,1fr)" in template.group(1)
    assert "text-overflow:ellipsis" in widget.table_html


def test_the_chart_is_labelled(make_widget: Callable[..., TimingWidget]) -> None:
    widget = make_widget(TimingLog([record(i) for i in range(5)]))
    chart = widget.chart_html
    texts = re.findall(r"<text[^>]*>([^<]+)</text>", chart)
    assert "time per call (ms)" in texts and "calls, oldest to newest" in texts
    assert "#1" in texts and "#5" in texts
    assert any(t.startswith("server: the platform") for t in texts)
    assert any(t.startswith("network: the rest of the round trip") for t in texts)
    assert any(t.startswith("Time per call: server vs network") for t in texts)
    height = re.search(r'viewBox="0 0 (\d+) (\d+)"', chart)
    assert height is not None and 150 <= int(height.group(2)) <= 300


def test_by_path_tab(make_widget: Callable[..., TimingWidget]) -> None:
    log = TimingLog([record(0, path="/api/v1/datasets/dev"), record(1, path="/api/v1/projects"),
                     record(2, path="/api/v1/datasets/prod", endpoint="https://prod.reinfer.io")])
    widget = make_widget(log, refresh_interval=60)
    assert widget.tab_titles == ("Calls", "By path")
    assert widget.by_path == [] and widget.by_path_html == ""  # drawn when opened
    widget.show_tab("By path")
    assert [(s.path, s.calls) for s in widget.by_path] == [
        ("/api/v1/datasets/{owner}", 1), ("/api/v1/datasets/{owner}", 1),
        ("/api/v1/projects", 1)]
    html_ = widget.by_path_html
    assert "<code>/api/v1/datasets/{owner}</code>" in html_
    assert 'colspan="5"' in html_ and ">prod.reinfer.io<" in html_  # a group per endpoint
    assert "server p50" in html_ and "network p50" in html_
