"""GAP408 retry-decorator-without-stop: tenacity/retrying/backoff/retry configured to retry forever."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from .facts import NEVER_STOP, RETRY_STOPS, has_splat, keyword_value

RULE = Rule(
    id="GAP408",
    name="retry-decorator-without-stop",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-835",
    summary="Retry decorator or retrier that never stops",
    docs=Docs(
        what=(
            "Flags retry helpers configured without a limit: tenacity `@retry` (bare, or called without `stop=`,"
            " or with `stop=stop_never`) and `Retrying`/`AsyncRetrying` without `stop=`; `retrying.retry` without"
            " `stop_max_attempt_number`/`stop_max_delay`; `backoff.on_exception`/`on_predicate` without"
            " `max_tries`/`max_time`; `retry.retry` (the `retry` package) without `tries`. Aliases resolved."
        ),
        why=(
            "Library defaults: tenacity's default stop is `stop_never`; retrying's `@retry` never stops unless a"
            " stop is given; backoff's `max_tries` and `max_time` default to None (no limit); the `retry`"
            " package's `tries=-1` means forever. A permanent error - bad credentials, a 404, a bug - then retries"
            " until the process is killed, holding the request or the task and hiding the error."
        ),
        example=(
            "from tenacity import retry, wait_exponential\n\n@retry(wait=wait_exponential())\n"
            "def fetch_rates():\n    return client.get(\"/rates\").json()"
        ),
        instead=(
            "from tenacity import retry, stop_after_attempt, wait_exponential\n\n"
            "@retry(stop=stop_after_attempt(5), wait=wait_exponential(max=30), reraise=True)\n"
            "def fetch_rates():\n    return client.get(\"/rates\").json()"
        ),
        not_caught=(
            "Stops passed through `**kwargs` or a shared retry configuration object, `retry_if_*` conditions that"
            " happen to end the retries, and custom retry helpers of the project."
        ),
        references=(
            "https://tenacity.readthedocs.io/en/latest/#stopping",
            "https://github.com/litl/backoff#backoffon_exception",
        ),
    ),
)

# The `retry` package takes `tries` as the second positional argument.
POSITIONAL_STOPS = {"retry.retry": 1, "retry.api.retry": 1}


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def check_bare_decorator(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> Iterator[Finding]:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            continue
        name = ctx.qualified_name(decorator)
        if name in RETRY_STOPS and not name.startswith("backoff."):
            yield ctx.finding(
                RULE, decorator,
                f"bare @{name} retries {function.name}() forever: a permanent error never surfaces and the caller"
                " hangs; pass a stop (tenacity stop=stop_after_attempt(5) | stop_after_delay(30))",
            )


@RULE.on(ast.Call, callees=RETRY_STOPS)
def check_call(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    name = ctx.qualified_name(call.func)
    if name not in RETRY_STOPS or has_splat(call):
        return
    stops = RETRY_STOPS[name]
    keyword = keyword_value(call, stops)
    if keyword is not None:
        if ctx.qualified_name(keyword.value) not in NEVER_STOP:
            return
    elif len(call.args) > POSITIONAL_STOPS.get(name, len(call.args) + 1):
        return
    needed = " or ".join(f"{s}=" for s in stops[:2])
    yield ctx.finding(
        RULE, call,
        f"{name}() has no {needed} limit and retries forever: a permanent error never surfaces and the caller"
        f" hangs; pass {stops[0]}=",
    )
