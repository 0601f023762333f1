"""Which code runs once per request or per job: framework facts shared by every family.

`is_request_or_job_scope(function, ctx)` is the reusable question "does this function run per request, per
websocket message or per background job?" - answered from decorators, base classes and same-module route
registrations, resolved through imports. `request_reachable(function, ctx)` extends it to functions of the same
module that such code calls. Other families (timeouts, unbounded queries) use both.
"""
from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Iterator

from ..analyzer.discovery import is_test_path
from ..analyzer.registry import SCRIPT_FACT, FactPass

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

# ---- decorators that make a function a job (a task run by a worker) ---------------------------------------------
TASK_DECORATORS = frozenset({
    "celery.shared_task", "celery.task", "celery.decorators.task", "celery.decorators.periodic_task",
    "dramatiq.actor", "rq.job", "rq.decorators.job", "django_rq.job", "huey.contrib.djhuey.task",
    "huey.contrib.djhuey.db_task", "huey.contrib.djhuey.periodic_task", "huey.contrib.djhuey.db_periodic_task",
    "arq.worker.func",
})
# `@<receiver>.task` / `.actor` / `.job`: receivers named like a worker app.
TASK_DECORATOR_ATTRS = frozenset({"task", "actor", "job", "periodic_task", "db_task"})
TASK_APP_CONSTRUCTORS = frozenset({
    "celery.Celery", "dramatiq.brokers.redis.RedisBroker", "huey.RedisHuey", "huey.Huey", "rq.Queue",
})
TASK_RECEIVER_NAMES = frozenset({"app", "celery", "celery_app", "capp", "huey", "broker", "worker", "queue"})

# ---- decorators that make a function a request handler --------------------------------------------------------
VIEW_DECORATORS = frozenset({
    "rest_framework.decorators.api_view", "rest_framework.decorators.action",
    "django.views.decorators.http.require_http_methods", "django.views.decorators.http.require_GET",
    "django.views.decorators.http.require_POST", "django.views.decorators.http.require_safe",
    "django.contrib.auth.decorators.login_required", "django.contrib.auth.decorators.permission_required",
    "django.contrib.admin.views.decorators.staff_member_required", "django.views.decorators.csrf.csrf_exempt",
    "django.views.decorators.csrf.csrf_protect", "django.views.decorators.cache.never_cache",
    "django.views.decorators.cache.cache_page", "django.views.decorators.vary.vary_on_headers",
    "flask_login.login_required",
})
# `@<app>.route(...)`, `@router.get(...)`, `@routes.post(...)` (Flask, FastAPI, Starlette, Quart, Sanic, aiohttp).
ROUTE_ATTRS = frozenset({
    "route", "get", "post", "put", "patch", "delete", "head", "options", "websocket", "websocket_route",
    "api_route", "view", "endpoint",
})
WEB_APP_CONSTRUCTORS = frozenset({
    "flask.Flask", "flask.Blueprint", "fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter",
    "starlette.applications.Starlette", "starlette.routing.Router", "quart.Quart", "quart.Blueprint",
    "sanic.Sanic", "sanic.Blueprint", "aiohttp.web.RouteTableDef", "aiohttp.web.Application", "ninja.NinjaAPI",
    "ninja.Router", "litestar.Litestar", "bottle.Bottle",
})
# `@app.before_request`, `@bp.before_app_request`, `@app.middleware("http")`, `@app.errorhandler(404)`: run around
# every request (Flask, Quart, FastAPI, Starlette, Sanic), with or without a call.
REQUEST_HOOK_ATTRS = frozenset({
    "before_request", "before_app_request", "after_request", "after_app_request", "teardown_request",
    "teardown_app_request", "errorhandler", "app_errorhandler", "exception_handler", "middleware",
    "url_value_preprocessor", "context_processor", "app_context_processor",
})
ROUTE_RECEIVER_NAMES = frozenset({
    "app", "api", "router", "bp", "blueprint", "routes", "api_router", "application", "web_app", "server",
})
WEB_FRAMEWORK_ROOTS = frozenset({
    "flask", "fastapi", "starlette", "quart", "sanic", "aiohttp", "ninja", "litestar", "bottle", "falcon",
})
# Calls that register a handler passed to them (Starlette `Route(path, endpoint)`, aiohttp `add_get(path, fn)`).
REGISTRATION_ATTRS = frozenset({
    "add_url_rule", "add_api_route", "add_route", "add_get", "add_post", "add_put", "add_patch", "add_delete",
    "add_websocket_route", "add_api_websocket_route", "add_view",
})
REGISTRATION_CALLS = frozenset({
    "starlette.routing.Route", "starlette.routing.WebSocketRoute", "aiohttp.web.get", "aiohttp.web.post",
    "aiohttp.web.put", "aiohttp.web.patch", "aiohttp.web.delete", "aiohttp.web.route", "aiohttp.web.view",
    "django.urls.path", "django.urls.re_path",
})

