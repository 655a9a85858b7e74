"""API answers and errors as pandas DataFrames.

* :func:`to_frame`: the list of records of an answer (``datasets``, ``comments``...) with
  nested objects flattened to dotted columns; one object gives one row.
* :func:`pages_to_frame`: the pages of a pagination as one frame, built once at the end.
* :func:`error_frame`: a one-row frame with the columns of :data:`ERROR_COLUMNS`, shown
  whole (never cut or wrapped into blocks) in HTML and in text.

Columns are typed (:func:`typed_columns`): RFC 3339 timestamps become
``datetime64[ns, UTC]``, numbers numeric. ``df.attrs`` keeps the HTTP status, the URL (no
token), the timing record and the raw JSON, so nothing the server said is lost.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, overload

import pandas as pd

from .errors import ReinferError
from .results import Pages, RawAnswer, Result, check_limits, continuation_of, find_records

__all__ = [
    "ERROR_COLUMNS", "ErrorFrame", "error_frame", "error_record", "pages_attrs",
    "pages_to_frame", "paused_gc", "to_frame", "typed_columns",
]

#: The error frame's columns: ``message`` is what happened (for an API error, what the
#: platform said, verbatim), ``hint`` what to do, ``attempts`` how many were made.
ERROR_COLUMNS = (
    "kind", "http_status", "message", "hint", "attempts", "method", "path", "server_ms",
)


class SharedJson(dict):  # type: ignore[type-arg]
    """The raw JSON of an answer in ``df.attrs``.

    pandas deep-copies ``attrs`` on every operation; this dict hands out itself instead,
    so a frame of 100,000 comments does not copy its raw JSON each time. Treat it as
    read-only.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedJson:
        return self


class RawPages(Sequence[Any]):
    """The raw JSON pages of a pagination in ``df.attrs["raw"]`` (not deep-copied; read-only).

    A bulk pull keeps its pages as compressed bytes: they are parsed the first time this
    is read (``list(df.attrs["raw"])`` gives a plain list, e.g. for ``json.dump``).
    """

    def __init__(self, results: Sequence[Result]) -> None:
        self._results = results
        self._pages: list[Any] | None = None

    def _parsed(self) -> list[Any]:
        if self._pages is None:
            self._pages = [result.data for result in self._results]
        return self._pages

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._parsed()[index]

    def __len__(self) -> int:
        return len(self._results)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawPages):
            other = other._parsed()
        return isinstance(other, list) and self._parsed() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._parsed())

    def __deepcopy__(self, memo: dict[int, Any]) -> RawPages:
        return self

    def __reduce__(self) -> Any:
        return (list, (self._parsed(),))


def records_frame(records: Sequence[Any], *, typed: bool = False) -> pd.DataFrame:
    """Records as a DataFrame, nested objects flattened with dotted column names.

    The frame is the one ``pandas.json_normalize(records, sep=".")`` gives (same columns in
    the same order, same values and dtypes), built column by column: about 2-3 times
    faster on large pulls and without json_normalize's intermediate flat dict per record.
    With ``typed`` it is the frame :func:`typed_columns` makes of that one, its timestamps
    parsed while the columns are still lists (cheaper than converting columns of a frame).
    """
    if not records:
        return pd.DataFrame()
    if all(isinstance(item, dict) for item in records):
        with paused_gc():
            return _normalize(records, typed=typed)
    frame = pd.DataFrame({"value": list(records)})
    return typed_columns(frame) if typed else frame


# --------------------------------------------------------------------------- flattening

def _normalize(
    records: Sequence[dict[Any, Any]], sep: str = ".", *, typed: bool = False
) -> pd.DataFrame:
    """``pandas.json_normalize(records, sep=sep)`` for dicts, column by column."""
    columns: dict[Any, Any] = _flatten(records, sep)
    if not columns or not all(type(name) is str for name in columns):
        frame = pd.json_normalize(list(records), sep=sep)  # rare shapes: pandas decides
        return typed_columns(frame) if typed else frame
    if typed:
        # Numbers need nothing here: the constructor below types them as typed_columns would.
        columns.update(_timestamp_columns(columns, len(records)))
    # copy=False: the lists become new arrays anyway, the timestamps are this frame's own.
    return pd.DataFrame(columns, index=pd.RangeIndex(len(records)), copy=False)


