"""The API's operations, from the owner's OpenAPI 3.1 spec: look up, match, search, complete.

>>> index = api_index()                                   # parsed once, on first use
>>> index.match("GET", "/api/v1/datasets/dev").operation.path
'/api/v1/datasets/{owner}'
>>> [op.key for op in index.search("query comments")][:1]
['POST /api/_private/datasets/{owner}/{dataset_name}/query']

Paths are read the way clients write them: ``/api/v1/...``, ``api/v1/...``, the shorthands
``v1/...``, ``_private/...`` and ``preview/...``, a full URL of a tenant, ``owner%2Fname`` in
one segment (as the ``re`` tool sends it), ``id:<hex>`` segments, and templates such as
``{owner}/{dataset_name}`` (a ``{name}`` segment stands for any value).

Besides the spec's operations, the index knows the two ``/auth/...`` calls and the few
query parameters that the API reference documents but the spec leaves out (marked
``documented_in="reference"``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any
from urllib.parse import unquote, urlsplit

from .endpoints import _SHORT_PREFIXES

__all__ = [
    "HTTP_METHODS",
    "ApiIndex",
    "Match",
    "Operation",
    "Parameter",
    "PathCompletion",
    "api_index",
    "route_segments",
]

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
_METHOD_ORDER = {method: n for n, method in enumerate(HTTP_METHODS)}
_PARAM = re.compile(r"^(?P<prefix>[^{}]*)\{(?P<name>\w+)\}(?P<suffix>[^{}]*)$")
_ROOTS = ("api", "auth")

# Calls and query parameters that the API reference (the CLI, the docs) documents but the
# spec does not: without them the checks would flag calls every client makes.
_REFERENCE_OPERATIONS = (
    ("GET", "/auth/user", "The current user (the check of %reinfer_login)", "Auth"),
    ("POST", "/auth/refresh-user-permissions", "Refresh the current user's permissions", "Auth"),
)
_REFERENCE_QUERY = {
    ("DELETE", "/api/v1/sources/{owner}/{source_name}/comments"): (
        ("id", "Comment id to delete (repeat for several, at most 128)"),
    ),
    ("PUT", "/api/_private/sources/{owner}/{source_name}/comments"): (
        ("no_charge", "true: do not charge AI units (internal)"),
    ),
    ("POST", "/api/v1/sources/{owner}/{source_name}/sync"): (
        ("no_charge", "true: do not charge AI units (internal)"),
    ),
    ("POST", "/api/v1/sources/{owner}/{source_name}/sync-raw-emails"): (
        ("no_charge", "true: do not charge AI units (internal)"),
    ),
    ("PUT", "/api/_private/buckets/{owner}/{bucket_name}/emails"): (
        ("no_charge", "true: do not charge AI units (internal)"),
    ),
    ("GET", "/api/_private/buckets/{owner}/{bucket_name}/emails"): (
        ("id", "Email id (repeat for several)"),
    ),
    ("GET", "/api/_private/datasets/{owner}/{dataset_name}/labellings"): (
        ("id", "Comment uid <source_id>.<comment_id> (repeat for several, at most 128)"),
        ("source_id", "Bulk mode: the reviewed comments of this source"),
        ("return_predictions", "Bulk mode: include predictions"),
        ("after", "Bulk mode: continuation token"),
        ("limit", "Bulk mode: page size (1-999)"),
    ),
}


@dataclass(frozen=True)
class Parameter:
    """A path or query parameter of an operation."""

    name: str
    location: str  # "path" or "query"
    type: str
    required: bool
    description: str = ""
    documented_in: str = "spec"  # or "reference": the API reference, not the spec


@dataclass(frozen=True, eq=False)
class Operation:
    """One operation: ``method`` and ``path`` (the spec's template), what it takes and
    answers. ``request_schema``/``response_schema`` are JSON Schemas whose ``$ref`` point
    into the spec (``ApiIndex.resolve`` follows them)."""

    method: str
    path: str
    summary: str
    tag: str
    operation_id: str = ""
    parameters: tuple[Parameter, ...] = ()
    request_schema: Mapping[str, Any] | None = field(default=None, repr=False)
    request_content_type: str | None = None
    request_required: bool = False
    response_schema: Mapping[str, Any] | None = field(default=None, repr=False)
    permissions: tuple[str, ...] = ()
    deprecated: bool = False
    documented_in: str = "spec"

    @property
    def key(self) -> str:
        """``"GET /api/v1/datasets"``."""
        return f"{self.method} {self.path}"

    @property
    def path_parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.location == "path")

    @property
    def query_parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.location == "query")

    @property
    def takes_json(self) -> bool:
        return self.request_content_type == "application/json"


@dataclass(frozen=True)
class Match:
    """An operation matched by a concrete path, with the values of its path parameters."""

    operation: Operation
    values: Mapping[str, str]


@dataclass(frozen=True)
class PathCompletion:
    """A completion of a path: ``text`` in the form the user typed it; ``methods`` of the
    operations at exactly that path (empty for a path that only leads further)."""

    text: str
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Segment:
    """One segment of a template: a literal, or ``prefix{name}suffix``."""

    literal: str | None
    prefix: str = ""
    name: str = ""
    suffix: str = ""

    @classmethod
    def parse(cls, text: str) -> _Segment:
        m = _PARAM.match(text)
        if m is None:
            return cls(literal=text)
        return cls(None, m["prefix"], m["name"], m["suffix"])

    @property
    def text(self) -> str:
        return self.literal if self.literal is not None else (
            f"{self.prefix}{{{self.name}}}{self.suffix}"
        )

    @property
    def specificity(self) -> int:
        """2 for a literal, 1 for a parameter with a prefix or suffix (``id:{}``), 0 else."""
        return 2 if self.literal is not None else 1 if self.prefix or self.suffix else 0

    @property
    def shape(self) -> str:
        return self.literal if self.literal is not None else f"{self.prefix}{{}}{self.suffix}"

    def value_of(self, segment: str) -> str | None:
        """The parameter's value in ``segment`` ("" for a literal), or None if no match."""
        if self.literal is not None:
            return "" if segment == self.literal else None
        if not (segment.startswith(self.prefix) and segment.endswith(self.suffix)):
            return None
        value = segment[len(self.prefix): len(segment) - len(self.suffix)]
        return value or None


@dataclass(frozen=True)
class _Template:
    path: str
    segments: tuple[_Segment, ...]

    @property
    def specificity(self) -> tuple[int, ...]:
        return tuple(s.specificity for s in self.segments)

    @cached_property
    def shape(self) -> str:
        """The template without parameter names: templates of one shape share a path."""
        return "/".join(s.shape for s in self.segments)

    def values(self, segments: Sequence[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        values: dict[str, str] = {}
        for mine, theirs in zip(self.segments, segments, strict=True):
            value = mine.value_of(theirs)
            if value is None:
                return None
            if mine.literal is None:
                values[mine.name] = value
        return values


def route_segments(path: str) -> list[str] | None:
    """The segments of an API path below the tenant root (``["api", "v1", "datasets"]``),
    or None when ``path`` is not an API path.

    Query strings and fragments are dropped, percent-escapes decoded (``owner%2Fname``
    gives two segments, as the API reads it), shorthands expanded, and a full URL cut
    at its ``/api/`` or ``/auth/`` segment.
    """
    text = path.strip().split("#", 1)[0].split("?", 1)[0]
    if "://" in text or text.startswith("//"):
        try:
            raw = [s for s in urlsplit(text).path.split("/") if s]
        except ValueError:
            return None
        roots = [n for n, seg in enumerate(raw) if seg in _ROOTS]
        if not roots:
            return None
        raw = raw[roots[0]:]
    else:
        relative = text.lstrip("/")
        if relative.startswith(_SHORT_PREFIXES):
            relative = "api/" + relative
        raw = relative.split("/")
    segments = [part for seg in raw for part in unquote(seg).split("/") if part]
    if not segments or segments[0] not in _ROOTS:
        return None
    return segments


class ApiIndex:
    """The operations of an OpenAPI 3.1 document (see :func:`api_index`)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})
        operations = [
            _operation(method.upper(), path, item[method])
            for path, item in document.get("paths", {}).items()
            for method in item
            if method.upper() in HTTP_METHODS
        ]
        operations += [
            Operation(method, path, summary, tag, documented_in="reference")
            for method, path, summary, tag in _REFERENCE_OPERATIONS
        ]
        self.operations: tuple[Operation, ...] = tuple(
            sorted(operations, key=lambda op: (op.path, _METHOD_ORDER[op.method]))
        )
        self._by_template: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            self._by_template.setdefault(op.path, {})[op.method] = op
        self._templates = [
            _Template(path, tuple(_Segment.parse(s) for s in path.strip("/").split("/")))
            for path in self._by_template
        ]
        # As the platform routes (and the sandbox after it): the most specific template
        # that matches a path owns it, segment by segment from the left (a literal before
        # id:{...} before {...}); templates of the same shape share the path's methods.
        self._templates.sort(key=lambda t: t.specificity, reverse=True)
        self._by_length: dict[int, list[_Template]] = {}  # a path matches its length only
        for template in self._templates:
            self._by_length.setdefault(len(template.segments), []).append(template)

    def __len__(self) -> int:
        return len(self.operations)

    def __repr__(self) -> str:
        return f"<ApiIndex {len(self._by_template)} paths, {len(self.operations)} operations>"

    # -- look-up --------------------------------------------------------------------

    def get(self, method: str, template: str) -> Operation | None:
        """The operation with exactly this method and template, or None."""
        return self._by_template.get(template, {}).get(method.upper())

    def match(self, method: str, path: str) -> Match | None:
        """The operation that ``method path`` calls, or None (no template matches, or the
        template that owns the path lacks that method)."""
        method = method.upper()
        for match in self.at_path(path):
            if match.operation.method == method:
                return match
        return None

    def at_path(self, path: str) -> list[Match]:
        """Every operation (all methods) of the templates that own ``path``."""
        segments = route_segments(path)
        if segments is None:
            return []
        owner: str | None = None
        found: list[Match] = []
        for template in self._by_length.get(len(segments), ()):
            if owner is not None and template.shape != owner:
                continue
            values = template.values(segments)
            if values is None:
                continue
            owner = template.shape
            found += [Match(op, values) for op in self._by_template[template.path].values()]
        return sorted(found, key=lambda m: _method_key(m.operation))

    def closest(self, method: str, path: str, n: int = 3, cutoff: float = 0.75) -> list[str]:
        """Up to ``n`` operations (``"GET /api/v1/datasets"``) that look like ``path``,
        those with ``method`` first; the path parameters keep the values typed."""
        segments = route_segments(path)
        if segments is None:
            return []
        typed = "/" + "/".join(segments)
        scored: dict[str, float] = {}
        for template in self._templates:
            rendered = "/" + "/".join(self._render(template, segments))
            ratio = difflib.SequenceMatcher(None, typed, rendered).ratio()
            for op_method in self._by_template[template.path]:
                # The method typed counts too, but less than the path.
                score = ratio - (0 if op_method == method.upper() else 0.1)
                key = f"{op_method} {rendered}"
                scored[key] = max(score, scored.get(key, 0.0))
        ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
        if not ranked or ranked[0][1] < cutoff:
            return []
        best = ranked[0][1]
        return [key for key, score in ranked[:n] if score >= max(cutoff, best - 0.08)]

    def _render(self, template: _Template, segments: Sequence[str]) -> list[str]:
        """The template with the values typed at its parameters (where they fit)."""
        out = []
        for i, seg in enumerate(template.segments):
            typed = segments[i] if i < len(segments) else None
            if seg.literal is None and typed is not None and seg.value_of(typed) is not None:
                out.append(typed)
            else:
                out.append(seg.text)
        return out

    # -- search ---------------------------------------------------------------------

    def search(self, words: str | Iterable[str] = ()) -> list[Operation]:
        """Operations whose method, path, summary, tag or operationId contain every word
        (case-insensitive), best first: a word that is a whole segment of the path or a
        whole word of the summary counts more. All of them without words, by path."""
        if isinstance(words, str):
            words = words.split()
        wanted = [w.lower() for w in words if w.strip()]
        found: list[tuple[int, Operation]] = []
        for op in self.operations:
            haystack = " ".join(
                (op.method, op.path, op.summary, op.tag, op.operation_id)
            ).lower()
            if all(word in haystack for word in wanted):
                segments = set(op.path.lower().split("/"))
                summary = set(re.findall(r"\w+", op.summary.lower()))
                score = sum(2 * (w in segments) + (w in summary) + (w == op.method.lower())
                            for w in wanted)
                found.append((score, op))
        found.sort(key=lambda item: -item[0])  # stable: ties keep the order by path
        return [op for _, op in found]

    def table(self, operations: Iterable[Operation] | None = None) -> Any:
        """Operations as a DataFrame with the columns ``method``, ``path``, ``summary``."""
        import pandas as pd

        ops = self.operations if operations is None else list(operations)
        return pd.DataFrame(
            [(op.method, op.path, op.summary) for op in ops],
            columns=["method", "path", "summary"],
        )

    # -- completion -----------------------------------------------------------------

    def complete_path(
        self,
        typed: str,
        *,
        method: str | None = None,
        values: Callable[[str, str, Mapping[str, str]], Sequence[str] | None] | None = None,
    ) -> list[PathCompletion]:
        """Completions of the segment being typed at the end of ``typed``.

        ``method`` keeps only paths that lead to an operation with that method.
        ``values(name, previous_literal, filled)`` gives the live values of a path
        parameter (``owner`` -> the projects), or None to offer the ``{name}`` placeholder.
        The completions keep the form typed (``/api/v1/...``, ``api/v1/...``, ``v1/...``).
        """
        text = typed.strip()
        if "://" in text or text.startswith("//") or "?" in text:
            return []
        relative = text.lstrip("/")
        lead = text[: len(text) - len(relative)] or ("" if relative else "/")
        head = ""
        if relative.startswith(_SHORT_PREFIXES):
            relative, head = "api/" + relative, "api/"
        parts = relative.split("/")
        done, partial = parts[:-1], parts[-1]
        typed_values = [unquote(seg) for seg in done]
        found: dict[str, set[str]] = {}
        for template in self._templates:
            segs = template.segments
            if len(segs) <= len(done):
                continue
            at_template = self._by_template[template.path]
            if method is not None and method.upper() not in at_template:
                continue
            filled: dict[str, str] = {}
            for seg, value in zip(segs, typed_values, strict=False):
                got = _placeholder_or_value(seg, value)
                if got is None:
                    break
                if seg.literal is None:
                    filled[seg.name] = got
            else:
                segment = segs[len(done)]
                full = len(segs) == len(done) + 1
                previous = next(
                    (s.literal for s in reversed(segs[: len(done)]) if s.literal is not None), ""
                )
                for candidate in _segment_candidates(segment, partial, previous, filled, values):
                    entry = found.setdefault(candidate, set())
                    if full:
                        entry.update(at_template)
        completions = []
        for candidate, methods in found.items():
            route = "/".join([*done, candidate])
            shown = lead + route[len(head):] if head else lead + route
            completions.append(PathCompletion(shown, tuple(sorted(methods, key=_method_key))))
        completions.sort(key=lambda c: c.text)
        return completions

    # -- schemas --------------------------------------------------------------------

    def resolve(self, schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """``schema`` with its ``$ref`` (to ``#/components/schemas/...``) followed."""
        seen = 0
        while schema is not None and "$ref" in schema and seen < 20:
            schema = self.schemas.get(str(schema["$ref"]).rsplit("/", 1)[-1])
            seen += 1
        return schema or {}


def _method_key(item: Operation | str) -> int:
    method = item if isinstance(item, str) else item.method
    return _METHOD_ORDER.get(method, len(_METHOD_ORDER))


def _placeholder_or_value(seg: _Segment, value: str) -> str | None:
    """What a typed segment fills in: a user's ``{var}`` fits any bare parameter segment
    (not ``id:{...}``, whose prefix it would have to hold)."""
    if value.startswith("{") and value.endswith("}"):
        return value if seg.literal is None and not (seg.prefix or seg.suffix) else None
    return seg.value_of(value)


def _segment_candidates(
    segment: _Segment,
    partial: str,
    previous: str,
    filled: Mapping[str, str],
    values: Callable[[str, str, Mapping[str, str]], Sequence[str] | None] | None,
) -> list[str]:
    if segment.literal is not None:
        return [segment.literal] if segment.literal.startswith(partial) else []
    live = values(segment.name, previous, filled) if values is not None else None
    found = [
        text for text in (f"{segment.prefix}{v}{segment.suffix}" for v in live or ())
        if text.startswith(partial)
    ]
    if not live or partial.startswith(("{", segment.prefix + "{")) or not found:
        if segment.text.startswith(partial):
            found.append(segment.text)
    return found


def _operation(method: str, path: str, spec: Mapping[str, Any]) -> Operation:
    parameters = tuple(
        Parameter(
            name=str(p.get("name", "")),
            location=str(p.get("in", "")),
            type=_simple_type(p.get("schema", {})),
            required=bool(p.get("required", False)),
            description=str(p.get("description", "")),
        )
        for p in spec.get("parameters", ())
        if p.get("in") in ("path", "query")
    )
    parameters += tuple(
        Parameter(name, "query", "string", False, text, documented_in="reference")
        for name, text in _REFERENCE_QUERY.get((method, path), ())
        if name not in {p.name for p in parameters}
    )
    body = spec.get("requestBody") or {}
    content = body.get("content", {})
    content_type = next(iter(content), None)
    answer = spec.get("responses", {}).get("200", {}).get("content", {})
    tags = spec.get("tags") or [""]
    return Operation(
        method=method,
        path=path,
        summary=str(spec.get("summary", "")),
        tag=str(tags[0]),
        operation_id=str(spec.get("operationId", "")),
        parameters=parameters,
        request_schema=content.get(content_type, {}).get("schema") if content_type else None,
        request_content_type=content_type,
        request_required=bool(body.get("required", False)),
        response_schema=answer.get("application/json", {}).get("schema"),
        permissions=tuple(spec.get("x-uipath-communicationsmining-project-permissions", ())),
        deprecated=bool(spec.get("deprecated", False)),
    )


def _simple_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type", "")
    return " or ".join(kind) if isinstance(kind, list) else str(kind or "any")


@cache
def api_index() -> ApiIndex:
    """The index of the shipped spec (``reinfer_nb.spec.openapi()``), built once."""
    from .spec import openapi

    return ApiIndex(openapi())
