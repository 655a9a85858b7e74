"""The notebook secret scan: what it finds, what it leaves alone, and its command line."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from reinfer_nb.credentials import mask_token
from reinfer_nb.scan import Finding, known_secrets, main, scan_notebook, scan_text

ROOT = Path(__file__).resolve().parent.parent


def random_token() -> str:
    """A token shaped like a real API token: 43 URL-safe characters, high entropy."""
    while True:
        token = secrets.token_urlsafe(32)
        # Guarantee the mix of classes a random token nearly always has.
        if sum(c.isdigit() for c in token) >= 2 and sum(c.isupper() for c in token) >= 2:
            return token


def kinds(text: str, known: tuple[str, ...] = ()) -> list[str]:
    return [kind for kind, _ in scan_text(text, known)]


def notebook(*cells: Any) -> Any:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }
    return nb


def write(path: Path, nb: Any) -> Path:
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------- detection


def test_known_secret_is_found_wherever_it_is() -> None:
    token = "plainlowercasetoken"  # not token-shaped: only the known value finds it
    assert kinds(f"x = {token!r}") == []
    assert kinds(f"x = {token!r}", (token,)) == ["token"]
    assert kinds(f"{token}{token}", (token,)) == ["token", "token"]


def test_short_known_values_are_ignored() -> None:
    assert kinds("the word demo appears", ("demo",)) == []


@pytest.mark.parametrize(
    "text",
    [
        'curl -H "Authorization: Bearer {t}" https://acme.reinfer.io/api/v1/datasets',
        "headers = {{'Authorization': 'Bearer {t}'}}",
        "Authorization={t}",
        "requests.get(url, headers={{'authorization': 'token {t}'}})",
        "Bearer {t}",
    ],
)
def test_authorization_headers_with_a_literal_value(text: str) -> None:
    assert kinds(text.format(t=random_token())) == ["authorization"]


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer $REINFER_TOKEN",
        'curl -H "Authorization: Bearer ${REINFER_TOKEN}"',
        'headers={"Authorization": "Bearer " + os.environ["REINFER_TOKEN"]}',
        "Authorization: Bearer <your token>",
        "Authorization: Bearer REINFER_TOKEN",
        "Authorization: Bearer …a1b2",
        "Authorization: Bearer sbx_…a1b2",
        "Authorization: Bearer ***",
        "The Authorization: Communications header is documented.",
        "Bearer authentication is what the API uses.",
    ],
)
def test_placeholders_and_prose_are_not_findings(text: str) -> None:
    assert kinds(text) == []


def test_token_patterns() -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    assert kinds(f"token = '{jwt}'") == ["jwt"]
    assert kinds("sbx_" + secrets.token_hex(16)) == ["sandbox-token"]
    assert kinds("key: ghp_" + "aB3" * 12) == ["github-token"]
    assert kinds("AKIA" + "ABCDEFGHIJ234567") == ["aws-key"]
    assert kinds("-----BEGIN RSA PRIVATE KEY-----") == ["private-key"]


def test_token_shaped_strings() -> None:
    assert kinds(f"x = '{random_token()}'") == ["token-shaped"]
    assert kinds(secrets.token_urlsafe(16)) == []  # too short to say


@pytest.mark.parametrize(
    "text",
    [
        "0123456789abcdef.fedcba9876543210",  # a comment uid
        "id " + secrets.token_hex(32),  # long hex: at most 4 bits per character
        "IPY_MODEL_" + secrets.token_hex(16),  # a widget reference in saved widget state
        "550e8400-e29b-41d4-a716-446655440000",
        "ReinferMagics_sandbox_comments_default_value_x",
        "/api/_private/sources/dev/support-emails/comments?limit=256",
        "Token('…a1b2')",
        "Logged in to http://127.0.0.1:4321 as demo, token …1a2b [embedded sandbox]",
    ],
)
def test_ids_and_ordinary_text_are_not_token_shaped(text: str) -> None:
    assert kinds(text) == []


def test_paging_tokens_are_not_findings() -> None:
    opaque = random_token()
    assert kinds(f'{{"continuation": "{opaque}"}}') == []
    assert kinds(f"/comments?limit=256&after={opaque}") == []
    # The sandbox's continuation: base64 of "<microseconds>:<uid>", plain text inside.
    encoded = base64.urlsafe_b64encode(b"1704067200000000:0123456789abcdef.fedcba9876543210")
    assert kinds(encoded.decode().rstrip("=")) == []


def test_overlapping_matches_are_reported_once_by_the_most_specific_kind() -> None:
    token = random_token()
    found = scan_text(f'-H "Authorization: Bearer {token}"', (token,))
    assert [kind for kind, _ in found] == ["token"]


def test_excerpts_mask_the_secret() -> None:
    token = random_token()
    ((kind, excerpt),) = scan_text(f"before {token} after", (token,))
    # The package's one masked form: the hint a user sees for the token everywhere else.
    assert token not in excerpt and mask_token(token) in excerpt
    assert excerpt == f"before …{token[-4:]} after"
    assert mask_token("short-secret") == "…"


# ----------------------------------------------------------------------------- notebooks


def planted_notebook(token: str) -> Any:
    return notebook(
        new_markdown_cell("# Title"),
        new_code_cell("%reinfer_login"),
        new_code_cell(f'TOKEN = "{token}"'),
        new_code_cell(
            "print(headers)",
            outputs=[new_output("stream", name="stdout", text=f"Bearer {token}\n")],
        ),
        new_code_cell(
            "df",
            outputs=[new_output("execute_result", data={
                "text/plain": "ok",
                "text/html": f"<table class='dataframe'><td>{token}</td></table>",
                "image/png": base64.b64encode(secrets.token_bytes(300)).decode(),
            }, execution_count=1)],
        ),
    )


def test_scan_notebook_names_the_cells_and_places() -> None:
    token = random_token()
    findings = scan_notebook(planted_notebook(token), secrets=[token])
    places = [(f.cell, f.where, f.kind) for f in findings]
    assert places == [
        (3, "source", "token"),
        (4, "output", "token"),
        (5, "output", "token"),
    ]
    assert all(token not in str(f) for f in findings)
    assert str(findings[0]).startswith("<notebook>: cell 3 (source): token: ")


def test_scan_notebook_without_known_secrets_still_finds_token_shapes(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", planted_notebook(random_token()))
    findings = scan_notebook(path)
    assert {(f.cell, f.kind) for f in findings} == {
        (3, "token-shaped"), (4, "authorization"), (5, "token-shaped")
    }
    assert all(isinstance(f, Finding) and f.path == str(path) for f in findings)


def test_binary_images_are_not_scanned() -> None:
    noise = base64.b64encode(secrets.token_bytes(3000)).decode()
    nb = notebook(new_code_cell("plot()", outputs=[new_output(
        "display_data", data={"image/png": noise, "text/plain": "<Figure>"})]))
    assert scan_notebook(nb) == []


def test_widget_state_and_errors_are_scanned() -> None:
    token = random_token()
    nb = notebook(new_code_cell("x", outputs=[new_output(
        "error", ename="ApiError", evalue=f"refused {token}", traceback=[f"line {token}"])]))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"m": {"state": {"value": f"<b>{token}</b>"}}}}}
    found = [(f.cell, f.where) for f in scan_notebook(nb, [token])]
    assert found == [(1, "output"), (1, "output"), (None, "notebook metadata")]


# ----------------------------------------------------------------------------- command line


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    token = random_token()
    clean = write(tmp_path / "clean.ipynb", notebook(new_code_cell("%reinfer_login")))
    (tmp_path / "sub").mkdir()
    dirty = write(tmp_path / "sub" / "dirty.ipynb", notebook(new_code_cell(f"x = '{token}'")))
    assert main([str(clean)]) == 0
    monkeypatch.setenv("REINFER_TOKEN", token)
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{dirty}: cell 1 (source): token: " in out and token not in out
    assert str(clean) not in out


def test_cli_secret_options(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    value = "lowercase-secret-value"  # not token-shaped: only a known value finds it
    path = write(tmp_path / "nb.ipynb", notebook(new_code_cell(f"x = '{value}'")))
    assert main([str(path)]) == 0
    assert main([str(path), "--secret", value]) == 1
    monkeypatch.setenv("MY_TOKEN", value)
    assert main([str(path), "--secret-env", "MY_TOKEN"]) == 1
    assert value not in capsys.readouterr().out


def test_cli_finds_the_tokens_of_named_contexts(tmp_path: Path) -> None:
    from reinfer_nb.credentials import save_context

    value = "context-token-value-in-lowercase"
    save_context("prod", "https://acme.reinfer.io", value)  # REINFER_CONTEXTS_FILE: tmp
    assert value in known_secrets()
    path = write(tmp_path / "nb.ipynb", notebook(new_markdown_cell(f"token {value}")))
    assert main([str(path)]) == 1
    assert main([str(path), "--no-contexts"]) == 0


def test_cli_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    assert main([str(tmp_path / "broken.ipynb")]) == 2
    assert main([str(tmp_path / "missing.ipynb")]) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 2  # nothing scanned is not a pass


def test_checkpoints_are_skipped(tmp_path: Path) -> None:
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb",
          notebook(new_code_cell(f"x = '{random_token()}'")))
    write(tmp_path / "a.ipynb", notebook(new_code_cell("1 + 1")))
    assert main([str(tmp_path)]) == 0


def test_module_entry_point(tmp_path: Path) -> None:
    token = random_token()
    path = write(tmp_path / "nb.ipynb", notebook(new_code_cell(f"t = '{token}'")))
    done = subprocess.run([sys.executable, "-m", "reinfer_nb.scan", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "cell 1 (source): token-shaped" in done.stdout and token not in done.stdout


def test_committed_notebooks_are_clean() -> None:
    assert main([str(ROOT / "notebooks")]) == 0


def test_json_of_a_planted_notebook_round_trips(tmp_path: Path) -> None:
    # nbformat stores multi-line sources as lists of lines: a secret split across
    # lines of the list is still found, since the scan joins them.
    token = random_token()
    raw = json.loads(nbformat.writes(notebook(new_code_cell(f"a = 1\nt = '{token}'\n"))))
    raw["cells"][0]["source"] = ["a = 1\n", f"t = '{token[:10]}", f"{token[10:]}'\n"]
    path = tmp_path / "split.ipynb"
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert [f.kind for f in scan_notebook(path, [token])] == ["token"]
