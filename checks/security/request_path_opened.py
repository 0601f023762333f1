"""GAP810 request-path-opened (a Semgrep taint rule: semgrep-rules/request-path-opened.yaml)."""
from __future__ import annotations

import re

from . import REQUEST_DATA_WORDS
from ...analyzer.registry import Docs, Rule
from ...analyzer.semgrep import has_division

# Every sink is a call Semgrep resolves by name, or a division: `open` (also `io.open`, `$PATH.open`), pathlib
# (`pathlib.Path(...)`, `.joinpath`), `send_file`, `FileResponse`, shutil, the `Path` read and write methods; os
# (imported or written out) with `join`, `remove` or `unlink`; or `$BASE / $PATH`, found by Python's parser so
# that the slashes in URLs and comments do not count (the parse runs only when no sink name is there).
_SINK_NAME = re.compile(rb"\bopen\b|pathlib|send_file|FileResponse|shutil|read_bytes|read_text|write_bytes|write_text")
_OS = re.compile(rb"\bos\b")
_OS_CALL = re.compile(rb"\b(?:join|remove|unlink)\b")


def _may_have_sink(data: bytes) -> bool:
    return bool(_SINK_NAME.search(data) or (_OS.search(data) and _OS_CALL.search(data)) or has_division(data))


RULE = Rule(
    id="GAP810",
    name="request-path-opened",
    category="security",
    severity="error",
    precision="medium",
    cwe="CWE-22",
    security_severity="7.5",
    semgrep=True,
    hints=("open", "path", "Path", "send_file", "FileResponse", "shutil", "remove", "unlink", "read_bytes",
           "read_text", "write_bytes", "write_text"),  # `(UPLOADS / request.args["f"]).read_text()` names no path
    requires=(REQUEST_DATA_WORDS,),  # the taint sources read request data
    prefilter=_may_have_sink,  # see above
    summary="A file path is built from request data without containment (path traversal)",
    docs=Docs(
        what=(
            "A taint rule: flags request data (Flask's `request.*`, a Django/DRF/Starlette `request`) that is joined"
            " into a path (`os.path.join`, `base_dir / value`,"
            " `Path(value)`, `joinpath`) - reported where it is joined - or opened, sent or deleted directly"
            " (`open`, `send_file`, `FileResponse`, `os.remove`, `shutil.*`). `secure_filename`, `safe_join`,"
            " `os.path.basename`, `.name`, `int()` and a `hashlib` digest clear the taint; an index"
            " from the request picks an item of the server's own data (`FILES[idx]`) and does not taint it; a join"
            " resolved into a variable that is then checked (`p = (BASE / name).resolve()`, `if not"
            " p.is_relative_to(BASE): ...`) is not reported."
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
            "A route's own parameters as the source (FastAPI `def proxy(target: str)`, Flask `def page(page)`):"
            " on real projects they were mostly Flask parameters already limited by a converter (`<any(css,js):"
            "folder>`) or handed to `send_from_directory`, and the pattern made the rule time out on very large"
            " route files, so only request objects (`request.args/form/json/...`, `request.GET/POST/...`) are"
            " sources for now. "
            "Paths built in a helper from a value the route passes in (taint is followed within one function),"
            " containment checks of other shapes than the ones below (add a suppression comment naming the"
            " check), and file names from upload objects read in another function. Left alone: a join made"
            " absolute and then checked against its base (`startswith(base)` after `os.path.realpath`/`abspath`,"
            " `relative_to` after `realpath`; other shapes, such as `commonpath`, are still reported), a value first passed to the project's own"
            " containment check (`check_access_permission(base, path)`, `validate_path(path)`), `Path(value)`"
            " alone (it joins nothing; reading it with `open()`, `.read_bytes()`, `.read_text()`, `.open()` or"
            " writing it is reported), and `io.BytesIO` data handed to `send_file`. Precision is medium: the taint"
            " follows the request's value through lookups, so a path read from a database row the request only"
            " names by id (`book = get_book(request.args['id'])` then `open(book.path)`) is reported, and so is a"
            " file browser behind an admin check; a held-out review of mature code judged 8 of 13 such findings"
            " false."
        ),
        references=("https://owasp.org/www-community/attacks/Path_Traversal",
                    "https://cwe.mitre.org/data/definitions/22.html"),
    ),
)
