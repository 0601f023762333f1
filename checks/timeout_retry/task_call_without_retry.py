"""GAP409 task-call-without-retry: a background task or webhook sender calls out once and gives up on failure."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.index import function_qualname
from ..scopes import FunctionNode, _callees, decorator_kind, decorator_target, request_reachable, scope_kind
from .facts import (
    CELERY_RETRY_KEYWORDS, HTTP_VERBS, LLM_CALL_PATHS, OUTBOUND_CALLS, OUTBOUND_CONSTRUCTED, RETRY_MARKERS,
    constructed_by, keyword_value,
)
from .retry_loops import retry_loop

RULE = Rule(
    id="GAP409",
    name="task-call-without-retry",
    category="timeout-retry",
    severity="note",
    # Medium: on real projects the remaining false reports are jobs re-run by a scheduler configured outside the
    # code (an operator's beat settings, a cron entry) or best-effort fetches whose failure is handled on purpose
    # (a cache warm-up that logs the URL and goes on).
    precision="medium",
    cwe="CWE-754",
    summary="Background task or webhook sender calls another system with no retry in reach",
    docs=Docs(
        what=(
            "Flags an outbound call - requests/httpx/aiohttp/urllib, Django `send_mail`, smtplib, Stripe, the"
            " OpenAI/Anthropic SDKs - made inside a Celery/RQ/Huey task (or a same-module function it calls), or"
            " inside a function whose name says it sends a webhook, when no retry mechanism is in reach: no"
            " `autoretry_for`/`max_retries`/`retry_backoff` on the task decorator, no `self.retry(...)`, no RQ"
            " `retry=`, no tenacity/backoff/retrying/stamina or urllib3 `Retry`/`HTTPAdapter` in the module, and"
            " no retry loop around the call. Dramatiq actors retry by default and are left alone."
        ),
        why=(
            "Celery and RQ do not retry a failed task unless told to. A timeout, a 503 during a deploy of the"
            " other service, or a reset connection - routine events - then drops the email, the webhook or the"
            " payment update for good: the task is marked failed, and nobody re-runs it by hand."
        ),
        example=(
            "@shared_task\ndef notify_partner(order_id):\n"
            "    requests.post(PARTNER_URL, json={\"order\": order_id}, timeout=10).raise_for_status()"
        ),
        instead=(
            "@shared_task(autoretry_for=(requests.RequestException,), retry_backoff=True, retry_jitter=True,"
            " max_retries=5)\ndef notify_partner(order_id):\n"
            "    requests.post(PARTNER_URL, json={\"order\": order_id}, timeout=10).raise_for_status()"
        ),
        not_caught=(
            "Retries configured outside the module (Celery `task_annotations`, a base task class in another"
            " file), outbox/transactional patterns, and calls made through project helpers in other modules."
            " Medium precision for exactly those reasons. A job enqueued anywhere in the project with a retry"
            " (`queue.enqueue(job, ..., retry=Retry(max=3))`, `job.apply_async(..., retry=True)`) is taken to"
            " retry; that is followed for the job function itself, not for helpers it calls. So is a job run on a"
            " schedule (`@periodic_task`, a cron/beat decorator) or enqueued from a function that is (pretix's"
            " `@receiver(periodic_task)`, also through a loop over a literal dict or list of tasks): the next tick"
            " runs it again. A task named in a Celery beat entry (`{\"task\": \"reports.digest\", \"schedule\":"
            " ...}` anywhere in the project, matched by the task's `name=` or dotted path), registered with"
            " `add_periodic_task(..., task.s())` or in a django-celery-beat `PeriodicTask(task=...)` is scheduled"
            " too. A function is covered by the retry of any task of its module that reaches it, at any depth."
            " Failures caught on purpose (a best-effort fetch whose error is logged and skipped) are still"
            " reported: the rule cannot tell them from work silently dropped. Precision is medium: retries configured where the rule cannot see them (a Celery `task_annotations` setting, a broker-level redelivery policy, a wrapper that enqueues with its own retry) look like none."
        ),
        references=(
            "https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions",
            "https://python-rq.org/docs/jobs/#retrying-failed-jobs",
        ),
    ),
)

WEBHOOK_WORDS = ("webhook",)


@RULE.on(ast.Call, callees=(*OUTBOUND_CALLS, *HTTP_VERBS, *(path[-1] for path in LLM_CALL_PATHS)))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    function = ctx.enclosing_function(call)
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return
    kind = request_reachable(function, ctx)
    webhook = any(word in function.name.lower() for word in WEBHOOK_WORDS)
    if kind != "task" and not webhook:
        return
    # Only then what the call is: following `self.client` to its constructor walks the whole class.
    label = _outbound_label(call, ctx)
    if label is None:
        return
    if _retry_in_module(ctx) or _inside_retry_loop(call, ctx) or _task_retries(function, ctx) \
            or _runs_on_schedule(function):
        return
    if ctx.memo(("gap409-first", id(function)), lambda: call) is not call:
        return
    where = f"webhook sender {function.name}()" if kind != "task" else f"task code {function.name}()"
    message = (f"{label} in {where} has no retry: one timeout or 503 loses this work for good; add"
               " autoretry_for=(...)/retry_backoff=True/max_retries=N to the task, or wrap the call with tenacity")
    qualname = function_qualname(function, ctx) if kind == "task" else None
    if qualname is None:
        yield ctx.finding(RULE, call, message)
        return
    # An RQ job may get its retries where it is enqueued (`queue.enqueue(job, retry=Retry(max=3))`), in any module.
    spot = ctx.finding(RULE, call, message)
    ctx.record("task-without-retry", {"fn": qualname, "name": _declared_name(function, ctx), "line": spot.line,
                                      "col": spot.column, "end_line": spot.end_line, "end_col": spot.end_column,
                                      "message": message})


def _declared_name(function: FunctionNode, ctx: ModuleContext) -> str | None:
    """`@app.task(name="cache-warmup")`: the name a beat schedule refers to the task by."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and decorator_kind(decorator, ctx) == "task":
            keyword = keyword_value(decorator, ("name",))
            if keyword is not None and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                return keyword.value.value
    return None


