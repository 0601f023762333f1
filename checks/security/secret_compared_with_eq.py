"""GAP811 secret-compared-with-eq (a Semgrep rule: semgrep-rules/secret-compared-with-eq.yaml)."""
from __future__ import annotations

import re

from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import BETWEEN

# The YAML's $SIDE regex: an operand of `==` / `!=` whose text is one run of `[\w.[]'"()-]` (no blank) that ends
# in a secret word, perhaps then `")` / `"]`. So a secret word (compared in any case, as the regex is) sits right
# before the operator, with only closing brackets, quotes, blanks, line breaks and comments between (a comparison
# split over lines inside brackets), or right after it, past blanks, comments and opening brackets, at the end of
# one such run. `\x80-\xff`: the regex's `\w` may take a letter beyond ASCII.
_WORD = rb"(?:signature|sig|hmac|mac|digest|secret|api_?key|token|passcode)"
# Matched against the lower-cased file, as the regex compares case-insensitively (and so twice as fast as re.I).
_WORD_THEN_OP = re.compile(_WORD + rb"""(?:[\s"'()\[\]\\]++|#[^\n]*+)*+[=!]=""")
_OP_THEN_WORD = re.compile(rb"""[=!]=(?:[\s(\\]++|#[^\n]*+)*+[\w.\[\]'"()\-\x80-\xff]*?""" + _WORD)
# The other branch: `$H.hexdigest()` or `$H.digest()` on one side, whatever the other side is.
_DIGEST_CALL = re.compile(rb"digest" + BETWEEN + rb"\(")
_EQ = re.compile(rb"[=!]=")
# Letters that match a secret word's letter under a case-insensitive Unicode regex: KELVIN SIGN (k), LONG S (s).
_FOLDS = (b"\xe2\x84\xaa", b"\xc5\xbf")


def _may_match(data: bytes) -> bool:
    lower = data.lower()
    return bool(_OP_THEN_WORD.search(lower) or _WORD_THEN_OP.search(lower)
                or (_DIGEST_CALL.search(lower) and _EQ.search(lower)) or any(fold in data for fold in _FOLDS))


RULE = Rule(
    id="GAP811",
    name="secret-compared-with-eq",
    category="security",
    severity="warning",
    precision="medium",
    cwe="CWE-208",
    security_severity="5.9",
    semgrep=True,
    hints=("signature", "Signature", "SIGNATURE", "_sig", "digest", "hmac", "_mac", "secret", "Secret", "SECRET",
           "token", "Token", "TOKEN", "api_key", "apikey", "API_KEY", "ApiKey", "passcode"),
    prefilter=_may_match,  # a secret word next to the comparison, or a digest call: see above
    summary="A signature, token or secret is compared with == instead of hmac.compare_digest",
    docs=Docs(
        what=(
            "Flags `a == b` and `a != b` where one side is a signature, digest, HMAC, token, secret or API key - a"
            " name ending in one of those words, a `.get(\"X-Admin-Token\")` / `os.environ.get(\"ADMIN_TOKEN\")`"
            " lookup, or a `.hexdigest()` / `.digest()` - and the other side is not a literal, `None` or a length."
            " `__eq__` methods and test files are skipped."
        ),
        why=(
            "`==` on strings returns at the first byte that differs, so the time it takes tells an attacker how many"
            " leading characters of a guessed signature are right, and the guess can be built byte by byte. It also"
            " lets `None == None` through: a header that is absent matches a secret that is unset."
        ),
        example="expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()\nif expected == signature:\n    accept()",
        instead=(
            "expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()\nif signature and hmac.compare_digest(expected,"
            " signature):\n    accept()"
        ),
        not_caught=(
            "Secrets under names that do not say so (`expected == given` with neither side named), comparisons"
            " done by `in` or by a database lookup, and plaintext password comparisons (a different gap: the"
            " password should not be stored). Left alone: an enum member (`auth_type == AuthType.api_key`), a"
            " placeholder, sentinel, pending or alias constant (`PENDING_SLACK_BOT_TOKEN`), an empty `{}` or `[]`, and"
            " `!=` in a comprehension's filter (leaving the current"
            " key out of a list, also as `filter(lambda k: k.token != current, ...)`). Also left alone, because they check no guess: a constant of a class that does not hold"
            " configuration (`errcode == Codes.UNKNOWN_TOKEN`; `Config.API_TOKEN` and `settings.ADMIN_TOKEN` are still"
            " reported), an upper-case sentinel without a secret word (`secret == CENSORED`), stream and page"
            " positions (`from_token == upto_token`, `next_page_token == page_token`, `n - 1`), flags and booleans,"
            " `assert`, a DNS TXT record checked for an ACME challenge, type signatures (`inferred_signature`), and"
            " a computed hash checked against a stored content hash (`sha256(blob).hexdigest() == blob_hash`,"
            " `expected_digest != actual_digest`, two `hashlib` digests of data: an integrity check), an ORM filter"
            " expression (`cls.api_key == api_key` inside `query.filter(...)`, `.where(...)`, `and_(...)`: SQL, a"
            " database lookup), and a claim of a decoded token (`user.jwt_token_key != payload[\"token\"]`: the"
            " token's signature fixes it, so there is no guess to time; a `request_payload` is still reported)."
            " Precision is medium: names are the only signal, so a token compared with a"
            " constant held in an attribute (`token == self.reset_url_token`, a URL marker), a stream position"
            " named `current_token`, or a public verification code looks the same."
        ),
        references=("https://docs.python.org/3/library/hmac.html#hmac.compare_digest",
                    "https://cwe.mitre.org/data/definitions/208.html"),
    ),
)
