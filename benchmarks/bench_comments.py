"""Analysis-ready comments (issue 12): 100,000 comments of a dataset into one tidy frame.

The comments of one dataset (``dev/support-triage``; the sandbox is sized so that it holds
exactly ``--comments`` of them), with their labels and predictions, by:

* ``%reinfer_comments dev/support-triage --predictions -o df`` in an IPython shell;
* ``Client.comments(..., predictions=True)`` (the same in Python, for reference);
* the baseline an analyst would write: the raw dataset query pulled with
  ``Client.fetch_all`` (pages of 512, as the toolkit asks), then flattened by hand into
  the same columns (one dict per comment, ``pandas.DataFrame``, ``pd.to_datetime``).

Each variant runs in its own process (same imports, an IPython shell in each), the sandbox
in yet another, so wall time, client CPU time and peak RSS (``ru_maxrss``) are the
client's alone. Rounds rotate the order; figures are medians.
Targets: ``%reinfer_comments`` <= 1.0x the baseline's wall time and peak RSS.

    .venv/bin/python benchmarks/bench_comments.py [--quick] [--comments N] [--rounds R]
"""

from __future__ import annotations

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

OWNER, DATASET = "dev", "support-triage"
SOURCES = ("support-emails", "returns-emails")  # what the dataset reads
QUERY = f"/api/_private/datasets/{OWNER}/{DATASET}/query"
PAGE = 512
VARIANTS = {
    "magic": "%reinfer_comments --predictions -o df",
    "client": "Client.comments(predictions=True)",
    "baseline": "baseline: Client.fetch_all + hand flattening",
}


# --------------------------------------------------------------------------- baseline


