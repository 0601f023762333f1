"""SARIF 2.1.0 for GitHub code scanning and editors, built from sarif-om objects and serialized deterministically."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
import sarif_om as om

from .. import __version__
from ..registry import PROJECT_URL, Rule

if TYPE_CHECKING:
    from ..engine import ScanResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "gapcheck/v1"
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
# GitHub code scanning cuts shortDescription and fullDescription at 1,024 characters.
MAX_DESCRIPTION = 1024
ELLIPSIS = "\u2026"


def bounded(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """`text` if it fits, else its longest run of whole sentences that fits (whole words, with an ellipsis,
    when even the first sentence is too long). The complete text stays in `help`, which has no such limit."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    cut = max(head.rfind(". ", 0, limit), head.rfind(".\n", 0, limit))
    if cut >= limit // 3:
        return text[:cut + 1]
    cut = head.rfind(" ", 0, limit - len(ELLIPSIS))
    if cut < limit // 3:
        cut = limit - len(ELLIPSIS)
    return text[:cut].rstrip() + ELLIPSIS


def line_hash(fingerprint: str) -> str:
    """GitHub tracks an alert across commits by `primaryLocationLineHash` ("<hash>:<occurrence>") and computes it
    itself only when the upload step has the source checked out. gapcheck's fingerprint already hashes what that
    one hashes (the finding's line text, not its number, and its rank among identical lines), per rule and file."""
    return f"{fingerprint[:16]}:1"


def _descriptor(rule: Rule) -> om.ReportingDescriptor:
    tags = ["gapcheck", rule.category, *rule.tags]
    if rule.cwe:
        tags.append(f"external/cwe/{rule.cwe.lower()}")
    if rule.security_severity and "security" not in tags:  # the security category's slug is already the tag
        tags.append("security")
    properties: dict[str, Any] = {
        "tags": tags,
        "precision": rule.precision,
        "problem.severity": PROBLEM_SEVERITY[rule.severity],
    }
    if rule.security_severity:
        properties["security-severity"] = rule.security_severity
    markdown = f"**{rule.id} {rule.name}** — {rule.summary}\n\n{rule.docs.markdown()}"
    text = f"{rule.summary}\n\n{rule.docs.what}\n\n{rule.docs.why}"
    return om.ReportingDescriptor(
        id=rule.id,
        name=rule.name,
        short_description=om.MultiformatMessageString(text=bounded(rule.summary)),
        full_description=om.MultiformatMessageString(text=bounded(rule.docs.what)),
        help=om.MultiformatMessageString(text=text, markdown=markdown),
        help_uri=rule.help_uri,
        default_configuration=om.ReportingConfiguration(level=rule.severity),
        properties=properties,
    )


def _artifact(path: str) -> om.ArtifactLocation:
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return om.ArtifactLocation(uri=Path(path).as_uri())
    return om.ArtifactLocation(uri=path, uri_base_id=SRCROOT)


def _fixes(fix: Any, path: str) -> list[om.Fix] | None:
    """A result's `fixes`: the one fix gapcheck has for it (unsafe ones say so in their description)."""
    if fix is None:
        return None
    replacements = [om.Replacement(
        deleted_region=om.Region(start_line=edit.start_line, start_column=edit.start_column,
                                 end_line=edit.end_line, end_column=edit.end_column),
        inserted_content=om.ArtifactContent(text=edit.text),
    ) for edit in fix.edits]
    label = "unsafe fix" if fix.applicability == "unsafe" else "fix"
    return [om.Fix(description=om.Message(text=f"{label}: {fix.title}"),
                   artifact_changes=[om.ArtifactChange(artifact_location=_artifact(path), replacements=replacements)])]


def build(result: "ScanResult", cwd: str) -> om.SarifLog:
    rules = sorted(result.rules, key=lambda r: r.id)
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for finding in result.findings:
        region = om.Region(start_line=finding.line, start_column=finding.column)
        if (finding.end_line, finding.end_column) > (finding.line, finding.column):
            region.end_line = finding.end_line
            region.end_column = finding.end_column
        results.append(om.Result(
            rule_id=finding.rule_id,
            rule_index=index.get(finding.rule_id, -1),
            level=finding.severity,
            message=om.Message(text=finding.message),
            locations=[om.Location(physical_location=om.PhysicalLocation(
                artifact_location=_artifact(finding.path), region=region))],
            partial_fingerprints={FINGERPRINT_KEY: finding.fingerprint,
                                  "primaryLocationLineHash": line_hash(finding.fingerprint)}
            if finding.fingerprint else None,
            fixes=_fixes(result.fixes.get(finding), finding.path),
        ))
    notifications = []
    for note in result.notifications:
        locations = None
        if note.path:
            locations = [om.Location(physical_location=om.PhysicalLocation(artifact_location=_artifact(note.path)))]
        notifications.append(om.Notification(
            message=om.Message(text=f"{note.path}: {note.message}" if note.path else note.message),
            level=note.level,
            locations=locations,
            descriptor=om.ReportingDescriptorReference(id=note.kind),
        ))
    successful = not (result.semgrep_failed or result.incomplete or result.broken_checks)
    invocation = om.Invocation(execution_successful=successful, tool_execution_notifications=notifications or None)
    base = Path(cwd).resolve().as_uri().rstrip("/") + "/"
    run = om.Run(
        tool=om.Tool(driver=om.ToolComponent(
            name="gapcheck", version=__version__, semantic_version=__version__,
            information_uri=PROJECT_URL, rules=[_descriptor(rule) for rule in rules],
        )),
        automation_details=om.RunAutomationDetails(id="gapcheck/"),
        original_uri_base_ids={SRCROOT: om.ArtifactLocation(uri=base)},
        column_kind="unicodeCodePoints",
        invocations=[invocation],
        results=results,
    )
    return om.SarifLog(version="2.1.0", schema_uri=SCHEMA_URI, runs=[run])


def to_jsonable(value: Any) -> Any:
    """sarif-om objects -> plain JSON, using each field's schema name and leaving out fields at their default."""
    if attr.has(type(value)):
        out: dict[str, Any] = {}
        for field in attr.fields(type(value)):
            item = getattr(value, field.name)
            default = field.default
            if isinstance(default, attr.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if item is None or (item == default and field.default is not attr.NOTHING):
                continue
            out[field.metadata.get("schema_property_name", field.name)] = to_jsonable(item)
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def render(result: "ScanResult", *, cwd: str) -> str:
    return json.dumps(to_jsonable(build(result, cwd or os.getcwd())), indent=2, ensure_ascii=False) + "\n"
