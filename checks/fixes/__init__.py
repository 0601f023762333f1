"""Fixes, registered by rule id with `@fixer("GAP502", "safe")` (see `analyzer/fixes.py`), one module per family.

They live apart from the rule modules so that a rule and its fix can change independently; the registry's
"fix" column reads the table these modules fill. This package defines no rules: the rule loader imports it like
any other module under `checks/` and only the fixer table grows.

Helpers here edit LibCST call nodes the way a person would: a keyword added after the last argument, keeping a
multi-line call's layout and its trailing comma.
"""
from __future__ import annotations

import libcst as cst


def keyword_arg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def with_keyword(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """`call` with `name=value` added as its last argument."""
    new = cst.Arg(value=value, keyword=cst.Name(name),
                  equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                        whitespace_after=cst.SimpleWhitespace("")))
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        # `get(\n    url,\n)`: the new argument takes the trailing comma (and the line break before `)`), the old
        # last argument gets the separator its neighbours use
        separator = args[-2].comma if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else cst.Comma(
            whitespace_after=call.whitespace_before_args)
        args[-1] = last.with_changes(comma=separator)
        args.append(new.with_changes(comma=last.comma))
    else:
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(new)
    return call.with_changes(args=args)


def with_keyword_value(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """`call` with the value of its `name=` argument replaced."""
    return call.with_changes(args=[arg.with_changes(value=value) if arg.keyword is not None
                                   and arg.keyword.value == name else arg for arg in call.args])
