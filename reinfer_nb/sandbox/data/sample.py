"""Deterministic sample data: the tenant's users, projects, sources, datasets and streams,
and comment ``k`` of any source, generated on demand from ``(seed, source, k)``.

Nothing is stored per comment. The timestamp of comment ``k`` is a strictly increasing
function of ``k`` (``START + k * step + jitter`` with ``jitter < step``), so the position of
a timestamp is arithmetic, and a comment id maps back to its ``k`` (a keyed 64-bit bijection).
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from hashlib import blake2b
from typing import Any, NamedTuple

from . import vocabulary as vocab

__all__ = [
    "CREATED_LAG_US",
    "SPAN_US",
    "START_US",
    "CommentGenerator",
    "Facts",
    "Span",
    "World",
    "build_world",
    "dataset_json",
    "format_ts",
    "hex_id",
    "now_us",
    "parse_ts",
    "source_json",
    "split_counts",
    "stream_json",
]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z: sample comments span 2024
SPAN_US = 366 * 86_400_000_000
CREATED_LAG_US = 90_000_000  # a generated comment is uploaded 90 s after it was sent
RESOURCES_CREATED_US = START_US - 30 * 86_400_000_000

_MASK64 = (1 << 64) - 1
_MULT = 0x9E3779B97F4A7C15  # odd, so multiplication is invertible modulo 2**64
_MULT_INV = pow(_MULT, -1, 1 << 64)
_WORD = 1 << 32
_KEY = struct.Struct("<QQB")  # (source key, k, block)
_WORDS = struct.Struct("<16I")

# ---------------------------------------------------------------------------------------
# Timestamps and ids


def format_ts(us: int) -> str:
    """Microseconds since the epoch as ``2024-01-31T09:30:00.000000+00:00``."""
    sec, frac = divmod(us, 1_000_000)
    day, sec = divmod(sec, 86_400)
    minute, sec = divmod(sec, 60)
    return f"{_date(day)}T{minute // 60:02d}:{minute % 60:02d}:{sec:02d}.{frac:06d}+00:00"


@lru_cache(maxsize=4096)
def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def parse_ts(text: str) -> int:
    """An ISO-8601 timestamp (``Z`` or an offset; naive means UTC) as microseconds.

    Raises ValueError with a message that says what to send.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ValueError(
            f"{text!r} is not an ISO-8601 timestamp; send e.g. '2024-05-01T00:00:00Z'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def hex_id(*parts: object, length: int = 16) -> str:
    """A stable lowercase hex id derived from ``parts``."""
    text = "/".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# ---------------------------------------------------------------------------------------
# Comments


class Span(NamedTuple):
    """An entity in a message body: its kind, character offsets and text."""

    kind: str
    start: int
    end: int
    value: str


class Facts(NamedTuple):
    """What filters need to know about a generated comment, without rendering it."""

    labels: tuple[str, ...]  # the true labels (leaves or top-level), most likely first
    reviewed: bool  # a person assigned ``labels`` (else they are only predicted)


class CommentGenerator:
    """Comments ``0..n-1`` of one source, generated on demand.

    ``k`` orders the comments by timestamp. Each comment's content comes from two
    BLAKE2b digests of ``(source key, k)``, so any comment costs the same to produce.
    """

    def __init__(
        self, seed: int, source_id: str, n: int, mailbox: str, favoured: tuple[str, ...]
    ) -> None:
        self.source_id = source_id
        self.n = n
        self.mailbox = mailbox
        self._key = int(hex_id(seed, "comments", source_id), 16)
        step = SPAN_US // max(n, 1)
        # Whole seconds when there is room, as real email timestamps are.
        self._unit = 1_000_000 if step >= 2_000_000 else 1
        self._step_units = max(step // self._unit, 1)
        self._step = self._step_units * self._unit
        leaves = [label for label in vocab.LABEL_TEXT if label not in favoured]
        order = list(favoured) + sorted(leaves, key=lambda lb: hex_id(seed, source_id, lb))
        # Zipf-like skew: the r-th most common label has weight 1 / r**1.1.
        self._labels = tuple(order)
        self._cumulative = []
        total = 0.0
        for rank in range(1, len(order) + 1):
            total += 1.0 / rank**1.1
            self._cumulative.append(total)

    # -- position --------------------------------------------------------------------
    def _words(self, k: int) -> tuple[int, ...]:
        return _WORDS.unpack(blake2b(_KEY.pack(self._key, k, 0), digest_size=64).digest())

    def _more_words(self, k: int) -> tuple[int, ...]:
        return _WORDS.unpack(blake2b(_KEY.pack(self._key, k, 1), digest_size=64).digest())

    def ts(self, k: int) -> int:
        """The timestamp of comment ``k`` in microseconds (strictly increasing in ``k``)."""
        return START_US + k * self._step + (self._words(k)[0] % self._step_units) * self._unit

    def first_at_or_after(self, us: int) -> int:
        """The smallest ``k`` whose timestamp is ``>= us`` (``n`` if none)."""
        k = min(max((us - START_US) // self._step, 0), self.n)
        if k < self.n and self.ts(k) < us:
            k += 1
        return k

    def comment_id(self, k: int) -> str:
        x = ((k ^ self._key) * _MULT) & _MASK64
        return f"{x ^ (x >> 32):016x}"

    def index_of(self, comment_id: str) -> int | None:
        """The ``k`` of a generated comment id, or None if the id is not one of ours."""
        if len(comment_id) != 16:
            return None
        try:
            y = int(comment_id, 16)
        except ValueError:
            return None
        if comment_id != f"{y:016x}":
            return None
        k = (((y ^ (y >> 32)) * _MULT_INV) & _MASK64) ^ self._key
        return k if k < self.n else None

    # -- content ---------------------------------------------------------------------
    def facts(self, k: int) -> Facts:
        return self._facts(self._words(k))

    def _facts(self, w: tuple[int, ...]) -> Facts:
        first = self._pick_label(w[1])
        labels: tuple[str, ...] = (first,)
        if w[2] % 100 < 12:
            second = self._pick_label(w[3])
            if second != first:
                labels += (second,)
        if w[2] % 100 >= 92:
            labels += (vocab.URGENT,)
        return Facts(labels, w[4] % 100 < 22)

    def _pick_label(self, word: int) -> str:
        x = word / _WORD * self._cumulative[-1]
        return self._labels[min(bisect.bisect_right(self._cumulative, x), len(self._labels) - 1)]

    def render(self, k: int) -> tuple[dict[str, Any], Facts, list[Span]]:
        """Comment ``k`` as the API returns it, its facts, and its entities in the body."""
        w = self._words(k)
        v = self._more_words(k)
        facts = self._facts(w)
        ts = START_US + k * self._step + (w[0] % self._step_units) * self._unit
        label = facts.labels[0]
        subjects, bodies = vocab.LABEL_TEXT[label]
        slots = {
            "order": f"ORD-{v[0] % 1_000_000:06d}",
            "amount": f"£{5 + v[1] % 400}.{v[1] % 100:02d}",
            "product": vocab.PRODUCTS[v[2] % len(vocab.PRODUCTS)],
        }
        first, last = vocab.FIRST[v[3] % len(vocab.FIRST)], vocab.LAST[v[4] % len(vocab.LAST)]
        sender = f"{first.lower()}.{last.lower()}@{vocab.DOMAINS[v[5] % len(vocab.DOMAINS)]}"
        subject = subjects[v[6] % len(subjects)].format_map(slots)
        subject = subject[0].upper() + subject[1:]
        urgent = vocab.URGENT in facts.labels
        if urgent:
            subject = "URGENT: " + subject
        head = vocab.GREETINGS[v[7] % len(vocab.GREETINGS)] + "\n\n"
        sentence = bodies[v[8] % len(bodies)].format_map(slots)
        spans = _entity_spans(sentence, len(head), slots)
        follow = vocab.FOLLOW_UPS[v[9] % len(vocab.FOLLOW_UPS)]
        closing = vocab.CLOSINGS[v[10] % len(vocab.CLOSINGS)]
        body = f"{head}{sentence}{' ' + follow if follow else ''}\n\n{closing}\n{first} {last}"
        stamp = format_ts(ts)
        created = format_ts(ts + CREATED_LAG_US)
        message: dict[str, Any] = {
            "from": sender,
            "to": [self.mailbox],
            "sent_at": stamp,
            "language": "en",
            "subject": {"text": subject},
            "body": {"text": body},
        }
        if v[11] % 10 == 0:
            colleague = vocab.LAST[v[12] % len(vocab.LAST)].lower()
            message["cc"] = [f"{colleague}@{vocab.DOMAINS[v[12] % len(vocab.DOMAINS)]}"]
        priority = vocab.URGENT if urgent else vocab.PRIORITIES[v[13] % len(vocab.PRIORITIES)]
        properties: dict[str, Any] = {
            "string:Mailbox": self.mailbox,
            "string:Priority": priority,
            "string:Customer Tier": vocab.TIERS[(v[13] >> 8) % len(vocab.TIERS)],
            "string:Region": vocab.REGIONS[(v[13] >> 16) % len(vocab.REGIONS)],
            "string:Channel": vocab.CHANNELS[(v[13] >> 24) % len(vocab.CHANNELS)],
        }
        if v[14] % 10 < 6:
            properties["number:NPS"] = v[14] % 11
        attachments = []
        if v[15] % 10 == 0:
            name, content_type = vocab.ATTACHMENTS[(v[15] >> 8) % len(vocab.ATTACHMENTS)]
            attachments.append(
                {
                    "name": name,
                    "size": 20_000 + (v[15] >> 12) % 900_000,
                    "content_type": content_type,
                }
            )
        cid = self.comment_id(k)
        comment = {
            "id": cid,
            "uid": f"{self.source_id}.{cid}",
            "source_id": self.source_id,
            "timestamp": stamp,
            "messages": [message],
            "user_properties": properties,
            "attachments": attachments,
            "created_at": created,
            "last_modified": created,
            "has_annotations": facts.reviewed,
        }
        return comment, facts, spans

    def predictions(self, k: int, facts: Facts) -> list[tuple[str, float]]:
        """Predicted ``(label, probability)``: true labels high, a decoy low, parents implied."""
        v = self._more_words(k)
        scores: dict[str, float] = {}
        for i, label in enumerate(facts.labels):
            scores[label] = round(0.62 + (v[i] % 3700) / 10_000, 3)
        decoy = self._labels[v[3] % len(self._labels)]
        scores.setdefault(decoy, round(0.02 + (v[4] % 3000) / 10_000, 3))
        for label, p in list(scores.items()):
            if " > " in label:
                parent = label.split(" > ")[0]
                scores[parent] = max(scores.get(parent, 0.0), min(round(p + 0.01, 3), 0.999))
        return sorted(scores.items(), key=lambda item: -item[1])


def _entity_spans(text: str, offset: int, slots: dict[str, str]) -> list[Span]:
    """Where the order number and amount were filled in (each slot occurs at most once)."""
    spans = []
    for slot, kind in vocab.ENTITY_SLOTS:
        value = slots[slot]
        at = text.find(value)
        if at >= 0:
            spans.append(Span(kind, offset + at, offset + at + len(value), value))
    return spans


# ---------------------------------------------------------------------------------------
# The tenant


@dataclass
class World:
    """The seeded tenant: JSON-ready resources plus a generator per seeded source."""

    users: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    streams: list[dict[str, Any]]
    generators: dict[str, CommentGenerator] = field(default_factory=dict)


def split_counts(total: int, shares: list[float]) -> list[int]:
    """Split ``total`` by ``shares`` (largest remainder), so the counts sum to ``total``."""
    raw = [total * s / sum(shares) for s in shares]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def user_json(
    seed: int, username: str, permissions: dict[str, list[str]], global_permissions: list[str]
) -> dict[str, Any]:
    return {
        "id": hex_id(seed, "user", username),
        "username": username,
        "email": f"{username}@sandbox.invalid",
        "created": format_ts(RESOURCES_CREATED_US - 86_400_000_000),
        "verified": True,
        "organisation_permissions": permissions,
        "derived_organisation_permissions": permissions,
        "global_permissions": global_permissions,
        "sso_global_permissions": [],
        "derived_user_global_permissions": global_permissions,
        "derived_global_permissions": global_permissions,
        "last_login_at": None,
        "is_support_user": False,
    }


def label_defs() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "title": name.split(" > ")[-1],
            "instructions": vocab.LABEL_INSTRUCTIONS.get(name, ""),
            "trainable": True,
        }
        for name in vocab.LABEL_NAMES
    ]


def entity_defs(seed: int) -> list[dict[str, Any]]:
    return [
        {
            "id": hex_id(seed, "entity", name),
            "name": name,
            "title": title,
            "color": color,
            "inherits_from": [],
            "trainable": True,
            "_entity_def_flags": [],
        }
        for name, title, color in vocab.ENTITY_DEFS
    ]


def dataset_json(
    seed: int,
    owner: str,
    name: str,
    title: str,
    description: str,
    source_ids: list[str],
    created_us: int,
    labels: list[dict[str, Any]],
    entities: list[dict[str, Any]],
) -> dict[str, Any]:
    stamp = format_ts(created_us)
    return {
        "id": hex_id(seed, "dataset", owner, name),
        "owner": owner,
        "name": name,
        "title": title,
        "description": description,
        "created": stamp,
        "last_modified": stamp,
        "model_family": "english",
        "source_ids": source_ids,
        "has_sentiment": False,
        "limited_access": False,
        "entity_defs": entities,
        "general_fields": [],
        "label_defs": labels,
        "label_groups": [
            {
                "name": "default",
                "label_defs": labels,
                "label_collection_name": None,
                "trainable": True,
                "hidden": False,
                "instructions": "",
            }
        ],
        "_label_properties": [],
        "_timezone": "Europe/London",
        "_preferred_locales": {"default": "en-GB", "preferences": []},
        "_dataset_flags": [],
        "_model_config": {"kind": "cm"},
    }


def source_json(
    seed: int, owner: str, name: str, title: str, description: str, created_us: int
) -> dict[str, Any]:
    stamp = format_ts(created_us)
    return {
        "id": hex_id(seed, "source", owner, name),
        "owner": owner,
        "name": name,
        "title": title,
        "description": description,
        "language": "en",
        "should_translate": False,
        "sensitive_properties": [],
        "_kind": "unknown",
        "created_at": stamp,
        "updated_at": stamp,
        "last_modified": stamp,
    }


def stream_json(
    seed: int,
    dataset_id: str,
    name: str,
    title: str,
    description: str,
    comment_filter: dict[str, Any],
    model: dict[str, Any] | None,
    created_us: int,
) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "id": hex_id(seed, "stream", dataset_id, name, length=32),
        "dataset_id": dataset_id,
        "name": name,
        "title": title,
        "description": description,
        "created_at": format_ts(created_us),
        "updated_at": format_ts(created_us),
        "comment_filter": comment_filter,
    }
    if model is not None:
        stream["model"] = model
    return stream


def build_world(seed: int, comments: int) -> World:
    """The seeded tenant with ``comments`` comments spread over the seeded sources."""
    everything = {name: list(vocab.PROJECT_PERMISSIONS) for name, _, _ in vocab.PROJECTS}
    users = [
        user_json(
            seed,
            "demo",
            {"dev": list(vocab.DEV_PERMISSIONS), "prod": list(vocab.READ_PERMISSIONS)},
            [],
        ),
        user_json(
            seed, "admin", everything, ["tenant-admin", "projects-admin", "tenant-users-read"]
        ),
    ]
    projects = [
        {
            "id": hex_id(seed, "project", name),
            "name": name,
            "title": title,
            "description": description,
            "created_at": format_ts(RESOURCES_CREATED_US),
            "updated_at": format_ts(RESOURCES_CREATED_US),
            "user_auto_join": False,
        }
        for name, title, description in vocab.PROJECTS
    ]
    counts = split_counts(comments, [spec[5] for spec in vocab.SOURCES])
    world = World(users, projects, [], [], [])
    for (owner, name, title, description, mailbox, _, favoured), n in zip(
        vocab.SOURCES, counts, strict=True
    ):
        source = source_json(seed, owner, name, title, description, RESOURCES_CREATED_US)
        world.sources.append(source)
        world.generators[source["id"]] = CommentGenerator(seed, source["id"], n, mailbox, favoured)
    ids = {(s["owner"], s["name"]): s["id"] for s in world.sources}
    leaves = (*vocab.LABEL_TEXT, vocab.URGENT)
    thresholds = [{"name": name.split(" > "), "threshold": 0.5} for name in leaves]
    for owner, name, title, description, source_names in vocab.DATASETS:
        dataset = dataset_json(
            seed,
            owner,
            name,
            title,
            description,
            [ids[owner, s] for s in source_names],
            RESOURCES_CREATED_US + 86_400_000_000,
            label_defs(),
            entity_defs(seed),
        )
        world.datasets.append(dataset)
        world.streams.append(
            stream_json(
                seed,
                dataset["id"],
                vocab.STREAM_NAME,
                vocab.STREAM_TITLE,
                "Every new email, with the labels the model predicts.",
                {},
                {"version": 1, "label_thresholds": thresholds},
                RESOURCES_CREATED_US + 2 * 86_400_000_000,
            )
        )
    return world
