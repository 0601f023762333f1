"""One offline Semgrep run for all shipped rules, started before the Python pass and read after it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .findings import Finding, Notification

if TYPE_CHECKING:
    from .registry import Rule

RULES_DIR = Path(__file__).resolve().parent.parent / "semgrep_rules"
if not RULES_DIR.is_dir():  # running from a source checkout, where the folder keeps the design card's name
    RULES_DIR = Path(__file__).resolve().parent.parent / "semgrep-rules"
# GAPCHECK_SEMGREP names another semgrep executable (a pinned install, or a stand-in in tests).
EXECUTABLE_ENV = "GAPCHECK_SEMGREP"


def rule_file(rule: "Rule") -> Path:
    return RULES_DIR / f"{rule.name}.yaml"


def rules_digest() -> str:
    """Changes whenever a shipped rule file changes, so cached Semgrep results are never stale."""
    digest = hashlib.blake2b(digest_size=16)
    if RULES_DIR.is_dir():
        for path in sorted(RULES_DIR.glob("*.yaml")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def may_match(data: bytes, rules: Sequence["Rule"]) -> bool:
    """A file can only match a rule if it contains one of the rule's hint words (module names it must import)."""
    for rule in rules:
        if not rule.hints or any(hint.encode() in data for hint in rule.hints):
            return True
    return False


