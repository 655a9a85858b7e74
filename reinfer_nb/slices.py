"""Bulk pulls in time slices, fetched by several workers at once on one keep-alive pool.

A listing or query that takes a time range (the comments of a source: ``from_timestamp`` /
``to_timestamp``; a dataset query: ``filter.timestamp``) starts as one slice of time, paged
by continuation. A worker with nothing to do splits the running slice with the most rows
still ahead (estimated from the rows it has so far) and takes its far half, so the work
spreads over the workers as soon as the first page shows how much there is, and stays
balanced to the end; a pull of a page or two is never split. The pages are put back in the
order the sequential pull gives (oldest first for the comments listing, newest first for
the dataset query), so the rows are the same, each exactly once.

Exactly once, whatever the API's bounds mean: a slice asks for its window widened by one
second on each side and keeps only the records in ``[lo, hi)`` (the outermost slices
keep the user's own bounds, or none). A 429 pauses every worker (the client's
:class:`~reinfer_nb.retry.SharedPause`); a slice whose page still fails after the client's
retries is retried from its last continuation, the other slices going on meanwhile.

:func:`pull` runs :class:`Slice` objects; :func:`fetch_parallel` is what
``Client.fetch_all(parallel=N)`` calls. The far end of the range (to weigh what is ahead),
when the user gives none, comes from the dataset statistics when the tenant serves them,
else from a probe (the last comment of the listing, the first of each source of a
dataset); it is asked for only once a pull turns out to have more than a page.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import ApiError, ConfigError, FetchInterrupted, NetworkError, PaginationError
from .results import Pages, RawAnswer, Result

if TYPE_CHECKING:
    from .client import Client, Decoder
    from .errors import ReinferError

__all__ = ["Slice", "TimeAxis", "axis_of", "far_end", "fetch_parallel", "pull"]

log = logging.getLogger("reinfer_nb")

SECOND = 1_000_000  # timestamps are microseconds since the epoch (UTC)
SLICE_RETRIES = 2  # a slice's failing page is tried again this often (after the client's)

_LISTING = re.compile(r"^/?api/(?:_private|v1)/sources/[^/]+/[^/]+/comments/?$")
_QUERY = re.compile(r"^/?api/(?:_private|v1)/datasets/([^/]+)/([^/]+)/query/?$")


# --------------------------------------------------------------------------- time


def parse_time(text: str) -> int:
    """An RFC 3339 timestamp (``Z`` or an offset; naive means UTC) in microseconds."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{text!r} is not an RFC 3339 timestamp: write e.g. 2024-05-01T00:00:00Z."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def format_time(us: int) -> str:
    """Microseconds since the epoch as RFC 3339 (UTC, ``Z``)."""
    seconds, micros = divmod(us, SECOND)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}Z" if micros else f"{stamp}Z"


# --------------------------------------------------------------------------- axes


@dataclass(frozen=True)
class TimeAxis:
    """How one kind of call takes a time range, and where a record keeps its time."""

    name: str
    ascending: bool  # the order of the sequential pull
    in_body: bool  # the range is in the JSON body (``filter.timestamp``), else the query
    time_path: tuple[str, ...]  # the record's timestamp, e.g. ("comment", "timestamp")

    def user_range(self, params: Mapping[str, Any], body: Any) -> tuple[int | None, int | None]:
        """The range the user asked for (None: open)."""
        if self.in_body:
            span = ((body or {}).get("filter") or {}).get("timestamp") or {}
            low, high = span.get("minimum"), span.get("maximum")
        else:
            low, high = params.get("from_timestamp"), params.get("to_timestamp")
        return (
            parse_time(str(low)) if low not in (None, "") else None,
            parse_time(str(high)) if high not in (None, "") else None,
        )

    def windowed(
        self, params: Mapping[str, Any], body: Any, lo: int | None, hi: int | None
    ) -> tuple[dict[str, Any], Any]:
        """The request for the slice ``[lo, hi)``, widened by a second on each side (the
        records outside are dropped by :meth:`Slice.clip`); an open side keeps the user's
        own bound."""
        query, data = dict(params), copy.deepcopy(body)
        low = None if lo is None else format_time(lo - SECOND)
        high = None if hi is None else format_time(hi + SECOND)
        if self.in_body:
            data = dict(data or {})
            flt = dict(data.get("filter") or {})
            span = dict(flt.get("timestamp") or {})
            if low is not None:
                span["minimum"] = low
            if high is not None:
                span["maximum"] = high
            if span:
                flt["timestamp"] = span
                data["filter"] = flt
        else:
            if low is not None:
                query["from_timestamp"] = low
            if high is not None:
                query["to_timestamp"] = high
        return query, data

    def times(self, answer: Any, key: str | None) -> list[int | None]:
        """The timestamps of an answer's records, in order (None where a record has none)."""
        if isinstance(answer, RawAnswer):
            import pyarrow as pa
            import pyarrow.compute as pc

            table = answer.table
            if table.num_rows == 0:
                return []
            column: Any = table.column(self.time_path[0])
            for part in self.time_path[1:]:
                column = pc.struct_field(column, part)
            stamps = pc.cast(column, pa.timestamp("ns", "UTC"))
            values = pc.divide(pc.cast(stamps, pa.int64()), 1000).to_pylist()
            return values  # type: ignore[no-any-return]
        out: list[int | None] = []
        for record in answer.get(key, []) if isinstance(answer, dict) and key else []:
            value: Any = record
            for part in self.time_path:
                value = value.get(part) if isinstance(value, dict) else None
            out.append(parse_time(value) if isinstance(value, str) else None)
        return out


