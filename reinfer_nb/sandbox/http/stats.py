"""Counters of what the sandbox served: connections, calls by path and status, faults."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["Stats"]


class Stats:
    """Thread-safe counters; :meth:`snapshot` returns plain data."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0  # a gauge, not a counter: reset() leaves it
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._connections = 0
            self._calls: Counter[str] = Counter()
            self._statuses: Counter[int] = Counter()
            self._faults: Counter[str] = Counter()

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1
            self._open += 1

    def connection_closed(self) -> None:
        with self._lock:
            self._open -= 1

    def call(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._calls[f"{method} {path}"] += 1
            self._statuses[status] += 1

    def fault_fired(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "connections_opened": self._connections,
                "connections_open": self._open,
                "calls": sum(self._calls.values()),
                "calls_by_path": dict(self._calls),
                "calls_by_status": {str(k): v for k, v in sorted(self._statuses.items())},
                "faults_fired": sum(self._faults.values()),
                "faults_fired_by_kind": dict(self._faults),
            }
