"""Parts of the engine that exist for speed, checked for their behaviour: what a file's analysis leaves for the
cyclic garbage collector, and call handlers dispatched only for the callee names they can report on."""
from __future__ import annotations

import ast
import gc
import json
from pathlib import Path

import pytest

from gapcheck.analyzer.engine import Dispatcher, analyse_source, build_dispatch
from gapcheck.analyzer.model import ModuleContext, unlink, walk_with_parents
from gapcheck.analyzer.registry import Docs, Rule, load_rules

from .conftest import semgrep_available

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
    for path in files:  # once first: what a check builds lazily the first time (an import, a table) is not a file's
        analyse_source(path.as_posix(), path.read_bytes(), dispatcher, "")
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


# ---- call handlers limited to a few callee names (`Rule.on(ast.Call, callees=...)`) -------------------------
def _stand_in(rule_id: str, seen: list, callees: tuple[str, ...] | None = None) -> Rule:
    rule = Rule(id=rule_id, name=f"stand-in-{rule_id.lower()}", category="timeout-retry", severity="note",
                precision="medium", summary="", docs=Docs("", "", "", "", ""))
    _REGISTERED.append(rule)

    @rule.on(ast.Call, callees=callees)
    def handler(call: ast.Call, ctx: ModuleContext) -> None:
        seen.append((rule_id, ast.unparse(call.func)))

    return rule


_REGISTERED: list[Rule] = []


def teardown_function() -> None:
    from gapcheck.analyzer import registry

    for rule in _REGISTERED:  # the stand-ins registered themselves: the real registry must not keep them
        registry._REGISTRY._rules.pop(rule.id, None)
        registry._REGISTRY._names.pop(rule.name, None)
    _REGISTERED.clear()


def test_a_filtered_call_handler_sees_only_its_callee_names_and_aliased_imports():
    seen: list = []
    everything = _stand_in("GAP491", seen)
    runs = _stand_in("GAP492", seen, callees=("subprocess.run", "wait"))
    source = (b"import subprocess\nfrom subprocess import check_output as out\nimport os.path as osp\n"
              b"subprocess.run(['ls'])\nrun()\nproc.wait()\nwait.later()\nout(['ls'])\nosp.join('a')\n"
              b"handlers['run']()\nget()()\n"
              b"def f():\n    from shutil import which as run_it\n    run_it('ls')\n")
    analyse_source("app/jobs.py", source, Dispatcher([everything, runs], facts=False))
    filtered = [spelled for rule_id, spelled in seen if rule_id == "GAP492"]
    # By last name (a dotted name counts by its last part); `out` and `run_it` are import aliases, so their
    # qualified names may be anything: they get every handler. `osp.join` is an attribute: `join`, not `osp`.
    assert filtered == ["subprocess.run", "run", "proc.wait", "out", "run_it"]
    unfiltered = [spelled for rule_id, spelled in seen if rule_id == "GAP491"]
    assert len(unfiltered) == 10  # every call, whatever its callee
    # Each call's handlers keep their registration order: the unfiltered one first, as registered.
    assert seen[:2] == [("GAP491", "subprocess.run"), ("GAP492", "subprocess.run")]


def test_the_dispatch_table_by_callee_keeps_the_registration_order():
    seen: list = []
    first = _stand_in("GAP493", seen, callees=("get",))
    middle = _stand_in("GAP494", seen)
    last = _stand_in("GAP495", seen, callees=("get", "post"))
    table = build_dispatch([first, middle, last])
    assert [r.id for r, _ in table[ast.Call]] == ["GAP493", "GAP494", "GAP495"]
    assert [r.id for r, _ in table.any_callee] == ["GAP494"]
    assert [r.id for r, _ in table.by_callee["get"]] == ["GAP493", "GAP494", "GAP495"]
    assert [r.id for r, _ in table.by_callee["post"]] == ["GAP494", "GAP495"]
    assert set(table.by_callee) == {"get", "post"}
    assert build_dispatch([middle]).by_callee == {}  # no filter: calls go through table[ast.Call] as before


def test_callees_are_for_call_handlers_and_name_words():
    rule = _stand_in("GAP496", [])
    for bad in ({"node_types": (ast.Attribute,), "callees": ("get",)}, {"node_types": (ast.Call,), "callees": "get"},
                {"node_types": (ast.Call,), "callees": ()}, {"node_types": (ast.Call,), "callees": ("get(",)}):
        with pytest.raises(ValueError):
            rule.on(*bad["node_types"], callees=bad["callees"])


