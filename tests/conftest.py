from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gapcheck.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent
SHARED_CHECKER = REPO.parent / "shared" / "sarif" / "check_sarif.py"


class Run:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


@pytest.fixture
def gapcheck(monkeypatch, tmp_path):
    """Run the CLI in-process with a working directory and a private cache folder."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
        monkeypatch.chdir(cwd or tmp_path)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("GAPCHECK_CACHE_DIR", str(tmp_path / ".cache-for-test"))
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run gapcheck as a real process (`python -m gapcheck.analyzer`), as a user or CI would."""
    return subprocess.run([sys.executable, "-m", "gapcheck.analyzer", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "GAPCHECK_CACHE_DIR": str(cwd / ".gc-cache")})


def semgrep_available() -> bool:
    return shutil.which("semgrep") is not None
