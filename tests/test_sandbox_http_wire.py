"""Faults on the wire, over raw loopback sockets: ``stall``, ``hang``, ``trickle`` and
``trickle_headers`` send what they promise, byte by byte where it matters, close when
their time is up, and end at once when the sandbox stops; ``server_ms`` is server time.

No assertion here is on elapsed time: a fault that should send nothing more is shown by a
short read timing out, and a connection that should end is shown by reading to its end
under a generous socket timeout (``TimeoutError`` fails the test).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from reinfer_nb.sandbox import Fault, Sandbox

PROJECTS = "/api/v1/projects"
PAGE = "/api/_private/sources/dev/support-emails/comments?limit=20"
TIMING = re.compile(r"^total;dur=(\d+(?:\.\d+)?)$")
LONG_MS = 600_000.0  # the longest wait a fault may ask for: only a stop ends it in a test
QUIET = 0.5  # seconds of silence that show a fault is sending nothing more
WAIT = 20.0  # the socket timeout that bounds every other read


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Sandbox]:
    sb = make_sandbox(comments=200, seed=3)
    yield sb
    sb.stop()


@pytest.fixture()
def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


def send(sandbox: Sandbox, path: str) -> socket.socket:
    """Open a connection and send one GET with the demo token."""
    sock = socket.create_connection((sandbox.host, sandbox.port), timeout=WAIT)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.token}\r\n\r\n".encode()
    )
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset counts as a close)."""
    chunks = []
    for _ in range(100_000):  # bounded; each read waits at most WAIT seconds
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The status line and headers, and any body bytes that came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed inside the headers: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    return {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}


def is_quiet(sock: socket.socket) -> bool:
    """True if the server sends nothing for QUIET seconds (the connection stays open)."""
    sock.settimeout(QUIET)
    try:
        sock.recv(1)  # a byte, or b"" for a close: either way not quiet
    except TimeoutError:
        return True
    finally:
        sock.settimeout(WAIT)
    return False


def normal_answer(sandbox: Sandbox, path: str) -> requests.Response:
    return requests.get(
        sandbox.url + path, headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=WAIT
    )


# -- stall and hang ------------------------------------------------------------------------


