"""Baselines: record today's findings once, then report only the findings that are new.

A baseline entry keys a finding by its rule, its file (relative to the baseline file's folder, so the baseline
works from any working directory) and a hash of its line's whitespace-normalised text. The line number is not part
of the key, so edits above a finding do not make it new. Matching is a multiset match: two identical baselined
lines in a file cover two findings, a third identical one is new.

A file rename keeps its findings baselined: a finding whose (rule, path, text) key is not in the baseline may still
match, by (rule, text) alone, an entry whose file no longer exists. Entries of files that still exist are never
borrowed that way, so copying a baselined line into another file reports it.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .findings import Finding
from .source import lines_of

FORMAT = "gapcheck-baseline"
VERSION = 1


class BaselineError(Exception):
    """An unreadable or malformed baseline file: a clear message, exit code 2."""


def line_key(rule_id: str, text: str) -> str:
    """The rename-proof half of a finding's identity: its rule and its line's text, whitespace-normalised."""
    normal = " ".join(text.split())
    return hashlib.blake2b(f"{rule_id}\0{normal}".encode(), digest_size=12).hexdigest()


class _Lines:
    """Source lines of the files that have findings, read once each."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.files: dict[str, list[str]] = {}

    def text(self, finding: Finding) -> str:
        if finding.path not in self.files:
            try:
                self.files[finding.path] = lines_of((self.cwd / finding.path).read_bytes())
            except OSError:
                self.files[finding.path] = []
        lines = self.files[finding.path]
        return lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""


def _relative(path: str, cwd: Path, anchor: Path) -> str:
    return os.path.relpath(os.path.normpath(cwd / path), anchor).replace(os.sep, "/")


def entries(findings: Iterable[Finding], cwd: Path, anchor: Path) -> list[dict[str, object]]:
    lines = _Lines(cwd)
    out = []
    for finding in findings:
        out.append({
            "rule": finding.rule_id,
            "path": _relative(finding.path, cwd, anchor),
            "key": line_key(finding.rule_id, lines.text(finding)),
            # Informative only (a reviewer reading the baseline's diff); matching ignores them.
            "line": finding.line,
            "message": finding.message,
        })
    return out


def write(path: str, findings: list[Finding], cwd: Path) -> int:
    target = Path(path)
    anchor = (cwd / target).resolve().parent
    doc = {"format": FORMAT, "version": VERSION, "findings": entries(findings, cwd, anchor)}
    try:
        target.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
    return len(doc["findings"])


def read(path: str) -> list[dict[str, str]]:
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"baseline {path} is not UTF-8 text") from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"baseline {path} is not valid JSON (line {exc.lineno}: {exc.msg}); "
                            f"write a new one with --write-baseline") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BaselineError(f"{path} is not a gapcheck baseline (no \"format\": \"{FORMAT}\"); "
                            f"write one with --write-baseline")
    if doc.get("version") != VERSION:
        raise BaselineError(f"baseline {path} has version {doc.get('version')!r}; this gapcheck reads version "
                            f"{VERSION}: write a new one with --write-baseline")
    found = doc.get("findings")
    if not isinstance(found, list):
        raise BaselineError(f"baseline {path}: \"findings\" must be a list")
    for i, entry in enumerate(found):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("rule", "path", "key")):
            raise BaselineError(f"baseline {path}: findings[{i}] needs string fields rule, path and key")
    return found


def new_findings(findings: list[Finding], baseline_path: str, cwd: Path,
                 recorded: list[dict[str, str]] | None = None) -> tuple[list[Finding], int]:
    """The findings not covered by the baseline (`recorded`: its entries, if already read), and how many it covered."""
    if recorded is None:
        recorded = read(baseline_path)
    anchor = (cwd / baseline_path).resolve().parent
    exact = Counter((e["rule"], e["path"], e["key"]) for e in recorded)
    current = entries(findings, cwd, anchor)

    unmatched: list[tuple[Finding, dict]] = []
    for finding, entry in zip(findings, current):
        key = (entry["rule"], entry["path"], entry["key"])
        if exact[key] > 0:
            exact[key] -= 1
        else:
            unmatched.append((finding, entry))

    # Entries whose file is gone (renamed or moved) may cover findings elsewhere, by rule and line text.
    gone = Counter((rule, key) for (rule, path, key), count in exact.items()
                   for _ in range(count) if not (anchor / path).exists())
    kept = []
    for finding, entry in unmatched:
        loose = (entry["rule"], entry["key"])
        if gone[loose] > 0:
            gone[loose] -= 1
        else:
            kept.append(finding)
    return kept, len(findings) - len(kept)
