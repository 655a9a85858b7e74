"""What the official ``re`` client sends works, and means what the real API means
(issue 17, items 1-11). Every call goes over HTTP on 127.0.0.1 in the shapes real clients
send (``owner%2Fname`` as one segment, ``id:<hex>``, repeated ``id=``, ``labellings/<uid>``)
and every answer is checked against the OpenAPI 3.1 spec's response schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reinfer_nb.sandbox import Sandbox

from .support.spec_session import SpecSession

SOURCE = "/api/v1/sources/{owner}/{source_name}"
DATASET = "/api/v1/datasets/{owner}/{dataset_name}"
PRIVATE = "/api/_private/datasets/{owner}/{dataset_name}"
QUERY = PRIVATE + "/query"
LABELLING = PRIVATE + "/labellings/{labelling_id}"
TRIAGE = {"owner": "dev", "dataset_name": "support-triage"}
RECENT = {"order": {"kind": "recent"}, "limit": 128}


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Sandbox:
    return make_sandbox(comments=400, seed=13)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo(sandbox: Sandbox) -> Iterator[SpecSession]:
    session = SpecSession(sandbox.url, sandbox.token)
    yield session
    session.close()


@pytest.fixture(scope="module")
def admin(sandbox: Sandbox) -> Iterator[SpecSession]:
    session = SpecSession(sandbox.url, sandbox.admin_token)
    yield session
    session.close()


def triage(demo: SpecSession) -> dict[str, Any]:
    return demo.call("GET", DATASET, encoded=True, **TRIAGE)["dataset"]  # type: ignore[no-any-return]


def everything(demo: SpecSession) -> list[dict[str, Any]]:
    """Every comment of dev/support-triage's sources, as the listing returns them."""
    return demo.listing("dev", "support-emails") + demo.listing("dev", "returns-emails")


def uids(results: list[dict[str, Any]]) -> set[str]:
    return {r["comment"]["uid"] if "comment" in r else r["uid"] for r in results}


# -- 1. filters -------------------------------------------------------------------------------


def test_empty_filters_mean_no_condition(demo: SpecSession) -> None:
    dataset = triage(demo)
    plain = demo.pages(QUERY, RECENT, **TRIAGE)
    # What `re get comments --dataset` sends: an empty messages object and an empty timestamp.
    sent = {
        **RECENT,
        "filter": {"messages": {}, "sources": dataset["source_ids"], "timestamp": {}},
    }
    assert uids(demo.pages(QUERY, sent, encoded=True, **TRIAGE)) == uids(plain)
    empty_everything = {
        **RECENT,
        "filter": {
            "messages": {"from": {}, "to": {}},
            "user_properties": {},
            "annotations": {"labels": {}},
            "entities": {},
            "thread_properties": {},
            "trigger_exceptions": {},
        },
    }
    assert uids(demo.pages(QUERY, empty_everything, **TRIAGE)) == uids(plain)
    assert len(plain) == len(everything(demo))


def test_comment_filter_conditions_match_the_listing(demo: SpecSession) -> None:
    comments = everything(demo)
    first = comments[0]["messages"][0]
    sender, domain = first["from"], first["from"].rpartition("@")[2]
    tier = comments[0]["user_properties"]["string:Customer Tier"]
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({"messages": {"from": {"one_of": [sender.upper()]}}},
         lambda c: any(m.get("from", "").lower() == sender.lower() for m in c["messages"])),
        ({"messages": {"from": {"domain_not_one_of": [domain]}}},
         lambda c: all(not m.get("from", "").endswith("@" + domain) for m in c["messages"])),
        ({"messages": {"cc": {"one_of": [], "include_missing": True}}}, lambda c: True),
        ({"user_properties": {"string:Customer Tier": {"one_of": [tier]}}},
         lambda c: c["user_properties"].get("string:Customer Tier") == tier),
        ({"user_properties": {"string:Customer Tier": {"not_one_of": [tier]}}},
         lambda c: c["user_properties"].get("string:Customer Tier") != tier),
        ({"user_properties": {"number:NPS": {"minimum": 3, "maximum": 6}}},
         lambda c: 3 <= c["user_properties"].get("number:NPS", -1) <= 6),
        ({"user_properties": {"number:NPS": {"one_of": [0], "include_missing": True}}},
         lambda c: c["user_properties"].get("number:NPS", 0) == 0),
    ]
    for flt, keep in cases:
        found = uids(demo.pages(QUERY, {**RECENT, "filter": flt}, **TRIAGE))
        expected = {c["uid"] for c in comments if keep(c)}
        assert found == expected and found, flt


