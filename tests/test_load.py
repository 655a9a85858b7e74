"""Load: 8 clients at once against the sandbox, each making a bounded number of calls.

No errors; no comment lost or duplicated after concurrent ``sync`` writes (each client
writes its own ids into the dev sources, then rewrites some of them), all read back by
paging; one timing record per call in the shared log, and the server counted the same
calls (so nothing was silently retried). Nothing here asserts anything about time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import ReinferError
from reinfer_nb.timing import TimingLog

from .support.servers import NoDns, guard_network

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[NoDns]:
    """No DNS: every lookup of a name fails in-process, and fails the test."""
    yield from guard_network(monkeypatch)

CLIENTS = 8
CALLS = 2000  # per client
BATCH = 5  # comments per sync
SYNCS = 200  # per client: 1,000 comments each
REWRITES = 20  # syncs per client that rewrite comments already written (upserts)


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Any]:
    # Its own sandbox: the writes here must not change what other tests read.
    sb = make_sandbox(comments=400, seed=11)
    yield sb
    sb.stop()


def comment(client: int, number: int, version: int) -> dict[str, Any]:
    return {
        "id": f"load-{client}-{number}",
        "timestamp": f"2021-01-01T00:{number // 60 % 60:02d}:{number % 60:02d}Z",
        "messages": [{"body": {"text": f"client {client} comment {number} v{version}"}}],
        "user_properties": {"string:client": str(client)},
    }


class Worker:
    """One client in a thread: ``CALLS`` calls, counted; the first failure is kept."""

    def __init__(self, number: int, url: str, token: str, sources: list[str],
                 log: TimingLog, start: threading.Barrier) -> None:
        self.number = number
        self.client = Client(url, token, timing_log=log, backoff=0.01, timeout=30)
        self.sources = sources
        self.start = start
        self.calls = 0
        self.tally: Counter[str] = Counter()
        self.written: dict[str, str] = {}  # comment id -> source
        self.failure: BaseException | None = None

    def call(self, method: str, path: str, **kw: Any) -> Any:
        self.calls += 1
        return self.client.request(method, path, **kw).data

    def run(self) -> None:
        try:
            self.start.wait(timeout=60)
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc
        finally:
            self.client.close()

    def _run(self) -> None:
        plan = ["sync"] * SYNCS + ["rewrite"] * REWRITES
        reads_left = CALLS - len(plan)
        order: list[str] = []
        for index, item in enumerate(plan):  # interleave reads and writes evenly
            share = reads_left // (len(plan) - index)
            order += [item] + ["read"] * share
            reads_left -= share
        assert len(order) == CALLS and order.count("rewrite") == REWRITES
        synced = rewritten = reads_done = 0
        for action in order:
            if action == "sync":
                source = self.sources[synced % len(self.sources)]
                batch = [comment(self.number, synced * BATCH + i, 1) for i in range(BATCH)]
                data = self.call("POST", f"/api/v1/sources/dev/{source}/sync",
                                 json={"comments": batch})
                self.tally.update(new=data["new"], updated=data["updated"],
                                  unchanged=data["unchanged"])
                self.written.update((c["id"], source) for c in batch)
                synced += 1
            elif action == "rewrite":
                first = rewritten * BATCH  # the comments of batch `rewritten`, version 2
                source = self.sources[rewritten % len(self.sources)]
                batch = [comment(self.number, first + i, 2) for i in range(BATCH)]
                data = self.call("POST", f"/api/v1/sources/dev/{source}/sync",
                                 json={"comments": batch})
                self.tally.update(new=data["new"], updated=data["updated"],
                                  unchanged=data["unchanged"])
                rewritten += 1
            else:
                kind = reads_done % 3
                if kind == 0:
                    assert self.call("GET", "/api/v1/projects")["projects"]
                elif kind == 1:
                    assert self.call("GET", "/api/v1/sources/dev")["sources"]
                elif self.written:
                    some = f"load-{self.number}-{(reads_done * 7) % len(self.written)}"
                    source = self.written[some]
                    got = self.call("GET", f"/api/v1/sources/dev/{source}/comments/{some}")
                    assert got["comment"]["id"] == some
                else:
                    self.call("GET", "/api/v1/projects")
                reads_done += 1


@pytest.mark.slow
def test_eight_clients_concurrently(sandbox: Any) -> None:
    with Client(sandbox.url, sandbox.token) as reader:
        sources = [s["name"] for s in reader.get("/api/v1/sources/dev").data["sources"]]
    assert sources
    sandbox.reset_stats()
    log = TimingLog()
    start = threading.Barrier(CLIENTS)
    workers = [Worker(n, sandbox.url, sandbox.token, sources, log, start)
               for n in range(CLIENTS)]
    threads = [threading.Thread(target=w.run, name=f"load-{w.number}", daemon=True)
               for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=540)
    assert not any(thread.is_alive() for thread in threads), "a client did not finish"

    # No errors, every call made.
    failures = [(w.number, w.failure) for w in workers if w.failure is not None]
    assert failures == [], failures
    assert all(w.calls == CALLS for w in workers)
    total = CLIENTS * CALLS

    # Every write landed once: new the first time, updated when rewritten.
    per_client = SYNCS * BATCH
    for worker in workers:
        assert worker.tally == Counter(new=per_client, updated=REWRITES * BATCH, unchanged=0)

    # The timing log is complete: one record per call, all fine, none retried.
    records = log.records
    assert len(records) == total
    assert Counter(r.outcome for r in records) == Counter(ok=total)
    assert all(r.attempt == 1 and r.http_status == 200 for r in records)
    assert all(r.server_ms is not None for r in records)
    syncs = [r for r in records if r.method == "POST"]
    assert len(syncs) == CLIENTS * (SYNCS + REWRITES)
    stats = sandbox.stats()
    assert stats["calls"] == total  # the server saw each call once
    assert stats["faults_fired"] == 0
    assert stats["connections_opened"] <= 2 * CLIENTS  # keep-alive: about one each

    # Read everything back by paging: each comment exactly once, with its latest text.
    seen: Counter[str] = Counter()
    texts: dict[str, str] = {}
    with Client(sandbox.url, sandbox.token, timeout=30) as reader:
        for source in sources:
            pages = 0
            for page in reader.paginate("GET", f"/api/_private/sources/dev/{source}/comments",
                                        params={"limit": 256}):
                pages += 1
                assert pages < 1000
                for item in page.data["comments"]:
                    if item["id"].startswith("load-"):
                        seen[item["id"]] += 1
                        texts[item["id"]] = item["messages"][0]["body"]["text"]
        assert len(reader.timing_log) >= len(sources)
    expected = {c for w in workers for c in w.written}
    assert len(expected) == CLIENTS * per_client
    assert set(seen) == expected  # nothing lost, nothing foreign
    assert max(seen.values()) == 1  # nothing twice
    for client in range(CLIENTS):
        for number in (0, REWRITES * BATCH - 1, REWRITES * BATCH, per_client - 1):
            version = 2 if number < REWRITES * BATCH else 1
            assert texts[f"load-{client}-{number}"].endswith(f"v{version}")


@pytest.mark.slow
def test_concurrent_calls_on_one_client_share_a_log(sandbox: Any) -> None:
    """A Client used from several threads at once (a notebook with background work)."""
    log = TimingLog()
    errors: list[BaseException] = []
    with Client(sandbox.url, sandbox.token, timing_log=log) as client:

        def work() -> None:
            try:
                for _ in range(200):
                    client.get("/api/v1/projects")
            except (ReinferError, AssertionError) as exc:  # pragma: no cover - reported
                errors.append(exc)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == [] and len(log) == 800
    assert all(r.outcome == "ok" for r in log)
