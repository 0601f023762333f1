"""Inline suppressions: `# gapcheck: ignore[GAP501, GAP401]` or a bare `# gapcheck: ignore`.

A suppression comment applies to findings that start on its line. When it sits on a line of a multi-line
statement (for example after the closing parenthesis of a call that spans lines, or on an `except ...:` line),
it applies to every line of that simple statement or clause header. Finding real comments, and the statement
each belongs to, is what LibCST is for here: it keeps comments that `ast` throws away, and the tokenizer alone
does not know statements. It is paid for only by files that contain the marker at all.
"""
from __future__ import annotations

import re

MARKER = "gapcheck:"
ALL = "*"
_DIRECTIVE = re.compile(r"#\s*gapcheck:\s*ignore(?:\[(?P<ids>[^\]]*)\])?", re.IGNORECASE)

Suppressions = dict[int, list[str]]  # line -> rule ids (or ["*"]), JSON-friendly for the cache


def _parse_directive(comment: str) -> list[str] | None:
    match = _DIRECTIVE.search(comment)
    if not match:
        return None
    ids = match.group("ids")
    if ids is None:
        return [ALL]
    parsed = sorted({part.strip().upper() for part in ids.split(",") if part.strip()})
    return parsed or [ALL]


def collect(text: str) -> Suppressions:
    if MARKER not in text:
        return {}
    try:
        return _collect_with_libcst(text)
    except Exception:  # LibCST cannot parse everything ast can (or the reverse); fall back to tokens
        return _collect_with_tokens(text)


def _collect_with_libcst(text: str) -> Suppressions:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    module = cst.parse_module(text)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    result: Suppressions = {}

    def add(lines: range, ids: list[str]) -> None:
        for line in lines:
            merged = sorted(set(result.get(line, [])) | set(ids))
            result[line] = [ALL] if ALL in merged else merged

    class Visitor(cst.CSTVisitor):
        def __init__(self) -> None:
            self.stmt_stack: list[cst.CSTNode] = []

        def _enter(self, node: cst.CSTNode) -> None:
            self.stmt_stack.append(node)

        def _leave(self, node: cst.CSTNode) -> None:
            self.stmt_stack.pop()

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            self._enter(node)

        def leave_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            self._leave(node)

        def visit_Comment(self, node: cst.Comment) -> None:
            ids = _parse_directive(node.value)
            if ids is None:
                return
            line = positions[node].start.line
            span = range(line, line + 1)
            if self.stmt_stack:
                pos = positions[self.stmt_stack[-1]]
                if pos.start.line <= line <= pos.end.line:
                    span = range(pos.start.line, pos.end.line + 1)
            add(span, ids)

    wrapper.visit(Visitor())
    return result


def _collect_with_tokens(text: str) -> Suppressions:
    import io
    import tokenize

    result: Suppressions = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                ids = _parse_directive(token.string)
                if ids is not None:
                    result[token.start[0]] = ids
    except (tokenize.TokenError, SyntaxError):
        pass
    return result


def directive(rule_ids: list[str]) -> str:
    """The comment that suppresses these rules on its line (what an editor's quick fix inserts)."""
    return f"# gapcheck: ignore[{', '.join(rule_ids)}]"


def with_rule_added(comment: str, rule_id: str) -> str | None:
    """`comment` with `rule_id` added to the list of its ignore directive, keeping its other text; None when it
    holds no directive, or one that already covers the rule (a bare `ignore` covers every rule)."""
    match = _DIRECTIVE.search(comment)
    if not match:
        return None
    ids = _parse_directive(match.group(0))
    if ids is None or ALL in ids or rule_id.upper() in ids:
        return None
    listed = match.group("ids").strip().rstrip(",").rstrip()
    start, end = match.span("ids")
    return comment[:start] + f"{listed}, {rule_id}" + comment[end:]


def is_suppressed(suppressions: Suppressions, line: int, rule_id: str) -> bool:
    ids = suppressions.get(line) or suppressions.get(str(line))  # type: ignore[call-overload]
    return bool(ids) and (ALL in ids or rule_id in ids)
