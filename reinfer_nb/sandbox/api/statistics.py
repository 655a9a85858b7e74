"""Handlers for numbers about many comments: source and dataset statistics, the dataset
summary, and a model's validation of one label.

Every number is computed from the sandbox's comments and annotations, the same ones the
listing and the query return (a label counts for itself and its parents, as in filters).
Each answer is one pass over the comments (a source's count without conditions is
arithmetic), cached until the next write.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..data.paging import count, iterate, since
from ..data.sample import format_ts
from ..data.store import DatasetState
from .access import Answer, Call
from .filters import CommentFilter, Subject, parse_attribute_filters, parse_filter
from .validate import Refusal

__all__ = ["dataset_statistics", "dataset_summary", "label_validation", "source_statistics"]

MAX_VALUES = 100  # distinct values of a user property a summary lists
GRID = [round(i / 100, 2) for i in range(101)]  # thresholds of a precision/recall curve


def source_statistics(call: Call, owner: str, source_name: str) -> Answer:
    source = call.source(owner, source_name, "sources-read")
    body = call.body()
    flt = parse_filter(body.get("comment_filter", {}), "comment_filter", [source.id], None)
    with call.store.lock:
        if not flt.tests and flt.sources is None:
            total = count([source], flt.min_us, flt.max_us)
        else:
            total = call.store.memo(
                ("source-statistics", source.id, _canonical(body)),
                lambda: sum(1 for _ in _scan(call, None, [source], flt)),
            )
    return {"statistics": {"num_comments": total}}


def dataset_statistics(call: Call, owner: str, dataset_name: str) -> Answer:
    dataset = call.dataset(owner, dataset_name, "voc-readonly")
    body = call.body()
    for key in ("email_property_counts", "thread_histogram", "nps_property"):
        if body.get(key):
            raise _cannot(key)
    if body.get("thread_mode") or body.get("by_label_properties"):
        raise _cannot("thread_mode" if body.get("thread_mode") else "by_label_properties")
    flt = _dataset_filter(dataset, body, "comment_filter")
    zone, zone_name = _zone(body.get("timezone") or dataset.meta.get("_timezone", "UTC"))
    with call.store.lock:
        statistics = call.store.memo(
            ("dataset-statistics", dataset.meta["id"], _canonical(body)),
            lambda: _statistics(call, dataset, body, flt, zone, zone_name),
        )
    return {"statistics": statistics}


def dataset_summary(call: Call, owner: str, dataset_name: str) -> Answer:
    dataset = call.dataset(owner, dataset_name, "voc-readonly")
    body = call.body()
    if body.get("thread_mode"):
        raise _cannot("thread_mode")
    flt = _dataset_filter(dataset, body, "filter")
    with call.store.lock:
        summary = call.store.memo(
            ("dataset-summary", dataset.meta["id"], _canonical(body)),
            lambda: _summary(call, dataset, flt),
        )
    return {"summary": summary}


def label_validation(call: Call, owner: str, dataset_name: str, model_version: str) -> Answer:
    """Precision and recall of the dataset's model for one label, from its predictions on
    the reviewed comments (deterministic: the same data gives the same curve)."""
    dataset = call.dataset(owner, dataset_name, "voc-readonly")
    body = call.body()
    if "moon" in body:
        raise _cannot("moon")
    if not dataset.generated or model_version not in ("1", "latest"):
        raise Refusal(
            404,
            f"Model version '{model_version}' not found in dataset '{dataset.full_name}'; "
            "the sandbox's seeded datasets have a model, version 1 (new datasets have none).",
        )
    label = body["label"]
    if label not in {d["name"] for d in dataset.meta["label_defs"]}:
        raise Refusal(404, f"Label '{label}' not found in dataset '{dataset.full_name}'.")
    with call.store.lock:
        metrics = call.store.memo(
            ("label-validation", dataset.meta["id"], label),
            lambda: _validation(call, dataset, label),
        )
    return {"label_validation": metrics}


# -- one pass over the comments ----------------------------------------------------------------


def _dataset_filter(dataset: DatasetState, body: dict[str, Any], key: str) -> CommentFilter:
    flt = parse_filter(body.get(key, {}), key, dataset.meta["source_ids"], dataset)
    if body.get("attribute_filters"):
        flt = parse_attribute_filters(body["attribute_filters"], flt, dataset)
    return flt


def _scan(
    call: Call, dataset: DatasetState | None, sources: list[Any], flt: CommentFilter
) -> Iterator[Subject]:
    """The comments passing ``flt``, oldest first."""
    after = since(flt.min_us) if flt.min_us is not None else None
    for ref in iterate(sources, after=after):
        if flt.max_us is not None and ref.us > flt.max_us:
            return
        subject = Subject(call.store, dataset, ref)
        if flt.keep(subject):
            yield subject


def _statistics(
    call: Call,
    dataset: DatasetState,
    body: dict[str, Any],
    flt: CommentFilter,
    zone: tzinfo,
    zone_name: str,
) -> dict[str, Any]:
    labels = _by_labels(dataset, body)
    resolution = body.get("time_resolution", "day")
    per_source = body.get("source_counts")
    per_property = body.get("string_user_property_counts", [])
    total, first, last = 0, None, None
    label_counts = {name: [0, 0] for name in labels}
    series: dict[str, list[Any]] = {}
    sources: dict[str, list[Any]] = {}
    properties: list[dict[str, list[Any]]] = [{} for _ in per_property]
    for subject in _scan(call, dataset, call.store.dataset_sources(dataset), flt):
        us = call.store.timestamp_us(subject.ref)
        total += 1
        first = us if first is None else first
        last = us
        hits = _label_hits(subject, labels)
        for name, sentiment in hits:
            label_counts[name][sentiment] += 1
        if body.get("label_timeseries"):
            row = series.setdefault(_bucket(us, resolution, zone), [0, 0, 0, [0] * len(labels)])
            row[0] += 1
            row[1] += any(s == 0 for _, s in hits)
            row[2] += any(s == 1 for _, s in hits)
            for name, _ in hits:
                row[3][labels.index(name)] += 1
        if per_source is not None:
            _tally(sources, subject.ref.source.id, hits, labels)
        for settings, table in zip(per_property, properties, strict=True):
            value = subject.comment["user_properties"].get(settings["group_by"])
            if value is not None:
                _tally(table, str(value), hits, labels)
    statistics: dict[str, Any] = {
        "thread_mode": False,
        "by_labels": labels,
        "by_label_properties": [],
        "num_comments": total,
        "min_timestamp": None if first is None else format_ts(first),
        "max_timestamp": None if last is None else format_ts(last),
        "label_counts": {n: {"positive": p, "negative": m} for n, (p, m) in label_counts.items()},
        "string_user_property_counts": [
            _counts(table, labels, settings) for settings, table in zip(per_property, properties,
                                                                       strict=True)
        ],
        "email_property_counts": {},
        "thread_histogram_counts": {},
        "timezone": zone_name,
    }
    if body.get("label_timeseries"):
        statistics["label_timeseries"] = [
            {
                "timestamp_str": bucket,
                "expected_count_any": row[0],
                "expected_count_positive": row[1],
                "expected_count_negative": row[2],
                "label_sentiment_counts": row[3],
            }
            for bucket, row in sorted(series.items())
        ]
    if per_source is not None:
        statistics["source_counts"] = _counts(sources, labels, per_source)
    if body.get("label_property_timeseries"):
        statistics["label_property_summary"] = {"labels": [], "timeseries": [], "totals": []}
    return statistics


def _summary(call: Call, dataset: DatasetState, flt: CommentFilter) -> dict[str, Any]:
    names = [d["name"] for d in dataset.meta["label_defs"]]
    unfiltered = {name: [0, 0] for name in names}
    filtered = {name: [0, 0] for name in names}
    entities: Counter[str] = Counter()
    strings: dict[str, Counter[str]] = {}
    numbers: set[str] = set()
    everything = CommentFilter()
    sources = call.store.dataset_sources(dataset)
    for subject in _scan(call, dataset, sources, everything):
        hits = _label_hits(subject, names)
        for name, sentiment in hits:
            unfiltered[name][sentiment] += 1
        entities.update(subject.entities)
        if not flt.keep(subject):
            continue
        for name, sentiment in hits:
            filtered[name][sentiment] += 1
        for key, value in subject.comment["user_properties"].items():
            if key.startswith("string:"):
                strings.setdefault(key, Counter())[value] += 1
            else:
                numbers.add(key)
    by_name = {d["name"]: d for d in dataset.meta["label_defs"]}
    return {
        "user_properties": {
            "string": [
                {
                    "full_name": key,
                    "too_many_values": len(values) > MAX_VALUES,
                    "values": [{"value": v} for v, _ in values.most_common(MAX_VALUES)],
                }
                for key, values in sorted(strings.items())
            ],
            "number": [{"full_name": key} for key in sorted(numbers)],
        },
        "label_properties": [],
        "source_kinds": sorted({s.meta["_kind"] for s in sources}),
        "source_names": [s.meta["name"] for s in sources],
        "annotation_metadata": {},
        "labels": [
            {
                "name": name,
                "title": by_name[name].get("title", name),
                "unfiltered_assigned": _sentiments(unfiltered[name]),
                "filtered": _sentiments(filtered[name]),
            }
            for name in names
        ],
        "entity_defs": [
            {"id": d["id"], "unfiltered_assigned": entities[d["name"]]}
            for d in dataset.meta["entity_defs"]
        ],
        "attachments_common_types_extensions": {},
        "attachments_file_extensions": {},
    }


def _validation(call: Call, dataset: DatasetState, label: str) -> dict[str, Any]:
    scored: list[tuple[float, bool]] = []  # (predicted probability, assigned)
    for subject in _scan(call, dataset, call.store.dataset_sources(dataset), CommentFilter()):
        if not subject.view.reviewed:
            continue
        truth = any(_matches(label, name) for name, _ in subject.view.assigned)
        probability = 0.0
        ref = subject.ref
        if ref.k >= 0:
            gen = ref.source.gen
            probability = dict(gen.predictions(ref.k, gen.facts(ref.k))).get(label, 0.0)
        scored.append((probability, truth))
    positives = sum(1 for _, truth in scored if truth)
    precisions, recalls = [], []
    for threshold in GRID:
        chosen = [truth for p, truth in scored if p >= threshold]
        hits = sum(chosen)
        precisions.append(round(hits / len(chosen), 6) if chosen else 1.0)
        recalls.append(round(hits / positives, 6) if positives else 0.0)
    errors = sum(1 for p, truth in scored if (p >= 0.5) != truth)
    return {
        "average_precision": _average_precision(scored, positives),
        "train_size": len(scored),
        "test_size": len(scored),
        "reviewed_size": len(scored),
        "recalls": recalls,
        "test_error_count": errors,
        "test_expected_count": positives,
        "precisions": precisions,
        "thresholds": GRID,
        "optimal_thresholds": _optimal(precisions, recalls) if positives else None,
        "health": {"smart": None},
    }


# -- helpers -------------------------------------------------------------------------------


def _matches(wanted: str, have: str) -> bool:
    return have == wanted or have.startswith(wanted + " > ")


def _label_hits(subject: Subject, labels: list[str]) -> list[tuple[str, int]]:
    """(label, 0 for positive or 1 for negative) for each counted label the comment has."""
    view = subject.view
    hits = []
    for name in labels:
        for have, sentiment in view.assigned:
            if _matches(name, have):
                hits.append((name, 0 if sentiment == "positive" else 1))
                break
    return hits


def _by_labels(dataset: DatasetState, body: dict[str, Any]) -> list[str]:
    names = [d["name"] for d in dataset.meta["label_defs"]]
    if body.get("label_filter"):
        names = [n for n in names if n in body["label_filter"]]
    by = body.get("by_labels")
    if by and "include" in by:
        wanted = by["include"]["include_labels"]
        return [n for n in names if n in wanted]
    if by and "top" in by:
        excluded = set(by["top"]["exclude_labels"])
        return [n for n in names if n not in excluded][: by["top"]["num_top_labels"]]
    return names


def _tally(table: dict[str, list[Any]], value: str, hits: list[tuple[str, int]],
           labels: list[str]) -> None:
    row = table.setdefault(value, [0, [0] * len(labels)])
    row[0] += 1
    for name, _ in hits:
        row[1][labels.index(name)] += 1


def _counts(
    table: dict[str, list[Any]], labels: list[str], settings: dict[str, Any]
) -> dict[str, Any]:
    values = [v for v in sorted(table, key=lambda v: (-table[v][0], v))
              if not settings.get("values") or v in settings["values"]]
    values = values[: settings.get("limit", len(values))]
    return {
        "settings": settings,
        "values": values,
        "labels": labels,
        "num_comments": [table[v][0] for v in values],
        "num_labels": [table[v][1] for v in values],
    }


def _bucket(us: int, resolution: str, zone: tzinfo) -> str:
    day = datetime.fromtimestamp(us / 1_000_000, zone).date()
    if resolution == "week":
        day -= timedelta(days=day.weekday())
    elif resolution == "month":
        day = day.replace(day=1)
    elif resolution == "year":
        day = day.replace(month=1, day=1)
    return day.isoformat()


def _zone(name: str) -> tuple[tzinfo, str]:
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc, "UTC"


def _sentiments(pair: list[int]) -> dict[str, int]:
    return {"positive": pair[0], "negative": pair[1]}


def _average_precision(scored: list[tuple[float, bool]], positives: int) -> float | None:
    if not positives:
        return None
    hits, total = 0, 0.0
    for rank, (_, truth) in enumerate(sorted(scored, key=lambda s: -s[0]), start=1):
        if truth:
            hits += 1
            total += hits / rank
    return round(total / positives, 6)


def _optimal(precisions: list[float], recalls: list[float]) -> dict[str, float]:
    f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precisions, recalls, strict=True)]
    precise = [t for t, p in zip(GRID, precisions, strict=True) if p >= 0.95]
    recalled = [t for t, r in zip(GRID, recalls, strict=True) if r >= 0.95]
    return {
        "high_precision": precise[0] if precise else GRID[-1],
        "balanced": GRID[max(range(len(GRID)), key=lambda i: f1[i])],
        "high_recall": recalled[-1] if recalled else GRID[0],
    }


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _cannot(key: str) -> Refusal:
    return Refusal(
        422,
        f"Invalid request: {key} is not supported by the sandbox (it cannot compute it); "
        "remove it, or ask a real tenant.",
    )
