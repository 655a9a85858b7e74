"""Comment filters: the spec's ``CommentFilter`` and ``attribute_filters``, evaluated.

Every key of ``CommentFilter`` is accepted, and an empty object (``"messages": {}``)
means no condition. Evaluated: ``timestamp``, ``sources``, ``reviewed``,
``annotations.labels``, ``user_properties`` (string ``one_of``/``not_one_of``, number
``one_of``/``not_one_of`` or ``minimum``/``maximum``, ``include_missing``), ``messages``
(``from``/``recipient``: addresses and domains; ``to``/``cc``/``bcc``: addresses).
``attribute_filters``: ``labels`` (any-of/none-of over assigned and predicted labels),
``entities`` (kinds any-of/none-of; ``assigned_predicted_present`` by entity def id) and
the ``attachment_property_*`` attributes. A non-empty condition the sandbox cannot
evaluate (thread properties, stream exceptions, entity presence rules, organisations,
label properties, string search) answers 422 naming it, rather than a wrong result.

A label condition matches the label and its children (``Billing`` matches
``Billing > Refund``); address conditions ignore case.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..data.store import DatasetState, LabelView, Ref, Store
from .annotations import entity_kinds_assigned
from .validate import Refusal, invalid, timestamp

__all__ = ["CommentFilter", "Subject", "parse_attribute_filters", "parse_filter"]

PREDICTED = 0.5  # a label or entity counts as predicted from this probability


class Subject:
    """One comment as filters see it; the costly parts are computed on first use."""

    def __init__(self, store: Store, dataset: DatasetState | None, ref: Ref) -> None:
        self.store = store
        self.dataset = dataset
        self.ref = ref

    @cached_property
    def rendered(self) -> tuple[dict[str, Any], Any, list[Any]]:
        return self.store.render(self.ref)

    @property
    def comment(self) -> dict[str, Any]:
        return self.rendered[0]

    @cached_property
    def view(self) -> LabelView:
        assert self.dataset is not None
        return self.store.view(self.dataset, self.ref)

    @cached_property
    def predicted(self) -> tuple[str, ...]:
        """Labels the dataset's model predicts (seeded datasets, generated comments)."""
        ref = self.ref
        if self.dataset is None or not self.dataset.generated or ref.k < 0:
            return ()
        gen = ref.source.gen
        return tuple(n for n, p in gen.predictions(ref.k, gen.facts(ref.k)) if p >= PREDICTED)

    @cached_property
    def entities(self) -> tuple[str, ...]:
        """Kinds of the entities assigned in the dataset."""
        assert self.dataset is not None
        return tuple(entity_kinds_assigned(self.store, self.dataset, self.ref))

    @cached_property
    def predicted_entities(self) -> tuple[str, ...]:
        if self.dataset is None or not self.dataset.generated or self.ref.k < 0:
            return ()
        return tuple(span.kind for span in self.rendered[2])


Test = Callable[[Subject], bool]


@dataclass(frozen=True)
class CommentFilter:
    """A parsed filter: cheap bounds, then tests on the comment (all must pass)."""

    min_us: int | None = None
    max_us: int | None = None
    sources: frozenset[str] | None = None
    tests: tuple[Test, ...] = field(default=())

    def keep(self, subject: Subject) -> bool:
        us = subject.store.timestamp_us(subject.ref)
        if self.min_us is not None and us < self.min_us:
            return False
        if self.max_us is not None and us > self.max_us:
            return False
        if self.sources is not None and subject.ref.source.id not in self.sources:
            return False
        return all(test(subject) for test in self.tests)

    def narrowed(self, tests: Iterable[Test]) -> CommentFilter:
        return CommentFilter(self.min_us, self.max_us, self.sources, (*self.tests, *tests))


def parse_filter(
    raw: dict[str, Any],
    where: str,
    source_ids: Collection[str],
    dataset: DatasetState | None,
) -> CommentFilter:
    """A ``CommentFilter`` (the spec's schema already checked), checked against the
    dataset (``None`` for a source: label conditions then need a dataset)."""
    label_names = _label_names(dataset)
    fields: dict[str, Any] = {}
    tests: list[Test] = []
    for key, value in raw.items():
        at = f"{where}.{key}"
        if not _conditions(value):
            continue  # an empty condition is no condition
        if key == "timestamp":
            for end, name in (("minimum", "min_us"), ("maximum", "max_us")):
                if end in value:
                    fields[name] = timestamp(value[end], f"{at}.{end}")
        elif key == "sources":
            unknown = [s for s in value if s not in source_ids]
            if unknown:
                raise invalid(
                    at,
                    f"names source id {unknown[0]!r}, which is not in this "
                    f"{'dataset' if dataset else 'source'}; use ids from its source_ids",
                )
            fields["sources"] = frozenset(value)
        elif key == "reviewed":
            _needs_dataset(dataset, at)
            tests.append(_reviewed if value == "only_reviewed" else _unreviewed)
        elif key == "annotations":
            _needs_dataset(dataset, at)
            labels = value.get("labels", {})
            for end in ("one_of", "not_one_of"):
                _check_labels(labels.get(end, []), f"{at}.labels.{end}", label_names)
            tests.append(_values(labels, lambda s: [n for n, _ in s.view.assigned], _label_match))
        elif key == "user_properties":
            tests += [_property(name, spec) for name, spec in value.items() if spec]
        elif key == "messages":
            tests += _messages(value, at)
        else:  # thread_properties, trigger_exceptions, entities (presence rules)
            raise _cannot(at)
    return CommentFilter(tests=tuple(tests), **fields)


