"""Comment filters for dataset queries and streams.

The sandbox understands a subset of ``CommentFilter`` (``timestamp``, ``sources``,
``reviewed``, ``annotations.labels``) and of ``attribute_filters`` (``labels`` with
``string_any_of`` / ``string_none_of``). Anything else is refused by name rather than
silently ignored, so a query never returns wrong results. A label filter matches a
label and its children (``Billing`` matches ``Billing > Refund``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, NamedTuple

from .validate import Refusal, invalid, timestamp

__all__ = ["CommentFilter", "LabelView", "parse_attribute_filters", "parse_filter"]

_FILTER_KEYS = ("timestamp", "sources", "reviewed", "annotations")


class LabelView(NamedTuple):
    """A comment's labels in one dataset."""

    reviewed: bool
    assigned: tuple[str, ...]
    predicted: tuple[str, ...]  # predicted with probability >= 0.5


@dataclass(frozen=True)
class CommentFilter:
    """A parsed filter; ``None`` fields do not constrain."""

    min_us: int | None = None
    max_us: int | None = None
    sources: frozenset[str] | None = None
    reviewed: bool | None = None
    assigned_one_of: tuple[str, ...] | None = None
    assigned_not_one_of: tuple[str, ...] | None = None
    labels_any_of: tuple[str, ...] | None = None
    labels_none_of: tuple[str, ...] | None = None

    @property
    def needs_labels(self) -> bool:
        return (
            self.reviewed is not None
            or self.assigned_one_of is not None
            or self.assigned_not_one_of is not None
            or self.labels_any_of is not None
            or self.labels_none_of is not None
        )

    def keep(self, us: int, source_id: str, view: LabelView | None) -> bool:
        """Whether a comment passes; ``view`` may be None when :attr:`needs_labels` is false."""
        if self.min_us is not None and us < self.min_us:
            return False
        if self.max_us is not None and us > self.max_us:
            return False
        if self.sources is not None and source_id not in self.sources:
            return False
        if view is None:
            return True
        if self.reviewed is not None and view.reviewed != self.reviewed:
            return False
        if self.assigned_one_of is not None and not _any(self.assigned_one_of, view.assigned):
            return False
        if self.assigned_not_one_of is not None and _any(self.assigned_not_one_of, view.assigned):
            return False
        both = view.assigned + view.predicted
        if self.labels_any_of is not None and not _any(self.labels_any_of, both):
            return False
        return not (self.labels_none_of is not None and _any(self.labels_none_of, both))


def parse_filter(
    raw: Any, where: str, source_ids: Collection[str], label_names: Collection[str]
) -> CommentFilter:
    """A ``CommentFilter`` (the spec's schema already checked), checked against the dataset."""
    obj = raw
    unsupported = sorted(set(obj) - set(_FILTER_KEYS))
    if unsupported:
        raise Refusal(
            422,
            f"Invalid request: {where}.{unsupported[0]} is not supported by the "
            f"sandbox; it supports {', '.join(_FILTER_KEYS)}.",
        )
    fields: dict[str, Any] = {}
    if "timestamp" in obj:
        for key, field in (("minimum", "min_us"), ("maximum", "max_us")):
            if key in obj["timestamp"]:
                fields[field] = timestamp(obj["timestamp"][key], f"{where}.timestamp.{key}")
    sources = obj.get("sources")
    if sources is not None:
        unknown = [s for s in sources if s not in source_ids]
        if unknown:
            raise invalid(
                f"{where}.sources",
                f"names source id {unknown[0]!r}, which is not in "
                "this dataset; use ids from its source_ids",
            )
        fields["sources"] = frozenset(sources)
    if "reviewed" in obj:
        fields["reviewed"] = obj["reviewed"] == "only_reviewed"
    if "annotations" in obj:
        labels = obj["annotations"].get("labels", {})
        for key in ("one_of", "not_one_of"):
            names = labels.get(key)
            if names is not None:
                fields[f"assigned_{key}"] = _labels(
                    names, f"{where}.annotations.labels.{key}", label_names
                )
    return CommentFilter(**fields)


def parse_attribute_filters(
    raw: list[dict[str, Any]], base: CommentFilter, label_names: Collection[str]
) -> CommentFilter:
    """``base`` narrowed by ``attribute_filters`` (label filters only)."""
    fields: dict[str, Any] = {}
    for i, item in enumerate(raw):
        where = f"attribute_filters[{i}]"
        if item["attribute"] != "labels":
            raise Refusal(
                422,
                f"Invalid request: {where}.attribute {item['attribute']!r} is not "
                "supported by the sandbox; it supports 'labels'.",
            )
        spec = item["filter"]
        kind = spec["kind"]
        if kind == "string_any_of":
            fields["labels_any_of"] = _labels(spec["any_of"], f"{where}.filter.any_of", label_names)
        elif kind == "string_none_of":
            fields["labels_none_of"] = _labels(
                spec["none_of"], f"{where}.filter.none_of", label_names
            )
        else:
            raise Refusal(
                422,
                f"Invalid request: {where}.filter.kind {kind!r} is not supported "
                "by the sandbox; use 'string_any_of' or 'string_none_of'.",
            )
    return CommentFilter(**{**base.__dict__, **fields})


def _labels(names: list[str], where: str, label_names: Collection[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in label_names]
    if unknown:
        raise invalid(
            where,
            f"names label {unknown[0]!r}, which is not defined in this dataset "
            "(see its label_defs)",
        )
    return tuple(names)


def _any(wanted: tuple[str, ...], have: tuple[str, ...]) -> bool:
    return any(h == w or h.startswith(w + " > ") for w in wanted for h in have)
