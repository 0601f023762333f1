"""One summary per except handler, and the precedence that gives one problem one finding per family.

Several GAP5xx rules (broad-except) and GAP6xx rules (no-logging) look at the same handler. Each handler has at most
one owner in each family, decided here in this order (the first that applies wins):

broad-except (`owner`):
1. GAP503 error-text-to-client - a broad handler sends the exception text to the client.
2. GAP501 broad-except-swallowed - a broad handler ends the failure: it neither re-raises nor keeps the traceback
   (pass/continue/a default value, a fallback, a canned or 5xx reply, an `HTTPException` raised without `from`, a
   log line without the traceback).
3. GAP502 bare-except - a bare `except:` that does not re-raise (it also stops Ctrl-C and sys.exit()), or that
   turns them into another exception.

no-logging (`log_owner`):
1. GAP603 print-for-errors - the handler reports the error with print() in service code, and logs nothing.
2. GAP604 error-handled-unlogged - a broad handler, or one that answers with a 5xx, ends the failure without any
   log line: the broad-except finding says the catch is too wide, this one that nobody will know.
3. GAP602 broad-except-logged-without-traceback - a broad handler logs, but never with the traceback, and no
   broad-except finding already says so.
4. GAP601 external-failure-unlogged - a narrow handler for a network/database/API failure takes its fallback
   without a log line.

A handler that is the retry step of a `while True:` loop (its `try` sits directly in the loop, the `try` body
leaves the loop on success, the handler loops again) belongs to the timeout-retry family (GAP4xx): unbounded
retry is that family's problem, and GAP501 stays silent there.
"""
from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...analyzer.suppressions import _parse_directive as parse_directive
from ..common import catches_broadly, handler_swallows, handler_types, is_inert_value
from ..no_logging.facts import is_external_failure, is_log_call, is_report_call, log_has_traceback
from ..scopes import is_migration_module  # re-exported: a database error there is about the schema's state
from ..no_logging.facts import ACCEPTED_FAILURE, TRACEBACK_CALLS, handler_has_comment, is_service_module
from ..no_logging.facts import is_test_module
from ..orm.facts import http_effect

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

# Response constructors: what a view returns to the client.
RESPONSE_CALLS = frozenset({
    "JsonResponse", "HttpResponse", "HttpResponseBadRequest", "HttpResponseServerError", "JSONResponse",
    "Response", "jsonify", "make_response", "json_response", "PlainTextResponse", "HTMLResponse", "ORJSONResponse",
    "UJSONResponse", "HttpResponseForbidden", "render",
})
# Exceptions that, raised in a view, become the response body.
HTTP_ERROR_CALLS = frozenset({"HTTPException", "abort", "HTTPBadRequest", "HTTPInternalServerError", "APIException",
                              "ValidationError", "ParseError"})
# Decorators that make a function a request handler (by last attribute: `@app.get`, `@router.post`, `@bp.route`).
ROUTE_DECORATORS = frozenset({"route", "get", "post", "put", "patch", "delete", "api_view", "websocket",
                              "api_route", "view_config", "action", "tool"})
# Calls whose result is the text of the exception being handled (`sys.exc_info()` is not text).
TRACEBACK_TEXT_CALLS = frozenset({"traceback.format_exc", "traceback.format_exception", "traceback.format_tb"})
# Calls that only parse a client's input.
PARSE_CALLS = frozenset({"json.loads", "orjson.loads", "ujson.loads", "simplejson.loads", "uuid.UUID",
                         "datetime.datetime.fromisoformat", "datetime.date.fromisoformat", "builtins.int",
                         "builtins.float"})
PARSE_METHODS = frozenset({"json", "get_json", "model_validate", "model_validate_json", "parse_obj", "parse_raw",
                           "loads", "decode", "b64decode", "urlsafe_b64decode",
                           "validate_python", "validate_json"})
VIEW_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "list", "create", "retrieve",
                          "update", "partial_update", "destroy", "dispatch", "form_valid"})


@dataclass(frozen=True)
class HandlerSummary:
    broad: bool
    bare: bool
    swallows: bool
    raises: bool  # any raise at all (a re-raise, a new exception, an HTTP error)
    reraises: bool  # the error goes on: bare `raise`, `raise e`, `raise X from e`, saved and raised later
    raises_new: ast.Raise | None  # a new exception (not an HTTP error) raised without chaining it `from` the error
    http_error: ast.AST | None  # `raise HTTPException(...)` / `abort(...)` without `from`: a response, no traceback
    error_response: ast.AST | None  # a `return` of an error response (status >= 400) or a route's `(body, 5xx)`
    server_error: bool  # http_error or error_response answers with a 5xx
    passes_error_on: bool  # the bound exception is used for something other than a log line (returned, stored)
    delegates: bool  # calls something named like an error handler (`self.handle_error()`, `notify_failure(...)`)
    log_calls: tuple[ast.Call, ...]
    logs_traceback: bool
    reports: bool
    print_calls: tuple[ast.Call, ...]
    leak: ast.AST | None  # the return/raise sending exception text to the client
    external: str | None  # qualified name of the external-failure type caught
    retry_step: bool
    exits: bool  # `sys.exit(1)` / `os._exit(2)`: the process stops with a failure status, visibly
    answers_yes_no: bool  # returns/assigns True/False: a probe ("is the database usable?"), not a lost value
    commented: bool  # a comment inside the handler explains the decision
    deliberate: str | None  # why dropping the error here is the point (a probe, a cleanup, a test), or None
    remote: str | None  # the network/API call the `try` body makes, when it makes one
    waived: frozenset[str]  # the peer-linter problems the author already waived on this handler ("broad", "bare")

    @property
    def ends_failure(self) -> bool:
        """The failure stops here: not re-raised, not raised as another exception, no traceback kept anywhere."""
        return not (self.reraises or self.raises_new or self.logs_traceback or self.reports or self.delegates
                    or self.passes_error_on or self.exits)


def summarize(handler: ast.ExceptHandler, ctx: "ModuleContext") -> HandlerSummary:
    return ctx.memo(("gap5-handler", id(handler)), lambda: _summarize(handler, ctx))


def owner(handler: ast.ExceptHandler, ctx: "ModuleContext") -> str | None:
    """The one broad-except rule id that reports this handler, or None (see the module docstring for the order)."""
    return ctx.memo(("gap5-owner", id(handler)), lambda: _owner(summarize(handler, ctx)))


def log_owner(handler: ast.ExceptHandler, ctx: "ModuleContext") -> str | None:
    """The one no-logging rule id that reports this handler, or None (see the module docstring for the order)."""
    return ctx.memo(("gap6-owner", id(handler)), lambda: _log_owner(handler, summarize(handler, ctx), ctx))


def _owner(s: HandlerSummary) -> str | None:
    if s.broad and s.leak is not None:
        return "GAP503"
    if s.broad and s.ends_failure and not s.retry_step and s.deliberate is None and not s.waived and (s.swallows or (
            not s.bare and not s.commented and not _debug_only_logs(s))):
        # a comment in a handler that does something explains that something; a debug line marks a failure the
        # author chose not to care about; a bare handler that does something is GAP502's (it names Ctrl-C)
        return "GAP501"
    if s.bare and not s.reraises and not s.retry_step and "bare" not in s.waived:
        return "GAP502"
    return None


def _log_owner(handler: ast.ExceptHandler, s: HandlerSummary, ctx: "ModuleContext") -> str | None:
    if s.retry_step or is_test_module(ctx) or _retries_in_loop(handler, ctx) or _is_probe_endpoint(handler, ctx):
        return None
    if s.broad and (s.waived or (s.deliberate is not None and (s.remote is None or s.deliberate == CALLER_REPORTS))):
        # an optional import, a cleanup, a local probe, or a waiver: only a missing traceback is still news
        return "GAP602" if _logs_without_traceback(s) else None
    if s.print_calls and not s.raises and not s.log_calls and not s.reports:
        return "GAP603" if is_service_module(ctx) and not _prints_by_design(handler, s, ctx) else None
    unlogged = not s.log_calls and s.ends_failure and not s.commented and not is_migration_module(ctx) \
        and not _in_log_handler(handler, ctx)
    # (a script's or a command's user sees the outcome; a service's nobody)
    if unlogged and is_service_module(ctx) and ((s.server_error and not _not_implemented(handler, ctx))
                                                or (s.broad and _unlogged_catch_all(handler, s, ctx))):
        return "GAP604"
    if s.broad and _logs_without_traceback(s) and _owner(s) is None \
            and not _omits_traceback_on_purpose(handler, ctx):
        return "GAP602"
    if s.external and unlogged and s.deliberate is None and not s.answers_yes_no and not s.http_error \
            and s.error_response is None \
            and _falls_back_to_a_value(handler) and not _answers_with_the_failure(handler) \
            and not _peer_hung_up(handler, ctx):
        return "GAP601"
    return None


# ---- GAP604: a catch-all that logs nothing, yet the failure still reaches someone -----------------------------
# Names of the places a failure is recorded for the caller: `errors.append(...)`, `failed_uploads[path] = ...`,
# `item.error_message = ...`, `result["errors"]`.
FAILURE_RECORD = re.compile(r"(?i)(^|_)(errors?|failures?|failed|exceptions?|problems|warnings)(_|$)|"
                            r"^(error|failure|exception|failed)\w*$")
# Methods that add an entry to a collection.
COLLECT_METHODS = frozenset({"append", "add", "extend", "insert", "appendleft", "put", "put_nowait", "setdefault",
                             "update"})
# Calls that hand the exception being handled to whoever waits on the result (Twisted, asyncio, futures).
FAILURE_HANDOFFS = frozenset({"errback", "set_exception", "throw", "callFailure"})


