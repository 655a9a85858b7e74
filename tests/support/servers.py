"""Small purpose-built loopback servers for the fault, secrets and property tests.

Everything here listens on 127.0.0.1, port 0, in daemon threads, and is bounded: every
socket has a timeout, every wait is capped, and ``stop()`` joins the threads.

* :class:`LoopbackServer`: a raw-socket HTTP/1.1 server whose answers are scripted per
  request (:class:`Reply`): any answer, resets before or in the middle of an answer at an
  exact byte, bodies cut short. It can also stop listening (connection refused), stop
  accepting (connect timeout) or switch TLS certificates while running. Slow, stalled,
  hanging and trickling answers are the sandbox's faults (``sb.inject("trickle", ...)``).
* :class:`Pages`: a handler serving a paginated listing by GET (``after``) and POST
  (``continuation``), with a fault injected on a chosen page.
* :func:`make_certificate`: a self-signed certificate for 127.0.0.1, generated at test time
  with ``cryptography`` if installed, else the ``openssl`` command.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HOST = "127.0.0.1"
# A recognisable secret: long enough that Token shows its last 4 characters as a hint.
TOKEN = "rnb-SECRET-4f1c9d7e2b8a6035c1e4d9f0b7a2e8c6-TAIL"
HEADER_LIMIT = 1 << 20
BODY_LIMIT = 200 << 20
SOCKET_TIMEOUT = 10.0

# CA settings that would change what a TLS test trusts (conftest scrubs the proxies).
CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


# --------------------------------------------------------------------------- requests


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """What the server does with one request.

    ``mode``: ``normal``; ``reset`` (RST without answering); ``reset_mid`` (headers and
    ``cut`` bytes of the body, then RST); ``truncate`` (headers and ``cut`` bytes, then
    a clean close). ``before`` runs first (for example to stop the server listening once
    this answer is on its way).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "normal"
    cut: int = 0
    close: bool = False
    before: Callable[[LoopbackServer], None] | None = None


def ok(payload: dict[str, Any] | None = None, status: int = 200, **headers: str) -> Reply:
    """A platform answer: ``{"status": "ok", ...}`` with Server-Timing."""
    body = json.dumps({"status": "ok", **(payload or {})}).encode()
    return Reply(status, body, {"Content-Type": "application/json",
                                "Server-Timing": "total;dur=1.5", **headers})


def api_error(status: int, message: str, **headers: str) -> Reply:
    """The platform's error body."""
    body = json.dumps({"status": "error", "message": message}).encode()
    return Reply(status, body, {"Content-Type": "application/json",
                                "Server-Timing": "total;dur=0.5", **headers})


def raw(status: int, body: bytes | str, content_type: str, **kw: Any) -> Reply:
    """Any body with any content type."""
    data = body.encode() if isinstance(body, str) else body
    return Reply(status, data, {"Content-Type": content_type}, **kw)


PROXY_502 = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>\n"
    "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body></html>\n"
)


# --------------------------------------------------------------------------- the server


