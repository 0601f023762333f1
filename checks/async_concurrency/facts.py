"""What blocks an event loop: calls that wait on I/O or sleep in the calling thread, resolved through the model.

`blocking_call(call, ctx)` answers "does this call block the thread that makes it?" with a short label, for
direct calls (`time.sleep`, `requests.get`, `sqlite3.connect`, `subprocess.run`) and for methods of objects built
by a blocking constructor and held in a local, a module variable or `self.<attr>` (a `requests.Session()`, an
`httpx.Client()`, a sqlite3/psycopg2 connection and its cursors, a sync OpenAI/Anthropic client, a boto3 client).
`project_callee(call, ctx)` names the project function a call reaches, so that helpers can be followed across
modules by the project join.
"""
from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING

from ..orm.index import callee_qualname
from ..timeout_retry.facts import (HTTPX_FUNCTIONS, REQUESTS_FUNCTIONS, REQUESTS_SESSIONS, SUBPROCESS_FUNCTIONS,
                                   constructed_by, llm_call_split)

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

BLOCKING_FUNCTIONS: dict[str, str] = {
    "time.sleep": "time.sleep()",
    "urllib.request.urlopen": "urllib.request.urlopen()",
    "sqlite3.connect": "sqlite3.connect()",
    "psycopg2.connect": "psycopg2.connect()",
    "psycopg.connect": "psycopg.connect() (sync)",
    "pymysql.connect": "pymysql.connect()",
    "MySQLdb.connect": "MySQLdb.connect()",
    "mysql.connector.connect": "mysql.connector.connect()",
    "os.system": "os.system()",
    "smtplib.SMTP": "smtplib.SMTP()",
    "smtplib.SMTP_SSL": "smtplib.SMTP_SSL()",
    "socket.create_connection": "socket.create_connection()",
    **{name: f"{name}()" for name in REQUESTS_FUNCTIONS},
    **{name: f"{name}() (sync)" for name in HTTPX_FUNCTIONS},
    **{name: f"{name}()" for name in SUBPROCESS_FUNCTIONS},
}
# Constructors whose objects block on every I/O method call.
BLOCKING_CLIENTS: dict[str, str] = {
    **{name: "requests.Session" for name in REQUESTS_SESSIONS},
    "httpx.Client": "httpx.Client",
    "sqlite3.connect": "sqlite3 connection",
    "psycopg2.connect": "psycopg2 connection",
    "psycopg.connect": "psycopg connection",
    "pymysql.connect": "pymysql connection",
    "MySQLdb.connect": "MySQLdb connection",
    "mysql.connector.connect": "mysql.connector connection",
    "openai.OpenAI": "sync OpenAI client",
    "openai.AzureOpenAI": "sync AzureOpenAI client",
    "anthropic.Anthropic": "sync Anthropic client",
    "anthropic.AnthropicBedrock": "sync AnthropicBedrock client",
    "anthropic.AnthropicVertex": "sync AnthropicVertex client",
    "boto3.client": "boto3 client",
    "boto3.resource": "boto3 resource",
    "redis.Redis": "sync redis client",
    "redis.StrictRedis": "sync redis client",
    "redis.from_url": "sync redis client",
    "redis.Redis.from_url": "sync redis client",
    "pymongo.MongoClient": "pymongo client",
    "smtplib.SMTP": "smtplib.SMTP",
    "smtplib.SMTP_SSL": "smtplib.SMTP_SSL",
}
DB_CLIENTS = frozenset({"sqlite3 connection", "psycopg2 connection", "psycopg connection", "pymysql connection",
                        "MySQLdb connection", "mysql.connector connection"})
# Methods of those objects that only build or configure something, never wait.
NON_BLOCKING_METHODS = frozenset({
    "cursor", "row_factory", "close", "mount", "headers", "with_options", "copy", "get_paginator", "Table",
    "Bucket", "Object", "meta", "pipeline", "lock", "get_database", "get_collection", "__getitem__", "set_trace_callback",
})
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream"})
SQLALCHEMY_SESSIONS = frozenset({"sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlmodel.Session"})
SESSION_BLOCKING = frozenset({"execute", "exec", "query", "commit", "get", "scalars", "scalar", "flush", "refresh",
                              "merge", "delete"})


