"""GAP605 auth-failure-unlogged: a request is refused for a bad credential (401/403) and nothing is logged."""
from __future__ import annotations

import ast
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..broad_except.facts import HTTP_ERROR_EXCEPTIONS, status_of
from .facts import is_log_call, is_report_call, is_test_module

RULE = Rule(
    id="GAP605",
    skip_tests=True,  # every handler exits first on a test module or script
    name="auth-failure-unlogged",
    category="no-logging",
    severity="warning",
    precision="medium",
    cwe="CWE-778",
    summary="A request refused for a bad credential (401/403) leaves no log line",
    docs=Docs(
        what=(
            "Flags a 401/403 answer - `raise HTTPException(401)`, `abort(403)`, `return JSONResponse(...,"
            " status_code=401)`, `return jsonify(...), 401`, `HttpResponseForbidden()`, aiohttp `HTTPUnauthorized`,"
            " Werkzeug `Unauthorized` - given in the branch of an `if` that checks a credential (a password, an API"
            " key, a token, a signature, an `Authorization` header: `if not verify_password(...)`, `if not raw_key`,"
            " `if not verify_signature(request)`) or in a handler for a token/signature error, when that branch has"
            " no log call and the check it calls (a function of the same module) logs nothing either."
        ),
        why=(
            "Failed logins, rejected API keys and bad webhook signatures are the security events an operator needs:"
            " a credential-stuffing run, a leaked key being tried, a misconfigured sender. The access log shows a"
            " status code at best - not which account, which key owner or which check failed - so brute force and"
            " probing go unnoticed, and a lockout or an alert rule has nothing to count."
        ),
        example=(
            "if user is None or not verify_password(body.password, user.password_hash):\n"
            "    raise HTTPException(401, \"Invalid email or password\")"
        ),
        instead=(
            "if user is None or not verify_password(body.password, user.password_hash):\n"
            "    logger.warning(\"failed login for %s from %s\", body.email, request.client.host)\n"
            "    raise HTTPException(401, \"Invalid email or password\")"
        ),
        not_caught=(
            "Authorization decisions (`if not user.is_admin: abort(403)`, `if not credentials_checked_recently()`, an"
            " object's identifier `plugin.key == \"pluginmanager\"`, `if user_api_key_dict.user_role !="
            " ADMIN`, a missing session for a logged-out visitor, a request that lacks a field"
            " (`\"old_password\" not in params`), a request that sent no credential at all (`if not token:`,"
            " `if x_api_key is None:`, `if not auth or not auth.startswith(\"Bearer \")` on the header's value;"
            " the lookup or comparison that follows is the check)): the branch must check a credential, and an object"
            " named for the credential it was built from (`api_key_auth.role`) only counts when the credential itself"
            " is tested. Checks whose helper lives in another module and logs"
            " there, app-wide exception handlers that log every 401, and authentication middleware of a framework"
            " (Django's and DRF's own classes log or raise elsewhere). Test modules. Precision is medium: a routine refusal (an expired session or edit cookie, a signed link past its age) is reported like a guessed password, and only the reader knows which of them the operators want to see."
        ),
        references=("https://owasp.org/Top10/A09_2021-Security_Logging_and_Monitoring_Failures/",
                    "https://cheatsheetseries.owasp.org/cheatsheets/Logging_Cheat_Sheet.html"),
    ),
)

# Words in a branch's test (names, attributes, called functions, string keys) that make it a credential check.
CREDENTIAL = re.compile(r"(?i)password|passwd|api_?key|raw_?key|(?:^|_)key$|token|secret|signature|hmac|digest"
                        r"|credential|authorization|verify|x-api-key")
# Exception classes named for a permission decision (`TracecatAuthorizationError`, `PermissionDenied`,
# `ForbiddenError`): what an authenticated caller may do, not a failed credential (the header name
# "Authorization" carries credentials, an authorization error does not).
PERMISSION_ERROR = re.compile(r"(?i)authori[sz]ation\w*(error|exception|denied|failed)|permission|forbidden")
# Exception classes that mean 401/403 by themselves.
AUTH_ERRORS = {"HTTPUnauthorized": 401, "Unauthorized": 401, "AuthenticationFailed": 401, "NotAuthenticated": 401,
               "HTTPForbidden": 403, "Forbidden": 403}


