"""Run the plume modules' doctests (edge cases live there) and guard the package boundary."""

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import plume

MODULES = ["plume"] + [f"plume.{m.name}" for m in pkgutil.iter_modules(plume.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_doctests_exist_for_the_core_modules():
    counted = {n: doctest.testmod(importlib.import_module(n)).attempted for n in MODULES}
    for core in ("plume.sigmas", "plume.gaussian", "plume.meteo", "plume.units",
                 "plume.chemicals", "plume.source", "plume.dose", "plume.footprint"):
        assert counted[core] >= 2, core


FORBIDDEN = {"geo", "api", "layers", "workflows", "telemetry", "exchange", "fastapi",
             "sqlalchemy", "geoalchemy2", "psycopg", "logging"}


@pytest.mark.parametrize("path", sorted(Path(plume.__file__).parent.glob("*.py")),
                         ids=lambda p: p.name)
def test_plume_imports_nothing_of_ours_and_no_web_or_db(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for n in names:
            assert n.split(".")[0] not in FORBIDDEN, f"{path.name} imports {n}"


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_all(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__")
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.__all__ lists missing {attr}"
