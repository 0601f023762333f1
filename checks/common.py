"""Facts and small decisions that several checks share: one table per fact."""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..analyzer.model import ModuleContext

# Handlers for these catch (nearly) everything.
BROAD_EXCEPTIONS = frozenset({"builtins.Exception", "builtins.BaseException"})

# Method names that write a log record, on any logger object (logging, structlog, loguru, app.logger, self.log).
LOG_METHODS = frozenset({
    "debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log", "msg", "trace", "success",
})
# Calls that report an error to a tracker: they count as "not silent".
ERROR_REPORT_CALLS = frozenset({
    "sentry_sdk.capture_exception", "sentry_sdk.capture_message", "warnings.warn", "traceback.print_exc",
    "traceback.print_exception", "rollbar.report_exc_info", "bugsnag.notify",
})


def handler_types(handler: ast.ExceptHandler, ctx: "ModuleContext") -> list[ast.AST]:
    """The expressions a handler catches: the tuple's elements, a module tuple followed through its name."""
    if handler.type is None:
        return []
    node: ast.AST = handler.type
    if isinstance(node, ast.Name) and ctx.resolve_name(node.id, node) is None:
        value = ctx.value_of(node)
        if isinstance(value, (ast.Tuple, ast.List)):
            node = value
    if isinstance(node, (ast.Tuple, ast.List)):
        return list(node.elts)
    return [node]


def catches_broadly(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """True for a bare `except:` or one naming Exception/BaseException (directly, in a tuple, through aliases)."""
    if handler.type is None:
        return True
    for element in handler_types(handler, ctx):
        name = ctx.qualified_name(element)
        if name in BROAD_EXCEPTIONS:
            return True
        if name is None and isinstance(element, ast.Name) and ctx.value_of(element) is not None:
            aliased = ctx.value_of(element)
            if aliased is not None and ctx.qualified_name(aliased) in BROAD_EXCEPTIONS:
                return True
    return False


def contains(node: ast.AST, types: type | tuple[type, ...]) -> bool:
    return any(isinstance(child, types) for child in ast.walk(node))


def is_inert_value(node: ast.AST | None) -> bool:
    """A value that carries no information about the error: None, a constant, an empty or constant container."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(is_inert_value(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or is_inert_value(k) for k in node.keys) and all(is_inert_value(v) for v in node.values)
    if isinstance(node, ast.Name) and node.id in ("None", "True", "False"):
        return True
    if isinstance(node, ast.UnaryOp):
        return is_inert_value(node.operand)
    return False


def handler_swallows(handler: ast.ExceptHandler) -> bool:
    """The handler does nothing with the error: only pass/.../continue/break, returns or assigns a constant.

    Any call (a log line, a cleanup, a metric), any raise, any use of the bound exception makes it not a swallow.
    """
    for stmt in handler.body:
        if isinstance(stmt, (ast.Pass, ast.Continue, ast.Break)):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring-like comment or `...`
        if isinstance(stmt, ast.Return) and is_inert_value(stmt.value):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and is_inert_value(stmt.value) and not any(
            isinstance(t, (ast.Subscript, ast.Attribute)) for t in getattr(stmt, "targets", [getattr(stmt, "target", None)])
        ):
            continue
        return False
    return True
