"""GAP404 subprocess-without-timeout: request or job code waits on an external command with no time limit."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..in_memory_state.project import GRAPH
from ..orm.index import FUNCTIONS
from ..reach import defer, pending_findings, record_reach
from ..scopes import is_test_or_script, request_reachable
from .facts import POPEN_CONSTRUCTORS, POPEN_WAITS, SUBPROCESS_FUNCTIONS, constructed_by, has_splat, keyword_value

RULE = Rule(
    id="GAP404",
    name="subprocess-without-timeout",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-400",
    reads=(FUNCTIONS, GRAPH),
    summary="Request or job code runs an external command without a timeout",
    docs=Docs(
        what=(
            "Flags `subprocess.run/call/check_call/check_output` without `timeout=`, and `communicate()`/`wait()`"
            " without `timeout=` on a `subprocess.Popen` held in a variable, a `with` block or `self.<attr>` -"
            " but only in code that runs per request or per job (routes, views, view methods, Celery/RQ/Dramatiq"
            " tasks, and the project functions they call, in the same module or another one - also methods of a"
            " module-level instance or of one an app factory builds, routes defined inside `create_app()`,"
            " `executor.submit(fn)` / `Thread(target=fn)` targets, and modules imported by"
            " their top-level name from the app's own folder). Aliases are resolved."
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
            " press Ctrl-C), functions reached only through a call the index cannot resolve (a callback stored for"
            " later, a method of an object passed in, a top-level import that several project modules could be),"
            " calls with `**kwargs`, `asyncio.create_subprocess_*` (wrap it in"
            " `asyncio.wait_for`), `sleep` with a literal number of seconds, which its own argument bounds, local"
            " file operations that return at once (`rm`, `mkdir`, `touch`, `ln`, `chmod`, `chown` as the command's"
            " first word), and"
            " `ping -c N` / `ping -n N`, which stops after its count of probes, and `communicate()` / `wait()` in the"
            " `except TimeoutExpired:` handler right after `kill()` / `terminate()` of the same process (the"
            " documented clean-up of a child that already had its timeout)."
        ),
        references=("https://docs.python.org/3/library/subprocess.html#subprocess.run",),
    ),
)


@RULE.on(ast.Call, callees=(*SUBPROCESS_FUNCTIONS, *POPEN_WAITS))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if keyword_value(call, ("timeout",)) is not None or has_splat(call):
        return
    name = ctx.qualified_name(call.func)
    if name in SUBPROCESS_FUNCTIONS:
        if _sleeps_a_literal_time(call) or _counted_ping(call) or _local_file_command(call):
            return
        label = f"{name}()"
    elif isinstance(call.func, ast.Attribute) and call.func.attr in POPEN_WAITS \
            and len(call.args) < (2 if call.func.attr == "communicate" else 1):  # timeout may be positional
        built = constructed_by(call.func.value, ctx)
        if not built or built[0] not in POPEN_CONSTRUCTORS or _reaps_after_kill(call, ctx):
            return
        started = _popen_call(call, ctx)
        if started is not None and _local_file_command(started):
            return
        label = f"Popen.{call.func.attr}()"
    else:
        return
    kind = request_reachable(ctx.enclosing_function(call), ctx)
    message = (f"{label} waits for the external command with no limit: a stalled command holds this {{where}}"
               " forever; pass timeout=<seconds> and handle subprocess.TimeoutExpired")
    if kind is None:
        if not is_test_or_script(ctx):
            defer(RULE, call, ctx, f"{label} waits for the external command with no limit, and the {{where}} {{via}}()"
                                   " calls this helper: a stalled command holds it forever; pass timeout=<seconds>"
                                   " and handle subprocess.TimeoutExpired")
        return
    yield ctx.finding(RULE, call, message.format(where="background task" if kind == "task" else "request handler"))


def _reaps_after_kill(call: ast.Call, ctx: ModuleContext) -> bool:
    """`except TimeoutExpired: proc.kill(); proc.communicate()`: the documented way to collect a child that was
    killed after its timeout - it has no more time to wait for."""
    receiver = ast.unparse(call.func.value)  # type: ignore[attr-defined]
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(ancestor, ast.ExceptHandler):
            return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                       and node.func.attr in ("kill", "terminate") and ast.unparse(node.func.value) == receiver
                       and node.lineno <= call.lineno for node in ast.walk(ancestor))
    return False


# Commands that only touch local files and return at once: nothing remote or interactive to stall on.
LOCAL_FILE_COMMANDS = frozenset({"rm", "mkdir", "rmdir", "touch", "ln", "chmod", "chown", "true", "echo"})


def _local_file_command(call: ast.Call) -> bool:
    """`Popen(f"rm {dump}", shell=True)`, `subprocess.run(["mkdir", "-p", path])`: the program (the first word of
    the command) is a local file operation."""
    command = call.args[0] if call.args else None
    first: object = None
    if isinstance(command, (ast.List, ast.Tuple)) and command.elts and isinstance(command.elts[0], ast.Constant):
        first = command.elts[0].value
    elif isinstance(command, ast.Constant):
        first = command.value
    elif isinstance(command, ast.JoinedStr) and command.values and isinstance(command.values[0], ast.Constant):
        first = command.values[0].value
    words = first.split() if isinstance(first, str) else []
    return bool(words) and words[0] in LOCAL_FILE_COMMANDS


def _popen_call(wait: ast.Call, ctx: ModuleContext) -> ast.Call | None:
    """The `Popen(...)` call bound to the waited-on name last before the wait (`proc = Popen(...)`)."""
    receiver = wait.func.value if isinstance(wait.func, ast.Attribute) else None
    function = ctx.enclosing_function(wait)
    if not isinstance(receiver, ast.Name) or function is None:
        return None
    found = None
    for stmt in ctx.bindings(function).get(receiver.id) or []:
        if isinstance(stmt, ast.Assign) and stmt.lineno < wait.lineno and isinstance(stmt.value, ast.Call):
            if found is None or stmt.lineno > found.lineno:
                found = stmt
    return found.value if found is not None else None  # type: ignore[return-value]


def _sleeps_a_literal_time(call: ast.Call) -> bool:
    """`subprocess.run(["sleep", "1"])`: the command's own argument bounds how long it takes."""
    argv = call.args[0] if call.args else None
    if not isinstance(argv, (ast.List, ast.Tuple)) or len(argv.elts) != 2:
        return False
    program, seconds = argv.elts
    return isinstance(program, ast.Constant) and program.value == "sleep" \
        and isinstance(seconds, ast.Constant) and str(seconds.value).replace(".", "", 1).isdigit()


def _counted_ping(call: ast.Call) -> bool:
    """`subprocess.run(["ping", "-c", str(n), "-W", "2", host])`: a ping with a count (and a per-reply wait)
    stops on its own after that many probes."""
    argv = call.args[0] if call.args else None
    if not isinstance(argv, (ast.List, ast.Tuple)) or not argv.elts:
        return False
    program = argv.elts[0]
    flags = {e.value for e in argv.elts[1:] if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return isinstance(program, ast.Constant) and program.value in ("ping", "ping6") and bool(flags & {"-c", "-n"})


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def summarise(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    if not is_test_or_script(ctx):
        record_reach(function, ctx)


@RULE.on_project
def helpers_of_handlers(index: ProjectIndex) -> Iterator[Finding]:
    """A helper in another module that a handler or task calls (through any number of project calls)."""
    yield from pending_findings(index, RULE)
