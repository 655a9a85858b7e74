"""The live timing-log widget, and the same view as static HTML.

:class:`TimingWidget` shows a :class:`~reinfer_nb.timing.TimingLog` as it grows: a summary
line, a table of the latest calls and a chart of server vs network time. It is built from
standard ipywidgets (``HTML`` in a ``VBox``), so it needs no frontend extension, and its
``text/html`` fallback keeps the table in exported notebooks and in frontends without
widgets. :func:`render_timing_html` gives that HTML for any log or list of records.
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
from urllib.parse import urlsplit

import ipywidgets as widgets

from .timing import TimingLog, TimingRecord, TimingSummary, summarize

__all__ = ["CHART_CALLS", "TimingWidget", "render_timing_html"]

logger = logging.getLogger(__name__)

#: How many of the latest calls the chart shows.
CHART_CALLS = 50
SERVER_COLOUR = "#4c78a8"
NETWORK_COLOUR = "#f58518"
UNSPLIT_COLOUR = "#bab0ac"  # calls without a server time: the round trip as one block
_THREAD_NAME = "reinfer_nb-timing-widget"
_PATH_CHARS = 60


# --------------------------------------------------------------------------- static HTML


def render_timing_html(
    log_or_records: TimingLog | Iterable[TimingRecord], max_rows: int = 20
) -> str:
    """The summary, the table of the latest ``max_rows`` calls and the chart, as HTML."""
    if isinstance(log_or_records, TimingLog):
        summary = log_or_records.summary()
        recent = log_or_records.last(max(max_rows, CHART_CALLS))
    else:
        records = list(log_or_records)
        summary = summarize(records)
        recent = records[-max(max_rows, CHART_CALLS, 1):]
    rows = _rows(recent, max_rows)
    return _page(_summary_html(summary), _table_html(rows), _chart_html(recent[-CHART_CALLS:]))


def _page(summary: str, table: str, chart: str) -> str:
    return f'<div class="reinfer-timing">{summary}{table}{chart}</div>'


def _rows(records: Sequence[TimingRecord], max_rows: int) -> list[dict[str, Any]]:
    """The table's rows for the latest ``max_rows`` records, oldest first (as the chart)."""
    latest = records[-max_rows:] if max_rows > 0 else []
    return [
        {
            "time": r.started_at,
            "host": _host(r.endpoint),
            "method": r.method,
            "path": r.path,
            "status": r.http_status,
            "outcome": r.outcome,
            "attempt": r.attempt,
            "server_ms": r.server_ms,
            "network_ms": r.network_ms,
            "client_ms": r.client_ms,
        }
        for r in latest
    ]


def _host(endpoint: str) -> str:
    try:
        netloc = urlsplit(endpoint).netloc
    except ValueError:
        return endpoint
    # The endpoint holds no credentials, but never show a userinfo part if one slips in.
    return netloc.rpartition("@")[2] or endpoint


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


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
    return f'<div class="reinfer-timing-summary">{" · ".join(parts)}</div>'


_CELL = "padding:1px 8px;text-align:{align};white-space:nowrap"
_HEADERS = [
    ("time (UTC)", "left"), ("host", "left"), ("method", "left"), ("path", "left"),
    ("status", "right"), ("server ms", "right"), ("network ms", "right"),
    ("client ms", "right"),
]


