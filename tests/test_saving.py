"""Pulls streamed to Parquet (reinfer_nb.saving): read back by pandas and DuckDB with the
same rows; a pull interrupted by the sandbox going away, resumed to the exact rows; an
unwritable path or a full disk gives a clear error and leaves the manifest consistent.
(Memory and resume costs at a million comments are in benchmarks/bench_bulk.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

import reinfer_nb
from reinfer_nb import saving
from reinfer_nb.client import Client
from reinfer_nb.frames import pages_to_frame
from reinfer_nb.saving import Manifest, SavedPull, SaveError
from tests.support.shell import login

COMMENTS = "/api/_private/sources/dev/support-emails/comments"
QUERY_PATH = "/api/_private/datasets/dev/support-triage/query"
ROOT = Path(__file__).resolve().parent.parent


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame with its timestamps as text again, for comparing with the frame in memory."""
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].map(lambda t: None if pd.isna(t) else t.isoformat())
    return out


def assert_manifest_consistent(target: Path) -> Manifest:
    """The manifest parses, lists only files that exist, and its counts add up."""
    manifest = Manifest.load(saving._manifest_path(target))
    saved = SavedPull(target, manifest)
    for path in saved.files:
        assert path.exists(), path
    listed = {p.resolve() for p in saved.files}
    root = target if manifest.layout == "dataset" else saving._parts_dir(target)
    if root.exists() and not manifest.complete:
        extra = {p.resolve() for p in root.rglob("*.parquet")} - listed
        assert not extra  # a file outside the manifest would be a duplicate in waiting
    if manifest.complete:  # compacted: one file per month (or the one file), one schema
        assert sum(f["rows"] for f in manifest.files) == sum(s["rows"] for s in manifest.slices)
        folders = [f["path"].rpartition("/")[0] for f in manifest.files]
        assert len(set(folders)) == len(folders)
        schemas = {str(pq.read_schema(path)) for path in saved.files}
        assert len(schemas) == 1
    else:
        for state in manifest.slices:
            rows = sum(f["rows"] for f in manifest.files if f["slice"] == state["index"])
            assert state["rows"] == rows
    return manifest


@pytest.mark.parametrize(("name", "parallel"), [("comments", 3), ("comments.parquet", None)])
def test_saved_rows_read_back_by_pandas_and_duckdb(
    client: Any, tmp_path: Path, name: str, parallel: int | None
) -> None:
    memory = pages_to_frame(client.fetch_all("GET", COMMENTS, params={"limit": 100}))
    saved = client.fetch_all("GET", COMMENTS, params={"limit": 100}, parallel=parallel,
                             save=tmp_path / name)
    assert isinstance(saved, SavedPull) and saved.complete and saved.error is None
    assert saved.rows == len(memory) and saved.bytes > 0
    assert saved.first is not None and saved.last is not None and saved.first < saved.last
    back = saved.read()
    assert isinstance(back["timestamp"].dtype, pd.DatetimeTZDtype)
    assert list(back.columns) == list(memory.columns)
    assert back["id"].tolist() == memory["id"].tolist()
    expected = memory.drop(columns=["timestamp", "created_at", "last_modified"])
    got = back.drop(columns=["timestamp", "created_at", "last_modified"])
    for column in ["id", "uid", "user_properties.string:Priority", "has_annotations"]:
        assert got[column].tolist() == expected[column].tolist()
    assert got["messages"].tolist() == expected["messages"].tolist()
    assert [pd.Timestamp(t) for t in memory["timestamp"]] == back["timestamp"].tolist()
    relation = reinfer_nb.duck(tmp_path / name)
    assert relation.aggregate("count(*)").fetchall() == [(len(memory),)]
    in_duck = duckdb.sql("SELECT id FROM relation").fetchall()
    assert sorted(row[0] for row in in_duck) == sorted(memory["id"])
    assert saved.duckdb().aggregate("count(DISTINCT id)").fetchall() == [(len(memory),)]
    summary = saved.summary()
    assert summary.loc[0, "rows"] == len(memory) and bool(summary.loc[0, "complete"])
    assert_manifest_consistent(tmp_path / name)


