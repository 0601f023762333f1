"""GAP810 request-path-opened (a Semgrep taint rule: semgrep-rules/request-path-opened.yaml)."""
from __future__ import annotations

from . import REQUEST_DATA_WORDS, ROUTE_WORDS
from ...analyzer.registry import Docs, Rule

RULE = Rule(
    id="GAP810",
    name="request-path-opened",
    category="security",
    severity="error",
    precision="high",
    cwe="CWE-22",
    security_severity="7.5",
    semgrep=True,
    hints=("open", "path", "Path", "send_file", "FileResponse", "shutil", "remove", "unlink"),
    requires=(REQUEST_DATA_WORDS + ROUTE_WORDS,),  # sources: request data, or a route's own parameters
    summary="A file path is built from request data without containment (path traversal)",
    docs=Docs(
        what=(
            "A taint rule: flags request data (Flask's `request.*`, a Django/DRF/Starlette `request`, the parameters"
            " of a Flask or FastAPI route) that is joined into a path (`os.path.join`, `base_dir / value`,"
            " `Path(value)`, `joinpath`) - reported where it is joined - or opened, sent or deleted directly"
            " (`open`, `send_file`, `FileResponse`, `os.remove`, `shutil.*`). `secure_filename`, `safe_join`,"
            " `os.path.basename`, `.name`, `int()` and a `hashlib` digest clear the taint, and a join assigned to a"
            " variable that is then checked to stay under the base (`path.resolve().is_relative_to(BASE)`) is not"
            " reported. A route parameter FastAPI has converted (`int`, `float`, `bool`, `UUID`) or fills itself"
            " (`Depends`, `Security`) is not a source."
        ),
        why=(
            "`../../etc/passwd`, or an absolute path, walks out of the folder the code meant: `os.path.join` even"
            " drops the base when the second part is absolute. A download route then serves any file the process"
            " can read (settings, keys, the database), an upload route writes anywhere it can write."
        ),
        example="return send_file(os.path.join(THUMB_DIR, request.args[\"name\"]))",
        instead=(
            "return send_from_directory(THUMB_DIR, request.args[\"name\"])\n# or: path = (BASE / name).resolve();"
            " if not path.is_relative_to(BASE): abort(404)"
        ),
        not_caught=(
            "Flask converters in the route string (`<int:id>` is still a source: the rule reads the parameter, not"
            " the path), paths built in a helper from a value the route passes in (taint is followed within one"
            " function), containment checks the rule does not know (a check is recognised only on the variable"
            " the join was assigned to: `is_relative_to`, `resolve().is_relative_to`, `startswith`,"
            " `os.path.commonpath`), and file names from upload objects read in another function."
        ),
        references=("https://owasp.org/www-community/attacks/Path_Traversal",
                    "https://cwe.mitre.org/data/definitions/22.html"),
    ),
)
