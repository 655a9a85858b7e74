"""What calls return: one :class:`Result` per call, :class:`Pages` for a multi-page pull,
and :func:`find_records`, which finds the list of records in an answer.

Pure data (no HTTP, no pandas): :func:`reinfer_nb.frames.to_frame` and
:func:`reinfer_nb.frames.pages_to_frame` turn them into DataFrames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .errors import PaginationError
    from .timing import TimingRecord

__all__ = [
    "Pages", "RawAnswer", "Result", "check_limits", "continuation_of", "find_records",
    "server_count",
]

# Keys that hold the records of a listing, most specific first.
RECORD_KEYS = (
    "comments",
    "results",
    "sources",
    "datasets",
    "projects",
    "users",
    "streams",
    "triggers",
    "buckets",
    "emails",
    "audit_events",
    "labellers",
    "predictions",
    "integrations",
    "quotas",
)


def check_limits(**limits: Any) -> None:
    """Refuse limits (``limit=``, ``max_pages=``...) that would lose rows or make no sense.

    Each must be None (no limit) or a whole number of at least 1: ``-1`` would drop the
    last row and ``0`` fetch a page for nothing. Raises
    :class:`~reinfer_nb.errors.ConfigError` (one line), before anything is sent.
    """
    for name, value in limits.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            what = "pages" if "page" in name else "rows"
            raise ConfigError(
                f"{name} must be a whole number of at least 1, not {value!r}: give the most "
                f"{what} wanted, or no {name} for all of them. Nothing was sent."
            )


def find_records(data: Any) -> tuple[str | None, list[Any]]:
    """The key and list of records of an answer.

    A listing (``{"status": "ok", "datasets": [...]}``) gives its list; a single object
    (``{"status": "ok", "source": {...}}``) gives a one-item list; anything else gives the
    answer itself, without ``status``, as one record.
    """
    if isinstance(data, list):
        return None, data
    if not isinstance(data, dict):
        return None, [{"value": data}]
    for key in RECORD_KEYS:
        if isinstance(data.get(key), list):
            return key, data[key]
    fields = {k: v for k, v in data.items() if k != "status"}
    lists = [k for k, v in fields.items() if isinstance(v, list)]
    if len(lists) == 1:
        return lists[0], fields[lists[0]]
    if len(fields) == 1:
        ((key, value),) = fields.items()
        if isinstance(value, dict):
            return key, [value]
    return None, [fields or {"status": data.get("status")}]


def continuation_of(data: Any) -> str | None:
    """The token of the page after this answer, if there is one.

    Most listings say ``continuation``; the labellings listing pages with ``after`` and
    ends with an empty page.
    """
    if not isinstance(data, dict):
        return None
    value = data.get("continuation")
    if value is None and isinstance(data.get("after"), str) and find_records(data)[1]:
        value = data["after"]
    return value if isinstance(value, str) and value else None


def server_count(data: Any) -> int | None:
    """How many rows match in all, when the answer says (the dataset query's
    ``num_results.filtered``); None otherwise."""
    counts = data.get("num_results") if isinstance(data, dict) else None
    value = counts.get("filtered") if isinstance(counts, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@lru_cache(maxsize=1)
def _codec() -> Any:
    """LZ4 (frame format): the JSON about 6x smaller, at about twice zstd's speed (zstd
    shrinks it 10x, but a bulk pull pays for every page it compresses)."""
    import pyarrow as pa

    return pa.Codec("lz4")


def compress(body: bytes) -> bytes:
    """``body`` compressed as :class:`RawAnswer` keeps it."""
    return _codec().compress(body, asbytes=True)  # type: ignore[no-any-return]


class RawAnswer(dict):  # type: ignore[type-arg]
    """A page of a bulk pull kept as compressed bytes, its records decoded into Arrow.

    The dict holds the answer's fields beside its records (``status``, ``continuation``,
    ``num_results``...), which is all that paging and error checks read; :meth:`json`
    parses the whole answer from the bytes when it is asked for (``Result.data``,
    ``df.attrs["raw"]``), so a pull of a million comments does not keep millions of
    Python objects alive.
    Built by :mod:`reinfer_nb.columnar`; ``start``/``stop`` keep a span of the records
    (a time slice drops the rows outside its window). Built from fields alone (as
    ``dataclasses.asdict`` copies dicts), it is just those fields.
    """

    __slots__ = ("_blob", "_size", "key", "table", "rows", "continuation", "start", "stop")

    def __init__(
        self,
        fields: Any = (),
        *,
        blob: bytes = b"",
        size: int = 0,
        key: str = "",
        table: Any = None,
        continuation: str | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        super().__init__(fields)
        self._blob, self._size = blob, size
        self.key, self.table, self.continuation = key, table, continuation
        self.start, self.stop = start, stop
        self.rows: int = table.num_rows if table is not None else 0

    def body(self) -> bytes:
        """The answer's bytes, as received."""
        return _codec().decompress(  # type: ignore[no-any-return]
            self._blob, decompressed_size=self._size, asbytes=True
        )

    def json(self) -> Any:
        """The answer parsed (a new object each time), its records cut to the span kept."""
        if not self._blob:
            return dict(self)
        data = json.loads(self.body())
        if self.start or self.stop is not None:
            data[self.key] = data[self.key][self.start:self.stop]
        return data

    def span(self, start: int, stop: int) -> RawAnswer:
        """The same answer keeping only its records ``start:stop`` (of those kept now)."""
        base = self.start
        return RawAnswer(
            dict(self), blob=self._blob, size=self._size, key=self.key,
            table=self.table.slice(start, stop - start), continuation=self.continuation,
            start=base + start, stop=base + stop,
        )

    def __reduce__(self) -> Any:
        return (dict, (self.json(),))  # pickles and deep copies as the plain answer

    def __repr__(self) -> str:
        return f"<RawAnswer {self.key}: {self.rows} records, {self._size:,} bytes>"


