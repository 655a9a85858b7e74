"""Parallel pulls in time slices (reinfer_nb.slices): the sequential pull's rows, each once,
in its order; a failing slice tried again while the others are kept; a 429 pausing every
worker. (Wall-time gains are measured in benchmarks/bench_bulk.py, never asserted here.)
"""

from __future__ import annotations

import _thread
import threading
from datetime import timedelta
from typing import Any

import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import ConfigError, FetchInterrupted
from reinfer_nb.frames import pages_to_frame
from reinfer_nb.slices import LISTING, QUERY, Slice, axis_of, format_time, parse_time
from tests.support.frames import assert_same_frame
from tests.support.shell import login

COMMENTS = "/api/_private/sources/dev/support-emails/comments"
QUERY_PATH = "/api/_private/datasets/dev/support-triage/query"
RECENT = {"order": {"kind": "recent"}, "limit": 32}


def ids(pages: Any) -> list[str]:
    frame = pages_to_frame(pages)
    column = "id" if "id" in frame.columns else "comment.id"
    return frame[column].tolist()


@pytest.fixture(scope="module")
def busy(make_sandbox: Any) -> Any:
    """A sandbox of its own (faults here never reach other tests), 6,000 comments."""
    return make_sandbox(comments=6000, seed=3)


# --------------------------------------------------------------------------- plans


def test_a_slice_asks_for_its_window_widened_and_keeps_the_user_bounds_outside() -> None:
    params = {"limit": 10, "from_timestamp": "2024-01-01T00:00:00Z"}
    query, _ = LISTING.windowed(params, None, None, parse_time("2024-03-01T00:00:00Z"))
    assert query == {"limit": 10, "from_timestamp": "2024-01-01T00:00:00Z",
                     "to_timestamp": "2024-03-01T00:00:01Z"}
    body = {"order": {"kind": "recent"}, "filter": {"sources": ["x"]}}
    _, sent = QUERY.windowed({}, body, parse_time("2024-02-01T00:00:00Z"), None)
    assert sent["filter"] == {"sources": ["x"],
                              "timestamp": {"minimum": "2024-01-31T23:59:59Z"}}
    assert body == {"order": {"kind": "recent"}, "filter": {"sources": ["x"]}}  # untouched
    assert format_time(parse_time("2024-02-03T04:05:06.25+01:00")) == "2024-02-03T03:05:06.250000Z"


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "wanted"),
    [
        ("GET", "/api/v1/datasets", {}, None, "takes no time range"),
        ("GET", COMMENTS, {"direction": "descending"}, None, "oldest first"),
        ("GET", COMMENTS, {"after": "abc"}, None, "drop `after`"),
        ("POST", QUERY_PATH, {}, {"order": {"kind": "by_label"}}, '"recent"'),
    ],
)
def test_calls_that_cannot_be_sliced_say_why(
    method: str, path: str, params: dict[str, Any], body: Any, wanted: str
) -> None:
    with pytest.raises(ConfigError, match=wanted):
        axis_of(method, path, params, body)


@pytest.mark.parametrize("parallel", [0, 17, 2.5, True])
def test_parallel_must_be_a_sensible_number(client: Any, parallel: Any) -> None:
    with pytest.raises(ConfigError, match="parallel must be"):
        client.fetch_all("GET", COMMENTS, parallel=parallel)


def test_max_pages_does_not_go_with_parallel(client: Any) -> None:
    with pytest.raises(ConfigError, match="max_pages"):
        client.fetch_all("GET", COMMENTS, parallel=2, max_pages=3)


def test_clip_keeps_the_window_and_sees_its_end() -> None:
    from reinfer_nb.results import Result

    stamps = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"]
    data = {"status": "ok", "comments": [{"id": str(i), "timestamp": t}
                                         for i, t in enumerate(stamps)]}
    piece = Slice(0, parse_time(stamps[1]), parse_time(stamps[2]))
    kept, ended = piece.clip(Result(data, 200, "GET", "u", None), LISTING)  # type: ignore[arg-type]
    assert [c["id"] for c in kept.records] == ["1"] and ended
    assert len(data["comments"]) == 3  # the answer itself is not changed


