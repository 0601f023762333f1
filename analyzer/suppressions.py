"""Inline suppressions: `# gapcheck: ignore[GAP501, GAP401]` or a bare `# gapcheck: ignore`.

A suppression comment applies to findings that start on its line. When it sits on a line of a multi-line simple
statement (for example after the closing parenthesis of a call that spans lines), it applies to every line of
that statement, and of the statements joined to it with `;`. A clause header (`except ...:`) is not a simple
statement: a comment there covers its own line. The tokenizer finds the real comments (not `#` inside strings);
`ast` gives each simple statement's lines. Both are paid for only by files that contain the marker at all.
"""
from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize

from .source import split_lines

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
    directives = _directives(text)
    if not directives:
        return {}
    try:
        starts, ends = _simple_statement_lines(ast.parse(text), split_lines(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not analysable (the engine says why):
        starts, ends = [], []  # each directive covers its own line
    result: Suppressions = {}
    for line, ids in directives:
        at = bisect.bisect_right(starts, line) - 1
        span = range(starts[at], ends[at] + 1) if at >= 0 and line <= ends[at] else range(line, line + 1)
        for covered in span:
            merged = sorted(set(result.get(covered, [])) | set(ids))
            result[covered] = [ALL] if ALL in merged else merged
    return result


def _directives(text: str) -> list[tuple[int, list[str]]]:
    """(line, ids) of every ignore directive in a real comment, in order; [] when the text does not tokenize."""
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                ids = _parse_directive(token.string)
                if ids is not None:
                    found.append((token.start[0], ids))
    except (tokenize.TokenError, SyntaxError):
        return []
    return found


def _simple_statement_lines(tree: ast.Module, lines: list[str]) -> tuple[list[int], list[int]]:
    """First and last lines of each run of simple statements that starts a line of a block (joined by `;`), sorted
    and never overlapping. Statements after a clause header on its line (`if x: y = 1`) start no run. Only
    statements are visited (statements never sit inside expressions), a small part of the tree."""
    runs: list[list[int]] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        stack.extend(getattr(node, "handlers", ()))  # except clauses and match cases hold blocks of their own
        stack.extend(getattr(node, "cases", ()))
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list):
                continue
            current: list[int] | None = None
            for statement in block:
                if isinstance(statement, _COMPOUND):
                    stack.append(statement)
                    current = None
                elif _starts_line(statement, lines):
                    current = [statement.lineno, statement.end_lineno or statement.lineno]
                    runs.append(current)
                elif current is not None and current[1] == statement.lineno:
                    current[1] = statement.end_lineno or statement.lineno
                else:
                    current = None
    runs.sort()
    return [start for start, _ in runs], [end for _, end in runs]


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.Match, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))


def _starts_line(statement: ast.stmt, lines: list[str]) -> bool:
    """Only indentation precedes the statement on its first line (`ast` columns count UTF-8 bytes)."""
    if not 0 < statement.lineno <= len(lines):
        return False
    return not lines[statement.lineno - 1].encode("utf-8", "surrogatepass")[:statement.col_offset].strip()


def directive(rule_ids: list[str]) -> str:
    """The comment that suppresses these rules on its line (what an editor's quick fix inserts)."""
    return f"# gapcheck: ignore[{', '.join(rule_ids)}]"


def with_rule_added(comment: str, rule_id: str) -> str | None:
    """`comment` with `rule_id` added to the list of its ignore directive, keeping its other text; unchanged when
    the directive already covers the rule (a bare `ignore` covers every rule); None when it holds no directive."""
    match = _DIRECTIVE.search(comment)
    if not match:
        return None
    ids = _parse_directive(match.group(0)) or []
    if ALL in ids or rule_id.upper() in ids:
        return comment
    listed = match.group("ids").strip().rstrip(",").rstrip()
    start, end = match.span("ids")
    return comment[:start] + f"{listed}, {rule_id}" + comment[end:]


def is_suppressed(suppressions: Suppressions, line: int, rule_id: str) -> bool:
    ids = suppressions.get(line) or suppressions.get(str(line))  # type: ignore[call-overload]
    return bool(ids) and (ALL in ids or rule_id.upper() in ids)