def _many_call_shapes() -> str:
    """Every name a shipped filter lists, called in the shapes checks look at (plain, method, on `self`, awaited,
    in a loop, inside request and task code, with and without timeouts and splats), plus aliased imports."""
    names = sorted({name for rule in load_rules() for names in rule.callees.values() for name in names})
    assert len(names) > 40
    lines = ["import asyncio, subprocess, requests, httpx, smtplib, socket, threading, boto3, openai, tenacity",
             "from subprocess import run as sh, Popen as P", "from requests import get as fetch",
             "from builtins import print as say, len as size", "from asyncio import gather as together",
             "from django.db import connection", "from celery import shared_task",
             "client = openai.OpenAI()", "s3 = boto3.client('s3')", "",
             "def view(request, pk):", "    items = Order.objects.all()", "    proc = P(['ls'])"]
    for name in names:
        lines += [f"    {name}(request.GET['q'])", f"    x = obj.{name}(pk, timeout=None)",
                  f"    for item in items:", f"        self.{name}(item, **request.GET)",
                  f"        requests.{name}(item.url)", f"        cursor.{name}(f'SELECT {{item}}')"]
    lines += ["    sh(['tar', 'czf', 'out.tgz', '.'])", "    fetch(request.GET['url'])", "    say('failed')",
              "    size(items)", "    proc.wait()", "    return JsonResponse({})", "",
              "@shared_task", "def job(ids):", "    for i in ids:", "        requests.post(URL, json=i)",
              "        subprocess.run(['convert', i])", "        asyncio.create_task(work(i))",
              "        threading.Thread(target=work, args=(i,)).start()", "",
              "async def handler(request):", "    await together(*[work(i) for i in request.json])",
              "    for i in request.json:", "        asyncio.ensure_future(work(i))",
              "    print('error', request.path)", "    tenacity.retry(wait=1)", "    connection.cursor().execute("
              "'SELECT * FROM t WHERE id = %s' % request.GET['id'])"]
    return "\n".join(lines) + "\n"


def _results(rules, files: list[tuple[str, bytes]]):
    dispatcher = Dispatcher(rules)
    out = []
    for path, data in files:
        result = analyse_source(path, data, dispatcher, "app.views")
        out.append((path, [f.to_dict() for f in result.findings], result.facts,
                    [(n.kind, n.message) for n in result.notifications]))
    return out


def test_every_filtered_handler_finds_the_same_with_and_without_its_filter(monkeypatch):
    """The filters are a speed-up only: every shipped rule, run on every fixture and on a file of many call
    shapes, reports and records the same with its `callees` filter as when it is given every call."""
    rules = [r for r in load_rules() if r.is_python]
    filtered = [r for r in rules if r.callees]
    assert {"GAP202", "GAP404", "GAP402", "GAP409", "GAP603", "GAP701"} <= {r.id for r in filtered}
    files = [("app/views.py", _many_call_shapes().encode())]
    files += [(p.relative_to(FIXTURES).as_posix(), p.read_bytes()) for p in sorted(FIXTURES.rglob("*.py"))]
    with_filters = _results(rules, files)
    assert any(found for _, found, _, _ in with_filters[:1])  # the shapes file does reach the rules
    for rule in filtered:
        for handler in list(rule.callees):
            monkeypatch.delitem(rule.callees, handler)
    assert not build_dispatch(rules).by_callee
    assert _results(rules, files) == with_filters


# ---- Semgrep: a rule's own `paths` are applied before its hint words ---------------------------------------------
FLASK_DEBUG = 'from flask import Flask\n\napp = Flask(__name__)\napp.config["DEBUG"] = True\n'


def test_rules_whose_paths_leave_a_file_out_are_not_hint_tested_on_it():
    from gapcheck.analyzer import semgrep

    rules = [r for r in load_rules() if r.semgrep]
    excluded = semgrep.path_exclusions(rules)
    # GAP806's own `paths` exclude tests/ (and test_*.py ...), GAP401's have none.
    assert "GAP806" in excluded("tests/web.py") and "GAP806" in excluded("pkg/test_web.py")
    assert "GAP401" not in excluded("tests/web.py")
    assert excluded("app/web.py") == frozenset()
    # The same decision as the one the run itself takes from the rule files (`select_targets`).
    docs = semgrep.rule_docs({r.id: semgrep.rule_file(r) for r in rules})
    paths = ["tests/web.py", "app/web.py", "app/tests.py", "conftest.py", "src/x_test.py", "test/a.py"]
    for rule in rules:
        kept = semgrep.select_targets({rule.id: paths}, docs).get(rule.id, [])
        assert [p for p in paths if rule.id not in excluded(p)] == kept, rule.id


def test_a_test_copy_of_a_file_never_gets_the_findings_cached_for_the_original(gapcheck, tmp_path):
    """The Semgrep cache is keyed by a file's bytes and by the rules its path leaves out: the copy of a Flask app
    under tests/ (which GAP806 excludes) does not reuse the app's cached GAP806 finding on a warm run."""
    if not semgrep_available():
        pytest.skip("needs semgrep")
    (tmp_path / "app").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "app" / "web.py").write_text(FLASK_DEBUG, encoding="utf-8")
    (tmp_path / "tests" / "web.py").write_text(FLASK_DEBUG, encoding="utf-8")
    for run in ("cold", "warm"):
        result = gapcheck("scan", "--include-tests", "--format", "json")
        found = sorted((f["rule"], f["path"]) for f in json.loads(result.stdout)["findings"])
        assert found == [("GAP806", "app/web.py")], run
