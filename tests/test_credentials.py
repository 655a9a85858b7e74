from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from reinfer_nb.credentials import Token, load_contexts, resolve_token, save_context
from reinfer_nb.errors import ConfigError

SECRET = "tok_1234567890abcdefSECRET"


def test_token_never_shows_itself() -> None:
    token = Token(SECRET)
    for text in (repr(token), str(token), f"{token}", f"{token!r}", f"{token}", token.hint):
        assert SECRET not in text
        assert "SECRET"[:3] not in text or text.endswith("CRET")
    assert token.hint == "…CRET"
    assert Token("short").hint == "…"
    assert token.reveal() == SECRET
    assert Token("Bearer " + SECRET) == token
    assert copy.deepcopy(token) is token
    with pytest.raises(TypeError):
        pickle.dumps(token)
    with pytest.raises(AttributeError):
        token._secret = "x"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "   ", "two words", "tab\there"])
def test_bad_tokens_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        Token(bad)


def test_resolve_token_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REINFER_TOKEN", "from-env-xxxxxxxxxxxx")
    assert resolve_token("from-arg").reveal() == "from-arg"
    assert resolve_token().reveal() == "from-env-xxxxxxxxxxxx"
    assert resolve_token(env_var="OTHER", prompt=lambda _: "typed").reveal() == "typed"
    with pytest.raises(ConfigError, match="OTHER"):
        resolve_token(env_var="OTHER")
    with pytest.raises(ConfigError):
        resolve_token(env_var="OTHER", prompt=lambda _: "")


def test_contexts_file_shared_with_the_re_tool(tmp_path: Path) -> None:
    file = tmp_path / "reinfer" / "contexts.json"
    file.parent.mkdir()
    file.write_text(json.dumps({
        "current_context": "production",
        "contexts": [
            {"name": "production", "endpoint": "https://cloud.uipath.com/org/tenant/reinfer_",
             "token": SECRET, "accept_invalid_certificates": False, "proxy": None},
            {"name": "dev", "endpoint": "https://dev.reinfer.io/", "token": None,
             "accept_invalid_certificates": True, "proxy": "http://proxy:3128"},
        ],
        "context_is_required": True,
    }))
    contexts = load_contexts(file)
    assert contexts.names() == ["production", "dev"]
    assert contexts.get().name == "production"
    assert contexts.get().token == Token(SECRET)
    assert contexts.get("dev").token is None and contexts.get("dev").accept_invalid_certificates
    assert SECRET not in repr(contexts)
    with pytest.raises(ConfigError, match="No context 'staging'"):
        contexts.get("staging")


def test_missing_and_broken_contexts_files(tmp_path: Path) -> None:
    assert load_contexts(tmp_path / "missing.json").contexts == ()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="Cannot read"):
        load_contexts(broken)


def test_save_context_writes_the_re_shape_privately(tmp_path: Path) -> None:
    file = tmp_path / "contexts.json"
    save_context("dev", "http://127.0.0.1:8000", "dev-token-xxxxxxxxxx", path=file)
    save_context("prod", "https://acme.reinfer.io", None, path=file)
    save_context("dev", "http://127.0.0.1:9000", path=file)  # update keeps the token
    raw = json.loads(file.read_text())
    assert raw["current_context"] == "dev"
    assert {c["name"] for c in raw["contexts"]} == {"dev", "prod"}
    dev = load_contexts(file).get("dev")
    assert dev.endpoint == "http://127.0.0.1:9000" and dev.token == Token("dev-token-xxxxxxxxxx")
    assert file.stat().st_mode & 0o077 == 0


def test_one_masking_function_for_the_whole_package(make_sandbox: Any) -> None:
    """Token hints, the sandbox's repr and the scanner's excerpts: one masked form."""
    from reinfer_nb import sandbox, scan
    from reinfer_nb.credentials import mask_token

    assert Token(SECRET).hint == mask_token(SECRET) == "…CRET"
    assert mask_token("short") == "…"
    assert sandbox.mask_token is mask_token and not hasattr(scan, "mask")
    (_, excerpt), = scan.scan_text(f"token {SECRET} here", (SECRET,))
    assert excerpt == f"token {mask_token(SECRET)} here"
    running = make_sandbox(comments=0, token=SECRET)
    assert f"token={mask_token(SECRET)}" in repr(running) and SECRET not in repr(running)
