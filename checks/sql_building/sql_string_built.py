"""GAP701 sql-string-built: SQL text built from values (f-string, %, .format, +, +=, join) reaching an executor.

A Python check, not Semgrep: the evidence is a building step that may sit several statements (or a helper
function) away from the sink, in branches and `+=` chains, and the exemptions - placeholders built from constants,
`%d`, identifier quoting, module constants - need the values' origins, which the model's bindings give directly.
"""
from __future__ import annotations

import ast
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext, call_keyword
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..scopes import is_migration_module
from .facts import REQUEST_WORDS, is_value_position, setting_prefix
from .facts import DDL_DEFAULT_KEYWORDS, EXTRA_KEYWORDS, SQL_ARG_KEYWORDS, SQL_FUNCTIONS, SQL_METHODS, is_identifier_position, looks_like_sql
from .callers import CANDIDATE_FACT, callee_name, describe_def, join, parameter_splices, record_call
from .flow import Shape, Splice, shape_of
from .flow import _helper_function as helper_function

RULE = Rule(
    id="GAP701",
    name="sql-string-built",
    category="sql-building",
    severity="error",
    # Medium: on mature applications most text built from non-constant values is schema or storage-layer code
    # (identifiers a data-access function receives as parameters from other modules, names read from the catalog
    # through project functions, settings spliced into PRAGMA/SET) that intra-function data flow cannot tell from
    # request values. Fresh samples: 15 of 20 and 4 of 4 false (earlier reviews), then matrix-synapse 20 of 20,
    # mlflow 3 of 3 and datasette 13 of 13 false before the fixes of this change (see its commits). Since then
    # the project join clears a storage method's table/column parameters that every call fills with constants,
    # and module functions, constructor attributes, catalog rows and clause builders: on the tuning projects
    # 54 -> 21 findings (synapse 47 -> 19, mlflow 3 -> 1, datasette 4 -> 1), the 21 left still judged false.
    precision="medium",
    cwe="CWE-89",
    security_severity="8.8",
    summary="SQL text built from values by string formatting reaches a database call",
    docs=Docs(
        what=(
            "Flags SQL text that is built with an f-string, `%` formatting, `.format()`, `+`/`+=` or `sep.join(...)`"
            " from a non-constant value and then executed: DB-API `cursor.execute/executemany/executescript`"
            " (sqlite3, psycopg2, psycopg 3, pymysql, mysqlclient, aiosqlite), `connection.execute`, SQLAlchemy"
            " `text()`, `session.execute`, `engine.execute`, `exec_driver_sql`, Django `Manager.raw()`,"
            " `QuerySet.extra()`, `RawSQL`, pandas `read_sql`/`read_sql_query`, asyncpg `execute/fetch/fetchrow/"
            "fetchval`, `databases` `fetch_all/fetch_one`. The string is followed through local variables, every"
            " `+=` before the call (also in branches) and through a helper function or method of the same module"
            " that returns the formatted string. When the value stands where an identifier goes (`ORDER BY {col}`,"
            " `FROM {table}`) the message says to use an allow-list or `sql.Identifier` instead of a parameter. A"
            " value tested against literal text (or upper-case class members such as `Fields.NAME`) before the"
            " query (`if sort in (\"name\", \"created\"):`, or"
            " `if sort not in ALLOWED_SORTS: abort(400)` earlier in the function) counts as allow-listed."
        ),
        why=(
            "The database cannot tell the query from the data: a value containing a quote rewrites the statement."
            " Whoever controls that value (a form field, a header, a row written by another user) can read or"
            " delete any table the application's database user can reach (SQL injection). Values that are"
            " harmless today become request fields tomorrow, and the query text changes per value, so the"
            " database's statement cache never hits."
        ),
        example=(
            "def find_user(cursor, email):\n"
            "    query = f\"SELECT id FROM users WHERE email = '{email}'\"\n"
            "    cursor.execute(query)\n\n"
            "def list_orders(conn, sort):\n"
            "    conn.execute(\"SELECT * FROM orders ORDER BY \" + sort)"
        ),
        instead=(
            "def find_user(cursor, email):\n"
            "    cursor.execute(\"SELECT id FROM users WHERE email = %s\", (email,))\n\n"
            "SORTABLE = {\"created\": \"created_at\", \"total\": \"total_cents\"}\n\n"
            "def list_orders(conn, sort):\n"
            "    conn.execute(f\"SELECT * FROM orders ORDER BY {SORTABLE[sort]}\")  # allow-listed identifier\n"
            "    # or with psycopg: sql.SQL(\"... ORDER BY {}\").format(sql.Identifier(sort))"
        ),
        not_caught=(
            "Not reported: placeholders with parameters passed separately (`?`, `%s`, `:name`, `$1`),"
            " placeholder lists built from constants (`\", \".join([\"%s\"] * len(ids))`, `\",\".join(\"?\" * n)`),"
            " numbers forced by `%d`/`{:d}`/`int()`/`len()` (and clock readings, `time.time()`), a row's primary"
            " key (`user.id`, `request.user.id`,"
            " `obj.pk`; a client's `payload.id` is still reported), identifiers passed through a quoting function"
            " (`connection.ops.quote_name`, `sql.Identifier`, anything named `quote*` or `*escape*` other than"
            " escapes for other languages such as `re.escape`/`html.escape`, SQLAlchemy `column(name)`/"
            "`table(name)`, which render quoted), `psycopg2.sql`/`psycopg.sql`"
            " composition, SQLAlchemy constructs and `bindparam`, module constants, class constants"
            " (`Status.DRAFT.value`), facts of the database driver (`engine.dialect.*`,"
            " `self.database_engine.row_id_name`) and schema metadata (`Model._meta.db_table`, `__tablename__`,"
            " tables and"
            " columns walked from SQLAlchemy `MetaData` such as `Base.metadata.sorted_tables` and"
            " `table.primary_key`, names an `Inspector` reads from the catalog such as `get_table_names()` or Django's"
            " `connection.introspection.get_*()` returns, a"
            " `table_names()` method, rows of a constant query on `sqlite_master`/`information_schema`/`pg_catalog`,"
            " also awaited, a mapped column's `key`/`name` where the code also reads its `class_.__tablename__`),"
            " placeholder names built from numbers (`[f\"val_{i}\" for i in range(n)]`, an `enumerate()` index or"
            " `next(itertools.count())` in a comprehension), a private (`_name`) or nested function's parameter that"
            " every call in the module fills with a constant, a parameter (or the names a loop over it takes, such as"
            " the keys of a `keyvalues` dict) that every call of that function name anywhere in the project fills"
            " with a constant (a literal, a tuple of literals, a dict literal's keys - also keys allow-listed just"
            " before -, an ALL_CAPS name, a local set"
            " only to literals, text joined from those, the rows of a constant list) or with a parameter of its own"
            " that is itself only given constants, also when the function is handed to a runner"
            " (`run_interaction(\"desc\", self.select_txn, table, keyvalues, db_autocommit=True)`: the arguments"
            " after it, keywords the function takes, defaults for what is left out); likewise an attribute that"
            " `__init__` alone sets from a constructor parameter (`self._table = table`: the class's calls decide)"
            " or to a constant; matched by name, so a call of another function with that name counts too; for"
            " module functions and methods, also for a closure's use of their parameters, and only where a name or"
            " a clause goes, not a literal value (`= '{v}'`, `LIKE {v}`, `LIMIT {n}` stay reported); such"
            " findings come from the whole-project pass, so an editor's live view of one file does not show"
            " them), text returned by a same-module function whose"
            " spliced parameter the call fills with a constant (`match_sql(\"phrase_key\")`), a local list of"
            " clauses that only ever"
            " grows by constant text (`clauses.append(\"status = ?\")` then `\" AND \".join(clauses)`), keys of a"
            " local dict whose keys are all literal, an enum member's value (`SortOrder(order_by).value`), a text"
            " constant set once in the class body (`cls._columns`), an item of a table of literals set there and never"
            " changed (`self._standard_operators[\"contains\"]`), a class counter only stepped by numbers"
            " (`self.cache_bust_counter += 1`; a class template such as `self.sql_delete_fk %"
            " {...}` stays opaque), loops over the parts of a constant table, literal-only"
            " concatenation, SQL an ORM compiled with its own parameters (`sql, params = qs.query.sql_with_params()`,"
            " `compiler.as_sql()`, `stmt.compile()` without `literal_binds`) or a builder's `(sql, params)` pair"
            " (`where, params = build_filter(f)`), SQL fragments built elsewhere where a clause goes: the result of"
            " a call named for one that is not this module's own helper (`make_in_list_sql_clause(...)`,"
            " `constraint.make_check_clause(t)`; a fragment that splices values inside such a builder is missed),"
            " and, when the query binds parameters, a value named for one (`WHERE {query_clause}` with"
            " `query_params`), a whole query wrapped in another (a value named `sql`/`query`/`statement` at the"
            " start, after `(`, `EXPLAIN` or `UNION`: `f\"EXPLAIN {sql}\"`, `SELECT count(*) FROM ({query})`; a SQL"
            " console runs what its user typed by design, and a query built from values is reported where it is"
            " built, if that is in a sink), a value tested against literals in the function around a closure or"
            " `assert`ed to be one (`assert bound in (\"<\", \">\")`), `enumerate()` indexes, migrations (Django"
            " `migrations/`, Alembic, numbered schema deltas in a `delta(s)` folder below `schema(s)`), parameters"
            " annotated `int`/`float`/`bool`, `Model._meta` reached through a local alias"
            " (`meta = model._meta; meta.db_table`, `field = Model._meta.get_field(\"qty\")`; also in `a or b`), queries waived for a peer linter (`# noqa: S608`,"
            " `# nosec`, on the call, a spliced value's line or a statement building the text), `text()` given"
            " as a column's `server_default` (schema DDL, not a query), and a setting spliced into a statement that"
            " takes no bind parameters (`SET statement_timeout TO {...}`, `SET LOCAL`, `PRAGMA busy_timeout = {...}`)"
            " when the value is read from configuration or an attribute, not a bare parameter, and is not spelled"
            " from the request (`request.args`, `req.json`, `input()`)."
            " Deliberately not followed: strings built in another module, passed in as parameters (beyond the"
            " call-site test above), stored on"
            " `self`, or built in a loop body that the sink does not follow textually; `executor.execute(...)` on"
            " text with no SQL statement keywords (`SELECT ... FROM`, `INSERT INTO`, `WHERE` ...); SQLAlchemy"
            " `literal_column()`/`column()` with formatted text. Precision is medium: in real applications most"
            " spliced values stand in identifier positions and come from the code itself (a helper's table-name"
            " parameter, the keys of a dict the code builds, a schema name from settings); the dataflow stays"
            " inside one function and cannot tell those from request data, so review each finding's source."
        ),
        references=(
            "https://owasp.org/www-community/attacks/SQL_Injection",
            "https://peps.python.org/pep-0249/#id15",
            "https://docs.djangoproject.com/en/5.2/topics/db/sql/#passing-parameters-into-raw",
            "https://www.psycopg.org/psycopg3/docs/api/sql.html",
        ),
    ),
)


