"""SARIF as an editor opens it (VS Code's SARIF Viewer): links that resolve to files, rule help that resolves to docs."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from gapcheck.analyzer.registry import PROJECT_URL, load_rules, rules_markdown

from .conftest import run_process

SWALLOW = "def load():\n    try:\n        work()\n    except Exception:\n        pass\n"


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_rule_help_uri_points_at_its_section_of_the_rules_page():
    rules = load_rules()
    anchors = {github_anchor(line[3:]) for line in rules_markdown(rules).splitlines() if line.startswith("## ")}
    for rule in rules:
        page, _, anchor = rule.help_uri.partition("#")
        assert page == f"{PROJECT_URL}/blob/main/docs/rules.md", rule.id
        assert anchor in anchors, f"{rule.id}: no heading for #{anchor} in docs/rules.md"


def test_sarif_links_resolve_to_the_scanned_files(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "app.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / "src" / "pkg" / "jobs.py").write_text(SWALLOW, encoding="utf-8")
    out = tmp_path / "gapcheck.sarif"
    proc = run_process("scan", "src", "--no-cache", "--no-semgrep", "--format", "sarif", "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    run = json.loads(out.read_text(encoding="utf-8"))["runs"][0]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base.startswith("file://") and base.endswith("/")
    rules = run["tool"]["driver"]["rules"]
    assert all(rule["helpUri"].startswith(PROJECT_URL) for rule in rules)
    opened = set()
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        artifact = location["artifactLocation"]
        target = urlparse(urljoin(base, artifact["uri"]))
        path = unquote(target.path)
        assert target.scheme == "file" and (tmp_path / "src" / "pkg").samefile(path.rsplit("/", 1)[0])
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        assert lines[location["region"]["startLine"] - 1].strip() == "except Exception:"
        assert rules[result["ruleIndex"]]["helpUri"].endswith("#gap501-broad-except-swallowed")
        opened.add(path.rsplit("/", 1)[1])
    assert opened == {"app.py", "jobs.py"}
