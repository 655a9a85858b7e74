"""The live timing-log widget, and the same view as static HTML.

:class:`TimingWidget` shows a :class:`~reinfer_nb.timing.TimingLog` as it grows: a summary
line, then two tabs. *Calls*: the latest calls, the pages of one ``--all`` pull grouped
into one expandable row, a note of what is not shown, and a labelled chart of server vs
network time. *By path*: calls and p50/p95 server and network ms per method and path
template, one column group per endpoint. The table fits a narrow notebook (the path
column gives way; ``host`` appears only when the log spans several endpoints).

It is built from standard ipywidgets (``HTML``, ``Tab``, ``VBox``), so it needs no frontend
extension, and its ``text/html`` fallback keeps the same view in exported notebooks and in
frontends without widgets. :func:`render_timing_html` gives that HTML for any log or list
of records. What is shown comes from :mod:`reinfer_nb.timing_views` (the model).
"""

from __future__ import annotations

import html
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import timezone
from typing import Any

import ipywidgets as widgets

from .timing import TimingLog, TimingRecord, TimingSummary, summarize
from .timing_views import PathStats, TimingRow, TimingTable, host_of, path_stats, timing_table

__all__ = ["CHART_CALLS", "TimingWidget", "render_timing_html"]

logger = logging.getLogger(__name__)

#: How many of the latest calls the chart shows.
CHART_CALLS = 50
SERVER_COLOUR = "#4c78a8"
NETWORK_COLOUR = "#f58518"
UNSPLIT_COLOUR = "#bab0ac"  # calls without a server time: the round trip as one block
_THREAD_NAME = "reinfer_nb-timing-widget"
_TABS = ("Calls", "By path")


# --------------------------------------------------------------------------- static HTML


def render_timing_html(
    log_or_records: TimingLog | Iterable[TimingRecord], max_rows: int = 20
) -> str:
    """The summary, the latest ``max_rows`` rows, the chart and the by-path table, as HTML."""
    if isinstance(log_or_records, TimingLog):
        log = log_or_records
        summary = log.summary()
        table = timing_table(log, max_rows)
        recent = log.last(CHART_CALLS)
        first = log.numbers.stop - len(recent)
        stats = path_stats(log.records)
    else:
        records = list(log_or_records)
        summary = summarize(records)
        table = timing_table(records, max_rows)
        recent = records[-CHART_CALLS:]
        first = len(records) - len(recent) + 1
        stats = path_stats(records)
    by_path = _by_path_html(stats)
    return _page(
        _summary_html(summary), _note_html(table), _table_html(table),
        _chart_html(recent, first),
        f'<details class="reinfer-timing-by-path-static"><summary>By path</summary>'
        f"{by_path}</details>" if by_path else "",
    )


def _page(*parts: str) -> str:
    return f'<div class="reinfer-timing">{"".join(parts)}</div>'