# --------------------------------------------------------------------------- pulls


@pytest.mark.parametrize("parallel", [2, 4])
def test_parallel_listing_gives_the_sequential_rows_in_order(client: Any, parallel: int) -> None:
    sequential = client.fetch_all("GET", COMMENTS, params={"limit": 40})
    fast = client.fetch_all("GET", COMMENTS, params={"limit": 40}, parallel=parallel)
    assert fast.complete and not fast.has_more
    assert len(fast.results) > parallel  # really cut in slices
    assert_same_frame(pages_to_frame(fast), pages_to_frame(sequential))


def test_parallel_listing_within_the_users_bounds(client: Any) -> None:
    params = {"limit": 25, "from_timestamp": "2024-03-01T00:00:00Z",
              "to_timestamp": "2024-06-30T12:00:00Z"}
    sequential = client.fetch_all("GET", COMMENTS, params=params)
    fast = client.fetch_all("GET", COMMENTS, params=params, parallel=3)
    assert ids(fast) == ids(sequential) and len(ids(fast)) > 100


def test_parallel_query_gives_the_sequential_rows_newest_first(client: Any) -> None:
    sequential = client.fetch_all("POST", QUERY_PATH, json=RECENT)
    fast = client.fetch_all("POST", QUERY_PATH, json=RECENT, parallel=3)
    assert fast.complete
    assert_same_frame(pages_to_frame(fast), pages_to_frame(sequential))
    stamps = pages_to_frame(fast)["comment.timestamp"].tolist()
    assert stamps == sorted(stamps, reverse=True)


def test_parallel_with_a_limit_keeps_the_first_rows(client: Any) -> None:
    sequential = client.fetch_all("GET", COMMENTS, params={"limit": 30}, limit=95)
    fast = client.fetch_all("GET", COMMENTS, params={"limit": 30}, limit=95, parallel=3)
    assert ids(fast) == ids(sequential) and len(ids(fast)) == 95
    assert fast.has_more and sequential.has_more


def test_the_progress_bar_and_timing_log_see_every_page(client: Any) -> None:
    client.timing_log.clear()
    pages = client.fetch_all("GET", COMMENTS, params={"limit": 40}, parallel=3, progress=True)
    records = list(client.timing_log)
    assert all(any(result.timing is record for record in records) for result in pages.results)
    pulls = {result.timing.pull for result in pages.results}
    assert len(pulls) == 1 and None not in pulls  # one pull, its pages grouped in the log
    numbers = sorted(result.timing.page for result in pages.results)
    assert numbers == sorted(set(numbers))  # each page its own number


def test_a_failing_slice_is_tried_again_and_the_others_kept(busy: Any) -> None:
    busy.clear_faults()
    with Client(busy.url, busy.token, retries=0, backoff=0.01, timeout=10) as c:
        expected = ids(c.fetch_all("GET", COMMENTS, params={"limit": 64}))
        c.timing_log.clear()
        # The 7th call (two probes, then the 5th page) fails; the client does not retry it.
        busy.inject("error", path="comments$", status=503, skip=6, times=1)
        pages = c.fetch_all("GET", COMMENTS, params={"limit": 64}, parallel=3)
        records = list(c.timing_log)
    busy.clear_faults()
    assert pages.complete and ids(pages) == expected
    failed = [r for r in records if r.outcome != "ok"]
    assert [r.http_status for r in failed] == [503]
    ok = [r for r in records if r.outcome == "ok" and r.pull is not None]
    assert len(ok) == len(pages.results)  # each page once (the failed one again)
    assert [r.path for r in ok].count(failed[0].path) == 1  # the same page, tried again


