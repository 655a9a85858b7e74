"""Client.comments and %reinfer_comments against the sandbox on 127.0.0.1.

Rows are compared with the raw endpoints (the dataset query, the comments listing) sent
the same filter, and counts with the sandbox's own sizes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from IPython.utils.capture import capture_output

from reinfer_nb.client import Client
from reinfer_nb.comments import COLUMNS, PREDICTION_COLUMNS, CommentsInterrupted, parse_moment
from reinfer_nb.errors import ApiError, ConfigError, PaginationError
from reinfer_nb.magics import get_client
from reinfer_nb.sandbox.data import vocabulary
from reinfer_nb.sandbox.data.sample import split_counts

from .support.servers import TOKEN, LoopbackServer, Seen, ok
from .support.shell import login

COMMENTS, SEED = 1200, 3
DATASET = "dev/support-triage"
QUERY = "/api/_private/datasets/dev/support-triage/query"
LISTING = "/api/_private/sources/dev/support-emails/comments"
PROPERTIES = ["Mailbox", "Priority", "Customer Tier", "Region", "Channel", "NPS"]
TEXT = ("id", "uid", "source", "subject", "from", "body")


def source_size(owner: str, name: str, comments: int = COMMENTS) -> int:
    """How many comments the sandbox holds in a seeded source."""
    sizes = split_counts(comments, [spec[5] for spec in vocabulary.SOURCES])
    return dict(zip([(s[0], s[1]) for s in vocabulary.SOURCES], sizes, strict=True))[owner, name]


@pytest.fixture(scope="module")
def box(make_sandbox: Any) -> Any:
    """A sandbox of this module's own, never written to (so its counts are known)."""
    return make_sandbox(comments=COMMENTS, seed=SEED)


@pytest.fixture
def api(box: Any) -> Iterator[Client]:
    box.clear_faults()
    with Client(box.url, box.token, backoff=0.01, timeout=10) as client:
        yield client
    box.clear_faults()


