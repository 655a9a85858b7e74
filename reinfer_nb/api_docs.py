"""One operation of the API explained: parameters, body fields, answer fields, an example.

What ``%reinfer_api GET /api/v1/datasets/{owner}`` prints, from the spec alone::

    >>> from reinfer_nb.api_index import api_index
    >>> index = api_index()
    >>> print(describe(index.get("GET", "/api/v1/datasets/{owner}"), index))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .api_index import HTTP_METHODS, ApiIndex, Match, Operation, route_segments
from .errors import ConfigError

__all__ = ["FieldDoc", "answer_fields", "body_fields", "describe", "example_body",
           "example_cell", "find_operations", "type_of"]

_MAX_FIELDS = 40
_MAX_CHOICES = 6
_MAGIC = {"GET": "reinfer_get", "POST": "reinfer_post", "PUT": "reinfer_put",
          "DELETE": "reinfer_delete"}


@dataclass(frozen=True)
class FieldDoc:
    """A field of a body or an answer: dotted ``name`` (``comments[].id``), type in words."""

    name: str
    type: str
    required: bool
    description: str = ""


def _ref_name(schema: Mapping[str, Any]) -> str:
    ref = schema.get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else ""


def _alternatives(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(schema.get("oneOf") or schema.get("anyOf") or ())


def type_of(schema: Mapping[str, Any] | None, index: ApiIndex) -> str:
    """A schema's type in a few words: ``integer``, ``array of object (Dataset)``,
    ``one of "recent", "sample"``, ``object by kind: recent | sample``."""
    if not schema:
        return "any"
    name = _ref_name(schema)
    s = index.resolve(schema)
    if "const" in s:
        return json.dumps(s["const"])
    if "enum" in s:
        values = [json.dumps(v) for v in s["enum"]]
        if len(values) == 1:
            return values[0]
        more = ", …" if len(values) > _MAX_CHOICES else ""
        return "one of " + ", ".join(values[:_MAX_CHOICES]) + more
    alternatives = _alternatives(s)
    if alternatives:
        discriminator = s.get("discriminator") or {}
        if discriminator.get("mapping"):
            kinds = list(discriminator["mapping"])
            more = " | …" if len(kinds) > _MAX_CHOICES else ""
            return f"object by {discriminator['propertyName']}: " + " | ".join(
                kinds[:_MAX_CHOICES]
            ) + more
        words = list(dict.fromkeys(type_of(alt, index) for alt in alternatives))
        return " or ".join(words)
    kind = s.get("type")
    if isinstance(kind, list):
        return " or ".join(
            type_of({**s, "type": k}, index) if k in ("array", "object") else str(k) for k in kind
        )
    if kind == "array":
        return f"array of {type_of(s.get('items'), index)}"
    if kind == "object" or "properties" in s:
        return f"object ({name})" if name else "object"
    return str(kind or name or "any")


def _object_fields(
    schema: Mapping[str, Any] | None, index: ApiIndex, prefix: str, depth: int
) -> list[FieldDoc]:
    s = index.resolve(schema)
    fields: list[FieldDoc] = []
    required = set(s.get("required", ()))
    for name, sub in (s.get("properties") or {}).items():
        dotted = f"{prefix}{name}"
        resolved = index.resolve(sub)
        text = str(resolved.get("description") or sub.get("description") or "")
        fields.append(FieldDoc(dotted, type_of(sub, index), name in required, text))
        if depth > 1:
            fields += _nested_fields(sub, index, dotted, depth - 1)
    return fields


def _nested_fields(
    schema: Mapping[str, Any], index: ApiIndex, dotted: str, depth: int
) -> list[FieldDoc]:
    s = index.resolve(schema)
    discriminator = s.get("discriminator") or {}
    if discriminator.get("mapping"):
        # Each kind has its own fields: the view lists the kinds; the example shows one.
        return []
    if s.get("type") == "array" or "items" in s:
        item = index.resolve(s.get("items"))
        if item.get("properties"):
            return _object_fields(item, index, f"{dotted}[].", depth)
        return []
    if s.get("properties"):
        return _object_fields(s, index, f"{dotted}.", depth)
    return []


def body_fields(op: Operation, index: ApiIndex, depth: int = 2) -> list[FieldDoc]:
    """The request body's fields, nested objects to ``depth`` levels (dotted names)."""
    if op.request_schema is None or not op.takes_json:
        return []
    return _object_fields(op.request_schema, index, "", depth)


