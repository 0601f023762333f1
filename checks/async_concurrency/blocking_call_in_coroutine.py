"""GAP901 blocking-call-in-coroutine and GAP902 blocking-helper-in-coroutine: an `async def` that stalls its loop.

GAP901 sees the blocking call in the coroutine itself. GAP902 follows project functions the coroutine calls
without `await` - in the same module or another one, up to three calls deep - to a blocking call, through facts
recorded in the single pass and joined once per scan (no second parse).
"""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.facts import BATCH_PATH, CLI_PATH
from ..orm.index import FUNCTIONS, function_qualname, is_memoised
from ..scopes import is_test_module
from .facts import blocking_call, project_callee

DEPTH = 3

DIRECT = Rule(
    id="GAP901",
    name="blocking-call-in-coroutine",
    category="async-concurrency",
    tags=("async-blocking",),
    severity="warning",
    precision="high",
    cwe="CWE-400",
    hints=("async",),
    summary="A coroutine makes a blocking call (sleep, sync HTTP, sync database, sync SDK client, subprocess)",
    docs=Docs(
        what=(
            "Flags calls inside an `async def` that wait in the calling thread: `time.sleep`, `requests` calls and"
            " `requests.Session`/`httpx.Client` requests, `urllib.request.urlopen`, `sqlite3`/`psycopg2`/`pymysql`"
            " connections and their cursors, `subprocess.run/call/check_output`, `os.system`, `smtplib`, model"
            " calls on the sync `OpenAI()`/`Anthropic()` clients, boto3 and sync redis/pymongo clients, and"
            " queries on a parameter annotated with a sync SQLAlchemy/SQLModel `Session`. Clients are followed"
            " through locals, module variables and `self.<attr>`; aliases are resolved."
        ),
        why=(
            "An event loop runs every request of the worker on one thread. A blocking call inside a coroutine"
            " holds that thread: while one request sleeps, waits for an HTTP reply, an LLM completion or the"
            " database, every other request on the loop - health checks and websockets included - stands still."
            " Under load the latency of one slow call becomes the latency of the whole service."
        ),
        example=(
            "@app.post(\"/summarize\")\nasync def summarize(body: Body):\n"
            "    reply = requests.post(LLM_URL, json=body.dict(), timeout=30)\n    time.sleep(1)"
        ),
        instead=(
            "async with httpx.AsyncClient(timeout=30) as client:\n"
            "    reply = await client.post(LLM_URL, json=body.dict())\nawait asyncio.sleep(1)\n"
            "# or, for a sync library: await asyncio.to_thread(sync_call, arg)"
        ),
        not_caught=(
            "Calls handed to a thread (`asyncio.to_thread`, `run_in_executor`, Starlette's `run_in_threadpool`,"
            " Django's `sync_to_async`) - they are the fix; sync `def` routes (FastAPI and Starlette run them in a"
            " thread pool); CPU-bound work (parsing, hashing) that blocks as surely; file reads with `open()`"
            " (usually short); clients passed in as untyped parameters; tests (also Django-style `tests.py`) and"
            " command-line code (a `cli/` package, `cli.py`, management commands, scripts), whose loop serves no"
            " other requests. Project helpers that block are"
            " GAP902."
        ),
        references=(
            "https://docs.python.org/3/library/asyncio-dev.html#running-blocking-code",
            "https://fastapi.tiangolo.com/async/",
            "https://docs.astral.sh/ruff/rules/#flake8-async-async",
        ),
    ),
)

HELPER = Rule(
    id="GAP902",
    name="blocking-helper-in-coroutine",
    category="async-concurrency",
    tags=("async-blocking",),
    severity="warning",
    precision="medium",
    cwe="CWE-400",
    reads=(FUNCTIONS,),
    # No hints: the sync helpers it follows live in files that never say "async".
    summary="A coroutine calls a project function that blocks (directly or through its own calls)",
    docs=Docs(
        what=(
            "Flags a call, without `await`, from an `async def` to a project function or method - in the same"
            " module or another one, imported under any alias, or a method of an object built from a project"
            " class (`self.store.save_page()`) - that makes one of GAP901's blocking calls itself or through up"
            " to three further project calls. The message names the chain down to the blocking call."
        ),
        why=(
            "Generated services wrap their sync database, HTTP or SDK code in helpers (`db.py`, `oauth.py`,"
            " `storage.py`) and call them from `async def` routes. The helper looks harmless at the call site,"
            " but it holds the event loop's only thread for as long as the I/O takes, stalling every other"
            " request on the loop."
        ),
        example=(
            "# oauth.py\ndef exchange_code(code):\n    return requests.post(TOKEN_URL, data={\"code\": code},"
            " timeout=10).json()\n\n# routes.py\n@router.get(\"/callback\")\nasync def callback(code: str):\n"
            "    token = oauth.exchange_code(code)"
        ),
        instead=(
            "token = await asyncio.to_thread(oauth.exchange_code, code)\n"
            "# or make the helper async with httpx.AsyncClient / an async driver, and await it"
        ),
        not_caught=(
            "Coroutines in tests and command-line code (as GAP901); chains longer than three calls, calls through"
            " callbacks, dynamic dispatch or objects passed in,"
            " helpers memoised with `functools.cache`/`lru_cache`, and helpers that block only on a branch the"
            " coroutine never takes (the reason this rule is medium precision). Chains are not followed through a"
            " project coroutine or async generator (`create_task(search_online(q))`, `async for x in stream()`):"
            " the blocking call is reported once, in the coroutine that makes it, where the fix goes."
        ),
        references=("https://docs.python.org/3/library/asyncio-dev.html#running-blocking-code",),
    ),
)


