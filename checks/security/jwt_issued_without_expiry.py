"""GAP802 jwt-issued-without-expiry (a Semgrep rule: semgrep-rules/jwt-issued-without-expiry.yaml)."""
from __future__ import annotations

from ...analyzer.registry import Docs, Rule

RULE = Rule(
    id="GAP802",
    name="jwt-issued-without-expiry",
    category="security",
    severity="warning",
    precision="high",
    cwe="CWE-613",
    security_severity="5.4",
    semgrep=True,
    hints=("jwt",),
    summary="A JWT is issued without an exp claim",
    docs=Docs(
        what=(
            "Flags `jwt.encode(payload, ...)` (PyJWT, python-jose) whose payload is a dict literal, written inline or"
            " assigned in the same function, that has no `\"exp\"` key and gets none later (`payload[\"exp\"] = ...`,"
            " `payload.update(exp=...)`)."
        ),
        why=(
            "A JWT is valid for as long as its claims say. Without `exp`, a token copied from a log, a browser or a"
            " leaked database works forever: logging out, changing the password or disabling the user does not"
            " stop it, and the only way out is rotating the signing key, which logs everybody out."
        ),
        example="token = jwt.encode({\"sub\": str(user.id)}, SECRET, algorithm=\"HS256\")",
        instead=(
            "now = datetime.now(timezone.utc)\ntoken = jwt.encode({\"sub\": str(user.id), \"iat\": now,"
            " \"exp\": now + timedelta(minutes=15)}, SECRET, algorithm=\"HS256\")"
        ),
        not_caught=(
            "Payloads built elsewhere (a parameter, a helper's return value, `dict(...)`), tokens whose expiry is"
            " checked server-side through a session store, and `exp` values that are far in the future."
        ),
        references=("https://pyjwt.readthedocs.io/en/stable/usage.html#expiration-time-claim-exp",
                    "https://cwe.mitre.org/data/definitions/613.html"),
    ),
)
