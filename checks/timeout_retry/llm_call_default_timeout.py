"""GAP405 llm-call-default-timeout: a request handler waits on an OpenAI/Anthropic call left on the 10-minute default."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..scopes import is_test_or_script, request_reachable
from .facts import (
    LLM_CONSTRUCTORS, LLM_DEFAULT, LLM_LEGACY_CALLS, LLM_MODULE_CLIENTS, constructed_by, has_splat,
    keyword_value, llm_call_split,
)

RULE = Rule(
    id="GAP405",
    skip_tests=True,  # every handler exits first on a test module or script
    name="llm-call-default-timeout",
    category="timeout-retry",
    severity="warning",
    precision="medium",
    cwe="CWE-400",
    summary="OpenAI/Anthropic client or call left on the SDK's 10-minute default timeout",
    docs=Docs(
        what=(
            "Flags OpenAI and Anthropic SDK clients (`OpenAI()`, `AsyncOpenAI()`, `Anthropic()`, Azure, Bedrock,"
            " Vertex) built without `timeout=` in service code, at the line that builds them: a module-level"
            " client (other modules import it), or one held in a local or `self.<attr>` that this module uses for"
            " a model call (`chat.completions.create`, `responses.create`, `messages.create`, `embeddings.create`"
            " ...) without a per-call `timeout=` or `with_options(timeout=...)`. Calls through the `openai`"
            " module's own client and the legacy `openai.ChatCompletion.create` have no client to fix, so they"
            " are reported at the call, in request-handling code. Aliases are resolved."
        ),
        why=(
            "Both SDKs default to a " + LLM_DEFAULT + ": a slow or overloaded model keeps the HTTP request open"
            " for up to half an hour. The user's browser or the load balancer gave up long before, but the worker"
            " stays busy, and a burst of slow completions takes every worker in the pool; a job waits as long"
            " before its own retry or deadline can act."
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
            "Clients built in a function and handed elsewhere without being used there, clients built with"
            " `**kwargs`, a timeout set through the environment or `openai.timeout = ...` in another module,"
            " LangChain/LlamaIndex wrappers, tests and scripts. Calls through the module client made from background"
            " tasks stay silent (they may legitimately wait long). Medium precision: a batch job or a long-poll"
            " endpoint may want the long default; say so with a suppression comment on the client."
        ),
        references=(
            "https://github.com/openai/openai-python#timeouts",
            "https://github.com/anthropics/anthropic-sdk-python#timeouts",
        ),
    ),
)


@RULE.on(ast.Call, callees=(*LLM_CONSTRUCTORS, "create", "parse", "stream", "generate"))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if is_test_or_script(ctx):
        return
    if ctx.qualified_name(call.func) in LLM_CONSTRUCTORS:
        yield from _client_without_timeout(call, ctx)
        return
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in ("create", "parse", "stream", "generate"):
        return
    if keyword_value(call, ("timeout", "request_timeout")) is not None or has_splat(call):
        return
    label = _module_client_call(call, ctx)
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


def _client_without_timeout(constructor: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    """A client built without `timeout=`: reported where it is built, once, for every call made through it."""
    if keyword_value(constructor, ("timeout",)) is not None or has_splat(constructor):
        return
    uses = _client_uses(ctx).get(id(constructor), [])
    if not uses:
        if not _module_level_binding(constructor, ctx):
            return  # built in a function and not used here: it is handed to code we cannot see
        used = " (a module-level client: every module that imports it calls with this limit)"
    else:
        first = uses[0]
        more = f" and {len(uses) - 1} more" if len(uses) > 1 else ""
        used = f" (used on line {first}{more})"
    name = ctx.qualified_name(constructor.func).rsplit(".", 1)[-1]
    yield ctx.finding(
        RULE, constructor,
        f"{name}() is built without timeout=: each call through it{used} waits up to {LLM_DEFAULT}, holding the"
        " request or job that made it; pass timeout=<seconds> (and max_retries=) here, and handle APITimeoutError",
    )


def _module_level_binding(constructor: ast.Call, ctx: ModuleContext) -> bool:
    parent = ctx.parent(constructor)
    return isinstance(parent, (ast.Assign, ast.AnnAssign)) and isinstance(ctx.parent(parent), ast.Module)


def _client_uses(ctx: ModuleContext) -> dict[int, list[int]]:
    """id(constructor call) -> lines of the model calls made through the client it built, in this module."""

    def compute() -> dict[int, list[int]]:
        table: dict[int, list[int]] = {}
        for node in ctx.nodes:
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) \
                    or node.func.attr not in ("create", "parse", "stream", "generate"):
                continue
            client = _client_of(node)
            if client is None:
                continue
            if isinstance(client, ast.Call) and isinstance(client.func, ast.Attribute) \
                    and client.func.attr == "with_options":
                if keyword_value(client, ("timeout",)) is not None or has_splat(client):
                    continue
                client = client.func.value
            if keyword_value(node, ("timeout", "request_timeout")) is not None or has_splat(node):
                continue
            built = constructed_by(client, ctx)
            if built and built[0] in LLM_CONSTRUCTORS:
                table.setdefault(id(built[1]), []).append(node.lineno)
        return table

    return ctx.memo(("llm-client-uses",), compute)


def _client_of(call: ast.Call) -> ast.AST | None:
    """The client expression before a known model-call path (`client` in `client.chat.completions.create`)."""
    split = llm_call_split(call)
    return split[1] if split else None


def _module_client_call(call: ast.Call, ctx: ModuleContext) -> str | None:
    """A label for a model call through the `openai` module's own client (or the legacy API), else None. Calls
    through a client built in this module are reported once, where the client is built."""
    qualified = ctx.qualified_name(call.func)
    if qualified in LLM_LEGACY_CALLS:
        return None if _module_timeout_set(ctx) else f"{qualified}()"
    client = _client_of(call)
    if client is None:
        return None
    if isinstance(client, ast.Call) and isinstance(client.func, ast.Attribute) and client.func.attr == "with_options":
        if keyword_value(client, ("timeout",)) is not None or has_splat(client):
            return None
        client = client.func.value
    if isinstance(client, ast.Name) and ctx.qualified_name(client) in LLM_MODULE_CLIENTS:
        attrs = ".".join(_call_path(call))
        return None if _module_timeout_set(ctx) else f"openai.{attrs}()"
    return None


def _call_path(call: ast.Call) -> list[str]:
    split = llm_call_split(call)
    return split[0] if split else []


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
