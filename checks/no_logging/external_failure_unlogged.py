"""GAP601 external-failure-unlogged: a network/database/API failure is caught and dropped without a log line."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..broad_except.facts import log_owner, summarize

RULE = Rule(
    id="GAP601",
    name="external-failure-unlogged",
    category="no-logging",
    severity="warning",
    precision="medium",
    cwe="CWE-778",
    summary="A failure of an external system is caught and dropped without a log line",
    docs=Docs(
        what=(
            "Flags a handler for the failure of an external system - requests/httpx/aiohttp/urllib3 errors,"
            " `ConnectionError`/`TimeoutError`/`socket` errors, DB-API and Django/SQLAlchemy database errors"
            " (`OperationalError`, `DatabaseError` ...), smtplib, botocore `ClientError`, redis, pymongo, stripe,"
            " openai, anthropic, grpc errors - whose body only produces a value in place of the answer: passes,"
            " continues, returns/assigns a constant (None, False, [], {}) or a fallback (the process-local dict:"
            " `_local[key] = value`, `return _local.get(key)`), with no log call, no re-raise and no error report"
            " (`sentry_sdk.capture_exception`, `warnings.warn`). Import aliases and `from x import Error as E` are"
            " resolved."
        ),
        why=(
            "The other system's outage becomes an ordinary value: `None` for the price, `[]` for the orders,"
            " `False` for the payment. Users see wrong data, the code path after it behaves as if the answer were"
            " real, and because nothing was logged the dashboards stay green while the upstream is down."
        ),
        example=(
            "import requests\n\ndef fetch_rate(currency):\n    try:\n"
            "        return requests.get(RATES_URL, params={\"c\": currency}, timeout=5).json()[\"rate\"]\n"
            "    except requests.RequestException:\n        return None"
        ),
        instead=(
            "def fetch_rate(currency):\n    try:\n"
            "        return requests.get(RATES_URL, params={\"c\": currency}, timeout=5).json()[\"rate\"]\n"
            "    except requests.RequestException:\n"
            "        logger.warning(\"rates service unavailable for %s\", currency, exc_info=True)\n        return None"
        ),
        not_caught=(
            "Expected outcomes, which are decisions rather than failures: `IntegrityError` (duplicate row),"
            " `DoesNotExist`, `NoResultFound`, HTTP 404-style `NotFound` errors. Filesystem errors (`OSError`,"
            " `FileNotFoundError`): ignoring a missing file is usually the point. Handlers that return a 4xx"
            " response (the client is told) or a 5xx one (GAP604 reports those), handlers that recover with another"
            " operation (`resp.raw.read()` to drain a socket), retry steps of a loop whose `try` body returns or"
            " breaks on success, health/readiness endpoints, yes/no probes and handlers with a comment that accepts"
            " the failure (inside, in the `try` body, or on its own line right above the `except`). Broad handlers: GAP501 and GAP604 report those. A client's malformed JSON (`json.JSONDecodeError` around `json.loads(request.body)`):"
            " the client's error, not a system that is down. A `TimeoutError` around a timed wait on local state"
            " (`asyncio.wait_for(queue.get(), 0.5)`, `event.wait()`, a chat bot's `bot.wait_for(...)`) or around a"
            " socket that only receives (`sock.recvfrom(1024)` until the replies stop, `accept()`): expiry is the"
            " expected outcome. A psycopg `ProgrammingError` around `fetch*()` only: the statement produced no rows. Database errors in migrations (a `migrations/` folder or an Alembic script):"
            " they report the schema's state (\"already exists\"), not an outage. Errors of a network library"
            " that describe local misuse or a malformed body (`httpx.DecodingError`, `InvalidURL`,"
            " `ResponseNotRead`, `requests.JSONDecodeError`). A handler whose value names the failure for its caller"
            " (`return Outcome.RETRY`, `{\"error\": \"cannot connect\"}`, `return None, \"timeout\"`, a message"
            " such as \"the scanner was unreachable\"), a reset or broken pipe while reading or writing a stream"
            " the code serves (the peer hung up), and status probes (`_db_health_readiness_check()`,"
            " `check_server_connection()`, `service_status()`). A helper whose every caller in the module tests the"
            " returned None and logs or raises: the failure is reported one frame up. Precision is medium: a caller in another module that logs the returned failure is not followed, so the handler is reported though the outage is logged one frame up."
        ),
        references=("https://docs.python.org/3/howto/logging.html#when-to-use-logging",
                    "https://requests.readthedocs.io/en/latest/user/quickstart/#errors-and-exceptions"),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if log_owner(handler, ctx) != RULE.id:
        return
    caught = summarize(handler, ctx).external
    yield ctx.finding(
        RULE, handler,
        f"{caught} is caught and dropped without a log line: when that system is down this code returns a"
        " normal-looking value and nobody is told; log it (logger.warning(..., exc_info=True)) or re-raise",
        end_node=handler.type or handler,
    )
