"""GAP204 whole-file-in-memory: an upload read whole with no size limit, a CSV file turned into one list."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext, call_keyword
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..in_memory_state.project import GRAPH
from ..orm.facts import call_name, is_test_or_migration, parameter_annotation
from ..orm.index import FUNCTIONS
from ..reach import defer, pending_findings, record_reach
from ..scopes import is_test_or_script, request_reachable

RULE = Rule(
    id="GAP204",
    name="whole-file-in-memory",
    category="unbounded-query",
    severity="warning",
    precision="medium",
    cwe="CWE-770",
    reads=(FUNCTIONS, GRAPH),
    summary="An uploaded file read whole with no size limit, or a CSV file loaded into one list or DataFrame",
    docs=Docs(
        what=(
            "Flags `await file.read()` / `file.file.read()` on a FastAPI or Starlette `UploadFile` parameter (or a"
            " parameter annotated as Werkzeug's `FileStorage` / Django's `UploadedFile`), and"
            " `request.files[...].read()` (Flask) / `request.FILES[...].read()` (Django) - also `.stream.read()`"
            " and each file of a `for f in request.files.getlist(...)` loop -, with no size argument,"
            " in a function that never looks at the upload's size; `list()` / `tuple()` / `sorted()` of a"
            " `csv.reader` / `csv.DictReader` over an opened file; and, in code that runs per request or per job"
            " (routes, views, tasks and the project functions they call, in another module too),"
            " `pandas.read_csv/read_table/read_fwf/read_json/read_excel` with no `nrows=`, `chunksize=` or"
            " `iterator=`: the whole file (often the upload just saved) becomes one DataFrame; and, in the same"
            " code, `zf.write(path)` in a loop on a `zipfile.ZipFile` over an `io.BytesIO()` (an export that"
            " compresses every file on disk into the worker's memory)."
        ),
        why=(
            "A read with no size returns the whole body as one bytes object: a 2 GB upload (or a thousand"
            " concurrent 20 MB ones) takes the worker's memory, and neither FastAPI nor Werkzeug caps the size by"
            " default. A CSV export grows the same way: `list(csv.DictReader(f))` holds every row as a dict"
            " before the first one is processed."
        ),
        example=(
            "@app.post(\"/upload\")\n"
            "async def upload(file: UploadFile):\n"
            "    contents = await file.read()\n"
            "    return parse(contents)\n"
            "with open(path, newline=\"\") as fh:\n"
            "    rows = list(csv.DictReader(fh))"
        ),
        instead=(
            "@app.post(\"/upload\")\n"
            "async def upload(file: UploadFile):\n"
            "    if file.size is not None and file.size > MAX_UPLOAD:\n"
            "        raise HTTPException(413)\n"
            "    while chunk := await file.read(1 << 20):\n"
            "        sink.write(chunk)\n"
            "with open(path, newline=\"\") as fh:\n"
            "    for row in csv.DictReader(fh):\n"
            "        handle(row)"
        ),
        not_caught=(
            "Reads in a function that checks the upload's `.size` or the request's `content_length` (a limit may"
            " be enforced there), Flask modules that set `MAX_CONTENT_LENGTH` (in another module, it is not"
            " seen: suppress the finding), reads with a size (`read(1 << 20)` in a loop), `file.save(path)`"
            " (streamed to disk), CSV readers over text already in memory (`io.StringIO(data)`: the read that"
            " produced `data` is the place to look), an unannotated parameter a handler passes an upload to"
            " (`save_dataset(request.files[\"f\"])` read in another function), and files read whole with `f.read()` /"
            " `readlines()`. pandas reads in scripts, CLIs, notebooks and functions no handler reaches (analysis code"
            " is meant to load the data), over `io.StringIO`/`BytesIO` text, in a function that reads a size"
            " (`.size`, `content_length`, `st_size`), and `read_parquet` / `read_sql` (SQL is GAP201's). Zip"
            " archives of `writestr()` entries (generated content), archives written to a temporary file, and"
            " archives handed to the function as a parameter. Precision is medium: the rule cannot see how large a file gets, so an upload that is small by contract (an avatar checked by the form, a short CSV template) is reported like one that grows with the customer."
        ),
        references=(
            "https://fastapi.tiangolo.com/reference/uploadfile/",
            "https://flask.palletsprojects.com/en/stable/patterns/fileuploads/#improving-uploads",
            "https://docs.python.org/3/library/csv.html#csv.DictReader",
        ),
    ),
)

UPLOAD_TYPES = frozenset({"fastapi.UploadFile", "fastapi.datastructures.UploadFile",
                          "starlette.datastructures.UploadFile", "werkzeug.datastructures.FileStorage",
                          "werkzeug.FileStorage", "django.core.files.uploadedfile.UploadedFile",
                          "django.core.files.uploadedfile.InMemoryUploadedFile"})
CSV_READERS = frozenset({"csv.reader", "csv.DictReader"})
# pandas readers that can stop early or stream (`nrows=`, `chunksize=`, `iterator=True`); read_parquet/read_sql
# are not here (no row bound to suggest; SQL is GAP201's).
PANDAS_READERS = frozenset({"pandas.read_csv", "pandas.read_table", "pandas.read_fwf", "pandas.read_json",
                            "pandas.read_excel"})
PANDAS_READERS_BY_NAME = frozenset(q.rsplit(".", 1)[-1] for q in PANDAS_READERS)
FRAME_BOUNDS = ("nrows", "chunksize", "iterator")
IN_MEMORY_FILES = frozenset({"io.StringIO", "io.BytesIO"})
MATERIALISERS = frozenset({"builtins.list", "builtins.tuple", "builtins.sorted"})
OPENERS = frozenset({"builtins.open", "io.open", "codecs.open", "gzip.open", "bz2.open", "lzma.open",
                     "io.TextIOWrapper"})


@RULE.on(ast.Call, callees=("read", "list", "tuple", "sorted", "write", *PANDAS_READERS_BY_NAME))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    name = call_name(call)
    if name == "read" and isinstance(call.func, ast.Attribute):
        upload = _whole_upload_read(call, ctx)
        if upload and not ctx.memo(("gap204-skip-file",), lambda: is_test_or_migration(ctx)):
            yield ctx.finding(
                RULE, call,
                f"{upload}.read() reads the whole upload into memory and nothing in this code limits its size: one large file"
                " takes the worker's memory; check the size first (or set a request size limit) and stream it in"
                " chunks with read(CHUNK_SIZE)")
    elif name in PANDAS_READERS_BY_NAME:
        yield from _whole_frame(call, ctx)
    elif name == "write" and isinstance(call.func, ast.Attribute) and call.args:
        yield from _file_into_memory_zip(call, ctx)
    elif name in ("list", "tuple", "sorted") and isinstance(call.func, ast.Name) and call.args:
        reader = _csv_file_reader(call.args[0], ctx)
        if reader and ctx.qualified_name(call.func) in MATERIALISERS and \
                not ctx.memo(("gap204-skip-file",), lambda: is_test_or_migration(ctx)):
            yield ctx.finding(
                RULE, call,
                f"{name}({reader}) holds every row of the file in memory before the first is processed: fine for"
                " a sample file, an out-of-memory kill for a large export; iterate the reader row by row (and"
                " write in batches)")


def _whole_frame(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    """`pd.read_csv(path)` in code that runs per request: the whole file becomes one DataFrame."""
    qualified = ctx.qualified_name(call.func) or ""
    if qualified not in PANDAS_READERS or any(call_keyword(call, k) for k in FRAME_BOUNDS) or \
            any(k.arg is None for k in call.keywords) or not call.args and not call_keyword(call, "filepath_or_buffer"):
        return
    source = call.args[0] if call.args else call_keyword(call, "filepath_or_buffer")
    if _in_memory_text(source, ctx):
        return
    function = ctx.enclosing_function(call)
    if function is None or _checks_size_here(function) or \
            ctx.memo(("gap204-skip-file",), lambda: is_test_or_migration(ctx)):
        return
    label = f"{ctx.dotted_name(call.func) or qualified}()"
    tail = (" (a 500 MB CSV is several GB as a DataFrame), and every concurrent request holds its own copy; read"
            " it in chunks (chunksize=), cap it (nrows=), or run the work as a background job")
    yield from _where_it_runs(call, function, ctx, f"{label} loads the whole file into one DataFrame{{where}}: nothing"
                              f" bounds the rows{tail}")


def _file_into_memory_zip(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    """`zf.write(path)` in a loop, `zf` a `zipfile.ZipFile` over an `io.BytesIO()`, in code that runs per request:
    every file of the export is compressed into the worker's memory before the first byte is sent."""
    archive = call.func.value  # type: ignore[attr-defined]
    if not isinstance(archive, ast.Name) or ctx.enclosing_loop(call) is None:
        return
    opened = ctx.value_of(archive)
    if not (isinstance(opened, ast.Call) and ctx.qualified_name(opened.func) == "zipfile.ZipFile" and opened.args):
        return
    if not _in_memory_text(opened.args[0], ctx, ("io.BytesIO",)):
        return
    function = ctx.enclosing_function(call)
    if function is None or ctx.memo(("gap204-skip-file",), lambda: is_test_or_migration(ctx)):
        return
    spelled = f"{archive.id}.write()"
    tail = (" - the archive grows with every file until the worker runs out of memory; write it to a temporary file"
            " (tempfile.TemporaryFile / SpooledTemporaryFile) and send that, or stream it")
    yield from _where_it_runs(call, function, ctx, f"{spelled} copies each file on disk into a zip held in memory"
                              f" (io.BytesIO){{where}}{tail}")


