"""Labels that know their hierarchy: counts, label matrices, probability matrices.

A label's full name joins its path with ``" > "``: ``Billing > Refund`` is a child of
``Billing``; its level is how many parts it has (``Billing`` is level 1). A comments frame
(:meth:`Client.comments <reinfer_nb.client.Client.comments>`) keeps the dataset's taxonomy
in ``df.attrs["label_names"]``; without it the labels found in the frame are used.

>>> df = client.comments("prod/support-triage", predictions=True)   # doctest: +SKIP
>>> label_counts(df, column="predicted").head(3)                   # doctest: +SKIP
>>> label_counts(df, level=1)                                      # doctest: +SKIP
>>> to_label_matrix(df, "predicted", level=1).mean()               # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError

__all__ = [
    "at_level",
    "label_counts",
    "label_name",
    "most_specific",
    "parent_labels",
    "probability_matrix",
    "to_label_matrix",
]

SEP = " > "


def label_name(raw: Any) -> str:
    """A label's full name from the API (a string, or a list of its parts)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (list, tuple)):
        return SEP.join(str(part) for part in raw)
    return str(raw)


def parent_labels(names: Iterable[str]) -> frozenset[str]:
    """Every label above another one in ``names`` (``Billing`` for ``Billing > Refund``)."""
    parents: set[str] = set()
    for name in names:
        parts = name.split(SEP)
        for depth in range(1, len(parts)):
            parents.add(SEP.join(parts[:depth]))
    return frozenset(parents)


def at_level(name: str, level: int) -> str:
    """``name`` cut to its first ``level`` parts (``at_level("A > B > C", 2) == "A > B"``)."""
    return SEP.join(name.split(SEP)[:level])


def most_specific(names: Sequence[str]) -> list[str]:
    """The labels of ``names`` without a child in ``names``, each once, in order."""
    above = parent_labels(names)
    out: list[str] = []
    for name in names:
        if name not in above and name not in out:
            out.append(name)
    return out


def label_counts(
    df: pd.DataFrame, level: int | None = None, *, column: str = "labels"
) -> pd.Series:
    """Comments per label, most common first (a Series named ``comments``).

    ``column`` holds each comment's list of labels: ``labels`` (assigned, the default) or
    ``predicted``. By default the most specific labels count: a parent counts only the
    comments that carry it without any of its children, so a prediction of
    ``Billing > Refund`` (and, implied, ``Billing``) counts once, for ``Billing > Refund``.
    ``level=1`` counts top-level labels, ``level=2`` the second level, and so on: the most
    specific labels cut to that level, so a parent counts every comment under it, each
    comment once per label.
    """
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level < 1):
        raise ConfigError(f"level must be a whole number of at least 1 (or None), not {level!r}.")
    counts: Counter[str] = Counter()
    for labels in _label_lists(df, column):
        specific = most_specific(labels)
        if level is None:
            counts.update(specific)
        else:
            counts.update({at_level(name, level) for name in specific})
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    series = pd.Series(
        [count for _, count in ordered], index=pd.Index([n for n, _ in ordered], name="label"),
        name="comments", dtype="int64",
    )
    return series


def to_label_matrix(
    df: pd.DataFrame, column: str = "labels", *, level: int | None = None
) -> pd.DataFrame:
    """One column per label of the taxonomy, 1 where a comment has the label, else 0.

    Rows are ``df``'s (same index), so ``to_label_matrix(df).groupby(...)`` works with
    ``df``'s columns, and ``.mean()`` gives each label's share. A child implies its
    parent (``Billing`` is 1 for a comment labelled ``Billing > Refund``). ``column`` as in
    :func:`label_counts`; ``level`` keeps the labels of that level and above.
    """
    lists = _label_lists(df, column)
    taxonomy = list(df.attrs.get("label_names") or ())
    seen = sorted({name for labels in lists for name in labels} - set(taxonomy))
    names = [*taxonomy, *seen]
    if level is not None:
        names = list(dict.fromkeys(at_level(name, level) for name in names))
    else:  # parents implied by children, even when the taxonomy does not list them
        names = [*names, *sorted(parent_labels(names) - set(names))]
    position = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(lists), len(names)), dtype="uint8")
    for i, labels in enumerate(lists):
        for name in labels:
            parts = name.split(SEP)
            top = len(parts) if level is None else min(level, len(parts))
            for depth in range(1, top + 1):
                j = position.get(SEP.join(parts[:depth]))
                if j is not None:
                    matrix[i, j] = 1
    return pd.DataFrame(matrix, index=df.index, columns=pd.Index(names, name="label"))


def probability_matrix(
    records: Sequence[Any], label_names: Sequence[str] = ()
) -> pd.DataFrame:
    """Dataset query results as one row per comment (index ``uid``) and one column per
    label (the taxonomy, then any other label predicted): the predicted probability, 0.0
    where the model gave none."""
    names = list(label_names)
    position = {name: j for j, name in enumerate(names)}
    rows: list[dict[int, float]] = []
    uids: list[Any] = []
    for record in records:
        uids.append((record.get("comment") or {}).get("uid"))
        row: dict[int, float] = {}
        for group in record.get("labelling") or ():
            for item in group.get("predicted") or ():
                name = label_name(item.get("name"))
                j = position.get(name)
                if j is None:
                    j = position[name] = len(names)
                    names.append(name)
                row[j] = float(item.get("probability") or 0.0)
        rows.append(row)
    matrix = np.zeros((len(rows), len(names)), dtype="float64")
    for i, row in enumerate(rows):
        for j, p in row.items():
            matrix[i, j] = p
    return pd.DataFrame(
        matrix, index=pd.Index(uids, name="uid"), columns=pd.Index(names, name="label")
    )


def _label_lists(df: pd.DataFrame, column: str) -> list[list[str]]:
    if column not in df.columns:
        hint = (
            " (pass predictions=True, or --predictions, to get predicted labels)"
            if column == "predicted" else ""
        )
        raise ConfigError(f"The frame has no {column!r} column of label lists{hint}.")
    return [
        [label_name(name) for name in value] if isinstance(value, (list, tuple)) else []
        for value in df[column]
    ]