def test_label_and_entity_conditions_match_the_annotations(demo: SpecSession) -> None:
    annotated = demo.pages(QUERY, RECENT, **TRIAGE)
    dataset = triage(demo)

    def assigned(r: dict[str, Any]) -> list[str]:
        return [label["name"] for label in r["labelling"][0]["assigned"]]

    def predicted(r: dict[str, Any]) -> list[str]:
        group = r["labelling"][0]
        return [p["name"] for p in group.get("predicted", []) if p["probability"] >= 0.5]

    def under(name: str, labels: list[str]) -> bool:
        return any(x == name or x.startswith(name + " > ") for x in labels)

    order_id = next(d["id"] for d in dataset["entity_defs"] if d["name"] == "order_number")
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({"filter": {"annotations": {"labels": {"one_of": ["Billing"]}}}},
         lambda r: under("Billing", assigned(r))),
        ({"filter": {"reviewed": "only_unreviewed"}}, lambda r: not assigned(r)),
        ({"attribute_filters": [{"attribute": "labels",
                                 "filter": {"kind": "string_any_of", "any_of": ["Delivery"]}}]},
         lambda r: under("Delivery", assigned(r) + predicted(r))),
        ({"attribute_filters": [{"attribute": "entities", "filter": {
            "kind": "assigned_predicted_present", "any_assigned": [order_id],
            "any_predicted": [], "none_present": []}}]},
         lambda r: any(e["kind"] == "order_number" for e in r["entities"]["assigned"])),
        ({"attribute_filters": [{"attribute": "entities", "filter": {
            "kind": "assigned_predicted_present", "any_assigned": [],
            "any_predicted": [], "none_present": [order_id]}}]},
         lambda r: not any(e["kind"] == "order_number"
                           for e in r["entities"]["assigned"] + r["entities"]["predicted"])),
        ({"attribute_filters": [{"attribute": "attachment_property_num_attachments",
                                 "filter": {"kind": "number_range", "minimum": 1}}]},
         lambda r: len(r["comment"]["attachments"]) >= 1),
    ]
    for extra, keep in cases:
        found = uids(demo.pages(QUERY, {**RECENT, **extra}, **TRIAGE))
        expected = uids([r for r in annotated if keep(r)])
        assert found == expected and found, extra


def test_a_condition_the_sandbox_cannot_evaluate_is_422_naming_it(demo: SpecSession) -> None:
    for flt, key in [
        ({"thread_properties": {"num_messages": {"minimum": 2}}}, "filter.thread_properties"),
        ({"entities": {"presence": [{"kind": "order_number", "rule": "present"}]}},
         "filter.entities"),
        ({"messages": {"from": {"organisation_one_of": ["Acme"]}}},
         "filter.messages.from.organisation_one_of"),
    ]:
        answer = demo.call("POST", QUERY, 422, json={**RECENT, "filter": flt}, **TRIAGE)
        assert key in answer["message"] and "not supported by the sandbox" in answer["message"]


# -- 2 and 3. derived fields follow writes; new labels grow the taxonomy -----------------------


