"""Inline suppressions, for Python checks and Semgrep rules alike, with the suppressed count reported."""
from __future__ import annotations

import json

from gapcheck.analyzer.suppressions import collect


def test_directives_are_parsed_from_real_comments_only():
    text = (
        "x = '# gapcheck: ignore'\n"  # inside a string: not a comment
        "y = 1  # gapcheck: ignore[GAP501]\n"
        "z = 2  # gapcheck: ignore[gap401, GAP501]\n"
        "w = 3  # gapcheck: ignore\n"
        "call(\n    a,\n)  # gapcheck: ignore[GAP401]\n"
    )
    assert collect(text) == {2: ["GAP501"], 3: ["GAP401", "GAP501"], 4: ["*"], 5: ["GAP401"], 6: ["GAP401"],
                             7: ["GAP401"]}


def test_file_without_marker_costs_nothing():
    assert collect("x = 1\n") == {}


def test_suppression_of_python_and_semgrep_findings(gapcheck, tmp_path):
    (tmp_path / "app.py").write_text(
        "import requests\n\n"
        "def f(url):\n"
        "    try:\n"
        "        return requests.get(url)  # gapcheck: ignore[GAP401]\n"
        "    except Exception:  # gapcheck: ignore[GAP501]\n"
        "        return None\n\n"
        "def g(url):\n"
        "    try:\n"
        "        return requests.get(url)  # gapcheck: ignore[GAP501] (the wrong id: still reported)\n"
        "    except Exception:  # gapcheck: ignore\n"
        "        return None\n",
        encoding="utf-8",
    )
    run = gapcheck("scan", "--format", "json")
    doc = json.loads(run.stdout)
    assert [(f["line"], f["rule"]) for f in doc["findings"]] == [(11, "GAP401")]
    assert doc["summary"]["suppressed"] == 3
    text = gapcheck("scan")
    assert "3 suppressed" in text.stdout


def test_suppression_on_the_last_line_of_a_multiline_call(gapcheck, tmp_path):
    (tmp_path / "app.py").write_text(
        "import requests\n\nrequests.post(\n    'https://example.com',\n    json={},\n)  # gapcheck: ignore[GAP401]\n",
        encoding="utf-8",
    )
    doc = json.loads(gapcheck("scan", "--format", "json").stdout)
    assert doc["findings"] == [] and doc["summary"]["suppressed"] == 1
