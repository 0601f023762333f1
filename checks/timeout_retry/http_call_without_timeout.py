"""GAP402 http-call-without-timeout: HTTP clients other than requests' plain calls (GAP401) left without a limit."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import is_test_module, is_test_or_script
from .facts import (
    AIOHTTP_DEFAULT, AIOHTTP_SESSIONS, HTTP_VERBS, HTTPX_CLIENTS, HTTPX_FUNCTIONS, REQUESTS_FUNCTIONS,
    REQUESTS_SESSIONS, STDLIB_HTTP, constructed_by, has_splat, is_none, keyword_value, sets_timeout,
)

RULE = Rule(
    id="GAP402",
    skip_tests=True,  # every handler exits first on a test module or script
    name="http-call-without-timeout",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-400",
    summary="HTTP call or client that can wait forever (urllib, http.client, httpx/requests timeout=None, aiohttp)",
    docs=Docs(
        what=(
            "Flags HTTP calls whose library default, or whose explicit argument, lets them wait without limit:"
            " `urllib.request.urlopen(url)` and `http.client.HTTP(S)Connection(host)` without `timeout`;"
            " `timeout=None` passed to `httpx` functions, `httpx.Client/AsyncClient`, or a requests/httpx/aiohttp"
            " session or client method (sessions held in a local, a `with` block or `self.<attr>` are followed);"
            " and `aiohttp.ClientSession()` created without `timeout=` (unless every request made through it in"
            " the same function passes one). Aliases and `from x import y` are resolved. A missing timeout on"
            " plain `requests` calls is GAP401."
        ),
        why=(
            "A server that accepts the connection and never answers keeps the call waiting: urllib and"
            " http.client fall back to the socket default, which is no timeout at all; `timeout=None` switches"
            " off httpx's 5 s default; aiohttp's default is " + AIOHTTP_DEFAULT + ", far longer than any request"
            " handler should wait. Each hung call holds a worker, a thread or a connection-pool slot until the"
            " service stops answering."
        ),
        example=(
            "import urllib.request\nimport httpx\n\nurllib.request.urlopen(url)\n"
            "httpx.get(url, timeout=None)\nsession = aiohttp.ClientSession()"
        ),
        instead=(
            "urllib.request.urlopen(url, timeout=10)\nhttpx.get(url, timeout=httpx.Timeout(10, connect=3))\n"
            "session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15, sock_connect=3))"
        ),
        not_caught=(
            "Plain httpx calls without `timeout=` (httpx's 5 s default applies), calls that pass `**kwargs`, a"
            " `timeout` variable whose value is None at run time, clients passed in as parameters, modules that"
            " call `socket.setdefaulttimeout()` (stdlib calls there are trusted), Django management commands and"
            " `__main__` scripts that start their own stdlib `HTTPServer` (a local dev tool), `__main__` programs that start"
            " no server and define no handler (a dataset download run by hand: no worker is held), and aiohttp sessions built in"
            " one place and used in another (returned by a factory, cached on `self`) when the module's requests pass"
            " their own `timeout=` (the shared-pool idiom: the session default never applies)."
        ),
        references=(
            "https://docs.python.org/3/library/urllib.request.html#urllib.request.urlopen",
            "https://www.python-httpx.org/advanced/timeouts/",
            "https://docs.aiohttp.org/en/stable/client_quickstart.html#timeouts",
        ),
    ),
)

NONE_TIMEOUT_CLIENTS = REQUESTS_SESSIONS | HTTPX_CLIENTS | AIOHTTP_SESSIONS


@RULE.on(ast.Call, callees=(*STDLIB_HTTP, *REQUESTS_FUNCTIONS, *HTTPX_FUNCTIONS, *HTTPX_CLIENTS, *AIOHTTP_SESSIONS,
                            *HTTP_VERBS))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if is_test_module(ctx) or _local_dev_server(ctx) or is_test_or_script(ctx):
        return  # a test waiting on its own live server, or a dev tool serving one, is not a production gap
    name = ctx.qualified_name(call.func)
    if name in STDLIB_HTTP:
        if sets_timeout(call, STDLIB_HTTP[name], ctx) is False and not _sets_socket_default(ctx):
            yield ctx.finding(
                RULE, call,
                f"{name}() has no timeout and {STDLIB_HTTP[name].default}: a silent server hangs this worker;"
                " pass timeout=<seconds>",
            )
        return
    if name in REQUESTS_FUNCTIONS or name in HTTPX_FUNCTIONS or name in HTTPX_CLIENTS:
        if _timeout_is_none(call, ctx):
            yield ctx.finding(
                RULE, call,
                f"{name}(timeout=None) switches the timeout off: a silent server hangs this call forever; pass"
                " timeout=<seconds> (httpx.Timeout for connect/read limits)",
            )
        return
    if name in AIOHTTP_SESSIONS:
        if keyword_value(call, ("timeout",)) is None and not has_splat(call) and not _every_request_sets_timeout(
                call, ctx) and not _handed_on_to_timed_requests(call, ctx):
            yield ctx.finding(
                RULE, call,
                f"{name}() without timeout= uses {AIOHTTP_DEFAULT}: a slow upstream holds this handler for minutes;"
                " pass timeout=aiohttp.ClientTimeout(total=..., sock_connect=...)",
            )
        elif _timeout_is_none(call, ctx):
            yield ctx.finding(RULE, call, f"{name}(timeout=None) switches the timeout off: a silent server hangs"
                              " every request through this session; pass timeout=aiohttp.ClientTimeout(total=...)")
        return
    if isinstance(call.func, ast.Attribute) and call.func.attr in HTTP_VERBS and _timeout_is_none(call, ctx):
        built = constructed_by(call.func.value, ctx)
        if built and built[0] in NONE_TIMEOUT_CLIENTS:
            yield ctx.finding(
                RULE, call,
                f"{call.func.attr}(timeout=None) on a {built[0]} switches the timeout off: a silent server hangs"
                " this call forever; pass timeout=<seconds>",
            )


def _timeout_is_none(call: ast.Call, ctx: ModuleContext) -> bool:
    keyword = keyword_value(call, ("timeout",))
    if keyword is None:
        return False
    value = keyword.value
    if isinstance(value, ast.Name) and value.id != "None":
        value = ctx.value_of(value) or value
    if is_none(value):
        return True
    # httpx.Timeout(None) / aiohttp.ClientTimeout() with no limits.
    if isinstance(value, ast.Call) and ctx.qualified_name(value.func) in ("httpx.Timeout",):
        return bool(value.args) and is_none(value.args[0]) and not value.keywords
    return False


STDLIB_SERVERS = frozenset({"http.server.HTTPServer", "http.server.ThreadingHTTPServer", "socketserver.TCPServer",
                            "socketserver.ThreadingTCPServer", "wsgiref.simple_server.make_server"})
COMMAND_BASES = frozenset({"django.core.management.base.BaseCommand", "django.core.management.BaseCommand"})


def _local_dev_server(ctx: ModuleContext) -> bool:
    """A command a person runs (a Django management command or a `__main__` script) that starts a single-process
    stdlib server (`HTTPServer(...).serve_forever()`): a local dev tool, its hangs end with Ctrl-C, not a worker's."""
    def compute() -> bool:
        serves = any(isinstance(n, ast.Call) and ctx.qualified_name(n.func) in STDLIB_SERVERS for n in ctx.nodes)
        if not serves:
            return False
        command = any(isinstance(n, ast.ClassDef) and any(ctx.qualified_name(b) in COMMAND_BASES for b in n.bases)
                      for n in ctx.nodes)
        main = any(isinstance(s, ast.If) and "__name__" in ast.unparse(s.test) for s in ctx.tree.body)
        return command or main

    return ctx.memo(("local-dev-server",), compute)


