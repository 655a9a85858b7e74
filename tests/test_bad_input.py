"""Every bad input is one line that says what to do, refused before anything is sent: limits
that would lose rows, bodies JSON cannot carry, a token with a character a header cannot
carry, settings that make no sense, a CSV path that cannot be written.

Through the Client (the library owns each rule) and through the magics in a real IPython
shell (which pass the values through). "Nothing sent" is the sandbox's own call count.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import ConfigError, ReinferError
from reinfer_nb.frames import to_frame

from .support.servers import TOKEN
from .support.shell import login

PROJECTS = "/api/v1/projects"
QUERY = "/api/_private/datasets/dev/support-triage/query"


def one_line(err: BaseException | None) -> ConfigError:
    assert isinstance(err, ConfigError), repr(err)
    assert len(err._render_traceback_()) == 1 and "\n" not in err.message
    return err


def calls(sb: Any) -> int:
    return int(sb.stats()["calls"])


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("options", [
    {"limit": -1}, {"limit": 0}, {"max_pages": 0}, {"max_pages": -3}, {"limit": 2.5},
    {"limit": True},
])
def test_limits_that_make_no_sense_are_refused_by_the_client(options: dict[str, Any],
                                                             client: Client, sb: Any) -> None:
    name = next(iter(options))
    sb.reset_stats()
    with pytest.raises(ConfigError) as info:
        client.fetch_all("GET", PROJECTS, **options)
    err = one_line(info.value)
    assert err.message.startswith(f"{name} must be a whole number of at least 1")
    assert "Nothing was sent" in err.message
    with pytest.raises(ConfigError):
        next(client.paginate("GET", PROJECTS, max_pages=options.get("max_pages", -1)))
    assert calls(sb) == 0
    result = client.get(PROJECTS)
    with pytest.raises(ConfigError):
        to_frame(result, max_items=options.get("limit", 0))  # -1 would drop the last row
    assert len(to_frame(result, max_items=1)) == 1


@pytest.mark.parametrize("cell", [
    "%reinfer_get --limit -1 /api/v1/projects",
    "%reinfer_get --limit 0 /api/v1/projects",
    "%%reinfer_get --all --limit -1\n/api/v1/projects",
    "%%reinfer_get --all --limit 0\n/api/v1/projects",
    "%%reinfer_get --max-pages 0\n/api/v1/projects",
    "%%reinfer_get --max-pages -3\n/api/v1/projects",
    f'%%reinfer_post --all --limit -1\n{QUERY}\n{{"order": {{"kind": "recent"}}}}',
])
def test_limits_that_make_no_sense_are_refused_by_the_magics(cell: str, ip: Any,
                                                             sb: Any) -> None:
    login(ip, sb)
    sb.reset_stats()
    result = ip.run_cell(cell)
    err = one_line(result.error_in_exec)
    assert "must be a whole number of at least 1" in err.message
    assert calls(sb) == 0


# --------------------------------------------------------------------------- bodies


def circular() -> dict[str, Any]:
    body: dict[str, Any] = {"comments": []}
    body["comments"].append(body)
    return body


@pytest.mark.parametrize(("body", "words"), [
    ({"order": {"kind": "recent"}, "limit": math.nan}, "NaN or Infinity"),
    ({"order": {"kind": "recent"}, "score": math.inf}, "NaN or Infinity"),
    ({"scores": [1.0, -math.inf]}, "NaN or Infinity"),
    (circular(), "circular reference"),
])
def test_bodies_json_cannot_carry_are_one_line_errors(body: Any, words: str, ip: Any,
                                                      sb: Any, client: Client) -> None:
    sb.reset_stats()
    with pytest.raises(ConfigError) as info:
        client.post(QUERY, body)
    assert words in one_line(info.value).message
    assert calls(sb) == 0
    login(ip, sb)
    sb.reset_stats()
    ip.user_ns["body"] = body
    for cell in (f"%reinfer_post -b body {QUERY}", f"%%reinfer_post -b body\n{QUERY}",
                 f"%%reinfer_post -b body --all\n{QUERY}"):
        result = ip.run_cell(cell)
        err = one_line(result.error_in_exec)
        assert words in err.message and f"POST {QUERY}" in err.message
    assert calls(sb) == 0


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("paste", [
    TOKEN[:12] + "\u2013" + TOKEN[12:],  # a typographic dash
    TOKEN + "\u200b",                    # an invisible zero-width space
    "\u00e9" + TOKEN,                    # Latin-1, yet no API token has it
])
def test_a_token_with_a_character_headers_cannot_carry(paste: str, ip: Any, sb: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        Client(sb.url, paste)
    message = one_line(info.value).message
    assert "the token contains a character that cannot be sent: check the paste" in (
        message.lower())
    assert TOKEN[4:-4] not in message
    monkeypatch.setenv("PASTED_TOKEN", paste)
    sb.reset_stats()
    result = ip.run_cell(f"%reinfer_login --endpoint {sb.url} --token-env PASTED_TOKEN")
    err = one_line(result.error_in_exec)
    assert "check the paste" in err.message and TOKEN[4:-4] not in err.message
    assert calls(sb) == 0


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("setting", "default"), [
    ("timeout = 0", 10.0), ("timeout = -1", 10.0), ("timeout = float('nan')", 10.0),
    ("timeout = float('inf')", 10.0), ("sandbox_comments = -1", 5000),
    ("retries = -1", 3), ("max_answer_mb = 0", 512.0), ("display_limit = -5", 10),
])
def test_settings_that_make_no_sense_are_refused_at_config_time(
    setting: str, default: Any, ip: Any, sb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    magics = ip.magics_manager.registry["ReinferMagics"]
    name = setting.split(" ")[0]
    with caplog.at_level(logging.ERROR):
        ip.run_line_magic("config", f"ReinferMagics.{setting}")
    assert getattr(magics, name) == default  # refused: the setting is unchanged
    refusals = [r.getMessage() for r in caplog.records if f"ReinferMagics.{name}" in r.getMessage()]
    assert len(refusals) == 1 and "must be" in refusals[0] and "\n" not in refusals[0]
    ip.config.pop("ReinferMagics", None)  # %config keeps what it was given in the config
    login(ip, sb)  # the extension still works with its settings
    assert ip.run_cell(f"%reinfer_get {PROJECTS}").success


def test_good_settings_still_apply(ip: Any, sb: Any) -> None:
    login(ip, sb)
    magics = ip.magics_manager.registry["ReinferMagics"]
    ip.run_line_magic("config", "ReinferMagics.timeout = 2.5")
    ip.run_line_magic("config", "ReinferMagics.max_answer_mb = 64")
    assert magics.client.timeout == 2.5 and magics.client.max_answer_mb == 64


@pytest.mark.parametrize("where", ["missing-directory", "directory"])
def test_timing_csv_onto_a_path_that_cannot_be_written(where: str, ip: Any, sb: Any,
                                                       tmp_path: Path) -> None:
    login(ip, sb)
    target = tmp_path / "nope" / "t.csv" if where == "missing-directory" else tmp_path
    result = ip.run_cell(f"%reinfer_timing --csv {target}")
    err = one_line(result.error_in_exec)
    assert isinstance(err, ReinferError) and str(target) in err.message
    assert ("directory" in err.message) and "Traceback" not in err.message
    ok = tmp_path / "t.csv"
    assert ip.run_cell(f"%reinfer_timing --csv {ok}").success and ok.read_text().startswith(
        "started_at,")
