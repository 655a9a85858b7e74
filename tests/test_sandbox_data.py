"""The sample data and the paging engine, in-process: determinism, scale, exact paging."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reinfer_nb.sandbox.data.paging import decode_token, encode_token, iterate, since, take
from reinfer_nb.sandbox.data.sample import (
    SPAN_US,
    START_US,
    CommentGenerator,
    build_world,
    format_ts,
    parse_ts,
    split_counts,
)
from reinfer_nb.sandbox.data.store import Store

HEX16 = re.compile(r"[0-9a-f]{16}")


def test_the_world_is_deterministic_per_seed() -> None:
    one, two, other = build_world(1, 500), build_world(1, 500), build_world(2, 500)
    assert one.sources == two.sources and one.datasets == two.datasets
    assert [s["id"] for s in one.sources] != [s["id"] for s in other.sources]
    sid = one.sources[0]["id"]
    assert one.generators[sid].render(7)[0] == two.generators[sid].render(7)[0]


def test_names_ids_and_shape() -> None:
    world = build_world(0, 1000)
    assert [(p["name"], p["title"]) for p in world.projects] == [
        ("dev", "Development"),
        ("prod", "Production"),
        ("restricted", "Restricted"),
    ]
    for resource in world.sources + world.datasets:
        assert HEX16.fullmatch(resource["id"]) and not re.fullmatch(r"[0-9a-f]+", resource["name"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", s["id"]) for s in world.streams)
    dataset = world.datasets[0]
    labels = [d["name"] for d in dataset["label_defs"]]
    assert 10 <= len(labels) <= 20 and "Billing > Refund" in labels
    assert dataset["label_groups"][0]["name"] == "default" and len(dataset["entity_defs"]) == 2
    assert sum(g.n for g in world.generators.values()) == 1000


@given(st.integers(0, 10**7), st.lists(st.floats(0.01, 1.0), min_size=1, max_size=8))
def test_split_counts_adds_up(total: int, shares: list[float]) -> None:
    counts = split_counts(total, shares)
    assert sum(counts) == total and min(counts) >= 0


@settings(max_examples=200)
@given(st.integers(1, 2_000_000), st.data())
def test_timestamps_and_ids_are_arithmetic(n: int, data: Any) -> None:
    gen = CommentGenerator(0, "0123456789abcdef", n, "a@example.com", ())
    k = data.draw(st.integers(0, n - 1))
    ts = gen.ts(k)
    assert START_US <= ts < START_US + SPAN_US
    if k + 1 < n:
        assert gen.ts(k + 1) > ts
    assert gen.first_at_or_after(ts) == k and gen.first_at_or_after(ts + 1) == k + 1
    cid = gen.comment_id(k)
    assert HEX16.fullmatch(cid) and gen.index_of(cid) == k
    assert gen.index_of("not-an-id") is None
    if cid.upper() != cid:  # an id of digits only has no upper-case form
        assert gen.index_of(cid.upper()) is None


def test_comments_look_like_email() -> None:
    world = build_world(0, 2000)
    gen = world.generators[world.sources[0]["id"]]
    comment, _, spans = gen.render(12)
    message = comment["messages"][0]
    assert message["to"] == ["support@acme-retail.example"] and "@" in message["from"]
    assert message["subject"]["text"] and message["body"]["text"]
    assert all(key.startswith(("string:", "number:")) for key in comment["user_properties"])
    for span in spans:
        assert message["body"]["text"][span.start : span.end] == span.value
    leading = [gen.facts(k).labels[0] for k in range(gen.n)]
    counts = sorted((leading.count(label) for label in set(leading)), reverse=True)
    assert counts[0] > 4 * counts[-1]  # skewed, Zipf-like


@given(st.integers(-(10**15), 4 * 10**15))
def test_timestamps_round_trip(us: int) -> None:
    assert parse_ts(format_ts(us)) == us
    assert decode_token(encode_token((us, "abc.def"))) == (us, "abc.def")


def test_page_cost_does_not_grow_with_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page deep inside a million comments generates only that page (plus one peek)."""
    store = Store(0, 1_000_000)
    source = next(iter(store.sources.values()))
    calls = {"ts": 0, "render": 0}
    original_ts, original_render = CommentGenerator.ts, CommentGenerator.render

    def counting_ts(self: CommentGenerator, k: int) -> int:
        calls["ts"] += 1
        return original_ts(self, k)

    def counting_render(self: CommentGenerator, k: int) -> Any:
        calls["render"] += 1
        return original_render(self, k)

    monkeypatch.setattr(CommentGenerator, "ts", counting_ts)
    monkeypatch.setattr(CommentGenerator, "render", counting_render)
    middle = source.gen.ts(source.gen.n // 2)
    calls["ts"] = 0
    refs, more = take(iterate([source], after=since(middle)), 256)
    _ = [store.render(r) for r in refs]
    assert len(refs) == 256 and more
    assert calls["render"] == 256 and calls["ts"] <= 256 + 4


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_paging_matches_a_model_under_writes(data: Any) -> None:
    """Each page is exactly the next ``limit`` keys of the current set, whatever was written."""
    store = Store(3, 60)
    source = next(s for s in store.sources.values() if s.gen.n > 5)
    gen = source.gen
    model = {gen.comment_id(k): gen.ts(k) for k in range(gen.n)}
    pool = [gen.comment_id(k) for k in range(0, gen.n, 3)] + [f"x{i}" for i in range(6)]
    cursor = None
    for _ in range(data.draw(st.integers(1, 12))):
        op = data.draw(st.sampled_from(["sync", "delete", "page"]))
        cid = data.draw(st.sampled_from(pool))
        if op == "sync":
            us = data.draw(st.integers(START_US - 10**9, START_US + SPAN_US))
            store.upsert(
                source,
                [({"id": cid, "messages": [], "user_properties": {}, "attachments": []}, us)],
            )
            model[cid] = us
        elif op == "delete":
            store.delete(source, [cid])
            model.pop(cid, None)
        else:
            limit = data.draw(st.integers(1, 7))
            keys = sorted((us, source.uid_prefix + c) for c, us in model.items())
            ahead = [k for k in keys if cursor is None or k > cursor]
            refs, more = take(iterate([source], after=cursor), limit)
            assert [r.key for r in refs] == ahead[:limit]
            assert more == (len(ahead) > limit)
            if refs:
                cursor = refs[-1].key
    keys = sorted((us, source.uid_prefix + c) for c, us in model.items())
    assert [r.key for r in iterate([source])] == keys
    assert [r.key for r in iterate([source], descending=True)] == keys[::-1]