def _refusal_status(node: ast.AST) -> int | None:
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", "")
        if name in AUTH_ERRORS:
            return AUTH_ERRORS[name]
        if name not in HTTP_ERROR_EXCEPTIONS:
            return None
    elif isinstance(node, ast.Call):
        if getattr(node.func, "attr", getattr(node.func, "id", "")) != "abort":
            return None
    elif not isinstance(node, ast.Return):
        return None
    status = status_of(node)
    return status if status in (401, 403) else None


@RULE.on(ast.Raise, ast.Return, ast.Call)
def check(node: ast.AST, ctx: ModuleContext) -> Iterator[Finding]:
    status = _refusal_status(node)
    if status is None or is_test_module(ctx):
        return
    statement = node if isinstance(node, ast.stmt) else ctx.enclosing(node, ast.stmt)
    branch = ctx.parent(statement) if statement is not None else None
    if isinstance(branch, ast.If) and statement in branch.body:
        if not _checks_credential(branch.test, ctx) or _absence_only(branch.test, ctx):
            return
    elif isinstance(branch, ast.ExceptHandler):
        if branch.type is None or not CREDENTIAL.search(ast.unparse(branch.type)) \
                or PERMISSION_ERROR.search(ast.unparse(branch.type)):
            return
    else:
        return
    if any(_logs(stmt, ctx) for stmt in branch.body):
        return
    yield ctx.finding(
        RULE, node,
        f"this request is refused with {status} after a failed credential check and nothing is logged: a"
        " brute-force run, a leaked key being tried or a bad webhook signature leaves no trace; log a warning with"
        " the client and the reason (never the credential itself)",
    )


def _logs(node: ast.AST, ctx: ModuleContext) -> bool:
    return any(isinstance(n, ast.Call) and (is_log_call(n, ctx) or is_report_call(n, ctx)) for n in ast.walk(node))


def _checks_credential(test: ast.AST, ctx: ModuleContext) -> bool:
    found = False
    skipped = {id(n) for call in ast.walk(test) if isinstance(call, ast.Call) and _is_authorization(call, ctx)
               for n in ast.walk(call)}
    for node in ast.walk(test):
        if id(node) in skipped or _is_receiver(node, ctx) or _server_credential(node, ctx) \
                or _identifier_key(node, ctx) or _field_presence(node, ctx):
            continue  # `user_api_key_dict.user_role != ADMIN`: the tested value is the role, not the key
        if isinstance(node, ast.Name):
            words = node.id
        elif isinstance(node, ast.Attribute):
            words = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = node.value
        else:
            continue
        if CREDENTIAL.search(words):
            found = True
        if isinstance(node, ast.Name) and _helper_logs(node, ctx):
            return False  # the check itself logs the failure (`verify_signature()` defined in this module)
    return found


def _absence_only(test: ast.AST, ctx: ModuleContext) -> bool:
    """`if not token:`, `if x_api_key is None:`, `if not header or not header.startswith("Bearer ")` on what the
    request sent: it carries no credential (or not in the expected form), so nothing was checked yet; the check
    that can fail is a later branch, reported there. (`if api_key is None` after a lookup is that check.)"""
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) else [test]
    for part in parts:
        tested: ast.AST | None = None
        if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.Not):
            operand = part.operand
            if isinstance(operand, ast.Call) and isinstance(operand.func, ast.Attribute) \
                    and operand.func.attr == "startswith":
                operand = operand.func.value  # `not header.startswith("Bearer ")`
            elif isinstance(operand, ast.Call) and not (isinstance(operand.func, ast.Attribute)
                                                        and operand.func.attr == "get"):
                return False  # `not hmac.compare_digest(...)`, `not verify(token)`: a check
            tested = operand
        elif isinstance(part, ast.Compare) and len(part.ops) == 1 and isinstance(part.ops[0], (ast.Is, ast.Eq)) \
                and isinstance(part.comparators[0], ast.Constant) and part.comparators[0].value in (None, ""):
            tested = part.left  # `token is None`, `key == ""`
        if tested is None or not _sent_by_the_client(tested, ctx):
            return False
    return True


# Where a request's own fields are read: headers, cookies, query and form parameters.
REQUEST_READ = re.compile(r"\b(request|req|headers|cookies|args|form|GET|POST|META|query_params)\b")


