"""The product package imports nothing from the sandbox, the chaos suite or Faker.

``orderbridge_sandbox`` and ``orderbridge_chaos`` serve ``make demo``, the tests and the chaos
suite; they may import from ``orderbridge``, never the reverse, and Faker is a sandbox-only
dependency (the ``sandbox`` extra). Read from the source, so nothing has to be importable.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "orderbridge"
FORBIDDEN = ("orderbridge_sandbox", "orderbridge_chaos", "faker")


def imported_modules(source: str) -> set[str]:
    """Absolute module names a module's source imports, including ``importlib.import_module("...")``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and _is_dynamic_import(node.func):
            names.add(node.args[0].value)
    return names


def _is_dynamic_import(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return name in ("import_module", "__import__")


def forbidden(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0].lower() in FORBIDDEN)


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_walk_finds_the_product_modules():
    assert PACKAGE / "config.py" in MODULES and len(MODULES) > 20


@pytest.mark.parametrize("source, found", [
    ("from orderbridge_sandbox.process import start_sandbox", ["orderbridge_sandbox.process"]),
    ("import orderbridge_chaos", ["orderbridge_chaos"]),
    ("def f():\n    from faker import Faker", ["faker"]),
    ("import importlib\nimportlib.import_module('orderbridge_sandbox.warehouse')", ["orderbridge_sandbox.warehouse"]),
    ("from orderbridge.orders import SkuMap\nimport yaml  # orderbridge_sandbox is only named here", []),
])
def test_the_check_catches_every_form_of_import(source, found):
    assert forbidden(imported_modules(source)) == found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_product_module_imports_neither_the_sandbox_nor_chaos_nor_faker(path):
    assert forbidden(imported_modules(path.read_text(encoding="utf-8"))) == []