def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    head = "".join(
        f'<th style="{_CELL.format(align=align)}">{name}</th>' for name, align in _HEADERS
    )
    body = "".join(_row_html(row) for row in rows)
    return (
        '<div style="overflow-x:auto">'
        '<table class="reinfer-timing-table" style="border-collapse:collapse;font-size:90%">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _row_html(row: dict[str, Any]) -> str:
    esc = html.escape
    when = row["time"].astimezone(timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    path = row["path"]
    shown = path if len(path) <= _PATH_CHARS else path[: _PATH_CHARS - 1] + "…"
    status = row["status"] if row["status"] is not None else row["outcome"]
    if row["attempt"] > 1:
        status = f"{status} (attempt {row['attempt']})"
    colour = "" if row["outcome"] == "ok" else "color:#c0392b;"
    left, right = _CELL.format(align="left"), _CELL.format(align="right")
    cells = [
        f'<td style="{left}">{esc(when)}</td>',
        f'<td style="{left}">{esc(row["host"])}</td>',
        f'<td style="{left}">{esc(row["method"])}</td>',
        f'<td style="{left}" title="{esc(path)}"><code>{esc(shown)}</code></td>',
        f'<td style="{colour}{right}">{esc(str(status))}</td>',
        f'<td style="{right}">{_ms(row["server_ms"])}</td>',
        f'<td style="{right}">{_ms(row["network_ms"])}</td>',
        f'<td style="{right}">{_ms(row["client_ms"])}</td>',
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _chart_html(records: Sequence[TimingRecord]) -> str:
    """A stacked bar per call (server below, network above), as inline SVG."""
    if not records:
        return ""
    bar, step, height, left, top = 8, 10, 80, 52, 6
    legend = (
        ("server", SERVER_COLOUR), ("network", NETWORK_COLOUR),
        ("no Server-Timing", UNSPLIT_COLOUR),
    )
    legend_width = sum(24 + 6 * len(name) for name, _ in legend)
    width = left + max(step * len(records), legend_width) + 4
    totals = [
        r.server_ms + (r.network_ms or 0.0) if r.server_ms is not None else r.client_ms
        for r in records
    ]
    peak = max(max(totals), 1e-9)
    scale = height / peak
    bottom = top + height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bottom + 26}" '
        f'role="img" aria-label="Server and network time of the last {len(records)} calls" '
        'style="font:10px sans-serif">',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{_ms(peak)} ms</text>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>',
        f'<line x1="{left - 1}" y1="{top}" x2="{left - 1}" y2="{bottom}" stroke="#999"/>',
    ]
    for i, (r, total) in enumerate(zip(records, totals, strict=True)):
        x = left + i * step
        if r.server_ms is None:
            label = f"{r.method} {r.path}: {_ms(r.client_ms)} ms, no server time"
            parts = [(total, UNSPLIT_COLOUR)]
        else:
            label = (
                f"{r.method} {r.path}: server {_ms(r.server_ms)} ms, "
                f"network {_ms(r.network_ms)} ms"
            )
            parts = [(r.server_ms, SERVER_COLOUR), (r.network_ms or 0.0, NETWORK_COLOUR)]
        out.append(f"<g><title>{html.escape(label)}</title>")
        y = float(bottom)
        for value, colour in parts:
            h = max(value, 0.0) * scale
            y -= h
            out.append(
                f'<rect x="{x}" y="{y:.2f}" width="{bar}" height="{h:.2f}" fill="{colour}"/>'
            )
        out.append("</g>")
    legend_y = bottom + 16
    x = left
    for name, colour in legend:
        out.append(
            f'<rect x="{x}" y="{legend_y - 8}" width="9" height="9" fill="{colour}"/>'
            f'<text x="{x + 12}" y="{legend_y}">{name}</text>'
        )
        x += 24 + 6 * len(name)
    out.append("</svg>")
    return f'<div class="reinfer-timing-chart">{"".join(out)}</div>'


# --------------------------------------------------------------------------- widget


class TimingWidget(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """A live view of a :class:`TimingLog`: summary, latest calls, server vs network chart.

    Appending to the log only marks the widget dirty; a timer thread redraws at most every
    ``refresh_interval`` seconds, so a loop of calls is not slowed by the display. A redraw
    costs O(``max_rows`` + chart bars), whatever the log's length. ``flush()`` redraws now;
    ``close()`` stops the updates.
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
        self._rows: list[dict[str, Any]] = []
        self._unsubscribe: Any = None
        #: How many times the widget has redrawn (tests and benchmarks read it).
        self.redraw_count = 0
        self._summary_out = widgets.HTML()
        self._table_out = widgets.HTML()
        self._chart_out = widgets.HTML()
        super().__init__(
            children=(self._summary_out, self._table_out, self._chart_out), **kwargs
        )
        self.flush()
        # A weak reference, so the log's observer list does not keep the widget alive.
        ref = weakref.ref(self)

        def on_change(_: TimingRecord | None) -> None:
            widget = ref()
            if widget is not None:
                widget._mark_dirty()

        self._unsubscribe = log.observe(on_change)

    # ---- state, for tests and for code that wants the current view

    @property
    def timing_log(self) -> TimingLog:
        return self._timing_log  # not ``log``: ipywidgets uses that name for its logger

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows the table shows, oldest first (the newest call is the last row)."""
        return list(self._rows)

    @property
    def summary_html(self) -> str:
        return str(self._summary_out.value)

    @property
    def table_html(self) -> str:
        return str(self._table_out.value)

    @property
    def chart_html(self) -> str:
        return str(self._chart_out.value)

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
            recent = log.last(max(self._max_rows, CHART_CALLS))
            self._rows = _rows(recent, self._max_rows)
            # Unchanged values are not sent again: traitlets compares before notifying.
            self._summary_out.value = _summary_html(summary)
            self._table_out.value = _table_html(self._rows)
            self._chart_out.value = _chart_html(recent[-CHART_CALLS:])
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
            for child in (self._summary_out, self._table_out, self._chart_out):
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
        return _page(self.summary_html, self.table_html, self.chart_html)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self._repr_html_()
        bundle["text/plain"] = repr(self)
        return bundle