def test_has_annotations_and_derived_fields_follow_labelling_writes(demo: SpecSession) -> None:
    unreviewed = demo.pages(QUERY, {**RECENT, "filter": {"reviewed": "only_unreviewed"}}, **TRIAGE)
    target = unreviewed[0]["comment"]
    assert target["has_annotations"] is False
    source = next(
        s for s in demo.call("GET", "/api/v1/sources/{owner}", owner="dev")["sources"]
        if s["id"] == target["source_id"]
    )
    comment_path = dict(owner="dev", source_name=source["name"], comment_id=target["id"])

    def stats(flt: dict[str, Any]) -> dict[str, Any]:
        return demo.call(  # type: ignore[no-any-return]
            "POST", PRIVATE + "/statistics", json={"comment_filter": flt}, **TRIAGE
        )["statistics"]

    before = stats({})["label_counts"]["Feedback"]["positive"]
    reviewed_before = stats({"reviewed": "only_reviewed"})["num_comments"]
    written = demo.call(
        "POST", LABELLING,
        json={"labelling": [{"group": "default",
                             "assigned": [{"name": "Feedback", "sentiment": "positive"}]}]},
        labelling_id=target["uid"], **TRIAGE,
    )
    assert written["comment"]["has_annotations"] is True
    got = demo.call("GET", SOURCE + "/comments/{comment_id}", encoded=True, **comment_path)
    assert got["comment"]["has_annotations"] is True
    listed = {c["uid"]: c for c in demo.listing("dev", source["name"])}
    assert listed[target["uid"]]["has_annotations"] is True
    reviewed = demo.pages(QUERY, {**RECENT, "filter": {"reviewed": "only_reviewed"}}, **TRIAGE)
    assert target["uid"] in uids(reviewed)
    assert stats({})["label_counts"]["Feedback"]["positive"] == before + 1
    assert stats({"reviewed": "only_reviewed"})["num_comments"] == reviewed_before + 1
    # Clearing the labels clears every derived field again.
    demo.call("POST", LABELLING, json={"labelling": [{"group": "default", "assigned": []}]},
              labelling_id=target["uid"], **TRIAGE)
    got = demo.call("GET", SOURCE + "/comments/{comment_id}", **comment_path)
    assert got["comment"]["has_annotations"] is False
    assert stats({"reviewed": "only_reviewed"})["num_comments"] == reviewed_before


def test_labels_not_in_the_taxonomy_join_it(demo: SpecSession) -> None:
    source = demo.call("GET", SOURCE, owner="dev", source_name="support-emails")["source"]
    demo.call("PUT", DATASET, json={"dataset": {"source_ids": [source["id"]]}},
              owner="dev", dataset_name="growing")
    growing = {"owner": "dev", "dataset_name": "growing"}
    first, second = demo.listing("dev", "support-emails")[:2]
    demo.call(
        "POST", LABELLING, labelling_id=first["uid"], **growing,
        json={"labelling": [{"assigned": [{"name": "Shipping > Customs", "sentiment": "negative"}],
                             "dismissed": [{"name": "Spam", "sentiment": "positive"}]}]},
    )
    demo.call("POST", "/api/v1/datasets/{owner}/{dataset_name}/sync-annotations", **growing,
              json={"annotations": [{"comment_uid": [source["id"], second["id"]],
                                     "labels": [{"name": "Returns"}]}]})
    dataset = demo.call("GET", DATASET, **growing)["dataset"]
    names = [d["name"] for d in dataset["label_defs"]]
    assert names == ["Shipping", "Shipping > Customs", "Spam", "Returns"]
    assert [d["name"] for d in dataset["label_groups"][0]["label_defs"]] == names
    labelled = demo.call("GET", PRIVATE + "/labellings", query=[("id", second["uid"])], **growing)
    assert labelled["results"][0]["labelling"][0]["assigned"] == [
        {"name": "Returns", "sentiment": "positive"}
    ]


# -- 4 and 5. dataset fields, and the real API's codes and messages ------------------------------


def test_valid_dataset_fields_are_stored_and_echoed(demo: SpecSession) -> None:
    original = triage(demo)
    copied = demo.call(
        "PUT", DATASET, owner="dev", dataset_name="fields",
        json={"dataset": {
            "title": "Fields",
            "source_ids": original["source_ids"],
            "_dataset_flags": ["gpt4", "qos"],
            "_timezone": "Europe/Paris",
            "_preferred_locales": {"default": "fr-FR", "preferences": []},
            "model_family": "german",
            "copy_annotations_from": original["id"],
            "general_fields": [{"api_name": "po_number"}],
            "entity_defs": [{"name": "po", "title": "PO", "inherits_from": [],
                             "trainable": True}],
            "label_defs": [
                {"name": "Escalation", "pretrained": {"id": "Escalation"}},
                {"name": "Order", "moon_form": [{"name": "number", "kind": "text"}]},
            ],
        }},
    )["dataset"]
    assert copied["_dataset_flags"] == ["gpt4", "qos"] and copied["model_family"] == "german"
    assert copied["_timezone"] == "Europe/Paris"
    assert copied["_preferred_locales"] == {"default": "fr-FR", "preferences": []}
    assert copied["general_fields"][0]["api_name"] == "po_number"
    assert copied["entity_defs"][0]["name"] == "po"
    defs = {d["name"]: d for d in copied["label_defs"]}
    assert defs["Escalation"]["pretrained"] == {"id": "Escalation", "name": "Escalation"}
    assert defs["Order"]["moon_form"][0]["name"] == "number"
    assert {d["name"] for d in original["label_defs"]} <= set(defs)  # copied with annotations
    assert demo.call("GET", DATASET, owner="dev", dataset_name="fields")["dataset"] == copied
    # copy_annotations_from copies what the other dataset holds for the shared sources.
    reviewed = {"order": {"kind": "recent"}, "limit": 256, "filter": {"reviewed": "only_reviewed"}}
    mine = demo.pages(QUERY, reviewed, owner="dev", dataset_name="fields")
    theirs = demo.pages(QUERY, reviewed, **TRIAGE)
    assert [(r["comment"]["uid"], r["labelling"][0]["assigned"]) for r in mine] == [
        (r["comment"]["uid"], r["labelling"][0]["assigned"]) for r in theirs
    ]
    updated = demo.call("POST", DATASET, owner="dev", dataset_name="fields",
                        json={"dataset": {"_dataset_flags": ["zero_shot_labels"],
                                          "model_family": "english"}})["dataset"]
    assert updated["_dataset_flags"] == ["zero_shot_labels"]
    assert updated["model_family"] == "english"


