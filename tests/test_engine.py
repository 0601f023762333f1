"""Engine internals that the CLI tests cannot see directly: the single walk and the per-file rule choice."""
from __future__ import annotations

import ast
from functools import partial
from types import SimpleNamespace

from gapcheck.analyzer.engine import Dispatcher, walk_with_parents
from gapcheck.analyzer.model import ModuleContext
from gapcheck.analyzer.project import ProjectIndex
from gapcheck.analyzer.registry import FactPass, Rule, fact_passes, get_rule, load_rules


def test_walk_visits_every_node_once_with_parents():
    tree = ast.parse("def f(x):\n    return [y for y in x if y]\n")
    order = walk_with_parents(tree)
    contexts = (ast.Load, ast.Store, ast.Del)
    assert len(order) == len({id(n) for n in order})
    assert len(order) == sum(1 for n in ast.walk(tree) if not isinstance(n, contexts))
    ctx = ModuleContext("m.py", tree, [], "")
    comprehension_name = next(n for n in order if isinstance(n, ast.Name) and n.id == "y")
    assert isinstance(ctx.enclosing_function(comprehension_name), ast.FunctionDef)
    assert order.index(tree) == 0


def stand_in(rule_id: str, hints: tuple[str, ...] = (), requires: tuple[tuple[str, ...], ...] = (),
             reads: tuple[str, ...] = (), skip_tests: bool = False):
    """A rule with one Call handler and the registry's own prefilter (`Rule.may_apply`)."""
    rule = SimpleNamespace(id=rule_id, handlers=[(ast.Call, lambda node, ctx: None)], hints=hints, requires=requires,
                           fold_case=False, reads=reads, skip_tests=skip_tests)
    rule.may_apply = partial(Rule.may_apply, rule)
    return rule


def test_rules_whose_hint_words_are_absent_are_not_dispatched():
    orm = stand_in("GAP999", hints=("objects", "session"))
    plain = stand_in("GAP998")
    dispatcher = Dispatcher([orm, plain])
    assert [r.id for r, _ in dispatcher.table_for("print(1)")[ast.Call]] == ["GAP998"]
    assert [r.id for r, _ in dispatcher.table_for("Order.objects.all()")[ast.Call]] == ["GAP998", "GAP999"]
    assert len(dispatcher.tables) == 2
    dispatcher.table_for("x.objects")
    assert len(dispatcher.tables) == 2  # built once per combination


def test_a_rule_needs_a_word_of_each_required_group_besides_a_hint():
    taint = stand_in("GAP997", hints=("open", "Path"), requires=(("request", "req."),))
    dispatcher = Dispatcher([taint])
    assert ast.Call not in dispatcher.table_for("open(name)")  # a sink, but no request data in the file
    assert ast.Call not in dispatcher.table_for("request.args")  # request data, but no sink word
    assert [r.id for r, _ in dispatcher.table_for("open(req.args['p'])")[ast.Call]] == ["GAP997"]
    path_rule = get_rule("GAP810")  # a taint rule whose sources are request objects; bytes, as Semgrep's prefilter
    assert path_rule.may_apply(b"open(request.form['p'])") and not path_rule.may_apply(b"open(p)")


def test_rules_that_never_report_on_tests_are_not_dispatched_on_test_modules():
    production_only = stand_in("GAP999", skip_tests=True)
    everywhere = stand_in("GAP998")
    dispatcher = Dispatcher([production_only, everywhere])
    assert [r.id for r, _ in dispatcher.table_for("f(x)", True)[ast.Call]] == ["GAP998"]
    assert [r.id for r, _ in dispatcher.table_for("f(x)", False)[ast.Call]] == ["GAP999", "GAP998"]
    # A skipped rule that reads the index still gets its facts from a test module only if the pass records
    # there; the project index does not (it is `skip_tests` too), so nothing of it is dispatched.
    reader = stand_in("GAP997", reads=("orm-loop-call",), skip_tests=True)
    table = Dispatcher([everywhere, reader]).table_for("f(x)", True)
    assert [owner.id for owner, _ in table[ast.Call]] == ["GAP998"]
    assert _index_pass().skip_tests
    shipped = {r.id for r in load_rules() if r.skip_tests}
    assert {"GAP402", "GAP403", "GAP405", "GAP605", "GAP303"} <= shipped


