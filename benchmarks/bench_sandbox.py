"""Benchmark the sandbox: keep-alive throughput, and the cost of a page as the data grows.

    .venv/bin/python benchmarks/bench_sandbox.py [--quick]

1. Calls per second for a small GET (``/api/v1/sources``) with 1 and 4 concurrent clients,
   each a ``requests.Session`` (one keep-alive connection each).
2. A page of 256 comments (``GET .../comments?limit=256``, at random places via
   ``from_timestamp``, then the next page via ``continuation``) and a page of the dataset
   query (``limit`` 256) at 10k, 100k and 1M comments: the median milliseconds per page,
   as the client saw it and as ``Server-Timing`` reported it, and the ratio to 10k. Data
   are generated on demand, so the cost should stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reinfer_nb.sandbox import Sandbox, start_sandbox  # noqa: E402 (after the path setup)

SIZES = (10_000, 100_000, 1_000_000)


def server_ms(response: requests.Response) -> float:
    return float(response.headers["Server-Timing"].split("dur=")[1])


class ServerProcess:
    """``python -m reinfer_nb.sandbox`` in a subprocess, so clients do not share its GIL."""

    def __init__(self, comments: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.token = "sbx_" + "b" * 32
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reinfer_nb.sandbox",
                "--port",
                "0",
                "--comments",
                str(comments),
                "--token",
                self.token,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its banner and "Stopping." are not figures
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()  # the ready line: one JSON object
        if not ready:
            raise RuntimeError("the sandbox did not start")
        self.url = json.loads(ready)["url"]
        # One control connection, opened now, so the counts below are the clients' alone.
        self.control = requests.Session()
        self.control.headers["Authorization"] = f"Bearer {self.token}"
        self.control.get(self.url + "/_sandbox/stats")

    def reset_stats(self) -> None:
        self.control.delete(self.url + "/_sandbox/stats")

    def connections_opened(self) -> int:
        return int(
            self.control.get(self.url + "/_sandbox/stats").json()["stats"]["connections_opened"]
        )

    def cpu_seconds(self) -> float | None:
        """The server process's CPU time so far (Linux only)."""
        stat = Path(f"/proc/{self.proc.pid}/stat")
        if not stat.exists():
            return None
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.control.close()
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # SIGINT ignored (started in the background)
            self.proc.terminate()
            self.proc.wait(timeout=15)


def _client(url: str, token: str, calls: int, start_at: float) -> tuple[float, float]:
    """One client process: wait for the common start, make ``calls`` calls, time them."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        time.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        for _ in range(calls):
            response = session.get(url + "/api/v1/sources")
            assert response.status_code == 200, response.text
        return began, time.time()


def throughput(server: ServerProcess, clients: int, calls: int) -> tuple[float, int, str]:
    """Calls per second over ``clients`` client processes making ``calls`` calls in all,
    connections opened, and the server's CPU microseconds per call."""
    server.reset_stats()
    cpu_before = server.cpu_seconds()
    start_at = time.time() + 2.0  # after every worker has started and imported requests
    with ProcessPoolExecutor(clients) as pool:
        spans = list(
            pool.map(
                _client,
                [server.url] * clients,
                [server.token] * clients,
                [calls // clients] * clients,
                [start_at] * clients,
            )
        )
    elapsed = max(end for _, end in spans) - min(began for began, _ in spans)
    cpu_after = server.cpu_seconds()
    done = calls // clients * clients
    cpu = (
        "n/a"
        if cpu_before is None or cpu_after is None
        else (f"{(cpu_after - cpu_before) / done * 1e6:.0f}")
    )
    return done / elapsed, server.connections_opened(), cpu


def page_costs(sandbox: Sandbox, pages: int, rng: random.Random) -> dict[str, tuple[float, float]]:
    """Median (client ms, server ms) per page, for source comments and the dataset query."""
    url = sandbox.url + "/api/_private/sources/prod/support-emails/comments"
    query = sandbox.url + "/api/_private/datasets/prod/support-triage/query"
    samples: dict[str, list[tuple[float, float]]] = {"comments": [], "query": []}
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sandbox.token}"
        for _ in range(3):  # connect and warm up
            session.get(url, params={"limit": 256})
        for _ in range(pages):
            when = datetime(2024, 2, 1, tzinfo=timezone.utc) + timedelta(days=rng.uniform(0, 250))
            params: dict[str, object] = {"limit": 256, "from_timestamp": when.isoformat()}
            for _ in range(2):  # a page found by time, then the next by continuation
                began = time.perf_counter()
                response = session.get(url, params=params)
                client = (time.perf_counter() - began) * 1000
                body = response.json()
                assert response.status_code == 200 and len(body["comments"]) == 256
                samples["comments"].append((client, server_ms(response)))
                params = {"limit": 256, "after": body["continuation"]}
            began = time.perf_counter()
            response = session.post(
                query,
                json={
                    "order": {"kind": "recent"},
                    "limit": 256,
                    "filter": {"timestamp": {"maximum": when.isoformat()}},
                },
            )
            client = (time.perf_counter() - began) * 1000
            assert response.status_code == 200 and len(response.json()["results"]) == 256
            samples["query"].append((client, server_ms(response)))
    return {
        kind: (statistics.median(c for c, _ in values), statistics.median(s for _, s in values))
        for kind, values in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and pages (a smoke run)")
    args = parser.parse_args(argv)
    calls, pages = (400, 4) if args.quick else (2000, 15)
    rng = random.Random(0)

    print(
        f"Keep-alive throughput: GET /api/v1/sources, {calls} calls, "
        "sandbox and each client in its own process"
    )
    print(f"{'clients':>8} {'calls/s':>9} {'connections':>12} {'server CPU us/call':>19}")
    server = ServerProcess(comments=1000)
    try:
        for clients in (1, 4):
            rate, connections, cpu = throughput(server, clients, calls)
            print(f"{clients:>8} {rate:>9.0f} {connections:>12} {cpu:>19}")
    finally:
        server.stop()

    print(
        f"\nPage of 256 comments: median ms per page over {2 * pages} source pages "
        f"and {pages} query pages"
    )
    print(
        f"{'comments':>10} {'start ms':>9} {'source page':>12} {'(server)':>9} {'ratio':>6} "
        f"{'query page':>11} {'(server)':>9} {'ratio':>6}"
    )
    base: dict[str, float] = {}
    for size in SIZES:
        began = time.perf_counter()
        with start_sandbox(comments=size, seed=1) as sandbox:
            startup = (time.perf_counter() - began) * 1000
            costs = page_costs(sandbox, pages, rng)
        base = base or {kind: client for kind, (client, _) in costs.items()}
        (c_client, c_server), (q_client, q_server) = costs["comments"], costs["query"]
        print(
            f"{size:>10,} {startup:>9.1f} {c_client:>12.2f} {c_server:>9.2f} "
            f"{c_client / base['comments']:>6.2f} {q_client:>11.2f} {q_server:>9.2f} "
            f"{q_client / base['query']:>6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
