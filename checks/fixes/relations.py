"""Fix for GAP302 (a relation loaded lazily for every row): eager loading added to the queryset the loop iterates.

Which lookup and which method (`select_related` for a ForeignKey/one-to-one, `prefetch_related` for reverse and
many-to-many relations) is the project check's conclusion from every file's models; the finding states it ("add
select_related("customer") to the queryset"), so the fix reads it from there rather than guess from one file. The
queryset is changed only where this function builds it: the loop's iterable itself, or a local assigned once.
"""
from __future__ import annotations

import ast
import re

import libcst as cst

from ...analyzer.fixes import FixContext, Rewrite, fixer
from ..orm.facts import DJANGO_KEEP_ALL, DJANGO_ROWS

# The lookup the finding asks for (the rule's message; tests/test_fixes.py pins the two together).
ADVICE = re.compile(r'add (?P<method>select_related|prefetch_related)\("(?P<lookup>\w+)"\)(?: to the queryset)?'
                    r'(?: and read `[^`]*\.all\(\)`)?(?: \(or read `\w+` when only the key is needed\))?$')
# Queryset methods that return a queryset the loading can be added to.
CHAINABLE = (DJANGO_KEEP_ALL - DJANGO_ROWS) | {"filter", "exclude", "select_for_update"}


@fixer("GAP302", "unsafe")
def eager_load(fc: FixContext) -> Rewrite | None:
    """`for order in Order.objects.filter(...)` -> `for order in Order.objects.filter(...).select_related("customer")`
    (or `.prefetch_related("lines")`), when the queryset is built in the loop or in a local assigned once in the same
    function. Unsafe: the rows are loaded with a JOIN or one more query up front, which changes the queries and their
    cost, and reads of a prefetched relation that filter it (`.filter()`, `.count()` on some versions) still query."""
    advice = ADVICE.search(fc.finding.message)
    read = fc.ast_for_finding((ast.Attribute, ast.Call))
    if advice is None or read is None:
        return None
    row = _row_name(read)
    loop_iter = _loop_iterable(read, row, fc) if row else None
    if loop_iter is None:
        return None
    queryset = _built_here(loop_iter, fc)
    if queryset is None:
        return None
    old = fc.cst_for_ast(queryset, cst.Call)
    if not isinstance(old, cst.Call):
        return None
    method, lookup = advice.group("method"), advice.group("lookup")
    new = cst.Call(func=cst.Attribute(value=old.with_changes(lpar=[], rpar=[]), attr=cst.Name(method)),
                   args=[cst.Arg(cst.SimpleString(f'"{lookup}"'))], lpar=old.lpar, rpar=old.rpar)
    return Rewrite(f'Load "{lookup}" with the rows: `.{method}("{lookup}")`', ((old, new),))


def _row_name(read: ast.AST) -> str | None:
    node = read
    while isinstance(node, (ast.Attribute, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _loop_iterable(read: ast.AST, row: str, fc: FixContext) -> ast.AST | None:
    """The iterable of the loop or comprehension, in the same function, whose target is `row`."""
    for ancestor in fc.ast_ctx.ancestors(read):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return None
        if isinstance(ancestor, (ast.For, ast.AsyncFor)) and _binds(ancestor.target, row):
            return ancestor.iter
        if isinstance(ancestor, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for generator in ancestor.generators:
                if _binds(generator.target, row):
                    return generator.iter
    return None


def _binds(target: ast.AST, name: str) -> bool:
    return isinstance(target, ast.Name) and target.id == name


def _built_here(iterable: ast.AST, fc: FixContext) -> ast.Call | None:
    """The queryset call chain the loop iterates: the iterable (or what it slices or copies with `list()`), or the
    value of a local assigned once before."""
    if isinstance(iterable, ast.Name):
        ctx = fc.ast_ctx
        scope = ctx.scope_of(iterable)
        bound = ctx.bindings(scope).get(iterable.id, []) if scope is not ctx.tree else []
        if len(bound) != 1 or not isinstance(bound[0], ast.Assign) or len(bound[0].targets) != 1 \
                or bound[0].lineno >= iterable.lineno:
            return None
        iterable = bound[0].value
    if isinstance(iterable, ast.Call) and fc.ast_ctx.qualified_name(iterable.func) == "builtins.list" \
            and len(iterable.args) == 1 and not iterable.keywords:
        iterable = iterable.args[0]  # `list(qs)`: the rows are the queryset's
    if isinstance(iterable, ast.Subscript) and isinstance(iterable.slice, ast.Slice):
        iterable = iterable.value  # `qs[:100]`: the loading goes before the slice
    if not (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
            and iterable.func.attr in CHAINABLE):
        return None  # a slice, `values()` rows, a helper's result: the loading goes elsewhere
    return iterable
