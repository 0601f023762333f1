"""GAP804 random-for-secrets (a Semgrep rule: semgrep-rules/random-for-secrets.yaml)."""
from __future__ import annotations

from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import module_used

RULE = Rule(
    id="GAP804",
    name="random-for-secrets",
    category="security",
    severity="error",
    # Medium: the one report left on real applications after the review was a request-signing nonce, which
    # needs uniqueness, not secrecy; nonces stay reported because OIDC and CSRF nonces do need secrecy.
    precision="medium",
    cwe="CWE-338",
    security_severity="7.5",
    semgrep=True,
    hints=("random",),
    # the pattern is `random.$F(...)`: the module written out or imported (`get_random_string` is neither)
    prefilter=module_used("random", ("random", "randint", "randrange", "choice", "choices", "sample", "getrandbits",
                                     "randbytes")),  # the names of $F
    summary="The random module makes a token, reset code or session id",
    docs=Docs(
        what=(
            "Flags `random.random/randint/randrange/choice/choices/sample/getrandbits/randbytes` when the value goes"
            " to a name that says secret (`token`, `otp`, `nonce`, `reset_code`, `session_id`, `api_key`,"
            " `csrf`, `invite`, `verification`...) through an assignment, a keyword argument or a dict key, or when it"
            " is used inside a function named like that (`generate_token`, `make_reset_code`). Test files are skipped."
        ),
        why=(
            "`random` is a Mersenne Twister: fast, but 624 observed outputs give away its whole state, and every"
            " later value can be computed. Reset codes, session ids and API keys made with it can be predicted by"
            " anyone who can request a few of their own."
        ),
        example="reset_code = \"\".join(random.choice(string.digits) for _ in range(6))",
        instead="reset_code = \"\".join(secrets.choice(string.digits) for _ in range(6))\ntoken = secrets.token_urlsafe(32)",
        not_caught=(
            "`random` for shuffling, sampling, jitter and test data (names that do not say secret stay silent),"
            " `random.SystemRandom()` (it is the OS generator), tokens named `code` or `id` alone, and values made"
            " in one function and given a secret name in another. A `salt` is public by design, so `random` for"
            " one stays silent. A request-signing `nonce` (it needs to be unique, not secret) is still reported,"
            " because OIDC and CSRF nonces must be unguessable: the reason the rule is medium precision."
        ),
        references=("https://docs.python.org/3/library/secrets.html",
                    "https://cwe.mitre.org/data/definitions/338.html"),
    ),
)