def _sets_socket_default(ctx: ModuleContext) -> bool:
    def compute() -> bool:
        return any(isinstance(n, ast.Call) and ctx.qualified_name(n.func) == "socket.setdefaulttimeout"
                   for n in ctx.nodes)

    return ctx.memo(("sets-socket-default-timeout",), compute)


def _session_name(session_call: ast.Call, ctx: ModuleContext) -> str | None:
    parent = ctx.parent(session_call)
    if isinstance(parent, ast.withitem) and isinstance(parent.optional_vars, ast.Name):
        return parent.optional_vars.id
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        return parent.targets[0].id
    if isinstance(parent, ast.AnnAssign) and isinstance(parent.target, ast.Name):
        return parent.target.id
    return None


def _requests_through(name: str, session_call: ast.Call, ctx: ModuleContext) -> list[ast.Call]:
    scope = ctx.scope_of(session_call)
    return [n for n in ast.walk(scope) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Name) and n.func.value.id == name and n.func.attr in HTTP_VERBS]


def _every_request_sets_timeout(session_call: ast.Call, ctx: ModuleContext) -> bool:
    """The session is bound to a name and every request made through it in that scope passes `timeout=`."""
    name = _session_name(session_call, ctx)
    if name is None:
        return False
    requests = _requests_through(name, session_call, ctx)
    return bool(requests) and all(keyword_value(r, ("timeout",)) is not None or has_splat(r) for r in requests)


def _handed_on_to_timed_requests(session_call: ast.Call, ctx: ModuleContext) -> bool:
    """The session is built here but used elsewhere (returned, cached on `self`, yielded by a factory: no request
    goes through it where it is made), and this module's requests pass their own `timeout=`: a shared
    connection-pool session whose callers set a limit per request, so the session default never applies."""
    name = _session_name(session_call, ctx)
    if name is not None and _requests_through(name, session_call, ctx):
        return False

    def module_times_requests() -> bool:
        return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in HTTP_VERBS
                   and (limit := keyword_value(n, ("timeout",))) is not None and not is_none(limit.value)
                   for n in ctx.nodes)

    return ctx.memo(("http-requests-pass-timeout",), module_times_requests)
