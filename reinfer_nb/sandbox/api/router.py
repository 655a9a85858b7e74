"""The API as a WSGI application: bearer authentication, spec routing, request validation,
handlers and JSON answers.

Every answer is JSON with ``status`` agreeing with the HTTP code (binary downloads aside);
an unknown path gets exactly ``{"message": "404 Not Found", "status": "error"}``, a known
path with a method the spec does not list gets 405 with ``Allow``, and a spec operation
the sandbox does not implement gets 501 saying so.
"""

from __future__ import annotations

import hmac
import json
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from ...spec import openapi
from ..data.store import Store
from .access import Blob, Call, User
from .operations import AUTH_ROUTES, HANDLERS
from .routing import NOT_FOUND, Handler, Router, SpecRouter
from .validate import Refusal, check_request

__all__ = ["API_ROUTES", "MAX_BODY", "NOT_FOUND", "Api", "Router", "SpecRouter"]

MAX_BODY = 16 * 1024 * 1024

# The spec's operations, plus the platform's /auth routes (outside the spec's /api paths;
# every client checks its login with GET /auth/user).
API_ROUTES = SpecRouter(openapi, HANDLERS, AUTH_ROUTES)


class Api:
    """Authenticates each call, routes it, validates it and turns the answer into JSON."""

    def __init__(
        self,
        store: Store,
        tokens: dict[str, str],
        routes: Router | Iterable[tuple[str, str, Handler]],
    ) -> None:
        self.store = store
        self._tokens = list(tokens.items())  # token -> username
        self.router = routes if isinstance(routes, Router) else Router(routes)

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
        # PEP 3333: the decoded path as latin-1 bytes, so "%2F" is already a "/" here.
        path = str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8", "replace")
        try:
            user = self.authenticate(environ)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY:
                raise Refusal(
                    413,
                    f"Request body too large ({length} bytes); send at most "
                    f"{MAX_BODY} bytes per request.",
                )
            match = self.router.match(method, path)
            raw = environ["wsgi.input"].read(length) if length else b""
            call = Call(
                self.store,
                user,
                method,
                path,
                environ.get("QUERY_STRING", ""),
                raw,
                environ.get("CONTENT_TYPE", ""),
            )
            if match.operation is not None:
                check_request(match.operation, call)
            payload = match.handler(call, **match.params)
            if isinstance(payload, Blob):
                return _answer(start_response, 200, payload.data, payload.content_type)
            with self.store.lock:  # resources may change while they are being encoded
                body = _encode({"status": "ok", **payload})
        except Refusal as refusal:
            error = _encode({"message": refusal.message, "status": "error"})
            return _answer(start_response, refusal.status, error, headers=refusal.headers)
        except Exception:  # a sandbox bug: answer like the platform, keep the traceback
            environ["wsgi.errors"].write(traceback.format_exc())
            error = _encode(
                {
                    "message": "500 Internal Server Error: the sandbox failed on this "
                    "request (a bug; see its log).",
                    "status": "error",
                }
            )
            return _answer(start_response, 500, error)
        return _answer(start_response, 200, body)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _answer(
    start_response: Callable[..., Any],
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> list[bytes]:
    try:
        line = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        line = f"{status} Error"
    start_response(
        line,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            *(headers or {}).items(),
        ],
    )
    return [body]
