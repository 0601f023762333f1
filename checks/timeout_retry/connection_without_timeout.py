"""GAP403 connection-without-timeout: SMTP, FTP, IMAP/POP, raw sockets, Redis, PostgreSQL, MongoDB left unlimited."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import is_test_module, is_test_or_script
from .facts import (
    CONNECTION_CLIENTS, SOCKET_BLOCKING_METHODS, SOCKET_CONSTRUCTORS, SOCKET_TIMEOUT_METHODS, sets_timeout,
)
from .http_call_without_timeout import _sets_socket_default

RULE = Rule(
    id="GAP403",
    skip_tests=True,  # every handler exits first on a test module or script
    name="connection-without-timeout",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-400",
    summary="Network client (SMTP, FTP, socket, Redis, PostgreSQL, MongoDB) created without a timeout",
    docs=Docs(
        what=(
            "Flags network clients created without the setting that bounds how long they wait:"
            " `smtplib.SMTP/SMTP_SSL`, `ftplib.FTP/FTP_TLS`, `imaplib.IMAP4(_SSL)`, `poplib.POP3(_SSL)` and"
            " `socket.create_connection` without `timeout`; a `socket.socket()` that is connected or read in the"
            " same function without `settimeout()`/`setblocking()`; `redis.Redis(...)`/`redis.from_url(...)`"
            " (also `redis.asyncio`) without `socket_timeout`; `psycopg2.connect`/`psycopg.connect` without"
            " `connect_timeout`; `pymongo.MongoClient`/Motor without any of `socketTimeoutMS`,"
            " `timeoutMS`, `connectTimeoutMS` or `serverSelectionTimeoutMS` (one chosen limit is read as a"
            " decision about the others). A constant"
            " URL/DSN that carries the setting counts; a URL read from the environment with a literal fallback"
            " (`os.environ.get(\"REDIS_URL\", \"redis://localhost:6379/0\")`) is judged by that fallback, the value"
            " the code runs with wherever the variable is unset. Aliases and `from x import y` are resolved."
        ),
        why=(
            "Library defaults: the stdlib clients use the socket default, which is no timeout; redis-py's"
            " `socket_timeout=None` waits forever for a reply; libpq without `connect_timeout` waits indefinitely"
            " to connect; PyMongo's `socketTimeoutMS=None` lets an operation wait forever. A half-open TCP"
            " connection (a failover, a dropped NAT entry, a hung server) then freezes the worker that sent the"
            " email, read the cache or opened the connection, with nothing in the logs."
        ),
        example=(
            "import smtplib, redis, psycopg2\n\nsmtp = smtplib.SMTP(\"mail.example.com\", 587)\n"
            "cache = redis.Redis(host=\"cache\")\nconn = psycopg2.connect(host=\"db\", dbname=\"shop\")"
        ),
        instead=(
            "smtp = smtplib.SMTP(\"mail.example.com\", 587, timeout=10)\n"
            "cache = redis.Redis(host=\"cache\", socket_timeout=2, socket_connect_timeout=2)\n"
            "conn = psycopg2.connect(host=\"db\", dbname=\"shop\", connect_timeout=5)"
        ),
        not_caught=(
            "URLs/DSNs that are not constants and have no literal fallback (from settings, or the environment"
            " without a default: they may carry the setting),"
            " calls with `**kwargs`, clients built from a `connection_pool=`, sockets that leave the function,"
            " modules that call `socket.setdefaulttimeout()`, query-level limits (PostgreSQL statement_timeout),"
            " Django's own DATABASES/CACHES settings dictionaries, and `__main__` programs that start no server and"
            " define no handler (run by hand: no worker is held)."
        ),
        references=(
            "https://docs.python.org/3/library/smtplib.html#smtplib.SMTP",
            "https://redis.readthedocs.io/en/stable/connections.html",
            "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-CONNECT-TIMEOUT",
            "https://pymongo.readthedocs.io/en/stable/api/pymongo/mongo_client.html",
        ),
    ),
)

STDLIB_PREFIXES = ("smtplib.", "ftplib.", "imaplib.", "poplib.", "socket.")


@RULE.on(ast.Call, callees=(*CONNECTION_CLIENTS, *SOCKET_CONSTRUCTORS))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if is_test_module(ctx) or is_test_or_script(ctx):
        return  # a test waiting on its own live server, or a program run by hand, holds no worker
    name = ctx.qualified_name(call.func)
    if name is None:
        return
    fact = CONNECTION_CLIENTS.get(name)
    if fact is not None:
        if name.startswith(STDLIB_PREFIXES) and _sets_socket_default(ctx):
            return
        if sets_timeout(call, fact, ctx) is False:
            keyword = fact.keywords[0]
            yield ctx.finding(
                RULE, call,
                f"{name}() without {keyword}= {fact.default}: one unresponsive server freezes this worker with"
                f" nothing in the logs; pass {keyword}=<seconds{'*1000' if keyword.endswith('MS') else ''}>",
            )
        return
    if name in SOCKET_CONSTRUCTORS and not _sets_socket_default(ctx) and _socket_used_without_timeout(call, ctx):
        yield ctx.finding(
            RULE, call,
            "socket.socket() is connected or read here without settimeout(): the socket default is no timeout, so"
            " a silent peer blocks this worker forever; call sock.settimeout(<seconds>) before connecting",
        )


def _socket_used_without_timeout(call: ast.Call, ctx: ModuleContext) -> bool:
    """Bound to a name in a function, used for a blocking operation there, never given a timeout, never handed on."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.withitem) and isinstance(parent.optional_vars, ast.Name):
        name = parent.optional_vars.id
    elif isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        name = parent.targets[0].id
    else:
        return False
    function = ctx.enclosing_function(call)
    if function is None:
        return False
    blocking = False
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            use = ctx.parent(node)
            if isinstance(use, ast.Attribute):
                if use.attr in SOCKET_TIMEOUT_METHODS:
                    return False
                blocking = blocking or use.attr in SOCKET_BLOCKING_METHODS
            else:
                return False  # returned, stored or passed on: someone else may set the timeout
    return blocking
