"""tools/ are thin entry points: they import the standard library and the
installed `detect` package only (never one another, tests/ or benchmarks/),
and do not edit sys.path."""
import ast
import glob
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = sorted(glob.glob(os.path.join(ROOT, "tools", "*.py")))


def test_every_tool_is_checked():
    names = {os.path.basename(t) for t in TOOLS}
    assert {"train_net.py", "test_net.py", "demo.py", "quickstart.py", "reval.py"} <= names


@pytest.mark.parametrize("path", TOOLS, ids=os.path.basename)
def test_tool_imports_only_the_library(path):
    with open(path) as f:
        source = f.read()
    tree = ast.parse(source)
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert modules
    foreign = [m for m in modules if m.split(".")[0] not in sys.stdlib_module_names
               and m.split(".")[0] != "detect"]
    assert not foreign, f"{os.path.basename(path)} imports {foreign}"
    assert "sys.path" not in source, f"{os.path.basename(path)} edits sys.path"
