"""GAP102 global-rebound-per-request: `global X` rebound by code that runs per request or per job."""
from __future__ import annotations

import ast
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..scopes import request_reachable
from .project import GRAPH, project_findings, record_write

RULE = Rule(
    id="GAP102",
    name="global-rebound-per-request",
    category="in-memory-state",
    severity="warning",
    precision="medium",
    cwe="CWE-1051",
    reads=(GRAPH,),
    summary="Request or job code rebinds a module global (a counter, flag or token)",
    docs=Docs(
        what=(
            "Flags a function that declares `global X` and assigns `X` (`X = ...`, `X += 1`) when the function"
            " runs per request or per job (the same request/job scopes as GAP101, including request hooks such as"
            " Flask's `before_request`, middleware, and functions the handlers call in the same or another module"
            " of the project)."
        ),
        why=(
            "A module global lives in one worker process: a request counter, a `maintenance` flag, a cached"
            " access token or a 'last seen' timestamp set in one gunicorn/uvicorn/Celery worker is not seen by"
            " the others and is reset on every restart, so the program behaves differently depending on which"
            " process answers. Under threads, `X += 1` is also a lost-update race."
        ),
        example=(
            "REQUESTS_SERVED = 0\n\n@app.get(\"/\")\ndef index():\n    global REQUESTS_SERVED\n"
            "    REQUESTS_SERVED += 1"
        ),
        instead=(
            "@app.get(\"/\")\ndef index():\n    redis_client.incr(\"requests_served\")  # or a metrics counter"
        ),
        not_caught=(
            "Lazy singletons - `global _client` assigned only under `if _client is None:` (or `if not _client:`,"
            " in the `else:` of `if _client is not None:`, or after an early `if _client: return _client`) - which build a client or connection once per"
            " process and are fine; a global that holds this process's connection or client, set up and torn down"
            " with the worker (`_http = httpx.Client()` in `setup_http()`, `_http = None` in `close_http()`);"
            " globals named as a cache (`_health_cache = {...}`), a value each process may"
            " recompute (unbounded cache containers are GAP103); globals rebound by code no handler reaches"
            " through a call the project join"
            " can resolve (see GAP101); tests and real `__main__` scripts. Precision is medium: long-running"
            " services rebind module globals to configuration each worker reloads from a shared store (settings"
            " re-read from the database, a derived lookup map rebuilt from module data), which looks the same as"
            " a per-process counter or token."
        ),
        references=("https://12factor.net/processes",),
    ),
)


@RULE.on(ast.Global)
def check(node: ast.Global, ctx: ModuleContext) -> Iterator[Finding]:
    function = ctx.enclosing_function(node)
    if function is None:
        return
    kind = request_reachable(function, ctx)
    bindings = ctx.bindings(function)
    for name in node.names:
        rebinds = [s for s in bindings.get(name, ()) if not _is_lazy_init(s, name, ctx)
                   and not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        if not rebinds or _names_a_cache(name) or _holds_a_client(name, rebinds, ctx):
            continue
        message = (
            f"{function.name}() rebinds the module global `{name}` from {{where}}: each worker process has its own"
            " value and it resets on restart, so other workers never see it; keep it in the database, Redis or a"
            " metrics backend"
        )
        if kind is None:
            record_write(RULE, function, rebinds[0], message, ctx)  # a handler of another module may call it
            continue
        where = "a background task" if kind == "task" else "request code"
        yield ctx.finding(RULE, rebinds[0], message.format(where=where))


@RULE.on_project
def check_project(index: ProjectIndex) -> Iterator[Finding]:
    yield from project_findings(RULE, index)


def _names_a_cache(name: str) -> bool:
    """`_health_cache = {...}` / `token_cache = ...`: a value the process may recompute, held under one name.
    Each worker keeping its own copy is what a process-local cache is; one rebound value cannot grow."""
    return "cache" in name.lower()


# Constructors of connections and clients (`httpx.AsyncClient()`, `redis.Redis.from_url(...)`, `create_engine(...)`,
# `TracerProvider(...)`): objects that belong to one process by nature (sockets, pools, exporters).
CLIENT_LIKE = re.compile(r"(?i)(client|session|redis|pool|engine|connection|connect|provider|tracer|exporter"
                         r"|from_url|driver|channel|producer|consumer)$")


def _holds_a_client(name: str, rebinds: list[ast.AST], ctx: ModuleContext) -> bool:
    """`setup_httpx(): _httpx = httpx.AsyncClient()` and `_close(): _httpx = None`: the global holds this
    process's connection or client, set up and torn down with the worker; there is nothing other workers should
    see. Every rebind is such a constructor or None, and the module builds one somewhere."""
    def client_call(value: ast.AST | None) -> bool:
        return builds_a_client(value, ctx)

    values = [getattr(s, "value", None) for s in rebinds]
    if not all(client_call(v) or isinstance(v, ast.Constant) and v.value is None for v in values):
        return False
    return ctx.memo(("gap102-client-global", name), lambda: any(
        isinstance(n, (ast.Assign, ast.AnnAssign)) and client_call(n.value)
        and any(isinstance(t, ast.Name) and t.id == name
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])) for n in ctx.nodes))


def builds_a_client(value: ast.AST | None, ctx: ModuleContext) -> bool:
    """`httpx.AsyncClient()`, `await get_openai_client(key)`, or a local bound to one (`provider =
    TracerProvider(...)` then `_PROVIDER = provider`): a client, session, pool or connection constructor."""
    while isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Name):
        value = ctx.value_of(value)
        while isinstance(value, ast.Await):
            value = value.value
    return isinstance(value, ast.Call) and bool(CLIENT_LIKE.search(call_last_name(value.func)))


def call_last_name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_lazy_init(stmt: ast.AST, name: str, ctx: ModuleContext) -> bool:
    """`if X is None: X = make()` / `if not X:` - a once-per-process lazy singleton; also the early-return
    spelling `if X: return X` followed by `X = make()`, and the `else:` of `if X is not None:`."""
    function = ctx.enclosing_function(stmt)
    if function is not None:
        for earlier in function.body:
            if earlier is stmt or getattr(earlier, "lineno", 0) >= getattr(stmt, "lineno", 0):
                break
            if isinstance(earlier, ast.If) and _tests_set(earlier.test, name) and earlier.body \
                    and isinstance(earlier.body[-1], ast.Return):
                return True
    child: ast.AST = stmt
    for ancestor in ctx.ancestors(stmt):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        if isinstance(ancestor, ast.If) and (_tests_unset(ancestor.test, name) or (
                child in ancestor.orelse and _tests_set(ancestor.test, name))):
            return True  # `if X is None: X = make()`, or `if X is not None: ... else: X = make()`
        child = ancestor
    return False


def _tests_set(test: ast.expr, name: str) -> bool:
    """`if X:` / `if X is not None:`"""
    if isinstance(test, ast.Name):
        return test.id == name
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == name \
        and isinstance(test.ops[0], ast.IsNot) and isinstance(test.comparators[0], ast.Constant) \
        and test.comparators[0].value is None


def _tests_unset(test: ast.expr, name: str) -> bool:
    if isinstance(test, ast.BoolOp):
        return any(_tests_unset(v, name) for v in test.values)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return isinstance(test.operand, ast.Name) and test.operand.id == name
    if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == name:
        return isinstance(test.ops[0], (ast.Is, ast.Eq)) and isinstance(test.comparators[0], ast.Constant) \
            and test.comparators[0].value is None
    return False
