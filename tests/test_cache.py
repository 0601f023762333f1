"""The content-hash cache: an unchanged file is not parsed again, a changed one is, and the cache is safe to lose."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from gapcheck.analyzer import engine
from gapcheck.analyzer.cache import Cache
from gapcheck.analyzer.config import load_settings

SWALLOW = "try:\n    work()\nexcept Exception:\n    pass\n"
REQUEST = "import requests\n\n\ndef f(url):\n    return requests.get(url)\n"


def scan(root: Path, cache_dir: Path, **overrides):
    settings = load_settings([], None, cwd=root)
    settings.cache_dir = str(cache_dir)
    settings.jobs = 1
    for key, value in overrides.items():
        setattr(settings, key, value)
    return engine.scan(settings)


def pairs(result) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.rule_id) for f in result.findings]


def test_warm_run_parses_nothing_and_reports_the_same(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / "b.py").write_text(REQUEST, encoding="utf-8")
    cache_dir = tmp_path / ".cache"
    cold = scan(tmp_path, cache_dir)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cached file was analysed again")

    monkeypatch.setattr(engine, "analyse_source", must_not_run)
    monkeypatch.setattr(engine.semgrep, "start", must_not_run)
    warm = scan(tmp_path, cache_dir)
    assert pairs(warm) == pairs(cold) == [("a.py", 3, "GAP501"), ("b.py", 5, "GAP401")]
    assert [f.fingerprint for f in warm.findings] == [f.fingerprint for f in cold.findings]


def test_changed_file_is_analysed_again(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    (tmp_path / "b.py").write_text("x = 1\n", encoding="utf-8")
    cache_dir = tmp_path / ".cache"
    scan(tmp_path, cache_dir)
    (tmp_path / "b.py").write_text("x = 1\n" + SWALLOW, encoding="utf-8")
    analysed: list[str] = []
    real = engine.analyse_source

    def spy(path, data, dispatcher, module_name=""):
        analysed.append(path)
        return real(path, data, dispatcher, module_name)

    monkeypatch.setattr(engine, "analyse_source", spy)
    result = scan(tmp_path, cache_dir)
    assert analysed == ["b.py"]
    assert pairs(result) == [("a.py", 3, "GAP501"), ("b.py", 4, "GAP501")]


def test_rule_selection_is_part_of_the_key(tmp_path):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    cache_dir = tmp_path / ".cache"
    assert pairs(scan(tmp_path, cache_dir, select=["GAP4"])) == []
    assert pairs(scan(tmp_path, cache_dir)) == [("a.py", 3, "GAP501")]


def test_cache_deleted_or_corrupted_is_a_miss_not_an_error(tmp_path):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    cache_dir = tmp_path / ".cache"
    scan(tmp_path, cache_dir, semgrep=False)
    for entry in cache_dir.rglob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert pairs(scan(tmp_path, cache_dir, semgrep=False)) == [("a.py", 3, "GAP501")]
    shutil.rmtree(cache_dir)
    assert pairs(scan(tmp_path, cache_dir, semgrep=False)) == [("a.py", 3, "GAP501")]
    assert (cache_dir / ".gitignore").read_text(encoding="utf-8").strip().endswith("*")


def test_cache_survives_being_deleted_between_writes(tmp_path):
    cache = Cache(str(tmp_path / "c"))
    cache.put("py", "ab" * 10, {"x": 1})
    shutil.rmtree(tmp_path / "c")
    cache.put("py", "ab" * 10, {"x": 2})
    assert cache.get("py", "ab" * 10) == {"x": 2}


def test_unwritable_cache_is_not_fatal(tmp_path):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    assert pairs(scan(tmp_path, blocker / "cache", semgrep=False)) == [("a.py", 3, "GAP501")]


def test_no_cache_writes_nothing(tmp_path):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    scan(tmp_path, tmp_path / ".cache", cache=False, semgrep=False)
    assert not (tmp_path / ".cache").exists()


def test_concurrent_runs_share_one_cache(tmp_path):
    for i in range(30):
        (tmp_path / f"m{i}.py").write_text(SWALLOW * (i % 3 + 1), encoding="utf-8")
    command = [sys.executable, "-m", "gapcheck.analyzer", "scan", "--no-semgrep", "--format", "json",
               "--cache-dir", str(tmp_path / ".shared-cache")]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    outputs = [out for out, _ in results]
    errors = b"\n".join(err for _, err in results).decode(errors="replace")
    assert all(p.returncode == 1 for p in procs), errors
    assert len(set(outputs)) == 1, errors
    assert len(json.loads(outputs[0])["findings"]) == sum(i % 3 + 1 for i in range(30))
    warm = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300)
    assert warm.stdout == outputs[0]


def test_gapcheck_code_change_invalidates_the_cache(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text(SWALLOW, encoding="utf-8")
    cache_dir = tmp_path / ".cache"
    scan(tmp_path, cache_dir, semgrep=False)
    analysed: list[str] = []
    real = engine.analyse_source
    monkeypatch.setattr(engine, "analyse_source", lambda *a, **k: analysed.append(a[0]) or real(*a, **k))
    scan(tmp_path, cache_dir, semgrep=False)
    assert analysed == []
    monkeypatch.setattr(engine, "code_digest", lambda: "an edited check")
    scan(tmp_path, cache_dir, semgrep=False)
    assert analysed == ["a.py"]