# ---- base classes whose methods run per request / per message / per job ----------------------------------------
VIEW_BASE_SUFFIXES = (
    "View", "ViewSet", "APIView", "Viewset", "Consumer", "RequestHandler", "HTTPEndpoint", "WebSocketEndpoint",
    "MethodView", "Resource",
)
TASK_BASES = frozenset({"celery.Task", "celery.app.task.Task"})
# Middleware: Starlette `BaseHTTPMiddleware.dispatch`, Django's `MiddlewareMixin` and new-style
# `class TimingMiddleware: def __call__(self, request)`, pure ASGI `async def __call__(self, scope, receive, send)`.
# Every method but `__init__` (run once, when the stack is built) runs per request.
MIDDLEWARE_SUFFIXES = ("Middleware", "MiddlewareMixin")
MIDDLEWARE_METHODS = frozenset({
    "dispatch", "__call__", "process_request", "process_view", "process_response", "process_exception",
    "process_template_response",
})
# Names that look like a view base by suffix but are not request code.
NOT_VIEW_BASES = frozenset({"TemplateResponse", "Resource"})  # `Resource` alone is too generic to trust

DJANGO_ROOTS = frozenset({"django", "rest_framework", "ninja", "channels", "wagtail", "oscar"})


def decorator_target(decorator: ast.expr) -> ast.expr:
    return decorator.func if isinstance(decorator, ast.Call) else decorator


def _assigned_call(receiver: ast.expr, ctx: "ModuleContext") -> str | None:
    """Qualified name of the constructor a receiver name was assigned from (`app = Flask(__name__)`)."""
    if isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver)
        if isinstance(value, ast.Call):
            return ctx.qualified_name(value.func)
    return None


def _imports_any(ctx: "ModuleContext", roots: frozenset[str]) -> bool:
    return ctx.memo(("imports-any", roots), lambda: any(q.split(".", 1)[0] in roots for q in ctx.imports.values()))


def decorator_kind(decorator: ast.expr, ctx: "ModuleContext") -> str | None:
    """"task", "route" or "view" when this decorator marks a per-job / per-request function."""
    target = decorator_target(decorator)
    qualified = ctx.qualified_name(target)
    if qualified in TASK_DECORATORS:
        return "task"
    if qualified in VIEW_DECORATORS:
        return "view"
    if not isinstance(target, ast.Attribute):
        return None
    receiver = target.value
    receiver_name = (ctx.dotted_name(receiver) or "").rsplit(".", 1)[-1].lower()
    constructor = _assigned_call(receiver, ctx)
    if target.attr in TASK_DECORATOR_ATTRS:
        if constructor in TASK_APP_CONSTRUCTORS or receiver_name in TASK_RECEIVER_NAMES \
                or receiver_name.endswith(("_app", "celery")):
            return "task"
        return None
    if target.attr in REQUEST_HOOK_ATTRS:
        if constructor in WEB_APP_CONSTRUCTORS:
            return "route"
        named_like_app = receiver_name in ROUTE_RECEIVER_NAMES or receiver_name.endswith(("_bp", "_router", "_api"))
        if constructor is None and named_like_app and _imports_any(ctx, WEB_FRAMEWORK_ROOTS):
            return "route"
        return None
    if target.attr in ROUTE_ATTRS:
        if constructor in WEB_APP_CONSTRUCTORS:
            return "route"
        if constructor is not None:
            return None  # a receiver we know is something else (`cache.get`, a dict)
        if target.attr == "route" and isinstance(decorator, ast.Call):
            return "route"
        named_like_app = receiver_name in ROUTE_RECEIVER_NAMES or receiver_name.endswith(("_bp", "_router", "_api"))
        if named_like_app and isinstance(decorator, ast.Call) and _imports_any(ctx, WEB_FRAMEWORK_ROOTS):
            return "route"
    return None


