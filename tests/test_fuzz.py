"""Fuzzing the whole scan: the fixture files, mutated the ways real repositories break them, scanned with Semgrep on.

A seeded generator (GAPCHECK_FUZZ_SEED picks another seed; the failing seed is in every assertion message) writes
FILES mutated copies of the fixtures beside one clean file, and one real `gapcheck scan` reads them all. Whatever it
meets, gapcheck must not crash, must exit with a documented code, must name every file it could not analyse
(the interpreter's own compiler is the oracle for which ones those are), must still report the clean file's
findings, and must write SARIF the shared checker accepts.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from .conftest import REPO, SHARED_CHECKER

SEED = int(os.environ.get("GAPCHECK_FUZZ_SEED", "13"))
FILES = 1_000
FILE_PROBLEMS = {"read-error", "decode-error", "syntax-error", "too-complex", "too-large", "broken-path"}
CLEAN = ("import requests\n\n\ndef fetch(url):\n    return requests.get(url)\n\n\n"
         "def save():\n    try:\n        work()\n    except Exception:\n        pass\n")
CLEAN_FINDINGS = [("GAP401", 5), ("GAP501", 11)]
Mutator = Callable[[random.Random, bytes], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]  # may cut a UTF-8 sequence, a string, a block in half


def random_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(out) + 1)
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(out)


def nul_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + b"\0" * rng.randint(1, 3) + data[at:]


def deep_parentheses(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice([3_000, 3_000, 200, 199])  # far past, just past and just below the parser's limit of 200
    return data + b"\nDEEP = " + b"(" * depth + b"1" + b")" * depth + b"\n"


def deep_nesting(rng: random.Random, data: bytes) -> bytes:
    kind = rng.choice([b"-", b"not ", b"[", b"await "])
    depth = 3_000
    close = b"]" * depth if kind == b"[" else b""
    return data + b"\nDEEP = " + kind * depth + b"1" + close + b"\n"


def _legacy(encoding: str, cookie: bool) -> Mutator:
    accented = {"latin-1": "caf\u00e9 \u00fc\u00df", "cp1252": "\u201cquoted\u201d \u20ac5 \u2013 na\u00efve"}[encoding]

    def mutate(rng: random.Random, data: bytes) -> bytes:
        text = data.decode("utf-8", "replace").replace("\ufffd", "?")
        lines = text.split("\n")
        at = rng.randrange(len(lines) + 1)
        lines.insert(at, f"LABEL = {accented!r}  # {accented}")
        if cookie:
            lines.insert(0, f"# -*- coding: {encoding} -*-")
        return "\n".join(lines).encode(encoding, "replace")

    mutate.__name__ = f"{encoding}_{'with' if cookie else 'without'}_cookie"
    return mutate


def tabs_in_indentation(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    for i, line in enumerate(lines):
        if line.startswith(b"    ") and rng.random() < 0.3:
            lines[i] = rng.choice([b"\t", b"  \t", b"\t    "]) + line[4:]
    return b"\n".join(lines)


def two_megabyte_line(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(_lines(data)) + 1)
    lines = _lines(data)
    lines.insert(at, b"BLOB = '" + b"x" * (2 * 1024 * 1024) + b"'")
    return b"\n".join(lines)


def crlf(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def lone_cr(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", b"\r")


def mixed_line_ends(rng: random.Random, data: bytes) -> bytes:
    return b"".join(line + rng.choice([b"\n", b"\r\n", b"\r"]) for line in _lines(data))


def bom_before_cookie(rng: random.Random, data: bytes) -> bytes:
    cookie = rng.choice([b"utf-8", b"latin-1", b"cp1252"])  # a BOM with a non-UTF-8 cookie is an error
    return b"\xef\xbb\xbf# -*- coding: " + cookie + b" -*-\n" + data


def odd_line_separators(rng: random.Random, data: bytes) -> bytes:
    """Form feeds, U+2028, U+0085 inside lines: ordinary characters to Python, line breaks to str.splitlines."""
    lines = _lines(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(lines))
        lines[at] = lines[at] + rng.choice([b"  # \xe2\x80\xa8 sep", b"  # \xc2\x85 nel", b"\x0c"])
    return b"\n".join(lines)


def deep_indentation(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice([99, 101, 150])  # the tokenizer stops at 100 levels
    block = b"".join(b" " * i + b"if x:\n" for i in range(depth)) + b" " * depth + b"pass\n"
    return data + b"\n" + block


def odd_cookie(rng: random.Random, data: bytes) -> bytes:
    cookie = rng.choice([b"no-such-codec", b"utf-16", b"rot13", b"uu", b"ascii", b"utf-8-sig"])
    return b"# -*- coding: " + cookie + b" -*-\n" + data


MUTATORS: list[Mutator] = [
    truncate, random_bytes, nul_bytes, deep_parentheses, deep_nesting,
    _legacy("latin-1", True), _legacy("latin-1", False), _legacy("cp1252", True), _legacy("cp1252", False),
    tabs_in_indentation, crlf, lone_cr, mixed_line_ends, bom_before_cookie, odd_line_separators,
    deep_indentation, odd_cookie,
]
HEAVY = {two_megabyte_line}  # a few of these: each costs both parsers time


def fixture_sources() -> list[bytes]:
    return [p.read_bytes() for p in sorted((REPO / "fixtures").rglob("*.py"))]


def generate(folder: Path, seed: int, count: int) -> dict[str, list[str]]:
    """Write `count` mutated fixtures under `folder`; returns file -> the mutators applied, in order."""
    rng = random.Random(seed)
    sources = fixture_sources()
    made: dict[str, list[str]] = {}
    for n in range(count):
        data = rng.choice(sources)
        chosen = rng.sample(MUTATORS, rng.choice([1, 1, 2, 3]))
        if n % 400 == 7:
            chosen.append(two_megabyte_line)
        for mutate in chosen:
            data = mutate(rng, data)
        name = f"m{n // 100:02d}/f{n:04d}.py"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        made[name] = [m.__name__ for m in chosen]
    return made


def python_accepts(data: bytes) -> bool:
    """The oracle: does this interpreter's own compiler (PEP 263 decoding included) parse the file?"""
    try:
        compile(data, "<fuzz>", "exec", flags=0x400, dont_inherit=True)  # ast.PyCF_ONLY_AST
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False


