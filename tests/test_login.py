"""Login resolution in plain Python (what %reinfer_login calls), and named contexts honoured
whole: a context's proxy and certificate settings reach the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reinfer_nb.credentials import save_context
from reinfer_nb.errors import ConfigError, LoginError, NetworkError
from reinfer_nb.login import resolve_login, tutorial_choice

from .support.servers import (
    TOKEN,
    ConnectProxy,
    LoopbackServer,
    make_certificate,
    ok,
    server_context,
)


def write_contexts(path: Path, *contexts: dict[str, Any], current: str | None = None) -> Path:
    path.write_text(json.dumps({"current_context": current, "contexts": list(contexts)}))
    return path


def test_nothing_configured_means_the_sandbox(sb: Any) -> None:
    login = resolve_login(environ={}, sandbox=lambda: sb)
    assert login.is_sandbox and login.sandbox is sb and login.endpoint.root == sb.url
    assert "REINFER_ENDPOINT" in login.why and "no context is current" in login.why
    client, user = login.connect()
    with client:
        assert user["username"] == "demo"


def test_environment_endpoint_and_token(sb: Any) -> None:
    env = {"REINFER_ENDPOINT": sb.url, "REINFER_TOKEN": sb.token}
    login = resolve_login(environ=env, sandbox=lambda: pytest.fail("no sandbox wanted"))
    assert login.mode == "endpoint" and login.token.reveal() == sb.token
    assert login.why == "$REINFER_ENDPOINT is set"


def test_the_current_context_is_used(sb: Any, tmp_path: Path) -> None:
    file = tmp_path / "contexts.json"
    save_context("dev", sb.url, sb.token, path=file)
    login = resolve_login(contexts_file=file, environ={})
    assert login.mode == "context" and login.context_name == "dev"
    client, user = login.connect()
    with client:
        assert user["username"] == "demo"


def test_conflicts_and_missing_tokens(sb: Any) -> None:
    with pytest.raises(ConfigError, match="not several"):
        resolve_login(endpoint=sb.url, demo=True, environ={})
    with pytest.raises(ConfigError, match="REINFER_TOKEN"):
        resolve_login(endpoint=sb.url, environ={})
    with pytest.raises(ConfigError, match="no endpoint is"):
        resolve_login(environ={"REINFER_TOKEN": "x" * 20})
    with pytest.raises(ConfigError, match="go together"):
        resolve_login(org="acme", environ={"REINFER_TOKEN": "x" * 20})


def test_a_refused_token_is_a_login_error_that_says_what_to_do(sb: Any) -> None:
    login = resolve_login(endpoint=sb.url, token="wrong-token-0000000000", environ={})
    with pytest.raises(LoginError) as info:
        login.connect()
    err = info.value
    assert err.kind == "api" and err.http_status == 401 and err.__cause__ is err.cause
    assert "regenerate it" in err.message and "REINFER_TOKEN" in err.message


@pytest.fixture
def tls_tenant(tmp_path: Path) -> Iterator[LoopbackServer]:
    cert, key = make_certificate(tmp_path)
    user = ok({"user": {"username": "behind-proxy", "email": "p@example.com"}})
    with LoopbackServer(lambda request, server: user, tls=server_context(cert, key)) as server:
        yield server


def test_a_contexts_proxy_and_invalid_certificates_reach_the_client(
    tls_tenant: LoopbackServer, tmp_path: Path, ip: Any
) -> None:
    """A context with a proxy and accept_invalid_certificates works through that proxy."""
    with ConnectProxy() as proxy:
        file = write_contexts(
            tmp_path / "contexts.json",
            {"name": "corp", "endpoint": tls_tenant.url, "token": TOKEN,
             "accept_invalid_certificates": True, "proxy": proxy.url},
            {"name": "strict", "endpoint": tls_tenant.url, "token": TOKEN,
             "accept_invalid_certificates": False, "proxy": proxy.url},
        )
        client, user = resolve_login(context="corp", contexts_file=file, environ={}).connect()
        with client:
            assert user["username"] == "behind-proxy"
        assert proxy.tunnels == [f"127.0.0.1:{tls_tenant.port}"] and proxy.plain == []
        # The same through the magic.
        result = ip.run_cell(f"%reinfer_login --context corp --contexts-file {file}")
        assert result.success and len(proxy.tunnels) == 2
        # Certificates are checked unless the context says otherwise.
        strict = resolve_login(context="strict", contexts_file=file, environ={})
        strict_client = strict.client(policy=None)
        strict_client.retries = 0
        with strict_client, pytest.raises(NetworkError) as info:
            strict_client.whoami()
        assert info.value.reason == "tls" and len(proxy.tunnels) == 3


def test_plain_http_never_goes_through_a_proxy(
    sb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loopback http endpoint bypasses HTTP_PROXY: a proxy would see the token."""
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        client, user = resolve_login(endpoint=sb.url, token=sb.token, environ={}).connect()
        with client:
            assert user["username"] == "demo"
            client.get("/api/v1/projects")
        assert proxy.plain == [] and proxy.tunnels == []


# --------------------------------------------------------------------------- the tutorials' rule


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "neither REINFER_ENDPOINT nor REINFER_TOKEN is set"),
        ({"REINFER_TOKEN": "t"}, "REINFER_TOKEN is set but REINFER_ENDPOINT is not"),
        ({"REINFER_ENDPOINT": "https://acme.reinfer.io"},
         "REINFER_ENDPOINT is set but REINFER_TOKEN is not"),
    ],
)
def test_tutorials_use_the_sandbox_unless_both_are_set(
    sb: Any, env: dict[str, str], words: str
) -> None:
    login = resolve_login(environ=env, sandbox=lambda: sb, tutorial=True)
    assert login.is_sandbox and login.sandbox is sb
    assert words in login.why and "no context is current" in login.why
    line = login.mode_line()
    assert line.startswith("Using the EMBEDDED SANDBOX") and words in line
    assert tutorial_choice(environ=env) == ("sandbox", login.why)


def test_tutorials_use_the_tenant_when_both_are_set(sb: Any) -> None:
    env = {"REINFER_ENDPOINT": sb.url, "REINFER_TOKEN": sb.token}
    login = resolve_login(environ=env, sandbox=lambda: pytest.fail("no sandbox"), tutorial=True)
    assert login.mode == "endpoint" and login.token.reveal() == sb.token
    assert login.mode_line() == (
        f"Using a REAL TENANT: {sb.url}, because REINFER_ENDPOINT and REINFER_TOKEN are set."
    )


def test_tutorials_use_the_current_context_over_a_lone_endpoint(sb: Any, tmp_path: Path) -> None:
    file = tmp_path / "contexts.json"
    save_context("dev", sb.url, sb.token, path=file)
    env = {"REINFER_ENDPOINT": "https://elsewhere.reinfer.io"}  # no token: not configured
    login = resolve_login(contexts_file=file, environ=env, tutorial=True,
                          sandbox=lambda: pytest.fail("no sandbox"))
    assert login.mode == "context" and login.context_name == "dev"
    assert login.endpoint.root == sb.url and "dev is the current context" in login.why
    assert "(context dev)" in login.mode_line()
    # A broken contexts file configures nothing: the sandbox, not a failure.
    file.write_text("{not json")
    assert tutorial_choice(contexts_file=file, environ={})[0] == "sandbox"