ENQUEUE_METHODS = frozenset({"enqueue", "enqueue_call", "enqueue_in", "enqueue_at", "delay", "apply_async",
                             "schedule", "enqueue_job"})


@RULE.on(ast.Call, callees=ENQUEUE_METHODS)
def record_enqueue_with_retry(call: ast.Call, ctx: ModuleContext) -> None:
    """`queue.enqueue(send_report, ..., retry=Retry(max=3))`: that job retries, whatever its own code says."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr in ENQUEUE_METHODS):
        return
    if keyword_value(call, ("retry", "retries", "max_retries")) is None and not _enqueued_on_schedule(call, ctx):
        return
    target = call.args[0] if call.args else getattr(keyword_value(call, ("func", "f")), "value", None)
    if call.func.attr in ("delay", "apply_async"):
        target = call.func.value  # `send_report.delay(..., retry=...)`
    for job in _loop_members(target, ctx) or [target]:
        _record_job(job, "enqueued-with-retry", ctx)


def _record_job(target: ast.AST | None, fact: str, ctx: ModuleContext) -> None:
    if isinstance(target, (ast.Name, ast.Attribute)):
        qualified = ctx.qualified_name(target)
        if qualified is None and isinstance(target, ast.Name) and target.id in ctx.module_names:
            module = ctx.module_name or ctx.path.rsplit("/", 1)[-1].removesuffix(".py")
            qualified = f"{module}.{target.id}"
        if qualified:
            ctx.record(fact, qualified)


def _loop_members(target: ast.AST | None, ctx: ModuleContext) -> list[ast.AST]:
    """`for name, task in {"ecb": fetch_ecb, "cnb": fetch_cnb}.items(): task.apply_async()`: the jobs a loop
    variable takes, when it walks a literal dict, list or tuple (directly or through a local name)."""
    if not isinstance(target, ast.Name):
        return []
    function = ctx.enclosing_function(target)
    if function is None:
        return []
    loops = ctx.bindings(function).get(target.id) or []
    members: list[ast.AST] = []
    for loop in loops:
        if not isinstance(loop, (ast.For, ast.AsyncFor)):
            return []
        iterable, part = loop.iter, None
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and not iterable.args \
                and iterable.func.attr in ("items", "values", "keys"):
            part = iterable.func.attr
            iterable = iterable.func.value
        if isinstance(iterable, ast.Name):
            bound = ctx.bindings(function).get(iterable.id) or ctx.bindings(ctx.tree).get(iterable.id) or []
            iterable = bound[0].value if len(bound) == 1 and isinstance(bound[0], ast.Assign) else iterable
        if isinstance(iterable, ast.Dict):
            pairs = list(zip(iterable.keys, iterable.values))
            if part == "items" and isinstance(loop.target, ast.Tuple) and len(loop.target.elts) == 2:
                slot = 0 if _is_name(loop.target.elts[0], target.id) else 1
                members.extend(pair[slot] for pair in pairs if pair[slot] is not None)
            elif part == "values":
                members.extend(iterable.values)
            elif part in ("keys", None):
                members.extend(k for k in iterable.keys if k is not None)
        elif isinstance(iterable, (ast.List, ast.Tuple, ast.Set)) and _is_name(loop.target, target.id):
            members.extend(iterable.elts)
    return members


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


@RULE.on(ast.Dict)
def record_beat_entry(node: ast.Dict, ctx: ModuleContext) -> None:
    """`{"task": "reports.send_digest", "schedule": crontab(...)}`: a Celery beat entry runs the task on a
    schedule, so a failed run is tried again at the next tick."""
    if not ctx.memo(("beat-words",), lambda: "schedule" in ctx.text):
        return  # most modules never mention a schedule: their dicts are not beat entries
    keys = {k.value: v for k, v in zip(node.keys, node.values)
            if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    task = keys.get("task")
    if "schedule" in keys and isinstance(task, ast.Constant) and isinstance(task.value, str):
        ctx.record("scheduled-task", task.value)


@RULE.on(ast.Call)
def record_periodic_registration(call: ast.Call, ctx: ModuleContext) -> None:
    """`sender.add_periodic_task(3600, refresh.s())` and django-celery-beat's `PeriodicTask(task="app.refresh")`."""
    if not ctx.memo(("periodic-words",), lambda: "add_periodic_task" in ctx.text or "PeriodicTask" in ctx.text):
        return
    if isinstance(call.func, ast.Attribute) and call.func.attr == "add_periodic_task" and len(call.args) > 1:
        signature = call.args[1]
        if isinstance(signature, ast.Call) and isinstance(signature.func, ast.Attribute) \
                and signature.func.attr in ("s", "si", "signature"):
            _record_job(signature.func.value, "scheduled-task", ctx)
        return
    spelled = ctx.dotted_name(call.func) or ""
    keyword = keyword_value(call, ("task",))
    if "PeriodicTask" in spelled and keyword is not None and isinstance(keyword.value, ast.Constant) \
            and isinstance(keyword.value.value, str):
        ctx.record("scheduled-task", keyword.value.value)


