"""Benchmark child processes: every measurement runs in a fresh Python process.

``Child("bench.burn:child_ours", {...})`` runs ``python -m bench.child`` with that function and
its JSON arguments. The child may report readiness once (``READY {json}``) and ends with one
``RESULT {json}`` line. The parent can sample the child's memory with psutil while it runs, or
wrap it in ``py-spy record`` to profile it.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from .common import Results

ROOT = Path(__file__).resolve().parent.parent


class ChildFailed(RuntimeError):
    pass


class Child:
    """One child process (a context manager: killed on exit if still running)."""

    def __init__(self, target: str, args: dict[str, Any], *, sample_memory: bool = False,
                 profile_to: Path | None = None, timeout: float = 300.0) -> None:
        self.target = target
        self.args = args
        self.sample_memory = sample_memory
        self.profile_to = profile_to
        self.deadline = time.monotonic() + timeout
        self.peak_rss = 0
        self.peak_uss = 0
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._proc: subprocess.Popen[str] | None = None
        self._sampler: threading.Thread | None = None
        self._stop_sampling = threading.Event()

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "bench.child", self.target, json.dumps(self.args)]
        if self.profile_to is not None:
            spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            cmd = [spy, "record", "--format", "raw", "--threads", "--rate", "400",
                   "--nonblocking", "-o", str(self.profile_to), "--", *cmd]
        return cmd

    def __enter__(self) -> Self:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            self.command(), cwd=ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env=env,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if self.sample_memory:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_sampling.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._stderr.close()

    def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _sample(self) -> None:
        import psutil

        assert self._proc is not None
        try:
            process = psutil.Process(self._proc.pid)
            while not self._stop_sampling.is_set():
                info = process.memory_full_info()
                self.peak_rss = max(self.peak_rss, info.rss)
                self.peak_uss = max(self.peak_uss, info.uss)
                self._stop_sampling.wait(0.02)
        except psutil.Error:
            return

    def _expect(self, prefix: str) -> dict[str, Any]:
        while True:
            remaining = self.deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise ChildFailed(f"{self.target}: no {prefix.strip()} within its time") from None
            if line is None:
                raise ChildFailed(f"{self.target} exited without {prefix.strip()}:\n"
                                  + self.stderr_tail())
            if line.startswith(prefix):
                value: dict[str, Any] = json.loads(line[len(prefix):])
                return value

    def ready(self) -> dict[str, Any]:
        """What the child reported once it was ready."""
        return self._expect("READY ")

    def result(self) -> dict[str, Any]:
        """The child's result; waits for it to exit."""
        value = self._expect("RESULT ")
        assert self._proc is not None
        self._proc.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        self._stop_sampling.set()
        if self._sampler is not None:
            self._sampler.join()
        return value

    def stderr_tail(self, chars: int = 4000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-chars:]


def run_child(target: str, args: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Run one child to completion and return its result."""
    with Child(target, args, **options) as child:
        return child.result()


def measure(results: Results, key: str, label: str, unit: str, target: str,
            args: dict[str, Any], *, field: str = "rate", higher_is_better: bool = True,
            **options: Any) -> dict[str, Any] | None:
    """Run one child, record its ``field`` as metric ``key``.

    A child that fails is run once more (on a shared machine a database server may restart
    under a run; the retry is reported); a second failure is recorded and the suite goes on.
    """
    try:
        out = run_child(target, args, **options)
    except (ChildFailed, OSError) as first:
        results.notes.setdefault("retries", []).append(
            f"`{key}`: {str(first).strip().splitlines()[-1][:200]}")
        try:
            out = run_child(target, args, **options)
        except (ChildFailed, OSError) as exc:
            results.skip(key, f"failed: {str(exc).strip().splitlines()[-1][:300]}")
            return None
    results.add(key, out[field], label, unit, higher_is_better=higher_is_better)
    return out
