"""Analysis-ready comments: a dataset or a source as one tidy row per comment.

:meth:`Client.comments <reinfer_nb.client.Client.comments>` (and ``%reinfer_comments``)
runs three steps, kept apart so that each can be replaced (e.g. by parallel time slices or
Arrow decoding) without touching the others:

1. :func:`plan`: the options, checked, and what the tenant says about the dataset (its
   taxonomy, its sources' names) turned into one paged request (:class:`Plan`);
2. pulling: :meth:`Client.fetch_all <reinfer_nb.client.Client.fetch_all>` on that request,
   in pages of the largest size the endpoint accepts, giving
   :class:`~reinfer_nb.results.Pages`;
3. shaping: :func:`comments_frame` (records and :class:`Shape` to a DataFrame, with
   :data:`COLUMNS` in order and typed).

A dataset is read through the dataset query (``POST /api/_private/datasets/{owner}/
{dataset}/query``: labels and predictions come with each comment); a source through its
comments listing (``GET /api/_private/sources/{owner}/{source}/comments``).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd

from .errors import ConfigError, FetchInterrupted
from .labels import label_name, parent_labels

if TYPE_CHECKING:
    import pyarrow as pa

    from .client import Client
    from .results import Pages, Result
    from .saving import SavedPull

__all__ = [
    "COLUMNS",
    "PREDICTION_COLUMNS",
    "CommentsInterrupted",
    "Plan",
    "Shape",
    "collect_comments",
    "comments_frame",
    "fetch_comments",
    "fetch_label_probabilities",
    "parse_moment",
    "plan",
    "save_comments",
    "tidy_table",
]

log = logging.getLogger("reinfer_nb")

# The columns of a comments frame, in order; user properties go between ``n_messages``
# and ``labels``, and :data:`PREDICTION_COLUMNS` before ``entities`` with ``predictions``.
COLUMNS = (
    "id", "uid", "source", "thread_id", "timestamp", "subject", "from", "to", "cc", "body",
    "messages", "n_messages", "labels", "reviewed", "entities",
)
PREDICTION_COLUMNS = ("predicted", "top_label", "top_probability")
DEFAULT_THRESHOLD = 0.5
DEFAULT_PARALLEL = 4  # workers for a pull that can be cut in time slices

Threshold = float | Mapping[str, float]


class CommentsInterrupted(FetchInterrupted):
    """Ctrl-C stopped :meth:`Client.comments`: ``frame`` holds the comments fetched (and
    ``pages`` the raw pages). Still a ``KeyboardInterrupt``, so the cell stops."""

    def __init__(self, pages: Pages, frame: pd.DataFrame) -> None:
        super().__init__(pages)
        self.frame = frame


@dataclass(frozen=True)
class Shape:
    """What shaping needs besides the records: where they come from and how to read them."""

    kind: str  # "dataset" (query results) or "source" (comments)
    name: str  # owner/name of the dataset or source
    source_names: Mapping[str, str] = field(default_factory=dict)  # source id -> owner/name
    label_names: tuple[str, ...] = ()  # the dataset's taxonomy
    predictions: bool = False
    threshold: Threshold = DEFAULT_THRESHOLD


@dataclass(frozen=True)
class Plan:
    """One paged request for the comments wanted, and how to shape its records."""

    method: str
    path: str
    params: dict[str, Any]
    body: dict[str, Any] | None
    limit: int | None
    shape: Shape


# --------------------------------------------------------------------------- the call


def fetch_comments(client: Client, dataset: str | None = None, **options: Any) -> Any:
    """What :meth:`Client.comments <reinfer_nb.client.Client.comments>` does (see there)."""
    if options.get("save") is not None or options.get("resume"):
        return save_comments(client, dataset, **options)
    options.pop("save", None)
    options.pop("resume", None)
    return collect_comments(client, dataset, **options)[0]


def collect_comments(
    client: Client,
    dataset: str | None = None,
    *,
    raw: bool = False,
    progress: bool = False,
    parallel: int | None = DEFAULT_PARALLEL,
    **options: Any,
) -> tuple[Any, Pages]:
    """The comments frame (or with ``raw`` the JSON pages) and the pages it came from,
    whose ``error`` says whether a failure stopped the pull after some pages.
    ``options`` as for :func:`plan`."""
    the_plan = plan(client, dataset, **options)
    pages = pull(client, the_plan, progress=progress, parallel=parallel)
    return (pages.data if raw else comments_frame(pages, the_plan.shape)), pages


def save_comments(
    client: Client,
    dataset: str | None = None,
    *,
    save: str | os.PathLike[str] | None = None,
    resume: bool = False,
    raw: bool = False,
    progress: bool = False,
    parallel: int | None = DEFAULT_PARALLEL,
    **options: Any,
) -> SavedPull:
    """The comments saved to Parquet as tidy rows (the columns of :func:`tidy_frame`),
    batch by batch, resumable (see :mod:`reinfer_nb.saving`); a ``limit`` is not taken."""
    from .answers import decode_answer
    from .paging import with_page_size
    from .saving import save_pull

    if raw:
        raise ConfigError("--raw and --save do not go together: drop one of them.")
    if options.get("limit") is not None:
        raise ConfigError("--save saves every comment: drop --limit (or drop --save).")
    the_plan = plan(client, dataset, **options)
    shape = the_plan.shape
    params, body = with_page_size(the_plan.method, the_plan.path, the_plan.params,
                                  the_plan.body, None)  # the largest pages, as fetch_all
    return save_pull(
        client, the_plan.method, the_plan.path, params=params, json=body,
        limit=None, max_pages=None, progress=progress, parallel=_parallel(the_plan, parallel),
        save=save, resume=resume,
        # The tidy frame holds Python lists (messages, labels...): its pages are read as
        # JSON and each batch is shaped into tidy columns, then written.
        decode=decode_answer, table=lambda results: tidy_table(results, shape),
        time_field="timestamp",
    )


def _parallel(the_plan: Plan, parallel: int | None) -> int:
    """The workers for ``the_plan``: ``parallel`` if its call can be cut in time slices,
    else 1 (sequential). A pull of a page or two stays in one slice anyway."""
    from .slices import axis_of

    if parallel is None or parallel <= 1:
        return 1
    try:
        axis_of(the_plan.method, the_plan.path, the_plan.params, the_plan.body)
    except ConfigError:  # e.g. --search orders by relevance, not time
        return 1
    return parallel


def fetch_label_probabilities(
    client: Client,
    dataset: str,
    *,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """What :meth:`Client.label_probabilities <reinfer_nb.client.Client.label_probabilities>`
    does (see there)."""
    from .frames import pages_attrs
    from .labels import probability_matrix

    the_plan = plan(client, dataset, predictions=True, **options)
    pages = pull(client, the_plan, progress=progress)
    frame = probability_matrix(pages.records, the_plan.shape.label_names)
    frame.attrs.update(pages_attrs(pages))
    frame.attrs.update(dataset=the_plan.shape.name, label_names=the_plan.shape.label_names)
    return frame


def pull(
    client: Client, the_plan: Plan, *, progress: bool = False,
    parallel: int | None = DEFAULT_PARALLEL,
) -> Pages:
    """Every page of ``the_plan`` (pulling only), in ``parallel`` time slices when the
    call allows (see :func:`_parallel`). Raises the error when no page came; a failure
    after some pages is kept in ``Pages.error``. Ctrl-C raises
    :class:`CommentsInterrupted` with the comments fetched.

    The pages are read as JSON, not into Arrow: the tidy frame holds Python lists
    (messages, labels...), which Arrow would have to give back as Python objects anyway.
    """
    try:
        pages = client.fetch_all(
            the_plan.method, the_plan.path, params=the_plan.params, json=the_plan.body,
            limit=the_plan.limit, progress=progress, columnar=False,
            parallel=_parallel(the_plan, parallel),
        )
    except FetchInterrupted as stop:
        raise CommentsInterrupted(stop.pages, comments_frame(stop.pages, the_plan.shape)) from None
    if pages.error is not None:
        if not pages.results:
            raise pages.error.cause  # nothing fetched, nothing to keep: the API's own error
        log.warning("%s; the %d comments before it are kept (attrs['complete'] is False)",
                    pages.error.message, pages.rows)
    return pages


# --------------------------------------------------------------------------- the plan


def plan(
    client: Client,
    dataset: str | None = None,
    *,
    source: str | None = None,
    from_: str | date | None = None,
    to: str | date | None = None,
    reviewed_only: bool = False,
    predictions: bool = False,
    label: str | Iterable[str] | None = None,
    property: str | Iterable[str] | Mapping[str, Any] | None = None,  # noqa: A002
    search: str | None = None,
    limit: int | None = None,
    threshold: Threshold = DEFAULT_THRESHOLD,
) -> Plan:
    """Check the options and turn them into one paged request.

    For a dataset this reads the dataset (its taxonomy and sources) and the sources list
    (their names); bad options raise :class:`ConfigError` before any comment is fetched.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit must be a whole number of at least 1, not {limit!r}.")
    low = parse_moment(from_, "--from", end_of_day=False)
    high = parse_moment(to, "--to", end_of_day=True)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"--from ({low}) is after --to ({high}): swap them.")
    labels = _names(label, "--label")
    properties = _property_filter(property)
    _check_threshold(threshold)
    if search is not None and not (isinstance(search, str) and search.strip()):
        raise ConfigError("--search needs some text to search for.")
    if dataset is None:
        if source is None:
            raise ConfigError(
                "Name a dataset (%reinfer_comments OWNER/DATASET) or a source "
                "(%reinfer_comments --source OWNER/SOURCE)."
            )
        needs_dataset = [
            option for option, given in (
                ("--label", labels), ("--property", properties), ("--search", search),
                ("--reviewed-only", reviewed_only), ("--predictions", predictions),
            ) if given
        ]
        if needs_dataset:
            raise ConfigError(
                f"{needs_dataset[0]} needs a dataset: a source's comments carry no labels and "
                "the source listing takes no filters. Give the dataset that reads the source, "
                "e.g. %reinfer_comments OWNER/DATASET --source OWNER/SOURCE."
            )
        return _source_plan(_full_name(source, "--source"), low, high, limit)
    owner, name = _full_name(dataset, "the dataset").split("/")
    info = client.get(f"/api/v1/datasets/{_seg(owner)}/{_seg(name)}").data.get("dataset") or {}
    label_names = tuple(
        label_name(d["name"]) for d in info.get("label_defs") or () if isinstance(d, dict)
    )
    source_names = _source_names(client)
    _check_labels(labels, label_names, f"{owner}/{name}")
    flt: dict[str, Any] = {}
    if low is not None or high is not None:
        flt["timestamp"] = {
            key: value for key, value in (("minimum", low), ("maximum", high)) if value
        }
    if reviewed_only:
        flt["reviewed"] = "only_reviewed"
    if properties:
        flt["user_properties"] = properties
    if source is not None:
        flt["sources"] = [_source_id(source, source_names, info, f"{owner}/{name}")]
    body: dict[str, Any] = {
        "order": {"kind": "text_search", "query": search.strip()} if search else {"kind": "recent"}
    }
    if flt:
        body["filter"] = flt
    if labels:
        body["attribute_filters"] = [
            {"attribute": "labels", "filter": {"kind": "string_any_of", "any_of": labels}}
        ]
    shape = Shape(
        "dataset", f"{owner}/{name}", source_names, label_names, predictions, threshold
    )
    path = f"/api/_private/datasets/{_seg(owner)}/{_seg(name)}/query"
    return Plan("POST", path, {}, body, limit, shape)


