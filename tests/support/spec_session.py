"""A client for the sandbox tests that checks every answer against the OpenAPI 3.1 spec.

``SpecSession.call(method, template, **params)`` fills the path template, sends the call
over HTTP and validates the JSON answer against the operation's schema in the spec (the
200 schema on success, the ``4XX`` error schema otherwise); ``encoded=True`` sends
``owner%2Fname`` as one segment, as the official ``re`` client does.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reinfer_nb.spec import openapi

SPEC_URI = "urn:reinfer:openapi-v3.1"
MAX_PAGES = 500  # every paging loop in the tests is bounded

_REGISTRY = Registry().with_resource(SPEC_URI, Resource.from_contents(openapi(), DRAFT202012))
_VALIDATORS: dict[str, Draft202012Validator] = {}


def schema_errors(method: str, template: str, status: int, body: Any) -> list[str]:
    """What is wrong with ``body`` as the answer of an operation (empty: nothing)."""
    operation = openapi()["paths"][template][method.lower()]
    key = "200" if status == 200 else f"{str(status)[0]}XX"
    content = operation["responses"][key]["content"]
    if "application/json" not in content:
        return []
    pointer = f"{method} {template} {key}"
    if pointer not in _VALIDATORS:
        path = "/".join(
            p.replace("~", "~0").replace("/", "~1")
            for p in ("paths", template, method.lower(), "responses", key, "content",
                      "application/json", "schema")
        )
        _VALIDATORS[pointer] = Draft202012Validator(
            {"$ref": f"{SPEC_URI}#/{path}"}, registry=_REGISTRY
        )
    return [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in _VALIDATORS[pointer].iter_errors(body)
    ]


class SpecSession:
    """Calls one sandbox with one token; every answer is checked against the spec."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.checked: set[str] = set()  # operationIds whose answers were validated

    def close(self) -> None:
        self.session.close()

    def call(
        self,
        method: str,
        template: str,
        expect: int = 200,
        *,
        query: Any = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
        encoded: bool = False,
        **params: str,
    ) -> Any:
        """The answer's JSON (or the response, for a download)."""
        if encoded:
            template_sent = re.sub(r"\{owner\}/\{(\w+_name)\}", r"{owner}%2F{\1}", template)
        else:
            template_sent = template
        path = template_sent.format(**params)
        response = self.session.request(
            method,
            self.url + path,
            params=query,
            json=json,
            data=data,
            files=files,
            headers=headers,
            timeout=60,
        )
        assert response.status_code == expect, (method, path, response.text[:600])
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            return response
        body = response.json()
        if template.startswith("/api/"):
            errors = schema_errors(method, template, response.status_code, body)
            assert not errors, f"{method} {path}: " + "; ".join(errors[:5])
            operation = openapi()["paths"][template][method.lower()]
            self.checked.add(operation["operationId"])
        return body

    def pages(self, template: str, body: dict[str, Any], **params: str) -> list[dict[str, Any]]:
        """Every result of a POST query, following ``continuation`` in the body."""
        out: list[dict[str, Any]] = []
        body = dict(body)
        for _ in range(MAX_PAGES):
            page = self.call("POST", template, json=body, **params)
            out += page["results"]
            if not page.get("continuation"):
                return out
            body["continuation"] = page["continuation"]
        raise AssertionError("too many pages")

    def listing(self, owner: str, source_name: str) -> list[dict[str, Any]]:
        """Every comment of a source, through the real API's listing."""
        out: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 256}
        for _ in range(MAX_PAGES):
            page = self.call(
                "GET",
                "/api/_private/sources/{owner}/{source_name}/comments",
                query=query,
                owner=owner,
                source_name=source_name,
            )
            out += page["comments"]
            if not page.get("continuation"):
                return out
            query["after"] = page["continuation"]
        raise AssertionError("too many pages")
