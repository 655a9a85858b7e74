"""What the timing widget shows, as data: grouped rows of calls, and time per endpoint.

* :func:`timing_table`: the latest rows of a :class:`~reinfer_nb.timing.TimingLog`, where
  the pages of one multi-page pull (``--all``) make one :class:`TimingRow` with a page
  count, and a note of what is not shown (``20 of 31 calls shown``).
* :func:`path_template`: a concrete path as the spec's template
  (``/api/v1/datasets/dev`` -> ``/api/v1/datasets/{owner}``), else with id-like segments
  replaced.
* :func:`path_stats` / :func:`by_path`: calls and p50/p95 server and network ms per method
  and path template, slowest first, one column group per endpoint when several are logged
  (``%reinfer_timing --by-path``).

Pure Python (pandas only in :func:`by_path`): the widget renders these, the tests read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .timing import TimingLog, TimingRecord
from .timing import _percentile as percentile  # numpy's interpolation, as the summary

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PathStats",
    "TimingRow",
    "TimingTable",
    "by_path",
    "host_of",
    "path_stats",
    "path_template",
    "timing_table",
]


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class TimingRow:
    """One row of the timing table: one call, or every attempt of one multi-page pull.

    ``number`` is the log number of its first call; ``records`` its calls, oldest first.
    Times are summed over the calls (``server_ms`` is None when no call reported one).
    """

    number: int
    records: tuple[TimingRecord, ...]

    @property
    def first(self) -> TimingRecord:
        return self.records[0]

    @property
    def last(self) -> TimingRecord:
        return self.records[-1]

    @property
    def calls(self) -> int:
        return len(self.records)

    @property
    def is_group(self) -> bool:
        """Several calls of one pull, shown as one expandable row."""
        return self.first.pull is not None and len(self.records) > 1

    @property
    def pages(self) -> int:
        """How many pages the pull reached (retried attempts of a page count once)."""
        return len({r.page for r in self.records}) if self.first.pull is not None else 1

    @property
    def retries(self) -> int:
        return sum(1 for r in self.records if r.attempt > 1)

    @property
    def ok(self) -> bool:
        return self.last.outcome == "ok"

    @property
    def status(self) -> str:
        """The last call's HTTP status (or outcome), with retries noted."""
        last = self.last
        text = str(last.http_status if last.http_status is not None else last.outcome)
        if not self.is_group and last.attempt > 1:
            return f"{text} (attempt {last.attempt})"
        if self.is_group and self.retries:
            return f"{text} ({self.retries} {'retry' if self.retries == 1 else 'retries'})"
        return text

    @property
    def server_ms(self) -> float | None:
        values = [r.server_ms for r in self.records if r.server_ms is not None]
        return sum(values) if values else None

    @property
    def network_ms(self) -> float | None:
        values = [r.network_ms for r in self.records if r.network_ms is not None]
        return sum(values) if values else None

    @property
    def client_ms(self) -> float:
        return sum(r.client_ms for r in self.records)


@dataclass(frozen=True)
class TimingTable:
    """The rows the widget shows, and how many calls they hold of how many logged."""

    rows: tuple[TimingRow, ...]
    calls_total: int
    show_host: bool = False

    @property
    def calls_shown(self) -> int:
        return sum(row.calls for row in self.rows)

    @property
    def hidden(self) -> int:
        return self.calls_total - self.calls_shown

    def note(self) -> str:
        """What the table leaves out, in words ("" when it shows every call)."""
        if not self.hidden:
            return ""
        grouped = self.calls_shown > len(self.rows)
        where = f"in the latest {len(self.rows)} rows" if grouped else "the latest"
        return (
            f"{self.calls_shown:,} of {self.calls_total:,} calls shown ({where}); "
            "%reinfer_timing -o NAME has them all"
        )


def group_rows(records: Sequence[TimingRecord], first_number: int = 1) -> list[TimingRow]:
    """Consecutive calls of the same pull as one row; every other call a row of its own."""
    rows: list[TimingRow] = []
    start = 0
    for i in range(1, len(records) + 1):
        if (
            i < len(records)
            and records[i].pull is not None
            and records[i].pull == records[start].pull
        ):
            continue
        rows.append(TimingRow(first_number + start, tuple(records[start:i])))
        start = i
    return rows


