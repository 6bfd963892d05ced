"""Imports in detect/ go one way: each unit (a subpackage or a top-level
module) imports only units of lower layers, in the order that
docs/development.md ("Layers") gives. Imports inside functions count."""
import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "detect")


def read_layers():
    """{unit: layer} from the table in docs/development.md."""
    with open(os.path.join(ROOT, "docs", "development.md")) as f:
        text = f.read()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    block = section.split("```text", 1)[1].split("```", 1)[0]
    layers = {}
    for line in block.splitlines():
        m = re.match(r"(\d+)\s+([a-z_]+(?:, [a-z_]+)*)(?:\s{2,}|$)", line)
        if m:
            for unit in m.group(2).split(", "):
                layers[unit] = int(m.group(1))
    return layers


def units():
    """The units of detect/: its subpackages and top-level modules."""
    out = []
    for name in sorted(os.listdir(PACKAGE)):
        path = os.path.join(PACKAGE, name)
        if os.path.isfile(os.path.join(path, "__init__.py")):
            out.append(name)
        elif name.endswith(".py") and name != "__init__.py":
            out.append(name[:-3])
    return out


def imported_units(source, module):
    """{(imported unit, line)} of every detect import in ``source``, the text
    of the module ``module`` ("detect.weights.zoo"; a package's __init__ by
    the package's name), relative imports resolved; the package root itself
    (``from detect import __version__``) is left out."""
    package = module.split(".") if source_is_package(module) else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            names = [name] if name != "detect" else [f"detect.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "detect" and len(parts) > 1 and parts[1] in UNITS:
                found.add((parts[1], node.lineno))
    return found


def source_is_package(module):
    return os.path.isdir(os.path.join(ROOT, *module.split(".")))


UNITS = units()
LAYERS = read_layers()


def test_the_table_names_every_unit():
    assert len(LAYERS) > 10, "docs/development.md has no layer table under '## Layers'"
    missing = [u for u in UNITS if u not in LAYERS]
    assert not missing, f"detect/ units missing from docs/development.md's layer table: {missing}"
    gone = [u for u in LAYERS if u not in UNITS]
    assert not gone, f"docs/development.md's layer table names units detect/ lacks: {gone}"


def _files(unit):
    path = os.path.join(PACKAGE, unit)
    if not os.path.isdir(path):
        return [path + ".py"]
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".py"))


def upward_imports(unit, layers=None):
    """["file:line imports unit (layer n)"] for each import of ``unit`` that
    reaches its own layer or above (another unit of it) or an unknown unit."""
    layers = layers or LAYERS
    bad = []
    for path in _files(unit):
        rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
        module = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        with open(path) as f:
            source = f.read()
        for other, line in sorted(imported_units(source, module)):
            if other != unit and layers.get(other, 99) >= layers[unit]:
                bad.append(f"{os.path.relpath(path, ROOT)}:{line} imports detect.{other} "
                           f"(layer {layers.get(other, '?')}; {unit} is layer {layers[unit]})")
    return bad


@pytest.mark.parametrize("unit", [u for u in UNITS if u in LAYERS])
def test_imports_go_down(unit):
    bad = upward_imports(unit)
    assert not bad, "imports against the layer order of docs/development.md:\n" + "\n".join(bad)


def test_the_check_sees_an_upward_import():
    """The check itself: with weights placed above modeling, modeling's
    imports of it are caught; with datasets placed above evaluation, the
    evaluation layer's; and an import inside a function or a relative one
    counts."""
    assert upward_imports("modeling", dict(LAYERS, weights=LAYERS["modeling"]))
    assert upward_imports("evaluation", dict(LAYERS, datasets=LAYERS["evaluation"]))
    hidden = "def load(path):\n    from detect.engine.checkpoint import load_model\n"
    assert imported_units(hidden, "detect.weights.zoo") == {("engine", 2)}
    assert imported_units("from ..engine import checkpoint\n", "detect.weights.zoo") == {("engine", 1)}
    assert imported_units("from . import zoo\nfrom detect import __version__\n", "detect.weights") == {
        ("weights", 1)}
