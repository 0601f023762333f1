"""No-logging facts: what a logger is, what a traceback-carrying log call is, which exceptions mean an external
system failed, and what service code is. One table per fact."""
from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from ...analyzer.discovery import is_test_path
from ..common import ERROR_REPORT_CALLS, LOG_METHODS
from ..scopes import is_migration_module

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

# Calls that create a logger object: `logger = logging.getLogger(__name__)` and friends.
LOGGER_FACTORIES = frozenset({
    "logging.getLogger", "logging.get_logger", "structlog.get_logger", "structlog.getLogger",
    "structlog.stdlib.get_logger", "celery.utils.log.get_task_logger", "celery.utils.log.get_logger",
    "loguru.logger.bind", "django.utils.log.getLogger",
})
# Modules whose module-level functions log (`logging.error(...)`), and objects that are loggers when imported.
LOGGING_MODULES = ("logging", "structlog", "loguru.logger", "celery.utils.log")
# Receivers spelled like a logger: `log`, `logger`, `_logger`, `LOG`, `self.logger`, `app.logger`, `self._log`.
LOGGER_SPELLING = re.compile(r"(?:^|[._])_?(?:log|logger|LOG|LOGGER|Log|Logger|audit_log|task_logger)$")

# Calls that carry the traceback of the exception being handled.
TRACEBACK_CALLS = frozenset({
    "traceback.format_exc", "traceback.print_exc", "traceback.format_exception", "traceback.print_exception",
    "sys.exc_info", "twisted.python.failure.Failure",  # Twisted's Failure() wraps the exception and its traceback
})
REPORT_LAST_NAMES = frozenset({"capture_exception", "captureException", "report_exc_info", "notice_error"})

# Exceptions that mean an external system failed (network, database, mail, cloud, payment and LLM APIs).
# Filesystem errors (OSError, FileNotFoundError, PermissionError) are not here: ignoring a missing file is often
# the point. "Expected" outcomes are not here either: IntegrityError (duplicate row), DoesNotExist, NoResultFound.
EXTERNAL_EXACT = frozenset({
    "builtins.ConnectionError", "builtins.ConnectionRefusedError", "builtins.ConnectionResetError",
    "builtins.ConnectionAbortedError", "builtins.BrokenPipeError", "builtins.TimeoutError",
    "socket.error", "socket.timeout", "socket.gaierror", "socket.herror", "ssl.SSLError", "asyncio.TimeoutError",
    "urllib.error.URLError", "urllib.error.HTTPError", "http.client.HTTPException",
    "django.db.DatabaseError", "django.db.OperationalError", "django.db.InterfaceError", "django.db.Error",
    "django.db.utils.DatabaseError", "django.db.utils.OperationalError", "django.db.utils.InterfaceError",
    "django.db.utils.Error", "sqlalchemy.exc.OperationalError", "sqlalchemy.exc.DBAPIError",
    "sqlalchemy.exc.SQLAlchemyError", "sqlalchemy.exc.DisconnectionError", "sqlalchemy.exc.InterfaceError",
    "sqlalchemy.exc.DatabaseError", "sqlalchemy.exc.TimeoutError", "sqlite3.Error", "sqlite3.OperationalError",
    "sqlite3.DatabaseError", "botocore.exceptions.ClientError", "botocore.exceptions.BotoCoreError",
    "botocore.exceptions.EndpointConnectionError", "boto3.exceptions.Boto3Error",
    "django.core.mail.BadHeaderError", "kombu.exceptions.OperationalError",
})
# Every exception class of these modules is an external failure, except the "expected outcome" names below.
EXTERNAL_PREFIXES = (
    "requests.", "httpx.", "aiohttp.", "urllib3.exceptions.", "smtplib.", "psycopg2.", "psycopg.", "pymysql.",
    "MySQLdb.", "asyncpg.", "pymongo.errors.", "redis.", "stripe.", "openai.", "anthropic.", "grpc.",
    "google.api_core.exceptions.", "azure.core.exceptions.", "paramiko.", "ftplib.", "imaplib.", "poplib.",
)
EXPECTED_OUTCOME_WORDS = ("IntegrityError", "UniqueViolation", "DoesNotExist", "NotFound", "NoResultFound",
                          "DuplicateKey", "InvalidRequestError", "StatusCodeError", "CardError", "NotSupported")
