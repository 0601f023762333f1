"""GAP103 unbounded-memo-cache: a cache with no size limit filled by request or job code."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..scopes import FunctionNode, request_reachable
from .global_rebound_per_request import builds_a_client
from .mutations import is_memo_cache, module_bounds, resolve_store
from .project import GRAPH, project_findings, record_write

RULE = Rule(
    id="GAP103",
    name="unbounded-memo-cache",
    category="in-memory-state",
    severity="warning",
    precision="medium",
    cwe="CWE-401",
    reads=(GRAPH,),
    summary="Request or job code fills a cache that never evicts",
    docs=Docs(
        what=(
            "Flags two shapes, both only where code runs per request or per job (routes, views, view methods,"
            " hooks, middleware, tasks, and functions they call - in another module too, as for GAP101): (1) a"
            " module-level or class-level dict used as a memo cache - looked up (`k in C`, `C.get(k)`, `C[k]`) and"
            " filled (`C[k] = v`, `C.setdefault`) in the same function - with no bound anywhere in the file (no"
            " `clear`/`popitem`, no `len(C)` check, no reset, no expiry - a `pop`/`del` by key in a function that"
            " also reads the cache); a removal by key elsewhere (`revoke()` deleting one entry) only invalidates"
            " that entry, in one worker, and does not bound the cache; (2) a call, with a non-constant argument, to a function decorated with"
            " `functools.cache` or `functools.lru_cache(maxsize=None)`, when an argument carries request data (a"
            " handler parameter, `request.*`, `self.kwargs`, or a local assigned from them)."
        ),
        why=(
            "Keys that come from requests (user ids, URLs, search terms, tokens) are unbounded: every distinct"
            " value adds an entry that is never removed, so each worker's memory grows until the OOM killer"
            " restarts it, and entries go stale because nothing expires them. `functools.cache` and"
            " `lru_cache(maxsize=None)` have no limit by design; `lru_cache()` defaults to 128 entries."
        ),
        example=(
            "_RATES = {}\n\ndef rate_for(user_id):\n    if user_id not in _RATES:\n"
            "        _RATES[user_id] = load_rate(user_id)\n    return _RATES[user_id]\n\n"
            "@app.get(\"/price/<user_id>\")\ndef price(user_id):\n    return rate_for(user_id)"
        ),
        instead=(
            "from django.core.cache import cache  # or cachetools.TTLCache(maxsize=10_000, ttl=300)\n\n"
            "def rate_for(user_id):\n    return cache.get_or_set(f\"rate:{user_id}\", lambda: load_rate(user_id),"
            " 300)"
        ),
        not_caught=(
            "Caches keyed by a finite domain filled outside request code (per model class, per settings key),"
            " pools of SDK clients or connections (`clients[key] = OpenAI(api_key=key)`, one per configured"
            " credential or endpoint),"
            " `lru_cache(maxsize=N)`, cachetools caches with a maxsize, caches with a size check, a `clear()` or"
            " an expiry in the file, `functools.cache` functions of another module, call chains the project join"
            " cannot resolve (see GAP101). Precision is medium: a memo keyed by a"
            " small finite set (a handful of languages) inside a view is also reported."
        ),
        references=(
            "https://docs.python.org/3/library/functools.html#functools.lru_cache",
            "https://docs.djangoproject.com/en/stable/topics/cache/",
        ),
    ),
)

UNBOUNDED_CACHE_DECORATORS = frozenset({"functools.cache"})
SIZED_CACHE_DECORATORS = frozenset({"functools.lru_cache"})


@RULE.on(ast.Subscript)
def check_memo_dict(node: ast.Subscript, ctx: ModuleContext) -> Iterator[Finding]:
    if not isinstance(node.ctx, ast.Store):
        return
    function = ctx.enclosing_function(node)
    if function is None:
        return
    store = resolve_store(node.value, ctx)
    if store is None or not is_memo_cache(function, store.key, ctx) or module_bounds(store.key, ctx):
        return
    if not _carries_request_data(node.slice, function, ctx) or _stores_a_client(node, ctx):
        return
    if ctx.memo(("gap103-first", id(function), store.key), lambda: node) is not node:
        return
    name = getattr(function, "name", "<lambda>")
    message = (
        f"{name}() fills the cache `{store.name}` from {{where}} and nothing bounds it (no size check, no"
        " expiry): every distinct key stays in each worker's memory forever; use a bounded TTL cache (cachetools.TTLCache,"
        " Django/Flask cache) instead"
    )
    if request_reachable(function, ctx) is None:
        record_write(RULE, function, node, message, ctx)  # a handler of another module may call it
        return
    yield ctx.finding(RULE, node, message.format(where="per-request code"))


def _stores_a_client(target: ast.Subscript, ctx: ModuleContext) -> bool:
    """`openai_clients[f"{api_key}--{base_url}"] = client` with `client = get_openai_client(...)`: a pool of SDK
    clients or connections, one per configured credential or endpoint - bounded by the configuration, and the
    reuse is the point."""
    parent = ctx.parent(target)
    return isinstance(parent, ast.Assign) and builds_a_client(parent.value, ctx)


@RULE.on_project
def check_project(index: ProjectIndex) -> Iterator[Finding]:
    yield from project_findings(RULE, index)


@RULE.on(ast.Call)
def check_unbounded_decorator(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    callee = _local_callee(call, ctx)
    if callee is None or not _has_unbounded_cache(callee, ctx):
        return
    function = ctx.enclosing_function(call)
    if function is callee or request_reachable(function, ctx) is None:
        return
    arguments = [*call.args, *(k.value for k in call.keywords)]
    if not any(_carries_request_data(a, function, ctx) for a in arguments):
        return
    yield ctx.finding(
        RULE, call,
        f"{callee.name}() is cached with no size limit and called here from per-request code with varying"
        " arguments: each distinct argument is kept in memory forever; use functools.lru_cache(maxsize=N) or a"
        " TTL cache",
    )


REQUEST_WORDS = frozenset({"request", "GET", "POST", "data", "query_params", "json", "form", "args", "kwargs",
                           "params", "body", "headers", "cookies", "user"})


def _carries_request_data(arg: ast.AST, function: ast.AST, ctx: ModuleContext, depth: int = 2) -> bool:
    """The argument comes from the request: a handler parameter (not self/cls), `request.*`, `self.kwargs[...]`,
    or a local assigned from one of those. Config values and class attributes (`self.model`) are a finite domain."""
    args = function.args  # type: ignore[attr-defined]
    params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs} - {"self", "cls"}
    for node in ast.walk(arg):
        if isinstance(node, ast.Name):
            if node.id in params or node.id in REQUEST_WORDS:
                return True
            if depth and isinstance(node.ctx, ast.Load) and ctx.scope_of(node) is function:
                value = _comprehension_source(node, ctx) or ctx.value_of(node)
                if value is not None and value is not node and ctx.scope_of(value) is function \
                        and _carries_request_data(value, function, ctx, depth - 1):
                    return True
        elif isinstance(node, ast.Attribute) and node.attr in REQUEST_WORDS:
            return True
    return False


def _comprehension_source(name: ast.Name, ctx: ModuleContext) -> ast.AST | None:
    """`x` in `[f(x) for x in items]` -> `items`."""
    for ancestor in ctx.ancestors(name):
        if isinstance(ancestor, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for generator in ancestor.generators:
                if any(isinstance(t, ast.Name) and t.id == name.id for t in ast.walk(generator.target)):
                    return generator.iter
        elif isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return None
    return None


def _local_callee(call: ast.Call, ctx: ModuleContext) -> FunctionNode | None:
    """The function of this module a call targets: `helper(x)` or `self.helper(x)` in the same class."""
    if isinstance(call.func, ast.Name):
        defs = ctx.memo(("module-defs",), lambda: {
            n.name: n for n in ctx.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))})
        return defs.get(call.func.id)
    if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) \
            and call.func.value.id in ("self", "cls"):
        function = ctx.enclosing_function(call)
        owner = ctx.parent(function) if function is not None else None
        if isinstance(owner, ast.ClassDef):  # the class's methods by name, once per class (the first def wins)
            return ctx.memo(("gap103-methods", id(owner)), lambda: _methods_by_name(owner)).get(call.func.attr)
    return None


def _methods_by_name(cls: ast.ClassDef) -> dict[str, FunctionNode]:
    methods: dict[str, FunctionNode] = {}
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods.setdefault(stmt.name, stmt)
    return methods


def _has_unbounded_cache(function: FunctionNode, ctx: ModuleContext) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualified_name(target)
        if name in UNBOUNDED_CACHE_DECORATORS:
            return True
        if name in SIZED_CACHE_DECORATORS and isinstance(decorator, ast.Call):
            size = decorator.args[0] if decorator.args else next(
                (k.value for k in decorator.keywords if k.arg == "maxsize"), None)
            if isinstance(size, ast.Constant) and size.value is None:
                return True
    return False
