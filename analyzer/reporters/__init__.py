"""Reporters turn a ScanResult into text, JSON, SARIF or GitHub annotations. Formatting only, no analysis."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..engine import ScanResult

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, result: "ScanResult", *, cwd: str) -> str:
    renderer: Callable[..., str]
    if fmt == "text":
        from .text import render as renderer
    elif fmt == "json":
        from .json_report import render as renderer
    elif fmt == "sarif":
        from .sarif import render as renderer
    elif fmt == "github":
        from .github import render as renderer
    else:  # pragma: no cover - click restricts the choice
        raise ValueError(fmt)
    return renderer(result, cwd=cwd)
