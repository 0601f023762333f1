"""The composite GitHub action (action.yml): its structure, and its scan step run for real with bash.

The scan step's script is taken from action.yml and run as GitHub runs `shell: bash` steps, with the step's
`env` expressions evaluated for the inputs of each test; the SARIF it writes goes through the shared checker.
The install and upload steps need the network and GitHub, so they are checked for structure only.
"""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO
from .gitrepo import GitRepo
from .test_sarif import check_with_shared_validator

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
STEPS = {step.get("id") or step["name"]: step for step in ACTION["runs"]["steps"]}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SWALLOW = "def load():\n    try:\n        work()\n    except Exception:\n        pass\n"


def expressions(value) -> list[str]:
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    return EXPRESSION.findall(str(value)) if value is not None else []


def test_action_metadata_and_inputs():
    assert ACTION["name"] == "gapcheck" and ACTION["description"]
    assert ACTION["runs"]["using"] == "composite"
    inputs = ACTION["inputs"]
    assert {"paths", "config", "fail-on"} <= set(inputs)
    assert inputs["paths"]["default"] == "."
    assert inputs["fail-on"]["default"] in ("error", "warning", "note", "never")
    for name, spec in inputs.items():
        assert spec["description"], name
        assert isinstance(spec.get("default", ""), str), f"{name}: defaults are strings in action metadata"
    used = {m.group(1) for e in expressions(ACTION["runs"]) for m in re.finditer(r"inputs\.([\w-]+)", e)}
    assert used == set(inputs), "every input is used, and only declared inputs are"


def test_steps_reference_only_earlier_steps_and_declared_outputs():
    seen: set[str] = set()
    for step in ACTION["runs"]["steps"]:
        for expr in expressions(step):
            for ref in re.findall(r"steps\.([\w-]+)\.outputs", expr):
                assert ref in seen, f"{step['name']} reads steps.{ref} before it ran"
        if "id" in step:
            seen.add(step["id"])
    for name, output in ACTION["outputs"].items():
        assert re.fullmatch(r"\$\{\{ steps\.scan\.outputs\.[\w-]+ \}\}", output["value"]), name


def test_run_steps_use_bash_and_take_inputs_from_the_environment():
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash", step["name"]
            assert "${{" not in step["run"], f"{step['name']}: expressions spliced into a script allow injection"


def test_install_and_upload_steps():
    python = STEPS["python"]
    assert python["uses"].startswith("actions/setup-python@")
    assert python["with"]["update-environment"] is False  # the job's own Python stays as it was
    install = STEPS["install"]
    assert install["env"]["GAPCHECK_SOURCE"] == "${{ github.action_path }}"  # the action's own version
    assert "pip install" in install["run"] and "executable=" in install["run"]
    upload = next(s for s in ACTION["runs"]["steps"] if s.get("uses", "").startswith("github/codeql-action/"))
    assert upload["uses"] == "github/codeql-action/upload-sarif@v3"
    assert upload["with"] == {"sarif_file": "${{ steps.scan.outputs.sarif-file }}", "category": "gapcheck"}
    assert "inputs.upload == 'true'" in upload["if"]
    scan_index = ACTION["runs"]["steps"].index(STEPS["scan"])
    assert ACTION["runs"]["steps"].index(upload) == scan_index + 1
    assert "--format sarif" in STEPS["scan"]["run"]


class ActionRun:
    """Runs one `run` step of action.yml with bash, as the runner does for `shell: bash`."""

    def __init__(self, tmp_path: Path, workspace: Path, inputs: dict[str, str]) -> None:
        self.tmp = tmp_path
        self.workspace = workspace
        self.inputs = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()} | inputs
        self.outputs: dict[str, dict[str, str]] = {}
        shim = tmp_path / "bin" / "gapcheck"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gapcheck.analyzer "$@"\n', encoding="utf-8")
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
        self.outputs["install"] = {"executable": str(shim)}

    def evaluate(self, text: str) -> str:
        def value(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("inputs."):
                return self.inputs[expr[len("inputs."):]]
            if expr == "runner.temp":
                return str(self.tmp)
            found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
            if found:
                return self.outputs.get(found.group(1), {}).get(found.group(2), "")
            raise AssertionError(f"test does not know how to evaluate {expr!r}")

        return EXPRESSION.sub(value, text)

    def step(self, key: str) -> subprocess.CompletedProcess:
        step = STEPS[key]
        script = self.tmp / f"{key}.sh"
        script.write_text(step["run"], encoding="utf-8")
        output_file = self.tmp / f"{key}.out"
        output_file.write_text("", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env.update({name: self.evaluate(str(value)) for name, value in step.get("env", {}).items()})
        env.update(GITHUB_OUTPUT=str(output_file), GAPCHECK_CACHE_DIR=str(self.tmp / "cache"))
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], check=False,
                              cwd=self.workspace, env=env, capture_output=True, text=True, timeout=300)
        self.outputs[key] = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if line)
        return proc


@pytest.fixture
def workspace(tmp_path):
    repo = GitRepo(tmp_path / "workspace")
    repo.write("src/pkg/app.py", SWALLOW)
    repo.write("src/pkg/clean.py", "VALUE = 1\n")
    repo.write("tools/other.py", SWALLOW)
    repo.commit("app")
    return repo.root


