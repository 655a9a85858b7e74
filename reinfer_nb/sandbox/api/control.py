"""``/_sandbox/...``: control a running sandbox over HTTP (the API token is required).

* ``GET /_sandbox/faults``: the faults and their counters;
* ``POST /_sandbox/faults``: add one (a spec such as ``{"kind": "error", "status": 503}``)
  or several (``{"faults": [spec, ...]}``);
* ``DELETE /_sandbox/faults``: remove them all;
* ``GET /_sandbox/stats`` and ``DELETE /_sandbox/stats``: read or reset the statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..http.faults import Fault, FaultSet
from ..http.stats import Stats
from .access import Call
from .validate import Refusal

__all__ = ["control_routes"]


def control_routes(
    faults: FaultSet, stats: Stats
) -> list[tuple[str, str, Callable[..., dict[str, Any]]]]:
    def list_faults(call: Call) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in faults.list()]}

    def add_faults(call: Call) -> dict[str, Any]:
        body = call.body()
        specs = body["faults"] if set(body) == {"faults"} else [body]
        if not isinstance(specs, list):
            raise Refusal(422, 'Invalid fault: "faults" must be a list of fault specs.')
        try:
            added = [Fault.from_spec(spec) for spec in specs]
        except (ValueError, TypeError) as exc:
            raise Refusal(422, f"Invalid fault: {exc}.") from None
        return {"faults": [faults.add(f).to_json() for f in added]}

    def clear_faults(call: Call) -> dict[str, Any]:
        faults.clear()
        return {}

    def get_stats(call: Call) -> dict[str, Any]:
        return {"stats": stats.snapshot()}

    def reset_stats(call: Call) -> dict[str, Any]:
        stats.reset()
        return {}

    return [
        ("GET", "/_sandbox/faults", list_faults),
        ("POST", "/_sandbox/faults", add_faults),
        ("DELETE", "/_sandbox/faults", clear_faults),
        ("GET", "/_sandbox/stats", get_stats),
        ("DELETE", "/_sandbox/stats", reset_stats),
    ]
