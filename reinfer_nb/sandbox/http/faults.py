"""Injectable faults: what goes wrong between a client and the platform, on demand.

A :class:`Fault` matches calls by path (a regex searched in the decoded path) and method.
It fires on the next ``times`` matching calls (1 by default), or on a seeded-random
``probability`` of them (indefinitely unless ``times`` is given), after letting the
first ``skip`` matching calls through. The first fault that fires answers the call:

* ``latency``: wait ``delay_ms``, then answer normally (the wait counts in Server-Timing);
* ``error``: ``status`` (default 500) with the platform's JSON error body;
* ``rate_limit``: 429 with the JSON error body;
* ``html``: a proxy's HTML error page (default 502, ``text/html``);
* ``reset``: part of the answer, then a TCP reset;
* ``truncate``: the headers (full ``Content-Length``) and part of the body, then close;
* ``no_status``: 200 with the answer's JSON minus ``status``;
* ``not_json``: 200 with a ``text/plain`` body.

``retry_after`` (whole seconds) adds a ``Retry-After`` header to ``error`` and ``rate_limit``.
``reset`` and ``truncate`` still run the call (a write happens; only the answer is lost).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .server import BREAK, WSGIApp
from .stats import Stats
from .wsgi import encode, error_answer, path_of, status_line

__all__ = ["KINDS", "Fault", "FaultMiddleware", "FaultSet"]

KINDS = ("latency", "error", "rate_limit", "html", "reset", "truncate", "no_status", "not_json")
_SPEC_KEYS = (
    "kind",
    "path",
    "method",
    "times",
    "probability",
    "skip",
    "status",
    "retry_after",
    "delay_ms",
)
_NGINX = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """One injected fault; ``seen`` and ``fired`` count matching and answered calls."""

    kind: str
    path: str | None = None
    method: str | None = None
    times: int | None = None
    probability: float | None = None
    skip: int = 0
    status: int | None = None
    retry_after: int | None = None
    delay_ms: float | None = None
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(KINDS)}")
        try:
            self._pattern = re.compile(self.path or "")
        except (re.error, TypeError) as exc:
            raise ValueError(
                f"fault path {self.path!r} is not a regular expression: {exc}"
            ) from None
        if self.method is not None:
            self.method = str(self.method).upper()
        _check_number("times", self.times, 1, None, integer=True)
        _check_number("probability", self.probability, 0.0, 1.0)
        _check_number("skip", self.skip, 0, None, integer=True)
        _check_number("retry_after", self.retry_after, 0, None, integer=True)
        _check_number("delay_ms", self.delay_ms, 0.0, 600_000.0)
        if self.status is not None:
            _check_number("status", self.status, 400, 599, integer=True)
        if self.kind == "latency" and self.delay_ms is None:
            raise ValueError("a latency fault needs delay_ms")
        if self.times is None and self.probability is None:
            self.times = 1

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        """A fault from a dict such as ``{"kind": "error", "status": 503, "times": 2}``."""
        if not isinstance(spec, Mapping):
            raise ValueError("a fault spec must be an object with at least 'kind'")
        unknown = sorted(set(spec) - set(_SPEC_KEYS))
        if unknown:
            raise ValueError(f"unknown fault key {unknown[0]!r}; allowed: {', '.join(_SPEC_KEYS)}")
        if "kind" not in spec:
            raise ValueError(f"a fault spec needs 'kind' (one of {', '.join(KINDS)})")
        return cls(**spec)

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self._pattern.search(path))

    def to_json(self) -> dict[str, Any]:
        spec = {key: getattr(self, key) for key in _SPEC_KEYS if getattr(self, key) is not None}
        return {**spec, "seen": self.seen, "fired": self.fired, "active": self.active}


def _check_number(
    name: str, value: Any, lo: float, hi: float | None, *, integer: bool = False
) -> None:
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or value < lo
        or (hi is not None and value > hi)
    ):
        bound = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise ValueError(
            f"fault {name} must be {'an integer' if integer else 'a number'} {bound}, not {value!r}"
        )


class FaultSet:
    """The faults of one sandbox, in the order they were added."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault that answers this call, if any (and count it)."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                fault.seen += 1
                if not fault.active or fault.seen <= fault.skip:
                    continue
                if fault.probability is not None and self._random.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
        return None


class FaultMiddleware:
    """Wraps the API: answers a call with a fault when one fires."""

    def __init__(self, app: WSGIApp, faults: FaultSet, stats: Stats) -> None:
        self.app = app
        self.faults = faults
        self.stats = stats

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        fault = self.faults.pick(environ["REQUEST_METHOD"], path_of(environ))
        if fault is None:
            return self.app(environ, start_response)
        self.stats.fault_fired(fault.kind)
        kind = fault.kind
        if kind == "latency":
            time.sleep((fault.delay_ms or 0) / 1000)
            return self.app(environ, start_response)
        if kind in ("error", "rate_limit"):
            status = 429 if kind == "rate_limit" else fault.status or 500
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            hint = " Slow down and retry later." if status == 429 else ""
            return error_answer(
                start_response,
                status,
                f"{status_line(status)}.{hint} (fault injected by the sandbox)",
                headers,
            )
        if kind == "html":
            body = _NGINX.format(status_line(fault.status or 502)).encode()
            return _answer(start_response, status_line(fault.status or 502), "text/html", body)
        if kind == "not_json":
            body = b"This is not JSON: the sandbox injected a 'not_json' fault.\n"
            return _answer(start_response, "200 OK", "text/plain; charset=utf-8", body)
        line, captured, body = self._capture(environ)
        if kind == "no_status":
            try:
                payload = json.loads(body)
                payload.pop("status", None)
                body = encode(payload)
            except (ValueError, AttributeError):
                pass
            return _answer(start_response, "200 OK", "application/json", body)
        environ[BREAK] = kind  # reset or truncate: the gateway cuts the answer short
        start_response(line, captured)
        return [body]

    def _capture(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        answer: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            answer[:] = [status, headers]
            return lambda data: None

        body = b"".join(self.app(environ, start_response))
        return answer[0], answer[1], body


def _answer(
    start_response: Callable[..., Any], status: str, content_type: str, body: bytes
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
