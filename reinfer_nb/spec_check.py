"""Checks of a call against the API's spec before anything is sent.

``Client(check_spec=True)`` and the request magics (unless ``--no-check-spec``) run
:func:`check_call` first:

* a (method, path) that is no operation of the spec raises :class:`ConfigError` with the
  closest operations ("did you mean GET /api/v1/datasets?") or the methods the path has
  ("POST exists for this path, not GET");
* a JSON body that does not validate against the operation's request schema raises
  :class:`ConfigError` naming each field and rule (``comments[0].id: required``);
* query parameters the operation does not declare give a :class:`SpecWarning` naming
  those it has (the call still goes out).

Paths that are not API paths (anything but ``/api/...`` and ``/auth/...``) are left to
:meth:`~reinfer_nb.endpoints.Endpoint.join`, which refuses them.
"""

from __future__ import annotations

import json
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, TextIO

from .api_index import ApiIndex, Match, Operation, api_index, route_segments
from .errors import ConfigError

__all__ = ["SpecWarning", "body_problems", "check_call", "prepare_in_background",
           "spec_warnings_as_lines", "unknown_operation"]

_SPEC_URI = "urn:reinfer:openapi-v3.1"
_MAX_PROBLEMS = 3
_BYPASS = "nothing was sent (--no-check-spec, or check_spec=False, sends it anyway)."
_lock = threading.Lock()
_validators: dict[str, Any] = {}


class SpecWarning(UserWarning):
    """A call the spec does not describe in full (an unknown query parameter); it is sent."""


