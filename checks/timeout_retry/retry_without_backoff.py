"""GAP407 retry-without-backoff: a bounded retry loop that retries at once or at a fixed pace."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import is_test_or_script
from .retry_loops import only_conflicts, retry_loop

RULE = Rule(
    id="GAP407",
    name="retry-without-backoff",
    category="timeout-retry",
    severity="warning",
    # Medium: measured on mlflow, the remaining immediate retries were write-conflict retries under a broad
    # `except Exception` that the conflict filter cannot see. On litellm the rest were a hung handshake retried at
    # once because each attempt is already bounded by its own open_timeout, and an interactive device-code login.
    precision="medium",
    cwe="CWE-400",
    summary="Retry loop that retries at once, with no pause",
    docs=Docs(
        what=(
            "Flags a bounded hand-written retry loop - `for _ in range(n)`, `while attempts < n`, or `while True`"
            " with a counter or deadline - that tries an operation, leaves on success and goes round again on"
            " failure, when it never pauses between attempts (no `sleep`, no `event.wait(delay)`). A fixed pause is"
            " GAP410; unbounded loops are GAP406."
        ),
        why=(
            "Retrying at once turns one failing call into n failing calls within milliseconds, all inside the"
            " outage window, so the retries almost never help and they multiply the load on a service that is"
            " already struggling. Exponential backoff with jitter spreads the load and outlasts short outages."
        ),
        example=(
            "for _ in range(3):\n    try:\n        return charge(order)\n    except PaymentGatewayError:\n"
            "        continue"
        ),
        instead=(
            "for attempt in range(3):\n    try:\n        return charge(order)\n    except PaymentGatewayError:\n"
            "        if attempt == 2:\n            raise\n        time.sleep(min(30, 2 ** attempt) + random.random())"
        ),
        not_caught=(
            "Loops over alternatives (`for host in hosts:` - each round tries something else) or over changing data"
            " (a name the `try` reads is rebound or consumed each round), immediate retries of write conflicts"
            " (`IntegrityError`, `FileExistsError`, stale rows: the optimistic-concurrency idiom), delays computed by"
            " a helper we cannot see into (a name containing `backoff` counts as growing), retries spread across"
            " functions, tests and `__main__` scripts. A pause decided by a helper the handler calls counts: a"
            " function of this module that sleeps, or any non-logging call handed the attempt number"
            " (`await self.on_failure(e, attempt=i)`). Short loops (2-3 tries, e.g. to the deployment's own SMTP relay)"
            " are still reported on purpose: attempts milliseconds apart land in the same blip, and a one-line"
            " `sleep` fixes it; GAP410 does leave short fixed-delay loops alone. Precision is medium for that reason: a reviewer may well accept two quick tries to a local service."
        ),
        references=(
            "https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/",
            "https://tenacity.readthedocs.io/en/latest/#waiting-before-retrying",
        ),
    ),
)


@RULE.on(ast.While, ast.For, ast.AsyncFor)
def check(loop: ast.AST, ctx: ModuleContext) -> Iterator[Finding]:
    found = retry_loop(loop, ctx)
    if found is None or not found.bounded or is_test_or_script(ctx):
        return
    if found.sleeps or only_conflicts(found):
        return
    yield ctx.finding(
        RULE, loop,
        "this retry loop retries immediately with no pause: every attempt lands inside the same outage and"
        " multiplies the load on the failing service; sleep with exponential backoff and jitter"
        " (e.g. 2 ** attempt + random()) or use tenacity wait_random_exponential",
        end_node=loop.test if isinstance(loop, ast.While) else loop.iter,  # type: ignore[attr-defined]
    )
