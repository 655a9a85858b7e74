"""The magics in a real IPython shell, against the sandbox on loopback."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.utils.capture import capture_output

from reinfer_nb.client import Client
from reinfer_nb.errors import ApiError, ConfigError, LoginError, NetworkError, PaginationError
from reinfer_nb.frames import ERROR_COLUMNS, pages_to_frame, to_frame
from reinfer_nb.magics import get_client

from .support.shell import login, magics, run


def source_name(ip: Any) -> str:
    return get_client(ip).get("/api/v1/sources/dev").data["sources"][0]["name"]


def test_help_is_real(ip: Any) -> None:
    for name in ("reinfer_login", "reinfer_get", "reinfer_post", "reinfer_timing"):
        doc = getattr(magics(ip), name).__doc__
        assert "Example" in doc and "-o" in doc or "--endpoint" in doc
    _, out = run(ip, "%reinfer_get?")
    assert "--all" in out.stdout and "Examples" in out.stdout


def test_config_traits(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.run_line_magic("config", "ReinferMagics.timeout = 2.5")
    ip.run_line_magic("config", "ReinferMagics.retries = 1")
    ip.run_line_magic("config", "ReinferMagics.fail_on_error = False")
    m = magics(ip)
    assert (m.timeout, m.retries, m.fail_on_error) == (2.5, 1, False)
    assert (m.client.timeout, m.client.retries) == (2.5, 1)
    _, out = run(ip, "%config ReinferMagics")
    assert "display_limit" in out.stdout and "progress" in out.stdout


def test_login_demo_starts_the_sandbox(ip: Any) -> None:
    ip.run_line_magic("config", "ReinferMagics.sandbox_comments = 50")
    result, out = run(ip, "%reinfer_login --demo")
    assert result.success
    sandbox = magics(ip).sandbox
    assert "as demo" in out.stdout and "sandbox" in out.stdout
    assert sandbox.token not in out.stdout and "…" in out.stdout
    assert len(out.stdout.strip().splitlines()) == 1


def test_login_defaults_to_sandbox_without_settings(ip: Any) -> None:
    ip.run_line_magic("config", "ReinferMagics.sandbox_comments = 50")
    result, out = run(ip, "%reinfer_login")
    assert result.success and "embedded sandbox" in out.stdout


def test_login_tutorial_says_which_mode_and_why(ip: Any, sb: Any) -> None:
    """The tutorials' first cell: with only REINFER_TOKEN set it runs on the sandbox."""
    ip.run_line_magic("config", "ReinferMagics.sandbox_comments = 50")
    os.environ["REINFER_TOKEN"] = "not-a-real-token"
    result, out = run(ip, "%reinfer_login --tutorial")
    assert result.success, result.error_in_exec
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("Using the EMBEDDED SANDBOX") and first.endswith(".")
    assert "REINFER_TOKEN is set but REINFER_ENDPOINT is not" in first
    assert "[embedded sandbox" in second and "not-a-real-token" not in out.stdout
    # Both set: the tenant they name, and the line says why.
    os.environ.update(REINFER_ENDPOINT=sb.url, REINFER_TOKEN=sb.token)
    result, out = run(ip, "%reinfer_login --tutorial")
    assert result.success, result.error_in_exec
    assert out.stdout.startswith(f"Using a REAL TENANT: {sb.url}, because REINFER_ENDPOINT")
    assert sb.token not in out.stdout


def test_login_from_environment(ip: Any, sb: Any) -> None:
    os.environ.update(REINFER_ENDPOINT=sb.url + "/api/", REINFER_TOKEN=sb.token)
    result, out = run(ip, "%reinfer_login -o c")
    assert result.success, result.error_in_exec
    assert f"Logged in to {sb.url} as demo" in out.stdout and sb.token not in out.stdout
    assert isinstance(ip.user_ns["c"], Client) and get_client(ip) is ip.user_ns["c"]


