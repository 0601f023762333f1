"""Fixes: a finding plus its file's text -> the smallest text edits that remove it, computed on the file's own tree.

A fixer is registered per rule id (`@fixer("GAP502", "safe")`) in the `checks.fixes` package, so the rule modules
stay untouched and the registry can say which rules have a fix. A fixer gets a `FixContext` - the finding, the
file's LibCST tree with positions and the `ast` ModuleContext the checks use (so a fixer asks the same facts the
check asked: which calls are log calls, which callee a name resolves to) - and returns a `Rewrite`: LibCST node
replacements built with `with_changes`, so comments and formatting around them survive. Each replacement becomes
one minimal `Edit` (the changed span only), which is what SARIF `fixes` and editor code actions carry.

The API (the language server and the SARIF writer use it): `fix_for(finding, text)` gives one finding's `Fix`
(edits relative to `text`), `fixes_for(text, findings)` all of one file's with a single parse, `fix_text(text,
findings, unsafe)` applies them and returns the new text with the findings fixed, `has_fix(rule_id)` says "safe",
"unsafe" or None.

Applicability follows ruff: "safe" keeps the code's meaning (`except:` -> `except Exception:`), "unsafe" changes
what the program does at run time (a timeout that can now fire, a query sent with parameters) and is applied only
with `--unsafe-fixes`. A fix whose result does not parse is dropped, never written.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider, WhitespaceInclusivePositionProvider

from .config import DEFAULT_FIX_TIMEOUT
from .findings import Finding
from .source import Source, SourceError, decode, split_lines

if TYPE_CHECKING:
    from .engine import ScanResult
    from .model import ModuleContext

APPLICABILITIES = ("safe", "unsafe")
# Several fixes in one file are applied together when their edits do not overlap; the ones that do are tried again
# on the result, at most this many times.
MAX_ROUNDS = 3


@dataclass(frozen=True)
class Edit:
    """Replace the text from (start_line, start_column) up to (end_line, end_column) with `text`.

    Lines are 1-based; columns are 1-based and count characters (code points); the end is exclusive. An insertion
    has start == end."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    text: str


@dataclass(frozen=True)
class Fix:
    rule_id: str
    title: str
    applicability: str  # "safe" | "unsafe"
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Rewrite:
    """What a fixer returns: a title for the fix and the LibCST nodes to swap (each original -> its replacement)."""

    title: str
    replacements: tuple[tuple[cst.CSTNode, cst.CSTNode], ...]


Fixer = Callable[["FixContext"], "Rewrite | None"]


@dataclass(frozen=True)
class _Registered:
    applicability: str
    fixer: Fixer


# rule id -> its fixer; filled once per process when `checks.fixes` is imported (with the rules), read-only after.
_FIXERS: dict[str, _Registered] = {}


def fixer(rule_id: str, applicability: str) -> Callable[[Fixer], Fixer]:
    """Register `fn` as the fix for `rule_id`'s findings."""
    if applicability not in APPLICABILITIES:
        raise ValueError(f"{rule_id}: fix applicability must be one of {APPLICABILITIES}, not {applicability!r}")

    def register(fn: Fixer) -> Fixer:
        if rule_id in _FIXERS:
            raise ValueError(f"{rule_id}: a fixer is already registered ({_FIXERS[rule_id].fixer.__qualname__})")
        _FIXERS[rule_id] = _Registered(applicability, fn)
        return fn

    return register


def _fixers() -> dict[str, _Registered]:
    """The fixer table, importing `checks.fixes` on first use: the rule loader leaves that package out, so a scan
    without --fix (or a rules listing) does not pay LibCST's import, ~0.1 s."""
    if not _LOADED:
        import importlib
        import pkgutil

        from .registry import load_rules
        from ..checks import fixes as package

        load_rules()
        for info in sorted(pkgutil.walk_packages(package.__path__, package.__name__ + "."), key=lambda i: i.name):
            importlib.import_module(info.name)
        _LOADED.append(True)
    return _FIXERS