def flatten_by_hand(records: list[dict[str, Any]], source_names: dict[str, str]) -> Any:
    """What an analyst writes without the toolkit: the same columns, one dict a comment."""
    import pandas as pd

    rows = []
    for result in records:
        comment = result["comment"]
        messages = comment.get("messages") or []
        first = messages[0] if messages else {}
        group = result["labelling"][0]
        scores = [(p["name"] if isinstance(p["name"], str) else " > ".join(p["name"]),
                   p["probability"]) for p in group.get("predicted", [])]
        names = {name for name, _ in scores}
        leaves = [(name, p) for name, p in scores
                  if not any(other.startswith(name + " > ") for other in names)]
        top = max(leaves, key=lambda item: item[1]) if leaves else (None, float("nan"))
        row = {
            "id": comment["id"],
            "uid": comment["uid"],
            "source": source_names.get(comment["source_id"], comment["source_id"]),
            "thread_id": comment.get("thread_id"),
            "timestamp": comment["timestamp"],
            "subject": (first.get("subject") or {}).get("text"),
            "from": first.get("from"),
            "to": first.get("to", []),
            "cc": first.get("cc", []),
            "body": (first.get("body") or {}).get("text"),
            "messages": messages,
            "n_messages": len(messages),
        }
        for key, value in comment.get("user_properties", {}).items():
            row[key.split(":", 1)[1]] = value
        row.update(
            labels=[label["name"] for label in group.get("assigned", [])],
            reviewed=bool(group.get("assigned") or group.get("dismissed")),
            predicted=[name for name, p in scores if p >= 0.5],
            top_label=top[0],
            top_probability=top[1],
            entities=[{"kind": e["kind"], "name": e["name"],
                       "formatted_value": e["formatted_value"]}
                      for e in result.get("entities", {}).get("predicted", [])],
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
    return df


# --------------------------------------------------------------------------- child


def child(variant: str, url: str, token: str) -> dict[str, Any]:
    """Run one variant in this (fresh) process and return its figures."""
    import gc
    import hashlib
    import resource

    import psutil
    from _common import magics_shell

    from reinfer_nb import Client

    shell = magics_shell(url, token)  # in every variant: the same notebook-like process
    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    t0, c0 = time.perf_counter(), time.process_time()

    if variant == "magic":
        shell.run_line_magic("reinfer_comments", f"{OWNER}/{DATASET} --predictions -o df")
        df = shell.user_ns["df"]
    elif variant == "client":
        with Client(url, token) as client:
            df = client.comments(f"{OWNER}/{DATASET}", predictions=True)
    elif variant == "baseline":
        with Client(url, token) as client:
            sources = client.get("/api/v1/sources").data["sources"]
            names = {s["id"]: f"{s['owner']}/{s['name']}" for s in sources}
            pages = client.fetch_all(
                "POST", QUERY, json={"order": {"kind": "recent"}, "limit": PAGE}
            )
            assert pages.complete
            df = flatten_by_hand(pages.records, names)
    else:
        raise SystemExit(f"unknown variant {variant}")

    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    uids = df["uid"].tolist()
    return {
        "variant": variant, "wall": wall, "cpu": cpu, "peak_rss": peak,
        "rss_before": rss_before, "rows": len(df), "columns": len(df.columns),
        "uids": hashlib.sha256("\n".join(uids).encode()).hexdigest()[:16],
        "top": hashlib.sha256("\n".join(map(str, df["top_label"])).encode()).hexdigest()[:16],
    }


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
    report = Report("bench_comments", args)
    start(report)

    with SandboxProcess(comments=sandbox_size_for(OWNER, SOURCES, comments)) as sandbox:
        # Warm the sandbox once (every page), so no variant pays its first-touch costs.
        from reinfer_nb import Client

        with Client(sandbox.url, sandbox.token) as client:
            warm = client.fetch_all("POST", QUERY, json={"order": {"kind": "recent"}})
            assert warm.complete and warm.rows == comments, warm
            del warm  # (this process's memory is not measured, but keep it small)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for r_ in range(rounds):
            for variant in rotate(list(VARIANTS), r_):
                res = run_child(__file__, ["--child", variant, "--url", sandbox.url],
                                sandbox.token)
                runs[variant].append(res)
                print(f"  round {r_ + 1}/{rounds} {variant:9s} wall {res['wall']:.2f} s, "
                      f"CPU {res['cpu']:.2f} s, peak RSS {res['peak_rss'] / 2**20:.0f} MiB",
                      flush=True)

    # Every variant got the same comments, in the same order, and the same top labels.
    checks = {(res["rows"], res["uids"], res["top"]) for rs in runs.values() for res in rs}
    if len(checks) != 1:
        raise SystemExit(f"variants disagree on the comments fetched: {checks}")
    rows = next(iter(checks))[0]
    if rows != comments:
        raise SystemExit(f"fetched {rows} comments, expected {comments}")

    def med(variant: str, key: str) -> float:
        return median([res[key] for res in runs[variant]])

    def paired(variant: str, key: str, reference: str = "baseline") -> float:
        """Median over rounds of variant / reference, both from the same round."""
        pairs = zip(runs[variant], runs[reference], strict=False)
        return median([res[key] / ref[key] for res, ref in pairs])

    mib = 2**20
    table_rows = []
    for variant, label in VARIANTS.items():
        wall, cpu, peak = med(variant, "wall"), med(variant, "cpu"), med(variant, "peak_rss")
        growth = median([res["peak_rss"] - res["rss_before"] for res in runs[variant]])
        table_rows.append([
            label, f"{wall:.2f}", f"{cpu:.2f}", f"{peak / mib:.0f}", f"{growth / mib:.0f}",
            f"{rows / wall:,.0f}", f"{paired(variant, 'wall'):.2f}",
            f"{paired(variant, 'cpu'):.2f}", f"{paired(variant, 'peak_rss'):.2f}",
        ])
    columns = runs["magic"][0]["columns"]
    report.table(Table(
        f"6. Tidy comments: {rows:,} comments of {OWNER}/{DATASET} with predictions, "
        f"{columns} columns, pages of {PAGE}, median of {rounds} round{'s' * (rounds > 1)}",
        ["variant", "wall s", "client CPU s", "peak RSS MiB", "RSS growth MiB", "comments/s",
         "time vs baseline", "CPU vs baseline", "peak RSS vs baseline"],
        table_rows,
        notes=[
            "Each variant in its own process (same imports and an IPython shell in each); "
            "the sandbox in another. Every variant gets the same comments in the same order "
            "and the same top labels (checked).",
            "Figures: medians over rounds; ratios: medians over rounds of the ratio within a "
            "round. RSS growth = peak RSS - RSS before the pull. The toolkit's frame keeps "
            "the raw pages in df.attrs, as the baseline keeps its Pages.",
        ],
    ))
    report.target(Target("6. %reinfer_comments wall time vs baseline",
                         paired("magic", "wall"), 1.0))
    report.target(Target("6. %reinfer_comments peak RSS vs baseline",
                         paired("magic", "peak_rss"), 1.0))
    report.finish()


if __name__ == "__main__":
    main()
