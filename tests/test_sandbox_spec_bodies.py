"""Request bodies generated from the spec's request schemas: every operation the sandbox
implements accepts the valid ones or refuses them for what they mean (403/404/409/422),
refuses the invalid ones with 400, and never answers 5xx.

The bodies are built here from each schema (a minimal body with the required fields
only, a full one with every property), then broken in ways a client gets wrong (not an
object, a required field missing, an unknown field, a field of the wrong type). Whether a
body is valid is decided by jsonschema against the spec with the sandbox's documented
patches (:data:`reinfer_nb.sandbox.api.validate.SPEC_PATCHES`), not by the sandbox.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reinfer_nb.sandbox import Sandbox
from reinfer_nb.sandbox.api.operations import HANDLERS
from reinfer_nb.sandbox.api.validate import SPEC_PATCHES
from reinfer_nb.spec import openapi

URI = "urn:test:openapi"
ACCEPTED = {200, 403, 404, 409, 422}  # a valid body's answers: success, or what it means
CANDIDATES = (  # strings tried, in order, against a pattern without a usable example
    "0123456789abcdef",
    "2024-05-01T10:00:00Z",
    "dev",
    "Billing > Refund",
    "string:Channel",
    "number:NPS",
    "generic.0.CONVKER5",
    "12345678-1234-1234-1234-123456789abc",
    "label_property_id:0123456789abcdef",
    "Europe/London",
    "a",
)


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merge(out[key], value) if both else value
    return out


def _document() -> dict[str, Any]:
    spec = openapi()
    schemas = dict(spec["components"]["schemas"])
    for name, patch in SPEC_PATCHES.items():
        schemas[name] = _merge(schemas[name], patch)
    return {**spec, "components": {**spec["components"], "schemas": schemas}}


DOCUMENT = _document()
REGISTRY = Registry().with_resource(URI, Resource.from_contents(DOCUMENT, DRAFT202012))


def resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**DOCUMENT["components"]["schemas"][name], **rest}
    return schema


def example(schema: Mapping[str, Any], full: bool, depth: int = 0) -> Any:
    """A value for ``schema``: required properties only, or all of them (``full``)."""
    schema = resolve(schema)
    if depth > 8:
        return None
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [resolve(b) for b in schema[key]]
            branch = next((b for b in branches if b.get("type") != "null"), branches[0])
            return example(branch, full, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged = _merge(merged, resolve(part))
        return example(merged, full, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        names = list(schema.get("properties", {})) if full else schema.get("required", [])
        return {
            name: example(schema["properties"].get(name, {}), full, depth + 1)
            for name in names
            if name in schema.get("properties", {})
        }
    if kind == "array":
        count = max(schema.get("minItems", 0), 1 if full else 0)
        return [example(schema.get("items", {}), full, depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return int(max(schema.get("minimum", 1), min(schema.get("maximum", 1), 1)))
    if kind == "number":
        return float(max(schema.get("minimum", 0.5), min(schema.get("maximum", 0.5), 0.5)))
    if kind == "boolean":
        return True
    return None


def _string(schema: Mapping[str, Any]) -> str:
    pattern = schema.get("pattern")
    options = [*schema.get("examples", []), *CANDIDATES] if pattern else []
    for option in options:
        if isinstance(option, str) and re.search(pattern, option):
            return option
    return "x" * max(schema.get("minLength", 1), 1)


def broken(schema: Mapping[str, Any], body: Any) -> Iterator[tuple[str, Any]]:
    """Ways a client gets a body wrong, each named."""
    schema = resolve(schema)
    yield "not an object", [body]
    if not isinstance(body, dict):
        return
    for name in schema.get("required", [])[:2]:
        yield f"no {name}", {k: v for k, v in body.items() if k != name}
    yield "an unknown field", {**body, "zz_unknown_field": 1}
    for name, value in list(body.items())[:3]:
        wrong = 12345 if isinstance(value, (str, dict, list)) else "not-the-type"
        yield f"{name} of the wrong type", {**body, name: wrong}


def json_operations() -> list[tuple[str, str, str, Mapping[str, Any]]]:
    """(method, template, operationId, request schema) of implemented JSON-body operations."""
    out = []
    for template, item in openapi()["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or operation.get("operationId") not in HANDLERS:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                out.append((method.upper(), template, operation["operationId"],
                            content["application/json"]["schema"]))
    return out


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Sandbox:
    return make_sandbox(comments=120, seed=21)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def session(sandbox: Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.admin_token}"  # to get past 403s
        yield s


def path_values(sandbox: Sandbox, session: requests.Session) -> dict[str, str]:
    source = session.get(sandbox.url + "/api/v1/sources/dev/support-emails").json()["source"]
    comment = session.get(
        sandbox.url + "/api/_private/sources/dev/support-emails/comments", params={"limit": 1}
    ).json()["comments"][0]
    return {
        "owner": "dev",
        "source_name": "support-emails",
        "dataset_name": "support-triage",
        "stream_name": "triage-queue",
        "trigger_name": "triage-queue",
        "name": "dev",
        "bucket_name": "mail",
        "labelling_id": comment["uid"],
        "model_version": "1",
        "source_id": source["id"],
        "comment_id": comment["id"],
        "user_id": "0123456789abcdef",
    }


def test_generated_bodies_are_accepted_or_refused_never_500(
    sandbox: Sandbox, session: requests.Session
) -> None:
    values = path_values(sandbox, session)
    operations = json_operations()
    assert len(operations) >= 25
    sent = refused = 0
    for method, template, operation_id, schema in operations:
        url = sandbox.url + template.format(**values)
        validator = Draft202012Validator(
            {"$ref": URI + _pointer(template, method)}, registry=REGISTRY
        )
        bodies = [("minimal", example(schema, full=False)), ("full", example(schema, full=True))]
        bodies += list(broken(schema, copy.deepcopy(bodies[0][1])))
        for label, body in bodies:
            valid = validator.is_valid(body)
            response = session.request(method, url, json=body, timeout=30)
            sent += 1
            where = f"{operation_id} ({label}): {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, where
            assert response.json()["status"] == ("ok" if response.status_code == 200 else "error")
            if valid:  # a 400 then is about the data (a stale token), never the schema
                schema_refusal = response.json().get("message", "").startswith("Invalid request:")
                assert response.status_code in ACCEPTED or (
                    response.status_code == 400 and not schema_refusal
                ), where
            else:
                assert response.status_code == 400, where
                refused += 1
    assert refused >= len(operations)  # each operation refused at least one broken body
    print(f"\n{sent} generated bodies over {len(operations)} operations, {refused} invalid")


def _pointer(template: str, method: str) -> str:
    parts = ("paths", template, method.lower(), "requestBody", "content", "application/json",
             "schema")
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
