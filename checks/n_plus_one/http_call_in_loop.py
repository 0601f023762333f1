"""GAP303 http-call-in-loop: one HTTP request or LLM call per item of a loop, one after the other."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.facts import http_effect, outside_request_paths, per_item_loop
from ..orm.index import FUNCTIONS, LOOP_CALLS, loop_calls_reaching

RULE = Rule(
    id="GAP303",
    skip_tests=True,  # every handler exits first on a test module or script
    name="http-call-in-loop",
    category="n-plus-one",
    severity="warning",
    precision="medium",
    cwe="CWE-1073",
    reads=(FUNCTIONS, LOOP_CALLS),
    summary="HTTP request or LLM call made once per item of a loop, sequentially",
    docs=Docs(
        what=(
            "Flags an HTTP request (`requests`, `httpx`, `urllib.request.urlopen`, a `requests.Session`,"
            " `httpx.Client/AsyncClient` or `aiohttp.ClientSession` followed through locals, `with` and"
            " `self.<attr>`) or an LLM SDK call (OpenAI `client.chat.completions.create`, embeddings, responses;"
            " Anthropic `client.messages.create`; litellm) or a cloud SDK call (any method of a Slack"
            " `WebClient`/`AsyncWebClient` or a boto3 client, `stripe.<Resource>.create/retrieve/...`) made once"
            " per item of a loop and depending on the item, including `await` of one call at a time in an async"
            " loop. A client is known by its constructor (followed through locals, `with`, `self.<attr>` and"
            " module globals) or by the annotation of the parameter it arrives in"
            " (`session: aiohttp.ClientSession`). A project function that makes such a call (in any file, through"
            " up to three calls, also when memoised with `@lru_cache`: each distinct argument is still one"
            " request, and the message says per distinct argument; not when the call only fills a process-wide value the first time, `global _FLAGS` after"
            " `if _FLAGS is not None: return _FLAGS`) is reported at the call site with the chain. The app's own jobs and CLIs (a module with"
            " an `if __name__ == \"__main__\":` block) are checked."
        ),
        why=(
            "A remote call costs 50 ms to several seconds (an LLM completion often 2-20 s). One per item, in"
            " sequence, turns 200 items into minutes: the request times out, the job overruns its schedule,"
            " and rate limits are hit in bursts. Providers offer batch endpoints (embeddings take a list of"
            " inputs; the OpenAI and Anthropic batch APIs) and independent calls can run concurrently."
        ),
        example=(
            "for doc in documents:\n"
            "    vec = client.embeddings.create(model=\"text-embedding-3-small\", input=doc.text)\n"
            "    doc.vector = vec.data[0].embedding"
        ),
        instead=(
            "resp = client.embeddings.create(model=\"text-embedding-3-small\",\n"
            "                                input=[d.text for d in documents])\n"
            "# or, for independent calls: bounded concurrency\n"
            "sem = asyncio.Semaphore(8)\n"
            "async def one(u):\n    async with sem:\n        return await http.get(u)\n"
            "pages = await asyncio.gather(*(one(u) for u in urls))"
        ),
        not_caught=(
            "`while` loops (polling, pagination), loops over literals, constants, constant `range()`s and"
            " page/chunk/retry loops, loops that stop at the first success (mirror fallbacks, also"
            " `async with session.get(url) as resp: if resp.status == 200: return ...`), calls that do"
            " not depend on the item, calls collected into `asyncio.gather`/`create_task`/`executor.submit`"
            " (already concurrent; also coroutines a loop appends to, or a comprehension builds in, a list that is"
            " gathered afterwards), loops over a stream's events (`async for line in resp.aiter_lines()`), clients passed in as unannotated parameters, SDK methods that work locally"
            " (`get_paginator`, `generate_presigned_url`), loops over command-line arguments or the app's"
            " settings (also an imported `config` module and Flask's `current_app.config`), over a slice with a"
            " constant bound or a filtered literal (`books = sorted(...)[:4]`, `[s for s in SIZES if ...]`), and HTTP"
            " libraries and SDKs not listed above. Tests (also `tests.py`), migrations, management commands and"
            " files under"
            " `scripts/` or `bin/` and seeding modules (`seed.py`, `populate.py`, `sample_data.py`) are not checked. Precision is medium: four held-out reviews of mature code judged 3 of 14, 6 of 16, 9 of 20 and 6 of 8 findings false before the fixes they led to, most of them loops whose size the deployment fixes without the code saying so (a customer's one or two subscriptions, the configured listeners, a form's authors)."
        ),
        references=(
            "https://platform.openai.com/docs/guides/batch",
            "https://docs.python.org/3/library/asyncio-task.html#asyncio.gather",
        ),
    ),
)


def _message(what: str, loop_line: int, awaited: bool, memoised: bool = False) -> str:
    how = "awaited one at a time" if awaited else "one after the other"
    per = "per distinct argument (memoised: a repeated item is free)" if memoised else "per item"
    return (f"{what} makes one remote call {per} of the loop on line {loop_line}, {how}: 500 items at"
            " 300 ms each is 2.5 minutes; use the API's batch form, or run the calls concurrently with a bound"
            " (asyncio.gather with a Semaphore, a thread pool)")


@RULE.on(ast.Call)
def check_call(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if outside_request_paths(ctx):
        return
    if ctx.enclosing_loop(call) is None and not isinstance(ctx.enclosing_function(call), ast.Lambda):
        return
    what = http_effect(call, ctx)
    if what is None:
        return
    loop = per_item_loop(call, ctx)
    if loop is not None:
        yield ctx.finding(RULE, call, _message(what, loop.line, isinstance(ctx.parent(call), ast.Await)))


@RULE.on_project
def helpers_in_loops(index: ProjectIndex) -> Iterator[Finding]:
    """A project function that (through up to three calls) makes an HTTP/LLM call, called once per item."""
    for path, data, via in loop_calls_reaching(index, "http"):
        yield index.finding(
            RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],
            _message(f"{data['name']}() ({via})", data["loop_line"], data["awaited"], bool(data.get("memoised"))),
        )
