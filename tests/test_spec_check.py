"""Checks before sending (issue 13), in the library: ``Client(check_spec=True)`` fails
unknown paths and invalid bodies with nothing sent, and warns about unknown parameters."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import ApiError, ConfigError
from reinfer_nb.spec_check import SpecWarning, check_call, spec_warnings_as_lines

SYNC = "/api/v1/sources/dev/support-emails/sync"
QUERY = "/api/_private/datasets/dev/support-triage/query"
BYPASS = "(--no-check-spec, or check_spec=False, sends it anyway)."


def calls(sb: Any) -> int:
    return int(sb.stats()["calls"])


@pytest.fixture
def checked(sb: Any) -> Any:
    with Client(sb.url, sb.token, backoff=0.01, timeout=5, check_spec=True) as c:
        yield c


def test_the_check_is_off_by_default_and_on_by_option(sb: Any) -> None:
    with Client(sb.url, sb.token) as plain:
        assert plain.check_spec is False
        with pytest.raises(ApiError):  # sent: the server answers 404
            plain.get("/api/v1/datsets")
        with pytest.raises(ConfigError):  # not sent: the spec says no
            plain.get("/api/v1/datsets", check_spec=True)


def test_did_you_mean(checked: Client, sb: Any) -> None:
    before = calls(sb)
    with pytest.raises(ConfigError) as caught:
        checked.get("/api/v1/datsets")
    assert str(caught.value) == (
        "GET /api/v1/datsets is not an operation of the API: did you mean GET /api/v1/datasets? "
        f"Nothing was sent {BYPASS}"
    )
    assert calls(sb) == before
    # Per call, the check can be skipped: then the server answers.
    with pytest.raises(ApiError) as answered:
        checked.get("/api/v1/datsets", check_spec=False)
    assert answered.value.http_status == 404 and calls(sb) == before + 1


def test_wrong_method(checked: Client, sb: Any) -> None:
    before = calls(sb)
    with pytest.raises(ConfigError) as caught:
        checked.get("/api/v1/sources/dev/support-emails/comments")
    message = str(caught.value)
    assert message.startswith(
        "GET /api/v1/sources/dev/support-emails/comments is not an operation of the API: "
        "DELETE exists for this path, not GET; did you mean "
        "GET /api/_private/sources/dev/support-emails/comments"
    )
    with pytest.raises(ConfigError, match=r"POST exists for this path, not GET"):
        checked.get("/api/v1/datasets/dev/support-triage/export")
    with pytest.raises(ConfigError, match=r"nor close to one: %reinfer_api WORDS"):
        checked.get("/api/v1/nonexistent_page")
    assert calls(sb) == before


@pytest.mark.parametrize(
    ("path", "body", "problems"),
    [
        (SYNC, {"comments": [{"timestamp": "2025-01-01T09:00:00Z"}]},
         "comments[0].id: required"),
        (QUERY, {"order": {"kind": "recnt"}, "limit": "ten"},
         'limit: must be integer, not string; order.kind: must be one of "recent", '
         '"any_label_asc", "sample", "diagnostic", "learning", "label_property", "by_label", '
         '"text_search" and 3 more'),
        ("/api/v1/datasets/dev/new-dataset", {"dataset": {"source_ids": "abc", "titel": "x"}},
         "dataset.source_ids: must be array, not string; dataset.titel: unknown field "
         "(allowed: title, description, source_ids, entity_kinds, entity_defs, general_fields, "
         "_label_properties, debug_config_json, model_family, _timezone, _preferred_locales, "
         "_dataset_flags, _model_config, has_sentiment, experimental_async_fork_dataset, "
         "label_groups, label_defs, copy_annotations_from)"),
    ],
    ids=["sync without id", "query with a bad kind and limit", "dataset with bad fields"],
)
def test_body_validation_names_the_field_and_rule(
    checked: Client, sb: Any, path: str, body: Any, problems: str
) -> None:
    before = calls(sb)
    method = "PUT" if path.endswith("new-dataset") else "POST"
    with pytest.raises(ConfigError) as caught:
        checked.request(method, path, json=body)
    message = str(caught.value)
    assert f": {problems}. Fix it; nothing was sent {BYPASS}" in message, message
    assert message.startswith("The body of ")
    assert calls(sb) == before


def test_discriminated_choices_are_checked_against_the_kind_chosen(checked: Client) -> None:
    with pytest.raises(ConfigError, match=r": order\.lable: unknown field \(allowed: kind, "
                                          r"label, sentiment\)\."):
        checked.post(QUERY, {"order": {"kind": "by_label", "lable": "x"}})
    with pytest.raises(ConfigError, match=r": order\.kind: required \(one of \"recent\""):
        checked.post(QUERY, {"order": {}})
    with pytest.raises(ConfigError, match=r": order: required\."):
        checked.post(QUERY, {})


def test_valid_calls_go_through(checked: Client) -> None:
    result = checked.post(QUERY, {"order": {"kind": "recent"}, "limit": 5})
    assert result.http_status == 200 and len(result.records) == 5
    assert checked.get("/auth/user").http_status == 200  # outside the spec, known
    pages = checked.fetch_all("POST", QUERY, json={"order": {"kind": "recent"}, "limit": 10},
                              limit=25)
    assert pages.complete and pages.rows == 25  # later pages add `continuation`: still fine


def test_unknown_query_parameters_warn_and_are_sent(checked: Client, sb: Any) -> None:
    before = calls(sb)
    listing = "/api/_private/sources/dev/support-emails/comments"
    with pytest.warns(SpecWarning) as warned:
        result = checked.get(listing, params={"limt": 3, "limit": 2})
    assert result.http_status == 200 and calls(sb) == before + 1
    assert str(warned[0].message) == (
        "GET /api/_private/sources/{owner}/{source_name}/comments has no query parameter "
        "'limt'; its parameters: after, limit, from_timestamp, to_timestamp, direction, "
        "include_thread_properties, include_markup. Sent anyway."
    )
    # Paging adds `after` itself: only the first page's call is checked, and it is clean.
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        pages = checked.fetch_all("GET", listing, params={"limit": 10}, limit=30)
    assert pages.rows == 30 and len(pages.results) == 3
    # Parameters the API reference documents but the spec omits are known.
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        check_call("DELETE", "/api/v1/sources/dev/x/comments", params={"id": ["a", "b"]})


def test_warnings_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with spec_warnings_as_lines():
        check_call("GET", "/api/v1/datasets", params={"limit": 1})
    assert capsys.readouterr().err == (
        "SpecWarning: GET /api/v1/datasets has no query parameter 'limit'; it takes no query "
        "parameters. Sent anyway.\n"
    )


def test_paths_outside_the_api_are_not_the_checks_business(checked: Client) -> None:
    # The sandbox's control routes are no API operations: join refuses to send them.
    assert check_call("GET", "/_sandbox/stats") is None
    with pytest.raises(ConfigError, match="is not an API path"):
        checked.get("/_sandbox/stats")
    # A full URL of the same tenant is checked like its path.
    with pytest.raises(ConfigError, match="did you mean GET /api/v1/datasets"):
        checked.get(checked.endpoint.root + "/api/v1/datsets")