@RULE.on(ast.Call, callees=(*SQL_FUNCTIONS, *SQL_METHODS, "extra"))
def check(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if is_migration_module(ctx) or _schema_delta_module(ctx):
        return  # schema changes the operator runs once, on names from the schema itself: no request reaches them
    parent = ctx.parent(call)
    if isinstance(parent, ast.keyword) and parent.arg in DDL_DEFAULT_KEYWORDS:
        return  # `Column(server_default=text(f"'{Status.DRAFT.value}'"))`: schema DDL written by the developer
    for sql, sink, needs_keywords in _sql_arguments(call, ctx):
        shape = shape_of(sql, ctx)
        if shape is None or not shape.built or not shape.splices:
            continue
        shape = _without_fragments(shape, call, ctx)
        if not shape.splices:
            continue
        if needs_keywords and not looks_like_sql(shape.text):
            continue
        if _developer_setting(shape, ctx):
            return  # `PRAGMA busy_timeout = {n}` from a config value: a setting cannot be a bind parameter
        if _waived(call, sql, shape, ctx):
            return  # `# noqa: S608` / `# nosec`: the author already judged this query for bandit or ruff
        finding = ctx.finding(RULE, call, _message(sink, shape), end_node=call)
        spliced = parameter_splices(shape, ctx)
        if spliced is None:
            yield finding
            return
        # Only the function's parameters are spliced: reported by the project join unless every call in the
        # project fills them with constants (a storage layer's table and column names).
        function, parameters = spliced
        ctx.record(CANDIDATE_FACT, {"def": describe_def(function, ctx), "params": parameters, "line": finding.line,
                                    "col": finding.column, "end_line": finding.end_line,
                                    "end_col": finding.end_column, "message": finding.message})
        return


@RULE.on(ast.Call)
def record_arguments(call: ast.Call, ctx: ModuleContext) -> None:
    """What every call passes, for the project join below."""
    record_call(call, ctx)


@RULE.on_project
def unless_callers_pass_constants(index: ProjectIndex) -> Iterator[Finding]:
    for path, data in join(index):
        yield index.finding(RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],
                            data["message"])


