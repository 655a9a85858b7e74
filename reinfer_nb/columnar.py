"""Pages of a bulk pull decoded straight into Arrow, and one frame built from them at the end.

:class:`PageDecoder` is the decode hook a bulk pull gives :meth:`Client.request`: pyarrow's
JSON reader turns a page's bytes into Arrow columns (no Python object per value), and the
page is kept as a :class:`~reinfer_nb.results.RawAnswer`: its records in Arrow, its bytes
compressed (zstd), parsed only if someone asks for the raw JSON. :func:`pages_frame`
concatenates the pages once and converts them to pandas once.

The frame is the one :func:`reinfer_nb.frames.pages_to_frame` builds from parsed JSON (same
columns in the same order, same values): nested objects flattened to dotted names in the
order ``pandas.json_normalize`` gives. Where Arrow cannot hold a shape faithfully (a field
whose type changes, integers past 64 bits, lone surrogates, duplicate flattened names...)
the decoder or :func:`pages_frame` says so and the caller takes the JSON path instead.

Dtypes (chosen for memory; ``isna()`` finds every missing value either way):

* text: pandas' string dtype backed by Arrow (``str`` in pandas 3, as the JSON path gives;
  ``string[pyarrow]`` in pandas 2, where the JSON path gives ``object``);
* numbers and booleans: as the JSON path (``int64``; ``float64`` with gaps; ``bool``);
* lists (``messages``, ``attachments``...): ``ArrowDtype`` lists, kept columnar; a cell
  reads as the Python list (``df["messages"][0]``), a missing key inside it as ``None``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .answers import decode_answer
from .results import RECORD_KEYS, RawAnswer, Result

if TYPE_CHECKING:
    import pandas as pd
    import requests

__all__ = ["PageDecoder", "Unsupported", "compress", "decompress", "pages_frame",
           "records_table", "to_pandas"]

# zstd at level 1: about 10x smaller than the JSON, ~1 ms per 1 MB either way.
_CODEC = pa.Codec("zstd", compression_level=1)
# A JSON escape of a UTF-16 surrogate (a lone one needs the JSON path's clean-up).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# A JSON number of 19 digits or more may not fit in 64 bits (Arrow would make it a float).
_LONG_NUMBER = re.compile(rb"[:\[,]\s*-?[0-9]{19}")
_NULL_VALUE = re.compile(rb":\s*null\b")
_ANY_NAME = "\x00any"  # a null under a key that could not be read: every name is suspect


class Unsupported(Exception):
    """Arrow cannot hold these pages faithfully: build the frame from the JSON instead."""


def compress(body: bytes) -> bytes:
    return _CODEC.compress(body, asbytes=True)  # type: ignore[no-any-return]


def decompress(blob: bytes, size: int) -> bytes:
    return _CODEC.decompress(blob, decompressed_size=size, asbytes=True)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- decoding


class PageDecoder:
    """Decode hook for the pages of one bulk pull (thread-safe; one per pull).

    Called as ``decoder(body, response, path, method)`` by the client for each attempt: a
    successful page becomes a :class:`RawAnswer`; anything else (an error answer, a shape
    Arrow cannot hold) goes through :func:`reinfer_nb.answers.decode_answer` as usual.
    The schema of the last page is the next page's starting point (faster, and new
    fields are still inferred).
    """

    def __init__(self) -> None:
        self._hint: pa.Schema | None = None
        self._lock = threading.Lock()

    def __call__(
        self, body: bytes, response: requests.Response, path: str, method: str
    ) -> Any:
        if 200 <= response.status_code < 300:
            page = self.decode(body)
            if page is not None:
                return page
        return decode_answer(body, response, path, method)

    def decode(self, body: bytes) -> RawAnswer | None:
        """The page as a :class:`RawAnswer`, or None if Arrow cannot hold it faithfully."""
        if body[:1] != b"{" and body.lstrip()[:1] != b"{":
            return None
        if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
            return None
        if _LONG_NUMBER.search(body):
            return None
        table = self._read(body)
        if table is None or table.num_rows != 1:
            return None
        fields: dict[str, Any] = {}
        lists: list[str] = []
        for name, column in zip(table.column_names, table.columns, strict=True):
            kind = column.type
            if pa.types.is_list(kind) or pa.types.is_large_list(kind):
                if column.null_count == 0:
                    lists.append(name)
            elif not pa.types.is_struct(kind):
                fields[name] = column[0].as_py()
        if fields.get("status") != "ok":
            return None  # an error answer or not the platform's: the JSON path says which
        key = next((k for k in RECORD_KEYS if k in lists), None)
        if key is None:
            if len(lists) != 1:
                return None
            key = lists[0]
        records = _records(table.column(key))
        if records is None:
            return None
        continuation = fields.get("continuation")
        if not (isinstance(continuation, str) and continuation):
            after = fields.get("after")
            continuation = after if isinstance(after, str) and after and records.num_rows else None
        return RawAnswer(
            fields, blob=compress(body), size=len(body), key=key, table=records,
            continuation=continuation, null_keys=_null_keys(body),
        )

    def _read(self, body: bytes) -> pa.Table | None:
        options = pj.ReadOptions(use_threads=False, block_size=max(len(body) + 1, 1 << 16))
        multiline = b"\n" in body  # JSON text holds raw newlines only between tokens
        hint = self._hint
        table = None
        if hint is not None:
            table = _read(body, options, multiline, hint)
        if table is None:
            table = _read(body, options, multiline, None)
            if table is None:
                return None
        if _has_timestamp(table.schema):
            # The reader turns ISO dates into timestamps; keep the text as the server sent it.
            table = _read(body, options, multiline, _no_timestamps(table.schema))
            if table is None:
                return None
        with self._lock:
            self._hint = _without_nulls(table.schema)
        return table


def _read(
    body: bytes, options: pj.ReadOptions, multiline: bool, schema: pa.Schema | None
) -> pa.Table | None:
    parse = pj.ParseOptions(
        explicit_schema=schema, newlines_in_values=multiline,
        unexpected_field_behavior="infer",
    )
    try:
        return pj.read_json(pa.py_buffer(body), read_options=options, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _records(column: pa.ChunkedArray) -> pa.Table | None:
    """The page's list of records as a table (one row per record), or None if the records
    are not all objects (the JSON path gives such lists a ``value`` column)."""
    lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    items = lists.flatten()
    if pa.types.is_null(items.type):  # an empty page
        return pa.table({})
    if not pa.types.is_struct(items.type) or items.null_count or items.type.num_fields == 0:
        return None
    return pa.Table.from_struct_array(items)


def _null_keys(body: bytes) -> frozenset[str]:
    """The names that hold an explicit ``null`` somewhere in the page (a superset).

    Arrow cannot tell a null from a missing key; the JSON path can (the key makes a column
    at the row where it first appears), so the frame checks these names again."""
    if b"null" not in body:
        return frozenset()
    names = set()
    for match in _NULL_VALUE.finditer(body):
        end = body.rfind(b'"', 0, match.start())
        start = body.rfind(b'"', 0, end)
        if end < 0 or start < 0 or body[start - 1:start] == b"\\":
            names.add(_ANY_NAME)
            continue
        try:
            names.add(json.loads(body[start:end + 1]))
        except ValueError:
            names.add(_ANY_NAME)
    return frozenset(names)


def _map_types(kind: pa.DataType, fix: Any) -> pa.DataType:
    """``kind`` with ``fix`` applied to every type inside it (lists and structs)."""
    if pa.types.is_struct(kind):
        fields = [kind.field(i) for i in range(kind.num_fields)]
        return pa.struct([f.with_type(_map_types(f.type, fix)) for f in fields])
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_map_types(kind.value_type, fix)))
    return fix(kind)  # type: ignore[no-any-return,unused-ignore]


def _has_timestamp(schema: pa.Schema) -> bool:
    def found(kind: pa.DataType) -> bool:
        if pa.types.is_struct(kind):
            return any(found(kind.field(i).type) for i in range(kind.num_fields))
        if pa.types.is_list(kind):
            return found(kind.value_type)
        return bool(pa.types.is_timestamp(kind))

    return any(found(field.type) for field in schema)


def _no_timestamps(schema: pa.Schema) -> pa.Schema:
    def fix(kind: pa.DataType) -> pa.DataType:
        return pa.string() if pa.types.is_timestamp(kind) else kind

    return pa.schema([f.with_type(_map_types(f.type, fix)) for f in schema])


def _without_nulls(schema: pa.Schema) -> pa.Schema:
    """A schema hint without null-typed fields (a later page may give them a type)."""

    def keep(kind: pa.DataType) -> pa.DataType | None:
        if pa.types.is_null(kind):
            return None
        if pa.types.is_struct(kind):
            fields = [kind.field(i) for i in range(kind.num_fields)]
            kept = [(f, keep(f.type)) for f in fields]
            return pa.struct([f.with_type(t) for f, t in kept if t is not None])
        if pa.types.is_list(kind):
            inner = keep(kind.value_type)
            return None if inner is None else pa.list_(kind.value_field.with_type(inner))
        return kind

    kept = [(f, keep(f.type)) for f in schema]
    return pa.schema([f.with_type(t) for f, t in kept if t is not None])


# --------------------------------------------------------------------------- the frame


def records_table(answers: Sequence[RawAnswer]) -> pa.Table:
    """The records of every page as one table (nested fields still nested).

    Fields missing on a page are null there; a number that is an integer on one page and a
    float on another becomes a float, as in pandas. Raises :class:`Unsupported` if a field
    changes type in any other way."""
    tables = [answer.table for answer in answers if answer.table.num_columns]
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise Unsupported(str(exc)) from None


def pages_frame(results: Sequence[Result], limit: int | None = None) -> pd.DataFrame:
    """The records of bulk pages as one frame, as the JSON path would build it.

    Raises :class:`Unsupported` when a page was not decoded into Arrow or the pages cannot
    be combined faithfully (the caller then builds the frame from the JSON)."""
    answers = [result.answer for result in results]
    if not all(isinstance(answer, RawAnswer) for answer in answers):
        raise Unsupported("a page was decoded as JSON")
    table = records_table(answers)
    if limit is not None and table.num_rows > limit:
        table = table.slice(0, limit)
    return to_pandas(_flat(table, answers))


def _flat(table: pa.Table, answers: Sequence[RawAnswer]) -> pa.Table:
    """Nested objects flattened to dotted columns, in ``pandas.json_normalize``'s order.

    That order is by first appearance: a record's new top-level scalars, then the fields of
    its objects depth first. A column therefore sorts by the row where its key first
    appears, then by its place in that walk of the schema. A key first seen holding null
    needs the JSON to say where (Arrow sees only a missing value): those pages are read
    again, only when the page names such a key.
    """
    leaves: list[_Leaf] = []
    objects: list[_Leaf] = []
    schema = table.schema
    # Per record, json_normalize takes the top-level values first, then walks the objects.
    for i, field in enumerate(schema):
        if not pa.types.is_struct(field.type):
            leaves.append(_Leaf(field.name, (field.name,), table.column(i), (0, i)))
    for i, field in enumerate(schema):
        if pa.types.is_struct(field.type):
            _walk(field.name, (field.name,), table.column(i), (0, i), leaves, objects)
    names = [leaf.name for leaf in leaves]
    if len(set(names)) != len(names):
        raise Unsupported("two fields flatten to the same column name")
    for leaf in leaves:
        found = pc.index(pc.is_valid(leaf.array), True).as_py() if leaf.array.null_count else 0
        leaf.first = found if found is not None and found >= 0 else None
    _first_present(table.num_rows, leaves, objects, answers)
    # A key that holds null where other rows hold an object: the JSON path makes it a
    # column of its own (of missing values), beside the object's dotted columns.
    for obj in objects:
        if obj.first is not None:
            if obj.name in names:
                raise Unsupported("a key holds an object in one record, a value in another")
            leaf = _Leaf(obj.name, obj.path, pa.chunked_array([pa.nulls(table.num_rows)]),
                         obj.rank)
            leaf.first = obj.first
            leaves.append(leaf)
    end = table.num_rows
    leaves.sort(key=lambda leaf: (end if leaf.first is None else leaf.first, leaf.rank))
    return pa.table([leaf.array for leaf in leaves], names=[leaf.name for leaf in leaves])


class _Leaf:
    """A column of the flat table (or an object key, for ``objects``): its dotted name, its
    path of keys, its values, its place in the walk and the row where it first appears."""

    __slots__ = ("array", "first", "name", "path", "rank")

    def __init__(
        self, name: str, path: tuple[str, ...], array: pa.ChunkedArray, rank: tuple[int, int]
    ) -> None:
        self.name, self.path, self.array, self.rank = name, path, array, rank
        self.first: int | None = None


def _walk(
    name: str,
    path: tuple[str, ...],
    column: pa.ChunkedArray,
    top_rank: tuple[int, int],
    leaves: list[_Leaf],
    objects: list[_Leaf],
) -> None:
    """Add an object's fields depth first, in schema order (json_normalize's walk).

    An object key holding null makes a top-level value column in json_normalize when it is
    a top-level key (``top_rank``), a column in the walk's place when it is nested."""
    rank = top_rank if len(path) == 1 else _next(leaves, objects)
    objects.append(_Leaf(name, path, column, rank))
    children = [chunk.flatten() for chunk in column.chunks]  # parent nulls pushed down
    for i in range(column.type.num_fields):
        field = column.type.field(i)
        child = pa.chunked_array([parts[i] for parts in children], type=field.type)
        child_name, child_path = f"{name}.{field.name}", (*path, field.name)
        if pa.types.is_struct(field.type):
            _walk(child_name, child_path, child, top_rank, leaves, objects)
        else:
            leaves.append(_Leaf(child_name, child_path, child, _next(leaves, objects)))


