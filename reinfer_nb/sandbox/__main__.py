"""``python -m reinfer_nb.sandbox``: run the sandbox in the foreground until Ctrl-C.

The first line on stdout is the ready line, one JSON object, flushed as soon as the sandbox
accepts connections::

    {"url": "http://127.0.0.1:8000", "token": "sbx_…", "admin_token": "sbx_…",
     "host": "127.0.0.1", "port": 8000, "comments": 1000, "seed": 0, "server_ms": 0.0}

Programs read that line (``json.loads(process.stdout.readline())``) rather than the text
for people, which goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import KINDS, Sandbox, start_sandbox
from .http.server import is_loopback

__all__ = ["main", "parse_args", "ready_line", "reachability_warning"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options (exits with usage on bad ones, as argparse does)."""
    parser = argparse.ArgumentParser(
        prog="python -m reinfer_nb.sandbox",
        description="Run a local emulator of the Re:infer / Communications Mining API "
        "(sample data, not a real tenant). The first line on stdout is a JSON object "
        "with url, token and admin_token.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, loopback only)",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port (0 picks a free one; default 8000)"
    )
    parser.add_argument("--token", help="the demo user's API token (default: a random one)")
    parser.add_argument(
        "--comments",
        type=int,
        default=1000,
        help="total comments across all sources (default 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample data (default 0)")
    parser.add_argument(
        "--server-ms",
        "--latency-ms",
        dest="server_ms",
        metavar="MS",
        type=float,
        default=0.0,
        help="add this much server time to every API call (a sleep, shown in Server-Timing)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of calls that fail with --fault-kind (default 0)",
    )
    parser.add_argument(
        "--fault-kind",
        choices=KINDS,
        default="error",
        help="the kind of random fault (default error, a 500)",
    )
    args = parser.parse_args(argv)
    if args.comments < 0 or not 0 <= args.fault_rate <= 1 or not 0 <= args.server_ms <= 600_000:
        parser.error(
            "--comments must be >= 0, --server-ms from 0 to 600000, --fault-rate from 0 to 1"
        )
    return args


def ready_line(sandbox: Sandbox) -> str:
    """The machine-readable ready line: one JSON object (with the tokens), no newline."""
    info: dict[str, Any] = {
        "url": sandbox.url,
        "token": sandbox.token,
        "admin_token": sandbox.admin_token,
        "host": sandbox.host,
        "port": sandbox.port,
        "comments": sandbox.comments,
        "seed": sandbox.seed,
        "server_ms": sandbox.server_ms,
    }
    return json.dumps(info)


def reachability_warning(host: str) -> str | None:
    """A warning when ``host`` lets other machines reach the sandbox, else None."""
    if is_loopback(host):
        return None
    return (
        f"warning: listening on {host}: the sandbox is reachable from the network, and "
        "anyone who reaches it with the token can use it. Use --host 127.0.0.1 to keep it "
        "on this machine."
    )


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, serve until interrupted, return the exit status."""
    args = parse_args(argv)
    faults = []
    if args.fault_rate:
        spec = {"kind": args.fault_kind, "probability": args.fault_rate}
        faults.append({**spec, "delay_ms": 1000.0} if args.fault_kind == "latency" else spec)
    try:
        sandbox = start_sandbox(
            comments=args.comments,
            seed=args.seed,
            token=args.token,
            faults=faults,
            host=args.host,
            port=args.port,
            server_ms=args.server_ms,
        )
    except (OSError, ValueError) as exc:
        print(f"error: cannot start the sandbox: {exc}", file=sys.stderr)
        return 1
    print(ready_line(sandbox), flush=True)
    warning = reachability_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    print(
        f"Re:infer sandbox (sample data, not a real tenant): {args.comments} comments, "
        f"seed {args.seed}, serving {sandbox.url}"
        + (f", {args.server_ms:g} ms of server time per call" if args.server_ms else ""),
        file=sys.stderr,
    )
    print(
        "The tokens are in the JSON line above. Press Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not sandbox.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr, flush=True)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
