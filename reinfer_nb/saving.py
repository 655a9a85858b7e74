"""Bulk pulls streamed to Parquet as they arrive, with a manifest to resume them.

``Client.fetch_all(..., save=PATH)`` (``--save PATH``) writes the rows as batches of pages
arrive, so memory stays flat however large the pull; it returns a :class:`SavedPull`: the
path, what was saved, and ``read()`` / ``duckdb()`` to use it.

* ``PATH`` ending in ``.parquet``: one Parquet file, written when the pull is complete;
  meanwhile the batches wait in ``PATH.parts/``.
* any other ``PATH``: a directory, a Parquet dataset partitioned by month of the comment's
  timestamp (``month=2024-05/part-00003-000001.parquet``); Spark, Dask, Polars and DuckDB
  read it as it is (DuckDB, Polars: ``union_by_name`` / ``allow_missing_columns``, as
  pages may differ in their fields).

The columns are those of the frame the same pull gives in memory (dotted names), with
RFC 3339 text typed as UTC timestamps (microseconds) so that every engine sees dates.

A manifest beside the data (``PATH.manifest.json``; ``_manifest.json`` in a directory)
records the request, the time slices, for each slice the continuation token after its last
saved batch, and every file. It is rewritten atomically after each file is in place, so
whatever stops the pull (Ctrl-C, a network failure, a kernel restart, a full disk), the
same call with ``resume=True`` (``--resume``) fetches only what is missing, and never a row
twice: files the manifest does not list are removed, a listed file that is gone is
fetched again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ApiError, ConfigError, NetworkError, PaginationError, ReinferError
from .results import RawAnswer, Result, find_records
from .slices import (
    PageMark,
    Slice,
    TimeAxis,
    _no_mark,
    axis_of,
    far_end,
    format_time,
    pull,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from .client import Client, Decoder

__all__ = ["SaveError", "SaveInterrupted", "SavedPull", "duck", "save_pull"]

log = logging.getLogger("reinfer_nb")

FORMAT = "reinfer_nb.pull/1"
# Rows per file: what a worker holds before writing (memory stays flat), and at most what
# a crash loses; a resume fetches those pages again.
BATCH_ROWS = 4096
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_PART = re.compile(r"^part-(\d{5})-(\d{6})\.parquet$")


class SaveError(ConfigError):
    """The Parquet output cannot be written (unwritable path, full disk, another pull)."""


class SaveInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a pull to Parquet; ``saved`` (a :class:`SavedPull`) says what is on
    disk. The same call with ``resume=True`` goes on from there."""

    def __init__(self, saved: SavedPull) -> None:
        super().__init__(
            f"Interrupted: {saved.rows:,} rows saved in {saved.path}; run the same command "
            "with --resume (resume=True) to fetch the rest."
        )
        self.saved = saved