@dataclass(frozen=True, slots=True)
class Result:
    """One successful call: its JSON answer, the HTTP status, the URL and its timing.

    ``answer`` is the parsed JSON, or for a page of a bulk pull a :class:`RawAnswer`
    (bytes and Arrow records); :attr:`data` is always the parsed JSON.
    """

    answer: Any
    http_status: int
    method: str
    url: str
    timing: TimingRecord
    attempts: int = 1

    @property
    def data(self) -> Any:
        """The parsed JSON answer (parsed from the kept bytes of a bulk page when read)."""
        answer = self.answer
        return answer.json() if isinstance(answer, RawAnswer) else answer

    @property
    def path(self) -> str:
        """The path and query below the tenant root."""
        return self.timing.path

    @property
    def records(self) -> list[Any]:
        """The answer's list of records (see :func:`find_records`)."""
        return find_records(self.data)[1]

    @property
    def rows(self) -> int:
        """How many records the answer holds (without parsing a bulk page)."""
        answer = self.answer
        return answer.rows if isinstance(answer, RawAnswer) else len(self.records)

    @property
    def records_key(self) -> str | None:
        """The answer's key of the records (``comments``, ``results``...)."""
        answer = self.answer
        return answer.key if isinstance(answer, RawAnswer) else find_records(answer)[0]

    @property
    def continuation(self) -> str | None:
        """The token of the next page, if the answer has one (see :func:`continuation_of`)."""
        answer = self.answer
        if isinstance(answer, RawAnswer):
            return answer.continuation
        return continuation_of(answer)


@dataclass
class Pages:
    """The pages of a multi-page pull (:meth:`reinfer_nb.client.Client.fetch_all`).

    * ``results``: one :class:`Result` per page fetched, in order;
    * ``limit``: the most rows wanted (None: all); :attr:`records` keeps at most that many;
    * ``error``: the :class:`~reinfer_nb.errors.PaginationError` that stopped the pull, if
      one did (the pages before it are kept);
    * ``interrupted``: the pull was stopped by Ctrl-C (the pages before it are kept);
    * ``has_more``: the server had more when ``limit`` or ``max_pages`` stopped the pull
      (False when the data ended, and for a pull that did not complete);
    * ``server_count``: how many rows match in all, when the answers say (else None).
    """

    method: str
    path: str
    results: list[Result] = field(default_factory=list)
    limit: int | None = None
    error: PaginationError | None = None
    interrupted: bool = False
    has_more: bool = False
    server_count: int | None = None

    @property
    def complete(self) -> bool:
        """True when nothing stopped the pull early: no error, no interrupt."""
        return self.error is None and not self.interrupted

    @property
    def records_key(self) -> str | None:
        """The answers' key of the records (``comments``, ``results``...)."""
        return self.results[-1].records_key if self.results else None

    @property
    def records(self) -> list[Any]:
        """The records of every page, at most ``limit`` of them."""
        out: list[Any] = []
        for result in self.results:
            out.extend(result.records)
        if self.limit is not None:
            del out[self.limit:]
        return out

    @property
    def rows(self) -> int:
        """How many records :attr:`records` holds."""
        total = sum(result.rows for result in self.results)
        return total if self.limit is None else min(total, self.limit)

    @property
    def data(self) -> list[Any]:
        """The JSON of every page, as received."""
        return [result.data for result in self.results]

    @property
    def stopped_at_page(self) -> int | None:
        """The page that failed or was interrupted (1-based), if the pull stopped early."""
        if self.error is not None:
            return self.error.page
        return len(self.results) + 1 if self.interrupted else None

    def __repr__(self) -> str:
        state = (
            "complete" if self.complete
            else "interrupted" if self.interrupted
            else f"stopped at page {self.stopped_at_page}"
        )
        more = ", more on the server" if self.has_more else ""
        return (
            f"<Pages {self.method} {self.path}: {_count(len(self.results), 'page')}, "
            f"{_count(self.rows, 'row')}, "
            f"{state}{more}>"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
