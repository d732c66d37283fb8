"""The package itself: typed (py.typed, stubs covering every compiled name, mypy --strict clean),
its public names, its version."""
import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import relaylink
from relaylink import _core
from conftest import REPO

PKG = Path(relaylink.__file__).resolve().parent


def public(module):
    return {n for n in dir(module) if not n.startswith("_")}


def stub_names(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.name for a in node.names)
    return names


def test_py_typed_marker_is_shipped():
    assert (PKG / "py.typed").exists()


@pytest.mark.parametrize("module,stub", [(_core, "__init__.pyi"), (_core.modbus, "modbus.pyi")])
def test_stubs_cover_every_compiled_name(module, stub):
    path = PKG / "_core" / stub
    missing = public(module) - stub_names(path)
    assert not missing, f"{stub} lacks {sorted(missing)}: run bindings/python/tools/make_stubs.py"


def test_stub_members_match_the_compiled_classes():
    tree = ast.parse((PKG / "_core" / "__init__.pyi").read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            compiled = {n for n in dir(getattr(_core, node.name)) if not n.startswith("_")}
            stubbed = {n.name for n in node.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
            assert compiled <= stubbed | {"type"}, f"{node.name}: {sorted(compiled - stubbed)} not in the stub"


def test_everything_in___all___exists():
    for name in relaylink.__all__:
        assert hasattr(relaylink, name), name
    from relaylink import chirpstack_service, modbus, profiles
    for mod in (modbus, profiles):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_version_matches_pyproject_and_cmake():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'version = "{relaylink.__version__}"' in pyproject
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert re.search(rf"project\(relaylink VERSION {re.escape(relaylink.__version__)}\b", cmake)


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_strict_passes_on_the_package_and_a_typical_use(tmp_path):
    here = Path(__file__).parent
    env = dict(os.environ)
    if "site-packages" not in PKG.parts:  # a build tree on PYTHONPATH, which mypy does not read
        env["MYPYPATH"] = str(PKG.parent)
    for target in (["-p", "relaylink"], [str(here / "typed_usage.py")]):
        r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *target],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
