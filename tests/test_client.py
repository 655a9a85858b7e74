"""Client tests against the sandbox on 127.0.0.1 (real HTTP, no mocks)."""

from __future__ import annotations

import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import ApiError, ConfigError, NetworkError, PaginationError
from reinfer_nb.frames import to_frame
from reinfer_nb.timing import TimingLog

SOURCE = "/api/_private/sources/dev/{name}/comments"


def first_source(client: Client, project: str = "dev") -> str:
    return client.get(f"/api/v1/sources/{project}").data["sources"][0]["name"]


def test_success_result(client: Client, sb) -> None:
    result = client.get("/api/v1/sources")
    assert result.http_status == 200
    assert result.data["status"] == "ok" and isinstance(result.data["sources"], list)
    assert result.url == f"{sb.url}/api/v1/sources"
    assert result.path == "/api/v1/sources"
    assert result.timing.server_ms is not None and result.timing.server_ms >= 0
    timing = result.timing
    assert timing.network_ms is not None and timing.client_ms >= timing.server_ms
    assert client.timing_log.last(1)[0] is result.timing
    frame = to_frame(result)
    assert {"id", "owner", "name"} <= set(frame.columns)


def test_api_errors_keep_status_and_message(client: Client) -> None:
    with pytest.raises(ApiError) as info:
        client.get("/api/v1/nonexistent_page")
    err = info.value
    assert err.http_status == 404 and "404 Not Found" in err.message
    assert err.payload == {"message": "404 Not Found", "status": "error"}
    assert err.kind == "api" and err.timing is not None and err.timing.outcome == "api"
    assert err.server_ms is not None  # error answers carry Server-Timing too
    assert err._render_traceback_() == [f"ApiError: {err.message}"]


def test_wrong_token_is_401(sb) -> None:
    with Client(sb.url, "wrong-token-0000000000") as bad, pytest.raises(ApiError) as info:
        bad.get("/api/v1/sources")
    assert info.value.http_status == 401


def test_permission_error_is_403(client: Client) -> None:
    with pytest.raises(ApiError) as info:
        client.put("/api/v1/sources/prod/new-source", {"source": {"title": "x"}})
    assert info.value.http_status == 403


def test_5xx_is_retried_then_succeeds(client: Client, sb) -> None:
    sb.reset_stats()
    sb.inject("error", path=r"^/api/v1/projects$", status=503, times=2)
    result = client.get("/api/v1/projects")
    assert result.attempts == 3
    assert sb.stats()["calls_by_path"]["GET /api/v1/projects"] == 3
    assert [r.outcome for r in client.timing_log.last(3)] == ["api", "api", "ok"]


def test_retries_are_bounded(client: Client, sb) -> None:
    sb.reset_stats()
    sb.inject("error", path=r"^/api/v1/projects$", status=500, times=10)
    line = r"^HTTP 500 from GET /api/v1/projects after 4 attempts: "
    with pytest.raises(ApiError, match=line) as info:
        client.get("/api/v1/projects")
    assert info.value.attempts == 4
    assert sb.stats()["calls_by_path"]["GET /api/v1/projects"] == 4


def test_429_honours_retry_after(sb) -> None:
    with Client(sb.url, sb.token, backoff=5.0, retry_after_cap=0.05) as client:
        sb.inject("rate_limit", path=r"^/api/v1/projects$", retry_after=30, times=1)
        assert client.get("/api/v1/projects").attempts == 2  # waited the capped Retry-After


def test_post_is_not_resent_after_a_5xx(client: Client, sb) -> None:
    sb.reset_stats()
    sb.inject("error", path=r"/sync$", status=503, times=1)
    name = first_source(client)
    with pytest.raises(ApiError):
        client.post(f"/api/v1/sources/dev/{name}/sync", {"comments": []})
    assert sb.stats()["calls_by_path"][f"POST /api/v1/sources/dev/{name}/sync"] == 1


def test_non_json_answer_is_a_network_error(client: Client, sb) -> None:
    sb.inject("not_json", path=r"^/api/v1/projects$", times=1)
    with pytest.raises(NetworkError, match="not JSON") as info:
        client.get("/api/v1/projects")
    assert info.value.reason == "not_json" and info.value.kind == "network"


def test_html_proxy_page(client: Client, sb) -> None:
    sb.inject("html", path=r"^/api/v1/projects$", times=10)
    with pytest.raises(NetworkError, match="HTML page") as info:
        client.get("/api/v1/projects")
    assert info.value.reason == "proxy" and info.value.http_status == 502