def answer_fields(op: Operation, index: ApiIndex) -> list[FieldDoc]:
    """The top-level fields of the answer (HTTP 200)."""
    return _object_fields(op.response_schema, index, "", 1) if op.response_schema else []


def example_body(schema: Mapping[str, Any] | None, index: ApiIndex, depth: int = 0) -> Any:
    """A small JSON value that fits ``schema``: its required fields with placeholder
    values (``"..."`` for free text), the first kind of a choice, and ``limit`` when
    offered."""
    s = index.resolve(schema)
    if depth > 12 or not s:
        return {}
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return s["enum"][0]
    for key in ("examples", "example"):
        if key in s and s.get("type") not in ("object", "array"):
            value = s[key]
            return value[0] if key == "examples" and isinstance(value, list) and value else value
    alternatives = _alternatives(s) or list(s.get("allOf") or ())
    if alternatives:
        mapping = (s.get("discriminator") or {}).get("mapping") or {}
        chosen: Mapping[str, Any] = (
            {"$ref": next(iter(mapping.values()))} if mapping
            else next((a for a in alternatives if index.resolve(a).get("type") != "null"),
                      alternatives[0])
        )
        return example_body(chosen, index, depth)
    kind = s.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "array":
        item = index.resolve(s.get("items"))
        count = max(int(s.get("minItems", 0)), 1 if item.get("required") else 0)
        return [example_body(item, index, depth + 1) for _ in range(count)]
    if kind == "object" or "properties" in s:
        properties = s.get("properties") or {}
        wanted = [name for name in properties if name in set(s.get("required", ()))]
        if "limit" in properties and "limit" not in wanted:
            wanted.append("limit")
        return {name: example_body(properties[name], index, depth + 1) for name in wanted}
    if kind in ("integer", "number"):
        low = s.get("minimum", s.get("exclusiveMinimum", -1) + 1)
        return max(low, min(20, s.get("maximum", 20))) if depth == 1 else low
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _example_text(s)


# Placeholders for text, tried in turn against a field's pattern (names, ids, times).
_TEXTS = ("...", "example", "0123456789abcdef", "2025-01-01T00:00:00Z",
          "00000000-0000-0000-0000-000000000000", "a")


def _example_text(schema: Mapping[str, Any]) -> str:
    pattern = schema.get("pattern")
    if not pattern:
        return "..."
    for text in _TEXTS:
        try:
            if re.search(pattern, text):
                return text
        except re.error:
            break
    return "..."


def _result_name(op: Operation, index: ApiIndex) -> str:
    answer = index.resolve(op.response_schema)
    properties = answer.get("properties") or {}
    for name in ("results", "comments"):
        if name in properties:
            return name
    names = [str(name) for name in properties if name != "status"]
    arrays = [name for name in names if index.resolve(properties[name]).get("type") == "array"]
    return (arrays or names or ["result"])[0]


def example_cell(op: Operation, index: ApiIndex, path: str | None = None) -> str:
    """A cell to copy that calls ``op`` (``path``: a concrete path to use instead of the
    template). Placeholders such as ``{owner}`` expand from notebook variables."""
    path = path or op.path
    magic = _MAGIC.get(op.method)
    if magic is None:
        return f"# {op.method} has no magic: use reinfer_nb.magics.get_client().request(...)"
    lines = [f"%%{magic} -o {_result_name(op, index)}"]
    placeholders = [p.name for p in op.path_parameters if f"{{{p.name}}}" in path]
    if placeholders:
        lines.append(
            f"# set {', '.join(placeholders)} first (or write the names into the path)"
        )
    lines.append(path)
    if op.method in ("POST", "PUT"):
        if op.request_schema is not None and op.takes_json:
            lines.append(json.dumps(example_body(op.request_schema, index)))
    else:
        for param in op.query_parameters:
            line = f"{param.name}: ..." if param.required else f"# {param.name}: {param.type}"
            lines.append(line)
    return "\n".join(lines)


