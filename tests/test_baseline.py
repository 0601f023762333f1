"""`--write-baseline` / `--baseline`: only new findings are reported, across line moves and renames."""
from __future__ import annotations

import json

import pytest

from .gitrepo import GitRepo

SWALLOW = "def {name}():\n    try:\n        work()\n    except Exception:\n        pass\n"


def handler(name: str) -> str:
    return SWALLOW.format(name=name)


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write("app.py", handler("load") + "\n\n" + handler("save"))
    repo.commit("two swallowed errors")
    return repo


def scan_json(gapcheck, repo, *args):
    run = gapcheck("scan", "--no-semgrep", "--format", "json", *args, cwd=repo.root)
    return run, json.loads(run.stdout)


def test_write_baseline_records_findings_and_exits_clean(gapcheck, repo):
    run = gapcheck("scan", "--no-semgrep", "--write-baseline", "gapcheck-baseline.json", cwd=repo.root)
    assert run.exit_code == 0
    assert "wrote 2 findings to the baseline gapcheck-baseline.json" in run.stderr
    doc = json.loads((repo.root / "gapcheck-baseline.json").read_text(encoding="utf-8"))
    assert doc["format"] == "gapcheck-baseline" and doc["version"] == 1
    assert [(e["rule"], e["path"], e["line"]) for e in doc["findings"]] == [("GAP501", "app.py", 4),
                                                                            ("GAP501", "app.py", 11)]


def test_baseline_hides_recorded_findings_and_reports_new_ones(gapcheck, repo):
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    run, doc = scan_json(gapcheck, repo, "--baseline", "base.json")
    assert run.exit_code == 0 and doc["findings"] == []
    assert doc["summary"]["hidden"] == {"baseline": 2}

    # Unrelated lines above both findings move them; a new handler below is the only new finding.
    text = (repo.root / "app.py").read_text(encoding="utf-8")
    repo.write("app.py", "import os\n\n\nLIMIT = 3\n" + text + "\n\n" + handler("delete"))
    run, doc = scan_json(gapcheck, repo, "--baseline", "base.json")
    assert run.exit_code == 1
    assert [(f["rule"], f["line"]) for f in doc["findings"]] == [("GAP501", 22)]
    assert doc["summary"]["hidden"] == {"baseline": 2}
    text_run = gapcheck("scan", "--no-semgrep", "--baseline", "base.json", cwd=repo.root)
    assert text_run.stdout.splitlines()[-1] == "Found 1 finding in 1 of 1 file; 2 in the baseline not shown."


def test_identical_lines_are_counted_not_merged(gapcheck, repo):
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    repo.write("app.py", (repo.root / "app.py").read_text(encoding="utf-8") + "\n\n" + handler("again"))
    _, doc = scan_json(gapcheck, repo, "--baseline", "base.json")
    assert [f["line"] for f in doc["findings"]] == [18]  # the third `except Exception:` is new


def test_renamed_file_keeps_its_baseline(gapcheck, repo):
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    repo.git("mv", "app.py", "service.py")
    repo.commit("rename")
    run, doc = scan_json(gapcheck, repo, "--baseline", "base.json")
    assert run.exit_code == 0 and doc["findings"] == []
    assert doc["summary"]["hidden"] == {"baseline": 2}


def test_copying_a_baselined_line_into_another_file_is_new(gapcheck, repo):
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    repo.write("other.py", handler("load"))
    _, doc = scan_json(gapcheck, repo, "--baseline", "base.json")
    assert [(f["path"], f["line"]) for f in doc["findings"]] == [("other.py", 4)]


def test_a_fixed_finding_does_not_cover_a_new_one_elsewhere(gapcheck, repo):
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    fixed = (repo.root / "app.py").read_text(encoding="utf-8").replace("except Exception:\n        pass",
                                                                       "except OSError:\n        raise", 1)
    repo.write("app.py", fixed)
    repo.write("other.py", handler("load"))
    _, doc = scan_json(gapcheck, repo, "--baseline", "base.json")
    assert [(f["path"], f["line"]) for f in doc["findings"]] == [("other.py", 4)]


def test_baseline_works_from_a_subfolder(gapcheck, repo):
    repo.write("pkg/jobs.py", handler("run"))
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    run = gapcheck("scan", "--no-semgrep", "--format", "json", "--baseline", "../base.json", cwd=repo.root / "pkg")
    doc = json.loads(run.stdout)
    assert run.exit_code == 0 and doc["findings"] == [] and doc["summary"]["hidden"] == {"baseline": 1}


def test_sarif_leaves_baselined_results_out(gapcheck, repo):
    gapcheck("scan", "--no-semgrep", "--write-baseline", "base.json", cwd=repo.root)
    repo.write("new.py", handler("fresh"))
    run = gapcheck("scan", "--no-semgrep", "--format", "sarif", "--baseline", "base.json", cwd=repo.root)
    results = json.loads(run.stdout)["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results] == ["new.py"]


@pytest.mark.parametrize("content, message", [
    ("{", "is not valid JSON"),
    ('{"findings": []}', "is not a gapcheck baseline"),
    ('{"format": "gapcheck-baseline", "version": 99, "findings": []}', "has version 99"),
    ('{"format": "gapcheck-baseline", "version": 1, "findings": {}}', '"findings" must be a list'),
    ('{"format": "gapcheck-baseline", "version": 1, "findings": [{"rule": "GAP501"}]}',
     "findings[0] needs string fields rule, path and key"),
    (b"\xff\xfe", "is not UTF-8 text"),
])
def test_malformed_baseline_is_a_clear_error(gapcheck, repo, content, message):
    path = repo.root / "base.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--baseline", "base.json", cwd=repo.root)
    assert run.exit_code == 2
    assert run.stdout == ""  # fails before scanning
    assert run.stderr.startswith("gapcheck: error: ") and message in run.stderr


def test_missing_baseline_and_conflicting_options(gapcheck, repo):
    run = gapcheck("scan", "--no-semgrep", "--baseline", "nowhere.json", cwd=repo.root)
    assert run.exit_code == 2 and "cannot read baseline nowhere.json" in run.stderr
    run = gapcheck("scan", "--no-semgrep", "--write-baseline", "a.json", "--baseline", "b.json", cwd=repo.root)
    assert run.exit_code == 2 and "--write-baseline" in run.stderr
