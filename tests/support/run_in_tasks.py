"""Tasks whose body runs off the event loop (``run_in``): in a thread or in a child process.

They live in an importable module because a process task's class is imported again in the
child (``support`` is on the path of every test process, and children inherit it).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from service.jobs import Cancel, Snooze, SyncJobContext, Task, TaskOptions


@attrs.frozen(kw_only=True)
class Digest(Task):
    """Blocking work in a thread: hashes ``text`` ``rounds`` times."""

    options = TaskOptions(name="digest", run_in="thread", concurrency=2, max_attempts=1)
    text: str
    rounds: int = 1

    def run_sync(self, ctx: SyncJobContext) -> dict[str, Any]:
        data = self.text.encode()
        for _ in range(self.rounds):
            data = hashlib.sha256(data).digest()
        return {"digest": data.hex(), "job": ctx.job_id, "attempt": ctx.attempt,
                "in_main_thread": threading.current_thread() is threading.main_thread()}


@attrs.frozen(kw_only=True)
class Square(Task):
    """CPU work in a child process; says which process ran it."""

    options = TaskOptions(name="square", run_in="process", concurrency=2, max_attempts=1)
    n: int

    def run_sync(self, ctx: SyncJobContext) -> dict[str, Any]:
        return {"square": self.n * self.n, "pid": os.getpid(), "task": ctx.task,
                "job": ctx.job_id, "state": ctx.state}


@attrs.frozen(kw_only=True)
class Spin(Task):
    """Writes its process id to ``pid_file``, then burns CPU for ``seconds`` (past its
    timeout)."""

    options = TaskOptions(name="spin", run_in="process", concurrency=1, max_attempts=1,
                          timeout=1.5)
    pid_file: str
    seconds: float = 60.0

    def run_sync(self, ctx: SyncJobContext) -> str:
        Path(self.pid_file).write_text(str(os.getpid()))
        deadline = time.monotonic() + self.seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
        return "finished"


@attrs.frozen(kw_only=True)
class Stall(Task):
    """Blocks its thread for ``seconds`` (past its timeout): the thread cannot be killed."""

    options = TaskOptions(name="stall", run_in="thread", concurrency=1, max_attempts=1,
                          timeout=0.5)
    seconds: float
    marker: str

    def run_sync(self, ctx: SyncJobContext) -> str:
        time.sleep(self.seconds)
        Path(self.marker).write_text("returned")
        return "late"


@attrs.frozen(kw_only=True)
class Broken(Task):
    """Raises in ``run_sync`` in a process; or snoozes or cancels (``outcome``)."""

    options = TaskOptions(name="broken", run_in="process", max_attempts=2)
    message: str
    outcome: str = "raise"

    def run_sync(self, ctx: SyncJobContext) -> None:
        if self.outcome == "snooze":
            raise Snooze(30)
        if self.outcome == "cancel":
            raise Cancel(self.message)
        raise ValueError(f"{self.message} (attempt {ctx.attempt}, pid {os.getpid()})")


@attrs.frozen(kw_only=True)
class BrokenThread(Task):
    options = TaskOptions(name="broken_thread", run_in="thread", max_attempts=1)
    message: str

    def run_sync(self, ctx: SyncJobContext) -> None:
        raise LookupError(self.message)


@attrs.frozen(kw_only=True)
class Grind(Spin):
    """:class:`Spin` with a timeout far away: only a shutdown stops it."""

    options = TaskOptions(name="grind", run_in="process", concurrency=1, max_attempts=3,
                          timeout=60)