def _index_pass() -> FactPass:
    return next(p for p in fact_passes() if p.name == "project-index")


def test_the_project_index_runs_only_for_the_facts_an_active_rule_reads():
    index = _index_pass()
    plain = stand_in("GAP998")
    models_reader = stand_in("GAP999", hints=("objects",), reads=("orm-model",))
    dispatcher = Dispatcher([plain, models_reader])
    # No active rule reads the index: none of its handlers is dispatched.
    table = dispatcher.table_for("class A:\n    pass\n")
    assert all(owner is not index for handlers in table.values() for owner, _ in handlers)
    # The reader is active: the pass records models (ClassDef) but not function summaries nobody reads.
    table = dispatcher.table_for("class A(models.Model):\n    objects = M()\n")
    assert [owner for owner, _ in table[ast.ClassDef]] == [index]
    assert ast.FunctionDef not in table
    assert [owner.id for owner, _ in table[ast.Call]] == ["GAP998", "GAP999"]  # loop calls: nobody reads them
    # A reader of the loop calls gets the pass's Call handler, ahead of the rules' own.
    loop_reader = stand_in("GAP997", reads=("orm-loop-call",))
    owners = [owner for owner, _ in Dispatcher([plain, loop_reader]).table_for("f(x)")[ast.Call]]
    assert owners == [index, plain, loop_reader]
    # An editor's buffer leaves the index out whatever the rules read.
    quiet = Dispatcher([plain, models_reader], facts=False)
    assert ast.ClassDef not in quiet.table_for("class A(models.Model):\n    objects = M()\n")


def test_no_rule_records_the_index_itself_and_every_read_kind_has_a_producer():
    produced = {kind for p in fact_passes() for kind in p.kinds}
    rules = load_rules()
    readers = {r.id for r in rules if r.reads}
    assert {"GAP301", "GAP302", "GAP303", "GAP304", "GAP902"} <= readers
    for rule in rules:
        assert set(rule.reads) <= produced, rule.id
        # The index's handlers belong to the pass alone: no rule registers one of them as its own.
        assert not {fn for _, fn in rule.handlers} & {fn for p in fact_passes() for _, _, fn in p.handlers}, rule.id


def test_a_failing_index_handler_is_reported_and_the_rules_still_run(monkeypatch):
    from gapcheck.analyzer.engine import analyse_source

    index = _index_pass()

    def broken(node, ctx):
        raise ValueError("boom")

    monkeypatch.setattr(index, "handlers", [(ast.ClassDef, "orm-model", broken)])
    rules = [r for r in load_rules() if r.id in ("GAP302", "GAP501")]
    source = (b"class Order(models.Model):\n    objects = models.Manager()\n\n\n"
              b"def f():\n    try:\n        g()\n    except:\n        pass\n")
    result = analyse_source("app/views.py", source, Dispatcher(rules))
    assert any(n.message.startswith("project-index failed on this file: ValueError") for n in result.notifications)
    assert [f.rule_id for f in result.findings] == ["GAP501"]


def test_import_aliases_and_relative_imports_resolve():
    source = ("import requests as rq\nfrom os import path as p\nfrom .models import Order\n"
              "def f():\n    import json as j\n    return rq.get, p.join, Order.objects, j.loads\n")
    tree = ast.parse(source)
    walk_with_parents(tree)
    ctx = ModuleContext("shop/views.py", tree, source.splitlines(), source, module_name="shop.views")
    ret = next(n for n in ast.walk(tree) if isinstance(n, ast.Return))
    assert [ctx.qualified_name(e) for e in ret.value.elts] == [
        "requests.get", "os.path.join", "shop.models.Order.objects", "json.loads"]


def test_value_of_follows_assignments_in_scope():
    source = "def f(user):\n    q = 'SELECT ' + user\n    alias = q\n    run(alias)\n"
    tree = ast.parse(source)
    walk_with_parents(tree)
    ctx = ModuleContext("m.py", tree, source.splitlines(), source)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert isinstance(ctx.value_of(call.args[0]), ast.BinOp)


