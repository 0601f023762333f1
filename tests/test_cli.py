"""The command line: options, exit codes, selectors, output formats, determinism."""
from __future__ import annotations

import difflib
import json
from pathlib import Path

from .conftest import REPO, run_process

SWALLOW = "try:\n    work()\nexcept Exception:\n    pass\n"
REQUEST = "import requests\n\n\ndef f(url):\n    return requests.get(url)\n"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_scan_reports_findings_and_exits_1(gapcheck, tmp_path):
    write(tmp_path, "app.py", SWALLOW)
    run = gapcheck("scan", "--no-semgrep")
    assert run.exit_code == 1
    assert "app.py:3:1: GAP501 [broad-except-swallowed]" in run.stdout
    assert "Found 1 finding in 1 of 1 file." in run.stdout


def test_clean_code_exits_0(gapcheck, tmp_path):
    write(tmp_path, "ok.py", "def f():\n    return 1\n")
    run = gapcheck("scan", "--no-semgrep")
    assert run.exit_code == 0
    assert "Found 0 findings" in run.stdout


def test_paths_are_relative_to_the_working_directory_not_the_argument(gapcheck, tmp_path):
    write(tmp_path, "src/pkg/app.py", SWALLOW)
    run = gapcheck("scan", "src", "--no-semgrep", "--format", "json")
    paths = [f["path"] for f in json.loads(run.stdout)["findings"]]
    assert paths == ["src/pkg/app.py"]
    run = gapcheck("scan", "pkg", "--no-semgrep", "--format", "json", cwd=tmp_path / "src")
    assert [f["path"] for f in json.loads(run.stdout)["findings"]] == ["pkg/app.py"]


def test_select_and_ignore_take_ids_prefixes_and_categories(gapcheck, tmp_path):
    write(tmp_path, "app.py", SWALLOW)
    assert gapcheck("scan", "--no-semgrep", "--select", "GAP501").exit_code == 1
    assert gapcheck("scan", "--no-semgrep", "--select", "GAP5").exit_code == 1
    assert gapcheck("scan", "--no-semgrep", "--select", "broad-except").exit_code == 1
    assert gapcheck("scan", "--no-semgrep", "--ignore", "broad-except").exit_code == 0
    assert gapcheck("scan", "--no-semgrep", "--select", "timeout-retry").exit_code == 0
    assert gapcheck("scan", "--no-semgrep", "--select", "GAP4,GAP5", "--ignore", "GAP501").exit_code == 0


def test_unknown_selector_is_a_usage_error(gapcheck, tmp_path):
    run = gapcheck("scan", "--select", "GAP999x")
    assert run.exit_code == 2
    assert "unknown rule or category 'GAP999x'" in run.stderr


def test_fail_on_threshold(gapcheck, tmp_path):
    write(tmp_path, "app.py", SWALLOW)  # GAP501 is a warning
    assert gapcheck("scan", "--no-semgrep", "--fail-on", "error").exit_code == 0
    assert gapcheck("scan", "--no-semgrep", "--fail-on", "warning").exit_code == 1
    assert gapcheck("scan", "--no-semgrep", "--fail-on", "never").exit_code == 0


def test_output_file(gapcheck, tmp_path):
    write(tmp_path, "app.py", SWALLOW)
    run = gapcheck("scan", "--no-semgrep", "--format", "json", "-o", "out.json")
    assert run.exit_code == 1 and run.stdout == ""
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["findings"][0]["rule"] == "GAP501"


def test_github_annotations(gapcheck, tmp_path):
    write(tmp_path, "a,b.py", SWALLOW)
    run = gapcheck("scan", "--no-semgrep", "--format", "github")
    line = run.stdout.splitlines()[0]
    assert line.startswith("::warning file=a%2Cb.py,line=3,endLine=3,col=1,")
    assert "title=GAP501 broad-except-swallowed::" in line


def test_rules_and_explain(gapcheck, tmp_path):
    run = gapcheck("rules")
    assert run.exit_code == 0
    assert "GAP501" in run.stdout and "GAP401" in run.stdout and "broad-except" in run.stdout
    listed = json.loads(gapcheck("rules", "--format", "json").stdout)
    assert {"GAP401", "GAP501"} <= {r["id"] for r in listed}
    run = gapcheck("explain", "GAP501")
    assert run.exit_code == 0
    for section in ("## What it does", "## Why it fails in production", "## Example", "## Use instead",
                    "## What it deliberately does not catch"):
        assert section in run.stdout
    assert gapcheck("explain", "broad-except-swallowed").stdout == run.stdout
    assert gapcheck("explain", "GAP000").exit_code == 2


def test_version(gapcheck):
    from gapcheck.analyzer import __version__

    run = gapcheck("--version")
    assert run.stdout.strip() == f"gapcheck {__version__}"


def test_missing_path_argument_is_reported_and_other_paths_still_scanned(gapcheck, tmp_path):
    write(tmp_path, "app.py", SWALLOW)
    run = gapcheck("scan", "--no-semgrep", "nope", "app.py")
    assert run.exit_code == 2
    assert "path 'nope' does not exist" in run.stdout
    assert "GAP501" in run.stdout


def test_directory_without_python_files(gapcheck, tmp_path):
    write(tmp_path, "notes.txt", "hello")
    run = gapcheck("scan", "--no-semgrep")
    assert run.exit_code == 0
    assert "Found 0 findings in 0 of 0 files." in run.stdout


