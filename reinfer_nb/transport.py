"""A deadline for each whole attempt (connect, send, headers, body), not per socket read.

requests and urllib3 time out a single ``recv``: a server that sends one byte a second
never trips them. Here each attempt runs inside a :class:`Deadline`; the sockets it uses
are attached to it, and one watchdog thread shuts them down when it passes, which ends
any blocked read or send at once::

    with Deadline(10.0) as deadline:
        response = session.send(prepared, timeout=10.0, stream=True)
        body = response.content
    if deadline.fired:
        ...  # the attempt was cut short: a read timeout, whatever the exception said

The sockets are found through urllib3's connection classes (:class:`DeadlineAdapter`
mounts pools whose connections attach their socket when they connect and before each
request), so pooled keep-alive connections and redirects are covered too.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Deadline", "DeadlineAdapter"]

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "reinfer_nb_deadline", default=None
)


class Deadline:
    """The deadline of one attempt: attached sockets are shut down when it passes.

    ``fired`` is True once the watchdog cut a socket of this attempt. Use it as a context
    manager around the attempt's network I/O; leaving it disarms the watchdog.
    """

    __slots__ = ("_lock", "_sockets", "_token", "done", "fired", "seconds", "when")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.when = time.monotonic() + seconds
        self.fired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._token: contextvars.Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline:
        self._token = _current.set(self)
        _WATCHDOG.arm(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self.done = True
            self._sockets.clear()
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    def attach(self, sock: Any) -> None:
        """Watch ``sock`` (a socket, or a TLS wrapper around one) until the attempt ends."""
        raw = _raw_socket(sock)
        if raw is None:
            return
        with self._lock:
            if self.done:
                return
            if time.monotonic() >= self.when:  # already late: cut it now
                self._cut(raw)
            else:
                self._sockets.append(raw)

    def expire(self) -> None:
        """Called by the watchdog: shut down every socket the attempt still uses."""
        with self._lock:
            if self.done:
                return
            for sock in self._sockets:
                self._cut(sock)

    def _cut(self, sock: socket.socket) -> None:
        # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the TLS object
        # under a thread that may be reading through it. Shutting the file descriptor
        # down wakes that thread with end-of-file instead.
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:  # closed meanwhile, or never connected
            return
        self.fired = True


def _raw_socket(sock: Any) -> socket.socket | None:
    """The OS socket under ``sock`` (urllib3 wraps TLS-in-TLS sockets in an object)."""
    for _ in range(4):
        if isinstance(sock, socket.socket):
            return sock
        sock = getattr(sock, "socket", None)
    return None


def _attach(sock: Any) -> None:
    deadline = _current.get()
    if deadline is not None and sock is not None:
        deadline.attach(sock)


class _Watchdog:
    """One daemon thread that expires deadlines in time order (started on first use)."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._reset()

    def _reset(self) -> None:
        # Also in a forked child: it has neither the thread nor a usable lock state.
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._started = False

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="reinfer-deadlines", daemon=True).start()
            if len(self._heap) > 256:  # drop the entries of attempts that ended long ago
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (deadline.when, next(self._count), deadline))
            if self._heap[0][2] is deadline:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                _, _, deadline = heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG._reset)


# -------------------------------------------------------------------- urllib3 classes


class _WatchedHTTPConnection(HTTPConnection):
    """Attaches its socket to the current attempt's deadline (new or pooled)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)  # before any TLS handshake or proxy tunnel on it
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self.sock)  # a pooled connection reused for this attempt
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connection pools whose sockets a :class:`Deadline` can cut
    (direct connections and HTTP proxies; SOCKS proxies keep urllib3's own pools)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = _POOLS
        return manager
