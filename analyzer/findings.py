"""The Finding type, notifications, deterministic ordering and fingerprints."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Iterable


@dataclass(frozen=True, order=True)
class Finding:
    # Field order is the sort order: path, then position, then rule.
    path: str
    line: int
    column: int  # 1-based
    end_line: int
    end_column: int  # 1-based, exclusive
    rule_id: str
    message: str
    severity: str
    source: str = "python"  # "python" or "semgrep"
    fingerprint: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule_id,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "severity": self.severity,
            "message": self.message,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        return cls(
            path=data["path"], line=data["line"], column=data["column"], end_line=data["end_line"],
            end_column=data["end_column"], rule_id=data["rule"], message=data["message"],
            severity=data["severity"], source=data.get("source", "python"), fingerprint=data.get("fingerprint", ""),
        )


@dataclass(frozen=True, order=True)
class Notification:
    """Something that kept gapcheck from analysing a file (or ran wrong): never a silent skip."""

    path: str  # "" when not about one file
    kind: str  # read-error | decode-error | syntax-error | too-complex | check-error | semgrep-error | ...
    message: str
    level: str = "error"  # SARIF notification level: error | warning | note


def dedupe_and_sort(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, place); the Python check wins over a Semgrep rule reporting the same spot."""
    best: dict[tuple[str, str, int, int], Finding] = {}
    for finding in findings:
        key = (finding.path, finding.rule_id, finding.line, finding.column)
        kept = best.get(key)
        if kept is None or (kept.source, kept.end_line, kept.end_column, kept.message) > (
            finding.source, finding.end_line, finding.end_column, finding.message
        ):
            best[key] = finding
    return sorted(best.values())


def with_fingerprints(findings: list[Finding], lines: list[str]) -> list[Finding]:
    """Fingerprint each finding of one file from its rule, its line's text and its rank among equal lines.

    The line number is deliberately left out, so inserting unrelated lines above a finding keeps its
    fingerprint; the occurrence rank keeps two identical lines apart.
    """
    seen: dict[tuple[str, str], int] = {}
    out = []
    for finding in findings:
        text = lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""
        text = " ".join(text.split())
        rank = seen.get((finding.rule_id, text), 0)
        seen[(finding.rule_id, text)] = rank + 1
        digest = hashlib.blake2b(
            f"{finding.rule_id}\0{finding.path}\0{text}\0{rank}".encode(), digest_size=16
        ).hexdigest()
        out.append(replace(finding, fingerprint=digest))
    return out
