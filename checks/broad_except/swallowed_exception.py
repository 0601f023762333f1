"""GAP501 broad-except-swallowed: `except:` / `except Exception:` whose handler drops the error."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..common import BROAD_EXCEPTIONS, handler_types
from .facts import HandlerSummary, is_migration_module, keeps_only_text, owner, summarize

RULE = Rule(
    id="GAP501",
    name="broad-except-swallowed",
    category="broad-except",
    severity="warning",
    # Medium: on 21 real applications ~45% of a fresh 20-finding sample was deliberate best-effort code
    # (telemetry, optional metadata) that no static rule can tell from a lost failure.
    precision="medium",
    cwe="CWE-390",
    summary="A broad except handler swallows the error",
    docs=Docs(
        what=(
            "Flags a bare `except:` or an `except Exception:` / `except BaseException:` handler (also inside a tuple,"
            " through an alias, or through a module-level tuple of exception types) that ends the failure: it"
            " neither re-raises (bare `raise`, `raise e`, `raise X from e`) nor keeps the traceback"
            " (`logger.exception`, `exc_info=`, an error tracker, Twisted's `log.err` / `Failure()`) nor hands the error on, and instead passes,"
            " continues, returns a default, takes a fallback (the process-local dict, `return await"
            " call_next(request)`), answers with a canned or 5xx reply (`return jsonify(...), 500`,"
            " `raise HTTPException(502, ...)` without `from`), or logs one line without the traceback. Bare handlers"
            " that do something other than pass/constant are GAP502's (its message names Ctrl-C)."
        ),
        why=(
            "Every failure in the `try` block - a bug, a timeout, a lost database connection, and for a bare"
            " `except:` even Ctrl-C and `sys.exit()` - turns into silence or a default value. In production the"
            " request succeeds with wrong data, the job reports success, and nobody has a traceback to start from."
        ),
        example=(
            "try:\n    charge(order)\nexcept Exception:\n    pass"
        ),
        instead=(
            "try:\n    charge(order)\nexcept PaymentDeclined:\n    mark_declined(order)\n"
            "except Exception:\n    logger.exception(\"charging order %s failed\", order.id)\n    raise"
        ),
        not_caught=(
            "Handlers for narrow exception types, `contextlib.suppress(Exception)` blocks, and exception aliases"
            " that only a running program could resolve. Handlers that hand the error on (return, store or inspect"
            " `e` itself, call something named for errors such as `self.handle_error()`), collect the item for one"
            " error raised later (`invalid.append(raw)`, then `if invalid: raise ...`), raise another exception"
            " (it carries the original as its context), stop the process with a failure status (`sys.exit(1)`) or"
            " log with the traceback. Storing or returning only the error's text (`errors.append(str(e))`,"
            " `job.error = f\"failed: {e}\"`) is reported: the traceback is gone; testing the text"
            " (`if \"duplicate\" in str(e):`) is a decision and is not. A handler that is the retry step of"
            " a `while True:` loop (the `try` body breaks or returns on success) is left to the timeout-retry family"
            " (GAP4xx). Silence that is the handler's job: a yes/no probe that neither logs nor prints the error (`return False` in a"
            " predicate - named `is_...`/`has_...`, annotated `-> bool`, or returning `True` on success - or a flag"
            " the `try` body sets, also when the handler only says the capability is missing), a `try` that only"
            " parses the client's input and answers with a 4xx (`raise HTTPException(400, \"Invalid cursor\")`"
            " around `msgpack.decode(token)`), an optional import (a `try` that only imports, `import x` / `import_module(name)`, or any `try` under `except ImportError:`), a one-call best-effort"
            " cleanup (`os.remove`, `.close()`), a handler in a Django or Alembic migration that prints or logs what"
            " failed (a step that tolerates the schema's state, run by an operator who reads its output; a silent"
            " one is still reported), a `try` inside a `finally:` block or a `close()`/`__exit__`/"
            "`shutdown()` method, a `__repr__`/`__str__`, a function named `safe_...`/`try_...`/`..._safe`, a"
            " template filter or tag (`@register.filter`), a Django system check (`@checks.register`: it reports"
            " through the messages it returns), an `AppConfig.ready()` hook, a helper returning None/[]/a constant whose"
            " every caller in the module tests that result and logs or raises (`if hashes is None:"
            " logger.warning(...)`), and test modules. A handler that does more than pass or"
            " return a constant and carries a comment that accepts the failure (inside it, in the `try` body, or"
            " on its own line right above the `except`: the failure is expected, optional, best effort, may"
            " happen, is handled elsewhere; it names the exception it expects or a ticket), or whose only log"
            " lines are `debug`: the author decided. A comment that only narrates the fallback (`# Fallback to"
            " rule-based`, `# If corrupt, reset to default`), as generated code puts on nearly every handler,"
            " is no such decision. A handler the author already waived for a"
            " peer linter (`# noqa: BLE001`, `S110`, `E722`, `# pylint: disable=broad-except`, `# noinspection"
            " PyBroadException`) is not reported again. Deliberate best-effort code without such a marker"
            " (telemetry, optional metadata, tweaks of a third-party object) is still reported: only a reader can"
            " tell it from a real loss, which is why the rule is medium precision. Precedence between the GAP5xx rules on one handler (and between the GAP6xx"
            " rules) is documented in `checks/broad_except/facts.py`: one finding per family per handler."
        ),
        references=("https://docs.python.org/3/tutorial/errors.html#handling-exceptions",),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    summary = summarize(handler, ctx)
    if owner(handler, ctx) != RULE.id and not _inferred_swallow(handler, summary, ctx):
        return  # narrow, re-raised, logged with the traceback, a probe/optional import/cleanup/test, or waived
    if (summary.print_calls or summary.log_calls) and not summary.swallows and is_migration_module(ctx):
        return  # a migration step that tolerates the schema's state and says so on the operator's console
    if handler.type is None:
        caught = "everything (even KeyboardInterrupt and SystemExit" + (
            ", and asyncio.CancelledError, so this task cannot be cancelled)" if _in_async(handler, ctx) else ")")
    else:
        caught = "every error"
    yield ctx.finding(RULE, handler, _message(caught, summary, keeps_only_text(handler, ctx)),
                      end_node=handler.type or handler)


def _message(caught: str, summary: HandlerSummary, text_only: bool = False) -> str:
    rest = "catch the exceptions you expect, and log the rest with the traceback (logger.exception) or re-raise"
    if summary.swallows:
        return (f"this handler catches {caught} and drops it: failures vanish without a trace; catch the exceptions"
                " you expect, and log with the traceback or re-raise the rest")
    if summary.http_error is not None or summary.error_response is not None:
        return (f"this handler catches {caught} and answers with a canned error, keeping no traceback: a bug, an"
                f" outage and a bad input all look the same and nobody can find where it broke; {rest}")
    if summary.log_calls or summary.print_calls:
        verb = "logs" if summary.log_calls else "prints"
        return (f"this handler catches {caught}, {verb} it without the traceback and carries on: a bug reads like"
                f" an expected failure and the log does not say where it happened; {rest}")
    if text_only:
        return (f"this handler catches {caught} and keeps only its text (str(e)), not the traceback: a bug is"
                f" recorded like an expected failure and nobody can find where it broke; {rest}")
    return (f"this handler catches {caught} and carries on with a fallback, keeping no traceback: bugs are"
            f" handled like expected failures and nobody learns they happened; {rest}")


def _inferred_swallow(handler: ast.ExceptHandler, summary: HandlerSummary, ctx: ModuleContext) -> bool:
    """A swallowing handler whose imported exception name astroid resolves to Exception/BaseException."""
    if summary.broad or not summary.swallows or summary.retry_step or summary.deliberate is not None \
            or summary.waived:
        return False
    return _infers_broad(handler, ctx)


def _in_async(node: ast.AST, ctx: ModuleContext) -> bool:
    return isinstance(ctx.enclosing_function(node), ast.AsyncFunctionDef)


def _infers_broad(handler: ast.ExceptHandler, ctx: ModuleContext) -> bool:
    """An imported name (`from .errors import ANY_ERROR`) that ast cannot see into: ask astroid, which reads the
    other module's source (never imports it) and infers what the name is bound to."""
    elements = handler_types(handler, ctx)
    imported = [e for e in elements if isinstance(e, (ast.Name, ast.Attribute))
                and (ctx.qualified_name(e) or "").split(".")[0] not in ("builtins", "")
                and not _is_known_narrow(ctx.qualified_name(e))]
    if not imported or len(imported) != len(elements):
        return False
    module = ctx.astroid_module()
    if module is None:
        return False
    try:
        from astroid import nodes

        for node in module.nodes_of_class(nodes.ExceptHandler):  # type: ignore[attr-defined]
            if node.lineno != handler.lineno or node.type is None:
                continue
            for inferred in node.type.infer():
                values = inferred.elts if isinstance(inferred, nodes.Tuple) else [inferred]
                for value in values:
                    for target in (value.infer() if not isinstance(value, nodes.ClassDef) else [value]):
                        if isinstance(target, nodes.ClassDef) and f"builtins.{target.name}" in BROAD_EXCEPTIONS \
                                and target.root().name == "builtins":
                            return True
    except Exception:  # inference failures mean "don't know": stay silent
        return False
    return False


# Exception classes of common libraries: known not to be broad, so astroid is never asked about them.
_NARROW_PREFIXES = (
    "requests.", "httpx.", "aiohttp.", "urllib3.", "json.", "django.", "sqlalchemy.", "psycopg2.", "psycopg.",
    "pymongo.", "redis.", "boto3.", "botocore.", "openai.", "anthropic.", "pydantic.", "asyncio.", "socket.",
    "ssl.", "subprocess.", "concurrent.", "sqlite3.", "smtplib.", "yaml.", "jwt.", "stripe.", "celery.",
)


def _is_known_narrow(name: str | None) -> bool:
    return bool(name) and name.startswith(_NARROW_PREFIXES)  # type: ignore[union-attr]
