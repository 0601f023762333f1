"""Library facts for timeout-retry: each client's timeout parameter and default, retry libraries, outbound calls.

One table per fact. Positions are 0-based indexes of the positional argument that would carry the timeout (a call
with that many positionals or more is treated as setting it, so old signatures never produce a false alarm).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext


@dataclass(frozen=True)
class TimeoutFact:
    """How one constructor or function takes its timeout, and what happens without one."""

    keywords: tuple[str, ...]
    position: int | None
    default: str  # the library's behaviour without the keyword, for messages and docs
    # For clients configured by a URL/DSN: query keys in a constant URL that also set the timeout.
    url_keys: tuple[str, ...] = ()
    # The URL/DSN is this positional argument or keyword (only a constant one can be read).
    url_arg: tuple[int, str] | None = None


# ---- HTTP clients (GAP402) ---------------------------------------------------------------------------------------
HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "send"})
REQUESTS_FUNCTIONS = frozenset(f"requests.{v}" for v in HTTP_VERBS - {"stream", "send"}) | {"requests.api.request"}
REQUESTS_SESSIONS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session"})
HTTPX_FUNCTIONS = frozenset(f"httpx.{v}" for v in HTTP_VERBS - {"send"})
HTTPX_CLIENTS = frozenset({"httpx.Client", "httpx.AsyncClient"})
AIOHTTP_SESSIONS = frozenset({"aiohttp.ClientSession", "aiohttp.client.ClientSession"})
AIOHTTP_TIMEOUTS = frozenset({"aiohttp.ClientTimeout", "aiohttp.client.ClientTimeout"})
AIOHTTP_DEFAULT = "a 5-minute total timeout (aiohttp's DEFAULT_TIMEOUT: total=300 s, sock_connect=30 s)"

# Stdlib HTTP: no timeout means socket's global default, which is None (block forever) unless
# socket.setdefaulttimeout() was called.
STDLIB_HTTP: dict[str, TimeoutFact] = {
    "urllib.request.urlopen": TimeoutFact(("timeout",), 2, "blocks forever (socket default: no timeout)"),
    "http.client.HTTPConnection": TimeoutFact(("timeout",), 2, "blocks forever (socket default: no timeout)"),
    "http.client.HTTPSConnection": TimeoutFact(("timeout",), 2, "blocks forever (socket default: no timeout)"),
}

# ---- other network clients (GAP403) -------------------------------------------------------------------------------
_SOCKET_DEFAULT = "blocks forever (socket default: no timeout)"
_MONGO_KEYS = ("socketTimeoutMS", "timeoutMS", "connectTimeoutMS", "serverSelectionTimeoutMS")
_MONGO_KEYS = _MONGO_KEYS + tuple(k.lower() for k in _MONGO_KEYS)  # PyMongo options are case-insensitive
CONNECTION_CLIENTS: dict[str, TimeoutFact] = {
    "smtplib.SMTP": TimeoutFact(("timeout",), 3, _SOCKET_DEFAULT),
    "smtplib.SMTP_SSL": TimeoutFact(("timeout",), 3, _SOCKET_DEFAULT),
    "ftplib.FTP": TimeoutFact(("timeout",), 4, _SOCKET_DEFAULT),
    "ftplib.FTP_TLS": TimeoutFact(("timeout",), 4, _SOCKET_DEFAULT),
    "imaplib.IMAP4": TimeoutFact(("timeout",), 2, _SOCKET_DEFAULT),
    "imaplib.IMAP4_SSL": TimeoutFact(("timeout",), 2, _SOCKET_DEFAULT),
    "poplib.POP3": TimeoutFact(("timeout",), 2, _SOCKET_DEFAULT),
    "poplib.POP3_SSL": TimeoutFact(("timeout",), 2, _SOCKET_DEFAULT),
    "socket.create_connection": TimeoutFact(("timeout",), 1, _SOCKET_DEFAULT),
    # redis-py: socket_timeout=None means a command waits forever for the server's reply.
    "redis.Redis": TimeoutFact(("socket_timeout",), 4, "waits forever for a reply (socket_timeout=None)"),
    "redis.StrictRedis": TimeoutFact(("socket_timeout",), 4, "waits forever for a reply (socket_timeout=None)"),
    "redis.client.Redis": TimeoutFact(("socket_timeout",), 4, "waits forever for a reply (socket_timeout=None)"),
    "redis.asyncio.Redis": TimeoutFact(("socket_timeout",), 4, "waits forever for a reply (socket_timeout=None)"),
    "redis.from_url": TimeoutFact(("socket_timeout",), None, "waits forever for a reply (socket_timeout=None)",
                                  ("socket_timeout",), (0, "url")),
    "redis.Redis.from_url": TimeoutFact(("socket_timeout",), None, "waits forever for a reply (socket_timeout=None)",
                                        ("socket_timeout",), (0, "url")),
    "redis.StrictRedis.from_url": TimeoutFact(("socket_timeout",), None,
                                              "waits forever for a reply (socket_timeout=None)",
                                              ("socket_timeout",), (0, "url")),
    "redis.asyncio.from_url": TimeoutFact(("socket_timeout",), None, "waits forever for a reply (socket_timeout=None)",
                                          ("socket_timeout",), (0, "url")),
    # libpq: connect_timeout unset or 0 means wait indefinitely for the connection.
    "psycopg2.connect": TimeoutFact(("connect_timeout",), None, "waits indefinitely to connect (libpq default)",
                                    ("connect_timeout",), (0, "dsn")),
    "psycopg.connect": TimeoutFact(("connect_timeout",), None, "waits indefinitely to connect (libpq default)",
                                   ("connect_timeout",), (0, "conninfo")),
    "psycopg.Connection.connect": TimeoutFact(("connect_timeout",), None,
                                              "waits indefinitely to connect (libpq default)",
                                              ("connect_timeout",), (0, "conninfo")),
    "psycopg.AsyncConnection.connect": TimeoutFact(("connect_timeout",), None,
                                                   "waits indefinitely to connect (libpq default)",
                                                   ("connect_timeout",), (0, "conninfo")),
    # PyMongo: socketTimeoutMS=None (no limit on an operation's reply); timeoutMS (4.2+) bounds a whole operation.
    # An explicit connectTimeoutMS / serverSelectionTimeoutMS shows the limits were chosen: not reported.
    "pymongo.MongoClient": TimeoutFact(_MONGO_KEYS, None,
                                       "lets an operation wait forever (socketTimeoutMS=None, no timeoutMS)",
                                       _MONGO_KEYS, (0, "host")),
    "pymongo.mongo_client.MongoClient": TimeoutFact(_MONGO_KEYS, None,
                                                    "lets an operation wait forever (socketTimeoutMS=None)",
                                                    _MONGO_KEYS, (0, "host")),
    "motor.motor_asyncio.AsyncIOMotorClient": TimeoutFact(_MONGO_KEYS, None,
                                                          "lets an operation wait forever (socketTimeoutMS=None)",
                                                          _MONGO_KEYS, (0, "host")),
}
# A pool or client handed in carries its own settings.
CONFIGURED_ELSEWHERE_KEYWORDS = frozenset({"connection_pool", "connection_factory"})
SOCKET_CONSTRUCTORS = frozenset({"socket.socket"})
SOCKET_BLOCKING_METHODS = frozenset({"connect", "recv", "recv_into", "recvfrom", "accept", "sendall", "makefile"})
SOCKET_TIMEOUT_METHODS = frozenset({"settimeout", "setblocking"})

# ---- subprocesses (GAP404) ---------------------------------------------------------------------------------------
SUBPROCESS_FUNCTIONS = frozenset({
    "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
})
POPEN_CONSTRUCTORS = frozenset({"subprocess.Popen"})
POPEN_WAITS = frozenset({"communicate", "wait"})

# ---- LLM SDKs (GAP405): default timeout 600 s, with 2 retries --------------------------------------------------
LLM_CONSTRUCTORS = frozenset({
    "openai.OpenAI", "openai.AsyncOpenAI", "openai.AzureOpenAI", "openai.AsyncAzureOpenAI",
    "anthropic.Anthropic", "anthropic.AsyncAnthropic", "anthropic.AnthropicBedrock", "anthropic.AsyncAnthropicBedrock",
    "anthropic.AnthropicVertex", "anthropic.AsyncAnthropicVertex",
})
LLM_MODULE_CLIENTS = frozenset({"openai"})  # `openai.chat.completions.create(...)` uses a module-level client
LLM_LEGACY_CALLS = frozenset({"openai.ChatCompletion.create", "openai.Completion.create", "openai.Embedding.create"})
# Attribute paths, after the client, of calls that wait on the model.
LLM_CALL_PATHS = frozenset({
    ("chat", "completions", "create"), ("chat", "completions", "parse"), ("completions", "create"),
    ("responses", "create"), ("responses", "parse"), ("embeddings", "create"), ("messages", "create"),
    ("messages", "stream"), ("images", "generate"), ("audio", "transcriptions", "create"),
    ("beta", "chat", "completions", "parse"), ("moderations", "create"),
})
LLM_DEFAULT = "600 s (the OpenAI and Anthropic SDK default), retried twice"


def llm_call_split(call: ast.Call) -> tuple[list[str], ast.AST] | None:
    """(`["chat", "completions", "create"]`, the client expression) for a call that ends in a known model-call
    path (`client.chat.completions.create(...)`, `self.llm.messages.create(...)`), else None."""
    chain: list[str] = []
    expr: ast.AST = call.func
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
    chain.reverse()
    split = next((i for i in range(len(chain)) if tuple(chain[i:]) in LLM_CALL_PATHS), None)
    if split is None:
        return None
    client: ast.AST = call.func
    for _ in chain[split:]:
        client = client.value  # type: ignore[attr-defined]
    return chain[split:], client

# ---- retry libraries (GAP408) -------------------------------------------------------------------------------------
# decorator / class -> keywords any one of which bounds the retries.
RETRY_STOPS: dict[str, tuple[str, ...]] = {
    "tenacity.retry": ("stop",),
    "tenacity.Retrying": ("stop",),
    "tenacity.AsyncRetrying": ("stop",),
    "retrying.retry": ("stop_max_attempt_number", "stop_max_delay", "stop_func", "stop"),
    "backoff.on_exception": ("max_tries", "max_time"),
    "backoff.on_predicate": ("max_tries", "max_time"),
    "retry.retry": ("tries",),
    "retry.api.retry": ("tries",),
}
# Values of the stop keyword that still mean "forever".
NEVER_STOP = frozenset({"tenacity.stop_never", "tenacity.stop.stop_never"})

# ---- outbound calls that lose work when they fail once (GAP409) --------------------------------------------------
SLEEP_CALLS = frozenset({"time.sleep", "asyncio.sleep", "gevent.sleep", "trio.sleep", "anyio.sleep", "eventlet.sleep"})
OUTBOUND_CALLS = frozenset({
    *REQUESTS_FUNCTIONS, *HTTPX_FUNCTIONS, "urllib.request.urlopen",
    "django.core.mail.send_mail", "django.core.mail.send_mass_mail", "django.core.mail.mail_admins",
    "django.core.mail.mail_managers", "smtplib.SMTP", "smtplib.SMTP_SSL",
    "stripe.Charge.create", "stripe.PaymentIntent.create", "stripe.Refund.create", "stripe.Customer.create",
    "stripe.Transfer.create", "stripe.Payout.create", "stripe.Invoice.create", "stripe.Subscription.create",
    "openai.ChatCompletion.create", "openai.Completion.create",
})
OUTBOUND_CONSTRUCTED = REQUESTS_SESSIONS | HTTPX_CLIENTS | AIOHTTP_SESSIONS | LLM_CONSTRUCTORS
RETRY_MARKERS = frozenset({
    # Any of these in reach means someone thought about retrying.
    "tenacity.retry", "tenacity.Retrying", "tenacity.AsyncRetrying", "backoff.on_exception", "backoff.on_predicate",
    "retrying.retry", "retry.retry", "urllib3.util.retry.Retry", "urllib3.Retry", "urllib3.util.Retry",
    "requests.packages.urllib3.util.retry.Retry", "requests.adapters.HTTPAdapter", "httpx.HTTPTransport",
    "httpx.AsyncHTTPTransport", "stamina.retry", "rq.Retry",
})
CELERY_RETRY_KEYWORDS = frozenset({"autoretry_for", "max_retries", "retry_backoff", "default_retry_delay"})


# ---- small decisions ---------------------------------------------------------------------------------------------
def is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def keyword_value(call: ast.Call, names: tuple[str, ...] | frozenset[str]) -> ast.keyword | None:
    for keyword in call.keywords:
        if keyword.arg in names:
            return keyword
    return None


def has_splat(call: ast.Call) -> bool:
    return any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)


def constant_text(node: ast.AST | None) -> str | None:
    """The text of a string constant or the constant parts of an f-string; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def sets_timeout(call: ast.Call, fact: TimeoutFact, ctx: "ModuleContext") -> bool | None:
    """True when the call passes a (non-None) timeout; None when it cannot be known (a splat, a URL we can't read)."""
    if has_splat(call):
        return None
    if keyword_value(call, CONFIGURED_ELSEWHERE_KEYWORDS):
        return None
    keyword = keyword_value(call, fact.keywords)
    if keyword is not None:
        return not is_none(keyword.value)
    if fact.position is not None and len(call.args) > fact.position:
        return not is_none(call.args[fact.position])
    if fact.url_arg is not None:
        index, name = fact.url_arg
        url = call.args[index] if len(call.args) > index else getattr(keyword_value(call, (name,)), "value", None)
        if url is not None:
            if isinstance(url, ast.Name):
                url = ctx.value_of(url) or url
            text = constant_text(url)
            if text is None:
                text = environment_default(url, ctx)
            if text is None:
                return None  # a URL from settings or the environment may carry the timeout
            return any(key.lower() in text.lower() for key in fact.url_keys)
    return False


