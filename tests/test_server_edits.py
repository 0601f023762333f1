"""The language server's pure parts: positions, fix and ignore edits, findings carried across edits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from gapcheck.analyzer.config import Settings
from gapcheck.analyzer.findings import Finding
from gapcheck.analyzer.server import (
    UNSAFE_PREFIX, carried, fix_action, ignore_edit, lsp_position, wants_quick_fixes,
)
from gapcheck.analyzer.single import TextAnalyser
from gapcheck.analyzer.source import split_lines

UTF16 = types.PositionEncodingKind.Utf16
UTF8 = types.PositionEncodingKind.Utf8


@dataclass(frozen=True)
class StubEdit:
    """The shape of `fixes.Edit`: 1-based lines, 1-based character columns, end exclusive."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    text: str


@dataclass(frozen=True)
class StubFix:
    rule_id: str
    title: str
    applicability: str
    edits: tuple[StubEdit, ...]


def analyser() -> TextAnalyser:
    return TextAnalyser(Settings(cwd=Path("."), project_root=Path(".")))


def finding(line: int, end_line: int | None = None, rule_id: str = "GAP501") -> Finding:
    return Finding("app.py", line, 5, end_line or line, 9, rule_id, "message", "warning")


def test_fix_edits_become_zero_based_utf16_ranges_in_a_versioned_quick_fix() -> None:
    lines = split_lines('label = "😀"; run(cmd)\nsecond = "é"; go()\n')
    fix = StubFix("GAP404", "Add `timeout=`", "unsafe", (
        StubEdit(1, 21, 1, 21, ", timeout=30"),  # after `cmd`: 20 characters, 21 UTF-16 units precede it
        StubEdit(1, 14, 2, 14, "x"),  # across lines, ending after `é` (one unit in UTF-16, two bytes in UTF-8)
    ))
    diag = types.Diagnostic(range=types.Range(start=types.Position(line=0, character=0),
                                              end=types.Position(line=0, character=1)), message="m")
    action = fix_action("file:///app.py", 7, lines, fix, UTF16, [diag])
    assert action.kind == types.CodeActionKind.QuickFix
    assert action.title == f"{UNSAFE_PREFIX}Add `timeout=` (GAP404)" and not action.is_preferred
    assert action.diagnostics == [diag]
    (change,) = action.edit.document_changes
    assert (change.text_document.uri, change.text_document.version) == ("file:///app.py", 7)
    first, second = change.edits
    assert (first.range.start.line, first.range.start.character, first.range.end.character) == (0, 21, 21)
    assert first.new_text == ", timeout=30"
    assert (second.range.start.line, second.range.start.character) == (0, 14)
    assert (second.range.end.line, second.range.end.character) == (1, 13)

    utf8 = fix_action("file:///app.py", 7, lines, fix, UTF8, [], document_changes=False)
    (only,) = utf8.edit.changes.values()
    assert only[0].range.start.character == 23 and only[1].range.end.character == 14  # 😀 is 4 bytes, é 2


def test_a_safe_fix_is_preferred_and_titled_as_the_fix_says() -> None:
    fix = StubFix("GAP501", "Log the exception", "safe", (StubEdit(1, 1, 1, 1, "x"),))
    action = fix_action("file:///a.py", 1, ["pass"], fix, UTF16, [])
    assert action.title == "Log the exception (GAP501)" and action.is_preferred


def test_positions_past_the_end_clamp_to_the_end() -> None:
    lines = ["a = 1", "bé"]
    assert lsp_position(lines, 9, 1, UTF16) == types.Position(line=1, character=2)
    assert lsp_position(lines, 2, 99, UTF16) == types.Position(line=1, character=2)
    assert lsp_position([], 1, 1, UTF16) == types.Position(line=0, character=0)


def apply_line_edit(text: str, edit: types.TextEdit) -> str:
    lines = text.split("\n")
    line = lines[edit.range.start.line]
    lines[edit.range.start.line] = line[:edit.range.start.character] + edit.new_text + line[edit.range.end.character:]
    return "\n".join(lines)


