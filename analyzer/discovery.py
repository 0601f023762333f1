"""Paths on the command line -> the Python files to analyse, honouring .gitignore and excludes.

Directories are walked without following symlinked folders (so a symlink loop cannot trap the walk); a broken
symlink or an unreadable folder becomes a notification, never a silent skip. Files named explicitly on the command
line are analysed even when an exclude pattern would skip them, as ruff does. `.pyi` stubs are not analysed: they
hold no runtime behaviour, which is all gapcheck's rules are about.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pathspec

from .config import Settings
from .findings import Notification

PYTHON_SUFFIXES = (".py",)


@dataclass(frozen=True)
class SourceFile:
    abs_path: str
    path: str  # as reported: relative to the working directory when under it, with forward slashes
    module_name: str = ""
    rule_test: bool = False  # a linter rule's test file (see `is_rule_test_file`): test code, whatever its path


class _Ignores:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        patterns = list(settings.exclude) + list(settings.extend_exclude)
        self.names = {p for p in patterns if "/" not in p and not any(ch in p for ch in "*?[!")}
        self.spec = pathspec.GitIgnoreSpec.from_lines([p for p in patterns if p not in self.names])
        self.gitignores: dict[str, pathspec.GitIgnoreSpec | None] = {}

    def _gitignore(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder not in self.gitignores:
            spec = None
            try:
                with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as handle:
                    spec = pathspec.GitIgnoreSpec.from_lines(handle.read().splitlines())
            except OSError:
                pass
            self.gitignores[folder] = spec
        return self.gitignores[folder]

    def excluded(self, abs_path: str, is_dir: bool, git_chain: list[str]) -> bool:
        if os.path.basename(abs_path) in self.names:
            return True
        root = str(self.settings.project_root)
        suffix = "/" if is_dir else ""
        if self.spec.patterns and abs_path.startswith(root + os.sep):
            if self.spec.match_file(os.path.relpath(abs_path, root).replace(os.sep, "/") + suffix):
                return True
        if self.settings.respect_gitignore:
            for folder in git_chain:
                spec = self._gitignore(folder)
                if spec is not None and spec.match_file(
                    os.path.relpath(abs_path, folder).replace(os.sep, "/") + suffix
                ):
                    return True
        return False


def _git_chain(folder: str) -> list[str]:
    """Folders from the enclosing git work tree's root down to `folder` (only `folder` outside git)."""
    chain = [folder]
    current = folder
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return list(reversed(chain))
        parent = os.path.dirname(current)
        if parent == current:
            return [folder]
        chain.append(parent)
        current = parent


# Test code, by path: folders named tests/test/testing, conftest.py, test_*.py, *_test.py, pytest_*.py plugins,
# and the modules tests.py, test.py and testing.py. gapcheck reports production gaps, so these files are not analysed unless
# `include-tests` asks for them; the rules that look at them anyway (with `include-tests`) use the same test.
TEST_FOLDERS = frozenset({"tests", "test", "testing"})
TEST_PARTS = (*(f"/{name}/" for name in sorted(TEST_FOLDERS)), "/conftest.py")


# Django's `startapp` puts an app's tests in `tests.py`; `testing.py` holds test helpers (factories, base cases).
# A pytest plugin a project ships for its test suites (`pytest_plugin.py`, `pytest_<name>.py`) holds fixtures.
TEST_MODULE_NAMES = frozenset({"tests.py", "test.py", "testing.py", "pytest_plugin.py", "pytest_plugins.py"})


