"""GAP406 unbounded-retry-loop: `while True` around a call whose failure handler just goes round again."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..no_logging.facts import is_log_call, is_report_call
from ..scopes import is_test_or_script
from .retry_loops import retry_loop

RULE = Rule(
    id="GAP406",
    name="unbounded-retry-loop",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-835",
    summary="Retry loop with no attempt limit or deadline",
    docs=Docs(
        what=(
            "Flags a `while True:` loop whose body tries an operation, leaves the loop when it succeeds"
            " (`return`/`break`), and on failure only logs, sleeps or `continue`s - with no attempt counter, no"
            " deadline check, and no `raise`/`return`/`break` anywhere on the failure path."
        ),
        why=(
            "When the failure is not transient - a revoked credential, a deleted resource, a schema change, a"
            " bug - the loop retries forever: the request never answers, the task never finishes or frees its"
            " slot, and without a sleep it also hammers the failing service and fills the logs. Unless the"
            " handler logs each failure (the message then says so), nobody is told, because the error never leaves"
            " the loop."
        ),
        example=(
            "while True:\n    try:\n        return requests.post(url, json=event, timeout=5)\n"
            "    except requests.RequestException:\n        time.sleep(1)"
        ),
        instead=(
            "for attempt in range(5):\n    try:\n        return requests.post(url, json=event, timeout=5)\n"
            "    except requests.RequestException:\n        if attempt == 4:\n            raise\n"
            "        time.sleep(2 ** attempt + random.random())\n\n# or: @tenacity.retry(stop=stop_after_attempt(5),"
            " wait=wait_random_exponential())"
        ),
        not_caught=(
            "Worker and consumer loops that never leave on success (they are meant to run forever), loops waiting"
            " for an item (`queue.Empty`, `StopIteration`) or for user input, loops bounded by their condition"
            " (`while attempts < 5`), handlers that call a function which may raise, tests and `__main__` scripts."
        ),
        references=("https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/",),
    ),
)


@RULE.on(ast.While)
def check(loop: ast.While, ctx: ModuleContext) -> Iterator[Finding]:
    found = retry_loop(loop, ctx)
    if found is None or found.bounded or is_test_or_script(ctx):
        return
    pause = "" if found.sleeps else " and with no pause between attempts"
    told = any(isinstance(n, ast.Call) and (is_log_call(n, ctx) or is_report_call(n, ctx))
               for handler in found.retrying for n in ast.walk(handler))
    # A handler that logs or reports each failure makes it visible; the caller still never gets it.
    fate = ("each failure is logged, but one that is not transient is never handed to the caller, which waits for"
            " good" if told else "a failure that is not transient never surfaces and the caller hangs")
    yield ctx.finding(
        RULE, loop,
        f"this loop retries forever{pause}: {fate}; cap the attempts (or a deadline) and re-raise the last error,"
        " or use tenacity with stop=",
        end_node=loop.test,
    )
