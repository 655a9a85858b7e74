"""Pages of a bulk pull decoded straight into Arrow, and one frame built from them at the end.

:class:`PageDecoder` is the decode hook a bulk pull gives :meth:`Client.request`: pyarrow's
JSON reader turns a page's bytes into Arrow columns (no Python object per value), and the
page is kept as a :class:`~reinfer_nb.results.RawAnswer`: its records in Arrow, its bytes
compressed (LZ4), parsed only if someone asks for the raw JSON. :func:`pages_frame`
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

import bisect
import json
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .answers import decode_answer
from .results import RECORD_KEYS, RawAnswer, Result, compress

if TYPE_CHECKING:
    import pandas as pd
    import requests

__all__ = ["PageDecoder", "Unsupported", "pages_frame", "records_table", "to_pandas"]

# A JSON number of 19 digits or more may not fit in 64 bits (Arrow would make it a float).
_LONG_NUMBER = re.compile(rb"[:\[,]\s*-?[0-9]{19}")
_NULL_VALUE = re.compile(rb":\s*null\b")
_ANY_NAME = "\x00any"  # a null under a key that could not be read: every name is suspect


class Unsupported(Exception):
    """Arrow cannot hold these pages faithfully: build the frame from the JSON instead."""


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
        self._hint_of: pa.Schema | None = None
        self._checks: dict[str, tuple[pa.Schema, bool]] = {}
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
        if not body.isascii():
            try:  # Arrow does not check: text that is not UTF-8 takes the JSON path
                body.decode("utf-8")
            except UnicodeDecodeError:
                return None
        table = self._read(body)  # (Arrow refuses lone surrogates: the JSON path again)
        if table is None or table.num_rows != 1:
            return None
        if (self._check("floats", table.schema, _has_float) and _has_huge_float(table)
                and _LONG_NUMBER.search(body)):
            return None  # an integer past 64 bits, which Arrow read as a float
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
        for name, column in zip(table.column_names, table.columns, strict=True):
            if name != key and name not in fields:  # small objects and lists beside the
                fields[name] = column[0].as_py()  # records (num_results, entity_defs...)
        continuation = fields.get("continuation")
        if not (isinstance(continuation, str) and continuation):
            after = fields.get("after")
            continuation = after if isinstance(after, str) and after and records.num_rows else None
        return RawAnswer(
            fields, blob=compress(body), size=len(body), key=key, table=records,
            continuation=continuation,
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
        if self._check("timestamps", table.schema, _has_timestamp):
            # The reader turns ISO dates into timestamps; keep the text as the server sent it.
            table = _read(body, options, multiline, _no_timestamps(table.schema))
            if table is None:
                return None
        schema = table.schema
        try:  # pyarrow's reader can build an invalid list of nulls or of empty objects
            table.validate()
        except pa.ArrowInvalid:
            return None
        if self._hint_of is None or not schema.equals(self._hint_of):
            hint = _without_nulls(schema)
            with self._lock:
                self._hint, self._hint_of = hint, schema
        return table

    def _check(self, what: str, schema: pa.Schema, test: Any) -> bool:
        """``test(schema)``, remembered for the last schema seen (pages mostly share one)."""
        known = self._checks.get(what)
        if known is not None and known[0].equals(schema):
            return known[1]
        answer = bool(test(schema))
        self._checks[what] = (schema, answer)
        return answer


def _read(
    body: bytes, options: pj.ReadOptions, multiline: bool, schema: pa.Schema | None
) -> pa.Table | None:
    parse = pj.ParseOptions(
        explicit_schema=schema, newlines_in_values=multiline,
        unexpected_field_behavior="infer",
    )
    try:
        # The system allocator: pyarrow's default keeps more of the per-page scratch
        # memory around, and a pull keeps thousands of pages' columns.
        return pj.read_json(pa.py_buffer(body), read_options=options, parse_options=parse,
                            memory_pool=pa.system_memory_pool())
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


def _has_huge_float(table: pa.Table) -> bool:
    """Whether a float of the page is at least 2**63 in size: it may be an integer too large
    for 64 bits, which Arrow reads as a float (the JSON path keeps it exact)."""

    def huge(array: pa.Array) -> bool:
        kind = array.type
        if pa.types.is_struct(kind):
            return any(huge(part) for part in array.flatten())
        if pa.types.is_list(kind):
            return huge(array.flatten())
        if pa.types.is_floating(kind) and len(array) > array.null_count:
            largest = pc.max(pc.abs(array)).as_py()
            return largest is not None and largest >= 2.0**63
        return False

    return any(huge(chunk) for column in table.columns for chunk in column.chunks)


def _has_float(schema: pa.Schema) -> bool:
    return _has_type(schema, pa.types.is_floating)


def _has_timestamp(schema: pa.Schema) -> bool:
    return _has_type(schema, pa.types.is_timestamp)


def _has_type(schema: pa.Schema, test: Any) -> bool:
    def found(kind: pa.DataType) -> bool:
        if pa.types.is_struct(kind):
            return any(found(kind.field(i).type) for i in range(kind.num_fields))
        if test(kind):
            return True
        if pa.types.is_list(kind):
            return found(kind.value_type)
        return False

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
    return to_pandas(_flat(table, answers), rows=table.num_rows)


def _flat(table: pa.Table, answers: Sequence[RawAnswer]) -> pa.Table:
    """Nested objects flattened to dotted columns, in ``pandas.json_normalize``'s order.

    That order is by first appearance: the row where a column's key first appears, then
    its place in that record's walk (its top-level values, then its objects depth first,
    in the record's key order). Arrow gives the first row of each value; the walk of a
    row where several columns first appear needs that record's key order, so its page is
    parsed (usually only the first page). A key whose first appearance holds ``null``
    looks missing to Arrow: the pages that hold a null under that name are parsed too.
    """
    leaves: list[_Column] = []
    objects: list[_Column] = []
    for i, field in enumerate(table.schema):
        if not pa.types.is_struct(field.type):
            leaves.append(_Column(field.name, (field.name,), table.column(i)))
    for i, field in enumerate(table.schema):
        if pa.types.is_struct(field.type):
            _walk(field.name, (field.name,), table.column(i), leaves, objects)
    names = [leaf.name for leaf in leaves]
    if len(set(names)) != len(names):
        raise Unsupported("two fields flatten to the same column name")
    for leaf in leaves:
        found = pc.index(pc.is_valid(leaf.array), True).as_py() if leaf.array.null_count else 0
        leaf.first = found if found is not None and found >= 0 else None
    rows = _Rows(answers, table.num_rows)
    _first_present(rows, leaves, objects)
    # A key that holds null where other rows hold an object: the JSON path makes it a
    # column of its own (of missing values), beside the object's dotted columns.
    for obj in objects:
        if obj.first is not None:
            if obj.name in names:
                raise Unsupported("a key holds an object in one record, a value in another")
            obj.array = pa.chunked_array([pa.nulls(table.num_rows)])
            leaves.append(obj)
    # Where several columns first appear in one row, that record's walk orders them.
    by_row: dict[int, list[_Column]] = {}
    for position, leaf in enumerate(leaves):
        leaf.rank = position
        if leaf.first is not None:
            by_row.setdefault(leaf.first, []).append(leaf)
    for row, group in by_row.items():
        if len(group) > 1:
            walk = {name: i for i, name in enumerate(_walk_names(rows.record(row)))}
            if not all(leaf.name in walk for leaf in group):
                raise Unsupported("a column is missing from the record it first appears in")
            for leaf in group:
                leaf.rank = walk[leaf.name]
    end = table.num_rows
    leaves.sort(key=lambda leaf: (end if leaf.first is None else leaf.first, leaf.rank))
    return pa.table([leaf.array for leaf in leaves], names=[leaf.name for leaf in leaves])


class _Column:
    """A column of the flat table (or an object key, in ``objects``): its dotted name, its
    path of keys, its values and the row where its key first appears."""

    __slots__ = ("array", "first", "name", "path", "rank")

    def __init__(self, name: str, path: tuple[str, ...], array: pa.ChunkedArray) -> None:
        self.name, self.path, self.array = name, path, array
        self.first: int | None = None
        self.rank = 0


def _walk(
    name: str,
    path: tuple[str, ...],
    column: pa.ChunkedArray,
    leaves: list[_Column],
    objects: list[_Column],
) -> None:
    """Add an object's fields, depth first."""
    objects.append(_Column(name, path, column))
    children = [chunk.flatten() for chunk in column.chunks]  # parent nulls pushed down
    for i in range(column.type.num_fields):
        field = column.type.field(i)
        child = pa.chunked_array([parts[i] for parts in children], type=field.type)
        # As json_normalize: under an empty name, no leading dot.
        child_name = f"{name}.{field.name}" if name else field.name
        child_path = (*path, field.name)
        if pa.types.is_struct(field.type):
            _walk(child_name, child_path, child, leaves, objects)
        else:
            leaves.append(_Column(child_name, child_path, child))


