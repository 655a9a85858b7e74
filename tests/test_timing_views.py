"""The timing widget's model (reinfer_nb.timing_views): grouped rows, the hidden-rows note,
path templates and the by-path table. Checked on data, not on pixels."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest

from reinfer_nb.client import Client
from reinfer_nb.timing import TimingLog, TimingRecord
from reinfer_nb.timing_views import (
    by_path,
    group_rows,
    path_stats,
    path_template,
    timing_table,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
DEV = "https://dev.reinfer.io"
PROD = "https://prod.reinfer.io"


def rec(
    i: int,
    path: str = "/api/v1/datasets",
    *,
    server_ms: float | None = 10.0,
    client_ms: float = 15.0,
    pull: int | None = None,
    page: int | None = None,
    attempt: int = 1,
    status: int | None = 200,
    outcome: str = "ok",
    endpoint: str = DEV,
    method: str = "GET",
) -> TimingRecord:
    return TimingRecord.from_measurement(
        started_at=T0 + timedelta(seconds=i), endpoint=endpoint, method=method, path=path,
        http_status=status, client_ms=client_ms, attempt=attempt, outcome=outcome,
        server_timing_header=None if server_ms is None else f"total;dur={server_ms}",
        pull=pull, page=page,
    )


def pull_records(start: int, pull: int, pages: int, path: str = "/comments") -> list[TimingRecord]:
    return [rec(start + n, f"{path}?limit=256" + (f"&after=c{n}" if n else ""),
                pull=pull, page=n + 1) for n in range(pages)]


# --------------------------------------------------------------------------- rows


def test_the_pages_of_one_pull_make_one_row() -> None:
    records = [rec(0, "/auth/user"), *pull_records(1, pull=7, pages=9), rec(20)]
    # Page 5 failed once and was retried: still one pull, one row, 9 pages, 10 calls.
    retried = rec(5, "/comments?limit=256&after=c4", pull=7, page=5, status=503, outcome="api")
    records.insert(5, retried)
    records[6] = rec(6, "/comments?limit=256&after=c4", pull=7, page=5, attempt=2)
    rows = group_rows(records)
    assert [(r.number, r.calls, r.is_group) for r in rows] == [(1, 1, False), (2, 10, True),
                                                               (12, 1, False)]
    pull = rows[1]
    assert pull.pages == 9 and pull.retries == 1 and pull.status == "200 (1 retry)"
    assert pull.first.path == "/comments?limit=256" and pull.ok
    assert pull.server_ms == pytest.approx(100.0) and pull.client_ms == pytest.approx(150.0)
    assert pull.network_ms == pytest.approx(50.0)
    # A single call retried keeps its attempt in the status.
    assert group_rows([rec(0, attempt=2)])[0].status == "200 (attempt 2)"


def test_two_pulls_in_a_row_stay_two_rows() -> None:
    rows = group_rows([*pull_records(0, pull=1, pages=3), *pull_records(3, pull=2, pages=2)])
    assert [(r.number, r.pages) for r in rows] == [(1, 3), (4, 2)]


def test_the_note_says_what_is_hidden() -> None:
    table = timing_table([rec(i) for i in range(31)], max_rows=20)
    assert (table.calls_shown, table.calls_total, table.hidden) == (20, 31, 11)
    assert table.note().startswith("20 of 31 calls shown (the latest)")
    assert "%reinfer_timing -o NAME" in table.note()
    grouped = timing_table([*pull_records(0, pull=1, pages=9), *[rec(9 + i) for i in range(30)]],
                           max_rows=20)
    assert grouped.note().startswith("20 of 39 calls shown")
    grouped = timing_table([rec(0), *pull_records(1, pull=1, pages=9), rec(10)], max_rows=2)
    assert grouped.note().startswith("10 of 11 calls shown (in the latest 2 rows)")
    assert timing_table([rec(i) for i in range(5)], max_rows=20).note() == ""


def test_a_long_pull_is_read_back_whole_from_the_log() -> None:
    """The widget reads only the end of the log, but never cuts a pull in two."""
    log = TimingLog([rec(0, "/auth/user"), *pull_records(1, pull=3, pages=500),
                     rec(501), rec(502)])
    table = timing_table(log, max_rows=3)
    assert [(r.number, r.calls) for r in table.rows] == [(2, 500), (502, 1), (503, 1)]
    assert table.calls_total == 503 and table.hidden == 1


def test_numbers_follow_the_log_when_it_drops_old_calls() -> None:
    log = TimingLog([rec(i) for i in range(30)], maxlen=10)
    assert log.numbers == range(21, 31)
    assert [r.number for r in timing_table(log, max_rows=3).rows] == [28, 29, 30]


def test_host_column_only_with_several_endpoints() -> None:
    assert not timing_table(TimingLog([rec(0), rec(1)])).show_host
    assert timing_table(TimingLog([rec(0), rec(1, endpoint=PROD)])).show_host


def test_rows_of_a_real_pull(client: Client, sb: Any) -> None:
    """Client.fetch_all tags each page's record with its pull and page."""
    source = client.get("/api/v1/sources/dev").data["sources"][0]["name"]
    pages = client.fetch_all("GET", f"/api/_private/sources/dev/{source}/comments",
                             params={"limit": 100}, limit=450)
    client.get("/api/v1/projects")
    records = client.timing_log.records
    assert [r.page for r in records[1:-1]] == list(range(1, len(pages.results) + 1))
    assert len({r.pull for r in records[1:-1]}) == 1 and records[0].pull is None
    rows = timing_table(client.timing_log).rows
    assert [(r.calls, r.pages, r.is_group) for r in rows] == [
        (1, 1, False), (len(pages.results), len(pages.results), True), (1, 1, False)]


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize(("path", "template"), [
    ("/api/v1/datasets", "/api/v1/datasets"),
    ("/api/v1/datasets/dev", "/api/v1/datasets/{owner}"),
    ("/api/v1/datasets/dev/support-triage?x=1", "/api/v1/datasets/{owner}/{dataset_name}"),
    ("/api/_private/sources/dev/emails/comments?limit=256&after=abc",
     "/api/_private/sources/{owner}/{source_name}/comments"),
    ("/api/v1/sources/id:0123abcd", "/api/v1/sources/id:{source_id}"),
    # Not in the spec: id-like segments only.
    ("/api/v9/things/0123456789abcdef/parts/42", "/api/v9/things/{id}/parts/{id}"),
    ("/api/v9/things/3f2b8c1e-7a6d-4e5f-9a0b-1c2d3e4f5a6b", "/api/v9/things/{id}"),
    ("/auth/user", "/auth/user"),
    ("/", "/"),
])
def test_path_templates(path: str, template: str) -> None:
    assert path_template(path) == template


