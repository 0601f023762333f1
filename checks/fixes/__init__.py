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
    return with_argument(call, cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))))


def with_argument(call: cst.Call, new: cst.Arg) -> cst.Call:
    """`call` with `new` added after its last argument, in the call's layout."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    blank = isinstance(last.whitespace_after_arg, cst.SimpleWhitespace) and not last.whitespace_after_arg.value
    if not isinstance(last.comma, cst.Comma) and not blank:
        # `f(\n    x\n)`: the line break before `)` moves behind the new argument
        new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        last = last.with_changes(whitespace_after_arg=cst.SimpleWhitespace(""))
    between = args[-2].comma.whitespace_after if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) \
        else call.whitespace_before_args  # what separates the arguments: a space, or a line break and indent
    if not isinstance(last.comma, cst.Comma):
        separator = between.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]) \
            if isinstance(between, cst.ParenthesizedWhitespace) else cst.SimpleWhitespace(" ")
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=separator))
        args.append(new)
        return call.with_changes(args=args)
    trailing = last.comma  # `get(url,)`, or a multi-line call whose last argument ends with a comma
    after = trailing.whitespace_after
    if isinstance(after, cst.ParenthesizedWhitespace):
        # the old last argument keeps its comma and comment, the new one goes on its own line before `)`
        indent = between.last_line if isinstance(between, cst.ParenthesizedWhitespace) else after.last_line
        args[-1] = last.with_changes(comma=trailing.with_changes(whitespace_after=after.with_changes(last_line=indent)))
        args.append(new.with_changes(comma=trailing.with_changes(
            whitespace_after=after.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]))))
    else:
        args[-1] = last.with_changes(comma=trailing.with_changes(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(new.with_changes(comma=trailing))
    return call.with_changes(args=args)


def with_keyword_value(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """`call` with the value of its `name=` argument replaced."""
    return call.with_changes(args=[arg.with_changes(value=value) if arg.keyword is not None
                                   and arg.keyword.value == name else arg for arg in call.args])
