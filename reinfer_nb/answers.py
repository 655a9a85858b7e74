"""How one HTTP exchange becomes data or an error.

* :func:`decode_answer`: the body as JSON, or a :class:`Failure` saying whose answer it is
  not (a proxy's HTML page, non-JSON, cut-short or absurdly nested JSON).
* :func:`check_status`: the platform's ``status`` field against the HTTP code; an error
  answer becomes a :class:`Failure` with what to do about it.
* :func:`map_requests_error`: the one place that turns requests' exceptions into
  failures (refused, DNS, TLS, timeouts, reset, truncated).

A :class:`Failure` describes one failed attempt. The client decides from it whether to try
again, and builds the error to raise from it once, when it gives up
(:meth:`Failure.to_error`), so every error's message is composed in one place.
"""

from __future__ import annotations

import dataclasses
import json as jsonlib
import re
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, ReadTimeoutError

from .endpoints import Endpoint
from .errors import ApiError, ConfigError, NetworkError, Reason, ReinferError

if TYPE_CHECKING:
    from .timing import TimingRecord

__all__ = ["Failure", "check_status", "decode_answer", "map_requests_error"]


@dataclass(frozen=True)
class Failure:
    """What went wrong with one attempt, before it becomes an error.

    ``text`` says what happened (for an API error: the platform's own message, verbatim
    but bounded, token-free); ``hint`` says what to do.
    """

    kind: Literal["api", "network", "config"]
    text: str
    hint: str = ""
    reason: Reason | None = None
    http_status: int | None = None
    payload: Any = None
    retry_after: str | None = None

    def redacted(self, hide: Callable[[str], str]) -> Failure:
        """This failure with ``hide`` applied to its text (a server may echo a secret)."""
        text, hint = hide(self.text), hide(self.hint)
        if (text, hint) == (self.text, self.hint):
            return self
        return dataclasses.replace(self, text=text, hint=hint)

    def to_error(
        self,
        method: str,
        path: str,
        *,
        timing: TimingRecord | None = None,
        attempts: int = 1,
        not_resent: bool = False,
    ) -> ReinferError:
        """The error to raise for this failure: its one-line message, detail and hint.

        An API error's message is one short sentence, ``HTTP 500 from GET /api/v1/datasets
        after 2 attempts: <the platform's message>``; what to do is its ``hint`` (the error
        frame shows it). Network and config errors say what to do in the message too.
        """
        where = f"{method} {path}"
        hint = _sentence(self.hint)
        if not_resent:
            hint = " ".join(filter(None, [hint, (
                f"Not re-sent automatically: a {method} may already have taken effect; "
                "check before running it again."
            )]))
        if self.kind == "api":
            detail = self.text
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            said = _one_line(detail) or "no message"
            message = f"HTTP {self.http_status} from {where}{tries}: {said}"
            if not_resent:
                message += " (not re-sent: it may have taken effect)"
        else:
            detail = self.text.rstrip(" :;")
            message = " ".join(filter(None, [self.text, self.hint]))
            if not_resent:
                message += (
                    f" Not re-sent automatically: a {method} may already have taken effect; "
                    "check before running it again."
                )
            if attempts > 1:
                message += f" (gave up after {attempts} attempts)"
        common: dict[str, Any] = dict(
            method=method, path=path, http_status=self.http_status, timing=timing,
            attempts=attempts, detail=detail, hint=hint,
        )
        if self.kind == "api":
            return ApiError(message, payload=self.payload, retry_after=self.retry_after, **common)
        if self.kind == "config":
            return ConfigError(message, **common)
        return NetworkError(message, reason=self.reason or "connection", **common)


# The platform's message in the one-line error: whitespace collapsed, bounded.
_LINE_CHARS = 300


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…"


def _sentence(text: str) -> str:
    """A hint written to follow a clause ("check the endpoint.") as a sentence of its own."""
    text = text.strip()
    return text[:1].upper() + text[1:]


