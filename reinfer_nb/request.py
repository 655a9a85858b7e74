"""One API request as it would be sent, without its token: to show it, or share it as curl.

:meth:`Client.prepare <reinfer_nb.client.Client.prepare>` builds a :class:`Request` the
same way a call is built (same URL joining, parameters, JSON encoding and headers) and sends
nothing; every timing record keeps one too, so a call already made can be rebuilt.

>>> request = client.prepare("GET", "/api/v1/datasets")         # doctest: +SKIP
>>> print(request.describe())        # method, full URL, headers (token masked), body
>>> print(request.curl())            # curl ... -H "Authorization: Bearer $REINFER_TOKEN"

A :class:`Request` never holds the token: the ``Authorization`` header is dropped when it
is built and only the token's masked hint is kept, for :meth:`Request.describe`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .credentials import TOKEN_ENV_VAR
from .errors import ConfigError

__all__ = ["KEEP_BODY_BYTES", "Request"]

#: Bodies up to this size are kept with a timing record (larger ones are not: a bulk
#: upload's body would fill the log), so ``%reinfer_timing --curl N`` can rebuild the call.
KEEP_BODY_BYTES = 64 * 1024

# Headers curl sets by itself (or that describe the connection, not the call).
_CURL_SKIPS = frozenset({"content-length", "connection", "accept-encoding", "user-agent", "host"})
# Characters curl's URL globbing would read as patterns.
_GLOB = frozenset("[]{}")
_SHOWN_BODY_CHARS = 4000


@dataclass(frozen=True)
class Request:
    """Method, full URL, headers (no ``Authorization``) and body of one API request.

    ``token_hint`` is the token's masked hint (``…e5dd``); ``body_omitted`` the size of a
    body that was not kept. ``insecure`` and ``ca_bundle`` are the client's transport
    settings that a curl command must repeat to reach the same place; ``no_proxy`` is set
    for plain-HTTP (loopback) endpoints, which never use a proxy. A proxy is not kept (its
    URL may hold a password): curl takes it from ``HTTPS_PROXY`` as the client does.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    token_hint: str = "…"
    body_omitted: int = 0
    insecure: bool = False
    ca_bundle: str | None = None
    no_proxy: bool = False

    @classmethod
    def from_prepared(
        cls,
        prepared: Any,
        *,
        token_hint: str,
        secret: str | None = None,
        keep_body: int | None = None,
        transport: Mapping[str, Any] | None = None,
    ) -> Request:
        """The description of a ``requests.PreparedRequest``, without its token.

        ``secret`` (the token) is only used to leave it out: a header that carries it is
        dropped, and in the URL and the body it is replaced by ``token_hint``;
        ``keep_body`` bounds the body kept (None: keep it whole); ``transport`` holds the
        client's ``insecure``/``ca_bundle``/``no_proxy`` settings.
        """
        headers = tuple(
            (str(name), str(value))
            for name, value in prepared.headers.items()
            if name.lower() != "authorization" and not (secret and secret in str(value))
        )
        body = prepared.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):
            body = None  # a stream or a file: not something a log can keep
        omitted = 0
        if body is not None and keep_body is not None and len(body) > keep_body:
            omitted, body = len(body), None
        url = str(prepared.url or "")
        if secret:  # a token pasted into the path or the body is not kept either
            url = url.replace(secret, token_hint)
            if body is not None and secret.encode() in body:
                body = body.replace(secret.encode(), token_hint.encode())
        return cls(
            method=str(prepared.method or "GET"),
            url=url,
            headers=headers,
            body=body,
            token_hint=token_hint,
            body_omitted=omitted,
            **dict(transport or {}),
        )

    # -- showing it ---------------------------------------------------------------------

    def describe(self) -> str:
        """The request as text: method and full URL, headers (token masked), body."""
        lines = [f"{self.method} {self.url}"]
        lines += [f"{name}: {value}" for name, value in self._headers_with_auth()]
        body = self._body_text(pretty=True)
        if body:
            lines += ["", body]
        return "\n".join(lines)

    def curl(self, token_env: str = TOKEN_ENV_VAR) -> str:
        """The equivalent curl command; the token is ``$<token_env>``, never its value.

        Raises :class:`ConfigError` when the body was too large to keep.
        """
        if self.body_omitted:
            raise ConfigError(
                f"The body of this {self.method} ({self.body_omitted:,} bytes) was too large "
                f"to keep in the timing log, so the call cannot be rebuilt: use the magic's "
                "--curl option before sending it."
            )
        if not token_env.isidentifier():
            raise ConfigError(f"{token_env!r} is not an environment variable name.")
        parts = ["curl", "-sS"]
        if self.method != "GET":
            parts += ["-X", self.method]
        if any(char in _GLOB for char in self.url):
            parts.append("--globoff")
        parts.append(shlex.quote(self.url))
        lines = [" ".join(parts)]
        # Double quotes: the shell expands the variable; the token never appears here.
        lines.append(f'-H "Authorization: Bearer ${token_env}"')
        lines += [
            f"-H {shlex.quote(f'{name}: {value}')}"
            for name, value in self.headers if name.lower() not in _CURL_SKIPS
        ]
        if self.insecure:
            lines.append("--insecure")
        if self.ca_bundle:
            lines.append(f"--cacert {shlex.quote(self.ca_bundle)}")
        if self.no_proxy:
            lines.append("--noproxy '*'")
        if self.body is not None:
            lines.append(f"--data-raw {shlex.quote(self.body.decode('utf-8', 'replace'))}")
        return " \\\n  ".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Method, URL, headers (no token) and the body as text (None if none or not kept)."""
        return {
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self._body_text(pretty=False, bounded=False) or None,
        }

    def __repr__(self) -> str:
        return f"Request({self.method} {self.url})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.describe())

    # -- helpers ------------------------------------------------------------------------

    def _headers_with_auth(self) -> list[tuple[str, str]]:
        headers = list(self.headers)
        headers.append(("Authorization", f"Bearer {self.token_hint}"))
        return sorted(headers, key=lambda item: item[0].lower())

    def _body_text(self, *, pretty: bool, bounded: bool = True) -> str:
        if self.body_omitted:
            return f"({self.body_omitted:,} bytes of body, not kept)"
        if self.body is None:
            return ""
        text = self.body.decode("utf-8", "replace")
        if pretty:
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        if bounded and len(text) > _SHOWN_BODY_CHARS:
            text = text[:_SHOWN_BODY_CHARS] + f"\n… ({len(self.body):,} bytes in all)"
        return text
