"""SQL-building facts: execution sinks, values that are safe to splice, and what SQL text looks like.

One table per fact; the dataflow in `flow.py` and the rules read them.
"""
from __future__ import annotations

import re

# Methods that execute SQL text passed as their first argument (or `sql=`/`query=`/`operation=`/`statement=`):
# DB-API cursors and connections (sqlite3, psycopg2, psycopg 3, pymysql, mysqlclient, aiosqlite), SQLAlchemy
# connections/sessions/engines, Django `Manager.raw`, asyncpg, `databases`. Matched by name because the receiver is
# nearly always a parameter or attribute whose type `ast` cannot see; the SQL-text test keeps the name honest.
SQL_METHODS = frozenset({
    "execute", "executemany", "executescript", "exec_driver_sql", "raw", "mogrify",
    "fetch", "fetchrow", "fetchval", "fetch_all", "fetch_one", "fetch_val", "iterate",
})
SQL_ARG_KEYWORDS = ("sql", "query", "operation", "statement", "raw_query", "stmt")

# Functions (by qualified name) whose first argument is SQL text by definition.
SQL_FUNCTIONS = frozenset({
    "sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text",
    "django.db.models.RawSQL", "django.db.models.expressions.RawSQL",
    "pandas.read_sql", "pandas.read_sql_query", "pandas.io.sql.read_sql", "pandas.io.sql.read_sql_query",
})
# Django QuerySet.extra(): SQL fragments in these keyword arguments (lists of strings or dicts of strings).
EXTRA_KEYWORDS = ("where", "select", "tables", "order_by")

# Calls whose result is safe to splice into SQL text: numbers, and identifier quoting.
NUMERIC_CALLS = frozenset({"builtins.int", "builtins.float", "builtins.len", "builtins.bool", "builtins.abs",
                           "builtins.round", "builtins.hash", "random.randint", "uuid.uuid4", "time.time",
                           "time.time_ns", "time.monotonic", "time.perf_counter"})
# Attribute segments that hold schema metadata the developer wrote (Django `Model._meta.db_table`,
# `connection.features.*`) or facts of the database driver (`engine.dialect.*`, `self.database_engine.row_id_name`),
# never request data.
TRUSTED_ATTRIBUTE_SEGMENTS = frozenset({"_meta", "features", "__tablename__", "__table__", "dialect",
                                        "database_engine"})
# Keywords whose SQL text is a DDL default baked into the schema by the developer, never executed per request.
DDL_DEFAULT_KEYWORDS = frozenset({"server_default", "server_onupdate"})
QUOTING_WORDS = ("quote", "escape_identifier", "escape_string", "identifier", "literal")
# Escapes for other languages: they leave a SQL quote as it is (or are not meant for SQL at all).
FOREIGN_ESCAPES = frozenset({
    "re.escape", "html.escape", "markupsafe.escape", "markupsafe.Markup.escape", "xml.sax.saxutils.escape",
    "cgi.escape", "jinja2.escape", "django.utils.html.escape", "flask.escape", "glob.escape",
})
# SQLAlchemy constructs that render a name quoted (doubling any quote inside) when turned into text:
# `str(sa.column(name))`, `"... FROM {}".format(sa.table(name))`.
QUOTING_CONSTRUCTS = frozenset({
    "sqlalchemy.column", "sqlalchemy.table", "sqlalchemy.sql.column", "sqlalchemy.sql.table",
    "sqlalchemy.sql.expression.column", "sqlalchemy.sql.expression.table",
})
# Schema metadata the application declared or the database catalog holds: tables and columns walked from
# SQLAlchemy `MetaData` (`Base.metadata.sorted_tables`, `table.primary_key`) or read with an `Inspector`.
SCHEMA_SEGMENTS = frozenset({"metadata", "sorted_tables"})
CATALOG_NAME_METHODS = frozenset({
    "table_names", "view_names", "get_table_names", "get_view_names", "get_schema_names", "get_sequence_names",
    "get_materialized_view_names",
    "get_temp_table_names", "get_sorted_table_and_fkc_names",
})
# A constant query that reads the database's catalog: the names in its rows are the schema's own.
CATALOG_QUERY = re.compile(
    r"(?i)\bfrom\s+(?:sqlite_master|sqlite_schema|sqlite_temp_master|information_schema\.\w+|pg_catalog\.\w+|"
    r"pg_(?:tables|class|indexes|namespace|views|sequences|constraint|attribute)|pragma_table_info)\b")