def test_login_with_custom_token_variable_and_context(ip: Any, sb: Any, tmp_path: Path) -> None:
    os.environ["MY_TOKEN"] = sb.token
    try:
        result, _ = run(ip, f"%reinfer_login --endpoint {sb.url} --token-env MY_TOKEN")
        assert result.success
    finally:
        del os.environ["MY_TOKEN"]
    from reinfer_nb.credentials import save_context

    file = tmp_path / "ctx.json"
    save_context("dev", sb.url, sb.token, path=file)
    result, out = run(ip, f"%reinfer_login --context dev --contexts-file {file}")
    assert result.success and "[context dev]" in out.stdout


def test_bad_token_gives_one_line_with_what_to_do(ip: Any, sb: Any) -> None:
    os.environ.update(REINFER_ENDPOINT=sb.url, REINFER_TOKEN="wrong-token-000000000000")
    result, out = run(ip, "%reinfer_login")
    err = result.error_in_exec
    assert isinstance(err, LoginError) and isinstance(err.cause, ApiError) and err.kind == "api"
    assert err.__cause__ is err.cause and err.http_status == 401
    assert "token was refused" in str(result.error_in_exec) and "REINFER_TOKEN" in str(
        result.error_in_exec
    )
    assert "Traceback" not in out.stdout + out.stderr
    assert magics(ip).client is None


def test_missing_token_and_conflicting_options(ip: Any, sb: Any) -> None:
    result, _ = run(ip, f"%reinfer_login --endpoint {sb.url} --no-prompt")
    assert isinstance(result.error_in_exec, ConfigError) and "REINFER_TOKEN" in str(
        result.error_in_exec
    )
    result, _ = run(ip, f"%reinfer_login --endpoint {sb.url} --demo")
    assert "not several" in str(result.error_in_exec)
    result, _ = run(ip, "%reinfer_login --endpoint http://example.com")
    assert "https" in str(result.error_in_exec)