# In a decorator's text: `@periodic_task(...)`, `@receiver(periodic_task)`, `@huey.db_periodic_task(crontab(...))`,
# `@scheduler.scheduled_job("cron", ...)`. Not a bare "schedule", which task names use (`send_scheduled_report`).
PERIODIC_WORDS = ("periodic", "crontab", "scheduled_job")


def _enqueued_on_schedule(call: ast.Call, ctx: ModuleContext) -> bool:
    """Enqueued from a function run on a schedule (`@receiver(periodic_task)`, `@periodic_task(...)`,
    `@scheduler.scheduled_job(...)`): a failed run is simply tried again at the next tick, so nothing is lost."""
    function = ctx.enclosing_function(call)
    return isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and _runs_on_schedule(function)


def _runs_on_schedule(function: FunctionNode) -> bool:
    return any(word in ast.unparse(d).lower() for d in function.decorator_list for word in PERIODIC_WORDS)


@RULE.on_project
def unless_enqueued_with_retry(index: ProjectIndex) -> Iterator[Finding]:
    retried = {data for _, data in index.facts("enqueued-with-retry")}
    retried.update(data for _, data in index.facts("scheduled-task"))
    for path, data in index.facts("task-without-retry"):
        if data["fn"] not in retried and data.get("name") not in retried:
            yield index.finding(RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],
                                data["message"])


