"""Sharing and debugging a call: Client.prepare / Request (describe, curl), the magics'
--dry-run and --curl, and %reinfer_timing --curl N, against the sandbox on loopback.

The curl commands are run for real (when /usr/bin/curl exists) with the token in
$REINFER_TOKEN, and must get the answer the client got.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from typing import Any

import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import ApiError, ConfigError
from reinfer_nb.magics import get_client
from reinfer_nb.request import KEEP_BODY_BYTES, Request

from .support.shell import login, run

CURL = "/usr/bin/curl"
QUERY = "/api/_private/datasets/dev/support-triage/query"
QUERY_BODY = {"limit": 3, "order": {"kind": "recent"}}



def run_curl(command: str, token: str) -> Any:
    """Run a printed curl command in a shell with the token in $REINFER_TOKEN only."""
    if not os.access(CURL, os.X_OK):
        pytest.skip(f"{CURL} is not installed here, so the curl command cannot be run")
    env = {"PATH": os.path.dirname(CURL) + os.pathsep + os.environ.get("PATH", ""),
           "REINFER_TOKEN": token}
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --------------------------------------------------------------------------- the library


def test_prepare_describes_the_call_without_the_token(client: Client, sb: Any) -> None:
    request = client.prepare("post", "v1/sources/dev/support-emails/sync",
                             params={"x": "a b"}, json={"comments": []})
    assert isinstance(request, Request) and request.method == "POST"
    assert request.url == f"{sb.url}/api/v1/sources/dev/support-emails/sync?x=a+b"
    assert request.body == b'{"comments": []}'
    assert "authorization" not in {name.lower() for name, _ in request.headers}
    text = request.describe()
    assert text.splitlines()[0] == f"POST {request.url}"
    assert f"Authorization: Bearer {client.token.hint}" in text
    assert "Content-Type: application/json" in text and '"comments": []' in text
    for shown in (text, request.curl(), repr(request), json.dumps(request.as_dict())):
        assert sb.token not in shown
    # Bad input fails as the call itself would, and nothing is sent.
    with pytest.raises(ConfigError):
        client.prepare("GET", "https://elsewhere.example/api/v1/datasets")
    assert len(client.timing_log) == 0


def test_curl_quotes_and_keeps_the_token_a_variable(client: Client) -> None:
    request = client.prepare("GET", "/api/v1/datasets", params={"q": "it's [x]"})
    command = request.curl()
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:3] == ["curl", "-sS", request.url]
    assert '-H "Authorization: Bearer $REINFER_TOKEN"' in command
    assert "--noproxy '*'" in command  # plain HTTP (loopback) never goes through a proxy
    assert '-H "Authorization: Bearer $ACME_TOKEN"' in request.curl("ACME_TOKEN")
    with pytest.raises(ConfigError, match="not an environment variable name"):
        request.curl("$(rm -rf ~)")
    # Brackets and braces left in a URL would be curl's globbing patterns.
    assert Request("GET", "https://acme.reinfer.io/a[1]").curl().startswith(
        "curl -sS --globoff 'https://acme.reinfer.io/a[1]'")


def test_curl_gets_the_same_answer_as_the_client(client: Client, sb: Any) -> None:
    direct = client.get("/api/v1/datasets/dev").data
    assert run_curl(client.prepare("GET", "/api/v1/datasets/dev").curl(), sb.token) == direct
    direct = client.post(QUERY, QUERY_BODY).data
    assert run_curl(client.prepare("POST", QUERY, json=QUERY_BODY).curl(), sb.token) == direct


def test_the_timing_log_keeps_what_rebuilds_a_call(client: Client, sb: Any) -> None:
    answer = client.post(QUERY, QUERY_BODY).data
    record = client.timing_log.records[-1]
    assert record.request is not None and record.request.body == json.dumps(QUERY_BODY).encode()
    assert sb.token not in repr(record) and sb.token not in json.dumps(
        record.as_dict(), default=str)
    assert run_curl(client.timing_log.curl(-1), sb.token) == answer
    # A bulk upload's body is not kept: the log says so instead of rebuilding half a call.
    big = {"comments": [{"id": "x" * KEEP_BODY_BYTES}]}
    with pytest.raises(ApiError):  # no such path (404): only the log matters here
        client.post("/api/v1/nonexistent_page", big)
    kept = client.timing_log.records[-1].request
    assert kept is not None and kept.body is None and kept.body_omitted > KEEP_BODY_BYTES
    with pytest.raises(ConfigError, match="too large to keep"):
        client.timing_log.curl(-1)


# --------------------------------------------------------------------------- the magics


def test_dry_run_sends_nothing(ip: Any, sb: Any) -> None:
    login(ip, sb)
    client = get_client(ip)
    sb.reset_stats()
    logged = len(client.timing_log)
    cells = [
        "%reinfer_get --dry-run /api/v1/datasets limit=2",
        "%%reinfer_get --dry-run --all\n/api/_private/sources/dev/support-emails/comments\n"
        "limit: 10",
        f"%%reinfer_post --dry-run -o req\n{QUERY}\n{json.dumps(QUERY_BODY)}",
        '%%reinfer_put --dry-run\n/api/v1/sources/dev/new-one\n{"source": {"title": "T"}}',
        "%%reinfer_delete --dry-run\n/api/v1/sources/dev/support-emails/comments\nid: abc",
        f"%%reinfer_post --curl\n{QUERY}\n{json.dumps(QUERY_BODY)}",
    ]
    outputs = []
    for cell in cells:
        result, out = run(ip, cell)
        assert result.success, (cell, result.error_in_exec)
        outputs.append(out.stdout)
    assert sb.stats()["calls"] == 0 and len(client.timing_log) == logged
    first = outputs[0].splitlines()
    assert first[0] == f"GET {sb.url}/api/v1/datasets?limit=2"
    assert f"Authorization: Bearer {client.token.hint}" in outputs[0]
    assert outputs[0].rstrip().endswith("Dry run: nothing was sent.")
    assert f"POST {sb.url}{QUERY}" in outputs[2] and '"kind": "recent"' in outputs[2]
    assert isinstance(ip.user_ns["req"], Request)
    assert outputs[3].startswith("PUT ") and outputs[4].startswith("DELETE ")
    assert outputs[4].splitlines()[0].endswith("/comments?id=abc")
    assert all(sb.token not in text for text in outputs)


def test_magic_curl_and_timing_curl_give_the_same_answer(ip: Any, sb: Any) -> None:
    login(ip, sb)
    _, out = run(ip, f"%%reinfer_post --curl\n{QUERY}\n{json.dumps(QUERY_BODY)}")
    command = out.stdout.strip()
    assert command.startswith("curl ") and sb.token not in command
    result, _ = run(ip, f"%%reinfer_post --raw -o answer\n{QUERY}\n{json.dumps(QUERY_BODY)}")
    assert result.success
    assert run_curl(command, sb.token) == ip.user_ns["answer"]
    # The same for a call already made: the latest (-1), and by its number.
    _, out = run(ip, "%reinfer_timing --curl -1")
    assert out.stdout.strip() == command
    number = get_client(ip).timing_log.numbers[-1]
    _, again = run(ip, f"%reinfer_timing --curl {number}")
    assert again.stdout == out.stdout
    result, out = run(ip, "%reinfer_timing --curl 999")
    assert isinstance(result.error_in_exec, ConfigError)
    assert "Traceback" not in out.stdout + out.stderr


def test_a_token_pasted_into_a_call_is_not_kept(client: Client, sb: Any) -> None:
    request = client.prepare("POST", f"/api/v1/nonexistent_page?t={sb.token}",
                             json={"note": sb.token}, headers={"X-Copy": sb.token})
    for shown in (request.url, request.describe(), request.curl(), repr(request.as_dict())):
        assert sb.token not in shown
    assert client.token.hint in request.url and "X-Copy" not in dict(request.headers)
