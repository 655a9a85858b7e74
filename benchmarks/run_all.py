"""Run every benchmark in turn (``make bench``), then write ``benchmarks/results/latest.md``.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...]

Each script prints its own tables as it goes; ``--quick`` is passed through. The combined
markdown (machine, a summary of every target, then each script's tables) goes to
``benchmarks/results/latest.md`` (git-ignored), ready to paste into the README. A script
that accepts ``--md``/``--json`` contributes markdown tables and target verdicts; any other
(such as ``bench_sandbox.py``) contributes its printed output verbatim.
Exits 1 if a script failed (a missed target is reported, not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import BENCH_DIR, ROOT, Table, machine_table, verdict

SCRIPTS = ("bench_calls.py", "bench_bulk.py", "bench_scale.py", "bench_widget.py",
           "bench_sandbox.py", "bench_spec.py", "bench_comments.py")
RESULTS = BENCH_DIR / "results"


def supported_flags(script: Path) -> set[str]:
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=BENCH_DIR,
        timeout=120, check=False,
    ).stdout
    return {flag for flag in ("--quick", "--md", "--json", "--no-machine") if flag in help_text}


def run(script: Path, quick: bool, md: Path, targets: Path) -> tuple[int, str, float]:
    """Run one script, echoing its output; return its exit status, output and duration."""
    flags = supported_flags(script)
    cmd = [sys.executable, "-u", str(script)]
    if quick and "--quick" in flags:
        cmd.append("--quick")
    for flag, value in (("--md", md), ("--json", targets)):
        if flag in flags:
            cmd += [flag, str(value)]
    if "--no-machine" in flags:
        cmd.append("--no-machine")
    print(f"\n$ {' '.join([Path(sys.executable).name, *cmd[2:]])}", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=BENCH_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
    status = proc.wait()
    return status, "".join(lines), time.perf_counter() - began


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="pass --quick to every script")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="run only these scripts (e.g. bench_calls bench_bulk)")
    p.add_argument("--out", type=Path, default=RESULTS / "latest.md",
                   help="where to write the combined markdown "
                   "(default benchmarks/results/latest.md)")
    args = p.parse_args()
    chosen = [s for s in SCRIPTS
              if not args.only or s in args.only or s.removesuffix(".py") in args.only]
    machine = machine_table()
    print(machine.text(), flush=True)
    started = datetime.now(timezone.utc)

    sections: list[str] = []
    target_rows: list[list[str]] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            script = BENCH_DIR / name
            if not script.exists():
                print(f"\n{name}: not found, skipped", flush=True)
                sections.append(f"## {name}\n\nNot run: the script is missing.")
                continue
            md, targets = Path(tmp, f"{name}.md"), Path(tmp, f"{name}.jsonl")
            status, output, seconds = run(script, args.quick, md, targets)
            state = f", FAILED with status {status}" if status else ""
            head = f"## {name} ({seconds:.0f} s{state})"
            if md.exists():
                body = md.read_text(encoding="utf-8").strip()
            else:
                body = "```text\n" + output.strip() + "\n```"
            if status and md.exists():
                body += "\n\n```text\n" + output.strip()[-3000:] + "\n```"
            sections.append(f"{head}\n\n{body}")
            if targets.exists():
                for line in targets.read_text(encoding="utf-8").splitlines():
                    t = json.loads(line)
                    target_rows.append([t["target"], t["measured"], t["limit"], verdict(t["met"])])
            if status:
                failed.append(name)

    summary = Table("Targets", ["target", "measured", "limit", "verdict"], target_rows)
    print()
    print(summary.text())
    command = "make bench" + (" (--quick)" if args.quick else "")
    doc = [
        "# Benchmark results",
        "",
        f"`{command}` (`.venv/bin/python benchmarks/run_all.py"
        f"{' --quick' if args.quick else ''}`), "
        f"started {started:%Y-%m-%d %H:%M} UTC.",
        "",
        machine.markdown(level=2),
        "",
        summary.markdown(level=2),
        "",
        *[s + "\n" for s in sections],
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(doc), encoding="utf-8")
    print(f"\nWrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
