"""The Semgrep half: rules agree with the registry, pass `semgrep --test`, and a missing or failing semgrep is a
clear notice and exit 2 while the Python findings are still reported."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from gapcheck.analyzer import semgrep as semgrep_runner
from gapcheck.analyzer.registry import load_rules

from .conftest import REPO

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

    def spy(targets, rules, jobs=1, cwd=None):
        started.append(list(targets))
        return real_start(targets, rules, jobs, cwd)

    monkeypatch.setattr(semgrep_runner, "start", spy)
    from gapcheck.analyzer.config import load_settings
    from gapcheck.analyzer.engine import scan

    settings = load_settings([], None, cwd=tmp_path)
    settings.cache = False
    result = scan(settings)
    assert started == [["client.py"]]
    assert [f.rule_id for f in result.findings] == ["GAP501", "GAP401"]
    assert os.environ.get("SEMGREP_SEND_METRICS") is None  # set for the child only