def _row_dict(row: TimingRow) -> dict[str, Any]:
    """A row of the table as plain data (what :attr:`TimingWidget.rows` returns)."""
    first, last = row.first, row.last
    return {
        "number": row.number,
        "time": first.started_at,
        "host": host_of(first.endpoint),
        "method": first.method,
        "path": first.path,
        "status": last.http_status,
        "outcome": last.outcome,
        "attempt": last.attempt,
        "server_ms": row.server_ms,
        "network_ms": row.network_ms,
        "client_ms": row.client_ms,
        "calls": row.calls,
        "pages": row.pages if row.is_group else None,
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _summary_html(s: TimingSummary) -> str:
    if s.calls == 0:
        return '<div class="reinfer-timing-summary">Timing: no calls yet.</div>'
    parts = [f"<b>{s.calls} call{'s' if s.calls != 1 else ''}</b>"]
    parts.append(f"server median {_ms(s.server_median_ms)} ms, p95 {_ms(s.server_p95_ms)} ms")
    parts.append(
        f"network median {_ms(s.network_median_ms)} ms, p95 {_ms(s.network_p95_ms)} ms"
    )
    if s.server_share is not None:
        parts.append(f"{s.server_share:.0%} of the time on the server")
    return (
        f'<div class="reinfer-timing-summary" style="line-height:1.4">{" · ".join(parts)}'
        "</div>"
    )


def _note_html(table: TimingTable) -> str:
    note = table.note()
    if not note:
        return ""
    return (
        '<div class="reinfer-timing-note" style="color:#666;font-size:90%;line-height:1.4;'
        'margin:2px 0">'
        f"{html.escape(note)}</div>"
    )


# The table is a CSS grid, so that a pull's pages (inside <details>) line up with the other
# rows; fixed columns in em, the path takes what is left and ends in an ellipsis.
_COLUMNS = [
    # name, header, width, align. The widths hold the values; headers may wrap to 2 lines.
    ("number", "#", "3.4em", "right"),
    ("time", "time", "5.4em", "left"),
    ("host", "host", "minmax(5em,9em)", "left"),
    ("method", "method", "5em", "left"),
    ("path", "path", "minmax(6em,1fr)", "left"),
    ("status", "status", "3.9em", "left"),
    ("server", "server ms", "5em", "right"),
    ("network", "network ms", "5.6em", "right"),
    ("client", "client ms", "5em", "right"),
]
# Cell styles once per table (not on each of its 160 cells): a redraw sends less.
_STYLE = """<style>
.reinfer-timing-table [role=cell]{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;
padding:1px 3px}
.reinfer-timing-table [role=columnheader]{overflow:hidden;white-space:normal;padding:1px 3px;
font-weight:bold;align-self:end}
.reinfer-timing-table .reinfer-timing-right{text-align:right}
.reinfer-timing-table summary{list-style:none;cursor:pointer}
.reinfer-timing-table summary::-webkit-details-marker{display:none}
.reinfer-timing-table details[open]>summary .reinfer-timing-twisty{display:inline-block;
transform:rotate(90deg)}
.reinfer-timing-table .reinfer-timing-row:hover{background:rgba(127,127,127,.12)}
</style>"""


_RIGHT = ' class="reinfer-timing-right"'


def _columns(show_host: bool) -> list[tuple[str, str, str, str]]:
    return [c for c in _COLUMNS if show_host or c[0] != "host"]


def _grid(show_host: bool) -> str:
    template = " ".join(width for _, _, width, _ in _columns(show_host))
    return f"display:grid;grid-template-columns:{template};align-items:baseline"


def _table_html(table: TimingTable) -> str:
    if not table.rows:
        return ""
    grid = _grid(table.show_host)
    columns = _columns(table.show_host)
    utc = ' title="UTC"'
    head = "".join(
        f'<span role="columnheader"{_RIGHT if align == "right" else ""}'
        f'{utc if name == "time" else ""}>{header}</span>'
        for name, header, _, align in columns
    )
    body = "".join(_row_html(row, columns, grid) for row in table.rows)
    return (
        f'{_STYLE}<div class="reinfer-timing-table" role="table" style="font-size:90%;'
        f'line-height:1.4;font-variant-numeric:tabular-nums;max-width:64em">'
        f'<div class="reinfer-timing-head" role="row" style="{grid};'
        f'border-bottom:1px solid #ccc">{head}</div>{body}</div>'
    )


def _cells(
    values: dict[str, tuple[str, str]], columns: list[tuple[str, str, str, str]], colour: str
) -> str:
    """The cells of one row: ``values`` maps a column to (inner HTML, title)."""
    out = []
    for name, _, _, align in columns:
        inner, title = values[name]
        style = f' style="color:{colour}"' if name == "status" and colour else ""
        right = _RIGHT if align == "right" else ""
        attr = f' title="{html.escape(title)}"' if title else ""
        out.append(f'<span role="cell"{right}{style}{attr}>{inner}</span>')
    return "".join(out)


def _row_html(row: TimingRow, columns: list[tuple[str, str, str, str]], grid: str) -> str:
    esc = html.escape
    first = row.first
    when = first.started_at.astimezone(timezone.utc)
    colour = "" if row.ok else "#c0392b"
    values = {
        "number": (str(row.number), ""),
        "time": (when.strftime("%H:%M:%S"), when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]),
        "host": (esc(host_of(first.endpoint)), esc(first.endpoint)),
        "method": (esc(first.method), ""),
        "path": (f"<code>{esc(first.path)}</code>", first.path),
        "status": (esc(row.status), row.status),
        "server": (_ms(row.server_ms), ""),
        "network": (_ms(row.network_ms), ""),
        "client": (_ms(row.client_ms), ""),
    }
    if not row.is_group:
        return (
            f'<div class="reinfer-timing-row" role="row" style="{grid}">'
            f"{_cells(values, columns, colour)}</div>"
        )
    values["number"] = (str(row.number), f"calls {row.number}–{row.number + row.calls - 1}")
    values["path"] = (
        '<span class="reinfer-timing-twisty">▸</span> '
        f'<span class="reinfer-timing-pages">{row.pages} pages</span> · '
        f"<code>{esc(first.path)}</code>",
        f"{row.pages} pages, {row.calls} calls: {first.path}",
    )
    summary = (
        f'<summary class="reinfer-timing-row" role="row" style="{grid}">'
        f"{_cells(values, columns, colour)}</summary>"
    )
    pages = []
    for offset, record in enumerate(row.records):
        page = TimingRow(row.number + offset, (record,))
        when = record.started_at.astimezone(timezone.utc)
        page_values = {
            **values,
            "number": (str(page.number), ""),
            "time": (when.strftime("%H:%M:%S"), when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]),
            # The pages share the path: show what differs (the query, with the cursor).
            "path": (
                f"page {record.page} · <code>{esc(_query(record.path))}</code>",
                record.path,
            ),
            "status": (esc(page.status), page.status),
            "server": (_ms(record.server_ms), ""),
            "network": (_ms(record.network_ms), ""),
            "client": (_ms(record.client_ms), ""),
        }
        pages.append(
            f'<div class="reinfer-timing-row reinfer-timing-page" role="row" '
            f'style="{grid};color:#555">'
            f"{_cells(page_values, columns, '' if page.ok else '#c0392b')}</div>"
        )
    return (
        f'<details class="reinfer-timing-group">{summary}{"".join(pages)}</details>'
    )


