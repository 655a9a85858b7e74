"""Permissions per project, and writes: sync, add, delete, sources, datasets, labellings,
streams. A rejected write changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from reinfer_nb.sandbox import Sandbox, start_sandbox


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Sandbox]:
    sb = make_sandbox(comments=400, seed=11)
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def demo(sandbox: Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        yield s


@pytest.fixture(scope="module")
def admin(sandbox: Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.admin_token}"
        yield s


def comment(cid: str, text: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "timestamp": "2024-07-01T12:00:00Z",
        "messages": [{"from": "x@example.com", "body": {"text": text}}],
        **extra,
    }


def forbidden(response: requests.Response, permission: str, project: str) -> None:
    assert response.status_code == 403, response.text
    message = response.json()["message"]
    assert (
        f"'{permission}'" in message and f"'{project}'" in message and "GET /auth/user" in message
    )


# -- permissions ------------------------------------------------------------------------------


def test_restricted_is_hidden_from_demo(
    sandbox: Sandbox, demo: requests.Session, admin: requests.Session
) -> None:
    url = sandbox.url
    for path, key in [
        ("/api/v1/projects", "projects"),
        ("/api/_private/projects", "projects"),
        ("/api/v1/sources", "sources"),
        ("/api/v1/datasets", "datasets"),
    ]:
        mine = demo.get(url + path).json()[key]
        everything = admin.get(url + path).json()[key]
        assert all("restricted" not in (r.get("owner"), r.get("name")) for r in mine)
        assert any("restricted" in (r.get("owner"), r.get("name")) for r in everything)
    assert {
        p["name"]: p["title"] for p in admin.get(url + "/api/v1/projects").json()["projects"]
    } == {"dev": "Development", "prod": "Production", "restricted": "Restricted"}
    restricted = [
        s
        for s in admin.get(url + "/api/v1/sources").json()["sources"]
        if s["owner"] == "restricted"
    ]
    assert demo.get(url + "/api/_private/projects/restricted").status_code == 403
    forbidden(demo.get(url + "/api/v1/sources/restricted"), "sources-read", "restricted")
    forbidden(
        demo.get(url + f"/api/v1/sources/id:{restricted[0]['id']}"), "sources-read", "restricted"
    )
    forbidden(
        demo.get(url + "/api/_private/sources/restricted/escalations/comments"),
        "sources-read",
        "restricted",
    )
    forbidden(
        demo.get(url + "/api/v1/datasets/restricted/escalations-review"),
        "voc-readonly",
        "restricted",
    )
    assert (
        admin.get(url + "/api/_private/sources/restricted/escalations/comments").status_code == 200
    )


def test_demo_reads_prod_but_cannot_write_it(sandbox: Sandbox, demo: requests.Session) -> None:
    url = sandbox.url
    assert (
        demo.get(url + "/api/_private/sources/prod/support-emails/comments?limit=3").status_code
        == 200
    )
    assert (
        demo.post(
            url + "/api/_private/datasets/prod/support-triage/query",
            json={"order": {"kind": "recent"}},
        ).status_code
        == 200
    )
    forbidden(
        demo.post(
            url + "/api/v1/sources/prod/support-emails/sync", json={"comments": [comment("p1")]}
        ),
        "sources-add-comments",
        "prod",
    )
    forbidden(
        demo.delete(url + "/api/v1/sources/prod/support-emails/comments?id=x"),
        "sources-add-comments",
        "prod",
    )
    forbidden(
        demo.put(url + "/api/v1/sources/prod/new-source", json={"source": {}}),
        "sources-admin",
        "prod",
    )
    forbidden(
        demo.post(url + "/api/v1/sources/prod/support-emails", json={"source": {}}),
        "sources-admin",
        "prod",
    )
    forbidden(
        demo.put(url + "/api/v1/datasets/prod/new-dataset", json={"dataset": {}}), "voc", "prod"
    )
    forbidden(
        demo.put(
            url + "/api/v1/datasets/prod/support-triage/streams", json={"stream": {"name": "x"}}
        ),
        "triggers-admin",
        "prod",
    )
    # Consuming a prod stream only needs read permissions.
    assert (
        demo.post(
            url + "/api/v1/datasets/prod/support-triage/streams/triage-queue/fetch",
            json={"size": 1},
        ).status_code
        == 200
    )


def test_demo_writes_dev(sandbox: Sandbox, demo: requests.Session) -> None:
    answer = demo.post(
        sandbox.url + "/api/v1/sources/dev/support-emails/sync",
        json={"comments": [comment("dev-write-1")]},
    )
    assert answer.status_code == 200 and answer.json()["new"] == 1


# -- comments -----------------------------------------------------------------------------------


def test_sync_counts_new_updated_unchanged(sandbox: Sandbox, demo: requests.Session) -> None:
    url = sandbox.url + "/api/v1/sources/dev/returns-emails"

    def sync(*comments: dict[str, Any]) -> dict[str, Any]:
        response = demo.post(url + "/sync", json={"comments": list(comments)})
        assert response.status_code == 200, response.text
        return response.json()

    first = sync(comment("s1"), comment("s2", user_properties={"string:Channel": "Email"}))
    assert first == {
        "status": "ok",
        "new": 2,
        "updated": 0,
        "updated_text_changed": 0,
        "updated_properties_only": 0,
        "unchanged": 0,
    }
    again = sync(
        comment("s1"),
        comment("s2", "New text"),
        comment("s3"),
        comment("s1-props", user_properties={"number:NPS": 3}),
    )
    assert (again["new"], again["updated_text_changed"], again["unchanged"]) == (2, 1, 1)
    props = sync(comment("s1-props", user_properties={"number:NPS": 9}))
    assert (props["updated"], props["updated_properties_only"]) == (1, 1)
    stored = demo.get(url + "/comments/s2").json()["comment"]
    assert stored["messages"][0]["body"]["text"] == "New text"
    assert stored["timestamp"] == "2024-07-01T12:00:00.000000+00:00"
    assert stored["uid"].endswith(".s2") and stored["user_properties"] == {}  # sync replaces
    # A generated comment synced back unchanged is unchanged; edited, it is updated.
    generated = demo.get(
        sandbox.url + "/api/_private/sources/dev/returns-emails/comments?limit=1"
    ).json()["comments"][0]
    fields = {
        k: generated[k] for k in ("id", "timestamp", "messages", "user_properties", "attachments")
    }
    assert sync(fields)["unchanged"] == 1
    fields["user_properties"] = {**fields["user_properties"], "string:Priority": "Low"}
    assert sync(fields)["updated_properties_only"] == 1
    assert (
        demo.get(url + f"/comments/{generated['id']}").json()["comment"]["created_at"]
        == generated["created_at"]
    )


@pytest.mark.parametrize(
    ("bad", "status", "words"),
    [
        # What the spec's schema says: 400, in jsonschema's words, naming the field.
        ({"messages": [{"subject": {"text": "no body"}}]}, 400, "'body' is a required property"),
        ({"messages": [{"body": {"text": 42}}]}, 400, "body.text: 42 is not of type 'string'"),
        ({"messages": {"body": {"text": "x"}}}, 400, "is not of type 'array'"),
        ({"attachments": [{"name": "a.pdf"}]}, 400, "'size' is a required property"),
        ({"colour": "blue"}, 400, "('colour' was unexpected)"),
        ({"id": "has space"}, 400, "id: 'has space' does not match"),
        ({"id": None}, 400, "id: None is not of type 'string'"),
        ({"timestamp": "2024-02-30T00:00:00Z"}, 422, "timestamp is not valid"),
        # What only the API knows: 422.
        ({"user_properties": {"Channel": "Email"}}, 422, "must start with 'string:' or 'number:'"),
        ({"user_properties": {"number:NPS": "ten"}}, 422, "must be a finite number"),
        ({"user_properties": {"string:Tier": 3}}, 422, "must be a string"),
    ],
)
def test_a_batch_with_one_bad_comment_writes_nothing(
    sandbox: Sandbox, demo: requests.Session, bad: dict[str, Any], status: int, words: str
) -> None:
    url = sandbox.url + "/api/v1/sources/dev/support-emails"
    batch = [comment("atomic-good-1"), dict(comment("atomic-bad"), **bad), comment("atomic-good-2")]
    response = demo.post(url + "/sync", json={"comments": batch})
    assert response.status_code == status, response.text
    message = response.json()["message"]
    assert words in message and "comments[1]" in message, message
    for cid in ("atomic-good-1", "atomic-good-2"):
        assert demo.get(url + f"/comments/{cid}").status_code == 404


def test_duplicate_ids_in_one_batch_are_refused(sandbox: Sandbox, demo: requests.Session) -> None:
    response = demo.post(
        sandbox.url + "/api/v1/sources/dev/support-emails/sync",
        json={"comments": [comment("dup"), comment("dup")]},
    )
    assert response.status_code == 422 and "repeats the id" in response.json()["message"]


def test_add_comments_conflicts_write_nothing(sandbox: Sandbox, demo: requests.Session) -> None:
    url = sandbox.url + "/api/_private/sources/dev/support-emails/comments"
    assert demo.put(url, json={"comments": [comment("add-1")]}).json() == {"status": "ok"}
    assert demo.put(url, json={"comments": [comment("add-1")]}).status_code == 200  # same content
    clash = demo.put(url, json={"comments": [comment("add-2"), comment("add-1", "changed")]})
    assert clash.status_code == 409 and "'add-1'" in clash.json()["message"]
    assert (
        demo.get(sandbox.url + "/api/v1/sources/dev/support-emails/comments/add-2").status_code
        == 404
    )


def test_delete_comments(sandbox: Sandbox, demo: requests.Session) -> None:
    url = sandbox.url + "/api/v1/sources/dev/support-emails/comments"
    listed = demo.get(
        sandbox.url + "/api/_private/sources/dev/support-emails/comments?limit=3"
    ).json()
    ids = [c["id"] for c in listed["comments"]]
    assert demo.delete(url, params={"id": ids[:2]}).json() == {"status": "ok"}
    assert demo.delete(url, params={"ids": ids[2] + ",never-existed"}).status_code == 200
    for cid in ids:
        assert demo.get(f"{url}/{cid}").status_code == 404
    remaining = demo.get(
        sandbox.url + "/api/_private/sources/dev/support-emails/comments?limit=3"
    ).json()
    assert not set(ids) & {c["id"] for c in remaining["comments"]}
    too_many = demo.delete(url, params={"id": [str(i) for i in range(129)]})
    assert too_many.status_code == 400 and "128" in too_many.json()["message"]


# -- sources, datasets, labellings, streams -------------------------------------------------------


def test_create_and_update_a_source(sandbox: Sandbox, demo: requests.Session) -> None:
    url = sandbox.url + "/api/v1/sources/dev/chat-logs"
    bad = demo.put(url, json={"source": {"language": "klingon"}})
    assert bad.status_code == 400 and demo.get(url).status_code == 404
    assert bad.json()["message"] == (
        "Invalid request: source.language: 'klingon' is not one of ['en', 'de', 'xlm']"
    )
    assert (
        demo.put(sandbox.url + "/api/v1/sources/dev/deadbeef", json={"source": {}}).status_code
        == 422
    )
    created = demo.put(url, json={"source": {"title": "Chat logs", "_kind": "chat"}}).json()[
        "source"
    ]
    assert (
        created["title"] == "Chat logs" and created["_kind"] == "chat" and len(created["id"]) == 16
    )
    assert demo.put(url, json={"source": {}}).status_code == 409
    updated = demo.post(url, json={"source": {"description": "Exported chats"}}).json()["source"]
    assert updated["description"] == "Exported chats" and updated["title"] == "Chat logs"
    assert (
        demo.get(sandbox.url + f"/api/v1/sources/id:{created['id']}").json()["source"]["name"]
        == "chat-logs"
    )
    assert demo.get(
        sandbox.url + "/api/_private/sources/dev/chat-logs/comments"
    ).json() == {"status": "ok", "comments": []}


def test_create_a_dataset_and_label_a_comment(sandbox: Sandbox, demo: requests.Session) -> None:
    source = demo.get(sandbox.url + "/api/v1/sources/dev/support-emails").json()["source"]
    url = sandbox.url + "/api/v1/datasets/dev/my-labels"
    labels = [{"name": "Refund"}, {"name": "Refund > Partial"}, {"name": "Complaint"}]
    created = demo.put(
        url, json={"dataset": {"title": "Mine", "source_ids": [source["id"]], "label_defs": labels}}
    ).json()["dataset"]
    assert [d["name"] for d in created["label_defs"]] == ["Refund", "Refund > Partial", "Complaint"]
    assert created["label_groups"][0]["name"] == "default" and created["source_ids"] == [
        source["id"]
    ]
    # The spec has no GET by id for datasets (only DELETE): the sandbox has none either.
    by_id = demo.get(sandbox.url + f"/api/v1/datasets/id:{created['id']}")
    assert by_id.status_code == 405 and by_id.headers["Allow"] == "DELETE"
    query = sandbox.url + "/api/_private/datasets/dev/my-labels/query"
    first = demo.post(query, json={"order": {"kind": "recent"}, "limit": 1}).json()["results"][0]
    assert first["labelling"][0]["assigned"] == [] and "predicted" not in first["labelling"][0]
    uid = first["comment"]["uid"]
    labelled = demo.post(
        sandbox.url + f"/api/_private/datasets/dev/my-labels/labellings/{uid}",
        json={
            "labelling": [
                {
                    "group": "default",
                    "assigned": [{"name": "Refund > Partial", "sentiment": "positive"}],
                }
            ]
        },
    )
    assert labelled.status_code == 200 and labelled.json()["comment"]["has_annotations"] is True
    reviewed = demo.post(
        query, json={"order": {"kind": "recent"}, "filter": {"reviewed": "only_reviewed"}}
    ).json()["results"]
    assert [r["comment"]["uid"] for r in reviewed] == [uid]
    # A label the dataset does not define yet joins its taxonomy, as on a real tenant.
    new_label = demo.post(
        sandbox.url + f"/api/_private/datasets/dev/my-labels/labellings/{uid}",
        json={"labelling": [{"assigned": [{"name": "Nope", "sentiment": "positive"}]}]},
    )
    assert new_label.status_code == 200
    renamed = demo.post(url, json={"dataset": {"title": "Renamed"}}).json()["dataset"]
    assert renamed["title"] == "Renamed"
    assert [d["name"] for d in renamed["label_defs"]][-1] == "Nope"
    other = demo.put(
        sandbox.url + "/api/v1/datasets/dev/bad", json={"dataset": {"source_ids": ["0" * 16]}}
    )
    assert (
        other.status_code == 422
        and demo.get(sandbox.url + "/api/v1/datasets/dev/bad").status_code == 404
    )


def test_streams_are_created_updated_and_deleted(sandbox: Sandbox, demo: requests.Session) -> None:
    base = sandbox.url + "/api/v1/datasets/dev/support-triage/streams"
    stream = demo.put(
        base,
        json={
            "stream": {
                "name": "urgent",
                "title": "Urgent",
                "comment_filter": {"annotations": {"labels": {"one_of": ["Urgent"]}}},
            }
        },
    ).json()["stream"]
    assert len(stream["id"]) == 32 and stream["name"] == "urgent"
    assert demo.put(base, json={"stream": {"name": "urgent"}}).status_code == 409
    assert (
        demo.put(
            base,
            json={
                "stream": {
                    "name": "bad",
                    "comment_filter": {"annotations": {"labels": {"one_of": ["Not a label"]}}},
                }
            },
        ).status_code
        == 422
    )
    names = [s["name"] for s in demo.get(base).json()["streams"]]
    assert names == ["triage-queue", "urgent"]
    updated = demo.post(base + "/urgent", json={"stream": {"title": "Very urgent"}}).json()[
        "stream"
    ]
    assert updated["title"] == "Very urgent"
    assert demo.delete(base + "/urgent").json() == {"status": "ok"}
    assert demo.get(base + "/urgent").status_code == 404


def test_users(sandbox: Sandbox, demo: requests.Session) -> None:
    v1 = demo.get(sandbox.url + "/api/v1/users").json()["users"]
    assert {u["username"] for u in v1} == {"demo", "admin"}
    full = demo.get(sandbox.url + "/api/_private/users").json()["users"]
    admin = next(u for u in full if u["username"] == "admin")
    assert set(admin["organisation_permissions"]) == {"dev", "prod", "restricted"}
    assert demo.get(sandbox.url + f"/api/_private/users/{admin['id']}").json()["user"] == admin


def test_writes_are_isolated_per_sandbox() -> None:
    with start_sandbox(comments=20, seed=11) as one, start_sandbox(comments=20, seed=11) as two:
        headers = {"Authorization": f"Bearer {one.token}"}
        requests.post(
            one.url + "/api/v1/sources/dev/support-emails/sync",
            headers=headers,
            timeout=10,
            json={"comments": [comment("only-in-one")]},
        ).raise_for_status()
        path = "/api/v1/sources/dev/support-emails/comments/only-in-one"
        assert requests.get(one.url + path, headers=headers, timeout=10).status_code == 200
        assert (
            requests.get(
                two.url + path, timeout=10, headers={"Authorization": f"Bearer {two.token}"}
            ).status_code
            == 404
        )