def _timestamp_columns(columns: dict[Any, list[Any]], n: int) -> dict[Any, Any]:
    """The columns (lists of ``n`` values) that hold RFC 3339 timestamps, parsed.

    The candidates are parsed as one array, then cut per column (a parse costs about the
    same for 3 values as for 300); if that fails each is parsed alone, as typed_columns
    would, so one column of text among them changes nothing for the others.
    """
    names = []
    for name, values in columns.items():
        first = next((v for v in values if not _missing(v)), None)
        if isinstance(first, str) and _RFC3339.fullmatch(first) and _sample_is_rfc3339(values):
            names.append(name)
    if len(names) > 1:
        parsed = _parse_timestamps([v for name in names for v in columns[name]])
        if parsed is not None:
            return {name: parsed[i * n:(i + 1) * n] for i, name in enumerate(names)}
    found = {name: _parse_timestamps(columns[name]) for name in names}
    return {name: values for name, values in found.items() if values is not None}


def _flatten(records: Sequence[dict[Any, Any]], sep: str) -> dict[Any, list[Any]]:
    """One list per flattened column name (NaN where a record lacks it), in the order
    json_normalize gives: per record its top-level non-object fields, then the fields of
    its objects depth first, with names joined by ``sep``; columns by first appearance."""
    n = len(records)
    nan = float("nan")
    columns: dict[Any, list[Any]] = {}
    get = columns.get
    joined: dict[str, dict[str, str]] = {}  # prefix -> {key: prefix + sep + key}

    def nested(prefix: str, data: dict[Any, Any], i: int) -> None:
        names = joined.get(prefix)
        if names is None:
            names = joined[prefix] = {}
        for key, value in data.items():
            name = names.get(key) if key.__class__ is str else None
            if name is None:
                # As pandas: no leading separator under an empty prefix.
                name = f"{prefix}{sep}{key}" if prefix else f"{sep}{key}".removeprefix(sep)
                if key.__class__ is str:
                    names[key] = name
            if isinstance(value, dict):
                nested(name, value, i)
            else:
                column = get(name)
                if column is None:
                    column = columns[name] = [nan] * n
                column[i] = value

    for i, record in enumerate(records):
        objects = None
        for key, value in record.items():
            if isinstance(value, dict):
                if objects is None:
                    objects = {}
                objects[key] = value
            else:
                column = get(key)
                if column is None:
                    column = columns[key] = [nan] * n
                column[i] = value
        if objects is not None:
            nested("", objects, i)
    return columns


# --------------------------------------------------------------------------- gc

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large answer is decoded and framed.

    Decoded JSON is millions of small acyclic objects; every few thousand allocations the
    collector would traverse them again, which more than doubles the CPU time of a bulk
    pull. Reference counting still frees memory as usual; on exit after a large pause the
    young generations are collected once (what the collector would have done, in one pass
    instead of many), so the cost is paid here, not by the next cell.
    Nests and is thread-safe; restores the collector only if it was enabled.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            resume = _gc_depth == 0 and _gc_was_enabled
            if resume:
                gc.enable()
        # After a large pause, collect the young generations in one pass (else the
        # collector would go over the same new objects twice, as generation 0 and then 1).
        if resume and 0 < 10 * gc.get_threshold()[0] < gc.get_count()[0]:
            gc.collect(1)


def to_frame(result: Result | Any, *, max_items: int | None = None) -> pd.DataFrame:
    """One answer (a :class:`~reinfer_nb.client.Result` or parsed JSON) as a DataFrame.

    ``max_items`` keeps the first rows only (a whole number >= 1, else ConfigError).
    """
    check_limits(max_items=max_items)
    data = getattr(result, "data", result)
    key, all_records = find_records(data)
    records = all_records if max_items is None else all_records[:max_items]
    frame = records_frame(records, typed=True)
    frame.attrs.update(_result_attrs(result))
    frame.attrs.update(
        records_key=key,
        raw=SharedJson(data) if isinstance(data, dict) else data,
        complete=True,
        incomplete=False,
        has_more=(max_items is not None and len(all_records) > max_items)
        or continuation_of(data) is not None,
    )
    return frame


