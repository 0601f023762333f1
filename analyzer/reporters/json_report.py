"""Machine-readable JSON: findings, notifications and a summary, in a stable order."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .. import __version__

if TYPE_CHECKING:
    from ..engine import ScanResult


def render(result: "ScanResult", *, cwd: str) -> str:
    doc = {
        "tool": "gapcheck",
        "version": __version__,
        "findings": [f.to_dict() for f in result.findings],
        "notifications": [
            {"path": n.path, "kind": n.kind, "level": n.level, "message": n.message} for n in result.notifications
        ],
        "summary": {
            "findings": len(result.findings),
            "suppressed": result.suppressed,
            "files": result.files,
            "files_analysed": result.files_analysed,
            "tests_skipped": getattr(result, "tests_skipped", 0),
            "semgrep_failed": result.semgrep_failed,
            # Findings left out by --baseline ("baseline") and --diff ("diff"); absent keys: filter not used.
            "hidden": dict(getattr(result, "hidden", {})),
        },
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
