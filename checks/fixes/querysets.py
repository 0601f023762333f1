"""Fixes for Django querysets: GAP202 (`len(qs)` / `if qs:` that load every row)."""
from __future__ import annotations

import ast

import libcst as cst

from ...analyzer.fixes import FixContext, Rewrite, fixer

# Receivers that can take `.count()` without parentheses around them.
PLAIN_RECEIVERS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)


@fixer("GAP202", "safe")
def count_or_exists(fc: FixContext) -> Rewrite | None:
    """`len(qs)` -> `qs.count()`, `bool(qs)` and `if qs:` -> `qs.exists()`. Safe: the rule only reports querysets
    whose rows are not used afterwards, so only the query changes (a COUNT or an EXISTS instead of every row)."""
    call = fc.ast_for_finding(ast.Call)
    if isinstance(call, ast.Call) and fc.ast_ctx.qualified_name(call.func) in ("builtins.len", "builtins.bool"):
        node = fc.cst_for_ast(call, cst.Call)
        if not isinstance(node, cst.Call) or len(node.args) != 1 or node.args[0].keyword or node.args[0].star:
            return None
        method = "count" if call.func.id == "len" else "exists"  # type: ignore[attr-defined]
        new = _method_call(node.args[0].value, method)
        if new is None:
            return None
        return Rewrite(f"Ask the database: `.{method}()`", ((node, new.with_changes(lpar=node.lpar, rpar=node.rpar)),))
    f = fc.finding
    node = fc.cst_node(PLAIN_RECEIVERS, f.line, f.column, f.end_line, f.end_column)
    if node is None:
        return None
    new = _method_call(node, "exists")
    return Rewrite("Ask the database: `.exists()`", ((node, new),)) if new is not None else None


def _method_call(receiver: cst.BaseExpression, method: str) -> cst.Call | None:
    if not isinstance(receiver, PLAIN_RECEIVERS) or receiver.lpar:
        return None
    return cst.Call(func=cst.Attribute(value=receiver, attr=cst.Name(method)))
