"""Inline suppressions, for Python checks and Semgrep rules alike, with the suppressed count reported."""
from __future__ import annotations

import json

import pytest

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


STATEMENT_SPANS = [
    ("multi-line call, comment on its last line",
     "x = f(1,\n  2)  # gapcheck: ignore[GAP1]\ny = g()\n", {1: ["GAP1"], 2: ["GAP1"]}),
    ("statements joined with ;", "a = 1; b = f(\n 2)  # gapcheck: ignore[GAP1]\n", {1: ["GAP1"], 2: ["GAP1"]}),
    ("body on the header's line", "if x: a = f(\n 2)  # gapcheck: ignore[GAP1]\n", {2: ["GAP1"]}),
    ("comment above a statement", "# gapcheck: ignore[GAP1]\nx = f(1,\n  2)\n", {1: ["GAP1"]}),
    ("comment inside brackets", "def f():\n    x = (1,  # gapcheck: ignore[GAP1]\n  2)\n    y = 2\n",
     {2: ["GAP1"], 3: ["GAP1"]}),
    ("multi-line clause header", "try:\n    a()\nexcept (A,\n        B):  # gapcheck: ignore[GAP501]\n    pass\n",
     {4: ["GAP501"]}),
    ("comment between implicitly joined strings", 'x = ("a"  # gapcheck: ignore[GAP1]\n     "b")\n',
     {1: ["GAP1"], 2: ["GAP1"]}),
    ("class body, ; and a one-line def",
     "class A:\n    x = 1; y = [\n  2]  # gapcheck: ignore[GAP1]\n    def f(self): return g(\n      1)  # gapcheck: "
     "ignore[GAP2]\n", {2: ["GAP1"], 3: ["GAP1"], 5: ["GAP2"]}),
    ("non-ASCII before a joined statement", "s = 'é'; t = f(\n 1)  # gapcheck: ignore[GAP1]\n",
     {1: ["GAP1"], 2: ["GAP1"]}),
    ("decorator", "@decorator(\n  1)  # gapcheck: ignore[GAP1]\ndef f():\n    pass\n", {2: ["GAP1"]}),
    ("match case body", "match x:\n    case 1:\n        y = f(\n  1)  # gapcheck: ignore[GAP1]\n",
     {3: ["GAP1"], 4: ["GAP1"]}),
    ("backslash continuation", "x = 1 + \\\n    2  # gapcheck: ignore[GAP1]\n", {1: ["GAP1"], 2: ["GAP1"]}),
    ("else on the header's line",
     "while x: y = f(\n 1)  # gapcheck: ignore\nelse: z = g(\n 2)  # gapcheck: ignore[GAP2]\n",
     {2: ["*"], 4: ["GAP2"]}),
    ("marker inside a string", 'x = """\n# gapcheck: ignore\n"""\ny = 1\n', {}),
    ("CRLF line ends", "x = 1\r\ny = f(\r\n  2)  # gapcheck: ignore[GAP1]\r\n", {2: ["GAP1"], 3: ["GAP1"]}),
    ("finally body on its line", "try:\n    pass\nfinally: x = f(\n  1)  # gapcheck: ignore[GAP1]\n", {4: ["GAP1"]}),
    ("two comments in one statement", "x = f(a,  # gapcheck: ignore[GAP1]\n      b)  # gapcheck: ignore[GAP2]\n",
     {1: ["GAP1", "GAP2"], 2: ["GAP1", "GAP2"]}),
    ("code that does not parse", "x = (1,  # gapcheck: ignore[GAP1]\n", {}),
    ("code that tokenizes but does not parse", "x = = f(\n 1)  # gapcheck: ignore[GAP1]\n", {2: ["GAP1"]}),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in STATEMENT_SPANS],
                         ids=[case[0] for case in STATEMENT_SPANS])
def test_a_comment_covers_every_line_of_its_simple_statement_only(text: str, expected: dict[int, list[str]]):
    assert collect(text) == expected


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
