"""What the inspect step of an upload's workflow returns, and how the later steps read it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..domain.uploads import thumbnail_path
from ..jobs import Backoff, TaskOptions

if TYPE_CHECKING:
    from ..domain.sniff import FileFacts
    from ..jobs import SyncJobContext


def inspect_result(facts: FileFacts, upload_dir: Path, stored_name: str) -> dict[str, Any]:
    """The inspect step's result: the file's facts, and the absolute paths of the file and of
    its thumbnail as the inspecting worker sees the upload directory."""
    directory = upload_dir.absolute()
    return {**attrs.asdict(facts), "source": str(directory / stored_name),
            "thumbnail": str(thumbnail_path(directory, stored_name))}


def step_options(name: str) -> TaskOptions:
    """The options of a CPU-bound step after the inspect step (thumbnail, text): in a process
    of the worker's pool, two at once, three attempts with backoff, killed after 120 s."""
    return TaskOptions(name=name, run_in="process", concurrency=2, max_attempts=3, timeout=120,
                       backoff=Backoff(base=2, factor=4, cap=600))


#: A step's result when the inspect step it follows inspected nothing.
NOTHING_INSPECTED = {"skipped": "the inspect step inspected no file (see its result)"}


def inspected_paths(ctx: SyncJobContext) -> tuple[Path, Path] | None:
    """The file's path and its thumbnail's, from the inspect step's result among ``ctx``'s
    dependency results; None when that step completed without inspecting (its upload was
    already processed, or is processed by another workflow)."""
    for result in ctx.dependency_results.values():
        if isinstance(result, dict) and "source" in result:
            return Path(result["source"]), Path(result["thumbnail"])
    return None
