from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gapcheck.analyzer.cli import main

REPO = Path(__file__).resolve().parent.parent
SEMGREP_RULES = REPO / "semgrep-rules"


def ruleid_cases(rule_name: str) -> list[str]:
    """Each top-level statement of a Semgrep rule's test file that holds a `# ruleid:` case (not `todoruleid:`, a
    case the rule does not catch yet), with the comment above it and after the file's imports: what a real file
    with that case would hold."""
    text = (SEMGREP_RULES / f"{rule_name}.py").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    header = "".join(ast.get_source_segment(text, n) + "\n" for n in tree.body
                     if isinstance(n, (ast.Import, ast.ImportFrom)))
    cases = []
    for node in tree.body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        segment = "".join(lines[start - 2 if start > 1 else 0:node.end_lineno])
        if re.search(r"#\s*ruleid:", segment):
            cases.append(header + segment)
    return cases


def _shared_checker() -> Path:
    """The shared SARIF checker beside the repository; from a git worktree, beside the main checkout."""
    candidates = [REPO.parent / "shared" / "sarif" / "check_sarif.py"]
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=REPO,
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        common = ""
    if common:
        candidates.append(Path(common).parent.parent / "shared" / "sarif" / "check_sarif.py")
    return next((c for c in candidates if c.is_file()), candidates[0])


SHARED_CHECKER = _shared_checker()


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
