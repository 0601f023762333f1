"""The Semgrep half: rules agree with the registry, pass `semgrep --test`, and a missing or failing semgrep is a
clear notice and exit 2 while the Python findings are still reported."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gapcheck.analyzer import semgrep as semgrep_runner
from gapcheck.analyzer.registry import load_rules

from .conftest import REPO, ruleid_cases

RULES_DIR = REPO / "semgrep-rules"
LEVELS = {"ERROR": "error", "WARNING": "warning", "INFO": "note"}
SWALLOW = "try:\n    work()\nexcept Exception:\n    pass\n"
REQUEST = "import requests\n\n\ndef f(url):\n    return requests.get(url)\n"


def yaml_rules() -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(RULES_DIR.glob("*.yaml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]:
            found.append((path, rule))
    return found


def test_every_semgrep_rule_agrees_with_the_registry():
    registry = {r.id: r for r in load_rules()}
    seen = set()
    for path, rule in yaml_rules():
        entry = registry.get(rule["id"])
        assert entry is not None, f"{path.name}: {rule['id']} is not in the registry"
        assert entry.semgrep, f"{rule['id']} is not marked semgrep=True in the registry"
        assert path.stem == entry.name, f"{path.name}: file should be named {entry.name}.yaml"
        assert rule["metadata"]["name"] == entry.name
        assert rule["metadata"]["category"] == entry.category
        assert rule["metadata"]["precision"] == entry.precision
        assert LEVELS[rule["severity"]] == entry.severity
        if entry.cwe:
            assert str(rule["metadata"]["cwe"]).startswith(entry.cwe)
        assert (RULES_DIR / f"{entry.name}.py").is_file(), f"{entry.name}: no Semgrep test file beside the rule"
        seen.add(entry.id)
    assert seen == {r.id for r in registry.values() if r.semgrep}, "a semgrep=True rule has no YAML"


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
def test_semgrep_rule_tests_pass():
    proc = subprocess.run(["semgrep", "--test", "--metrics=off", "--disable-version-check", str(RULES_DIR)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "All tests passed" in proc.stdout + proc.stderr


def project(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / "client.py").write_text(REQUEST, encoding="utf-8")


def test_semgrep_findings_are_reported(gapcheck, tmp_path):
    project(tmp_path)
    run = gapcheck("scan", "--format", "json")
    doc = json.loads(run.stdout)
    assert [(f["path"], f["line"], f["rule"]) for f in doc["findings"]] == [
        ("app.py", 3, "GAP501"), ("client.py", 5, "GAP401")]
    assert run.exit_code == 1


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
def test_a_semgrep_rule_that_skips_scripts_is_silent_in_a_program_run_by_hand(gapcheck, tmp_path):
    call = 'import requests\nfrom flask import Flask\n\napp = Flask(__name__)\n\n\ndef fetch():\n' \
           '    return requests.get("https://api.example.com/data").json()\n'
    (tmp_path / "download.py").write_text(call + '\n\nif __name__ == "__main__":\n    fetch()\n')
    (tmp_path / "serve.py").write_text(call + '\n\nif __name__ == "__main__":\n    app.run(debug=True)\n')
    (tmp_path / "helpers.py").write_text(call)
    run = gapcheck("scan", "--format", "json", "--select", "GAP401")
    # GAP401 says the call holds a worker: a `__main__` program that only downloads holds none; a module whose
    # `__main__` block starts the server, and a module without one, are service code.
    assert sorted(f["path"] for f in json.loads(run.stdout)["findings"]) == ["helpers.py", "serve.py"]


def test_missing_semgrep(gapcheck, tmp_path):
    project(tmp_path)
    run = gapcheck("scan", "--format", "json", env={"GAPCHECK_SEMGREP": str(tmp_path / "no-such-semgrep")})
    doc = json.loads(run.stdout)
    assert run.exit_code == 2
    assert [f["rule"] for f in doc["findings"]] == ["GAP501"]
    assert doc["summary"]["semgrep_failed"] is True
    [note] = doc["notifications"]
    assert note["kind"] == "semgrep-error" and "could not start" in note["message"]
    assert "did not run" in note["message"] and "--no-semgrep" in note["message"]


def test_semgrep_not_installed(gapcheck, tmp_path, monkeypatch):
    project(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv(semgrep_runner.EXECUTABLE_ENV, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "empty-bin" / "python"))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "empty-bin" / "gapcheck")])
    run = gapcheck("scan", "--format", "json")
    doc = json.loads(run.stdout)
    assert run.exit_code == 2
    assert "semgrep is not installed" in doc["notifications"][0]["message"]
    assert [f["rule"] for f in doc["findings"]] == ["GAP501"]


def test_failing_semgrep(gapcheck, tmp_path):
    project(tmp_path)
    fake = tmp_path / "bin" / "semgrep"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'fatal: rules could not be parsed' >&2\nexit 7\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    run = gapcheck("scan", "--format", "sarif", env={"GAPCHECK_SEMGREP": str(fake)})
    assert run.exit_code == 2
    doc = json.loads(run.stdout)
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    message = invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert "semgrep failed (exit 7): fatal: rules could not be parsed" in message
    assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["GAP501"]


def test_no_semgrep_flag_skips_it(gapcheck, tmp_path):
    project(tmp_path)
    run = gapcheck("scan", "--no-semgrep", "--format", "json",
                   env={"GAPCHECK_SEMGREP": str(tmp_path / "no-such-semgrep")})
    assert run.exit_code == 1
    assert [f["rule"] for f in json.loads(run.stdout)["findings"]] == ["GAP501"]


def test_semgrep_only_sees_files_its_rules_can_match(tmp_path, monkeypatch):
    """The prefilter: a file that never mentions `requests` is not handed to Semgrep at all."""
    project(tmp_path)
    started: list[list[str]] = []
    real_start = semgrep_runner.start

    def spy(targets, rules, jobs=1, cwd=None, **options):
        started.append(sorted({t for files in targets.values() for t in files}))
        return real_start(targets, rules, jobs, cwd, **options)

    monkeypatch.setattr(semgrep_runner, "start", spy)
    from gapcheck.analyzer.config import load_settings
    from gapcheck.analyzer.engine import scan

    settings = load_settings([], None, cwd=tmp_path)
    settings.cache = False
    result = scan(settings)
    assert started == [["client.py"]]
    assert [f.rule_id for f in result.findings] == ["GAP501", "GAP401"]
    assert os.environ.get("SEMGREP_SEND_METRICS") is None  # set for the child only


# ---- a stand-in semgrep for every way the real one can fail ---------------------------------------------------
FAKE = """#!{python}
import json, os, signal, subprocess, sys, time
args = sys.argv[1:]
targets = args[args.index("--") + 1:]
class out:  # the report goes to standard output, as Semgrep's --json writes it
    def __enter__(self): return self
    def __exit__(self, *exc): sys.stdout.flush()
    def write(self, text): sys.stdout.write(text)
