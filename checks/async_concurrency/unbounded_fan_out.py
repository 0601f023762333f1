"""GAP905 unbounded-fan-out: one concurrent task or thread per item of a data-sized collection, with no limit."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import is_test_module

RULE = Rule(
    id="GAP905",
    name="unbounded-fan-out",
    category="async-concurrency",
    tags=("fan-out",),
    severity="warning",
    precision="medium",
    cwe="CWE-770",
    hints=("gather", "Thread", "create_task", "TaskGroup"),
    summary="One concurrent task or thread per item of a collection, with no limit on how many run at once",
    docs=Docs(
        what=(
            "Flags `asyncio.gather(*(f(x) for x in items))` (also a list built by a comprehension first), a"
            " `create_task`/`TaskGroup.create_task` or a `threading.Thread(...).start()` per item of a loop, when"
            " the collection visibly comes from data (a parameter, a query's rows, a JSON body, a file's lines),"
            " is not visibly small (a literal, `range(<constant>)`, a slice `[:n]`, a call with `limit=<n>`, a"
            " name with `batch` or `chunk` in it) and the module has no limiter (`asyncio.Semaphore`, `BoundedSemaphore`,"
            " anyio `CapacityLimiter`, aiohttp `TCPConnector(limit=...)`, a bounded executor `map`)."
        ),
        why=(
            "Fine with ten items, an outage with ten thousand: every call starts at once, the provider's rate"
            " limit answers most of them with 429s, sockets and file descriptors run out, and the retries multiply"
            " the burst. A limit turns the same work into a steady stream the other side can serve."
        ),
        example=(
            "async def refresh_all(urls):\n    async with httpx.AsyncClient(timeout=10) as client:\n"
            "        return await asyncio.gather(*(client.get(u) for u in urls))"
        ),
        instead=(
            "limit = asyncio.Semaphore(10)\n\nasync def fetch(client, url):\n    async with limit:\n"
            "        return await client.get(url)\n\nasync def refresh_all(urls):\n"
            "    async with httpx.AsyncClient(timeout=10) as client:\n"
            "        return await asyncio.gather(*(fetch(client, u) for u in urls))"
        ),
        not_caught=(
            "Limits applied elsewhere (a semaphore in another module, a connection pool size the code does not"
            " show, a queue with a fixed number of workers), collections that are small in practice but not"
            " visibly so (the reason this rule is medium precision), a task started in a loop only under a test of"
            " the variable it is stored in (`if flush is None: flush = asyncio.create_task(...)`: one task), and"
            " tests."
        ),
        references=(
            "https://docs.python.org/3/library/asyncio-sync.html#asyncio.Semaphore",
            "https://docs.aiohttp.org/en/stable/client_advanced.html#limiting-connection-pool-size",
        ),
    ),
)

GATHER = frozenset({"asyncio.gather"})
SPAWN = frozenset({"asyncio.create_task", "asyncio.ensure_future"})
THREAD = frozenset({"threading.Thread"})
LIMITERS = ("Semaphore", "BoundedSemaphore", "CapacityLimiter", "limit_per_host", "TCPConnector(limit", "aiometer",
            "max_concurrency", "as_completed")


def _has_limiter(ctx: ModuleContext) -> bool:
    return ctx.memo(("fan-out-limiter",), lambda: any(word in ctx.text for word in LIMITERS))


def _small(expr: ast.AST, ctx: ModuleContext) -> bool:
    """A collection whose size the code shows to be small or bounded."""
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
        return True
    if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice):
        return True
    if isinstance(expr, (ast.ListComp, ast.GeneratorExp)) and expr.generators:
        return _small(expr.generators[0].iter, ctx)
    if isinstance(expr, ast.Await):
        return _small(expr.value, ctx)
    if isinstance(expr, ast.Call):
        if any(k.arg in ("limit", "n", "count", "max_results", "page_size", "length") and
               isinstance(k.value, ast.Constant) and k.value.value is not None for k in expr.keywords):
            return True  # `await db.recent_events(source, limit=20)`
        name = ctx.qualified_name(expr.func) or ""
        if name in ("builtins.range",) and expr.args and all(isinstance(a, ast.Constant) for a in expr.args):
            return True
        if name in ("builtins.zip", "builtins.enumerate", "builtins.sorted", "builtins.list", "builtins.reversed") \
                and expr.args:
            return _small(expr.args[0], ctx)
    if isinstance(expr, ast.Attribute):
        return expr.attr.isupper()  # a class or module constant
    if isinstance(expr, ast.Name):
        if expr.id.isupper() or any(word in expr.id.lower() for word in ("batch", "chunk", "page", "window")):
            return True
        value = ctx.value_of(expr)
        return value is not None and value is not expr and not isinstance(value, ast.Name) and _small(value, ctx)
    return False


DATA_CALLS = frozenset({"all", "fetchall", "fetch_all", "fetch", "find", "json", "to_list", "scalars", "values_list", "readlines",
                        "splitlines", "getlist", "keys", "smembers", "lrange"})


def _data_sized(expr: ast.AST, ctx: ModuleContext, depth: int) -> bool:
    """Whether the collection visibly comes from data: a parameter of the function (the caller's list), a query's
    rows, a JSON body, a file's lines - followed through local names, comprehensions and list()/sorted()."""
    if depth < 0:
        return False
    if isinstance(expr, (ast.ListComp, ast.GeneratorExp, ast.SetComp)) and expr.generators:
        return _data_sized(expr.generators[0].iter, ctx, depth - 1)
    if isinstance(expr, ast.Await):
        return _data_sized(expr.value, ctx, depth)
    if isinstance(expr, ast.Call):
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in DATA_CALLS:
            return True
        if isinstance(expr.func, ast.Name) and expr.func.id in ("list", "sorted", "set", "tuple", "reversed",
                                                                 "enumerate", "zip", "filter") and expr.args:
            return _data_sized(expr.args[-1] if expr.func.id == "filter" else expr.args[0], ctx, depth - 1)
        return False
    if isinstance(expr, ast.Attribute):
        root = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id == "request"
    if isinstance(expr, ast.Name):
        function = ctx.enclosing_function(expr)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = {a.arg for a in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]}
            if expr.id in params and expr.id not in ("self", "cls"):
                return True
        value = ctx.value_of(expr)
        return value is not None and not isinstance(value, ast.Name) and _data_sized(value, ctx, depth - 1)
    return False


