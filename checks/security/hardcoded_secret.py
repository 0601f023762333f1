"""GAP805 hardcoded-secret (a Semgrep rule: semgrep-rules/hardcoded-secret.yaml)."""
from __future__ import annotations

import re

from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import BETWEEN

# What the file must hold for $VALUE to match. Semgrep binds "$VALUE" to a string literal's text as written (escapes
# kept, a backslash line continuation dropped), or to a constant it folds: names assigned once, `+` (and `+=`),
# adjacent literals and f-strings are folded (`%`, `.format`, `*`, `join` and calls are not). Both value regexes
# take only `[A-Za-z0-9_\-.+/=]`, 16 or more (the key formats are longer), in branch one from a key prefix, in branch
# two with a digit and a letter. So either one literal is such a value, or the value is folded, and the file holds
# a `+` between two operands that can be strings, two adjacent literals of that alphabet, or an f-string.
# (`\xe2\x84\xaa` and `\xc5\xbf`, KELVIN SIGN and LONG S, match `k` and `s` in a case-insensitive Unicode class.)
_CHAR = rb"(?:[A-Za-z0-9_\-.+/=]|\\(?:\r\n|\r|\n)|\xe2\x84\xaa|\xc5\xbf)"
_KEY_PREFIX = rb"(?:sk-|sk_live_|rk_live_|SG\.|gh[pousr]_|github_pat_|xox[abposr]-|AKIA|AIza|glpat-|hf_)"
_MAY_MATCH = re.compile(
    rb"[\"'](?:" + _KEY_PREFIX + _CHAR + rb"{13,}|(?=" + _CHAR + rb"*[0-9])(?=" + _CHAR + rb"*[A-Za-z\x80-\xff])"
    + _CHAR + rb"{16,})[\"']"  # one literal
    rb"|[\w\"')\]\x80-\xff]" + BETWEEN + rb"\+=?" + BETWEEN + rb"[A-Za-z_\"'(\x80-\xff]"  # a + b
    rb"|[\"']" + _CHAR + rb"*[\"']" + BETWEEN + rb"[rRbBuUfF]{0,2}[\"']" + _CHAR + rb"*[\"']"  # "a" "b"
    rb"|(?<![\w\x80-\xff])[rRbB]?[fF][rRbB]?[\"']")  # f"..."

RULE = Rule(
    id="GAP805",
    name="hardcoded-secret",
    category="security",
    severity="error",
    # medium: a name that says secret is the only signal for a generated-looking value, and sample data (a preview's
    # example order `{"secret": "6zzjnumtsx136ddy"}`, the URL kwargs of a sample link) looks the same as a real key
    precision="medium",
    cwe="CWE-798",
    security_severity="7.5",
    semgrep=True,
    # Lower-case words, matched against the lower-cased file: the name words the rule's NAME regex ends in (a bare
    # `key` is not one of them: `cache_key = "..."` never matches) and the known key formats' prefixes.
    hints=("secret", "passw", "token", "api_key", "apikey", "access_key", "accesskey", "private_key", "privatekey",
           "signing_key", "signingkey", "encryption_key", "encryptionkey", "master_key", "masterkey", "auth_key",
           "authkey", "app_key", "appkey", "sk-", "sk_live_", "rk_live_", "sg.", "ghp_", "gho_", "ghu_", "ghs_",
           "ghr_", "github_pat_", "xox", "akia", "aiza", "glpat-", "hf_"),
    prefilter=_MAY_MATCH,  # a value the regexes can take: see above
    fold_case=True,
    summary="A secret key, API key, token or password is written in the source",
    docs=Docs(
        what=(
            "Flags string literals that are secrets: a value in a known key format (OpenAI `sk-...`, Stripe"
            " `sk_live_`, SendGrid `SG.`, GitHub `ghp_`, Slack `xox?-`, AWS `AKIA`, Google `AIza`, GitLab, Hugging"
            " Face) anywhere, and a generated-looking value (16+ letters and digits, no spaces) given to a name that"
            " says secret (`SECRET_KEY`, `*_API_KEY`, `*_TOKEN`, `*_PASSWORD`, `client_secret`...): an assignment,"
            " `app.config[\"SECRET_KEY\"] = ...`, a keyword argument, a dict entry, and the fallback of"
            " `os.getenv(\"OPENAI_API_KEY\", \"sk-...\")` / `os.environ.get(...)`. Test files are skipped."
        ),
        why=(
            "A secret in the source is in every clone, fork, CI log and backup of the repository. With Flask's or"
            " Django's SECRET_KEY anyone can forge session cookies and log in as any user; with an API key they"
            " spend your quota or read your data. A literal fallback is worse than none: when the environment"
            " variable is missing in production the app starts anyway, with the published key."
        ),
        example=(
            "app.config[\"SECRET_KEY\"] = \"9f2c1e7a4b8d3f60a5c2e9b7d1f4a8c3\"\n"
            "client = OpenAI(api_key=os.getenv(\"OPENAI_API_KEY\", \"sk-proj-Xq2Lm9Vt4Rk7Wc1Hs8Np3Bd6\"))"
        ),
        instead=(
            "app.config[\"SECRET_KEY\"] = os.environ[\"SECRET_KEY\"]  # fails fast when unset\n"
            "client = OpenAI(api_key=os.environ[\"OPENAI_API_KEY\"])"
        ),
        not_caught=(
            "Empty or short fallbacks (`\"\"`, `\"dev\"`), placeholders (`change-me`, `your-api-key`, `xxxx`, documented"
            " example keys such as AWS's `AKIAIOSFODNN7EXAMPLE`), URL"
            " paths (a value that starts or ends with `/`), values"
            " with spaces, passwords inside connection URLs (`postgres://user:pw@host`), secrets in non-Python"
            " files (.env, YAML), and values under names that do not say secret. Precision is medium: the name is"
            " the only signal for a generated-looking value, so sample and demo data under a secret name (an e-mail"
            " preview's example order and its link) is reported like a real key."
        ),
        references=("https://cwe.mitre.org/data/definitions/798.html",
                    "https://flask.palletsprojects.com/en/stable/config/#SECRET_KEY"),
    ),
)
