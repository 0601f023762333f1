"""GitHub Actions workflow commands: one `::warning file=...::message` annotation per finding."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import get_rule

if TYPE_CHECKING:
    from ..engine import ScanResult

LEVELS = {"error": "error", "warning": "warning", "note": "notice"}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(result: "ScanResult", *, cwd: str) -> str:
    lines = []
    for finding in result.findings:
        rule = get_rule(finding.rule_id)
        title = f"{finding.rule_id} {rule.name}" if rule else finding.rule_id
        parts = [f"file={_escape_property(finding.path)}", f"line={finding.line}"]
        if finding.end_line > finding.line:
            # The runner drops col/endColumn (with a warning in the log) when line and endLine differ.
            parts.append(f"endLine={finding.end_line}")
        else:
            parts += [f"endLine={finding.line}", f"col={finding.column}",
                      f"endColumn={max(finding.column, finding.end_column)}"]
        parts.append(f"title={_escape_property(title)}")
        props = ",".join(parts)
        lines.append(f"::{LEVELS.get(finding.severity, 'warning')} {props}::{_escape_data(finding.message)}")
    for note in result.notifications:
        props = [f"file={_escape_property(note.path)}"] if note.path else []
        props.append("title=gapcheck")
        lines.append(f"::{LEVELS.get(note.level, 'warning')} {','.join(props)}::{_escape_data(note.message)}")
    return "\n".join(lines) + ("\n" if lines else "")