def test_a_429_pauses_every_worker_for_its_retry_after(make_sandbox: Any) -> None:
    sandbox = make_sandbox(comments=6000, seed=3, server_ms=15)
    with Client(sandbox.url, sandbox.token, retries=2, backoff=0.01, timeout=10) as c:
        expected = ids(c.fetch_all("GET", COMMENTS, params={"limit": 32}))
        c.timing_log.clear()
        sandbox.inject("rate_limit", path="comments$", retry_after=1, skip=12, times=1)
        pages = c.fetch_all("GET", COMMENTS, params={"limit": 32}, parallel=4)
        records = list(c.timing_log)
    assert pages.complete and ids(pages) == expected
    (limited,) = [r for r in records if r.http_status == 429]
    answered = limited.started_at + timedelta(milliseconds=limited.client_ms)
    later = [r.started_at - answered for r in records if r.started_at > answered]
    assert len(later) > 8  # the pull went on after the pause
    # A call may slip in while the 429 is being read; after that, none for the second asked.
    assert not [d for d in later if timedelta(milliseconds=50) < d < timedelta(seconds=0.95)]


def test_ctrl_c_stops_the_workers_and_keeps_each_row_once(make_sandbox: Any) -> None:
    sandbox = make_sandbox(comments=6000, seed=3, server_ms=40)
    timer = threading.Timer(0.4, _thread.interrupt_main)
    with Client(sandbox.url, sandbox.token, timeout=10) as c:
        expected = ids(c.fetch_all("GET", COMMENTS, params={"limit": 256}))
        timer.start()
        try:
            with pytest.raises(FetchInterrupted) as stop:
                c.fetch_all("GET", COMMENTS, params={"limit": 8}, parallel=4)
        finally:
            timer.cancel()
    kept = ids(stop.value.pages)
    assert stop.value.pages.interrupted and 0 < len(kept) < len(expected)
    assert len(set(kept)) == len(kept) and set(kept) <= set(expected)


def test_magic_parallel_gives_the_sequential_frame(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.run_cell_magic("reinfer_get", "--all -o seq", f"{COMMENTS}\nlimit: 50")
    ip.run_cell_magic("reinfer_get", "--parallel 3 -o par", f"{COMMENTS}\nlimit: 50")
    assert_same_frame(ip.user_ns["par"], ip.user_ns["seq"])
    ip.run_cell_magic("reinfer_post", "--parallel 2 -o q",
                      f'{QUERY_PATH}\n{{"order": {{"kind": "recent"}}, "limit": 64}}')
    ip.run_cell_magic("reinfer_post", "--all -o qs",
                      f'{QUERY_PATH}\n{{"order": {{"kind": "recent"}}, "limit": 64}}')
    assert_same_frame(ip.user_ns["q"], ip.user_ns["qs"])


def test_idle_workers_split_the_slices_left_and_the_rows_stay_exact(
    busy: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When the queue is empty, an idle worker takes the far half of the slice with the
    most rows ahead; the rows are still the sequential pull's, each once, in order."""
    import logging

    from reinfer_nb import slices

    monkeypatch.setattr(slices, "MIN_SPLIT_ROWS", 40)
    busy.clear_faults()
    with Client(busy.url, busy.token, timeout=10) as c:
        expected = ids(c.fetch_all("GET", COMMENTS, params={"limit": 16}))
        with caplog.at_level(logging.DEBUG, logger="reinfer_nb"):
            pages = c.fetch_all("GET", COMMENTS, params={"limit": 16}, parallel=3)
        body = {"order": {"kind": "recent"}, "limit": 16}
        newest_first = ids(c.fetch_all("POST", QUERY_PATH, json=body))
        query = c.fetch_all("POST", QUERY_PATH, json=body, parallel=3)
    splits = [r for r in caplog.records if "split at" in r.getMessage()]
    assert splits  # the idle workers did take over
    assert pages.complete and ids(pages) == expected
    assert query.complete and ids(query) == newest_first