def _sent_by_the_client(expr: ast.AST, ctx: ModuleContext) -> bool:
    """The raw value from the request: read from it here, a local bound to such a read, or a route parameter
    declared with `Header()`/`Cookie()`/`Query()` (a FastAPI dependency)."""
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr)
        if value is None:
            function = ctx.enclosing_function(expr)
            args = getattr(function, "args", None)
            if args is None:
                return False
            params = args.posonlyargs + args.args + args.kwonlyargs
            defaults = dict(zip([a.arg for a in params][-len(args.defaults):] if args.defaults else [],
                                args.defaults))
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
            default = defaults.get(expr.id)
            return isinstance(default, ast.Call) and getattr(default.func, "id", getattr(default.func, "attr", "")) \
                in ("Header", "Cookie", "Query", "Security", "APIKeyHeader")
        return isinstance(value, (ast.Call, ast.Subscript, ast.Attribute)) and bool(REQUEST_READ.search(ast.unparse(value)))
    return isinstance(expr, (ast.Call, ast.Subscript, ast.Attribute)) and bool(REQUEST_READ.search(ast.unparse(expr)))


def _field_presence(node: ast.AST, ctx: ModuleContext) -> bool:
    """`"old_password" not in params`: whether the request carries a field, a validation of its shape (the
    credential, if any, is checked by a later branch)."""
    parent = ctx.parent(node)
    return isinstance(node, ast.Constant) and isinstance(parent, ast.Compare) and parent.left is node \
        and all(isinstance(op, (ast.In, ast.NotIn)) for op in parent.ops)


def _identifier_key(node: ast.AST, ctx: ModuleContext) -> bool:
    """`plugin.key == "pluginmanager"`: an object's `key` (its identifier) compared with a name, not a secret."""
    parent = ctx.parent(node)
    return isinstance(node, ast.Attribute) and node.attr == "key" and not CREDENTIAL.search(ctx.dotted_name(
        node.value) or "") and isinstance(parent, ast.Compare) and all(
        isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.isidentifier()
        for c in [parent.left, *parent.comparators] if c is not node)


def _is_receiver(node: ast.AST, ctx: ModuleContext) -> bool:
    """The object an attribute is read from (`auth` in `auth.user_role`): the principal already authenticated,
    whose credential-like name says what it was built from; the attribute read is what the branch tests."""
    parent = ctx.parent(node)
    return isinstance(node, (ast.Name, ast.Attribute)) and isinstance(parent, ast.Attribute) \
        and parent.value is node and not VALIDITY.search(parent.attr)


# Calls that decide what an authenticated caller may do (`is_proxy_admin(auth)`, `can_access_resource(auth, row)`).
AUTHORIZATION = re.compile(r"(?i)admin|access|role|permission|allow|authoriz|owner|member|can_|scope|_view|grant"
                           r"|recently|fresh")  # `credentials_checked_recently()`: how old the login is, not a check
# Calls that read the server's own configuration or credential store: a missing value there is a misconfiguration.
SERVER_CONFIG = re.compile(r"(?i)getenv|environ|get_credential|get_secret|settings|config")


def _is_authorization(call: ast.Call, ctx: ModuleContext) -> bool:
    """An authorization predicate, a type or attribute probe (`isinstance(auth, UserAuth)`,
    `getattr(auth, "user_role")`), or a read of the server's configuration (`Config.get("auth.enable_api_keys")`)."""
    if ctx.qualified_name(call.func) in ("builtins.isinstance", "builtins.getattr", "builtins.hasattr"):
        return True
    if SERVER_CONFIG.search(ctx.dotted_name(call.func) or ""):
        return True
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    return bool(AUTHORIZATION.search(name)) and not re.search(r"(?i)verify|password|signature|token", name)


def _server_credential(node: ast.AST, ctx: ModuleContext) -> bool:
    """`api_key = router.get_credentials(...)`, `os.environ.get("KEY")`: the server's own secret, not the
    client's - its absence is a misconfiguration, not a failed check."""
    if not isinstance(node, ast.Name):
        return False
    value = ctx.value_of(node)
    if isinstance(value, ast.Await):
        value = value.value
    return isinstance(value, ast.Call) and bool(SERVER_CONFIG.search(ctx.dotted_name(value.func) or ""))


# Attributes that test the credential object itself (`token.is_expired`, `sig.matches(...)`), not its owner's rights.
VALIDITY = re.compile(r"(?i)valid|expir|revok|verif|match|check|compare|decode")


def _helper_logs(name: ast.Name, ctx: ModuleContext) -> bool:
    parent = ctx.parent(name)
    if not (isinstance(parent, ast.Call) and parent.func is name):
        return False
    for stmt in ctx.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name.id:
            return _logs(stmt, ctx)
    return False