def test_the_cache_is_restored_before_the_scan_and_saved_after_it_under_one_key():
    steps = ACTION["runs"]["steps"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    scan = steps.index(STEPS["scan"])
    assert steps.index(restore) < scan < steps.index(save) < steps.index(STEPS["Apply fail-on"])
    assert restore["with"]["key"] == save["with"]["key"] and restore["with"]["path"] == save["with"]["path"]
    assert "steps.install.outputs.cache-key" in save["with"]["key"] and "github.sha" in save["with"]["key"]
    # a new commit (or a pull request) starts from the newest cache of the same gapcheck and rules
    assert restore["with"]["restore-keys"].strip() == save["with"]["key"].replace("-${{ github.sha }}", "-")
    assert STEPS["scan"]["env"]["GAPCHECK_CACHE"] == save["with"]["path"]


def test_the_scan_step_keeps_and_prunes_the_cache(tmp_path, workspace):
    action = ActionRun(tmp_path, workspace, {"paths": "src", "fail-on": "never", "args": "--no-semgrep"})
    assert action.step("scan").returncode == 0
    entries = sorted((tmp_path / "gapcheck-cache").rglob("py/*/*.json"))  # the per-file Python results
    assert len(entries) == 2  # src/pkg/app.py and src/pkg/clean.py
    (workspace / "src" / "pkg" / "clean.py").write_text("VALUE = 2\n", encoding="utf-8")
    assert action.step("scan").returncode == 0
    after = sorted((tmp_path / "gapcheck-cache").rglob("py/*/*.json"))
    assert len(after) == 2  # the changed file's old entry is pruned ...
    assert len(set(after) & set(entries)) == 1  # ... and the unchanged file's entry is reused
    (tmp_path / "off").mkdir()
    off = ActionRun(tmp_path / "off", workspace, {"paths": "src", "cache": "false", "args": "--no-semgrep"})
    assert off.step("scan").returncode == 0 and "sarif-file" in off.outputs["scan"]
    assert not (tmp_path / "off" / "gapcheck-cache").exists()


def test_scan_step_writes_sarif_that_code_scanning_accepts(tmp_path, workspace):
    action = ActionRun(tmp_path, workspace, {"paths": "src", "fail-on": "warning", "args": "--no-semgrep"})
    proc = action.step("scan")
    assert proc.returncode == 0, proc.stderr
    outputs = action.outputs["scan"]
    assert outputs["exit-code"] == "1"
    sarif = Path(outputs["sarif-file"])
    assert sarif.parent == tmp_path  # in runner.temp, not in the user's work tree
    assert check_with_shared_validator(sarif, workspace).startswith("0 errors")
    doc = json.loads(sarif.read_text(encoding="utf-8"))
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]]
    assert uris == ["src/pkg/app.py"]  # relative to the repository root although only src/ was scanned
    assert not (workspace / ".gapcheck_cache").exists()

    gate = action.step("Apply fail-on")
    assert gate.returncode == 1
    assert "::error title=gapcheck::findings at or above fail-on=warning" in gate.stdout


def test_fail_on_never_and_several_paths(tmp_path, workspace):
    action = ActionRun(tmp_path, workspace, {"paths": "src\ntools", "fail-on": "never", "args": "--no-semgrep"})
    assert action.step("scan").returncode == 0
    assert action.outputs["scan"]["exit-code"] == "0"
    doc = json.loads(Path(action.outputs["scan"]["sarif-file"]).read_text(encoding="utf-8"))
    assert len(doc["runs"][0]["results"]) == 2
    assert action.step("Apply fail-on").returncode == 0


def test_config_input(tmp_path, workspace):
    (workspace / "ci.toml").write_text('ignore = ["GAP501"]\n', encoding="utf-8")
    action = ActionRun(tmp_path, workspace, {"config": "ci.toml", "args": "--no-semgrep"})
    assert action.step("scan").returncode == 0
    assert action.outputs["scan"]["exit-code"] == "0"
    doc = json.loads(Path(action.outputs["scan"]["sarif-file"]).read_text(encoding="utf-8"))
    assert doc["runs"][0]["results"] == []


def test_a_broken_config_fails_the_scan_step_without_uploading(tmp_path, workspace):
    action = ActionRun(tmp_path, workspace, {"config": "missing.toml", "args": "--no-semgrep"})
    proc = action.step("scan")
    assert proc.returncode == 2
    assert "config file missing.toml does not exist" in proc.stderr
    assert "::error title=gapcheck::gapcheck wrote no SARIF report (exit code 2)" in proc.stdout
    assert "sarif-file" not in action.outputs["scan"]


def test_inputs_are_not_executed_as_shell(tmp_path, workspace):
    action = ActionRun(tmp_path, workspace, {"paths": "src; touch pwned", "args": "--no-semgrep $(touch pwned2)"})
    action.step("scan")
    assert not (workspace / "pwned").exists() and not (workspace / "pwned2").exists()


def test_github_annotations_leave_columns_out_of_multi_line_findings(gapcheck, tmp_path):
    (tmp_path / "app.py").write_text(
        "import urllib.request as ur\n\n\ndef fetch(url):\n    return ur.urlopen(\n        url,\n    )\n\n\n"
        "def one(url):\n    return ur.urlopen(url)\n", encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--select", "GAP402", "--format", "github")
    multi, single = run.stdout.splitlines()
    assert multi.startswith("::warning file=app.py,line=5,endLine=7,title=GAP402 http-call-without-timeout::")
    assert single.startswith("::warning file=app.py,line=11,endLine=11,col=12,endColumn=27,title=")
