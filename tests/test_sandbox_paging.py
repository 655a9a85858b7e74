"""Paging over real HTTP: every comment exactly once and in order, for source comments,
the dataset query, bulk labellings and streams, including writes between pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from reinfer_nb.sandbox import Sandbox, start_sandbox

COMMENTS = 5000
MAX_PAGES = 1000  # every loop below is bounded


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Sandbox]:
    sb = make_sandbox(comments=COMMENTS, seed=3)
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def admin(sandbox: Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.admin_token}"
        yield s


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def page_comments(
    session: requests.Session, url: str, owner: str, source: str, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """All comments of a source, following ``continuation``; and the number of pages."""
    out: list[dict[str, Any]] = []
    params = {"limit": 256, **params}
    for pages in range(1, MAX_PAGES + 1):
        response = session.get(
            f"{url}/api/_private/sources/{owner}/{source}/comments", params=params
        )
        assert response.status_code == 200, response.text
        body = response.json()
        out += body["comments"]
        if not body.get("continuation"):
            return out, pages
        params["after"] = body["continuation"]
    raise AssertionError("too many pages")


def keys(comments: list[dict[str, Any]]) -> list[tuple[datetime, str]]:
    return [(ts(c["timestamp"]), c["id"]) for c in comments]


def all_sources(session: requests.Session, url: str) -> list[dict[str, Any]]:
    return session.get(url + "/api/v1/sources").json()["sources"]


def test_every_comment_once_in_order_across_all_sources(
    sandbox: Sandbox, admin: requests.Session
) -> None:
    total = 0
    for source in all_sources(admin, sandbox.url):
        comments, pages = page_comments(admin, sandbox.url, source["owner"], source["name"])
        assert keys(comments) == sorted(set(keys(comments)))  # strictly increasing: no repeats
        assert all(c["uid"] == f"{source['id']}.{c['id']}" for c in comments)
        assert pages == max(1, -(-len(comments) // 256))
        total += len(comments)
    assert total == COMMENTS


def test_time_window_and_direction(sandbox: Sandbox, admin: requests.Session) -> None:
    everything, _ = page_comments(admin, sandbox.url, "prod", "support-emails")
    low, high = everything[100]["timestamp"], everything[700]["timestamp"]
    window, _ = page_comments(
        admin,
        sandbox.url,
        "prod",
        "support-emails",
        limit=50,
        from_timestamp=low,
        to_timestamp=high,
    )
    assert window == everything[100:701]
    newest_first, _ = page_comments(
        admin, sandbox.url, "prod", "support-emails", limit=99, direction="descending"
    )
    assert newest_first == everything[::-1]
    naive, _ = page_comments(
        admin,
        sandbox.url,
        "prod",
        "support-emails",
        from_timestamp=low.replace("+00:00", ""),
        to_timestamp=high.replace("+00:00", "Z"),
    )
    assert naive == window


def test_a_continuation_always_gives_the_same_page(
    sandbox: Sandbox, admin: requests.Session
) -> None:
    url = f"{sandbox.url}/api/_private/sources/dev/returns-emails/comments"
    first = admin.get(url, params={"limit": 10}).json()
    again = [
        admin.get(url, params={"limit": 10, "after": first["continuation"]}).json()
        for _ in range(3)
    ]
    assert again[0] == again[1] == again[2]
    assert again[0]["comments"][0]["timestamp"] >= first["comments"][-1]["timestamp"]


def test_writes_between_pages(sandbox: Sandbox) -> None:
    """Deleted comments ahead vanish, synced ones ahead appear, nothing repeats or is lost."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        before, _ = page_comments(s, sandbox.url, "dev", "support-emails")
        url = f"{sandbox.url}/api/_private/sources/dev/support-emails/comments"
        page = s.get(url, params={"limit": 100}).json()
        seen = page["comments"]
        ahead = before[300:303]
        s.delete(
            f"{sandbox.url}/api/v1/sources/dev/support-emails/comments",
            params={"id": [c["id"] for c in ahead] + [seen[5]["id"]]},
        ).raise_for_status()
        middle = ts(before[500]["timestamp"]).isoformat()
        new = [
            {"id": f"between-{i}", "timestamp": middle, "messages": [{"body": {"text": str(i)}}]}
            for i in range(3)
        ] + [{"id": "between-past", "timestamp": "2023-06-01T00:00:00Z"}]
        assert (
            s.post(
                f"{sandbox.url}/api/v1/sources/dev/support-emails/sync", json={"comments": new}
            ).json()["new"]
            == 4
        )
        after = seen
        token = page["continuation"]
        for _ in range(MAX_PAGES):
            body = s.get(url, params={"limit": 100, "after": token}).json()
            after = after + body["comments"]
            token = body.get("continuation")
            if not token:
                break
        got = [c["id"] for c in after]
        assert len(got) == len(set(got))
        expected = [c["id"] for c in before if c not in ahead]
        assert [i for i in got if not i.startswith("between")] == expected
        assert {"between-0", "between-1", "between-2"} <= set(got) and "between-past" not in got
        assert keys(after) == sorted(keys(after))
        # A fresh pass sees the state after the writes.
        fresh, _ = page_comments(s, sandbox.url, "dev", "support-emails")
        assert len(fresh) == len(before) - 4 + 4
        assert fresh[0]["id"] == "between-past"


