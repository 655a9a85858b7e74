"""Injectable faults: what goes wrong between a client and the platform, on demand.

A :class:`Fault` matches calls by path (a regex searched in the decoded path) and method.
It fires on the next ``times`` matching calls (1 by default), or on a seeded-random
``probability`` of them (indefinitely unless ``times`` is given), after letting the
first ``skip`` matching calls through. ``latency`` faults add up and let the call go on;
the first other fault that fires answers the call:

* ``latency``: wait ``delay_ms`` (a sleep, no CPU), then go on (the wait is server time:
  it counts in ``Server-Timing``);
* ``error``: ``status`` (default 500) with the platform's JSON error body;
* ``rate_limit``: 429 with the JSON error body;
* ``html``: a proxy's HTML error page (default 502, ``text/html``);
* ``reset``: part of the answer, then a TCP reset;
* ``truncate``: the headers (full ``Content-Length``) and part of the body, then close;
* ``stall``: like ``truncate``, but nothing for ``delay_ms`` (default 30,000) before the close;
* ``hang``: nothing at all for ``delay_ms`` (default 30,000), then close;
* ``trickle``: the headers, then the body one byte every ``interval_ms`` (default 1,000);
* ``trickle_headers``: the status line and headers one byte every ``interval_ms``, then
  the body. Both trickles close the connection after ``delay_ms`` in all (default 60,000)
  if the answer is not through by then, and end with a close when it is;
* ``no_status``: 200 with the answer's JSON minus ``status``;
* ``not_json``: 200 with a ``text/plain`` body.

``retry_after`` (whole seconds) adds a ``Retry-After`` header to ``error`` and ``rate_limit``.
The faults that spoil the answer on the wire (``reset`` to ``trickle_headers``) still run the
call (a write happens; only the answer is lost or slow). Every wait ends when the sandbox
stops. A sandbox's fixed server time (``server_ms``) is added to every API call, faulted or not.

A path is a regular expression of at most 200 characters, compiled when the fault is added.
Python's regex engine can take exponential time and holds the interpreter while it matches,
so a pattern that could backtrack badly is refused: at most one repetition of variable length
(``*``, ``+``, ``?``, ``{m,n}``), no repetition or alternation inside a repeated group, no
backreference. A fault with a path never matches a path longer than 2,048 characters.
"""

from __future__ import annotations

import importlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .server import BREAK, STOPPING, Break, WSGIApp
from .stats import Stats
from .wsgi import encode, error_answer, path_of, status_line

__all__ = ["KINDS", "Fault", "FaultMiddleware", "FaultSet"]

KINDS = (
    "latency",
    "error",
    "rate_limit",
    "html",
    "reset",
    "truncate",
    "stall",
    "hang",
    "trickle",
    "trickle_headers",
    "no_status",
    "not_json",
)
_TRICKLES = ("trickle", "trickle_headers")
_DEFAULT_DELAY_MS = {"stall": 30_000.0, "hang": 30_000.0, "trickle": 60_000.0,
                     "trickle_headers": 60_000.0}
_MAX_PATTERN = 200
_MAX_MATCHED_PATH = 2048
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
    "interval_ms",
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
    interval_ms: float | None = None
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(KINDS)}")
        self._pattern = _compile_path(self.path) if self.path else None
        if self.method is not None:
            self.method = str(self.method).upper()
        _check_number("times", self.times, 1, None, integer=True)
        _check_number("probability", self.probability, 0.0, 1.0)
        _check_number("skip", self.skip, 0, None, integer=True)
        _check_number("retry_after", self.retry_after, 0, None, integer=True)
        _check_number("delay_ms", self.delay_ms, 0.0, 600_000.0)
        _check_number("interval_ms", self.interval_ms, 0.0, 600_000.0)
        if self.status is not None:
            _check_number("status", self.status, 400, 599, integer=True)
        if self.kind == "latency" and self.delay_ms is None:
            raise ValueError("a latency fault needs delay_ms")
        if self.interval_ms is not None and self.kind not in _TRICKLES:
            raise ValueError("fault interval_ms applies only to trickle and trickle_headers")
        if self.delay_ms is None and self.kind in _DEFAULT_DELAY_MS:
            self.delay_ms = _DEFAULT_DELAY_MS[self.kind]
        if self.interval_ms is None and self.kind in _TRICKLES:
            self.interval_ms = 1000.0
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
        if self.method is not None and self.method != method:
            return False
        if self._pattern is None:
            return True
        return len(path) <= _MAX_MATCHED_PATH and bool(self._pattern.search(path))

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