# --------------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    """What a saved pull is and how far it got (JSON beside the data)."""

    path: Path  # the manifest file itself
    request: dict[str, Any]
    layout: str  # "file" or "dataset"
    time_field: str | None
    slices: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SaveError(f"Cannot read the manifest {path}: {exc}.") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SaveError(f"{path} is not a manifest of a pull saved by reinfer_nb.")
        return cls(path, data["request"], data["layout"], data.get("time_field"),
                   data["slices"], data["files"], bool(data.get("complete")))

    def write(
        self,
        slices: list[dict[str, Any]] | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> None:
        """Replace the manifest atomically (a crash leaves the old one or the new one),
        with ``slices`` and ``files`` if given (the caller adopts them once written)."""
        text = json.dumps({
            "format": FORMAT, "request": self.request, "layout": self.layout,
            "time_field": self.time_field, "complete": self.complete,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "slices": self.slices if slices is None else slices,
            "files": self.files if files is None else files,
        }, indent=1)
        _atomic_write(self.path, text.encode())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- the handle


@dataclass
class SavedPull:
    """A pull saved as Parquet: where it is, what it holds, and how to read it.

    ``read()`` loads it as a DataFrame (the frame of the same pull in memory);
    ``duckdb()`` gives a DuckDB relation to query it with SQL without loading it.
    ``fetched_pages``: pages fetched by the call that returned this; ``error``: what
    stopped it early, if anything (the same call with ``resume=True`` goes on).
    """

    path: Path
    manifest: Manifest = field(repr=False)
    fetched_pages: int = 0
    error: ReinferError | None = None

    @property
    def complete(self) -> bool:
        return self.manifest.complete

    @property
    def rows(self) -> int:
        return sum(int(f["rows"]) for f in self.manifest.files)

    @property
    def pages(self) -> int:
        return sum(int(s.get("pages", 0)) for s in self.manifest.slices)

    @property
    def files(self) -> list[Path]:
        """The data files, in the order of the pull."""
        return [self._root() / f["path"]
                for f in _ordered(self.manifest.files, self.manifest.slices)]

    @property
    def bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.manifest.files)

    @property
    def first(self) -> datetime | None:
        values = [f["first"] for f in self.manifest.files if f.get("first") is not None]
        return _datetime(min(values)) if values else None

    @property
    def last(self) -> datetime | None:
        values = [f["last"] for f in self.manifest.files if f.get("last") is not None]
        return _datetime(max(values)) if values else None

    def _root(self) -> Path:
        if self.manifest.layout == "dataset":
            return self.path
        return self.path.parent if self.complete else _parts_dir(self.path)

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The saved rows as a DataFrame, in the order of the pull."""
        from .columnar import to_pandas

        return to_pandas(read_table(self.files, columns))

    def duckdb(self, connection: duckdb.DuckDBPyConnection | None = None) -> Any:
        """A DuckDB relation over the saved files (``month`` column for a dataset)."""
        return duck(self.path, connection)

    def summary(self) -> pd.DataFrame:
        """One row: path, rows, files, bytes, time range, pages, complete."""
        import pandas as pd

        return pd.DataFrame([{
            "path": str(self.path), "rows": self.rows, "files": len(self.manifest.files),
            "bytes": self.bytes, "first": self.first, "last": self.last,
            "pages": self.pages, "fetched_pages": self.fetched_pages,
            "complete": self.complete,
        }])

    def __repr__(self) -> str:
        span = (f", {self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"
                if self.first and self.last else "")
        state = "complete" if self.complete else "incomplete: resume=True goes on"
        return (f"<SavedPull {self.path}: {self.rows:,} rows in {len(self.manifest.files)} "
                f"files, {self.bytes / 2**20:,.1f} MiB{span}; {state}>")


def _datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, timezone.utc)


def _ordered(
    files: Sequence[dict[str, Any]], slices: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Files in the order of the pull: by their slice's place in ``slices`` (a split
    slice's new half comes right after it), then as written."""
    place = {s["index"]: i for i, s in enumerate(slices)}
    return sorted(files, key=lambda f: (place.get(f["slice"], f["slice"]), f["seq"], f["path"]))


def read_table(files: Sequence[Path], columns: Sequence[str] | None = None) -> pa.Table:
    """Parquet files as one table: their schemas unified in file order (a column a file
    lacks is null there; a column whose type differs between files is read as text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        return pa.table({})
    schemas = [pq.read_schema(path) for path in files]
    schema = _unify(schemas)
    if columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    tables = [
        _conform(pq.read_table(path, columns=[n for n in schema.names if n in own.names]),
                 schema)
        for path, own in zip(files, schemas, strict=True)
    ]
    return pa.concat_tables(tables)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order (nulls where it lacks one)."""
    import pyarrow as pa

    columns = []
    for target in schema:
        if target.name not in table.column_names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, target.type)]))
        elif table.schema.field(target.name).type != target.type:
            columns.append(_as_type(table[target.name], target.type))
        else:
            columns.append(table[target.name])
    return pa.table(columns, schema=schema)


