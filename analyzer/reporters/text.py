"""ruff-like terminal output: `path:line:col: GAP501 message`, notifications, then one summary line."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import get_rule

if TYPE_CHECKING:
    from ..engine import ScanResult


def render(result: "ScanResult", *, cwd: str) -> str:
    lines: list[str] = []
    for finding in result.findings:
        rule = get_rule(finding.rule_id)
        name = f" [{rule.name}]" if rule else ""
        lines.append(f"{finding.path}:{finding.line}:{finding.column}: {finding.rule_id}{name} {finding.message}")
    for note in result.notifications:
        where = f"{note.path}: " if note.path else ""
        lines.append(f"{where}{note.level}: {note.message} [{note.kind}]")
    lines.append(summary(result))
    return "\n".join(lines) + "\n"


def summary(result: "ScanResult") -> str:
    count = len(result.findings)
    noun = "finding" if count == 1 else "findings"
    parts = [f"Found {count} {noun} in {result.files_analysed} of {result.files} file{'s' if result.files != 1 else ''}"]
    if result.suppressed:
        parts.append(f"{result.suppressed} suppressed")
    hidden = getattr(result, "hidden", {})  # set by the --baseline / --diff post-filters (analyzer/filters.py)
    if "baseline" in hidden:
        parts.append(f"{hidden['baseline']} in the baseline not shown")
    if "diff" in hidden:
        parts.append(f"{hidden['diff']} on unchanged lines not shown")
    skipped = result.files - result.files_analysed
    if skipped:
        parts.append(f"{skipped} not analysed")
    tests = getattr(result, "tests_skipped", 0)
    if tests:
        parts.append(f"{tests} test module{'' if tests == 1 else 's'} left out (--include-tests)")
    if result.semgrep_failed:
        parts.append("Semgrep did not complete (see its notices)")
    return "; ".join(parts) + "."
