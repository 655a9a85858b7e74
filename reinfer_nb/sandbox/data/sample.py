"""Deterministic sample data: the tenant's users, projects, sources, datasets and streams,
and comment ``k`` of any source, generated on demand from ``(seed, source, k)``.

Nothing is stored per comment. Comment ``k``'s timestamp is a strictly increasing function
of ``k``: the year's hour bins (:mod:`.year`) share the comments out by weight, and each
comment has its own slot in its hour, so the position of a timestamp is one bisection and
a division, and a comment id maps back to its ``k`` (a keyed 64-bit bijection).

What the sample year holds (figures for a source of 5,000 comments, seed 0): volume has a
daily and weekly rhythm (a weekday gets 3.3 times the comments of a weekend day; 66% arrive
on weekdays between 08:00 and 17:00 UTC) and seasons (December twice August, a January
peak of returns). Four incidents (``vocabulary.INCIDENTS``: a checkout outage in March,
password-reset emails not sent in June, double charges in September, courier delays
before Christmas) multiply a few days' volume by 2.5-5 and most of those comments carry
the incident's label and talk about it (about 40 a day against a baseline under 3).
Senders have a heavy tail: the top sender writes 48 comments, the top ten 172, and 84%
of the 2,879 senders write one or two. Label shares drift: tracking requests rise from 6%
of comments in Q1 to 17% in Q4, product questions fall from 21% to 9%. Subjects and bodies
come from the label's templates (and a sentence for a second label, given to 12%); 12% of
comments are threads of 2-4 messages. About a fifth are reviewed (30% in Q1, 14% in Q4).
Predictions agree with the true labels for most comments: the top predicted leaf is the
first true label for 96%, and at a 0.5 threshold precision is 0.93 and recall 0.94.
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
from operator import itemgetter
from typing import Any, NamedTuple

from . import vocabulary as vocab
from .year import BINS, DAYS, HOUR_US, START_US, label_table, reviewed_share, year

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

SPAN_US = DAYS * 86_400_000_000  # sample comments span 2024, from START_US
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


# A customer of sender rank r writes about n * ((r + 1)**(1/a) - r**(1/a)) / n**(1/a) of the
# n emails (rank = n * u**a for a uniform u): at 5,000 emails the top sender writes about
# 40 and most senders one or two.
_SENDER_SKEW = 1.8
_N_FIRST, _N_LAST = len(vocab.FIRST), len(vocab.LAST)
_NAMES = _N_FIRST * _N_LAST * len(vocab.DOMAINS)
_NAME_STEP = 7919  # a prime above _NAMES: a bijection on the name combinations
_REVIEWED = tuple(reviewed_share(day) for day in range(DAYS))


def _rivals() -> dict[str, tuple[str, ...]]:
    """The labels a model confuses with each leaf: its siblings (or the catch-alls)."""
    parent = {label: label.split(" > ")[0] for label in vocab.LABEL_TEXT}
    loose = ("Other", "Feedback", "Product > Question")
    rivals = {}
    for label in vocab.LABEL_TEXT:
        siblings = [x for x in vocab.LABEL_TEXT if x != label and parent[x] == parent[label]]
        rivals[label] = tuple(siblings or (x for x in loose if x != label))
    return rivals


_RIVALS = _rivals()
_PARENT = {label: label.split(" > ")[0] for label in vocab.LABEL_TEXT if " > " in label}
_P = tuple(round(x / 10_000, 3) for x in range(10_000))  # probabilities, by 1/10,000


class _Draw(NamedTuple):
    """What block 0 of a comment's hash decides: its hour bin, incident and facts."""

    words: tuple[int, ...]
    bin: int
    incident: int  # index into vocab.INCIDENTS, or -1
    facts: Facts


