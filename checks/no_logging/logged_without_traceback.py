"""GAP602 broad-except-logged-without-traceback: a broad handler logs the error but not its traceback."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..broad_except.facts import log_owner, summarize

RULE = Rule(
    id="GAP602",
    name="broad-except-logged-without-traceback",
    category="no-logging",
    severity="warning",
    # Medium: on a fresh sample of mature projects (archivebox, buildbot, octoprint, pgadmin4, pulpcore) about a
    # third of the findings were handlers whose warning already names the bad setting and its value (a profile
    # entry that is not a number) or a client's header that does not parse: a traceback would add nothing there,
    # and a rule cannot tell that message from a vague one.
    precision="medium",
    cwe="CWE-778",
    summary="A broad except handler logs the error without its traceback",
    docs=Docs(
        what=(
            "Flags an `except Exception:` / `except BaseException:` handler that does not re-raise and whose log"
            " calls all lack the traceback: `logger.error(f\"failed: {e}\")`, `logging.warning(str(e))`,"
            " `log.info(...)` - on any logger: `logging`, `logging.getLogger()` results, structlog, loguru,"
            " Celery task loggers, `self.logger`/`self.log`, `app.logger`. A log call with `exc_info=` (anything"
            " but False/None), `logger.exception(...)`, loguru's `logger.opt(exception=...)`, a"
            " `traceback.format_exc()` in the handler or an error-tracker call (`sentry_sdk.capture_exception`)"
            " counts as keeping the traceback. The finding starts on the `except` line. Most such handlers are"
            " reported by GAP501 (broad-except), whose message already says the traceback is missing; this rule"
            " reports the ones GAP501 leaves alone - a handler that also hands the error on (`errors.append(e)`),"
            " one waived for its breadth (`# noqa: BLE001`), an optional import, one with a comment that accepts"
            " the failure (an expected error, a best-effort step, a retry elsewhere)."
        ),
        why=(
            "A broad handler catches the bugs too. `str(e)` of a KeyError is `'user_id'`, of an AttributeError"
            " a single line, of a database error only the driver's message: the file, the line and the call chain"
            " are gone, so the log says something failed but not where. The incident starts with reproducing what"
            " the traceback would have shown."
        ),
        example=(
            "try:\n    sync_customer(customer)\nexcept Exception as e:\n"
            "    logger.error(f\"sync failed for {customer.id}: {e}\")"
        ),
        instead=(
            "try:\n    sync_customer(customer)\nexcept Exception:\n"
            "    logger.exception(\"sync failed for %s\", customer.id)  # or logger.error(..., exc_info=True)"
        ),
        not_caught=(
            "Handlers that re-raise (the traceback travels with the exception), narrow handlers (a logged"
            " `requests.Timeout` needs no traceback), bare `except:` (GAP502 reports those, once), handlers GAP501"
            " reports, test modules, `while True:` retry steps, handlers whose log lines are all `debug`, log calls on"
            " objects that are neither spelled nor created like a logger, log calls passing `**kwargs`"
            " (they may carry `exc_info`), and handlers whose comment says why the exception stays out of the log"
            " (\"it may contain secrets\")."
            " Precision is medium: a warning that already names the bad setting and its value, where a traceback adds nothing, looks the same as a vague one."
        ),
        references=("https://docs.python.org/3/library/logging.html#logging.Logger.exception",
                    "https://docs.python.org/3/library/logging.html#logging.Logger.debug"),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if log_owner(handler, ctx) != RULE.id:
        return
    call = summarize(handler, ctx).log_calls[0]
    spelled = ctx.dotted_name(call.func) or "the log call"
    yield ctx.finding(
        RULE, handler,
        f"{spelled}() on line {call.lineno} records this broad handler's error without the traceback, so the log shows that something"
        " failed but not where; use logger.exception(...) or pass exc_info=True",
        end_node=handler.type or handler,
    )
