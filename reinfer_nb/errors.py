"""Errors raised by reinfer_nb.

::

    ReinferError
    ├── ApiError        the platform answered {"status": "error", "message": ...}
    ├── NetworkError    no answer from the platform: refused, DNS, TLS, timeout, reset,
    │                   or an answer that is not the platform's (a proxy's HTML page,
    │                   non-JSON, JSON without "status", a cut-short body)
    └── ConfigError     no or bad endpoint, token or path (also a ValueError)

Every error renders as one line in IPython (``_render_traceback_``), so a failing cell
shows what happened and what to do, not a traceback. Messages never contain the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .timing import TimingRecord

__all__ = ["ApiError", "ConfigError", "NetworkError", "ReinferError"]


class ReinferError(Exception):
    """Base class of every error this package raises on purpose."""

    kind = "error"
    #: The ``Retry-After`` header of the failing answer, if any.
    retry_after: str | None = None
    #: For a failed pagination: the page that failed (1-based) and the items before it.
    page: int | None = None
    items_before: int = 0

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        http_status: int | None = None,
        timing: TimingRecord | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.http_status = http_status
        self.timing = timing
        self.attempts = attempts

    @property
    def server_ms(self) -> float | None:
        """The platform's own processing time for the failing attempt, if it said."""
        return self.timing.server_ms if self.timing is not None else None

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback.
        return [f"{type(self).__name__}: {self.message}"]


class ApiError(ReinferError):
    """The platform answered with ``{"status": "error", "message": ...}``."""

    kind = "api"

    def __init__(self, message: str, *, payload: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.payload = payload


class NetworkError(ReinferError):
    """The request did not get an answer from the platform.

    ``reason`` is one of ``refused``, ``dns``, ``tls``, ``connect_timeout``,
    ``read_timeout``, ``reset``, ``truncated``, ``proxy``, ``not_json``, ``no_status``,
    ``too_deep``, ``bad_protocol``, ``redirect`` or ``connection``.
    """

    kind = "network"

    def __init__(self, message: str, *, reason: str = "connection", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class ConfigError(ReinferError, ValueError):
    """No or bad endpoint, token, path or option: fix the input and try again."""

    kind = "config"
