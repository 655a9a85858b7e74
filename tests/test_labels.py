"""label_counts and to_label_matrix on hand-made frames with a known hierarchy."""

from __future__ import annotations

import pandas as pd
import pytest

from reinfer_nb.errors import ConfigError
from reinfer_nb.labels import (
    at_level,
    label_counts,
    most_specific,
    parent_labels,
    probability_matrix,
    to_label_matrix,
)

TAXONOMY = ("Billing", "Billing > Refund", "Billing > Invoice", "Delivery",
            "Delivery > Late", "Delivery > Late > Christmas", "Other")


def frame(column: str = "labels") -> pd.DataFrame:
    df = pd.DataFrame({
        column: [
            ["Billing > Refund"],
            ["Billing", "Billing > Refund"],            # a parent implied by its child
            ["Billing"],                                # a parent alone
            ["Other"],
            ["Billing > Invoice", "Billing > Refund"],  # two children of one parent
            ["Delivery > Late > Christmas"],
            [],
            ["Delivery", "Delivery > Late", "Delivery > Late > Christmas", "Other"],
        ],
    }, index=pd.Index(list("abcdefgh"), name="id"))
    df.attrs["label_names"] = TAXONOMY
    return df


def test_leaf_labels_by_default() -> None:
    counts = label_counts(frame())
    assert counts.to_dict() == {
        "Billing > Refund": 3,
        "Delivery > Late > Christmas": 2,
        "Other": 2,
        "Billing": 1,            # only the comment labelled Billing without a child
        "Billing > Invoice": 1,
    }
    assert counts.name == "comments" and counts.index.name == "label"
    assert counts.index[0] == "Billing > Refund"  # the most common label, honestly
    assert list(counts) == sorted(counts, reverse=True)


def test_a_level_counts_every_comment_under_a_label_once() -> None:
    assert label_counts(frame(), level=1).to_dict() == {"Billing": 4, "Delivery": 2, "Other": 2}
    assert label_counts(frame(), level=2).to_dict() == {
        "Billing > Refund": 3, "Delivery > Late": 2, "Other": 2, "Billing": 1,
        "Billing > Invoice": 1,
    }
    assert label_counts(frame(), level=3)["Delivery > Late > Christmas"] == 2


def test_another_column_and_bad_input() -> None:
    assert label_counts(frame("predicted"), column="predicted")["Billing > Refund"] == 3
    with pytest.raises(ConfigError, match="no 'predicted' column"):
        label_counts(frame(), column="predicted")
    with pytest.raises(ConfigError, match="level must be"):
        label_counts(frame(), level=0)
    assert label_counts(frame().iloc[:0]).empty


def test_label_matrix_one_column_per_label_of_the_taxonomy() -> None:
    df = frame()
    matrix = to_label_matrix(df)
    assert list(matrix.columns) == list(TAXONOMY)
    assert list(matrix.index) == list(df.index) and matrix.dtypes.eq("uint8").all()
    assert matrix.loc["a"].to_dict() == {
        "Billing": 1, "Billing > Refund": 1, "Billing > Invoice": 0, "Delivery": 0,
        "Delivery > Late": 0, "Delivery > Late > Christmas": 0, "Other": 0,
    }
    # A child implies its parents.
    assert matrix.loc["f", ["Delivery", "Delivery > Late", "Delivery > Late > Christmas"]].all()
    assert matrix.loc["g"].sum() == 0
    assert matrix["Billing"].sum() == label_counts(df, level=1)["Billing"]


def test_label_matrix_at_a_level_gives_shares() -> None:
    df = frame()
    top = to_label_matrix(df, level=1)
    assert list(top.columns) == ["Billing", "Delivery", "Other"]
    assert top.mean().round(3).to_dict() == {"Billing": 0.5, "Delivery": 0.25, "Other": 0.25}
    # Rows are df's: grouping by df's own columns works.
    df["week"] = [1, 1, 1, 1, 2, 2, 2, 2]
    assert top.groupby(df["week"]).mean().loc[1, "Billing"] == 0.75


def test_label_matrix_without_a_taxonomy_uses_the_labels_seen() -> None:
    df = pd.DataFrame({"labels": [["X > Y"], ["Z"]]})
    matrix = to_label_matrix(df)
    assert list(matrix.columns) == ["X > Y", "Z", "X"]
    assert matrix.to_numpy().tolist() == [[1, 0, 1], [0, 1, 0]]


def test_probability_matrix() -> None:
    records = [
        {"comment": {"uid": "s.1"}, "labelling": [{"predicted": [
            {"name": ["Billing", "Refund"], "probability": 0.8},
            {"name": "Billing", "probability": 0.81},
            {"name": "New", "probability": 0.1},
        ]}]},
        {"comment": {"uid": "s.2"}, "labelling": [{"assigned": []}]},
    ]
    matrix = probability_matrix(records, ["Billing", "Billing > Refund", "Other"])
    assert list(matrix.columns) == ["Billing", "Billing > Refund", "Other", "New"]
    assert list(matrix.index) == ["s.1", "s.2"] and matrix.index.name == "uid"
    assert matrix.loc["s.1"].tolist() == [0.81, 0.8, 0.0, 0.1]
    assert matrix.loc["s.2"].sum() == 0.0


def test_helpers() -> None:
    assert parent_labels(["A > B > C", "D"]) == {"A", "A > B"}
    assert at_level("A > B > C", 2) == "A > B" and at_level("A", 3) == "A"
    assert most_specific(["A", "A > B", "C", "A > B"]) == ["A > B", "C"]
