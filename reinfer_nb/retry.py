"""When the client tries a call again, and how long it waits: one frozen policy object.

>>> policy = RetryPolicy(timeout=5, retries=2)
>>> policy.replace(retries=0).retries
0
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from .errors import ConfigError, Reason

if TYPE_CHECKING:
    from .answers import Failure

__all__ = ["RetryPolicy", "SharedPause"]

_RETRY_AFTER = Retry(0)  # parses Retry-After (seconds or an HTTP date)


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts, retries and waits for the calls of a :class:`~reinfer_nb.client.Client`.

    * ``timeout``: seconds per attempt;
    * ``retries``: further attempts after the first, for failures that may succeed later
      (5xx, 429, connection failures);
    * ``backoff``: the first wait, doubled at each retry;
    * ``retry_after_cap``: the longest ``Retry-After`` honoured, in seconds;
    * ``budget``: no new attempt starts once this many seconds have passed since the
      first (``Retry-After`` waits excepted);
    * ``idempotent_methods``: methods that may be re-sent after a failure that may have
      reached the server;
    * ``not_sent``: failure reasons after which the request cannot have reached the server
      (any call may be re-sent); ``maybe_sent``: reasons after which it may have.
    """

    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    retry_after_cap: float = 30.0
    budget: float = 20.0
    idempotent_methods: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
    not_sent: frozenset[Reason] = frozenset({"refused", "connect_timeout"})
    maybe_sent: frozenset[Reason] = frozenset({"read_timeout", "reset", "truncated", "connection"})

    def __post_init__(self) -> None:
        for name in ("timeout", "backoff", "retry_after_cap", "budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0
            ):
                raise ConfigError(f"{name} must be a finite number of seconds >= 0, not {value!r}.")
        if self.timeout <= 0:
            raise ConfigError(f"timeout must be more than 0 seconds, not {self.timeout!r}.")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"retries must be a whole number >= 0, not {self.retries!r}.")

    def replace(self, **changes: object) -> RetryPolicy:
        """A copy with some settings changed (validated like the original)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def is_idempotent(self, method: str) -> bool:
        return method.upper() in self.idempotent_methods

    def may_retry(self, failure: Failure, *, idempotent: bool) -> bool:
        """Whether ``failure`` is worth another attempt of a call (idempotent or not)."""
        if failure.kind == "network":
            if failure.reason in self.not_sent:
                return True
            if failure.reason in self.maybe_sent:
                return idempotent
            return failure.reason == "proxy" and idempotent and (failure.http_status or 0) >= 500
        if failure.kind == "api":
            status = failure.http_status or 0
            return idempotent and (status == 429 or status >= 500)
        return False

    def wait(self, attempt: int, retry_after: str | None) -> tuple[float, bool]:
        """Seconds to wait after failed attempt number ``attempt``, and whether the
        server's ``Retry-After`` chose them (such waits do not count against the budget)."""
        if retry_after:
            try:
                seconds = _RETRY_AFTER.parse_retry_after(retry_after)
            except (InvalidHeader, ValueError, OverflowError):  # a bad header: backoff
                seconds = None
            if seconds is not None:
                return min(max(seconds, 0.0), self.retry_after_cap), True
        return self.backoff * (2 ** (attempt - 1)), False


class SharedPause:
    """A pause that every thread using one client honours (thread-safe).

    When the platform rate-limits one call (429), the client holds the pause for the wait
    it asks; the other workers of a parallel pull wait it out before their next attempt,
    instead of each running into the limit on its own.
    """

    def __init__(self) -> None:
        self._until = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Pause every thread for ``seconds`` from now (a longer pause already held stays)."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> float:
        """Sleep until the pause is over; return the seconds slept."""
        slept = 0.0
        while True:
            left = self._until - time.monotonic()
            if left <= 0:
                return slept
            time.sleep(min(left, 0.5))  # re-read: another 429 may extend the pause
            slept += min(left, 0.5)