# Names of SQL text fragments: `where_clause`, `query_clause`, `make_in_list_sql_clause()`, `filter_sql`.
FRAGMENT_NAME = re.compile(r"(?i)clause|(?:^|_)sql(?:_|$)|^where(?:_|$)|predicate|condition")


# A value named as a whole query (`sql`, `query`, `raw_sql`, `self.statement`), and the places where a whole query
# goes inside another: the start of the text, an opening parenthesis, after EXPLAIN, UNION or `;`.
QUERY_NAME = re.compile(r"(?i)(?:^|_)(?:sql|query|statement|stmt)$")
WRAP_POSITION = re.compile(r"(?i)(?:^|[(;]|\bexplain(?:\s+analyze)?(?:\s+verbose)?|\bunion(?:\s+all)?)\s*$")


def _without_fragments(shape: Shape, call: ast.Call, ctx: ModuleContext) -> Shape:
    """Drop the splices that are SQL fragments the project builds elsewhere, standing where a clause goes (not a
    literal value): the result of a call named for one that is not this module's own helper (whose text the
    flow reads instead) - `constraint.make_check_clause(table)`, `make_in_list_sql_clause(...)` - and, when the
    call passes bind parameters, a value named for one (`WHERE {query_clause}` with `query_params`): the
    fragment's values travel as those parameters. Also a whole query wrapped in another (`EXPLAIN {sql}`,
    `SELECT count(*) FROM ({query})`): whoever wrote it wrote all of it, so the wrapping adds no way in; where it
    was built from values is where that is reported."""
    bound = len(call.args) > 1 or any(k.arg in ("params", "parameters", "args", "vars") for k in call.keywords)
    kept = []
    for splice in shape.splices:
        node = splice.node
        if not is_value_position(splice.before):
            name = callee_name(node.func) if isinstance(node, ast.Call) else (
                node.id if isinstance(node, ast.Name) else None)
            if name and FRAGMENT_NAME.search(name) and (
                    bound or isinstance(node, ast.Call) and helper_function(node, ctx) is None):
                continue
            spelled = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
            if QUERY_NAME.search(spelled) and WRAP_POSITION.search(splice.before):
                continue  # `f"EXPLAIN {sql}"`, `f"SELECT count(*) FROM ({query}) AS q"`: a whole query, wrapped
        kept.append(splice)
    if len(kept) == len(shape.splices):
        return shape
    return Shape(shape.text, tuple(kept), shape.built, shape.helper)


