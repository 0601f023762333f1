"""`gapcheck server`: a language server over stdin/stdout, so editors show findings while the code is typed.

- On open, change (debounced) and save, the Python checks run on the buffer's text, never the file on disk, in a
  worker thread; a result for a version older than the buffer's is dropped, not published.
- On save, a full `gapcheck scan` of the project runs as a child process (its cache makes repeats cheap): Semgrep
  and the project-wide checks need every file on disk. Its findings that the buffer analysis cannot produce are
  kept per buffer and carried through later edits by line, until a line they sit on changes.
- Settings are the CLI's: `[tool.gapcheck]` of the nearest pyproject.toml, re-read when that file changes.
- Code actions: a `# gapcheck: ignore[GAPnnn]` comment for a finding, and the rule's fix where one exists.
  Hover on a finding shows what `gapcheck explain` prints for its rule.

Positions: gapcheck's lines and columns are 1-based and count characters; LSP's are 0-based and count code units
of the negotiated position encoding (UTF-16 unless the client offers another).
"""
from __future__ import annotations

import asyncio
import difflib
import io
import json
import os
import sys
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from . import __version__, suppressions
from .config import ConfigError, find_config, load_settings
from .findings import Finding
from .registry import explain_markdown, get_rule, load_rules
from .single import TextAnalyser, identify
from .source import read_anyway, split_lines

try:
    from . import fixes
except ImportError:  # the fixes module is not part of every build yet: the ignore action still works
    fixes = None  # type: ignore[assignment]

SOURCE = "gapcheck"
# Seconds without a change before a buffer is analysed. Short, because the goal is findings within 150 ms of the
# last keystroke; the analysis of a 1,000-line buffer takes most of the rest (bench/lsp_latency.py measures it).
DEBOUNCE_SECONDS = 0.05
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "note": types.DiagnosticSeverity.Information,
}
UNSAFE_PREFIX = "Unsafe fix: "
# How the child scan is started: this package's own entry point, installed or run from a checkout.
SCAN_MODULE = __package__ or "gapcheck.analyzer"


# ---- positions ------------------------------------------------------------------------------------------------
def code_units(text: str, encoding: str) -> int:
    """Length of `text` in code units of an LSP position encoding."""
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def lsp_position(lines: Sequence[str], line: int, column: int, encoding: str) -> types.Position:
    """A 1-based line and 1-based character column -> an LSP position; past the end clamps to the end."""
    if not lines:
        return types.Position(line=0, character=0)
    if line > len(lines):
        return types.Position(line=len(lines) - 1, character=code_units(lines[-1], encoding))
    index = max(line, 1) - 1
    text = lines[index]
    chars = min(max(column, 1) - 1, len(text))
    return types.Position(line=index, character=code_units(text[:chars], encoding))


def lsp_range(lines: Sequence[str], start_line: int, start_column: int, end_line: int, end_column: int,
              encoding: str) -> types.Range:
    start = lsp_position(lines, start_line, start_column, encoding)
    end = lsp_position(lines, end_line, end_column, encoding)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return types.Range(start=start, end=end)


def finding_range(lines: Sequence[str], finding: Finding, encoding: str) -> types.Range:
    return lsp_range(lines, finding.line, finding.column, finding.end_line, finding.end_column, encoding)


def contains(outer: types.Range, position: types.Position) -> bool:
    point = (position.line, position.character)
    return (outer.start.line, outer.start.character) <= point <= (outer.end.line, outer.end.character)


def overlaps(a: types.Range, b: types.Range) -> bool:
    return not ((a.end.line, a.end.character) < (b.start.line, b.start.character)
                or (b.end.line, b.end.character) < (a.start.line, a.start.character))


# ---- findings -> LSP ----------------------------------------------------------------------------------------------
def diagnostic(lines: Sequence[str], finding: Finding, encoding: str) -> types.Diagnostic:
    rule = get_rule(finding.rule_id)
    return types.Diagnostic(
        range=finding_range(lines, finding, encoding),
        message=finding.message,
        severity=SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.rule_id,
        code_description=types.CodeDescription(href=rule.help_uri) if rule else None,
        source=SOURCE,
    )