def test_inline_token_warns(ip: Any, sb: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ip.run_line_magic("reinfer_login", f"--endpoint {sb.url} --token {sb.token}")
    assert any("saved in the notebook" in str(w.message) for w in caught)


def test_unreachable_endpoint_and_no_check(ip: Any) -> None:
    os.environ["REINFER_TOKEN"] = "x" * 24
    m = magics(ip)
    m.retries = 0
    result, _ = run(ip, "%reinfer_login --endpoint http://127.0.0.1:9")
    err = result.error_in_exec
    assert isinstance(err, LoginError) and isinstance(err.cause, NetworkError)
    assert err.cause.reason == "refused" and err.kind == "network"
    assert "Login check failed" in str(result.error_in_exec)
    result, out = run(ip, "%reinfer_login --endpoint http://127.0.0.1:9 --no-check")
    assert result.success and "not checked" in out.stdout


def test_get_cell_with_interpolation_comments_and_output(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.user_ns["project"] = "dev"
    ip.user_ns["name"] = source_name(ip)
    result, _ = run(ip, "%%reinfer_get -o comments\n"
                        "# the comments of one source\n"
                        "/api/_private/sources/{project}/{name}/comments\n"
                        "limit: 7   # a page\n")
    assert result.success, result.error_in_exec
    frame = ip.user_ns["comments"]
    assert result.result is frame and len(frame) == 7
    assert "messages" in frame.columns and "uid" in frame.columns
    assert frame.attrs["http_status"] == 200 and frame.attrs["timing"].server_ms is not None


def test_line_form_and_raw(ip: Any, sb: Any) -> None:
    login(ip, sb)
    frame = ip.run_line_magic("reinfer_get", "/api/v1/projects")
    assert isinstance(frame, pd.DataFrame) and "dev" in set(frame["name"])
    raw = ip.run_line_magic("reinfer_get", "--raw v1/projects")
    assert raw["status"] == "ok"
    assert ip.run_line_magic("reinfer_get", "v1/sources/dev limit=2") is not None


def test_magic_and_client_give_the_same_frame(ip: Any, sb: Any) -> None:
    login(ip, sb)
    frame = ip.run_line_magic("reinfer_get", "/api/v1/datasets")
    direct = to_frame(get_client(ip).get("/api/v1/datasets"))
    pd.testing.assert_frame_equal(frame, direct)


def test_error_frame_then_one_line_failure(ip: Any, sb: Any) -> None:
    login(ip, sb)
    result, out = run(ip, "%%reinfer_get -o err --no-check-spec\n/api/v1/nonexistent_page")
    assert isinstance(result.error_in_exec, ApiError)
    frame = ip.user_ns["err"]
    assert tuple(frame.columns) == ERROR_COLUMNS
    assert frame.iloc[0]["kind"] == "api" and frame.iloc[0]["http_status"] == 404
    assert any("404 Not Found" in str(o.data.get("text/plain", "")) for o in out.outputs)
    assert "Traceback" not in out.stdout + out.stderr
    assert "ApiError: HTTP 404" in out.stdout + out.stderr


def test_error_frame_above_one_short_red_line(ip: Any, sb: Any) -> None:
    """A retried 500: the frame shows message, hint and attempts whole (HTML and text);
    the red line is one sentence naming the status, the call and the attempts."""
    login(ip, sb)
    magics(ip).retries = 1
    sb.inject("error", path=r"^/api/v1/datasets$", status=500, times=2)
    result, out = run(ip, "%reinfer_get -o err /api/v1/datasets")
    err = result.error_in_exec
    assert isinstance(err, ApiError) and err.attempts == 2
    assert err.message.startswith("HTTP 500 from GET /api/v1/datasets after 2 attempts: 500 ")
    (shown,) = [o.data for o in out.outputs if "text/html" in o.data]
    hint = "The platform failed to answer: run the call again later."
    for mime in ("text/html", "text/plain"):
        assert err.detail in shown[mime] and hint in shown[mime], mime
    assert "\n\n" not in shown["text/plain"]  # not wrapped into blocks of columns
    frame = ip.user_ns["err"]
    assert (frame.iloc[0]["hint"], frame.iloc[0]["attempts"]) == (hint, 2)
    assert f"ApiError: {err.message}" in out.stdout + out.stderr


def test_fail_on_error_false_returns_the_error_frame(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.run_line_magic("config", "ReinferMagics.fail_on_error = False")
    result, _ = run(ip, "%%reinfer_get -o err --no-check-spec\n/api/v1/nonexistent_page")
    assert result.success and tuple(result.result.columns) == ERROR_COLUMNS


def test_network_error_frame(ip: Any, sb: Any) -> None:
    login(ip, sb)
    magics(ip).retries = 0
    sb.inject("html", path=r"^/api/v1/projects$", times=1)
    result, _ = run(ip, "%%reinfer_get -o err\n/api/v1/projects")
    assert isinstance(result.error_in_exec, NetworkError)
    assert ip.user_ns["err"].iloc[0]["kind"] == "network"
    assert ip.run_line_magic("reinfer_get", "/api/v1/projects") is not None  # next call works


def test_bad_cell_lines(ip: Any, sb: Any) -> None:
    login(ip, sb)
    result, out = run(ip, "%%reinfer_get\n/api/v1/sources\nthis is not a parameter")
    assert isinstance(result.error_in_exec, ConfigError) and "cell line 3" in str(
        result.error_in_exec
    )
    assert "Traceback" not in out.stdout + out.stderr
    result, _ = run(ip, "%%reinfer_get\n/api/v1/{undefined_name}")
    assert "not defined" in str(result.error_in_exec)


def test_all_pages_and_limits(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.user_ns["name"] = source_name(ip)
    result, _ = run(ip, "%%reinfer_get -o df --all\n/api/_private/sources/dev/{name}/comments\n"
                        "limit: 100")
    assert result.success, result.error_in_exec
    frame = ip.user_ns["df"]
    assert frame.attrs["pages"] > 1 and frame.attrs["complete"]
    assert frame["id"].is_unique and list(frame["timestamp"]) == sorted(frame["timestamp"])
    result, _ = run(ip, "%%reinfer_get -o df --all --limit 25\n"
                        "/api/_private/sources/dev/{name}/comments\nlimit: 10")
    assert len(ip.user_ns["df"]) == 25 and ip.user_ns["df"].attrs["pages"] == 3
    result, _ = run(ip, "%%reinfer_get -o df --max-pages 2\n"
                        "/api/_private/sources/dev/{name}/comments\nlimit: 10")
    assert len(ip.user_ns["df"]) == 20


def test_fault_midway_keeps_pages_fetched(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.user_ns["name"] = source_name(ip)
    sb.inject("error", path=r"/comments$", status=500, skip=3, times=20)
    result, out = run(ip, "%%reinfer_get -o df --all\n"
                          "/api/_private/sources/dev/{name}/comments\nlimit: 10")
    err = result.error_in_exec
    assert isinstance(err, PaginationError) and isinstance(err.cause, ApiError)
    assert "Stopped at page 4 after 30 rows" in str(err) and (err.page, err.rows) == (4, 30)
    assert "The 30 rows fetched are in `df`." in out.stderr
    frame = ip.user_ns["df"]
    assert len(frame) == 30 and frame.attrs["incomplete"] and not frame.attrs["complete"]
    assert frame.attrs["error"]["http_status"] == 500 and frame.attrs["stopped_at_page"] == 4
    assert "Traceback" not in out.stdout + out.stderr


def assert_same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal frames and equal attrs (timing records differ by time: compared by path)."""
    pd.testing.assert_frame_equal(a, b)

    def stable(attrs: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in attrs.items() if k not in {"timing", "timings", "url"}}
        if "error" in kept:
            kept["error"] = {k: v for k, v in kept["error"].items() if k != "server_ms"}
        return kept

    assert stable(a.attrs) == stable(b.attrs)
    assert [t.path for t in a.attrs.get("timings", ())] == [
        t.path for t in b.attrs.get("timings", ())
    ]


@pytest.mark.parametrize("partial", [False, True], ids=["complete", "partial"])
def test_all_is_a_thin_wrapper_over_fetch_all(ip: Any, sb: Any, partial: bool) -> None:
    """%%reinfer_get --all and Client.fetch_all give identical frames and attrs."""
    login(ip, sb)
    name = ip.user_ns["name"] = source_name(ip)
    path = f"/api/_private/sources/dev/{name}/comments"
    fault = {"path": r"/comments$", "status": 500, "skip": 3, "times": 8}
    if partial:
        sb.inject("error", **fault)
    result, _ = run(ip, f"%%reinfer_get -o df --all --limit 45\n{path}\nlimit: 10")
    assert result.success is not partial
    if partial:
        sb.clear_faults()
        sb.inject("error", **fault)
    pages = get_client(ip).fetch_all("GET", path, params={"limit": 10}, limit=45)
    assert pages.complete is not partial and (pages.error is not None) is partial
    assert pages.has_more is not partial
    assert_same_frames(ip.user_ns["df"], pages_to_frame(pages))
    assert len(ip.user_ns["df"]) == (30 if partial else 45)


def test_post_query_all(ip: Any, sb: Any) -> None:
    login(ip, sb)
    name = get_client(ip).get("/api/v1/datasets/dev").data["datasets"][0]["name"]
    ip.user_ns["ds"] = name
    result, _ = run(ip, "%%reinfer_post -o q --all --limit 150\n"
                        "/api/_private/datasets/dev/{ds}/query\n"
                        '{"order": {"kind": "recent"}, "limit": 64}')
    assert result.success, result.error_in_exec
    assert len(ip.user_ns["q"]) == 150 and "comment.uid" in ip.user_ns["q"].columns


def test_post_json_is_validated_before_sending(ip: Any, sb: Any) -> None:
    login(ip, sb)
    sb.reset_stats()
    result, _ = run(ip, '%%reinfer_post\n/api/v1/sources/dev/x/sync\n{"comments": [\n  1,\n]}')
    err = result.error_in_exec
    assert isinstance(err, ConfigError) and "cell line 5" in str(err)
    assert "nothing was sent" in str(err)
    assert sb.stats()["calls"] == 0


def test_sync_then_delete(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.user_ns["name"] = source_name(ip)
    body = ('{"comments": [{"id": "magic-test-1", "timestamp": "2025-03-01T10:00:00Z",'
            ' "messages": [{"body": {"text": "hello"}}], "user_properties": {}}]}')
    result, _ = run(ip, "%%reinfer_post -o synced\n/api/v1/sources/dev/{name}/sync\n" + body)
    assert result.success, result.error_in_exec
    assert ip.user_ns["synced"].iloc[0]["new"] + ip.user_ns["synced"].iloc[0]["updated"] == 1
    result, _ = run(ip, "%%reinfer_delete\n/api/v1/sources/dev/{name}/comments\nid: magic-test-1")
    assert result.success, result.error_in_exec
    result, _ = run(ip, "%%reinfer_get\n/api/v1/sources/dev/{name}/comments/magic-test-1")
    assert isinstance(result.error_in_exec, ApiError) and result.error_in_exec.http_status == 404


def test_body_from_variable(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.user_ns["body"] = {"order": {"kind": "recent"}, "limit": 5}
    name = get_client(ip).get("/api/v1/datasets/dev").data["datasets"][0]["name"]
    frame = ip.run_line_magic("reinfer_post", f"-b body /api/_private/datasets/dev/{name}/query")
    assert len(frame) == 5


def test_not_logged_in(ip: Any) -> None:
    result, out = run(ip, "%reinfer_get /api/v1/sources")
    assert isinstance(result.error_in_exec, ConfigError) and "%reinfer_login" in str(
        result.error_in_exec
    )


def test_logout_forgets_the_token(ip: Any, sb: Any) -> None:
    login(ip, sb)
    ip.run_line_magic("reinfer_logout", "")
    assert magics(ip).client is None
    result, _ = run(ip, "%reinfer_get /api/v1/sources")
    assert isinstance(result.error_in_exec, ConfigError)


def test_timing_log_frame_csv_clear_and_relogin(ip: Any, sb: Any, tmp_path: Path) -> None:
    login(ip, sb)
    for _ in range(3):
        ip.run_line_magic("reinfer_get", "/api/v1/projects")
    login(ip, sb)  # the log survives a re-login
    frame = ip.run_line_magic("reinfer_timing", "-o t")
    assert frame is ip.user_ns["t"]
    assert {"method", "path", "http_status", "server_ms", "client_ms", "network_ms",
            "endpoint"} <= set(frame.columns)
    assert list(frame["path"]).count("/api/v1/projects") == 3
    assert (frame["endpoint"] == sb.url).all()
    csv = tmp_path / "t.csv"
    ip.run_line_magic("reinfer_timing", f"--csv {csv}")
    assert len(pd.read_csv(csv)) == len(frame)
    ip.run_line_magic("reinfer_timing", "--clear")
    assert len(magics(ip).timing_log) == 0


def test_timing_widget_follows_calls(ip: Any, sb: Any) -> None:
    login(ip, sb)
    with capture_output() as out:
        ip.run_line_magic("reinfer_timing", "")
    widget = magics(ip)._widgets[-1]
    bundle = out.outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle
    before = len(magics(ip).timing_log)
    for _ in range(5):
        ip.run_line_magic("reinfer_get", "/api/v1/projects")
    widget.flush()
    assert len(widget.rows) == min(before + 5, 20)
    assert widget.rows[-1]["path"] == "/api/v1/projects"
    assert f"{before + 5} calls" in widget.summary_html
    static = ip.run_line_magic("reinfer_timing", "--static")
    assert "/api/v1/projects" in static.data


def test_display_limit_is_scoped_to_the_cell(ip: Any, sb: Any) -> None:
    login(ip, sb)
    before = pd.get_option("display.max_rows")
    ip.run_line_magic("config", "ReinferMagics.display_limit = 7")
    result, out = run(ip, "%reinfer_get /api/_private/sources/dev/" + source_name(ip) +
                          "/comments?limit=30")
    assert result.success
    assert pd.get_option("display.max_rows") == before


def test_token_absent_from_outputs_widget_and_history(ip: Any, sb: Any) -> None:
    outputs = []
    os.environ.update(REINFER_ENDPOINT=sb.url, REINFER_TOKEN=sb.token)
    cells = ["%reinfer_login", "%reinfer_get /api/v1/projects", "%reinfer_get /auth/user",
             "%%reinfer_get\n/api/v1/nope", "%reinfer_timing", "%reinfer_timing -o t",
             "get_ipython().magics_manager.registry['ReinferMagics'].client",
             "get_ipython().magics_manager.registry['ReinferMagics'].client.token"]
    for cell in cells:
        _, captured = run(ip, cell)
        outputs += [captured.stdout, captured.stderr]
        outputs += [str(o.data) for o in captured.outputs]
    magics(ip)._widgets[-1].flush()
    w = magics(ip)._widgets[-1]
    outputs += [w.summary_html, w.table_html, w.chart_html, repr(w)]
    outputs += [repr(v) for v in ip.history_manager.output_hist.values()]
    outputs += [repr(v) for v in ip.user_ns["_oh"].values()]
    assert sb.token not in "\n".join(outputs)


def test_unload_cleans_up(ip: Any) -> None:
    ip.run_line_magic("config", "ReinferMagics.sandbox_comments = 20")
    ip.run_line_magic("reinfer_login", "--demo")
    m = magics(ip)
    sandbox = m.sandbox
    ip.run_line_magic("unload_ext", "reinfer_nb")
    assert "reinfer_get" not in ip.magics_manager.magics["line"]
    assert m not in ip.configurables and m.sandbox is None
    with pytest.raises(NetworkError):  # the sandbox is stopped: nothing listens
        Client(sandbox.url, sandbox.token, retries=0, timeout=1).get("/api/v1/projects")
    ip.run_line_magic("load_ext", "reinfer_nb")  # the fixture unloads again
    magics(ip).progress = False


def test_get_sandbox_and_closed_clients(ip: Any, sb: Any) -> None:
    from reinfer_nb.magics import get_sandbox

    ip.run_line_magic("config", "ReinferMagics.sandbox_comments = 20")
    ip.run_line_magic("reinfer_login", "--demo")
    assert get_sandbox(ip) is magics(ip).sandbox
    old = get_client(ip)
    login(ip, sb)  # another endpoint: not the embedded sandbox
    assert get_sandbox(ip) is None
    with pytest.raises(ConfigError, match="get_client"):
        old.get("/api/v1/projects")


def test_context_login_refused_says_to_update_the_context(ip: Any, sb: Any, tmp_path: Path) -> None:
    from reinfer_nb.credentials import save_context

    file = tmp_path / "ctx.json"
    save_context("prod", sb.url, "stale-token-0000000000", path=file)
    result, _ = run(ip, f"%reinfer_login --context prod --contexts-file {file}")
    assert "context 'prod'" in str(result.error_in_exec)


def test_interrupt_keeps_pages_fetched(ip: Any, sb: Any) -> None:
    import threading

    login(ip, sb)
    ip.user_ns["name"] = source_name(ip)
    client = get_client(ip)
    calls = {"n": 0}
    original = client.request

    def interrupt_on_third_page(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what the kernel's stop button raises
        return original(*args, **kwargs)

    client.request = interrupt_on_third_page  # type: ignore[method-assign]
    assert threading.current_thread() is threading.main_thread()
    result, out = run(ip, "%%reinfer_get -o df --all\n"
                          "/api/_private/sources/dev/{name}/comments\nlimit: 10")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    frame = ip.user_ns["df"]
    assert len(frame) == 20 and frame.attrs["incomplete"]
    assert "Interrupted: the 20 rows fetched are in `df`" in out.stderr
