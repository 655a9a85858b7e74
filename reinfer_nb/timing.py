"""Timing of API calls: the ``Server-Timing`` header, one record per attempt, and a log.

The platform sends ``Server-Timing: total;dur=37.7`` on every answer: how long it worked on
the request, in milliseconds. With the round trip measured on our side, that splits each
call into server time and network time (everything else: latency, TLS, transfer).

Pure Python: no IPython, and pandas only inside :meth:`TimingLog.to_frame`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from .request import Request

__all__ = [
    "FRAME_COLUMNS",
    "ServerTimingMetric",
    "TimingLog",
    "TimingRecord",
    "TimingSummary",
    "parse_server_timing",
    "summarize",
]

logger = logging.getLogger(__name__)

FRAME_COLUMNS = (
    "started_at", "endpoint", "method", "path", "http_status", "server_ms",
    "network_ms", "client_ms", "ttfb_ms", "bytes_received", "attempt", "outcome",
)


# --------------------------------------------------------------------------- Server-Timing


@dataclass(frozen=True, slots=True)
class ServerTimingMetric:
    """One metric of a ``Server-Timing`` header: its name, duration (ms) and description."""

    name: str
    duration: float = 0.0
    description: str = ""


# RFC 9110 token characters; a metric or parameter name must be one.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = re.compile(r"[ \t]*")
# A quoted string; group 2 is None when the closing quote is missing. No part of the
# pattern can fail after the opening quote, so the regex never backtracks: linear time.
_QUOTED = re.compile(r'"((?:[^"\\]+|\\.)*)(")?', re.DOTALL)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
# What the grammar cannot use, up to the next ',' or ';' (or ',' only) outside quoted
# strings; an unterminated quoted string runs to the end, as in a browser.
_JUNK = re.compile(r'(?:[^,;"]+|"(?:[^"\\]+|\\.)*(?:"|\\?\Z))*', re.DOTALL)
_JUNK_METRIC = re.compile(r'(?:[^,"]+|"(?:[^"\\]+|\\.)*(?:"|\\?\Z))*', re.DOTALL)
# HTML's "rules for parsing floating-point number values": the longest numeric prefix.
_NUMBER = re.compile(r"[\t\n\f\r ]*([-+]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)")


def parse_server_timing(header: str | None) -> list[ServerTimingMetric]:
    """Parse a ``Server-Timing`` header value into its metrics, as browsers do.

    Follows the W3C Server Timing grammar and the web-platform-tests parsing cases:
    comma-separated metrics, ``;``-separated ``name[=value]`` parameters (token or quoted
    string, names case-insensitive, the first ``dur`` and ``desc`` win), a missing or
    non-numeric ``dur`` is 0 and a missing ``desc`` is ``""``. Malformed parts are skipped.
    Several headers joined with ``", "`` (or given as a list) parse as one. Never raises:
    anything that is not text gives ``[]``; the work is linear in the input's length.
    """
    try:
        if isinstance(header, (list, tuple)):
            header = ", ".join(h for h in header if isinstance(h, str))
        elif isinstance(header, (bytes, bytearray)):
            header = bytes(header).decode("latin-1")  # how HTTP header bytes map to text
        if not isinstance(header, str):
            return []
        return _parse(header)
    except Exception:  # a bug here must never fail an API call
        logger.exception("could not parse Server-Timing header")
        return []


def _parse(text: str) -> list[ServerTimingMetric]:
    metrics: list[ServerTimingMetric] = []
    end = len(text)
    pos = 0
    while pos < end:
        pos = _skip(_OWS, text, pos)
        name = _TOKEN.match(text, pos)
        if name is None:  # not a metric: skip to the next one
            pos = _skip(_JUNK_METRIC, text, pos) + 1
            continue
        # Browsers ignore whatever follows the name up to its parameters (WPT cases 67-68).
        pos = _skip(_JUNK, text, name.end())
        duration: str | None = None
        description: str | None = None
        while pos < end and text[pos] == ";":
            pos = _skip(_OWS, text, pos + 1)
            param = _TOKEN.match(text, pos)
            if param is not None:
                pos = _skip(_OWS, text, param.end())
                value = ""
                if pos < end and text[pos] == "=":
                    pos = _skip(_OWS, text, pos + 1)
                    value, pos = _value(text, pos)
                key = param.group().lower()
                if key == "dur" and duration is None:
                    duration = value
                elif key == "desc" and description is None:
                    description = value
            pos = _skip(_JUNK, text, pos)
        metrics.append(
            ServerTimingMetric(name.group(), _parse_duration(duration or ""), description or "")
        )
        pos += 1  # past the ',' (or the end)
    return metrics


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a match of ``pattern`` (which may be empty) at ``pos`` ends."""
    match = pattern.match(text, pos)
    return match.end() if match is not None else pos


