"""GAP801 jwt-decoded-without-verification (a Semgrep rule: semgrep-rules/jwt-decoded-without-verification.yaml)."""
from __future__ import annotations

from ...analyzer.registry import Docs, Rule

RULE = Rule(
    id="GAP801",
    name="jwt-decoded-without-verification",
    category="security",
    severity="error",
    # Medium: after the review's fixes, 3 of 10 reports on real applications were tokens received from an OAuth
    # provider over a trusted channel (or already accepted by it), which the code alone cannot show.
    precision="medium",
    cwe="CWE-347",
    security_severity="8.1",
    semgrep=True,
    hints=("jwt",),
    summary="A JWT is decoded without verifying its signature or pinning the algorithms",
    docs=Docs(
        what=(
            "Flags `jwt.decode(...)` (PyJWT, and `jose.jwt` of python-jose) called with"
            " `options={\"verify_signature\": False}` (inline or through a dict variable), with the old"
            " `verify=False`, with `\"none\"` among the `algorithms`, or with a key but no `algorithms=[...]` at all."
        ),
        why=(
            "A token whose signature is not checked is just base64 the client wrote: anyone can set `sub` to another"
            " user or `role` to admin. Without a pinned algorithms list, older PyJWT and python-jose accept whatever"
            " the token's header asks for, including `none` and HS256 signed with the RSA public key (algorithm"
            " confusion). PyJWT 2 refuses a missing `algorithms` at run time, so the call fails on the first request."
        ),
        example="claims = jwt.decode(token, options={\"verify_signature\": False})\nuser_id = claims[\"sub\"]",
        instead="claims = jwt.decode(token, settings.JWT_SECRET, algorithms=[\"HS256\"])\nuser_id = claims[\"sub\"]",
        not_caught=(
            "`jwt.get_unverified_header()` / `get_unverified_claims()` (named for what they do, used to pick a key),"
            " calls that pass `**options` (the algorithms may be inside), `verify_exp: False` alone, authlib and"
            " other JWT libraries, and options built up key by key before the call. Unverified reads stay silent"
            " when the token is named `id_token` (an OpenID Connect ID token from the token endpoint, where TLS"
            " stands in for the signature: OIDC Core 3.1.3.7), when the same function then verifies the same token"
            " with a key and `algorithms` (peek at `iss`/`kid`, then verify), and inside a function whose name says"
            " `unverified`; so an ID token the browser posts under that name is missed, and so is an unverified read"
            " of a provider's access token, which the rule cannot tell from a forged one. That last case is why"
            " the rule is medium precision: a token the server just received from its OAuth provider over TLS is"
            " reported like one a client sent."
        ),
        references=("https://pyjwt.readthedocs.io/en/stable/api.html#jwt.decode",
                    "https://cwe.mitre.org/data/definitions/347.html"),
    ),
)
