"""``python -m reinfer_nb.sandbox``: run the sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from . import KINDS, start_sandbox


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, serve until interrupted, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m reinfer_nb.sandbox",
        description="Run a local emulator of the Re:infer / Communications Mining API "
        "(sample data, not a real tenant).",
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
        "--latency-ms", type=float, default=0.0, help="add this much server time to every call"
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
    if args.comments < 0 or not 0 <= args.fault_rate <= 1 or args.latency_ms < 0:
        parser.error("--comments and --latency-ms must be >= 0, --fault-rate from 0 to 1")
    faults = []
    if args.latency_ms:
        faults.append({"kind": "latency", "delay_ms": args.latency_ms, "probability": 1.0})
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
        )
    except (OSError, ValueError) as exc:
        print(f"error: cannot start the sandbox: {exc}", file=sys.stderr)
        return 1
    print(
        f"Re:infer sandbox (sample data, not a real tenant): {args.comments} comments, "
        f"seed {args.seed}"
    )
    print(f"url: {sandbox.url}")
    print(f"token: {sandbox.token}")
    print(f"admin_token: {sandbox.admin_token}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not sandbox.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("Stopping.", flush=True)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
