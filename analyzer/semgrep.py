"""One offline Semgrep run for all shipped rules, started before the Python pass and read after it."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .findings import Finding, Notification

if TYPE_CHECKING:
    from .registry import Rule

RULES_DIR = Path(__file__).resolve().parent.parent / "semgrep_rules"
if not RULES_DIR.is_dir():  # running from a source checkout, where the folder keeps the design card's name
    RULES_DIR = Path(__file__).resolve().parent.parent / "semgrep-rules"
# GAPCHECK_SEMGREP names another semgrep executable (a pinned install, or a stand-in in tests).
EXECUTABLE_ENV = "GAPCHECK_SEMGREP"


def rule_file(rule: "Rule") -> Path:
    return rule.source_file or RULES_DIR / f"{rule.name}.yaml"


def rules_digest() -> str:
    """Changes whenever a shipped rule file changes, so cached Semgrep results are never stale."""
    digest = hashlib.blake2b(digest_size=16)
    if RULES_DIR.is_dir():
        for path in sorted(RULES_DIR.glob("*.yaml")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def rules_for(data: bytes, rules: Sequence["Rule"]) -> list["Rule"]:
    """The rules that can match this file: those whose hint words (and `requires` groups) it contains."""
    return [rule for rule in rules if rule.may_apply(data)]


# ---- prefilters (`Rule.prefilter`): what a file's bytes must hold for a rule's YAML to match in it -------------
# Between two tokens of one expression Python allows blanks, newlines (inside brackets), a backslash line
# continuation and a comment; a prefilter regex that spans tokens allows any run of them. Possessive, so that a
# line of `#`s is not split every way before the next token is found missing (what follows is never one of these).
BETWEEN = rb"(?:[\s\\]++|#[^\n]*+)*+"


def module_used(module: str, names: Sequence[str] = ()) -> "re.Pattern[bytes]":
    """A regex found in every file where Semgrep can resolve a name to `module.<name>`: an import that names the
    module (`from requests import get`, `import requests as rq`, `import os, requests`), or the module's name
    followed by a dot and, when `names` are given, one of them (`requests.get`; a file that only says `requests.` at
    the end of a sentence is left out). A file without it cannot hold a match of a pattern such as
    `requests.$METHOD(...)`: Semgrep matches a qualified name written out or bound by an import, never a name it
    cannot trace back to the module."""
    name = re.escape(module.encode())
    attribute = rb"(?:" + rb"|".join(re.escape(n.encode()) for n in names) + rb")\b" if names else b""
    return re.compile(rb"\b" + name + BETWEEN + rb"\." + (BETWEEN + attribute if names else b"")
                      + rb"|\bfrom" + BETWEEN + name + rb"\b|\bimport\b(?:[^\n#;\\]|\\\r?\n)*\b" + name + rb"\b")


_OPERATIONS = (ast.BinOp, ast.AugAssign)
_DIVISION = (ast.Div, ast.FloorDiv)


def has_division(data: bytes) -> bool:
    """Whether the file's code divides (`a / b`, `a /= b`, and `//` too), read with Python's own parser so that a
    `/` in a string or a comment does not count. A file Python cannot parse answers True: Semgrep's parser may
    still read it."""
    if b"/" not in data:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like: not ours to report
            tree = ast.parse(data)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return True
    return any(type(node) in _OPERATIONS and type(node.op) in _DIVISION for node in ast.walk(tree))


def load_rule_file(path: Path) -> list[dict]:
    """The rules of one Semgrep YAML file, as mappings; raises ValueError naming the file if it is not one."""
    import yaml  # only when Semgrep runs

    # libyaml's loader when PyYAML has it: the shipped rules are read on every scan, warm ones included, and the
    # pure-Python loader takes ~0.2 s for them
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read Semgrep rules: {str(exc).splitlines()[0] if str(exc) else exc}")
    rules = doc.get("rules") if isinstance(doc, dict) else None
    if not isinstance(rules, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rules):
        raise ValueError(f"{path}: not a Semgrep rule file (a top-level `rules:` list of rules with an `id`)")
    return rules


def include_pattern(target: str) -> str:
    """A Semgrep `paths.include` glob that selects exactly this target, a path relative to Semgrep's working
    directory (which both CLIs take as the project root: the OCaml one is told so with --project-root)."""
    posix = Path(target).as_posix()
    return "**/" + "".join("\\" + c if c in "[]*?\\!" else c for c in posix)


def rule_docs(rule_files: dict[str, Path]) -> dict[str, dict]:
    """Each rule id's Semgrep rule, read from its file (ValueError naming a file that is not a rule file)."""
    loaded: dict[Path, list[dict]] = {}
    found: dict[str, dict] = {}
    for rule_id, source in rule_files.items():
        if source not in loaded:
            loaded[source] = load_rule_file(source)
        for rule in loaded[source]:
            if str(rule["id"]) == rule_id or (rule_id not in found and str(rule["id"]).rsplit(".", 1)[-1] == rule_id):
                found[rule_id] = rule
        if rule_id not in found:
            raise ValueError(f"{source}: has no rule {rule_id}")
    return found


