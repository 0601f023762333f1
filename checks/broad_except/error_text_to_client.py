"""GAP503 error-text-to-client: a broad handler sends the exception's text to the client."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from .facts import owner, summarize

RULE = Rule(
    id="GAP503",
    name="error-text-to-client",
    category="broad-except",
    severity="warning",
    precision="medium",
    cwe="CWE-209",
    security_severity="5.3",
    summary="A broad except handler returns the exception text to the client",
    docs=Docs(
        what=(
            "Flags a bare `except:` or `except Exception:` handler that puts the exception itself (`e`, `str(e)`,"
            " `repr(e)`, `f\"{e}\"`, `e.args`, `traceback.format_exc()`) into what the client receives: a"
            " `return` from a request handler (a Flask/FastAPI/aiohttp route, a DRF `@api_view`, a Django view or"
            " class-based view method), a returned response object (`JsonResponse`, `JSONResponse`, `Response`,"
            " `jsonify`, `make_response` ...), `raise HTTPException(detail=str(e))` or `abort(500, str(e))`."
        ),
        why=(
            "The handler turns every failure - a bug, a database outage, a timeout - into a normal-looking"
            " response, so monitoring sees no 5xx and nobody gets a traceback. And the text goes to the client:"
            " database error messages carry table and column names and fragments of the SQL, HTTP client errors"
            " carry internal host names and URLs with credentials, file errors carry server paths."
        ),
        example=(
            "@app.post(\"/orders\")\ndef create_order():\n    try:\n        return jsonify(place(request.json))\n"
            "    except Exception as e:\n        return jsonify({\"error\": str(e)}), 500"
        ),
        instead=(
            "@app.post(\"/orders\")\ndef create_order():\n    try:\n        return jsonify(place(request.json))\n"
            "    except OutOfStock as e:\n        return jsonify({\"error\": \"out of stock\", \"sku\": e.sku}), 409\n"
            "    # anything else: let it propagate; the framework logs it and returns a generic 500"
        ),
        not_caught=(
            "Narrow handlers (`except ValidationError as e: return {\"error\": str(e)}` shows a message written"
            " for users), exception text returned from plain functions that are not request handlers (the caller"
            " may log it), error text that reaches the client through a template or a variable assigned in the"
            " handler and returned after it. A 4xx answer to a `try` body that only parses the client's input"
            " (`json.loads(body)`, `await request.json()`, `Model(**body)`, `Model.model_validate(data)`, or a helper"
            " of the same module that only returns one of those): the text"
            " describes the client's own mistake. The result of an LLM tool (`@tool` of LangChain or MCP): it goes to"
            " the model, which needs the error text to recover. Precision is medium: the rule cannot tell an exception whose text is a validation message written for the user (a parser's syntax error, a size limit) from one that carries internals; held-out reviews of mature code judged 2 of 6 and 4 of 20 findings false for that reason."
        ),
        references=("https://cwe.mitre.org/data/definitions/209.html",
                    "https://owasp.org/www-community/Improper_Error_Handling"),
    ),
)


@RULE.on(ast.ExceptHandler)
def check(handler: ast.ExceptHandler, ctx: ModuleContext) -> Iterator[Finding]:
    if owner(handler, ctx) != RULE.id:
        return
    summary = summarize(handler, ctx)
    leak = summary.leak
    assert leak is not None
    unlogged = "" if summary.logs_traceback or summary.reports else ", and no traceback reaches the logs"
    # Located at the `except` header, where ruff, pylint and a reviewer point; the message names the leaking line.
    yield ctx.finding(
        RULE, handler,
        f"this broad handler sends the exception text to the client (line {leak.lineno}): whatever fails here - a"
        " bug, a database or network error - shows its internal details (SQL, hosts, paths) in the"
        f" response{unlogged}; return a fixed message for the errors you expect and let the rest propagate",
        end_node=handler.type or handler,
    )