def pages_to_frame(
    pages: Pages | Sequence[Result],
    *,
    max_items: int | None = None,
    error: ReinferError | None = None,
) -> pd.DataFrame:
    """The records of all pages as one frame.

    ``attrs`` say whether the pull is ``complete`` (``incomplete`` is its negation), how
    many ``pages`` it took, whether the server ``has_more``, and for a pull stopped early
    the error as a dict under ``error`` and where it stopped (``stopped_at_page``).
    A plain list of :class:`Result` may be given instead of :class:`Pages`, with the
    ``error`` that stopped it.
    """
    if not isinstance(pages, Pages):
        pages = Pages("", "", list(pages), limit=max_items)
    elif max_items is not None:
        pages = Pages(pages.method, pages.path, pages.results, limit=max_items,
                      error=pages.error, interrupted=pages.interrupted, has_more=pages.has_more,
                      server_count=pages.server_count)
    frame = _pages_records_frame(pages)
    frame.attrs.update(pages_attrs(pages, error=error))
    return frame


def pages_attrs(pages: Pages, *, error: ReinferError | None = None) -> dict[str, Any]:
    """The ``attrs`` of a frame built from ``pages`` (see :func:`pages_to_frame`)."""
    failure = error if error is not None else pages.error
    attrs: dict[str, Any] = {}
    results = pages.results
    if results:
        attrs.update(_result_attrs(results[-1]))
        attrs["url"] = results[0].url
        attrs["timings"] = tuple(page.timing for page in results)
    complete = failure is None and not pages.interrupted
    attrs.update(
        records_key=pages.records_key,
        raw=RawPages(pages.results),
        pages=len(results),
        complete=complete,
        incomplete=not complete,
        has_more=pages.has_more,
    )
    if failure is not None:
        attrs["error"] = error_record(failure)
    if not complete:
        attrs["stopped_at_page"] = (
            getattr(failure, "page", None) or pages.stopped_at_page or len(results) + 1
        )
    return attrs


# --------------------------------------------------------------------------- types

# RFC 3339 date-times: date, time and an offset (dates alone stay text).
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})"
)


