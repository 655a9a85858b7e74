"""A small threaded HTTP/1.1 gateway for a WSGI application, with keep-alive.

Built on :class:`http.server.ThreadingHTTPServer`: one daemon thread per connection,
which serves requests one after another until the client sends ``Connection: close``,
goes idle for :attr:`Handler.timeout` seconds, or the server stops. Request bodies are
read by ``Content-Length`` (or chunked encoding) before the application runs; a body
over ``max_body`` is not read, the application sees ``CONTENT_LENGTH`` and an empty
input (to refuse it), and the connection closes after the answer. Malformed requests get
a JSON error and a closed connection, never a hang.

Framing that a proxy in front could read differently (request smuggling) is refused with
400 and a close, before any body is read: both ``Content-Length`` and
``Transfer-Encoding``; a transfer coding other than one ``chunked``; differing or
non-digit ``Content-Length`` values; a header line that is not ``Name: value`` or is
folded; a bad chunk size line, or one chunk larger than ``max_body``.

An application can break the connection on purpose (to emulate network faults) by
setting ``environ[BREAK]`` to a :class:`Break`: ``reset`` (part of the answer, then an
RST), ``truncate`` (the headers and part of the body, then close), ``stall`` (the same,
but nothing for ``delay`` seconds before the close), ``hang`` (nothing for ``delay``
seconds, then close), ``trickle`` / ``trickle_headers`` (the body / the status line and
headers one byte every ``interval`` seconds, closing after ``delay`` seconds in all).
Every such wait ends early when the server stops: ``environ[STOPPING]`` is the
:class:`threading.Event` that :meth:`Gateway.shutdown` sets, for the application's own
waits.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from .wsgi import encode

__all__ = ["BREAK", "STOPPING", "Break", "Gateway", "WSGIApp", "connectable_host", "is_loopback"]

BREAK = "reinfer_sandbox.break"
STOPPING = "reinfer_sandbox.stopping"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_BREAKS = ("reset", "truncate", "stall", "hang", "trickle", "trickle_headers")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_MAX_TRAILERS = 100


@dataclass(frozen=True)
class Break:
    """How the gateway spoils one answer (see the module docstring); times in seconds."""

    how: str
    delay: float = 0.0
    interval: float = 0.0

    def __post_init__(self) -> None:
        if self.how not in _BREAKS:
            raise ValueError(f"unknown break {self.how!r}; use one of {', '.join(_BREAKS)}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any address (not resolved here: no DNS)


def connectable_host(host: str) -> str:
    """The address a local client connects to: loopback for ``0.0.0.0`` / ``::``."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if address.is_unspecified:  # "listen on every interface" is not an address to dial
        return "::1" if address.version == 6 else "127.0.0.1"
    return host