def open(what, mode="r", _open=open):
    return out() if what is out else _open(what, mode)
def report(results=(), errors=(), scanned=targets):
    with open(out, "w") as handle:
        json.dump({{"results": list(results), "errors": list(errors), "paths": {{"scanned": list(scanned)}}}}, handle)
def result(path, line, message="from the stand-in semgrep"):
    return {{"check_id": "semgrep-rules.GAP401", "path": path, "start": {{"line": line, "col": 12}},
            "end": {{"line": line, "col": 30}}, "extra": {{"message": message}}}}
{body}
"""


def fake_semgrep(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "semgrep"
    fake.write_text(FAKE.format(python=sys.executable, body=body), encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def sarif_scan(gapcheck, tmp_path: Path, fake: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "out.sarif"
    run = gapcheck("scan", "--no-cache", "--format", "sarif", "-o", str(out), *args,
                   env={"GAPCHECK_SEMGREP": str(fake)})
    return run.exit_code, json.loads(out.read_text(encoding="utf-8"))


def test_a_working_stand_in_reports_its_result(gapcheck, tmp_path):
    """The stand-in speaks Semgrep's JSON: the failure tests below differ from this one only in what breaks."""
    project(tmp_path)
    code, doc = sarif_scan(gapcheck, tmp_path, fake_semgrep(tmp_path / "bin", "report([result('client.py', 5)])"))
    run = doc["runs"][0]
    assert code == 1 and run["invocations"][0]["executionSuccessful"] is True
    assert [(r["ruleId"], r["message"]["text"]) for r in run["results"]] == [
        ("GAP501", run["results"][0]["message"]["text"]), ("GAP401", "from the stand-in semgrep")]