def _source_plan(full: str, low: str | None, high: str | None, limit: int | None) -> Plan:
    owner, name = full.split("/")
    params = {
        key: value for key, value in (("from_timestamp", low), ("to_timestamp", high)) if value
    }
    path = f"/api/_private/sources/{_seg(owner)}/{_seg(name)}/comments"
    return Plan("GET", path, params, None, limit, Shape("source", full))


def _seg(text: str) -> str:
    return quote(text, safe="")


def _full_name(text: Any, what: str) -> str:
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise ConfigError(f"{what} must be OWNER/NAME (e.g. prod/support-triage), not {text!r}.")
    return "/".join(part.strip() for part in parts)


def _source_names(client: Client) -> dict[str, str]:
    """Source id -> owner/name, for every source this user can see."""
    sources = client.get("/api/v1/sources").data.get("sources") or ()
    return {
        s["id"]: f"{s['owner']}/{s['name']}" for s in sources
        if isinstance(s, dict) and {"id", "owner", "name"} <= s.keys()
    }


def _source_id(
    source: str, names: Mapping[str, str], dataset: Mapping[str, Any], where: str
) -> str:
    full = _full_name(source, "--source")
    ids = [sid for sid, name in names.items() if name == full]
    if not ids:
        raise ConfigError(f"--source {full}: no such source (or not visible to you).")
    if ids[0] not in (dataset.get("source_ids") or ()):
        read = ", ".join(names.get(s, s) for s in dataset.get("source_ids") or ()) or "none"
        raise ConfigError(f"--source {full} is not read by {where}; it reads: {read}.")
    return ids[0]