def _query(path: str) -> str:
    base, sep, query = path.partition("?")
    return f"?{query}" if sep else base


def _chart_html(records: Sequence[TimingRecord], first_number: int = 1) -> str:
    """A stacked bar per call (server below, network above), with axes and a legend in
    words, as inline SVG that scales down to the output's width."""
    if not records:
        return ""
    width, height = 640, 230
    left, right, top, bottom = 64, 12, 26, 70
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(records), 12)
    bar = max(step * 0.7, 1.0)
    totals = [
        r.server_ms + (r.network_ms or 0.0) if r.server_ms is not None else r.client_ms
        for r in records
    ]
    peak = _nice_ceiling(max(max(totals), 1e-9))
    scale = plot_h / peak
    base = top + plot_h
    last_number = first_number + len(records) - 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px;font:11px sans-serif" role="img" '
        f'aria-label="Server and network time of the last {len(records)} calls">',
        f'<text x="{left}" y="14" style="font-weight:bold">Time per call: server vs network '
        f"(calls {first_number}–{last_number})</text>",
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = base - fraction * plot_h
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_tick(peak * fraction)}</text>"
        )
    out.append(
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">time per call (ms)</text>'
    )
    for i, (r, total) in enumerate(zip(records, totals, strict=True)):
        x = left + i * step + (step - bar) / 2
        if r.server_ms is None:
            label = f"{r.method} {r.path}: {_ms(r.client_ms)} ms, no server time"
            parts = [(total, UNSPLIT_COLOUR)]
        else:
            label = (
                f"{r.method} {r.path}: server {_ms(r.server_ms)} ms, "
                f"network {_ms(r.network_ms)} ms"
            )
            parts = [(r.server_ms, SERVER_COLOUR), (r.network_ms or 0.0, NETWORK_COLOUR)]
        out.append(f"<g><title>#{first_number + i} {html.escape(label)}</title>")
        y = float(base)
        for value, colour in parts:
            h = max(value, 0.0) * scale
            y -= h
            out.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{h:.2f}" '
                f'fill="{colour}"/>'
            )
        out.append("</g>")
    axis_y = base + 14
    out.append(
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>'
        f'<text x="{left}" y="{axis_y}">#{first_number}</text>'
        f'<text x="{left + len(records) * step:.1f}" y="{axis_y}" text-anchor="end">'
        f"#{last_number}</text>"
        f'<text x="{left + plot_w / 2:.1f}" y="{axis_y}" text-anchor="middle">'
        "calls, oldest to newest</text>"
    )
    legend = (
        ("server: the platform's own time (Server-Timing)", SERVER_COLOUR),
        ("network: the rest of the round trip", NETWORK_COLOUR),
        ("no Server-Timing: the whole round trip", UNSPLIT_COLOUR),
    )
    y = axis_y + 18
    x = left
    for index, (name, colour) in enumerate(legend):
        if index == 2:  # the third key on a line of its own: the legend never runs over
            x, y = left, y + 16
        out.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y}">{html.escape(name)}</text>'
        )
        x += 14 + 6 * len(name) + 18
    out.append("</svg>")
    return f'<div class="reinfer-timing-chart">{"".join(out)}</div>'


