"""GAP904 webhook-without-dedup: a webhook handler applies a side effect for every delivery, retries included."""
from __future__ import annotations

import ast
import bisect
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.index import FUNCTIONS, callee_qualname, function_qualname
from ..scopes import is_test_or_script, scope_kind

RULE = Rule(
    id="GAP904",
    name="webhook-without-dedup",
    category="async-concurrency",
    tags=("idempotency",),
    severity="warning",
    precision="medium",
    cwe="CWE-837",
    reads=(FUNCTIONS,),
    hints=("webhook", "hook"),
    summary="A webhook handler applies a side effect for every delivery, with no check of the event id",
    docs=Docs(
        what=(
            "Flags a request handler for a webhook - a route whose path or function name says `webhook` or"
            " `hook` - that writes (`create`, `save`, `insert`, `update`, a project function named"
            " `add_*`/`create_*`/`save_*`/`credit_*`/`process_*`/`handle_*` ...) with no sign of"
            " de-duplication in the handler or in the project functions it calls (two calls deep, any module):"
            " `get_or_create`/`update_or_create`, `exists()`, an upsert, `ON CONFLICT`, `INSERT OR IGNORE`, a"
            " Redis `SET NX`, a caught `IntegrityError`/`DuplicateKeyError`, or anything named `idempotency`,"
            " `dedup`, `processed` or `seen`. The finding is on the first write."
        ),
        why=(
            "Webhook providers deliver at least once: Stripe, GitHub, Slack, Shopify and PayPal all retry a"
            " delivery that timed out or got a 5xx, and sometimes send one twice anyway. Without a check on the"
            " delivery's id, each retry credits the account again, sends the email again, or stores and forwards"
            " the event again."
        ),
        example=(
            "@csrf_exempt\ndef stripe_webhook(request):\n    event = json.loads(request.body)\n"
            "    services.add_purchased_credits(event[\"data\"][\"object\"][\"metadata\"][\"account_id\"], ...)"
        ),
        instead=(
            "@csrf_exempt\ndef stripe_webhook(request):\n    event = json.loads(request.body)\n"
            "    _, created = ProcessedEvent.objects.get_or_create(event_id=event[\"id\"])  # unique column\n"
            "    if not created:\n        return HttpResponse(status=200)  # a retry: already applied\n"
            "    services.add_purchased_credits(...)"
        ),
        not_caught=(
            "Queue consumers and retried tasks (no webhook path to go by), endpoints that manage webhook"
            " subscriptions (`create_webhook()`, `delete_project_webhook()`, `list_webhooks()`), de-duplication by a unique index the"
            " code never mentions (the database then rejects the retry: this rule cannot see the schema, which is"
            " why it is medium precision), handlers registered by URL configuration only, and helpers more than two"
            " calls away."
        ),
        references=(
            "https://docs.stripe.com/webhooks#handle-duplicate-events",
            "https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks",
        ),
    ),
)

WEBHOOK_NAME = re.compile(r"web_?hook|(^|[_/])hooks?($|[_/])", re.IGNORECASE)
# `create_channel_webhook()`, `delete_webhook()`, `list_webhooks()`: the API that manages webhook subscriptions,
# called by a signed-in user, not a provider's delivery.
MANAGES_WEBHOOKS = re.compile(
    r"^(create|add|new|register|update|edit|patch|delete|remove|list|get|regenerate|rotate|test|toggle)"
    r"_\w*web_?hooks?$",
    re.IGNORECASE)
WRITE_METHODS = frozenset({
    # Not `update`/`update_one`: setting a status to a value is idempotent by itself.
    "create", "save", "insert", "insert_one", "insert_many", "bulk_create", "add",
    "execute", "executemany", "publish", "enqueue", "delay", "apply_async", "send_mail", "put_item",
})
WRITE_PREFIXES = ("add_", "create_", "save_", "insert_", "store_", "record_", "credit_", "charge_", "grant_",
                  "apply_", "process_", "handle_", "fulfill_", "fulfil_", "mark_", "send_", "enqueue_")