_LOADED: list[bool] = []


def has_fix(rule_id: str) -> str | None:
    """"safe" or "unsafe" when the rule has a fix (for some of its findings), else None."""
    registered = _fixers().get(rule_id.upper())
    return registered.applicability if registered else None


def fixable_rule_ids() -> dict[str, str]:
    return {rule_id: entry.applicability for rule_id, entry in sorted(_fixers().items())}


def fix_safety(rule_id: str) -> str:
    """What the rule's fix does and why it is safe or unsafe: its fixer's docstring, for `explain` and the docs."""
    registered = _fixers().get(rule_id.upper())
    if registered is None or not registered.fixer.__doc__:
        return ""
    return " ".join(registered.fixer.__doc__.split())


# ---- the file a fixer works on -------------------------------------------------------------------------------
class FixContext:
    """One finding in one parsed file: LibCST tree and positions, the checks' `ast` model, the fix options."""

    def __init__(self, document: "_Document", finding: Finding) -> None:
        self.finding = finding
        self.document = document
        self.module = document.module
        self.ast_ctx: "ModuleContext" = document.ast_ctx
        self.fix_timeout = document.fix_timeout

    def cst_nodes_at(self, line: int, column: int, types: type | tuple[type, ...]) -> list[cst.CSTNode]:
        """LibCST nodes of `types` starting at (line, 1-based column), outermost first."""
        return [n for n in self.document.starting_at.get((line, column - 1), []) if isinstance(n, types)]

    def cst_node(self, types: type | tuple[type, ...], line: int, column: int, end_line: int | None = None,
                 end_column: int | None = None) -> cst.CSTNode | None:
        """The LibCST node of `types` spanning exactly (line, column)-(end_line, end_column), or, without an end,
        the outermost one starting there."""
        for node in self.cst_nodes_at(line, column, types):
            if end_line is None:
                return node
            end = self.document.positions[node].end
            if (end.line, end.column + 1) == (end_line, end_column):
                return node
        return None

    def cst_for_finding(self, types: type | tuple[type, ...]) -> cst.CSTNode | None:
        f = self.finding
        return self.cst_node(types, f.line, f.column, f.end_line, f.end_column)

    def cst_for_ast(self, node: ast.AST, types: type | tuple[type, ...]) -> cst.CSTNode | None:
        """The LibCST node of `types` covering the same source span as the `ast` node."""
        start, end = self.ast_span(node)
        return self.cst_node(types, start[0], start[1], end[0], end[1])

    def ast_span(self, node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        ctx = self.ast_ctx
        line, end_line = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        return ((line, ctx.column(line, node.col_offset)),  # type: ignore[attr-defined]
                (end_line, ctx.column(end_line, node.end_col_offset or 0)))  # type: ignore[attr-defined]

    def ast_node(self, types: type | tuple[type, ...], line: int, column: int, end_line: int | None = None,
                 end_column: int | None = None) -> ast.AST | None:
        """The checks' `ast` node of `types` at this span (or starting here, outermost first, without an end)."""
        for node in self.ast_ctx.nodes:
            if not isinstance(node, types) or getattr(node, "lineno", None) != line:
                continue
            start, end = self.ast_span(node)
            if start == (line, column) and (end_line is None or end == (end_line, end_column)):
                return node
        return None

    def ast_for_finding(self, types: type | tuple[type, ...]) -> ast.AST | None:
        f = self.finding
        return self.ast_node(types, f.line, f.column, f.end_line, f.end_column)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


class _Document:
    """A file's text parsed once for fixing: LibCST (to edit) and `ast` + ModuleContext (to decide)."""

    def __init__(self, text: str, path: str, fix_timeout: float) -> None:
        from .engine import walk_with_parents
        from .model import ModuleContext

        self.text = text
        self.fix_timeout = fix_timeout
        self.line_starts = _line_starts(text)
        tree = ast.parse(text)
        self.ast_ctx = ModuleContext(path, tree, split_lines(text), text, "", walk_with_parents(tree))
        self.wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
        self.module = self.wrapper.module
        if self.module.code != text:
            raise ValueError("LibCST does not reproduce this file exactly; no fixes")
        self.positions = self.wrapper.resolve(PositionProvider)
        self._spans: Mapping[cst.CSTNode, CodeRange] | None = None  # resolved on first use: a second pass
        self.starting_at: dict[tuple[int, int], list[cst.CSTNode]] = {}
        for node, where in self.positions.items():
            self.starting_at.setdefault((where.start.line, where.start.column), []).append(node)
        for nodes in self.starting_at.values():
            nodes.sort(key=lambda n: (-self.positions[n].end.line, -self.positions[n].end.column))

    def offset(self, line: int, column: int) -> int:
        """Text offset of a 1-based line and 1-based character column."""
        return self.line_starts[line - 1] + column - 1

    def point(self, offset: int) -> tuple[int, int]:
        line = _bisect(self.line_starts, offset)
        return line + 1, offset - self.line_starts[line] + 1

    def edits_for(self, rewrite: Rewrite) -> tuple[Edit, ...]:
        edits = []
        for old, new in rewrite.replacements:
            start, end, inserted = self._replaced(old, new)
            deleted = self.text[start:end]
            for a, b, c, d in _changed_runs(deleted, inserted):
                edits.append(Edit(*self.point(start + a), *self.point(start + b), inserted[c:d]))
        return tuple(sorted(edits, key=lambda e: (e.start_line, e.start_column, e.end_line, e.end_column)))

    def _replaced(self, old: cst.CSTNode, new: cst.CSTNode) -> tuple[int, int, str]:
        """(start, end) offsets of the text `old` covers and the text `new` puts there."""
        where = self.positions[old]
        start = self.offset(where.start.line, where.start.column + 1)
        end = self.offset(where.end.line, where.end.column + 1)
        if isinstance(old, cst.BaseExpression) and self.module.code_for_node(old) == self.text[start:end]:
            inserted = self.module.code_for_node(new)
            if "\n" not in inserted and "\r" not in inserted:
                return start, end, inserted  # one-line expression: its code does not depend on the indentation
        # a statement, or a line break whose indentation comes from the enclosing block: render the whole module
        where = self.inclusive_spans()[old]
        start = self.offset(where.start.line, where.start.column + 1)
        end = self.offset(where.end.line, where.end.column + 1)
        code = self.module.visit(_Swap(old, new)).code  # type: ignore[union-attr]
        return start, end, code[start:len(code) - (len(self.text) - end)]

    def inclusive_spans(self) -> Mapping[cst.CSTNode, CodeRange]:
        if self._spans is None:
            self._spans = self.wrapper.resolve(WhitespaceInclusivePositionProvider)
        return self._spans


class _Swap(cst.CSTTransformer):
    def __init__(self, old: cst.CSTNode, new: cst.CSTNode) -> None:
        super().__init__()
        self.old = old
        self.new = new

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[override]
        return self.new if original_node is self.old else updated_node


_LINE_END = re.compile(r"\r\n|\r|\n")


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_END.finditer(text)]


