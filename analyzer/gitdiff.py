"""Diff-only mode: keep the findings on lines added or changed since a git ref.

The comparison point is where the current branch left the ref (`git merge-base REF HEAD`), as a pull request
sees it, and the comparison runs against the working tree, so staged, unstaged and untracked changes count
(an untracked file counts as wholly added). Renames are followed (`-M`): a renamed file's unchanged lines are not
new. A finding is kept when any line of its range was added or changed, or when lines were deleted inside its
range (removing `timeout=5,` from a call that spans lines changes that call). A finding whose cause lives in
another file (an N+1 query through a helper) is kept only when its own reported lines changed.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .findings import Finding

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class GitDiffError(Exception):
    """Not a git work tree, an unknown ref, or git missing: a clear message, exit code 2."""


@dataclass
class FileChanges:
    lines: set[int] = field(default_factory=set)  # added or changed lines, 1-based, in the new file
    deletions: set[int] = field(default_factory=set)  # n: lines were deleted between new lines n and n + 1
    whole: bool = False  # untracked or otherwise new as a whole

    def touches(self, start: int, end: int) -> bool:
        if self.whole:
            return True
        end = max(start, end)
        return any(n in self.lines for n in range(start, end + 1)) or any(
            start <= n < end for n in self.deletions)


def _git(args: list[str], cwd: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-c", "core.quotePath=off", *args], check=False, cwd=cwd, capture_output=True,
                              text=True, encoding="utf-8", errors="surrogateescape", timeout=300)
    except FileNotFoundError:
        raise GitDiffError("--diff needs git, and git is not installed or not on PATH") from None


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual file names ("a\\tb.py")."""
    if not (path.startswith('"') and path.endswith('"')):
        return path
    raw = path[1:-1].encode("utf-8", "surrogateescape").decode("unicode_escape")
    return raw.encode("latin-1", "surrogateescape").decode("utf-8", "surrogateescape")


def parse_diff(text: str) -> dict[str, FileChanges]:
    """`git diff --unified=0` output -> changed lines per new path (relative to the repository root)."""
    changes: dict[str, FileChanges] = {}
    current: FileChanges | None = None
    for line in text.splitlines():
        if line.startswith("diff --git "):
            current = None
        elif line.startswith("+++ "):
            target = line[4:].rstrip("\t")
            if target == "/dev/null":
                current = None  # a deleted file has nothing to report
            else:
                target = _unquote(target)
                current = changes.setdefault(target.removeprefix("b/"), FileChanges())
        elif line.startswith("@@") and current is not None:
            match = HUNK.match(line)
            if not match:
                continue
            start, count = int(match.group(1)), int(match.group(2) if match.group(2) is not None else 1)
            if count == 0:
                current.deletions.add(start)
            else:
                current.lines.update(range(start, start + count))
    return changes


@dataclass
class Changes:
    root: str
    files: dict[str, FileChanges]

    def keeps(self, finding: Finding, cwd: Path) -> bool:
        real = os.path.realpath(os.path.join(cwd, finding.path))
        rel = os.path.relpath(real, self.root).replace(os.sep, "/")
        changed = self.files.get(rel)
        return changed is not None and changed.touches(finding.line, finding.end_line)


def changes_since(ref: str, cwd: Path) -> Changes:
    top = _git(["rev-parse", "--show-toplevel"], str(cwd))
    if top.returncode != 0:
        raise GitDiffError(f"--diff {ref}: {cwd} is not inside a git work tree")
    root = os.path.realpath(top.stdout.strip())
    if ref.startswith("-"):
        raise GitDiffError(f"--diff {ref}: not a git ref")
    verified = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], root)
    if verified.returncode != 0:
        raise GitDiffError(f"--diff {ref}: unknown git ref (in a shallow CI checkout, fetch it first, "
                           f"e.g. actions/checkout with fetch-depth: 0)")
    base = verified.stdout.strip()
    merge_base = _git(["merge-base", base, "HEAD"], root)
    if merge_base.returncode == 0 and merge_base.stdout.strip():
        base = merge_base.stdout.strip()
    diff = _git(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
                 "--src-prefix=a/", "--dst-prefix=b/", base, "--"], root)
    if diff.returncode != 0:
        raise GitDiffError(f"--diff {ref}: git diff failed: {diff.stderr.strip()}")
    files = parse_diff(diff.stdout)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], root)
    if untracked.returncode == 0:
        for name in untracked.stdout.split("\0"):
            if name:
                files[name] = FileChanges(whole=True)
    return Changes(root, files)


def changed_findings(findings: list[Finding], changes: Changes, cwd: Path) -> tuple[list[Finding], int]:
    """The findings on lines in `changes` (from `changes_since`), and how many were left out."""
    kept = [f for f in findings if changes.keeps(f, cwd)]
    return kept, len(findings) - len(kept)
