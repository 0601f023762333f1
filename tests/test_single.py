"""One file's text analysed alone (what the editor server runs) reports what `gapcheck scan` reports for that file,
for every rule the buffer pass can decide: the Python checks that need no other file."""
from __future__ import annotations

import json
from pathlib import Path

from gapcheck.analyzer.config import load_settings
from gapcheck.analyzer.engine import scan
from gapcheck.analyzer.findings import Finding
from gapcheck.analyzer.registry import load_rules
from gapcheck.analyzer.single import TextAnalyser, encode, identify

from .conftest import REPO

# Findings of project checks (and Semgrep) need the other files, so only the scan reports them.
SCAN_ONLY = {r.id for r in load_rules() if r.project_handlers or r.semgrep}


def comparable(findings: list[Finding] | tuple[Finding, ...]) -> list[tuple]:
    return sorted((f.path, f.line, f.column, f.end_line, f.end_column, f.rule_id, f.message, f.severity,
                   f.fingerprint) for f in findings if f.rule_id not in SCAN_ONLY)


def test_every_fixture_file_alone_gives_the_scans_findings_for_it() -> None:
    settings = load_settings(["fixtures"], None, cwd=REPO)
    settings.cache, settings.semgrep, settings.jobs = False, False, 2
    result = scan(settings)
    by_path: dict[str, list[Finding]] = {}
    for finding in result.findings:
        by_path.setdefault(finding.path, []).append(finding)
    analyser = TextAnalyser(settings)
    files = sorted((REPO / "fixtures").rglob("*.py"))
    assert len(files) > 40
    for path in files:
        identity = identify(path, REPO)
        alone = analyser.analyse(identity.path, path.read_text(encoding="utf-8"), identity.module_name)
        assert comparable(alone.findings) == comparable(by_path.get(identity.path, [])), identity.path


def test_config_filters_apply_as_in_the_scan(gapcheck, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gapcheck]\nsemgrep = false\nignore = ["GAP404"]\n'
        '[tool.gapcheck.severity]\nGAP502 = "error"\n[tool.gapcheck.per-file-ignores]\n"jobs/*" = ["GAP501"]\n',
        encoding="utf-8")
    text = ("import subprocess\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.post('/run')\n"
            "def run(cmd: str):\n    try:\n        subprocess.run(cmd)\n    except:\n        cleanup()\n"
            "    try:\n        work()\n    except Exception:  # gapcheck: ignore[GAP501]\n        pass\n"
            "    try:\n        work()\n    except Exception:\n        pass\n")
    (tmp_path / "jobs").mkdir()
    for name in ("app.py", "jobs/nightly.py"):
        (tmp_path / name).write_text(text, encoding="utf-8")
    scanned = json.loads(gapcheck("scan", "--format", "json", "--no-cache", cwd=tmp_path).stdout)["findings"]
    analyser = TextAnalyser(load_settings(["."], None, cwd=tmp_path))
    for name in ("app.py", "jobs/nightly.py"):
        alone = analyser.analyse(name, text, identify(tmp_path / name, tmp_path).module_name)
        assert [f.to_dict() for f in alone.findings] == [f for f in scanned if f["path"] == name], name
    assert {(f["path"], f["rule"], f["severity"]) for f in scanned} >= {("app.py", "GAP502", "error"),
                                                                        ("app.py", "GAP501", "warning")}
    assert not any(f["rule"] == "GAP404" or (f["path"], f["rule"]) == ("jobs/nightly.py", "GAP501") for f in scanned)


def test_text_is_encoded_as_its_coding_cookie_says() -> None:
    text = "# -*- coding: latin-1 -*-\nname = 'café'\n"
    assert encode(text) == text.encode("latin-1")
    assert encode("name = 'café'\n") == "name = 'café'\n".encode()