def test_errors_have_the_real_api_codes_and_messages(demo: SpecSession) -> None:
    answer = demo.call("PUT", DATASET, 400, owner="dev", dataset_name="bad-family",
                       json={"dataset": {"model_family": "klingon"}})
    assert answer["message"] == (
        "Invalid request: dataset.model_family: 'klingon' is not one of ['english', "
        "'english-dev', 'german', 'german-dev', 'random', 'transformer-english', "
        "'transformer-xlm']"
    )
    answer = demo.call("PUT", SOURCE, 422, owner="dev", source_name="bad-tag",
                       json={"source": {"email_transform_tag": "nosuch.0.TAG"}})
    assert answer["message"] == "The value 'nosuch.0.TAG' is not a valid transform tag."
    answer = demo.call("PUT", SOURCE, 400, owner="dev", source_name="bad-tag",
                       json={"source": {"email_transform_tag": "not a tag"}})
    assert answer["message"].startswith("Invalid request: source.email_transform_tag: ")
    created = demo.call("PUT", SOURCE, owner="dev", source_name="email-source",
                        json={"source": {"email_transform_tag": "generic.0.CONVKER5"}})
    assert created["source"]["email_transform_tag"] == "generic.0.CONVKER5"


# -- 6. buckets ---------------------------------------------------------------------------------


def test_buckets(demo: SpecSession, admin: SpecSession) -> None:
    assert demo.call("GET", "/api/_private/buckets")["buckets"] == []  # no bucket rights
    demo.call("PUT", "/api/_private/buckets/{owner}/{bucket_name}", 403, owner="dev",
              bucket_name="inbox", json={"bucket": {"bucket_type": "emails"}})
    bucket = admin.call("PUT", "/api/_private/buckets/{owner}/{bucket_name}", owner="dev",
                        bucket_name="inbox",
                        json={"bucket": {"bucket_type": "emails", "title": "Inbox"}})["bucket"]
    named = {"owner": "dev", "bucket_name": "inbox"}
    assert admin.call("GET", "/api/_private/buckets")["buckets"] == [bucket]
    assert admin.call("GET", "/api/_private/buckets/{owner}", owner="dev")["buckets"] == [bucket]
    assert admin.call("GET", "/api/_private/buckets/{owner}/{bucket_name}", **named)[
        "bucket"] == bucket
    assert admin.call("GET", "/api/_private/buckets/id:{bucket_id}", bucket_id=bucket["id"])[
        "bucket"] == bucket
    updated = admin.call("POST", "/api/_private/buckets/{owner}/{bucket_name}", **named,
                         json={"bucket": {"title": "Shared inbox"}})["bucket"]
    assert updated["title"] == "Shared inbox"
    statistics = admin.call("GET", "/api/_private/buckets/{owner}/{bucket_name}/statistics",
                            **named)["statistics"]
    assert statistics == {"count": {"kind": "exact", "value": 0}}
    source = admin.call("PUT", SOURCE, owner="dev", source_name="from-inbox",
                        json={"source": {"bucket_id": bucket["id"]}})["source"]
    assert source["bucket_id"] == bucket["id"]
    admin.call("PUT", SOURCE, 422, owner="dev", source_name="from-nowhere",
               json={"source": {"bucket_id": "0" * 16}})
    assert admin.call("DELETE", "/api/_private/buckets/id:{raw_bucket_id}",
                      raw_bucket_id=bucket["id"]) == {"status": "ok"}
    admin.call("GET", "/api/_private/buckets/{owner}/{bucket_name}", 404, **named)
    source = admin.call("GET", SOURCE, owner="dev", source_name="from-inbox")["source"]
    assert "bucket_id" not in source