def select_targets(targets: dict[str, list[str]], docs: dict[str, dict]) -> dict[str, list[str]]:
    """Each rule's targets less those its own `paths` leave out (tests, say), decided here with gitignore
    semantics as Semgrep documents them, so that no file is handed to Semgrep for a rule that would skip it."""
    chosen: dict[str, list[str]] = {}
    for rule_id, files in targets.items():
        for spec, keep in _path_specs(docs[rule_id]):
            files = [f for f in files if spec.match_file(Path(f).as_posix()) is keep]
        if files:
            chosen[rule_id] = files
    return chosen


def _path_specs(doc: dict) -> list:
    """A rule's `paths`: (gitignore spec, whether a file it matches is kept), include first."""
    import pathspec

    paths = doc.get("paths") or {}
    specs = []
    for key, keep in (("include", True), ("exclude", False)):
        patterns = paths.get(key) if isinstance(paths, dict) else None
        if patterns:
            specs.append((pathspec.GitIgnoreSpec.from_lines([str(p) for p in patterns]), keep))
    return specs


def path_exclusions(rules: Sequence["Rule"]) -> "Callable[[str], frozenset[str]]":
    """A function from a target (as `select_targets` takes it) to the ids of the rules whose own `paths` leave
    it out, so the engine need not test those rules' hint words on it (on a project with its tests, most files
    are tests that most security rules exclude). Rules with the same `paths` share one match. Nothing is
    excluded when a rule file cannot be read: `start` then reports it."""
    try:
        docs = rule_docs({r.id: rule_file(r) for r in rules})
    except (OSError, ValueError):
        return lambda target: frozenset()
    groups: dict[str, tuple[list, set[str]]] = {}
    for rule_id, doc in docs.items():
        specs = _path_specs(doc)
        if specs:
            shape = json.dumps(doc.get("paths"), sort_keys=True, default=str)
            groups.setdefault(shape, (specs, set()))[1].add(rule_id)
    if not groups:
        return lambda target: frozenset()
    prepared = [(specs, frozenset(ids)) for specs, ids in groups.values()]

    def excluded(target: str) -> frozenset[str]:
        posix = Path(target).as_posix()
        out: frozenset[str] = frozenset()
        for specs, ids in prepared:
            if any(spec.match_file(posix) is not keep for spec, keep in specs):
                out |= ids
        return out

    return excluded


def write_config(path: Path, targets: dict[str, list[str]], docs: dict[str, dict]) -> None:
    """One generated config: each rule limited to its own targets, so a rule runs only on the files its hints
    admit although all rules share one Semgrep invocation."""
    rules = []
    for rule_id in sorted(targets):
        rule = dict(docs[rule_id])
        rule["paths"] = {"include": sorted(include_pattern(f) for f in targets[rule_id])}
        rules.append(rule)
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")