def test_generator_is_seeded_and_covers_every_mutation(tmp_path):
    first = generate(tmp_path / "a", SEED, 60)
    again = generate(tmp_path / "b", SEED, 60)
    assert first == again
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in first)
    used = {m for ms in generate(tmp_path / "c", SEED, FILES // 4).values() for m in ms}
    assert used == {m.__name__ for m in MUTATORS} | {h.__name__ for h in HEAVY}


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep is a dependency; installed with the package")
def test_a_thousand_broken_files_never_crash_the_scan_nor_lose_a_finding(tmp_path):
    made = generate(tmp_path, SEED, FILES)
    (tmp_path / "clean_app.py").write_text(CLEAN, encoding="utf-8")
    out = tmp_path / "out.sarif"
    proc = subprocess.run(
        [sys.executable, "-m", "gapcheck.analyzer", "scan", ".", "--no-cache", "--jobs", "2", "--format", "sarif",
         "-o", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    seed = f"(GAPCHECK_FUZZ_SEED={SEED})"
    assert "Traceback" not in proc.stderr, f"{seed}\n{proc.stderr[-5000:]}"
    assert proc.returncode in (1, 2, 3), f"{seed} exit {proc.returncode}\n{proc.stderr[-3000:]}"
    doc = json.loads(out.read_text(encoding="utf-8"))
    run = doc["runs"][0]
    notes = run["invocations"][0].get("toolExecutionNotifications", [])

    def named(note) -> str:
        locations = note.get("locations") or [{}]
        return locations[0].get("physicalLocation", {}).get("artifactLocation", {}).get("uri", "")

    not_analysed = {named(n) for n in notes if n["descriptor"]["id"] in FILE_PROBLEMS}
    rejected = {name for name in made if not python_accepts((tmp_path / name).read_bytes())}
    assert rejected, f"{seed} the generator made no file Python rejects"
    assert rejected <= not_analysed, f"{seed} not analysed but not named: {sorted(rejected - not_analysed)[:10]}"
    wrongly = sorted(not_analysed - rejected)
    assert not wrongly, f"{seed} Python parses these, gapcheck did not: {[(n, made.get(n)) for n in wrongly[:10]]}"
    summary = re.search(r"in (\d+) of (\d+) files?;(?: \d+ suppressed;)? (\d+) not analysed", proc.stderr)
    assert summary, proc.stderr[-2000:]
    assert (int(summary[1]), int(summary[2]), int(summary[3])) == (
        FILES + 1 - len(rejected), FILES + 1, len(rejected)), seed

    # The documented exit codes: 2 (a tool failure, named in an error-level or Semgrep notice) beats 3 (a file
    # not analysed) beats 1 (findings).
    kinds = {n["descriptor"]["id"] for n in notes}
    if proc.returncode == 2:
        assert kinds & {"semgrep-error", "check-error"}, f"{seed} exit 2 with no tool problem: {sorted(kinds)}"
    else:
        assert proc.returncode == 3, seed
    assert run["invocations"][0]["executionSuccessful"] is False

    clean = sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
                   for r in run["results"]
                   if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "clean_app.py")
    assert clean == CLEAN_FINDINGS, seed
    assert {r["ruleId"] for r in run["results"] if r["ruleId"] == "GAP401"}, "Semgrep reported nothing at all"

    check = subprocess.run([sys.executable, str(SHARED_CHECKER), str(out), "--repo-root", str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, f"{seed}\n{check.stdout[-3000:]}"
    assert check.stdout.strip().splitlines()[-1] == "0 errors, 0 warnings", check.stdout[-3000:]