LISTING = TimeAxis("the comments of a source", True, False, ("timestamp",))
QUERY = TimeAxis("a dataset query", False, True, ("comment", "timestamp"))


def axis_of(method: str, path: str, params: Mapping[str, Any], body: Any) -> TimeAxis:
    """The time axis of a call, or a :class:`ConfigError` saying why it cannot be sliced."""
    bare = path.split("?", 1)[0]
    if method == "GET" and _LISTING.match(bare):
        if str(params.get("direction", "ascending")) != "ascending":
            raise ConfigError(
                "A parallel pull of comments goes oldest first: drop direction=descending "
                "(or drop --parallel)."
            )
        if params.get("after"):
            raise ConfigError("A parallel pull starts from the beginning: drop `after`.")
        return LISTING
    if method == "POST" and _QUERY.match(bare):
        order = (body or {}).get("order") or {}
        if order.get("kind") != "recent":
            raise ConfigError(
                'A parallel dataset query needs {"order": {"kind": "recent"}} (newest first) '
                "to cut it in time slices; drop --parallel for other orders."
            )
        if (body or {}).get("continuation"):
            raise ConfigError("A parallel pull starts from the beginning: drop `continuation`.")
        return QUERY
    raise ConfigError(
        f"{method} {bare} takes no time range, so it cannot be pulled in parallel slices: "
        "use --parallel with GET .../sources/<owner>/<source>/comments or POST "
        ".../datasets/<owner>/<dataset>/query, or drop --parallel."
    )


# --------------------------------------------------------------------------- slices


@dataclass
class Slice:
    """One time window of a pull, ``[lo, hi)`` in microseconds (None: open), and where it
    stands: ``after`` is the continuation to go on from (None: its start).

    ``req`` is the window its calls ask for, fixed when it starts so that its continuation
    tokens stay valid; ``lo``/``hi`` narrow when an idle worker takes over the rest of the
    slice (the records past them are dropped). ``position`` is the time of the last record
    kept; ``end_hint`` the probed end of an open window."""

    index: int
    lo: int | None
    hi: int | None
    after: str | None = None
    done: bool = False
    pages: int = 0
    rows: int = 0
    error: ReinferError | None = None
    results: list[Result] = field(default_factory=list, repr=False)
    req: tuple[int | None, int | None] | None = None
    position: int | None = None
    start: int | None = None  # the time of the first record kept
    end_hint: int | None = None
    lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.req is None:
            self.req = (self.lo, self.hi)

    def clip(self, result: Result, axis: TimeAxis | None) -> tuple[Result, bool]:
        """The page without its records outside the window, and whether the window ended
        on it (a record past the far end: no later page can be in the window). Moves
        :attr:`position` to the last record kept."""
        if axis is None:
            return result, False
        answer = result.answer
        key = result.records_key
        times = axis.times(answer, key)
        if not times:
            return result, False
        kept_times = [t for t in times if t is not None and (self.lo is None or t >= self.lo)
                      and (self.hi is None or t < self.hi)]
        if kept_times:
            edge = max(kept_times) if axis.ascending else min(kept_times)
            self.position = edge
            if self.start is None:
                self.start = kept_times[0]
        if self.lo is None and self.hi is None:
            return result, False
        inside = [
            t is None or ((self.lo is None or t >= self.lo) and (self.hi is None or t < self.hi))
            for t in times
        ]
        beyond = any(
            t is not None and (
                (axis.ascending and self.hi is not None and t >= self.hi)
                or (not axis.ascending and self.lo is not None and t < self.lo)
            )
            for t in times
        )
        if all(inside):
            return result, beyond
        kept = [i for i, ok in enumerate(inside) if ok]
        start, stop = (kept[0], kept[-1] + 1) if kept else (0, 0)
        if kept and stop - start != len(kept):
            raise NetworkError(
                f"The records of {result.path} are not in time order, so they cannot be "
                "pulled in slices: drop --parallel.",
                reason="bad_protocol", method=result.method, path=result.path,
            )
        if isinstance(answer, RawAnswer):
            trimmed: Any = answer.span(start, stop)
        else:
            trimmed = {**answer, key: answer[key][start:stop]} if key else answer
        return dataclasses.replace(result, answer=trimmed), beyond


