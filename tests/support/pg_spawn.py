"""Starting the helper processes of :mod:`.process` from a trio test, and reading their lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TESTS = Path(__file__).parent.parent


class Helper:
    """One helper process, with its stdout read line by line."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    async def line(self, within: float = 30) -> str:
        """The next line the process printed; fails after ``within`` s or at EOF."""
        assert self.process.stdout is not None
        with trio.fail_after(within):
            while b"\n" not in self._buffer:
                chunk = await self.process.stdout.receive_some()
                if not chunk:
                    raise AssertionError(f"process {self.pid} exited: {self.process.returncode}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def send_line(self, text: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(text.encode() + b"\n")

    async def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not exited within 10 s; the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(10):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
        return await self.process.wait()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}


@asynccontextmanager
async def helper(*args: str) -> AsyncIterator[Helper]:
    """``python -m postgres.process *args``, stopped (and reaped) when the block ends."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "support.pg_process", *args],
        env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    proc = Helper(process)
    try:
        yield proc
    finally:
        with trio.CancelScope(shield=True):
            await proc.stop()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    await stream.aclose()


@asynccontextmanager
async def workers(count: int, schema: str, out: str, *options: str) -> AsyncIterator[list[Helper]]:
    """``count`` worker processes on ``schema``, each claiming once the block starts."""
    async with AsyncExitStack() as stack:
        procs = [
            await stack.enter_async_context(helper("work", schema, out, *options))
            for _ in range(count)
        ]
        for proc in procs:
            assert await proc.line() == "ready"
        yield procs


async def run_helper(*args: str) -> None:
    """Run a helper to completion; fail with its output if it fails."""
    result = await trio.run_process(
        [sys.executable, "-m", "support.pg_process", *args],
        env=_env(), capture_stdout=True, capture_stderr=True, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
