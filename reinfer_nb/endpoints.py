"""Tenant endpoints: turn what users paste into one tenant root, and join API paths to it.

The tenant root is the URL to which ``/api/...`` and ``/auth/...`` are appended:

* UiPath cloud: ``https://cloud.uipath.com/<org>/<tenant>/reinfer_``
* Re:infer domains: ``https://<domain>.reinfer.io``
* anything else, such as the local sandbox ``http://127.0.0.1:8000``

HTTPS is required except on loopback, and :meth:`Endpoint.join` refuses any path that
would send the token to another origin or escape the tenant root.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .errors import ConfigError

__all__ = ["Endpoint", "is_loopback_host", "normalise_endpoint"]

_API_PREFIXES = ("api/", "auth/")
# Shorthands users type for the API's route families.
_SHORT_PREFIXES = ("v1/", "_private/", "preview/")
_UIPATH_HOST = re.compile(r"^([a-z0-9-]+\.)*uipath\.com$")
_DOMAIN_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_LIKE = re.compile(r"^[a-z0-9.-]+(:\d+)?(/.*)?$", re.IGNORECASE)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
# Characters kept as they are in a path; everything else is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and literal loopback addresses (127.0.0.0/8, ::1); no DNS.

    Other names ending in ``.localhost`` are not trusted: a resolver may send them
    anywhere, and plain HTTP to them would carry the token off the machine.
    """
    host = host.strip("[]").lower().removesuffix(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """A normalised tenant root such as ``https://acme.reinfer.io``."""

    scheme: str
    host: str
    port: int | None
    base_path: str  # "" or "/org/tenant/reinfer_" (no trailing slash)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")

    @property
    def root(self) -> str:
        """The tenant root URL, without a trailing slash."""
        return self.origin + self.base_path

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        return self.root

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Normalise a pasted URL (see :func:`normalise_endpoint`)."""
        return normalise_endpoint(text)

    @classmethod
    def uipath(cls, org: str, tenant: str, *, host: str = "cloud.uipath.com") -> Endpoint:
        """The UiPath cloud tenant ``https://cloud.uipath.com/<org>/<tenant>/reinfer_``."""
        for label, value in (("organisation", org), ("tenant", tenant)):
            if not value or not re.fullmatch(r"[A-Za-z0-9._~-]+", value):
                raise ConfigError(
                    f"Invalid UiPath {label} name {value!r}: use the name as it appears in "
                    "your cloud.uipath.com URL (letters, digits, '-', '_', '.')."
                )
        return normalise_endpoint(f"https://{host}/{org}/{tenant}/reinfer_")

    @classmethod
    def reinfer_io(cls, domain: str) -> Endpoint:
        """The Re:infer tenant ``https://<domain>.reinfer.io``."""
        name = domain.strip().lower().removesuffix(".reinfer.io")
        if not _DOMAIN_NAME.match(name):
            raise ConfigError(
                f"Invalid Re:infer domain {domain!r}: give the first part of "
                "<domain>.reinfer.io, such as 'acme'."
            )
        return normalise_endpoint(f"https://{name}.reinfer.io")

    def join(self, path: str) -> str:
        """The full URL of an API path.

        Accepts ``/api/v1/x``, ``api/v1/x``, ``v1/x``, ``_private/x``, ``/auth/user``, or a
        full URL of this endpoint's origin. Raises :class:`ConfigError` for another origin,
        for paths that escape the tenant root, and for paths that are not API paths.
        """
        if not isinstance(path, str):
            raise ConfigError(f"The path must be text, not {type(path).__name__}.")
        text = path.strip()
        if not text:
            raise ConfigError("The path is empty: give an API path such as /api/v1/datasets.")
        if _UNSAFE.search(text):
            raise ConfigError(
                f"The path {_clip(text)!r} contains spaces, control characters or backslashes: "
                "URL-encode values (use {var} interpolation) or remove them."
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(
                f"The path {_clip(text)!r} contains a lone surrogate (\\ud800-\\udfff), which no "
                "URL can carry: remove it."
            ) from None
        text = text.split("#", 1)[0]
        if text.startswith("//") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
            text = self._strip_same_origin(text)
        relative = text.lstrip("/")
        if relative.startswith(_SHORT_PREFIXES):
            relative = "api/" + relative
        route = relative.split("?", 1)[0]
        if not (relative.startswith(_API_PREFIXES) or route in ("api", "auth")):
            raise ConfigError(
                f"{_clip(path)!r} is not an API path: start it with /api/v1/..., v1/..., "
                "_private/... or /auth/... (for example /api/v1/datasets)."
            )
        if _BAD_PERCENT.search(relative):
            raise ConfigError(
                f"The path {_clip(path)!r} has a '%' that is not a %XX escape: write it as %25."
            )
        segments = unquote(route).split("/")
        if any(seg in (".", "..") for seg in segments):
            raise ConfigError(
                f"The path {_clip(path)!r} tries to leave the API root ('..' or '.'): "
                "give the resource path itself."
            )
        return f"{self.root}/{quote(relative, safe=_PATH_SAFE + '?')}"

    def _strip_same_origin(self, url: str) -> str:
        """Reduce a full URL of this endpoint to its path below the tenant root."""
        if url.startswith("//"):
            url = f"{self.scheme}:{url}"
        url, _, query = url.partition("?")
        try:
            other = normalise_endpoint(url, strip_api=False)
        except ConfigError as exc:
            raise ConfigError(f"Refusing the URL {_clip(url)!r}: {exc}") from None
        if other.origin != self.origin:
            raise ConfigError(
                f"Refusing to send the token to {other.origin}: the configured endpoint is "
                f"{self.origin}. Use a path such as /api/v1/... or log in to that endpoint."
            )
        below = other.base_path
        if self.base_path and not (below + "/").startswith(self.base_path + "/"):
            raise ConfigError(
                f"The URL {_clip(url)!r} is outside the tenant root {self.root}: "
                "use a path such as /api/v1/..."
            )
        rest = below[len(self.base_path):]
        return rest + (f"?{query}" if query else "")


def normalise_endpoint(text: str, *, strip_api: bool = True) -> Endpoint:
    """Normalise a pasted tenant URL to an :class:`Endpoint`.

    ``https://cloud.uipath.com/org/tenant/reinfer_/api/`` and
    ``https://cloud.uipath.com/org/tenant/reinfer_`` give the same endpoint, as do
    ``acme.reinfer.io``, ``https://acme.reinfer.io/api/v1/`` and ``https://ACME.reinfer.io/``.
    Raises :class:`ConfigError` for plain HTTP to a non-loopback host, credentials or a
    query in the URL, and text that is not a URL.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(
            "No endpoint given: use the tenant URL, such as "
            "https://cloud.uipath.com/<org>/<tenant>/reinfer_ or https://<domain>.reinfer.io."
        )
    raw = text.strip()
    if _UNSAFE.search(raw):
        raise ConfigError(f"The endpoint {_clip(raw)!r} contains spaces or control characters.")
    if "://" not in raw:
        if not _HOST_LIKE.match(raw) or "." not in raw.split("/")[0] and not raw.startswith(
            "localhost"
        ):
            raise ConfigError(
                f"{_clip(raw)!r} is not a URL: give the tenant URL, such as "
                "https://<domain>.reinfer.io (or use --domain NAME / --org ORG --tenant TENANT)."
            )
        host_part = raw.split("/")[0].split(":")[0]
        raw = ("http://" if is_loopback_host(host_part) else "https://") + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"The endpoint {_clip(raw)!r} is not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"The endpoint {_clip(raw)!r} must be an http(s) URL with a host, such as "
            "https://<domain>.reinfer.io."
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "The endpoint URL contains credentials (user:password@): remove them; the token "
            "is sent in the Authorization header."
        )
    if parts.query:
        raise ConfigError(
            f"The endpoint {_clip(raw)!r} has a query string: give the tenant URL alone."
        )
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"Refusing plain http:// to {host}: the token would cross the network unencrypted. "
            "Use https:// (plain HTTP is allowed only to loopback, such as the sandbox)."
        )
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    segments = [seg for seg in parts.path.split("/") if seg]
    if any(seg in (".", "..") for seg in segments):
        raise ConfigError(f"The endpoint {_clip(raw)!r} contains '.' or '..' segments.")
    if strip_api:
        segments = _tenant_segments(host, segments)
    base_path = "".join(f"/{seg}" for seg in segments)
    return Endpoint(scheme=scheme, host=host, port=port, base_path=base_path)


def _tenant_segments(host: str, segments: list[str]) -> list[str]:
    """The path segments of the tenant root within a pasted URL's path."""
    if "reinfer_" in segments:
        return segments[: segments.index("reinfer_") + 1]
    if _UIPATH_HOST.match(host) and len(segments) == 2:
        # https://cloud.uipath.com/<org>/<tenant>: the API lives under reinfer_.
        return [*segments, "reinfer_"]
    for marker in ("api", "auth"):
        if marker in segments:
            return segments[: segments.index(marker)]
    return segments


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
