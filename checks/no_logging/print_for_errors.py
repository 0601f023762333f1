"""GAP603 print-for-errors: an except handler in service code reports the error with print()."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..broad_except.facts import owner, summarize
from .facts import is_service_module

RULE = Rule(
    id="GAP603",
    name="print-for-errors",
    category="no-logging",
    severity="note",
    precision="medium",
    cwe="CWE-778",
    summary="An except handler in service code reports the error with print()",
    docs=Docs(
        what=(
            "Flags `print()` in an except handler that neither logs, nor reports, nor re-raises, in service code:"
            " modules of a web app, worker or library. Tests, `conftest.py`, `setup.py`, `manage.py`,"
            " `__main__.py`, `cli.py`, modules under `scripts/`, `bin/`, `examples/`, `tools/`, `docs/`,"
            " `management/commands/` and `migrations/`, modules that import a CLI toolkit (argparse, click, typer,"
            " optparse, fire, docopt) and modules with an `if __name__ == \"__main__\":` block are not service code."
        ),
        why=(
            "In a service, stdout is not a log: gunicorn/uwsgi/Celery workers may not forward it, it has no level,"
            " no timestamp, no request id and no traceback, it is block-buffered when not a terminal (lines appear"
            " late or are lost on a crash), and log-based alerts never see it."
        ),
        example=(
            "def refresh_token(client):\n    try:\n        return client.refresh()\n    except AuthError as e:\n"
            "        print(\"refresh failed\", e)\n        return None"
        ),
        instead=(
            "logger = logging.getLogger(__name__)\n\ndef refresh_token(client):\n    try:\n"
            "        return client.refresh()\n    except AuthError:\n"
            "        logger.warning(\"token refresh failed\", exc_info=True)\n        return None"
        ),
        not_caught=(
            "print() outside except handlers (diagnostics printed on the happy path are a matter of taste),"
            " handlers that also log or re-raise, and bare `except:` handlers (GAP502 reports those). Precision is"
            " medium: a library module that is really a command-line entry point without any of the markers above"
            " is reported."
        ),
        references=("https://docs.python.org/3/howto/logging.html#when-to-use-logging",
                    "https://12factor.net/logs"),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if owner(handler, ctx) != RULE.id or not is_service_module(ctx):
        return
    call = summarize(handler, ctx).print_calls[0]
    yield ctx.finding(
        RULE, call,
        "print() reports this error on stdout, which a service's log pipeline may never see (no level, no"
        " traceback, buffered); use logger.warning(..., exc_info=True) or logger.exception(...)",
    )
