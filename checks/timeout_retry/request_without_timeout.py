"""GAP401 request-without-timeout (a Semgrep rule: semgrep-rules/request-without-timeout.yaml).

Semgrep earns this one: it resolves `import requests as rq` and `from requests import get` itself, and its
`pattern-inside` follows sessions bound to a local or to `self.<attr>` in a class.
"""
from __future__ import annotations

from ...analyzer.registry import SCRIPT_FACT, Docs, Rule
from ...analyzer.semgrep import module_used

RULE = Rule(
    id="GAP401",
    name="request-without-timeout",
    category="timeout-retry",
    severity="warning",
    precision="high",
    cwe="CWE-400",
    semgrep=True,
    skip_scripts=True,  # "holds a worker": a program run by hand holds none
    reads=(SCRIPT_FACT,),
    hints=("requests",),
    # every pattern calls through a name Semgrep resolves to `requests`: the module imported, or written out with
    # one of the methods of $METHOD or Session after it (not "... requests." ending a sentence in a docstring)
    prefilter=module_used("requests", ("get", "post", "put", "patch", "delete", "head", "options", "request",
                                       "Session")),
    summary="HTTP call through requests without a timeout",
    docs=Docs(
        what=(
            "Flags calls through `requests` - `requests.get/post/put/patch/delete/head/options/request` and the same"
            " methods on a `requests.Session()` held in a local variable, a `with` block or a `self.<attr>` - that"
            " pass no `timeout=`. Import aliases and `from requests import get` are resolved."
        ),
        why=(
            "requests has no default timeout: if the server accepts the connection and never answers, the call"
            " waits forever. In a web worker that is one worker gone per hung request, until the pool is exhausted"
            " and the whole service stops answering."
        ),
        example='import requests\n\nresp = requests.get("https://api.example.com/orders")',
        instead=(
            'import requests\n\n# (connect, read) seconds\nresp = requests.get("https://api.example.com/orders",'
            " timeout=(3.05, 27))"
        ),
        not_caught=(
            "Timeouts set on a custom transport adapter or a Session subclass, calls that pass `**kwargs` (the"
            " timeout may be inside), sessions passed in as parameters, and other HTTP clients (httpx has a 5 s"
            " default; aiohttp and urllib are separate GAP4xx rules). Files under a `dev/` folder, a"
            " project's developer tooling (code generators, release helpers) that no worker runs, are left out, and"
            " so are `if __name__ == \"__main__\":` programs that start no server and define no handler (a"
            " dataset download, a debugging REPL)."
        ),
        references=("https://requests.readthedocs.io/en/latest/user/advanced/#timeouts",),
    ),
)