def _no_server_loop(ctx: ModuleContext) -> bool:
    """Tests, and command-line code (`cli/`, `cli.py`, management commands, scripts): a coroutine there runs on a
    loop of its own in a terminal, with no other requests on it to stall."""
    return is_test_module(ctx) or ctx.memo(("command-line-path",), lambda: _command_line_path(ctx.path))


def _command_line_path(path: str) -> bool:
    path = path.replace("\\", "/")
    return bool(BATCH_PATH.search(path) or CLI_PATH.search(path))


def _coroutine(call: ast.Call, ctx: ModuleContext) -> ast.AsyncFunctionDef | None:
    function = ctx.enclosing_function(call)
    return function if isinstance(function, ast.AsyncFunctionDef) else None


@DIRECT.on(ast.Call)
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    coroutine = _coroutine(call, ctx)
    if coroutine is None or isinstance(ctx.parent(call), ast.Await) or _no_server_loop(ctx):
        return  # an awaited call returns an awaitable: whatever its receiver is, it does not block here
    label = blocking_call(call, ctx)
    if label is None:
        return
    yield ctx.finding(
        DIRECT, call,
        f"{label} blocks the event loop inside coroutine {coroutine.name}(): every other request on this loop"
        " waits until it returns; use the async client or driver, or `await asyncio.to_thread(...)`",
    )


@HELPER.on(ast.Call)
def record_async_call(call: ast.Call, ctx: ModuleContext) -> None:
    coroutine = _coroutine(call, ctx)
    if coroutine is None or isinstance(ctx.parent(call), ast.Await) or _no_server_loop(ctx):
        return
    if blocking_call(call, ctx) is not None:
        return  # GAP901's
    callee = project_callee(call, ctx)
    if callee is None:
        return
    spot = ctx.finding(HELPER, call, "")
    ctx.record("async-sync-call", {"callee": callee, "coroutine": coroutine.name, "line": spot.line,
                                   "col": spot.column, "end_line": spot.end_line, "end_col": spot.end_column})


@HELPER.on(ast.FunctionDef)
def summarise(function: ast.FunctionDef, ctx: ModuleContext) -> None:
    """A sync function's own first blocking call. Its calls come from the project index's function summary."""
    if is_test_module(ctx):
        return
    qualname = function_qualname(function, ctx)
    if qualname is None or is_memoised(function):
        return
    for node in ctx.own_nodes(function):
        if isinstance(node, ast.Call):
            label = blocking_call(node, ctx, cheap=True)
            if label is not None:
                ctx.record("blocking-fn", {"q": qualname, "line": node.lineno, "what": label})
                return


@HELPER.on(ast.AsyncFunctionDef)
def note_coroutine(function: ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    """An `async def` of the project: calling it without `await` only builds a coroutine (or an async generator),
    which blocks nothing; whatever blocks inside it is reported there, in its own coroutine."""
    if is_test_module(ctx):
        return
    qualname = function_qualname(function, ctx)
    if qualname is not None:
        ctx.record("async-fn", qualname)


@HELPER.on_project
def helpers_in_coroutines(index: ProjectIndex) -> Iterator[Finding]:
    effects: dict[str, str] = {}
    for path, data in index.facts("blocking-fn"):
        effects.setdefault(data["q"], f"{data['what']} ({path}:{data['line']})")
    if not effects:
        return
    coroutines = {q for _, q in index.facts("async-fn")}
    calls: dict[str, list[str]] = {}
    for _, data in index.facts("orm-function"):
        calls.setdefault(data["q"], data["calls"])
    resolved: dict[str, list[str] | None] = {}

    def chain(qualname: str, depth: int) -> list[str] | None:
        if qualname in resolved:
            return resolved[qualname]
        if depth < 0:
            return None
        resolved[qualname] = None  # cycle guard
        found: list[str] | None = None
        if qualname in coroutines:
            return None  # `search_online(...)` builds a coroutine; create_task/gather run it on the loop
        if qualname in effects:
            found = [effects[qualname]]
        else:
            for callee in calls.get(qualname, ()):
                rest = chain(callee, depth - 1)
                if rest is not None:
                    found = [f"{callee.rsplit('.', 1)[-1]}()", *rest]
                    break
        resolved[qualname] = found
        return found

    for path, data in index.facts("async-sync-call"):
        found = chain(data["callee"], DEPTH)
        if found is None:
            continue
        via = " -> ".join([f"{data['callee'].rsplit('.', 1)[-1]}()", *found])
        yield index.finding(
            HELPER, path, data["line"], data["col"], data["end_line"], data["end_col"],
            f"{via} blocks the event loop inside coroutine {data['coroutine']}(): every other request on this"
            " loop waits until it returns; `await asyncio.to_thread(...)` it, or make the helper async",
        )