# --------------------------------------------------------------------------- by path


def test_by_path_one_endpoint_slowest_first() -> None:
    records = [
        *[rec(i, "/api/v1/datasets/dev", server_ms=10.0 + i, client_ms=12.0 + i)
          for i in range(5)],
        rec(5, "/api/v1/datasets/prod", server_ms=100.0, client_ms=103.0),
        *[rec(6 + i, "/api/v1/projects", server_ms=1.0, client_ms=2.0) for i in range(3)],
        rec(9, "/auth/user", server_ms=None, client_ms=50.0),
    ]
    frame = by_path(records)
    assert list(frame.columns) == ["method", "path", "calls", "server_p50_ms",
                                   "server_p95_ms", "network_p50_ms", "network_p95_ms"]
    # Slowest first: /auth/user takes 50 ms (no Server-Timing: its whole round trip), the
    # datasets about 14.5 ms (p50 server 12.5 + network 2), the projects 2 ms.
    assert list(frame["path"]) == ["/auth/user", "/api/v1/datasets/{owner}", "/api/v1/projects"]
    user = frame.iloc[0]
    assert user["calls"] == 1 and math.isnan(user["server_p50_ms"])
    datasets = frame.iloc[1]
    assert datasets["calls"] == 6 and datasets["method"] == "GET"
    assert datasets["server_p50_ms"] == pytest.approx(12.5)  # median of 10..14 and 100
    assert datasets["network_p50_ms"] == pytest.approx(2.0)
    assert datasets["server_p95_ms"] == pytest.approx(14.0 + 0.75 * 86.0)
    assert list(frame["calls"]) == [1, 6, 3]
    assert frame.attrs["endpoints"] == [DEV]


def test_by_path_several_endpoints_side_by_side() -> None:
    records = [
        rec(0, "/api/v1/datasets/dev", server_ms=5.0, client_ms=8.0),
        rec(1, "/api/v1/datasets/prod", server_ms=50.0, client_ms=70.0, endpoint=PROD),
        rec(2, "/api/v1/datasets/prod", server_ms=60.0, client_ms=80.0, endpoint=PROD),
        rec(3, "/api/v1/projects", server_ms=1.0, client_ms=2.0),
    ]
    frame = by_path(records)
    assert list(frame.columns.get_level_values(0).unique()) == ["dev.reinfer.io",
                                                                "prod.reinfer.io"]
    assert list(frame.index) == [("GET", "/api/v1/datasets/{owner}"), ("GET", "/api/v1/projects")]
    datasets = frame.loc[("GET", "/api/v1/datasets/{owner}")]
    assert datasets[("dev.reinfer.io", "calls")] == 1
    assert datasets[("prod.reinfer.io", "calls")] == 2
    assert datasets[("prod.reinfer.io", "server_p50_ms")] == pytest.approx(55.0)
    assert datasets[("dev.reinfer.io", "network_p50_ms")] == pytest.approx(3.0)
    projects = frame.loc[("GET", "/api/v1/projects")]
    assert projects[("prod.reinfer.io", "calls")] == 0
    assert math.isnan(projects[("prod.reinfer.io", "server_p50_ms")])
    # The model behind it: one entry per endpoint, method and template.
    stats = path_stats(records)
    assert [(s.endpoint, s.path, s.calls) for s in stats] == [
        (DEV, "/api/v1/datasets/{owner}", 1), (PROD, "/api/v1/datasets/{owner}", 2),
        (DEV, "/api/v1/projects", 1)]


def test_by_path_of_an_empty_log() -> None:
    frame = by_path(TimingLog())
    assert frame.empty and "calls" in frame.columns
    assert isinstance(frame, pd.DataFrame)
