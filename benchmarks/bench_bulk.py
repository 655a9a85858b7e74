"""Bulk pull (item 3 of the performance issue, and issue 14): 100,000 comments into one
DataFrame.

The comments of one source (``dev/support-emails``; the sandbox is sized so that it holds
exactly ``--comments`` of them) are paged through, 256 a page, by:

* ``%%reinfer_get --all -o df`` in an IPython shell (the toolkit: pages decoded into Arrow,
  kept as compressed bytes, one frame at the end);
* ``Client.fetch_all`` + ``pages_to_frame`` (the same, from Python);
* ``Client.fetch_all(columnar=False)`` + ``pages_to_frame``: version 0.2's JSON path, for
  reference;
* decoding only: the toolkit's page decoder and frame on bytes fetched first (like for
  like with the floor);
* the baseline a user would write: ``requests.Session``, ``resp.json()`` per page collected
  into a list, one ``pandas.json_normalize`` at the end;
* the floor: ``json.loads`` alone on the same bytes (fetched first, only decoding timed),
  and the same with the cyclic garbage collector paused (issue 14's floor).

Each variant runs in its own process (same imports, an IPython shell in each), the sandbox
in yet another, so wall time, client CPU time (``time.process_time``) and peak RSS
(``ru_maxrss``) are the client's alone. Rounds rotate the order; figures are medians.
Targets: toolkit <= 1.0x the baseline's wall time and peak RSS; issue 14: decoding to a
frame <= 1.0x the floor with the collector paused, and the memory the pull adds <= 2.0x
the JSON received.

    .venv/bin/python benchmarks/bench_bulk.py [--quick] [--comments N] [--rounds R]
"""

from __future__ import annotations

import json
import time
from typing import Any

