"""API answers and errors as pandas DataFrames.

* :func:`to_frame`: the list of records of an answer (``datasets``, ``comments``...) with
  nested objects flattened to dotted columns; one object gives one row.
* :func:`pages_to_frame`: the pages of a pagination as one frame, built once at the end.
* :func:`error_frame`: a one-row frame with the columns of :data:`ERROR_COLUMNS`.

``df.attrs`` keeps the HTTP status, the URL (no token), the timing record and the raw JSON,
so nothing the server said is lost by flattening.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import ReinferError
from .records import find_records

if TYPE_CHECKING:
    from .client import Result

__all__ = ["ERROR_COLUMNS", "error_frame", "error_record", "pages_to_frame", "to_frame"]

ERROR_COLUMNS = ("kind", "http_status", "message", "method", "path", "server_ms")


class SharedJson(dict):  # type: ignore[type-arg]
    """The raw JSON of an answer in ``df.attrs``.

    pandas deep-copies ``attrs`` on every operation; this dict hands out itself instead,
    so a frame of 100,000 comments does not copy its raw JSON each time. Treat it as
    read-only.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedJson:
        return self


class SharedPages(list):  # type: ignore[type-arg]
    """The raw JSON pages of a pagination in ``df.attrs`` (not deep-copied; read-only)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedPages:
        return self


def records_frame(records: Sequence[Any]) -> pd.DataFrame:
    """Records as a DataFrame, nested objects flattened with dotted column names."""
    if not records:
        return pd.DataFrame()
    if all(isinstance(item, dict) for item in records):
        return pd.json_normalize(list(records), sep=".")
    return pd.DataFrame({"value": list(records)})


def to_frame(result: Result | Any, *, max_items: int | None = None) -> pd.DataFrame:
    """One answer (a :class:`~reinfer_nb.client.Result` or parsed JSON) as a DataFrame."""
    data = getattr(result, "data", result)
    key, records = find_records(data)
    if max_items is not None:
        records = records[:max_items]
    frame = records_frame(records)
    frame.attrs.update(_result_attrs(result))
    frame.attrs.update(
        records_key=key,
        raw=SharedJson(data) if isinstance(data, dict) else data,
        complete=True,
        incomplete=False,
    )
    return frame


def pages_to_frame(
    pages: Sequence[Result],
    *,
    max_items: int | None = None,
    error: ReinferError | None = None,
) -> pd.DataFrame:
    """The records of all pages as one frame.

    With ``error`` (a failure after these pages), ``attrs`` say the frame is incomplete
    (``complete`` False, ``incomplete`` True), hold the error as a dict under ``error``
    and say where it stopped (``stopped_at_page``).
    """
    records: list[Any] = []
    key = None
    for page in pages:
        key, items = find_records(page.data)
        records.extend(items)
    if max_items is not None:
        del records[max_items:]
    frame = records_frame(records)
    if pages:
        frame.attrs.update(_result_attrs(pages[-1]))
        frame.attrs["url"] = pages[0].url
        frame.attrs["timings"] = tuple(page.timing for page in pages)
    frame.attrs.update(
        records_key=key,
        raw=SharedPages(page.data for page in pages),
        pages=len(pages),
        complete=error is None,
        incomplete=error is not None,
    )
    if error is not None:
        frame.attrs["error"] = error_record(error)
        frame.attrs["stopped_at_page"] = error.page or len(pages) + 1
    return frame


def error_record(error: ReinferError) -> dict[str, Any]:
    """The fields of the error frame, as a dict."""
    return {
        "kind": error.kind,
        "http_status": error.http_status,
        "message": error.message,
        "method": error.method,
        "path": error.path,
        "server_ms": error.server_ms,
    }


def error_frame(error: ReinferError) -> pd.DataFrame:
    """A one-row frame describing a failed call (columns :data:`ERROR_COLUMNS`)."""
    row = error_record(error)
    frame = pd.DataFrame(
        {
            "kind": pd.Series([row["kind"]], dtype="object"),
            "http_status": pd.Series([row["http_status"]], dtype="Int64"),
            "message": pd.Series([row["message"]], dtype="object"),
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