def timing_table(
    source: TimingLog | Iterable[TimingRecord], max_rows: int = 20
) -> TimingTable:
    """The latest ``max_rows`` rows of a log (or of records), pulls grouped.

    From a log, only the records the rows need are read: a window from the end, widened
    while its first row could be a pull cut in two.
    """
    if not isinstance(source, TimingLog):
        records = list(source)
        rows = group_rows(records)
        endpoints = {r.endpoint for r in records}
        return TimingTable(tuple(rows[-max_rows:] if max_rows > 0 else ()), len(records),
                           len(endpoints) > 1)
    total = len(source)
    show_host = len(source.endpoints) > 1
    if max_rows <= 0:
        return TimingTable((), total, show_host)
    want = max_rows * 2
    while True:
        first, records = source.last_numbered(want)
        rows = group_rows(records, first)
        whole = len(records) >= len(source) or len(records) < want
        if whole or len(rows) > max_rows:
            break
        want *= 4  # the window starts inside a pull: read further back
    return TimingTable(tuple(rows[-max_rows:]), max(total, len(records)), show_host)


def host_of(endpoint: str) -> str:
    """The host (and port) of an endpoint, never a userinfo part."""
    try:
        netloc = urlsplit(endpoint).netloc
    except ValueError:
        return endpoint
    return netloc.rpartition("@")[2] or endpoint


# --------------------------------------------------------------------------- templates


_ID_LIKE = re.compile(
    r"(?:[0-9]+|[0-9a-fA-F]{12,}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})"
)
_PLACEHOLDER = re.compile(r"\{[^{}/]+\}")


@cache
def _spec_templates() -> dict[int, list[tuple[re.Pattern[str], str, int]]]:
    """The spec's paths by segment count: (regex, template, literal characters)."""
    from .spec import openapi

    by_count: dict[int, list[tuple[re.Pattern[str], str, int]]] = {}
    for template in openapi().get("paths", {}):
        segments = template.strip("/").split("/")
        parts = []
        for segment in segments:
            pieces = _PLACEHOLDER.split(segment)
            parts.append("[^/]+".join(re.escape(piece) for piece in pieces))
        literal = sum(len(piece) for segment in segments for piece in _PLACEHOLDER.split(segment))
        pattern = re.compile("/".join(parts))
        by_count.setdefault(len(segments), []).append((pattern, template, literal))
    for candidates in by_count.values():
        candidates.sort(key=lambda item: -item[2])  # the most specific template first
    return by_count


@lru_cache(maxsize=4096)
def path_template(path: str) -> str:
    """The spec's template of a concrete path (the query is dropped).

    ``/api/v1/datasets/dev`` gives ``/api/v1/datasets/{owner}``. A path the spec lacks
    keeps its segments, with id-like ones (numbers, long hex, UUIDs, ``id:...``) as
    ``{id}``.
    """
    bare = path.split("?", 1)[0].split("#", 1)[0] or "/"
    trimmed = bare.strip("/")
    for pattern, template, _ in _spec_templates().get(len(trimmed.split("/")), ()):
        if pattern.fullmatch(trimmed):
            return template
    segments = [
        "id:{id}" if segment.startswith("id:") else "{id}" if _ID_LIKE.fullmatch(segment)
        else segment
        for segment in trimmed.split("/")
    ]
    return "/" + "/".join(segments) if trimmed else "/"


# --------------------------------------------------------------------------- by path


@dataclass(frozen=True)
class PathStats:
    """Calls and p50/p95 times (ms) of one method + path template on one endpoint."""

    endpoint: str
    method: str
    path: str
    calls: int
    server_p50_ms: float | None
    server_p95_ms: float | None
    network_p50_ms: float | None
    network_p95_ms: float | None
    client_p50_ms: float | None

    @property
    def typical_ms(self) -> float:
        """The typical round trip: p50 server + network when split, else p50 client."""
        if self.server_p50_ms is not None and self.network_p50_ms is not None:
            return self.server_p50_ms + self.network_p50_ms
        return self.client_p50_ms or 0.0