INSPECTOR_METHODS = CATALOG_NAME_METHODS | {
    "get_columns", "get_indexes", "get_foreign_keys", "get_pk_constraint", "get_unique_constraints",
    "get_check_constraints",
}
INSPECTOR_CONSTRUCTORS = frozenset({"sqlalchemy.inspect", "sqlalchemy.engine.reflection.Inspector.from_engine"})

# printf conversions and str.format specs that force a number: `%d`, `{:d}`, `{:.2f}`.
PRINTF_CONVERSION = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?P<conv>[a-zA-Z%])")
NUMERIC_CONVERSIONS = frozenset("diouxXeEfFgGc")
NUMERIC_FORMAT_SPEC = re.compile(r"[-+ #0-9,_.]*[bcdeEfFgGnoxX%]$")

# SQL text: a statement keyword pair, so that "execute" on a task runner or a log line never counts.
SQL_TEXT = re.compile(
    r"\b(?:select\b[\s\S]*\bfrom|insert\s+(?:or\s+\w+\s+)?into|update\b[\s\S]*\bset|delete\s+from|"
    r"create\s+(?:unique\s+)?(?:table|index|view|schema|database|sequence|trigger|function)|"
    r"alter\s+(?:table|index|sequence|schema)|drop\s+(?:table|index|view|schema|database|sequence)|"
    r"truncate\s+(?:table\s+)?\w|pragma\s+\w|\bwhere\b|values\s*\(|grant\s+\w|vacuum\b|analyze\s+\w)",
    re.IGNORECASE,
)
# Text right before a spliced value that makes it an identifier (table, column, sort key) rather than a value.
IDENTIFIER_CONTEXT = re.compile(
    r"(?:\bfrom|\bjoin|\binto|\bupdate|\btable|\bindex|\border\s+by|\bgroup\s+by|\bselect|\bdistinct|\bon|"
    r"\bview|\bschema|\bdatabase|\bexists|\brename\s+to|[.,(]|\basc|\bdesc|\bconstraint|\bconcurrently|"
    r"\bsequence|\btrigger|\bcolumn)\s*[\"`\[]?$",
    re.IGNORECASE,
)


def looks_like_sql(text: str) -> bool:
    return bool(SQL_TEXT.search(text))


def is_identifier_position(before: str) -> bool:
    """The spliced value stands where an identifier goes (`ORDER BY {col}`, `FROM {table}`), not inside quotes."""
    tail = before[-60:]
    if tail.count("'") % 2 == 1:  # inside a quoted literal: a value
        return False
    return bool(IDENTIFIER_CONTEXT.search(tail))


# Text right before a spliced value that makes it a literal value (a comparison's operand, a LIMIT), not a name or
# a clause: `email = {email}`, `LIKE {term}`, `LIMIT {n}`.
VALUE_CONTEXT = re.compile(r"(?:[=<>]|\blike|\bilike|\blimit|\boffset|\bbetween|\bis|\binterval)\s*$", re.IGNORECASE)


def is_value_position(before: str) -> bool:
    """The spliced value stands where a literal value goes: inside quotes or right after a comparison, so only a
    bind parameter belongs there."""
    tail = before[-60:]
    return tail.count("'") % 2 == 1 or bool(VALUE_CONTEXT.search(tail))


# Statements that take no bind parameters, whose spliced value is a setting: `SET statement_timeout TO {ms}`,
# `SET LOCAL lock_timeout = ...`, `PRAGMA busy_timeout = {n}`, `PRAGMA key = ...`. The value goes after the
# `=`/`TO`; a name spliced before it (`SET {name} = ...`) is not a setting's value.
SETTING_STATEMENT = re.compile(
    r"^\s*(?:SET\s+(?:LOCAL\s+|SESSION\s+)?[\w.]+\s*(?:=|\bTO\b)|PRAGMA\s+[\w.]+\s*=)", re.IGNORECASE)
# Spellings of a value that came with the request or from the user (`request.args["t"]`, `req.json`, `input()`).
REQUEST_WORDS = re.compile(
    r"\b(?:request|req|flask\.request)\b|\.(?:args|form|json|query_params|GET|POST|cookies|headers)\b|"
    r"\binput\s*\(|\bsys\.argv\b")


def setting_prefix(text: str) -> int | None:
    """Length of the `SET name =` / `PRAGMA name =` head of a settings statement, None for other SQL."""
    match = SETTING_STATEMENT.match(text)
    return match.end() if match else None
