"""GAP806 debug-mode-enabled (a Semgrep rule: semgrep-rules/debug-mode-enabled.yaml)."""
from __future__ import annotations

import re

from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import BETWEEN

RULE = Rule(
    id="GAP806",
    name="debug-mode-enabled",
    category="security",
    severity="warning",
    precision="high",
    cwe="CWE-489",
    security_severity="7.5",
    semgrep=True,
    hints=("debug", "DEBUG"),
    requires=(("True",),),  # every pattern sets debug to True
    # Every pattern names debug itself and gives it a value: the keyword `debug=` / `DEBUG=`, the attribute or
    # module name before `=` (or `:` when annotated, or `,` / `)` when unpacked: Semgrep matches
    # `DEBUG, X = True, 1` and `(DEBUG) = True`), or the key `"DEBUG"]` before `=`. The key can also be a constant
    # Semgrep propagates (`app.config[KEY] = True`), so any `config[` passes. The value may be a propagated constant
    # too, so nothing ties `True` to the name.
    prefilter=re.compile(rb"(?:debug|DEBUG)(?:[\s\"')\]\\]++|#[^\n]*+)*+[=:,]|config(?:[\s)\\]++|#[^\n]*+)*+\["),
    summary="Debug mode is switched on in application code",
    docs=Docs(
        what=(
            "Flags `app.run(..., debug=True)` (Flask, Flask-SocketIO; not `asyncio.run`), `FastAPI(debug=True)`,"
            " `Starlette(debug=True)`, `app.config[\"DEBUG\"] = True`, `app.config.update(DEBUG=True)`,"
            " `app.debug = True` on a Flask app, and a module-level `DEBUG = True` in a Django settings module (one"
            " that also sets ALLOWED_HOSTS, INSTALLED_APPS, MIDDLEWARE or ROOT_URLCONF). Test files are skipped."
        ),
        why=(
            "Debug mode turns every error page into a report for the visitor: tracebacks with source lines,"
            " settings, SQL and environment. Flask's Werkzeug debugger goes further and runs Python typed into the"
            " error page; with `host=\"0.0.0.0\"` that console is reachable from the network. The `__main__` block"
            " is how these apps are started on the server, so it is production code."
        ),
        example="if __name__ == \"__main__\":\n    app.run(host=\"0.0.0.0\", port=8000, debug=True)",
        instead=(
            "if __name__ == \"__main__\":\n    app.run(host=\"127.0.0.1\", port=8000,"
            " debug=os.environ.get(\"FLASK_DEBUG\") == \"1\")\n# production: gunicorn \"app:create_app()\""
        ),
        not_caught=(
            "`DEBUG = True` in a config class (`class DevelopmentConfig`: choosing it is a deployment decision),"
            " debug read from the environment or a settings object, `uvicorn.run(reload=True)`, and Django settings"
            " split so that DEBUG sits alone in a module."
        ),
        references=("https://flask.palletsprojects.com/en/stable/debugging/",
                    "https://docs.djangoproject.com/en/stable/ref/settings/#debug",
                    "https://cwe.mitre.org/data/definitions/489.html"),
    ),
)