def test_a_dataset_is_partitioned_by_month(client: Any, tmp_path: Path) -> None:
    body = {"order": {"kind": "recent"}, "limit": 128}
    saved = client.fetch_all("POST", QUERY_PATH, json=body, parallel=2, save=tmp_path / "q")
    months = sorted(p.name for p in (tmp_path / "q").iterdir() if p.is_dir())
    assert months[0].startswith("month=2024-") and len(months) >= 6
    by_month = saved.duckdb().query(
        "comments",
        "SELECT month, count(*) AS n, min(\"comment.timestamp\") AS first FROM comments "
        "GROUP BY month ORDER BY month",
    ).fetchall()
    assert sum(n for _, n, _ in by_month) == saved.rows
    assert all(first.astimezone(timezone.utc).strftime("%Y-%m") == month
               for month, _, first in by_month)
    memory = pages_to_frame(client.fetch_all("POST", QUERY_PATH, json=body))
    assert saved.read()["comment.id"].tolist() == memory["comment.id"].tolist()


def test_an_existing_pull_needs_resume_and_the_same_request(client: Any, tmp_path: Path) -> None:
    target = tmp_path / "c"
    client.fetch_all("GET", COMMENTS, params={"limit": 200}, save=target)
    with pytest.raises(SaveError, match="already holds a pull .complete.: add --resume"):
        client.fetch_all("GET", COMMENTS, params={"limit": 200}, save=target)
    with pytest.raises(SaveError, match="another request"):
        client.fetch_all("GET", COMMENTS, params={"limit": 100}, save=target, resume=True)
    again = client.fetch_all("GET", COMMENTS, params={"limit": 200}, save=target, resume=True)
    assert again.complete and again.fetched_pages == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SaveError, match="not a pull saved by reinfer_nb"):
        client.fetch_all("GET", COMMENTS, save=tmp_path / "other")


def test_an_unwritable_path_fails_before_any_call(client: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    client.timing_log.clear()
    with pytest.raises(SaveError, match=r"Cannot write to .*a-file.*Choose another --save path"):
        client.fetch_all("GET", COMMENTS, save=blocker / "comments")
    assert len(client.timing_log) == 0
    with pytest.raises(SaveError, match="Cannot write"):
        client.fetch_all("GET", COMMENTS, save=blocker / "comments.parquet")
    assert blocker.read_text() == "not a directory"


def test_an_interrupted_pull_resumes_to_the_exact_rows(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saving, "BATCH_ROWS", 150)  # files written early and often
    sandbox = make_sandbox(comments=20000, seed=5, server_ms=15)
    port, token = sandbox.port, sandbox.token
    target = tmp_path / "pull"
    with Client(sandbox.url, token, timeout=5) as c:
        expected = pages_to_frame(c.fetch_all("GET", COMMENTS, params={"limit": 50}))["id"]
    outcome: dict[str, Any] = {}

    def run() -> None:
        with Client(sandbox.url, token, retries=1, backoff=0.02, timeout=5) as c:
            outcome["saved"] = c.fetch_all("GET", COMMENTS, params={"limit": 50}, parallel=3,
                                           save=target)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until about a third is on disk
        path = target / "_manifest.json"
        if path.exists() and SavedPull(target, Manifest.load(path)).rows >= len(expected) // 3:
            break
        time.sleep(0.02)
    sandbox.stop()  # the platform goes away mid-pull
    worker.join(120)
    stopped = outcome["saved"]
    assert not stopped.complete and stopped.error is not None
    assert 0 < stopped.rows < len(expected)
    manifest = assert_manifest_consistent(target)
    missing_pages = sum(1 for s in manifest.slices if not s["done"])
    assert missing_pages > 0

    again = make_sandbox(comments=20000, seed=5, server_ms=15, port=port, token=token)
    with Client(again.url, token, timeout=5) as c:
        resumed = c.fetch_all("GET", COMMENTS, params={"limit": 50}, parallel=3, save=target,
                              resume=True)
    assert resumed.complete and resumed.error is None
    back = resumed.read()["id"]
    assert back.tolist() == expected.tolist()  # every row once, in order
    assert resumed.fetched_pages < len(expected) / 50  # only what was missing
    assert_manifest_consistent(target)


_FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from reinfer_nb import saving
    from reinfer_nb.client import Client
    url, target, limit, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    saving.BATCH_ROWS = batch
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # too large a file: an error, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        Client(url, sys.stdin.read().strip()).fetch_all(
            "GET", "COMMENTS", params={"limit": 100}, save=target)
    except saving.SaveError as err:
        print("SaveError:", err)
        sys.exit(3)
