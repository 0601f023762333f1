"""GAP502 bare-except: a bare `except:` that handles the error itself instead of re-raising."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from .facts import owner, summarize

RULE = Rule(
    id="GAP502",
    name="bare-except",
    category="broad-except",
    severity="warning",
    precision="high",
    cwe="CWE-396",
    summary="A bare except catches KeyboardInterrupt and SystemExit and does not re-raise",
    docs=Docs(
        what=(
            "Flags a bare `except:` whose handler does not re-raise (neither a bare `raise` nor `raise X from e`):"
            " bare handlers that log, clean up, or return something and carry on, and bare handlers that raise"
            " another exception (`except: raise ValidationError(...)`), which turns Ctrl-C, `sys.exit()` and every"
            " bug into that exception for its callers. Handlers that only pass/continue/return a constant are"
            " GAP501's."
        ),
        why=(
            "`except:` is `except BaseException:`: besides every bug it catches `KeyboardInterrupt`, `SystemExit`"
            " (`sys.exit()`, a worker's graceful shutdown), `GeneratorExit`, and in async code task cancellation."
            " A deploy's SIGTERM or Ctrl-C lands in the handler and the process keeps running; a `sys.exit(1)`"
            " deep in a call turns into a normal return."
        ),
        example=(
            "try:\n    sync_inventory()\nexcept:\n    logger.exception(\"sync failed\")"
        ),
        instead=(
            "try:\n    sync_inventory()\nexcept Exception:\n    logger.exception(\"sync failed\")"
        ),
        not_caught=(
            "Bare handlers that re-raise (cleanup-then-`raise` is the legitimate use), bare handlers that only"
            " swallow (GAP501 reports those, once), bare handlers waived for a peer linter (`# noqa: E722`),"
            " `while True:` retry steps, and `except BaseException:` written out (a deliberate choice)."
        ),
        references=("https://docs.python.org/3/library/exceptions.html#exception-hierarchy",
                    "https://peps.python.org/pep-0008/#programming-recommendations"),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if handler.type is None and owner(handler, ctx) == RULE.id:
        cancelled = ""
        if isinstance(ctx.enclosing_function(handler), ast.AsyncFunctionDef):
            cancelled = " (and in this coroutine asyncio.CancelledError, so the task can no longer be cancelled)"
        raised = summarize(handler, ctx).raises_new
        if raised is not None:
            name = ctx.dotted_name(raised.exc.func if isinstance(raised.exc, ast.Call) else raised.exc) or "another error"
            yield ctx.finding(
                RULE, handler,
                f"bare `except:` turns KeyboardInterrupt, SystemExit{cancelled} and every bug into `{name}`, so"
                " callers that handle that error handle Ctrl-C and a shutdown too, and the real type is gone from"
                " their view; catch the exceptions you expect (`except (ValueError, ArithmeticError):`)",
            )
            return
        yield ctx.finding(
            RULE, handler,
            f"bare `except:` also catches KeyboardInterrupt and SystemExit{cancelled}, so Ctrl-C and a shutdown"
            " signal are handled like an error and the process carries on; write `except Exception:` (or the"
            " exceptions you expect)",
        )
