"""Where a session is logged in, and how its calls went: what ``%reinfer_status`` shows.

The token appears only as its masked hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .timing import summarize

if TYPE_CHECKING:
    from .login import Login
    from .timing import TimingLog

__all__ = ["SessionStatus", "session_status"]


@dataclass(frozen=True)
class SessionStatus:
    """A login's endpoint, user, kind (sandbox or tenant), context and token hint, and the
    calls made to that endpoint in this session (count, median server time)."""

    endpoint: str
    user: str
    kind: str
    why: str
    context: str | None
    token_hint: str
    calls: int
    server_median_ms: float | None
    calls_logged: int
    check_spec: bool

    def lines(self) -> list[str]:
        median = (f"; median server time {self.server_median_ms:.1f} ms"
                  if self.server_median_ms is not None else "")
        others = self.calls_logged - self.calls
        logged = f" ({others} more to other endpoints in the timing log)" if others else ""
        return [
            f"Endpoint  {self.endpoint}",
            f"User      {self.user}",
            f"Kind      {self.kind} ({self.why})",
            f"Context   {self.context or '(none)'}",
            f"Token     {self.token_hint}",
            f"Calls     {self.calls} this session{median}{logged}",
            f"Checks    {'on' if self.check_spec else 'off'} (calls checked against the "
            "API spec before sending)",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def session_status(
    login: Login,
    *,
    user: Mapping[str, Any] | None,
    timing_log: TimingLog,
    check_spec: bool,
) -> SessionStatus:
    """The status of ``login`` (``user``: the answer of its check, if it ran)."""
    root = login.endpoint.root
    records = [record for record in timing_log if record.endpoint == root]
    summary = summarize(records)
    if login.is_sandbox:
        kind = "embedded sandbox: sample data, not a real tenant"
    elif login.endpoint.is_loopback:
        kind = "a server on this machine (a sandbox?)"
    else:
        kind = "tenant"
    who = (user or {}).get("username") or (user or {}).get("email") or "(not checked)"
    return SessionStatus(
        endpoint=root,
        user=str(who),
        kind=kind,
        why=login.why,
        context=login.context_name,
        token_hint=login.token.hint,
        calls=summary.calls,
        server_median_ms=summary.server_median_ms,
        calls_logged=len(timing_log),
        check_spec=check_spec,
    )
