"""``python -m service`` on a disk that stalls: each upload's first write waits a while.

The stall is ``STALL_UPLOAD_WRITE_SECONDS`` from the environment (default 2), the way a slow or
busy disk holds a write; everything else is the real service.
"""

from __future__ import annotations

import os
import sys

import trio

from service.cli import main
from service.domain.storage import UploadWriter

STALL_SECONDS = float(os.environ.get("STALL_UPLOAD_WRITE_SECONDS", "2"))
_write = UploadWriter.write


async def _stalling_write(self: UploadWriter, data: bytes) -> None:
    if self.size == 0:
        await trio.sleep(STALL_SECONDS)
    await _write(self, data)


UploadWriter.write = _stalling_write  # type: ignore[method-assign]
# Guarded: a worker's process pool (run_in="process") starts its processes by "spawn", which
# imports this module again in each of them (as ``__mp_main__``) -- not to run a service there.
if __name__ == "__main__":
    sys.exit(main())