def _unify(schemas: Sequence[pa.Schema]) -> pa.Schema:
    import pyarrow as pa

    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    fields: dict[str, pa.Field] = {}
    for schema in schemas:
        for f in schema:
            seen = fields.get(f.name)
            if seen is None:
                fields[f.name] = f
            elif seen.type != f.type:
                try:
                    fields[f.name] = pa.unify_schemas(
                        [pa.schema([seen]), pa.schema([f])], promote_options="permissive"
                    ).field(f.name)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    fields[f.name] = pa.field(f.name, pa.string())  # mixed types: text
    return pa.schema(list(fields.values()))


def _as_type(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    import pyarrow as pa

    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.chunked_array([pa.array(values, pa.string())])


def duck(path: str | os.PathLike[str], connection: Any = None) -> Any:
    """A DuckDB relation over a pull saved with ``save=PATH`` (a file or a dataset).

    Reads the files the manifest lists (so an interrupted pull shows no half-written
    file) and, for a dataset, the ``month`` partition column. The files of a complete
    pull share one schema; those of an unfinished one may differ in their fields and are
    read with ``union_by_name``. Query it with SQL, e.g.
    ``rel = reinfer_nb.duck("comments/"); duckdb.sql("SELECT count(*) FROM rel")``.
    """
    import duckdb

    target = Path(path).expanduser()
    con = connection if connection is not None else duckdb.default_connection()
    manifest_path = _manifest_path(target)
    uniform = False
    if manifest_path.exists():
        saved = SavedPull(target, Manifest.load(manifest_path))
        files = [str(f) for f in saved.files]
        hive = saved.manifest.layout == "dataset"
        uniform = saved.complete
    elif target.is_dir():
        files = sorted(str(f) for f in target.rglob("*.parquet"))
        hive = True
    else:
        files, hive = [str(target)], False
    if not files:
        raise SaveError(f"{target} holds no Parquet files yet.")
    # union_by_name reads every file's schema first: much slower, so only when needed.
    return con.read_parquet(files, union_by_name=not uniform, hive_partitioning=hive)


# --------------------------------------------------------------------------- layout


def _is_file_target(path: Path) -> bool:
    return path.suffix.lower() == ".parquet"


def _manifest_path(path: Path) -> Path:
    if _is_file_target(path):
        return path.with_name(path.name + ".manifest.json")
    return path / "_manifest.json"


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


# --------------------------------------------------------------------------- writing


BatchTable = Callable[[Sequence[Result]], "pa.Table"]


class _Writer:
    """Buffers each slice's pages and writes a batch as a Parquet file when it is large
    enough or the slice ends; then records it in the manifest (thread-safe)."""

    def __init__(self, manifest: Manifest, data_dir: Path, axis: TimeAxis | None,
                 batch_rows: int, table: BatchTable) -> None:
        self.manifest, self.data_dir, self.axis = manifest, data_dir, axis
        self.batch_rows, self.table = batch_rows, table
        self.lock = threading.Lock()
        self.buffers: dict[int, list[Result]] = {}
        self.states = {s["index"]: s for s in manifest.slices}
        self.seq = {s["index"]: 1 + max((f["seq"] for f in manifest.files
                                         if f["slice"] == s["index"]), default=-1)
                    for s in manifest.slices}
        self.rows = sum(int(f["rows"]) for f in manifest.files)
        self.failed = False

    def on_split(self, piece: Slice, new: Slice) -> None:
        """An idle worker took over the rest of ``piece`` as ``new``: record both before
        ``new`` is fetched, so that a resume knows where each slice ends."""
        with self.lock:
            state = self.states[piece.index]
            narrowed = {**state, "lo": piece.lo, "hi": piece.hi, "end_hint": piece.end_hint,
                        "from": None if piece.lo is None else format_time(piece.lo),
                        "to": None if piece.hi is None else format_time(piece.hi)}
            added = _slice_state(new)
            slices = []
            for entry in self.manifest.slices:
                slices.append(narrowed if entry is state else entry)
                if entry is state:
                    slices.append(added)
            try:
                self.manifest.write(slices=slices)
            except OSError as exc:
                self.failed = True
                raise SaveError(self._message(exc)) from None
            state.update(narrowed)
            self.manifest.slices = [state if entry is narrowed else entry for entry in slices]
            self.states[new.index] = added
            self.seq[new.index] = 0

    def on_page(self, piece: Slice, result: Result, last: bool) -> None:
        buffer = self.buffers.setdefault(piece.index, [])
        buffer.append(result)
        if last or sum(r.rows for r in buffer) >= self.batch_rows:
            self.flush(piece.index, done=last)

    def flush(self, index: int, *, done: bool = False) -> None:
        """Write the slice's buffered pages (if any), then record where the slice is."""
        buffer = self.buffers.pop(index, [])
        state = self.states[index]
        if not buffer and not done:
            return
        written: list[dict[str, Any]] = []
        try:
            if any(r.rows for r in buffer):
                table = self.table(buffer)
                written = self._write(index, table, start=state.get("after"))
        except OSError as exc:
            self.failed = True
            raise SaveError(self._message(exc)) from None
        end = buffer[-1].continuation if buffer else state.get("after")
        saved_rows = sum(int(w["rows"]) for w in written)
        for i, entry in enumerate(written):
            entry["end"] = None if done else end
            entry["pages"] = len(buffer) if i == 0 else 0
        with self.lock:
            new_state = {
                **state, "after": None if done else end, "done": done,
                "pages": int(state.get("pages", 0)) + len(buffer),
                "rows": int(state.get("rows", 0)) + saved_rows,
            }
            slices = [new_state if s is state else s for s in self.manifest.slices]
            files = [*self.manifest.files, *written]
            try:
                self.manifest.write(slices, files)
            except OSError as exc:
                self.failed = True
                # The old manifest stands: the files just written are not in it and are
                # removed by --resume, which fetches their pages again.
                raise SaveError(self._message(exc)) from None
            # Adopted only once on disk, so the manifest never runs ahead of the data.
            state.update(new_state)
            self.manifest.files = files
            self.rows += saved_rows

    def _write(self, index: int, table: pa.Table, start: str | None) -> list[dict[str, Any]]:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        parts: list[tuple[str, pa.Table]] = [("", table)]
        field_name = self.manifest.time_field
        stamps = None
        if field_name is not None and field_name in table.column_names:
            stamps = table[field_name]
            if not _is_timestamp(stamps.type):
                stamps = None
        if stamps is not None and self.manifest.layout == "dataset":
            months = pc.strftime(stamps, format="%Y-%m").to_pylist()
            parts, begin = [], 0
            for i in range(1, len(months) + 1):
                if i == len(months) or months[i] != months[begin]:
                    parts.append((f"month={months[begin] or 'unknown'}",
                                  table.slice(begin, i - begin)))
                    begin = i
        written = []
        for folder, part in parts:
            with self.lock:
                seq = self.seq[index]
                self.seq[index] = seq + 1
            name = f"part-{index:05d}-{seq:06d}.parquet"
            relative = f"{folder}/{name}" if folder else name
            final = self.data_dir / relative
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{name}.tmp")
            try:
                with open(tmp, "wb") as out:
                    pq.write_table(part, out, compression="zstd", coerce_timestamps="us",
                                   allow_truncated_timestamps=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            first = last = None
            if stamps is not None:
                span = pc.min_max(part[field_name])
                first, last = (_us(span["min"]), _us(span["max"]))
            written.append({"path": relative, "slice": index, "seq": seq,
                            "rows": part.num_rows, "bytes": final.stat().st_size,
                            "first": first, "last": last, "start": start})
        return written

    def _message(self, exc: OSError, where: Path | None = None) -> str:
        reason = exc.strerror or str(exc)
        return (
            f"Cannot write {exc.filename or where or self.data_dir}: {reason}. The "
            f"{self.rows:,} rows "
            "saved so far are kept: free some space or fix the path's permissions, then run "
            "the same command with --resume (resume=True) to fetch the rest."
        )


def _us(scalar: Any) -> int | None:
    """A timestamp scalar (any unit) in microseconds since the epoch."""
    value = scalar.cast("int64").as_py() if scalar.is_valid else None
    if value is None:
        return None
    unit = scalar.type.unit
    return int(value) * {"s": 1_000_000, "ms": 1000}.get(unit, 1) // (
        1000 if unit == "ns" else 1)


def _is_timestamp(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_timestamp(kind))


def _batch_table(results: Sequence[Result]) -> pa.Table:
    """The records of a batch of pages as a flat table (the frame's columns), RFC 3339
    text typed as UTC timestamps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .columnar import Unsupported, _flat, records_table

    answers = [r.answer for r in results]
    table = None
    if all(isinstance(a, RawAnswer) for a in answers):
        try:
            table = _flat(records_table(answers), answers)
        except Unsupported:
            table = None
    if table is None:
        table = _json_table(results)
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) and column.null_count < len(column) and pc.all(
            pc.match_substring_regex(column, _RFC3339)
        ).as_py():
            try:
                column = pc.cast(pc.cast(column, pa.timestamp("ns", "UTC")),
                                 pa.timestamp("us", "UTC"), safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _json_table(results: Sequence[Result]) -> pa.Table:
    """The JSON path: the frame pandas builds from the records, then to Arrow."""
    from .frames import records_frame

    records: list[Any] = []
    for result in results:
        records.extend(find_records(result.data)[1])
    return frame_table(records_frame(records))


def frame_table(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table for Parquet: a column Arrow cannot type (one that mixes
    numbers and text, say) is stored as JSON text."""
    import pyarrow as pa

    arrays = []
    for name in frame.columns:
        values = frame[name]
        try:
            arrays.append(pa.array(values, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arrays.append(pa.array(
                [None if _missing(v) else json.dumps(v, default=str) for v in values],
                pa.string(),
            ))
    return pa.table(arrays, names=[str(n) for n in frame.columns])


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


# --------------------------------------------------------------------------- the pull


def save_pull(
    client: Client,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None,
    json: Any,
    limit: int | None,
    max_pages: int | None,
    progress: bool,
    parallel: int,
    save: str | os.PathLike[str] | None,
    resume: bool,
    decode: Decoder,
    batch_rows: int | None = None,
    mark: PageMark | None = None,
    table: BatchTable | None = None,
    time_field: str | None = None,
) -> SavedPull:
    """``Client.fetch_all(save=..., resume=...)``: see the module docstring. A batch of
    ``batch_rows`` rows per slice (default :data:`BATCH_ROWS`) makes one file; ``table``
    turns a batch of pages into the table written (default: the frame's flat columns),
    ``time_field`` names its timestamp column (for the month partitions)."""
    from .progress import RowProgress

    if save is None:
        raise ConfigError("resume=True needs save=PATH: the pull to resume.")
    if limit is not None or max_pages is not None:
        raise ConfigError(
            "--limit and --max-pages do not apply to --save, which saves every page: "
            "drop them (or pull into a frame)."
        )
    target = Path(save).expanduser()
    query = dict(params or {})
    request = {"endpoint": client.endpoint.root, "method": method, "path": path,
               "params": {k: v for k, v in query.items()}, "body": json}
    manifest_path = _manifest_path(target)
    axis: TimeAxis | None
    try:
        axis = axis_of(method, path, query, json)
    except ConfigError:
        if parallel > 1:
            raise
        axis = None
    if time_field is None and axis is not None:
        time_field = ".".join(axis.time_path)
    manifest = _existing(target, manifest_path, request, resume)
    fresh = manifest is None
    if manifest is None:
        manifest = Manifest(manifest_path, request, "file" if _is_file_target(target)
                            else "dataset", time_field)
    saved = SavedPull(target, manifest)
    if manifest.complete:
        return saved
    data_dir = target if manifest.layout == "dataset" else _parts_dir(target)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if fresh:
            manifest.write()  # before any call: an unwritable path fails here
        else:
            _repair(manifest, data_dir)
    except OSError as exc:
        raise SaveError(
            f"Cannot write to {exc.filename or target}: {exc.strerror or exc}. Choose "
            "another --save path (save=...) where you can write."
        ) from None

    bar = RowProgress(f"{method} {path}", enabled=progress)
    writer = _Writer(manifest, data_dir, axis, batch_rows or BATCH_ROWS, table or _batch_table)
    lock = threading.Lock()
    fetched = 0
    rows = writer.rows

    def on_page(piece: Slice, result: Result, last: bool) -> None:
        nonlocal fetched, rows
        with lock:
            fetched += 1
            rows += result.rows
            bar.update(rows)
        writer.on_page(piece, result, last)

    try:
        if fresh or not manifest.slices:
            manifest.slices = [_slice_state(Slice(0, None, None))]
            manifest.write()
            writer.states = {s["index"]: s for s in manifest.slices}
            writer.seq = {s["index"]: 0 for s in manifest.slices}
        bar.update(writer.rows)
        slices = [_slice_of(s) for s in manifest.slices]
        # Workers in threads even alone: Ctrl-C never lands in the middle of a write.
        pull(client, method, path, query, json, axis, slices, workers=parallel,
             decode=decode, on_page=on_page, threaded=True, on_split=writer.on_split,
             mark=mark or _no_mark,
             far=None if axis is None else lambda: far_end(client, axis, method, path, query,
                                                           json))
    except KeyboardInterrupt:
        if not writer.failed:
            _flush_all(writer)
        saved.fetched_pages = fetched
        bar.close(finished=False)
        raise SaveInterrupted(saved) from None
    except (ApiError, NetworkError) as err:  # a probe failed: nothing fetched
        saved.error = PaginationError(err, page=1, rows=0)
        bar.close(finished=False)
        return saved
    except OSError as exc:
        raise SaveError(writer._message(exc)) from None
    saved.fetched_pages = fetched
    failed = next((s for s in slices if s.error is not None), None)
    if failed is not None:
        _flush_all(writer)
        assert failed.error is not None
        saved.error = PaginationError(failed.error, page=fetched + 1, rows=writer.rows)
        bar.close(finished=False)
        return saved
    parts = manifest.files
    try:
        files = _compact(manifest, data_dir, target)
        manifest.complete, manifest.files = True, files
        manifest.write()
    except OSError as exc:
        manifest.complete, manifest.files = False, parts
        raise SaveError(writer._message(exc, target)) from None
    _remove(parts, data_dir, whole=manifest.layout == "file")  # once the manifest is written
    bar.close(finished=True)
    return saved


def _existing(
    target: Path, manifest_path: Path, request: dict[str, Any], resume: bool
) -> Manifest | None:
    """The manifest of the pull at ``target`` to resume (None: start a new one)."""
    if manifest_path.exists():
        manifest = Manifest.load(manifest_path)
        if not resume:
            state = "complete" if manifest.complete else "incomplete"
            raise SaveError(
                f"{target} already holds a pull ({state}): add --resume (resume=True) to go "
                "on with it, or choose another path (or delete it)."
            )
        if _comparable(manifest.request) != _comparable(request):
            raise SaveError(
                f"{target} holds a pull of another request ({manifest.request['method']} "
                f"{manifest.request['path']}): resume it with the same call, or choose "
                "another path."
            )
        return manifest
    if target.exists() and (target.is_file() or any(target.iterdir())):
        raise SaveError(
            f"{target} exists and is not a pull saved by reinfer_nb: choose another path."
        )
    if resume:
        log.info("nothing to resume at %s: starting the pull", target)
    return None


def _comparable(request: Mapping[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, default=str)


def _slice_state(piece: Slice) -> dict[str, Any]:
    """A slice as the manifest keeps it (``req``: the window its calls ask for)."""
    return {
        "index": piece.index, "lo": piece.lo, "hi": piece.hi,
        "from": None if piece.lo is None else format_time(piece.lo),
        "to": None if piece.hi is None else format_time(piece.hi),
        "req": list(piece.req or (piece.lo, piece.hi)), "end_hint": piece.end_hint,
        "after": None, "done": False, "pages": 0, "rows": 0,
    }


def _slice_of(state: dict[str, Any]) -> Slice:
    req = state.get("req") or [state["lo"], state["hi"]]
    return Slice(state["index"], state["lo"], state["hi"], after=state.get("after"),
                 done=bool(state.get("done")), req=(req[0], req[1]),
                 end_hint=state.get("end_hint"))


def _flush_all(writer: _Writer) -> None:
    """Write what the stopped workers had buffered (their slices stay unfinished)."""
    for index in list(writer.buffers):
        writer.flush(index, done=False)


def _repair(manifest: Manifest, data_dir: Path) -> None:
    """Make the data match the manifest before resuming: a listed file that is gone
    sends its slice back to where that file started; a file not listed is removed."""
    by_slice: dict[int, list[dict[str, Any]]] = {}
    for entry in _ordered(manifest.files, manifest.slices):
        by_slice.setdefault(entry["slice"], []).append(entry)
    kept: list[dict[str, Any]] = []
    for state in manifest.slices:
        entries = by_slice.get(state["index"], [])
        for i, entry in enumerate(entries):
            if not (data_dir / entry["path"]).exists():
                state["after"], state["done"] = entry["start"], False
                state["rows"] = sum(int(e["rows"]) for e in entries[:i])
                state["pages"] = sum(int(e.get("pages", 0)) for e in entries[:i])
                entries = entries[:i]
                break
        kept.extend(entries)
    manifest.files = kept
    listed = {data_dir / entry["path"] for entry in kept}
    for found in list(data_dir.rglob("*.parquet")) + list(data_dir.rglob(".*.tmp")):
        if found not in listed:
            found.unlink()
    manifest.write()


def _compact(manifest: Manifest, parts: Path, target: Path) -> list[dict[str, Any]]:
    """The batches of a complete pull rewritten with one schema: into ``target`` (the
    single-file layout) or one file per month (``month=YYYY-MM/data.parquet``), each
    batch a row group, in the order of the pull; memory holds one batch at a time.
    Returns the manifest's new list of files (the batches stay until it is written)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = _ordered(manifest.files, manifest.slices)
    schema = _unify([pq.read_schema(parts / f["path"]) for f in entries]) if entries else None
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        folder = entry["path"].rpartition("/")[0] if manifest.layout == "dataset" else ""
        groups.setdefault(folder, []).append(entry)
    if manifest.layout == "file" and not groups:
        groups[""] = []
    out: list[dict[str, Any]] = []
    for order, (folder, group) in enumerate(groups.items()):
        if manifest.layout == "file":
            final, name = target, target.name
        else:
            name = f"{folder}/data.parquet" if folder else "data.parquet"
            final = parts / name
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            with open(tmp, "wb") as sink:
                if schema is None:
                    pq.write_table(pa.table({}), sink)
                else:
                    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
                        for entry in group:
                            writer.write_table(_conform(pq.read_table(parts / entry["path"]),
                                                        schema))
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        first = [f["first"] for f in group if f.get("first") is not None]
        last = [f["last"] for f in group if f.get("last") is not None]
        out.append({  # "slice" -1: no slice's any more; "seq" is the order of the pull
            "path": name, "slice": -1, "seq": order,
            "rows": sum(int(f["rows"]) for f in group),
            "pages": sum(int(f.get("pages", 0)) for f in group),
            "bytes": final.stat().st_size, "first": min(first, default=None),
            "last": max(last, default=None), "start": None, "end": None,
        })
    return out


def _remove(files: Sequence[dict[str, Any]], folder: Path, *, whole: bool) -> None:
    """Remove the batches a compaction replaced (and, ``whole``, their folder)."""
    for entry in files:
        (folder / entry["path"]).unlink(missing_ok=True)
    if whole:
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        folder.rmdir()
