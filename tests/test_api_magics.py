"""``%reinfer_api``, the checks before sending through the magics, ``%reinfer_status`` and
``%reinfer_logout`` (issue 13), in a real IPython shell against the sandbox."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reinfer_nb.api_index import Operation
from reinfer_nb.errors import ApiError, ConfigError

from .support.shell import login, magics, run

QUERY = "/api/_private/datasets/{owner}/{dataset_name}/query"




def calls(sb: Any) -> int:
    return int(sb.stats()["calls"])


# -- %reinfer_api -----------------------------------------------------------------------


def test_search_gives_a_compact_table(ip: Any) -> None:
    result, _ = run(ip, "%reinfer_api -o ops get comments")
    frame = ip.user_ns["ops"]
    assert result.success and result.result is frame
    assert list(frame.columns) == ["method", "path", "summary"]
    assert frame.iloc[0].tolist() == [
        "GET", "/api/_private/sources/{owner}/{source_name}/comments", "Get comments from a source"]
    result, _ = run(ip, "%reinfer_api query comments")
    assert result.result.iloc[0]["path"] == QUERY
    everything, _ = run(ip, "%reinfer_api")
    assert len(everything.result) == 213
    result, out = run(ip, "%reinfer_api -o none zzz-no-such-word")
    assert result.result is None and "No operation matches 'zzz-no-such-word'" in out.stdout
    assert ip.user_ns["none"].empty


def test_one_operation_with_a_nested_request_body(ip: Any) -> None:
    result, out = run(ip, f"%reinfer_api -o op POST {QUERY}")
    assert result.success and isinstance(ip.user_ns["op"], Operation)
    text = out.stdout
    assert text.startswith(f"POST {QUERY}\n  Query comments in a dataset\n")
    assert "Request body (QueryCommentsRequest; * required)" in text
    assert "  * order  " in text and "    filter.reviewed  " in text
    assert "Answer (QueryCommentsResponse)" in text
    assert '  {"order": {"kind": "recent"}, "limit": 20}' in text


def test_one_operation_with_owner_in_the_path(ip: Any) -> None:
    result, out = run(ip, "%reinfer_api GET /api/v1/datasets/{owner}")
    assert result.success
    assert out.stdout.splitlines()[:3] == [
        "GET /api/v1/datasets/{owner}", "  Get all datasets in a project",
        "  tag Datasets · operationId getAllDatasetsInProject · permission voc-readonly"]
    assert "  * owner  string" in out.stdout
    assert "  * datasets  array of object (Dataset)" in out.stdout


def test_the_example_cell_runs(ip: Any, sb: Any) -> None:
    """The example printed for an operation with {owner}/{name} in its path is a working
    cell once the names are set."""
    login(ip, sb)
    _, out = run(ip, "%reinfer_api GET /api/v1/sources/{owner}/{source_name}")
    example = out.stdout.split("Example\n", 1)[1]
    cell = "\n".join(line[2:] for line in example.splitlines())
    assert cell.startswith("%%reinfer_get -o source\n")
    ip.user_ns.update(owner="dev", source_name=ip.run_line_magic(
        "reinfer_get", "--raw /api/v1/sources/dev")["sources"][0]["name"])
    result, _ = run(ip, cell)
    assert result.success and isinstance(ip.user_ns["source"], pd.DataFrame)
    assert ip.user_ns["source"].iloc[0]["owner"] == "dev"


def test_unknown_operation_in_reinfer_api(ip: Any) -> None:
    result, out = run(ip, "%reinfer_api GET /api/v1/datsets")
    assert isinstance(result.error_in_exec, ConfigError)
    assert "did you mean GET /api/v1/datasets?" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


# -- checks before sending ----------------------------------------------------------------


def test_did_you_mean_in_a_cell_and_nothing_sent(ip: Any, sb: Any) -> None:
    login(ip, sb)
    before = calls(sb)
    result, out = run(ip, "%%reinfer_get -o err\n/api/v1/datsets")
    assert isinstance(result.error_in_exec, ConfigError)
    assert "did you mean GET /api/v1/datasets?" in str(result.error_in_exec)
    assert "err" not in ip.user_ns and calls(sb) == before
    assert "Traceback" not in out.stdout + out.stderr
    result, _ = run(ip, "%reinfer_get /api/v1/sources/dev/support-emails/comments")
    assert "DELETE exists for this path, not GET" in str(result.error_in_exec)
    assert calls(sb) == before
    # --no-check-spec sends it: the server's own 404.
    result, _ = run(ip, "%%reinfer_get -o err --no-check-spec\n/api/v1/datsets")
    assert isinstance(result.error_in_exec, ApiError) and calls(sb) == before + 1


def test_body_validation_in_a_cell_and_nothing_sent(ip: Any, sb: Any) -> None:
    login(ip, sb)
    before = calls(sb)
    result, _ = run(ip, '%%reinfer_post\n/api/v1/sources/dev/support-emails/sync\n'
                        '{"comments": [{"timestamp": "2025-01-01T09:00:00Z"}]}')
    assert isinstance(result.error_in_exec, ConfigError)
    assert ("does not match SyncCommentsRequest: comments[0].id: required. Fix it; nothing "
            "was sent") in str(result.error_in_exec)
    ip.user_ns["query"] = {"order": {"kind": "recent"}, "limit": "ten"}
    result, _ = run(ip, "%reinfer_post -b query /api/_private/datasets/dev/support-triage/query")
    assert "limit: must be integer, not string" in str(result.error_in_exec)
    # --all checks the first page's call too, and fails before any page.
    result, _ = run(ip, "%%reinfer_post -o q --all\n/api/_private/datasets/dev/support-triage/"
                        'query\n{"limit": 10}')
    assert "order: required" in str(result.error_in_exec) and "q" not in ip.user_ns
    assert calls(sb) == before


def test_unknown_parameter_warns_in_one_line_and_sends(ip: Any, sb: Any) -> None:
    login(ip, sb)
    before = calls(sb)
    result, out = run(ip, "%%reinfer_get -o rows\n/api/_private/sources/dev/support-emails/"
                          "comments\nlimt: 3\nlimit: 2")
    assert result.success and len(ip.user_ns["rows"]) == 2 and calls(sb) == before + 1
    assert out.stderr.strip() == (
        "SpecWarning: GET /api/_private/sources/{owner}/{source_name}/comments has no query "
        "parameter 'limt'; its parameters: after, limit, from_timestamp, to_timestamp, "
        "direction, include_thread_properties, include_markup. Sent anyway."
    )


def test_the_check_spec_setting(ip: Any, sb: Any) -> None:
    login(ip, sb)
    assert magics(ip).check_spec is True
    # The magics check their calls; get_client() is a plain Client (checks off by default).
    assert magics(ip).client.check_spec is False
    ip.run_line_magic("config", "ReinferMagics.check_spec = False")
    before = calls(sb)
    result, _ = run(ip, "%reinfer_get /api/v1/datsets")
    assert isinstance(result.error_in_exec, ApiError) and calls(sb) == before + 1
    login(ip, sb)  # a new login keeps the setting
    before = calls(sb)
    result, _ = run(ip, "%reinfer_get /api/v1/datsets")
    assert isinstance(result.error_in_exec, ApiError) and calls(sb) == before + 1


# -- %reinfer_status, %reinfer_logout -----------------------------------------------------


def test_status_and_logout(ip: Any, sb: Any) -> None:
    _, out = run(ip, "%reinfer_status")
    assert out.stdout.startswith("Not logged in: run %reinfer_login")
    _, out = run(ip, "%reinfer_logout")
    assert out.stdout.strip() == "Not logged in: there is no token to forget."
    login(ip, sb)
    ip.run_line_magic("reinfer_get", "/api/v1/projects")
    ip.run_line_magic("reinfer_get", "/api/v1/sources")
    _, out = run(ip, "%reinfer_status")
    lines = out.stdout.splitlines()
    assert lines[0] == f"Endpoint  {sb.url}"
    assert lines[1] == "User      demo"
    assert lines[2].startswith("Kind      a server on this machine")
    assert lines[3] == "Context   (none)"
    assert lines[4] == f"Token     …{sb.token[-4:]}" and sb.token not in out.stdout
    assert lines[5].startswith("Calls     3 this session; median server time ")  # check + 2
    _, out = run(ip, "%reinfer_logout")
    assert out.stdout.strip() == "Logged out: the token is forgotten."
    assert magics(ip).live_names is None and magics(ip).user is None


def test_status_of_the_embedded_sandbox(ip: Any) -> None:
    ip.run_line_magic("config", "ReinferMagics.sandbox_comments = 20")
    ip.run_line_magic("reinfer_login", "--demo")
    _, out = run(ip, "%reinfer_status")
    assert "Kind      embedded sandbox: sample data, not a real tenant (--demo asks for the " \
           "embedded sandbox)" in out.stdout
