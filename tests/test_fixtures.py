"""Every fixture file: the exact set of (line, rule) pairs that gapcheck reports must equal its `# expect:` lines.

A missing finding and an extra finding both fail, for Python checks and Semgrep rules alike.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from gapcheck.analyzer.config import load_settings
from gapcheck.analyzer.engine import scan
from gapcheck.analyzer.registry import load_rules

from .conftest import REPO

FIXTURES = REPO / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*(GAP\d{3}(?:\s*,\s*GAP\d{3})*)")
# `<name>.fixed.py` holds what `--fix --unsafe-fixes` makes of `<name>.py` (tests/test_fixes.py compares them): an
# expected output, not a scan input, and its `# expect:` comments are the input's, carried over by the fix.
FILES = sorted(p.relative_to(REPO).as_posix() for p in FIXTURES.rglob("*.py") if not p.name.endswith(".fixed.py"))


def expected_pairs(path: Path) -> set[tuple[int, str]]:
    pairs = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            for rule_id in match.group(1).split(","):
                pairs.add((number, rule_id.strip()))
    return pairs


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> dict[str, set[tuple[int, str]]]:
    settings = load_settings(["fixtures"], None, cwd=REPO)
    settings.cache = False
    settings.jobs = 2
    result = scan(settings)
    assert not result.semgrep_failed, result.notifications
    crashed = [n for n in result.notifications if n.kind == "check-error"]
    assert not crashed, f"a check crashed on the fixtures, so its findings are missing: {crashed}"
    by_file: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for finding in result.findings:
        by_file[finding.path].add((finding.line, finding.rule_id))
    return by_file


@pytest.mark.parametrize("relpath", FILES)
def test_fixture_reports_exactly_its_expectations(relpath: str, reported) -> None:
    expected = expected_pairs(REPO / relpath)
    actual = reported.get(relpath, set())
    missing = sorted(expected - actual)
    extra = sorted(actual - expected)
    assert not missing and not extra, f"{relpath}: missing {missing}, unexpected {extra}"


def test_every_rule_has_a_fixture_that_fires_and_near_misses() -> None:
    fired: dict[str, int] = defaultdict(int)
    for relpath in FILES:
        for _, rule_id in expected_pairs(REPO / relpath):
            fired[rule_id] += 1
    for rule in load_rules():
        fixture = FIXTURES / rule.category / f"{rule.name}.py"
        folder = FIXTURES / rule.category / rule.name
        assert fixture.is_file() or folder.is_dir(), f"{rule.id}: no fixture at {fixture.relative_to(REPO)}"
        assert fired[rule.id] >= 3, f"{rule.id}: fewer than 3 must-fire lines in the fixtures"
        source = fixture.read_text(encoding="utf-8") if fixture.is_file() else "".join(
            p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.py")))
        assert source.count("near miss") >= 3, f"{rule.id}: fewer than 3 near-miss cases marked '# near miss'"


def _mismatch(expected: set, actual: set) -> tuple[list, list]:
    return sorted(expected - actual), sorted(actual - expected)


def test_the_harness_fails_on_a_removed_expectation_and_on_a_firing_near_miss(tmp_path) -> None:
    """Removing an `# expect:` comment, or adding a near miss that fires, must make the comparison fail."""
    fixture = tmp_path / "sample.py"
    fixture.write_text(
        "try:\n    work()\nexcept Exception:  # expect: GAP501\n    pass\n"
        "try:\n    work()\nexcept ValueError:  # near miss\n    pass\n",
        encoding="utf-8",
    )

    def actual_for(path: Path) -> set[tuple[int, str]]:
        settings = load_settings([path.name], None, cwd=path.parent)
        settings.cache = False
        settings.semgrep = False
        return {(f.line, f.rule_id) for f in scan(settings).findings}

    assert _mismatch(expected_pairs(fixture), actual_for(fixture)) == ([], [])
    fixture.write_text(fixture.read_text().replace("  # expect: GAP501", ""), encoding="utf-8")
    assert _mismatch(expected_pairs(fixture), actual_for(fixture)) == ([], [(3, "GAP501")])
    fixture.write_text(fixture.read_text().replace("except ValueError:  # near miss", "except Exception:"),
                       encoding="utf-8")
    assert _mismatch(expected_pairs(fixture), actual_for(fixture)) == ([], [(3, "GAP501"), (7, "GAP501")])


def test_a_memoised_helper_is_reported_per_distinct_argument_not_per_item() -> None:
    settings = load_settings(["fixtures/n-plus-one/http-call-in-loop"], None, cwd=REPO)
    settings.cache = False
    messages = {(f.path.rsplit("/", 1)[-1], f.line): f.message for f in scan(settings).findings
                if f.rule_id == "GAP303"}
    memoised = messages[("sdk_calls.py", 50)]  # `city_for_zip()` carries `@lru_cache`
    assert "per distinct argument" in memoised and "per item" not in memoised
    assert "one remote call per item" in messages[("sdk_calls.py", 39)]  # `stripe.Refund.create` per charge


def test_an_unbounded_retry_loop_that_logs_each_failure_does_not_claim_it_never_surfaces() -> None:
    settings = load_settings(["fixtures/timeout-retry/unbounded-retry-loop.py"], None, cwd=REPO)
    settings.cache = False
    messages = {f.line: f.message for f in scan(settings).findings if f.rule_id == "GAP406"}
    assert "never surfaces" in messages[12]  # `except requests.RequestException: time.sleep(1)`
    assert "each failure is logged" in messages[32] and "never surfaces" not in messages[32]  # self.log.warning
