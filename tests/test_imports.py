"""Every module of saliencykit imports on its own, first, in a fresh interpreter.

An import that works only because something else was imported before it (an import-order cycle such as
``methods/drise.py`` -> ``detection/__init__`` -> ``methods.drise``, which works today only because
``saliencykit/__init__`` happens to import ``detection`` first) fails here, naming the module. Each module is
imported with no ``saliencykit.*`` module loaded and with the top-level package present but not executed, so
``saliencykit/__init__``'s import order cannot hide a cycle; ``saliencykit`` itself is imported normally. One
interpreter runs the whole walk (third-party modules stay loaded between modules, which keeps it fast).
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import saliencykit

pytestmark = pytest.mark.slow  # left out of `make test-fast` (the inner loop); `make test` runs it

PACKAGE_DIR = Path(saliencykit.__file__).parent

# Run in a fresh interpreter: argv = package name, package folder, module names; prints {module: traceback}.
DRIVER = """
import importlib, importlib.util, json, sys, traceback
package, folder, names = sys.argv[1], sys.argv[2], sys.argv[3:]
failures = {}
for name in names:
    for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
        del sys.modules[key]
    if name != package:  # the package's module object without running its __init__
        spec = importlib.util.spec_from_file_location(
            package, folder + "/__init__.py", submodule_search_locations=[folder]
        )
        sys.modules[package] = importlib.util.module_from_spec(spec)
    try:
        importlib.import_module(name)
    except BaseException:
        failures[name] = traceback.format_exc(limit=-4)
print(json.dumps(failures))
"""


def modules() -> list[str]:
    """Every module and package under saliencykit (``__main__`` modules run a program: left out)."""
    found = {"saliencykit"}
    for info in pkgutil.walk_packages(saliencykit.__path__, "saliencykit.", onerror=lambda name: None):
        if not info.name.endswith(".__main__"):
            found.add(info.name)
    return sorted(found)


def import_each_first(package: str, folder: Path, names: list[str], pythonpath: str) -> dict[str, str]:
    """``{module: traceback}`` of the modules that fail to import first, each in a clean ``sys.modules``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([pythonpath, *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, package, str(folder), *names],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def failures() -> dict[str, str]:
    return import_each_first("saliencykit", PACKAGE_DIR, modules(), str(PACKAGE_DIR.parent))


def test_the_walk_finds_every_package_and_module():
    names = modules()
    assert len(names) > 50
    expected = {"saliencykit.cli", "saliencykit.cli.options", "saliencykit.methods.rise", "saliencykit.audit.local"}
    assert expected <= set(names)


def test_every_module_imports_first_in_a_fresh_interpreter(failures):
    assert not failures, "\n\n".join(f"{name} does not import on its own:\n{e}" for name, e in failures.items())


def test_a_module_that_imports_from_its_half_initialised_package_is_caught(tmp_path):
    """The check can fail: ``a`` works after ``import cyclic`` but not when it is imported first."""
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("B = 1\nfrom .a import A\n")
    (package / "a.py").write_text("from .b import C\nA = C\n")
    (package / "b.py").write_text("from . import B\nC = B\n")
    found = import_each_first("cyclic", package, ["cyclic", "cyclic.a", "cyclic.b"], str(tmp_path))
    assert set(found) == {"cyclic.a", "cyclic.b"} and "ImportError" in found["cyclic.a"]