@dataclass
class Outcome:
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    scanned: list[str] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    failed: bool = False
    # Files Semgrep reported an error for (it may have run none or only part of its rules on them): the engine
    # decides whether that fails the scan (a file the Python pass analysed) or is already reported (one it could not).
    file_errors: set[str] = field(default_factory=set)
    # The run failed as a program (it wrote no usable report): worth one more try with the other CLI.
    retryable: bool = False


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
        self.plan: list[list[str]] = []  # the commands to try in turn: the fast CLI, then the classic one
        self.cwd: str | None = None

    def launch(self) -> None:
        """Start the next command of the plan; its JSON report goes to a file (the OCaml CLI has no --output)."""
        command = self.plan.pop(0)
        self.output = Path(self.workdir or tempfile.mkdtemp(prefix="gapcheck-semgrep-"), "out.json")
        env = dict(os.environ, SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
        try:
            with open(self.output, "wb") as report:
                # A process group of its own, so a timeout can stop semgrep-core and any other child with it.
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=report,
                                                stderr=subprocess.PIPE, env=env, cwd=self.cwd,
                                                start_new_session=os.name == "posix")
        except OSError as exc:
            self.process = None
            self.problem = f"semgrep could not start: {exc.strerror or exc}"

    def stop(self) -> None:
        """Kill Semgrep and everything it started (semgrep-core), if it still runs; idempotent."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)  # its own process group: see `launch`
            else:  # pragma: no cover - Windows
                process.kill()
        except OSError:
            pass

    def _cleanup(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def wait(self) -> Outcome:
        try:
            while True:
                outcome = self._wait_one()
                # The fast CLI failed as a program (no usable report; not a timeout, not one file's error): the
                # classic CLI gets the same scan in the time that is left.
                if outcome.retryable and self.plan and time.monotonic() < self.deadline:
                    self.launch()
                    continue
                return outcome
        finally:
            self.stop()
            self._cleanup()

    def _wait_one(self) -> Outcome:
        outcome = Outcome()
        count = len(self.rules)
        did_not_run = f"its {count} Semgrep rule(s) did not run"
        if self.process is None:
            outcome.failed = True
            outcome.notifications.append(Notification("", "semgrep-error", f"{self.problem}; {did_not_run} "
                                                      "(install semgrep, or pass --no-semgrep)"))
            return outcome
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
        outcome = self._read(raw, stderr or b"", outcome, did_not_run)
        outcome.retryable = outcome.failed and not outcome.findings and not outcome.scanned
        return outcome

    def _rule_of(self, check_id: str) -> "Rule | None":
        """Semgrep prefixes a rule's id with its config's path (`tmp.x.rules.GAP401`); ids may hold dots."""
        rule = self.rules.get(check_id) or self.rules.get(check_id.rsplit(".", 1)[-1])
        if rule is None:
            rule = next((r for rid, r in self.rules.items() if check_id.endswith("." + rid)), None)
        return rule

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
            rule = self._rule_of(str(item.get("check_id", "")))
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


# GAPCHECK_SEMGREP_ENGINE=classic keeps Semgrep's Python CLI; the default is its OCaml CLI (`--experimental`): the
# same matching engine and the same results, without the Python CLI's start-up of ~2-3 s that a commit-time or
# one-file scan would otherwise spend. If the OCaml CLI fails, the same scan is run again with the classic one.
ENGINE_ENV = "GAPCHECK_SEMGREP_ENGINE"


def engines() -> list[str]:
    chosen = os.environ.get(ENGINE_ENV, "").strip().lower()
    if chosen == "classic":
        return ["classic"]
    return ["fast", "classic"]


def start(targets: dict[str, list[str]], rules: Sequence["Rule"], jobs: int = 1, cwd: str | None = None,
          timeout: float = 300.0, max_target_bytes: int = 0) -> SemgrepRun | None:
    """Start semgrep in the background. Offline: local rule files only, no metrics, no version check.

    `targets` maps each rule id to the files it may match, as paths relative to `cwd` (the working directory of
    the scan) or absolute; Semgrep reports the same spellings. One invocation runs every rule, each limited to its
    own files by a generated config. `timeout` is wall-clock seconds from now; `max_target_bytes` (0: Semgrep's
    default) lifts Semgrep's own file size limit to the engine's, so no file is analysed by one half and silently
    skipped by the other. None: no rule is left with a file to scan (its own `paths` excluded them all)."""
    targets = {rule_id: files for rule_id, files in targets.items() if files}
    chosen = [r for r in rules if r.id in targets]
    every = sorted({t for files in targets.values() for t in files})
    executable = find_executable()
    if not executable:
        return SemgrepRun(None, chosen, every, problem="semgrep is not installed")
    rule_files = {r.id: rule_file(r) for r in chosen}
    missing = sorted({path.name for path in rule_files.values() if not path.is_file()})
    if missing:
        return SemgrepRun(None, chosen, every, problem=f"semgrep rule file(s) missing: {', '.join(missing)}")
    try:
        docs = rule_docs(rule_files)
    except ValueError as exc:
        return SemgrepRun(None, chosen, every, problem=f"semgrep rules could not be read: {exc}")
    targets = select_targets(targets, docs)
    every = sorted({t for files in targets.values() for t in files})
    if not every:
        return None
    chosen = [r for r in chosen if r.id in targets]
    workdir = tempfile.mkdtemp(prefix="gapcheck-semgrep-")
    try:
        # Absolute targets (a scan of a folder outside the working directory) are given relative to their common
        # folder, run as Semgrep's working directory: both CLIs then see the same relative paths.
        base = cwd or os.getcwd()
        if any(os.path.isabs(t) or t.split("/", 1)[0] == ".." for t in every):
            absolute = {t: os.path.normpath(os.path.join(base, t)) for t in every}
            root = os.path.commonpath([os.path.dirname(a) for a in absolute.values()])
            spelled = {t: os.path.relpath(a, root) for t, a in absolute.items()}
            base = root
        else:
            spelled = {t: t for t in every}
        config = Path(workdir, "rules.json")
        write_config(config, {rule_id: [spelled[t] for t in files] for rule_id, files in targets.items()}, docs)
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return SemgrepRun(None, chosen, every, problem=f"semgrep rules could not be prepared: {exc.strerror or exc}")
    run = SemgrepRun(None, chosen, every, workdir=workdir, timeout=timeout)
    run.targets = {os.path.normpath(spelled[t]): t for t in every}  # as Semgrep reports them -> as given
    run.plan = [_command(executable, engine, config, jobs, max_target_bytes, [spelled[t] for t in every])
                for engine in engines()]
    run.cwd = base
    run.launch()
    return run


def _command(executable: str, engine: str, config: Path, jobs: int, max_target_bytes: int,
             targets: list[str]) -> list[str]:
    command = [executable, "scan"]
    if engine == "fast":
        command += ["--experimental", "--project-root", "."]
    command += ["--json", "--quiet", "--metrics=off", "--disable-version-check", "--no-git-ignore",
                "--jobs", str(max(1, jobs)), "--config", str(config)]
    if max_target_bytes:
        command += ["--max-target-bytes", str(max_target_bytes)]
    return command + ["--", *targets]