FAILURES = {
    "non-zero exit": ("sys.stderr.write('fatal: out of memory\\n'); sys.exit(7)",
                      "semgrep failed (exit 7): fatal: out of memory"),
    "not JSON": ("open(out, 'w').write('<html>502 Bad Gateway</html>')", "semgrep failed (exit 0): its report is not JSON"),
    "no report": ("pass", "semgrep failed (exit 0): it wrote no report"),
    "JSON that is not a report": ("open(out, 'w').write('[1, 2]')", "its report is not JSON"),
    "errors for some files": (
        "report([], [{'level': 'warn', 'type': 'Timeout', 'message': 'Timeout when running GAP401', 'path': 'client.py'}])",
        "client.py: semgrep: Timeout when running GAP401"),
    "a fatal error": ("report([], [{'level': 'error', 'type': 'SemgrepError', 'message': 'invalid configuration'}])",
                      "semgrep: invalid configuration"),
    "killed by a signal": ("os.kill(os.getpid(), signal.SIGKILL)", "semgrep was killed by SIGKILL"),
    "a path outside the scan": ("report([result('client.py', 5), result('/etc/passwd', 1), result('../up.py', 2)])",
                                "semgrep reported a result in '/etc/passwd', a file it was not given; dropped"),
    "a line past the end": ("report([result('client.py', 5), result('client.py', 999)])",
                            "client.py: semgrep reported 1 result(s) past the end of this file (5 lines); dropped"),
    "a file it skipped": ("report([], [], scanned=[])", "client.py: semgrep skipped this file"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_semgrep_failure_keeps_the_python_findings_and_says_what_happened(gapcheck, tmp_path, case):
    from .test_sarif import check_with_shared_validator

    body, expected = FAILURES[case]
    project(tmp_path)
    code, doc = sarif_scan(gapcheck, tmp_path, fake_semgrep(tmp_path / "bin", body))
    run = doc["runs"][0]
    assert code == 2
    assert "GAP501" in [r["ruleId"] for r in run["results"]]
    assert all(r["ruleId"] != "GAP401" or r["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
               for r in run["results"])
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert any(expected in text for text in texts), texts
    assert check_with_shared_validator(tmp_path / "out.sarif", tmp_path) == "0 errors, 0 warnings"


def test_a_semgrep_error_on_a_file_python_could_not_parse_is_not_a_tool_failure(gapcheck, tmp_path):
    """Semgrep trips on the same broken file: it is named already and the scan is incomplete (3), not broken (2)."""
    project(tmp_path)
    (tmp_path / "broken.py").write_text("import requests\ndef f(:\n", encoding="utf-8")
    body = ("report([result('client.py', 5)], [{'level': 'warn', 'type': ['PartialParsing', []], "
            "'message': 'Syntax error at line broken.py:2', 'path': 'broken.py'}])")
    code, doc = sarif_scan(gapcheck, tmp_path, fake_semgrep(tmp_path / "bin", body))
    assert code == 3
    assert sorted(r["ruleId"] for r in doc["runs"][0]["results"]) == ["GAP401", "GAP501"]


@pytest.mark.parametrize("how", ["config", "flag"])
def test_a_hanging_semgrep_is_stopped_at_the_time_limit(gapcheck, tmp_path, how):
    project(tmp_path)
    pid_file = tmp_path / "child.pid"
    body = (f"child = subprocess.Popen(['sleep', '300'])\nopen({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(300)")
    fake = fake_semgrep(tmp_path / "bin", body)
    if how == "config":
        (tmp_path / "pyproject.toml").write_text("[tool.gapcheck]\nsemgrep-timeout = 2\n", encoding="utf-8")
        code, doc = sarif_scan(gapcheck, tmp_path, fake)
    else:
        code, doc = sarif_scan(gapcheck, tmp_path, fake, "--semgrep-timeout", "2")
    assert code == 2
    assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["GAP501"]
    [note] = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "semgrep did not finish within 2 s and was stopped" in note["message"]["text"]
    assert "semgrep-timeout" in note["message"]["text"]
    child = int(pid_file.read_text(encoding="utf-8"))  # what semgrep started is stopped with it
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").is_file() and Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break  # a zombie awaiting its (killed) parent's reaper
        time.sleep(0.1)
    else:
        pytest.fail("semgrep's child process still runs")


def test_semgrep_timeout_must_be_positive(gapcheck, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.gapcheck]\nsemgrep-timeout = 0\n", encoding="utf-8")
    run = gapcheck("scan")
    assert run.exit_code == 2 and "`semgrep-timeout` must be a number of seconds > 0" in run.stderr


# ---- finding semgrep: the interpreter's own folder first ------------------------------------------------------
def test_the_semgrep_beside_the_interpreter_wins_without_an_activated_venv(gapcheck, tmp_path, monkeypatch):
    project(tmp_path)
    venv_bin = tmp_path / "venv" / "bin"
    fake_semgrep(venv_bin, "report([result('client.py', 5, 'semgrep of the venv')])")
    fake_semgrep(tmp_path / "on-path", "sys.exit(9)")
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setattr(sys, "argv", [str(venv_bin / "gapcheck")])
    monkeypatch.setenv("PATH", str(tmp_path / "on-path"))
    monkeypatch.delenv(semgrep_runner.EXECUTABLE_ENV, raising=False)
    assert semgrep_runner.find_executable() == str(venv_bin / "semgrep")
    run = gapcheck("scan", "--no-cache", "--format", "json")
    assert run.exit_code == 1
    assert "semgrep of the venv" in [f["message"] for f in json.loads(run.stdout)["findings"]]


def test_the_semgrep_beside_the_resolved_console_script_comes_next(tmp_path, monkeypatch):
    real_bin = tmp_path / "real" / "bin"
    fake = fake_semgrep(real_bin, "pass")
    (real_bin / "gapcheck").write_text("#!/bin/sh\n", encoding="utf-8")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "gapcheck").symlink_to(real_bin / "gapcheck")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "other" / "python"))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "links" / "gapcheck")])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv(semgrep_runner.EXECUTABLE_ENV, raising=False)
    assert semgrep_runner.find_executable() == str(fake)
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "other" / "gapcheck")])
    monkeypatch.setenv("PATH", str(real_bin))
    assert semgrep_runner.find_executable() == shutil.which("semgrep") == str(fake)  # then PATH
    pinned = str(tmp_path / "pinned" / "semgrep")
    monkeypatch.setenv(semgrep_runner.EXECUTABLE_ENV, pinned)
    assert semgrep_runner.find_executable() == pinned  # an explicit choice beats them all


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
def test_semgrep_columns_count_characters_like_the_python_checks(gapcheck, tmp_path):
    """Semgrep counts bytes of the file; SARIF (`columnKind: unicodeCodePoints`) and the Python checks, characters."""
    line = '    x = "\u00e9\u00e9\u00e9"; return requests.get(u)'
    column = line.index("requests.get") + 1
    (tmp_path / "utf8.py").write_text(f"import requests\n\n\ndef f(u):\n{line}\n", encoding="utf-8")
    (tmp_path / "latin1.py").write_bytes(f"# -*- coding: latin-1 -*-\nimport requests\n\ndef f(u):\n{line}\n"
                                         .encode("latin-1"))
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + f"import requests\n\ndef f(u):\n{line}\n".encode())
    run = gapcheck("scan", "--no-cache", "--format", "json")
    found = sorted((f["path"], f["column"], f["end_column"]) for f in json.loads(run.stdout)["findings"])
    end = column + len("requests.get(u)")
    assert found == [("bom.py", column, end), ("latin1.py", column, end), ("utf8.py", column, end)]


