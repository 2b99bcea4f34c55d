"""The sans-IO core stays sans-IO: physics, grid functions, operator controls and the engine.

Issue "a house a newcomer can live in": no module in ``physics/``, ``grid/``, ``controls/`` or
``engine/`` imports trio, quart, quart-trio, hypercorn, httpx or socket (nor asyncio or
subprocess), or does I/O: opens a file, reads or writes one through ``pathlib``, reads package
data through ``importlib.resources``. Files are read in ``setup/`` and handed over as data.
Checked on the source with ``ast``, so a lazy import inside a function counts too. That no front
end imports the simulation (physics, engine, controls, grid) is ``test_front_ends.py``'s check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "dersim_trio"
SANS_IO_LAYERS = ("physics", "grid", "controls", "engine")
FORBIDDEN_IMPORTS = frozenset(
    {"trio", "quart", "quart_trio", "hypercorn", "httpx", "socket", "asyncio", "subprocess"}
)
FILE_METHODS = frozenset(
    {"read_text", "write_text", "read_bytes", "write_bytes", "open", "iterdir", "touch"}
)
FILE_FUNCTIONS = frozenset({"open"})


def modules(layer: str) -> Iterator[Path]:
    """Every ``.py`` file under ``src/dersim_trio/<layer>`` (none if the layer is absent)."""
    root = PACKAGE / layer
    if root.is_dir():
        yield from sorted(root.rglob("*.py"))


def imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted module name) of every import statement, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def io_violations(source: str) -> list[str]:
    """What makes a module not sans-IO: forbidden imports, file access, package data reads."""
    tree = ast.parse(source)
    found: list[str] = []
    for line, name in imported_names(tree):
        top = name.split(".", 1)[0]
        if top in FORBIDDEN_IMPORTS:
            found.append(f"line {line}: imports {name}")
        if name == "importlib.resources" or name.startswith("importlib.resources."):
            found.append(f"line {line}: reads package data through {name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FILE_FUNCTIONS:
            found.append(f"line {node.lineno}: calls {func.id}()")
        elif isinstance(func, ast.Attribute) and func.attr in FILE_METHODS:
            found.append(f"line {node.lineno}: calls .{func.attr}()")
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "resources"
        ):
            found.append(f"line {node.lineno}: calls resources.{func.attr}()")
    return found


SANS_IO_MODULES = [path for layer in SANS_IO_LAYERS for path in modules(layer)]


def test_the_layers_exist_so_the_checks_below_check_something() -> None:
    layers = {path.relative_to(PACKAGE).parts[0] for path in SANS_IO_MODULES}
    assert set(SANS_IO_LAYERS) <= layers
    assert len(SANS_IO_MODULES) >= 40


@pytest.mark.parametrize(
    "path", SANS_IO_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)).removesuffix(".py")
)
def test_a_sans_io_module_imports_no_io_library_and_touches_no_file(path: Path) -> None:
    assert io_violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("import trio\n", "imports trio"),
        ("def f():\n    import quart_trio.app\n", "imports quart_trio.app"),
        ("from hypercorn.config import Config\n", "imports hypercorn.config"),
        ("import httpx as h\n", "imports httpx"),
        ("from socket import socketpair\n", "imports socket"),
        ("text = open('x').read()\n", "calls open()"),
        ("from pathlib import Path\nPath('x').read_text()\n", "calls .read_text()"),
        ("from importlib import resources\n", "importlib.resources"),
        ("import importlib.resources\n", "importlib.resources"),
        ("from importlib.resources import files\n", "importlib.resources"),
    ],
)
def test_the_checker_catches_each_kind_of_violation(source: str, fragment: str) -> None:
    found = io_violations(source)
    assert found
    assert fragment in found[0]


def test_the_checker_lets_plain_computation_through() -> None:
    source = "import math\nfrom dataclasses import dataclass\nx = math.sqrt(2)\nopened = False\n"
    assert io_violations(source) == []
    assert io_violations("from dersim_trio.physics.base import Dispatch\n") == []
