"""Progress and checkpoints a running task reports (``await ctx.progress(...)``).

Reports are buffered in the attempt's :class:`ProgressBuffer` and written by the worker's next
lease renewal (one statement for all of a task's jobs in flight) or with the attempt's outcome,
whichever comes first: reporting costs no statement of its own. Pure: no trio, no database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from . import _codec as codec
from ._clock import SystemClock
from ._errors import PayloadError

#: The longest message a report may carry, in characters.
MESSAGE_LIMIT = 1000
#: The largest checkpoint, in bytes of its JSON text: a checkpoint says where to resume, it is
#: not the work's data (keep that in your own tables or files).
CHECKPOINT_LIMIT = 64 * 1024


@attrs.frozen(kw_only=True)
class JobProgress:
    """How far a job said it got: its last ``ctx.progress`` report that reached the store."""

    #: From 0 to 1.
    fraction: float
    message: str | None
    #: When the task reported it (epoch seconds, from the store's clock).
    at: float


@attrs.frozen(kw_only=True)
class ProgressUpdate:
    """What a lease renewal or an outcome writes of an attempt's reports, beside the lease or
    the state: the latest progress, and the latest checkpoint (JSON text) if one was reported
    since the last write (None: the stored checkpoint stays)."""

    progress: JobProgress
    checkpoint: str | None = None


@attrs.frozen(kw_only=True)
class ProgressReport:
    """One ``ctx.progress`` call, as :func:`service.jobs.testing.run_task` records it."""

    fraction: float
    message: str | None
    #: The checkpoint as the next attempt reads it (decoded JSON); None if the call gave none.
    checkpoint: Any
    #: Whether the call gave a checkpoint (``checkpoint=None`` stores null).
    has_checkpoint: bool
    at: float


def check_fraction(value: object) -> float:
    """``value`` as a float if it is a number from 0 to 1, else ``ValueError`` saying so."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 <= value <= 1):  # NaN compares false: refused too
        raise ValueError(f"progress fraction must be a number from 0 to 1, got {value!r}")
    return float(value)


def check_message(value: object) -> str | None:
    """``value`` if it is None or a string of at most :data:`MESSAGE_LIMIT` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"progress message must be a string or None, got {value!r}")
    if len(value) > MESSAGE_LIMIT:
        raise ValueError(f"progress message must be at most {MESSAGE_LIMIT} characters,"
                         f" got {len(value)}")
    return value


_PLAIN = (dict, list, str, int, float, bool, type(None))


def encode_checkpoint(value: Any, task: str) -> str:
    """A checkpoint's JSON text, as the payload converter writes it; :class:`PayloadError`
    (field ``checkpoint``) if it cannot be, ``ValueError`` over :data:`CHECKPOINT_LIMIT`."""
    text: str | None = None
    if type(value) in _PLAIN:
        # Plain JSON data (the usual checkpoint) encodes as the converter would, ~10x faster:
        # a report in a tight loop stays cheap. Anything else takes the converter's path.
        try:
            text = codec.encode_json(value)
        except (TypeError, ValueError):
            text = None
    if text is None:
        try:
            text = codec.encode(value, name=task)
        except PayloadError as exc:
            raise PayloadError(task, {"checkpoint": str(exc.__cause__ or exc)}) from exc
    size = len(text.encode())
    if size > CHECKPOINT_LIMIT:
        raise ValueError(f"checkpoint of task {task!r} is {size} bytes of JSON; at most"
                         f" {CHECKPOINT_LIMIT} are stored")
    return text


def decode_checkpoint(text: str | None) -> Any:
    """A stored checkpoint as the task reads it (``ctx.checkpoint``): decoded JSON, or None."""
    return None if text is None else json.loads(text)


@attrs.define(kw_only=True)
class ProgressBuffer:
    """One attempt's reports not yet written, and the checkpoint it knows.

    The task writes through :meth:`report`; the worker takes :meth:`pending` for a renewal or
    the outcome and, once written, calls :meth:`written` (a newer report made meanwhile stays
    pending). A report only keeps its values: objects are built when the worker asks.
    """

    #: Where the time of a report comes from: the store's clock in a worker.
    now: Callable[[], float] = attrs.field(factory=lambda: SystemClock().now)
    #: Every report, in order, when a list is given (the testing helpers read it).
    history: list[ProgressReport] | None = None
    #: The last report: (fraction, message, at), None once written (or before any): the
    #: worker reads it to skip attempts with nothing to write.
    last: tuple[float, str | None, float] | None = None
    #: A checkpoint reported and not yet written (JSON text).
    _unwritten: str | None = None
    _update: ProgressUpdate | None = None
    #: The last checkpoint known, as JSON text (decoded only when read).
    _text: str | None = None
    _decoded: Any = None
    _stale: bool = False

    @property
    def checkpoint(self) -> Any:
        """The last checkpoint known: the stored one the attempt started with, then its own
        (decoded JSON, or None)."""
        if self._stale:
            self._decoded, self._stale = decode_checkpoint(self._text), False
        return self._decoded

    def start_from(self, text: str | None) -> None:
        """The attempt starts from the stored checkpoint ``text`` (JSON, or None);
        ``ValueError`` if it is not JSON."""
        self._decoded, self._text, self._stale = decode_checkpoint(text), text, False

    def report(self, fraction: float, message: str | None, checkpoint: str | None,
               has_checkpoint: bool) -> None:
        """Buffer one report (checked by the caller); ``checkpoint`` is its JSON text."""
        at = self.now()
        self.last, self._update = (fraction, message, at), None
        if has_checkpoint:
            self._text = self._unwritten = checkpoint
            self._stale = True
        if self.history is not None:
            self.history.append(ProgressReport(
                fraction=fraction, message=message,
                checkpoint=self.checkpoint if has_checkpoint else None,
                has_checkpoint=has_checkpoint, at=at))

    def pending(self) -> ProgressUpdate | None:
        """What is reported but not yet written (None: nothing); the same object until the
        next report."""
        if self._update is None and self.last is not None:
            fraction, message, at = self.last
            self._update = ProgressUpdate(
                progress=JobProgress(fraction=fraction, message=message, at=at),
                checkpoint=self._unwritten)
        return self._update

    def written(self, update: ProgressUpdate) -> None:
        """``update`` (taken from :meth:`pending`) reached the store."""
        if self._update is update:
            self.last = self._update = self._unwritten = None