def _names(value: str | Iterable[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError(f"{what} takes label names (text), not {value!r}.")
    return [" > ".join(part.strip() for part in item.split(">")) for item in items]


def _check_labels(labels: Sequence[str], known: Sequence[str], where: str) -> None:
    for wanted in labels:
        if known and wanted not in known:
            close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.5)
            ends = [name for name in known if name.rsplit(" > ", 1)[-1] == wanted]
            hint = ends[0] if ends else (close[0] if close else None)
            raise ConfigError(
                f"--label {wanted!r} is not a label of {where}"
                + (f": did you mean {hint!r}?" if hint else f"; its labels: {', '.join(known)}.")
            )


def _property_filter(value: Any) -> dict[str, Any]:
    """``NAME=VALUE`` items (or a mapping) as the API's ``user_properties`` filter.

    A name without ``string:``/``number:`` is a number property when every value given
    for it is a number, else a string property. Several values of one name: any of them.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = [
            (str(name), item) for name, given in value.items()
            for item in (given if isinstance(given, (list, tuple, set)) else [given])
        ]
    else:
        pairs = []
        for item in [value] if isinstance(value, str) else list(value):
            name, sep, text = item.partition("=") if isinstance(item, str) else ("", "", "")
            if not sep or not name.strip():
                raise ConfigError(
                    f"--property takes NAME=VALUE (e.g. Region=EMEA or number:NPS=9), "
                    f"not {item!r}."
                )
            pairs.append((name.strip(), text.strip()))
    grouped: dict[str, list[Any]] = {}
    for name, item in pairs:
        grouped.setdefault(name, []).append(item)
    out: dict[str, Any] = {}
    for name, items in grouped.items():
        if name.startswith("number:") or (
            not name.startswith("string:") and all(_number(v) is not None for v in items)
        ):
            numbers = [_number(v) for v in items]
            if any(n is None for n in numbers):
                raise ConfigError(f"--property {name}: every value must be a number.")
            key = name if name.startswith("number:") else f"number:{name}"
            out[key] = {"one_of": numbers}
        else:
            key = name if name.startswith("string:") else f"string:{name}"
            out[key] = {"one_of": [str(v) for v in items]}
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _check_threshold(threshold: Any) -> None:
    values = threshold.values() if isinstance(threshold, Mapping) else [threshold]
    if not all(_number(v) is not None and 0 <= float(v) <= 1 for v in values):
        raise ConfigError(f"--threshold must be a probability from 0 to 1, not {threshold!r}.")


def parse_moment(value: str | date | None, what: str, *, end_of_day: bool) -> str | None:
    """An ISO date or date-time (or a ``date``/``datetime``) as an RFC 3339 UTC timestamp.

    A date alone means its start, or its end for an upper bound (``end_of_day``), so that
    ``--to 2024-03-31`` includes March 31. A time without an offset is UTC.
    """
    if value is None:
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.max if end_of_day else time.min)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime.combine(day, time.max if end_of_day else time.min)
            else:
                moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ConfigError(
                f"{what} {value!r} is not an ISO date or date-time: write e.g. 2024-03-01 or "
                "2024-03-01T09:00:00Z."
            ) from None
    else:
        raise ConfigError(f"{what} takes an ISO date or date-time, not {value!r}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- shaping


def comments_frame(pages: Pages, shape: Shape) -> pd.DataFrame:
    """The comments of ``pages`` as a tidy frame, with the ``attrs`` of every frame
    (raw pages, url, timing, ``complete``, ``has_more``) plus ``label_names`` (the
    dataset's taxonomy), ``dataset`` or ``source``."""
    from .frames import pages_attrs, paused_gc

    with paused_gc():
        frame = tidy_frame(pages.records, shape)
    frame.attrs.update(pages_attrs(pages))
    frame.attrs.update({shape.kind: shape.name, "label_names": shape.label_names})
    return frame


def tidy_table(results: Sequence[Result], shape: Shape) -> pa.Table:
    """A batch of pages as tidy rows in Arrow (for Parquet): :func:`tidy_frame` of their
    records, timestamps in microseconds."""
    from .saving import frame_table

    records = [record for result in results for record in result.records]
    return frame_table(tidy_frame(records, shape))


def tidy_frame(records: Sequence[Any], shape: Shape) -> pd.DataFrame:
    """Records (query results or comments) as one row per comment (see :data:`COLUMNS`)."""
    n = len(records)
    cols: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    if shape.predictions:
        cols.update({name: [] for name in PREDICTION_COLUMNS})
    props: dict[str, list[Any]] = {}
    from_dataset = shape.kind == "dataset"
    names = shape.source_names
    parents = parent_labels(shape.label_names)
    known = frozenset(shape.label_names)
    threshold = shape.threshold
    fixed = threshold if not isinstance(threshold, Mapping) else None
    ids, uids, sources, threads = cols["id"], cols["uid"], cols["source"], cols["thread_id"]
    stamps, subjects, senders, tos, ccs = (
        cols["timestamp"], cols["subject"], cols["from"], cols["to"], cols["cc"]
    )
    bodies, messages, counts = cols["body"], cols["messages"], cols["n_messages"]
    labels, reviewed, entities = cols["labels"], cols["reviewed"], cols["entities"]
    for i, record in enumerate(records):
        comment = record.get("comment", {}) if from_dataset else record
        ids.append(comment.get("id"))
        uids.append(comment.get("uid"))
        source_id = comment.get("source_id")
        sources.append(names.get(source_id, source_id) if from_dataset else shape.name)
        threads.append(comment.get("thread_id"))
        stamps.append(comment.get("timestamp"))
        thread = comment.get("messages") or []
        messages.append(thread)
        counts.append(len(thread))
        first = thread[0] if thread and isinstance(thread[0], dict) else {}
        subjects.append(_text(first.get("subject")))
        senders.append(first.get("from"))
        tos.append(first.get("to") or [])
        ccs.append(first.get("cc") or [])
        bodies.append(_text(first.get("body")))
        for key, value in (comment.get("user_properties") or {}).items():
            column = props.get(key)
            if column is None:
                column = props[key] = [None] * n
            column[i] = value
        if not from_dataset:
            labels.append([])
            reviewed.append(bool(comment.get("has_annotations", False)))
            entities.append([])
            if shape.predictions:
                cols["predicted"].append([])
                cols["top_label"].append(None)
                cols["top_probability"].append(math.nan)
            continue
        assigned: list[str] = []
        predicted: list[tuple[str, float]] = []
        was_reviewed = False
        for group in record.get("labelling") or ():
            for item in group.get("assigned") or ():
                assigned.append(label_name(item.get("name")))
            if group.get("assigned") or group.get("dismissed") or group.get("uninformative"):
                was_reviewed = True
            for item in group.get("predicted") or ():
                predicted.append((label_name(item.get("name")), item.get("probability") or 0.0))
        labels.append(assigned)
        reviewed.append(was_reviewed)
        entities.append(_entities(record.get("entities")))
        if shape.predictions:
            above = [
                name for name, p in predicted
                if p >= (fixed if fixed is not None else _threshold_of(threshold, name))
            ]
            top_name, top_p = None, math.nan
            for name, p in predicted:
                # The top label is a leaf: a parent scores with (above) its children.
                if name in parents or (name not in known and _has_child(name, predicted)):
                    continue
                if top_name is None or p > top_p:
                    top_name, top_p = name, p
            cols["predicted"].append(above)
            cols["top_label"].append(top_name)
            cols["top_probability"].append(top_p)
    return _assemble(cols, props, n)


def _assemble(cols: dict[str, list[Any]], props: dict[str, list[Any]], n: int) -> pd.DataFrame:
    """The columns in order, typed."""
    data: dict[str, Any] = {}
    index = pd.RangeIndex(n)
    bare = [key.partition(":")[2] or key for key in props]
    for name in COLUMNS[: COLUMNS.index("n_messages") + 1]:
        data[name] = _series(name, cols[name], index)
    for key, name in zip(props, bare, strict=True):
        # Named without the prefix, unless that name is taken (a fixed column, or the
        # same name as a string and as a number property).
        taken = name in COLUMNS or name in PREDICTION_COLUMNS or bare.count(name) > 1
        label = key if taken else name
        values = props[key]
        if key.startswith("number:"):
            data[label] = pd.to_numeric(pd.Series(values, index=index, dtype=object),
                                        errors="coerce").astype("float64")
        else:
            data[label] = pd.Series(values, index=index)
    for name in ("labels", "reviewed", *(c for c in PREDICTION_COLUMNS if c in cols), "entities"):
        data[name] = _series(name, cols[name], index)
    return pd.DataFrame(data, index=index)


_LISTS = frozenset({"to", "cc", "messages", "labels", "predicted", "entities"})


def _series(name: str, values: list[Any], index: pd.RangeIndex) -> pd.Series:
    if name == "timestamp":
        return pd.Series(
            pd.to_datetime(values, utc=True, format="ISO8601"), index=index
        ).astype("datetime64[ns, UTC]")
    if name in _LISTS:
        return pd.Series(values, index=index, dtype=object)
    if name == "n_messages":
        return pd.Series(values, index=index, dtype="int64")
    if name == "reviewed":
        return pd.Series(values, index=index, dtype="bool")
    if name == "top_probability":
        return pd.Series(values, index=index, dtype="float64")
    return pd.Series(values, index=index)


def _text(part: Any) -> str | None:
    return part.get("text") if isinstance(part, dict) else None


def _threshold_of(threshold: Threshold, name: str) -> float:
    if isinstance(threshold, Mapping):
        return float(threshold.get(name, DEFAULT_THRESHOLD))
    return float(threshold)


def _has_child(name: str, predicted: list[tuple[str, float]]) -> bool:
    prefix = name + " > "
    return any(other.startswith(prefix) for other, _ in predicted)


def _entities(found: Any) -> list[dict[str, Any]]:
    """Assigned and predicted entities, each once, without the dismissed ones."""
    if not isinstance(found, dict):
        return []
    dismissed = {
        (e.get("kind"), e.get("formatted_value")) for e in found.get("dismissed") or ()
    }
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, Any]] = set()
    for kind in ("assigned", "predicted"):
        for entity in found.get(kind) or ():
            key = (entity.get("kind"), entity.get("formatted_value"))
            if key in seen or key in dismissed:
                continue
            seen.add(key)
            out.append(
                {"kind": key[0], "name": entity.get("name"), "formatted_value": key[1]}
            )
    return out
