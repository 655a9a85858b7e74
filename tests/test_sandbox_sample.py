"""The sample year has something to find: rhythm, incidents, regular senders, drifting
labels, text that explains the labels, threads, and predictions that mostly agree.

Assertions are on data generated with fixed seeds, so they are exact and repeatable.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from reinfer_nb.sandbox.data import vocabulary as vocab
from reinfer_nb.sandbox.data.sample import SPAN_US, START_US, CommentGenerator, Facts
from reinfer_nb.sandbox.data.year import BINS, HOUR_US

SOURCE_ID = "0123456789abcdef"
FAVOURED = vocab.SOURCES[0][6]  # dev/support-emails: Password Reset, Product > Question, ...
MAILBOX = vocab.SOURCES[0][4]


class Sample:
    """Every comment of one generated source, with its time, facts and JSON."""

    def __init__(self, seed: int, n: int) -> None:
        self.gen = CommentGenerator(seed, SOURCE_ID, n, MAILBOX, FAVOURED)
        rendered = [self.gen.render(k) for k in range(n)]
        self.times = [datetime.fromtimestamp(self.gen.ts(k) / 1e6, timezone.utc) for k in range(n)]
        self.comments = [comment for comment, _, _ in rendered]
        self.facts: list[Facts] = [facts for _, facts, _ in rendered]

    def daily(self, label: str | None = None) -> Counter[date]:
        """Comments per UTC day, of those whose leading label is ``label`` if given."""
        return Counter(
            t.date()
            for t, f in zip(self.times, self.facts, strict=True)
            if label is None or f.labels[0] == label
        )


@lru_cache(maxsize=4)
def sample(seed: int = 0, n: int = 5000) -> Sample:
    return Sample(seed, n)


def test_same_seed_same_comments_other_seed_other_comments() -> None:
    one, two = (CommentGenerator(3, SOURCE_ID, 5000, MAILBOX, FAVOURED) for _ in range(2))
    other = CommentGenerator(4, SOURCE_ID, 5000, MAILBOX, FAVOURED)
    for k in (0, 1, 777, 4999):
        comment, facts, spans = one.render(k)
        assert (comment, facts, spans) == two.render(k)
        assert one.ts(k) == two.ts(k) and one.predictions(k, facts) == two.predictions(k, facts)
    assert [one.render(k)[0]["messages"] for k in range(20)] != [
        other.render(k)[0]["messages"] for k in range(20)
    ]


# Sizes from tiny to dense enough that an hour holds more comments than it has seconds
# (then timestamps fall back from whole seconds to microseconds).
SIZES = st.one_of(st.integers(1, 3000), st.integers(3000, 5_000_000), st.just(60_000_000))


@settings(max_examples=300, deadline=None)
@given(SIZES, st.data())
def test_timestamps_strictly_increase(n: int, data: Any) -> None:
    gen = CommentGenerator(1, SOURCE_ID, n, MAILBOX, ())
    k = data.draw(st.integers(0, n - 1), label="k")
    assert START_US <= gen.ts(k) < START_US + SPAN_US
    if k + 1 < n:
        assert gen.ts(k) < gen.ts(k + 1)
    assert gen.first_at_or_after(gen.ts(k)) == k


@settings(max_examples=400, deadline=None)
@given(SIZES, st.data())
def test_first_at_or_after_is_exact(n: int, data: Any) -> None:
    gen = CommentGenerator(2, SOURCE_ID, n, MAILBOX, ())
    bin_edge = st.builds(
        lambda i, d: START_US + i * HOUR_US + d, st.integers(0, BINS), st.integers(-2, 2)
    )
    us = data.draw(
        st.one_of(st.integers(START_US - 10**12, START_US + SPAN_US + 10**12), bin_edge),
        label="us",
    )
    k = gen.first_at_or_after(us)
    assert 0 <= k <= n
    assert k == n or gen.ts(k) >= us
    assert k == 0 or gen.ts(k - 1) < us


def test_a_small_source_is_enumerated_in_order() -> None:
    """Every comment exactly once, whichever hour bins they fall in."""
    gen = CommentGenerator(5, SOURCE_ID, 700, MAILBOX, ())
    stamps = [gen.ts(k) for k in range(700)]
    assert stamps == sorted(set(stamps))
    assert gen.first_at_or_after(START_US) == 0
    assert gen.first_at_or_after(START_US + SPAN_US) == 700
    hours = [START_US + i * HOUR_US for i in range(0, BINS + 1, 97)]
    ranges = [gen.first_at_or_after(us) for us in hours]
    assert ranges == sorted(ranges)


def test_weekdays_and_office_hours_are_busier() -> None:
    times = sample().times
    weekday = sum(1 for t in times if t.weekday() < 5)
    per_weekday, per_weekend_day = weekday / 5, (len(times) - weekday) / 2
    assert 2.5 < per_weekday / per_weekend_day < 4.5
    office = sum(1 for t in times if t.weekday() < 5 and 8 <= t.hour < 17)
    assert office / len(times) > 0.55
    night = sum(1 for t in times if t.hour < 6)
    assert night / len(times) < 0.05
    months = Counter(t.month for t in times)
    assert months[12] > 1.5 * months[8] and months[1] > 1.2 * months[5]


def test_each_incident_stands_out() -> None:
    data = sample()
    total = data.daily()
    for incident in vocab.INCIDENTS:
        start = date.fromisoformat(incident.start)
        window = [start + timedelta(days=d) for d in range(incident.days)]
        before = [start - timedelta(days=d) for d in range(1, 29)]
        label = data.daily(incident.label)
        baseline = max(sum(label[d] for d in before) / 28, 0.5)
        assert all(label[d] > 5 * baseline for d in window), incident.name
        volume = sum(total[d] for d in before) / 28
        assert sum(total[d] for d in window) / incident.days > 2 * volume, incident.name
        # Most of the incident's comments carry its label and talk about it.
        inside = [
            (c, f)
            for c, f, t in zip(data.comments, data.facts, data.times, strict=True)
            if t.date() in window
        ]
        about = [c for c, f in inside if f.labels[0] == incident.label]
        assert len(about) > 0.5 * len(inside)
        patterns = _patterns(incident.bodies)
        told = [c for c in about if patterns.search(c["messages"][0]["body"]["text"])]
        assert len(told) > 0.6 * len(about)


def test_a_few_senders_write_most_often() -> None:
    senders = Counter(c["messages"][0]["from"] for c in sample().comments)
    counts = sorted(senders.values(), reverse=True)
    assert counts[0] >= 25 and counts[0] / 5000 > 20 / len(senders)  # far above uniform
    assert sum(1 for c in counts if c <= 2) > 0.75 * len(counts)
    assert sum(counts[:10]) > 0.02 * 5000
    # A customer keeps their tier and region.
    by_sender: dict[str, set[tuple[str, str]]] = {}
    for c in sample().comments:
        props = c["user_properties"]
        by_sender.setdefault(c["messages"][0]["from"], set()).add(
            (props["string:Customer Tier"], props["string:Region"])
        )
    assert all(len(kinds) == 1 for kinds in by_sender.values())


def test_label_shares_drift_over_the_year() -> None:
    data = sample(0, 20_000)
    quarters = Counter((t.month - 1) // 3 for t in data.times)
    leading = Counter(
        ((t.month - 1) // 3, f.labels[0]) for t, f in zip(data.times, data.facts, strict=True)
    )

    def share(quarter: int, label: str) -> float:
        return leading[quarter, label] / quarters[quarter]

    (rising, _), (falling, _) = sorted(vocab.LABEL_DRIFT.items(), key=lambda kv: kv[1][0])
    assert share(3, rising) > 1.5 * share(0, rising)
    assert share(3, falling) < share(0, falling) / 1.5


def test_about_a_fifth_reviewed_more_at_first() -> None:
    data = sample()
    reviewed = [f.reviewed for f in data.facts]
    assert 0.15 < sum(reviewed) / len(reviewed) < 0.3
    q1 = [f.reviewed for f, t in zip(data.facts, data.times, strict=True) if t.month <= 3]
    q4 = [f.reviewed for f, t in zip(data.facts, data.times, strict=True) if t.month >= 10]
    assert sum(q1) / len(q1) > 1.5 * sum(q4) / len(q4)
    assert all(
        c["has_annotations"] == f.reviewed for c, f in zip(data.comments, data.facts, strict=True)
    )


def test_text_explains_the_labels() -> None:
    data = sample()
    incidents = {i.label: i for i in vocab.INCIDENTS}
    seconds = 0
    for comment, facts in zip(data.comments, data.facts, strict=True):
        message = comment["messages"][0]
        body, subject = message["body"]["text"], message["subject"]["text"]
        subjects, bodies = vocab.LABEL_TEXT[facts.labels[0]]
        if facts.labels[0] in incidents:  # an incident's own emails, or the usual ones
            subjects += incidents[facts.labels[0]].subjects
            bodies += incidents[facts.labels[0]].bodies
        assert _patterns(bodies).search(body), (facts, body)
        assert _patterns(subjects).search(subject), (facts, subject)
        if len(facts.labels) > 1 and facts.labels[1] != vocab.URGENT:
            assert _patterns(vocab.LABEL_TEXT[facts.labels[1]][1]).search(body), (facts, body)
            seconds += 1
        assert subject.startswith("URGENT: ") == (vocab.URGENT in facts.labels)
    assert seconds > 300


def test_threads_vary_in_length() -> None:
    data = sample()
    sizes = Counter(len(c["messages"]) for c in data.comments)
    assert sizes[1] > 0.8 * 5000 and sizes[2] and sizes[3] and sizes[4] and max(sizes) == 4
    for comment in data.comments:
        messages = comment["messages"]
        assert comment["timestamp"] == messages[-1]["sent_at"]
        sent = [m["sent_at"] for m in messages]
        assert sent == sorted(sent)
        customer = messages[0]["from"]
        for i, message in enumerate(messages):
            assert message["from"] == (MAILBOX if i % 2 else customer)


def test_entities_point_into_the_first_message() -> None:
    gen = sample().gen
    found = Counter[str]()
    for k in range(0, 5000, 7):
        comment, _, spans = gen.render(k)
        body = comment["messages"][0]["body"]["text"]
        assert all(body[s.start : s.end] == s.value for s in spans)
        found.update(s.kind for s in spans)
    assert found["order_number"] > 100 and found["monetary_quantity"] > 50


def test_predictions_mostly_agree() -> None:
    data = sample()
    gen = data.gen
    leaves = set(vocab.LABEL_TEXT) | {vocab.URGENT}
    agree = tp = fp = fn = 0
    for k, facts in enumerate(data.facts):
        predicted = gen.predictions(k, facts)
        probabilities = [p for _, p in predicted]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0 < p < 1 for p in probabilities)
        top_leaf = next(name for name, _ in predicted if name in vocab.LABEL_TEXT)
        agree += top_leaf == facts.labels[0]
        above = {name for name, p in predicted if p >= 0.5 and name in leaves}
        true = set(facts.labels)
        tp, fp, fn = tp + len(above & true), fp + len(above - true), fn + len(true - above)
        for name, p in predicted:  # a parent is at least as likely as each of its children
            if " > " in name:
                assert dict(predicted)[name.split(" > ")[0]] >= p
    assert 0.9 < agree / 5000 < 0.99
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert 0.88 < precision < 0.98 and 0.88 < recall < 0.98


def test_comments_validate_against_the_spec() -> None:
    spec = json.loads(
        (resources.files("reinfer_nb") / "spec" / "reinfer-v1.openapi-v3.1.json").read_text()
    )
    uri = "urn:reinfer:openapi-v3.1"
    registry = Registry().with_resource(uri, Resource.from_contents(spec, DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": uri + "#/components/schemas/Comment"}, registry=registry
    )
    data = sample()
    threads = [c for c in data.comments if len(c["messages"]) > 1][:200]
    for comment in data.comments[:300] + threads:
        validator.validate(comment)


def _patterns(templates: tuple[str, ...]) -> re.Pattern[str]:
    """A regex that finds any of ``templates`` with its slots filled in."""
    parts = [re.sub(r"\\\{\w+\\\}", ".+?", re.escape(t)) for t in templates]
    return re.compile("|".join(parts), re.IGNORECASE)