# A repository's own tooling, by path: developer and operator scripts that no server or worker runs. A top-level
# folder of the path as reported, named like a tooling folder (`tools/conv.py`, `dev/code-generation/`, `cli/`
# beside the package, `devops/`, `scripts/`), or a `devops/`, `devtools/` or benchmark folder (`benchmarks/`,
# `*_benchmark/`) anywhere. Only the top level counts for the common names: an app's own `agents/tools/` or
# `importer/cli.py` is production code. Rules about a running service (timeouts, N+1, unbounded reads, logging of
# outages, SQL and shell built from values) leave these files out; the rest (secrets, swallowed errors) do not. A
# program whose file name cannot be imported (`upload-screenshots.py` with an `if __name__ == "__main__":` block)
# is tooling too: `is_script_name`.
TOOLING_TOP_FOLDERS = frozenset({"tools", "tool", "dev", "devops", "devtools", "scripts", "script", "bin", "hack",
                                 "cli", "ci", "maintenance"})
TOOLING_FOLDERS = frozenset({"devops", "devtools"})
# A benchmark suite, anywhere (`benchmarks/`, `packages/tracecat-benchmark/tracecat_benchmark/`): it measures the
# service from outside and runs by hand.
BENCHMARK_FOLDER = re.compile(r"(?:^|[-_])bench(?:mark)?s?$")
MAIN_GUARD = re.compile(r"^if\s+__name__\s*==\s*[\"']__main__[\"']\s*:", re.MULTILINE)


def is_tooling_path(path: str) -> bool:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    folders = parts[:-1]
    top = folders[0] if folders and not os.path.isabs(path) else ""  # (an absolute path has no scan-relative top)
    return top in TOOLING_TOP_FOLDERS or any(f in TOOLING_FOLDERS or BENCHMARK_FOLDER.search(f) for f in folders)


