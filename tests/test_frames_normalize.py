"""records_frame builds the frame column by column: it must equal pandas.json_normalize's.

(Speed is measured in benchmarks/bench_bulk.py, never asserted here.)
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reinfer_nb.frames import paused_gc, records_frame, typed_columns


def same_as_json_normalize(records: list[dict[str, Any]]) -> None:
    expected = pd.json_normalize(records, sep=".")
    got = records_frame(records)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got.columns) == list(expected.columns)
    assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    # Typed while still lists: the frame typed_columns makes of json_normalize's.
    typed = records_frame(records, typed=True)
    pd.testing.assert_frame_equal(typed, typed_columns(expected.copy()), check_exact=True)


@pytest.mark.parametrize(
    "records",
    [
        [{"id": "a", "n": 1, "ok": True, "x": 1.5, "none": None}],
        # nested objects, ragged records, column order by first appearance
        [{"id": "a", "m": {"f": "en", "v": 3}}, {"id": "b", "extra": 1, "m": {"v": 1, "g": 2}}],
        # a key that is an object in one record and a value (or missing) in another
        [{"m": {"a": 1}}, {"m": None}, {"m": 5}, {}],
        # ints with a gap become floats; bools with a gap stay objects
        [{"n": 1, "b": True}, {"x": 0}, {"n": 3, "b": False}],
        # lists (of lists, of objects) stay objects, not extra dimensions
        [{"l": [1, 2]}, {"l": [3, 4]}],
        [{"l": [[1], [2]], "o": [{"a": 1}]}, {"l": [], "o": []}],
        # empty objects give no column; deep nesting; collisions between names
        [{"e": {}, "d": {"a": {"b": {"c": 1}}}}],
        [{"a.b": 1, "a": {"b": 2}}, {"a": {"b": 3}, "a.b": 4}],
        [{"": {"": 1, "x": {"": 2}}, "y": {"": 3}}],
        # mixed types in a column
        [{"v": 1}, {"v": "one"}, {"v": 1.5}, {"v": None}, {"v": [1]}],
        # only empty records
        [{}, {}],
        # timestamps (with gaps, offsets), dates alone, out of range, not quite
        [{"t": "2024-01-31T09:30:00Z", "d": "2024-01-31", "f": "9999-12-31T00:00:00Z"},
         {"t": None, "d": None, "f": None}, {"t": "2024-02-01T10:00:00.5+01:00"}],
        [{"t": "2024-01-31T09:30:00Z"}, {"t": "2024-13-01T00:00:00Z"}],
    ],
)
def test_same_frame_as_json_normalize(records: list[dict[str, Any]]) -> None:
    same_as_json_normalize(records)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5)
    | st.sampled_from(["2024-01-31T09:30:00Z", "2024-02-01T10:00:00.123456+01:00",
                       "9999-12-31T00:00:00Z", "2024-01-31", "2024-13-01T00:00:00Z"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "a.b", ""]), inner, max_size=3),
    max_leaves=8,
)
records_strategy = st.lists(
    st.dictionaries(st.sampled_from(["id", "a", "b", "m", "a.b", "n"]), json_values, max_size=4),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(records_strategy)
def test_same_frame_as_json_normalize_for_any_json(records: list[dict[str, Any]]) -> None:
    same_as_json_normalize(records)


def test_paused_gc_restores_the_collector_and_nests() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
    with pytest.raises(KeyError), paused_gc():
        raise KeyError("x")
    assert gc.isenabled()


def test_paused_gc_from_several_threads() -> None:
    barrier = threading.Barrier(4)

    def work() -> None:
        for _ in range(200):
            with paused_gc():
                barrier.wait() if _ == 0 else None
                records_frame([{"a": {"b": 1}}])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()
