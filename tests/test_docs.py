"""The docs stay true: every command in README.md and docs/*.md (fenced
``bash`` blocks) that runs one of our scripts names a script that exists and
flags that its argparse accepts (parsed, not run); every relative link and
picture resolves; every config named exists and loads; every fenced
``python`` block parses, and what it imports from detect (``import
detect...``, ``from detect... import X``, and ``detect.X`` attributes of such
an import) exists, without running the rest of the block; README stays a
front page (at most 200 lines).

Parsing is all a command needs here, so no command is skipped for want of
data: the files it names (photos, run folders, zoo weights) are not opened.
"""
import argparse
import ast
import glob
import importlib
import os
import re
import runpy
import shlex
import sys

import pytest

from detect.config import get_cfg, merge_from_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
OURS = ("tools/", "benchmarks/")  # scripts of this repository
SEPARATORS = re.compile(r"\s(?:&&|\|\||;|\||&)(?=\s|$)")  # and, or, then, pipe, background


def _rel(path):
    return os.path.relpath(path, ROOT)


def _fenced(path):
    """(language, first line number, lines) of each fenced block."""
    blocks, lang, start, body = [], None, 0, []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        m = re.match(r"^\s*```(\S*)\s*$", line)
        if m and lang is None:
            lang, start, body = m.group(1) or "text", n + 1, []
        elif m:
            blocks.append((lang, start, body))
            lang = None
        elif lang is not None:
            body.append(line.rstrip("\n"))
    return blocks


def _commands():
    """(page:line, script, args) of every command that runs one of our scripts."""
    found = {}
    for page in PAGES:
        for lang, start, body in _fenced(page):
            if lang not in ("bash", "sh", "shell"):
                continue
            logical, first = "", None
            for n, line in enumerate(body, start):
                first = n if first is None else first
                if line.rstrip().endswith("\\"):
                    logical += line.rstrip()[:-1] + " "
                    continue
                logical += line
                for segment in SEPARATORS.split(logical):
                    tokens = shlex.split(segment, comments=True)
                    while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):  # VAR=value prefixes
                        tokens.pop(0)
                    if len(tokens) >= 2 and tokens[0] in ("python", "python3") \
                            and tokens[1].startswith(OURS) and tokens[1].endswith(".py"):
                        found.setdefault((tokens[1], tuple(tokens[2:])), f"{_rel(page)}:{first}")
                logical, first = "", None
    return [(where, script, list(args)) for (script, args), where in found.items()]


COMMANDS = _commands()


class _Parsed(Exception):
    pass


def test_the_docs_hold_commands_of_every_main_tool():
    scripts = {script for _, script, _ in COMMANDS}
    for tool in ("tools/quickstart.py", "tools/train_net.py", "tools/test_net.py", "tools/demo.py",
                 "tools/export_model.py", "tools/serve.py", "tools/import_weights.py"):
        assert tool in scripts, f"no command in README.md or docs/ runs {tool}"


