"""`[tool.gapcheck]` in pyproject.toml: found upward from the scan root, validated, overridden by the CLI."""
from __future__ import annotations

import json
from pathlib import Path

SWALLOW = "try:\n    work()\nexcept Exception:\n    pass\n"
REQUEST = "import requests\nrequests.get('https://example.com')\n"


def project(tmp_path: Path, config: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.gapcheck]\n" + config, encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(SWALLOW, encoding="utf-8")
    return tmp_path


def findings(run) -> list[tuple[str, str]]:
    return [(f["path"], f["rule"]) for f in json.loads(run.stdout)["findings"]]


def test_config_found_upward_from_the_scan_root(gapcheck, tmp_path):
    project(tmp_path, 'ignore = ["GAP501"]\n')
    assert gapcheck("scan", "src", "--no-semgrep").exit_code == 0
    assert gapcheck("scan", ".", "--no-semgrep", cwd=tmp_path / "src").exit_code == 0


def test_cli_overrides_config(gapcheck, tmp_path):
    project(tmp_path, 'select = ["GAP4"]\nfail-on = "error"\n')
    assert gapcheck("scan", "--no-semgrep").exit_code == 0
    assert gapcheck("scan", "--no-semgrep", "--select", "GAP501", "--fail-on", "warning").exit_code == 1


def test_severity_override_and_per_file_ignores(gapcheck, tmp_path):
    project(tmp_path, '[tool.gapcheck.severity]\nGAP501 = "error"\n[tool.gapcheck.per-file-ignores]\n'
                      '"legacy/**" = ["broad-except"]\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.py").write_text(SWALLOW, encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--format", "json")
    doc = json.loads(run.stdout)
    assert [(f["path"], f["severity"]) for f in doc["findings"]] == [("src/app.py", "error")]
    assert gapcheck("scan", "--no-semgrep", "--fail-on", "error").exit_code == 1


def test_exclude_and_gitignore(gapcheck, tmp_path):
    project(tmp_path, 'extend-exclude = ["generated/"]\n')
    for folder in ("generated", "ignored_by_git", "node_modules", ".venv"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("ignored_by_git/\n", encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--format", "json")
    assert findings(run) == [("src/app.py", "GAP501")]
    # A file named on the command line is scanned even when excluded, as in ruff.
    run = gapcheck("scan", "generated/x.py", "--no-semgrep", "--format", "json")
    assert findings(run) == [("generated/x.py", "GAP501")]


def test_semgrep_can_be_turned_off_in_config(gapcheck, tmp_path):
    project(tmp_path, "semgrep = false\n")
    (tmp_path / "src" / "client.py").write_text(REQUEST, encoding="utf-8")
    run = gapcheck("scan", "--format", "json", env={"GAPCHECK_SEMGREP": str(tmp_path / "no-such-semgrep")})
    assert findings(run) == [("src/app.py", "GAP501")]
    assert run.exit_code == 1


def test_unknown_key_is_a_clear_error(gapcheck, tmp_path):
    project(tmp_path, 'selekt = ["GAP5"]\n')
    run = gapcheck("scan")
    assert run.exit_code == 2
    assert "unknown key(s) 'selekt'" in run.stderr


def test_bad_values_are_clear_errors(gapcheck, tmp_path):
    cases = {
        'select = "GAP5"\n': "`select` must be a list of strings",
        'select = ["GAP5", "nonsense"]\n': "unknown rule or category 'nonsense'",
        'fail-on = "sometimes"\n': "`fail-on` = 'sometimes'",
        '[tool.gapcheck.severity]\nGAP501 = "fatal"\n': "`severity.GAP501` = 'fatal'",
        "semgrep = 1\n": "`semgrep` must be true or false",
        "jobs = -1\n": "`jobs` must be a whole number",
    }
    for config, message in cases.items():
        root = tmp_path / str(abs(hash(config)))
        root.mkdir()
        project(root, config)
        run = gapcheck("scan", cwd=root)
        assert run.exit_code == 2, config
        assert message in run.stderr, (config, run.stderr)


def test_broken_toml_is_a_clear_error(gapcheck, tmp_path):
    (tmp_path / "gapcheck.toml").write_text("select = [\n", encoding="utf-8")
    run = gapcheck("scan", "--config", "gapcheck.toml")
    assert run.exit_code == 2 and "cannot parse config" in run.stderr
    assert gapcheck("scan", "--config", "missing.toml").exit_code == 2