# -- 7. statistics and summaries ------------------------------------------------------------------


def test_statistics_agree_with_the_listing_and_the_query(demo: SpecSession) -> None:
    listed = demo.listing("dev", "support-emails")
    stats = "/api/v1/sources/{owner}/{source_name}/statistics"
    # What `re get comments` sends to size its progress bar.
    total = demo.call("POST", stats, json={"comment_filter": {}}, encoded=True,
                      owner="dev", source_name="support-emails")["statistics"]
    assert total == {"num_comments": len(listed)}
    window = {"timestamp": {"minimum": "2024-03-01T00:00:00Z", "maximum": "2024-06-30T23:59:59Z"}}
    inside = [c for c in listed if "2024-03-01" <= c["timestamp"][:10] <= "2024-06-30"]
    assert demo.call("POST", stats, json={"comment_filter": window}, owner="dev",
                     source_name="support-emails")["statistics"]["num_comments"] == len(inside)
    tier = {"user_properties": {"string:Customer Tier": {"one_of": ["Gold"]}}}
    gold = [c for c in listed if c["user_properties"].get("string:Customer Tier") == "Gold"]
    assert demo.call("POST", stats, json={"comment_filter": tier}, owner="dev",
                     source_name="support-emails")["statistics"]["num_comments"] == len(gold)
    # The dataset's statistics: what `re get stats` sends, and a time series.
    results = demo.pages(QUERY, {**RECENT, "filter": window}, **TRIAGE)
    statistics = demo.call(
        "POST", PRIVATE + "/statistics", encoded=True, **TRIAGE,
        json={"comment_filter": window, "label_property_timeseries": False,
              "label_timeseries": True, "time_resolution": "month"},
    )["statistics"]
    assert statistics["num_comments"] == len(results)
    for label, counts in statistics["label_counts"].items():
        expected = sum(
            1 for r in results
            if any(a["name"] == label or a["name"].startswith(label + " > ")
                   for a in r["labelling"][0]["assigned"])
        )
        assert counts["positive"] + counts["negative"] == expected, label
    series = statistics["label_timeseries"]
    assert [row["timestamp_str"] for row in series] == [
        "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"
    ]
    assert sum(row["expected_count_any"] for row in series) == len(results)
    summary = demo.call("POST", PRIVATE + "/summary", json={"filter": window}, **TRIAGE)["summary"]
    billing = next(s for s in summary["labels"] if s["name"] == "Billing")
    assert billing["filtered"]["positive"] == statistics["label_counts"]["Billing"]["positive"]
    tiers = next(p for p in summary["user_properties"]["string"]
                 if p["full_name"] == "string:Customer Tier")
    assert {v["value"] for v in tiers["values"]} == {
        r["comment"]["user_properties"]["string:Customer Tier"] for r in results
    }


# -- 8. deleting sources and datasets by id -------------------------------------------------------


