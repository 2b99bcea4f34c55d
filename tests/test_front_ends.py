"""Front ends translate; they never reach into the simulation.

Every module under ``web/`` and ``protocols/`` reaches devices only through the operator façade
(``service/operator.py``) and the published telemetry (``service/hub.py``): none imports a module
of ``physics/``, ``engine/``, ``controls/`` or ``grid/``. Read from the source (module-level and
function-level imports alike), so a late import cannot hide one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dersim_trio"
FRONT_ENDS = ("web", "protocols")
SIMULATION = ("physics", "engine", "controls", "grid")


def imported_modules(path: Path) -> set[str]:
    """Every ``dersim_trio`` module ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("dersim_trio")}


FRONT_END_FILES = sorted(p for front in FRONT_ENDS for p in (PACKAGE / front).rglob("*.py"))


def test_the_front_end_files_are_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in FRONT_END_FILES}
    assert {"web/app.py", "web/routes/controls.py", "web/fastpath/door.py"} <= names
    assert {"protocols/modbus/server.py", "protocols/modbus/models/ac_controls.py"} <= names


@pytest.mark.parametrize(
    "path", FRONT_END_FILES, ids=[p.relative_to(PACKAGE).as_posix() for p in FRONT_END_FILES]
)
def test_a_front_end_module_imports_no_simulation_module(path: Path) -> None:
    reaching_in = sorted(
        name
        for name in imported_modules(path)
        if name.split(".")[1:2] and name.split(".")[1] in SIMULATION
    )
    assert reaching_in == [], f"{path.name} imports {reaching_in}: go through the façade"