# ---- one invocation, each rule on its own files, through the fast CLI with the classic one behind it ---------
def test_each_rule_gets_only_its_files_less_those_its_own_paths_exclude():
    rules = {r.id: r for r in load_rules() if r.semgrep}
    docs = semgrep_runner.rule_docs({rid: semgrep_runner.rule_file(rules[rid]) for rid in ("GAP401", "GAP810")})
    chosen = semgrep_runner.select_targets(
        {"GAP401": ["app/client.py", "tests/test_client.py"], "GAP810": ["app/views.py", "app/test_views.py"]}, docs)
    # GAP810's YAML leaves tests out; GAP401's does not (the engine drops test modules before this anyway)
    assert chosen == {"GAP401": ["app/client.py", "tests/test_client.py"], "GAP810": ["app/views.py"]}
    assert semgrep_runner.include_pattern("app/[id]/v*.py") == "**/app/\\[id\\]/v\\*.py"


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
@pytest.mark.parametrize("engine", ["fast", "classic"])
def test_a_rule_limited_to_one_file_does_not_run_on_another(tmp_path, monkeypatch, engine):
    """The generated config's globs are exact under both CLIs, in and out of a git repository."""
    monkeypatch.setenv(semgrep_runner.ENGINE_ENV, engine)
    (tmp_path / "a" / "b").mkdir(parents=True)
    for path in ("a/b/client.py", "a/client.py", "client.py"):
        (tmp_path / path).write_text(REQUEST, encoding="utf-8")
    [rule] = [r for r in load_rules() if r.id == "GAP401"]
    run = semgrep_runner.start({"GAP401": ["a/b/client.py", "client.py"]}, [rule], cwd=str(tmp_path))
    outcome = run.wait()
    assert not outcome.failed, outcome.notifications
    assert sorted(outcome.findings) == ["a/b/client.py", "client.py"]


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
def test_the_fast_and_the_classic_cli_agree_on_the_fixtures(monkeypatch):
    from gapcheck.analyzer.config import load_settings
    from gapcheck.analyzer.engine import scan

    found = {}
    for engine in ("fast", "classic"):
        monkeypatch.setenv(semgrep_runner.ENGINE_ENV, engine)
        settings = load_settings(["fixtures", "semgrep-rules"], None, cwd=REPO)
        settings.cache = False
        settings.include_tests = True
        result = scan(settings)
        assert not result.semgrep_failed, result.notifications
        found[engine] = sorted((f.path, f.line, f.column, f.end_line, f.end_column, f.rule_id, f.message)
                               for f in result.findings if f.source == "semgrep")
    assert found["fast"] == found["classic"] and len(found["fast"]) > 50


