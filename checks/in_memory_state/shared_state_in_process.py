"""GAP101 shared-state-in-process: a module- or class-level container written by per-request or per-job code."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..scopes import request_reachable
from .mutations import (is_enumerated_store, is_memo_cache, keeps_running_tasks, mutation_target,
                        only_evicts_what_others_add, resets_first, resolve_written_store)
from ..orm.index import function_qualname
from .facts import MUTATING_METHODS
from .project import GRAPH, project_findings, record_write

RULE = Rule(
    id="GAP101",
    name="shared-state-in-process",
    category="in-memory-state",
    severity="warning",
    precision="medium",
    cwe="CWE-1051",
    reads=(GRAPH,),
    summary="Request or job code writes to a module-level or class-level container",
    docs=Docs(
        what=(
            "Flags a write - item assignment, `del X[k]`, `append/add/update/setdefault/pop/clear/...` - to a"
            " module-level `dict`/`list`/`set`/`defaultdict`/`OrderedDict`/`Counter`/`deque` (or a literal, or a"
            " class attribute holding one, or an attribute `__init__` binds to one - `self.secrets = {}` - on a class"
            " the project keeps a module-level instance of: `storage = Storage()`, or that an app factory builds"
            " next to the app: `svc = Svc()` beside `app = Flask(__name__)` in `create_app()`) from code that runs"
            " per request"
            " or per job: a Flask/FastAPI/Starlette/"
            "Quart/Sanic/aiohttp route, a Django function view or a method of a class-based view (Django, DRF),"
            " a Channels consumer, a request hook (`before_request`, `@app.middleware`), a middleware's `dispatch`/"
            "`__call__`, a Celery/RQ/Dramatiq/Huey task, or a function any of them calls - in the same module or"
            " in another module of the project (`sessions.create_session()` called from `routes.py`, a method of a"
            " module-level instance, a route defined inside `create_app()` or `register_routes(app)`, a function"
            " passed as `Thread(target=...)`/`Depends(...)`, a method called on"
            " an injected collaborator `self.store.hit()` when at most three project classes define it). A class"
            " attribute counts when it is a `ClassVar` or sits in a plain class (no decorator, no base); a write"
            " through an entry alias (`history = D[k]; history.append(m)`) counts. Aliases of the framework imports"
            " are resolved. A module with an `if __name__ == \"__main__\":` block is still service code when it"
            " defines handlers or the block starts a server (`app.run(debug=True)`, `uvicorn.run(app)`). One"
            " finding per container per function, where the state is filled: a function that only removes entries"
            " another function adds is not reported. Writes to a Flask/Quart app's settings from the same code"
            " (`current_app.config[\"THRESHOLD\"] = x`, `app.config.update(...)`: a reload or settings endpoint)"
            " are reported too."
        ),
        why=(
            "Production runs several worker processes (gunicorn, uvicorn workers, Celery prefork) and restarts"
            " them: each process has its own copy of the container, so a cart, session, counter or rate limit"
            " written in one worker is invisible in the next request served by another, and everything is lost"
            " on deploy. Nothing ever removes entries, so the process grows until it is killed. Class attributes"
            " are shared by every instance, so a class-based view's `items = []` leaks between users."
        ),
        example=(
            "CARTS = {}\n\n@app.post(\"/cart/<user_id>\")\ndef add_to_cart(user_id):\n"
            "    CARTS.setdefault(user_id, []).append(request.json[\"sku\"])"
        ),
        instead=(
            "@app.post(\"/cart/<user_id>\")\ndef add_to_cart(user_id):\n"
            "    redis_client.rpush(f\"cart:{user_id}\", request.json[\"sku\"])  # or a database row"
        ),
        not_caught=(
            "Registries filled at import time (decorator registration - a function used as a decorator anywhere in"
            " the project is never followed -, plugin tables), constants never written, memo caches (GAP103"
            " reports the unbounded ones), `global` rebinding (GAP102), buffers emptied on every call (`X[:] = []`,"
            " `X.clear()`), sets that keep references to running asyncio tasks (`TASKS.add(t)` with"
            " `t.add_done_callback(TASKS.discard)`), `threading.local`, `contextvars`, instance attributes of objects"
            " built per request or kept elsewhere than a module-level name (`app.extensions[...]`), instance attributes"
            " another method rebinds (a private loader only `__init__` calls, `self._data = json.load(f)` in"
            " `_load()`, is part of `__init__`: the copy is loaded once and then edited, and that is reported), get-or-"
            "create tables on an instance (`if k in self._items: return ...; self._items[k] = v`) that the class"
            " never lists (taken as a memo cache; one it lists with `keys()`/`values()`/`items()`, a loop or"
            " `list()` is a table of records and is reported), instances of classes named for a cache,"
            " dataclass/pydantic fields,"
            " annotated attributes of classes with a base (they may be model fields), calls through inherited"
            " methods, parameters or re-exports the project join cannot resolve, method names defined by more than"
            " three project classes, app settings set at import time or in the app factory, `config.setdefault()`"
            " (a default, or a per-app holder fetched), the `config` of"
            " anything but the Flask/Quart app, tests and real scripts (a `__main__` block with no handlers and no"
            " server)."
            " Precision is medium: on mature code most writes the rule sees fill a table with the same content in"
            " every worker - routes or field names copied from configuration or the app registry on first use, a"
            " cache pruned by expiry right after the write - which the code does not mark; in generated code the"
            " same shape is usually a cart, a session or a counter."
        ),
        references=(
            "https://docs.gunicorn.org/en/stable/design.html",
            "https://12factor.net/processes",
        ),
    ),
)


@RULE.on(ast.Subscript)
@RULE.on(ast.Call, callees=MUTATING_METHODS)  # `X.append(v)`: a call mutates through one of these methods only
def check(node: ast.AST, ctx: ModuleContext) -> Iterator[Finding]:
    target = mutation_target(node)
    if target is None:
        return
    function = ctx.enclosing_function(node)
    if function is None:
        return  # module level: import time
    store = resolve_written_store(target, ctx)
    if store is None and not _is_setdefault(node) and _is_app_config(target, function, ctx):
        yield from _config_write(node, target, function, ctx)
        return
    if store is None or is_memo_cache(function, store.key, ctx) and not (
            store.kind == "instance" and is_enumerated_store(store.key, ctx)) \
            or only_evicts_what_others_add(function, store.key, ctx) or resets_first(function, store.key, ctx) \
            or keeps_running_tasks(function, store.key, ctx):
        return
    # One finding per (function, container): the first write in source order.
    first = ctx.memo(("gap101-first", id(function), store.key), lambda: node)
    if first is not node:
        return
    scope = {"class": "class attribute", "instance": "process-wide instance's"}.get(store.kind, "module-level")
    name = getattr(function, "name", "<lambda>")
    message = (
        f"{name}() writes to the {scope} {store.container} `{store.name}` from {{where}}: every worker"
        " process keeps its own copy, it is lost on restart and grows without bound; keep this state in the"
        " database, Redis or the framework's cache/session instead"
    )
    if store.kind == "instance":
        # Shared only through a module-level instance (`storage = Storage()`), which the project join checks:
        # a view or service object built per request owns its containers.
        cls = ctx.enclosing(function, ast.ClassDef)
        qualname = function_qualname(cls, ctx) if cls is not None else None
        if qualname is not None:
            record_write(RULE, function, node, message, ctx, instance_of=qualname)
        return
    yield from _report_or_record(function, node, message, ctx)


def _report_or_record(function: ast.AST, node: ast.AST, message: str, ctx: ModuleContext) -> Iterator[Finding]:
    """Here when the function serves requests, tasks or websockets; else recorded for the project join (a handler
    of another module may call it)."""
    kind = request_reachable(function, ctx)
    if kind is None:
        record_write(RULE, function, node, message, ctx)
        return
    where = {"task": "a background task", "websocket": "a websocket handler"}.get(kind, "request code")
    yield ctx.finding(RULE, node, message.format(where=where))


FLASK_APPS = frozenset({"flask.Flask", "quart.Quart"})
FLASK_CURRENT_APPS = frozenset({"flask.current_app", "quart.current_app"})


def _is_setdefault(node: ast.AST) -> bool:
    """`current_app.config.setdefault("_store", {})`: a default filled once, or a per-app holder fetched - not
    a setting changed."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setdefault"