# --------------------------------------------------------------------------- bounds


def far_end(
    client: Client, axis: TimeAxis, method: str, path: str, params: Mapping[str, Any],
    body: Any,
) -> int | None:
    """The time where a pull ends, in its order (the newest comment of a listing, the
    oldest of a query): the user's bound, else the dataset statistics (when served), else
    a probe. None if it cannot be told (the pull then stays in one slice)."""
    low, high = axis.user_range(params, body)
    if axis.ascending:
        if high is not None:
            return high
        query = {k: v for k, v in params.items() if k not in ("from_timestamp", "to_timestamp")}
        return _first_time(client, axis, method, path,
                           {**query, "limit": 1, "direction": "descending"}, None)
    if low is not None:
        return low
    found = _dataset_statistics(client, path, body)
    return found[0] if found is not None else _oldest_of_dataset(client, path)


def _first_time(
    client: Client, axis: TimeAxis, method: str, path: str, params: Mapping[str, Any],
    body: Any,
) -> int | None:
    result = client.request(method, path, params=params or None, json=body, idempotent=True,
                            check_spec=False)
    times = [t for t in axis.times(result.data, result.records_key) if t is not None]
    return times[0] if times else None


def _dataset_statistics(client: Client, path: str, body: Any) -> tuple[int, int, int] | None:
    """``(min, max, num_comments)`` from the dataset statistics, or None if not served."""
    owner, name = _QUERY.match(path.split("?", 1)[0]).groups()  # type: ignore[union-attr]
    request: dict[str, Any] = {}
    if (body or {}).get("filter"):
        request["comment_filter"] = body["filter"]
    try:
        stats = client.request(
            "POST", f"/api/_private/datasets/{owner}/{name}/statistics", json=request,
            idempotent=False,  # not worth retries: the probes below do as well
            check_spec=False,
        ).data.get("statistics") or {}
    except (ApiError, NetworkError) as err:
        log.debug("dataset statistics not available (%s); probing instead", err)
        return None
    low, high = stats.get("min_timestamp"), stats.get("max_timestamp")
    if not (isinstance(low, str) and isinstance(high, str)):
        return None
    count = stats.get("num_comments")
    return parse_time(low), parse_time(high), int(count) if isinstance(count, (int, float)) else 0


def _oldest_of_dataset(client: Client, path: str) -> int | None:
    """The oldest comment of the dataset's sources (one listing call per source)."""
    owner, name = _QUERY.match(path.split("?", 1)[0]).groups()  # type: ignore[union-attr]
    dataset = client.get(f"/api/v1/datasets/{owner}/{name}", check_spec=False).data.get(
        "dataset") or {}
    wanted = set(dataset.get("source_ids") or [])
    sources = client.get("/api/v1/sources", check_spec=False).data.get("sources") or []
    oldest = None
    for source in sources:
        if source.get("id") in wanted:
            first = _first_time(
                client, LISTING, "GET",
                f"/api/_private/sources/{source['owner']}/{source['name']}/comments",
                {"limit": 1}, None,
            )
            if first is not None and (oldest is None or first < oldest):
                oldest = first
    return oldest


