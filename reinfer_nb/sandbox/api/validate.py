"""Request validation against the OpenAPI spec, and :class:`Refusal` (an error answer).

Before a handler runs, the request's JSON body and query parameters are checked with
jsonschema against the operation's schemas in the spec (``$ref`` resolved by a
``referencing`` registry over the document; one compiled validator per operation). A
violation answers **400** in the schema-validation style of the real API, naming the
field: ``dataset.model_family: 'x' is not one of ['english', ...]``. Handlers check only
what a schema cannot say (the data, the state, the meaning) and answer **422**.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ...spec import openapi
from ..data.sample import parse_ts

if TYPE_CHECKING:
    from .access import Call
    from .routing import Operation

__all__ = [
    "SPEC_PATCHES",
    "Refusal",
    "check_name",
    "check_request",
    "invalid",
    "parse_json",
    "timestamp",
]

SPEC_URI = "urn:reinfer:openapi-v3.1"
_COMPONENT = "#/components/schemas/"
MAX_MESSAGE = 300
NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
HEX = re.compile(r"[0-9a-f]+")

# Where the real API and the official client differ from the published schemas (merged
# into the components before validating; the shipped spec file itself is never changed):
SPEC_PATCHES: dict[str, dict[str, Any]] = {
    # DatasetNew types model_family as any string; the API answers 400 "'x' is not one of
    # [...]" for an unknown family, as the ModelFamily enum (used by DatasetUpdate) says.
    "DatasetNew": {"properties": {"model_family": {"$ref": "#/components/schemas/ModelFamily"}}},
    # `re get stats` sends no by_label_properties, and the API answers it.
    "GetDatasetStatisticsRequest": {"required": []},
}


class Refusal(Exception):
    """An error answer: the HTTP status and a one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def invalid(where: str, what: str) -> Refusal:
    """A 422: the request is well-formed but asks for something that cannot be done."""
    return Refusal(422, f"Invalid request: {where} {what}.")


def check_name(name: str, kind: str) -> None:
    """Resource names: letters, digits, ``_`` and ``-``, and never all hex (that reads as an id)."""
    if not NAME.fullmatch(name):
        raise invalid(
            f"the {kind} name {name!r}",
            "may only contain letters, digits, '_' and '-' (1 to 256 characters)",
        )
    if HEX.fullmatch(name):
        raise invalid(
            f"the {kind} name {name!r}",
            "must not be all hex digits (clients read such names as ids)",
        )


def timestamp(text: str, where: str) -> int:
    """An ISO-8601 timestamp in microseconds; 422 naming ``where`` if it is not one."""
    try:
        return parse_ts(text)
    except ValueError as exc:
        raise invalid(where, f"is not valid: {exc}") from None


# -- the spec ----------------------------------------------------------------------------


def check_request(operation: Operation, call: Call) -> None:
    """400 unless the query parameters and the JSON body satisfy the operation's schemas."""
    for parameter in operation.spec.get("parameters", ()):
        if parameter["in"] == "query":
            _check_parameter(parameter, call.params(parameter["name"]))
    content = operation.spec.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return  # uploads (octet-stream, multipart) are read by their handlers
    body = call.json()
    error = best_match(_body_validator(operation.method, operation.template).iter_errors(body))
    if error is not None:
        raise Refusal(400, schema_message(error))


def schema_message(error: ValidationError) -> str:
    """``<field path>: <jsonschema's message>``, on one line and at most a few hundred chars."""
    path, message = _explain(error)
    where = _path(path) or "body"
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return f"Invalid request: {where}: {message}"