def is_script_name(path: str) -> bool:
    """`upload-screenshots.py`: a file no `import` can name, so it is only ever run as a program."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name[:-3] if name.endswith(".py") else name
    return bool(stem) and not stem.isidentifier()


def is_test_path(path: str) -> bool:
    path = "/" + path.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    return (any(part in path for part in TEST_PARTS) or name.startswith(("test_", "pytest_"))
            or name.endswith("_test.py") or name in TEST_MODULE_NAMES)


# A Semgrep rule's test file sits beside the rule (`foo.yaml` + `foo.py`, the layout `semgrep --test` reads, as in a
# project's `.semgrep/` folder) and marks the lines the rule must match with `# ruleid: <id>`. Its code is written
# to trip linters and never runs, so it is test code. Both signs are required: a module beside a YAML file of the
# same name (`settings.py` + `settings.yaml`) is ordinary code.
RULE_TEST_MARK = re.compile(rb"^[ \t]*#[ \t]*(?:todo)?ruleid:", re.MULTILINE)
RULE_SUFFIXES = (".yaml", ".yml")


def is_rule_test_file(abs_path: str, siblings: "frozenset[str] | None" = None) -> bool:
    """Whether this `.py` file is a linter rule's test file: a rule file of the same name beside it and a
    `# ruleid:` annotation in it. `siblings` (the folder's file names) spares a listing when the caller has one."""
    folder, name = os.path.split(abs_path)
    stem = name[:-3] if name.endswith(".py") else name
    if siblings is None:
        has_rule = any(os.path.isfile(os.path.join(folder, stem + suffix)) for suffix in RULE_SUFFIXES)
    else:
        has_rule = any(stem + suffix in siblings for suffix in RULE_SUFFIXES)
    if not has_rule:
        return False
    try:
        with open(abs_path, "rb") as handle:
            return RULE_TEST_MARK.search(handle.read(1 << 20)) is not None
    except OSError:
        return False  # the engine reports the unreadable file when it reads it


def display_path(abs_path: str, cwd: str) -> str:
    rel = os.path.relpath(abs_path, cwd)
    if rel.startswith(".." + os.sep) or rel == "..":
        return abs_path.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


class _Modules:
    """Dotted module names from `__init__.py` packages, one stat per folder."""

    def __init__(self) -> None:
        self.packages: dict[str, str | None] = {}

    def package_of(self, folder: str) -> str | None:
        if folder not in self.packages:
            if os.path.isfile(os.path.join(folder, "__init__.py")):
                parent = self.package_of(os.path.dirname(folder)) if os.path.dirname(folder) != folder else None
                name = os.path.basename(folder)
                self.packages[folder] = f"{parent}.{name}" if parent else name
            else:
                self.packages[folder] = None
        return self.packages[folder]

    def module_of(self, abs_path: str) -> str:
        stem = os.path.splitext(os.path.basename(abs_path))[0]
        package = self.package_of(os.path.dirname(abs_path))
        if stem == "__init__":
            return package or ""
        return f"{package}.{stem}" if package else stem


def discover(settings: Settings, tests_left_out: list[int] | None = None) -> tuple[list[SourceFile], list[Notification]]:
    """The files to scan. Given `tests_left_out` (a one-item list) and with `include-tests` off, test folders met
    on the walk are not walked for analysis: their Python files are only counted into it (the engine drops the
    other test modules, such as a `test_*.py` file or one named on the command line, by `is_test_path`)."""
    cwd = str(settings.cwd)
    prune = tests_left_out if tests_left_out is not None and not settings.include_tests else None
    ignores = _Ignores(settings)
    modules = _Modules()
    found: dict[str, SourceFile] = {}
    notes: list[Notification] = []

    def add(abs_path: str, siblings: "frozenset[str] | None" = None) -> None:
        if abs_path not in found:
            found[abs_path] = SourceFile(abs_path, display_path(abs_path, cwd), modules.module_of(abs_path),
                                         is_rule_test_file(abs_path, siblings))

    for raw in settings.paths:
        abs_path = os.path.normpath(os.path.join(cwd, raw))
        if os.path.islink(abs_path) and not os.path.exists(abs_path):
            notes.append(Notification(display_path(abs_path, cwd), "broken-path",
                                      "broken symlink or symlink loop: not analysed"))
            continue
        if not os.path.exists(abs_path):
            notes.append(Notification(raw, "missing-path", f"path {raw!r} does not exist"))
            continue
        if os.path.isfile(abs_path):
            add(abs_path)
            continue
        _walk(abs_path, ignores, _git_chain(abs_path), add, notes, cwd, prune)
    files = sorted(found.values(), key=lambda f: f.path)
    return files, notes


def _walk(top: str, ignores: _Ignores, chain: list[str], add, notes: list[Notification], cwd: str,
          prune: list[int] | None = None) -> None:
    stack: list[tuple[str, list[str]]] = [(top, chain)]
    while stack:
        folder, git_chain = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            notes.append(Notification(display_path(folder, cwd), "read-error",
                                      f"cannot list folder: {exc.strerror or exc}"))
            continue
        sub_chain = git_chain if folder in git_chain else git_chain + [folder]
        names = frozenset(e.name for e in entries)
        for entry in entries:
            path = entry.path
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not ignores.excluded(path, True, sub_chain):
                        if prune is not None and entry.name in TEST_FOLDERS:
                            prune[0] += _count_python(path)
                        else:
                            stack.append((path, sub_chain))
                    continue
                if not entry.name.endswith(PYTHON_SUFFIXES):
                    continue
                if entry.is_symlink() and not os.path.exists(path):
                    if not ignores.excluded(path, False, sub_chain):
                        notes.append(Notification(display_path(path, cwd), "broken-path",
                                                  "broken symlink or symlink loop: not analysed"))
                    continue
                if entry.is_file() and not ignores.excluded(path, False, sub_chain):
                    add(path, names)
            except OSError as exc:
                notes.append(Notification(display_path(path, cwd), "read-error", f"cannot stat: {exc.strerror or exc}"))
    return None


def _count_python(top: str) -> int:
    """Python files under a test folder that is not walked for analysis (symlinked folders not followed)."""
    count, stack = 0, [top]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.name.endswith(PYTHON_SUFFIXES):
                        count += 1
        except OSError:
            continue
    return count


__all__ = ["SourceFile", "discover", "display_path", "is_rule_test_file", "is_test_path", "Path"]