# Errors of those modules that describe local misuse or a malformed body, not a system that is down: a bad URL,
# a response body read twice or not read yet, an undecodable or non-JSON body.
LOCAL_ERROR_WORDS = ("DecodingError", "InvalidURL", "InvalidUrl", "RequestNotRead", "ResponseNotRead",
                     "StreamConsumed", "StreamClosed", "UnsupportedProtocol", "LocalProtocolError", "CookieConflict",
                     "InvalidHeader", "MissingSchema", "InvalidSchema", "JSONDecodeError", "URLRequired",
                     "InvalidJSONError", "LocationParseError", "ContentTypeError")
JSON_DECODE_ERRORS = frozenset({"json.JSONDecodeError", "json.decoder.JSONDecodeError", "builtins.ValueError",
                                "simplejson.JSONDecodeError"})
REQUEST_NAMES = frozenset({"request", "req", "self.request"})

# Module path parts and imports that make a module a command-line program or a test, where print() is the output.
# `dev/` holds a project's developer tooling (code generators, release helpers); `management/` a Django app's commands
# and their shared base classes.
NON_SERVICE_PARTS = frozenset({"tests", "test", "testing", "scripts", "script", "bin", "examples", "example", "docs", "setup",
                               "commands", "management", "migrations", "benchmarks", "tools", "utils_cli", "devtools",
                               "dev", "cli"})
NON_SERVICE_FILES = frozenset({"setup.py", "manage.py", "__main__.py", "conftest.py", "noxfile.py", "fabfile.py",
                               "cli.py", "conf.py"})
CLI_MODULES = frozenset({"argparse", "click", "typer", "optparse", "fire", "docopt", "getopt"})


def is_logger(receiver: ast.AST, ctx: "ModuleContext") -> bool:
    """`logging`, a `getLogger()` result, structlog/loguru/Celery loggers, `self.logger`, `app.logger`."""
    if isinstance(receiver, ast.Call):
        # logger.bind(...).error / logger.opt(...).error / structlog.get_logger().error
        if isinstance(receiver.func, ast.Attribute) and receiver.func.attr in ("bind", "opt", "new", "patch"):
            return is_logger(receiver.func.value, ctx)
        return ctx.qualified_name(receiver.func) in LOGGER_FACTORIES
    qualified = ctx.qualified_name(receiver)
    if qualified is not None and qualified.startswith(LOGGING_MODULES):
        return True
    if isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver)
        if isinstance(value, ast.Call) and (ctx.qualified_name(value.func) in LOGGER_FACTORIES
                                            or _spelled_like_logger(value.func)):
            return True
    return _spelled_like_logger(receiver)


def _spelled_like_logger(expr: ast.AST) -> bool:
    spelled = _spelling(expr)
    return bool(spelled) and bool(LOGGER_SPELLING.search(spelled)) or spelled.lower().endswith("getlogger")


def _spelling(expr: ast.AST) -> str:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
    return ".".join(reversed(parts))


# Twisted writes a Failure, traceback included, with `log.err(failure_or_None, why)` (None: the exception being
# handled) and with `twisted.logger.Logger().failure(...)`.
TWISTED_ERROR_LOGS = frozenset({"twisted.python.log.err", "twisted.python.log.deferr"})


def is_log_call(call: ast.Call, ctx: "ModuleContext") -> bool:
    if not isinstance(call.func, ast.Attribute):
        return False
    attr = call.func.attr
    if attr in LOG_METHODS:
        return is_logger(call.func.value, ctx)
    return _is_twisted_failure_log(call, ctx)


def _is_twisted_failure_log(call: ast.Call, ctx: "ModuleContext") -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in ("err", "deferr", "failure"):
        return False
    if func.attr == "failure":
        return is_logger(func.value, ctx)
    return ctx.qualified_name(func) in TWISTED_ERROR_LOGS


