"""Settings: `[tool.gapcheck]` in the nearest pyproject.toml, then command-line options on top."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .registry import SEVERITIES, is_valid_selector, resolve_selector

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", "node_modules", "build", "dist", ".tox", ".nox",
    "__pycache__", "site-packages", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".gapcheck_cache", ".eggs",
)
FAIL_ON = ("error", "warning", "note", "never")
DEFAULT_CACHE_DIR = ".gapcheck_cache"
KNOWN_KEYS = {
    "select", "extend-select", "ignore", "exclude", "extend-exclude", "per-file-ignores", "severity", "semgrep",
    "fail-on", "jobs", "cache-dir", "respect-gitignore", "semgrep-timeout", "include-tests",
    "semgrep-rules", "fix-timeout",
}
# Seconds Semgrep may run (wall clock, from its start) before it is stopped and its rules reported as not run.
DEFAULT_SEMGREP_TIMEOUT = 300.0
# Seconds written by the timeout fixes (`timeout=10`); a positive number, at most a day.
DEFAULT_FIX_TIMEOUT = 10
MAX_FIX_TIMEOUT = 86400


class ConfigError(Exception):
    """A bad config file or option: a clear message naming the key, exit code 2."""


@dataclass
class Settings:
    paths: list[str] = field(default_factory=lambda: ["."])
    cwd: Path = field(default_factory=Path.cwd)
    project_root: Path = field(default_factory=Path.cwd)
    config_file: Path | None = None
    select: list[str] = field(default_factory=lambda: ["ALL"])
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    severity: dict[str, str] = field(default_factory=dict)
    semgrep: bool = True
    semgrep_timeout: float = DEFAULT_SEMGREP_TIMEOUT
    fail_on: str = "note"
    jobs: int = 0
    cache: bool = True
    cache_dir: str = ""
    prune_cache: bool = False  # after the scan, delete cache entries it did not use (a CI cache stays small)
    respect_gitignore: bool = True
    # Test modules (tests/ folders, test_*.py, conftest.py) are not analysed unless this is set.
    include_tests: bool = False
    # A team's own Semgrep rule files and folders (`semgrep-rules`, --semgrep-rules); loaded once per scan.
    semgrep_rule_paths: list[Path] = field(default_factory=list)
    custom_rules: list | None = None
    fix_timeout: float = DEFAULT_FIX_TIMEOUT
    _per_file_specs: list = field(default_factory=list, repr=False)

    def ignored_for(self, path: str) -> set[str]:
        """Rule ids that `per-file-ignores` turns off for this file (path relative to the working directory)."""
        if not self.per_file_ignores:
            return set()
        if not self._per_file_specs:
            import pathspec

            for pattern, selectors in sorted(self.per_file_ignores.items()):
                ids = {r.id for s in selectors for r in resolve_selector(s)}
                self._per_file_specs.append((pathspec.GitIgnoreSpec.from_lines([pattern]), ids))
        rel = os.path.relpath(self.cwd / path, self.project_root).replace(os.sep, "/")
        ignored: set[str] = set()
        for spec, ids in self._per_file_specs:
            if spec.match_file(rel):
                ignored |= ids
        return ignored


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.gapcheck] table, from `start` upward."""
    current = start if start.is_dir() else start.parent
    for folder in (current, *current.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if "gapcheck" in data.get("tool", {}):
                return candidate
    return None


def load_table(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot parse config {path}: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("gapcheck", {})
    else:  # a dedicated gapcheck.toml may hold the keys at top level or under [tool.gapcheck]
        table = data.get("tool", {}).get("gapcheck", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.gapcheck] must be a table")
    return table


def _bool(table: dict, key: str, where: str) -> bool:
    if not isinstance(table[key], bool):
        raise ConfigError(f"{where}: `{key}` must be true or false")
    return table[key]


def _string_list(table: dict, key: str, where: str) -> list[str]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings")
    return value


def _check_selectors(selectors: list[str], key: str, where: str) -> None:
    for selector in selectors:
        if not is_valid_selector(selector):
            raise ConfigError(f"{where}: `{key}` names unknown rule or category {selector!r} (see `gapcheck rules`)")


def apply_table(settings: Settings, table: dict, where: str) -> None:
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)} in [tool.gapcheck]; "
                          f"known keys: {', '.join(sorted(KNOWN_KEYS))}")
    for key in ("select", "extend-select", "ignore"):
        if key in table:
            _check_selectors(_string_list(table, key, where), key, where)
    if "select" in table:
        settings.select = list(table["select"])
    if "extend-select" in table:
        settings.select = settings.select + list(table["extend-select"])
    if "ignore" in table:
        settings.ignore = list(table["ignore"])
    if "exclude" in table:
        settings.exclude = _string_list(table, "exclude", where)
    if "extend-exclude" in table:
        settings.extend_exclude = _string_list(table, "extend-exclude", where)
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: `per-file-ignores` must be a table of pattern = [rules]")
        for pattern, selectors in value.items():
            if not isinstance(selectors, list) or not all(isinstance(s, str) for s in selectors):
                raise ConfigError(f"{where}: `per-file-ignores.{pattern}` must be a list of rule ids or categories")
            _check_selectors(selectors, f"per-file-ignores.{pattern}", where)
        settings.per_file_ignores = dict(value)
    if "severity" in table:
        value = table["severity"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: `severity` must be a table of rule = \"error|warning|note\"")
        severity: dict[str, str] = {}
        for selector, level in value.items():
            if level not in SEVERITIES:
                raise ConfigError(f"{where}: `severity.{selector}` = {level!r}; use one of {', '.join(SEVERITIES)}")
            rules = resolve_selector(selector)
            if not rules:
                raise ConfigError(f"{where}: `severity` names unknown rule or category {selector!r}")
            for rule in rules:
                severity[rule.id] = level
        settings.severity = severity
    if "semgrep" in table:
        settings.semgrep = _bool(table, "semgrep", where)
    if "semgrep-timeout" in table:
        value = table["semgrep-timeout"]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ConfigError(f"{where}: `semgrep-timeout` must be a number of seconds > 0")
        settings.semgrep_timeout = float(value)
    if "semgrep-rules" in table:
        base = Path(where).resolve().parent
        settings.semgrep_rule_paths = [base / p for p in _string_list(table, "semgrep-rules", where)]
    if "include-tests" in table:
        settings.include_tests = _bool(table, "include-tests", where)
    if "fix-timeout" in table:
        value = table["fix-timeout"]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= MAX_FIX_TIMEOUT:
            raise ConfigError(f"{where}: `fix-timeout` must be a number of seconds > 0 and <= {MAX_FIX_TIMEOUT}"
                              " (the timeout the fixes write)")
        settings.fix_timeout = value
    if "respect-gitignore" in table:
        settings.respect_gitignore = _bool(table, "respect-gitignore", where)
    if "fail-on" in table:
        if table["fail-on"] not in FAIL_ON:
            raise ConfigError(f"{where}: `fail-on` = {table['fail-on']!r}; use one of {', '.join(FAIL_ON)}")
        settings.fail_on = table["fail-on"]
    if "jobs" in table:
        if not isinstance(table["jobs"], int) or isinstance(table["jobs"], bool) or table["jobs"] < 0:
            raise ConfigError(f"{where}: `jobs` must be a whole number >= 0 (0 = all cores)")
        settings.jobs = table["jobs"]
    if "cache-dir" in table:
        if not isinstance(table["cache-dir"], str):
            raise ConfigError(f"{where}: `cache-dir` must be a string")
        settings.cache_dir = str((settings.project_root / table["cache-dir"]).resolve())


def load_settings(paths: list[str], config_file: str | None, cwd: Path | None = None) -> Settings:
    cwd = cwd or Path.cwd()
    settings = Settings(paths=paths or ["."], cwd=cwd)
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
    else:
        first = (cwd / settings.paths[0]).resolve() if settings.paths else cwd
        path = find_config(first if first.exists() else cwd)
    if path is not None:
        settings.config_file = path
        settings.project_root = path.resolve().parent
        apply_table(settings, load_table(path), str(path))
    if not settings.cache_dir:
        settings.cache_dir = os.environ.get("GAPCHECK_CACHE_DIR") or str(settings.project_root / DEFAULT_CACHE_DIR)
    return settings
