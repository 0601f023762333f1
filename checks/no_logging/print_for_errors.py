"""GAP603 print-for-errors: an except handler in service code reports the error with print()."""
from __future__ import annotations

import ast
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..broad_except.facts import log_owner, summarize
from ..broad_except.facts import PRINT_WAIVER, is_request_handler
from ..common import is_inert_value
from ..scopes import request_reachable
from .facts import is_service_module

RULE = Rule(
    id="GAP603",
    name="print-for-errors",
    category="no-logging",
    severity="note",
    precision="medium",
    cwe="CWE-778",
    summary="An except handler in service code reports the error with print()",
    docs=Docs(
        what=(
            "Flags `print()` in service code where it stands in for a log line: in an except handler that neither"
            " logs, nor reports, nor re-raises (the finding starts on the `except` line); on a failure branch (an"
            " `if` that checks a status or an error - `if resp.status_code != 200:` - prints, then returns"
            " None/[]/False or raises); and a printed message (a string or f-string argument) in a request handler"
            " or a function it calls. Service code means:"
            " modules of a web app, worker or library. Tests, `conftest.py`, `setup.py`, `manage.py`,"
            " `__main__.py`, `cli.py`, modules under `scripts/`, `bin/`, `examples/`, `tools/`, `docs/`,"
            " `dev/`, `management/` (commands and their shared base classes), `migrations/` and `setup/`, Alembic"
            " revision scripts wherever they live, modules that import a CLI toolkit (argparse, click, typer,"
            " optparse, fire, docopt) and modules with an `if __name__ == \"__main__\":` block are not service code."
        ),
        why=(
            "In a service, stdout is not a log: gunicorn/uwsgi/Celery workers may not forward it, it has no level,"
            " no timestamp, no request id and no traceback, it is block-buffered when not a terminal (lines appear"
            " late or are lost on a crash), and log-based alerts never see it."
        ),
        example=(
            "def refresh_token(client):\n    try:\n        return client.refresh()\n    except AuthError as e:\n"
            "        print(\"refresh failed\", e)\n        return None"
        ),
        instead=(
            "logger = logging.getLogger(__name__)\n\ndef refresh_token(client):\n    try:\n"
            "        return client.refresh()\n    except AuthError:\n"
            "        logger.warning(\"token refresh failed\", exc_info=True)\n        return None"
        ),
        not_caught=(
            "print() on the happy path outside request handlers (diagnostics are a matter of taste), a printed"
            " value without a message (`print(order)`, a debugging leftover), `print(..., file=fh)` into a file,"
            " handlers that also log or re-raise, a print waived for flake8-print (`# noqa: T201`), a handler whose"
            " `try` body prints too (the handler's print is the fallback output: `except UnicodeEncodeError:"
            " print(ascii_banner)`), a print inside a `logging.Handler` subclass (a logger there would recurse), an"
            " optional import that says it is missing, a print under a console flag (`if verbosity >= 1:`, `if"
            " from_setup:`, `if verbose:` - output the command asked for) or under the development switch (`if"
            " settings.DEBUG:`), a handler whose comment says the logger"
            " cannot be used yet (startup code that runs before logging is configured), modules under `cli/` and"
            " interactive programs (a module that calls `input()` or `getpass()`). An `if __name__ == \"__main__\":` block that only starts the"
            " development server (`app.run()`, `uvicorn.run(app)`) does not make the module a script. Precision is"
            " medium: a library module that is really a command-line entry point without any of the markers above"
            " is reported."
        ),
        references=("https://docs.python.org/3/howto/logging.html#when-to-use-logging",
                    "https://12factor.net/logs"),
    ),
)


# A flag that turns console output on: a command's verbosity, a caller saying it runs from the command line, or
# the development switch (`if settings.DEBUG:` - a developer's console, off in production).
CONSOLE_FLAG = re.compile(r"(?i)verbos|quiet|silent|from_(setup|cli|command|console)|interactive|cli_mode|echo"
                          r"|^debug$|^is_debug|^debug_mode$")
# A comment saying the logger cannot be used here yet ("the flask app isn't set up yet, so we can't use the logger").
NO_LOGGER_YET = re.compile(r"(?i)(can ?not|can't|cannot|isn't|is not|not yet|before)\b.{0,40}\blog(ger|ging)?\b"
                           r"|\blog(ger|ging)\b.{0,40}\b(isn't|is not|not yet|unavailable|not (set ?up|configured|ready))")


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if log_owner(handler, ctx) != RULE.id:
        return
    prints = summarize(handler, ctx).print_calls
    if all(_under_console_flag(p, ctx) for p in prints) or _says_no_logger_yet(handler, ctx):
        return  # the command's own output, or code that runs before logging exists
    call = prints[0]
    yield ctx.finding(
        RULE, handler,
        f"print() on line {call.lineno} reports this error on stdout, which a service's log pipeline may never see"
        " (no level, no traceback, buffered); use logger.warning(..., exc_info=True) or logger.exception(...)",
        end_node=handler.type or handler,
    )