class LoopbackServer:
    """A threaded raw-socket HTTP/1.1 server on 127.0.0.1 with scripted answers.

    Answers come from ``script`` (consumed in order) and then from ``handler(request,
    server)``. Keep-alive is honoured unless a reply closes. ``seen`` lists every request
    and ``connections`` counts accepted TCP connections.
    """

    def __init__(
        self,
        handler: Callable[[Seen, LoopbackServer], Reply] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = HOST,
    ) -> None:
        self.handler = handler or (lambda request, server: ok())
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.connections = 0
        self.tls = tls
        self.host = host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._accepting = True
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener: socket.socket | None = socket.create_server((host, 0), family=family)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"loopback:{self.port}",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reply_next(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    # -- changing behaviour while running ----------------------------------------------

    def close_listener(self) -> None:
        """Stop listening: new connections are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def blackhole(self) -> None:
        """Keep listening but stop accepting, and fill the backlog: connects time out."""
        self._accepting = False
        listener = self._listener
        assert listener is not None
        listener.listen(0)
        for _ in range(16):  # bounded: Linux queues backlog + 1 connections
            filler = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            filler.settimeout(0.3)
            try:
                filler.connect((self.host, self.port))
            except TimeoutError:
                filler.close()
                return
            self._held.append(filler)
        raise RuntimeError("could not fill the listen backlog: connects would not time out")

    def reopen(self) -> None:
        """Listen again on the same port after :meth:`close_listener`."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.port), family=family)
        self._thread.join(timeout=5)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name=f"loopback:{self.port}",
                                        daemon=True)
        self._thread.start()

    def resume(self) -> None:
        """Accept again after :meth:`blackhole` (the fillers are dropped)."""
        with self._lock:
            held, self._held = self._held, []
        for filler in held:
            filler.close()
        assert self._listener is not None
        self._listener.listen(64)
        self._accepting = True

    def set_tls(self, context: ssl.SSLContext | None) -> None:
        self.tls = context

    def stop(self) -> None:
        self._stop.set()
        self.close_listener()
        with self._lock:
            sockets = [*self._open, *self._held]
            self._held.clear()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        self._thread.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    # -- serving -----------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                return
            if not self._accepting:
                self._stop.wait(0.05)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready or not self._accepting:
                    continue
                conn, _ = listener.accept()
            except (OSError, ValueError):
                if self._listener is None or self._stop.is_set():
                    return
                continue
            with self._lock:
                self.connections += 1
                number = self.connections
                self._open.add(conn)
            thread = threading.Thread(target=self._connection, args=(conn, number), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _connection(self, conn: socket.socket, number: int) -> None:
        sock = conn
        try:
            sock.settimeout(SOCKET_TIMEOUT)
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                with self._lock:
                    self._open.add(sock)
            buffer = b""
            while not self._stop.is_set():
                request, buffer = _read_request(sock, buffer, number)
                if request is None:
                    return
                with self._lock:
                    self.seen.append(request)
                    reply = self.script.pop(0) if self.script else None
                if reply is None:
                    reply = self.handler(request, self)
                if not self._send(sock, reply):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(conn)
                self._open.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _send(self, sock: socket.socket, reply: Reply) -> bool:
        """Send one reply; False when the connection is finished."""
        if reply.before is not None:
            reply.before(self)
        if reply.mode == "reset":
            _reset(sock)
            return False
        reason = _reason(reply.status)
        headers = {"Content-Length": str(len(reply.body)), **reply.headers}
        if reply.close:
            headers["Connection"] = "close"
        head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        ) + "\r\n"
        if reply.mode == "normal":
            sock.sendall(head.encode("latin-1") + reply.body)
            return not reply.close
        sock.sendall(head.encode("latin-1") + reply.body[: reply.cut])
        if reply.mode == "reset_mid":
            self._stop.wait(0.05)  # let the client read the headers first
            _reset(sock)
        else:  # truncate: a clean close, short of Content-Length
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return False


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _read_request(sock: socket.socket, buffer: bytes, number: int) -> tuple[Seen | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > HEADER_LIMIT:
            return None, b""
        try:
            chunk = sock.recv(65536)
        except (OSError, TimeoutError):
            return None, b""
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), BODY_LIMIT)
    while len(rest) < length:
        try:
            chunk = sock.recv(min(length - len(rest), 1 << 20))
        except (OSError, TimeoutError):
            return None, b""
        if not chunk:
            return None, b""
        rest += chunk
    body, rest = rest[:length], rest[length:]
    return Seen(method, target, headers, body, number), rest


# --------------------------------------------------------------------------- pagination