def typed_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with typed columns, in place: a column of RFC 3339 timestamps becomes
    ``datetime64[ns, UTC]``, a column of numbers (and gaps) numeric. Anything else, and
    any column that does not convert cleanly, stays as it is."""
    for i, dtype in enumerate(frame.dtypes.tolist()):  # by position: names may repeat
        if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
            continue
        column = frame.iloc[:, i]
        first = next((v for v in column.array if not _missing(v)), None)
        converted: Any = None
        if isinstance(first, str):
            if _RFC3339.fullmatch(first):
                converted = _timestamps(column.array)
        elif _is_number(first) and all(_is_number(v) for v in column.dropna()):
            try:
                converted = pd.to_numeric(column)
            except (ValueError, TypeError, OverflowError):  # e.g. beyond int64 and float
                converted = None
        if converted is not None:
            frame.isetitem(i, converted)
    return frame


def _pages_records_frame(pages: Pages) -> pd.DataFrame:
    """The records of the pages, typed: from Arrow when a bulk pull decoded them so (see
    :mod:`reinfer_nb.columnar`), else from the parsed JSON; the same frame either way."""
    if pages.results and isinstance(pages.results[0].answer, RawAnswer):
        from .columnar import Unsupported, pages_frame

        try:
            return typed_columns(pages_frame(pages.results, pages.limit))
        except Unsupported:
            pass
    return records_frame(pages.records, typed=True)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _timestamps(values: Sequence[Any]) -> Any:
    """``values`` (a list or array) as a ``datetime64[ns, UTC]`` array (gaps as NaT), or
    None unless they are RFC 3339 text.

    A sample (about 64 values, the last included) is checked against RFC 3339; parsing
    then checks every value as ISO 8601 (any that is not leaves the column as text).
    """
    return _parse_timestamps(values) if _sample_is_rfc3339(values) else None


def _sample_is_rfc3339(values: Sequence[Any]) -> bool:
    """Whether about 64 of ``values`` (the last included) are RFC 3339 text or gaps."""
    match = _RFC3339.fullmatch
    sample = [*values[:: max(1, len(values) // 64)], values[-1]]
    return all(_missing(v) or (isinstance(v, str) and match(v)) for v in sample)


def _parse_timestamps(values: Sequence[Any]) -> Any:
    """``values`` as a ``datetime64[ns, UTC]`` array, or None if any is no ISO 8601 text."""
    fast = _arrow_timestamps(values)
    if fast is not None:
        return fast
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(values, utc=True, format="ISO8601"))
        return parsed.astype("datetime64[ns, UTC]").array
    except (ValueError, TypeError, OverflowError):  # e.g. out of the ns range: stays text
        return None


def _arrow_timestamps(values: Sequence[Any]) -> Any:
    """``values`` parsed by Arrow's ISO 8601 cast (about 4x faster than pandas' parser on
    a bulk pull), or None when Arrow refuses any value (pandas then decides)."""
    import pyarrow as pa

    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
        parsed = text.cast(pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return None
    # Arrow's numbers are UTC instants: naive in NumPy, given their zone back by pandas.
    return pd.DatetimeIndex(parsed.to_numpy(zero_copy_only=False), tz="UTC").array


def error_record(error: ReinferError) -> dict[str, Any]:
    """The fields of the error frame, as a dict (``message`` is the error's ``detail``)."""
    return {
        "kind": error.kind,
        "http_status": error.http_status,
        "message": error.detail,
        "hint": error.hint,
        "attempts": error.attempts,
        "method": error.method,
        "path": error.path,
        "server_ms": error.server_ms,
    }


class ErrorFrame(pd.DataFrame):  # type: ignore[misc]  # pandas is untyped here
    """The one-row error frame: a DataFrame that always shows its text whole.

    pandas cuts cells at 50 characters in HTML and wraps wide frames into blocks in text;
    an error's message and hint are the point of the frame, so its HTML shows every
    character and its text form lists the fields one per line. Anything derived from it
    (a selection, a copy) is a plain DataFrame again.
    """

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None):
            html = super()._repr_html_()
        return None if html is None else str(html)

    def __repr__(self) -> str:
        if len(self) != 1:
            with pd.option_context("display.max_colwidth", None, "display.max_columns", None,
                                   "display.expand_frame_repr", False):
                return str(super().__repr__())
        row = self.iloc[0]
        width = max(len(str(name)) for name in self.columns)
        lines = []
        for name in self.columns:
            value = row[name]
            shown = "—" if value is None or value is pd.NA or (
                isinstance(value, float) and value != value
            ) else str(value)
            lines.append(f"{str(name).rjust(width)}  {shown}".rstrip())
        return "\n".join(lines)


def error_frame(error: ReinferError) -> pd.DataFrame:
    """A one-row frame describing a failed call (columns :data:`ERROR_COLUMNS`).

    It is an :class:`ErrorFrame`: displayed, it shows the whole message and hint.
    """
    row = error_record(error)
    frame = ErrorFrame(
        {
            "kind": pd.Series([row["kind"]], dtype="object"),
            "http_status": pd.Series([row["http_status"]], dtype="Int64"),
            "message": pd.Series([row["message"]], dtype="object"),
            "hint": pd.Series([row["hint"]], dtype="object"),
            "attempts": pd.Series([row["attempts"]], dtype="int64"),
            "method": pd.Series([row["method"]], dtype="object"),
            "path": pd.Series([row["path"]], dtype="object"),
            "server_ms": pd.Series([row["server_ms"]], dtype="float64"),
        },
        columns=list(ERROR_COLUMNS),
    )
    frame.attrs.update(error=row, complete=False, incomplete=True, timing=error.timing)
    return frame


def _result_attrs(result: Any) -> dict[str, Any]:
    names: Iterable[str] = ("http_status", "url", "method", "path", "timing", "attempts")
    return {name: getattr(result, name) for name in names if hasattr(result, name)}