@pytest.mark.parametrize("where,script,args", COMMANDS, ids=[f"{w} {s}" for w, s, _ in COMMANDS])
def test_command_parses(where, script, args, monkeypatch, capsys):
    path = os.path.join(ROOT, script)
    assert os.path.isfile(path), f"{where}: {script} does not exist"
    real = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, argv=None, namespace=None):
        raise _Parsed(real(self, argv, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    monkeypatch.setattr(sys, "argv", [path] + args)
    monkeypatch.setattr(sys, "path", list(sys.path))
    environ = dict(os.environ)
    try:
        runpy.run_path(path, run_name="__main__")
    except _Parsed:
        return
    except SystemExit as e:
        pytest.fail(f"{where}: `python {script} {shlex.join(args)}` does not parse "
                    f"(exit {e.code}): {capsys.readouterr().err.strip()[-600:]}")
    finally:
        os.environ.clear()
        os.environ.update(environ)
    pytest.fail(f"{where}: {script} ran without parsing its arguments with argparse")


def _links(page):
    """(line, target) of every Markdown link and picture outside fenced code."""
    out, fence = [], False
    for n, line in enumerate(open(page, encoding="utf-8"), 1):
        if re.match(r"^\s*```", line):
            fence = not fence
            continue
        if not fence:
            out += [(n, m.group(1)) for m in re.finditer(r"!?\[[^\]]*\]\(([^)\s]+)\)", line)]
    return out


@pytest.mark.parametrize("page", PAGES, ids=[_rel(p) for p in PAGES])
def test_links_and_pictures_resolve(page):
    bad = []
    for n, target in _links(page):
        if re.match(r"^(https?:|mailto:|#)", target):
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
        if not os.path.exists(path):
            bad.append(f"{_rel(page)}:{n}: {target}")
    assert not bad, "links to nothing:\n" + "\n".join(bad)


def test_configs_named_exist_and_load():
    named = {}
    for page in PAGES:
        for n, line in enumerate(open(page, encoding="utf-8"), 1):
            for m in re.finditer(r"experiments/cfgs/[\w./-]+?\.yml", line):
                named.setdefault(m.group(0), f"{_rel(page)}:{n}")
    assert named
    for cfg_path, where in sorted(named.items()):
        path = os.path.join(ROOT, cfg_path)
        assert os.path.isfile(path), f"{where}: {cfg_path} does not exist"
        merge_from_file(get_cfg(), path)  # unknown keys or bad values raise


def _python_blocks():
    """(page:line, source) of every fenced python block."""
    return [(f"{_rel(page)}:{start}", "\n".join(body)) for page in PAGES
            for lang, start, body in _fenced(page) if lang in ("python", "py")]


PYTHON_BLOCKS = _python_blocks()


def _ours(name):
    return name == "detect" or name.startswith("detect.")


def _resolve(module_name, names, where):
    """The object at module_name.names[0].names[1]...: a submodule is imported
    when the attribute is not there yet. Fails the test naming what is missing."""
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        pytest.fail(f"{where}: `import {module_name}` fails: {e}")
    path = module_name
    for name in names:
        if not hasattr(obj, name) and isinstance(obj, type(importlib)):
            try:
                importlib.import_module(f"{path}.{name}")
            except ImportError:
                pass
        if not hasattr(obj, name):
            pytest.fail(f"{where}: {path} has no {name}")
        obj, path = getattr(obj, name), f"{path}.{name}"
    return obj


def _attribute_chain(node):
    """["detect", "engine", "load_model"] for detect.engine.load_model."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.insert(0, node.attr)
        node = node.value
    return [node.id] + chain if isinstance(node, ast.Name) else None


def test_the_docs_hold_python_blocks():
    assert PYTHON_BLOCKS, "no ```python block in README.md or docs/"


@pytest.mark.parametrize("where,source", PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS])
def test_python_block_parses_and_imports_what_exists(where, source):
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        pytest.fail(f"{where}: the block does not parse: {e.msg} (block line {e.lineno})")
    bound = {}  # name in the block -> the module it names (import detect, import detect.ops as o)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    _resolve(alias.name, [], where)
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module or ""):
            for alias in node.names:
                if alias.name != "*":
                    _resolve(node.module, [alias.name], where)
    for node in ast.walk(tree):
        chain = _attribute_chain(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in bound:
            obj = importlib.import_module(bound[chain[0]])
            path = bound[chain[0]]
            for name in chain[1:]:  # through modules only: detect.ops.roi_align, not its attributes
                if not isinstance(obj, type(importlib)):
                    break
                obj = _resolve(path, [name], where)
                path = f"{path}.{name}"


def test_readme_is_a_front_page():
    n = sum(1 for _ in open(os.path.join(ROOT, "README.md"), encoding="utf-8"))
    assert n <= 200, f"README.md has {n} lines; reference material belongs in docs/"