def test_deleting_by_id_takes_comments_annotations_and_streams(demo: SpecSession) -> None:
    source = demo.call("PUT", SOURCE, owner="dev", source_name="doomed",
                       json={"source": {"title": "Doomed"}})["source"]
    demo.call("POST", SOURCE + "/sync", owner="dev", source_name="doomed", json={"comments": [
        {"id": "d1", "timestamp": "2024-05-01T10:00:00Z", "messages": [{"body": {"text": "x"}}]}
    ]})
    named = {"owner": "dev", "dataset_name": "doomed-ds"}
    dataset = demo.call("PUT", DATASET, json={"dataset": {"source_ids": [source["id"]]}},
                        **named)["dataset"]
    keeper = demo.call("PUT", DATASET, json={"dataset": {"source_ids": [source["id"]]}},
                       owner="dev", dataset_name="doomed-keeper")["dataset"]
    demo.call("POST", LABELLING, labelling_id=f"{source['id']}.d1", **named,
              json={"labelling": [{"assigned": [{"name": "X", "sentiment": "positive"}]}]})
    demo.call("PUT", DATASET + "/streams", json={"stream": {"name": "doomed-stream"}}, **named)
    assert demo.call("DELETE", "/api/v1/datasets/id:{dataset_id}",
                     dataset_id=dataset["id"]) == {"status": "ok"}
    demo.call("GET", DATASET, 404, **named)
    demo.call("GET", DATASET + "/streams/{stream_name}", 404, stream_name="doomed-stream", **named)
    demo.call("DELETE", "/api/v1/datasets/id:{dataset_id}", 404, dataset_id=dataset["id"])
    # A new dataset of the same name starts empty: the annotations went with the old one.
    demo.call("PUT", DATASET, json={"dataset": {"source_ids": [source["id"]]}}, **named)
    again = demo.call("GET", PRIVATE + "/labellings", query={"id": f"{source['id']}.d1"}, **named)
    assert again["results"][0]["labelling"][0]["assigned"] == []
    assert demo.call("DELETE", "/api/v1/sources/id:{source_id}",
                     source_id=source["id"]) == {"status": "ok"}
    demo.call("GET", SOURCE, 404, owner="dev", source_name="doomed")
    demo.call("GET", "/api/v1/sources/id:{source_id}", 404, source_id=source["id"])
    kept = demo.call("GET", DATASET, owner="dev", dataset_name="doomed-keeper")["dataset"]
    assert kept["id"] == keeper["id"] and kept["source_ids"] == []
    demo.call("DELETE", "/api/v1/sources/id:{source_id}", 403,
              source_id=demo.call("GET", SOURCE, owner="prod",
                                  source_name="support-emails")["source"]["id"])


# -- 9. projects -----------------------------------------------------------------------------------


def test_projects_are_created_updated_counted_and_deleted(demo: SpecSession) -> None:
    me = demo.call("GET", "/auth/user")["user"]
    rights_before = dict(me["organisation_permissions"])
    project = demo.call("PUT", "/api/_private/projects/{name}", name="sandbox-lab",
                        json={"project": {"title": "Lab", "description": "Mine"}})["project"]
    assert project["name"] == "sandbox-lab" and project["title"] == "Lab"
    demo.call("PUT", "/api/_private/projects/{name}", 409, name="sandbox-lab",
              json={"project": {}})
    assert "sandbox-lab" in {p["name"] for p in demo.call("GET", "/api/v1/projects")["projects"]}
    rights = demo.call("GET", "/auth/user")["user"]["organisation_permissions"]
    assert {"sources-admin", "buckets-write", "role-cm-project-admin"} <= set(rights["sandbox-lab"])
    assert {k: v for k, v in rights.items() if k != "sandbox-lab"} == rights_before
    updated = demo.call("POST", "/api/_private/projects/{name}", name="sandbox-lab",
                        json={"project": {"description": "Still mine"}})["project"]
    assert updated["description"] == "Still mine" and updated["title"] == "Lab"
    demo.call("PUT", SOURCE, owner="sandbox-lab", source_name="notes", json={"source": {}})
    demo.call("PUT", "/api/_private/buckets/{owner}/{bucket_name}", owner="sandbox-lab",
              bucket_name="mail", json={"bucket": {"bucket_type": "emails"}})
    counts = demo.call("GET", "/api/_private/projects/{name}/resource_counts", name="sandbox-lab")
    assert (counts["sources"], counts["buckets"], counts["datasets"]) == (1, 1, 0)
    refused = demo.call("DELETE", "/api/_private/projects/{name}", 409, name="sandbox-lab")
    assert "force=true" in refused["message"]
    demo.call("DELETE", "/api/_private/projects/{name}", 403, name="dev")  # not a project admin
    demo.call("DELETE", "/api/_private/projects/{name}", query={"force": "true"},
              name="sandbox-lab")
    demo.call("GET", "/api/_private/projects/{name}", 404, name="sandbox-lab")
    demo.call("GET", SOURCE, 404, owner="sandbox-lab", source_name="notes")
    assert demo.call("GET", "/auth/user")["user"]["organisation_permissions"] == rights_before


# -- 10. model validation -------------------------------------------------------------------------