def _field_lines(fields: list[FieldDoc]) -> list[str]:
    if not fields:
        return ["  (none)"]
    width = min(max(len(f.name) for f in fields), 34)
    lines = []
    for f in fields[:_MAX_FIELDS]:
        mark = "*" if f.required else " "
        text = "" if f.description.strip() == "An enumeration." else f.description
        note = f"  {_clip(text, 70)}" if text else ""
        lines.append(f"  {mark} {f.name:<{width}}  {_clip(f.type, 80)}{note}")
    if len(fields) > _MAX_FIELDS:
        lines.append(f"    … {len(fields) - _MAX_FIELDS} more fields")
    return lines


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(
    op: Operation, index: ApiIndex, values: Mapping[str, str] | None = None
) -> str:
    """The one-operation view: summary, parameters, body fields (``*`` required), the
    answer's top-level fields and an example cell. ``values``: path parameters typed."""
    # A template typed as such ({owner}) says nothing about the values: show none.
    values = {k: v for k, v in (values or {}).items() if not v.startswith("{")}
    about = [f"tag {op.tag}"] if op.tag else []
    if op.operation_id:
        about.append(f"operationId {op.operation_id}")
    if op.permissions:
        about.append("permission " + ", ".join(op.permissions))
    if op.documented_in != "spec":
        about.append("not in the spec: from the API reference")
    if op.deprecated:
        about.append("deprecated")
    lines = [f"{op.method} {op.path}", f"  {op.summary}", "  " + " · ".join(about), ""]
    params = [
        FieldDoc(p.name, p.type, p.required, p.description
                 + (f" (= {values[p.name]})" if values and p.name in values else ""))
        for p in op.path_parameters
    ]
    lines += ["Path parameters (* required)", *_field_lines(params), ""]
    query = [FieldDoc(p.name, p.type, p.required, p.description) for p in op.query_parameters]
    lines += ["Query parameters", *_field_lines(query), ""]
    if op.method in ("POST", "PUT", "PATCH") or op.request_schema is not None:
        if op.request_schema is None:
            lines += ["Request body: none", ""]
        elif not op.takes_json:
            lines += [f"Request body: {op.request_content_type} (not JSON)", ""]
        else:
            name = _ref_name(op.request_schema)
            title = f"Request body ({name}; * required)" if name else "Request body"
            lines += [title, *_field_lines(body_fields(op, index)), ""]
    if op.response_schema is not None:
        name = _ref_name(op.response_schema)
        lines += [f"Answer ({name})" if name else "Answer",
                  *_field_lines(answer_fields(op, index)), ""]
    path = op.path
    if values:
        path = index_path(op, values)
    lines += ["Example", *("  " + line for line in example_cell(op, index, path).splitlines())]
    return "\n".join(lines)


def index_path(op: Operation, values: Mapping[str, str]) -> str:
    """The template with the path parameters' values filled in (placeholders kept)."""
    path = op.path
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value, 1)
    return path


def find_operations(words: list[str], index: ApiIndex) -> list[Match] | None:
    """The operations that ``words`` name: ``METHOD PATH`` (one) or ``PATH`` (every
    method at that path); None when ``words`` are search words instead. Raises
    :class:`ConfigError` (with the closest operations) for a path the API lacks."""
    from .spec_check import unknown_operation

    if len(words) == 2 and words[0].upper() in HTTP_METHODS and route_segments(words[1]):
        match = index.match(words[0], words[1])
        if match is None:
            raise ConfigError(unknown_operation(words[0], words[1], index))
        return [match]
    if len(words) == 1 and route_segments(words[0]) and "/" in words[0]:
        matches = index.at_path(words[0])
        if not matches:
            raise ConfigError(unknown_operation("GET", words[0], index))
        return matches
    return None
