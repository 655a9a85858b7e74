"""Injected faults, each kind, their matching rules, and control over HTTP."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from reinfer_nb.sandbox import Fault, Sandbox, start_sandbox

SOURCES = "/api/v1/sources"
TIMING = re.compile(r"^total;dur=(\d+(?:\.\d+)?)$")


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Sandbox]:
    sb = make_sandbox(comments=300, seed=2)
    yield sb
    sb.stop()


@pytest.fixture()
def session(sandbox: Sandbox) -> Iterator[requests.Session]:
    sandbox.clear_faults()
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        yield s
    sandbox.clear_faults()


def test_error_with_retry_after(sandbox: Sandbox, session: requests.Session) -> None:
    fault = sandbox.inject("error", status=503, retry_after=2, path="^/api/v1/sources$")
    response = session.get(sandbox.url + SOURCES)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.json() == {"status": "error", "message": response.json()["message"]}
    assert "503 Service Unavailable" in response.json()["message"]
    assert TIMING.match(response.headers["Server-Timing"])
    assert session.get(sandbox.url + SOURCES).status_code == 200  # times defaults to 1
    assert (fault.seen, fault.fired, fault.active) == (2, 1, False)


def test_rate_limit(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("rate_limit", times=2)
    first, second = session.get(sandbox.url + SOURCES), session.get(sandbox.url + SOURCES)
    assert first.status_code == second.status_code == 429
    assert "Retry-After" not in first.headers and first.json()["status"] == "error"
    sandbox.inject("rate_limit", retry_after=0)
    assert session.get(sandbox.url + SOURCES).headers["Retry-After"] == "0"
    assert session.get(sandbox.url + SOURCES).status_code == 200


def test_html_from_a_proxy(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("html")
    response = session.get(sandbox.url + SOURCES)
    assert response.status_code == 502 and response.headers["Content-Type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in response.text and "nginx" in response.text
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_reset_mid_answer(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("reset", path="comments")
    broken = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    with pytest.raises(broken, match="reset by peer"):  # ECONNRESET, mid-headers or mid-body
        session.get(sandbox.url + "/api/_private/sources/dev/support-emails/comments?limit=50")
    assert session.get(sandbox.url + SOURCES).status_code == 200  # a new connection works


def test_truncated_body(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("truncate")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(sandbox.url + "/api/_private/sources/dev/support-emails/comments?limit=50")
    assert session.get(sandbox.url + SOURCES).status_code == 200


def test_no_status_and_not_json(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("no_status")
    response = session.get(sandbox.url + SOURCES)
    assert response.status_code == 200 and "status" not in response.json()
    assert response.json()["sources"]
    sandbox.inject("not_json", method="POST")
    assert session.get(sandbox.url + SOURCES).json()["status"] == "ok"  # GET is not matched
    response = session.post(sandbox.url + "/auth/refresh-user-permissions", json={})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError):
        response.json()


def test_latency_counts_as_server_time(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("latency", delay_ms=150)
    started = time.perf_counter()
    response = session.get(sandbox.url + SOURCES)
    assert time.perf_counter() - started >= 0.15 and response.status_code == 200
    match = TIMING.match(response.headers["Server-Timing"])
    assert match and float(match.group(1)) >= 150


def test_skip_fails_the_third_page(sandbox: Sandbox, session: requests.Session) -> None:
    sandbox.inject("error", path=r"/sources/dev/support-emails/comments$", skip=2, status=500)
    url = sandbox.url + "/api/_private/sources/dev/support-emails/comments"
    params = {"limit": 10}
    statuses = []
    for _ in range(4):
        response = session.get(url, params=params)
        statuses.append(response.status_code)
        if response.ok:
            params["after"] = response.json()["continuation"]
    assert statuses == [200, 200, 500, 200]


def test_probability_is_seeded_and_repeatable() -> None:
    def outcomes() -> list[int]:
        with (
            start_sandbox(
                comments=0, seed=42, faults=[{"kind": "error", "probability": 0.3}]
            ) as sb,
            requests.Session() as s,
        ):
            s.headers["Authorization"] = f"Bearer {sb.token}"
            codes = [s.get(sb.url + SOURCES).status_code for _ in range(60)]
            assert sb.stats()["faults_fired"] == codes.count(500)
            return codes

    first = outcomes()
    assert first == outcomes()
    assert 5 <= first.count(500) <= 35


def test_times_with_probability(sandbox: Sandbox, session: requests.Session) -> None:
    fault = sandbox.inject("error", probability=1.0, times=3)
    codes = [session.get(sandbox.url + SOURCES).status_code for _ in range(5)]
    assert codes == [500, 500, 500, 200, 200] and fault.fired == 3


def test_start_with_faults_and_stats() -> None:
    with start_sandbox(comments=0, faults=[{"kind": "rate_limit", "path": "datasets"}]) as sb:
        headers = {"Authorization": f"Bearer {sb.token}"}
        assert (
            requests.get(sb.url + "/api/v1/datasets", headers=headers, timeout=10).status_code
            == 429
        )
        assert (
            requests.get(sb.url + "/api/v1/datasets", headers=headers, timeout=10).status_code
            == 200
        )
        stats = sb.stats()
        assert stats["faults_fired"] == 1 and stats["faults_fired_by_kind"] == {"rate_limit": 1}
        assert stats["calls_by_path"] == {"GET /api/v1/datasets": 2}
        assert stats["calls_by_status"] == {"200": 1, "429": 1}


def test_control_over_http(sandbox: Sandbox, session: requests.Session) -> None:
    url = sandbox.url + "/_sandbox/faults"
    assert requests.post(url, json={"kind": "error"}, timeout=10).status_code == 401
    added = session.post(
        url, json={"kind": "error", "status": 502, "path": "^/api/v1/projects$"}
    ).json()
    assert added["faults"][0]["kind"] == "error" and added["faults"][0]["fired"] == 0
    both = session.post(
        url, json={"faults": [{"kind": "html"}, {"kind": "latency", "delay_ms": 1}]}
    )
    assert len(both.json()["faults"]) == 2
    assert len(session.get(url).json()["faults"]) == 3
    assert session.get(sandbox.url + "/api/v1/projects").status_code == 502
    assert session.get(sandbox.url + "/_sandbox/stats").status_code == 200  # never faulted
    bad = session.post(url, json={"kind": "explode"})
    assert bad.status_code == 422 and "unknown fault kind" in bad.json()["message"]
    assert session.delete(url).json() == {"status": "ok"} and sandbox.faults == []
    assert session.get(sandbox.url + "/api/v1/projects").status_code == 200
    session.delete(sandbox.url + "/_sandbox/stats")
    session.get(sandbox.url + SOURCES)
    stats = session.get(sandbox.url + "/_sandbox/stats").json()["stats"]
    assert stats["calls"] == 1 and stats["calls_by_path"] == {"GET /api/v1/sources": 1}


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "nope"},
        {"kind": "error", "status": 200},
        {"kind": "error", "times": 0},
        {"kind": "error", "probability": 1.5},
        {"kind": "latency"},
        {"kind": "error", "path": "("},
        {"kind": "error", "retry_after": 1.5},
        {"kind": "error", "colour": "red"},
        {"path": "x"},
    ],
)
def test_invalid_fault_specs(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Fault.from_spec(spec)


def test_latency_adds_up_and_lets_other_faults_fire(make_sandbox: Callable[..., Any]) -> None:
    latency = {"kind": "latency", "delay_ms": 40, "probability": 1.0}
    with make_sandbox(comments=0, faults=[latency, {"kind": "error", "status": 503}]) as sb:
        headers = {"Authorization": f"Bearer {sb.token}"}
        first = requests.get(sb.url + SOURCES, headers=headers, timeout=10)
        second = requests.get(sb.url + SOURCES, headers=headers, timeout=10)
        assert (first.status_code, second.status_code) == (503, 200)
        match = TIMING.match(first.headers["Server-Timing"])
        assert match and float(match.group(1)) >= 40  # the error came after the latency
        assert sb.stats()["faults_fired_by_kind"] == {"latency": 2, "error": 1}


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (r"(a+)+$", "repetition inside a repetition"),
        (r"^/api/(\w*)*x", "repetition inside a repetition"),
        (r"(x|xy)*z", "alternation inside a repetition"),
        (r"/(sources|datasets){2,}", "alternation inside a repetition"),
        (r".*a.*b", "more than one repetition"),
        (r"/a?b?c?d?e?", "more than one repetition"),
        (r"(\w+)/\1", "backreference"),
        ("^/api/v1/" + "x" * 200, "at most 200 characters"),
    ],
)
def test_patterns_that_could_backtrack_are_refused(
    sandbox: Sandbox, session: requests.Session, path: str, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        sandbox.inject("error", path=path)
    refused = session.post(sandbox.url + "/_sandbox/faults", json={"kind": "error", "path": path})
    assert refused.status_code == 422 and words in refused.json()["message"]
    assert sandbox.faults == []


@pytest.mark.parametrize(
    "path", [r"^/api/v1/sources$", "sources", r"^/api/.*/sources$", r"^/api/v\d/sources", r"s{1}"]
)
def test_plain_patterns_are_accepted(
    sandbox: Sandbox, session: requests.Session, path: str
) -> None:
    sandbox.inject("error", path=path)
    assert session.get(sandbox.url + SOURCES).status_code == 500


def test_a_path_past_2048_characters_is_not_matched(
    sandbox: Sandbox, session: requests.Session
) -> None:
    fault = sandbox.inject("error", path="nonexistent", times=2)
    assert session.get(sandbox.url + "/api/v1/nonexistent" + "x" * 1900).status_code == 500
    assert session.get(sandbox.url + "/api/v1/nonexistent" + "x" * 2100).status_code == 404
    assert fault.seen == 1


class SlowFault(Fault):
    """A fault whose matching takes as long as the test wants, for the path ``slow_on``."""

    slow_on = "/api/v1/sources"
    entered = threading.Event()
    release = threading.Event()

    def matches(self, method: str, path: str) -> bool:
        if path == self.slow_on:
            self.entered.set()
            self.release.wait(30)  # bounded, in case the test fails before releasing it
        return super().matches(method, path)


@pytest.mark.timeout(120)
def test_matching_a_path_never_blocks_other_calls(make_sandbox: Callable[..., Any]) -> None:
    sb = make_sandbox(comments=0, faults=[SlowFault("error", path="^/api/v1/sources$")])
    headers = {"Authorization": f"Bearer {sb.token}"}
    slow: list[int] = []
    caller = threading.Thread(
        target=lambda: slow.append(
            requests.get(sb.url + SOURCES, headers=headers, timeout=60).status_code
        )
    )
    caller.start()
    try:
        assert SlowFault.entered.wait(30)
        # While that call is being matched, another is answered (no lock held meanwhile).
        other = requests.get(sb.url + "/api/v1/projects", headers=headers, timeout=10)
        assert other.status_code == 200
    finally:
        SlowFault.release.set()
        caller.join(60)
    assert slow == [500]
