"""The layer rule, as an import-graph check: imports run one way.

::

    cli                      the command line (semlink.cli)
    sim                      the experiment layer: configs, runner, executors, plots, report
    systems                  schemes: the System contract, specs, trained codecs, image paths
    tx, rx                   transmitter and receiver halves
    phy, bridge, kb, metrics, data
    errors, io, seeding, config, registry, lazy, devices, imaging, local_models

A module may import its own layer or any layer below it, never one above — also not inside a
function (a lazy import is still a dependency). The test reads every module's imports with ``ast``
(nothing is imported), so a forbidden import fails it with the file, line and the two layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "semlink"

LAYERS = {
    "foundation": 0, "phy": 1, "bridge": 1, "kb": 1, "metrics": 1, "data": 1, "tx": 2, "rx": 2, "systems": 3,
    "sim": 4, "cli": 5,
}
FOUNDATION = {"errors", "io", "seeding", "config", "registry", "lazy", "devices", "imaging", "local_models", "progress",
              "threads", "__init__"}


def layer_of(module: str) -> str:
    """``semlink.phy.digital`` → ``"phy"``; root modules are the foundation, ``semlink.cli`` the CLI."""
    parts = module.split(".")
    if len(parts) == 1:
        return "foundation"
    top = parts[1]
    if top in FOUNDATION:
        return "foundation"
    if top not in LAYERS:
        raise AssertionError(f"module {module!r} belongs to no layer: add its package to LAYERS in {__file__}")
    return top


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, imported semlink module)`` of every import in the file (relative ones resolved)."""
    here = _module_name(path)
    return imports_in(path.read_text(encoding="utf-8"), here if path.name == "__init__.py" else here.rsplit(".", 1)[0])


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """:func:`imports_of` for the ``source`` of a module of ``package``."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "semlink"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "semlink":
                found.append((node.lineno, name))
    return found


def test_every_import_runs_down_the_layers():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    broken = []
    for path in files:
        mine = layer_of(_module_name(path))
        for line, target in imports_of(path):
            theirs = layer_of(target)
            if LAYERS[theirs] > LAYERS[mine]:
                broken.append(f"{path.relative_to(SRC.parent)}:{line} imports {target} ({mine} -> {theirs})")
    assert not broken, "imports that run up the layers:\n" + "\n".join(broken)


def test_the_check_sees_a_forbidden_import():
    """The rule is not vacuous: a phy module importing the experiment layer is caught, lazily or relatively."""
    source = "import os\n\ndef f():\n    from semlink.sim.runner import Point\n    from ..sim import plots\n"
    found = imports_in(source, "semlink.phy")
    assert found == [(4, "semlink.sim.runner"), (5, "semlink.sim")]
    assert all(LAYERS[layer_of(target)] > LAYERS["phy"] for _, target in found)


@pytest.mark.parametrize(("module", "layer"), [("semlink", "foundation"), ("semlink.errors", "foundation"),
                                                ("semlink.phy.spec", "phy"), ("semlink.cli", "cli"),
                                                ("semlink.systems.specs.kbsc", "systems")])
def test_layer_names(module, layer):
    assert layer_of(module) == layer
