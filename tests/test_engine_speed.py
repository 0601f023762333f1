"""Speed-motivated parts of the engine whose behaviour can still be checked: what a file's analysis leaves for
the cyclic garbage collector."""
from __future__ import annotations

import ast
import gc
from pathlib import Path

from gapcheck.analyzer.engine import Dispatcher, analyse_source
from gapcheck.analyzer.model import ModuleContext, unlink, walk_with_parents
from gapcheck.analyzer.registry import load_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_unlink_removes_the_parent_and_owner_links():
    tree = ast.parse("def f(x):\n    return g(x)\n")
    nodes = walk_with_parents(tree)
    ctx = ModuleContext("m.py", tree, [], "", nodes=nodes)
    call = next(n for n in nodes if isinstance(n, ast.Call))
    assert isinstance(ctx.enclosing_function(call), ast.FunctionDef)
    unlink(nodes)
    assert all(ctx.parent(n) is None for n in nodes)
    assert ctx.enclosing_function(call) is None
    assert ast.dump(tree) == ast.dump(ast.parse("def f(x):\n    return g(x)\n"))  # the tree itself is intact


def test_analysing_a_file_leaves_no_reference_cycle_behind():
    """Each file's tree is freed by reference counting as soon as its analysis ends (a cycle left by the parent
    links would wait for the collector, which then walks every node of every such tree)."""
    dispatcher = Dispatcher([r for r in load_rules() if r.is_python])
    files = sorted(FIXTURES.rglob("*.py"))
    assert len(files) > 50
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        left = {}
        for path in files:
            gc.collect()
            result = analyse_source(path.as_posix(), path.read_bytes(), dispatcher, "")
            assert result.analysed or path.name.startswith("syntax"), path
            collected = gc.collect()
            if collected:
                left[path.name] = collected
    finally:
        if enabled:
            gc.enable()
    assert left == {}
