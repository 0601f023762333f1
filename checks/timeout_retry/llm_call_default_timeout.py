"""GAP405 llm-call-default-timeout: a request handler waits on an OpenAI/Anthropic call left on the 10-minute default."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import request_reachable
from .facts import (
    LLM_CALL_PATHS, LLM_CONSTRUCTORS, LLM_DEFAULT, LLM_LEGACY_CALLS, LLM_MODULE_CLIENTS, constructed_by, has_splat,
    keyword_value,
)

RULE = Rule(
    id="GAP405",
    name="llm-call-default-timeout",
    category="timeout-retry",
    severity="warning",
    precision="medium",
    cwe="CWE-400",
    summary="Request handler waits on an LLM SDK call with the 10-minute default timeout",
    docs=Docs(
        what=(
            "Flags OpenAI and Anthropic SDK calls that wait on the model - `chat.completions.create`,"
            " `responses.create`, `messages.create`, `embeddings.create` ... and the legacy"
            " `openai.ChatCompletion.create` - made from request-handling code (routes, views, view methods and"
            " same-module functions they call) when neither the call nor the client passes `timeout=`. The"
            " client is followed through locals, module variables and `self.<attr>`, and"
            " `client.with_options(timeout=...)` counts as set."
        ),
        why=(
            "Both SDKs default to a " + LLM_DEFAULT + ": a slow or overloaded model keeps the HTTP request open"
            " for up to half an hour. The user's browser or the load balancer gave up long before, but the worker"
            " stays busy, and a burst of slow completions takes every worker in the pool."
        ),
        example=(
            "client = OpenAI()\n\n@app.post(\"/summarize\")\ndef summarize():\n"
            "    return client.chat.completions.create(model=\"gpt-4o-mini\", messages=msgs)"
        ),
        instead=(
            "client = OpenAI(timeout=20.0, max_retries=1)\n\n@app.post(\"/summarize\")\ndef summarize():\n"
            "    return client.chat.completions.create(model=\"gpt-4o-mini\", messages=msgs)"
        ),
        not_caught=(
            "Background tasks (they may legitimately wait long), clients built elsewhere and passed in, a timeout"
            " set through environment or `openai.timeout = ...` in another module, LangChain/LlamaIndex wrappers,"
            " and streaming calls whose consumer enforces its own deadline. Medium precision: a handler behind an"
            " asynchronous queue or a long-poll endpoint may want the long default."
        ),
        references=(
            "https://github.com/openai/openai-python#timeouts",
            "https://github.com/anthropics/anthropic-sdk-python#timeouts",
        ),
    ),
)


@RULE.on(ast.Call)
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in ("create", "parse", "stream", "generate"):
        return
    if keyword_value(call, ("timeout", "request_timeout")) is not None or has_splat(call):
        return
    label = _unbounded_llm_call(call, ctx)
    if label is None:
        return
    kind = request_reachable(ctx.enclosing_function(call), ctx)
    if kind is None or kind == "task":
        return
    yield ctx.finding(
        RULE, call,
        f"{label} waits up to {LLM_DEFAULT} while this request handler holds its worker; set timeout= on the client"
        " or the call (and handle openai/anthropic APITimeoutError)",
    )


def _unbounded_llm_call(call: ast.Call, ctx: ModuleContext) -> str | None:
    """A label for the call when it is an LLM call whose client sets no timeout, else None."""
    qualified = ctx.qualified_name(call.func)
    if qualified in LLM_LEGACY_CALLS:
        return None if _module_timeout_set(ctx) else f"{qualified}()"
    chain: list[str] = []
    expr: ast.AST = call.func
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
    chain.reverse()
    # The longest known call path at the end of the chain; what comes before it is the client.
    split = next((i for i in range(len(chain)) if tuple(chain[i:]) in LLM_CALL_PATHS), None)
    if split is None:
        return None
    attrs = ".".join(chain[split:])
    client: ast.AST = call.func
    for _ in chain[split:]:
        client = client.value  # type: ignore[attr-defined]
    if isinstance(client, ast.Call) and isinstance(client.func, ast.Attribute) and client.func.attr == "with_options":
        if keyword_value(client, ("timeout",)) is not None or has_splat(client):
            return None
        client = client.func.value
    if isinstance(client, ast.Name) and ctx.qualified_name(client) in LLM_MODULE_CLIENTS:
        return None if _module_timeout_set(ctx) else f"openai.{attrs}()"
    built = constructed_by(client, ctx)
    if not built or built[0] not in LLM_CONSTRUCTORS:
        return None
    if keyword_value(built[1], ("timeout",)) is not None or has_splat(built[1]):
        return None
    return f"{built[0].rsplit('.', 1)[-1]}().{attrs}()"


def _module_timeout_set(ctx: ModuleContext) -> bool:
    """`openai.timeout = 20` (module client, v1) or `openai.request_timeout` anywhere in the file."""

    def compute() -> bool:
        for node in ctx.nodes:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr in ("timeout", "request_timeout") \
                            and ctx.qualified_name(target.value) in LLM_MODULE_CLIENTS:
                        return True
        return False

    return ctx.memo(("openai-module-timeout",), compute)