def _nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2, 2.5 or 5 times a power of ten, at least ``value``."""
    import math

    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * power >= value:
            return factor * power
    return 10.0 * power


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:.2g}"


def _by_path_html(stats: Sequence[PathStats]) -> str:
    """The by-path table: method + path template, then per endpoint calls and p50/p95."""
    if not stats:
        return ""
    endpoints = list(dict.fromkeys(s.endpoint for s in stats))
    routes = list(dict.fromkeys((s.method, s.path) for s in stats))
    cell = {(s.method, s.path, s.endpoint): s for s in stats}
    esc = html.escape
    td = 'style="padding:1px 6px;text-align:{};white-space:nowrap"'
    left, right = td.format("left"), td.format("right")
    wrap = 'style="padding:1px 6px;text-align:left;overflow-wrap:anywhere"'
    names = ("calls", "server p50", "p95", "network p50", "p95")
    group_head = "".join(
        f'<th colspan="{len(names)}" {td.format("center")} title="{esc(e)}">'
        f"{esc(host_of(e))}</th>"
        for e in endpoints
    )
    stat_head = "".join(f"<th {right}>{n}</th>" for _ in endpoints for n in names)
    rows = []
    for method, path in routes:
        values: list[str] = []
        for endpoint in endpoints:
            s = cell.get((method, path, endpoint))
            numbers = (
                (str(s.calls), _ms(s.server_p50_ms), _ms(s.server_p95_ms),
                 _ms(s.network_p50_ms), _ms(s.network_p95_ms))
                if s is not None else ("", "", "", "", "")
            )
            values.extend(f"<td {right}>{v}</td>" for v in numbers)
        rows.append(
            f"<tr><td {left}>{esc(method)}</td><td {wrap}><code>{esc(path)}</code></td>"
            f"{''.join(values)}</tr>"
        )
    head = (
        f'<tr><th {left} rowspan="2">method</th><th {left} rowspan="2">path</th>'
        f"{group_head}</tr><tr>{stat_head}</tr>"
        if len(endpoints) > 1
        else f"<tr><th {left}>method</th><th {left}>path</th>{stat_head}</tr>"
    )
    return (
        '<div class="reinfer-timing-by-path" style="overflow-x:auto">'
        '<div style="color:#666;font-size:90%;margin:2px 0">Per method and path template, '
        "slowest first (ms; p50 is the median).</div>"
        '<table style="border-collapse:collapse;font-size:90%;'
        f'font-variant-numeric:tabular-nums"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# --------------------------------------------------------------------------- widget


class TimingWidget(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """A live view of a :class:`TimingLog`: summary, then the tabs *Calls* (latest calls,
    pulls grouped, and the server vs network chart) and *By path*.

    Appending to the log only marks the widget dirty; a timer thread redraws at most every
    ``refresh_interval`` seconds, so a loop of calls is not slowed by the display. A redraw
    costs O(``max_rows`` rows + chart bars), whatever the log's length; the by-path table
    (a pass over the whole log) is drawn only while its tab is open. ``flush()`` redraws
    now; ``close()`` stops the updates.
    """

    def __init__(
        self,
        log: TimingLog,
        *,
        max_rows: int = 20,
        refresh_interval: float = 0.25,
        **kwargs: Any,
    ) -> None:
        if max_rows < 0:
            raise ValueError("max_rows must be 0 or more")
        if not refresh_interval >= 0:
            raise ValueError("refresh_interval must be 0 or more seconds")
        # Plain attributes first: close() (also run by Widget.__del__) relies on them.
        self._timing_log = log
        self._max_rows = max_rows
        self._refresh_interval = float(refresh_interval)
        self._timer_lock = threading.Lock()  # guards _timer, _threads and _closed
        self._render_lock = threading.Lock()  # one redraw at a time
        self._timer: threading.Timer | None = None  # the pending redraw, if any
        self._threads: list[threading.Timer] = []  # timers that may still run, for close()
        self._dirty = False
        self._closed = False
        self._next_redraw = 0.0
        self._table = TimingTable((), 0)
        self._by_path: list[PathStats] = []
        self._unsubscribe: Any = None
        #: How many times the widget has redrawn (tests and benchmarks read it).
        self.redraw_count = 0
        self._summary_out = widgets.HTML()
        self._note_out = widgets.HTML()
        self._table_out = widgets.HTML()
        self._chart_out = widgets.HTML()
        self._by_path_out = widgets.HTML()
        self._calls_box = widgets.VBox(children=(self._note_out, self._table_out,
                                                 self._chart_out))
        self._tabs = widgets.Tab(children=(self._calls_box, self._by_path_out), titles=_TABS)
        super().__init__(children=(self._summary_out, self._tabs), **kwargs)
        self.flush()
        # Weak references, so the log's observer list (and the tab) do not keep it alive.
        ref = weakref.ref(self)

        def on_change(_: TimingRecord | None) -> None:
            widget = ref()
            if widget is not None:
                widget._mark_dirty()

        def on_tab(_: Any) -> None:
            widget = ref()
            if widget is not None and not widget._closed:
                widget.flush()

        self._tabs.observe(on_tab, names="selected_index")
        self._unsubscribe = log.observe(on_change)

    # ---- state, for tests and for code that wants the current view

    @property
    def timing_log(self) -> TimingLog:
        return self._timing_log  # not ``log``: ipywidgets uses that name for its logger

    @property
    def table(self) -> TimingTable:
        """The model of the table: its rows (pulls grouped) and how many calls they hold."""
        return self._table

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows the table shows as dicts, oldest first (the newest is the last row)."""
        return [_row_dict(row) for row in self._table.rows]

    @property
    def by_path(self) -> list[PathStats]:
        """The by-path table's rows, as last drawn (drawn while its tab is open)."""
        return list(self._by_path)

    @property
    def tab_titles(self) -> tuple[str, ...]:
        return tuple(self._tabs.titles)

    def show_tab(self, title: str) -> None:
        """Open the tab with this title (``"Calls"`` or ``"By path"``)."""
        self._tabs.selected_index = _TABS.index(title)

    @property
    def summary_html(self) -> str:
        return str(self._summary_out.value)

    @property
    def note_html(self) -> str:
        return str(self._note_out.value)

    @property
    def table_html(self) -> str:
        return str(self._table_out.value)

    @property
    def chart_html(self) -> str:
        return str(self._chart_out.value)

    @property
    def by_path_html(self) -> str:
        return str(self._by_path_out.value)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- updates

    def _mark_dirty(self) -> None:
        # Called on every append: O(1), and a timer is started at most once per interval.
        self._dirty = True
        if self._timer is None and not self._closed:
            with self._timer_lock:
                if self._timer is None and not self._closed:
                    delay = max(0.0, self._next_redraw - time.monotonic())
                    timer = threading.Timer(delay, self._on_timer)
                    timer.name = _THREAD_NAME
                    timer.daemon = True
                    self._timer = timer
                    # At most two: one redrawing, one pending. close() joins them.
                    self._threads = [t for t in self._threads if t.is_alive()]
                    self._threads.append(timer)
                    timer.start()

    def _on_timer(self) -> None:
        with self._timer_lock:
            self._timer = None  # first, so that a later append schedules the next redraw
            if self._closed:
                return
        if self._dirty:
            try:
                self.flush()
            except Exception:  # a background thread has nobody to report to
                logger.exception("TimingWidget redraw failed")

    def flush(self) -> None:
        """Redraw now, synchronously, whatever the throttle."""
        with self._render_lock:
            if self._closed:
                return
            self._dirty = False
            self._next_redraw = time.monotonic() + self._refresh_interval
            log = self._timing_log
            summary = log.summary()
            self._table = timing_table(log, self._max_rows)
            first, recent = log.last_numbered(CHART_CALLS)
            # Unchanged values are not sent again: traitlets compares before notifying.
            self._summary_out.value = _summary_html(summary)
            self._note_out.value = _note_html(self._table)
            self._table_out.value = _table_html(self._table)
            self._chart_out.value = _chart_html(recent, first)
            if self._tabs.selected_index == _TABS.index("By path"):
                self._by_path = path_stats(log.records)
                self._by_path_out.value = _by_path_html(self._by_path) or (
                    "<div>No calls yet.</div>"
                )
            self.redraw_count += 1

    def close(self) -> None:
        """Stop following the log, stop the timer and close the widget's views."""
        lock = getattr(self, "_timer_lock", None)
        if lock is not None:
            with lock:
                self._closed = True
                self._timer = None
                timers, self._threads = self._threads, []
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            for timer in timers:
                timer.cancel()
                if timer is not threading.current_thread():
                    timer.join()  # also waits for a redraw in progress
            for child in (self._summary_out, self._note_out, self._table_out,
                          self._chart_out, self._by_path_out, self._calls_box, self._tabs):
                child.close()
        super().close()

    # ---- display

    def __repr__(self) -> str:
        # Cheap: ipywidgets' default repr serialises every trait.
        state = ", closed" if getattr(self, "_closed", False) else ""
        log = getattr(self, "_timing_log", None)
        calls = len(log) if log is not None else 0
        return f"TimingWidget(calls={calls}, max_rows={getattr(self, '_max_rows', 0)}{state})"

    def _repr_html_(self) -> str:
        """The static view (also what remains once the widget is closed)."""
        if self._dirty and not self._closed:
            self.flush()
        return render_timing_html(self._timing_log, self._max_rows)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self._repr_html_()
        bundle["text/plain"] = repr(self)
        return bundle