def decode_answer(body: bytes, response: requests.Response, path: str, method: str) -> Any:
    """Parse a JSON answer; anything else is a :class:`Failure` (not the platform's answer)."""
    status = response.status_code
    ctype = response.headers.get("Content-Type", "")
    host = urlsplit(response.url or "").netloc
    where = f"{method} {path}"
    try:
        try:
            data = jsonlib.loads(body)
        except UnicodeDecodeError:
            # Not UTF-8: the declared charset if Python knows it, else U+FFFD for bad bytes.
            try:
                text = body.decode(response.encoding or "utf-8", errors="replace")
            except LookupError:
                text = body.decode("utf-8", errors="replace")
            data = jsonlib.loads(text)
    except RecursionError:
        return Failure(
            "network",
            f"The JSON answer to {where} ({len(body)} bytes) is nested too deeply to read "
            f"(over {sys.getrecursionlimit()} levels), so it is not a platform answer;",
            "check the endpoint and any proxy in between.",
            reason="too_deep",
            http_status=status,
        )
    except ValueError:
        pass
    else:
        return _without_lone_surrogates(data) if _LONE_SURROGATE_ESCAPE.search(body) else data
    start = body.lstrip()[:15].lower()
    looks_html = "html" in ctype.lower() or start.startswith((b"<!doctype", b"<html"))
    if looks_html:
        return Failure(
            "network",
            f"HTTP {status} from {host} with an HTML page, not the platform's JSON: a proxy or "
            f"gateway answered for {where}.",
            "Retry later; if it persists check your network or proxy settings.",
            reason="proxy",
            http_status=status,
        )
    if "json" in ctype.lower() and body:
        return Failure(
            "network",
            f"The JSON answer to {where} is cut short or malformed ({len(body)} bytes): the "
            "connection probably dropped.",
            "Retry the call.",
            reason="truncated",
            http_status=status,
        )
    return Failure(
        "network",
        f"HTTP {status} from {host} is not JSON ({ctype or 'no content type'}, {len(body)} "
        f"bytes) for {where}, so it is not the Re:infer API:",
        "check that the endpoint is the tenant root (such as https://<domain>.reinfer.io).",
        reason="not_json",
        http_status=status,
    )


# A JSON escape of a UTF-16 surrogate: the answer may hold a lone one, which cannot be
# encoded as UTF-8 (so neither displayed in Jupyter nor saved); such answers are cleaned.
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(data: Any) -> Any:
    """``data`` with each lone surrogate in its strings replaced by U+FFFD (no recursion)."""

    def fix(value: Any) -> Any:
        return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value

    data = fix(data)
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in list(item):
                value = item.pop(key)
                item[fix(key)] = fix(value)
                stack.append(value)
        elif isinstance(item, list):
            item[:] = [fix(value) for value in item]
            stack.extend(item)
    return data


def _status_hint(status: int, retry_after: str | None) -> str:
    """What to do about an API error, by HTTP status."""
    if status == 429:
        value = (retry_after or "").strip()
        wait = (
            f"{value} s" if value.isdigit() and int(value) > 0
            else "a moment" if not value or value.isdigit() else f"until {value[:40]}"
        )
        return f"Rate limited by the platform: wait {wait}, then run the call again."
    if status >= 500:
        return "The platform failed to answer: run the call again later."
    return {
        400: "Check the path, the parameters and the body.",
        401: "The token was refused: check it (or regenerate it) and log in again.",
        403: "The token has no permission for this: ask for access or use another project.",
        404: "Check the path and the names in it.",
        409: "It conflicts with the current state (it may already exist or have changed): "
             "fetch it, then retry or choose another name.",
    }.get(status, "Check the request.")


# An API error's message as the platform sent it, up to this many characters.
_DETAIL_CHARS = 4000