def _receiver_chain(call: ast.Call) -> ast.AST | None:
    """The object a method is called on, looking through attribute paths of SDK clients and cursors
    (`client.chat.completions.create` -> `client`, `conn.cursor().execute` -> `conn`)."""
    expr = call.func.value if isinstance(call.func, ast.Attribute) else None
    while True:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "cursor":
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute) and not (isinstance(expr.value, ast.Name) and expr.value.id in (
                "self", "cls")):
            expr = expr.value
        else:
            return expr


# Methods worth resolving a receiver for outside coroutines (helper summaries): resolving every method call of
# every function would cost more than the rest of the pass.
SUMMARY_METHODS = HTTP_METHODS | frozenset({
    "execute", "executemany", "executescript", "commit", "rollback", "fetchone", "fetchall", "fetchmany",
    "create", "parse", "generate", "sendmail", "send_message", "login", "query", "exec", "scalars", "scalar",
    "flush", "refresh", "merge",
})


def blocking_call(call: ast.Call, ctx: "ModuleContext", cheap: bool = False) -> str | None:
    """A label ("requests.get()", "sqlite3 connection .execute()") when this call blocks its thread, else None.
    `cheap`: resolve receivers only for the usual I/O method names (for helper summaries of every function)."""
    func = call.func
    if isinstance(func, ast.Attribute):
        method = func.attr
        if method in NON_BLOCKING_METHODS or (cheap and method not in SUMMARY_METHODS
                                               and not isinstance(func.value, ast.Name)):
            return None
    elif not isinstance(func, ast.Name):
        return None
    if not _imports_blocking_library(ctx):
        return _sync_session_call(call, _receiver_chain(call), ctx) if isinstance(func, ast.Attribute) else None
    name = ctx.qualified_name(func)
    if name in BLOCKING_FUNCTIONS:
        return BLOCKING_FUNCTIONS[name]
    if not isinstance(func, ast.Attribute) or (cheap and method not in SUMMARY_METHODS):
        return None
    receiver = _receiver_chain(call)
    if receiver is None:
        return None
    built = constructed_by(receiver, ctx)
    if built is None and isinstance(receiver, ast.Name):
        built = _cursor_of(receiver, ctx)
    if built is None:
        return _sync_session_call(call, receiver, ctx)
    kind = BLOCKING_CLIENTS.get(built[0])
    if kind is None:
        return None
    if kind in ("requests.Session", "httpx.Client") and method not in HTTP_METHODS:
        return None
    if "OpenAI" in kind or "Anthropic" in kind:
        if not _is_model_call(call):
            return None
    return f"{kind} .{method}()"


BLOCKING_ROOTS = frozenset({name.split(".", 1)[0] for name in (*BLOCKING_FUNCTIONS, *BLOCKING_CLIENTS)})


def _imports_blocking_library(ctx: "ModuleContext") -> bool:
    """Whether this module imports anything that blocks (requests, sqlite3, time, subprocess, an SDK...): a module
    that does not can neither call one directly nor build a blocking client, so its calls need no resolving."""
    return ctx.memo(("imports-blocking", ), lambda: any(
        q.split(".", 1)[0] in BLOCKING_ROOTS for q in ctx.imports.values()))


def _cursor_of(name: ast.Name, ctx: "ModuleContext") -> tuple[str, ast.Call] | None:
    """`cur = conn.cursor()`: the connection's constructor, so cursor methods count as the connection's."""
    value = ctx.value_of(name)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "cursor":
        built = constructed_by(value.func.value, ctx)
        if built is not None and BLOCKING_CLIENTS.get(built[0]) in DB_CLIENTS:
            return built
    return None