def log_has_traceback(call: ast.Call, ctx: "ModuleContext") -> bool:
    """`logger.exception(...)`, `exc_info=` anything but False/None, loguru `.opt(exception=...)`."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "exception":
        return True
    if _is_twisted_failure_log(call, ctx):
        return True
    for keyword in call.keywords:
        if keyword.arg in ("exc_info", "exception") and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value in (False, None)):
            return True
        if keyword.arg is None:
            return True  # **kwargs may carry exc_info
    receiver = func.value if isinstance(func, ast.Attribute) else None
    if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute) and receiver.func.attr == "opt":
        return any(k.arg == "exception" for k in receiver.keywords)
    return False


def is_report_call(call: ast.Call, ctx: "ModuleContext") -> bool:
    """Error trackers and warnings: the failure is recorded somewhere an operator looks."""
    qualified = ctx.qualified_name(call.func)
    if qualified in ERROR_REPORT_CALLS or qualified in TRACEBACK_CALLS:
        return True
    last = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    return last in REPORT_LAST_NAMES


def is_external_failure(name: str | None) -> bool:
    if not name:
        return False
    if any(word in name for word in EXPECTED_OUTCOME_WORDS + LOCAL_ERROR_WORDS):
        return False
    return name in EXTERNAL_EXACT or name.startswith(EXTERNAL_PREFIXES)


def is_test_module(ctx: "ModuleContext") -> bool:
    return is_test_path(ctx.path)


def handler_has_comment(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """A comment inside the handler (`# the row may already be gone`), or on its own line right above the
    `except` (`# Filters must never raise, so catch everything.`), that says why the failure may be dropped: the
    author decided, and said why. A comment that accepts the failure in so many words counts wherever it is in
    the handler or the `try` body (`# this check might raise on lazy objects`); so does an explanation of a full
    sentence or more. A short note that only narrates the fallback (`# Fallback to rule-based`, `# If corrupt,
    reset to default`), as generated code puts on nearly every handler, does not: the outage stays silent."""
    end = getattr(handler, "end_lineno", handler.lineno) or handler.lineno
    comments: list[str] = []
    above = ctx.lines[handler.lineno - 2].strip() if handler.lineno >= 2 else ""
    if above.startswith("#") and not any(word in above for word in ("noqa", "pylint", "type:", "pragma")):
        comments.append(above[1:])
    for number in range(handler.lineno + 1, end + 1):  # the `except` line itself carries noqa/pragma comments
        comment = _comment(ctx, number)
        if comment is not None:
            comments.append(comment)
    if any(ACCEPTED_FAILURE.search(c) for c in comments) or len(comments) >= 2 \
            or sum(len(c.split()) for c in comments) >= EXPLANATION_WORDS:
        return True
    function = ctx.enclosing_function(handler)
    docstring = ast.get_docstring(function) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    if docstring and DOCSTRING_ACCEPTS.search(docstring):
        return True  # `"""... can never propagate a secondary exception, per the best-effort contract"""`
    try_node = ctx.parent(handler)
    body = getattr(try_node, "body", None) or []
    if body:
        for number in range(try_node.lineno + 1, (body[-1].end_lineno or body[-1].lineno) + 1):
            comment = _comment(ctx, number)
            if comment is not None and ACCEPTED_FAILURE.search(comment):
                return True
    return False


# A function's documented contract not to fail (a docstring also names what it raises and returns, so only
# these words count there).
DOCSTRING_ACCEPTS = re.compile(r"(?i)best[- ]effort|\bnever (raises?|fails?|propagates?|throws?)|"
                               r"\b(must|should|does) not (raise|fail|propagate|throw)|\bfails? silently|"
                               r"\bsilently (ignor|return|skip)|\bignor(es|ed|ing) (errors|failures|exceptions)")


# A comment of this many words explains a decision; generated code narrates its fallbacks in three to seven.
EXPLANATION_WORDS = 9


def _comment(ctx: "ModuleContext", number: int) -> str | None:
    line = ctx.lines[number - 1] if 0 < number <= len(ctx.lines) else ""
    if "#" not in line:
        return None
    code, text = line.split("#", 1)
    if code.count('"') % 2 or code.count("'") % 2:
        return None  # a `#` inside a string
    return text


# Words of a comment that accepts the failure (why it may be dropped), as opposed to one that narrates what the
# handler does instead. Generated code comments nearly every handler ("# Fallback", "# Return empty on error").
ACCEPTED_FAILURE = re.compile(
    r"(?i)ignor|best[- ]?effort|optional|harmless|benign|\bexpected|non[- ]?(fatal|critical|essential)|"
    r"\bnot (critical|fatal|essential|important|a problem|an error|needed)|"
    r"\b(never|must not|mustn'?t|should not|shouldn'?t|cannot|can'?t|won'?t|don'?t|do not|doesn'?t|does not|"
    r"not to|avoid|without) (let |allow |want to |need to )?(fail|rais|crash|break|block|propagat|stop|abort|"
    r"interrupt|affect|mask|hide|spam|flood|matter|care|bother|log|report|warn)|"
    r"on purpose|deliberate|intentional|swallow|silen|suppress|"
    r"\b(safe|ok|okay|fine|acceptable) (to|if|when)|good enough|\bacceptable\b|\bno[- ]op\b|nothing (to do|we can do)|"
    r"\b(already|may|might|can|could) (be )?(gone|closed|deleted|removed|exist|missing|unset|released|dead|fail|"
    r"happen|not (exist|be (set|there|available|present|supported)))|"
    r"\brace\b|\bracy\b|\bunsupported\b|not supported|not installed|\bolder\b|legacy|compat|"
    r"\bplatform|\bwindows\b|\bpermission|\bdebug(ging)? only|logged (above|below|elsewhere|by|in)|"
    r"(caller|upstream|above|outer) (handles|logs|reports|will)|reported (by|elsewhere)|"
    r"keep (going|serving|running)|continue anyway|carry on|still (serve|render|work|return)|degrad|"
    r"\bretr(y|ied|ies) (later|next|by|on|at)|next (run|time|attempt|tick|poll|cycle)|"
    r"\b(reports|logs|handles|retries|re-?raises) (it|them|this)\b|raised again|re-?raised (by|in|later)|"
    r"\b(may|might|can|could|will|would|sometimes|some \w+) (also )?(rais|throw)|"
    r"(?-i:\b[A-Z]\w*(Error|Exception|Interrupt)\b)|#\d{3,}|https?://|\bticket\b|\bsee (issue|bug|#)"
)


def is_service_module(ctx: "ModuleContext") -> bool:
    """A module of a web app, worker or library: not a test, a script, a CLI or a `__main__` program."""
    parts = ctx.path.replace("\\", "/").split("/")
    filename = parts[-1] if parts else ""
    if filename in NON_SERVICE_FILES or filename.startswith("test_") or filename.endswith("_test.py"):
        return False
    if any(part.lstrip("_") in NON_SERVICE_PARTS for part in parts[:-1]):
        return False
    if any(root.split(".")[0] in CLI_MODULES for root in ctx.imports.values()):
        return False
    if is_migration_module(ctx):  # also an Alembic revision script outside a `migrations/` folder
        return False
    return not ctx.memo(("gap6-has-main-guard",), lambda: _has_main_guard(ctx.tree)) \
        and not ctx.memo(("gap6-asks-the-user",), lambda: _asks_the_user(ctx))


def _asks_the_user(ctx: "ModuleContext") -> bool:
    """`input("Provider: ")`, `getpass.getpass()`: an interactive program (a setup wizard), whose output is stdout."""
    if "input" not in ctx.text and "getpass" not in ctx.text:
        return False  # (asked of every service module: a text test first, then the walk's own node list)
    return any(n.__class__ is ast.Call and ctx.qualified_name(n.func) in ("builtins.input", "getpass.getpass")
               for n in ctx.nodes)


def _has_main_guard(tree: ast.Module) -> bool:
    """An `if __name__ == "__main__":` block that does not start the app's development server. A block that does
    (`port = int(os.environ.get("PORT", 5000))` then `app.run(host="0.0.0.0", port=port)`) marks the module as
    the service itself, which production runs under gunicorn or uvicorn."""
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare) and isinstance(stmt.test.left, ast.Name) \
                and stmt.test.left.id == "__name__" and not any(_starts_server(s) for s in stmt.body):
            return True
    return False


SERVER_STARTS = frozenset({"run", "run_app", "serve", "run_simple"})


def _starts_server(stmt: ast.stmt) -> bool:
    """`app.run(debug=True)`, `uvicorn.run(app)`, `web.run_app(app)`, `socketio.run(app)`: the module is the service."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in SERVER_STARTS \
        and not (isinstance(call.func.value, ast.Name) and call.func.value.id in NOT_SERVERS)


# `asyncio.run(main())`, `subprocess.run(...)`: a script's own work, not a server start.
NOT_SERVERS = frozenset({"asyncio", "trio", "anyio", "subprocess", "unittest", "pytest", "doctest"})
