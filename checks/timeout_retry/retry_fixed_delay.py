"""GAP410 retry-fixed-delay: a bounded retry loop that always waits the same time (no growth, no jitter)."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import is_test_or_script
from .retry_loops import retry_loop, sleep_grows

RULE = Rule(
    id="GAP410",
    name="retry-fixed-delay",
    category="timeout-retry",
    severity="note",
    # Medium: readiness polls (a sandbox endpoint answering 404 until it is up, a cache another pod fills, an
    # access policy propagating) share the shape of a fixed-delay retry; see `what` below.
    precision="medium",
    cwe="CWE-400",
    summary="Retry loop that waits a fixed delay between attempts (no backoff, no jitter)",
    docs=Docs(
        what=(
            "Flags a bounded hand-written retry loop (`for _ in range(n)`, `while attempts < n`, `while True` with"
            " a counter or deadline) that pauses between attempts, but always for the same time: the delay does"
            " not depend on the attempt number, is not rebound in the loop, has no `*`/`**` growth and no random"
            " jitter. Split out of GAP407 and kept at note/medium precision because the same shape is also used to"
            " poll for readiness (a local server coming up, a file appearing), where a fixed interval is fine."
        ),
        why=(
            "Fixed delays synchronise clients: after an outage every worker retries in lock-step, and the"
            " recovering service is knocked over again (a thundering herd). A short fixed delay also gives up"
            " within seconds on outages that last a minute."
        ),
        example=(
            "for _ in range(5):\n    try:\n        return client.post(\"/events\", json=event)\n"
            "    except httpx.TransportError:\n        time.sleep(1)"
        ),
        instead=(
            "for attempt in range(5):\n    try:\n        return client.post(\"/events\", json=event)\n"
            "    except httpx.TransportError:\n        time.sleep(min(30, 2 ** attempt) + random.random())"
        ),
        not_caught=(
            "Loops of at most 3 attempts with a literal bound (`for _ in range(3)`: a retry or two to the"
            " deployment's own relay or a local socket cannot form a herd; GAP407 still reports such loops when they"
            " do not pause at all), delays computed by a helper (a callee whose name contains `backoff` counts as"
            " growing, as does a helper in the handler handed the attempt number), delays read"
            " from a variable rebound in the loop (assumed to grow), retry loops without any pause (GAP407),"
            " unbounded loops (GAP406), tests and `__main__` scripts. Precision is medium: a fixed delay is harmless when one client retries (a CLI, a single scheduler), which the rule cannot tell from a fleet of workers retrying in step."
        ),
        references=("https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/",),
    ),
)

# At most this many attempts with a fixed pause is a "try again once or twice" (the deployment's own SMTP relay, a
# local socket): the lock-step herd the message describes needs many rounds, so such loops are left alone.
FEW_ATTEMPTS = 3


def _few_attempts(loop: ast.AST, ctx: ModuleContext) -> bool:
    """`for _ in range(3)` / `range(1, 4)`, the bound a literal (or a name bound once to one) of at most 3."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)) or not isinstance(loop.iter, ast.Call):
        return False
    bounds = []
    for arg in loop.iter.args[:2]:
        value = ctx.value_of(arg) if isinstance(arg, ast.Name) else arg
        if not (isinstance(value, ast.Constant) and type(value.value) is int):
            return False
        bounds.append(value.value)
    if not bounds:
        return False
    start, stop = (0, bounds[0]) if len(bounds) == 1 else bounds
    return stop - start <= FEW_ATTEMPTS


@RULE.on(ast.While, ast.For, ast.AsyncFor)
def check(loop: ast.AST, ctx: ModuleContext) -> Iterator[Finding]:
    found = retry_loop(loop, ctx)
    if found is None or not found.bounded or not found.sleeps or is_test_or_script(ctx):
        return
    if sleep_grows(found, ctx) or _few_attempts(found.loop, ctx):
        return
    yield ctx.finding(
        RULE, loop,
        "this retry loop waits the same fixed delay before every attempt: clients retry in lock-step after an"
        " outage and hit the recovering service together; grow the delay per attempt and add jitter"
        " (min(cap, 2 ** attempt) + random())",
        end_node=loop.test if isinstance(loop, ast.While) else loop.iter,  # type: ignore[attr-defined]
    )
