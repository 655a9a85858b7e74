"""%reinfer_comments and Client.comments at scale: parallel time slices by default, tidy
rows streamed to Parquet, resumed after a failure (the machinery of issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reinfer_nb.client import Client
from reinfer_nb.errors import PaginationError
from reinfer_nb.saving import SavedPull
from tests.support.shell import login

DATASET = "dev/support-triage"


@pytest.fixture(scope="module")
def big(make_sandbox: Any) -> Any:
    """A sandbox of its own: 8,000 comments, so that the dataset takes several pages."""
    return make_sandbox(comments=8000, seed=21)


@pytest.fixture
def api(big: Any) -> Iterator[Client]:
    big.clear_faults()
    with Client(big.url, big.token, backoff=0.01, timeout=10) as client:
        yield client
    big.clear_faults()


@pytest.mark.parametrize("options", [{"predictions": True}, {"source": "dev/support-emails"}])
def test_parallel_comments_are_the_sequential_frame(api: Client, options: dict[str, Any]) -> None:
    sequential = api.comments(DATASET, parallel=1, **options)
    parallel = api.comments(DATASET, **options)  # four workers by default
    assert len(sequential) > 2000
    pd.testing.assert_frame_equal(parallel, sequential)


def test_a_source_alone_in_parallel(api: Client) -> None:
    sequential = api.comments(source="dev/returns-emails", parallel=1)
    parallel = api.comments(source="dev/returns-emails", parallel=3)
    pd.testing.assert_frame_equal(parallel, sequential)


def test_search_and_small_pulls_stay_sequential(api: Client) -> None:
    from reinfer_nb.comments import _parallel, plan

    api.timing_log.clear()
    api.comments(DATASET, limit=300)
    assert len(api.timing_log) == 1 + 2  # the dataset, the sources, one page of comments
    by_relevance = plan(api, DATASET, search="refund")  # ordered by relevance, not time
    assert _parallel(by_relevance, 4) == 1
    assert _parallel(plan(api, DATASET), 4) == 4


def test_comments_saved_to_parquet_are_the_tidy_rows(api: Client, tmp_path: Path) -> None:
    frame = api.comments(DATASET, predictions=True)
    saved = api.comments(DATASET, predictions=True, save=tmp_path / "tidy")
    assert isinstance(saved, SavedPull) and saved.complete and saved.rows == len(frame)
    back = saved.read()
    assert list(back.columns) == list(frame.columns)
    assert back["uid"].tolist() == frame["uid"].tolist()
    assert back["timestamp"].tolist() == frame["timestamp"].tolist()
    for column in ("subject", "from", "top_label", "reviewed", "n_messages"):
        assert back[column].tolist() == frame[column].tolist(), column
    assert [list(v) for v in back["labels"]] == frame["labels"].tolist()
    assert saved.duckdb().query(
        "c", "SELECT count(DISTINCT uid) FROM c"
    ).fetchall() == [(len(frame),)]


def test_magic_comments_save_fails_then_resumes(ip: Any, big: Any, tmp_path: Path) -> None:
    login(ip, big)
    ip.run_line_magic("config", "ReinferMagics.retries = 0")
    target = tmp_path / "comments"
    big.inject("error", path="/query$", status=503, skip=8, times=1000)
    result = ip.run_cell(f"%reinfer_comments {DATASET} --save {target} -o pull")
    assert isinstance(result.error_in_exec, PaginationError)
    stopped = ip.user_ns["pull"]
    assert isinstance(stopped, SavedPull) and not stopped.complete and stopped.rows > 0
    big.clear_faults()
    result = ip.run_cell(f"%reinfer_comments {DATASET} --save {target} --resume -o pull")
    assert result.error_in_exec is None
    summary = result.result
    assert bool(summary.loc[0, "complete"]) and summary.loc[0, "fetched_pages"] > 0
    with Client(big.url, big.token) as client:
        expected = client.comments(DATASET, parallel=1)["uid"].tolist()
    assert ip.user_ns["pull"].read()["uid"].tolist() == expected
    ip.run_line_magic("config", "ReinferMagics.retries = 3")