def _bisect(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


# Unchanged text shorter than this between two changes is replaced along with them: one readable edit, not many.
MIN_KEPT = 4


def _changed_runs(old: str, new: str) -> list[tuple[int, int, int, int]]:
    """(old start, old end, new start, new end) of each changed run: `len(qs)` -> `qs.count()` is two edits
    ("len(" removed, ")" -> ".count()"), so a finding inside `qs` is untouched and can still be fixed after."""
    import difflib

    head = _common_prefix(old, new)
    tail = _common_prefix(old[head:][::-1], new[head:][::-1])
    old_mid, new_mid = old[head:len(old) - tail], new[head:len(new) - tail]
    if not old_mid and not new_mid:
        return []
    runs: list[list[int]] = []
    matcher = difflib.SequenceMatcher(None, old_mid, new_mid, autojunk=False)
    for tag, a, b, c, d in matcher.get_opcodes():
        if tag == "equal":
            continue
        if runs and a - runs[-1][1] < MIN_KEPT:
            runs[-1][1], runs[-1][3] = b, d
        else:
            runs.append([a, b, c, d])
    return [(head + a, head + b, head + c, head + d) for a, b, c, d in runs]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# ---- computing and applying fixes ----------------------------------------------------------------------------
def _document(text: str, path: str, fix_timeout: float) -> _Document | None:
    try:
        return _Document(text, path, fix_timeout)
    except (SyntaxError, ValueError, RecursionError, MemoryError, cst.ParserSyntaxError):
        return None  # a file that does not parse has no findings to fix
    except BaseException as error:  # LibCST's native parser panics on some text `ast` accepts (a BaseException)
        if type(error).__name__ == "PanicException":
            return None
        raise


def _compute(document: _Document, finding: Finding) -> tuple[Fix | None, str]:
    """The fix for one finding, or None and why not."""
    registered = _fixers().get(finding.rule_id)
    if registered is None:
        return None, "no fix for this rule"
    try:
        rewrite = registered.fixer(FixContext(document, finding))
    except Exception as exc:  # a broken fixer loses its own fix, never the scan or the other fixes
        return None, f"the fixer failed: {type(exc).__name__}: {exc}"
    if rewrite is None:
        return None, "no fix for this case"
    try:
        edits = document.edits_for(rewrite)
    except (IndexError, KeyError, ValueError) as exc:
        # LibCST's positions and our line table can disagree on a file with unusual line breaks: the fix
        # cannot be placed, so it is dropped; the finding and every other fix stay
        return None, f"dropped: the fix could not be placed ({type(exc).__name__})"
    if not edits:
        return None, "the fix changes nothing"
    fix = Fix(finding.rule_id, rewrite.title, registered.applicability, edits)
    if not parses(apply_edits(document.text, fix.edits)):
        return None, "dropped: the fixed code would not parse"
    return fix, ""


def fix_for(finding: Finding, text: str, *, fix_timeout: float = DEFAULT_FIX_TIMEOUT) -> Fix | None:
    """The fix for one finding in `text` (the file's current content), or None when the rule has none for it."""
    document = _document(text, finding.path, fix_timeout)
    if document is None:
        return None
    return _compute(document, finding)[0]


def fixes_for(text: str, findings: Sequence[Finding], *,
              fix_timeout: float = DEFAULT_FIX_TIMEOUT) -> dict[Finding, Fix]:
    """The fix of each of one file's findings that has one (safe and unsafe), parsing the file once: for an
    editor's code actions or a report. Each fix is relative to `text` alone; apply several with `fix_text`."""
    fixable = [f for f in findings if has_fix(f.rule_id)]
    document = _document(text, fixable[0].path, fix_timeout) if fixable else None
    if document is None:
        return {}
    found = {}
    for finding in fixable:
        fix, _ = _compute(document, finding)
        if fix is not None:
            found[finding] = fix
    return found


@dataclass
class FixOutcome:
    text: str
    fixed: list[Finding] = field(default_factory=list)
    dropped: list[tuple[Finding, str]] = field(default_factory=list)  # fixable findings left as they were, and why


def fix_text(text: str, findings: Sequence[Finding], unsafe: bool = False, *,
             fix_timeout: float = DEFAULT_FIX_TIMEOUT) -> tuple[str, list[Finding]]:
    """`text` with the fixes of `findings` applied (safe ones; unsafe too when asked), and the findings fixed."""
    outcome = apply_fixes(text, findings, unsafe, fix_timeout=fix_timeout)
    return outcome.text, outcome.fixed


def applicable(finding: Finding, unsafe: bool) -> bool:
    kind = has_fix(finding.rule_id)
    return kind == "safe" or (kind == "unsafe" and unsafe)


def apply_fixes(text: str, findings: Sequence[Finding], unsafe: bool = False, *,
                fix_timeout: float = DEFAULT_FIX_TIMEOUT) -> FixOutcome:
    """Apply every applicable fix: those whose edits do not overlap together, the others in later rounds (their
    findings moved along with the text), and keep only results that parse."""
    outcome = FixOutcome(text)
    # (the finding as given, where it is in the current text): deferred findings move with the edits before them
    pending = [(f, f) for f in sorted(findings) if applicable(f, unsafe)]
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        document = _document(outcome.text, pending[0][1].path, fix_timeout)
        if document is None:
            outcome.dropped.extend((f, "the file does not parse") for f, _ in pending)
            return outcome
        chosen: list[tuple[Finding, Fix]] = []
        deferred: list[tuple[Finding, Finding]] = []
        for original, current in pending:
            fix, why = _compute(document, current)
            if fix is None:
                outcome.dropped.append((original, why))
            elif any(_conflict(fix.edits, other.edits) for _, other in chosen):
                if any(other.edits == fix.edits for _, other in chosen):
                    outcome.fixed.append(original)  # another finding's fix already makes this very change
                else:
                    deferred.append((original, current))
            else:
                chosen.append((original, fix))
        accepted: list[tuple[Finding, Fix]] = []
        new_text = apply_edits(outcome.text, [e for _, fix in chosen for e in fix.edits])
        if parses(new_text):
            accepted = chosen
        else:  # two fixes that parse alone but not together: keep the ones that still parse, one by one
            for original, fix in chosen:
                trial = apply_edits(outcome.text, [e for _, f in accepted for e in f.edits] + list(fix.edits))
                if parses(trial):
                    accepted.append((original, fix))
                else:
                    outcome.dropped.append((original, "dropped: the fixed code would not parse together with "
                                                       "another fix"))
            new_text = apply_edits(outcome.text, [e for _, f in accepted for e in f.edits])
        edits = [e for _, fix in accepted for e in fix.edits]
        outcome.fixed.extend(f for f, _ in accepted)
        pending = []
        for original, current in deferred:
            moved = _moved(current, edits, document)
            if moved is None:
                outcome.dropped.append((original, "its code was changed by another fix"))
            else:
                pending.append((original, moved))
        outcome.text = new_text
    outcome.dropped.extend((f, f"still overlaps another fix after {MAX_ROUNDS} rounds") for f, _ in pending)
    outcome.fixed.sort()
    return outcome


def parses(text: str) -> bool:
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _offsets(text: str, edits: Iterable[Edit]) -> list[tuple[int, int, str]]:
    starts = _line_starts(text)
    return [(starts[e.start_line - 1] + e.start_column - 1, starts[e.end_line - 1] + e.end_column - 1, e.text)
            for e in edits]


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """`text` with non-overlapping edits applied (all positions refer to `text`)."""
    for start, end, new in sorted(_offsets(text, edits), reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _conflict(a: Sequence[Edit], b: Sequence[Edit]) -> bool:
    def span(e: Edit) -> tuple[tuple[int, int], tuple[int, int]]:
        return (e.start_line, e.start_column), (e.end_line, e.end_column)

    for x in a:
        (xs, xe) = span(x)
        for y in b:
            (ys, ye) = span(y)
            if xs < ye and ys < xe:
                return True  # the spans overlap
            if xs == xe == ys == ye:
                return True  # two insertions at the same point: which goes first is a guess
    return False


def _moved(finding: Finding, edits: Sequence[Edit], document: _Document) -> Finding | None:
    """The finding's place after `edits` (made to the same text), or None when an edit touches it."""
    applied = sorted(_offsets(document.text, edits))
    start = document.offset(finding.line, finding.column)
    end = document.offset(finding.end_line, finding.end_column)
    shift_start = shift_end = 0
    for s, e, new in applied:
        if s < end and start < e or (s == e and start < s < end):
            return None
        delta = len(new) - (e - s)
        if e <= start:
            shift_start += delta
        if e <= end:
            shift_end += delta
    new_text = apply_edits(document.text, edits)
    starts = _line_starts(new_text)
    line = _bisect(starts, start + shift_start)
    end_line = _bisect(starts, end + shift_end)
    return replace(finding, line=line + 1, column=start + shift_start - starts[line] + 1, end_line=end_line + 1,
                   end_column=end + shift_end - starts[end_line] + 1)


# ---- for the reporters and the command line --------------------------------------------------------------------
def read_text(path: str) -> Source | None:
    try:
        with open(path, "rb") as handle:
            return decode(handle.read())
    except (OSError, SourceError):
        return None


def encode(text: str, source: Source) -> bytes:
    """The fixed text in the file's own encoding (a BOM kept when it had one)."""
    return text.encode(source.encoding if source.encoding != "utf-8-sig" else "utf-8-sig")


def attach_fixes(result: "ScanResult", cwd: str, fix_timeout: float = DEFAULT_FIX_TIMEOUT) -> None:
    """Compute each fixable finding's fix (safe and unsafe) for the SARIF report: `result.fixes`."""
    import os

    by_path: dict[str, list[Finding]] = {}
    for finding in result.findings:
        if has_fix(finding.rule_id):
            by_path.setdefault(finding.path, []).append(finding)
    for path, findings in sorted(by_path.items()):
        source = read_text(os.path.join(cwd, path))
        if source is not None:
            result.fixes.update(fixes_for(source.text, findings, fix_timeout=fix_timeout))


@dataclass
class FileFix:
    """One file's fixes: its text as read, and what applying the fixes gave."""

    path: str
    source: Source
    outcome: FixOutcome

    @property
    def changed(self) -> bool:
        return self.outcome.text != self.source.text

    def diff(self) -> str:
        import difflib

        return "".join(difflib.unified_diff(self.source.text.splitlines(keepends=True),
                                            self.outcome.text.splitlines(keepends=True),
                                            fromfile=f"a/{self.path}", tofile=f"b/{self.path}"))


def fix_files(findings: Sequence[Finding], cwd: str, unsafe: bool = False,
              fix_timeout: float = DEFAULT_FIX_TIMEOUT,
              rescan: Callable[[str, bytes], list[Finding]] | None = None) -> list[FileFix]:
    """Each file with applicable fixes, read and fixed in memory (the caller writes or shows the result).

    With `rescan` (a file's findings for new content), what the fixes uncover is fixed too, up to MAX_ROUNDS
    times, so that running `--fix` again changes nothing."""
    import os

    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        if applicable(finding, unsafe):
            by_path.setdefault(finding.path, []).append(finding)
    done = []
    for path, found in sorted(by_path.items()):
        source = read_text(os.path.join(cwd, path))
        if source is None:
            continue
        outcome = apply_fixes(source.text, found, unsafe, fix_timeout=fix_timeout)
        for _ in range(MAX_ROUNDS - 1):
            if rescan is None or outcome.text == source.text:
                break
            uncovered = [f for f in rescan(path, encode(outcome.text, source)) if applicable(f, unsafe)]
            if not uncovered:
                break
            more = apply_fixes(outcome.text, uncovered, unsafe, fix_timeout=fix_timeout)
            if more.text == outcome.text:
                break
            outcome = FixOutcome(more.text, sorted(outcome.fixed + more.fixed), outcome.dropped + more.dropped)
        done.append(FileFix(path, source, outcome))
    return done