def _is_model_call(call: ast.Call) -> bool:
    return llm_call_split(call) is not None


def _sync_session_call(call: ast.Call, receiver: ast.AST, ctx: "ModuleContext") -> str | None:
    """`db.query(...)` / `session.execute(...)` on a parameter annotated with a sync SQLAlchemy/SQLModel Session."""
    if not isinstance(receiver, ast.Name) or call.func.attr not in SESSION_BLOCKING:  # type: ignore[union-attr]
        return None
    if not ctx.memo(("imports-sqlalchemy",), lambda: any(q.split(".", 1)[0] in ("sqlalchemy", "sqlmodel")
                                                         for q in ctx.imports.values())):
        return None
    if _parameter_annotation(ctx.enclosing_function(call), receiver.id, ctx) in SQLALCHEMY_SESSIONS:
        return f"sync SQLAlchemy Session .{call.func.attr}()"  # type: ignore[union-attr]
    return None


def project_callee(call: ast.Call, ctx: "ModuleContext") -> str | None:
    """The qualified name of the project function or method a call may reach: what the ORM index resolves
    (imports, module functions, `self.method()`), plus methods of objects held in `self.<attr>` or a variable
    whose constructor is a project class (`self.store.save_page()` -> `pkg.storage.PageStore.save_page`)."""
    callee = callee_qualname(call, ctx)
    if callee is not None:
        return callee
    func = call.func
    if isinstance(func, ast.Attribute):
        built = constructed_by(func.value, ctx)
        cls = built[0] if built is not None else annotated_class(func.value, ctx)
        if cls is not None and cls.rsplit(".", 1)[-1][:1].isupper():
            return f"{cls}.{func.attr}"
    return None


def _parameter_annotation(function: ast.AST | None, name: str, ctx: "ModuleContext") -> str | None:
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
        if arg.arg == name and arg.annotation is not None:
            annotation = arg.annotation
            if isinstance(annotation, ast.Subscript) and ctx.qualified_name(annotation.value) in (
                    "typing.Annotated", "typing_extensions.Annotated"):  # Annotated[Session, Depends(get_db)]
                inner = annotation.slice
                annotation = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
            if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
                return ctx.resolve_name(annotation.value.split("[", 1)[0], function)  # "PageStore" under __future__
            return ctx.qualified_name(annotation) or _module_class(annotation, ctx)
    return None


def _module_class(annotation: ast.AST, ctx: "ModuleContext") -> str | None:
    """A class of this module named in an annotation: `pkg.mod.Class`."""
    if isinstance(annotation, ast.Name) and annotation.id in ctx.module_names:
        module = ctx.module_name or os.path.splitext(os.path.basename(ctx.path))[0]
        return f"{module}.{annotation.id}"
    return None


def annotated_class(expr: ast.AST, ctx: "ModuleContext") -> str | None:
    """The declared class of a parameter (`store: PageStore`) or of `self.store` set from one in a method."""
    if isinstance(expr, ast.Name):
        return _parameter_annotation(ctx.enclosing_function(expr), expr.id, ctx)
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        cls = ctx.enclosing(expr, ast.ClassDef)
        return _attribute_classes(cls, ctx).get(expr.attr) if cls is not None else None
    return None


def _attribute_classes(cls: ast.ClassDef, ctx: "ModuleContext") -> dict[str, str]:
    """attr -> declared class, from `attr: Class` in the class body or `self.attr = param` with `param: Class`."""

    def compute() -> dict[str, str]:
        table: dict[str, str] = {}
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                declared = ctx.qualified_name(node.annotation) or _module_class(node.annotation, ctx)
                if declared:
                    table[node.target.id] = declared
        for method in cls.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(method):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.Name):
                    target = node.targets[0]
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == "self" and target.attr not in table:
                        declared = _parameter_annotation(method, node.value.id, ctx)
                        if declared:
                            table[target.attr] = declared
        return table

    return ctx.memo(("attribute-classes", id(cls)), compute)