from _common import (
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
VARIANTS = {
    "magic": "%%reinfer_get --all -o df",
    "client": "Client.fetch_all + pages_to_frame",
    "json_path": "0.2's JSON path: fetch_all(columnar=False) + pages_to_frame",
    "decode": "decoding only: bytes -> frame (Arrow)",
    "baseline": "baseline: requests + json + json_normalize",
    "floor": "floor: json.loads of the same bytes",
    "floor_nogc": "floor, collector paused (reference)",
}


# --------------------------------------------------------------------------- child


def child(variant: str, url: str, token: str) -> dict[str, Any]:
    """Run one variant in this (fresh) process and return its figures."""
    import gc
    import hashlib
    import resource

    import pandas as pd
    import psutil
    import requests
    from _common import magics_shell

    from reinfer_nb import Client
    from reinfer_nb.columnar import PageDecoder
    from reinfer_nb.frames import pages_to_frame
    from reinfer_nb.results import Pages, Result

    shell = magics_shell(url, token)  # in every variant: the same notebook-like process
    # Every variant imports what the toolkit's pull uses before its RSS is taken (a fixed
    # cost of the process, like pandas's import, not memory the pull holds).
    import pyarrow.compute  # noqa: F401
    import pyarrow.json  # noqa: F401

    import reinfer_nb.columnar  # noqa: F401
    full = url + PATH
    auth = {"Authorization": f"Bearer {token}"}
    bodies: list[bytes] = []
    if variant.startswith("floor") or variant == "decode":
        with requests.Session() as s:
            params: dict[str, Any] = {"limit": PAGE}
            while True:
                r = s.get(full, params=params, headers=auth)
                r.raise_for_status()
                bodies.append(r.content)
                token_ = json.loads(r.content).get("continuation")
                if not token_:
                    break
                params["after"] = token_
    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    result: dict[str, Any] = {}
    t0, c0 = time.perf_counter(), time.process_time()

    if variant == "magic":
        shell.run_cell_magic("reinfer_get", "--all -o df", f"{PATH}\nlimit: {PAGE}")
        df = shell.user_ns["df"]
        pages = df.attrs["pages"]
    elif variant in ("client", "json_path"):
        with Client(url, token) as client:
            got = client.fetch_all("GET", PATH, params={"limit": PAGE},
                                   columnar=variant == "client")
            df = pages_to_frame(got)
        pages = len(got.results)
    elif variant == "decode":  # what the toolkit does with the bytes, without the HTTP
        decoder = PageDecoder()
        got = Pages("GET", PATH, [Result(decoder.decode(body), 200, "GET", full, None)
                                  for body in bodies])
        df = pages_to_frame(got)
        pages = len(got.results)
    elif variant == "baseline":
        session = requests.Session()
        records: list[Any] = []
        params = {"limit": PAGE}
        pages = 0
        while True:
            resp = session.get(full, params=params, headers=auth)
            resp.raise_for_status()
            page = resp.json()
            pages += 1
            records.extend(page["comments"])
            cont = page.get("continuation")
            if not cont:
                break
            params["after"] = cont
        df = pd.json_normalize(records)
    elif variant == "floor":
        decoded = [json.loads(body) for body in bodies]
        pages = len(decoded)
        df = None
    elif variant == "floor_nogc":  # the decoding alone, without the collector's passes
        gc.disable()
        decoded = [json.loads(body) for body in bodies]
        gc.enable()
        pages = len(decoded)
        df = None
    else:
        raise SystemExit(f"unknown variant {variant}")

    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    if df is not None:
        ids = df["id"].tolist()
        result.update(rows=len(df), columns=len(df.columns))
    else:
        ids = [c["id"] for page in decoded for c in page["comments"]]
        result.update(rows=len(ids), columns=None)
    result.update(
        variant=variant, wall=wall, cpu=cpu, peak_rss=peak, rss_before=rss_before, pages=pages,
        bytes=sum(map(len, bodies)) if bodies else None,
        ids=hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
    )
    return result


# --------------------------------------------------------------------------- parent


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--comments", type=int, help="comments to pull (default 100000; quick 20000)")
    p.add_argument("--rounds", type=int, help="rounds (default 5; quick 1)")
    child_options(p, VARIANTS)
    args = p.parse_args()
    if answered_as_child(args, child):
        return
    comments = args.comments or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 5)
    report = Report("bench_bulk", args)
    start(report)

    import requests

    total = sandbox_size_for(OWNER, [SOURCE], comments)
    with SandboxProcess(comments=total) as sandbox:
        # Warm the sandbox once (every page), so no variant pays its first-touch costs.
        with requests.Session() as s:
            params: dict[str, Any] = {"limit": PAGE}
            while True:
                r = s.get(sandbox.url + PATH, params=params,
                          headers={"Authorization": f"Bearer {sandbox.token}"})
                r.raise_for_status()
                cont = r.json().get("continuation")
                if not cont:
                    break
                params["after"] = cont
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for r_ in range(rounds):
            for variant in rotate(list(VARIANTS), r_):
                res = run_child(__file__, ["--child", variant, "--url", sandbox.url],
                                sandbox.token)
                runs[variant].append(res)
                print(f"  round {r_ + 1}/{rounds} {variant:9s} wall {res['wall']:.2f} s, "
                      f"CPU {res['cpu']:.2f} s, peak RSS {res['peak_rss'] / 2**20:.0f} MiB",
                      flush=True)

    # Every variant got the same comments, in the same order.
    checks = {(res["rows"], res["ids"]) for rs in runs.values() for res in rs}
    if len(checks) != 1:
        raise SystemExit(f"variants disagree on the comments fetched: {checks}")
    rows = next(iter(checks))[0]
    if rows != comments:
        raise SystemExit(f"fetched {rows} comments, expected {comments}")

    def med(variant: str, key: str) -> float:
        return median([res[key] for res in runs[variant]])

    def paired(variant: str, key: str, reference: str) -> float:
        """Median over rounds of variant / reference, both from the same round."""
        pairs = zip(runs[variant], runs[reference], strict=False)
        return median([res[key] / ref[key] for res, ref in pairs])

    mib = 2**20
    pages = runs["baseline"][0]["pages"]
    size = runs["floor"][0]["bytes"]
    table_rows = []
    for variant, label in VARIANTS.items():
        wall, cpu, peak = med(variant, "wall"), med(variant, "cpu"), med(variant, "peak_rss")
        growth = median([res["peak_rss"] - res["rss_before"] for res in runs[variant]])
        is_floor = variant.startswith("floor")
        fetched_first = is_floor or variant == "decode"  # its bytes are in memory beforehand
        table_rows.append([
            label, f"{wall:.2f}", f"{cpu:.2f}",
            None if fetched_first else f"{peak / mib:.0f}",
            None if is_floor else f"{growth / mib:.0f}",
            None if is_floor else f"{growth / size:.2f}",
            f"{rows / wall:,.0f}",
            None if fetched_first else f"{paired(variant, 'wall', 'baseline'):.2f}",
            f"{paired(variant, 'cpu', 'floor'):.2f}",
            f"{paired(variant, 'cpu', 'floor_nogc'):.2f}",
            None if fetched_first else f"{paired(variant, 'peak_rss', 'baseline'):.2f}",
        ])
    before = median([res["rss_before"] for res in runs["magic"]])
    report.table(Table(
        f"3. Bulk pull: {rows:,} comments, {pages} pages of {PAGE} "
        f"({size / 1e6:.0f} MB of JSON), median of {rounds} round{'s' * (rounds > 1)}",
        ["variant", "wall s", "client CPU s", "peak RSS MiB", "RSS growth MiB",
         "growth / JSON", "comments/s", "time vs baseline", "CPU vs floor",
         "CPU vs floor (GC paused)", "peak RSS vs baseline"],
        table_rows,
        notes=[
            "Each variant in its own process (same imports and an IPython shell in each); "
            "the sandbox in another.",
            "Figures: medians over rounds; ratios: medians over rounds of the ratio within a "
            "round. floor and decoding only: the bytes are fetched first, untimed. RSS growth = "
            "peak RSS - RSS before the pull (what the pull costs); growth / JSON = that over "
            "the bytes received.",
            f"RSS before the pull (Python, pandas, pyarrow, IPython, requests): "
            f"{before / mib:.0f} MiB; the whole process's peak over the JSON received: "
            f"{med('magic', 'peak_rss') / size:.2f}x.",
            "The whole pull's CPU includes requests/urllib3's HTTP work (~1.2 ms a page), which "
            "the floor does not do; decoding only is the like-for-like comparison.",
        ],
    ))
    report.target(
        Target("3. --all wall time vs baseline", paired("magic", "wall", "baseline"), 1.0)
    )
    report.target(Target("3. --all peak RSS vs baseline",
                         paired("magic", "peak_rss", "baseline"), 1.0))
    report.target(Target("3. --all client CPU vs json.loads floor",
                         paired("magic", "cpu", "floor"), 2.0))
    report.target(Target("14. CPU, bytes -> frame vs json.loads floor (GC paused)",
                         paired("decode", "cpu", "floor_nogc"), 1.0))
    report.target(Target("14. CPU, whole --all pull vs json.loads floor (GC paused)",
                         paired("magic", "cpu", "floor_nogc"), 1.0))
    report.target(Target(
        "14. RSS growth of the --all pull / JSON bytes",
        median([(res["peak_rss"] - res["rss_before"]) / size for res in runs["magic"]]), 2.0,
    ))
    report.finish()


if __name__ == "__main__":
    main()