def _failure_reaches_someone(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """GAP604 only: a catch-all with no log line whose failure is not lost all the same - the handler records it
    where the caller reads it (`errors.append(str(e))`, `item.error_message = f"..."`, `return None, "Failed to
    score"`, `return Result(success=False, error=...)`), hands it to a waiting future (`deferred.errback()`), or
    only shapes the report an enclosing handler raises or logs. An answer with a 5xx (`response(False,
    error=str(e), status=500)`) is still a server error nobody logged."""
    nodes = _handler_nodes(handler)
    if any(isinstance(n, ast.Call) and ctx.qualified_name(n.func) in STDERR_WRITES for n in nodes):
        return True  # `sys.stderr.write(f"Caught this error: {e}")`: a log line by other means
    if any(isinstance(n, (ast.Return, ast.Call)) and (status_of(n) or 0) >= 500 for n in nodes):
        return False
    if _tries_again_another_way(handler, ctx):
        return True
    function = ctx.enclosing_function(handler)
    if function is not None and not isinstance(function, ast.Lambda) and is_request_handler(function, ctx):
        # a route's error entry reaches the client (`make_json_response(success=0, errormsg=str(e))`), never the
        # operator: the failure is still unlogged; only a hand-off or an enclosing report counts there
        return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in FAILURE_HANDOFFS
                   for n in nodes) or _inside_a_reporting_handler(handler, ctx)
    for node in nodes:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_names_a_failure_record(t) for t in targets) or (
                    node.value is not None and _value_names_failure(node.value, handler, ctx)):
                return True
        elif isinstance(node, ast.Return) and node.value is not None:
            if _value_names_failure(node.value, handler, ctx):
                return True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in FAILURE_HANDOFFS:
                return True
            if node.func.attr in COLLECT_METHODS and (_names_a_failure_record(node.func.value) or any(
                    _value_names_failure(a, handler, ctx) for a in node.args)):
                return True
    return _inside_a_reporting_handler(handler, ctx)