def parse_attribute_filters(
    raw: list[dict[str, Any]], base: CommentFilter, dataset: DatasetState | None
) -> CommentFilter:
    """``base`` narrowed by ``attribute_filters``."""
    label_names = _label_names(dataset)
    entity_ids = {d["id"]: d["name"] for d in (dataset.meta["entity_defs"] if dataset else [])}
    tests: list[Test] = []
    for i, item in enumerate(raw):
        at = f"attribute_filters[{i}]"
        attribute, spec = item["attribute"], item["filter"]
        kind = spec["kind"]
        if attribute in ("labels", "entities"):
            _needs_dataset(dataset, at)
        if attribute == "labels" and kind in ("string_any_of", "string_none_of"):
            names = spec.get("any_of") or spec.get("none_of") or []
            _check_labels(names, f"{at}.filter", label_names)
            tests.append(_any_none(kind, names, _labels_and_predictions, _label_match))
        elif attribute == "entities" and kind in ("string_any_of", "string_none_of"):
            names = spec.get("any_of") or spec.get("none_of") or []
            tests.append(_any_none(kind, names, _entity_kinds, _equal))
        elif attribute == "entities" and kind == "assigned_predicted_present":
            tests.append(_presence(spec, entity_ids, f"{at}.filter"))
        elif attribute.startswith("attachment_property_") and kind != "string_search":
            tests.append(_attachments(attribute, spec))
        else:
            raise _cannot(f"{at} ({attribute} with {kind})")
    return base.narrowed(tests)


# -- building blocks ---------------------------------------------------------------------


def _conditions(value: Any) -> bool:
    """Whether a filter value says anything: ``{}``, ``[]`` and ``{"from": {}}`` do not."""
    if isinstance(value, dict):
        return any(_conditions(v) for v in value.values())
    if isinstance(value, list):
        return bool(value)
    return value is not None


def _cannot(at: str) -> Refusal:
    return Refusal(
        422,
        f"Invalid request: {at} is not supported by the sandbox (it cannot evaluate this "
        "condition); remove it, or run the query on a real tenant.",
    )


def _needs_dataset(dataset: DatasetState | None, at: str) -> None:
    if dataset is None:
        raise invalid(at, "is about annotations, which live in datasets; ask a dataset instead")


def _label_names(dataset: DatasetState | None) -> set[str]:
    return {d["name"] for d in dataset.meta["label_defs"]} if dataset else set()


def _check_labels(names: Iterable[str], at: str, label_names: Collection[str]) -> None:
    unknown = [n for n in names if n not in label_names]
    if unknown:
        raise invalid(
            at,
            f"names label {unknown[0]!r}, which is not defined in this dataset "
            "(see its label_defs)",
        )


def _reviewed(subject: Subject) -> bool:
    return subject.view.reviewed


def _unreviewed(subject: Subject) -> bool:
    return not subject.view.reviewed


def _label_match(wanted: str, have: str) -> bool:
    return have == wanted or have.startswith(wanted + " > ")


def _equal(wanted: str, have: str) -> bool:
    return have == wanted


def _address(wanted: str, have: str) -> bool:
    return have.casefold() == wanted.casefold()


def _domain(wanted: str, have: str) -> bool:
    return have.rpartition("@")[2].casefold() == wanted.casefold().lstrip("@")


def _values(
    spec: dict[str, Any],
    values: Callable[[Subject], list[Any]],
    match: Callable[[Any, Any], bool],
    one_of: str = "one_of",
    not_one_of: str = "not_one_of",
) -> Test:
    """``one_of`` (any value matches), ``not_one_of`` (none does), ``include_missing``
    (a comment without values passes ``one_of``)."""
    wanted, unwanted = spec.get(one_of) or [], spec.get(not_one_of) or []
    include_missing = spec.get("include_missing", False)

    def test(subject: Subject) -> bool:
        have = values(subject)
        if wanted and not any(match(w, h) for w in wanted for h in have):
            if not (include_missing and not have):
                return False
        return not any(match(u, h) for u in unwanted for h in have)

    return test