def _where_it_runs(call: ast.Call, function: ast.AST, ctx: ModuleContext, message: str) -> Iterator[Finding]:
    """Report here when this function is a request handler or task; otherwise defer to the project check, which
    reports it when a handler in another module calls this function. `{where}` in `message` becomes " in this
    request handler" here, or ", and the {where} {via}() calls this function" when deferred."""
    kind = request_reachable(function, ctx)
    if kind is None:
        if not is_test_or_script(ctx):
            defer(RULE, call, ctx, message.replace("{where}", ", and the {where} {via}() calls this function", 1))
        return
    where = "background task" if kind == "task" else "request handler"
    yield ctx.finding(RULE, call, message.replace("{where}", f" in this {where}", 1))


def _in_memory_text(source: ast.AST | None, ctx: ModuleContext,
                    kinds: frozenset[str] | tuple[str, ...] = ()) -> bool:
    """`io.StringIO(text)` / `io.BytesIO(data)` (inline or through a local): the bytes are in memory already, the
    read that produced them is the place to look."""
    if isinstance(source, ast.Name):
        source = ctx.value_of(source) or source
    return isinstance(source, ast.Call) and (ctx.qualified_name(source.func) or "") in (kinds or IN_MEMORY_FILES)


def _checks_size_here(function: ast.AST) -> bool:
    """The function reads a size (`upload.size`, `request.content_length`, `os.stat(p).st_size`): a limit may
    apply. A module-level MAX_CONTENT_LENGTH caps the upload, not the DataFrame built from it."""
    return any(isinstance(node, ast.Attribute) and node.attr in ("size", "content_length", "st_size")
               for node in ast.walk(function))


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def summarise(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    if not is_test_or_script(ctx):
        record_reach(function, ctx)


@RULE.on_project
def reached_from_handlers(index: ProjectIndex) -> Iterator[Finding]:
    """A read in a function of another module that a handler or task calls."""
    yield from pending_findings(index, RULE)


def _whole_upload_read(call: ast.Call, ctx: ModuleContext) -> str | None:
    """The upload's spelling when this `read()` has no size and its receiver is an uploaded file."""
    if call.args and not (isinstance(call.args[0], ast.Constant) and call.args[0].value in (None, -1)):
        return None
    if call_keyword(call, "size") or call_keyword(call, "n"):
        return None
    receiver = original = call.func.value  # type: ignore[attr-defined]
    if isinstance(receiver, ast.Attribute) and receiver.attr in ("file", "stream"):
        receiver = receiver.value  # `upload.file.read()` / `storage.stream.read()`: the file object underneath
    function = ctx.enclosing_function(call)
    if function is None:
        return None
    if isinstance(receiver, ast.Name) and _annotated_upload(receiver, ctx):
        spelled = ctx.dotted_name(original) or receiver.id
    elif _request_file(receiver, ctx):
        spelled = ctx.dotted_name(receiver) or ast.unparse(receiver)
    else:
        return None
    if _checks_size(function, ctx):
        return None
    return spelled


def _annotated_upload(name: ast.Name, ctx: ModuleContext) -> bool:
    annotation = parameter_annotation(name, ctx)
    if annotation is None:
        return False
    head, _, rest = annotation.partition(".")
    resolved = ctx.resolve_name(head, name)
    qualified = f"{resolved}.{rest}" if resolved and rest else resolved or annotation
    return qualified in UPLOAD_TYPES


def _request_file(expr: ast.AST, ctx: ModuleContext, depth: int = 2) -> bool:
    """`request.files["f"]`, `request.files.get("f")`, `request.FILES["f"]`, or a local bound to one - also the
    loop variable of `for f in request.files.getlist("f")` (or of a local holding that list)."""
    if isinstance(expr, ast.Name) and depth > 0:
        loop = _loop_source(expr, ctx)
        if loop is not None:
            return _request_file_list(loop, ctx, depth - 1)
        value = ctx.value_of(expr)
        return value is not None and not isinstance(value, ast.Name) and _request_file(value, ctx, depth - 1)
    if isinstance(expr, ast.Subscript):
        container = expr.value
    elif isinstance(expr, ast.Call) and call_name(expr) == "get" and isinstance(expr.func, ast.Attribute):
        container = expr.func.value
    else:
        return False
    return isinstance(container, ast.Attribute) and container.attr in ("files", "FILES") and \
        isinstance(container.value, ast.Name) and container.value.id == "request"


def _loop_source(name: ast.Name, ctx: ModuleContext) -> ast.AST | None:
    """The iterable of the `for` loop that binds `name` (as its whole target) and encloses this use."""
    loop = ctx.enclosing_loop(name)
    while loop is not None:
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            if isinstance(loop.target, ast.Name) and loop.target.id == name.id:
                return loop.iter
        loop = ctx.enclosing_loop(loop)
    return None


def _request_file_list(expr: ast.AST, ctx: ModuleContext, depth: int) -> bool:
    """`request.files.getlist("f")` / `request.FILES.getlist("f")` / `request.files.values()`, or a local bound to
    one."""
    if isinstance(expr, ast.Name) and depth > 0:
        value = ctx.value_of(expr)
        return value is not None and not isinstance(value, ast.Name) and _request_file_list(value, ctx, depth - 1)
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and
            expr.func.attr in ("getlist", "values")):
        return False
    container = expr.func.value
    return isinstance(container, ast.Attribute) and container.attr in ("files", "FILES") and \
        isinstance(container.value, ast.Name) and container.value.id == "request"