@contextmanager
def spec_warnings_as_lines(file: TextIO | None = None) -> Iterator[None]:
    """Show the :class:`SpecWarning` raised inside as one line each (``SpecWarning:
    ...`` on stderr, no source line); other warnings are shown as usual."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SpecWarning)
            yield
    finally:  # shown even when the call then fails
        for item in caught:
            if issubclass(item.category, SpecWarning):
                print(f"SpecWarning: {item.message}", file=file or sys.stderr)
            else:
                warnings.showwarning(item.message, item.category, item.filename, item.lineno,
                                     item.file, item.line)


def check_call(
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    index: ApiIndex | None = None,
    stacklevel: int = 2,
) -> Match | None:
    """Check one call against the spec; return the operation matched (None when ``path``
    is not an API path). Raises :class:`ConfigError` for an unknown (method, path) or a
    body that does not validate; warns (:class:`SpecWarning`) for unknown query parameters
    (``stacklevel`` as for :func:`warnings.warn`, counted from the caller).
    """
    index = index or api_index()
    segments = route_segments(path)
    if segments is None:
        return None
    method = method.upper()
    match = index.match(method, path)
    if match is None:
        raise ConfigError(f"{unknown_operation(method, path, index)} "
                          f"{_BYPASS[0].upper()}{_BYPASS[1:]}")
    op = match.operation
    if body is not None and op.takes_json and op.request_schema is not None:
        problems = body_problems(op, body, index)
        if problems:
            more = len(problems) - _MAX_PROBLEMS
            listed = "; ".join(problems[:_MAX_PROBLEMS]) + (f" (and {more} more)" if more > 0
                                                             else "")
            name = str(op.request_schema.get("$ref", "")).rsplit("/", 1)[-1]
            raise ConfigError(
                f"The body of {op.key} does not match {name or 'its schema'}: {listed}. "
                f"Fix it; {_BYPASS}"
            )
    unknown = [name for name in (params or {}) if name not in
               {p.name for p in op.query_parameters}]
    if unknown:
        known = ", ".join(p.name for p in op.query_parameters)
        names = ", ".join(repr(name) for name in unknown)
        warnings.warn(
            f"{op.key} has no query parameter {names}; "
            + (f"its parameters: {known}." if known else "it takes no query parameters.")
            + " Sent anyway.",
            SpecWarning,
            stacklevel=stacklevel + 1,
        )
    return match


def unknown_operation(method: str, path: str, index: ApiIndex | None = None) -> str:
    """Why ``method path`` is no operation, with the methods its path has or the closest
    operations ("did you mean GET /api/v1/datasets?")."""
    index = index or api_index()
    method = method.upper()
    shown = "/" + "/".join(route_segments(path) or [path.strip("/")])
    others = [m.operation.method for m in index.at_path(path)]
    close = [text for text in index.closest(method, path) if text.split(" ", 1)[0] == method
             or not others]
    if others:
        verb = "exists" if len(others) == 1 else "exist"
        text = f"{method} {shown} is not an operation of the API: {', '.join(others)} {verb} "
        text += f"for this path, not {method}"
        same = [c for c in close if c.startswith(method + " ")]
        text += f"; did you mean {_either(same)}?" if same else "."
    elif close:
        text = f"{method} {shown} is not an operation of the API: did you mean {_either(close)}?"
    else:
        text = (
            f"{method} {shown} is not an operation of the API, nor close to one: "
            "%reinfer_api WORDS (or reinfer_nb.api_index.api_index().search) lists them."
        )
    return text


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


# -- body validation --------------------------------------------------------------------


def prepare_in_background() -> None:
    """Build the index and import jsonschema in a daemon thread, so that the first checked
    call does not wait for them (jsonschema's import alone can take a second where
    Jupyter's optional format checkers are installed)."""

    def prepare() -> None:
        import jsonschema  # noqa: F401  (the slow import, done here)

        api_index()
        _registry()

    threading.Thread(target=prepare, name="reinfer-spec", daemon=True).start()


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from .spec import openapi

    return Registry().with_resource(_SPEC_URI, Resource.from_contents(openapi(), DRAFT202012))


def _validator(op: Operation) -> Any:
    with _lock:
        validator = _validators.get(op.key)
        if validator is None:
            from jsonschema import Draft202012Validator

            schema = dict(op.request_schema or {})
            ref = schema.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                schema = {"$ref": _SPEC_URI + ref}
            validator = Draft202012Validator(schema, registry=_registry())
            _validators[op.key] = validator
    return validator


def body_problems(op: Operation, body: Any, index: ApiIndex | None = None) -> list[str]:
    """What is wrong with ``body`` for ``op``, one ``field.path: rule`` text each (empty
    when it validates)."""
    index = index or api_index()
    problems: list[str] = []
    try:
        for error in _validator(op).iter_errors(body):
            for problem in _describe(error, index):
                if problem not in problems:
                    problems.append(problem)
    except RecursionError:
        return ["(body): nested too deeply (or it contains itself)"]
    return problems


def _location(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(location: str, name: str) -> str:
    return f"{location}.{name}" if location else name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _choices(values: Iterable[Any], limit: int = 8) -> str:
    shown = [json.dumps(v) for v in values]
    more = len(shown) - limit
    return ", ".join(shown[:limit]) + (f" and {more} more" if more > 0 else "")


def _describe(error: Any, index: ApiIndex) -> list[str]:
    """One jsonschema error as ``field.path: rule`` texts (choices resolved to the one
    the body chose, by the schema's discriminator)."""
    where = _location(error.absolute_path)
    rule, value, instance = error.validator, error.validator_value, error.instance
    if rule == "required":
        missing = [n for n in value if isinstance(instance, dict) and n not in instance]
        return [f"{_join(where, name)}: required" for name in missing]
    if rule == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties") or {})
        extra = [n for n in instance if n not in allowed]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [f"{_join(where, name)}: unknown field{hint}" for name in extra]
    if rule in ("oneOf", "anyOf"):
        return _describe_choice(error, where, index)
    at = where or "(body)"
    if rule == "type":
        kinds = " or ".join(value) if isinstance(value, list) else str(value)
        return [f"{at}: must be {kinds}, not {_json_type(instance)}"]
    if rule == "enum":
        return [f"{at}: must be one of {_choices(value)}"]
    if rule == "const":
        return [f"{at}: must be {json.dumps(value)}"]
    bounds = {
        "minimum": f"must be >= {value}", "maximum": f"must be <= {value}",
        "exclusiveMinimum": f"must be > {value}", "exclusiveMaximum": f"must be < {value}",
        "minLength": f"must have at least {value} characters",
        "maxLength": f"must have at most {value} characters",
        "minItems": f"must have at least {value} items",
        "maxItems": f"must have at most {value} items",
        "uniqueItems": "items must be unique",
        "pattern": "does not have the expected format",
    }
    if rule in bounds:
        example = (error.schema.get("examples") or [None])[0] if rule == "pattern" else None
        return [f"{at}: {bounds[rule]}" + (f" (such as {json.dumps(example)})" if example
                                           else "")]
    message = str(error.message)
    return [f"{at}: {message if len(message) <= 100 else message[:99] + '…'}"]


def _describe_choice(error: Any, where: str, index: ApiIndex) -> list[str]:
    at = where or "(body)"
    instance = error.instance
    schema = error.schema
    discriminator = schema.get("discriminator") or {}
    mapping = discriminator.get("mapping") or {}
    alternatives = list(schema.get(error.validator) or ())
    if mapping and isinstance(instance, dict):
        prop = discriminator.get("propertyName", "kind")
        kind = instance.get(prop)
        if kind is None:
            return [f"{_join(where, prop)}: required (one of {_choices(mapping)})"]
        if kind not in mapping:
            return [f"{_join(where, prop)}: must be one of {_choices(mapping)}"]
        target = mapping[kind]
        chosen = next((n for n, alt in enumerate(alternatives) if alt.get("$ref") == target),
                      None)
        errors = [e for e in error.context or () if e.relative_schema_path
                  and e.relative_schema_path[0] == chosen]
        found = [text for e in errors for text in _describe(e, index)]
        return found or [f"{at}: does not match {target.rsplit('/', 1)[-1]}"]
    if error.context:
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        if best is not None:
            return _describe(best, index)
    return [f"{at}: matches none of its {len(alternatives)} allowed forms"]