ENVIRONMENT_READS = frozenset({"os.environ.get", "os.getenv", "os.environ.setdefault"})


def environment_default(node: ast.AST | None, ctx: "ModuleContext") -> str | None:
    """The literal fallback of `os.environ.get("URL", "redis://localhost:6379/0")` / `os.getenv(...)`: the value
    the code runs with wherever the variable is unset, so it shows whether the author set the option. None for a
    read without a literal fallback (the deployment's value is unknown)."""
    if not isinstance(node, ast.Call) or ctx.qualified_name(node.func) not in ENVIRONMENT_READS:
        return None
    default = node.args[1] if len(node.args) > 1 else getattr(keyword_value(node, ("default",)), "value", None)
    return constant_text(default)


def constructor_of(expr: ast.AST, ctx: "ModuleContext") -> ast.Call | None:
    """The call that built the object `expr` names: a local or module variable (also `with ... as x`), a
    `self.<attr>` assigned in any method of the enclosing class, or the call itself."""
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Call):
        return expr
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr)
        if isinstance(value, ast.Await):
            value = value.value
        return value if isinstance(value, ast.Call) else None
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls"):
        function = ctx.enclosing_function(expr)
        owner = ctx.parent(function) if function is not None else None
        if isinstance(owner, ast.ClassDef):
            return _class_attribute_constructors(owner, ctx).get(expr.attr)
    return None


