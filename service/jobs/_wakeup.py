"""A level-triggered wake-up signal that never loses a ``set`` between waits."""

from __future__ import annotations

import trio


class Wakeup:
    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """Forget earlier sets; call before looking for work, then wait."""
        if self._event.is_set():
            self._event = trio.Event()

    async def wait(self, within: float = float("inf")) -> bool:
        """Wait for a ``set`` since the last ``clear``; False if ``within`` s passed first."""
        with trio.move_on_after(within):
            await self._event.wait()
            return True
        return False
