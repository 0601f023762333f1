"""Bad input never crashes gapcheck and never loses a finding: each case gets a clear notice, the SARIF tool
notification, exit code 3 (analysis incomplete), and every other file is still analysed."""
from __future__ import annotations

import json
import os
import shutil
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


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
def test_a_file_python_cannot_decode_but_semgrep_matches_keeps_both_reports(gapcheck, tmp_path):
    """Semgrep reads the bytes it is given; its results in a file Python cannot decode are still fingerprinted."""
    (tmp_path / "a.py").write_bytes(b'import requests\n\ndef f(u):\n    s = "\xf1"\n    return requests.get(u)\n')
    out = tmp_path / "out.sarif"
    run = gapcheck("scan", ".", "--no-cache", "--format", "sarif", "-o", str(out))
    assert run.exit_code == 3
    doc = json.loads(out.read_text(encoding="utf-8"))
    [result] = doc["runs"][0]["results"]
    assert result["ruleId"] == "GAP401" and result["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    [note] = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "decode-error" and "cannot decode as utf-8" in note["message"]["text"]


def test_files_the_interpreter_runs_are_analysed_even_where_tokenize_is_stricter(gapcheck, tmp_path):
    (tmp_path / "comment.py").write_bytes(b"# caf\xe9, not UTF-8, in a comment only\n" + SWALLOW.encode())
    (tmp_path / "cr_cookie.py").write_bytes(("# -*- coding: latin-1 -*-\rNAME = 'caf\xe9'\r"
                                             + SWALLOW.replace("\n", "\r")).encode("latin-1"))
    run, doc = scan_json(gapcheck)
    assert doc["notifications"] == [] and run.exit_code == 1
    assert sorted((f["path"], f["line"]) for f in doc["findings"]) == [("comment.py", 4), ("cr_cookie.py", 5)]


def test_lines_are_numbered_as_python_numbers_them(gapcheck, tmp_path):
    """Form feeds and U+2028 are no line breaks to Python: line texts (fingerprints, baselines) stay aligned."""
    from gapcheck.analyzer.source import decode

    text = "x = 1\x0c\ny = '\u2028'\n" + SWALLOW
    (tmp_path / "ff.py").write_text(text, encoding="utf-8")
    (tmp_path / "plain.py").write_text("x = 1\ny = 'z'\n" + SWALLOW, encoding="utf-8")
    assert decode(text.encode()).lines[4] == "except Exception:"
    _, doc = scan_json(gapcheck)
    by_file = {f["path"]: (f["line"], f["fingerprint"]) for f in doc["findings"]}
    assert by_file["ff.py"][0] == by_file["plain.py"][0] == 5
    from gapcheck.analyzer.findings import Finding, with_fingerprints

    probe = Finding("ff.py", 5, 1, 5, 18, "GAP501", "", "warning")
    assert with_fingerprints([probe], decode(text.encode()).lines)[0].fingerprint == by_file["ff.py"][1]


NEWER_SYNTAX = [
    ("alias.py", "type Vector = list[float]\n", "3.12", "PEP 695"),
    ("generic.py", "def first[T](items: list[T]) -> T:\n    return items[0]\n", "3.12", "PEP 695"),
    ("generic_class.py", "class Box[T]:\n    pass\n", "3.12", "PEP 695"),
    ("default.py", "def f[T = int](x: T) -> T:\n    return x\n", "3.13", "PEP 696"),
    ("fstring.py", "names = {'a': 1}\nlabel = f\"{names[\"a\"]}\"\n", "3.12", "PEP 701"),
    ("fstring_backslash.py", "items = []\nlabel = f\"{'\\n'.join(items)}\"\n", "3.12", "PEP 701"),
    ("except.py", "try:\n    pass\nexcept KeyError, ValueError:\n    pass\n", "3.14", "PEP 758"),
]


@pytest.mark.parametrize(("name", "code", "version", "pep"), NEWER_SYNTAX, ids=[case[0] for case in NEWER_SYNTAX])
def test_newer_syntax_names_the_python_it_needs(gapcheck, tmp_path, name, code, version, pep):
    import ast
    import sys

    try:
        ast.parse(code)
    except SyntaxError:
        pass
    else:
        pytest.skip(f"this Python ({sys.version_info.major}.{sys.version_info.minor}) parses {pep}")
    with_good_file(tmp_path)
    (tmp_path / name).write_text(code, encoding="utf-8")
    run, doc = scan_json(gapcheck)
    assert run.exit_code == 3 and kinds(doc) == {name: "syntax-error"}
    message = doc["notifications"][0]["message"]
    assert f"Python {version}+ syntax" in message and pep in message and f"run it on Python {version} or newer" in message
    assert_good_file_still_analysed(doc)


def test_a_plain_syntax_error_gets_no_version_hint(gapcheck, tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n    pass\nlabel = f'{x'\n", encoding="utf-8")
    _, doc = scan_json(gapcheck)
    assert "Python 3." not in doc["notifications"][0]["message"]


def test_a_crashing_worker_process_loses_only_its_file(gapcheck, tmp_path, monkeypatch):
    """A worker that dies (out of memory, a crash in C code) breaks the pool: the other files are still analysed
    and the file that killed its process is named."""
    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("needs fork, so the stand-in crash reaches the workers")
    for n in range(30):
        (tmp_path / f"m{n:02d}.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / "killer.py").write_text("KILL_THE_WORKER = 1\n", encoding="utf-8")
    real = engine.analyse_source

    def analyse(path, data, dispatcher, module_name=""):
        if b"KILL_THE_WORKER" in data:
            os._exit(9)
        return real(path, data, dispatcher, module_name)

    monkeypatch.setattr(engine, "analyse_source", analyse)
    run, doc = scan_json(gapcheck, "--no-cache", "--jobs", "2")
    assert run.exit_code == 3
    assert kinds(doc) == {"killer.py": "too-complex"}
    assert len(doc["findings"]) == 30