def _class_attribute_constructors(cls: ast.ClassDef, ctx: "ModuleContext") -> dict[str, ast.Call]:
    """`self.x = Call(...)` in any method, or `x = Call(...)` in the class body: attribute -> that call, when it
    is the only kind of value the attribute ever gets."""

    def compute() -> dict[str, ast.Call]:
        found: dict[str, list[ast.AST]] = {}
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                found.setdefault(stmt.targets[0].id, []).append(stmt.value)
        for node in ast.walk(cls):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == "self":
                        found.setdefault(target.attr, []).append(node.value)
        table: dict[str, ast.Call] = {}
        for attr, values in found.items():
            calls = [v for v in values if isinstance(v, ast.Call)]
            if len(calls) == len(values) == 1 or (calls and len(calls) == len(values)
                                                   and len({ast.dump(c.func) for c in calls}) == 1):
                table[attr] = calls[0]
        return table

    return ctx.memo(("class-attr-constructors", id(cls)), compute)


def constructed_by(expr: ast.AST, ctx: "ModuleContext") -> tuple[str, ast.Call] | None:
    """(qualified constructor name, the constructing call) for the object `expr` names, when known."""
    call = constructor_of(expr, ctx)
    if call is None:
        return None
    name = ctx.qualified_name(call.func)
    if name is None and isinstance(call.func, ast.Attribute) and call.func.attr in ("__aenter__", "__enter__"):
        return constructed_by(call.func.value, ctx)
    return (name, call) if name else None