""").replace("COMMENTS", COMMENTS)


@pytest.mark.parametrize(
    ("name", "limit", "batch"),
    [
        ("comments", 4_000, 2000),  # no data file fits: the first write fails
        ("comments.parquet", 40_000, 100),  # the batches fit; the final file does not
    ],
)
def test_a_full_disk_gives_a_clear_error_and_a_consistent_manifest(
    sb: Any, client: Any, tmp_path: Path, name: str, limit: int, batch: int
) -> None:
    """The disk fills up (a file-size limit on the writing process: the OS refuses the
    write as a full disk would); the same pull with --resume, once there is room,
    completes with the exact rows."""
    target = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, sb.url, str(target), str(limit), str(batch)],
        input=sb.token, capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    message = done.stdout.strip()
    assert message.startswith("SaveError: Cannot write") and "File too large" in message
    assert "--resume" in message and sb.token not in message
    manifest = assert_manifest_consistent(target)
    assert not manifest.complete
    expected = pages_to_frame(client.fetch_all("GET", COMMENTS, params={"limit": 100}))["id"]
    resumed = client.fetch_all("GET", COMMENTS, params={"limit": 100}, save=target,
                               resume=True)
    assert resumed.complete
    assert resumed.read()["id"].tolist() == expected.tolist()
    json.loads(saving._manifest_path(target).read_text())  # still plain JSON


def test_magic_save_shows_a_summary_and_stores_a_handle(ip: Any, sb: Any, tmp_path: Path) -> None:
    login(ip, sb)
    target = tmp_path / "m"
    shown = ip.run_cell_magic("reinfer_get", f"--save {target} --parallel 2 -o pull",
                              f"{COMMENTS}\nlimit: 100")
    handle = ip.user_ns["pull"]
    assert isinstance(handle, SavedPull) and handle.complete
    assert list(shown.columns)[:4] == ["path", "rows", "files", "bytes"]
    assert shown.loc[0, "rows"] == handle.rows == len(handle.read())
    again = ip.run_cell_magic("reinfer_get", f"--save {target} --parallel 2 --resume -o pull",
                              f"{COMMENTS}\nlimit: 100")
    assert again.loc[0, "fetched_pages"] == 0
    with pytest.raises(SaveError, match="--resume"):
        ip.run_cell_magic("reinfer_get", f"--save {target}", f"{COMMENTS}\nlimit: 100")


def test_split_slices_are_saved_in_order_and_recorded(
    busy_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices split by idle workers go into the manifest next to the slice they came from,
    and their files are read back in the pull's order."""
    from reinfer_nb import slices

    monkeypatch.setattr(slices, "MIN_SPLIT_ROWS", 40)
    monkeypatch.setattr(saving, "BATCH_ROWS", 64)
    with Client(busy_sandbox.url, busy_sandbox.token, timeout=10) as c:
        expected = pages_to_frame(c.fetch_all("GET", COMMENTS, params={"limit": 16}))["id"]
        saved = c.fetch_all("GET", COMMENTS, params={"limit": 16}, parallel=3,
                            save=tmp_path / "split")
    manifest = assert_manifest_consistent(tmp_path / "split")
    assert len(manifest.slices) > 3  # split as the workers went idle
    bounds = [(s["lo"], s["hi"]) for s in manifest.slices]
    assert all(hi == lo for (_, hi), (lo, _) in zip(bounds, bounds[1:], strict=False))
    assert saved.read()["id"].tolist() == expected.tolist()


@pytest.fixture(scope="module")
def busy_sandbox(make_sandbox: Any) -> Any:
    """A sandbox of its own, 6,000 comments."""
    return make_sandbox(comments=6000, seed=3)
