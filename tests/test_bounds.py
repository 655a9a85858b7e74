"""Every call is bounded: in time (each whole attempt, however slowly a server trickles its
answer, and the retries by the budget), in size (``max_answer_mb``) and in pages (a pager
that never ends).

The slow servers are the sandbox's socket-level faults (``trickle``: the body a byte at a
time; ``trickle_headers``: the status line and headers a byte at a time), which never let a
socket read time out. Nothing here asserts a duration: the error's reason, the number of
attempts and the timing log show where each call was cut, and pytest-timeout is the
backstop (the client before this change kept such calls running for minutes).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from reinfer_nb.client import MAX_EMPTY_PAGES, Client
from reinfer_nb.errors import NetworkError, PaginationError

from .support.servers import TOKEN, LoopbackServer, Reply, Seen, ok
from .support.shell import login

pytestmark = pytest.mark.timeout(90)

PROJECTS = "/api/v1/projects"
QUERY = "/api/_private/datasets/dev/support-triage/query"
# About 10 bytes a second: no socket read ever waits 0.5 s. The sandbox closes the
# connection after 8 s in all, so an unbounded client ends up with a cut-short answer.
TRICKLE = {"interval_ms": 100, "delay_ms": 8000}


@pytest.fixture
def trickling(sb: Any) -> Iterator[Any]:
    yield sb
    sb.clear_faults()


def client_for(sb: Any, **options: Any) -> Client:
    return Client(sb.url, sb.token, **{"timeout": 0.5, "retries": 2, "backoff": 0.01, **options})


def dev_source(sb: Any) -> str:
    with Client(sb.url, sb.token) as client:
        return str(client.get("/api/v1/sources/dev").data["sources"][0]["name"])


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("kind", ["trickle", "trickle_headers"])
def test_a_trickled_answer_ends_each_attempt_at_the_timeout(kind: str, trickling: Any) -> None:
    trickling.inject(kind, path=f"^{PROJECTS}$", times=10, **TRICKLE)
    with client_for(trickling) as client:
        with pytest.raises(NetworkError) as info:
            client.get(PROJECTS)
        err = info.value
        assert err.reason == "read_timeout" and err.attempts == 3, err.message
        assert "within the timeout" in err.message and "gave up after 3 attempts" in err.message
        records = client.timing_log.records
        assert [r.outcome for r in records] == ["network"] * 3
        assert [r.attempt for r in records] == [1, 2, 3]
        if kind == "trickle":  # the headers arrived, the body never did
            assert all(r.http_status == 200 and r.ttfb_ms is not None for r in records)
        else:  # not even the status line arrived
            assert all(r.http_status is None and r.ttfb_ms is None for r in records)
        assert all(r.bytes_received == 0 for r in records)
        trickling.clear_faults()
        assert client.get(PROJECTS).attempts == 1  # the same client goes on


def test_a_trickled_post_is_cut_and_not_resent(trickling: Any) -> None:
    sync = f"/api/v1/sources/dev/{dev_source(trickling)}/sync"
    trickling.inject("trickle", path="/sync$", method="POST", times=10, **TRICKLE)
    trickling.reset_stats()
    comment = {"id": "trickled-1", "messages": [{"body": {"text": "hello"}}]}
    with client_for(trickling) as client:
        with pytest.raises(NetworkError) as info:
            client.post(sync, {"comments": [comment]})
        err = info.value
        assert err.reason == "read_timeout" and err.attempts == 1
        assert "not re-sent" in err.message.lower()  # the write may have happened
        assert trickling.stats()["calls_by_path"][f"POST {sync}"] == 1
        assert [(r.outcome, r.http_status) for r in client.timing_log.records] == [
            ("network", 200)
        ]


def test_a_trickled_page_of_a_post_query_keeps_the_pages_before_it(trickling: Any) -> None:
    trickling.inject("trickle_headers", path="/query$", skip=1, times=10, **TRICKLE)
    with client_for(trickling) as client:
        pages = client.fetch_all("POST", QUERY, json={"order": {"kind": "recent"}, "limit": 5})
        err = pages.error
        assert isinstance(err, PaginationError) and (err.page, err.rows) == (2, 5)
        assert isinstance(err.cause, NetworkError) and err.cause.reason == "read_timeout"
        assert err.attempts == 3 and pages.rows == 5  # a query is a read: retried, bounded
        assert [r.outcome for r in client.timing_log.records] == ["ok"] + ["network"] * 3


def test_retries_end_with_the_budget(trickling: Any) -> None:
    """Ten retries allowed, but a 2.5 s budget: the first attempt ends at 1 s, the second
    at 2 s, and a third could not have a whole second before the budget ends."""
    trickling.inject("trickle", path=f"^{PROJECTS}$", times=20, **TRICKLE)
    with client_for(trickling, timeout=1.0, retries=10, retry_budget=2.5) as client:
        with pytest.raises(NetworkError) as info:
            client.get(PROJECTS)
    assert info.value.reason == "read_timeout" and info.value.attempts == 2
    assert "gave up after 2 attempts" in info.value.message
    assert len(client.timing_log) == 2


def test_a_cell_on_a_trickling_server_fails_as_a_read_timeout(ip: Any, trickling: Any) -> None:
    login(ip, trickling)
    ip.run_line_magic("config", "ReinferMagics.timeout = 0.5")
    ip.run_line_magic("config", "ReinferMagics.retries = 1")
    trickling.inject("trickle", path=f"^{PROJECTS}$", times=10, **TRICKLE)
    result = ip.run_cell(f"%%reinfer_get -o df\n{PROJECTS}")
    err = result.error_in_exec
    assert isinstance(err, NetworkError) and err.reason == "read_timeout" and err.attempts == 2
    frame = ip.user_ns["df"]  # the error frame
    assert list(frame["kind"]) == ["network"] and "within the timeout" in frame["message"][0]
    timings = ip.run_line_magic("reinfer_timing", "-o t")
    rows = timings[timings["path"] == PROJECTS]
    assert list(rows["outcome"]) == ["network", "network"] and list(rows["attempt"]) == [1, 2]


# --------------------------------------------------------------------------- size


def test_an_answer_larger_than_max_answer_mb_is_refused(trickling: Any) -> None:
    listing = f"/api/_private/sources/dev/{dev_source(trickling)}/comments"
    with client_for(trickling, max_answer_mb=0.01) as client:
        with pytest.raises(NetworkError) as info:
            client.get(listing, params={"limit": 100})
        err = info.value
        assert err.reason == "too_large" and err.attempts == 1  # not retried: it would be again
        assert "max_answer_mb (0.01 MB)" in err.message and "\n" not in err.message
        assert client.timing_log.records[-1].bytes_received == 0  # its Content-Length said so
        client.max_answer_mb = 50
        assert len(client.get(listing, params={"limit": 100}).records) == 100


def test_a_compressed_answer_is_measured_as_it_expands() -> None:
    """A small gzip body that expands to 64 MB: refused once 1 MB has been decoded, without
    decoding (or holding) the rest."""
    payload = json.dumps({"status": "ok", "pad": "x" * (64 << 20)}).encode()
    bomb = gzip.compress(payload, compresslevel=9)
    assert len(bomb) < 1 << 20
    reply = Reply(200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    with LoopbackServer(lambda request, server: reply) as server:
        with Client(server.url, TOKEN, max_answer_mb=1, retries=0) as client:
            with pytest.raises(NetworkError) as info:
                client.get("/api/v1/big")
            record = client.timing_log.records[-1]
    assert info.value.reason == "too_large" and record.http_status == 200
    assert 1_000_000 < record.bytes_received < 2_000_000


def test_a_cell_past_max_answer_mb_fails_with_one_line(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.run_line_magic("config", "ReinferMagics.max_answer_mb = 0.0001")
    result = ip.run_cell(f"%reinfer_get {PROJECTS}")
    err = result.error_in_exec
    assert isinstance(err, NetworkError) and err.reason == "too_large"
    assert "%config ReinferMagics.max_answer_mb" in err.message
    ip.run_line_magic("config", "ReinferMagics.max_answer_mb = 512")
    assert ip.run_cell(f"%reinfer_get {PROJECTS}").success


# --------------------------------------------------------------------------- pages


class EndlessPager:
    """Page 1 has two rows; every later page is empty, with a new continuation each time.
    After ``give_up_after`` requests it ends (so a client without a bound still stops)."""

    def __init__(self, give_up_after: int = 400) -> None:
        self.give_up_after = give_up_after
        self.requests = 0

    def __call__(self, request: Seen, server: LoopbackServer) -> Reply:
        self.requests += 1
        if self.requests == 1:
            return ok({"comments": [{"id": "a"}, {"id": "b"}], "continuation": "p1"})
        if self.requests >= self.give_up_after:
            return ok({"comments": []})
        return ok({"comments": [], "continuation": f"p{self.requests}"})


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_endless_pager_is_stopped_and_the_rows_kept(method: str) -> None:
    pager = EndlessPager()
    with LoopbackServer(pager) as server, Client(server.url, TOKEN) as client:
        pages = client.fetch_all(method, "/api/v1/things")
    err = pages.error
    assert isinstance(err, PaginationError) and isinstance(err.cause, NetworkError)
    assert err.cause.reason == "bad_protocol"
    assert f"{MAX_EMPTY_PAGES} pages in a row" in err.message and "empty" in err.message
    assert err.rows == 2 and err.page == MAX_EMPTY_PAGES + 2
    assert [r["id"] for r in pages.records] == ["a", "b"]  # the rows so far are kept
    assert pager.requests == MAX_EMPTY_PAGES + 1


def test_a_cell_on_an_endless_pager_keeps_the_rows(ip: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    with LoopbackServer(EndlessPager()) as server:
        ip.run_line_magic("reinfer_login", f"--endpoint {server.url} --no-check --no-prompt")
        # --no-check-spec: the purpose-built pager's path is not the API's.
        result = ip.run_cell("%%reinfer_get -o rows --all --no-check-spec\n/api/v1/things")
    err = result.error_in_exec
    assert isinstance(err, PaginationError) and "empty" in err.message
    assert list(ip.user_ns["rows"]["id"]) == ["a", "b"]