def _base_is_view(base: ast.expr, ctx: "ModuleContext") -> bool:
    spelled = ctx.dotted_name(base.value if isinstance(base, ast.Subscript) else base) or ""
    last = spelled.rsplit(".", 1)[-1]
    if last in NOT_VIEW_BASES or last.startswith("Test"):
        return False
    return last.endswith(VIEW_BASE_SUFFIXES)


def _is_middleware(cls: ast.ClassDef, ctx: "ModuleContext") -> bool:
    """A class with a middleware base, or named `...Middleware` with a per-request hook method."""

    def compute() -> bool:
        for base in cls.bases:
            spelled = ctx.dotted_name(base) or ""
            if spelled.rsplit(".", 1)[-1].endswith(MIDDLEWARE_SUFFIXES):
                return True
        return cls.name.endswith("Middleware") and any(
            isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name in MIDDLEWARE_METHODS for s in cls.body)

    return ctx.memo(("middleware-class", id(cls)), compute)


def _base_is_task(base: ast.expr, ctx: "ModuleContext") -> bool:
    return ctx.qualified_name(base) in TASK_BASES


def _registered_handlers(ctx: "ModuleContext") -> frozenset[str]:
    """Names of functions registered as handlers by a call in this module (`Route("/", home)`)."""

    def compute() -> frozenset[str]:
        names: set[str] = set()
        for node in ctx.nodes:
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            registering = (isinstance(func, ast.Attribute) and func.attr in REGISTRATION_ATTRS) or (
                ctx.qualified_name(func) in REGISTRATION_CALLS)
            if not registering:
                continue
            for arg in [*node.args, *(k.value for k in node.keywords if k.arg in ("endpoint", "view_func",
                                                                                  "handler", "view"))]:
                if isinstance(arg, ast.Name):
                    names.add(arg.id)
        return frozenset(names)

    return ctx.memo(("registered-handlers",), compute)


def _looks_like_django_view(function: FunctionNode, ctx: "ModuleContext") -> bool:
    """A module-level `def view(request, ...)` in a module that imports Django (or DRF, Wagtail, Oscar)."""
    args = function.args.posonlyargs + function.args.args
    if not args or args[0].arg != "request":
        return False
    if not isinstance(ctx.parent(function), ast.Module):
        return False
    return _imports_any(ctx, DJANGO_ROOTS) or ctx.path.replace("\\", "/").endswith("views.py")