def _compile_path(path: Any) -> re.Pattern[str]:
    """Compile a fault's path, refusing patterns that could take long to match."""
    if not isinstance(path, str):
        raise ValueError(f"fault path must be a string (a regular expression), not {path!r}")
    if len(path) > _MAX_PATTERN:
        raise ValueError(f"fault path must be at most {_MAX_PATTERN} characters, not {len(path)}")
    try:
        pattern = re.compile(path)
    except re.error as exc:
        raise ValueError(f"fault path {path!r} is not a regular expression: {exc}") from None
    risk = _backtracking_risk(path)
    if risk:
        raise ValueError(
            f"fault path {path!r} could take very long to match ({risk}); "
            "use a simpler pattern, e.g. '^/api/v1/sources' or '/comments$'"
        )
    return pattern


def _backtracking_risk(path: str) -> str | None:
    """Why matching ``path`` could backtrack badly (see the module docstring), or None."""
    try:
        parser: Any = importlib.import_module("re._parser")  # Python 3.11+
    except ImportError:  # Python 3.10
        parser = importlib.import_module("sre_parse")
    variable = 0

    def walk(items: Any, repeated: bool) -> str | None:
        nonlocal variable
        for op, value in items:
            name = getattr(op, "name", str(op))
            if name.startswith("GROUPREF"):
                return "a backreference"
            if name == "BRANCH" and repeated:
                return "an alternation inside a repetition"
            if name.endswith("REPEAT"):
                low, high, _ = value
                if repeated:
                    return "a repetition inside a repetition"
                variable += low != high
                if variable > 1:
                    return "more than one repetition of variable length"
            inner = repeated or (name.endswith("REPEAT") and value[1] > 1)
            for child in _subpatterns(value):
                risk = walk(child, inner)
                if risk:
                    return risk
        return None

    return walk(parser.parse(path), False)


def _subpatterns(value: Any) -> list[Any]:
    """The parsed sub-patterns inside one node's value (groups, branches, repeats)."""
    found: list[Any] = []
    for item in value if isinstance(value, (tuple, list)) else (value,):
        if hasattr(item, "data"):  # a parsed SubPattern
            found.append(item)
        elif isinstance(item, list):
            found.extend(child for child in item if hasattr(child, "data"))
    return found


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

    def pick(self, method: str, path: str) -> tuple[Fault, ...]:
        """The faults that fire on this call (and count them): ``latency`` ones, then at
        most one that answers it."""
        faults = self.list()
        # Matched outside the lock: a slow pattern delays its own call, not every call.
        matching = [fault for fault in faults if fault.matches(method, path)]
        fired = []
        with self._lock:
            for fault in matching:
                fault.seen += 1
                if not fault.active or fault.seen <= fault.skip:
                    continue
                if fault.probability is not None and self._random.random() >= fault.probability:
                    continue
                fault.fired += 1
                fired.append(fault)
                if fault.kind != "latency":
                    break
        return tuple(fired)


class FaultMiddleware:
    """Wraps the API: adds the fixed server time (``server_ms``) to every call, then
    answers it with a fault when one fires."""

    def __init__(
        self, app: WSGIApp, faults: FaultSet, stats: Stats, server_ms: float = 0.0
    ) -> None:
        self.app = app
        self.faults = faults
        self.stats = stats
        self.server_ms = server_ms

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        fired = self.faults.pick(environ["REQUEST_METHOD"], path_of(environ))
        delay_ms = self.server_ms
        for one in fired:
            self.stats.fault_fired(one.kind)
            if one.kind == "latency":
                delay_ms += one.delay_ms or 0
        if delay_ms:
            _sleep(environ, delay_ms / 1000)
        fault = next((f for f in fired if f.kind != "latency"), None)
        if fault is None:
            return self.app(environ, start_response)
        kind = fault.kind
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
        # On the wire: the gateway sends the answer badly, slowly, or not at all.
        environ[BREAK] = Break(
            kind, delay=(fault.delay_ms or 0) / 1000, interval=(fault.interval_ms or 0) / 1000
        )
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


def _sleep(environ: dict[str, Any], seconds: float) -> None:
    """Sleep (no CPU spent), waking early when the server stops."""
    stopping = environ.get(STOPPING)
    if isinstance(stopping, threading.Event):
        stopping.wait(seconds)
    else:
        time.sleep(seconds)