class CommentGenerator:
    """Comments ``0..n-1`` of one source, generated on demand.

    ``k`` orders the comments by timestamp. The year's hour bins (:mod:`.year`) share the
    ``n`` comments out by weight, so bin ``i`` holds comments ``cum[i] <= k < cum[i + 1]``
    and each has its own slot of the hour: finding a comment's bin is one bisection over
    the 8,784 bins. Each comment's content comes from two BLAKE2b digests of
    ``(source key, k)``, so any comment costs the same to produce.
    """

    def __init__(
        self, seed: int, source_id: str, n: int, mailbox: str, favoured: tuple[str, ...]
    ) -> None:
        self.source_id = source_id
        self.n = n
        self.mailbox = mailbox
        self._key = int(hex_id(seed, "comments", source_id), 16)
        self._people = int(hex_id(seed, "customers"), 16)  # the same customers in every source
        shape = year(seed)
        total = shape.cumulative[-1]
        self._cum = [n * weight // total for weight in shape.cumulative]
        self._incident, self._incident_share = shape.incident, shape.incident_share
        leaves = [label for label in vocab.LABEL_TEXT if label not in favoured]
        order = list(favoured) + sorted(leaves, key=lambda lb: hex_id(seed, source_id, lb))
        self._labels = tuple(order)
        self._by_day = label_table(self._labels)

    # -- position --------------------------------------------------------------------
    def _words(self, k: int) -> tuple[int, ...]:
        return _WORDS.unpack(blake2b(_KEY.pack(self._key, k, 0), digest_size=64).digest())

    def _more_words(self, k: int) -> tuple[int, ...]:
        return _WORDS.unpack(blake2b(_KEY.pack(self._key, k, 1), digest_size=64).digest())

    def _bin(self, k: int) -> int:
        return bisect.bisect_right(self._cum, k) - 1

    def _ts(self, k: int, i: int, word: int) -> int:
        first = self._cum[i]
        count = self._cum[i + 1] - first
        # Whole seconds when the hour has room for them, as real email timestamps are.
        units, unit = (3600, 1_000_000) if count <= 3600 else (HOUR_US, 1)
        j = k - first  # slot j of the hour is [j * units // count, (j + 1) * units // count)
        low, high = j * units // count, (j + 1) * units // count
        return START_US + i * HOUR_US + (low + word % (high - low)) * unit

    def ts(self, k: int) -> int:
        """The timestamp of comment ``k`` in microseconds (strictly increasing in ``k``)."""
        return self._ts(k, bisect.bisect_right(self._cum, k) - 1, self._words(k)[0])

    def first_at_or_after(self, us: int) -> int:
        """The smallest ``k`` whose timestamp is ``>= us`` (``n`` if none)."""
        if us <= START_US:
            return 0
        i = (us - START_US) // HOUR_US
        if i >= BINS:
            return self.n
        first = self._cum[i]
        count = self._cum[i + 1] - first
        if count == 0:
            return first
        units, unit = (3600, 1_000_000) if count <= 3600 else (HOUR_US, 1)  # as in _ts
        # The last slot that starts at or before ``us``: its comment or the next one.
        x = (us - START_US - i * HOUR_US) // unit
        k = first + min(((x + 1) * count + units - 1) // units - 1, count - 1)
        return k if self._ts(k, i, self._words(k)[0]) >= us else k + 1

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

    # -- facts -----------------------------------------------------------------------
    def facts(self, k: int) -> Facts:
        return self._draw(k).facts

    def _draw(self, k: int) -> _Draw:
        w = self._words(k)
        i = self._bin(k)
        incident = self._incident[i] if w[5] < self._incident_share[i] else -1
        day = i // 24
        if incident >= 0:
            first = vocab.INCIDENTS[incident].label
        else:
            row = self._by_day[day]
            at = bisect.bisect_right(row, (w[1] * row[-1]) >> 32)
            first = self._labels[min(at, len(row) - 1)]
        labels: tuple[str, ...] = (first,)
        if w[2] % 100 < 12:
            options = vocab.SECONDARY[first]
            if options:
                labels += (options[w[3] % len(options)],)
        if (w[2] >> 8) % 100 < (25 if incident >= 0 else 8):
            labels += (vocab.URGENT,)
        reviewed = w[4] % 1000 < _REVIEWED[day]
        return _Draw(w, i, incident, Facts(labels, reviewed))

    def _sender(self, word: int) -> tuple[str, str, str, int]:
        """A customer's first name, last name, address and a hash to derive more from."""
        rank = int(max(self.n, 1) * ((word + 0.5) / _WORD) ** _SENDER_SKEW)
        combo = (rank * _NAME_STEP + self._people) % _NAMES
        first, rest = vocab.FIRST[combo % _N_FIRST], combo // _N_FIRST
        last, domain = vocab.LAST[rest % _N_LAST], vocab.DOMAINS[rest // _N_LAST]
        number = rank // _NAMES or ""  # past the name combinations: amelia.smith2@...
        mix = ((rank ^ self._people) * _MULT) & _MASK64
        return first, last, f"{first.lower()}.{last.lower()}{number}@{domain}", mix

    # -- content ---------------------------------------------------------------------
    def render(self, k: int) -> tuple[dict[str, Any], Facts, list[Span]]:
        """Comment ``k`` as the API returns it, its facts, and its entities in the body."""
        w, i, incident, facts = self._draw(k)
        v = self._more_words(k)
        ts = self._ts(k, i, w[0])
        label = facts.labels[0]
        if incident >= 0:
            subjects, bodies = vocab.INCIDENTS[incident].subjects, vocab.INCIDENTS[incident].bodies
        else:
            subjects, bodies = vocab.LABEL_TEXT[label]
        slots = {
            "order": f"ORD-{v[0] % 1_000_000:06d}",
            "amount": f"£{5 + v[1] % 400}.{v[1] % 100:02d}",
            "product": vocab.PRODUCTS[v[2] % len(vocab.PRODUCTS)],
        }
        first, last, sender, mix = self._sender(w[6])
        subject = subjects[v[6] % len(subjects)].format_map(slots)
        subject = subject[0].upper() + subject[1:]
        urgent = vocab.URGENT in facts.labels
        if urgent:
            subject = "URGENT: " + subject
        text, spans = _text(v, facts.labels, bodies[v[8] % len(bodies)], slots)
        signature = f"\n\n{vocab.CLOSINGS[v[10] % len(vocab.CLOSINGS)]}\n{first} {last}"
        message: dict[str, Any] = {
            "from": sender,
            "to": [self.mailbox],
            "sent_at": format_ts(ts),
            "language": "en",
            "subject": {"text": subject},
            "body": {"text": text + signature},
        }
        if v[11] % 10 == 0:
            colleague = vocab.LAST[v[12] % len(vocab.LAST)].lower()
            message["cc"] = [f"{colleague}@{vocab.DOMAINS[v[12] % len(vocab.DOMAINS)]}"]
        stamp = message["sent_at"]
        messages = [message]
        if v[3] % 100 < 12:  # a thread (about 12% of comments)
            messages += self._replies(v, slots, sender, subject, signature)
            gap = (2 + (v[3] >> 16) % 46) * HOUR_US  # between the messages of a thread
            for t, item in enumerate(messages):
                item["sent_at"] = format_ts(ts - (len(messages) - 1 - t) * gap)
        created = format_ts(ts + CREATED_LAG_US)
        cid = self.comment_id(k)
        comment = {
            "id": cid,
            "uid": f"{self.source_id}.{cid}",
            "source_id": self.source_id,
            "timestamp": stamp,
            "messages": messages,
            "user_properties": self._properties(v, label, urgent, mix),
            "attachments": _attachments(v[15], label),
            "created_at": created,
            "last_modified": created,
            "has_annotations": facts.reviewed,
        }
        return comment, facts, spans

    def _properties(self, v: tuple[int, ...], label: str, urgent: bool, mix: int) -> dict[str, Any]:
        """User properties: tier and region are the customer's, NPS follows the label."""
        priority = vocab.URGENT if urgent else vocab.PRIORITIES[v[13] % len(vocab.PRIORITIES)]
        properties: dict[str, Any] = {
            "string:Mailbox": self.mailbox,
            "string:Priority": priority,
            "string:Customer Tier": vocab.TIERS[(mix >> 24) % len(vocab.TIERS)],
            "string:Region": vocab.REGIONS[(mix >> 40) % len(vocab.REGIONS)],
            "string:Channel": vocab.CHANNELS[(v[13] >> 24) % len(vocab.CHANNELS)],
        }
        if v[14] % 10 < 6:
            low, high = vocab.NPS_RANGE.get(label, vocab.NPS_DEFAULT)
            properties["number:NPS"] = low + (v[14] >> 8) % (high - low + 1)
        return properties

    def _replies(
        self, v: tuple[int, ...], slots: dict[str, str], sender: str, subject: str, signed: str
    ) -> list[dict[str, Any]]:
        """The rest of a thread: we answered, the customer chased (1-3 replies)."""
        replies = []
        for t in range(1, 2 + (0, 0, 0, 0, 0, 0, 1, 1, 1, 2)[(v[3] >> 8) % 10]):
            ours = t % 2 == 1
            lines = vocab.AGENT_REPLIES if ours else vocab.CHASERS
            said = lines[(v[5] >> (4 * t)) % len(lines)].format_map(slots)
            replies.append(
                {
                    "from": self.mailbox if ours else sender,
                    "to": [sender if ours else self.mailbox],
                    "sent_at": "",
                    "language": "en",
                    "subject": {"text": "RE: " + subject},
                    "body": {
                        "text": said + ("\n\nAcme Retail customer service" if ours else signed)
                    },
                }
            )
        return replies

    def predictions(self, k: int, facts: Facts) -> list[tuple[str, float]]:
        """Predicted ``(label, probability)``, most probable first, parents implied.

        The true labels score 0.62-0.99 for most comments. About 3% are confused with a
        rival (a sibling label) that scores higher while the true label falls below 0.5,
        2% have their label missed (below 0.5), 4% get an extra label above 0.5 (below the
        true one), a seventh of second labels are missed, and 2% are wrongly predicted
        urgent. A decoy label scores below 0.33.
        """
        w = self._words(k)
        labels = facts.labels
        highs = sorted((w[8] % 3700, w[9] % 3700, w[10] % 3700), reverse=True)
        scores = {label: _P[6200 + high] for label, high in zip(labels, highs, strict=False)}
        first = labels[0]
        rivals = _RIVALS.get(first, ())
        rival = rivals[w[11] % len(rivals)] if rivals else None
        roll = w[7] % 1000
        if rival is not None and roll < 30:
            scores[rival] = _P[5500 + w[12] % 3500]
            scores[first] = _P[2000 + w[13] % 2900]
        elif roll < 50:
            scores[first] = _P[2500 + w[13] % 2400]
        elif rival is not None and roll < 90 and rival not in scores:
            scores[rival] = round(0.5 + (scores[first] - 0.5) * (w[12] % 1000) / 1000, 3)
        if len(labels) > 1 and labels[1] != vocab.URGENT and (w[7] >> 10) % 7 == 0:
            scores[labels[1]] = _P[3000 + (w[13] >> 12) % 1900]
        if vocab.URGENT not in scores and (w[7] >> 20) % 100 < 2:
            scores[vocab.URGENT] = _P[5000 + (w[14] >> 12) % 1000]
        scores.setdefault(self._labels[w[15] % len(self._labels)], _P[200 + w[14] % 3000])
        for label, p in list(scores.items()):
            parent = _PARENT.get(label)
            if parent is not None:
                scores[parent] = max(scores.get(parent, 0.0), min(round(p + 0.01, 3), 0.999))
        return sorted(scores.items(), key=itemgetter(1), reverse=True)


def _text(
    v: tuple[int, ...], labels: tuple[str, ...], sentence: str, slots: dict[str, str]
) -> tuple[str, list[Span]]:
    """The body before its signature: greeting, the label's sentence, one for a second
    label (so a reader sees why it was given), maybe a follow-up; and its entities."""
    text = vocab.GREETINGS[v[7] % len(vocab.GREETINGS)] + "\n\n"
    sentence = sentence.format_map(slots)
    spans = _entity_spans(sentence, len(text), slots)
    text += sentence
    if len(labels) > 1 and labels[1] != vocab.URGENT:
        also = vocab.LABEL_TEXT[labels[1]][1]
        extra = _lower_first(also[v[4] % len(also)].format_map(slots))
        text += " " + vocab.CONNECTORS[(v[4] >> 8) % len(vocab.CONNECTORS)]
        spans += _entity_spans(extra, len(text), slots)
        text += extra
    follow = vocab.FOLLOW_UPS[v[9] % len(vocab.FOLLOW_UPS)]
    return f"{text} {follow}" if follow else text, spans


def _attachments(word: int, label: str) -> list[dict[str, Any]]:
    """One attachment for a tenth of emails, a photo for most about damaged items."""
    photo = label == "Delivery > Damaged Item" and word % 10 < 6
    if not (photo or word % 10 == 0):
        return []
    name, content_type = vocab.ATTACHMENTS[0 if photo else (word >> 8) % len(vocab.ATTACHMENTS)]
    return [{"name": name, "size": 20_000 + (word >> 12) % 900_000, "content_type": content_type}]


def _lower_first(sentence: str) -> str:
    """``sentence`` to follow a connector: lower-case first letter, except for "I"."""
    if sentence.startswith(("I ", "I'")):
        return sentence
    return sentence[0].lower() + sentence[1:]


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