class Gateway(ThreadingHTTPServer):
    """Serves ``app`` on ``(host, port)``; ``port=0`` picks a free port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        app: WSGIApp,
        host: str,
        port: int,
        *,
        max_body: int,
        on_connection: Callable[[], None] = lambda: None,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.max_body = max_body
        self.on_connection = on_connection
        self.on_close = on_close
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        self.stopping = threading.Event()
        super().__init__((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def shutdown(self) -> None:
        """Stop serving; wakes every wait of a spoiled answer or an application first."""
        self.stopping.set()
        super().shutdown()

    def track(self, sock: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            if is_open:
                self._open[sock] = threading.current_thread()
            else:
                self._open.pop(sock, None)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive ones included) so it ends."""
        self.stopping.set()
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def join_connections(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds in all for the connection threads to end."""
        deadline = time.monotonic() + timeout
        with self._open_lock:
            threads = list(self._open.values())
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-answer are normal here; anything else is a bug to show.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Turns each request on a connection into one WSGI call."""

    server: Gateway
    protocol_version = "HTTP/1.1"
    server_version = "reinfer-sandbox"
    sys_version = ""
    timeout = 60  # seconds a connection may sit idle (or stall mid-request)
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)
        self.server.on_connection()

    def finish(self) -> None:
        self.server.track(self.connection, False)
        self.server.on_close()
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox keeps statistics instead of an access log."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests: a JSON error body (a status line even for HTTP/0.9), then close."""
        started = time.perf_counter()
        self.request_version = self.protocol_version
        # The stdlib's reasons quote the request line; never echo what the client sent.
        reason = re.sub(r"\s*\(.*\)$", "", message or "") or "the request is not valid HTTP/1.1"
        text = f"{code} {self.responses.get(code, ('Error',))[0]}: {reason}."
        self._send_raw(
            code,
            [("Content-Type", "application/json")],
            encode({"message": text, "status": "error"}),
            started,
            close=True,
        )

    def parse_request(self) -> bool:
        """The stdlib's parsing, then a refusal of framing a proxy could read differently."""
        if not super().parse_request():
            return False
        problem = _framing_problem(self.headers)
        if problem:
            self.send_error(400, problem)
            return False
        return True

    def _serve(self) -> None:
        started = time.perf_counter()
        body, length = self._read_body()
        complete = length == len(body)
        environ = self._environ(body, length)
        chunks: list[bytes] = []
        response: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            response[:] = [status, headers]
            return chunks.append

        result = self.server.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = response
        code, _, reason = status.partition(" ")
        payload = b"".join(chunks)
        wants_close = (
            not complete
            or self.server.stopping.is_set()
            or self.headers.get("Connection", "").lower() == "close"
            or any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
        )
        broken = environ.get(BREAK)
        if isinstance(broken, Break):
            self._break(int(code), reason, headers, payload, broken)
        else:
            self._send_raw(int(code), headers, payload, started, close=wants_close, reason=reason)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # Every other method (TRACE, CONNECT, PROPFIND...) reaches the application too, which
        # answers as the platform does (405), instead of the standard library's 501.
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> tuple[bytes, int]:
        """The request body and its declared length (the body is empty if that is too big).

        :meth:`parse_request` has already refused ambiguous framing, so at most one of
        ``Transfer-Encoding: chunked`` and one distinct ``Content-Length`` is present.
        """
        if "Transfer-Encoding" in self.headers:
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", 0
        size = _content_length(length.split(",")[0].strip())
        if size > self.server.max_body:
            return b"", size
        body = self.rfile.read(size)
        if len(body) < size:
            raise _Malformed("the body is shorter than its Content-Length")
        return body, size

    def _read_chunked(self) -> tuple[bytes, int]:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise _Malformed("bad chunk size line")
            size_text = line.split(b";")[0].strip(b" \t\r\n")
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise _Malformed("bad chunk size")
            size = int(size_text, 16)
            if size > self.server.max_body:
                raise _Malformed(
                    f"a chunk of {size} bytes is past the limit of "
                    f"{self.server.max_body} bytes per request"
                )
            if size == 0:
                for _ in range(_MAX_TRAILERS):
                    if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                        return bytes(body), len(body)
                raise _Malformed("too many trailer lines")
            if len(body) + size > self.server.max_body:
                return b"", len(body) + size
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.read(2) != b"\r\n":
                raise _Malformed("a chunk does not match its size")
            body += chunk

    def _environ(self, body: bytes, length: int) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # PEP 3333: unquoted bytes as latin-1, so %2F is a "/" before routing.
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            STOPPING: self.server.stopping,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _send_raw(
        self,
        code: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        started: float,
        *,
        close: bool,
        reason: str | None = None,
    ) -> None:
        self.send_response(code, reason or None)
        names = {k.lower() for k, _ in headers}
        for key, value in headers:
            if key.lower() != "connection":
                self.send_header(key, value)
        if "server-timing" not in names:
            self.send_header(
                "Server-Timing", f"total;dur={(time.perf_counter() - started) * 1000:.2f}"
            )
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _break(
        self, code: int, reason: str, headers: list[tuple[str, str]], payload: bytes, how: Break
    ) -> None:
        """Spoil the answer as ``how`` says (see the module docstring), then close."""
        self.close_connection = True
        deadline = time.monotonic() + how.delay
        if how.how.startswith("trickle"):  # a complete answer, if it arrives: say it ends
            headers = [*headers, ("Connection", "close")]
        head = self._head(code, reason, headers)
        body = b"" if self.command == "HEAD" else payload
        stopping = self.server.stopping
        if how.how == "hang":
            stopping.wait(how.delay)
        elif how.how == "trickle_headers":
            if self._trickle(head, how.interval, deadline):
                self.wfile.write(body)
        elif how.how == "trickle":
            self.wfile.write(head)
            self._trickle(body, how.interval, deadline)
        else:  # reset, truncate, stall: the headers and half the body
            self.wfile.write(head + body[: len(body) // 2])
            if how.how == "stall":
                stopping.wait(how.delay)
        if how.how == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _trickle(self, data: bytes, interval: float, deadline: float) -> bool:
        """Send ``data`` a byte at a time; False if the deadline or a stop came first."""
        for i in range(len(data)):
            pause = min(interval, max(0.0, deadline - time.monotonic())) if i else 0.0
            if self.server.stopping.wait(pause) or time.monotonic() >= deadline:
                return False
            self.wfile.write(data[i : i + 1])
        return True

    def _head(self, code: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
        """The status line and headers as bytes, for answers sent by hand."""
        lines = [
            f"{self.protocol_version} {code} {reason or self.responses.get(code, ('',))[0]}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            *(f"{key}: {value}" for key, value in headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Malformed as exc:
            self.send_error(400, str(exc))


class _Malformed(Exception):
    """The request's framing cannot be trusted; answer 400 and close."""


def _content_length(value: str) -> int:
    """A Content-Length value (already checked by :func:`_framing_problem`)."""
    # Past 18 digits it is over any body cap; int() of thousands of digits is refused anyway.
    return int(value) if len(value) <= 18 else 10**18


def _framing_problem(headers: Message) -> str | None:
    """Why this request's framing is ambiguous or malformed, or None if it is sound."""
    # A line that is not "Name: value": what follows it was dropped. (Other defects, such
    # as a multipart Content-Type whose body the header parser never sees, are harmless.)
    if any(isinstance(defect, MissingHeaderBodySeparatorDefect) for defect in headers.defects):
        return "a header line is not 'Name: value'"
    if any("\n" in value or "\r" in value for value in headers.values()):
        return "folded header lines are not accepted"
    lengths = headers.get_all("Content-Length") or []
    codings = headers.get_all("Transfer-Encoding") or []
    if lengths and codings:
        return "a request may not have both Content-Length and Transfer-Encoding"
    if codings:
        names = [name.strip().lower() for value in codings for name in value.split(",")]
        if names != ["chunked"]:
            return "the only transfer coding accepted is one 'chunked'"
    values = {value.strip() for value in lengths for value in value.split(",")}
    if not all(re.fullmatch(r"[0-9]+", value) for value in values):
        return "Content-Length is not a number"
    if len({_content_length(value) for value in values}) > 1:
        return "Content-Length values differ"
    return None
