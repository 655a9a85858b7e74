"""A small threaded HTTP/1.1 gateway for a WSGI application, with keep-alive.

Built on :class:`http.server.ThreadingHTTPServer`: one daemon thread per connection,
which serves requests one after another until the client sends ``Connection: close``,
goes idle for :attr:`Handler.timeout` seconds, or the server stops. Request bodies are
read by ``Content-Length`` (or chunked encoding) before the application runs; a body
over ``max_body`` is not read, the application sees ``CONTENT_LENGTH`` and an empty
input (to refuse it), and the connection closes after the answer. Malformed requests get
a JSON error and a closed connection, never a hang.

An application can break the connection on purpose (to emulate network faults) by
setting ``environ[BREAK]`` to ``"reset"`` (send part of the answer, then an RST) or
``"truncate"`` (send the headers and part of the body, then close).
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from .wsgi import encode

__all__ = ["BREAK", "Gateway", "WSGIApp"]

BREAK = "reinfer_sandbox.break"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.max_body = max_body
        self.on_connection = on_connection
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def track(self, sock: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            (self._open.add if is_open else self._open.discard)(sock)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive ones included) so it ends."""
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

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

    def _serve(self) -> None:
        started = time.perf_counter()
        body, complete = self._read_body()
        environ = self._environ(body)
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
            or self.headers.get("Connection", "").lower() == "close"
            or any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
        )
        broken = environ.get(BREAK)
        if broken:
            self._break(int(code), reason, headers, payload, broken)
        else:
            self._send_raw(int(code), headers, payload, started, close=wants_close, reason=reason)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> tuple[bytes, bool]:
        """The request body, and False if it was left unread (too big)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", True
        if not length.isdigit():
            raise _Malformed("Content-Length is not a number")
        if int(length) > self.server.max_body:
            return b"", False
        return self.rfile.read(int(length)), True

    def _read_chunked(self) -> tuple[bytes, bool]:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _Malformed("bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body), True
            if len(body) + size > self.server.max_body:
                self.headers["Content-Length"] = str(len(body) + size)
                return b"", False
            body += self.rfile.read(size)
            self.rfile.readline(3)

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # PEP 3333: unquoted bytes as latin-1, so %2F is a "/" before routing.
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": self.headers.get("Content-Length", str(len(body))),
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
        self, code: int, reason: str, headers: list[tuple[str, str]], payload: bytes, how: str
    ) -> None:
        """Send the status line, headers and half the body, then close abruptly."""
        self.send_response(code, reason or None)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self.wfile.flush()
        self.close_connection = True
        if how == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            self.connection.shutdown(socket.SHUT_RDWR)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Malformed as exc:
            self.send_error(400, str(exc))


class _Malformed(Exception):
    """The request's framing cannot be trusted; answer 400 and close."""
