from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reinfer_nb.cells import interpolate, parse_body_cell, parse_query_cell
from reinfer_nb.errors import ConfigError

NS = {"project": "dev", "src": "support emails", "full": "dev/support-emails", "n": 5,
      "cfg": {"start": "2025-01-01T00:00:00Z"}}


def test_query_cell_grammar() -> None:
    spec = parse_query_cell(
        """
        # list comments
        /api/_private/sources/{project}/support-emails/comments
        limit: {n}
        from_timestamp = {cfg[start]}   # trailing comment
        id: a#b
        id: "  spaced  "
        """,
        NS,
    )
    assert spec.path == "/api/_private/sources/dev/support-emails/comments"
    assert spec.params == [("limit", "5"), ("from_timestamp", "2025-01-01T00:00:00Z"),
                           ("id", "a#b"), ("id", "  spaced  ")]


def test_path_values_are_url_encoded_but_params_are_not() -> None:
    spec = parse_query_cell("v1/sources/{full}\nq: {src}", NS)
    assert spec.path == "v1/sources/dev%2Fsupport-emails"
    assert spec.params == [("q", "support emails")]


def test_line_form() -> None:
    spec = parse_query_cell("", NS, line_path="v1/sources/{project}", line_params=["limit=3"])
    assert spec.path == "v1/sources/dev" and spec.params == [("limit", "3")]


@pytest.mark.parametrize(
    "cell, words",
    [
        ("", "No path"),
        ("# only a comment", "No path"),
        ("v1/x\nnot a parameter", "cell line 2"),
        ("v1/x\n bad name!: 1", "not a valid parameter name"),
        ("v1/{missing}", "not defined"),
        ("v1/{project", "Unbalanced"),
        ("v1/{}", "placeholder"),
    ],
)
def test_query_cell_errors(cell: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_query_cell(cell, NS)


def test_literal_braces() -> None:
    assert interpolate("a{{b}}", NS, url_encode=True) == "a{b}"


def test_body_cell() -> None:
    spec = parse_body_cell(
        '/api/_private/datasets/{project}/triage/query\n# the body\n{"order": {"kind": "recent"}}',
        NS,
    )
    assert spec.path == "/api/_private/datasets/dev/triage/query"
    assert spec.body == {"order": {"kind": "recent"}} and spec.has_body


def test_body_cell_error_points_at_the_line() -> None:
    with pytest.raises(ConfigError, match="cell line 3, column 1"):
        parse_body_cell('v1/x\n{"a": 1,\n}', NS)


def test_empty_body() -> None:
    spec = parse_body_cell("v1/x\n\n", NS)
    assert not spec.has_body


@given(st.text(), st.text())
def test_grammar_raises_only_config_errors(line: str, cell: str) -> None:
    for parse in (parse_query_cell, parse_body_cell):
        try:
            parse(cell, NS, line_path=line or None)
        except ConfigError:
            pass
