"""``python -m service`` with the test tasks registered beside the app's own tasks.

``nap`` and ``hog`` (support.slow_task); ``append`` and ``kill_process`` (support.fault_tasks);
``lossy_charge`` (support.lossy_task); ``hang`` (support.hang_task).
"""

from __future__ import annotations

import sys

from service.cli import main
from service.tasks import REGISTRY

from .fault_tasks import Append, KillProcess
from .hang_task import Hang
from .lossy_task import LossyCharge
from .slow_task import Hog, Nap

for task in (Nap, Hog, Append, KillProcess, LossyCharge, Hang):
    REGISTRY.register(task)
# Guarded: a worker's process pool (run_in="process") starts its processes by "spawn", which
# imports this module again in each of them (as ``__mp_main__``) -- not to run a service there.
if __name__ == "__main__":
    sys.exit(main())
