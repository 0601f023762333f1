"""GAP606 catch-all-error-handler-unlogged: a Flask `errorhandler(Exception)` answers every unhandled error and
logs none of them."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from .facts import is_log_call, is_report_call, log_has_traceback

RULE = Rule(
    id="GAP606",
    name="catch-all-error-handler-unlogged",
    category="no-logging",
    severity="warning",
    precision="high",
    cwe="CWE-778",
    hints=("errorhandler", "register_error_handler"),
    skip_tests=True,
    summary="A Flask errorhandler(Exception) answers every unhandled error without logging its traceback",
    docs=Docs(
        what=(
            "Flags a function registered as Flask's handler for every exception - `@app.errorhandler(Exception)`,"
            " `@bp.app_errorhandler(Exception)` (also `BaseException`), or `app.register_error_handler(Exception,"
            " handle)` - that neither logs with the traceback (`logger.exception(...)`, `exc_info=`,"
            " `app.log_exception(...)`, an error tracker, `traceback.print_exc()`), nor re-raises, nor calls a"
            " logging function (`log_error(e)`); the message says whether it logs nothing or only the error's"
            " text (`logger.error(f\"Unhandled exception: {e}\")`). What it"
            " does only in debug mode (`if app.config.get(\"DEBUG\"): raise error`) does not count: production"
            " takes the other branch."
        ),
        why=(
            "Flask logs an unhandled exception (`Exception on /orders [POST]` with the traceback) only when no"
            " handler takes it: `errorhandler(500)` still gets that log line, `errorhandler(Exception)` does not."
            " With such a handler in place every bug, timeout and lost connection in every route is answered with"
            " a tidy JSON error and leaves no trace in the logs: the first sign of an outage is a user's report."
        ),
        example=(
            "@app.errorhandler(Exception)\ndef handle_error(e):\n    if isinstance(e, HTTPException):\n"
            "        return jsonify(error=e.name), e.code\n    return jsonify(error=\"internal error\"), 500"
        ),
        instead=(
            "@app.errorhandler(Exception)\ndef handle_error(e):\n    if isinstance(e, HTTPException):\n"
            "        return jsonify(error=e.name), e.code\n    app.logger.exception(\"unhandled error\")\n"
            "    return jsonify(error=\"internal error\"), 500"
        ),
        not_caught=(
            "`errorhandler(500)` / `errorhandler(InternalServerError)` (Flask has logged the exception before it"
            " calls them), handlers of narrower exceptions, FastAPI/Starlette `exception_handler(Exception)`"
            " (Starlette re-raises after the response, so the server logs it), Django's `handler500` (Django logs"
            " through `django.request`), and handlers that log through an object of another module whose name does"
            " not say so (`monitor.record(e)`)."
        ),
        references=("https://flask.palletsprojects.com/en/stable/errorhandling/#generic-exception-handlers",),
    ),
)

CATCH_ALL = frozenset({"builtins.Exception", "builtins.BaseException"})
REGISTRARS = frozenset({"errorhandler", "app_errorhandler"})


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def check(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> Iterator[Finding]:
    decorator = next((d for d in function.decorator_list if _registers_catch_all(d, ctx)), None)
    if decorator is None:
        return
    recorded = _records(function, ctx, set())
    if recorded != TRACEBACK:
        yield ctx.finding(RULE, decorator, _message(function.name, recorded))


@RULE.on(ast.Call, callees=("register_error_handler",))
def check_registration(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    """`app.register_error_handler(Exception, handle_error)` with `handle_error` defined in this module."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "register_error_handler"
            and len(call.args) == 2 and _is_catch_all(call.args[0], ctx) and _flask_module(ctx)):
        return
    target = call.args[1]
    function = _module_function(target.id, ctx) if isinstance(target, ast.Name) else None
    if function is None:
        return
    recorded = _records(function, ctx, set())
    if recorded != TRACEBACK:
        yield ctx.finding(RULE, call, _message(function.name, recorded))


def _registers_catch_all(decorator: ast.AST, ctx: ModuleContext) -> bool:
    return (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr in REGISTRARS and len(decorator.args) == 1
            and _is_catch_all(decorator.args[0], ctx) and _flask_module(ctx))


def _is_catch_all(node: ast.AST, ctx: ModuleContext) -> bool:
    return isinstance(node, (ast.Name, ast.Attribute)) and ctx.qualified_name(node) in CATCH_ALL


def _flask_module(ctx: ModuleContext) -> bool:
    return ctx.memo(("gap606-flask",), lambda: any(q == "flask" or q.startswith("flask.")
                                                    for q in ctx.imports.values()))


def _module_function(name: str, ctx: ModuleContext) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for stmt in ast.walk(ctx.tree):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            return stmt
    return None


NOTHING, TEXT, TRACEBACK = 0, 1, 2


def _records(function: ast.AST, ctx: ModuleContext, seen: set[str]) -> int:
    """TRACEBACK when it re-raises, reports, logs with the traceback or calls a logging function (one level:
    `log_error(e)`, in this module or not); TEXT when its only log lines leave the traceback out. What happens
    only in debug mode (`if app.config.get("DEBUG"): raise error`) is not what production does."""
    found = NOTHING
    for node in _production_nodes(function):
        if isinstance(node, ast.Raise):
            return TRACEBACK
        if not isinstance(node, ast.Call):
            continue
        if is_report_call(node, ctx):
            return TRACEBACK
        if is_log_call(node, ctx):
            if log_has_traceback(node, ctx):
                return TRACEBACK
            found = TEXT
            continue
        func = node.func
        last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if last == "log_exception" or "log" in last.lower().split("_"):
            return TRACEBACK
        if isinstance(func, ast.Name) and func.id not in seen:
            seen.add(func.id)
            callee = _module_function(func.id, ctx)
            if callee is not None and callee is not function:
                found = max(found, _records(callee, ctx, seen))
                if found == TRACEBACK:
                    return TRACEBACK
    return found


def _production_nodes(function: ast.AST) -> Iterator[ast.AST]:
    stack = [function]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_debug_test(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_debug_test(test: ast.AST) -> bool:
    for node in ast.walk(test):
        word = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else \
            node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
        if word.lower() in ("debug", "testing", "flask_debug"):
            return True
    return False


def _message(name: str, recorded: int) -> str:
    if recorded == TEXT:
        return (f"{name}() is Flask's handler for every exception and logs it without the traceback: every bug in"
                " every route is recorded as one line of text and nobody can find where it broke; use"
                " app.logger.exception(...) (or exc_info=True)")
    return (f"{name}() is Flask's handler for every exception and logs nothing: Flask does not log an exception a"
            " handler takes, so every bug and outage in every route is answered and leaves no trace; call"
            " app.logger.exception(...) before answering, or register the handler for 500 instead")
