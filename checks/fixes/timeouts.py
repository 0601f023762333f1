"""Fixes for HTTP calls that can wait forever: GAP401 (requests without `timeout=`) and GAP402 (`timeout=None`,
urllib/http.client without a timeout). The value is `fix-timeout` from the config (seconds, default 10)."""
from __future__ import annotations

import ast

import libcst as cst

from ...analyzer.fixes import FixContext, Rewrite, fixer
from ..timeout_retry.facts import (
    HTTPX_CLIENTS, HTTPX_FUNCTIONS, REQUESTS_FUNCTIONS, REQUESTS_SESSIONS, STDLIB_HTTP, constructed_by, is_none,
)
from . import keyword_arg, with_keyword, with_keyword_value


def _seconds(fc: FixContext) -> cst.BaseExpression:
    value = fc.fix_timeout
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return cst.parse_expression(text)


def _call(fc: FixContext) -> cst.Call | None:
    node = fc.cst_for_finding(cst.Call)
    if node is None:  # a Semgrep span may end elsewhere than the call's `)`: the outermost call starting there
        node = fc.cst_node(cst.Call, fc.finding.line, fc.finding.column)
    if not isinstance(node, cst.Call) or any(arg.star == "**" for arg in node.args):
        return None
    return node


@fixer("GAP401", "unsafe")
def add_request_timeout(fc: FixContext) -> Rewrite | None:
    """`requests.get(url)` -> `requests.get(url, timeout=10)` (the `fix-timeout` setting, 10 s by default).
    Unsafe: a call that used to wait now raises `requests.Timeout` after that long, which the caller may not
    handle."""
    node = _call(fc)
    if node is None or keyword_arg(node, "timeout") is not None:
        return None
    return Rewrite(f"Add `timeout={fc.code(_seconds(fc))}`", ((node, with_keyword(node, "timeout", _seconds(fc))),))


@fixer("GAP402", "unsafe")
def bound_http_timeout(fc: FixContext) -> Rewrite | None:
    """`timeout=None` (or `httpx.Timeout(None)`) -> `timeout=10` (the `fix-timeout` setting) on requests/httpx calls
    and clients, and a missing
    timeout on `urllib.request.urlopen` / `http.client.HTTP(S)Connection` added. aiohttp sessions are left alone
    (their timeout is a `ClientTimeout` object). Unsafe: the call can now time out."""
    call = fc.ast_for_finding(ast.Call)
    node = _call(fc)
    if not isinstance(call, ast.Call) or node is None:
        return None
    name = fc.ast_ctx.qualified_name(call.func) or ""
    existing = keyword_arg(node, "timeout")
    seconds = _seconds(fc)
    if existing is None:
        if name in STDLIB_HTTP:
            return Rewrite(f"Add `timeout={fc.code(seconds)}`", ((node, with_keyword(node, "timeout", seconds)),))
        return None
    if name.startswith("aiohttp") or not _switches_timeout_off(call, fc):
        return None
    if not (name in REQUESTS_FUNCTIONS or name in HTTPX_FUNCTIONS or name in HTTPX_CLIENTS):
        built = constructed_by(call.func.value, fc.ast_ctx) if isinstance(call.func, ast.Attribute) else None
        if not built or built[0] not in REQUESTS_SESSIONS | HTTPX_CLIENTS:
            return None  # an aiohttp session's request: its timeout is a ClientTimeout, not seconds
    return Rewrite(f"Set `timeout={fc.code(seconds)}` instead of no limit",
                   ((node, with_keyword_value(node, "timeout", seconds)),))


def _switches_timeout_off(call: ast.Call, fc: FixContext) -> bool:
    """The `timeout=` written here is `None` or `httpx.Timeout(None)` itself (a variable is left alone: its value
    may be set elsewhere)."""
    value = next(k.value for k in call.keywords if k.arg == "timeout")
    if is_none(value):
        return True
    return isinstance(value, ast.Call) and fc.ast_ctx.qualified_name(value.func) == "httpx.Timeout" and \
        len(value.args) == 1 and is_none(value.args[0]) and not value.keywords