def _any_none(
    kind: str, names: list[str], values: Callable[[Subject], list[str]], match: Callable[..., bool]
) -> Test:
    if kind == "string_any_of":
        return _values({"one_of": names}, values, match)
    return _values({"not_one_of": names}, values, match)


def _property(name: str, spec: dict[str, Any]) -> Test:
    def values(subject: Subject) -> list[Any]:
        value = subject.comment.get("user_properties", {}).get(name)
        return [] if value is None else [value]

    if "minimum" in spec or "maximum" in spec:
        low, high = spec.get("minimum"), spec.get("maximum")

        def in_range(subject: Subject) -> bool:
            have = values(subject)
            return bool(have) and (low is None or have[0] >= low) and (
                high is None or have[0] <= high
            )

        return in_range
    return _values(spec, values, lambda wanted, have: have == wanted)


def _messages(spec: dict[str, Any], at: str) -> list[Test]:
    def field_values(*keys: str) -> Callable[[Subject], list[str]]:
        def values(subject: Subject) -> list[str]:
            out: list[str] = []
            for message in subject.comment.get("messages", []):
                for key in keys:
                    value = message.get(key)
                    if isinstance(value, str) and value:
                        out.append(value)
                    elif isinstance(value, list):
                        out += value
            return out

        return values

    tests: list[Test] = []
    for key, condition in spec.items():
        if not _conditions(condition):
            continue
        values = field_values("from") if key == "from" else (
            field_values("to", "cc", "bcc") if key == "recipient" else field_values(key)
        )
        for unsupported in ("organisation_one_of", "organisation_not_one_of"):
            if condition.get(unsupported):
                raise _cannot(f"{at}.{key}.{unsupported}")
        tests.append(_values(condition, values, _address))
        if condition.get("domain_one_of") or condition.get("domain_not_one_of"):
            tests.append(_values(condition, values, _domain, "domain_one_of", "domain_not_one_of"))
    return tests


def _labels_and_predictions(subject: Subject) -> list[str]:
    return [name for name, _ in subject.view.assigned] + list(subject.predicted)


def _entity_kinds(subject: Subject) -> list[str]:
    return list(subject.entities) + list(subject.predicted_entities)


def _presence(spec: dict[str, Any], entity_ids: dict[str, str], at: str) -> Test:
    """Entities by def id: any assigned, any predicted, none present (each if given)."""
    names = {}
    for key in ("any_assigned", "any_predicted", "none_present"):
        unknown = [i for i in spec[key] if i not in entity_ids]
        if unknown:
            raise invalid(
                f"{at}.{key}", f"names entity def id {unknown[0]!r}, not one of this dataset's"
            )
        names[key] = {entity_ids[i] for i in spec[key]}

    def test(subject: Subject) -> bool:
        assigned, predicted = set(subject.entities), set(subject.predicted_entities)
        if names["any_assigned"] and not names["any_assigned"] & assigned:
            return False
        if names["any_predicted"] and not names["any_predicted"] & predicted:
            return False
        return not names["none_present"] & (assigned | predicted)

    return test


def _attachments(attribute: str, spec: dict[str, Any]) -> Test:
    prop = attribute.removeprefix("attachment_property_")

    def values(subject: Subject) -> list[Any]:
        attachments = subject.comment.get("attachments", [])
        if prop == "num_attachments":
            return [len(attachments)]
        if prop == "num_attachments_with_contents":
            return [sum(1 for a in attachments if "content_hash" in a)]
        if prop == "num_attachments_without_contents":
            return [sum(1 for a in attachments if "content_hash" not in a)]
        if prop == "total_size":
            return [sum(a["size"] for a in attachments)]
        key = {"types": "content_type", "names": "name", "size": "size"}.get(prop)
        if key is not None:
            return [a[key] for a in attachments]
        return [a["name"].rpartition(".")[2].lower() for a in attachments if "." in a["name"]]

    def match(wanted: Any, have: Any) -> bool:
        if prop == "extensions":
            return bool(str(wanted).lower().lstrip(".") == have)
        return bool(wanted == have)

    if spec["kind"] == "number_range":
        low, high = spec.get("minimum"), spec.get("maximum")
        return lambda s: any(
            (low is None or v >= low) and (high is None or v <= high) for v in values(s)
        )
    return _any_none(spec["kind"], spec.get("any_of") or spec.get("none_of") or [], values, match)