def _collected_then_raised(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`except Exception: invalid_ids.append(graphql_id); continue`, then after the loop `if invalid_ids: raise
    GraphQLError(...)`: the failure is collected and raised once for all items, so it reaches the caller."""
    collected = {n.func.value.id for n in _handler_nodes(handler) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr in COLLECT_METHODS
                 and isinstance(n.func.value, ast.Name)}
    function = ctx.enclosing_function(handler) if collected else None
    if function is None or isinstance(function, ast.Lambda):
        return False
    end = handler.end_lineno or handler.lineno
    for node in ast.walk(function):
        if isinstance(node, ast.If) and node.lineno > end and \
                any(isinstance(n, ast.Name) and n.id in collected for n in ast.walk(node.test)) and \
                any(isinstance(stmt, ast.Raise) for stmt in node.body):
            return True
    return False


STDERR_WRITES = frozenset({"sys.stderr.write", "sys.__stderr__.write"})


# A project's own response builders (`make_json_response`, `render_error`) and message translations
# (`gettext("Failed to generate report: ")`): answering again, or translating again, is not a retry.
RESPONSE_LIKE = re.compile(r"(?i)response|jsonify|render|redirect|abort")
TRANSLATIONS = frozenset({"_", "gettext", "ngettext", "pgettext", "gettext_lazy", "lazy_gettext", "ugettext"})


def _tries_again_another_way(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`try: model = load_model(path) except Exception: os.makedirs(path); model = load_model(uri, dst=path)`:
    the handler makes the same call again, differently, outside any `try` of its own - if that fails too, the
    error propagates; the first failure only chose the route."""
    tried = {_last_name(n.func) for stmt in getattr(ctx.parent(handler), "body", []) for n in _own_nodes(stmt)
             if isinstance(n, ast.Call) and _dependency_name(n.func, ctx)} - VALUE_METHODS - RESPONSE_CALLS - {""}
    tried = {name for name in tried if not RESPONSE_LIKE.search(name) and name not in TRANSLATIONS}
    for stmt in handler.body:
        if isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            continue  # a second attempt that swallows its own failure loses both
        for node in _own_nodes(stmt):
            if isinstance(node, ast.Call) and _last_name(node.func) in tried and _dependency_name(node.func, ctx):
                return True
    return False


def _names_a_failure_record(target: ast.AST) -> bool:
    """`errors`, `self.failures`, `failed_uploads[key]`, `item.error_message`, `report["errors"]`."""
    while isinstance(target, ast.Subscript):
        key = target.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and FAILURE_RECORD.search(key.value):
            return True
        target = target.value
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return bool(name) and bool(FAILURE_RECORD.search(name))


def _value_names_failure(value: ast.AST, handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """A value that tells its reader something failed: a message naming the failure (`f"Failed to score: {e}"`),
    a mapping with an `error` entry, a result built with `success=False` or an `error=` field, an exception
    object returned as the result."""
    if _names_failure(value):
        return True
    if isinstance(value, ast.Tuple):
        return any(_value_names_failure(e, handler, ctx) for e in value.elts)
    if not isinstance(value, ast.Call):
        return False
    if _last_name(value.func).endswith(("Error", "Exception", "Failure")):
        return True  # `return DefinitionSyntaxError(f"...")`: the failure is the value
    for keyword in value.keywords:
        if keyword.arg and FAILURE_RECORD.search(keyword.arg):
            return True  # `Result(error_message=...)`, `render_template(..., error=str(e))`
        if keyword.arg in ("success", "ok") and isinstance(keyword.value, ast.Constant) \
                and keyword.value.value is False:
            return True
        if _names_failure(keyword.value):
            return True  # `_message(content=f"Error: {e}")`
    return any(_names_failure(a) for a in value.args)


# Modules and functions that measure the program for its makers or its operators (usage pings, metrics, trace
# ids): their failure must never disturb the program, and logging it would flood the log it decorates.
TELEMETRY_PART = re.compile(r"(?i)^_?(telemetry|analytics|observability|instrumentation|usage_stats|phone_home)$")
TELEMETRY_FUNCTION = re.compile(r"(?i)telemetry|analytics|phone_home|usage_stats|send_usage|track_event")
LOGGING_BASES = ("Handler", "Filter", "Formatter", "Adapter", "LoggerAdapter")


def _silence_by_design(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """GAP604 only: silence the code's own shape asks for - telemetry and instrumentation (`mlflow/telemetry/`,
    `def _send_telemetry()`), the methods of a logging filter or formatter (`record.trace_id = ""` when no span is
    active: a log call there would recurse), and a `try` whose comment block right above accepts the failure
    (`# ... we don't care what it returns, we just want to wait for it`)."""
    parts = ctx.path.replace("\\", "/").split("/")
    if any(TELEMETRY_PART.match(part.rsplit(".", 1)[0] if part.endswith(".py") else part) for part in parts):
        return True
    function = ctx.enclosing_function(handler)
    if function is not None and TELEMETRY_FUNCTION.search(getattr(function, "name", "")):
        return True
    owner_class = ctx.parent(function) if function is not None else None
    if isinstance(owner_class, ast.ClassDef) and any(
            _last_name(base).endswith(LOGGING_BASES) and (ctx.qualified_name(base) or "").startswith("logging.")
            for base in owner_class.bases):
        return True
    if function is not None and _documents_the_empty_answer(handler, function):
        return True
    if function is not None and EXIT_WORDS & set(getattr(function, "name", "").lower().split("_")):
        return True  # `_exit_impl()`, `teardown_request()`: unwinding, where one failed step must not stop the rest
    if _not_implemented(handler, ctx):
        return True
    return _accepted_above_the_try(ctx.parent(handler), ctx)


# First words of functions that unwind: a context manager's exit, a teardown, a shutdown.
EXIT_WORDS = frozenset({"exit", "aexit", "teardown", "shutdown", "cleanup", "dispose", "finalize", "atexit"})
# A docstring that makes the empty answer part of the contract: "Returns None when absent or invalid".
DOCUMENTED_NONE = re.compile(r"(?i)\breturns? (``|`)?(None|False|an empty \w+)(``|`)? (if|when|on|otherwise|for)\b|"
                             r"\bor (``|`)?None(``|`)? (if|when|on)\b")


def _documents_the_empty_answer(handler: ast.ExceptHandler, function: ast.AST) -> bool:
    """`except Exception: return None` in a function whose docstring says it returns None when it cannot answer:
    the caller was told to expect it (and to treat it as "not authenticated", "no such table")."""
    if isinstance(function, ast.Lambda):
        return False
    returns = [n for n in _handler_nodes(handler) if isinstance(n, ast.Return)]
    docstring = ast.get_docstring(function)  # type: ignore[arg-type]
    return bool(returns) and all(_inert_answer(r.value) for r in returns) and bool(docstring) \
        and bool(DOCUMENTED_NONE.search(docstring))  # type: ignore[arg-type]


def _not_implemented(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`except NotImplementedError: raise HTTPException(501, "not supported by this store")`: a feature the
    backend lacks, answered as such - no failure to tell an operator about."""
    if any(ctx.qualified_name(t) == "builtins.NotImplementedError" for t in handler_types(handler, ctx)):
        return True
    statuses = [status_of(n) for n in _handler_nodes(handler) if isinstance(n, (ast.Raise, ast.Return, ast.Call))]
    statuses = [x for x in statuses if x is not None]
    return bool(statuses) and all(x == 501 for x in statuses)


def _accepted_above_the_try(try_node: ast.AST | None, ctx: "ModuleContext") -> bool:
    """The comment lines directly above `try:` (up to the first line of code) say the failure does not matter."""
    number = getattr(try_node, "lineno", 0) - 1
    comments: list[str] = []
    while 0 < number <= len(ctx.lines) and ctx.lines[number - 1].lstrip().startswith("#") and len(comments) < 12:
        comments.append(ctx.lines[number - 1].lstrip()[1:])
        number -= 1
    return bool(comments) and bool(ACCEPTED_FAILURE.search(" ".join(reversed(comments))))


# First words of functions that look a value up, work it out or read it in (`get_default_region()`,
# `load_config()`, `detect_encoding()`, `_to_dict(value)`): a probe, as opposed to an action (`prune_old_scans()`,
# `send_mail()`, `fetch_prices()` - "fetch" names a round trip).
LOOKUP_WORDS = frozenset({"get", "load", "read", "find", "detect", "resolve", "lookup", "look", "parse", "compute",
                          "calc", "calculate", "guess", "infer", "current", "active", "locate", "discover", "to",
                          "as", "from", "extract", "default", "which", "determine", "format"})


# Receivers spelled like a client of another system: their `.get(...)` is a request, not a dictionary look-up.
CLIENT_SPELLING = re.compile(r"(?i)client|session|api|http|conn|redis|cache|store|db|oauth|service|remote|bucket|"
                             r"s3|gateway|provider|requests|kv|consul|etcd|vault")


def _probes_for_a_value(handler: ast.ExceptHandler, s: HandlerSummary, ctx: "ModuleContext") -> bool:
    """GAP604 only: a probe with a fallback outside a request handler - the `try` only works out values
    (assignments, returns, `if`s; no statement done for its effect, no `await`) by calls that look them up
    (`region = get_default_region()`, `tmp = get_local_temp_dir()`, `repo = Repo(path)`, a builtin or
    the standard library, a value's own methods), and the handler only leaves the default in place (`pass`,
    `continue`, `return None`) or puts another value in the same place (`tmp = os.path.join(root, "tmp")`).
    A method of a client, connection or other object (`client.get_user(...)`, `conn.execute(...)`,
    `trends.related_queries()`) is where an outage surfaces, so a `try` that calls one is no probe."""
    if s.remote is not None:
        return False
    function = ctx.enclosing_function(handler)
    if function is None or isinstance(function, ast.Lambda) or is_request_handler(function, ctx):
        return False
    assigned: set[str] = set()
    body = getattr(ctx.parent(handler), "body", [])
    if not body or not all(_computes_values(stmt, assigned) for stmt in body):
        return False
    loop_names = _loop_names(ctx.parent(handler), function, ctx)
    for stmt in body:
        for node in _own_nodes(stmt):
            if isinstance(node, (ast.Await, ast.AsyncWith, ast.AsyncFor, ast.Yield, ast.YieldFrom)):
                return False
            if isinstance(node, ast.Call) and not _looks_up(node, ctx) and not _probes_an_item(node, loop_names):
                return False
    for stmt in handler.body:
        if isinstance(stmt, (ast.Pass, ast.Continue)) or (isinstance(stmt, ast.Return) and _inert_answer(stmt.value)):
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] \
            if isinstance(stmt, ast.AnnAssign) else None
        if targets and all(_flag_name(t) in assigned for t in targets):
            continue
        return False
    return True


def _inert_answer(value: ast.AST | None) -> bool:
    """`return`, `return None`, `return []`, `return None, None`."""
    if isinstance(value, ast.Tuple):
        return all(_inert_answer(e) for e in value.elts)
    return value is None or is_inert_value(value)


# Reading a result set: what follows a probing query.
RESULT_READS = frozenset({"fetchone", "fetchall", "fetchmany", "scalar", "scalar_one", "scalar_one_or_none", "first",
                          "one", "one_or_none"})
READ_ONLY_SQL = re.compile(r"(?i)^\s*(select|pragma|with|explain)\b")


def _loop_names(try_node: ast.AST | None, function: ast.AST, ctx: "ModuleContext") -> set[str]:
    """The names the `for` loops around the `try` bind, within its function."""
    names: set[str] = set()
    for ancestor in ctx.ancestors(try_node) if try_node is not None else ():
        if ancestor is function:
            break
        if isinstance(ancestor, (ast.For, ast.AsyncFor)):
            names.update(n.id for n in ast.walk(ancestor.target) if isinstance(n, ast.Name))
    return names


def _probes_an_item(call: ast.Call, loop_names: set[str]) -> bool:
    """`for table in TABLES: conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()`, `for ext, testsql in
    ...: conn.execute(testsql)`: a read-only query built from the loop's item asks whether that table, function
    or extension exists; its failure is the answer "no"."""
    if not loop_names:
        return False
    last = _last_name(call.func)
    if last in RESULT_READS:
        return True
    if last not in ("execute", "text") or not call.args:
        return False
    sql = call.args[0]
    if not any(isinstance(n, ast.Name) and n.id in loop_names for n in ast.walk(sql)):
        return isinstance(sql, ast.Call) and _last_name(sql.func) == "text" and _probes_an_item(sql, loop_names)
    text_parts = [n.value for n in ast.walk(sql) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return not text_parts or bool(READ_ONLY_SQL.match(text_parts[0]))


def _computes_values(stmt: ast.stmt, assigned: set[str]) -> bool:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
            assigned.update(name for n in ast.walk(target) if (name := _flag_name(n)))
        return True
    if isinstance(stmt, ast.If):
        return all(_computes_values(inner, assigned) for inner in stmt.body + stmt.orelse)
    return isinstance(stmt, ast.Return)


def _looks_up(call: ast.Call, ctx: "ModuleContext") -> bool:
    """A call that looks a value up: a builtin, the standard library or a local library, a class being built, a
    value's own method (`.get`, `.split`), or a function (not an object's method) named for a look-up."""
    func = call.func
    last = _last_name(func)
    qualified = ctx.qualified_name(func)
    built = ctx.value_of(func.value) if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
        else None
    if qualified is None and isinstance(func, ast.Name):
        return last.lstrip("_").split("_")[0].lower() in LOOKUP_WORDS  # a function of this module
    if qualified is None or isinstance(built, ast.Call):  # a method of an object, not a module's function
        if isinstance(built, ast.Call) and _last_name(built.func)[:1].isupper() and _dependency_name(built.func, ctx):
            return False  # `cache = redis.Redis(...)`: a client of another system
        return isinstance(func, ast.Attribute) and (last in VALUE_METHODS or last in PARSE_LAST_NAMES) \
            and not CLIENT_SPELLING.search(_last_name(func.value) or "")  # `oauth.client.get("user/emails")`
    if not _dependency_name(func, ctx) or last[:1].isupper():
        return True
    return last.lstrip("_").split("_")[0].lower() in LOOKUP_WORDS


def _inside_a_reporting_handler(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`except ClientResponseError as e: try: ... except Exception: try: detail = await r.text() except Exception:
    detail = e.message` and then `raise HTTPException(e.status, detail)`: any enclosing handler of the same function
    that raises or logs makes the inner fallbacks part of its report."""
    for ancestor in ctx.ancestors(handler):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(ancestor, ast.ExceptHandler) and ancestor is not handler:
            outer = summarize(ancestor, ctx)
            if outer.raises or bool(outer.log_calls) or outer.reports:
                return True
    return False


def _unlogged_catch_all(handler: ast.ExceptHandler, s: HandlerSummary, ctx: "ModuleContext") -> bool:
    """GAP604's test for a catch-all with no log line: it wraps code that can hit an outage, and the failure
    reaches nobody - not the client, not a record the caller reads, not an enclosing report."""
    if _judged(handler, ctx) or _answers_the_client(handler, ctx):
        return False
    if not (s.remote or (_reaches_a_dependency(handler, ctx) and not _only_parses(handler, ctx)
                         and not _imports_lazily(handler, ctx))):
        return False
    return not (_failure_reaches_someone(handler, ctx) or _silence_by_design(handler, ctx)
                or _probes_for_a_value(handler, s, ctx))


def _prints_by_design(handler: ast.ExceptHandler, s: HandlerSummary, ctx: "ModuleContext") -> bool:
    """print() that is not an error report: the `try` body prints too (the handler's print is the fallback output,
    `except UnicodeEncodeError: print(ascii_banner)`), an optional import says it is missing, or every print
    carries a flake8-print waiver (`# noqa: T201`)."""
    if _in_log_handler(handler, ctx):
        return True  # `Handler.emit`: a logger there would recurse
    body = getattr(ctx.parent(handler), "body", [])
    if any(isinstance(n, ast.Call) and ctx.qualified_name(n.func) == "builtins.print"
           for stmt in body for n in ast.walk(stmt)):
        return True
    if s.deliberate == "an optional import":
        return True
    return all(PRINT_WAIVER.search(ctx.lines[c.lineno - 1]) for c in s.print_calls if 0 < c.lineno <= len(ctx.lines))


PRINT_WAIVER = re.compile(r"#.*noqa\b.*\bT20[13]\b")

# A comment that says why the log line leaves the exception out: "it may contain secrets".
TRACEBACK_DECISION = re.compile(r"(?i)(do not|don't|never|not to|must not) (log|print|include|show)|traceback|"
                                r"stack ?trace|exc_info|\blog\w*\b.*\b(secret|sensitive|credential|password)")


def _omits_traceback_on_purpose(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`# Do not log the exception - it may contain secrets`: the author left the traceback out deliberately."""
    end = getattr(handler, "end_lineno", handler.lineno) or handler.lineno
    above = ctx.lines[handler.lineno - 2].strip() if handler.lineno >= 2 else ""
    inside = ctx.lines[handler.lineno:end]  # not the `except` line itself: it carries linter codes
    return any(line.lstrip().startswith("#") and TRACEBACK_DECISION.search(line) for line in [above, *inside])


PROBE_ENDPOINT = re.compile(r"(?i)^_?(health|healthz|ready|readiness|readyz|live|liveness|livez|ping|heartbeat)"
                            r"|(^|_)(health|readiness|liveness|heartbeat)(_|$)|^_?check_\w*connection"
                            r"|^_?(get|fetch|check|read|service|server|connection)_\w*status$")
# Words of a value that names the failure for the caller: `return Status.SERVER_ERROR`, `{"error": ...}`,
# `return None, "token_count_timeout"`, `"The scanner was unreachable"`.
FAILURE_VALUE = re.compile(r"(?i)error|fail|unreachable|timeout|timed.out|cannot|unable|unavailable|invalid|"
                           r"disconnect|refused|reject|retry|offline")


def _answers_with_the_failure(handler: ast.ExceptHandler) -> bool:
    """The handler's value tells the caller what went wrong (an error status, an `error` entry, a message): the
    caller is told, and reporting it is the caller's job."""
    for stmt in handler.body:
        value = stmt.value if isinstance(stmt, (ast.Return, ast.Assign, ast.AnnAssign)) else None
        if value is not None and _names_failure(value):
            return True
    return False


def _names_failure(value: ast.AST) -> bool:
    if isinstance(value, ast.Tuple):
        return any(_names_failure(e) for e in value.elts)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return bool(FAILURE_VALUE.search(value.value))
    if isinstance(value, ast.JoinedStr):
        return any(_names_failure(v) for v in value.values if isinstance(v, ast.Constant))
    if isinstance(value, ast.Attribute):
        return value.attr.isupper() and bool(FAILURE_VALUE.search(value.attr))  # `ExportOutcome.RETRY`
    if isinstance(value, ast.Dict):
        return any(isinstance(k, ast.Constant) and isinstance(k.value, str) and FAILURE_VALUE.search(k.value)
                   for k in value.keys) or any(_names_failure(v) for v in value.values)
    return False


STREAM_IO = frozenset({"read", "readline", "readexactly", "readuntil", "write", "drain", "send", "sendall", "recv",
                       "send_bytes", "send_text", "send_json", "receive", "receive_text", "receive_bytes"})
HANG_UP_ERRORS = frozenset({"builtins.ConnectionError", "builtins.ConnectionResetError", "builtins.BrokenPipeError",
                            "builtins.ConnectionAbortedError"})


def _peer_hung_up(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`data = await reader.read(1)` / `writer.write(...)` failing with a reset or broken pipe: the peer closed
    its connection, the normal end of a stream this code serves."""
    if not any(ctx.qualified_name(e) in HANG_UP_ERRORS for e in handler_types(handler, ctx)):
        return False
    body = getattr(ctx.parent(handler), "body", [])
    calls = [n for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
    return bool(calls) and all(_last_name(c.func) in STREAM_IO for c in calls)


def _is_probe_endpoint(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """A health/readiness check: answering 503 when the database is down is its job, and its caller is told."""
    function = ctx.enclosing_function(handler)
    return bool(PROBE_ENDPOINT.search(getattr(function, "name", "")))


def _retries_in_loop(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`for attempt in range(3): try: return call() except Timeout: sleep(1)`: the handler is one retry step (the
    timeout-retry family judges the loop); the failure is not the end of the story yet."""
    try_node = ctx.parent(handler)
    loop = ctx.parent(try_node) if try_node is not None else None
    if not isinstance(loop, (ast.For, ast.AsyncFor, ast.While)) or try_node not in loop.body:
        return False
    leaves = [n for stmt in [*try_node.body, *getattr(try_node, "orelse", [])]  # type: ignore[union-attr]
              for n in ast.walk(stmt) if isinstance(n, (ast.Break, ast.Return))]
    stays = not any(isinstance(n, (ast.Break, ast.Return, ast.Raise)) for n in _handler_nodes(handler))
    return bool(leaves) and stays


def _debug_only_logs(s: HandlerSummary) -> bool:
    return bool(s.log_calls) and all(getattr(c.func, "attr", "") in ("debug", "trace") for c in s.log_calls)


LOOKUP_METHODS = frozenset({"get", "setdefault", "copy"})


def _falls_back_to_a_value(handler: ast.ExceptHandler) -> bool:
    """The handler only produces a value (a default, a process-local copy, `cache.get(key)`): no other operation.
    A handler that does something else instead (`resp.raw.read()` to drain a socket) is a recovery step."""
    return all(isinstance(n.func, ast.Attribute) and n.func.attr in LOOKUP_METHODS
               for n in _handler_nodes(handler) if isinstance(n, ast.Call))


def _in_log_handler(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """Code of a `logging.Handler` subclass (`emit`, `format_subject`): it cannot log its own failures."""
    function = ctx.enclosing_function(handler)
    owner_class = ctx.parent(function) if function is not None else None
    if not isinstance(owner_class, ast.ClassDef):
        return False
    return any((ctx.qualified_name(base) or "").startswith("logging.") and _last_name(base).endswith("Handler")
               for base in owner_class.bases)


def _logs_without_traceback(s: HandlerSummary) -> bool:
    return not s.raises and bool(s.log_calls) and not s.logs_traceback and not s.reports and any(
        getattr(c.func, "attr", "") not in ("debug", "trace") for c in s.log_calls)


def _summarize(handler: ast.ExceptHandler, ctx: "ModuleContext") -> HandlerSummary:
    raises = reraises = delegates = False
    raises_new: ast.Raise | None = None
    http_error: ast.AST | None = None
    logs: list[ast.Call] = []
    traceback = False
    reports = False
    prints: list[ast.Call] = []
    exits = False
    for node in _handler_nodes(handler):
        if isinstance(node, ast.Raise):
            raises = True
            kind = _raise_kind(node, handler)
            if kind == "reraise":
                reraises = True
            elif kind == "http":
                http_error = http_error or node
            else:
                raises_new = raises_new or node
        elif _reraises_later(node, ctx):
            raises = reraises = True
        elif isinstance(node, ast.Call):
            if is_log_call(node, ctx):
                logs.append(node)
                traceback = traceback or log_has_traceback(node, ctx)
            elif is_report_call(node, ctx):
                reports = True
            elif ctx.qualified_name(node.func) == "builtins.print":
                prints.append(node)
            elif ctx.qualified_name(node.func) in EXIT_CALLS:
                exits = exits or _failure_status(node)
            elif _last_name(node.func) == "abort":
                raises = True
                http_error = http_error or node
            elif ERROR_HANDLER_WORDS.search(_last_name(node.func)) and not _last_name(node.func)[:1].isupper() \
                    and not (ctx.qualified_name(node.func) or "").startswith(USER_MESSAGE_MODULES):
                delegates = True  # a function, not an exception class being built nor a message to the user
            if ctx.qualified_name(node.func) in TRACEBACK_CALLS:
                traceback = True
        elif node.__class__ is ast.Attribute and node.attr == "__traceback__" and handler.name \
                and isinstance(node.value, ast.Name) and node.value.id == handler.name:
            traceback = True  # `exc.__traceback__.tb_next`: the handler takes the frames to log them by hand
    if not raises and _collected_then_raised(handler, ctx):
        raises = reraises = True
    broad = catches_broadly(handler, ctx)
    response = _error_response(handler, ctx)
    statuses = [status_of(n) for n in (http_error, response) if n is not None]
    try_node = ctx.parent(handler)
    return HandlerSummary(
        broad=broad, bare=handler.type is None, swallows=handler_swallows(handler), raises=raises,
        reraises=reraises, raises_new=raises_new, http_error=http_error, error_response=response,
        server_error=any(status is not None and status >= 500 for status in statuses),
        passes_error_on=_passes_error_on(handler, ctx), delegates=delegates,
        log_calls=tuple(logs), logs_traceback=traceback, reports=reports, print_calls=tuple(prints),
        leak=_leak(handler, ctx) if broad else None,
        external=None if broad else _external_type(handler, ctx), retry_step=is_retry_step(handler, ctx),
        exits=exits,
        answers_yes_no=_answers_yes_no(handler), commented=handler_has_comment(handler, ctx),
        deliberate=_deliberate_silence(handler, ctx), remote=_remote_call(getattr(try_node, "body", []), ctx),
        waived=peer_waivers(handler, ctx),
    )


EXIT_CALLS = frozenset({"sys.exit", "builtins.exit", "builtins.quit", "os._exit"})


def _failure_status(call: ast.Call) -> bool:
    """`sys.exit(1)`, `sys.exit("config is invalid")`, `sys.exit(code)`: anything but a literal 0 / None / no argument."""
    if not call.args:
        return False
    value = call.args[0]
    return not (isinstance(value, ast.Constant) and value.value in (0, None, False))


# Calls that hand the error to someone who will report it: `self.handle_error()`, `on_failure(...)`, `report(...)`.
ERROR_HANDLER_WORDS = re.compile(r"(?i)error|exception|fail|report|alert|notify|warn|log|traceback")
# `messages.error(request, "...")`, `st.error(...)`: a message for the user, which no operator reads.
USER_MESSAGE_MODULES = ("django.contrib.messages", "streamlit", "flask.flash")
# Exceptions that a web framework turns into a response without logging them (FastAPI/Starlette, Werkzeug, DRF,
# aiohttp, Pyramid), matched by last name.
HTTP_ERROR_EXCEPTIONS = frozenset({
    "HTTPException", "HTTPBadRequest", "HTTPInternalServerError", "HTTPBadGateway", "HTTPServiceUnavailable",
    "HTTPGatewayTimeout", "APIException", "InternalServerError", "BadGateway", "ServiceUnavailable",
    "GatewayTimeout", "WebSocketException",
})
STATUS_BY_NAME = {"HttpResponseServerError": 500, "HTTPInternalServerError": 500, "InternalServerError": 500,
                  "HTTPBadGateway": 502, "BadGateway": 502, "HTTPServiceUnavailable": 503, "ServiceUnavailable": 503,
                  "HTTPGatewayTimeout": 504, "GatewayTimeout": 504, "HttpResponseBadRequest": 400,
                  "HttpResponseForbidden": 403, "HTTPBadRequest": 400}


def _raise_kind(node: ast.Raise, handler: ast.ExceptHandler) -> str:
    """"reraise" (the error goes on, with its traceback), "http" (becomes a response), or "new"."""
    if node.exc is None or (handler.name and isinstance(node.exc, ast.Name) and node.exc.id == handler.name):
        return "reraise"
    if node.cause is not None and not (isinstance(node.cause, ast.Constant) and node.cause.value is None):
        return "reraise"  # `raise X from e`: the cause and its traceback travel with X
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if _last_name(exc) in HTTP_ERROR_EXCEPTIONS and node.cause is None:
        return "http"
    return "new"


def status_of(node: ast.AST) -> int | None:
    """The HTTP status of `raise HTTPException(502, ...)`, `abort(500)`, `return jsonify(...), 500`,
    `JSONResponse(..., status_code=503)`, `HttpResponseServerError()`."""
    if isinstance(node, ast.Raise):
        node = node.exc  # type: ignore[assignment]
    if isinstance(node, ast.Return):
        node = node.value  # type: ignore[assignment]
    if isinstance(node, ast.Tuple) and len(node.elts) >= 2:
        return _int_status(node.elts[1])
    if not isinstance(node, ast.Call):
        return None
    for keyword in node.keywords:
        if keyword.arg in ("status", "status_code", "code"):
            return _int_status(keyword.value)
    name = _last_name(node.func)
    if name in STATUS_BY_NAME:
        return STATUS_BY_NAME[name]
    if name in HTTP_ERROR_EXCEPTIONS or name == "abort":
        return _int_status(node.args[0]) if node.args else (500 if name in HTTP_ERROR_EXCEPTIONS else None)
    return None


def _int_status(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and 100 <= node.value < 600:
        return node.value
    if isinstance(node, ast.Attribute):
        match = re.match(r"HTTP_(\d{3})", node.attr)  # `status.HTTP_502_BAD_GATEWAY`
        if match:
            return int(match.group(1))
        if node.attr in ("INTERNAL_SERVER_ERROR", "BAD_GATEWAY", "SERVICE_UNAVAILABLE", "GATEWAY_TIMEOUT"):
            return 500  # `HTTPStatus.BAD_GATEWAY` (5xx is all that matters)
    return None


def _error_response(handler: ast.ExceptHandler, ctx: "ModuleContext") -> ast.Return | None:
    """A `return` of an error response: a response object with an error status, or `(body, status)` from a route."""
    function = ctx.enclosing_function(handler)
    routed = function is not None and not isinstance(function, ast.Lambda) and is_request_handler(function, ctx)
    for node in _handler_nodes(handler):
        if not (isinstance(node, ast.Return) and node.value is not None):
            continue
        status = status_of(node)
        if status is None or status < 400:
            continue
        if _is_response(node.value, ctx) or (routed and isinstance(node.value, ast.Tuple)):
            return node
    return None


def _passes_error_on(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The bound exception is used outside log and print calls: returned, stored, appended, passed to a callback,
    inspected (`e.status_code == 404`, `if "duplicate" in str(e)`). Someone else gets the error, or the handler
    decides on it. Its text alone (`errors.append(str(e))`, `job.error = f"failed: {e}"`) is not the error: the
    traceback is gone, and a bug reads like the failure the author expected."""
    if not handler.name:
        return False
    for node in _handler_nodes(handler):
        if not (isinstance(node, ast.Name) and node.id == handler.name):
            continue
        ancestors = _ancestors_until(node, handler, ctx)
        if any(isinstance(a, ast.Call) and (is_log_call(a, ctx) or ctx.qualified_name(a.func) == "builtins.print")
               for a in ancestors):
            continue  # the text of a log line or a print
        if _only_its_text(node, ancestors, ctx) and not _in_llm_tool(handler, ctx):
            continue  # (an LLM tool's result goes to the model, which needs the error's text to recover)
        return True
    return False


def _in_llm_tool(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    function = ctx.enclosing_function(handler)
    return function is not None and not isinstance(function, ast.Lambda) and _is_llm_tool(function)


def keeps_only_text(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The handler stores, returns or sends on the error's text (`str(e)`, `f"{e}"`) and nothing else of it."""
    if not handler.name:
        return False
    uses = [n for n in _handler_nodes(handler) if isinstance(n, ast.Name) and n.id == handler.name]
    return bool(uses) and any(_only_its_text(n, _ancestors_until(n, handler, ctx), ctx) for n in uses)


TEXT_CALLS = frozenset({"builtins.str", "builtins.repr", "builtins.format"})


def _only_its_text(node: ast.Name, ancestors: list[ast.AST], ctx: "ModuleContext") -> bool:
    """`str(e)`, `repr(e)`, `f"...{e}"`, `"%s" % e`, `"{}".format(e)` - not inside a test of it."""
    if not ancestors:
        return False
    first = ancestors[0]
    if isinstance(first, ast.FormattedValue):
        text = True
    elif isinstance(first, ast.Call) and node in first.args:
        text = ctx.qualified_name(first.func) in TEXT_CALLS or (
            isinstance(first.func, ast.Attribute) and first.func.attr == "format"
            and isinstance(first.func.value, ast.Constant))
    elif isinstance(first, ast.BinOp) and isinstance(first.op, ast.Mod) and first.right is node \
            and isinstance(first.left, ast.Constant):
        text = True
    elif isinstance(first, ast.Tuple) and len(ancestors) > 1 and isinstance(ancestors[1], ast.BinOp) \
            and isinstance(ancestors[1].op, ast.Mod) and isinstance(ancestors[1].left, ast.Constant):
        text = True  # `"%s: %s" % (name, e)`
    else:
        text = False
    if not text:
        return False
    if any(isinstance(a, (ast.Compare, ast.BoolOp, ast.IfExp)) for a in ancestors):
        return False  # `if "duplicate" in str(e):` decides on the error
    parent = ctx.parent(ancestors[-1])
    return not (isinstance(parent, (ast.If, ast.While, ast.Assert)) and parent.test is ancestors[-1])


def _ancestors_until(node: ast.AST, stop: ast.AST, ctx: "ModuleContext") -> list[ast.AST]:
    found = []
    for ancestor in ctx.ancestors(node):
        if ancestor is stop or isinstance(ancestor, ast.stmt):
            break
        found.append(ancestor)
    return found


def _judged(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`except Exception:  # gapcheck: ignore[GAP501]` (or a bare `# gapcheck: ignore`): the user already judged
    this catch-all's silence; the same silence under a no-logging id would only ask again (like a peer waiver)."""
    line = ctx.lines[handler.lineno - 1] if 0 < handler.lineno <= len(ctx.lines) else ""
    ids = parse_directive(line[line.index("#"):]) if "#" in line else None
    return bool(ids) and any(i == "*" or i.startswith("GAP5") for i in ids)  # type: ignore[union-attr]


def _reaches_a_dependency(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The `try` body waits on I/O (`await`, `async with`, `async for`) or calls into another package - an
    installed library or another module of the app (`from .thumbnails import make_thumbnail`, a client built from
    one): the failures it can hit include outages of things the operator runs. A body of local computation
    (`int(value)`, a helper of this module, the standard library) fails for reasons the function owns."""
    try_node = ctx.parent(handler)
    for stmt in getattr(try_node, "body", []):
        for node in _own_nodes(stmt):
            if isinstance(node, (ast.Await, ast.AsyncWith, ast.AsyncFor)):
                return True
            if isinstance(node, ast.Call) and not _last_name(node.func)[:1].isupper() \
                    and _dependency_name(node.func, ctx):
                return True  # (building an object, `InternalServerError()`, is not where outages surface)
    return False


def _own_nodes(stmt: ast.stmt) -> list[ast.AST]:
    found: list[ast.AST] = []
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _dependency_name(func: ast.AST, ctx: "ModuleContext") -> bool:
    """`func` resolves to a name imported from outside the standard library, or is a method of an object that
    was built by such a call (`llm = OpenAI(...)`, `r = redis.Redis.from_url(...)`)."""
    qualified = ctx.qualified_name(func)
    if qualified is None:
        root = func
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Call):
            return _dependency_name(root.func, ctx)
        value = ctx.value_of(root) if isinstance(root, ast.Name) and root is not func else None
        return isinstance(value, ast.Call) and _dependency_name(value.func, ctx)
    if qualified.startswith("."):
        return True  # `from .thumbnails import make_thumbnail`: another module of the app
    top = qualified.split(".")[0]
    if not top or top == "builtins" or top in sys.stdlib_module_names:
        return False
    if top in LOCAL_LIBRARIES or qualified.startswith(LOCAL_DJANGO) or qualified in LOCAL_CALLS:
        return False  # a formatting, parsing or lookup library: it fails on its input, never for an outage
    return True


# Installed packages that compute locally (parse, format, look up bundled data): an exception there is about the
# value, so a catch-all around them hides a bug or a bad input, not an outage (GAP501 still reports the breadth).
LOCAL_LIBRARIES = frozenset({
    "pycountry", "phonenumbers", "phonenumber_field", "dateutil", "pytz", "babel", "packaging", "semver",
    "markdown", "bleach", "nh3", "yaml", "toml", "tomli", "tomlkit", "orjson", "ujson", "simplejson", "msgspec",
    "pydantic", "attrs", "cattrs", "jinja2", "slugify", "unidecode", "iso8601", "pendulum", "arrow", "cryptography",
    "jwt", "jose", "validators", "email_validator", "idna", "chardet", "charset_normalizer", "lxml", "bs4",
    "defusedxml", "regex", "numpy", "pandas", "PIL", "qrcode", "barcode", "pyparsing", "sqlglot", "sqlparse",
    "markupsafe", "humanize", "html2text", "dateparser", "jsonschema", "markdown_it", "mistune", "emoji", "inflect",
    "natsort", "tabulate", "pygments", "docutils", "rapidfuzz", "thefuzz", "Levenshtein", "shortuuid", "ulid",
})
# Single functions of web frameworks that only look up or render locally.
LOCAL_CALLS = frozenset({"flask.url_for", "flask.render_template", "flask.render_template_string",
                         "flask.helpers.url_for", "werkzeug.utils.secure_filename", "urllib3.util.url.parse_url",
                         "urllib3.util.parse_url", "starlette.datastructures.URL", "fastapi.encoders.jsonable_encoder",
                         # litellm's price and context-window tables ship with the package
                         "litellm.get_model_info", "litellm.cost_per_token", "litellm.model_cost",
                         "litellm.get_max_tokens", "sqlalchemy.engine.url.make_url", "sqlalchemy.engine.make_url",
                         "sqlalchemy.make_url"})
# Django modules that only format, translate or route: no database, cache, mail or network behind them.
LOCAL_DJANGO = ("django.utils.", "django.urls", "django.core.validators",
                "django.core.exceptions", "django.core.signing", "django.conf")


def _remote_call(body: list[ast.stmt], ctx: "ModuleContext") -> str | None:
    """A network call in the `try` body: HTTP clients, LLM SDKs (`http_effect`), `smtplib.SMTP`."""
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                what = http_effect(node, ctx)
                if what is None and ctx.qualified_name(node.func) in ("smtplib.SMTP", "smtplib.SMTP_SSL"):
                    what = f"{ctx.qualified_name(node.func)}()"
                if what is not None:
                    return what
    return None


def _answers_yes_no(handler: ast.ExceptHandler) -> bool:
    for stmt in handler.body:
        value = getattr(stmt, "value", None)
        if isinstance(stmt, (ast.Return, ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Constant) \
                and isinstance(value.value, bool):
            return True
    return False


def _reraises_later(node: ast.AST, ctx: "ModuleContext") -> bool:
    """`with util.safe_reraise():` (SQLAlchemy) re-raises on exit; `err = sys.exc_info()` keeps it for later;
    `last_error = exc` with a `raise last_error` later in the function (retry loops); Celery's
    `self.retry(exc=exc)` raises (and re-raises `exc` with its traceback once the retries are spent)."""
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return any(isinstance(item.context_expr, ast.Call) and "reraise" in _last_name(item.context_expr.func).lower()
                   for item in node.items)
    if isinstance(node, ast.Call) and _last_name(node.func) == "retry" and any(k.arg == "exc" for k in node.keywords):
        return True
    if not isinstance(node, ast.Assign):
        return False
    if isinstance(node.value, ast.Call) and ctx.qualified_name(node.value.func) == "sys.exc_info":
        return True
    handler = ctx.enclosing(node, ast.ExceptHandler)
    if handler is None or not handler.name or not isinstance(node.value, ast.Name) or node.value.id != handler.name:
        return False
    saved = {t.id for t in node.targets if isinstance(t, ast.Name)}
    return bool(saved) and _raised_in_function(handler, saved, ctx)


def _raised_in_function(handler: ast.ExceptHandler, names: set[str], ctx: "ModuleContext") -> bool:
    function = ctx.enclosing_function(handler)
    if function is None:
        return False
    for node in ctx.own_nodes(function):
        if isinstance(node, ast.Raise) and node.lineno > handler.lineno and isinstance(node.exc, ast.Name) \
                and node.exc.id in names:
            return True
    return False


def _handler_nodes(handler: ast.ExceptHandler) -> list[ast.AST]:
    """Every node of the handler body, without entering nested functions or classes (they run later, if ever).
    Kept on the handler: a dozen questions about one handler walk it once."""
    cached = getattr(handler, "_gapcheck_nodes", None)
    if cached is not None:
        return cached
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(handler.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    handler._gapcheck_nodes = found  # type: ignore[attr-defined]
    return found


# ---- silence that is the point, and waivers already written for peer linters ----------------------------------
# Comment codes with which the author already waived the same problem for a peer linter (ruff/flake8, pylint,
# bandit, PyCharm): reporting that handler again is noise the user has to silence twice.
BROAD_WAIVERS = ("BLE001", "S110", "S112", "W0703", "W0718", "broad-except", "broad-exception-caught",
                 "PyBroadException")
BARE_WAIVERS = ("E722", "W0702", "B001", "bare-except")
# Calls that only clean up (a temporary file, a handle): their failure changes nothing the caller relies on.
CLEANUP_CALLS = frozenset({"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "shutil.rmtree", "os.close"})
CLEANUP_METHODS = frozenset({"close", "aclose", "disconnect", "dispose", "unlink", "rmtree", "cleanup", "terminate", "kill",
                             "shutdown"})
PREDICATE_PREFIXES = ("is_", "has_", "can_", "should_", "needs_", "supports_", "check_", "uses_")


def peer_waivers(handler: ast.ExceptHandler, ctx: "ModuleContext") -> frozenset[str]:
    """`except Exception:  # noqa: BLE001` / `# pylint: disable=broad-except` / `# noinspection PyBroadException`
    on the line before: "broad" and/or "bare" waived."""
    lines = []
    for number in (handler.lineno - 1, handler.lineno):
        if 0 < number <= len(ctx.lines) and "#" in ctx.lines[number - 1]:
            line = ctx.lines[number - 1]
            if number == handler.lineno or line.lstrip().startswith("#"):
                lines.append(line.split("#", 1)[1])
    text = " ".join(lines)
    if not text:
        return frozenset()
    waived = set()
    if any(code in text for code in BROAD_WAIVERS):
        waived.add("broad")
    if any(code in text for code in BARE_WAIVERS):
        waived.update(("bare", "broad"))
    return frozenset(waived)


def _deliberate_silence(handler: ast.ExceptHandler, ctx: "ModuleContext") -> str | None:
    """Why dropping the error is the handler's job: a test, a yes/no probe, an optional import, a cleanup."""
    if is_test_module(ctx):
        return "test code"
    try_node = ctx.parent(handler)
    body = getattr(try_node, "body", [])
    if _is_probe(handler, body, ctx) and not any(
            isinstance(n, ast.Call) and (is_log_call(n, ctx) or _prints_the_error(n, handler, ctx))
            for n in _handler_nodes(handler)):
        return "a yes/no probe"  # a handler that logs (or prints the error) treats it as a failure, not the answer
    if _only_imports(body, ctx) or (_catches_import_error(handler, ctx) and _imports_lazily(handler, ctx)):
        return "an optional import"
    if _parses_input(handler, ctx):
        return "the client's malformed input, answered with a 4xx"  # `except Exception: raise HTTPException(400)`
    if handler.type is not None and len(body) == 1 and _is_cleanup(body[0], ctx):
        return "a best-effort cleanup"
    if _in_finally(try_node, ctx):
        return "a best-effort cleanup"  # a `try` in a `finally:` block must not mask the error being unwound
    if _reporting_an_error(try_node, ctx):
        return "part of reporting the error an outer handler raises or logs"
    function = ctx.enclosing_function(handler)
    name = getattr(function, "name", "")
    if name in CLEANUP_FUNCTIONS:
        return "a best-effort cleanup"  # `close()` closing every resource even when one fails to close
    if name.startswith(("safe_", "try_")) or name.endswith(("_safe", "repr")) or name in ("__repr__", "__str__", "__format__"):
        return "a function whose name promises not to raise"  # `parse_http_date_safe()`
    if function is not None and _is_template_filter(function, ctx):
        return "a template filter or tag (they must not raise)"
    if function is not None and _caller_reports_the_empty_result(handler, function, ctx):
        return CALLER_REPORTS
    if function is not None and _is_system_check(function, ctx):
        return "a Django system check (it reports through the messages it returns)"
    if function is not None and _is_app_ready(function, ctx):
        return "an AppConfig.ready() hook (optional wiring at start-up)"
    return None


CALLER_REPORTS = "a helper whose callers test its empty result and report it"


def _caller_reports_the_empty_result(handler: ast.ExceptHandler, function: ast.AST, ctx: "ModuleContext") -> bool:
    """`except RequestException: return None` in a helper whose every caller in this module tests the result
    (`if hashes is None: logger.warning(...)` / `raise`): the failure is reported one frame up."""
    returned = [n for n in _handler_nodes(handler) if isinstance(n, ast.Return)]
    if not returned or not all(is_inert_value(r.value) for r in returned) or isinstance(function, ast.Lambda):
        return False
    calls = ctx.memo(("gap5-calls-by-name",), lambda: _calls_by_name(ctx)).get(getattr(function, "name", ""), [])
    return bool(calls) and all(_result_tested_and_reported(call, ctx) for call in calls)


def _calls_by_name(ctx: "ModuleContext") -> dict[str, list[ast.Call]]:
    """Calls of this module's functions and methods: `helper(...)`, `self.helper(...)`, `cls.helper(...)`."""
    found: dict[str, list[ast.Call]] = {}
    for node in ctx.nodes:
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name):
            found.setdefault(node.func.id, []).append(node)
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in ("self", "cls"):
            found.setdefault(node.func.attr, []).append(node)
    return found


def _result_tested_and_reported(call: ast.Call, ctx: "ModuleContext") -> bool:
    node: ast.AST = call
    parent = ctx.parent(node)
    if isinstance(parent, ast.Await):
        node, parent = parent, ctx.parent(parent)
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        branch = ctx.parent(parent)
        return isinstance(branch, ast.If) and branch.test is parent and _reports(branch.body, ctx)
    if isinstance(parent, ast.Compare):
        branch = ctx.parent(parent)
        return isinstance(branch, ast.If) and branch.test is parent and _reports(branch.body, ctx)
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)):
        return False
    target = parent.targets[0].id
    block = _enclosing_block(parent, ctx)
    after = block[block.index(parent) + 1:block.index(parent) + 4] if parent in block else []
    for stmt in after:
        if isinstance(stmt, ast.If) and any(isinstance(n, ast.Name) and n.id == target for n in ast.walk(stmt.test)) \
                and _reports(stmt.body, ctx):
            return True
    return False


def _enclosing_block(stmt: ast.stmt, ctx: "ModuleContext") -> list[ast.stmt]:
    parent = ctx.parent(stmt)
    for field in ("body", "orelse", "finalbody", "handlers"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and stmt in block:
            return block
    return []


def _reports(body: list[ast.stmt], ctx: "ModuleContext") -> bool:
    """A log line, an error report or a raise: the caller tells someone."""
    return any(isinstance(n, ast.Raise) or (isinstance(n, ast.Call) and (is_log_call(n, ctx) or is_report_call(n, ctx)))
               for stmt in body for n in ast.walk(stmt))


def _is_system_check(function: ast.AST, ctx: "ModuleContext") -> bool:
    """`@register(Tags.security)` / `@checks.register()` from `django.core.checks`: the check's findings are its
    return value, and a check that cannot run must not stop `manage.py check`."""
    for decorator in getattr(function, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (ctx.qualified_name(target) or "").startswith("django.core.checks") and _last_name(target) == "register":
            return True
    return False


def _is_app_ready(function: ast.AST, ctx: "ModuleContext") -> bool:
    """`class ShopConfig(AppConfig): def ready(self)`: start-up wiring that must not stop the process."""
    owner_class = ctx.parent(function)
    return getattr(function, "name", "") == "ready" and isinstance(owner_class, ast.ClassDef) and any(
        _last_name(base) == "AppConfig" for base in owner_class.bases)


# Calls that only parse or convert a value (`int(v)`, `json.loads(s)`, `resp.json()`, `Model.model_validate(d)`),
# and the lookups and text methods that go with them: what fails there is the value, not a system or a bug elsewhere.
PARSE_PREFIXES = ("parse_", "decode_", "deserialize_", "from_json", "loads_", "decrypt")
# An app's own parse functions named for what they parse: `db_to_json(raw)`, `yaml_load(stream=...)`, `load_toml(t)`.
PARSE_FUNCTION_NAME = re.compile(r"^(\w+_)?(to|from)_(json|yaml|toml|dict)$|^(json|yaml|toml)_(load|loads|decode|parse)$|"
                          r"^(load|parse|decode)_(json|yaml|toml)$")
PARSE_LAST_NAMES = PARSE_METHODS | {"loads", "dumps", "safe_dumps", "b64decode", "urlsafe_b64decode", "fromisoformat",
                                    "strptime", "form", "decode", "literal_eval"}
VALUE_METHODS = frozenset({"get", "split", "rsplit", "strip", "lower", "upper", "replace", "encode", "startswith",
                           "endswith", "items", "keys", "values", "group", "match", "partition", "rpartition"})
NUMBER_CONVERSIONS = frozenset({"builtins.int", "builtins.float", "decimal.Decimal"})
CONVERSIONS = frozenset({"builtins.int", "builtins.float", "builtins.str", "builtins.bool", "builtins.isinstance",
                         "builtins.len", "builtins.getattr", "builtins.dict", "builtins.list", "builtins.tuple",
                         "builtins.all", "builtins.any", "builtins.enumerate", "decimal.Decimal"})


def _only_parses(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The `try` body parses or converts a value and does nothing else: every call is a parse (`resp.json()`,
    `await request.form()`, `json.dumps`), a conversion, a method of the parsed value, a translated message or an
    exception built to leave the block - at least one a parse. What fails there is the value, not a dependency."""
    body = getattr(ctx.parent(handler), "body", [])
    if _remote_call(body, ctx) is not None:
        return False
    parsed = False
    for stmt in body:
        for node in _own_nodes(stmt):
            if isinstance(node, (ast.AsyncWith, ast.AsyncFor)):
                return False
            if not isinstance(node, ast.Call):
                continue
            last = _last_name(node.func)
            qualified = ctx.qualified_name(node.func)
            if qualified in PARSE_CALLS or last in PARSE_LAST_NAMES or last.lstrip("_").startswith(PARSE_PREFIXES) \
                    or PARSE_FUNCTION_NAME.match(last.lstrip("_")):
                parsed = True  # (`_parse_model_uri(source)`: a parser of the app's own, named for it)
            elif qualified in CONVERSIONS:
                parsed = parsed or qualified in ("builtins.int", "builtins.float", "decimal.Decimal")
            elif not (isinstance(node.func, ast.Attribute) and last in VALUE_METHODS and qualified is None
                      and _looks_up(node, ctx)) \
                    and not last.endswith(("Error", "Exception")) and last not in ("_", "gettext", "gettext_lazy"):
                return False
    return parsed


# Methods that release resources: one failing release must not stop the others, nor mask the real error.
CLEANUP_FUNCTIONS = frozenset({"close", "aclose", "__del__", "__exit__", "__aexit__", "shutdown", "cleanup",
                               "teardown", "dispose", "release", "stop"})
IMPORT_CALLS = frozenset({"importlib.import_module", "builtins.__import__", "django.utils.module_loading.import_string"})


def _reporting_an_error(try_node: ast.AST | None, ctx: "ModuleContext") -> bool:
    """`except ClientResponseError as e: try: detail = await r.json() except Exception: detail = e.message; raise
    HTTPException(e.status, detail)`: the inner fallback only shapes the report the outer handler makes."""
    for ancestor in ctx.ancestors(try_node) if try_node is not None else ():
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(ancestor, ast.ExceptHandler):
            outer = summarize(ancestor, ctx)
            return outer.reraises or outer.raises_new is not None or outer.http_error is not None \
                or outer.logs_traceback or bool(outer.log_calls) or outer.reports
    return False


def _in_finally(try_node: ast.AST | None, ctx: "ModuleContext") -> bool:
    child = try_node
    for ancestor in ctx.ancestors(try_node) if try_node is not None else ():
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(ancestor, (ast.Try, getattr(ast, "TryStar", ast.Try))) and child in ancestor.finalbody:
            return True
        child = ancestor
    return False


def _imports_lazily(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`try: from urllib3.util.url import parse_url; host = parse_url(url).host`: the `try` is about an optional
    package and what it computes, not a system that can be down. GAP501 still reports the breadth."""
    body = getattr(ctx.parent(handler), "body", [])
    return any(isinstance(stmt, (ast.Import, ast.ImportFrom)) or _imports_dynamically(stmt, ctx) for stmt in body)


def _prints_the_error(call: ast.Call, handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`print(f"send failed: {e}")`: an error report; `print("JSON functions not available")` names the answer."""
    return ctx.qualified_name(call.func) == "builtins.print" and handler.name is not None and any(
        isinstance(n, ast.Name) and n.id == handler.name for n in ast.walk(call))


def _only_imports(body: list[ast.stmt], ctx: "ModuleContext") -> bool:
    """`try: import redis` (with `HAS_REDIS = True`): the `try` only asks whether a package is there. A body that
    also uses it (`import yaml; return yaml.safe_load(text)`) swallows that work's failures too."""
    imports = [stmt for stmt in body
               if isinstance(stmt, (ast.Import, ast.ImportFrom)) or _imports_dynamically(stmt, ctx)]
    return bool(imports) and all(
        stmt in imports or isinstance(stmt, ast.Pass) or (
            isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Return))
            and isinstance(stmt.value, (ast.Constant, ast.Name, ast.Attribute)))
        for stmt in body)


IMPORT_ERRORS = frozenset({"builtins.ImportError", "builtins.ModuleNotFoundError"})


def _catches_import_error(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`except ImportError:` - only the import can raise it, whatever else the `try` body does."""
    return any(ctx.qualified_name(e) in IMPORT_ERRORS for e in handler_types(handler, ctx))


def _imports_dynamically(stmt: ast.stmt, ctx: "ModuleContext") -> bool:
    """`app_module = import_module(entry)`: an optional module, like a guarded `import`."""
    call = _statement_call(stmt, (ast.Assign, ast.AnnAssign, ast.Expr, ast.Return))
    return call is not None and ctx.qualified_name(call.func) in IMPORT_CALLS


def _is_template_filter(function: ast.AST, ctx: "ModuleContext") -> bool:
    """`@register.filter` / `@register.simple_tag` (Django, Jinja environments): the framework's contract is that
    filters fail silently - "filter functions should never raise exceptions"."""
    for decorator in getattr(function, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ("filter", "simple_tag", "inclusion_tag", "tag") \
                and _last_name(target.value) == "register":
            return True
    return False


def _is_probe(handler: ast.ExceptHandler, body: list[ast.stmt], ctx: "ModuleContext") -> bool:
    """`except Exception: return False` in a predicate (`is_x()`, `-> bool`, `return True` on success), or
    `ok = False` where the `try` body sets the same flag: the failure is the answer."""
    answer = next((stmt for stmt in handler.body if isinstance(stmt, (ast.Return, ast.Assign, ast.AnnAssign))), None)
    if answer is None:
        # `conn.execute(probe); json_functions = True` with a handler that only says so: the flag stays False
        return any(isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and stmt.value.value is True
                   and all(isinstance(t, ast.Name) for t in stmt.targets) for stmt in body)
    value = getattr(answer, "value", None)
    if not (isinstance(value, ast.Constant) and isinstance(value.value, bool)):
        return False
    if isinstance(answer, ast.Return):
        function = ctx.enclosing_function(handler)
        if function is None or isinstance(function, ast.Lambda):
            return False
        if function.name.lstrip("_").startswith(PREDICATE_PREFIXES):
            return True
        if isinstance(function.returns, ast.Name) and function.returns.id == "bool":
            return True
        return any(isinstance(n, ast.Return) and n is not answer and isinstance(n.value, ast.Constant)
                   and isinstance(n.value.value, bool) for n in ctx.own_nodes(function))
    targets = answer.targets if isinstance(answer, ast.Assign) else [answer.target]  # type: ignore[union-attr]
    flags = {_flag_name(t) for t in targets} - {None}
    return bool(flags) and any(isinstance(n, (ast.Assign, ast.AnnAssign)) and any(
        _flag_name(t) in flags for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))
        for stmt in body for n in ast.walk(stmt))


def _flag_name(target: ast.AST) -> str | None:
    """`ok`, `self._fts_available`: a name or an attribute of one that a probe sets."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return f"{target.value.id}.{target.attr}"
    return None


def _statement_call(stmt: ast.stmt, kinds: tuple[type, ...]) -> ast.Call | None:
    """The call a statement of one of `kinds` evaluates (`await` unwrapped): `close()`, `x = json.loads(b)`."""
    value = stmt.value if isinstance(stmt, kinds) else None  # type: ignore[attr-defined]
    if isinstance(value, ast.Await):
        value = value.value
    return value if isinstance(value, ast.Call) else None


def _is_cleanup(stmt: ast.stmt, ctx: "ModuleContext") -> bool:
    value = _statement_call(stmt, (ast.Expr,))
    if value is None:
        return False
    if ctx.qualified_name(value.func) in CLEANUP_CALLS:
        return True
    return isinstance(value.func, ast.Attribute) and value.func.attr in CLEANUP_METHODS


# ---- GAP503: exception text to the client -----------------------------------------------------------------------
def _leak(handler: ast.ExceptHandler, ctx: "ModuleContext") -> ast.AST | None:
    function = ctx.enclosing_function(handler)
    if function is None or isinstance(function, ast.Lambda) or _is_llm_tool(function):
        return None
    if _parses_input(handler, ctx):
        return None
    routed = is_route(function)
    in_view = routed or is_request_handler(function, ctx)
    for node in _handler_nodes(handler):
        if isinstance(node, ast.Return) and node.value is not None and carries_error_text(node.value, handler, ctx):
            # a route's return value is the response; elsewhere only a response object is certainly sent
            if routed or _is_response(node.value, ctx):
                return node
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and _last_name(node.exc.func) in (
                "HTTPException", "HTTPBadRequest", "HTTPInternalServerError", "APIException") \
                and carries_error_text(node.exc, handler, ctx):
            return node
        if isinstance(node, ast.Call) and _last_name(node.func) == "abort" and in_view \
                and carries_error_text(node, handler, ctx):
            return node
    return None


def _is_llm_tool(function: ast.AST) -> bool:
    """A LangChain/MCP `@tool`: its return value goes to the model, which needs the error text to recover (LangChain's
    `handle_tool_error` and FastMCP's unmasked errors send the same text)."""
    return any(_last_name(d.func if isinstance(d, ast.Call) else d) == "tool"
               for d in getattr(function, "decorator_list", []))


def _parses_input(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The `try` body only parses the client's input (`json.loads(body)`, `await request.json()`, `Model(**body)`,
    `Model.model_validate(data)`): the error text describes the client's own mistake, sent back with a 4xx."""
    if not any(_is_client_error(node) for node in _handler_nodes(handler)):
        return False
    try_node = ctx.parent(handler)
    body = getattr(try_node, "body", [])
    return bool(body) and all(_is_parse_step(stmt, ctx) for stmt in body)


def _answers_the_client(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The handler answers with a 4xx (the client is told, and a bad input is not an operator's problem), or its
    `try` only parses the client's input (`request.get_json()`, `json.loads(body)`, a date in the payload)."""
    if any(_is_client_error(node) or _tells_the_user(node, ctx) for node in _handler_nodes(handler)):
        return True
    body = getattr(ctx.parent(handler), "body", [])
    return bool(body) and all(_is_parse_step(stmt, ctx) for stmt in body)


def _tells_the_user(node: ast.AST, ctx: "ModuleContext") -> bool:
    """`flash(str(ex), "error")`, `messages.error(request, ...)`, a command's `click.echo(...)`: the person who made
    the request, or ran the command, reads why."""
    if not isinstance(node, ast.Call):
        return False
    qualified = ctx.qualified_name(node.func) or ""
    return qualified.startswith(USER_MESSAGE_MODULES) or _last_name(node.func) == "flash" or qualified in CLI_OUTPUT \
        or (qualified == "builtins.print" and not is_service_module(ctx))  # a command's user reads its output


# A command-line tool's output to the person running it: `click.echo(f"ERROR: {e}", err=True)`.
CLI_OUTPUT = frozenset({"click.echo", "click.secho", "typer.echo", "typer.secho", "rich.print"})


# Helpers that answer the request with a 4xx (Falcon-style `bad_request(response, reason)`, DRF-style shortcuts).
CLIENT_ERROR_HELPERS = frozenset({"bad_request", "not_found", "forbidden", "unauthorized", "conflict",
                                  "HttpResponseBadRequest", "HttpResponseNotFound", "HttpResponseForbidden"})


def _is_client_error(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and _last_name(node.func) in CLIENT_ERROR_HELPERS:
        return True
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) >= 2:
        status = node.value.elts[1]  # `return jsonify(error=...), 400`
        return isinstance(status, ast.Constant) and isinstance(status.value, int) and 400 <= status.value < 500
    if not isinstance(node, ast.Call):
        return False
    candidates = [k.value for k in node.keywords if k.arg in ("status_code", "status")] + node.args[:1]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, int) and 400 <= value.value < 500:
            return True
        if isinstance(value, ast.Attribute) and value.attr.startswith("HTTP_4"):
            return True
    return False


def _is_parse_step(stmt: ast.stmt, ctx: "ModuleContext", depth: int = 0) -> bool:
    expr = getattr(stmt, "value", None) if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Return)) else None
    if isinstance(expr, ast.IfExp):  # `threshold = float(raw) if raw is not None else 3.0`
        branches = [b for b in (expr.body, expr.orelse) if not isinstance(b, ast.Constant)]
        return bool(branches) and all(_parses_value(b, ctx, depth) for b in branches)
    value = _statement_call(stmt, (ast.Assign, ast.AnnAssign, ast.Return))
    return value is not None and _parses_value(value, ctx, depth)


def _parses_value(value: ast.AST, ctx: "ModuleContext", depth: int) -> bool:
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    if ctx.qualified_name(value.func) in PARSE_CALLS:
        return True
    if ctx.qualified_name(value.func) in NUMBER_CONVERSIONS:  # `float(raw)`, `int(float(price) * 100)`: of a value
        return all(_parses_value(n, ctx, depth) for a in value.args for n in ast.walk(a) if isinstance(n, ast.Call))
    last = _last_name(value.func)
    if last in PARSE_METHODS:
        return True
    helper = _module_function(value.func, ctx)
    if helper is not None and depth < 2 and len(helper.body) == 1:
        return _is_parse_step(helper.body[0], ctx, depth + 1)  # `async def _json_body(r): return await r.json()`
    # `Model(**body)`: a class (CapWords) built from the payload
    return last[:1].isupper() and any(k.arg is None for k in value.keywords)


def _module_function(func: ast.AST, ctx: "ModuleContext") -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if not isinstance(func, ast.Name) or ctx.resolve_name(func.id, func) is not None:
        return None
    return next((stmt for stmt in ctx.tree.body if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and stmt.name == func.id), None)


def carries_error_text(expr: ast.AST, handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`e`, `str(e)`, `repr(e)`, f"{e}", `e.args`, `traceback.format_exc()` somewhere in `expr`."""
    for node in ast.walk(expr):
        if _debug_only(node, expr, ctx):
            continue
        if isinstance(node, ast.Call) and ctx.qualified_name(node.func) in TRACEBACK_TEXT_CALLS:
            return True
        if handler.name and isinstance(node, ast.Name) and node.id == handler.name:
            parent = ctx.parent(node)
            if isinstance(parent, ast.Attribute) and parent.attr not in ("args", "message", "strerror", "msg"):
                continue  # e.status_code, e.__class__: not the text
            if isinstance(parent, ast.Call) and _last_name(parent.func) in ("type", "isinstance", "id", "getattr"):
                continue
            if isinstance(parent, ast.keyword) and parent.arg in ("exc_info", "exception"):
                continue
            return True
    return False


def _debug_only(node: ast.AST, top: ast.AST, ctx: "ModuleContext") -> bool:
    """`traceback.format_exc() if settings.DEBUG else "Internal Server Error"`: shown only in development."""
    child = node
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, ast.IfExp) and child is ancestor.body and any(
                isinstance(n, (ast.Name, ast.Attribute)) and (getattr(n, "id", None) or getattr(n, "attr", "")).upper()
                == "DEBUG" for n in ast.walk(ancestor.test)):
            return True
        if ancestor is top:
            return False
        child = ancestor
    return False


def _is_response(expr: ast.AST, ctx: "ModuleContext") -> bool:
    if isinstance(expr, ast.Tuple) and expr.elts:
        expr = expr.elts[0]
    if not isinstance(expr, ast.Call):
        return False
    qualified = ctx.qualified_name(expr.func)  # `from django.http import JsonResponse as JR`
    return (qualified.rsplit(".", 1)[-1] if qualified else _last_name(expr.func)) in RESPONSE_CALLS


def is_route(function: ast.AST) -> bool:
    """A Flask/FastAPI/aiohttp route, a DRF `@api_view`/`@action`, an MCP `@tool`: its return value is the response."""
    for decorator in getattr(function, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _last_name(target) in ROUTE_DECORATORS:
            return True
    return False


def is_request_handler(function: ast.AST, ctx: "ModuleContext") -> bool:
    """A route, a Django view function (`request` first), a class-based view method (`def get(self, request)`)."""
    if is_route(function):
        return True
    args = [a.arg for a in function.args.args]  # type: ignore[attr-defined]
    if args[:1] == ["request"]:
        return True
    return args[:2] == ["self", "request"] and getattr(function, "name", "") in VIEW_METHODS


def _last_name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


# ---- GAP601: which external failure ----------------------------------------------------------------------------
def _external_type(handler: ast.ExceptHandler, ctx: "ModuleContext") -> str | None:
    """The external-failure type the handler catches. A client's malformed JSON is the client's error, not a system
    that is down; a `TimeoutError` around a timed wait on local state (`asyncio.wait_for(queue.get(), 0.5)`,
    `event.wait()`, discord's `bot.wait_for(...)`) is the expected outcome of waiting, not a failure."""
    for element in handler_types(handler, ctx):
        name = ctx.qualified_name(element)
        if is_external_failure(name):
            if name in TIMEOUT_ERRORS and (_waits_on_local_state(handler, ctx) or _only_receives(handler, ctx)):
                continue
            if (name or "").endswith(".ProgrammingError") and _only_calls(handler, ctx, FETCHES):
                continue  # psycopg: "the last operation didn't produce a result" - a statement without rows
            return name
    return None


# A listening or receiving socket with a timeout set: the timeout is the end of the wait (`sock.recvfrom(1024)`
# until no more SSDP replies come), not a peer that is down. Only fetching rows, a psycopg ProgrammingError says
# the statement returned none.
RECEIVES = frozenset({"recv", "recvfrom", "recv_into", "recvfrom_into", "recvmsg", "accept"})
FETCHES = frozenset({"fetchone", "fetchmany", "fetchall", "fetchwindow", "nextset"})


def _only_receives(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """The `try` body receives on a socket (`recvfrom`, `accept`) and opens, sends or requests nothing."""
    body = getattr(ctx.parent(handler), "body", [])
    names = {_last_name(n.func) for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Call)}
    return bool(names & RECEIVES) and not names & SOCKET_ACTIONS


SOCKET_ACTIONS = frozenset({"connect", "connect_ex", "create_connection", "send", "sendall", "sendto", "sendmsg",
                            "request", "urlopen", "get", "post", "put", "patch", "delete", "getaddrinfo"})


def _only_calls(handler: ast.ExceptHandler, ctx: "ModuleContext", names: frozenset[str]) -> bool:
    """Every call in the `try` body is one of `names` (or an argument of one): the body only receives, or only
    fetches rows."""
    body = getattr(ctx.parent(handler), "body", [])
    calls = [n for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
    return bool(calls) and any(_last_name(c.func) in names for c in calls) and all(
        _last_name(c.func) in names or _inside_call_of(c, names, ctx) for c in calls)


def _inside_call_of(call: ast.Call, names: frozenset[str], ctx: "ModuleContext") -> bool:
    parent = ctx.parent(call)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Call) and _last_name(parent.func) in names:
            return True
        parent = ctx.parent(parent)
    return False


TIMEOUT_ERRORS = frozenset({"builtins.TimeoutError", "asyncio.TimeoutError", "asyncio.exceptions.TimeoutError",
                            "socket.timeout"})
LOCAL_WAITS = frozenset({"wait", "acquire", "join", "get", "put", "sleep"})


def _waits_on_local_state(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    try_node = ctx.parent(handler)
    for stmt in getattr(try_node, "body", []):
        for node in ast.walk(stmt):
            if not (isinstance(node, ast.Call) and _last_name(node.func) == "wait_for"):
                continue
            if ctx.qualified_name(node.func) not in ("asyncio.wait_for", "asyncio.tasks.wait_for"):
                return True  # `bot.wait_for("message", timeout=60)`: waiting for an event
            awaited = node.args[0] if node.args else None
            if isinstance(awaited, ast.Call) and _last_name(awaited.func) in LOCAL_WAITS \
                    and (_last_name(awaited.func) != "get" or not awaited.args):
                return True
    return False


# ---- retry loops belong to GAP4xx --------------------------------------------------------------------------------
def is_retry_step(handler: ast.ExceptHandler, ctx: "ModuleContext") -> bool:
    """`while True: try: ...; break/return except ...: continue/pass` - the handler is an unbounded retry."""
    try_node = ctx.parent(handler)
    loop = ctx.parent(try_node) if try_node is not None else None
    if not isinstance(loop, ast.While) or try_node not in loop.body:
        return False
    test = loop.test
    if not (isinstance(test, ast.Constant) and test.value in (True, 1)):
        return False
    exits = [n for stmt in [*try_node.body, *getattr(try_node, "orelse", [])]  # type: ignore[union-attr]
             for n in ast.walk(stmt) if isinstance(n, (ast.Break, ast.Return))]
    return bool(exits)
