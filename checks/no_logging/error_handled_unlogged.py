"""GAP604 error-handled-unlogged: a handler ends a failure - every error, or one answered with a 5xx - with no log."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..broad_except.facts import log_owner, summarize

RULE = Rule(
    id="GAP604",
    name="error-handled-unlogged",
    category="no-logging",
    # A note, medium precision: on fresh mature applications (mlflow, synapse, mayan-edms, lemur, privacyidea,
    # datasette, alerta, hyperkitty) the handlers that record the failure for their reader, probes with a
    # fallback, parse-or-default functions, schema probes, telemetry and unwinding code are left alone, which took
    # the findings there from 75 to 26; about half of what remains is still an expected failure (a user lookup
    # that means "not authenticated", an event logger, an app error answered with a 5xx and its message). On
    # generated apps it is mostly right, and most of its handlers also get a GAP501/GAP503 warning for their
    # breadth, so the note adds the logging advice without doubling the noise.
    severity="note",
    precision="medium",
    cwe="CWE-778",
    summary="An except handler ends a failure without any log line",
    docs=Docs(
        what=(
            "Flags an except handler that ends the failure - no re-raise, no new exception, no error report - and"
            " has no log call at all, when it catches everything (a bare `except:`, `except Exception:`) around"
            " code that can hit an outage - the `try` body awaits (`await`, `async with`, `async for`), makes a"
            " network call, or calls into an installed package or another module of the app (`make_thumbnail`"
            " from `.thumbnails`, a method of a client built by one) - or when it answers with a server error (`return jsonify(...), 500`, `JSONResponse(..., status_code=503)`,"
            " `raise HTTPException(502)` or `abort(500)` without `from`). The fallback can be anything: `pass`,"
            " `continue`, a default value, the process-local dict instead of Redis, `return await call_next(request)`"
            " when the rate limiter's store fails, `manager.disconnect(ws)` in a websocket loop, a canned reply."
            " A yes/no probe whose `try` makes a network call (`def is_spam(...)` posting to Akismet) is reported:"
            " the remote service's outage becomes an answer."
        ),
        why=(
            "The code keeps running on the fallback and nothing records that it had to: a Redis outage turns into"
            " per-process counters, a failed spam check approves every comment, a crashing websocket handler drops"
            " users, a failed thumbnail leaves the file without one. A 5xx sent from a handler is not logged by the"
            " framework either, because no exception reached it. Dashboards stay green, and the first report comes"
            " from a user."
        ),
        example=(
            "try:\n    allowed = await self.buckets.hit(key)\nexcept Exception:\n"
            "    return await call_next(request)  # fail open, silently"
        ),
        instead=(
            "try:\n    allowed = await self.buckets.hit(key)\nexcept RedisError:\n"
            "    logger.warning(\"rate limiter store unavailable, failing open\", exc_info=True)\n"
            "    return await call_next(request)"
        ),
        not_caught=(
            "Handlers, narrow or broad, that answer with a 4xx (the client's mistake, told to the client) or whose"
            " `try` only parses the client's input (`request.get_json()`, `json.loads(body)`), narrow handlers for"
            " non-external errors that fall back quietly (`except KeyError: return default`), and narrow external"
            " failures (GAP601 reports those). Catch-alls around local computation only (`int(value)`, the"
            " standard library, helpers of the same module, building an object) or around a parse whose calls all"
            " read a value (`await response.json()`, `await request.form()`, `safe_dumps(obj)`,"
            " `Model.model_validate(data)`, with lookups on the result) or around installed packages that compute"
            " locally (`pycountry`, `phonenumbers`, `dateutil`, `babel`, `markupsafe`, `cryptography`, Django's `django.utils`"
            " and `django.urls` helpers): GAP501 still reports the breadth. Health checks (a function named for"
            " `health`, `readiness`, `liveness`, `heartbeat`), which report the outage as their answer."
            " A catch-all the user already suppressed for GAP5xx (`# gapcheck: ignore[GAP501]`). Silence that is the handler's job, as for GAP501: local yes/no"
            " probes, optional imports, one-call cleanups, test modules, handlers waived for a peer linter"
            " (`# noqa: BLE001`, `S110`), `while True:` retry steps, migrations, and handlers with a comment"
            " that accepts the failure (it is expected, optional, best effort, names the exception it expects or a"
            " ticket; a comment that only narrates the fallback, `# Fallback to rule-based`, does not count). A"
            " handler that hands the error on (returns or stores `e` itself - its text alone, `str(e)`, keeps no"
            " traceback and does not count - or calls `self.handle_error()`) or prints it (GAP603). A handler"
            " that records the failure where its reader looks: in a collection or field named for it"
            " (`errors.append(str(e))`, `failed_uploads[path] = repr(e)`, `item.error_message = ...`), in a value"
            " that says it failed (`return None, f\"Failed to score: {e}\"`, `return Result(success=False, ...)`,"
            " `{\"error\": str(e)}`, `render_template(..., error=str(e))`), or in the future that waits on it"
            " (`deferred.errback()`, `future.set_exception(e)`); and a fallback inside an enclosing handler that"
            " raises or logs. Whether that reader then reports it is not followed (a 5xx answer is still reported)."
            " In a route the reader is the client, never the operator: an error entry in the response"
            " (`make_json_response(success=0, errormsg=str(e))`, `render_template(..., error=str(e))`) is still"
            " reported."
            " Silence the code's shape asks for: telemetry and instrumentation modules and functions"
            " (`telemetry/`, `observability/`, `def send_telemetry()`), methods of a `logging` filter or"
            " formatter, a `try` whose comment block right above accepts the failure, and parse-or-default"
            " functions named for what they parse (`db_to_json`, `yaml_load`, `decrypt_token`). A probe with a"
            " fallback outside a request handler: the `try` only works out values, by functions named for a"
            " look-up (`region = get_default_region()`, `tmp = get_local_temp_dir()`), builtins, the standard"
            " library or a value's own methods, and the handler leaves the default (`pass`, `return None`) or"
            " puts another value in the same place; a method of a client or other object (`cache.get(key)`,"
            " `conn.execute(sql)`) or an action (`prune_old_scans()`) keeps it reported - except a read-only"
            " query built from a loop's item (`for table in TABLES: conn.execute(text(f\"SELECT COUNT(*) FROM"
            " {table}\"))`), which asks whether that table or extension exists. A handler that writes"
            " to `sys.stderr`, or makes the same call again another way outside a `try` of its own (its failure"
            " propagates); `return None` in a function whose docstring says it returns None when it cannot"
            " answer; unwinding functions (`_exit_impl`, `teardown_*`, `shutdown`); and a feature the backend"
            " lacks (`except NotImplementedError`, a 501 answer)."
            " Precision is medium: a catch-all around a call into"
            " another module of the app is reported even when that call only looks something up in memory"
            " (`get_model_info(model)`), because nothing in the call says whether it reaches a database."
        ),
        references=("https://docs.python.org/3/howto/logging.html#when-to-use-logging",
                    "https://cwe.mitre.org/data/definitions/778.html"),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if log_owner(handler, ctx) != RULE.id:
        return
    summary = summarize(handler, ctx)
    if summary.server_error and not summary.broad:
        what = "answers with a server error"
    elif summary.deliberate is not None and summary.remote is not None:
        what = f"turns a failure of {summary.remote} into an ordinary answer"
    else:
        what = "ends every error here, bugs included,"
    yield ctx.finding(
        RULE, handler,
        f"this handler {what} without a log line: when it happens in production nobody is told, and there is no"
        " traceback to start from; log it (logger.exception(...), or logger.warning(..., exc_info=True) for an"
        " expected outage)",
        end_node=handler.type or handler,
    )