def _explain(error: ValidationError) -> tuple[list[Any], str]:
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    discriminator = schema.get("discriminator")
    if discriminator and isinstance(error.instance, dict):
        # A tagged union ("order": {"kind": ...}): explain by the tag's own schema.
        tag, mapping = discriminator["propertyName"], discriminator.get("mapping", {})
        value = error.instance.get(tag)
        if value not in mapping:
            return [*path, tag], f"{value!r} is not one of {list(mapping)}"
        branch = Draft202012Validator({"$ref": SPEC_URI + mapping[value]}, registry=_registry())
        inner = best_match(branch.iter_errors(error.instance))
        if inner is not None:
            inner_path, message = _explain(inner)
            return [*path, *inner_path], message
    if error.validator == "pattern" and len(str(error.validator_value)) > 80:
        return path, f"{error.instance!r} does not match the pattern the spec gives for this field"
    return path, error.message


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@cache
def _registry() -> Registry:
    spec = openapi()
    schemas = dict(spec["components"]["schemas"])
    for name, patch in SPEC_PATCHES.items():
        schemas[name] = _merge(schemas[name], patch)
    document = {**spec, "components": {**spec["components"], "schemas": schemas}}
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(document, DRAFT202012)
    )
    return registry


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@cache
def _body_validator(method: str, template: str) -> Draft202012Validator:
    """The operation's request-body validator, compiled once.

    The schema's ``$ref``s are inlined first (recursive ones stay references into the
    registry): resolving references through the registry on every comment of a large
    batch roughly doubles the time jsonschema takes.
    """
    operation = openapi()["paths"][template][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator(_inline(schema, (), {}), registry=_registry())


def _inline(node: Any, stack: tuple[str, ...], done: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, stack, done) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_COMPONENT):
        name = ref[len(_COMPONENT) :]
        if name in stack:  # recursive: leave it to the registry
            return {**node, "$ref": SPEC_URI + ref}
        if name not in done:
            schemas = _registry().contents(SPEC_URI)["components"]["schemas"]
            done[name] = _inline(schemas[name], (*stack, name), done)
        rest = {k: _inline(v, stack, done) for k, v in node.items() if k != "$ref"}
        return {**done[name], **rest} if rest else done[name]
    return {key: _inline(value, stack, done) for key, value in node.items()}


def _check_parameter(parameter: Mapping[str, Any], values: list[str]) -> None:
    name = parameter["name"]
    if not values:
        if parameter.get("required"):
            raise Refusal(400, f"Invalid request: query parameter '{name}' is required.")
        return
    kind = parameter.get("schema", {}).get("type")
    for text in values:
        if kind == "integer" and not re.fullmatch(r"[+-]?\d+", text.strip()):
            problem = f"{text!r} is not of type 'integer'"
        elif kind == "boolean" and text.lower() not in ("true", "false"):
            problem = f"{text!r} is not of type 'boolean' (send true or false)"
        else:
            continue
        raise Refusal(400, f"Invalid query parameter '{name}': {problem}.")


# Deeper bodies pass the decoder but may not pass what follows (validation recurses).
MAX_DEPTH = 100


def parse_json(raw: bytes) -> Any:
    """A request body as JSON (an empty body is ``{}``); 400 if it is not JSON, or past the
    limits: NaN/Infinity, integers past Python's digit limit, nesting deeper than
    :data:`MAX_DEPTH` levels."""
    if not raw.strip():
        return {}
    too_deep = f"Malformed JSON body: nested deeper than {MAX_DEPTH} levels; send less nesting."

    def no_constant(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=no_constant)
    except UnicodeDecodeError:
        raise Refusal(
            400, "Malformed request body: it is not UTF-8. Send JSON encoded as UTF-8."
        ) from None
    except json.JSONDecodeError as exc:
        raise Refusal(
            400,
            f"Malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}. "
            "Send a JSON object.",
        ) from None
    except RecursionError:
        raise Refusal(400, too_deep) from None
    except ValueError as exc:  # NaN/Infinity, or an integer past Python's digit limit
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc)
        raise Refusal(400, f"Malformed JSON body: {reason}. Send a JSON object.") from None
    level = [value] if isinstance(value, (dict, list)) else []
    for _ in range(MAX_DEPTH):  # breadth first, so the check itself never recurses
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
        if not level:
            break
    if level:
        raise Refusal(400, too_deep)
    return value
