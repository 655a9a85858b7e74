"""What the spec helpers cost (issue 13): checks before sending, the index, completion.

1. Per call: ``Client.get`` and ``Client.post`` (a dataset query) with ``check_spec=True``
   vs the same client without the check, against the sandbox in another process (which
   answers in about 1 ms, so the ratio is a worst case). Target: the check costs at most
   1 ms per call (1% of a platform call of 100 ms).
2. One-time costs, each in a fresh process: ``import reinfer_nb`` + ``%load_ext`` (the spec
   is not parsed), the index's first build, the first body validation (imports
   jsonschema), and the same after ``%reinfer_login``'s background preparation.
3. Completion: ``shell.Completer.completions`` for a path, from the spec and with the
   tenant's names cached (medians over repeated Tabs).

    .venv/bin/python benchmarks/bench_spec.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from _common import (
    Report,
    SandboxProcess,
    Table,
    Target,
    fmt_ms,
    median,
    parser,
    rotate,
    start,
    time_calls,
)

QUERY = "/api/_private/datasets/dev/support-triage/query"
BODY = {"order": {"kind": "recent"}, "limit": 5}

COLD = {
    "import reinfer_nb + %load_ext": (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import time; t = time.perf_counter()\n"
        "shell.run_line_magic('load_ext', 'reinfer_nb')\n"
        "print(time.perf_counter() - t)\n"
    ),
    "api_index() first build (parses the spec)": (
        "import time, reinfer_nb.api_index as a\n"
        "t = time.perf_counter(); a.api_index(); print(time.perf_counter() - t)\n"
    ),
    "first body validation, right after import (imports jsonschema)": (
        "import time\nfrom reinfer_nb.api_index import api_index\n"
        "from reinfer_nb.spec_check import check_call\napi_index()\n"
        "t = time.perf_counter()\n"
        f"check_call('POST', {QUERY!r}, body={BODY!r})\n"
        "print(time.perf_counter() - t)\n"
    ),
    "first body validation after the login's background preparation": (
        "import time\nfrom reinfer_nb.spec_check import check_call, prepare_in_background\n"
        "prepare_in_background(); time.sleep(3)  # the user writing the next cell\n"
        "t = time.perf_counter()\n"
        f"check_call('POST', {QUERY!r}, body={BODY!r})\n"
        "print(time.perf_counter() - t)\n"
    ),
}


def cold(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=120)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return median(times)


def main() -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    block, rounds = (20, 6) if args.quick else (50, 30)
    report = Report("bench_spec", args)
    start(report)

    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    from reinfer_nb import Client

    with SandboxProcess(comments=1000) as sandbox:
        plain = Client(sandbox.url, sandbox.token)
        checked = Client(sandbox.url, sandbox.token, check_spec=True)
        variants: dict[str, Any] = {
            "GET /api/v1/sources": lambda c: c.get("/api/v1/sources"),
            "POST dataset query (body validated)": lambda c: c.post(QUERY, BODY),
        }
        rows = []
        for label, call in variants.items():
            clients = {"plain": plain, "checked": checked}
            for c in clients.values():
                time_calls(lambda c=c, call=call: call(c), 20)  # warm-up
            wall: dict[str, list[float]] = {k: [] for k in clients}
            for r in range(rounds):
                for key in rotate(list(clients), r):
                    w, _ = time_calls(lambda c=clients[key], call=call: call(c), block)
                    wall[key].append(w / block)
            ratio = median([c / p for c, p in zip(wall["checked"], wall["plain"], strict=True)])
            plain_ms, checked_ms = median(wall["plain"]), median(wall["checked"])
            cost_us = (checked_ms - plain_ms) * 1e6
            rows.append([label, fmt_ms(plain_ms), fmt_ms(checked_ms), f"{cost_us:+.0f}",
                         f"{ratio:.2f}", "<= 1000 us"])
            report.target(Target(f"1. check cost per call: {label}", round(max(cost_us, 0)),
                                 1000, unit=" us"))
        report.table(Table(
            f"1. Per call, check_spec=True vs off ({rounds} rounds x {block} calls)",
            ["call", "off ms/call", "on ms/call", "check us/call", "ratio", "target"], rows,
            notes=["Sandbox in another process; ratio: median over rounds of on / off."],
        ))

        runs = 2 if args.quick else 5
        report.table(Table(
            f"2. One-time costs (fresh process each, median of {runs})",
            ["what", "ms"],
            [[what, fmt_ms(cold(code, runs), 1)] for what, code in COLD.items()],
        ))

        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "reinfer_nb")

        def tab(text: str) -> list[str]:
            with provisionalcompleter():
                return [c.text for c in shell.Completer.completions(text, len(text))]

        n = 20 if args.quick else 100
        spec_only = "%%reinfer_get /api/v1/datasets/"
        assert tab(spec_only) == ["/api/v1/datasets/{owner}"]
        timings = {"path from the spec (logged out)": time_calls(lambda: tab(spec_only), n)[0]}
        import os

        os.environ["REINFER_ENDPOINT"], os.environ["REINFER_TOKEN"] = sandbox.url, sandbox.token
        shell.run_line_magic("reinfer_login", "--no-prompt")
        magics = shell.magics_manager.registry["ReinferMagics"]
        began = time.perf_counter()
        magics.live_names.get(wait=30)
        fetch = time.perf_counter() - began
        assert "/api/v1/datasets/dev" in tab(spec_only)
        timings["path with the tenant's names (cached)"] = time_calls(lambda: tab(spec_only), n)[0]
        report.table(Table(
            f"3. Completion: shell.Completer.completions ({n} Tabs)",
            ["what", "ms per Tab"],
            [*[[what, fmt_ms(t / n, 2)] for what, t in timings.items()],
             ["fetching the names once (3 listings, in the background)", fmt_ms(fetch, 1)]],
            notes=["The completer waits at most 250 ms for the names, once per fetch."],
        ))
        shell.run_line_magic("unload_ext", "reinfer_nb")
        plain.close()
        checked.close()
    report.finish()


if __name__ == "__main__":
    main()