def check_status(
    data: Any,
    status: int,
    method: str,
    path: str,
    retry_after: str | None = None,
    *,
    redact: Callable[[str], str] = str,
) -> Failure | None:
    """Classify a decoded answer by its ``status`` field and HTTP code (None: a success).

    ``redact`` hides secrets in the server's message (before it is shortened: a token cut
    in two would no longer be found) and in the payload kept with the error.
    """
    where = f"{method} {path}"
    flag = data.get("status") if isinstance(data, dict) else None
    if flag == "error":
        message = data.get("message")
        # Verbatim (the error frame shows it whole), but bounded against absurd answers;
        # Failure.to_error makes the one-line version. Redacted before it is cut: a token
        # cut in two would no longer be found.
        text = redact(message) if isinstance(message, str) else ""
        text = text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"
        return Failure(
            "api",
            text,
            _status_hint(status, retry_after),
            http_status=status,
            payload=_redact_payload(data, redact),
            retry_after=retry_after,
        )
    if flag == "ok" and 200 <= status < 300:
        return None
    if flag == "ok":
        return Failure(
            "network",
            f"HTTP {status} with status 'ok' for {where}: the answer contradicts itself;",
            "check the endpoint and any proxy in between.",
            reason="bad_protocol",
            http_status=status,
        )
    return Failure(
        "network",
        f"HTTP {status}: the JSON answer to {where} has no 'status' field, so it is not the "
        "Re:infer API:",
        "check that the endpoint is the tenant root.",
        reason="no_status",
        http_status=status,
    )


def _redact_payload(payload: Any, redact: Callable[[str], str]) -> Any:
    """``payload`` with ``redact`` applied to its JSON text (None if it cannot be encoded)."""
    try:
        text = jsonlib.dumps(payload)
    except (TypeError, ValueError, RecursionError):
        return None
    cleaned = redact(text)
    return payload if cleaned == text else jsonlib.loads(cleaned)


def _walk(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception, its wrapped reasons, causes and contexts (bounded)."""
    seen: set[int] = set()
    stack = [exc]
    while stack and len(seen) < 32:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        # ``reason`` is an exception in urllib3 but text in ssl.SSLError: keep exceptions only.
        linked = [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
        stack.extend(link for link in linked if isinstance(link, BaseException))


def map_requests_error(
    exc: requests.RequestException, method: str, path: str, endpoint: Endpoint
) -> Failure:
    """The one place that turns requests' exceptions into failures."""
    host = endpoint.host + (f":{endpoint.port}" if endpoint.port else "")
    where = f"{method} {path}"
    chain = list(_walk(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(item, types) for item in chain)

    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader,
                        requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)):
        return Failure("config", f"Invalid request for {where}: {exc.__class__.__name__}.")
    reason: Reason
    if has(NameResolutionError, socket.gaierror):
        reason, text, hint = "dns", (
            f"Cannot resolve the host {endpoint.host!r} (DNS lookup failed) for {where}:"
        ), "check the endpoint's spelling and your network connection."
    elif isinstance(exc, requests.exceptions.SSLError) or has(ssl.SSLError):
        reason, text, hint = "tls", (
            f"TLS handshake with {host} failed for {where} (certificate not trusted or not for "
            "this host):"
        ), (
            "check the endpoint; behind a proxy that inspects TLS, set REQUESTS_CA_BUNDLE to "
            "its CA file."
        )
    elif has(ConnectionRefusedError):
        reason, text, hint = "refused", (
            f"Connection refused by {host} for {where}: nothing is listening there."
        ), "Check the endpoint (and, for the sandbox, that it is running)."
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: refused goes first.
    elif isinstance(exc, requests.exceptions.ConnectTimeout) or has(ConnectTimeoutError):
        reason, text, hint = "connect_timeout", (
            f"Could not connect to {host} within the timeout for {where}:"
        ), "check the endpoint and your network, or raise the timeout."
    elif isinstance(exc, requests.exceptions.ReadTimeout) or has(ReadTimeoutError):
        reason, text, hint = "read_timeout", (
            f"No answer from {host} within the timeout for {where}: the platform may be busy;"
        ), "retry later or raise the timeout (%config ReinferMagics.timeout)."
    elif has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError) or any(
        type(item).__name__ == "RemoteDisconnected" for item in chain
    ):
        reason, text, hint = "reset", (
            f"The connection to {host} was reset during {where}:"
        ), "retry; if it keeps happening, check proxies or VPN."
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError) or has(
        requests.exceptions.ContentDecodingError
    ):
        reason, text, hint = "truncated", (
            f"The answer to {where} from {host} was cut short (the connection dropped mid-"
            "answer):"
        ), "retry the call."
    else:
        reason, text, hint = "connection", (
            f"Network failure talking to {host} for {where} ({exc.__class__.__name__}):"
        ), "check the endpoint and your network, then retry."
    return Failure("network", text, hint, reason=reason)
