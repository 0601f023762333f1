"""One file's text under one project's settings -> the findings `gapcheck scan` would report for that file.

Editors analyse unsaved buffers, so this takes the text, never a path to read. It runs the Python checks only:
Semgrep and the project-wide checks need the files on disk and every other file of the project, so the language
server gets those from a full scan on save. The filtering is the scan's: selected and ignored rules, per-file
ignores, inline suppressions and severity overrides; the findings carry the same fingerprints.
"""
from __future__ import annotations

import io
import os
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from . import suppressions
from .config import Settings
from .discovery import discover, display_path
from .engine import Dispatcher, analyse_source, enabled_rules, keep_findings
from .findings import Finding, Notification
from .source import split_lines


@dataclass(frozen=True)
class TextResult:
    findings: tuple[Finding, ...]
    notifications: tuple[Notification, ...]
    suppressed: int
    analysed: bool = True  # False: the text could not be analysed (it does not parse, say); notifications say why


class TextAnalyser:
    """The enabled rules and their dispatch tables for one project's settings, built once and reused for every
    buffer of that project: building them costs more than analysing a small file. Not thread-safe (the dispatcher
    memoizes its tables), so one thread uses it at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        rules = enabled_rules(settings)
        self.enabled_ids = frozenset(r.id for r in rules)
        # The project index feeds project checks, which a buffer never runs: left out.
        self.dispatcher = Dispatcher([r for r in rules if r.is_python], facts=False)
        self._excluded: dict[Path, bool] = {}

    def excludes(self, abs_path: Path) -> bool:
        """Whether a folder scan would skip this file (`exclude`, `extend-exclude`, .gitignore, a test module
        without `include-tests`), as `--force-exclude` decides for files named on the command line; memoized."""
        if abs_path not in self._excluded:
            from .discovery import display_path, is_rule_test_file, is_test_path
            from .filters import drop_excluded

            test = not self.settings.include_tests and (
                is_test_path(display_path(str(abs_path), str(self.settings.cwd))) or is_rule_test_file(str(abs_path)))
            self._excluded[abs_path] = test or not drop_excluded(replace(self.settings, paths=[str(abs_path)]))
        return self._excluded[abs_path]

    def analyse(self, path: str, text: str, module_name: str = "") -> TextResult:
        """`path` is the file as the scan names it, relative to `settings.cwd`: per-file ignores match it, and
        checks that treat tests differently read it."""
        file_result = analyse_source(path, encode(text), self.dispatcher, module_name)
        kept, suppressed = self.keep(path, file_result.findings, file_result.suppressions, text)
        return TextResult(tuple(kept), tuple(file_result.notifications), suppressed, file_result.analysed)

    def keep(self, path: str, findings: Iterable[Finding], suppressed_lines: suppressions.Suppressions,
             text: str) -> tuple[list[Finding], int]:
        """The scan's last step for one file (the scan's own function): drop disabled, per-file-ignored and
        suppressed findings, apply the severity overrides, fingerprint the rest."""
        return keep_findings(self.settings, self.enabled_ids, path, findings, suppressed_lines,
                             lambda: split_lines(text))


def analyse_text(path: str, text: str, settings: Settings, module_name: str = "") -> TextResult:
    """One-off form of `TextAnalyser(settings).analyse(...)`; keep a TextAnalyser to analyse many texts."""
    return TextAnalyser(settings).analyse(path, text, module_name)


def encode(text: str) -> bytes:
    """The bytes a file holding this text would have: in its PEP 263 coding when it declares one, because the
    engine decodes by that cookie (UTF-8 bytes under a latin-1 cookie would read back as other characters)."""
    data = text.encode("utf-8", "replace")  # a lone surrogate from the editor becomes one '?', columns unchanged
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # an unknown or conflicting cookie: the engine reports it from the same bytes
        return data
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    try:
        return text.encode(encoding)
    except (UnicodeError, LookupError):
        return data


@dataclass(frozen=True)
class FileIdentity:
    """How the scan would name a file: its path relative to the working directory and its dotted module."""

    path: str
    module_name: str


def identify(abs_path: Path, cwd: Path) -> FileIdentity:
    """The scan's path and module name for `abs_path`, run from `cwd`; for a file not on disk yet, its name."""
    found, _ = discover(Settings(paths=[str(abs_path)], cwd=cwd, project_root=cwd))
    if found:
        return FileIdentity(found[0].path, found[0].module_name)
    return FileIdentity(display_path(str(abs_path), str(cwd)), os.path.splitext(abs_path.name)[0])
