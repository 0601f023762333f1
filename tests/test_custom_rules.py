"""A team's own Semgrep rules run in gapcheck's one Semgrep invocation and are reported like the shipped ones."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import semgrep_available
from .test_sarif import check_with_shared_validator

needs_semgrep = pytest.mark.skipif(not semgrep_available(), reason="semgrep is a dependency; installed with it")

RULE = """rules:
  - id: no-print-in-app
    languages: [python]
    severity: WARNING
    message: Use the app's logger, not print
    metadata:
      references: [https://docs.python.org/3/library/logging.html]
    pattern: print(...)
    paths:
      exclude: ["scripts/"]
  - id: js-only
    languages: [javascript]
    severity: ERROR
    message: not for Python
    pattern: eval(...)
"""
APP = 'def handler():\n    print("hit")\n    print("quiet")  # gapcheck: ignore[no-print-in-app]\n'


def project(root: Path, config: str = '[tool.gapcheck]\nsemgrep-rules = ["ci/semgrep"]\n') -> None:
    (root / "ci" / "semgrep").mkdir(parents=True)
    (root / "ci" / "semgrep" / "team.yaml").write_text(RULE, encoding="utf-8")
    (root / "scripts").mkdir()
    (root / "app.py").write_text(APP, encoding="utf-8")
    (root / "scripts" / "once.py").write_text('print("a script may print")\n', encoding="utf-8")
    if config:
        (root / "pyproject.toml").write_text(config, encoding="utf-8")


@needs_semgrep
def test_a_project_rule_is_reported_with_its_own_id_and_honours_suppressions(gapcheck, tmp_path):
    project(tmp_path)
    run = gapcheck("scan", "--no-cache", "--format", "json")
    doc = json.loads(run.stdout)
    found = [(f["rule"], f["path"], f["line"], f["severity"]) for f in doc["findings"]]
    assert found == [("no-print-in-app", "app.py", 2, "warning")]  # not the suppressed line, not scripts/
    assert doc["summary"]["suppressed"] == 1 and run.exit_code == 1


@needs_semgrep
def test_project_rules_in_sarif_pass_the_shared_checker(gapcheck, tmp_path):
    project(tmp_path, config="")
    out = tmp_path / "out.sarif"
    run = gapcheck("scan", "--no-cache", "--format", "sarif", "-o", str(out), "--semgrep-rules", "ci/semgrep/team.yaml")
    assert run.exit_code == 1
    sarif = json.loads(out.read_text(encoding="utf-8"))
    driver = sarif["runs"][0]["tool"]["driver"]
    rule = next(r for r in driver["rules"] if r["id"] == "no-print-in-app")
    assert "custom" in rule["properties"]["tags"] and rule["helpUri"].startswith("https://docs.python.org")
    assert all(r["id"] != "js-only" for r in driver["rules"])  # a rule for another language is not run
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["no-print-in-app"]
    assert check_with_shared_validator(out, tmp_path) == "0 errors, 0 warnings"


def test_a_bad_rule_file_is_a_clear_error_naming_it(gapcheck, tmp_path):
    project(tmp_path)
    (tmp_path / "ci" / "semgrep" / "broken.yaml").write_text("rules: [oops\n", encoding="utf-8")
    run = gapcheck("scan", "--format", "json")
    assert run.exit_code == 2
    assert "broken.yaml" in run.stderr and "cannot read Semgrep rules" in run.stderr


def test_a_project_rule_may_not_take_a_shipped_id(gapcheck, tmp_path):
    project(tmp_path)
    (tmp_path / "ci" / "semgrep" / "team.yaml").write_text(RULE.replace("no-print-in-app", "GAP501"), encoding="utf-8")
    run = gapcheck("scan", "--format", "json")
    assert run.exit_code == 2 and "GAP501" in run.stderr and "team.yaml" in run.stderr


@needs_semgrep
def test_ignore_by_id_turns_a_project_rule_off(gapcheck, tmp_path):
    project(tmp_path)
    run = gapcheck("scan", "--no-cache", "--format", "json", "--ignore", "no-print-in-app")
    assert run.exit_code == 0, run.stdout