def _outbound_label(call: ast.Call, ctx: ModuleContext) -> str | None:
    name = ctx.qualified_name(call.func)
    if name in OUTBOUND_CALLS:
        return f"{name}()"
    if not isinstance(call.func, ast.Attribute):
        return None
    chain: list[str] = []
    expr: ast.AST = call.func
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
        path = tuple(reversed(chain))
        if (len(path) == 1 and path[0] in HTTP_VERBS) or path in LLM_CALL_PATHS:
            built = constructed_by(expr, ctx)
            if built and built[0] in OUTBOUND_CONSTRUCTED:
                return f"{built[0]}().{'.'.join(path)}()"
    return None


def _retry_in_module(ctx: ModuleContext) -> bool:
    def compute() -> bool:
        return any(q in RETRY_MARKERS or q.startswith(("tenacity", "backoff", "stamina", "retrying"))
                   for q in ctx.imports.values())

    return ctx.memo(("retry-library-imported",), compute)


def _inside_retry_loop(call: ast.Call, ctx: ModuleContext) -> bool:
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if retry_loop(ancestor, ctx) is not None:
            return True
    return False


def _task_retries(function: FunctionNode, ctx: ModuleContext) -> bool:
    """The task (or a task of this module that calls this helper) declares retries or calls `self.retry`."""
    if scope_kind(function, ctx) == "task":
        tasks = [function]
    else:
        tasks = [t for t in _tasks_in_module(ctx) if id(function) in _reached_from(t, ctx)]
    return any(_declares_retry(task, ctx) for task in tasks)


def _reached_from(task: FunctionNode, ctx: ModuleContext) -> set[int]:
    """Functions of this module the task calls, directly or through other functions: its retry covers them."""

    def compute() -> set[int]:
        seen: set[int] = set()
        work = [task]
        while work:
            for callee in _callees(work.pop(), ctx):
                if id(callee) not in seen:
                    seen.add(id(callee))
                    work.append(callee)
        return seen

    return ctx.memo(("gap409-reached-from", id(task)), compute)


def _tasks_in_module(ctx: ModuleContext) -> list[FunctionNode]:
    return ctx.memo(("task-functions",), lambda: [
        n for n in ctx.nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(decorator_kind(d, ctx) == "task" for d in n.decorator_list)])


def _declares_retry(task: FunctionNode, ctx: ModuleContext) -> bool:
    if _runs_on_schedule(task):
        return True  # the next scheduled run is the retry
    for decorator in task.decorator_list:
        if decorator_kind(decorator, ctx) != "task":
            continue
        target = ctx.qualified_name(decorator_target(decorator)) or ctx.dotted_name(decorator_target(decorator)) or ""
        if target.startswith("dramatiq") or target.endswith(".actor"):
            if not (isinstance(decorator, ast.Call) and _max_retries_zero(decorator)):
                return True  # Dramatiq's Retries middleware retries 20 times by default
        if isinstance(decorator, ast.Call) and (keyword_value(decorator, CELERY_RETRY_KEYWORDS | {"retry"})
                                                or any(k.arg is None for k in decorator.keywords)):
            return True
    for node in ast.walk(task):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "retry":
            return True
    return False


def _max_retries_zero(decorator: ast.Call) -> bool:
    keyword = keyword_value(decorator, ("max_retries",))
    return keyword is not None and isinstance(keyword.value, ast.Constant) and keyword.value.value == 0
