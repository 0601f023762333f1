"""GAP404 subprocess-without-timeout: request or job code waits on an external command with no time limit."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import request_reachable
from .facts import POPEN_CONSTRUCTORS, POPEN_WAITS, SUBPROCESS_FUNCTIONS, constructed_by, has_splat, keyword_value

RULE = Rule(
    id="GAP404",
    name="subprocess-without-timeout",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-400",
    summary="Request or job code runs an external command without a timeout",
    docs=Docs(
        what=(
            "Flags `subprocess.run/call/check_call/check_output` without `timeout=`, and `communicate()`/`wait()`"
            " without `timeout=` on a `subprocess.Popen` held in a variable, a `with` block or `self.<attr>` -"
            " but only in code that runs per request or per job (routes, views, view methods, Celery/RQ/Dramatiq"
            " tasks, and functions of the same module they call). Aliases are resolved."
        ),
        why=(
            "subprocess waits for the child with no limit by default. A converter that stalls on a malformed file,"
            " a `git` waiting for credentials, or a tool blocked on a full pipe keeps the web worker or the task"
            " slot busy forever; requests queue up behind it and the job never finishes or retries."
        ),
        example=(
            "@app.post(\"/thumbnail\")\ndef thumbnail():\n"
            "    subprocess.run([\"convert\", src, \"-resize\", \"200x200\", dst], check=True)"
        ),
        instead=(
            "subprocess.run([\"convert\", src, \"-resize\", \"200x200\", dst], check=True, timeout=30)"
        ),
        not_caught=(
            "Commands run from CLIs, scripts, management commands, build tooling and tests (a person is there to"
            " press Ctrl-C), helpers in other modules that a view calls, calls with `**kwargs`, and"
            " `asyncio.create_subprocess_*` (wrap it in `asyncio.wait_for`)."
        ),
        references=("https://docs.python.org/3/library/subprocess.html#subprocess.run",),
    ),
)


@RULE.on(ast.Call)
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if keyword_value(call, ("timeout",)) is not None or has_splat(call):
        return
    name = ctx.qualified_name(call.func)
    if name in SUBPROCESS_FUNCTIONS:
        label = f"{name}()"
    elif isinstance(call.func, ast.Attribute) and call.func.attr in POPEN_WAITS \
            and len(call.args) < (2 if call.func.attr == "communicate" else 1):  # timeout may be positional
        built = constructed_by(call.func.value, ctx)
        if not built or built[0] not in POPEN_CONSTRUCTORS:
            return
        label = f"Popen.{call.func.attr}()"
    else:
        return
    kind = request_reachable(ctx.enclosing_function(call), ctx)
    if kind is None:
        return
    where = "background task" if kind == "task" else "request handler"
    yield ctx.finding(
        RULE, call,
        f"{label} waits for the external command with no limit: a stalled command holds this {where} forever;"
        " pass timeout=<seconds> and handle subprocess.TimeoutExpired",
    )