class FixEdit(Protocol):
    """The shape of `fixes.Edit`: 1-based lines, 1-based character columns, end exclusive."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    text: str


class RuleFix(Protocol):
    """The shape of `fixes.Fix`."""

    rule_id: str
    title: str
    applicability: str
    edits: tuple[FixEdit, ...]


def text_edit(lines: Sequence[str], edit: FixEdit, encoding: str) -> types.TextEdit:
    return types.TextEdit(
        range=lsp_range(lines, edit.start_line, edit.start_column, edit.end_line, edit.end_column, encoding),
        new_text=edit.text,
    )


def workspace_edit(uri: str, version: int | None, edits: list[types.TextEdit],
                   document_changes: bool) -> types.WorkspaceEdit:
    """Versioned (`documentChanges`) when the client supports it, so an edit for an older text is refused."""
    if document_changes:
        document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=document, edits=edits)])
    return types.WorkspaceEdit(changes={uri: edits})


def fix_action(uri: str, version: int | None, lines: Sequence[str], fix: RuleFix, encoding: str,
               diagnostics: list[types.Diagnostic], document_changes: bool = True) -> types.CodeAction:
    """The rule's fix as a quick fix; an unsafe one (it may change what the code does) says so in its title."""
    safe = fix.applicability == "safe"
    title = fix.title if safe else UNSAFE_PREFIX + fix.title
    edits = [text_edit(lines, edit, encoding) for edit in fix.edits]
    return types.CodeAction(
        title=f"{title} ({fix.rule_id})",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=diagnostics,
        is_preferred=safe,
        edit=workspace_edit(uri, version, edits, document_changes),
    )


_NOT_CODE = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None


def comment_line(lines: Sequence[str], tokens: Sequence[tokenize.TokenInfo], line: int) -> int:
    """The line whose end can take a comment that applies to `line`: itself, unless it ends inside a string that
    goes on (a comment there would become part of the string) or with a backslash continuation (a comment there
    is a syntax error); then the line where that string or continuation ends, in the same statement."""
    code = [t for t in tokens if t.type not in _NOT_CODE]
    target = line
    moved = True
    while moved:
        moved = False
        for token in code:
            if token.start[0] <= target < token.end[0]:
                target, moved = token.end[0], True
        if target <= len(lines) and lines[target - 1].rstrip().endswith("\\"):
            target, moved = target + 1, True
    return min(target, max(len(lines), 1))


def ignore_edit(text: str, finding: Finding, encoding: str) -> types.TextEdit | None:
    """The edit that suppresses `finding` inline: its rule added to the ignore comment already on the line, or a
    new `# gapcheck: ignore[GAPnnn]` at the line's end. None when a comment there already covers it, or when no
    comment could (see `_suppresses`)."""
    lines = split_lines(text)
    tokens = _tokens(text)
    if not lines or tokens is None:
        return None
    target = comment_line(lines, tokens, finding.line)
    line_text = lines[target - 1]
    existing = next((t for t in tokens if t.type == tokenize.COMMENT and t.start[0] == target), None)
    updated = suppressions.with_rule_added(existing.string, finding.rule_id) if existing is not None else None
    if updated is not None and existing is not None:
        if updated == existing.string:
            return None
        start, end = existing.start[1] + 1, existing.end[1] + 1
    else:
        start, end = len(line_text.rstrip()) + 1, len(line_text) + 1
        updated = "  " + suppressions.directive([finding.rule_id])
    if target != finding.line and not _suppresses(lines, target, line_text[:start - 1] + updated, finding):
        return None
    return types.TextEdit(range=lsp_range(lines, target, start, target, end, encoding), new_text=updated)


def _suppresses(lines: Sequence[str], target: int, new_line: str, finding: Finding) -> bool:
    """Whether the comment on `target` would cover `finding`'s line: it does when both lines belong to one simple
    statement (a call whose multi-line string argument starts on the finding's line), not when that statement
    shares its line with a clause header (`except E: x = <multi-line string>`). Asked only when the comment
    cannot go on the finding's own line, which is rare."""
    edited = list(lines)
    edited[target - 1] = new_line
    found = suppressions.collect("\n".join(edited) + "\n")
    return suppressions.is_suppressed(found, finding.line, finding.rule_id)


