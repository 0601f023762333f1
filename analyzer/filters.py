"""Filters the command line applies around the engine, never inside it.

- `--force-exclude`: drop files named on the command line that an exclude pattern or a .gitignore would skip in a
  folder walk (pre-commit and editors pass file names explicitly; without it, excluded files would be scanned).
- `--baseline FILE`: leave out the findings recorded in a baseline (analyzer/baseline.py).
- `--diff REF`: keep only the findings on lines changed since a git ref (analyzer/gitdiff.py).

The post-filters remove findings from the result (in SARIF they are simply absent) and count what they hid, so the
text and JSON summaries can say so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import baseline as baseline_mod
from . import gitdiff
from .config import Settings
from .discovery import _git_chain, _Ignores
from .engine import ScanResult


@dataclass
class FilteredResult(ScanResult):
    # Findings left out by each post-filter, in the order applied: {"baseline": 3, "diff": 12}.
    hidden: dict[str, int] = field(default_factory=dict)


@dataclass
class PostFilters:
    """The baseline and the git changes, read before the scan so a bad file or ref fails fast (exit 2)."""

    cwd: Path
    baseline: str | None = None
    recorded: list[dict[str, str]] | None = None
    changes: gitdiff.Changes | None = None

    @classmethod
    def load(cls, cwd: Path, baseline: str | None, diff: str | None) -> PostFilters:
        recorded = baseline_mod.read(baseline) if baseline else None
        changes = gitdiff.changes_since(diff, cwd) if diff else None
        return cls(cwd, baseline, recorded, changes)

    @property
    def active(self) -> bool:
        return self.recorded is not None or self.changes is not None


def apply(result: ScanResult, filters: PostFilters) -> ScanResult:
    """Baseline first (it matches against every current finding), then the diff."""
    if not filters.active:
        return result
    findings = result.findings
    hidden: dict[str, int] = {}
    if filters.recorded is not None and filters.baseline:
        findings, hidden["baseline"] = baseline_mod.new_findings(findings, filters.baseline, filters.cwd,
                                                                 filters.recorded)
    if filters.changes is not None:
        findings, hidden["diff"] = gitdiff.changed_findings(findings, filters.changes, filters.cwd)
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    values.update(findings=findings, hidden=hidden)
    return FilteredResult(**values)


def drop_excluded(settings: Settings) -> list[str]:
    """The command-line paths without the files a folder walk would have excluded."""
    ignores = _Ignores(settings)
    kept = []
    for raw in settings.paths:
        abs_path = os.path.normpath(os.path.join(settings.cwd, raw))
        if not os.path.isfile(abs_path) or not _excluded_file(abs_path, ignores, str(settings.project_root)):
            kept.append(raw)
    return kept


def _excluded_file(abs_path: str, ignores: _Ignores, project_root: str) -> bool:
    """Excluded itself, or below an excluded folder, up to the git work tree's root or the config's folder."""
    chain = _git_chain(os.path.dirname(abs_path))
    # Outside git the chain is only the file's own folder, which must not stop the walk up to the config's folder.
    in_git = os.path.exists(os.path.join(chain[0], ".git"))
    tops = {chain[0], project_root} if in_git else {project_root}
    if ignores.excluded(abs_path, False, chain):
        return True
    folder = os.path.dirname(abs_path)
    while folder not in tops:
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        if ignores.excluded(folder, True, [c for c in chain if c != folder and _is_within(folder, c)]):
            return True
        folder = parent
    return False


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
