"""GAP803 password-hashed-with-fast-digest (a Semgrep rule: semgrep-rules/password-hashed-with-fast-digest.yaml)."""
from __future__ import annotations

import re

from ...analyzer.registry import Docs, Rule

RULE = Rule(
    id="GAP803",
    name="password-hashed-with-fast-digest",
    category="security",
    severity="error",
    # Medium: of the few reports on real applications, one in two after the review was a password digest used
    # only as a cache key (a fingerprint, never stored or compared), which the pattern cannot tell apart.
    precision="medium",
    cwe="CWE-916",
    security_severity="7.5",
    semgrep=True,
    hints=("hashlib",),
    # Both branches name a password in a regex on the code's own text (not a propagated value): $DATA holds passw,
    # pwd, pw or passphrase, or $FN ends in password / pw / pwd. Case-insensitive; any LONG S passes (an `s` to a
    # Unicode regex).
    prefilter=re.compile(rb"(?i)passw|pw|passphrase|\xc5\xbf"),
    summary="A password is hashed with a fast digest (md5, sha1, sha256 ...) instead of a password hash",
    docs=Docs(
        what=(
            "Flags `hashlib.md5/sha1/sha224/sha256/sha384/sha512/sha3_*/blake2*` (direct, through `hashlib.new(\"...\")`"
            " or `h.update(...)`) applied to a value whose expression names a password (`password`, `passwd`, `pwd`,"
            " `pw`, `passphrase`), or to anything inside a function named like `hash_password` / `check_password`."
        ),
        why=(
            "General-purpose digests are built to be fast: one GPU tries billions of sha256 guesses per second, so"
            " a leaked user table is cracked within hours, salt or no salt. Password hashes (bcrypt, argon2, scrypt,"
            " PBKDF2 with hundreds of thousands of iterations) are slow on purpose and make each guess expensive."
        ),
        example="user.password_hash = hashlib.sha256((salt + password).encode()).hexdigest()",
        instead=(
            "from argon2 import PasswordHasher\n\nuser.password_hash = PasswordHasher().hash(password)\n"
            "# or: hashlib.pbkdf2_hmac(\"sha256\", password.encode(), salt, 600_000)"
        ),
        not_caught=(
            "Digests of reset tokens, API keys and other high-entropy values (a fast hash is right for those:"
            " names with `token`, `reset`, `hash` or `digest` stay silent), passwords under other names (`secret`,"
            " `data`), fast digests reached through a helper in another function, digests marked"
            " `usedforsecurity=False`, and the upper-case SHA-1 hex of a Have I Been Pwned range lookup"
            " (`sha1(password).hexdigest().upper()`: only a lookup key, nothing is stored). A password's digest"
            " used only as a cache key is still reported, which is why the rule is medium precision."
        ),
        references=("https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html",
                    "https://cwe.mitre.org/data/definitions/916.html"),
    ),
)
