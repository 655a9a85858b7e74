"""Bulk pulls at scale (issue 14): parallel time slices, streaming to Parquet, resume, DuckDB.

4. Wall time of a pull of ``--comments`` comments (default 100,000) with the sandbox adding
   100 ms of server time per call (a sleep: the platform's 100-500 ms a page, without
   burning this machine's two cores): ``fetch_all(parallel=4)`` vs the sequential pull,
   both into a frame, each in its own process. Target <= 0.31x.
5. Peak RSS streaming to Parquet (``fetch_all(save=DIR, parallel=4)``): 1,000,000 comments
   vs 100,000, each in its own process. Targets: <= 1.3x, and <= 300 MiB.
6. Resume: a save killed (SIGKILL, as a kernel restart) once half its rows are on disk,
   then the same call with ``resume=True``: pages it fetched / pages whose rows were not
   on disk. Target <= 1.05. Also shown: every page fetched by both runs / the pull's pages.
7. A count of comments per week over the 1,000,000-comment Parquet dataset: DuckDB (on
   the files, through ``reinfer_nb.duck``) vs pandas on the same frame in memory (the
   frame's load shown apart). Reported, no target.

The sandbox runs in its own process; every figure comes from fresh child processes, in
rotated order over rounds; medians reported.

    .venv/bin/python benchmarks/bench_scale.py [--quick] [--rounds R] [--comments N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    Report,
    SandboxProcess,
    Table,
    Target,
    answered_as_child,
    child_options,
    median,
    parser,
    rotate,
    run_child,
    sandbox_size_for,
    start,
)

OWNER, SOURCE = "dev", "support-emails"
PATH = f"/api/_private/sources/{OWNER}/{SOURCE}/comments"
PAGE = 256
MIB = 2**20


# --------------------------------------------------------------------------- children


def child(kind: str, url: str, token: str, options: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    import gc
    import hashlib
    import resource

    import psutil

    from reinfer_nb import Client, duck
    from reinfer_nb.frames import pages_to_frame
    from reinfer_nb.saving import Manifest, SavedPull, _manifest_path

    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    t0, c0 = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {}
    params = {"limit": PAGE}
    if kind == "pull":
        with Client(url, token, timeout=60) as client:
            pages = client.fetch_all("GET", PATH, params=params, parallel=options["parallel"])
            frame = pages_to_frame(pages)
        ids = frame["id"].tolist()
        out.update(rows=len(frame), pages=len(pages.results), complete=pages.complete,
                   ids=hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16])
    elif kind in ("save", "resume"):
        with Client(url, token, timeout=60) as client:
            saved = client.fetch_all("GET", PATH, params=params, parallel=options["parallel"],
                                     save=options["target"], resume=kind == "resume")
        out.update(rows=saved.rows, files=len(saved.files), bytes=saved.bytes,
                   pages=saved.pages, fetched_pages=saved.fetched_pages,
                   complete=saved.complete)
    elif kind == "duckdb":
        import duckdb

        duckdb.default_connection().execute("SET TimeZone = 'UTC'")  # weeks as pandas's
        relation = duck(options["target"])
        sql = ("SELECT date_trunc('week', \"timestamp\") AS week, count(*) AS n "
               "FROM comments GROUP BY week ORDER BY week")
        times = []
        for _ in range(5):
            t = time.perf_counter()
            weeks = relation.query("comments", sql).fetchall()
            times.append(time.perf_counter() - t)
        out.update(query_s=median(times), weeks=len(weeks), total=sum(n for _, n in weeks),
                   duckdb=duckdb.__version__)
    elif kind == "pandas":
        saved = SavedPull(Path(options["target"]),
                          Manifest.load(_manifest_path(Path(options["target"]))))
        t = time.perf_counter()
        frame = saved.read()
        out["load_s"] = time.perf_counter() - t
        times = []
        for _ in range(5):
            t = time.perf_counter()
            week = frame["timestamp"].dt.tz_localize(None).dt.to_period("W")
            weeks = week.value_counts().sort_index()
            times.append(time.perf_counter() - t)
        out.update(query_s=median(times), weeks=len(weeks), total=int(weeks.sum()))
    else:
        raise SystemExit(f"unknown kind {kind}")
    out.update(kind=kind, wall=time.perf_counter() - t0, cpu=time.process_time() - c0,
               peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
               rss_before=rss_before)
    return out


def _arguments(kind: str, url: str, options: dict[str, Any]) -> list[str]:
    return ["--child", kind, "--url", url, "--options", json.dumps(options)]


def measure(kind: str, url: str, token: str, **options: Any) -> dict[str, Any]:
    """One measurement in a process of its own (:func:`child` runs there)."""
    return run_child(__file__, _arguments(kind, url, options), token)


# --------------------------------------------------------------------------- sections


def parallel_section(report: Report, comments: int, rounds: int) -> None:
    size = sandbox_size_for(OWNER, [SOURCE], comments)
    with SandboxProcess(comments=size, server_ms=100) as sandbox:
        runs: dict[str, list[dict[str, Any]]] = {"sequential": [], "parallel 4": []}
        for r in range(rounds):
            for name in rotate(list(runs), r):
                res = measure("pull", sandbox.url, sandbox.token,
                                parallel=4 if name == "parallel 4" else None)
                runs[name].append(res)
                print(f"  4. round {r + 1}/{rounds} {name:10s} wall {res['wall']:.1f} s, "
                      f"{res['pages']} pages", flush=True)
    checks = {(res["rows"], res["ids"]) for rs in runs.values() for res in rs}
    if len(checks) != 1:
        raise SystemExit(f"parallel and sequential pulls disagree: {checks}")
    ratios = [p["wall"] / s["wall"] for p, s in zip(runs["parallel 4"], runs["sequential"],
                                                     strict=True)]
    rows = [[name, f"{median([r['wall'] for r in rs]):.1f}",
             f"{median([r['cpu'] for r in rs]):.2f}", rs[0]["pages"], f"{rs[0]['rows']:,}",
             f"{min(r['wall'] for r in rs):.1f} - {max(r['wall'] for r in rs):.1f}"]
            for name, rs in runs.items()]
    report.table(Table(
        f"4. Parallel slices: {comments:,} comments, 100 ms of server time per call, "
        f"median of {rounds}",
        ["pull", "wall s", "client CPU s", "pages", "rows", "wall range s"], rows,
        notes=[f"parallel 4 / sequential: {median(ratios):.2f}x (per round: "
               f"{', '.join(f'{r:.2f}' for r in ratios)}); same rows, same order (checked).",
               "The parallel pull starts as one slice; idle workers split off the far half "
               "of the slice with the most rows ahead (one probe call for the range's end), "
               "each slice ending on a partly filled page."],
    ))
    report.target(Target("14. wall, parallel 4 / sequential (100 ms a call)",
                         median(ratios), 0.31))


def streaming_section(report: Report, sizes: list[int], rounds: int,
                      keep: Path) -> Path:
    """Peak RSS saving ``sizes`` comments to Parquet; returns the largest dataset."""
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    largest = keep / "largest"
    for n in sizes:
        with SandboxProcess(comments=sandbox_size_for(OWNER, [SOURCE], n)) as sandbox:
            for r in range(rounds):
                target = keep / f"pull-{n}-{r}"
                res = measure("save", sandbox.url, sandbox.token, parallel=4,
                                target=str(target))
                results[n].append(res)
                print(f"  5. {n:,} comments round {r + 1}/{rounds}: wall {res['wall']:.1f} s, "
                      f"peak RSS {res['peak_rss'] / MIB:.0f} MiB", flush=True)
                if n == sizes[-1] and r == rounds - 1:
                    target.rename(largest)  # kept for section 7
                else:
                    shutil.rmtree(target, ignore_errors=True)
    small, big = sizes[0], sizes[-1]
    peak = {n: median([res["peak_rss"] for res in results[n]]) for n in sizes}
    rows = []
    for n in sizes:
        res = results[n]
        rows.append([f"{n:,}", f"{median([x['wall'] for x in res]):.1f}",
                     f"{median([x['cpu'] for x in res]):.1f}",
                     f"{median([x['rss_before'] for x in res]) / MIB:.0f}",
                     f"{peak[n] / MIB:.0f}", res[-1]["files"],
                     f"{res[-1]['bytes'] / MIB:.0f}", res[-1]["pages"],
                     f"{n / median([x['wall'] for x in res]):,.0f}"])
    report.table(Table(
        f"5. Streaming to Parquet (save=DIR, parallel=4), median of {rounds}",
        ["comments", "wall s", "client CPU s", "RSS before MiB", "peak RSS MiB", "files",
         "Parquet MiB", "pages", "comments/s"], rows,
        notes=[f"peak RSS {big:,} / {small:,}: {peak[big] / peak[small]:.2f}x. A batch of "
               "4,096 rows per worker is written as one file; nothing else is kept.",
               "Without server time the sandbox (one Python process) is the bottleneck: "
               "these are the client's figures, not the platform's."],
    ))
    report.target(Target(f"14. peak RSS streaming {big:,} / {small:,} to Parquet",
                         peak[big] / peak[small], 1.3))
    report.target(Target(f"14. peak RSS streaming {big:,} to Parquet",
                         round(peak[big] / MIB), 300, unit=" MiB"))
    return largest


def resume_section(report: Report, comments: int, rounds: int, work: Path) -> None:
    rows = []
    ratios, waste = [], []
    size = sandbox_size_for(OWNER, [SOURCE], comments)
    with SandboxProcess(comments=size, server_ms=10) as sandbox:
        for r in range(rounds):
            target = work / f"resume-{r}"
            sandbox.reset_stats()
            options = {"parallel": 4, "target": str(target)}
            command = [sys.executable, str(Path(__file__).resolve()),
                       *_arguments("save", sandbox.url, options), "--token-stdin"]
            proc = subprocess.Popen(command, cwd=BENCH_DIR,
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, text=True)
            assert proc.stdin is not None
            proc.stdin.write(sandbox.token)
            proc.stdin.close()
            manifest = target / "_manifest.json"
            saved_at_kill = 0
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                if manifest.exists():
                    try:
                        files = json.loads(manifest.read_text())["files"]
                    except (ValueError, OSError):  # being replaced: read it again
                        continue
                    if sum(f["rows"] for f in files) >= comments // 2:
                        proc.send_signal(signal.SIGKILL)
                        break
                time.sleep(0.01)
            proc.wait()
            state = json.loads(manifest.read_text())
            saved_at_kill = sum(f["rows"] for f in state["files"])
            pages_saved = sum(s.get("pages", 0) for s in state["slices"])
            first_calls = _page_calls(sandbox.stats())
            sandbox.reset_stats()
            res = measure("resume", sandbox.url, sandbox.token, **options)
            second_calls = _page_calls(sandbox.stats())
            missing = res["pages"] - pages_saved
            ratio = res["fetched_pages"] / missing
            ratios.append(ratio)
            waste.append((first_calls + second_calls) / res["pages"])
            rows.append([r + 1, f"{saved_at_kill:,}", pages_saved, missing,
                         res["fetched_pages"], second_calls, first_calls, res["pages"],
                         f"{ratio:.3f}", f"{waste[-1]:.3f}", res["rows"]])
            print(f"  6. round {r + 1}/{rounds}: killed at {saved_at_kill:,} rows saved; "
                  f"resume fetched {res['fetched_pages']} of {missing} missing pages",
                  flush=True)
            if res["rows"] != comments or not res["complete"]:
                raise SystemExit(f"resume gave {res['rows']} rows, expected {comments}")
            shutil.rmtree(target, ignore_errors=True)
    report.table(Table(
        f"6. Resume after a kill at 50%: {comments:,} comments, parallel 4 "
        f"(10 ms of server time per call)",
        ["round", "rows on disk at kill", "pages saved", "pages missing",
         "pages fetched by resume", "(sandbox: calls)", "calls before kill", "pages in all",
         "fetched / missing", "all calls / pages", "rows after resume"], rows,
        notes=["SIGKILL, as a kernel restart: the pages a worker had fetched but not yet "
               "written (under 4,096 rows each) are lost and fetched again; the manifest "
               "says where each slice's saved rows end, so resume fetches nothing else.",
               "Rows after resume: every comment once (the count equals the source's; the "
               "ids are checked in tests/test_saving.py)."],
    ))
    report.target(Target("14. resume after a kill at 50%: pages fetched / missing",
                         median(ratios), 1.05))


def _page_calls(stats: dict[str, Any]) -> int:
    return int(stats["calls_by_path"].get(f"GET {PATH}", 0))


def query_section(report: Report, dataset: Path, comments: int) -> None:
    duck_runs = [measure("duckdb", "", "", target=str(dataset)) for _ in range(3)]
    pandas_runs = [measure("pandas", "", "", target=str(dataset)) for _ in range(3)]
    weeks = {(r["weeks"], r["total"]) for r in duck_runs + pandas_runs}
    if len(weeks) != 1 or next(iter(weeks))[1] != comments:
        raise SystemExit(f"DuckDB and pandas disagree on the weekly counts: {weeks}")
    d_query = median([r["query_s"] for r in duck_runs])
    p_query = median([r["query_s"] for r in pandas_runs])
    p_load = median([r["load_s"] for r in pandas_runs])
    rows = [
        ["DuckDB on the Parquet files", f"{d_query * 1000:.0f}", "—",
         f"{median([r['peak_rss'] for r in duck_runs]) / MIB:.0f}"],
        ["pandas on the frame in memory", f"{p_query * 1000:.0f}", f"{p_load:.1f}",
         f"{median([r['peak_rss'] for r in pandas_runs]) / MIB:.0f}"],
    ]
    report.table(Table(
        f"7. Comments per week over {comments:,} comments saved as Parquet (median of 3 "
        "processes x 5 queries)",
        ["engine", "query ms", "load s", "peak RSS MiB"], rows,
        notes=[f"DuckDB / pandas, the query alone: {d_query / p_query:.2f}x; DuckDB / "
               f"(pandas load + query): {d_query / (p_load + p_query):.3f}x. Same "
               f"{next(iter(weeks))[0]} weeks and counts (checked)."],
    ))
    report.target(Target("14. DuckDB / pandas: count per week over 1M (query)",
                         d_query / p_query, 0.0, report_only=True))


# --------------------------------------------------------------------------- main


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--comments", type=int,
                   help="comments for sections 4 and 6 (default 100000; quick 20000)")
    p.add_argument("--rounds", type=int, help="rounds (default 3; quick 1)")
    p.add_argument("--sections", nargs="+", type=int, default=[4, 5, 6, 7],
                   help="which sections to run (7 needs 5)")
    child_options(p)
    p.add_argument("--options", help=argparse.SUPPRESS)
    args = p.parse_args()
    if answered_as_child(
        args, lambda kind, url, token: child(kind, url, token, json.loads(args.options))
    ):
        return
    comments = args.comments or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = [20_000, 200_000] if args.quick else [100_000, 1_000_000]
    report = Report("bench_scale", args)
    start(report)
    with tempfile.TemporaryDirectory(prefix="reinfer-bench-") as tmp:
        work = Path(tmp)
        if 4 in args.sections:
            parallel_section(report, comments, rounds)
        if 5 in args.sections:
            dataset = streaming_section(report, sizes, max(1, rounds - 1), work)
            if 7 in args.sections:
                query_section(report, dataset, sizes[-1])
        if 6 in args.sections:
            resume_section(report, comments, rounds, work)
    report.finish()
    os.environ.pop("REINFER_TOKEN", None)


if __name__ == "__main__":
    main()