def test_when_the_fast_cli_fails_the_classic_one_runs_the_scan(gapcheck, tmp_path):
    project(tmp_path)
    body = ("if '--experimental' in args:\n    sys.stderr.write('osemgrep: unsupported\\n'); sys.exit(2)\n"
            "report([result('client.py', 5)])")
    code, doc = sarif_scan(gapcheck, tmp_path, fake_semgrep(tmp_path / "bin", body))
    run = doc["runs"][0]
    assert code == 1 and run["invocations"][0]["executionSuccessful"] is True
    assert sorted(r["ruleId"] for r in run["results"]) == ["GAP401", "GAP501"]


def test_hint_words_admit_every_case_a_rule_is_tested_to_fire_on():
    """Hints are a prefilter: a Semgrep rule's own test cases (`# ruleid:`) must all pass it, or gapcheck would
    never hand such a file to Semgrep."""
    rules = {r.id: r for r in load_rules() if r.semgrep}
    for rule in rules.values():
        if rule.fold_case:
            assert all(w == w.lower() for w in (*rule.hints, *(x for g in rule.requires for x in g))), rule.id
        cases = ruleid_cases(rule.name)
        assert cases, f"{rule.id}: its test file has no ruleid case"
        for body in cases:
            assert rule.may_apply(body.encode()), f"{rule.id}: hints reject a case:\n{body[-400:]}"