@dataclass
class Outcome:
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    scanned: list[str] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    failed: bool = False
    # Files Semgrep reported an error for (it may have run none or only part of its rules on them): the engine
    # decides whether that fails the scan (a file the Python pass analysed) or is already reported (one it could not).
    file_errors: set[str] = field(default_factory=set)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _position(value: object, default: int = 1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


class SemgrepRun:
    def __init__(self, process: subprocess.Popen | None, rules: Sequence["Rule"], targets: list[str],
                 problem: str = "", output: Path | None = None, workdir: str | None = None,
                 timeout: float = 300.0) -> None:
        self.process = process
        self.rules = {r.id: r for r in rules}
        self.targets = {os.path.normpath(t): t for t in targets}  # as Semgrep may spell them -> as given
        self.problem = problem
        self.output = output
        self.workdir = workdir
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def stop(self) -> None:
        """Kill Semgrep and everything it started (semgrep-core), if it still runs; idempotent."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)  # its own process group: see `start`
            else:  # pragma: no cover - Windows
                process.kill()
        except OSError:
            pass

    def _cleanup(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def wait(self) -> Outcome:
        outcome = Outcome()
        count = len(self.rules)
        did_not_run = f"its {count} Semgrep rule(s) did not run"
        if self.process is None:
            outcome.failed = True
            outcome.notifications.append(Notification("", "semgrep-error", f"{self.problem}; {did_not_run} "
                                                      "(install semgrep, or pass --no-semgrep)"))
            return outcome
        try:
            try:
                _, stderr = self.process.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stop()
                try:
                    self.process.communicate(timeout=10)
                except subprocess.TimeoutExpired:  # a grandchild that left the group still holds stderr open
                    pass
                outcome.failed = True
                outcome.notifications.append(Notification(
                    "", "semgrep-error", f"semgrep did not finish within {self.timeout:g} s and was stopped; "
                    f"{did_not_run} (raise `semgrep-timeout` or --semgrep-timeout, or pass --no-semgrep)"))
                return outcome
            try:
                raw = self.output.read_text(encoding="utf-8", errors="replace") if self.output else ""
            except OSError:
                raw = ""
        finally:
            self.stop()
            self._cleanup()
        return self._read(raw, stderr or b"", outcome, did_not_run)

    def _read(self, raw: str, stderr: bytes, outcome: Outcome, did_not_run: str) -> Outcome:
        code = self.process.returncode if self.process else None
        try:
            doc = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            doc = None
        if code is not None and code < 0:
            outcome.failed = True
            outcome.notifications.append(Notification(
                "", "semgrep-error", f"semgrep was killed by {_signal_name(-code)}; {did_not_run}"))
            return outcome
        if code not in (0, 1) or not isinstance(doc, dict):
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            if code not in (0, 1):
                detail = last[0][:300] if last else "no error message"
            elif not raw.strip():
                detail = "it wrote no report" + (f" ({last[0][:300]})" if last else "")
            else:
                detail = "its report is not JSON"
            outcome.failed = True
            outcome.notifications.append(Notification(
                "", "semgrep-error", f"semgrep failed (exit {code}): {detail}; {did_not_run}"))
            return outcome
        errors = doc.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            path = str(error.get("path") or "")
            path = self.targets.get(os.path.normpath(path), path) if path else ""
            text = str(error.get("message") or error.get("type") or "error").strip().splitlines() or ["error"]
            message = text[0][:300]
            if path:
                outcome.notifications.append(Notification(path, "semgrep-error", f"semgrep: {message}", "warning"))
                outcome.file_errors.add(path)
            else:
                fatal = error.get("level") == "error"
                outcome.notifications.append(Notification("", "semgrep-error", f"semgrep: {message}",
                                                          "error" if fatal else "warning"))
                outcome.failed = outcome.failed or fatal
        results = doc.get("results")
        strays: set[str] = set()
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, dict):
                continue
            rule_id = str(item.get("check_id", "")).rsplit(".", 1)[-1]
            rule = self.rules.get(rule_id)
            reported = str(item.get("path", ""))
            path = self.targets.get(os.path.normpath(reported)) if reported else None
            if path is None:
                strays.add(reported)
                continue
            if rule is None:
                continue
            start = item.get("start") if isinstance(item.get("start"), dict) else {}
            end = item.get("end") if isinstance(item.get("end"), dict) else {}
            line, column = _position(start.get("line")), _position(start.get("col"))
            end_line, end_column = _position(end.get("line"), line), _position(end.get("col"), column)
            if (end_line, end_column) < (line, column):
                end_line, end_column = line, column
            extra = item.get("extra") if isinstance(item.get("extra"), dict) else {}
            message = " ".join(str(extra.get("message") or rule.summary).split())
            outcome.findings.setdefault(path, []).append(Finding(
                path=path, line=line, column=column, end_line=end_line, end_column=end_column,
                rule_id=rule.id, message=message, severity=rule.severity, source="semgrep",
            ))
        for path in sorted(strays):
            outcome.failed = True
            outcome.notifications.append(Notification(
                "", "semgrep-error", f"semgrep reported a result in {path!r}, a file it was not given; dropped"))
        paths = doc.get("paths")
        scanned_list = paths.get("scanned") if isinstance(paths, dict) else None
        given = set(self.targets.values())
        if isinstance(scanned_list, list):
            scanned = {self.targets.get(os.path.normpath(str(p)), str(p)) for p in scanned_list}
            for path in sorted(given - scanned - outcome.file_errors):
                outcome.notifications.append(Notification(path, "semgrep-error", "semgrep skipped this file; its "
                                                          "Semgrep rules did not run on it", "warning"))
                outcome.file_errors.add(path)
        else:  # no list of scanned files: nothing is known to be complete, so nothing is cached
            scanned = set()
        outcome.scanned = sorted((scanned & given) - outcome.file_errors)
        return outcome


def find_executable() -> str | None:
    """$GAPCHECK_SEMGREP, else the `semgrep` installed beside this Python (the same virtualenv, also when
    gapcheck runs by its absolute path without the environment activated), else beside the `gapcheck` console
    script that started us, else the first one on PATH."""
    explicit = os.environ.get(EXECUTABLE_ENV)
    if explicit:
        return explicit
    name = "semgrep.exe" if os.name == "nt" else "semgrep"
    folders: list[Path] = []
    if sys.executable:
        folders.append(Path(sys.executable).parent)  # not resolved: a venv's python is a symlink out of it
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    if script:
        found = shutil.which(script) if os.sep not in script else script
        if found:
            folders += [Path(found).absolute().parent, Path(found).resolve().parent]
    for folder in folders:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("semgrep")


def start(targets: list[str], rules: Sequence["Rule"], jobs: int = 1, cwd: str | None = None,
          timeout: float = 300.0, max_target_bytes: int = 0) -> SemgrepRun:
    """Start semgrep in the background. Offline: local rule files only, no metrics, no version check.

    `targets` are paths relative to `cwd` (the working directory of the scan), so Semgrep reports the same paths.
    `timeout` is wall-clock seconds from now; `max_target_bytes` (0: Semgrep's default) lifts Semgrep's own
    file size limit to the engine's, so no file is analysed by one half and silently skipped by the other."""
    executable = find_executable()
    if not executable:
        return SemgrepRun(None, rules, targets, problem="semgrep is not installed")
    configs = [rule_file(r) for r in rules]
    missing = [str(c.name) for c in configs if not c.is_file()]
    if missing:
        return SemgrepRun(None, rules, targets, problem=f"semgrep rule file(s) missing: {', '.join(missing)}")
    workdir = tempfile.mkdtemp(prefix="gapcheck-semgrep-")
    output = Path(workdir, "out.json")
    command = [executable, "scan", "--json", "--quiet", "--metrics=off", "--disable-version-check",
               "--no-git-ignore", "--jobs", str(max(1, jobs)), "--output", str(output)]
    if max_target_bytes:
        command += ["--max-target-bytes", str(max_target_bytes)]
    for config in configs:
        command += ["--config", str(config)]
    command += ["--", *targets]
    env = dict(os.environ, SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
    try:
        # A process group of its own, so a timeout can stop semgrep-core and any other child with it.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=os.name == "posix")
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return SemgrepRun(None, rules, targets, problem=f"semgrep could not start: {exc.strerror or exc}")
    return SemgrepRun(process, rules, targets, output=output, workdir=workdir, timeout=timeout)