def test_stall_sends_half_then_closes_after_the_delay(sb: Sandbox) -> None:
    expected = normal_answer(sb, PAGE).content
    sb.inject("stall", path="/comments$", delay_ms=50)
    with send(sb, PAGE) as sock:
        head, rest = read_head(sock)
        body = rest + read_to_close(sock)
    assert int(headers_of(head)["content-length"]) == len(expected)
    assert body == expected[: len(expected) // 2]


def test_hang_sends_nothing_then_closes(sb: Sandbox) -> None:
    fault = sb.inject("hang", path="^/api/v1/projects$", delay_ms=50)
    with send(sb, PROJECTS) as sock:
        assert read_to_close(sock) == b""
    assert fault.fired == 1 and normal_answer(sb, PROJECTS).status_code == 200


# -- trickles ------------------------------------------------------------------------------


def test_trickle_delivers_the_whole_answer_then_closes(sb: Sandbox) -> None:
    expected = normal_answer(sb, PROJECTS).content
    sb.inject("trickle", path="^/api/v1/projects$", interval_ms=1)
    with send(sb, PROJECTS) as sock:
        head, rest = read_head(sock)
        body = rest + read_to_close(sock)
    assert head.startswith(b"HTTP/1.1 200 OK") and headers_of(head)["connection"] == "close"
    assert body == expected


def test_trickle_headers_delivers_the_whole_answer(sb: Sandbox) -> None:
    expected = normal_answer(sb, PROJECTS).content
    sb.inject("trickle_headers", path="^/api/v1/projects$", interval_ms=1)
    with send(sb, PROJECTS) as sock:
        head, rest = read_head(sock)
        body = rest + read_to_close(sock)
    headers = headers_of(head)
    assert head.startswith(b"HTTP/1.1 200 OK") and headers["connection"] == "close"
    assert TIMING.match(headers["server-timing"]) and body == expected


def test_trickle_sends_one_body_byte_per_interval(sb: Sandbox) -> None:
    sb.inject("trickle", path="^/api/v1/projects$", interval_ms=LONG_MS, delay_ms=LONG_MS)
    with send(sb, PROJECTS) as sock:
        head, rest = read_head(sock)  # the headers come at once
        first = rest or read_exactly(sock, 1)
        assert len(first) == 1 and int(headers_of(head)["content-length"]) > 1
        assert is_quiet(sock)  # the second byte waits for the interval


def test_trickle_headers_sends_one_byte_per_interval(sb: Sandbox) -> None:
    sb.inject("trickle_headers", path="^/api/v1/projects$", interval_ms=LONG_MS)
    with send(sb, PROJECTS) as sock:
        assert read_exactly(sock, 1) == b"H"
        assert is_quiet(sock)


def test_a_trickle_is_bounded_in_total_time(sb: Sandbox) -> None:
    sb.inject("trickle", path="/comments$", interval_ms=5, delay_ms=100)
    with send(sb, PAGE) as sock:
        head, rest = read_head(sock)
        body = rest + read_to_close(sock)  # closed by the server after delay_ms
    assert 0 < len(body) < int(headers_of(head)["content-length"])


# -- every wait ends when the sandbox stops ---------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("kind", "sent"),
    [
        ("latency", "nothing"),
        ("hang", "nothing"),
        ("stall", "the headers and half the body"),
        ("trickle", "the headers and one body byte"),
        ("trickle_headers", "one byte"),
    ],
)
def test_stop_ends_every_wait(make_sandbox: Callable[..., Any], kind: str, sent: str) -> None:
    """``sent``: what the fault sends before it waits."""
    sb = make_sandbox(comments=20, seed=3)
    spec: dict[str, Any] = {"kind": kind, "path": "^/api/v1/projects$", "delay_ms": LONG_MS}
    if kind.startswith("trickle"):
        spec["interval_ms"] = LONG_MS
    sb.inject(**spec)
    with send(sb, PROJECTS) as sock:
        if sent.startswith("the headers"):
            head, rest = read_head(sock)
            length = int(headers_of(head)["content-length"])
            body = rest + read_exactly(sock, (length // 2 if "half" in sent else 1) - len(rest))
            assert len(body) < length
        elif sent == "one byte":
            assert read_exactly(sock, 1) == b"H"
        assert is_quiet(sock)  # now waiting: for up to 10 minutes unless stopped
        assert sb.stats()["connections_open"] == 1
        sb.stop()  # returns (the timeout mark bounds it) ...
        read_to_close(sock)  # ... and the connection ends (TimeoutError otherwise)
    assert not sb.running and sb.stats()["connections_open"] == 0  # its thread has ended


# -- fixed server time -----------------------------------------------------------------------


def test_server_ms_is_server_time_on_every_api_call(make_sandbox: Callable[..., Any]) -> None:
    sb = make_sandbox(comments=20, seed=3, server_ms=120)
    sb.clear_faults()  # server time is not a fault: clearing the faults keeps it
    for path in (PROJECTS, "/api/v1/nonexistent_page"):
        response = normal_answer(sb, path)
        match = TIMING.match(response.headers["Server-Timing"])
        assert match and float(match.group(1)) >= 120, response.headers["Server-Timing"]
    assert sb.faults == [] and sb.stats()["faults_fired"] == 0
    assert "server_ms=120" in repr(sb)


def test_server_ms_adds_to_a_latency_fault(make_sandbox: Callable[..., Any]) -> None:
    sb = make_sandbox(comments=20, seed=3, server_ms=60)
    sb.inject("latency", delay_ms=60)
    match = TIMING.match(normal_answer(sb, PROJECTS).headers["Server-Timing"])
    assert match and float(match.group(1)) >= 120


@pytest.mark.parametrize("value", [-1, 600_001, "5", True, float("nan")])
def test_bad_server_ms_is_refused(make_sandbox: Callable[..., Any], value: Any) -> None:
    with pytest.raises(ValueError, match="server_ms"):
        make_sandbox(comments=0, server_ms=value)


# -- specs of the wire faults ------------------------------------------------------------------


def test_wire_fault_defaults_and_json(sb: Sandbox) -> None:
    assert Fault.from_spec({"kind": "stall"}).delay_ms == 30_000
    assert Fault.from_spec({"kind": "hang"}).delay_ms == 30_000
    trickle = Fault.from_spec({"kind": "trickle"})
    assert (trickle.interval_ms, trickle.delay_ms) == (1000, 60_000)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sb.token}"
    with session:
        added = session.post(
            sb.url + "/_sandbox/faults", json={"kind": "trickle_headers", "interval_ms": 250}
        )
        assert added.status_code == 200
        assert json.loads(added.content)["faults"][0]["interval_ms"] == 250
        bad = session.post(sb.url + "/_sandbox/faults", json={"kind": "error", "interval_ms": 5})
        assert bad.status_code == 422 and "interval_ms" in bad.json()["message"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"kind": "trickle", "interval_ms": -1}, "interval_ms must be a number from 0"),
        ({"kind": "trickle", "interval_ms": "fast"}, "interval_ms must be a number"),
        ({"kind": "trickle_headers", "interval_ms": 600_001}, "interval_ms must be a number"),
        ({"kind": "stall", "delay_ms": -5}, "delay_ms must be a number"),
        ({"kind": "hang", "delay_ms": True}, "delay_ms must be a number"),
        ({"kind": "hang", "interval_ms": 10}, "interval_ms applies only to trickle"),
    ],
)
def test_invalid_wire_fault_specs(spec: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Fault.from_spec(spec)