@pytest.fixture
def make_answers() -> Iterator[Any]:
    """A client of a purpose-built server answering one dataset ``o/d``: the dataset, the
    sources list, and query pages in turn (each but the last with a continuation)."""
    servers: list[LoopbackServer] = []
    clients: list[Client] = []

    def make(dataset: dict[str, Any], sources: list[dict[str, Any]],
             pages: list[dict[str, Any]]) -> Client:
        def answer(request: Seen, server: LoopbackServer) -> Any:
            if request.path == "/api/v1/datasets/o/d":
                return ok({"dataset": dataset})
            if request.path == "/api/v1/sources":
                return ok({"sources": sources})
            if request.path == "/api/_private/datasets/o/d/query":
                index = int((request.json() or {}).get("continuation", "0"))
                page = dict(pages[index], entity_defs=[])
                if index + 1 < len(pages):
                    page["continuation"] = str(index + 1)
                return ok(page)
            return ok({"status": "error"}, status=404)

        server = LoopbackServer(answer)
        servers.append(server)
        client = Client(server.url, TOKEN, timeout=5, retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


def raw_query(client: Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The dataset query's results, every page, as the endpoint gives them."""
    pages = client.fetch_all("POST", QUERY, json={"order": {"kind": "recent"}, **body})
    assert pages.complete
    return pages.records


def uids(records: list[dict[str, Any]]) -> list[str]:
    return [record["comment"]["uid"] for record in records]


# --------------------------------------------------------------------------- shape


def test_dataset_columns_dtypes_and_count(api: Client) -> None:
    df = api.comments(DATASET, predictions=True)
    expected = [*COLUMNS[:12], *PROPERTIES, "labels", "reviewed", *PREDICTION_COLUMNS, "entities"]
    assert list(df.columns) == expected
    assert len(df) == source_size("dev", "support-emails") + source_size("dev", "returns-emails")
    assert df["uid"].is_unique
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["n_messages"].dtype == "int64" and df["reviewed"].dtype == bool
    assert df["NPS"].dtype == "float64" and df["top_probability"].dtype == "float64"
    for name in TEXT:
        assert pd.api.types.is_string_dtype(df[name]), name
    for name in ("to", "cc", "messages", "labels", "predicted", "entities"):
        assert all(isinstance(value, list) for value in df[name]), name
    assert set(df["source"]) == {"dev/support-emails", "dev/returns-emails"}
    assert df.attrs["complete"] and not df.attrs["has_more"] and df.attrs["pages"] == 2
    assert df.attrs["dataset"] == DATASET and "Billing > Refund" in df.attrs["label_names"]
    assert len(df.attrs["raw"]) == 2 and df.attrs["url"].endswith(QUERY)
    # The raw answers stay whole: the first row is the first result, as sent.
    first = df.attrs["raw"][0]["results"][0]
    row = df.iloc[0]
    assert row["uid"] == first["comment"]["uid"]
    assert row["timestamp"] == pd.Timestamp(first["comment"]["timestamp"])
    message = first["comment"]["messages"][0]
    assert (row["subject"], row["from"], row["body"]) == (
        message["subject"]["text"], message["from"], message["body"]["text"]
    )
    assert row["messages"] == first["comment"]["messages"]
    assert row["reviewed"] == bool(first["labelling"][0]["assigned"])


def test_source_columns_dtypes_and_count(api: Client) -> None:
    df = api.comments(source="dev/support-emails")
    assert list(df.columns) == [*COLUMNS[:12], *PROPERTIES, "labels", "reviewed", "entities"]
    assert len(df) == source_size("dev", "support-emails")
    assert set(df["source"]) == {"dev/support-emails"} and df["uid"].is_unique
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["timestamp"].is_monotonic_increasing  # the listing is oldest first
    assert all(labels == [] for labels in df["labels"])
    assert df.attrs["source"] == "dev/support-emails" and df.attrs["complete"]
    # Pages of the listing's maximum, 256: 360 comments in 2 pages.
    assert df.attrs["pages"] == 2
    assert all("limit=256" in t.path for t in df.attrs["timings"])


def test_labels_predictions_and_top_label_agree_with_the_answer(api: Client) -> None:
    df = api.comments(DATASET, predictions=True, limit=200)
    results = [r for page in df.attrs["raw"] for r in page["results"]][:200]
    taxonomy = df.attrs["label_names"]
    parents = {name.rsplit(" > ", 1)[0] for name in taxonomy if " > " in name}
    for row, result in zip(df.itertuples(index=False), results, strict=True):
        group = result["labelling"][0]
        assert row.labels == [label["name"] for label in group["assigned"]]
        scores = {p["name"]: p["probability"] for p in group["predicted"]}
        assert row.predicted == [name for name, p in scores.items() if p >= 0.5]
        leaves = {name: p for name, p in scores.items() if name not in parents}
        assert row.top_label in leaves and row.top_label not in parents
        assert row.top_probability == max(leaves.values())
    assert set(df["top_label"]) - set(taxonomy) == set()
    # The sandbox's parents score just above their children: never the top label.
    assert not set(df["top_label"]) & parents


def test_entities_are_kind_name_and_value(api: Client) -> None:
    df = api.comments(DATASET, limit=100)
    found = [entity for entities in df["entities"] for entity in entities]
    assert found and all(set(e) == {"kind", "name", "formatted_value"} for e in found)
    assert {e["kind"] for e in found} <= {"order_number", "monetary_quantity"}


def test_label_probabilities_match_the_predictions(api: Client) -> None:
    matrix = api.label_probabilities(DATASET, limit=50)
    df = api.comments(DATASET, limit=50)
    assert list(matrix.index) == list(df["uid"]) and matrix.index.name == "uid"
    taxonomy = list(df.attrs["label_names"])
    assert list(matrix.columns)[: len(taxonomy)] == taxonomy
    first = df.attrs["raw"][0]["results"][0]["labelling"][0]["predicted"]
    expected = {p["name"]: p["probability"] for p in first}
    row = matrix.iloc[0]
    assert {k: v for k, v in row.items() if v} == expected
    assert ((matrix >= 0) & (matrix <= 1)).all().all()


# --------------------------------------------------------------------------- same rows


def test_magic_and_client_give_the_same_frame(ip: Any, box: Any, api: Client) -> None:
    login(ip, box)
    with capture_output():
        result = ip.run_cell(f"%reinfer_comments {DATASET} --predictions --limit 700 -o df")
    assert result.success, result.error_in_exec
    by_magic = ip.user_ns["df"]
    by_client = api.comments(DATASET, predictions=True, limit=700)
    pd.testing.assert_frame_equal(by_magic, by_client)
    stable = {"timing", "timings", "url"}
    assert {k: v for k, v in by_magic.attrs.items() if k not in stable} == {
        k: v for k, v in by_client.attrs.items() if k not in stable
    }
    # Nothing but the data: the same as the query answered.
    assert list(by_client["uid"]) == uids(raw_query(api, {}))[:700]


def test_limit_300_gives_300_rows_and_has_more(ip: Any, box: Any, api: Client) -> None:
    login(ip, box)
    with capture_output():
        ip.run_cell(f"%reinfer_comments {DATASET} --limit 300 -o df")
        ip.run_cell("%reinfer_comments --source dev/support-emails --limit 300 -o src")
    df, src = ip.user_ns["df"], ip.user_ns["src"]
    assert len(df) == 300 and df.attrs["has_more"] and df.attrs["complete"]
    assert df.attrs["pages"] == 1  # a page of min(300, the query's 512)
    assert len(src) == 300 and src.attrs["has_more"] and src.attrs["pages"] == 2
    # When the data ends first: every row, and nothing more on the server.
    everything = api.comments(source="dev/returns-emails", limit=10_000)
    assert len(everything) == source_size("dev", "returns-emails")
    assert not everything.attrs["has_more"] and everything.attrs["complete"]


@pytest.mark.parametrize(
    ("options", "body"),
    [
        ({"from_": "2024-03-01", "to": "2024-03-31"},
         {"filter": {"timestamp": {"minimum": "2024-03-01T00:00:00.000000Z",
                                   "maximum": "2024-03-31T23:59:59.999999Z"}}}),
        ({"label": "Billing > Refund"},
         {"attribute_filters": [{"attribute": "labels", "filter": {
             "kind": "string_any_of", "any_of": ["Billing > Refund"]}}]}),
        ({"label": ["Billing > Refund", "Account > Password Reset"]},
         {"attribute_filters": [{"attribute": "labels", "filter": {
             "kind": "string_any_of",
             "any_of": ["Billing > Refund", "Account > Password Reset"]}}]}),
        ({"property": "Region=EU"},
         {"filter": {"user_properties": {"string:Region": {"one_of": ["EU"]}}}}),
        ({"property": ["NPS=9", "NPS=10"]},
         {"filter": {"user_properties": {"number:NPS": {"one_of": [9, 10]}}}}),
        ({"reviewed_only": True}, {"filter": {"reviewed": "only_reviewed"}}),
        ({"source": "dev/returns-emails"}, {"filter": {"sources": ["SOURCE_ID"]}}),
    ],
    ids=["from-to", "label", "labels", "property", "number-property", "reviewed-only",
         "source"],
)
def test_filters_change_the_rows_as_the_raw_query_does(
    api: Client, options: dict[str, Any], body: dict[str, Any]
) -> None:
    if body.get("filter", {}).get("sources"):  # the source's id, from the API
        source = api.get("/api/v1/sources/dev/returns-emails").data["source"]
        body = {"filter": {"sources": [source["id"]]}}
    df = api.comments(DATASET, **options)
    expected = uids(raw_query(api, body))
    everything = source_size("dev", "support-emails") + source_size("dev", "returns-emails")
    assert 0 < len(expected) < everything  # the filter changes the rows
    assert list(df["uid"]) == expected
    assert df.attrs["raw"][0] and len(df) == len(set(df["uid"]))


def test_filters_mean_what_they_say(api: Client) -> None:
    march = api.comments(DATASET, from_="2024-03-01", to="2024-03-31")
    assert march["timestamp"].min() >= pd.Timestamp("2024-03-01", tz="UTC")
    assert march["timestamp"].max() < pd.Timestamp("2024-04-01", tz="UTC")
    eu = api.comments(DATASET, property="Region=EU")
    assert set(eu["Region"]) == {"EU"}
    reviewed = api.comments(DATASET, reviewed_only=True)
    assert reviewed["reviewed"].all() and all(reviewed["labels"])
    refunds = api.comments(DATASET, label="Billing > Refund", predictions=True)
    assert all("Billing > Refund" in row.labels or "Billing > Refund" in row.predicted
               for row in refunds.itertuples())


def test_predictions_add_columns_not_rows(api: Client) -> None:
    plain = api.comments(DATASET, limit=120)
    with_predictions = api.comments(DATASET, limit=120, predictions=True)
    assert list(plain["uid"]) == list(with_predictions["uid"])
    assert set(with_predictions.columns) - set(plain.columns) == set(PREDICTION_COLUMNS)
    strict = api.comments(DATASET, limit=120, predictions=True, threshold=0.9)
    assert all(set(a) <= set(b) for a, b in zip(strict["predicted"],
                                                 with_predictions["predicted"], strict=True))
    assert sum(map(len, strict["predicted"])) < sum(map(len, with_predictions["predicted"]))


def test_source_from_to_as_the_raw_listing(api: Client) -> None:
    df = api.comments(source="dev/support-emails", from_="2024-06-01T00:00:00Z", to="2024-06-30")
    pages = api.fetch_all("GET", LISTING, params={
        "from_timestamp": "2024-06-01T00:00:00Z", "to_timestamp": "2024-06-30T23:59:59.999999Z",
    })
    expected = [comment["uid"] for comment in pages.records]
    assert 0 < len(expected) < source_size("dev", "support-emails")
    assert list(df["uid"]) == expected


def test_raw_gives_the_pages(api: Client) -> None:
    pages = api.comments(DATASET, limit=10, raw=True)
    assert isinstance(pages, list) and len(pages[0]["results"]) == 10


# --------------------------------------------------------------------------- odd comments


def test_odd_comments_give_correct_rows(make_sandbox: Any) -> None:
    """No messages, non-ASCII text, a missing user property (uploaded to the sandbox)."""
    box = make_sandbox(comments=40, seed=11)
    body_of = "Zoë paid £12 — 返金してください 🙂\nSecond line"
    new = [
        {"id": "odd-empty", "timestamp": "2025-02-01T10:00:00Z", "messages": [],
         "thread_id": "t-42", "user_properties": {"string:Region": "EU", "number:NPS": 3}},
        {"id": "odd-text", "timestamp": "2025-02-01T12:00:00Z",
         "messages": [{"from": "zoë@exämple.com", "to": ["a@b.example"], "cc": ["c@d.example"],
                       "subject": {"text": "Ünïcödé ✓"}, "body": {"text": body_of}}],
         "user_properties": {"string:Region": "Ελλάδα"}},  # no NPS: missing
    ]
    with Client(box.url, box.token, timeout=10) as client:
        client.post("/api/v1/sources/dev/support-emails/sync", {"comments": new})
        for df in (client.comments(DATASET, from_="2025-01-01"),
                   client.comments(source="dev/support-emails", from_="2025-01-01")):
            rows = df.set_index("id")
            assert sorted(rows.index) == ["odd-empty", "odd-text"]
            empty, text = rows.loc["odd-empty"], rows.loc["odd-text"]
            assert empty["n_messages"] == 0 and empty["messages"] == []
            assert all(pd.isna(empty[name]) for name in ("subject", "from", "body"))
            assert empty["to"] == [] and empty["cc"] == [] and empty["thread_id"] == "t-42"
            assert (empty["Region"], empty["NPS"]) == ("EU", 3.0)
            assert text["body"] == body_of and text["subject"] == "Ünïcödé ✓"
            assert text["from"] == "zoë@exämple.com" and text["cc"] == ["c@d.example"]
            assert text["Region"] == "Ελλάδα" and math.isnan(text["NPS"])
            assert text["timestamp"] == pd.Timestamp("2025-02-01T12:00:00Z")
            assert text["n_messages"] == 1 and text["labels"] == []


def test_threads_give_the_first_message_and_all_of_them(api: Client) -> None:
    df = api.comments(source="dev/support-emails")
    threads = df[df["n_messages"] > 1]
    assert len(threads) > 10  # the sample data has threads of 2-4 messages
    for row in threads.itertuples():
        assert row.n_messages == len(row.messages)
        assert row.body == row.messages[0]["body"]["text"]
        assert row.subject == row.messages[0]["subject"]["text"]


def test_ten_messages_and_labels_as_parts(make_answers: Any) -> None:
    """A comment of ten messages, label names given as lists of parts, odd entities
    (from a purpose-built server: uploads take one message)."""
    thread = [{"from": f"p{i}@example.com", "to": ["desk@example.com"],
               "subject": {"text": f"RE: {i}"}, "body": {"text": f"message {i}"}}
              for i in range(10)]
    result = {
        "comment": {"id": "c10", "uid": "0123456789abcdef.c10", "source_id": "0123456789abcdef",
                    "timestamp": "2024-05-01T08:00:00Z", "messages": thread,
                    "user_properties": {"number:Region": 4, "string:Region": "EU",
                                        "string:labels": "clash"},
                    "attachments": [], "created_at": "2024-05-01T08:01:00Z",
                    "last_modified": "2024-05-01T08:01:00Z"},
        "labelling": [{"group": "default", "assigned": [{"name": "A > B", "sentiment":
                                                         "positive"}],
                       "dismissed": [], "predicted": [
                           {"name": ["A"], "probability": 0.91},
                           {"name": ["A", "B"], "probability": 0.9},
                           {"name": ["C"], "probability": 0.2}]}],
        "entities": {"assigned": [], "dismissed": [{"kind": "k", "name": "k",
                                                    "formatted_value": "gone"}],
                     "predicted": [{"kind": "k", "name": "k", "formatted_value": "gone"},
                                   {"kind": "k", "name": "k", "formatted_value": "kept"}]},
    }
    client = make_answers(
        dataset={"name": "d", "owner": "o", "source_ids": ["0123456789abcdef"],
                 "label_defs": [{"name": "A"}, {"name": "A > B"}, {"name": "C"}]},
        sources=[{"id": "0123456789abcdef", "owner": "o", "name": "mail"}],
        pages=[{"results": [result], "num_results": {"filtered": 1, "expected": 1}}],
    )
    df = client.comments("o/d", predictions=True)
    row = df.iloc[0]
    assert row["n_messages"] == 10 and len(row["messages"]) == 10
    assert (row["subject"], row["from"], row["body"]) == ("RE: 0", "p0@example.com", "message 0")
    assert row["source"] == "o/mail" and row["labels"] == ["A > B"] and row["reviewed"]
    assert row["predicted"] == ["A", "A > B"]
    assert (row["top_label"], row["top_probability"]) == ("A > B", 0.9)
    assert row["entities"] == [{"kind": "k", "name": "k", "formatted_value": "kept"}]
    # A property named like another (or like a column) keeps its prefix.
    assert row["number:Region"] == 4.0 and row["string:Region"] == "EU"
    assert row["string:labels"] == "clash"
    assert df.attrs["label_names"] == ("A", "A > B", "C")


# --------------------------------------------------------------------------- errors


def test_bad_options_fail_before_any_call(api: Client, box: Any) -> None:
    box.reset_stats()
    cases = [
        ({"source": "dev/support-emails", "label": "Billing > Refund"}, "--label needs a dataset"),
        ({"source": "dev/support-emails", "predictions": True}, "--predictions needs a dataset"),
        ({"source": "support-emails"}, "must be OWNER/NAME"),
        ({}, "Name a dataset"),
        ({"source": "dev/support-emails", "from_": "yesterday"}, "not an ISO date"),
        ({"source": "dev/support-emails", "from_": "2024-05-01", "to": "2024-04-01"},
         "is after --to"),
        ({"source": "dev/support-emails", "limit": 0}, "--limit"),
    ]
    for options, message in cases:
        with pytest.raises(ConfigError, match=message):
            api.comments(**options)
    assert box.stats()["calls"] == 0
    with pytest.raises(ConfigError, match="did you mean 'Billing > Refund'"):
        api.comments(DATASET, label="Refund")
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        api.comments(DATASET, property="Region")
    with pytest.raises(ConfigError, match="is not read by dev/support-triage"):
        api.comments(DATASET, source="prod/support-emails")
    assert "POST " + QUERY not in box.stats()["calls_by_path"]


def test_api_errors_before_any_page_raise(api: Client) -> None:
    with pytest.raises(ApiError, match="404"):
        api.comments("dev/no-such-dataset")
    with pytest.raises(ApiError, match="text_search"):  # the sandbox has no text search
        api.comments(DATASET, search="refund")


def test_failure_midway_keeps_the_comments(ip: Any, box: Any, api: Client) -> None:
    box.inject("error", path=r"/query$", status=500, skip=1, times=20)
    df = api.comments(DATASET)
    assert len(df) == 512 and not df.attrs["complete"] and df.attrs["stopped_at_page"] == 2
    assert df.attrs["error"]["http_status"] == 500
    box.clear_faults()
    box.inject("error", path=r"/query$", status=500, skip=1, times=20)
    login(ip, box)
    with capture_output() as out:
        result = ip.run_cell(f"%reinfer_comments {DATASET} -o kept")
    err = result.error_in_exec
    assert isinstance(err, PaginationError) and err.page == 2
    assert "The 512 rows fetched are in `kept`." in out.stderr
    assert len(ip.user_ns["kept"]) == 512 and "Traceback" not in out.stdout + out.stderr


def test_interrupt_keeps_the_comments(ip: Any, box: Any, api: Client) -> None:
    calls = {"n": 0}

    def interrupting(client: Client) -> None:
        real = client.request

        def stop_on_second_page(method: str, path: str, **kw: Any) -> Any:
            if path.endswith("/query"):
                calls["n"] += 1
                if calls["n"] % 2 == 0:
                    raise KeyboardInterrupt  # what the kernel's stop button raises
            return real(method, path, **kw)

        client.request = stop_on_second_page  # type: ignore[method-assign]

    interrupting(api)
    with pytest.raises(CommentsInterrupted) as caught:
        api.comments(DATASET)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert len(caught.value.frame) == 512 and not caught.value.frame.attrs["complete"]
    login(ip, box)
    interrupting(get_client(ip))
    with capture_output() as out:
        result = ip.run_cell(f"%reinfer_comments {DATASET} -o kept")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "Interrupted: the 512 comments fetched are in `kept`." in out.stderr
    assert len(ip.user_ns["kept"]) == 512 and "top_label" not in ip.user_ns["kept"]


def test_magic_cell_form_takes_one_option_a_line(ip: Any, box: Any, api: Client) -> None:
    login(ip, box)
    ip.user_ns["start"] = "2024-09-01"
    cell = (f"{DATASET}   # the dataset\n"
            "--label Billing > Refund\n"
            "--from {start}\n"
            "--to 2024-09-30\n"
            "--predictions --reviewed-only\n"
            "--property Channel=Email\n")
    with capture_output():
        result = ip.run_cell(f"%%reinfer_comments -o df\n{cell}")
    assert result.success, result.error_in_exec
    expected = api.comments(DATASET, label="Billing > Refund", from_="2024-09-01",
                            to="2024-09-30", predictions=True, reviewed_only=True,
                            property="Channel=Email")
    pd.testing.assert_frame_equal(ip.user_ns["df"], expected)
    assert len(expected) > 0
    with capture_output() as out:
        result = ip.run_cell("%%reinfer_comments\n--label\n")
    assert result.error_in_exec is not None and "Traceback" not in out.stdout
    with capture_output():
        result = ip.run_cell(f"%reinfer_comments {DATASET} --label Refund")
    assert isinstance(result.error_in_exec, ConfigError)
    assert get_client(ip) is not None


def test_magic_help_is_real(ip: Any) -> None:
    doc = ip.magics_manager.registry["ReinferMagics"].reinfer_comments.__doc__
    assert "--predictions" in doc and "Examples" in doc and "--from" in doc


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2024-03-01", False, "2024-03-01T00:00:00.000000Z"),
        ("2024-03-31", True, "2024-03-31T23:59:59.999999Z"),
        ("2024-03-01T09:30:00Z", False, "2024-03-01T09:30:00.000000Z"),
        ("2024-03-01T09:30:00+02:00", True, "2024-03-01T07:30:00.000000Z"),
        ("2024-03-01 09:30", False, "2024-03-01T09:30:00.000000Z"),
    ],
)
def test_dates_and_datetimes(text: str, end: bool, expected: str) -> None:
    assert parse_moment(text, "--from", end_of_day=end) == expected