def test_refused_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", "x" * 20, backoff=0.01) as client:
        with pytest.raises(NetworkError, match="refused") as info:
            client.get("/api/v1/sources")
    assert info.value.reason == "refused" and info.value.attempts == 4
    assert len(client.timing_log) == 4 and client.timing_log.last(1)[0].http_status is None


def test_read_timeout(sb) -> None:
    sb.inject("latency", path=r"^/api/v1/projects$", delay_ms=1500, times=1)
    with Client(sb.url, sb.token, timeout=0.3, retries=0) as client:
        with pytest.raises(NetworkError, match="within the timeout") as info:
            client.get("/api/v1/projects")
    assert info.value.reason == "read_timeout"


def test_pagination_follows_continuation(client: Client) -> None:
    name = first_source(client)
    pages = list(client.paginate("GET", SOURCE.format(name=name), params={"limit": 100}))
    assert len(pages) > 2
    ids = [c["id"] for page in pages for c in page.data["comments"]]
    assert len(ids) == len(set(ids))
    stamps = [c["timestamp"] for page in pages for c in page.data["comments"]]
    assert stamps == sorted(stamps)
    assert pages[-1].continuation is None
    assert "after=" in pages[1].path


def test_pagination_bounds(client: Client) -> None:
    name = first_source(client)
    assert len(list(client.paginate("GET", SOURCE.format(name=name), params={"limit": 10},
                                    max_pages=3))) == 3
    pages = list(client.paginate("GET", SOURCE.format(name=name), params={"limit": 10},
                                 max_items=25))
    assert len(pages) == 3


def test_post_query_pagination_uses_body_continuation(client: Client) -> None:
    datasets = client.get("/api/v1/datasets/dev").data["datasets"]
    path = f"/api/_private/datasets/dev/{datasets[0]['name']}/query"
    pages = list(client.paginate("POST", path, json={"order": {"kind": "recent"}, "limit": 200},
                                 max_pages=4))
    assert len(pages) >= 2
    uids = [r["comment"]["uid"] for page in pages for r in page.data["results"]]
    assert len(uids) == len(set(uids))


def test_pagination_failure_keeps_the_page_number(client: Client, sb) -> None:
    name = first_source(client)
    sb.inject("error", path=r"/comments$", status=500, skip=2, times=10)
    got = []
    with pytest.raises(PaginationError) as info:
        for page in client.paginate("GET", SOURCE.format(name=name), params={"limit": 10}):
            got.append(page)
    assert len(got) == 2 and info.value.page == 3 and info.value.rows == 20
    assert isinstance(info.value.cause, ApiError) and info.value.cause.http_status == 500


def test_keep_alive_one_connection_for_many_calls(make_sandbox) -> None:
    sb = make_sandbox(comments=10)  # its own: no other test's client can reach it
    with Client(sb.url, sb.token) as client:
        for _ in range(100):
            client.get("/api/v1/projects")
    stats = sb.stats()
    assert stats["connections_opened"] == 1 and stats["calls"] == 100


def test_shared_timing_log(sb) -> None:
    log = TimingLog()
    with Client(sb.url, sb.token, timing_log=log) as a, Client(sb.url, sb.admin_token,
                                                               timing_log=log) as b:
        a.get("/api/v1/projects")
        b.get("/api/v1/projects")
    assert len(log) == 2 and {r.endpoint for r in log} == {sb.url}


def test_config_errors_before_sending(client: Client, sb) -> None:
    sb.reset_stats()
    with pytest.raises(ConfigError, match="Refusing to send the token"):
        client.get("https://example.com/api/v1/sources")
    with pytest.raises(ConfigError, match="JSON-compatible"):
        client.post("/api/v1/sources/dev/x/sync", {"bad": object()})
    with pytest.raises(ConfigError):
        Client(sb.url, None)
    assert sb.stats()["calls"] == 0


def test_token_never_in_reprs_errors_or_logs(
    sb, debug_logging: pytest.LogCaptureFixture
) -> None:
    caplog = debug_logging
    with Client(sb.url, sb.token, backoff=0.01) as client:
        texts = [repr(client), str(client), repr(client.token), str(client.token)]
        result = client.get("/api/v1/projects")
        texts += [repr(result), str(result.timing), repr(client.timing_log)]
        sb.inject("error", path=r"^/api/v1/projects$", status=503, times=10)
        with pytest.raises(ApiError) as info:
            client.get("/api/v1/projects")
        texts += [str(info.value), repr(info.value), *info.value._render_traceback_()]
        texts.append(client.timing_log.to_frame().to_csv())
    texts.append(caplog.text)
    assert sb.token not in "\n".join(texts)
