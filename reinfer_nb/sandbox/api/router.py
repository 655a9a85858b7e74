"""The API as a WSGI application: bearer authentication, routing (404/405), handlers,
and JSON answers.

Every answer is JSON with ``status`` agreeing with the HTTP code; an unknown path gets
exactly ``{"message": "404 Not Found", "status": "error"}``.
"""

from __future__ import annotations

import hmac
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from . import comments, resources, streams
from .access import Call, User
from ..data.store import Store
from .validate import Refusal
from ..http.wsgi import encode, error_answer, json_answer, path_of

__all__ = ["API_ROUTES", "MAX_BODY", "NOT_FOUND", "Api", "Router"]

MAX_BODY = 16 * 1024 * 1024
NOT_FOUND = "404 Not Found"
Handler = Callable[..., dict[str, Any]]

_SOURCE = "/api/v1/sources/{owner}/{source}"
_DATASET = "/api/v1/datasets/{owner}/{dataset}"
_STREAM = _DATASET + "/streams/{stream}"
API_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/auth/user", resources.current_user),
    ("POST", "/auth/refresh-user-permissions", resources.refresh_permissions),
    ("GET", "/api/v1/users", resources.list_users_v1),
    ("GET", "/api/_private/users", resources.list_users),
    ("GET", "/api/_private/users/{user_id}", resources.get_user),
    ("GET", "/api/v1/projects", resources.list_projects_v1),
    ("GET", "/api/_private/projects", resources.list_projects),
    ("GET", "/api/_private/projects/{project}", resources.get_project),
    ("GET", "/api/v1/sources", resources.list_sources),
    ("GET", "/api/v1/sources/id:{source_id}", resources.get_source_by_id),
    ("GET", "/api/v1/sources/{owner}", resources.list_project_sources),
    ("GET", _SOURCE, resources.get_source),
    ("PUT", _SOURCE, resources.create_source),
    ("POST", _SOURCE, resources.update_source),
    ("GET", "/api/_private/sources/{owner}/{source}/comments", comments.list_comments),
    ("PUT", "/api/_private/sources/{owner}/{source}/comments", comments.add_comments),
    ("GET", _SOURCE + "/comments", comments.list_comments),
    ("DELETE", _SOURCE + "/comments", comments.delete_comments),
    ("GET", _SOURCE + "/comments/{comment_id}", comments.get_comment),
    ("POST", _SOURCE + "/sync", comments.sync_comments),
    ("GET", "/api/v1/datasets", resources.list_datasets),
    ("GET", "/api/v1/datasets/id:{dataset_id}", resources.get_dataset_by_id),
    ("GET", "/api/v1/datasets/{owner}", resources.list_project_datasets),
    ("GET", _DATASET, resources.get_dataset),
    ("PUT", _DATASET, resources.create_dataset),
    ("POST", _DATASET, resources.update_dataset),
    ("POST", "/api/_private/datasets/{owner}/{dataset}/query", comments.query_dataset),
    ("GET", "/api/_private/datasets/{owner}/{dataset}/labellings", comments.get_labellings),
    (
        "POST",
        "/api/_private/datasets/{owner}/{dataset}/labellings/{uid}",
        comments.update_labelling,
    ),
    ("GET", _DATASET + "/streams", streams.list_streams),
    ("PUT", _DATASET + "/streams", streams.create_stream),
    ("GET", _STREAM, streams.get_stream),
    ("POST", _STREAM, streams.update_stream),
    ("DELETE", _STREAM, streams.delete_stream),
    ("POST", _STREAM + "/fetch", streams.fetch_stream),
    ("GET", _STREAM + "/results", streams.stream_results),
    ("POST", _STREAM + "/advance", streams.advance_stream),
    ("POST", _STREAM + "/reset", streams.reset_stream),
]
# The legacy names of the stream routes ("triggers"), answering with "trigger(s)" keys.
API_ROUTES += [
    (
        method,
        template.replace("/streams/{stream}", "/triggers/{trigger}").replace(
            "/streams", "/triggers"
        ),
        streams.legacy_trigger(handler),
    )
    for method, template, handler in API_ROUTES
    if "/streams" in template and not template.endswith("/results")
]


class Router:
    """Path templates (``{name}`` is one segment) to handlers; the first match wins."""

    def __init__(self, routes: Iterable[tuple[str, str, Handler]]) -> None:
        self._routes = [
            (method, _compile(template), handler) for method, template, handler in routes
        ]

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = []
        for route_method, pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if route_method == method:
                return handler, m.groupdict()
            allowed.append(route_method)
        if not allowed:
            raise Refusal(404, NOT_FOUND)
        methods = ", ".join(dict.fromkeys(allowed))
        raise Refusal(
            405, f"Method {method} is not allowed on {path}; use {methods}.", {"Allow": methods}
        )


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    )


class Api:
    """Authenticates each call, routes it and turns the handler's answer into JSON."""

    def __init__(
        self, store: Store, tokens: dict[str, str], routes: Iterable[tuple[str, str, Handler]]
    ) -> None:
        self.store = store
        self._tokens = list(tokens.items())  # token -> username
        self.router = Router(routes)

    def authenticate(self, environ: dict[str, Any]) -> User:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            for known, username in self._tokens:
                if hmac.compare_digest(token.encode(), known.encode()):
                    return User(self.store.users[username])
        raise Refusal(
            401,
            "Unauthorized: missing or invalid API token. Send 'Authorization: Bearer <token>'.",
            {"WWW-Authenticate": "Bearer"},
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = path_of(environ)
        try:
            user = self.authenticate(environ)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY:
                raise Refusal(
                    413,
                    f"Request body too large ({length} bytes); send at most "
                    f"{MAX_BODY} bytes per request.",
                )
            handler, params = self.router.match(method, path)
            body = environ["wsgi.input"].read(length) if length else b""
            call = Call(self.store, user, method, path, environ.get("QUERY_STRING", ""), body)
            payload = handler(call, **params)
            with self.store.lock:  # resources may change while they are being encoded
                body = encode({"status": "ok", **payload})
        except Refusal as refusal:
            return error_answer(start_response, refusal.status, refusal.message, refusal.headers)
        except Exception:  # a sandbox bug: answer like the platform, keep the traceback
            environ["wsgi.errors"].write(traceback.format_exc())
            return error_answer(
                start_response,
                500,
                "500 Internal Server Error: the sandbox "
                "failed on this request (a bug; see its log).",
            )
        return json_answer(start_response, 200, body)
