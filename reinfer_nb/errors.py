"""Errors raised by reinfer_nb.

::

    ReinferError
    ├── ApiError          the platform answered {"status": "error", "message": ...}
    ├── NetworkError      no answer from the platform: refused, DNS, TLS, timeout, reset,
    │                     or an answer that is not the platform's (a proxy's HTML page,
    │                     non-JSON, JSON without "status", a cut-short body)
    ├── ConfigError       no or bad endpoint, token, path or option (also a ValueError)
    ├── PaginationError   a page of a multi-page pull failed (the cause is chained)
    └── LoginError        the login check failed (the cause is chained)

    KeyboardInterrupt
    └── FetchInterrupted  Ctrl-C during a multi-page pull; ``.pages`` keeps what was fetched

One vocabulary names what went wrong:

* ``kind``: which side failed, one of :data:`KINDS` (``api``, ``network``, ``config``); it is
  the ``kind`` column of an error frame, and a timing record's ``outcome`` is ``"ok"`` or the
  kind of its failure;
* ``reason``: why a network failure happened, one of :data:`REASONS`.

Each error is built once, where it is raised, with its whole message; nothing edits it
afterwards. Besides the one-line ``message``, an error keeps its parts: ``detail`` (what
happened; for an API error the platform's own message, verbatim) and ``hint`` (what to
do), which the error frame shows in columns of their own. Every error renders as one
line in IPython (``_render_traceback_``), so a failing cell shows what happened and what
to do, not a traceback. Messages never contain the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from .results import Pages
    from .timing import TimingRecord

__all__ = [
    "KINDS",
    "REASONS",
    "ApiError",
    "ConfigError",
    "FetchInterrupted",
    "Kind",
    "LoginError",
    "NetworkError",
    "PaginationError",
    "Reason",
    "ReinferError",
]

Kind = Literal["api", "network", "config"]
Reason = Literal[
    "refused",          # nothing listens at the host and port
    "dns",              # the host name does not resolve
    "tls",              # the TLS handshake failed (untrusted or wrong certificate)
    "connect_timeout",  # no connection within the timeout
    "read_timeout",     # no (whole) answer within the timeout
    "reset",            # the connection was reset or closed before the answer
    "truncated",        # the answer was cut short
    "proxy",            # a proxy or gateway answered with an HTML page
    "not_json",         # the answer is not JSON
    "no_status",        # JSON without the platform's "status" field
    "too_deep",         # JSON nested too deeply to be a platform answer
    "too_large",        # the answer is larger than the configured maximum
    "bad_protocol",     # an answer that contradicts itself, or a paging loop
    "redirect",         # a redirect to another host, or too many redirects
    "connection",       # any other failure of the connection
]
KINDS: tuple[Kind, ...] = get_args(Kind)
REASONS: tuple[Reason, ...] = get_args(Reason)


class ReinferError(Exception):
    """Base class of every error this package raises on purpose.

    ``message`` is the whole one-line message; ``detail`` what happened (default: the
    message) and ``hint`` what to do (may be empty); ``method`` and ``path`` name the call,
    ``http_status`` its answer's status (if one arrived), ``timing`` the timing record of
    the last attempt and ``attempts`` how many attempts were made.
    """

    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        http_status: int | None = None,
        timing: TimingRecord | None = None,
        attempts: int = 1,
        detail: str | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = message if detail is None else detail
        self.hint = hint
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
    """The platform answered with ``{"status": "error", "message": ...}``.

    ``payload`` is the answer's JSON (token-free) and ``retry_after`` its ``Retry-After``
    header, if any.
    """

    kind = "api"

    def __init__(
        self,
        message: str,
        *,
        payload: Any = None,
        retry_after: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.payload = payload
        self.retry_after = retry_after


class NetworkError(ReinferError):
    """The request did not get an answer from the platform; ``reason`` says why."""

    kind = "network"

    def __init__(self, message: str, *, reason: Reason = "connection", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason: Reason = reason


class ConfigError(ReinferError, ValueError):
    """No or bad endpoint, token, path or option: fix the input and try again."""

    kind = "config"


class _Chained(ReinferError):
    """An error about a call whose failure is the chained ``cause``: same kind and call."""

    def __init__(self, message: str, cause: ReinferError, *, hint: str | None = None) -> None:
        super().__init__(
            message,
            method=cause.method,
            path=cause.path,
            http_status=cause.http_status,
            timing=cause.timing,
            attempts=cause.attempts,
            detail=cause.detail,
            hint=cause.hint if hint is None else hint,
        )
        self.cause = cause
        self.__cause__ = cause

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.cause.kind

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild an exception from its args; these take other arguments.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[_Chained], args: tuple[Any, ...], state: dict[str, Any]) -> _Chained:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    error.__cause__ = state.get("cause")
    return error


class PaginationError(_Chained):
    """A page of a multi-page pull failed after ``rows`` rows on the pages before it.

    ``page`` is the failing page (1-based); the failure itself is ``cause`` (also
    ``__cause__``): an :class:`ApiError` or :class:`NetworkError`.
    """

    def __init__(self, cause: ReinferError, *, page: int, rows: int) -> None:
        super().__init__(f"Stopped at page {page} after {rows} rows: {cause.message}", cause)
        self.page = page
        self.rows = rows


class LoginError(_Chained):
    """The login check (``GET /auth/user``) failed; the message says what to do.

    ``detail`` is the failed check's own detail; ``hint`` the login's advice if given.
    """


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C (the stop button) stopped a multi-page pull; ``pages`` holds what was fetched.

    It is a ``KeyboardInterrupt``, so the interrupt still stops the cell or script; catch it
    to keep the rows: ``except FetchInterrupted as stop: frame = pages_to_frame(stop.pages)``.
    """

    def __init__(self, pages: Pages) -> None:
        super().__init__(
            f"Interrupted at page {pages.stopped_at_page} after {pages.rows} rows; "
            "the rows fetched are kept."
        )
        self.pages = pages
