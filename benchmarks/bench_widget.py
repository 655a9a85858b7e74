"""The live timing-log widget (item 4 of the performance issue): 1,000 calls with the widget
displayed vs without. Target: <= 1.05x.

Two pairs, each in a fresh timing log:

* ``Client.get`` in a loop, with a ``TimingWidget`` observing the client's log vs none;
* ``%%reinfer_get`` in a loop in an IPython shell, after ``%reinfer_timing`` displayed the
  widget vs not (the notebook user's case).

There is no browser here, so every widget message goes to a stand-in comm that
JSON-encodes it as a kernel would (and counts messages and bytes). The widget redraws on a
timer thread at most every ``refresh_interval`` (0.25 s); redraws are reported. Rounds
alternate the order; the ratio is the median over rounds of with / without (wall time;
the CPU-time ratio, less sensitive to other jobs on the machine, is shown too).

    .venv/bin/python benchmarks/bench_widget.py [--quick] [--calls N] [--rounds R]
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from typing import Any

from _common import (
    Report,
    SandboxProcess,
    Table,
    Target,
    magics_shell,
    median,
    parser,
    start,
)

PATH = "/api/v1/sources"


class Wire:
    """What the stand-in comms sent to the (absent) frontend."""

    messages = 0
    bytes = 0


def install_recording_comm() -> None:
    import comm
    from comm import DummyComm

    class RecordingComm(DummyComm):  # type: ignore[misc]
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                        buffers: Any = None, **keys: Any) -> None:
            payload = json.dumps({"msg_type": msg_type, "data": data, "metadata": metadata},
                                 default=str)
            Wire.messages += 1
            Wire.bytes += len(payload)

    comm.create_comm = lambda *args, **kwargs: RecordingComm(*args, **kwargs)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, help="calls per run (default 1000; quick 300)")
    p.add_argument("--rounds", type=int, help="rounds (default 15; quick 3)")
    args = p.parse_args()
    calls = args.calls or (300 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 15)
    report = Report("bench_widget", args)
    start(report)
    install_recording_comm()

    from reinfer_nb import Client, TimingLog
    from reinfer_nb.widgets import TimingWidget

    with SandboxProcess(comments=1000) as sandbox:
        shell = magics_shell(sandbox.url, sandbox.token)
        magics = shell.magics_manager.registry["ReinferMagics"]

        def client_run(with_widget: bool) -> dict[str, float]:
            log = TimingLog()
            with Client(sandbox.url, sandbox.token, timing_log=log) as client:
                client.get(PATH)  # connect outside the timed loop
                widget = TimingWidget(log) if with_widget else None
                if widget is not None:
                    from IPython.display import display

                    with contextlib.redirect_stdout(io.StringIO()):
                        display(widget)  # through the shell's display path
                return timed(lambda: client.get(PATH), widget)

        def magic_run(with_widget: bool) -> dict[str, float]:
            magics.timing_log.clear()
            shell.run_cell_magic("reinfer_get", "", PATH)
            widget = None
            if with_widget:
                with contextlib.redirect_stdout(io.StringIO()):
                    shell.run_line_magic("reinfer_timing", "")
                widget = magics._widgets[-1]
            try:
                return timed(lambda: shell.run_cell_magic("reinfer_get", "", PATH), widget)
            finally:
                magics._widgets.clear()

        def timed(call: Any, widget: Any) -> dict[str, float]:
            messages, sent = Wire.messages, Wire.bytes
            redraws = widget.redraw_count if widget is not None else 0
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                call()
            elapsed = time.perf_counter() - t0
            if widget is not None:
                time.sleep(0.3)  # let the last pending redraw happen (its CPU time counts)
            result = {"seconds": elapsed, "cpu": time.process_time() - c0}
            if widget is not None:
                result.update(redraws=widget.redraw_count - redraws,
                              messages=Wire.messages - messages, bytes=Wire.bytes - sent)
                widget.close()
            return result

        pairs = {"Client.get": client_run, "%%reinfer_get": magic_run}
        results: dict[str, dict[bool, list[dict[str, float]]]] = {
            k: {False: [], True: []} for k in pairs}
        for run in pairs.values():  # warm-up
            run(False)
            run(True)
        for r in range(rounds):
            for name, run in pairs.items():
                for with_widget in ((False, True) if r % 2 == 0 else (True, False)):
                    results[name][with_widget].append(run(with_widget))
                wo, w = results[name][False][-1], results[name][True][-1]
                print(f"  round {r + 1}/{rounds} {name:14s} without {wo['seconds']:.3f} s, "
                      f"with {w['seconds']:.3f} s ({w['seconds'] / wo['seconds']:.3f}x, "
                      f"{w['redraws']:.0f} redraws)", flush=True)

    rows = []
    for name, res in results.items():
        without = [x["seconds"] for x in res[False]]
        with_ = [x["seconds"] for x in res[True]]
        ratio = median([w / wo for w, wo in zip(with_, without, strict=False)])
        pairs = zip(res[True], res[False], strict=False)
        cpu_ratio = median([w["cpu"] / wo["cpu"] for w, wo in pairs])
        rows.append([
            name, f"{median(without):.3f}", f"{median(with_):.3f}", f"{ratio:.3f}",
            f"{cpu_ratio:.3f}",
            f"{median([x['redraws'] for x in res[True]]):.0f}",
            f"{median([x['messages'] for x in res[True]]):.0f}",
            f"{median([x['bytes'] for x in res[True]]) / 1024:.0f}",
        ])
        report.target(Target(f"4. {calls} calls with the widget ({name})", ratio, 1.05))
    report.table(Table(
        f"4. Timing-log widget: {calls} calls of GET {PATH}, median of {rounds} rounds",
        ["loop", "without widget s", "with widget s", "ratio", "CPU ratio", "redraws",
         "widget messages", "KiB sent"],
        rows,
        notes=["Times: median over rounds; ratio: median over rounds of with / without in the "
               "same round (wall time: the target); CPU ratio: the same for the process's CPU "
               "time, the widget's redraw thread included. Redraws are throttled "
               "(refresh_interval 0.25 s, on a timer thread); "
               "messages are JSON-encoded as a kernel would send them to the browser."],
    ))
    report.finish()


if __name__ == "__main__":
    main()
