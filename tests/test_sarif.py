"""SARIF that GitHub code scanning accepts as it is, checked with the shared validator."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gapcheck.analyzer.registry import get_rule

from .conftest import REPO, SHARED_CHECKER, run_process

SWALLOW = "try:\n    work()\nexcept Exception:\n    pass\n"


def check_with_shared_validator(sarif: Path, root: Path) -> str:
    proc = subprocess.run([sys.executable, str(SHARED_CHECKER), str(sarif), "--repo-root", str(root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def fixtures_sarif(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sarif") / "fixtures.sarif"
    proc = run_process("scan", "fixtures", "--no-cache", "--format", "sarif", "-o", str(out), cwd=REPO)
    assert proc.returncode in (0, 1), proc.stderr
    return out, json.loads(out.read_text(encoding="utf-8"))


def test_fixtures_sarif_passes_the_shared_checker_with_no_errors(fixtures_sarif):
    path, _ = fixtures_sarif
    summary = check_with_shared_validator(path, REPO)
    assert summary == "0 errors, 0 warnings"


def test_sarif_run_metadata(fixtures_sarif):
    _, doc = fixtures_sarif
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "gapcheck" and driver["version"] and driver["informationUri"].startswith("https://")
    assert run["automationDetails"]["id"] == "gapcheck/"
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    rules = {r["id"]: r for r in driver["rules"]}
    rule = rules["GAP501"]
    assert rule["name"] == "broad-except-swallowed"
    assert "broad-except" in rule["properties"]["tags"]
    assert rule["properties"]["precision"] == get_rule("GAP501").precision
    assert rule["properties"]["problem.severity"] == "warning"
    assert "## Why it fails in production" in rule["help"]["markdown"]
    for result in run["results"]:
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("/")
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]["gapcheck/v1"]


def scan_sarif(cwd: Path, *args: str) -> dict:
    out = cwd / "out.sarif"
    proc = run_process("scan", "--no-cache", "--no-semgrep", "--format", "sarif", "-o", str(out), *args, cwd=cwd)
    assert proc.returncode in (0, 1, 3), proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_fingerprints_survive_unrelated_lines_inserted_above(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(SWALLOW + "\n" + SWALLOW.replace("work", "other"), encoding="utf-8")
    before = {r["partialFingerprints"]["gapcheck/v1"] for r in scan_sarif(tmp_path)["runs"][0]["results"]}
    app.write_text("import os\n\n\n# a comment\n" + app.read_text(encoding="utf-8"), encoding="utf-8")
    results = scan_sarif(tmp_path)["runs"][0]["results"]
    after = {r["partialFingerprints"]["gapcheck/v1"] for r in results}
    assert len(before) == 2 and before == after
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [7, 12]


def test_identical_lines_get_distinct_fingerprints(tmp_path):
    (tmp_path / "app.py").write_text(SWALLOW * 3, encoding="utf-8")
    results = scan_sarif(tmp_path)["runs"][0]["results"]
    assert len({r["partialFingerprints"]["gapcheck/v1"] for r in results}) == 3


def test_files_not_analysed_become_tool_notifications(tmp_path):
    (tmp_path / "good.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / "bad.py").write_text("def (:\n", encoding="utf-8")
    doc = scan_sarif(tmp_path)
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["descriptor"]["id"] == "syntax-error"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.py"
    out = tmp_path / "out.sarif"
    assert check_with_shared_validator(out, tmp_path).startswith("0 errors")


def test_subfolder_scan_keeps_uris_relative_to_the_repository_root(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "app.py").write_text(SWALLOW, encoding="utf-8")
    doc = scan_sarif(tmp_path, "src")
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "src/pkg/app.py"
    assert check_with_shared_validator(tmp_path / "out.sarif", tmp_path).startswith("0 errors")


def test_finer_tags_reach_the_sarif_rule_tags(fixtures_sarif):
    """Code scanning filters on tags: a rule's finer tag (async-blocking) sits beside its category slug."""
    _, doc = fixtures_sarif
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    tags = rules["GAP901"]["properties"]["tags"]
    assert "async-concurrency" in tags and "async-blocking" in tags
    assert "async-blocking" not in rules["GAP501"]["properties"]["tags"]


def test_every_rule_description_fits_githubs_limit():
    from gapcheck.analyzer.registry import load_rules
    from gapcheck.analyzer.reporters.sarif import MAX_DESCRIPTION, _descriptor

    for rule in load_rules():
        descriptor = _descriptor(rule)
        for part in (descriptor.short_description, descriptor.full_description):
            assert 0 < len(part.text) <= MAX_DESCRIPTION, rule.id
        assert rule.docs.what in descriptor.help.text  # the whole text stays on the alert page


@pytest.mark.parametrize("text", [
    "One sentence. " * 200,
    "word " * 600,
    "x" * 3000,
    "Short first sentence. " + "then one very long clause " * 100 + ".",
])
def test_long_descriptions_are_cut_on_a_boundary(text):
    from gapcheck.analyzer.reporters.sarif import MAX_DESCRIPTION, bounded

    cut = bounded(text)
    assert MAX_DESCRIPTION // 3 <= len(cut) <= MAX_DESCRIPTION
    assert text.startswith(cut.rstrip("\u2026"))
    assert cut.endswith(".") or cut.endswith("\u2026")
    assert bounded("fits.") == "fits."


def test_results_carry_the_line_hash_github_tracks_alerts_by(tmp_path):
    (tmp_path / "app.py").write_text(SWALLOW * 2, encoding="utf-8")
    results = scan_sarif(tmp_path)["runs"][0]["results"]
    hashes = [r["partialFingerprints"]["primaryLocationLineHash"] for r in results]
    assert len(set(hashes)) == 2 and all(h.endswith(":1") and len(h) == 18 for h in hashes)
