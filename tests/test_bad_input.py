"""Bad input never crashes gapcheck and never loses a finding: each case gets a clear notice, the SARIF tool
notification, exit code 3 (analysis incomplete), and every other file is still analysed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gapcheck.analyzer import engine

SWALLOW = "try:\n    work()\nexcept Exception:\n    pass\n"


def scan_json(gapcheck, *args: str):
    run = gapcheck("scan", "--no-semgrep", "--format", "json", *args)
    return run, json.loads(run.stdout)


def with_good_file(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(SWALLOW, encoding="utf-8")


def kinds(doc) -> dict[str, str]:
    return {n["path"]: n["kind"] for n in doc["notifications"]}


def assert_good_file_still_analysed(doc) -> None:
    assert [(f["path"], f["rule"]) for f in doc["findings"]] == [("good.py", "GAP501")]


@pytest.mark.parametrize(
    ("name", "content", "kind", "text"),
    [
        ("syntax.py", b"def broken(:\n    pass\n", "syntax-error", "syntax error at line 1"),
        ("py2.py", b"print 'hello'\n", "syntax-error", "Python 2 code?"),
        ("latin1.py", "x = 'caf\xe9'\n".encode("latin-1"), "decode-error", "cannot decode as utf-8"),
        ("nul.py", b"x = 1\n\x00\x00y = 2\n", "syntax-error", "NUL bytes"),
        ("badcookie.py", b"# -*- coding: no-such-codec -*-\nx = 1\n", "decode-error", "cannot decode"),
    ],
)
def test_unanalysable_file_is_reported_and_others_still_analysed(gapcheck, tmp_path, name, content, kind, text):
    with_good_file(tmp_path)
    (tmp_path / name).write_bytes(content)
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3
    assert kinds(doc) == {name: kind}
    assert text in doc["notifications"][0]["message"]
    assert_good_file_still_analysed(doc)
    assert f"gapcheck: error: {name}: " in run.stderr


def test_coding_cookie_and_bom_are_honoured(gapcheck, tmp_path):
    (tmp_path / "latin1.py").write_bytes(
        "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\ntry:\n    work()\nexcept Exception:\n    pass\n".encode("latin-1"))
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + ("x = '\u00e9\u00e9'; " + "y = 1\n" + SWALLOW).encode())
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 1
    assert doc["notifications"] == []
    assert sorted((f["path"], f["line"], f["column"]) for f in doc["findings"]) == [("bom.py", 4, 1), ("latin1.py", 5, 1)]


def test_columns_count_characters_not_bytes(gapcheck, tmp_path):
    (tmp_path / "wide.py").write_text("def f():\n    s = 'ééé'; x = [1 for _ in []]\n    try: g()\n    except Exception: pass\n",
                                      encoding="utf-8")
    (tmp_path / "u.py").write_text("x = 'é'\ntry:\n    g()\nexcept Exception:  # é\n    pass\n", encoding="utf-8")
    _, doc = scan_json(gapcheck)
    assert [(f["path"], f["line"], f["column"]) for f in doc["findings"]] == [("u.py", 4, 1), ("wide.py", 4, 5)]


def test_empty_file(gapcheck, tmp_path):
    (tmp_path / "empty.py").write_bytes(b"")
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 0 and doc["findings"] == [] and doc["notifications"] == []
    assert doc["summary"]["files_analysed"] == 1


def test_fifty_thousand_line_file(gapcheck, tmp_path):
    body = "".join(f"value_{i} = {i}\n" for i in range(50_000)) + SWALLOW
    (tmp_path / "huge.py").write_text(body, encoding="utf-8")
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 1
    assert [(f["line"], f["rule"]) for f in doc["findings"]] == [(50_003, "GAP501")]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_expression(gapcheck, tmp_path, depth):
    with_good_file(tmp_path)
    (tmp_path / "deep.py").write_text("x = " + "-" * depth + "1\n" + SWALLOW, encoding="utf-8")
    run, doc = scan_json(gapcheck)
    deep = [f for f in doc["findings"] if f["path"] == "deep.py"]
    if doc["notifications"]:  # the parser itself may give up: then it is reported, not a crash
        assert kinds(doc) == {"deep.py": "too-complex"} and run.exit_code == 3 and deep == []
    else:
        assert [f["line"] for f in deep] == [4] and run.exit_code == 1
    assert [f["path"] for f in doc["findings"] if f["path"] == "good.py"] == ["good.py"]


def test_too_many_parentheses_is_a_syntax_error_notice(gapcheck, tmp_path):
    with_good_file(tmp_path)
    (tmp_path / "parens.py").write_text("x = " + "(" * 1000 + "1" + ")" * 1000 + "\n", encoding="utf-8")
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3 and kinds(doc) == {"parens.py": "syntax-error"}
    assert_good_file_still_analysed(doc)


def test_unreadable_file(gapcheck, tmp_path, monkeypatch):
    # Tests may run as root, which reads any file whatever its mode: make the read itself fail.
    with_good_file(tmp_path)
    (tmp_path / "secret.py").write_text(SWALLOW, encoding="utf-8")
    real_read = engine._read

    def read(path: str) -> bytes:
        if path.endswith("secret.py"):
            raise PermissionError(13, "Permission denied", path)
        return real_read(path)

    monkeypatch.setattr(engine, "_read", read)
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3
    assert kinds(doc) == {"secret.py": "read-error"}
    assert "Permission denied" in doc["notifications"][0]["message"]
    assert_good_file_still_analysed(doc)


def test_unreadable_folder(gapcheck, tmp_path, monkeypatch):
    with_good_file(tmp_path)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x.py").write_text(SWALLOW, encoding="utf-8")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3 and kinds(doc) == {"locked": "read-error"}
    assert_good_file_still_analysed(doc)


def test_broken_symlink_and_symlink_loop(gapcheck, tmp_path):
    with_good_file(tmp_path)
    (tmp_path / "dangling.py").symlink_to(tmp_path / "missing-target.py")
    (tmp_path / "loop_a.py").symlink_to(tmp_path / "loop_b.py")
    (tmp_path / "loop_b.py").symlink_to(tmp_path / "loop_a.py")
    (tmp_path / "dirloop").mkdir()
    (tmp_path / "dirloop" / "again").symlink_to(tmp_path / "dirloop")  # folder symlinks are not followed
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3
    assert kinds(doc) == {"dangling.py": "broken-path", "loop_a.py": "broken-path", "loop_b.py": "broken-path"}
    assert_good_file_still_analysed(doc)


def test_file_too_large_is_reported(gapcheck, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "MAX_FILE_BYTES", 1000)
    with_good_file(tmp_path)
    (tmp_path / "blob.py").write_text("x = 1\n" * 500, encoding="utf-8")
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3 and kinds(doc) == {"blob.py": "too-large"}
    assert_good_file_still_analysed(doc)


def test_a_crashing_check_loses_only_its_own_findings(gapcheck, tmp_path, monkeypatch):
    from gapcheck.analyzer.registry import get_rule

    rule = get_rule("GAP501")
    node_type, original = rule.handlers[0]

    def explode(node, ctx):
        raise RuntimeError("boom")

    rule.handlers[0] = (node_type, explode)
    try:
        (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
        run, doc = scan_json(gapcheck, "--no-cache")
    finally:
        rule.handlers[0] = (node_type, original)
    assert doc["findings"] == []
    assert doc["notifications"][0]["kind"] == "check-error"
    assert "GAP501 failed on this file: RuntimeError: boom" in doc["notifications"][0]["message"]


def test_scanned_code_is_never_imported_or_executed(gapcheck, tmp_path):
    marker = tmp_path / "executed.txt"
    (tmp_path / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(99)\n", encoding="utf-8")
    (tmp_path / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n", encoding="utf-8")
    run, _ = scan_json(gapcheck)
    assert run.exit_code == 0
    assert not marker.exists()


def test_a_check_module_that_fails_to_import_loses_only_its_rules(gapcheck, tmp_path, monkeypatch):
    from gapcheck.analyzer import registry

    monkeypatch.setitem(registry._LOAD_ERRORS, "gapcheck.checks.broken", "SyntaxError: invalid syntax")
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    run, doc = scan_json(gapcheck, "--no-cache")
    assert run.exit_code == 2  # a broken gapcheck is a tool failure, never "no findings"
    assert [f["rule"] for f in doc["findings"]] == ["GAP501"]
    assert "check module gapcheck.checks.broken failed to load" in doc["notifications"][0]["message"]


def test_except_clause_findings_point_at_the_header_not_the_body(gapcheck, tmp_path):
    (tmp_path / "a.py").write_text("try:\n    work()\nexcept:\n    pass\n    pass\n"
                                   "try:\n    work()\nexcept (KeyError,\n        Exception):\n    pass\n",
                                   encoding="utf-8")
    _, doc = scan_json(gapcheck, "--no-cache")
    spans = [(f["line"], f["column"], f["end_line"], f["end_column"]) for f in doc["findings"]]
    assert spans == [(3, 1, 3, 7), (8, 1, 9, 19)]