def _is_app_config(target: ast.AST, function: ast.AST, ctx: ModuleContext) -> bool:
    """`current_app.config`, or `app.config` with `app = Flask(...)` in the module or in the factory around."""
    if not (isinstance(target, ast.Attribute) and target.attr == "config" and isinstance(target.value, ast.Name)):
        return False
    if ctx.qualified_name(target.value) in FLASK_CURRENT_APPS:
        return True
    name = target.value.id
    scopes: list[ast.AST] = []
    current: ast.AST | None = function
    while current is not None:
        scopes.append(current)
        current = ctx.enclosing_function(current)
    scopes.append(ctx.tree)
    for scope in scopes:
        for stmt in ctx.bindings(scope).get(name, ()):
            value = getattr(stmt, "value", None)
            if isinstance(value, ast.Call) and ctx.qualified_name(value.func) in FLASK_APPS:
                return True
    return False


def _config_write(node: ast.AST, target: ast.AST, function: ast.AST, ctx: ModuleContext) -> Iterator[Finding]:
    """`current_app.config["THRESHOLD"] = x` in request code: a setting changed in one worker only."""
    first = ctx.memo(("gap101-config", id(function)), lambda: node)
    if first is not node:
        return
    name = getattr(function, "name", "<lambda>")
    spelled = ast.unparse(target)
    message = (
        f"{name}() changes the app's settings (`{spelled}`) from {{where}}: only the worker process that served"
        " this request sees the new value, the others keep the old one, and a restart loses it; keep runtime"
        " settings in the database or Redis and read them from there"
    )
    yield from _report_or_record(function, node, message, ctx)


@RULE.on_project
def check_project(index: ProjectIndex) -> Iterator[Finding]:
    yield from project_findings(RULE, index)
