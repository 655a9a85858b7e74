"""Comparing the frames of the Arrow path and the JSON path (see reinfer_nb.columnar)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def plain(value: Any) -> Any:
    """A cell as plain Python: missing values (None, NaN, NA) as None, numbers as floats
    where equal, and keys holding None dropped from objects (Arrow cannot tell a missing
    key inside a list's objects from one holding null; the module docstring says so)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist())
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value) if float(value) == value else value
    return value


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns in the same order, same length, the same value in every cell."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for name in expected.columns:
        left = [plain(v) for v in got[name].tolist()]
        right = [plain(v) for v in expected[name].tolist()]
        assert left == right, name
