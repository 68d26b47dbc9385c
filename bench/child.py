"""Entry point of a benchmark child process (see :mod:`bench.proc`).

    python -m bench.child bench.burn:child_ours '{"jobs": 20000, ...}'

Calls ``function(args, ready)``; ``ready(info)`` prints ``READY {json}``. The function's result,
plus the process's peak RSS as the kernel counts it (``VmHWM``), is printed as ``RESULT {json}``.
(``ru_maxrss`` would not do: on Linux it keeps the parent's high-water mark across fork+exec.)
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
from typing import Any


def ready(info: dict[str, Any] | None = None) -> None:
    print("READY " + json.dumps(info or {}), flush=True)


def peak_rss_kib() -> int:
    """``VmHWM`` of this process (reset by exec), or ``ru_maxrss`` where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    target, raw = sys.argv[1], sys.argv[2]
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result: dict[str, Any] = function(json.loads(raw), ready)
    result["peak_rss_kib"] = peak_rss_kib()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