def _next(leaves: list[_Leaf], objects: list[_Leaf]) -> tuple[int, int]:
    return (1, len(leaves) + len(objects))


def _first_present(
    rows: int, leaves: list[_Leaf], objects: list[_Leaf], answers: Sequence[RawAnswer]
) -> None:
    """Where keys holding ``null`` first appear: ``leaf.first`` moves earlier if a null
    came first; ``obj.first`` is set where an object key first holds null (else None)."""
    for obj in objects:
        obj.first = None
    suspects = set().union(*(answer.null_keys for answer in answers))
    if not suspects:
        return
    anything = _ANY_NAME in suspects
    leaf_todo = [leaf for leaf in leaves if anything or leaf.path[-1] in suspects]
    obj_todo = [obj for obj in objects if anything or obj.path[-1] in suspects]
    offset = 0
    for answer in answers:
        if offset >= rows or not (leaf_todo or obj_todo):
            break
        names = answer.null_keys
        wanted = [x for x in (*leaf_todo, *obj_todo)
                  if _ANY_NAME in names or x.path[-1] in names]
        if wanted:
            records = answer.json()[answer.key][: rows - offset]
            for row, record in enumerate(records, start=offset):
                for item in wanted:
                    value = _lookup(record, item.path)
                    if value is _ABSENT:
                        continue
                    is_object = item in obj_todo
                    if (not is_object and (item.first is None or row < item.first)) or (
                        is_object and value is None and item.first is None
                    ):
                        item.first = row
        offset += answer.rows
        # A leaf is settled once a row up to its first value has been checked.
        leaf_todo = [leaf for leaf in leaf_todo if leaf.first is None or leaf.first >= offset]


_ABSENT = object()


def _lookup(record: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(record, dict) or part not in record:
            return _ABSENT
        record = record[part]
    return record


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """A flat table as a DataFrame with the dtypes in this module's docstring."""
    import pandas as pd

    text = _text_dtype()

    def mapper(kind: pa.DataType) -> Any:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
            return pd.ArrowDtype(kind)
        if text is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return text
        return None

    frame = table.to_pandas(types_mapper=mapper, split_blocks=True, self_destruct=True)
    if not len(frame.columns):
        frame = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    return frame


def _text_dtype() -> Any:
    """None where pandas already maps Arrow text to its Arrow-backed ``str`` (pandas 3)."""
    import pandas as pd

    if pd.options.future.infer_string:
        return None
    return pd.StringDtype("pyarrow")
