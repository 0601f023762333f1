"""GAP808 shell-command-from-string (a Semgrep taint rule: semgrep-rules/shell-command-from-string.yaml)."""
from __future__ import annotations

import re

from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import BETWEEN

RULE = Rule(
    id="GAP808",
    name="shell-command-from-string",
    category="security",
    severity="error",
    precision="medium",
    cwe="CWE-78",
    security_severity="8.8",
    semgrep=True,
    skip_tooling=True,  # a developer or CI script runs the operator's own values
    # The sinks' own words: `shell=True` (any spacing), getoutput, os.system / os.popen as called or aliased.
    hints=("shell", "getoutput", "getstatusoutput", "system(", "popen(", "system as", "popen as"),
    # `shell` counts only as the keyword of `shell=True` (whatever its value: Semgrep propagates constants) or in
    # asyncio.create_subprocess_shell; the other sinks keep their hint words
    prefilter=re.compile(rb"shell" + BETWEEN + rb"=|create_subprocess_shell|getoutput|getstatusoutput|system|popen"),
    summary="A shell command is built by formatting a string",
    docs=Docs(
        what=(
            "Flags `subprocess.run/call/check_call/check_output/Popen(..., shell=True)`, `subprocess.getoutput`,"
            " `os.system`, `os.popen` and `asyncio.create_subprocess_shell` whose command is built by formatting -"
            " an f-string with a value, `%`, `.format()`, `+` or `\" \".join(...)` - inline or through a variable"
            " in the same function, unless the formatted string applies `shlex.quote`/`shlex.join`."
        ),
        why=(
            "The shell parses the whole string again: a file name, folder or user name with a quote, `;`, `|` or"
            " `$(...)` in it ends the intended command and starts another one with the server's rights. Values"
            " that look internal (a stored path) often hold text that a user chose."
        ),
        example="subprocess.run(f\"identify -format '%w %h' '{path}[0]'\", shell=True, check=True)",
        instead="subprocess.run([\"identify\", \"-format\", \"%w %h\", f\"{path}[0]\"], check=True, timeout=30)",
        not_caught=(
            "Constant command strings with shell=True, argument lists (no shell parses them), commands built in"
            " another function and passed in, and `shell=True` through `**kwargs`; a loop variable over a literal"
            " list is the developer's own text and stays silent. Precision is medium: Semgrep sees that the command"
            " is formatted, not where every value comes from, so a command built only from values the code computes"
            " (integer ids, the package's install path, the operator's settings) is reported like one built from a"
            " request - two held-out reviews of mature code judged 4 of 10 and 4 of 6 such findings false."
        ),
        references=("https://docs.python.org/3/library/subprocess.html#security-considerations",
                    "https://cwe.mitre.org/data/definitions/78.html"),
    ),
)