@RULE.on(ast.Call, callees=("print",))
def check_print(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    """print() outside a handler: in a request handler's code, or on a failure branch of service code."""
    if not (isinstance(call.func, ast.Name) or isinstance(call.func, ast.Attribute)) \
            or ctx.qualified_name(call.func) != "builtins.print" or _printed_to_a_file(call):
        return
    if ctx.enclosing(call, ast.ExceptHandler) is not None or not is_service_module(ctx):
        return  # handlers: the check above
    if 0 < call.lineno <= len(ctx.lines) and PRINT_WAIVER.search(ctx.lines[call.lineno - 1]):
        return  # `# noqa: T201`: the author already decided this print stays
    function = ctx.enclosing_function(call)
    if function is None or isinstance(function, ast.Lambda) or _under_console_flag(call, ctx):
        return
    branch = failure_branch(call, ctx)
    if branch is not None:
        yield ctx.finding(
            RULE, call,
            f"print() reports the failure checked on line {branch.lineno} on stdout, where a service's log pipeline"
            " may never see it (no level, no request id, buffered); use logger.warning(...) or logger.error(...)",
        )
    elif _is_message(call) and (is_request_handler(function, ctx)
                                or request_reachable(function, ctx) in ("route", "view", "websocket")):
        yield ctx.finding(
            RULE, call,
            "print() in request-handling code writes to the server's stdout: no level, no timestamp, no request"
            " id, block-buffered under gunicorn/uvicorn and invisible to log-based alerts; use a module logger"
            " (logger.info(...))",
        )


def _under_console_flag(call: ast.AST, ctx: ModuleContext) -> bool:
    """`if verbosity >= 1: print(...)`, `if from_setup: print(...)`: output a command asked for, not a log line."""
    node: ast.AST | None = call
    while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        parent = ctx.parent(node)
        if isinstance(parent, ast.If) and node in parent.body and any(
                CONSOLE_FLAG.search(n.id if isinstance(n, ast.Name) else n.attr)
                for n in ast.walk(parent.test) if isinstance(n, (ast.Name, ast.Attribute))):
            return True
        node = parent
    return False


def _says_no_logger_yet(handler: ast.ExceptHandler, ctx: ModuleContext) -> bool:
    end = min(getattr(handler, "end_lineno", handler.lineno) or handler.lineno, len(ctx.lines))
    return any("#" in line and NO_LOGGER_YET.search(line.split("#", 1)[1])
               for line in ctx.lines[handler.lineno - 1:end])


def _is_message(call: ast.Call) -> bool:
    """`print(f"exported {n} orders")`: a report for a reader, not a stray value printed while debugging."""
    return any(isinstance(a, ast.JoinedStr) or (isinstance(a, ast.Constant) and isinstance(a.value, str))
               for a in call.args)


def _printed_to_a_file(call: ast.Call) -> bool:
    """`print(..., file=fh)` writes a file or a report, not diagnostics (`file=sys.stderr` is still diagnostics)."""
    for keyword in call.keywords:
        if keyword.arg == "file":
            value = keyword.value
            return not (isinstance(value, ast.Attribute) and value.attr in ("stderr", "stdout"))
    return False


def failure_branch(call: ast.Call, ctx: ModuleContext) -> ast.If | None:
    """The `if` whose body holds this print() and then gives up: returns None/False/[]/{} or raises, right after
    a check of a status (`resp.status_code != 200`, `not resp.ok`, `if error:`)."""
    statement = ctx.enclosing(call, ast.stmt)
    branch = ctx.parent(statement) if statement is not None else None
    if not isinstance(branch, ast.If) or statement not in branch.body:
        return None
    last = branch.body[-1]
    gives_up = isinstance(last, ast.Raise) or (isinstance(last, ast.Return) and is_inert_value(last.value))
    if not gives_up or last is statement:
        return None
    return branch if _tests_a_failure(branch.test) else None


FAILURE_WORDS = ("status", "ok", "error", "err", "fail", "success", "code", "valid")


def _tests_a_failure(test: ast.AST) -> bool:
    for node in ast.walk(test):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        if any(word in name.lower() for word in FAILURE_WORDS):
            return True
    return False
