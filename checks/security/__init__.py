"""security (GAP8xx): the security gaps assistants leave in app code, written as Semgrep rules.

Each module holds one rule's registry entry (`semgrep=True`); its pattern is `semgrep-rules/<name>.yaml` beside the
annotated Semgrep test file `semgrep-rules/<name>.py`. The request-data rules (GAP807, GAP809, GAP810) are taint
rules: a value from `flask.request`, a Django/Starlette `request` or a route's own parameters that reaches the sink
in the same function, through assignments and string building.
"""
