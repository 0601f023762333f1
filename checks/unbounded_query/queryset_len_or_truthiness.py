"""GAP202 queryset-len-or-truthiness: `len(qs)` / `if qs:` load every row to count or test them."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..orm.facts import DJANGO_KEEP_ALL, QueryChain, django_chain, is_test_or_migration

RULE = Rule(
    id="GAP202",
    name="queryset-len-or-truthiness",
    category="unbounded-query",
    severity="warning",
    precision="high",
    cwe="CWE-400",
    summary="Django queryset loaded in full only to count it or test it for emptiness",
    docs=Docs(
        what=(
            "Flags `len(qs)`, `bool(qs)`, `if qs:`, `not qs` and `while qs:` on a Django queryset (written"
            " inline or held in a local) when the rows are not used afterwards in the function: the queryset is"
            " evaluated, every row fetched and turned into a model instance, just to get a number or a boolean."
        ),
        why=(
            "`len()` and truthiness evaluate the queryset: `SELECT *` of every matching row, each row built"
            " into an object, all held in memory. `count()` and `exists()` ask the database for one number."
            " With 100,000 matching rows the difference is seconds and hundreds of megabytes per request."
        ),
        example=(
            "if Order.objects.filter(customer=c):\n    ...\n"
            "total = len(Order.objects.filter(status=\"open\"))"
        ),
        instead=(
            "if Order.objects.filter(customer=c).exists():\n    ...\n"
            "total = Order.objects.filter(status=\"open\").count()"
        ),
        not_caught=(
            "Querysets whose rows are used later in the same function (then `if qs:` fills the result cache"
            " the loop reuses, which Django documents as the right choice), sliced querysets, querysets that"
            " reach the function as parameters, chains through a custom manager or model method (`objects.live()`,"
            " `objects.get_by_natural_key(...)`: it may return one object, not a queryset), and the same pattern"
            " on SQLAlchemy queries."
        ),
        references=("https://docs.djangoproject.com/en/5.2/ref/models/querysets/#when-querysets-are-evaluated",),
    ),
)


@RULE.on(ast.Call, callees=("len", "bool"))
def check_len(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if not (isinstance(call.func, ast.Name) and call.func.id in ("len", "bool")) or len(call.args) != 1:
        return
    name = ctx.qualified_name(call.func)
    if name not in ("builtins.len", "builtins.bool"):
        return
    chain = _unused_queryset(call.args[0], ctx)
    if chain is not None:
        fix = "count()" if name == "builtins.len" else "exists()"
        yield ctx.finding(RULE, call, _message(f"{name[9:]}() on {chain.label}", fix))


@RULE.on(ast.If, ast.While, ast.IfExp, ast.UnaryOp, ast.BoolOp)
def check_truthiness(node: ast.AST, ctx: ModuleContext) -> Iterator[Finding]:
    if isinstance(node, ast.UnaryOp):
        tests = [node.operand] if isinstance(node.op, ast.Not) else []
    elif isinstance(node, ast.BoolOp):
        # `a and qs` as a condition; as a value (`x = qs or default`) it returns the queryset itself
        parent = ModuleContext.parent(node)
        tests = list(node.values) if isinstance(parent, (ast.If, ast.While, ast.IfExp)) and \
            getattr(parent, "test", None) is node else []
    else:
        tests = [node.test]  # type: ignore[attr-defined]
    for test in tests:
        if isinstance(test, (ast.Name, ast.Call, ast.Attribute)):
            chain = _unused_queryset(test, ctx)
            if chain is not None:
                yield ctx.finding(RULE, test, _message(f"testing {chain.label} for truth", "exists()"))


# Methods known to return a queryset: a chain with any other method (a custom manager method, a model method
# called on its result) may hold one object, a number or None, whose truth costs nothing.
QUERYSET_RETURNING = DJANGO_KEEP_ALL | frozenset({
    "filter", "exclude", "none", "union", "intersection", "difference", "select_for_update", "complex_filter",
    "extra", "dates", "datetimes", "order_by", "filter_by",
})


def _message(what: str, fix: str) -> str:
    return (f"{what} fetches every matching row just to get a {'number' if fix == 'count()' else 'yes/no'}:"
            f" seconds and megabytes per request on a large table; use .{fix}, which asks the database")


def _unused_queryset(expr: ast.AST, ctx: ModuleContext) -> QueryChain | None:
    if ctx.memo(("orm-skip-file",), lambda: is_test_or_migration(ctx)):
        return None
    chain = django_chain(expr, ctx)
    if chain is None or chain.sliced or chain.indexed or chain.terminal:
        return None
    if any(name not in QUERYSET_RETURNING for name in chain.method_names):
        return None  # `objects.get_by_natural_key(...)`, `ct.model_class()`: a custom method may return one object
    if chain.method_names and chain.method_names[-1] in ("iterator", "aiterator", "raw"):
        return None
    if isinstance(expr, ast.Name) and _used_elsewhere(expr, ctx):
        return None
    return chain


def _used_elsewhere(name: ast.Name, ctx: ModuleContext) -> bool:
    """The local is read somewhere other than here: its rows are probably used, and the check fills the cache."""
    scope = ctx.scope_of(name)
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and node.id == name.id and node is not name and \
                isinstance(node.ctx, ast.Load):
            return True
    return False
