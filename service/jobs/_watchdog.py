"""Reports an event loop that stops turning (a task blocking it stalls every lease renewal).

A trio task stamps a heartbeat every ``interval`` seconds; a plain thread checks the stamp and
logs a warning while the loop is stuck, naming how long, and again when it recovers. The thread
is needed because a blocked loop cannot report on itself until it is free again.
"""

from __future__ import annotations

import logging
import threading
import time

import trio

from . import _log as log


class LoopWatchdog:
    """Warns in the log while the event loop is blocked for longer than ``threshold`` seconds.

    Start it beside a worker (``await nursery.start(LoopWatchdog().run)``) in any process whose
    tasks might call blocking code: a stuck loop also stops lease renewals, so the warning names
    the cause before the leases lapse.
    """

    def __init__(self, *, interval: float = 0.25, threshold: float = 2.0) -> None:
        self.interval = interval
        self.threshold = threshold
        self._beat = time.monotonic()
        self._stop = threading.Event()
        #: How many stalls were reported (for tests and metrics).
        self.stalls = 0

    def _watch(self) -> None:
        reported = False
        while not self._stop.wait(self.interval):
            stalled_for = time.monotonic() - self._beat
            if stalled_for >= self.threshold and not reported:
                reported = True
                self.stalls += 1
                log.event(logging.WARNING, "worker.loop_blocked", seconds=round(stalled_for, 2),
                          message="a task is blocking the event loop: leases are not renewed"
                          " while it lasts; give the task TaskOptions(run_in=\"thread\") or"
                          " run_in=\"process\"")
            elif stalled_for < self.threshold and reported:
                reported = False
                log.event(logging.WARNING, "worker.loop_unblocked")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled."""
        self._beat = time.monotonic()
        self._stop.clear()
        thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        thread.start()
        task_status.started()
        try:
            while True:
                self._beat = time.monotonic()
                # Real time, even under MockClock: a stall is about the thread, not trio's clock.
                await trio.sleep(self.interval)
        finally:
            self._stop.set()