def build_actions(uri: str, version: int | None, text: str, here: list[tuple[Finding, types.Diagnostic]],
                  encoding: str, document_changes: bool) -> tuple[list[types.CodeAction], list[str]]:
    """For each finding: the rule's fix where it has one, then the ignore comment. A fix that fails is left out
    and named in the second list, so the ignore action still comes."""
    lines = split_lines(text)
    actions: list[types.CodeAction] = []
    failures: list[str] = []
    for finding, diag in here:
        if fixes is not None:
            try:
                fix = fixes.fix_for(finding, text)
            except Exception as exc:  # one rule's broken fix must not take the ignore action with it
                failures.append(f"gapcheck: the {finding.rule_id} fix failed at line {finding.line}: "
                                f"{type(exc).__name__}: {exc}")
                fix = None
            if fix is not None and fix.edits:
                actions.append(fix_action(uri, version, lines, fix, encoding, [diag], document_changes))
        edit = ignore_edit(text, finding, encoding)
        if edit is not None:
            actions.append(types.CodeAction(
                title=f"Ignore {finding.rule_id} on this line",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diag],
                edit=workspace_edit(uri, version, [edit], document_changes),
            ))
    return actions, failures


def wants_quick_fixes(only: Sequence[str] | None) -> bool:
    """Whether a request limited to the kinds `only` (a kind covers its sub-kinds, "" covers all) takes quick fixes."""
    quick = types.CodeActionKind.QuickFix.value
    kinds = [getattr(kind, "value", kind) for kind in only or ()]
    return not kinds or any(kind in ("", quick) or quick.startswith(f"{kind}.") for kind in kinds)


def hover_markdown(rule_ids: Iterable[str]) -> str:
    parts = [explain_markdown(rule) for rule in (get_rule(rule_id) for rule_id in dict.fromkeys(rule_ids)) if rule]
    return "\n---\n\n".join(parts)


def line_map(old: Sequence[str], new: Sequence[str]) -> dict[int, int]:
    """1-based old line -> new line, for the lines that are unchanged between the two texts."""
    if old == new:
        return {n: n for n in range(1, len(old) + 1)}
    mapping: dict[int, int] = {}
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                mapping[i1 + offset + 1] = j1 + offset + 1
    return mapping


def carried(findings: Iterable[Finding], old: Sequence[str], new: Sequence[str]) -> list[Finding]:
    """Findings of an older text moved to where their lines are in the newer one; dropped where a line they span
    changed (the finding may no longer hold there)."""
    found = list(findings)
    if not found:
        return []
    mapping = line_map(old, new)
    out = []
    for finding in found:
        lines = [mapping.get(n) for n in range(finding.line, finding.end_line + 1)]
        if all(lines) and lines == list(range(lines[0], lines[0] + len(lines))):
            shift = lines[0] - finding.line
            out.append(replace(finding, line=finding.line + shift, end_line=finding.end_line + shift))
    return out


def finding_key(finding: Finding) -> tuple[str, int, int, int, int]:
    return finding.rule_id, finding.line, finding.column, finding.end_line, finding.end_column


# ---- server state -------------------------------------------------------------------------------------------------
@dataclass
class Project:
    """One project root's settings and analyser, and the stamp of the config file they were read from."""

    root: Path
    config_file: Path | None
    stamp: tuple[int, int] | None = None
    analyser: TextAnalyser | None = None
    error: str = ""


Snapshot = tuple[Sequence[str], tuple[Finding, ...]]  # a text's lines, and findings on that text


@dataclass
class Buffer:
    uri: str
    root: Path
    path: str  # as the scan names it: relative to the project root
    module_name: str
    abs_path: Path | None
    task: asyncio.Task | None = None
    version: int | None = None  # the version the published diagnostics are for
    lines: list[str] = field(default_factory=list)
    findings: tuple[Finding, ...] = ()  # published: the buffer's own, then those carried from the last scan
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    # The last findings of the buffer pass on a text that parsed, and that text's lines: kept while the buffer
    # does not parse (mid-typing), so its diagnostics do not blink out at every unfinished line.
    own: Snapshot = ((), ())
    # From the last project scan, only the findings the buffer pass cannot produce, and the disk text's lines.
    # Each is replaced whole (one assignment), as the analysis thread reads them.
    scan: Snapshot = ((), ())


