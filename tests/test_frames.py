from __future__ import annotations

import copy

import pandas as pd

from reinfer_nb.errors import ApiError, NetworkError
from reinfer_nb.frames import ERROR_COLUMNS, error_frame, to_frame
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
