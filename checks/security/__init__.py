"""security (GAP8xx): the security gaps assistants leave in app code, written as Semgrep rules.

Each module holds one rule's registry entry (`semgrep=True`); its pattern is `semgrep-rules/<name>.yaml` beside the
annotated Semgrep test file `semgrep-rules/<name>.py`. The request-data rules (GAP807, GAP809, GAP810) are taint
rules: a value from `flask.request`, a Django/Starlette `request` or a route's own parameters that reaches the sink
in the same function, through assignments and string building.
"""

# What a file must hold for a request-data taint rule to match: the sources' own attribute reads
# (`request.args`, `self.request.GET`, `await request.json()`) or a `req.` object. A file that only names a
# `request` parameter (most Django views) holds none of them.
REQUEST_DATA_WORDS = tuple(f"request.{attr}" for attr in (
    "GET", "POST", "FILES", "COOKIES", "body", "data", "query_params", "path_params", "headers", "json", "form",
    "get_json", "args", "files", "values", "cookies", "view_args", "get_data", "stream")) + ("req.",)
# A route's own parameters are sources too in some rules: a route decorator names its path, `.get("/items")`.
ROUTE_WORDS = tuple(f'.{verb}({quote}/' for verb in ("get", "post", "put", "patch", "delete", "route", "api_route",
                                                        "websocket") for quote in ('"', "'"))