@dataclass(frozen=True)
class Outcome:
    """One buffer analysis, ready to publish."""

    lines: list[str]
    findings: tuple[Finding, ...]
    diagnostics: list[types.Diagnostic]
    check_errors: tuple[str, ...]


def fs_path(uri: str) -> Path:
    return Path(os.path.abspath(to_fs_path(uri)))


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


class GapcheckServer(LanguageServer):
    def __init__(self, debounce: float = DEBOUNCE_SECONDS) -> None:
        super().__init__("gapcheck", __version__)
        self.debounce = debounce
        self.buffers: dict[str, Buffer] = {}
        self.projects: dict[Path, Project] = {}
        # One analysis thread: analysers memoize, and the event loop keeps answering while it works.
        self.analysis = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gapcheck-analysis")
        self.scanning: set[Path] = set()
        self.rescan: set[Path] = set()
        self.scans: dict[Path, asyncio.subprocess.Process] = {}
        self.reported_errors: set[str] = set()

    # -- documents -----------------------------------------------------------------------------------------------
    def open_buffer(self, uri: str) -> Buffer:
        # Paths as the editor names them, symlinks kept: the scan walks the same way and reports paths below the root.
        abs_path = fs_path(uri) if uri.startswith("file:") else None
        config = find_config(abs_path) if abs_path else None
        root = config.parent if config else self._fallback_root(abs_path)
        if abs_path is not None:
            identity = identify(abs_path, root)
            path, module_name = identity.path, identity.module_name
        else:
            path, module_name = uri.rsplit("/", 1)[-1] or "untitled.py", ""
        project = self.projects.get(root)
        if project is None or project.config_file != config:
            self.projects[root] = Project(root, config)
        buffer = Buffer(uri, root, path, module_name, abs_path)
        self.buffers[uri] = buffer
        return buffer

    def _fallback_root(self, abs_path: Path | None) -> Path:
        """Without a config: the workspace folder holding the file, else its folder."""
        folders = [fs_path(f.uri) for f in self.workspace.folders.values() if f.uri.startswith("file:")]
        if abs_path is not None:
            for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
                if abs_path.is_relative_to(folder):
                    return folder
            return abs_path.parent
        return folders[0] if folders else Path.cwd()

    def schedule(self, uri: str, delay: float) -> None:
        buffer = self.buffers.get(uri)
        if buffer is None:
            return
        if buffer.task is not None and not buffer.task.done():
            buffer.task.cancel()
        buffer.task = asyncio.get_running_loop().create_task(self.analyse_later(buffer, delay))

    async def analyse_later(self, buffer: Buffer, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        document = self.workspace.get_text_document(buffer.uri)
        version, text = document.version, document.source
        encoding = self.encoding
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(self.analysis, self.analyse_buffer, buffer, text, encoding)
        if self.buffers.get(buffer.uri) is not buffer:
            return
        if self.workspace.get_text_document(buffer.uri).version != version:
            return  # a newer change arrived while this ran; its own analysis publishes
        error = self.projects[buffer.root].error
        if error:
            self.report_once(f"gapcheck: {error}")
        outcome = outcome or Outcome([], (), [], ())
        for notice in outcome.check_errors:
            self.log_once(notice)
        buffer.version = version
        buffer.lines, buffer.findings, buffer.diagnostics = outcome.lines, outcome.findings, outcome.diagnostics
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=buffer.uri, version=version, diagnostics=buffer.diagnostics))

    def analyse_buffer(self, buffer: Buffer, text: str, encoding: str) -> Outcome | None:
        """Worker thread: the buffer's own findings, plus the last scan's carried to this text, as diagnostics;
        None when nothing is to be shown (an invalid config, or a file the config excludes)."""
        analyser = self.analyser_for(buffer.root)
        if analyser is None or (buffer.abs_path is not None and analyser.excludes(buffer.abs_path)):
            return None
        lines = split_lines(text)
        result = analyser.analyse(buffer.path, text, buffer.module_name)
        if result.analysed:
            own = result.findings
            buffer.own = (lines, own)
        else:
            own = tuple(carried(buffer.own[1], buffer.own[0], lines))
        seen = {finding_key(f) for f in own}
        extra = [f for f in carried(buffer.scan[1], buffer.scan[0], lines) if finding_key(f) not in seen]
        findings = tuple(sorted(own + tuple(extra)))
        # A check that crashed is gapcheck's bug and the user should hear of it; a syntax error mid-typing is not.
        broken = tuple(f"gapcheck: {buffer.path}: {n.message}" for n in result.notifications if n.kind == "check-error")
        return Outcome(lines, findings, [diagnostic(lines, f, encoding) for f in findings], broken)

    def analyser_for(self, root: Path) -> TextAnalyser | None:
        """The project's analyser, rebuilt when its config file changed since it was read; None while that config
        is invalid (`project.error` says why), as `gapcheck scan` refuses to run with it."""
        project = self.projects[root]
        stamp = _stamp(project.config_file)
        if project.analyser is None or stamp != project.stamp:
            project.stamp = stamp
            try:
                settings = load_settings(["."], str(project.config_file) if project.config_file else None, cwd=root)
                project.analyser, project.error = TextAnalyser(settings), ""
            except ConfigError as exc:
                project.analyser, project.error = None, str(exc)
        return project.analyser

    def report_once(self, message: str) -> None:
        if message not in self.reported_errors:
            self.reported_errors.add(message)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))

    def log_once(self, message: str) -> None:
        if message not in self.reported_errors:
            self.reported_errors.add(message)
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=message))

    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def close_buffer(self, uri: str) -> None:
        buffer = self.buffers.pop(uri, None)
        if buffer is not None and buffer.task is not None:
            buffer.task.cancel()
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # -- the project scan on save -------------------------------------------------------------------------------
    async def scan_project(self, root: Path) -> None:
        """One scan per root at a time; saves during a scan ask for one more after it (the cache makes it cheap)."""
        if root in self.scanning:
            self.rescan.add(root)
            return
        self.scanning.add(root)
        try:
            while True:
                self.rescan.discard(root)
                found = await self.run_scan(root)
                if found is not None and root not in self.rescan:  # a newer save makes this result stale
                    await self.merge_scan(root, found)
                if root not in self.rescan:
                    break
        finally:
            self.scanning.discard(root)

    async def run_scan(self, root: Path) -> dict[str, list[Finding]] | None:
        """`gapcheck scan` of the project in a child process: it may use every core and never holds this
        process's interpreter lock, so typing stays responsive. Its findings by path, or None if it failed."""
        project = self.projects.get(root)
        command = [sys.executable, "-m", SCAN_MODULE, "scan", ".", "--format", "json", "--quiet"]
        if project is not None and project.config_file is not None:
            command += ["--config", str(project.config_file)]
        try:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=root, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            self.log_once(f"gapcheck: cannot start the project scan of {root}: {exc}")
            return None
        self.scans[root] = process
        try:
            stdout, stderr = await process.communicate()
        finally:
            self.scans.pop(root, None)
        try:
            report = json.loads(stdout)
        except ValueError:
            self.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error,
                message=f"gapcheck: the project scan of {root} failed (exit {process.returncode}): "
                        f"{stderr.decode('utf-8', 'replace').strip()}"))
            return None
        # What kept the scan from being complete (Semgrep failing, a check crashing, a file that does not parse):
        # the scan's exit code would say so on the command line; here the client's log does, once each.
        for note in report.get("notifications", []):
            if note.get("level") == "error":
                where = f"{note['path']}: " if note.get("path") else ""
                self.log_once(f"gapcheck: project scan: {where}{note.get('message', '')}")
        found: dict[str, list[Finding]] = {}
        for item in report.get("findings", []):
            finding = Finding.from_dict(item)
            found.setdefault(finding.path, []).append(finding)
        return found

    async def merge_scan(self, root: Path, found: dict[str, list[Finding]]) -> None:
        """Keep, for every open buffer of the project, the scan's findings its buffer pass does not produce
        (Semgrep's, the project checks'), found by analysing the same disk text the scan read; then republish."""
        loop = asyncio.get_running_loop()
        for buffer in [b for b in self.buffers.values() if b.root == root and b.abs_path is not None]:
            scanned = found.get(buffer.path, [])
            extra = await loop.run_in_executor(self.analysis, self.scan_only, buffer, scanned)
            if extra is None or self.buffers.get(buffer.uri) is not buffer:
                continue
            buffer.scan = extra
            self.schedule(buffer.uri, 0)

    def scan_only(self, buffer: Buffer, scanned: list[Finding]) -> Snapshot | None:
        analyser = self.analyser_for(buffer.root)
        if analyser is None or buffer.abs_path is None:
            return None
        try:
            text = read_anyway(buffer.abs_path.read_bytes()).text
        except OSError:
            return None
        own = {finding_key(f) for f in analyser.analyse(buffer.path, text, buffer.module_name).findings}
        return split_lines(text), tuple(f for f in scanned if finding_key(f) not in own)

    def stop_scans(self) -> None:
        for process in list(self.scans.values()):
            if process.returncode is None:
                process.kill()

    # -- requests -------------------------------------------------------------------------------------------------
    def findings_at(self, buffer: Buffer, area: types.Range) -> list[tuple[Finding, types.Diagnostic]]:
        return [(f, d) for f, d in zip(buffer.findings, buffer.diagnostics) if overlaps(d.range, area)]

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        buffer = self.buffers.get(params.text_document.uri)
        if buffer is None or buffer.version is None or not wants_quick_fixes(params.context.only):
            return []
        document = self.workspace.get_text_document(buffer.uri)
        if document.version != buffer.version:
            return []  # the findings are for an older text; the next publish brings actions for this one
        here = self.findings_at(buffer, params.range)
        if not here:
            return []
        loop = asyncio.get_running_loop()
        actions, failures = await loop.run_in_executor(
            self.analysis, build_actions, buffer.uri, buffer.version, document.source, here, self.encoding,
            self.document_changes)
        for failure in failures:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=failure))
        return actions

    @property
    def document_changes(self) -> bool:
        workspace = self.client_capabilities.workspace
        return bool(workspace and workspace.workspace_edit and workspace.workspace_edit.document_changes)

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        buffer = self.buffers.get(params.text_document.uri)
        if buffer is None:
            return None
        here = [(f, d) for f, d in zip(buffer.findings, buffer.diagnostics) if contains(d.range, params.position)]
        if not here:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                         value=hover_markdown(f.rule_id for f, _ in here)),
            range=here[0][1].range,
        )


def create_server(debounce: float = DEBOUNCE_SECONDS) -> GapcheckServer:
    server = GapcheckServer(debounce)

    @server.feature(types.INITIALIZED)
    def initialized(ls: GapcheckServer, params: types.InitializedParams) -> None:
        ls.analysis.submit(load_rules)  # import every check now, not on the first keystroke

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GapcheckServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.open_buffer(params.text_document.uri)
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GapcheckServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: GapcheckServer, params: types.DidSaveTextDocumentParams) -> None:
        buffer = ls.buffers.get(params.text_document.uri)
        if buffer is None:
            return
        ls.schedule(buffer.uri, 0)
        if buffer.abs_path is not None:
            asyncio.get_running_loop().create_task(ls.scan_project(buffer.root))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GapcheckServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.close_buffer(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    async def code_action(ls: GapcheckServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return await ls.code_actions(params)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: GapcheckServer, params: types.HoverParams) -> types.Hover | None:
        return ls.hover(params)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: GapcheckServer, params: Any) -> None:
        ls.stop_scans()
        ls.analysis.shutdown(wait=False, cancel_futures=True)

    return server


def serve() -> None:
    """Run the server on stdin/stdout until the client says exit."""
    create_server().start_io()
