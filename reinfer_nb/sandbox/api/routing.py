"""Routing: (method, path) to a handler, with the platform's 404, 405 and 501 answers.

:class:`Router` routes a plain table of ``(method, template, handler)``; :class:`SpecRouter`
builds its table from the OpenAPI spec's paths and methods, so a route outside the spec
cannot exist: every spec operation gets a route, answered by the handler registered under
its ``operationId`` or, without one, by a 501 that names the operation.

A template's ``{name}`` matches one path segment (``id:{source_id}`` matches ``id:<hex>``).
When several templates match a path, the most specific one owns it (literal segments beat
``id:{...}``, which beats ``{...}``); templates of the same shape share one path and their
methods (GET ``/quotas/{target_tenant_id}`` and POST ``/quotas/{quota_kind}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from .validate import Refusal

__all__ = [
    "HTTP_METHODS",
    "NOT_FOUND",
    "Handler",
    "Match",
    "Operation",
    "Route",
    "Router",
    "SpecRouter",
    "not_implemented_message",
]

Handler = Callable[..., Any]
NOT_FOUND = "404 Not Found"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_PARAM = re.compile(r"\{(\w+)\}")
_METHOD_ORDER = ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: method, path template and its OpenAPI object."""

    method: str
    template: str
    operation_id: str
    spec: Mapping[str, Any] = field(repr=False, compare=False)


class Route(NamedTuple):
    """A routing table entry; ``operation`` is None for routes outside the spec."""

    method: str
    template: str
    handler: Handler | None  # None: a spec operation the sandbox does not implement
    operation: Operation | None


class Match(NamedTuple):
    """A routed request: the handler, the path parameters and the spec operation."""

    handler: Handler
    params: dict[str, str]
    operation: Operation | None


def not_implemented_message(method: str, template: str) -> str:
    return (
        f"{method} {template} exists in the Communications Mining API but the sandbox does "
        "not implement it; see the sandbox's list of served operations in the README."
    )


@dataclass
class _Path:
    """Templates of one shape: a pattern, a specificity and the routes by method."""

    pattern: re.Pattern[str]
    specificity: tuple[int, ...]
    routes: dict[str, Route] = field(default_factory=dict)


class Router:
    """Routes ``(method, template, handler)`` entries (see the module docstring)."""

    def __init__(self, routes: Iterable[tuple[str, str, Handler]] = ()) -> None:
        self._entries = [Route(m, t, h, None) for m, t, h in routes]

    def _routes(self) -> list[Route]:
        return self._entries

    def routes(self) -> list[Route]:
        """The routing table, in the order it was given."""
        return list(self._routes())

    @cached_property
    def _by_segments(self) -> dict[int, list[_Path]]:
        paths: dict[str, _Path] = {}
        for route in self._routes():
            shape = _PARAM.sub("{}", route.template)
            if shape not in paths:
                paths[shape] = _Path(_compile(shape), _specificity(shape))
            if route.method in paths[shape].routes:
                raise ValueError(f"two routes for {route.method} {shape}")
            paths[shape].routes[route.method] = route
        table: dict[int, list[_Path]] = {}
        for shape, entry in paths.items():
            table.setdefault(shape.count("/"), []).append(entry)
        for entries in table.values():
            entries.sort(key=lambda e: e.specificity, reverse=True)
        return table

    def match(self, method: str, path: str) -> Match:
        """The route for a request; a :class:`Refusal` with 404, 405 or 501 otherwise."""
        for entry in self._by_segments.get(path.count("/"), ()):
            m = entry.pattern.fullmatch(path)
            if m is None:
                continue
            route = entry.routes.get(method)
            if route is None and method == "HEAD":  # HEAD is GET without the body
                route = entry.routes.get("GET")
            if route is None:
                allowed = ", ".join(m for m in _METHOD_ORDER if m in entry.routes)
                raise Refusal(
                    405,
                    f"405 Method Not Allowed: {method} is not an operation of this path; "
                    f"it accepts {allowed}.",
                    {"Allow": allowed},
                )
            if route.handler is None:
                raise Refusal(501, not_implemented_message(route.method, route.template))
            names = _PARAM.findall(route.template)
            return Match(route.handler, dict(zip(names, m.groups(), strict=True)), route.operation)
        raise Refusal(404, NOT_FOUND)


class SpecRouter(Router):
    """Every operation of an OpenAPI document, answered by ``handlers[operationId]``.

    ``spec`` is called once, on the first request (the document is large; importing the
    sandbox stays cheap). ``extra`` routes (outside the spec's ``/api`` paths) are added
    as they are.
    """

    def __init__(
        self,
        spec: Callable[[], Mapping[str, Any]],
        handlers: Mapping[str, Handler],
        extra: Iterable[tuple[str, str, Handler]] = (),
    ) -> None:
        super().__init__(extra)
        self._spec = spec
        self._handlers = dict(handlers)

    @cached_property
    def operations(self) -> dict[str, Operation]:
        """The spec's operations by ``operationId``."""
        found: dict[str, Operation] = {}
        for template, item in self._spec()["paths"].items():
            for method, spec in item.items():
                if method in HTTP_METHODS:
                    op = Operation(method.upper(), template, spec["operationId"], spec)
                    found[op.operation_id] = op
        unknown = sorted(set(self._handlers) - set(found))
        if unknown:
            raise ValueError(f"handlers for operations the spec does not have: {unknown}")
        return found

    @cached_property
    def _spec_routes(self) -> list[Route]:
        return [
            Route(op.method, op.template, self._handlers.get(op.operation_id), op)
            for op in self.operations.values()
        ]

    def _routes(self) -> list[Route]:
        return self._spec_routes + self._entries

    @property
    def implemented(self) -> list[str]:
        """The operationIds that have a handler, sorted."""
        return sorted(self._handlers)


def _compile(shape: str) -> re.Pattern[str]:
    parts = shape.split("{}")
    return re.compile("([^/]+)".join(re.escape(p) for p in parts))


def _specificity(shape: str) -> tuple[int, ...]:
    """Per segment: 2 for a literal, 1 for a prefixed parameter (``id:{}``), 0 for ``{}``."""
    return tuple(
        0 if segment == "{}" else 1 if "{}" in segment else 2 for segment in shape.split("/")
    )