def query_all(session: requests.Session, url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    body = dict(body)
    for _ in range(MAX_PAGES):
        response = session.post(url + "/api/_private/datasets/prod/support-triage/query", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        results += page["results"]
        if not page.get("continuation"):
            return results
        body["continuation"] = page["continuation"]
    raise AssertionError("too many pages")


def test_query_returns_each_dataset_comment_once_newest_first(
    sandbox: Sandbox, admin: requests.Session
) -> None:
    results = query_all(admin, sandbox.url, {"order": {"kind": "recent"}, "limit": 200})
    uids = [r["comment"]["uid"] for r in results]
    assert len(uids) == len(set(uids))
    stamps = [ts(r["comment"]["timestamp"]) for r in results]
    assert stamps == sorted(stamps, reverse=True)
    expected = sum(
        len(page_comments(admin, sandbox.url, "prod", name)[0])
        for name in ("support-emails", "returns-emails")
    )
    assert len(results) == expected


def test_query_filters(sandbox: Sandbox, admin: requests.Session) -> None:
    dataset = admin.get(sandbox.url + "/api/v1/datasets/prod/support-triage").json()["dataset"]
    one_source = dataset["source_ids"][1]
    body = {
        "order": {"kind": "recent"},
        "limit": 100,
        "filter": {
            "sources": [one_source],
            "timestamp": {"minimum": "2024-03-01T00:00:00Z", "maximum": "2024-05-01T00:00:00Z"},
        },
        "attribute_filters": [
            {"attribute": "labels", "filter": {"kind": "string_any_of", "any_of": ["Billing"]}}
        ],
    }
    results = query_all(admin, sandbox.url, body)
    assert results
    for r in results:
        assert r["comment"]["source_id"] == one_source
        assert "2024-03-01" <= r["comment"]["timestamp"][:10] < "2024-05-01"
        group = r["labelling"][0]
        names = [x["name"] for x in group["assigned"]] + [
            x["name"] for x in group["predicted"] if x["probability"] >= 0.5
        ]
        assert any(n == "Billing" or n.startswith("Billing > ") for n in names)
    reviewed = query_all(
        admin,
        sandbox.url,
        {
            "order": {"kind": "recent"},
            "limit": 256,
            "filter": {
                "reviewed": "only_reviewed",
                "annotations": {"labels": {"one_of": ["Delivery"]}},
            },
        },
    )
    assert reviewed and all(
        any(a["name"].startswith("Delivery") for a in r["labelling"][0]["assigned"])
        for r in reviewed
    )


def test_bulk_labellings_page_to_an_empty_page(sandbox: Sandbox, admin: requests.Session) -> None:
    dataset = admin.get(sandbox.url + "/api/v1/datasets/prod/support-triage").json()["dataset"]
    url = sandbox.url + "/api/_private/datasets/prod/support-triage/labellings"
    params = {"source_id": dataset["source_ids"][0], "limit": 50}
    results: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = admin.get(url, params=params).json()
        if not page["results"]:
            break
        assert page["after"] != params.get("after")
        results += page["results"]
        params["after"] = page["after"]
    uids = [r["comment"]["uid"] for r in results]
    assert results and len(uids) == len(set(uids))
    assert all(r["labelling"][0]["assigned"] for r in results)
    everything, _ = page_comments(admin, sandbox.url, "prod", "support-emails")
    assert 0.1 < len(results) / len(everything) < 0.4  # about a fifth are reviewed


def test_stream_consumes_every_comment_once(sandbox: Sandbox, admin: requests.Session) -> None:
    base = sandbox.url + "/api/v1/datasets/restricted/escalations-review/streams/triage-queue"
    first = admin.post(base + "/fetch", json={"size": 40}).json()
    assert (
        admin.post(base + "/fetch", json={"size": 40}).json() == first
    )  # idempotent until advanced
    seen: list[str] = []
    batch = first
    for _ in range(MAX_PAGES):
        seen += [r["comment"]["uid"] for r in batch["results"]]
        assert all(r["sequence_id"] for r in batch["results"])
        admin.post(base + "/advance", json={"sequence_id": batch["sequence_id"]}).raise_for_status()
        if batch["is_end_sequence"]:
            break
        batch = admin.post(base + "/fetch", json={"size": 40}).json()
    everything, _ = page_comments(admin, sandbox.url, "restricted", "escalations")
    assert seen == [c["uid"] for c in everything]  # creation order is timestamp order here
    empty = admin.post(base + "/fetch", json={"size": 5}).json()
    assert empty["results"] == [] and empty["is_end_sequence"]
    # Reset to a creation time: consumption resumes from there.
    middle = everything[len(everything) // 2]
    reset = admin.post(base + "/reset", json={"to_comment_created_at": middle["created_at"]}).json()
    assert reset["stream"]["name"] == "triage-queue"
    again = admin.get(base + "/results", params={"max_results": 3}).json()
    assert [r["comment"]["uid"] for r in again["results"]] == [
        c["uid"] for c in everything[len(everything) // 2 :][:3]
    ]
    assert again["more_results"] and again["num_filtered"] == 0
    admin.post(
        base + "/advance", json={"sequence_id": again["results"][0]["continuation"]}
    ).raise_for_status()
    after_one = admin.get(base + "/results", params={"max_results": 1}).json()
    assert after_one["results"][0]["comment"]["uid"] == again["results"][1]["comment"]["uid"]


def test_stream_filters_count_what_they_skip(sandbox: Sandbox, admin: requests.Session) -> None:
    base = sandbox.url + "/api/v1/datasets/dev/support-triage/streams"
    admin.put(
        base,
        json={
            "stream": {
                "name": "refunds-only",
                "comment_filter": {"annotations": {"labels": {"one_of": ["Billing > Refund"]}}},
            }
        },
    ).raise_for_status()
    batch = admin.post(base + "/refunds-only/fetch", json={"size": 5, "max_filtered": 1024}).json()
    assert batch["filtered"] > 0 and len(batch["results"]) <= 5
    for r in batch["results"]:
        uid = r["comment"]["uid"]
        labels = admin.get(
            sandbox.url + "/api/_private/datasets/dev/support-triage/labellings", params={"id": uid}
        ).json()["results"][0]["labelling"][0]["assigned"]
        assert {"name": "Billing > Refund", "sentiment": "positive"} in labels


def test_new_comments_reach_a_stream_after_the_old_ones(sandbox: Sandbox) -> None:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        base = sandbox.url + "/api/v1/datasets/dev/support-triage/streams"
        s.put(base, json={"stream": {"name": "arrivals"}}).raise_for_status()
        # Skip to now: only comments created from here on are delivered.
        now = datetime.now(timezone.utc).isoformat()
        s.post(base + "/arrivals/reset", json={"to_comment_created_at": now}).raise_for_status()
        assert s.post(base + "/arrivals/fetch", json={"size": 10}).json()["results"] == []
        s.post(
            sandbox.url + "/api/v1/sources/dev/returns-emails/sync",
            json={
                "comments": [
                    {
                        "id": "arrival-1",
                        "timestamp": "2024-02-01T00:00:00Z",
                        "messages": [{"body": {"text": "hi"}}],
                    }
                ]
            },
        ).raise_for_status()
        batch = s.post(base + "/arrivals/fetch", json={"size": 10}).json()
        assert [r["comment"]["id"] for r in batch["results"]] == ["arrival-1"] and batch[
            "is_end_sequence"
        ]


def test_ten_comments() -> None:
    with start_sandbox(comments=10, seed=5) as sb, requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sb.admin_token}"
        counts = {}
        for source in all_sources(s, sb.url):
            comments, _ = page_comments(s, sb.url, source["owner"], source["name"], limit=1)
            counts[source["id"]] = len(comments)
        assert sum(counts.values()) == 10
        results = s.post(
            sb.url + "/api/_private/datasets/dev/support-triage/query",
            json={"order": {"kind": "recent"}, "limit": 3},
        ).json()
        assert len(results["results"]) == 3 and "continuation" in results