def _walk_names(record: Any) -> list[str]:
    """The column names one record makes, in json_normalize's order (see
    :func:`reinfer_nb.frames._flatten`): its top-level values, then its objects, each
    walked depth first in key order."""
    names: list[str] = []

    def nested(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                nested(name, value)
            else:
                names.append(name)

    if not isinstance(record, dict):
        return names
    names.extend(key for key, value in record.items() if not isinstance(value, dict))
    nested("", {key: value for key, value in record.items() if isinstance(value, dict)})
    return names


class _Rows:
    """The records behind the table's rows, parsed from a page's bytes when first needed."""

    def __init__(self, answers: Sequence[RawAnswer], rows: int) -> None:
        self.answers = answers
        self.rows = rows
        self.offsets: list[int] = []
        offset = 0
        for answer in answers:
            self.offsets.append(offset)
            offset += answer.rows
        self._parsed: dict[int, list[Any]] = {}
        self._nulls: dict[int, frozenset[str]] = {}

    def null_keys(self, index: int) -> frozenset[str]:
        """The names holding an explicit null on page ``index`` (from its bytes)."""
        names = self._nulls.get(index)
        if names is None:
            names = self._nulls[index] = _null_keys(self.answers[index].body())
        return names

    def page(self, index: int) -> list[Any]:
        records = self._parsed.get(index)
        if records is None:
            answer = self.answers[index]
            records = self._parsed[index] = answer.json()[answer.key]
        return records

    def record(self, row: int) -> Any:
        index = bisect.bisect_right(self.offsets, row) - 1
        return self.page(index)[row - self.offsets[index]]


def _first_present(rows: _Rows, leaves: list[_Column], objects: list[_Column]) -> None:
    """Where keys holding ``null`` first appear: ``leaf.first`` moves earlier if a null
    came before its first value; ``obj.first`` is set where an object key first holds
    null (else None). Only the pages that could hide such a null are looked at: those
    before a column's first value, or where an object is missing, and of them only the
    pages whose bytes hold a null under that key's name."""
    for obj in objects:
        obj.first = None
    leaf_todo = [leaf for leaf in leaves if leaf.first != 0]
    obj_todo = [obj for obj in objects if obj.array.null_count]
    for index, answer in enumerate(rows.answers):
        offset = rows.offsets[index]
        end = min(offset + answer.rows, rows.rows)
        if offset >= rows.rows or not (leaf_todo or obj_todo):
            break
        leaves_here = [leaf for leaf in leaf_todo if leaf.first is None or leaf.first > offset]
        objects_here = [
            obj for obj in obj_todo if obj.array.slice(offset, end - offset).null_count
        ]
        if leaves_here or objects_here:
            names = rows.null_keys(index)
            anything = _ANY_NAME in names
            leaves_here = [x for x in leaves_here if anything or x.path[-1] in names]
            objects_here = [x for x in objects_here if anything or x.path[-1] in names]
        if leaves_here or objects_here:
            for row, record in enumerate(rows.page(index)[: end - offset], start=offset):
                for leaf in leaves_here:
                    if (leaf.first is None or row < leaf.first) and _lookup(
                        record, leaf.path
                    ) is not _ABSENT:
                        leaf.first = row
                for obj in objects_here:
                    if obj.first is None and _lookup(record, obj.path) is None:
                        obj.first = row
        # A leaf is settled once every row before its first appearance has been seen.
        leaf_todo = [leaf for leaf in leaf_todo if leaf.first is None or leaf.first > end]
        obj_todo = [obj for obj in obj_todo if obj.first is None]


_ABSENT = object()


def _lookup(record: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(record, dict) or part not in record:
            return _ABSENT
        record = record[part]
    return record


def to_pandas(table: pa.Table, rows: int | None = None) -> pd.DataFrame:
    """A flat table as a DataFrame with the dtypes in this module's docstring (``rows``:
    its length, for a table without columns)."""
    import pandas as pd

    text = _text_dtype()

    def mapper(kind: pa.DataType) -> Any:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
            return pd.ArrowDtype(kind)
        if text is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return text
        return None

    frame = table.to_pandas(types_mapper=mapper, split_blocks=True,
                            coerce_temporal_nanoseconds=True)  # datetime64[ns, UTC]
    if not len(frame.columns):
        frame = pd.DataFrame(index=pd.RangeIndex(table.num_rows if rows is None else rows))
    return frame


def _text_dtype() -> Any:
    """None where pandas already maps Arrow text to its Arrow-backed ``str`` (pandas 3)."""
    import pandas as pd

    if int(pd.__version__.split(".", 1)[0]) >= 3:
        return None
    try:
        infer = pd.get_option("future.infer_string")  # pandas 2.1+: opt-in to pandas 3's
    except (KeyError, pd.errors.OptionError):
        infer = False
    return None if infer else pd.StringDtype("pyarrow")
