"""GAP809 request-url-fetched (a Semgrep taint rule: semgrep-rules/request-url-fetched.yaml)."""
from __future__ import annotations

import re

from . import REQUEST_DATA_WORDS
from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import BETWEEN, module_used

RULE = Rule(
    id="GAP809",
    name="request-url-fetched",
    category="security",
    severity="error",
    precision="high",
    cwe="CWE-918",
    security_severity="8.6",
    semgrep=True,
    hints=("requests", "httpx", "urlopen", "urllib", "aiohttp"),
    requires=(REQUEST_DATA_WORDS,),  # the taint sources read request data
    # every sink is a name Semgrep resolves to requests, httpx, aiohttp (a client factory) or urllib.request: the
    # module written out or imported; for urllib, `urllib.request` itself or `from urllib import ...` (request),
    # so a file that only uses urllib.parse is not handed over
    prefilter=re.compile(b"|".join([module_used("requests", ("get", "post", "put", "patch", "delete", "head",
                                                              "options", "request", "stream", "Session")).pattern,
                                    *(module_used(m).pattern for m in ("httpx", "aiohttp")),
                                    rb"\burllib" + BETWEEN + rb"\." + BETWEEN + rb"request\b",
                                    rb"\bfrom" + BETWEEN + rb"urllib" + BETWEEN + rb"import\b"])),
    summary="The server fetches a URL taken from the request (SSRF)",
    docs=Docs(
        what=(
            "A taint rule: flags request data (Flask's `request.*`, a Django/DRF/Starlette `request`) that reaches"
            " the URL of `requests.get/post/...`, `httpx`, a"
            " `requests.Session`/`httpx.Client`/`aiohttp.ClientSession` held in the same function, or"
            " `urllib.request.urlopen`/`Request`. A URL whose scheme and host are written in the code"
            " (`f\"https://api.example.com/{x}\"`), or whose base is a constant or a settings attribute"
            " (`f\"{API_BASE}/users/{x}\"`), is not reported: only its path comes from the caller; nor is an item"
            " the request only picks by index (`BASE_URLS[idx]`)."
        ),
        why=(
            "The request is sent from inside your network: a caller can make the server fetch"
            " `http://169.254.169.254/` (cloud credentials), admin ports on localhost and internal services that"
            " trust the server, and read the answer back. Checking the scheme is not enough; the host decides."
        ),
        example="url = request.json[\"url\"]\nresp = requests.get(url, timeout=5)",
        instead=(
            "url = request.json[\"url\"]\nhost = urlparse(url).hostname\nif host not in ALLOWED_HOSTS:\n"
            "    abort(400)\nresp = requests.get(url, timeout=5, allow_redirects=False)"
        ),
        not_caught=(
            "A route's own parameters as the source (FastAPI `def proxy(target: str)`, Flask `def page(page)`):"
            " on real projects nearly every route parameter in a URL was a path segment after a host the server"
            " holds in a local (`f\"{url}/{pipeline_id}/valves\"`), so only request objects"
            " (`request.args/form/json/...`, `request.GET/POST/...`) are sources for now. "
            "A URL passed from the route to a helper in another function before it is fetched (taint is followed"
            " within one function), allow-list checks (a checked URL is still reported: add a suppression comment"
            " naming the check), and clients created outside the function."
        ),
        references=("https://cheatsheetseries.owasp.org/cheatsheets/Server_Side_Request_Forgery_Prevention_Cheat_Sheet.html",
                    "https://cwe.mitre.org/data/definitions/918.html"),
    ),
)
