"""Versioned schema steps, shared by every backend's migrator.

A :class:`Migration` belongs to a component (``jobs`` for the engine, ``app`` for the
application's own tables) and has a version unique within it. Steps are applied in version
order, each once, inside one write transaction that also records it, so two processes that start
together apply each step exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs


@attrs.frozen(kw_only=True)
class Migration:
    component: str
    version: int
    description: str
    #: Statements for each backend, by backend name ("sqlite", "postgresql").
    statements: dict[str, Sequence[str]]


def pending(
    migrations: Iterable[Migration], applied: set[tuple[str, int]], backend: str
) -> list[Migration]:
    """The steps not yet applied, in (component, version) order; checks versions are unique."""
    seen: set[tuple[str, int]] = set()
    todo = []
    for step in sorted(migrations, key=lambda m: (m.component, m.version)):
        key = (step.component, step.version)
        if key in seen:
            raise ValueError(f"migration {key} is defined twice")
        seen.add(key)
        if backend not in step.statements:
            raise ValueError(f"migration {key} has no statements for {backend}")
        if key not in applied:
            todo.append(step)
    return todo