def test_label_validation_is_computed_from_predictions_and_annotations(
    demo: SpecSession,
) -> None:
    path = PRIVATE + "/labellers/{model_version}/label-validation"
    first = demo.call("POST", path, json={"label": "Delivery"}, model_version="1", **TRIAGE)
    again = demo.call("POST", path, json={"label": "Delivery"}, model_version="1", **TRIAGE)
    assert first == again
    metrics = first["label_validation"]
    # The same numbers, from what the bulk labellings endpoint says about reviewed comments.
    scored = []
    for source_id in triage(demo)["source_ids"]:
        after = None
        for _ in range(100):
            query = {"source_id": source_id, "limit": 64, "return_predictions": "true"}
            if after:
                query["after"] = after
            page = demo.call("GET", PRIVATE + "/labellings", query=query, **TRIAGE)
            if not page["results"]:
                break
            for r in page["results"]:
                group = r["labelling"][0]
                truth = any(a["name"] == "Delivery" or a["name"].startswith("Delivery > ")
                            for a in group["assigned"])
                p = next((x["probability"] for x in group.get("predicted", [])
                          if x["name"] == "Delivery"), 0.0)
                scored.append((p, truth))
            after = page["after"]
    assert metrics["reviewed_size"] == len(scored) > 0
    at_half = metrics["thresholds"].index(0.5)
    chosen = [truth for p, truth in scored if p >= 0.5]
    positives = sum(truth for _, truth in scored)
    assert metrics["precisions"][at_half] == pytest.approx(sum(chosen) / len(chosen))
    assert metrics["recalls"][at_half] == pytest.approx(sum(chosen) / positives)
    demo.call("POST", path, 404, json={"label": "Nope"}, model_version="1", **TRIAGE)
    demo.call("POST", path, 404, json={"label": "Delivery"}, model_version="7", **TRIAGE)


# -- 11. audio and attachments --------------------------------------------------------------------


def test_audio_and_attachments_are_stored_and_served(demo: SpecSession) -> None:
    source = demo.call("GET", SOURCE, owner="dev", source_name="support-emails")["source"]
    demo.call("POST", SOURCE + "/sync", owner="dev", source_name="support-emails", json={
        "comments": [{"id": "with-files", "timestamp": "2024-08-01T10:00:00Z",
                      "messages": [{"body": {"text": "See attached"}}],
                      "attachments": [{"name": "invoice.pdf", "size": 5,
                                       "content_type": "application/pdf"}]}]})
    comment = {"source_id": source["id"], "comment_id": "with-files"}
    audio = "/api/_private/sources/id:{raw_source_id}/comments/{raw_comment_id}/audio"
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64))
    # As `re` sends it: a multipart form with the file in the "file" part.
    demo.call("PUT", audio, files={"file": ("call.wav", wav)}, raw_source_id=source["id"],
              raw_comment_id="with-files")
    served = demo.call("GET", "/api/_private/sources/id:{source_id}/comments/{comment_id}/audio",
                       **comment)
    assert served.content == wav and served.headers["Content-Type"] == "audio/x-wav"
    # As the spec says: the raw bytes.
    demo.call("PUT", audio, data=wav[::-1], headers={"Content-Type": "application/octet-stream"},
              raw_source_id=source["id"], raw_comment_id="with-files")
    served = demo.call("GET", "/api/_private/sources/id:{source_id}/comments/{comment_id}/audio",
                       **comment)
    assert served.content == wav[::-1]
    upload = "/api/_private/sources/id:{source_id}/comments/{comment_id}/attachments/"
    pdf = b"%PDF-1.4 sandbox"
    stored = demo.call("PUT", upload + "{attachment_index}", attachment_index="0",
                       files={"file": ("invoice.pdf", pdf)}, **comment)
    assert stored["content_hash"] == hashlib.sha256(pdf).hexdigest()
    demo.call("PUT", upload + "{attachment_index}", 422, attachment_index="1",
              files={"file": ("other.pdf", pdf)}, **comment)
    got = demo.call("GET", SOURCE + "/comments/{comment_id}", owner="dev",
                    source_name="support-emails", comment_id="with-files")["comment"]
    attachment = got["attachments"][0]
    assert attachment["content_hash"] == stored["content_hash"]
    served = demo.call("GET", "/api/v1/attachments/{attachment_reference}",
                       attachment_reference=attachment["attachment_reference"])
    assert served.content == pdf
    demo.call("GET", "/api/v1/attachments/{attachment_reference}", 404,
              attachment_reference="nothing-here")
    demo.call("GET", "/api/_private/sources/id:{source_id}/comments/{comment_id}/audio", 404,
              source_id=source["id"], comment_id=demo.listing("dev", "support-emails")[0]["id"])