def _checks_size(function: ast.AST, ctx: ModuleContext) -> bool:
    """The function reads `.size` / `content_length` (a limit may be enforced), or the module sets Flask's
    MAX_CONTENT_LENGTH."""
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute) and node.attr in ("size", "content_length", "spool_max_size"):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.lower() in ("content-length", "max_content_length"):
            return True
    return ctx.memo(("gap204-max-content",), lambda: any(
        isinstance(node, ast.Constant) and node.value == "MAX_CONTENT_LENGTH" for node in ctx.nodes))


def _csv_file_reader(expr: ast.AST, ctx: ModuleContext) -> str | None:
    """`csv.DictReader(fh)` (inline or through a local) whose source is an opened file, not text in memory."""
    reader = expr
    if isinstance(reader, ast.Name):
        value = ctx.value_of(reader)
        reader = value if value is not None else reader
    if not isinstance(reader, ast.Call) or ctx.qualified_name(reader.func) not in CSV_READERS or not reader.args:
        return None
    source = reader.args[0]
    if isinstance(source, ast.Name):
        value = ctx.value_of(source)
        source = value if value is not None else source
    if not isinstance(source, ast.Call):
        return None
    opened = ctx.qualified_name(source.func) in OPENERS or (
        isinstance(source.func, ast.Attribute) and source.func.attr == "open")  # `path.open()`
    return f"{ctx.dotted_name(reader.func) or 'csv.reader'}(...)" if opened else None
