"""One offline Semgrep run for all shipped rules, started before the Python pass and read after it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
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


class SemgrepRun:
    def __init__(self, process: subprocess.Popen | None, rules: Sequence["Rule"], targets: list[str],
                 problem: str = "", output: Path | None = None, workdir: str | None = None) -> None:
        self.process = process
        self.rules = {r.id: r for r in rules}
        self.targets = set(targets)
        self.problem = problem
        self.output = output
        self.workdir = workdir

    def wait(self) -> Outcome:
        outcome = Outcome()
        count = len(self.rules)
        if self.process is None:
            outcome.failed = True
            outcome.notifications.append(Notification("", "semgrep-error", f"{self.problem}; its {count} Semgrep "
                                                      "rule(s) did not run (install semgrep, or pass --no-semgrep)"))
            return outcome
        _, stderr = self.process.communicate()
        raw = self.output.read_text(encoding="utf-8", errors="replace") if self.output and self.output.exists() else ""
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if self.process.returncode not in (0, 1) or not isinstance(doc, dict):
            detail = (stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            outcome.failed = True
            outcome.notifications.append(Notification(
                "", "semgrep-error",
                f"semgrep failed (exit {self.process.returncode}): {detail[0][:300]}; its {count} rule(s) did not run",
            ))
            return outcome
        errored: set[str] = set()
        for error in doc.get("errors", []):
            path = error.get("path") or ""
            message = (error.get("message") or error.get("type") or "error").strip().splitlines()[0][:300]
            level = "error" if error.get("level") == "error" and not path else "warning"
            outcome.notifications.append(Notification(path, "semgrep-error", f"semgrep: {message}", level))
            if path:
                errored.add(path)
            elif error.get("level") == "error":
                outcome.failed = True
        for item in doc.get("results", []):
            rule_id = str(item.get("check_id", "")).rsplit(".", 1)[-1]
            rule = self.rules.get(rule_id)
            path = item.get("path", "")
            if rule is None or path not in self.targets:
                continue
            start, end = item.get("start", {}), item.get("end", {})
            message = " ".join(str(item.get("extra", {}).get("message", rule.summary)).split())
            outcome.findings.setdefault(path, []).append(Finding(
                path=path, line=start.get("line", 1), column=start.get("col", 1),
                end_line=end.get("line", start.get("line", 1)), end_column=end.get("col", 1),
                rule_id=rule.id, message=message, severity=rule.severity, source="semgrep",
            ))
        scanned = set(doc.get("paths", {}).get("scanned", []))
        outcome.scanned = sorted((scanned & self.targets) - errored)
        return outcome


def start(targets: list[str], rules: Sequence["Rule"], jobs: int = 1, cwd: str | None = None) -> SemgrepRun:
    """Start semgrep in the background. Offline: local rule files only, no metrics, no version check.

    `targets` are paths relative to `cwd` (the working directory of the scan), so Semgrep reports the same paths."""
    executable = os.environ.get(EXECUTABLE_ENV) or shutil.which("semgrep")
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
    for config in configs:
        command += ["--config", str(config)]
    command += ["--", *targets]
    env = dict(os.environ, SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env, cwd=cwd)
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return SemgrepRun(None, rules, targets, problem=f"semgrep could not start: {exc.strerror or exc}")
    return SemgrepRun(process, rules, targets, output=output, workdir=workdir)