def _schema_delta_module(ctx: ModuleContext) -> bool:
    """A schema upgrade kept as numbered deltas (`storage/schema/main/delta/48/fix_indexes.py`): a `delta(s)` folder
    below a `schema(s)` folder, run once by the upgrader like a Django or Alembic migration."""
    def delta_path() -> bool:
        folders = [f.lower() for f in ctx.path.replace("\\", "/").split("/")[:-1]]
        schema = next((i for i, f in enumerate(folders) if f in ("schema", "schemas")), None)
        return schema is not None and any(f in ("delta", "deltas") for f in folders[schema + 1:])
    return ctx.memo(("gap701-schema-delta",), delta_path)


def _developer_setting(shape: Shape, ctx: ModuleContext) -> bool:
    """`SET statement_timeout TO {self.timeout}` / `PRAGMA busy_timeout = {config["busy"]}`: statements that take
    no bind parameters, with every value spliced after the setting's name, read from configuration or an
    attribute (not a bare parameter) and none of them spelled from the request (nor its local binding:
    `timeout = request.args["t"]`)."""
    head = setting_prefix(shape.text)
    if head is None or any(len(s.before) < head for s in shape.splices):
        return False
    function = ctx.enclosing_function
    for splice in shape.splices:
        spellings = [ast.unparse(splice.node)]
        owner = function(splice.node)
        if isinstance(splice.node, ast.Name) and (owner is None or not ctx.bindings(owner).get(splice.node.id)):
            return False  # a parameter (`lock_timeout: str`): its caller decides, so it stays reported
        if owner is not None:
            for node in ast.walk(splice.node):
                if isinstance(node, ast.Name):
                    spellings.extend(ast.unparse(stmt) for stmt in ctx.bindings(owner).get(node.id) or [])
        if any(REQUEST_WORDS.search(text) for text in spellings):
            return False
    return True