DEDUP = re.compile(
    r"get_or_create|update_or_create|\.exists\(|upsert|on\s+conflict|insert\s+or\s+(ignore|replace)|"
    r"\bnx\s*=\s*True|setnx|IntegrityError|DuplicateKeyError|UniqueViolation|idempot|dedup|already_processed|"
    r"processed_events|\bseen\b|\bprocessed\b",
    re.IGNORECASE)


def _route_path(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and decorator.args and isinstance(decorator.args[0], ast.Constant) \
                and isinstance(decorator.args[0].value, str):
            return decorator.args[0].value
    return ""


def _dedup_lines(ctx: ModuleContext) -> list[int]:
    """Line numbers of every de-duplication marker in the module, found in one pass over its text."""

    def compute() -> list[int]:
        text = ctx.text
        return [text.count("\n", 0, m.start()) + 1 for m in DEDUP.finditer(text)]

    return ctx.memo(("dedup-lines",), compute)


def _dedups(function: ast.AST, ctx: ModuleContext) -> bool:
    lines = _dedup_lines(ctx)
    if not lines:
        return False
    i = bisect.bisect_left(lines, function.lineno)
    return i < len(lines) and lines[i] <= (function.end_lineno or function.lineno)


def _first_write(function: ast.AST, ctx: ModuleContext) -> ast.Call | None:
    nodes = sorted((n for n in ctx.own_nodes(function) if isinstance(n, ast.Call)),
                   key=lambda n: (n.lineno, n.col_offset))
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in WRITE_METHODS or name.startswith(WRITE_PREFIXES):
            if isinstance(func, ast.Attribute) and name in ("add", "update") and not isinstance(func.value, ast.Attribute) \
                    and isinstance(func.value, ast.Name) and func.value.id in ("headers", "data", "payload"):
                continue
            return node
    return None


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def check(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    if is_test_or_script(ctx):
        return
    if _dedups(function, ctx):
        qualname = function_qualname(function, ctx)
        if qualname is not None:
            ctx.record("dedup-fn", qualname)
    if not (WEBHOOK_NAME.search(function.name) or WEBHOOK_NAME.search(_route_path(function))) \
            or MANAGES_WEBHOOKS.search(function.name):
        return
    if scope_kind(function, ctx) not in ("route", "view"):
        return
    qualname = function_qualname(function, ctx)
    if _dedups(function, ctx):
        return
    write = _first_write(function, ctx)
    if write is None:
        return
    spot = ctx.finding(RULE, write, "")
    callee = callee_qualname(write, ctx)
    label = ast.unparse(write.func)
    ctx.record("webhook-write", {"fn": qualname, "callee": callee, "line": spot.line, "col": spot.column,
                                 "end_line": spot.end_line, "end_col": spot.end_column, "handler": function.name,
                                 "what": label})


@RULE.on_project
def join(index: ProjectIndex) -> Iterator[Finding]:
    dedup = {data for _, data in index.facts("dedup-fn")}
    calls: dict[str, list[str]] = {}
    for _, data in index.facts("orm-function"):
        calls.setdefault(data["q"], data["calls"])

    def deduplicates(qualname: str | None, depth: int) -> bool:
        if qualname is None or depth < 0:
            return False
        if qualname in dedup:
            return True
        return any(deduplicates(c, depth - 1) for c in calls.get(qualname, ()))

    for path, data in index.facts("webhook-write"):
        if deduplicates(data["fn"], 2):
            continue
        yield index.finding(
            RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],
            f"webhook handler {data['handler']}() runs {data['what']}() for every delivery with no check of the"
            " event id: providers retry deliveries, so a retried event is applied twice (credited, sent, stored);"
            " record the event id under a unique constraint (get_or_create, ON CONFLICT DO NOTHING, SET NX) and"
            " return early on a duplicate",
        )