#: The statistics of each endpoint's column group, in order.
STAT_COLUMNS = (
    "calls", "server_p50_ms", "server_p95_ms", "network_p50_ms", "network_p95_ms",
)


def path_stats(records: Iterable[TimingRecord]) -> list[PathStats]:
    """Per endpoint, method and path template: calls and p50/p95 server and network ms.

    Sorted slowest first: by the typical round trip (p50 server + network) of the slowest
    endpoint for that method and template; then by endpoint.
    """
    groups: dict[tuple[str, str, str], list[TimingRecord]] = {}
    for record in records:
        key = (record.method, path_template(record.path), record.endpoint)
        groups.setdefault(key, []).append(record)
    stats = []
    for (method, template, endpoint), members in groups.items():
        server = sorted(r.server_ms for r in members if r.server_ms is not None)
        network = sorted(r.network_ms for r in members if r.network_ms is not None)
        client = sorted(r.client_ms for r in members)
        stats.append(PathStats(
            endpoint, method, template, len(members),
            percentile(server, 50), percentile(server, 95),
            percentile(network, 50), percentile(network, 95), percentile(client, 50),
        ))
    slowest: dict[tuple[str, str], float] = {}
    for item in stats:
        route = (item.method, item.path)
        slowest[route] = max(slowest.get(route, 0.0), item.typical_ms)
    stats.sort(key=lambda s: (-slowest[(s.method, s.path)], s.method, s.path, s.endpoint))
    return stats


def by_path(source: TimingLog | Iterable[TimingRecord]) -> pd.DataFrame:
    """The by-path table as a DataFrame, slowest first.

    One endpoint: columns ``method, path, calls, server_p50_ms, server_p95_ms,
    network_p50_ms, network_p95_ms``. Several: ``method`` and ``path`` are the index and
    the columns have two levels, the endpoint's host and the statistic, so dev and prod
    sit side by side (NaN where an endpoint had no such call).
    """
    import pandas as pd

    stats = path_stats(source.records if isinstance(source, TimingLog) else source)
    endpoints = list(dict.fromkeys(s.endpoint for s in stats))
    if len(endpoints) <= 1:
        frame = pd.DataFrame(
            [{"method": s.method, "path": s.path, **_stat_values(s)} for s in stats],
            columns=["method", "path", *STAT_COLUMNS],
        )
        frame["calls"] = frame["calls"].astype("int64")
        for name in STAT_COLUMNS[1:]:
            frame[name] = frame[name].astype("float64")
        frame.attrs["endpoints"] = endpoints
        return frame
    order = list(dict.fromkeys((s.method, s.path) for s in stats))
    hosts = _labels(endpoints)
    columns = pd.MultiIndex.from_tuples(
        [(hosts[e], name) for e in endpoints for name in STAT_COLUMNS],
        names=["endpoint", None],
    )
    cells: dict[tuple[str, str], dict[tuple[str, str], Any]] = {key: {} for key in order}
    for s in stats:
        for name, value in _stat_values(s).items():
            cells[(s.method, s.path)][(hosts[s.endpoint], name)] = value
    frame = pd.DataFrame(
        [[cells[key].get(column) for column in columns] for key in order],
        index=pd.MultiIndex.from_tuples(order, names=["method", "path"]),
        columns=columns,
    )
    for column in columns:
        if column[1] == "calls":
            frame[column] = frame[column].fillna(0).astype("int64")
        else:
            frame[column] = frame[column].astype("float64")
    frame.attrs["endpoints"] = endpoints
    return frame


def _stat_values(s: PathStats) -> dict[str, Any]:
    return {
        "calls": s.calls,
        "server_p50_ms": s.server_p50_ms,
        "server_p95_ms": s.server_p95_ms,
        "network_p50_ms": s.network_p50_ms,
        "network_p95_ms": s.network_p95_ms,
    }


def _labels(endpoints: Sequence[str]) -> dict[str, str]:
    """A short label per endpoint: its host, or the whole root when hosts repeat."""
    hosts = {e: host_of(e) for e in endpoints}
    if len(set(hosts.values())) == len(hosts):
        return hosts
    return {e: e for e in endpoints}