def _iterable_of(expr: ast.AST, ctx: ModuleContext) -> ast.AST | None:
    """The collection a `*(... for x in items)` / `*tasks` (built by a comprehension) spreads, if any."""
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr)
        expr = value if value is not None else expr
    if isinstance(expr, (ast.GeneratorExp, ast.ListComp)) and len(expr.generators) == 1:
        return expr.generators[0].iter
    return None


@RULE.on(ast.Call, callees=(*GATHER, *SPAWN, *THREAD, "create_task"))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    name = ctx.qualified_name(call.func)
    if name in GATHER:
        spread = [a.value for a in call.args if isinstance(a, ast.Starred)]
        if not spread:
            return
        items = _iterable_of(spread[0], ctx)
        what = "asyncio.gather() starts one task per item of"
    elif name in SPAWN or name in THREAD or (isinstance(call.func, ast.Attribute) and call.func.attr ==
                                              "create_task" and name not in SPAWN):
        loop = ctx.enclosing_loop(call)
        if not isinstance(loop, (ast.For, ast.AsyncFor)):
            return
        if name in THREAD and not _started(call, ctx) or _spawned_once(call, loop, ctx):
            return
        items = loop.iter
        what = "a thread per item of" if name in THREAD else "a task per item of"
    else:
        return
    if items is None or _small(items, ctx) or not _data_sized(items, ctx, 4) or is_test_module(ctx) \
            or _has_limiter(ctx):
        return
    yield ctx.finding(
        RULE, call,
        f"{what} {ast.unparse(items)[:60]} with no limit on how many run at once: a large input becomes a burst"
        " of concurrent calls that hits rate limits and exhausts connections; bound it with an"
        " asyncio.Semaphore (or a fixed pool of workers)",
    )


def _started(call: ast.Call, ctx: ModuleContext) -> bool:
    """`Thread(...).start()` or `t = Thread(...)` then `t.start()` in the loop."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.Attribute) and parent.attr == "start":
        return True
    return isinstance(parent, ast.Assign)


def _spawned_once(call: ast.Call, loop: ast.AST, ctx: ModuleContext) -> bool:
    """`if flush_task is None: flush_task = asyncio.create_task(...)` in a loop: the branch tests the variable the
    task is stored in, so one task starts, not one per item."""
    parent = ctx.parent(call)
    if not isinstance(parent, ast.Assign) or len(parent.targets) != 1:
        return False
    spelled = ast.unparse(parent.targets[0])
    for ancestor in ctx.ancestors(call):
        if ancestor is loop:
            return False
        if isinstance(ancestor, ast.If) and any(ast.unparse(n) == spelled for n in ast.walk(ancestor.test)
                                                if isinstance(n, (ast.Name, ast.Attribute))):
            return True
    return False