def scope_kind(function: ast.AST, ctx: "ModuleContext") -> str | None:
    """"task", "route", "view" or "websocket" when `function` runs per job / request / message, else None."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    return ctx.memo(("scope-kind", id(function)), lambda: _scope_kind(function, ctx))


def _scope_kind(function: FunctionNode, ctx: "ModuleContext") -> str | None:
    if is_test_or_script(ctx):
        return None
    return _handler_kind(function, ctx)


def _handler_kind(function: FunctionNode, ctx: "ModuleContext") -> str | None:
    for decorator in function.decorator_list:
        kind = decorator_kind(decorator, ctx)
        if kind:
            return kind
    parent = ctx.parent(function)
    if isinstance(parent, ast.ClassDef):
        if any(_base_is_task(b, ctx) for b in parent.bases) and function.name == "run":
            return "task"
        if _is_middleware(parent, ctx):
            return "view" if function.name != "__init__" else None
        if any(_base_is_view(b, ctx) for b in parent.bases):
            spelled = [ctx.dotted_name(b) or "" for b in parent.bases]
            consumer = any(s.endswith(("Consumer", "WebSocketEndpoint")) for s in spelled)
            return "websocket" if consumer else "view"
        return None
    if isinstance(parent, ast.Module):
        if function.name in _registered_handlers(ctx):
            return "route"
        if _looks_like_django_view(function, ctx):
            return "view"
    # A function nested in a handler runs when the handler runs.
    outer = ctx.enclosing_function(function)
    if outer is not None:
        return scope_kind(outer, ctx)
    return None


def is_request_or_job_scope(function: ast.AST, ctx: "ModuleContext") -> bool:
    """True when `function` is a route, view, view method, websocket handler or background task."""
    return scope_kind(function, ctx) is not None


def is_request_scope(function: ast.AST, ctx: "ModuleContext") -> bool:
    return scope_kind(function, ctx) in ("route", "view", "websocket")


# ---- same-module reachability ----------------------------------------------------------------------------------
def _functions(ctx: "ModuleContext") -> list[FunctionNode]:
    return ctx.memo(("all-functions",), lambda: [
        n for n in ctx.nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))])


def _callees(function: FunctionNode, ctx: "ModuleContext") -> Iterator[FunctionNode]:
    """Functions of this module that `function` calls by name, or as `self.m()` / `cls.m()` in its class."""
    module_defs = ctx.memo(("module-defs",), lambda: {
        n.name: n for n in ctx.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))})
    owner = ctx.parent(function)
    methods = {n.name: n for n in owner.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))} \
        if isinstance(owner, ast.ClassDef) else {}
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in module_defs:
            yield module_defs[node.func.id]
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in ("self", "cls") and node.func.attr in methods:
            yield methods[node.func.attr]


def _reachable(ctx: "ModuleContext") -> dict[int, str]:
    """id(function) -> the kind of the handler it is, or is called from (same module, any depth)."""

    def compute() -> dict[int, str]:
        found: dict[int, str] = {}
        work: list[tuple[FunctionNode, str]] = []
        for function in _functions(ctx):
            kind = scope_kind(function, ctx)
            if kind:
                found[id(function)] = kind
                work.append((function, kind))
        while work:
            function, kind = work.pop()
            for callee in _callees(function, ctx):
                if id(callee) not in found:
                    found[id(callee)] = kind
                    work.append((callee, kind))
        return found

    return ctx.memo(("request-reachable",), compute)


def request_reachable(function: ast.AST | None, ctx: "ModuleContext") -> str | None:
    """The handler kind when `function` is a handler or is called (in this module) from one, else None."""
    if function is None:
        return None
    return _reachable(ctx).get(id(function))


# ---- files that never serve requests ---------------------------------------------------------------------------
def is_test_module(ctx: "ModuleContext") -> bool:
    """Test modules and conftest files, by path (asked per call node by several rules: memoised per file). The
    engine leaves them out unless `include-tests` is set; with it, rules that skip tests still do."""
    return ctx.memo(("test-module",), lambda: is_test_path(ctx.path))


MIGRATION_FOLDER = re.compile(r"(^|/)([a-z_]*migrations|alembic)/|(^|/)migrations\.py$")
ALEMBIC_SCRIPT_IMPORTS = frozenset({"alembic.op", "alembic.context"})


def is_migration_module(ctx: "ModuleContext") -> bool:
    """A schema migration, run once by an operator: a module in a Django `migrations/` (or `*_migrations/`) or an
    `alembic/` folder, a `migrations.py` module of numbered steps (`async def m001_initial(db):`), or an Alembic
    revision script wherever the project keeps them (`revisions/tenant/versions/`): `revision = "..."` and
    `down_revision = ...` at module level in a module that imports from alembic, or Alembic's `env.py`
    (`from alembic import context`)."""

    def compute() -> bool:
        if MIGRATION_FOLDER.search(ctx.path.replace("\\", "/")):
            return True
        if "alembic" not in ctx.text:
            return False
        imported = set(ctx.imports.values())
        if imported & ALEMBIC_SCRIPT_IMPORTS:
            return True
        if not any(q.split(".", 1)[0] == "alembic" for q in imported):
            return False
        names = {t.id for stmt in ctx.tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                 for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]) if isinstance(t, ast.Name)}
        return {"revision", "down_revision"} <= names

    return ctx.memo(("migration-module",), compute)


def is_test_or_script(ctx: "ModuleContext") -> bool:
    """Tests, conftest files and `if __name__ == "__main__":` scripts: their state dies with the process anyway.

    A module with a `__main__` block is still service code when it defines request handlers or job functions, or
    when the block starts a server (`app.run(debug=True)`, `uvicorn.run(app)`): the usual shape of a generated
    Flask or FastAPI app, which production runs under gunicorn/uvicorn workers."""

    def compute() -> bool:
        if is_test_module(ctx):
            return True
        guard = _main_guard(ctx)
        if guard is None:
            return False
        return not (_starts_server(guard, ctx) or _defines_handlers(ctx))

    return ctx.memo(("test-or-script",), compute)


def _main_guard(ctx: "ModuleContext") -> ast.If | None:
    for stmt in ctx.tree.body:
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare) \
                and isinstance(stmt.test.left, ast.Name) and stmt.test.left.id == "__name__":
            return stmt
    return None


SERVER_CALLS = frozenset({
    "uvicorn.run", "hypercorn.asyncio.serve", "aiohttp.web.run_app", "waitress.serve", "bottle.run",
    "werkzeug.serving.run_simple", "gevent.pywsgi.WSGIServer", "wsgiref.simple_server.make_server",
})
SERVER_METHODS = frozenset({"run", "run_server", "serve", "serve_forever"})


def _starts_server(guard: ast.If, ctx: "ModuleContext") -> bool:
    """The `__main__` block serves the app: `app.run(...)`, `socketio.run(app)`, `uvicorn.run("main:app")`."""
    for node in ast.walk(guard):
        if not isinstance(node, ast.Call):
            continue
        if ctx.qualified_name(node.func) in SERVER_CALLS:
            return True
        if isinstance(node.func, ast.Attribute) and node.func.attr in SERVER_METHODS:
            receiver = node.func.value
            constructor = _assigned_call(receiver, ctx)
            name = (ctx.dotted_name(receiver) or "").rsplit(".", 1)[-1].lower()
            if constructor in WEB_APP_CONSTRUCTORS or (
                    name in ROUTE_RECEIVER_NAMES | {"socketio", "sio"} and _imports_any(ctx, WEB_FRAMEWORK_ROOTS)):
                return True
    return False


def _defines_handlers(ctx: "ModuleContext") -> bool:
    """A module-level function or a method of a module-level class is a route, view, hook or task."""
    for stmt in ctx.tree.body:
        functions = [stmt] if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) else [
            s for s in stmt.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
        ] if isinstance(stmt, ast.ClassDef) else []
        if any(_handler_kind(f, ctx) for f in functions):
            return True
    return False


# ---- the file's kind, for the engine: Semgrep rules that never report in a script ------------------------------
# Semgrep sees text only; a rule that leaves out programs run by hand (`skip_scripts`, e.g. GAP401's "holds a
# worker") reads this fact, recorded by the Python pass for each file it may apply to, and the engine drops its
# findings where the fact is set.
FILE_KIND = FactPass("file-kind")


@FILE_KIND.on(ast.Module, fact=SCRIPT_FACT)
def note_script(module: ast.Module, ctx: "ModuleContext") -> None:
    """A test or a `__main__` program that serves nothing (`is_test_or_script`)."""
    if "__main__" in ctx.text and is_test_or_script(ctx):
        ctx.record(SCRIPT_FACT, True)