# The same problem waived for a peer linter: ruff/flake8-bandit S608, bandit B608 or a bare `# nosec`.
PEER_WAIVER = re.compile(r"#.*(?:noqa\b.*\b[SB]608\b|nosec\b)")


def _waived(call: ast.Call, sql: ast.AST, shape: Shape, ctx: ModuleContext) -> bool:
    """The waiver may sit on the call, on a spliced value's line, or on a statement that builds the text
    (`sql = "UPDATE {} SET ...".format(...)  # nosec`)."""
    numbers = set(range(call.lineno, (call.end_lineno or call.lineno) + 1))
    numbers.update(getattr(s.node, "lineno", call.lineno) for s in shape.splices)
    function = ctx.enclosing_function(call)
    if isinstance(sql, ast.Name) and function is not None:
        for statement in ctx.bindings(function).get(sql.id) or []:
            if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and statement.lineno < call.lineno:
                numbers.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
    return any(0 < n <= len(ctx.lines) and PEER_WAIVER.search(ctx.lines[n - 1]) for n in numbers)


def _sql_arguments(call: ast.Call, ctx: ModuleContext) -> Iterator[tuple[ast.AST, str, bool]]:
    """(SQL argument, sink spelling, whether the text must look like SQL) for every SQL sink this call is."""
    qualified = ctx.qualified_name(call.func)
    spelled = ctx.dotted_name(call.func) or (call.func.attr if isinstance(call.func, ast.Attribute) else "")
    if qualified in SQL_FUNCTIONS:
        argument = call.args[0] if call.args else _keyword_argument(call)
        if argument is not None:
            yield argument, spelled or qualified, False
        return
    if qualified is not None and not qualified.startswith("builtins."):
        if not isinstance(call.func, ast.Attribute) or call.func.attr not in SQL_METHODS:
            return
    if not isinstance(call.func, ast.Attribute):
        return
    if call.func.attr == "extra":
        for name in EXTRA_KEYWORDS:
            keyword = call_keyword(call, name)
            if keyword is None:
                continue
            value = keyword.value
            elements = value.elts if isinstance(value, (ast.List, ast.Tuple)) else (
                [v for v in value.values] if isinstance(value, ast.Dict) else [value])
            for element in elements:
                yield element, spelled, False
        return
    if call.func.attr in SQL_METHODS:
        argument = call.args[0] if call.args else _keyword_argument(call)
        if argument is not None and not isinstance(argument, ast.Starred):
            yield argument, spelled, True


def _keyword_argument(call: ast.Call) -> ast.AST | None:
    for name in SQL_ARG_KEYWORDS:
        keyword = call_keyword(call, name)
        if keyword is not None:
            return keyword.value
    return None


def _message(sink: str, shape: Shape) -> str:
    splice = shape.splices[0]
    value = _spelling(splice)
    where = f" by {shape.helper}()" if shape.helper else (
        f" on line {splice.node.lineno}" if hasattr(splice.node, "lineno") else "")
    built = f"{sink}() runs SQL built with {splice.how}{where} from `{value}`"
    if is_identifier_position(splice.before):
        return (f"{built} in an identifier position: a crafted value rewrites the query (SQL injection); map it"
                " through an allow-list of column/table names or quote it with sql.Identifier")
    return (f"{built}: a quote in the value rewrites the query (SQL injection); pass it as a query parameter"
            " (`%s`, `?`, `:name`) in the call's parameters instead")


def _spelling(splice: Splice) -> str:
    try:
        text = ast.unparse(splice.node)
    except Exception:  # unparse of exotic nodes must never lose the finding
        return "a value"
    return text if len(text) <= 40 else text[:37] + "..."
