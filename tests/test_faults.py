"""The fault matrix: every failure between a notebook and the platform, for GET, for POST and
in the middle of an ``--all`` pagination, through the Client and through the magics.

For each fault: the right error kind (api or network) and reason, a one-line message that
says what happened and what to do, retries only where safe (and bounded), one timing record
per attempt, the pages already fetched kept, and the next call working.

Everything crosses a real socket on 127.0.0.1: the servers of ``tests/support/servers.py``
for what the sandbox cannot do (refused, DNS, TLS, connect timeouts, resets at exact points,
scripted answers), and the sandbox's own injectable faults (latency, stall, hang, trickles).
No DNS query is ever sent: an autouse guard fails every lookup of a name that is not an IP
address, and each test checks that none was tried unless it meant to.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reinfer_nb.client import Client, Result
from reinfer_nb.errors import ApiError, NetworkError, PaginationError, ReinferError

from .support.servers import (
    PROXY_502,
    TOKEN,
    LoopbackServer,
    NoDns,
    Pages,
    Reply,
    api_error,
    guard_network,
    make_certificate,
    ok,
    raw,
    server_context,
)

pytestmark = pytest.mark.timeout(120)

PATH = "/api/v1/things"
JSON = {"Content-Type": "application/json"}
BODY = json.dumps(
    {"status": "ok", "comments": [{"id": f"x{i}", "text": "t" * 50} for i in range(20)]}
).encode()
RETRIES = 3  # the Client default: 4 attempts at most
PER_PAGE = 2


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[NoDns]:
    """No DNS: lookups of names fail in-process; a test that expects some clears them."""
    yield from guard_network(monkeypatch)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request, srv: ok({"comments": [{"id": "a"}]})) as srv:
        yield srv


def client_for(url: str, **kw: Any) -> Client:
    options = {"backoff": 0.01, "timeout": 0.5, "retry_after_cap": 0.05, **kw}
    return Client(url, TOKEN, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_error(
    err: ReinferError, kind: str, reason: str | None, method: str, words: tuple[str, ...]
) -> None:
    """The error's kind and reason, and a one-line message; it and the hint say what to do.

    An API error's message is one sentence (status, call, the platform's words); what to
    do is its ``hint``, shown in the error frame right above the failing cell's line.
    """
    assert err.kind == kind, err.message
    if kind == "network":
        assert isinstance(err, NetworkError) and err.reason == reason, (err.reason, err.message)
    else:
        assert isinstance(err, ApiError)
    assert err.method == method and err.path is not None and err.path.startswith(PATH)
    lines = err._render_traceback_()
    assert len(lines) == 1 and "\n" not in lines[0] and "\r" not in lines[0]
    assert 20 < len(err.message) < 700
    assert PATH in err.message and method in err.message
    said = f"{err.message} {err.hint}".lower()
    for word in words:
        assert word.lower() in said, (word, err.message, err.hint)
    if kind == "network":  # no frame column to look at in a log: the line says it all
        assert err.hint.lower() in err.message.lower()
    assert TOKEN not in lines[0] and TOKEN not in repr(err)


def check_log(
    client: Client, outcomes: list[str], status: int | None = None, *, after_page: bool = False
) -> None:
    """One timing record per attempt, numbered, with the outcome of each.

    ``after_page``: the first record is a page fetched before the failing call.
    """
    records = client.timing_log.records
    assert [r.outcome for r in records] == outcomes
    numbers = list(range(1, len(outcomes) + 1 - after_page))
    assert [r.attempt for r in records] == ([1] if after_page else []) + numbers
    for record in records:
        assert record.method in ("GET", "POST") and record.path.startswith(PATH)
        assert record.client_ms >= 0
        if record.outcome != "ok":
            assert record.http_status == status


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Case:
    """A fault in the answer: how the server misbehaves, and what the client must say."""

    name: str
    make: Callable[[], Reply]
    kind: str
    reason: str | None
    status: int | None
    retried: bool  # re-sent when the call is idempotent
    words: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("reset before the answer", lambda: Reply(mode="reset"),
         "network", "reset", None, True, ("reset", "retry")),
    Case("reset mid-answer", lambda: Reply(200, BODY, JSON, mode="reset_mid", cut=300),
         "network", "reset", 200, True, ("reset", "retry")),
    Case("body cut short", lambda: Reply(200, BODY, JSON, mode="truncate", cut=300),
         "network", "truncated", 200, True, ("cut short", "retry")),
    Case("truncated JSON", lambda: raw(200, BODY[:300], "application/json"),
         "network", "truncated", 200, True, ("cut short", "retry")),
    Case("proxy HTML 502", lambda: raw(502, PROXY_502, "text/html"),
         "network", "proxy", 502, True, ("HTML page", "proxy", "retry")),
    Case("JSON without status", lambda: raw(200, '{"comments": []}', "application/json"),
         "network", "no_status", 200, False, ("no 'status'", "tenant root")),
    Case("not JSON", lambda: raw(200, "hello", "text/plain"),
         "network", "not_json", 200, False, ("not JSON", "tenant root")),
    Case("429 with Retry-After",
         lambda: api_error(429, "Too Many Requests", **{"Retry-After": "7"}),
         "api", None, 429, True, ("HTTP 429", "rate limited", "wait 7 s")),
    Case("429 without Retry-After", lambda: api_error(429, "Too Many Requests"),
         "api", None, 429, True, ("HTTP 429", "rate limited", "wait")),
    Case("500", lambda: api_error(500, "Internal Server Error"),
         "api", None, 500, True, ("HTTP 500", "again later")),
    Case("503", lambda: api_error(503, "Service Unavailable"),
         "api", None, 503, True, ("HTTP 503", "again later")),
    Case("409", lambda: api_error(409, "Conflict: source already exists"),
         "api", None, 409, False, ("HTTP 409", "conflict", "retry")),
    # Slow, stalled and trickling answers are the sandbox's faults: SANDBOX_CASES below.
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_get_fault_once(case: Case, server: LoopbackServer) -> None:
    server.reply_next(case.make())
    with client_for(server.url) as client:
        if case.retried:
            result = client.get(PATH)
            assert result.attempts == 2 and result.data["comments"] == [{"id": "a"}]
            assert len(server.requests_to(PATH)) == 2
            check_log(client, [case.kind, "ok"], case.status)
        else:
            with pytest.raises(ReinferError) as info:
                client.get(PATH)
            check_error(info.value, case.kind, case.reason, "GET", case.words)
            assert info.value.attempts == 1 and len(server.requests_to(PATH)) == 1
            check_log(client, [case.kind], case.status)
        assert client.get(PATH).attempts == 1  # the next call works


@pytest.mark.parametrize("case", [c for c in CASES if c.retried], ids=str)
def test_get_fault_persists_retries_are_bounded(case: Case, server: LoopbackServer) -> None:
    server.reply_next(*[case.make() for _ in range(RETRIES + 3)])
    with client_for(server.url) as client:
        with pytest.raises(ReinferError) as info:
            client.get(PATH)
        err = info.value
        check_error(err, case.kind, case.reason, "GET", case.words)
        assert err.attempts == RETRIES + 1
        assert f"after {RETRIES + 1} attempts" in err.message
        assert len(server.requests_to(PATH)) == RETRIES + 1
        check_log(client, [case.kind] * (RETRIES + 1), case.status)
        assert err.timing is client.timing_log.records[-1]
        server.script.clear()
        assert client.get(PATH).attempts == 1


@pytest.mark.parametrize("case", CASES, ids=str)
def test_post_fault_is_not_resent(case: Case, server: LoopbackServer) -> None:
    server.reply_next(case.make())
    with client_for(server.url) as client:
        with pytest.raises(ReinferError) as info:
            client.post(PATH, {"comments": [{"id": "new"}]})
        err = info.value
        check_error(err, case.kind, case.reason, "POST", case.words)
        assert err.attempts == 1 and len(server.requests_to(PATH)) == 1
        assert server.requests_to(PATH)[0].json() == {"comments": [{"id": "new"}]}
        if case.retried:  # it would have been retried as a GET: say why it was not
            assert "not re-sent" in err.message.lower() and "not re-sent" in err.hint.lower()
        check_log(client, [case.kind], case.status)
        assert client.post(PATH, {}).attempts == 1


def collect(client: Client, method: str) -> tuple[list[Result], PaginationError | None]:
    pages: list[Result] = []
    try:
        for page in client.paginate(method, PATH, params={"limit": PER_PAGE}):
            pages.append(page)
            assert len(pages) < 50
    except PaginationError as err:
        assert err.__cause__ is err.cause and err.kind == err.cause.kind
        return pages, err
    return pages, None


def ids(pages: list[Result]) -> list[str]:
    return [c["id"] for page in pages for c in page.data["comments"]]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault_in_the_middle_of_pagination(case: Case, method: str) -> None:
    # Listing queries are reads: POST pages are retried like GET ones.
    listing = Pages(3, PER_PAGE, fault_page=2, fault=lambda srv: case.make(), fault_times=10)
    with LoopbackServer(listing) as server, client_for(server.url) as client:
        pages, err = collect(client, method)
        assert err is not None and ids(pages) == ["c1-0", "c1-1"]  # page 1 is kept
        check_error(err.cause, case.kind, case.reason, method, case.words)
        assert err.page == 2 and err.rows == PER_PAGE
        tries = RETRIES + 1 if case.retried else 1
        assert listing.faults_fired == tries and err.attempts == tries
        check_log(client, ["ok"] + [case.kind] * tries, case.status, after_page=True)

        listing.faults_fired, listing.fault_times = 0, 1  # the fault strikes once
        pages, err = collect(client, method)
        if case.retried:
            assert err is None and len(ids(pages)) == 3 * PER_PAGE
            assert len(set(ids(pages))) == 3 * PER_PAGE  # nothing lost, nothing twice
        else:
            assert err is not None and err.page == 2 and len(pages) == 1
        listing.fault_page = None
        assert len(ids(collect(client, method)[0])) == 3 * PER_PAGE  # the next call works


def test_records_attempt_numbers_are_per_call(server: LoopbackServer) -> None:
    server.reply_next(api_error(503, "busy"), api_error(503, "busy"))
    with client_for(server.url) as client:
        client.get(PATH)
        client.get(PATH)
        assert [r.attempt for r in client.timing_log] == [1, 2, 3, 1]


# --------------------------------------------------------------------------- time bounds


def test_retry_budget_stops_long_backoff(server: LoopbackServer) -> None:
    """A backoff that would overrun the budget is not waited for: the call gives up."""
    server.reply_next(*[api_error(503, "busy") for _ in range(5)])
    with client_for(server.url, backoff=60.0, retry_budget=0.5) as client:
        with pytest.raises(ApiError) as info:
            client.get(PATH)
    assert info.value.attempts == 1 and len(server.requests_to(PATH)) == 1


def test_retry_after_waits_are_capped(server: LoopbackServer) -> None:
    """A server asking for an hour gets the capped wait, a bounded number of times."""
    server.reply_next(*[api_error(429, "slow down", **{"Retry-After": "3600"}) for _ in range(9)])
    with client_for(server.url, retry_after_cap=0.01) as client:
        with pytest.raises(ApiError) as info:
            client.get(PATH)
    assert info.value.attempts == RETRIES + 1 and len(server.requests_to(PATH)) == RETRIES + 1
    assert "wait 3600 s" in info.value.hint


def test_retry_after_as_a_date(server: LoopbackServer) -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.reply_next(api_error(429, "slow down", **{"Retry-After": past}))
    with client_for(server.url) as client:
        assert client.get(PATH).attempts == 2  # a date in the past: retry at once


def test_same_origin_redirect_loop_is_bounded(server: LoopbackServer) -> None:
    server.handler = lambda request, srv: Reply(307, b"", {"Location": PATH})
    with client_for(server.url) as client:
        with pytest.raises(NetworkError) as info:
            client.get(PATH)
    assert info.value.reason == "redirect" and "redirected more than" in info.value.message
    assert len(server.requests_to(PATH)) <= 10


# --------------------------------------------------------------------------- connections


def test_connection_refused_get_and_post() -> None:
    with client_for(f"http://127.0.0.1:{free_port()}") as client:
        for method in ("GET", "POST"):
            client.timing_log.clear()
            with pytest.raises(NetworkError) as info:
                client.request(method, PATH, json={} if method == "POST" else None)
            # Nothing was sent, so even a POST may be re-sent: bounded all the same.
            check_error(info.value, "network", "refused", method,
                        ("connection refused", "check the endpoint"))
            assert info.value.attempts == RETRIES + 1
            check_log(client, ["network"] * (RETRIES + 1), None)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_refused_mid_pagination(method: str) -> None:
    listing = Pages(3, PER_PAGE, before_page={1: LoopbackServer.close_listener}, close=True)
    with LoopbackServer(listing) as server, client_for(server.url) as client:
        pages, err = collect(client, method)
        assert err is not None and ids(pages) == ["c1-0", "c1-1"]
        check_error(err.cause, "network", "refused", method, ("refused",))
        assert err.page == 2 and err.attempts == RETRIES + 1
        check_log(client, ["ok"] + ["network"] * (RETRIES + 1), after_page=True)
        server.reopen()
        listing.before_page = {}
        assert len(ids(collect(client, method)[0])) == 3 * PER_PAGE  # the same client works


def test_unresolvable_host_get_and_post(resolver: NoDns) -> None:
    with client_for("https://acme.reinfer.io") as client:
        for method in ("GET", "POST"):
            client.timing_log.clear()
            with pytest.raises(NetworkError) as info:
                client.request(method, PATH, json={} if method == "POST" else None)
            check_error(info.value, "network", "dns", method,
                        ("cannot resolve", "acme.reinfer.io", "spelling"))
            assert info.value.attempts == 1
            check_log(client, ["network"])
    # The resolver was asked (in-process, and refused); nothing else was looked up.
    assert set(resolver.refused) == {"acme.reinfer.io"} and len(resolver.refused) == 2
    assert set(resolver.lookups) == {"acme.reinfer.io"}
    resolver.refused.clear()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unresolvable_host_mid_pagination(method: str, resolver: NoDns) -> None:
    resolver.names.add("localhost")  # resolved in-process to 127.0.0.1: no DNS query

    def lose_dns(srv: LoopbackServer) -> None:
        resolver.fail_all = True

    listing = Pages(3, PER_PAGE, before_page={1: lose_dns}, close=True)
    with LoopbackServer(listing) as server:
        with client_for(f"http://localhost:{server.port}") as client:
            pages, err = collect(client, method)
            assert err is not None and ids(pages) == ["c1-0", "c1-1"] and err.page == 2
            check_error(err.cause, "network", "dns", method, ("cannot resolve", "localhost"))
            check_log(client, ["ok", "network"], after_page=True)
            resolver.fail_all, listing.before_page = False, {}
            assert len(ids(collect(client, method)[0])) == 3 * PER_PAGE
    assert resolver.refused == ["localhost"]
    resolver.refused.clear()


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    return make_certificate(tmp_path, "a"), make_certificate(tmp_path, "b")


def test_tls_failure_get_and_post(certificates: Any) -> None:
    (cert, key), _ = certificates
    with LoopbackServer(tls=server_context(cert, key)) as server:
        with client_for(server.url) as client:
            for method in ("GET", "POST"):
                client.timing_log.clear()
                with pytest.raises(NetworkError) as info:
                    client.request(method, PATH, json={} if method == "POST" else None)
                check_error(info.value, "network", "tls", method,
                            ("TLS handshake", "certificate", "REQUESTS_CA_BUNDLE"))
                assert info.value.attempts == 1  # not retried: it would fail the same way
                check_log(client, ["network"])
        assert server.seen == []  # no request (and no token) crossed the failed handshake
        with client_for(server.url, verify=str(cert)) as trusting:
            assert trusting.get(PATH).http_status == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tls_failure_mid_pagination(method: str, certificates: Any) -> None:
    (cert_a, key_a), (cert_b, key_b) = certificates
    good, bad = server_context(cert_a, key_a), server_context(cert_b, key_b)

    def switch(srv: LoopbackServer) -> None:
        srv.set_tls(bad)

    listing = Pages(3, PER_PAGE, before_page={1: switch}, close=True)
    with LoopbackServer(listing, tls=good) as server:
        with client_for(server.url, verify=str(cert_a)) as client:
            pages, err = collect(client, method)
            assert err is not None and ids(pages) == ["c1-0", "c1-1"] and err.page == 2
            check_error(err.cause, "network", "tls", method, ("TLS handshake",))
            check_log(client, ["ok", "network"], after_page=True)
            server.set_tls(good)
            listing.before_page = {}
            assert len(ids(collect(client, method)[0])) == 3 * PER_PAGE


def test_connect_timeout_get_and_post() -> None:
    with LoopbackServer() as server:
        server.blackhole()
        with client_for(server.url) as client:
            for method in ("GET", "POST"):
                client.timing_log.clear()
                with pytest.raises(NetworkError) as info:
                    client.request(method, PATH, json={} if method == "POST" else None)
                check_error(info.value, "network", "connect_timeout", method,
                            ("could not connect", "timeout"))
                assert info.value.attempts == RETRIES + 1  # never sent: safe to re-send
                check_log(client, ["network"] * (RETRIES + 1))
            assert server.seen == []
            server.resume()
            assert client.get(PATH).http_status == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connect_timeout_mid_pagination(method: str) -> None:
    listing = Pages(3, PER_PAGE, before_page={1: LoopbackServer.blackhole}, close=True)
    with LoopbackServer(listing) as server, client_for(server.url) as client:
        pages, err = collect(client, method)
        assert err is not None and ids(pages) == ["c1-0", "c1-1"] and err.page == 2
        check_error(err.cause, "network", "connect_timeout", method, ("could not connect",))
        check_log(client, ["ok"] + ["network"] * (RETRIES + 1), after_page=True)
        server.resume()
        listing.before_page = {}
        assert len(ids(collect(client, method)[0])) == 3 * PER_PAGE


# --------------------------------------------------------------------------- the sandbox


SANDBOX_CASES = [
    # (fault kind, options, error kind, reason, status, retried for reads)
    ("error", {"status": 500}, "api", None, 500, True),
    ("error", {"status": 503}, "api", None, 503, True),
    ("error", {"status": 409}, "api", None, 409, False),
    ("rate_limit", {"retry_after": 1}, "api", None, 429, True),
    ("rate_limit", {}, "api", None, 429, True),
    ("html", {}, "network", "proxy", 502, True),
    ("reset", {}, "network", "reset", 200, True),
    ("truncate", {}, "network", "truncated", 200, True),
    ("no_status", {}, "network", "no_status", 200, False),
    ("not_json", {}, "network", "not_json", 200, False),
    ("latency", {"delay_ms": 1500}, "network", "read_timeout", None, True),
    # The answer's time, not a read's, is bounded: each waits longer than the 0.5 s timeout.
    ("hang", {"delay_ms": 5000}, "network", "read_timeout", None, True),
    ("stall", {"delay_ms": 5000}, "network", "read_timeout", 200, True),
    ("trickle", {"interval_ms": 100, "delay_ms": 5000}, "network", "read_timeout", 200, True),
    ("trickle_headers", {"interval_ms": 100, "delay_ms": 5000},
     "network", "read_timeout", None, True),
]


def sandbox_id(case: tuple[Any, ...]) -> str:
    return f"{case[0]}-{case[4]}" if case[1] else case[0]


@pytest.fixture
def dev_source(sb: Any) -> str:
    with Client(sb.url, sb.token) as client:
        return str(client.get("/api/v1/sources/dev").data["sources"][0]["name"])


@pytest.mark.parametrize("case", SANDBOX_CASES, ids=sandbox_id)
def test_sandbox_faults_get_post_and_all(case: tuple[Any, ...], sb: Any, dev_source: str) -> None:
    kind, options, error_kind, reason, status, retried = case
    listing = f"/api/_private/sources/dev/{dev_source}/comments"
    sync = f"/api/v1/sources/dev/{dev_source}/sync"
    with Client(sb.url, sb.token, backoff=0.01, timeout=0.5, retry_after_cap=0.05) as client:
        # GET, once: retried (and then fine) where safe.
        sb.inject(kind, path=r"^/api/v1/projects$", times=1, **options)
        if retried:
            assert client.get("/api/v1/projects").attempts == 2
        else:
            with pytest.raises(ReinferError) as info:
                client.get("/api/v1/projects")
            assert info.value.kind == error_kind and getattr(info.value, "reason", None) == reason
        # POST (a write), once: never re-sent.
        sb.clear_faults()
        sb.reset_stats()
        sb.inject(kind, path=r"/sync$", times=1, **options)
        comment = {"id": f"fault-{kind}-{status}", "messages": [{"body": {"text": "hello"}}]}
        with pytest.raises(ReinferError) as info:
            client.post(sync, {"comments": [comment]})
        err = info.value
        assert err.kind == error_kind and getattr(err, "reason", None) == reason, err.message
        assert err.http_status == status and err.attempts == 1
        assert len(err._render_traceback_()) == 1 and "\n" not in err.message
        assert sb.stats()["calls_by_path"].get(f"POST {sync}", 0) <= 1
        # --all: page 3 fails for good; pages 1 and 2 are kept.
        sb.clear_faults()
        sb.inject(kind, path=r"/comments$", method="GET", skip=2, times=10, **options)
        pages: list[Result] = []
        with pytest.raises(ReinferError) as info:
            for page in client.paginate("GET", listing, params={"limit": 5}):
                pages.append(page)
        err = info.value
        assert len(pages) == 2 and err.page == 3 and err.rows == 10
        assert err.kind == error_kind and err.attempts == (RETRIES + 1 if retried else 1)
        records = client.timing_log.last(err.attempts)
        assert all(r.outcome == error_kind and "/comments" in r.path for r in records)
        sb.clear_faults()
        assert client.get("/api/v1/projects").attempts == 1


# --------------------------------------------------------------------------- magics


@pytest.fixture
def shell(ip: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    magics = ip.magics_manager.registry["ReinferMagics"]
    magics.timeout, magics.retries = 0.5, RETRIES
    magics.check_spec = False  # the purpose-built server's paths are not the API's
    return ip


def login(ip: Any, url: str) -> None:
    ip.run_line_magic("reinfer_login", f"--endpoint {url} --no-check --no-prompt")
    client = ip.magics_manager.registry["ReinferMagics"].client
    client.backoff, client.retry_after_cap = 0.01, 0.05


def run(ip: Any, cell: str) -> ReinferError | None:
    result = ip.run_cell(cell)
    err = result.error_in_exec
    assert err is None or isinstance(err, ReinferError), repr(err)  # never a raw exception
    assert ip.run_cell("1 + 1").result == 2  # the kernel is alive
    return err


@pytest.mark.parametrize("case", CASES, ids=str)
def test_magics_fault_get_post_and_all(case: Case, shell: Any) -> None:
    listing = Pages(3, PER_PAGE)
    with LoopbackServer(listing) as server:
        login(shell, server.url)
        # GET once: the magic gives what the client gives.
        server.reply_next(case.make())
        err = run(shell, f"%%reinfer_get -o df\n{PATH}\nlimit: {PER_PAGE}")
        if case.retried:
            assert err is None and len(shell.user_ns["df"]) == PER_PAGE
        else:
            assert err is not None and err.kind == case.kind
            frame = shell.user_ns["df"]  # the error frame
            assert list(frame["kind"]) == [case.kind] and frame.attrs["incomplete"]
        # POST once: an error, shown as a frame, and the cell fails with one line.
        server.reply_next(case.make())
        err = run(shell, f"%%reinfer_post -o posted\n{PATH}\n{{\"comments\": []}}")
        assert err is not None and err.kind == case.kind
        assert shell.user_ns["posted"]["message"][0] == err.detail
        # --all with a failure on page 2: the page before it is kept in -o.
        listing.fault_page, listing.fault, listing.fault_times = 2, lambda s: case.make(), 10
        for magic, body in (("reinfer_get", f"limit: {PER_PAGE}"), ("reinfer_post", "{}")):
            err = run(shell, f"%%{magic} -o rows --all\n{PATH}\n{body}")
            assert err is not None and err.kind == case.kind and "Stopped at page 2" in err.message
            rows = shell.user_ns["rows"]
            assert list(rows["id"]) == ["c1-0", "c1-1"] and rows.attrs["stopped_at_page"] == 2
        listing.fault_page = None
        assert run(shell, f"%%reinfer_get -o rows --all\n{PATH}\nlimit: {PER_PAGE}") is None
        assert len(shell.user_ns["rows"]) == 3 * PER_PAGE


@pytest.mark.parametrize("fault", ["refused", "dns", "tls", "connect_timeout"])
def test_magics_connection_faults(fault: str, shell: Any, resolver: NoDns, tmp_path: Path) -> None:
    healthy = LoopbackServer(Pages(3, PER_PAGE))
    broken: LoopbackServer | None = None
    try:
        if fault == "refused":
            url = f"http://127.0.0.1:{free_port()}"
        elif fault == "dns":
            url = "https://acme.reinfer.io"
        elif fault == "tls":
            cert, key = make_certificate(tmp_path)
            broken = LoopbackServer(tls=server_context(cert, key))
            url = broken.url
        else:
            broken = LoopbackServer()
            broken.blackhole()
            url = broken.url
        login(shell, url)
        for cell in (f"%reinfer_get -o out {PATH}", f"%%reinfer_post -o out\n{PATH}\n{{}}",
                     f"%%reinfer_get -o out --all\n{PATH}"):
            err = run(shell, cell)
            cause = err.cause if isinstance(err, PaginationError) else err
            assert isinstance(cause, NetworkError) and cause.reason == fault
            out = shell.user_ns["out"]  # the error frame, or for --all the (no) rows kept
            assert out.attrs["incomplete"] and out.attrs["error"]["kind"] == "network"
        # The next call, to a working endpoint, works.
        login(shell, healthy.url)
        assert run(shell, f"%%reinfer_get -o rows --all\n{PATH}") is None
        assert len(shell.user_ns["rows"]) == 3 * PER_PAGE
    finally:
        healthy.stop()
        if broken is not None:
            broken.stop()
    if fault == "dns":
        assert set(resolver.refused) == {"acme.reinfer.io"}
        resolver.refused.clear()


def test_magics_keep_going_without_failing_the_cell(shell: Any, server: LoopbackServer) -> None:
    """With fail_on_error off, the error frame is the cell's value and the cell succeeds."""
    login(shell, server.url)
    shell.magics_manager.registry["ReinferMagics"].fail_on_error = False
    try:
        server.reply_next(api_error(409, "exists"))
        result = shell.run_cell(f"%reinfer_get {PATH}")
        assert result.error_in_exec is None and list(result.result["http_status"]) == [409]
    finally:
        shell.magics_manager.registry["ReinferMagics"].fail_on_error = True


def test_no_request_left_unmapped() -> None:
    """Every requests exception class maps to a ReinferError (the one mapping point)."""
    import requests

    from reinfer_nb.answers import map_requests_error
    from reinfer_nb.endpoints import normalise_endpoint

    endpoint = normalise_endpoint("http://127.0.0.1:9")
    classes = [
        obj for obj in vars(requests.exceptions).values()
        if isinstance(obj, type) and issubclass(obj, requests.RequestException)
    ]
    assert len(classes) > 10
    for cls in classes:
        try:
            exc = cls("boom")
        except TypeError:
            continue
        err = map_requests_error(exc, "GET", PATH, endpoint).to_error("GET", PATH)
        assert isinstance(err, ReinferError) and err.message and "\n" not in err.message
        assert re.search(r"GET /api/v1/things", err.message) or err.kind == "config"
