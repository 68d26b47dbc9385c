"""The layering of shared/design.md holds: contracts in pyproject.toml, no cycles, one front door.

``lint-imports`` checks the import-linter contracts (layers from the entry points down to the
engine, the HTTP parts, backend independence, no web framework in the engine). grimp, the graph
import-linter is built on, counts every import -- also those inside functions and under
``TYPE_CHECKING`` -- so a cycle cannot hide in a function body.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).parent.parent.parent
#: What code outside the engine may import of it.
FRONT_DOORS = {"service.jobs", "service.jobs.testing"}


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("service", cache_dir=None)


def test_import_linter_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_of_service_is_part_of_an_import_cycle() -> None:
    graph = _graph()
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join([module, *back]))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_code_outside_the_engine_imports_only_its_public_modules() -> None:
    graph = _graph()
    reaching_in = []
    for module in sorted(graph.modules):
        if module == "service.jobs" or module.startswith("service.jobs."):
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("service.jobs.") and imported not in FRONT_DOORS:
                reaching_in.append(f"{module} imports {imported}")
    assert not reaching_in, "\n".join(sorted(reaching_in))


def test_the_domain_never_imports_the_tasks() -> None:
    graph = _graph()
    chain = graph.find_shortest_chain(importer="service.domain", imported="service.tasks")
    assert chain is None, " -> ".join(chain or ())


def test_importing_the_engine_loads_no_web_framework_and_no_psycopg() -> None:
    heavy = ("quart", "quart_trio", "hypercorn", "werkzeug", "psycopg", "psycopg_pool")
    code = (
        "import sys, service.jobs, service.jobs.testing\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
