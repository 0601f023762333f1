"""A team's own Semgrep rules (`[tool.gapcheck] semgrep-rules`, `--semgrep-rules PATH`), run in gapcheck's one
Semgrep invocation and reported like the shipped rules: same report, suppression comments, baseline, diff mode
and SARIF, under their own ids.

A rule keeps the id its file gives it; its category is its `metadata.category` when that is one of gapcheck's
slugs (`security`, `timeout-retry`, ...) and `custom` otherwise; its severity follows Semgrep's (ERROR -> error,
WARNING -> warning, INFO -> note). Only rules whose `languages` include Python run: gapcheck scans Python files.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from .registry import CATEGORIES, Docs, Rule, get_rule
from .semgrep import load_rule_file

CUSTOM_CATEGORY = "custom"
SEVERITY = {"ERROR": "error", "CRITICAL": "error", "HIGH": "error", "WARNING": "warning", "MEDIUM": "warning",
            "INFO": "note", "LOW": "note", "INVENTORY": "note", "EXPERIMENT": "note"}
SUFFIXES = (".yaml", ".yml")


class CustomRuleError(ValueError):
    """A rule file that cannot be used: the message names the file (the CLI exits 2 with it)."""


def rule_files(paths: list[Path]) -> list[Path]:
    """The rule files a list of files and folders names: folders are searched for *.yaml / *.yml, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise CustomRuleError(f"semgrep-rules: {path} does not exist")
    return list(dict.fromkeys(found))


def load(paths: list[Path]) -> list[Rule]:
    """Every Python rule of these files as a registry-shaped Rule (not added to the shipped registry)."""
    rules: dict[str, Rule] = {}
    for path in rule_files(paths):
        try:
            docs = load_rule_file(path)
        except ValueError as exc:
            raise CustomRuleError(str(exc)) from None
        for doc in docs:
            rule_id = str(doc["id"])
            languages = doc.get("languages")
            if not isinstance(languages, list) or not any(str(lang).lower() in ("python", "py", "python3")
                                                            for lang in languages):
                continue
            if rule_id in rules:
                raise CustomRuleError(f"{path}: rule id {rule_id!r} is used twice")
            if get_rule(rule_id) is not None:
                raise CustomRuleError(f"{path}: rule id {rule_id!r} is one of gapcheck's own; give it another id")
            if not isinstance(doc.get("message"), str) or not doc["message"].strip():
                raise CustomRuleError(f"{path}: rule {rule_id!r} has no message")
            severity = SEVERITY.get(str(doc.get("severity", "WARNING")).upper())
            if severity is None:
                raise CustomRuleError(f"{path}: rule {rule_id!r} has an unknown severity {doc.get('severity')!r}")
            rules[rule_id] = _rule(rule_id, doc, severity, path)
    return [rules[key] for key in sorted(rules)]


def _rule(rule_id: str, doc: dict, severity: str, path: Path) -> Rule:
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    category = str(metadata.get("category", "")).lower()
    if category not in CATEGORIES:
        category = CUSTOM_CATEGORY
    message = " ".join(str(doc["message"]).split())
    summary = message.split(". ")[0].rstrip(".")[:200]
    references = metadata.get("references")
    links = tuple(str(r) for r in references) if isinstance(references, list) else ()
    cwe = metadata.get("cwe")
    if isinstance(cwe, list):
        cwe = cwe[0] if cwe else None
    return Rule(
        id=rule_id, name=rule_id, category=category, severity=severity,
        precision=str(metadata.get("precision", "high")) if metadata.get("precision") in ("high", "medium") else "high",
        summary=summary,
        docs=Docs(what=message, why=f"A rule of this project's own, from `{path.name}`.", example="", instead="",
                  not_caught="", references=links),
        cwe=str(cwe).split(":")[0] if cwe else None,
        semgrep=True, source_file=path.resolve(), help_url=links[0] if links else None,
    )


def digest(rules: list[Rule]) -> str:
    """Changes with any of the rule files, so results cached under older rules are never reused."""
    hasher = hashlib.blake2b(digest_size=16)
    for path in sorted({str(r.source_file) for r in rules}):
        hasher.update(path.encode())
        try:
            hasher.update(Path(path).read_bytes())
        except OSError:
            pass
    return hasher.hexdigest()