class Pages:
    """A paginated listing of comments at any path.

    GET pages pass the token back as ``after``; POST pages as ``continuation`` in the body
    (as the client sends them). Page ``fault_page`` answers ``fault`` for its first
    ``fault_times`` requests. Pages before it close their connection when ``close`` is set,
    so the next page needs a new connection (to meet a connection-level fault).
    """

    def __init__(
        self,
        pages: int = 3,
        per_page: int = 2,
        *,
        fault_page: int | None = None,
        fault: Reply | Callable[[LoopbackServer], Reply] | None = None,
        fault_times: int = 1,
        before_page: dict[int, Callable[[LoopbackServer], None]] | None = None,
        close: bool = False,
    ) -> None:
        self.pages = pages
        self.per_page = per_page
        self.fault_page = fault_page
        self.fault = fault
        self.fault_times = fault_times
        self.faults_fired = 0
        self.before_page = before_page or {}
        self.close = close
        self.served: list[int] = []

    def page_of(self, request: Seen) -> int:
        token = None
        if request.method == "POST":
            body = request.json() or {}
            token = body.get("continuation") if isinstance(body, dict) else None
        else:
            token = (request.query.get("after") or [None])[0]
        return int(token[1:]) if token else 1

    def ids(self, page: int) -> list[str]:
        return [f"c{page}-{i}" for i in range(self.per_page)]

    def __call__(self, request: Seen, server: LoopbackServer) -> Reply:
        if request.path == "/auth/user":
            return ok({"user": {"username": "tester", "email": "t@example.com"}})
        page = self.page_of(request)
        if page == self.fault_page and self.faults_fired < self.fault_times:
            self.faults_fired += 1
            fault = self.fault(server) if callable(self.fault) else self.fault
            assert fault is not None
            return fault
        self.served.append(page)
        reply = ok({
            "comments": [{"id": cid, "text": f"comment {cid}"} for cid in self.ids(page)],
            **({"continuation": f"p{page + 1}"} if page < self.pages else {}),
        })
        reply.before = self.before_page.get(page)
        reply.close = self.close
        return reply


# --------------------------------------------------------------------------- TLS


def make_certificate(directory: Path, name: str = "cert") -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, valid for a day.

    Uses the ``cryptography`` package if installed, else the ``openssl`` command; raises
    ``pytest.skip`` when neither is available.
    """
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("TLS test needs the `cryptography` package or the `openssl` command")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# --------------------------------------------------------------------------- no DNS


class NoDns:
    """Patch the resolver: IP literals pass, ``names`` resolve to 127.0.0.1 in-process,
    everything else fails as an unresolvable host. Nothing reaches a real resolver.

    ``refused`` records the names that were refused; ``fail_all`` makes every name fail.
    """

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = set(names)
        self.refused: list[str] = []
        self.lookups: list[str] = []
        self.fail_all = False
        self._real = socket.getaddrinfo

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0,  # noqa: A002
                    proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        self.lookups.append(str(name))
        if name is None or _is_ip(str(name)):
            return self._real(host, port, family, type, proto, flags)
        if str(name).lower() in self.names and not self.fail_all:
            return self._real("127.0.0.1", port, socket.AF_INET, type, proto, flags)
        self.refused.append(str(name))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def gethostbyname(self, host: str) -> str:
        if _is_ip(host):
            return host
        self.refused.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


    def gethostbyname_ex(self, host: str) -> Any:
        self.refused.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def guard_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NoDns]:
    """For an autouse fixture: no CA settings from the machine, and no DNS.

    Every lookup of a name fails in-process, and the test fails at teardown if one was
    tried, unless the test expected it and cleared ``refused``.
    """
    for name in list(os.environ):
        if name.upper() in CA_ENV:
            monkeypatch.delenv(name, raising=False)
    with no_dns(monkeypatch) as guard:
        yield guard
        assert guard.refused == [], f"unexpected name lookups (no DNS allowed): {guard.refused}"


@contextmanager
def no_dns(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...] = ()) -> Iterator[NoDns]:
    """Install a :class:`NoDns` resolver for the duration."""
    guard = NoDns(names)
    monkeypatch.setattr(socket, "getaddrinfo", guard.getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", guard.gethostbyname)
    monkeypatch.setattr(socket, "gethostbyname_ex", guard.gethostbyname_ex)
    yield guard


# --------------------------------------------------------------------------- proxy


class ConnectProxy:
    """A forward proxy on 127.0.0.1 that tunnels ``CONNECT`` to loopback targets only.

    ``tunnels`` lists the ``host:port`` of each tunnel opened; ``plain`` lists the
    requests it was sent in clear text (absolute-URI requests, which a client must never
    send through a proxy: they would show the token), each answered with a 502.
    Every socket has a timeout and every relay ends when either side closes.
    """

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.plain: list[Seen] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(SOCKET_TIMEOUT)
            request, rest = _read_request(conn, b"", 0)
            if request is None:
                return
            if request.method != "CONNECT":
                self.plain.append(request)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                return
            host, _, port = request.target.rpartition(":")
            if not _is_ip(host) or not ipaddress.ip_address(host.strip("[]")).is_loopback:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(request.target)
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as up:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    up.sendall(rest)
                self._relay(conn, up)

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.1)
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                peers[sock].sendall(data)