def test_output_is_identical_across_runs_and_job_counts(tmp_path):
    """Byte-identical SARIF and JSON over two runs and --jobs 1 / --jobs 2 (a real process pool)."""
    for i in range(40):  # enough files to use the process pool
        write(tmp_path, f"pkg/m{i:02}.py", SWALLOW * (1 + i % 3) + (REQUEST if i % 4 == 0 else ""))
    outputs = {}
    for jobs in ("1", "2", "2"):
        for fmt in ("json", "sarif"):
            out = tmp_path / f"out-{jobs}-{fmt}-{len(outputs)}.{fmt}"
            proc = run_process("scan", "pkg", "--no-cache", "--jobs", jobs, "--format", fmt, "-o", str(out),
                               cwd=tmp_path)
            assert proc.returncode == 1, proc.stderr
            outputs.setdefault(fmt, set()).add(out.read_bytes())
    for fmt, variants in outputs.items():
        first, *others = sorted(variants)
        for other in others:  # show where they differ, not just that they do
            diff = difflib.unified_diff(first.decode().splitlines(), other.decode().splitlines(), lineterm="", n=1)
            raise AssertionError(f"{fmt} output differs between runs:\n" + "\n".join(list(diff)[:40]))
    findings = json.loads(next(iter(outputs["json"])))["findings"]
    assert sum(f["rule"] == "GAP501" for f in findings) == sum(1 + i % 3 for i in range(40))
    assert sum(f["rule"] == "GAP401" for f in findings) == 10


def test_demo_app_first_command(tmp_path):
    proc = run_process("scan", "fixtures/demo", "--no-cache", cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    assert "fixtures/demo/app.py" in proc.stdout
    assert "GAP501" in proc.stdout and "GAP401" in proc.stdout


def test_a_linter_rules_test_file_is_test_code(gapcheck, tmp_path):
    """A Semgrep rule's test file (beside its rule, lines marked `# ruleid:`) is written to trip linters; a module
    beside a YAML file of its name without such marks, or with marks but no rule beside it, is ordinary code."""
    sql = "def count(cursor, name):\n    # ruleid: sql-in-fstring\n    cursor.execute(f\"SELECT * FROM t WHERE name = '{name}'\")\n"
    rules = tmp_path / ".semgrep" / "security"
    rules.mkdir(parents=True)
    (rules / "sql-in-fstring.py").write_text(sql, encoding="utf-8")
    (rules / "sql-in-fstring.yaml").write_text("rules: []\n", encoding="utf-8")
    (tmp_path / "settings.py").write_text(sql.replace("    # ruleid: sql-in-fstring\n", ""), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text("debug: false\n", encoding="utf-8")
    (tmp_path / "notes.py").write_text(sql, encoding="utf-8")  # the mark alone: no rule file beside it
    run = gapcheck("scan", "--no-semgrep", "--no-cache", "--format", "json")
    doc = json.loads(run.stdout)
    assert sorted(f["path"] for f in doc["findings"]) == ["notes.py", "settings.py"]
    assert doc["summary"]["tests_skipped"] == 1
    run = gapcheck("scan", "--no-semgrep", "--no-cache", "--format", "json", "--include-tests")
    assert ".semgrep/security/sql-in-fstring.py" in [f["path"] for f in json.loads(run.stdout)["findings"]]


def test_test_modules_are_left_out_unless_asked_for(gapcheck, tmp_path):
    sql = "def count(cursor, name):\n    cursor.execute(f\"SELECT * FROM t WHERE name = '{name}'\")\n"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text(sql, encoding="utf-8")
    (tmp_path / "test_app.py").write_text(sql, encoding="utf-8")
    (tmp_path / "pytest_plugin.py").write_text(sql, encoding="utf-8")  # fixtures shipped for test suites
    (tmp_path / "app.py").write_text(sql, encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--no-cache", "--format", "json")
    doc = json.loads(run.stdout)
    assert [f["path"] for f in doc["findings"]] == ["app.py"]
    assert doc["summary"]["files"] == 1 and doc["summary"]["tests_skipped"] == 3
    assert "3 test modules left out" in run.stderr
    run = gapcheck("scan", "--no-semgrep", "--no-cache", "--format", "json", "--include-tests")
    assert sorted(f["path"] for f in json.loads(run.stdout)["findings"]) == ["app.py", "pytest_plugin.py", "test_app.py",
                                                                              "tests/helpers.py"]
    (tmp_path / "pyproject.toml").write_text("[tool.gapcheck]\ninclude-tests = true\n", encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--no-cache", "--format", "json")
    assert json.loads(run.stdout)["summary"]["tests_skipped"] == 0


def test_rules_about_a_running_service_leave_the_repositorys_tooling_out(gapcheck, tmp_path):
    code = ('import httpx\n\n\ndef forecast(city):\n    try:\n'
            '        return httpx.get(f"https://api.example.com/{city}", timeout=None).json()\n'
            '    except Exception:\n        pass\n')
    for name in ("tools/conv.py", "app/tools/weather.py", "upload-screenshots.py", "app/release-notes.py",
                 "packages/app-benchmark/app_benchmark/load.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code + ('\n\nif __name__ == "__main__":\n    forecast("x")\n'
                                             if name == "upload-screenshots.py" else ""))
    run = gapcheck("scan", "--no-semgrep", "--format", "json")
    found = {(f["path"], f["rule"]) for f in json.loads(run.stdout)["findings"]}
    # GAP402 (a timeout: about a running service) is left out of the top-level tools/ folder and of a program
    # whose name no import can spell; an app's own tools/ package and a hyphenated file without a __main__ block
    # are code the service may run. GAP501 (a swallowed error) is reported everywhere.
    assert {p for p, r in found if r == "GAP402"} == {"app/tools/weather.py", "app/release-notes.py"}
    assert {p for p, r in found if r == "GAP501"} == {"tools/conv.py", "app/tools/weather.py",
                                                      "upload-screenshots.py", "app/release-notes.py",
                                                      "packages/app-benchmark/app_benchmark/load.py"}
