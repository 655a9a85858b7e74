from __future__ import annotations

import copy

import pandas as pd

from reinfer_nb.answers import Failure
from reinfer_nb.errors import ApiError, NetworkError, PaginationError
from reinfer_nb.frames import ERROR_COLUMNS, ErrorFrame, error_frame, to_frame
from reinfer_nb.results import find_records


def test_list_of_records_with_nested_fields_flattened() -> None:
    data = {"status": "ok", "datasets": [
        {"id": "a1", "owner": "dev", "model": {"family": "english", "version": 3}},
        {"id": "b2", "owner": "prod", "model": {"family": "german", "version": 1}},
    ]}
    frame = to_frame(data)
    assert list(frame.columns) == ["id", "owner", "model.family", "model.version"]
    assert frame.attrs["records_key"] == "datasets"
    assert frame.attrs["raw"] == data
    head = frame.head(1)
    assert head.attrs["raw"] is frame.attrs["raw"]  # shared, not deep-copied
    assert copy.deepcopy(frame.attrs)["raw"] is frame.attrs["raw"]


def test_one_object_gives_one_row() -> None:
    frame = to_frame({"status": "ok", "source": {"id": "x", "name": "emails"}})
    assert frame.to_dict("records") == [{"id": "x", "name": "emails"}]
    counts = to_frame({"status": "ok", "new": 2, "updated": 1, "unchanged": 0})
    assert counts.to_dict("records") == [{"new": 2, "updated": 1, "unchanged": 0}]
    assert to_frame({"status": "ok"}).to_dict("records") == [{"status": "ok"}]


def test_find_records_prefers_known_listing_keys() -> None:
    key, records = find_records({"status": "ok", "results": [1], "entity_defs": [2]})
    assert key == "results" and records == [1]
    assert find_records([{"a": 1}]) == (None, [{"a": 1}])
    assert find_records(3) == (None, [{"value": 3}])


def test_empty_listing() -> None:
    assert to_frame({"status": "ok", "sources": []}).empty


def test_error_frame_columns() -> None:
    err = ApiError("HTTP 404: 404 Not Found (GET /api/v1/x)", http_status=404, method="GET",
                   path="/api/v1/x")
    frame = error_frame(err)
    assert tuple(frame.columns) == ERROR_COLUMNS
    row = frame.iloc[0]
    assert row["kind"] == "api" and row["http_status"] == 404 and pd.isna(row["server_ms"])
    net = error_frame(NetworkError("refused", reason="refused", method="POST", path="/api/v1/y"))
    assert net.iloc[0]["kind"] == "network" and pd.isna(net.iloc[0]["http_status"])


LONG = ("Dataset 'dev/nope' not found. List the datasets with GET /api/v1/datasets/dev, "
        "then check the owner and the name, which are case-sensitive, and try again.")


def api_error(attempts: int = 2) -> ApiError:
    failure = Failure("api", LONG, "Check the path and the names in it.", http_status=404)
    err = failure.to_error("GET", "/api/v1/datasets/dev/nope", attempts=attempts)
    assert isinstance(err, ApiError)
    return err


def test_error_frame_has_message_hint_and_attempts() -> None:
    """The platform's words, our suggestion and the attempts in columns of their own; the
    columns of before stay, in their order."""
    assert ERROR_COLUMNS == ("kind", "http_status", "message", "hint", "attempts", "method",
                             "path", "server_ms")
    assert [c for c in ERROR_COLUMNS if c not in ("hint", "attempts")] == [
        "kind", "http_status", "message", "method", "path", "server_ms"]
    err = api_error()
    row = error_frame(err).iloc[0]
    assert row["message"] == LONG  # verbatim, whole
    assert row["hint"] == "Check the path and the names in it."
    assert row["attempts"] == 2 and row["kind"] == "api" and row["http_status"] == 404
    assert error_frame(err).attrs["error"]["hint"] == row["hint"]
    # The red line is one short sentence; it does not repeat the hint.
    assert err.message == f"HTTP 404 from GET /api/v1/datasets/dev/nope after 2 attempts: {LONG}"
    assert "Check the path" not in err.message
    assert api_error(attempts=1).message.startswith("HTTP 404 from GET /api/v1/datasets/dev/nope: ")


def test_network_errors_still_say_what_to_do_in_their_line() -> None:
    failure = Failure("network", "Connection refused by 127.0.0.1:9 for GET /x: nothing is "
                      "listening there.", "Check the endpoint.", reason="refused")
    err = failure.to_error("GET", "/x", attempts=4)
    assert err.message.endswith("Check the endpoint. (gave up after 4 attempts)")
    row = error_frame(err).iloc[0]
    assert row["message"] == "Connection refused by 127.0.0.1:9 for GET /x: nothing is " \
        "listening there."
    assert (row["hint"], row["attempts"]) == ("Check the endpoint.", 4)
    # A page of a pull: the frame shows the page's failure, the line says where it stopped.
    stopped = PaginationError(api_error(), page=3, rows=512)
    assert stopped.message.startswith("Stopped at page 3 after 512 rows: HTTP 404 from GET")
    assert error_frame(stopped).iloc[0]["message"] == LONG


def test_error_frame_shows_the_whole_message_in_html_and_text() -> None:
    frame = error_frame(api_error())
    assert isinstance(frame, ErrorFrame) and isinstance(frame, pd.DataFrame)
    with pd.option_context("display.max_colwidth", 50, "display.width", 80):
        page = frame._repr_html_()
        text = repr(frame)
    assert f"<td>{LONG}</td>" in page.replace("&#x27;", "'").replace("&#39;", "'")
    assert "<td>Check the path and the names in it.</td>" in page
    # Text: one field per line, never cut, never wrapped into blocks of columns.
    lines = text.splitlines()
    assert len(lines) == len(ERROR_COLUMNS)
    assert [line.split()[0] for line in lines] == list(ERROR_COLUMNS)
    assert lines[2] == f"    message  {LONG}"
    assert "..." not in text and "\\" not in text
    # What is derived from it is a plain DataFrame again.
    assert type(frame[["kind"]]) is pd.DataFrame and type(frame.copy()) is pd.DataFrame
