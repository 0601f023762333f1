"""The pre-commit hook (.pre-commit-hooks.yaml), run by pre-commit itself in a temporary repository.

`pre-commit try-repo` installs the hook the way users get it (language: python, a virtualenv with gapcheck
pip-installed from a repository) but offline: the hook repository is a local git copy of this work tree, pip
uses no index, and the virtualenv sees the already installed dependencies. Skipped where pre-commit or the
build backend is missing.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import REPO
from .gitrepo import GitRepo

SWALLOW = "def load():\n    try:\n        work()\n    except Exception:\n        pass\n"
SHIPPED = ("analyzer", "checks", "semgrep-rules", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")


def test_hook_definition():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "gapcheck" and hook["name"] and hook["description"]
    assert hook["language"] == "python"
    assert hook["types"] == ["python"]
    assert hook["pass_filenames"] is True  # scans the staged files pre-commit passes
    assert hook["require_serial"] is True
    assert hook["entry"].split()[:2] == ["gapcheck", "scan"] and "--force-exclude" in hook["entry"].split()


def test_force_exclude_drops_excluded_files_named_on_the_command_line(gapcheck, tmp_path):
    repo = GitRepo(tmp_path / "proj")
    repo.write("pyproject.toml", '[tool.gapcheck]\nextend-exclude = ["legacy/", "gen_*.py"]\n')
    repo.write(".gitignore", "scratch/\n")
    for name in ("app.py", "legacy/deep/old.py", "gen_client.py", "scratch/try.py", "build/lib/copy.py"):
        repo.write(name, SWALLOW)
    names = ["app.py", "legacy/deep/old.py", "gen_client.py", "scratch/try.py", "build/lib/copy.py"]
    plain = gapcheck("scan", "--no-semgrep", "--format", "json", *names, cwd=repo.root)
    assert plain.stdout.count('"rule": "GAP501"') == 5  # named files are scanned, as ruff does
    forced = gapcheck("scan", "--no-semgrep", "--format", "json", "--force-exclude", *names, cwd=repo.root)
    assert forced.stdout.count('"rule": "GAP501"') == 1 and '"path": "app.py"' in forced.stdout
    none_left = gapcheck("scan", "--no-semgrep", "--force-exclude", "legacy/deep/old.py", cwd=repo.root)
    assert none_left.exit_code == 0 and "Found 0 findings in 0 of 0 files." in none_left.stdout


def test_force_exclude_applies_excluded_folders_outside_git_too(gapcheck, tmp_path):
    (tmp_path / "legacy" / "deep").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[tool.gapcheck]\nextend-exclude = ["legacy"]\n', encoding="utf-8")
    (tmp_path / "legacy" / "deep" / "old.py").write_text(SWALLOW, encoding="utf-8")
    run = gapcheck("scan", "--no-semgrep", "--force-exclude", "legacy/deep/old.py", cwd=tmp_path)
    assert run.exit_code == 0 and "Found 0 findings in 0 of 0 files." in run.stdout


def _hook_repository(root: Path) -> Path:
    """A git repository holding what the hook installs from: this work tree's package files."""
    hooks = GitRepo(root)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".gapcheck_cache")
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    hooks.commit("hook repository")
    return root


@pytest.mark.skipif(shutil.which("pre-commit") is None or importlib.util.find_spec("hatchling") is None,
                    reason="needs pre-commit and hatchling installed")
def test_pre_commit_runs_the_hook_on_staged_files(tmp_path):
    hook_repo = _hook_repository(tmp_path / "hook-repo")
    project = GitRepo(tmp_path / "project")
    project.write("pyproject.toml", '[tool.gapcheck]\nextend-exclude = ["legacy/"]\n')
    project.write("bad.py", SWALLOW)
    project.write("ok.py", "VALUE = 1\n")
    project.write("legacy/old.py", SWALLOW)
    project.write("notes.md", "except Exception: pass\n")
    project.git("add", "pyproject.toml", "bad.py", "ok.py", "legacy/old.py", "notes.md")
    project.write("unstaged.py", SWALLOW)  # not staged: not scanned

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUALENV_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0",
               PIP_DISABLE_PIP_VERSION_CHECK="1", VIRTUALENV_SYSTEM_SITE_PACKAGES="1",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GAPCHECK_CACHE_DIR=str(tmp_path / "cache"))

    def pre_commit() -> subprocess.CompletedProcess:
        return subprocess.run(["pre-commit", "try-repo", str(hook_repo), "gapcheck", "--verbose"], check=False,
                              cwd=project.root, env=env, capture_output=True, text=True, timeout=600)

    proc = pre_commit()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gapcheck" in proc.stdout and "Failed" in proc.stdout
    assert "bad.py:4:5: GAP501 [broad-except-swallowed]" in proc.stdout
    assert "legacy/old.py" not in proc.stdout and "unstaged.py" not in proc.stdout
    assert "Found 1 finding in 2 of 2 files." in proc.stdout

    project.write("bad.py", "def load():\n    work()\n")
    project.git("add", "bad.py")
    proc = pre_commit()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout
