"""Fixes for except handlers: GAP502 (bare `except:`) and GAP602 (a broad handler logged without its traceback)."""
from __future__ import annotations

import ast

import libcst as cst

from ...analyzer.fixes import FixContext, Rewrite, fixer
from ..broad_except.facts import summarize
from . import keyword_arg, with_keyword

# Log methods that keep the traceback when given `exc_info=True`; `error` becomes `exception` instead.
EXC_INFO_METHODS = frozenset({"warning", "warn", "critical", "fatal", "info", "log"})


@fixer("GAP502", "safe")
def bare_except(fc: FixContext) -> Rewrite | None:
    """`except:` -> `except Exception:`: KeyboardInterrupt and SystemExit go through again, everything else is
    caught as before (safe: the handler still runs for every error a program should handle)."""
    handler = fc.cst_node(cst.ExceptHandler, fc.finding.line, fc.finding.column)
    if not isinstance(handler, cst.ExceptHandler) or handler.type is not None:
        return None
    new = handler.with_changes(type=cst.Name("Exception"), whitespace_after_except=cst.SimpleWhitespace(" "))
    return Rewrite("Catch `Exception` instead of everything", ((handler, new),))


@fixer("GAP602", "safe")
def log_with_traceback(fc: FixContext) -> Rewrite | None:
    """The handler's first error-level log call keeps the traceback: `logger.error(...)` -> `logger.exception(...)`
    (same level, traceback added), `logger.warning(...)` -> `logger.warning(..., exc_info=True)`. Safe: the log
    line gains the traceback and nothing else changes."""
    handler = fc.ast_node(ast.ExceptHandler, fc.finding.line, fc.finding.column)
    if not isinstance(handler, ast.ExceptHandler):
        return None
    calls = [c for c in summarize(handler, fc.ast_ctx).log_calls if isinstance(c.func, ast.Attribute)]
    target = next((c for c in calls if c.func.attr == "error"), None) or next(  # type: ignore[attr-defined]
        (c for c in calls if c.func.attr in EXC_INFO_METHODS), None)  # type: ignore[attr-defined]
    if target is None:
        return None
    node = fc.cst_for_ast(target, cst.Call)
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute) or keyword_arg(node, "exc_info"):
        return None
    method = target.func.attr  # type: ignore[attr-defined]
    if method == "error":
        new = node.with_changes(func=node.func.with_changes(attr=cst.Name("exception")))
        return Rewrite("Log with `.exception()`, which adds the traceback", ((node, new),))
    if _is_loguru(target.func.value, fc):  # type: ignore[attr-defined]
        return None  # loguru takes `exc_info` as a format argument; its way is `logger.opt(exception=True)`
    new = with_keyword(node, "exc_info", cst.Name("True"))
    return Rewrite(f"Pass `exc_info=True` to `.{method}()` so the traceback is logged", ((node, new),))


def _is_loguru(receiver: ast.AST, fc: FixContext) -> bool:
    while isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute):
        receiver = receiver.func.value
    return (fc.ast_ctx.qualified_name(receiver) or "").startswith("loguru")