# --------------------------------------------------------------------------- the pull


PageHook = Callable[[Slice, Result, bool], None]
# Told when an idle worker takes over the rest of a slice: (the slice, the new one after it).
SplitHook = Callable[[Slice, Slice], None]
MIN_SPLIT_ROWS = 1024  # a slice is split only if about this many rows are still ahead
# Marks the calls made inside as page N of the pull (the timing log groups them by pull).
PageMark = Callable[[int], AbstractContextManager[Any]]


def _no_mark(page: int) -> AbstractContextManager[Any]:
    return nullcontext()


class _Pull:
    """Workers taking slices off a shared list, paging each by continuation."""

    def __init__(
        self,
        client: Client,
        method: str,
        path: str,
        params: Mapping[str, Any],
        body: Any,
        axis: TimeAxis | None,
        slices: Sequence[Slice],
        *,
        workers: int,
        decode: Decoder,
        on_page: PageHook,
        limit: int | None = None,
        max_pages: int | None = None,
        threaded: bool = False,
        on_split: SplitHook | None = None,
        mark: PageMark = _no_mark,
        far: Callable[[], int | None] | None = None,
    ) -> None:
        self.client, self.method, self.path = client, method, path
        self.threaded, self.on_split, self.mark = threaded, on_split, mark
        self._far, self._far_known, self._far_lock = far, far is None, threading.Lock()
        self._far_value: int | None = None
        self.params, self.body, self.axis = dict(params), body, axis
        self.slices = list(slices)
        pending = sum(not s.done for s in self.slices)
        # Without a time axis (or with a limit) slices are not split: no more workers
        # than slices; with one, idle workers split the running slices.
        splits = axis is not None and limit is None and max_pages is None
        self.workers = max(1, workers if splits and pending else min(workers, pending))
        self.decode, self.on_page = decode, on_page
        self.limit, self.max_pages = limit, max_pages
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # a page came in, or a slice ended
        self.failure: BaseException | None = None
        self._queue = [s for s in self.slices if not s.done]
        self._running: list[Slice] = []
        self._pages = self._calls = 0

    def run(self) -> None:
        """Fetch every slice; Ctrl-C stops the workers after their current page."""
        if self.workers == 1 and not self.threaded:
            self._work()  # in this thread: Ctrl-C interrupts the call itself
        else:
            threads = [threading.Thread(target=self._work, name=f"reinfer-slice-{i}",
                                        daemon=True) for i in range(self.workers)]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.2)
            except KeyboardInterrupt:
                self.stop.set()
                try:  # let the workers finish their page (a second Ctrl-C stops waiting)
                    for thread in threads:
                        thread.join()
                finally:
                    raise
        if self.failure is not None:
            raise self.failure

    def _next(self) -> Slice | None:
        """The next slice to fetch: one never started, else a split of a running one (when
        one is worth it: wait for the next page to tell), else None: all done."""
        while True:
            with self.lock:
                if self.stop.is_set():
                    return None
                if self._queue:
                    piece = self._queue.pop(0)
                    self._running.append(piece)
                    return piece
                if not any(not p.done and p.error is None for p in self._running):
                    return None
            split = self._split()
            if split is not None:
                return split
            with self.changed:
                self.changed.wait(0.5)

    def _far_end(self) -> int | None:
        """The probed far end of the pull (asked once, by the first worker that needs it;
        a failed probe leaves the pull as it is)."""
        with self._far_lock:
            if not self._far_known:
                self._far_known = True
                try:
                    assert self._far is not None
                    self._far_value = self._far()
                except (ApiError, NetworkError) as err:
                    log.info("the end of the time range is unknown (%s): not splitting", err)
            return self._far_value

    def _split(self) -> Slice | None:
        """An idle worker's share: the far half of the running slice with the most rows
        still ahead (estimated from its rows so far), or None if none is worth it."""
        axis = self.axis
        if axis is None or self.limit is not None or self.max_pages is not None:
            return None  # without time there is nothing to split; a limit wants order
        with self.lock:
            running = [p for p in self._running if not p.done and p.error is None]
        best: Slice | None = None
        best_rows: float = MIN_SPLIT_ROWS
        for piece in running:
            if piece.position is not None and (piece.hi if axis.ascending else piece.lo) is None:
                piece.end_hint = piece.end_hint or self._far_end()  # an open far end
            ahead = _rows_ahead(piece, axis.ascending)
            if ahead is not None and ahead[0] > max(best_rows, 2 * piece.rows / piece.pages):
                best, best_rows = piece, ahead[0]
        if best is None:
            return None
        with best.lock:  # not while it takes in a page: the cut stays ahead of it
            ahead = _rows_ahead(best, axis.ascending)
            if best.done or ahead is None or ahead[0] < MIN_SPLIT_ROWS:
                return None
            cut = ahead[1]
            if axis.ascending:
                piece = Slice(0, cut, best.hi, req=(cut, best.hi), end_hint=best.end_hint)
                best.hi, best.end_hint = cut, None
            else:
                piece = Slice(0, best.lo, cut, req=(best.lo, cut), end_hint=best.end_hint)
                best.lo, best.end_hint = cut, None
            with self.lock:
                piece.index = max(p.index for p in self.slices) + 1
                self.slices.insert(self.slices.index(best) + 1, piece)
                self._running.append(piece)
            if self.on_split is not None:
                self.on_split(best, piece)
        log.debug("slice %d split at %s: slice %d takes the rest", best.index,
                  format_time(cut), piece.index)
        return piece

    def _work(self) -> None:
        try:
            while (piece := self._next()) is not None:
                self._fetch(piece)
        except BaseException as exc:  # a bug or a failed write: stop everyone, report it
            with self.lock:
                if self.failure is None:
                    self.failure = exc
            self.stop.set()
            if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is (
                threading.main_thread()
            ):
                raise  # (in a worker, run() raises it in the calling thread)

    def _fetch(self, piece: Slice) -> None:
        seen: set[str] = set()
        failures = 0
        after = piece.after
        axis = self.axis
        while not self.stop.is_set():
            if axis is not None:
                assert piece.req is not None
                params, body = axis.windowed(self.params, self.body, *piece.req)
            else:
                params, body = dict(self.params), copy.deepcopy(self.body)
            if after is not None:
                if self.method in ("GET", "DELETE"):
                    params["after"] = after
                else:
                    body = {**(body or {}), "continuation": after}
            with self.lock:
                self._calls += 1
                number = self._calls
            try:
                with self.mark(number):
                    result = self.client.request(
                        self.method, self.path, params=params, json=body, idempotent=True,
                        decode=self.decode, check_spec=False,  # checked once, before the pull
                    )
            except (ApiError, NetworkError) as err:
                failures += 1
                if failures > SLICE_RETRIES or not _worth_retrying(err):
                    piece.error = err
                    with self.changed:
                        self.changed.notify_all()
                    return
                wait = self.client.policy.backoff * 2 ** failures
                log.info("slice %d: %s; trying the slice again in %.1f s from where it was",
                         piece.index, err.message, wait)
                self.stop.wait(wait)
                continue
            failures = 0
            with piece.lock:  # a split waits: the page is cut to the window it knows
                result, beyond = piece.clip(result, axis)
                token = result.continuation
                end = token is None or beyond
                with self.lock:
                    if self.stop.is_set():
                        return  # stopped while this page was on its way: not counted
                    self._pages += 1
                    piece.pages += 1
                    piece.rows += result.rows
                self.on_page(piece, result, end)
                piece.after = token
                if end or token is None:
                    piece.done = True
            with self.changed:
                self.changed.notify_all()  # idle workers look again for a slice to split
            if piece.done or token is None:
                return
            if token in seen:
                piece.error = NetworkError(
                    f"Pagination did not advance on {result.path} (the same continuation came "
                    f"back after page {piece.pages} of slice {piece.index}); stopping to avoid "
                    "a loop.", reason="bad_protocol", method=self.method, path=result.path,
                )
                return
            seen.add(token)
            after = token
            if self._enough():
                self.stop.set()

    def _enough(self) -> bool:
        """Whether the pages in order already hold ``limit`` rows (or ``max_pages`` pages)."""
        if self.max_pages is not None and self._pages >= self.max_pages:
            return True
        if self.limit is None:
            return False
        rows = 0
        with self.lock:
            for piece in self.slices:
                rows += piece.rows
                if rows >= self.limit:
                    return True
                if not piece.done:
                    return False
        return False


