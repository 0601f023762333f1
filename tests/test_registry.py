"""The registry is the one source of rule metadata: ids in their category's block, complete docs."""
from __future__ import annotations

import ast

import pytest

from gapcheck.analyzer.registry import CATEGORIES, Docs, Rule, load_rules, resolve_selector

CORE = ("in-memory-state", "unbounded-query", "n-plus-one", "timeout-retry", "broad-except", "no-logging",
        "sql-building")


def test_category_slugs_and_blocks():
    assert CATEGORIES[:7] == CORE
    for rule in load_rules():
        assert int(rule.id[3]) == CATEGORIES.index(rule.category) + 1


@pytest.mark.parametrize("rule", load_rules(), ids=lambda r: r.id)
def test_rule_metadata_is_complete(rule: Rule):
    docs = rule.docs
    for section in (docs.what, docs.why, docs.example, docs.instead, docs.not_caught):
        assert section.strip(), f"{rule.id}: a docs section is empty"
    assert not rule.summary.endswith("."), "summaries are titles, without a final period"
    assert rule.semgrep or rule.handlers or rule.project_handlers, f"{rule.id}: no Python handler and not Semgrep"
    if not rule.semgrep:
        ast.parse(docs.example)  # examples are real Python
        ast.parse(docs.instead)
    if rule.security_severity:
        assert 0.0 <= float(rule.security_severity) <= 10.0


def test_bad_rule_definitions_are_refused():
    docs = Docs("w", "y", "e", "i", "n")
    with pytest.raises(ValueError, match="outside the broad-except block"):
        Rule(id="GAP401", name="x-y", category="broad-except", severity="warning", precision="high", summary="s",
             docs=docs)
    with pytest.raises(ValueError, match="kebab-case"):
        Rule(id="GAP599", name="Not_Kebab", category="broad-except", severity="warning", precision="high",
             summary="s", docs=docs)
    with pytest.raises(ValueError, match="duplicate rule id"):
        Rule(id="GAP501", name="another-name", category="broad-except", severity="warning", precision="high",
             summary="s", docs=docs)


def test_selectors():
    assert [r.id for r in resolve_selector("GAP501")] == ["GAP501"]
    assert [r.id for r in resolve_selector("broad-except-swallowed")] == ["GAP501"]
    assert all(r.category == "broad-except" for r in resolve_selector("broad-except"))
    assert {r.id for r in resolve_selector("GAP5")} == {r.id for r in resolve_selector("broad-except")}
    assert len(resolve_selector("ALL")) == len(load_rules())
    assert resolve_selector("nonsense") == []
    # A finer tag inside a category selects the rules that carry it, and only those.
    tagged = resolve_selector("async-blocking")
    assert tagged and all("async-blocking" in r.tags for r in tagged)
    assert all(r.category == "async-concurrency" for r in tagged)
    assert not any("async-blocking" in r.tags for r in resolve_selector("broad-except"))


def test_docs_rules_md_is_generated_from_the_registry():
    """docs/rules.md is what SARIF help links point at: it must match the registry exactly."""
    from pathlib import Path

    from gapcheck.analyzer.registry import rules_markdown

    committed = (Path(__file__).resolve().parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_markdown(load_rules()), "regenerate: gapcheck rules --format markdown > docs/rules.md"