def test_ignore_comment_goes_after_a_multiline_string_and_suppresses_the_finding() -> None:
    text = ('import subprocess\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.post("/run")\ndef run():\n'
            '    subprocess.run("""convert\n    a.png b.png""", shell=True, check=True)\n')
    (found,) = [f for f in analyser().analyse("app.py", text).findings if f.rule_id == "GAP404"]
    edit = ignore_edit(text, found, UTF16)
    assert edit is not None and edit.range.start.line == 9 and edit.new_text == "  # gapcheck: ignore[GAP404]"
    assert "GAP404" not in {f.rule_id for f in analyser().analyse("app.py", apply_line_edit(text, edit)).findings}


def test_no_ignore_action_where_no_comment_could_cover_the_line() -> None:
    # The string starts on the clause header's line; a comment after it covers only its own line.
    text = 'def f():\n    try:\n        work()\n    except Exception: x = """a\nb"""\n'
    (found,) = analyser().analyse("app.py", text).findings
    assert ignore_edit(text, found, UTF16) is None


def test_ignore_comment_goes_after_a_backslash_continuation() -> None:
    text = ('import subprocess\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.post("/run")\ndef run():\n'
            '    subprocess.run(["make"]) or \\\n        notify()\n')
    (found,) = [f for f in analyser().analyse("app.py", text).findings if f.rule_id == "GAP404"]
    edit = ignore_edit(text, found, UTF16)
    assert edit is not None and edit.range.start.line == 9
    assert "GAP404" not in {f.rule_id for f in analyser().analyse("app.py", apply_line_edit(text, edit)).findings}
    header = "def f():\n    try:\n        work()\n    except \\\n            Exception:\n        pass\n"
    (found,) = analyser().analyse("app.py", header).findings
    assert ignore_edit(header, found, UTF16) is None  # a comment after the header's colon covers only that line


def test_ignore_comment_replaces_trailing_spaces_and_keeps_other_comments() -> None:
    text = "try:\n    work()\nexcept Exception:   \n    pass\n"
    edit = ignore_edit(text, finding(3), UTF16)
    assert apply_line_edit(text, edit).split("\n")[2] == "except Exception:  # gapcheck: ignore[GAP501]"
    noqa = "try:\n    work()\nexcept Exception:  # noqa: BLE001\n    pass\n"
    line = apply_line_edit(noqa, ignore_edit(noqa, finding(3), UTF16)).split("\n")[2]
    assert line == "except Exception:  # noqa: BLE001  # gapcheck: ignore[GAP501]"
    bare = "try:\n    work()\nexcept Exception:  # gapcheck: ignore\n    pass\n"
    assert ignore_edit(bare, finding(3), UTF16) is None
    other = "try:\n    work()\nexcept Exception:  # gapcheck: GAP501 is wrong here, see #12\n    pass\n"
    line = apply_line_edit(other, ignore_edit(other, finding(3), UTF16)).split("\n")[2]
    assert line == "except Exception:  # gapcheck: GAP501 is wrong here, see #12  # gapcheck: ignore[GAP501]"


def test_scan_findings_move_with_their_lines_and_drop_when_a_line_they_span_changes() -> None:
    old = ["a", "b", "c", "d"]
    new = ["new", "a", "b", "c!", "d"]
    kept = carried([finding(2), finding(3), finding(1, 2), finding(3, 4)], old, new)
    assert [(f.line, f.end_line) for f in kept] == [(3, 3), (2, 3)]


def test_quick_fixes_answer_requests_for_quickfix_or_any_kind() -> None:
    assert wants_quick_fixes(None) and wants_quick_fixes([]) and wants_quick_fixes(["quickfix"])
    assert wants_quick_fixes([types.CodeActionKind.Empty])
    assert not wants_quick_fixes([types.CodeActionKind.SourceOrganizeImports])
    assert not wants_quick_fixes(["quickfix.other"])