def _rows_ahead(piece: Slice, ascending: bool) -> tuple[float, int] | None:
    """The rows a slice still has ahead (at the density of its rows so far) and the whole
    second halfway through what is ahead; None if that cannot be told yet."""
    position, start = piece.position, piece.start
    far = piece.hi if ascending else piece.lo
    far = piece.end_hint if far is None else far
    if position is None or start is None or far is None or piece.rows < 1:
        return None
    covered = abs(position - start) + SECOND
    left = (far - position) if ascending else (position - far)
    if left < 2 * SECOND:
        return None
    cut = (position + left // 2) if ascending else (position - left // 2)
    cut = cut // SECOND * SECOND + (SECOND if ascending else 0)
    if not (position < cut < far if ascending else far < cut <= position):
        return None
    return piece.rows * left / covered, cut


def _worth_retrying(err: ReinferError) -> bool:
    return isinstance(err, NetworkError) or (err.http_status or 0) >= 500 or (
        err.http_status == 429
    )


def pull(
    client: Client,
    method: str,
    path: str,
    params: Mapping[str, Any],
    body: Any,
    axis: TimeAxis | None,
    slices: Sequence[Slice],
    *,
    workers: int,
    decode: Decoder,
    on_page: PageHook,
    limit: int | None = None,
    max_pages: int | None = None,
    threaded: bool = False,
    on_split: SplitHook | None = None,
    mark: PageMark = _no_mark,
    far: Callable[[], int | None] | None = None,
) -> list[Slice]:
    """Fetch ``slices`` with ``workers`` threads; ``on_page(slice, result, last)`` sees each
    page as it arrives (from the worker's thread). A worker with nothing left to take
    splits the running slice with the most rows ahead (``on_split(slice, new)``); ``far()``
    tells where an open-ended slice ends (asked once, when first needed). Returns
    the slices, in order, when every one is done or has failed (``Slice.error``); Ctrl-C
    stops the workers after their current page and raises KeyboardInterrupt (the slices
    so far are in ``slices``, which is updated in place); an exception in ``on_page``
    stops them and is raised. One worker runs in the calling thread unless ``threaded``."""
    work = _Pull(client, method, path, params, body, axis, slices, workers=workers,
                 decode=decode, on_page=on_page, limit=limit, max_pages=max_pages,
                 threaded=threaded, on_split=on_split, mark=mark, far=far)
    if isinstance(slices, list):
        work.slices = slices  # the caller's list: splits show in it even after Ctrl-C
    work.run()
    return work.slices


def fetch_parallel(
    client: Client,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None,
    json: Any,
    parallel: int,
    limit: int | None,
    progress: bool,
    decode: Decoder,
    mark: PageMark = _no_mark,
) -> Pages:
    """``Client.fetch_all(parallel=N)``: the pull in time slices, as :class:`Pages` in the
    order of the sequential pull (see the module docstring)."""
    from .progress import RowProgress

    query = dict(params or {})
    axis = axis_of(method, path, query, json)
    pages = Pages(method, path, limit=limit)
    bar = RowProgress(f"{method} {path}", total=limit, enabled=progress)
    rows = 0
    lock = threading.Lock()

    def on_page(piece: Slice, result: Result, last: bool) -> None:
        nonlocal rows
        with lock:
            piece.results.append(result)
            rows += result.rows
            bar.update(rows if limit is None else min(rows, limit))

    slices = [Slice(0, None, None)]
    try:
        pull(client, method, path, query, json, axis, slices, workers=parallel, decode=decode,
             on_page=on_page, limit=limit, mark=mark,
             far=lambda: far_end(client, axis, method, path, query, json))
    except KeyboardInterrupt:
        pages.results = [r for piece in slices for r in piece.results]
        pages.interrupted = True
        bar.close(finished=False)
        raise FetchInterrupted(pages) from None
    pages.results = [r for piece in slices for r in piece.results]
    failed = next((piece for piece in slices if piece.error is not None), None)
    if failed is not None and pages.error is None:
        before = slices[: slices.index(failed)]
        assert failed.error is not None
        pages.error = PaginationError(
            failed.error,
            page=sum(p.pages for p in before) + failed.pages + 1,
            rows=sum(p.rows for p in before) + failed.rows,
        )
    total = sum(piece.rows for piece in slices)
    cut = limit is not None and any(not piece.done for piece in slices)
    pages.has_more = pages.complete and (cut or (limit is not None and total > limit))
    bar.close(finished=pages.complete)
    return pages
