"""WSGI helpers shared by the sandbox's layers: the request path and JSON answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

__all__ = ["encode", "error_answer", "json_answer", "path_of", "status_line"]


def path_of(environ: dict[str, Any]) -> str:
    """The decoded request path (``%2F`` already a ``/``), as text."""
    return str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8", "replace")


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_answer(
    start_response: Callable[..., Any],
    status: int,
    payload: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
) -> list[bytes]:
    """Answer with ``payload`` (a dict, or JSON already encoded by :func:`encode`)."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    start_response(
        status_line(status),
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *(headers or {}).items(),
        ],
    )
    return [body]


def error_answer(
    start_response: Callable[..., Any],
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> list[bytes]:
    """The platform's error body: ``{"message": ..., "status": "error"}``."""
    return json_answer(start_response, status, {"message": message, "status": "error"}, headers)
