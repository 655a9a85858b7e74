"""Per-call overhead and connection reuse (items 1 and 2 of the performance issue).

1. N small GETs (``/api/v1/sources``) against the sandbox through
   (a) a bare ``requests.Session`` (``s.get(...)``, ``raise_for_status()``, ``r.json()``),
   (b) ``Client.get`` and (c) ``%%reinfer_get`` in an IPython shell, DataFrame included.
   Targets: b/a <= 1.10, c/a <= 2.0. For reference, (a+df) is the bare session plus the
   ``pandas.json_normalize`` a user would write to get the same DataFrame.
2. Connections the sandbox opened for 100 calls: Client and the magic (target 1) vs plain
   ``requests.get`` per call.

The sandbox runs in another process. Each round times every variant in turn (order rotated
per round) after warm-up calls; figures are the median over rounds.

    .venv/bin/python benchmarks/bench_calls.py [--quick] [--block N] [--rounds R]
"""

from __future__ import annotations

import time
from typing import Any

from _common import (
    Report,
    SandboxProcess,
    Table,
    Target,
    fmt_ms,
    login,
    magics_shell,
    median,
    parser,
    quantile,
    rotate,
    start,
    time_calls,
)

PATH = "/api/v1/sources"
CONNECTION_CALLS = 100


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--block", type=int, help="calls per timed block (default 50; quick 25)")
    p.add_argument(
        "--rounds", type=int, help="rounds of one block per variant (default 40; quick 8)"
    )
    args = p.parse_args()
    block = args.block or (25 if args.quick else 50)
    rounds = args.rounds or (8 if args.quick else 40)
    report = Report("bench_calls", args)
    start(report)

    import pandas as pd
    import requests

    from reinfer_nb import Client

    with SandboxProcess(comments=1000) as sandbox:
        url, token = sandbox.url, sandbox.token
        shell = magics_shell(url, token)
        auth = {"Authorization": f"Bearer {token}"}
        session = requests.Session()
        client = Client(url, token)
        full = url + PATH

        def bare() -> Any:
            r = session.get(full, headers=auth)
            r.raise_for_status()
            return r.json()

        def bare_df() -> Any:
            r = session.get(full, headers=auth)
            r.raise_for_status()
            return pd.json_normalize(r.json()["sources"])

        def toolkit() -> Any:
            return client.get(PATH).data

        def magic() -> Any:
            return shell.run_cell_magic("reinfer_get", "", PATH)

        # Same answer everywhere (the magic's frame has one row per source).
        assert len(magic()) == len(bare()["sources"]) == len(toolkit()["sources"]) > 0

        variants = {
            "a": ("(a) requests.Session", bare),
            "b": ("(b) Client.get", toolkit),
            "c": ("(c) %%reinfer_get (DataFrame)", magic),
            "a+df": ("(a+df) requests.Session + json_normalize", bare_df),
        }
        for _, fn in variants.values():
            time_calls(fn, 50)
        # Short blocks, interleaved: load from other processes hits every variant alike.
        wall: dict[str, list[float]] = {k: [] for k in variants}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        for r in range(rounds):
            for key in rotate(list(variants), r):
                w, c = time_calls(variants[key][1], block)
                wall[key].append(w / block)
                cpu[key].append(c / block)

        def ratio(key: str) -> float:
            """Median over rounds of this variant's time / (a)'s in the same round."""
            return median([x / a for x, a in zip(wall[key], wall["a"], strict=False)])

        ms = {k: median(v) for k, v in wall.items()}
        base = ms["a"]
        limits = {"b": 1.10, "c": 2.0}
        rows = []
        for key, (label, _) in variants.items():
            limit = limits.get(key)
            rows.append([
                label, fmt_ms(ms[key]), fmt_ms(quantile(wall[key], 0.1)),
                fmt_ms(quantile(wall[key], 0.9)), fmt_ms(median(cpu[key])),
                f"{(ms[key] - base) * 1e6:+.0f}", f"{ratio(key):.2f}",
                f"<= {limit:.2f}" if limit else "(reference)",
            ])
        report.table(Table(
            f"1. Per-call overhead: GET {PATH}, {rounds} rounds x {block} calls per variant",
            ["variant", "ms/call (median)", "p10", "p90", "client CPU ms/call",
             "overhead us/call", "ratio to (a)", "target"],
            rows,
            notes=[
                "Sandbox in another process on loopback. Each round times a block of calls per "
                "variant (order rotated); ms/call: median (p10, p90) over blocks; ratio: median "
                "over rounds of the block's time / (a)'s block in the same round.",
                "(a+df) is what a hand-written call costs once the DataFrame is included.",
            ],
        ))
        report.target(Target("1. Client vs bare Session (b/a)", ratio("b"), 1.10))
        report.target(Target("1. magic vs bare Session (c/a)", ratio("c"), 2.0))

        # ---- 2. connection reuse
        def count(fn: Any) -> int:
            sandbox.reset_stats()
            for _ in range(CONNECTION_CALLS):
                fn()
            time.sleep(0.05)
            stats = sandbox.stats()
            return int(stats["connections_opened"])

        def fresh_client() -> int:
            with Client(url, token) as fresh:
                return count(lambda: fresh.get(PATH))

        def fresh_magic() -> int:
            sandbox.reset_stats()
            login(shell)  # a new Client inside the magics: its first call opens the pool
            for _ in range(CONNECTION_CALLS):
                shell.run_cell_magic("reinfer_get", "", PATH)
            return int(sandbox.stats()["connections_opened"])

        def plain_get() -> int:
            return count(lambda: requests.get(full, headers=auth).json())

        def fresh_session() -> int:
            with requests.Session() as s:
                return count(lambda: s.get(full, headers=auth).json())

        opened = {
            "Client.get": fresh_client(),
            "%%reinfer_get": fresh_magic(),
            "requests.get per call (baseline)": plain_get(),
            "requests.Session (reference)": fresh_session(),
        }
        report.table(Table(
            f"2. Connections opened for {CONNECTION_CALLS} calls (sandbox statistics)",
            ["variant", "connections", "target"],
            [[k, v, "1" if k in ("Client.get", "%%reinfer_get") else ""]
             for k, v in opened.items()],
        ))
        report.target(Target("2. connections, Client (100 calls)", opened["Client.get"], 1, ""))
        report.target(Target("2. connections, magic (100 calls)", opened["%%reinfer_get"], 1, ""))
        client.close()
        session.close()
        shell.run_line_magic("unload_ext", "reinfer_nb")
    report.finish()


if __name__ == "__main__":
    main()