def test_project_index_joins_facts_in_path_order():
    index = ProjectIndex([("b.py", "pkg.b", [("k", 2)]), ("a.py", "pkg.a", [("k", 1), ("other", 0)])])
    assert index.facts("k") == [("a.py", 1), ("b.py", 2)]
    assert index.path_of_module("pkg.b") == "b.py"
    assert index.facts("missing") == []


def _ctx(source: str) -> ModuleContext:
    tree = ast.parse(source)
    return ModuleContext("m.py", tree, source.splitlines(), source)


def _call(ctx: ModuleContext, name: str) -> ast.Call:
    return next(n for n in ctx.nodes if isinstance(n, ast.Call) and getattr(n.func, "id", "") == name)


def test_enclosing_loop_counts_only_per_item_code():
    ctx = _ctx(
        "def f(xs):\n"
        "    a = [once(x) for x in first()]\n"
        "    b = [each(x) for x in xs for y in inner(x)]\n"
        "    for x in loop_iter():\n"
        "        body(x)\n"
        "    else:\n"
        "        after()\n"
    )
    assert ctx.enclosing_loop(_call(ctx, "first")) is None  # the first iterable runs once
    assert isinstance(ctx.enclosing_loop(_call(ctx, "once")), ast.ListComp)
    assert isinstance(ctx.enclosing_loop(_call(ctx, "inner")), ast.ListComp)  # later iterables run per item
    assert ctx.enclosing_loop(_call(ctx, "loop_iter")) is None
    assert isinstance(ctx.enclosing_loop(_call(ctx, "body")), ast.For)
    assert ctx.enclosing_loop(_call(ctx, "after")) is None


def test_function_local_imports_resolve_only_inside_their_function():
    ctx = _ctx("def f():\n    import requests as r\n    r.get()\n\ndef g():\n    r.get()\n")
    calls = [n for n in ctx.nodes if isinstance(n, ast.Call)]
    assert sorted(str(ctx.qualified_name(c.func)) for c in calls) == ["None", "requests.get"]


def test_path_of_module_prefers_the_nearest_of_same_named_modules():
    index = ProjectIndex([("a/models.py", "models", []), ("b/models.py", "models", []), ("b/views.py", "views", [])])
    assert index.path_of_module("models", near="b/views.py") == "b/models.py"
    assert index.path_of_module("models", near="a/x.py") == "a/models.py"


def test_own_nodes_and_bindings_stay_in_their_scope():
    ctx = _ctx(
        "@deco(a)\n"
        "def f(x=default()):\n"
        "    q = 1\n"
        "    def inner():\n"
        "        q = 2\n"
        "        return q\n"
        "    class K:\n"
        "        q = 3\n"
        "    g = lambda: q\n"
        "    return q\n"
    )
    f = ctx.tree.body[0]
    inner = f.body[1]
    own_f = ctx.own_nodes(f)
    assert inner in own_f and not any(n in own_f for n in inner.body)
    klass, lam = f.body[2], f.body[3].value
    nested = [n for part in (*inner.body, *klass.body, lam.body) for n in ast.walk(part)]
    assert klass in own_f and lam in own_f and not any(n in own_f for n in nested)
    calls = {getattr(n.func, "id", "") for n in ctx.own_nodes(ctx.tree) if isinstance(n, ast.Call)}
    assert calls == {"deco", "default"}  # decorators and defaults run in the enclosing scope
    assert [type(s).__name__ for s in ctx.bindings(f)["q"]] == ["Assign"]
    assert sorted(ctx.bindings(f)) == ["K", "g", "inner", "q"]
    assert [s.lineno for s in ctx.bindings(inner)["q"]] == [5]


def test_the_model_does_not_import_the_engine():
    """Data flows one way (source -> model -> engine): importing the model alone must not pull the engine in."""
    import subprocess
    import sys

    code = "import sys, gapcheck.analyzer.model; print('gapcheck.analyzer.engine' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