def _value(text: str, pos: int) -> tuple[str, int]:
    """A parameter value (token or quoted string) at ``pos``, and where it ends."""
    token = _TOKEN.match(text, pos)
    if token is not None:
        return token.group(), token.end()
    if pos < len(text) and text[pos] == '"':
        quoted = _QUOTED.match(text, pos)
        # Unterminated: browsers drop the value and the rest of the header.
        if quoted is None or quoted.group(2) is None:
            return "", len(text)
        return _ESCAPED.sub(r"\1", quoted.group(1)), quoted.end()
    return "", pos


def _parse_duration(value: str) -> float:
    """``dur`` as HTML parses a floating-point number: the numeric prefix, else 0."""
    number = _NUMBER.match(value)
    if number is None:
        return 0.0
    try:
        result = float(number.group(1))
    except (ValueError, OverflowError):
        return 0.0
    # Too large is an error in HTML (so 0); adding 0.0 turns -0.0 into 0.0.
    return result + 0.0 if math.isfinite(result) else 0.0


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class TimingRecord:
    """The timing of one HTTP attempt (a retried call has one record per attempt).

    ``server_ms`` is the ``total`` metric of ``Server-Timing`` (None if absent),
    ``client_ms`` the round trip we measured including reading the body, ``network_ms``
    what is left (``client_ms - server_ms``, never negative), ``ttfb_ms`` the time until
    the headers arrived. ``outcome`` is ``"ok"``, ``"api"`` (the platform answered with an
    error) or ``"network"`` (no answer from the platform). ``request`` describes what was
    sent (no token; see :class:`~reinfer_nb.request.Request`), so the call can be rebuilt;
    ``pull`` and ``page`` say which multi-page pull (an id) and page it belongs to. No field
    ever holds a token.
    """

    started_at: datetime
    endpoint: str
    method: str
    path: str
    http_status: int | None
    server_ms: float | None
    client_ms: float
    network_ms: float | None
    ttfb_ms: float | None
    metrics: tuple[ServerTimingMetric, ...] = ()
    bytes_received: int = 0
    attempt: int = 1
    outcome: str = "ok"
    request: Request | None = None
    pull: int | None = None
    page: int | None = None

    @classmethod
    def from_measurement(
        cls,
        *,
        started_at: datetime,
        endpoint: str,
        method: str,
        path: str,
        http_status: int | None,
        server_timing_header: str | None,
        client_ms: float,
        ttfb_ms: float | None = None,
        bytes_received: int = 0,
        attempt: int = 1,
        outcome: str = "ok",
        request: Request | None = None,
        pull: int | None = None,
        page: int | None = None,
    ) -> TimingRecord:
        """Build a record from what the client measured and the raw ``Server-Timing``."""
        metrics = tuple(parse_server_timing(server_timing_header))
        server_ms = next((m.duration for m in metrics if m.name == "total"), None)
        network_ms = None if server_ms is None else max(client_ms - server_ms, 0.0)
        # A naive time is taken as UTC rather than failing the call being recorded.
        if started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=timezone.utc)
        else:
            started_at = started_at.astimezone(timezone.utc)
        return cls(
            started_at=started_at,
            endpoint=endpoint,
            method=method,
            path=path,
            http_status=http_status,
            server_ms=server_ms,
            client_ms=client_ms,
            network_ms=network_ms,
            ttfb_ms=ttfb_ms,
            metrics=metrics,
            bytes_received=bytes_received,
            attempt=attempt,
            outcome=outcome,
            request=request,
            pull=pull,
            page=page,
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, in order; ``metrics`` as a list of dicts and
        ``request`` as a dict (no token)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["metrics"] = [
            {"name": m.name, "duration": m.duration, "description": m.description}
            for m in self.metrics
        ]
        data["request"] = self.request.as_dict() if self.request is not None else None
        return data


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class TimingSummary:
    """Count, median and 95th percentile (ms) of a set of records.

    ``server_share`` is the fraction of the round trip spent on the server, over the calls
    that reported a server time. Statistics without data are None.
    """

    calls: int
    server_median_ms: float | None
    server_p95_ms: float | None
    network_median_ms: float | None
    network_p95_ms: float | None
    client_median_ms: float | None
    client_p95_ms: float | None
    server_share: float | None

    def line(self) -> str:
        """The summary in one line of text (what ``%reinfer_timing --summary`` prints)."""
        if not self.calls:
            return "No calls yet."
        share = "n/a" if self.server_share is None else f"{self.server_share:.0%}"
        return (
            f"{self.calls} calls; server median {_ms(self.server_median_ms)}, p95 "
            f"{_ms(self.server_p95_ms)}; network median {_ms(self.network_median_ms)}, p95 "
            f"{_ms(self.network_p95_ms)}; {share} of the time on the server"
        )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of sorted values, interpolated as numpy's default."""
    n = len(sorted_values)
    if n == 0:
        return None
    position = (n - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(position)
    high = min(low + 1, n - 1)
    fraction = position - low
    a, b = sorted_values[low], sorted_values[high]
    return a + (b - a) * fraction if a != b else a


def _summary(
    calls: int, server: list[float], network: list[float], client: list[float],
    server_sum: float, client_sum: float,
) -> TimingSummary:
    return TimingSummary(
        calls=calls,
        server_median_ms=_percentile(server, 50),
        server_p95_ms=_percentile(server, 95),
        network_median_ms=_percentile(network, 50),
        network_p95_ms=_percentile(network, 95),
        client_median_ms=_percentile(client, 50),
        client_p95_ms=_percentile(client, 95),
        server_share=server_sum / client_sum if server and client_sum > 0 else None,
    )


def summarize(records: Iterable[TimingRecord]) -> TimingSummary:
    """Summarise any records (a :class:`TimingLog` keeps its own summary up to date)."""
    records = list(records)
    server = [r.server_ms for r in records if r.server_ms is not None]
    return _summary(
        len(records),
        sorted(server),
        sorted(r.network_ms for r in records if r.network_ms is not None),
        sorted(r.client_ms for r in records),
        math.fsum(server),
        math.fsum(r.client_ms for r in records if r.server_ms is not None),
    )


class _Sorted:
    """Values kept sorted lazily: adding is O(1), reading merges what was added since."""

    __slots__ = ("_pending", "_sorted")

    def __init__(self) -> None:
        self._sorted: list[float] = []
        self._pending: list[float] = []

    def get(self) -> list[float]:
        if self._pending:
            # Timsort merges a sorted run with a short tail in about linear time, in C.
            self._sorted += self._pending
            self._pending.clear()
            self._sorted.sort()
        return self._sorted

    def reset(self, values: Iterable[float]) -> None:
        self._sorted = sorted(values)
        self._pending.clear()


# --------------------------------------------------------------------------- log


class TimingLog:
    """Thread-safe list of :class:`TimingRecord`, one per HTTP attempt.

    ``append`` is cheap (it runs on every call): no pandas, no sorting. Observers are told
    of each new record, and of ``clear()`` with None. ``maxlen`` bounds the log (the
    oldest records are dropped).

    Calls are numbered from 1 in the order they were logged (the widget's ``#`` column;
    ``%reinfer_timing --curl N``); numbers stay with their call when older ones are
    dropped, and start again at 1 after ``clear()``.
    """

    def __init__(self, records: Iterable[TimingRecord] = (), *, maxlen: int | None = None):
        if maxlen is not None and maxlen < 1:
            raise ValueError("maxlen must be at least 1 (or None for no bound)")
        self._lock = threading.Lock()
        self._records: deque[TimingRecord] = deque(maxlen=maxlen)
        self._observers: tuple[Callable[[TimingRecord | None], None], ...] = ()
        self._server, self._network, self._client = _Sorted(), _Sorted(), _Sorted()
        self._server_sum = self._client_sum = 0.0
        self._stale = False  # records were dropped: rebuild the statistics on next read
        self._first = 1  # the number of the oldest record kept
        self._endpoints: set[str] = set()
        self.extend(records)

    @property
    def maxlen(self) -> int | None:
        return self._records.maxlen

    def append(self, record: TimingRecord) -> None:
        """Add a record and tell the observers."""
        with self._lock:
            if len(self._records) == self._records.maxlen:
                self._stale = True
                self._first += 1
            self._records.append(record)
            self._endpoints.add(record.endpoint)
            if not self._stale:
                self._client._pending.append(record.client_ms)
                if record.server_ms is not None:
                    self._server._pending.append(record.server_ms)
                    self._server_sum += record.server_ms
                    self._client_sum += record.client_ms
                if record.network_ms is not None:
                    self._network._pending.append(record.network_ms)
            observers = self._observers
        for observer in observers:  # outside the lock, so observers may read the log
            self._notify(observer, record)

    def extend(self, records: Iterable[TimingRecord]) -> None:
        """Append each record in turn."""
        for record in records:
            self.append(record)

    def clear(self) -> None:
        """Remove every record; observers get None."""
        with self._lock:
            self._records.clear()
            for values in (self._server, self._network, self._client):
                values.reset(())
            self._server_sum = self._client_sum = 0.0
            self._stale = False
            self._first = 1
            self._endpoints.clear()
            observers = self._observers
        for observer in observers:
            self._notify(observer, None)

    def observe(self, callback: Callable[[TimingRecord | None], None]) -> Callable[[], None]:
        """Call ``callback(record)`` after each append (None after clear).

        Returns a function that unsubscribes. A failing observer is logged and skipped.
        """
        with self._lock:
            self._observers = (*self._observers, callback)

        def unsubscribe() -> None:
            with self._lock:
                observers = list(self._observers)
                for i, existing in enumerate(observers):
                    if existing is callback:
                        del observers[i]
                        self._observers = tuple(observers)
                        break

        return unsubscribe

    @staticmethod
    def _notify(
        observer: Callable[[TimingRecord | None], None], record: TimingRecord | None
    ) -> None:
        try:
            observer(record)
        except Exception:
            logger.exception("TimingLog observer %r failed", observer)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[TimingRecord]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"<TimingLog: {len(self)} records>"

    @property
    def records(self) -> list[TimingRecord]:
        """A copy of the records, oldest first."""
        with self._lock:
            return list(self._records)

    def last(self, n: int) -> list[TimingRecord]:
        """The ``n`` most recent records, oldest first; O(n) whatever the log's length."""
        if n <= 0:
            return []
        with self._lock:
            if n >= len(self._records):
                return list(self._records)
            newest_first = [self._records[-i] for i in range(1, n + 1)]
        newest_first.reverse()
        return newest_first

    def last_numbered(self, n: int) -> tuple[int, list[TimingRecord]]:
        """The ``n`` most recent records (as :meth:`last`) and the number of the first."""
        with self._lock:
            count = min(max(n, 0), len(self._records))
            first = self._first + len(self._records) - count
            newest_first = [self._records[-i] for i in range(1, count + 1)]
        newest_first.reverse()
        return first, newest_first

    @property
    def numbers(self) -> range:
        """The numbers of the calls the log holds (``range(1, len + 1)`` until it drops)."""
        with self._lock:
            return range(self._first, self._first + len(self._records))

    def call(self, number: int) -> TimingRecord:
        """The call with this number (1 is the first logged; -1 the latest).

        Raises :class:`~reinfer_nb.errors.ConfigError` saying which numbers exist.
        """
        from .errors import ConfigError

        with self._lock:
            count, first = len(self._records), self._first
            index = number - first if number > 0 else count + number
            if number != 0 and 0 <= index < count:
                return self._records[index]
        held = f"calls {first} to {first + count - 1}" if count else "no calls"
        raise ConfigError(
            f"No call {number} in the timing log (it holds {held}): see the # column of "
            "%reinfer_timing, or use -1 for the latest call."
        )

    def curl(self, number: int, token_env: str = "REINFER_TOKEN") -> str:
        """The curl command that repeats call ``number`` (``$<token_env>`` for the token)."""
        from .errors import ConfigError

        record = self.call(number)
        if record.request is None:
            raise ConfigError(
                f"Call {number} was logged without its request, so it cannot be rebuilt."
            )
        return record.request.curl(token_env)

    @property
    def endpoints(self) -> frozenset[str]:
        """The endpoints of the calls logged since the last ``clear()``."""
        with self._lock:
            return frozenset(self._endpoints)

    def summary(self) -> TimingSummary:
        """Count, medians, 95th percentiles and server share over the whole log."""
        with self._lock:
            if self._stale:
                records = self._records
                self._server.reset(r.server_ms for r in records if r.server_ms is not None)
                self._network.reset(r.network_ms for r in records if r.network_ms is not None)
                self._client.reset(r.client_ms for r in records)
                self._server_sum = math.fsum(self._server.get())
                self._client_sum = math.fsum(
                    r.client_ms for r in records if r.server_ms is not None
                )
                self._stale = False
            return _summary(
                len(self._records), self._server.get(), self._network.get(),
                self._client.get(), self._server_sum, self._client_sum,
            )

    def to_frame(self) -> pd.DataFrame:
        """One row per record, columns as in ``FRAME_COLUMNS`` (``http_status`` is Int64)."""
        import pandas as pd

        records = self.records
        return pd.DataFrame(
            {
                "started_at": pd.Series(
                    pd.to_datetime([r.started_at for r in records], utc=True),
                    dtype="datetime64[us, UTC]",  # what datetime holds, in pandas 2 and 3
                ),
                "endpoint": pd.Series([r.endpoint for r in records], dtype=str),
                "method": pd.Series([r.method for r in records], dtype=str),
                "path": pd.Series([r.path for r in records], dtype=str),
                "http_status": pd.array([r.http_status for r in records], dtype="Int64"),
                "server_ms": _floats([r.server_ms for r in records]),
                "network_ms": _floats([r.network_ms for r in records]),
                "client_ms": _floats([r.client_ms for r in records]),
                "ttfb_ms": _floats([r.ttfb_ms for r in records]),
                "bytes_received": pd.Series([r.bytes_received for r in records], dtype="int64"),
                "attempt": pd.Series([r.attempt for r in records], dtype="int64"),
                "outcome": pd.Series([r.outcome for r in records], dtype=str),
            },
            columns=list(FRAME_COLUMNS),
        )

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_frame` to a CSV file (no index).

        Raises :class:`~reinfer_nb.errors.ConfigError` (one line) when the file cannot be
        written: a missing directory, a directory, no permission.
        """
        problem: str | None = None
        if os.path.isdir(path):
            problem = "it is a directory; give a file name, such as timings.csv"
        else:
            try:
                self.to_frame().to_csv(path, index=False)
            except OSError as exc:
                problem = (
                    f"{exc.strerror or exc}; check that the directory exists and that you "
                    "may write there"
                )
        if problem is not None:  # raised outside the except: one line, nothing chained
            raise ConfigError(f"Cannot write the timing log to {os.fspath(path)}: {problem}.")


def _floats(values: list[float | None]) -> Any:
    import pandas as pd

    return pd.Series([math.nan if v is None else v for v in values], dtype="float64")
