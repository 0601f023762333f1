"""What bounds a query: the facts GAP201 decides from, read off the code and the SQL text, never the model's name.

A query is bounded when something in it caps the rows: a `LIMIT`/`TOP`/`FETCH FIRST`, `.limit()`, a slice, a
single-row terminal (`first()`, `one()`, `get()`, `scalar()`), a stream (`iterator()`, `yield_per`), an aggregate
with no `GROUP BY` (or one grouped by a status or a day, not by a row key)... or a filter on a key:
`WHERE id = ?`, `filter(pk=...)`, `Model.id == x`, `IN (...)` of a list the code holds. A filter on anything
else (`WHERE room_id = ?`, `filter(status="open")`) narrows the rows but does not cap them: all messages of a
room, all open orders.
"""
from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from ..orm.facts import call_name, strip_chain
from ..sql_building.flow import shape_of

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

# Columns (and Django lookups) that name one row: a primary key or a column that is unique by convention.
KEY_COLUMNS = frozenset({"id", "pk", "uuid", "guid", "email", "username", "slug", "token", "key_hash", "token_hash",
                         "object_id", "_id"})

# ---- SQL text -------------------------------------------------------------------------------------------------
# Calls that wrap SQL text without changing it: SQLAlchemy `text()`, psycopg `sql.SQL()`, Django `RawSQL`.
SQL_WRAPPERS = frozenset({"text", "SQL", "Composed", "RawSQL", "literal_column"})
SELECT_START = re.compile(r"^\s*(?:\(\s*)*(?:select|with)\b", re.IGNORECASE)
CAPPING = re.compile(r"\blimit\b|\btop\s*\(?\s*[\d?:%@$]|\bfetch\s+(?:first|next)\b|\brownum\b",
                     re.IGNORECASE)
KEY_PREDICATE = re.compile(
    r"(?<![\w.])(?:\w+\.)?[\"`\[]?(?:" + "|".join(sorted(KEY_COLUMNS - {"_id"})) + r")[\"`\]]?\s*(?:=|\bin\b)"
    r"|\bin\s*\(\s*(?!select\b)|=\s*any\s*\(",
    re.IGNORECASE)
AGGREGATE_ITEM = re.compile(r"^\s*(?:count|sum|avg|min|max|total|exists|bool_and|bool_or|every|string_agg"
                            r"|group_concat|array_agg|json_agg|jsonb_agg|coalesce\s*\(\s*(?:sum|count|max|min|avg))"
                            r"\s*\(", re.IGNORECASE)
SELECT_LIST = re.compile(r"^\s*(?:\(\s*)*select\s+(?:distinct\s+)?(?P<items>.*?)\bfrom\b", re.IGNORECASE | re.DOTALL)
# `GROUP BY status` returns one row per status; `GROUP BY j.id` / `GROUP BY user_id` one row per job / user.
GROUP_BY = re.compile(r"\bgroup\s+by\s+(?P<keys>.*?)(?=\bhaving\b|\border\s+by\b|\bwindow\b|\)|;|$)",
                      re.IGNORECASE | re.DOTALL)
GROUP_KEY = re.compile(r"^(?:\w+\.)?[\"`\[]?(?:\w+_id|" + "|".join(sorted(KEY_COLUMNS - {"_id"})) + r")[\"`\]]?$",
                       re.IGNORECASE)
# Columns whose values repeat across many rows: a filter `IN` a few of them does not cap the rows.
CATEGORY_COLUMN = re.compile(r"^(?:\w+_)?(?:status|state|type|kind|category|level|severity|priority|role|stage"
                             r"|action|action_type|event_type|source|channel|tier|plan)e?s?$", re.IGNORECASE)
PARENTHESISED = re.compile(r"\([^()]*\)")
STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


def sql_text(expr: ast.AST | None, ctx: "ModuleContext", depth: int = 0) -> str | None:
    """The constant text of the SQL `expr` builds ("?" where a value is spliced in), following locals, `+=`,
    f-strings, `%`, `.format()`, and `text()` / `sql.SQL()` wrappers; None when it cannot be seen."""
    if expr is None or depth > 4:
        return None
    if isinstance(expr, ast.Call):
        name = call_name(expr)
        if name in SQL_WRAPPERS and expr.args:
            return sql_text(expr.args[0], ctx, depth + 1)
        if name == "format" and isinstance(expr.func, ast.Attribute) and isinstance(expr.func.value, ast.Call) and \
                call_name(expr.func.value) in SQL_WRAPPERS:
            return sql_text(expr.func.value, ctx, depth + 1)
    shape = shape_of(expr, ctx)
    if shape is not None:
        return shape.text
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr)
        if value is not None and value is not expr and not isinstance(value, ast.Name):
            return sql_text(value, ctx, depth + 1)
    return None


def is_select(text: str) -> bool:
    return bool(SELECT_START.match(text)) and " from " in f" {' '.join(text.lower().split())} "


# The database's own catalog, and the migration tools' history tables (`django_migrations`, `alembic_version`): as
# many rows as the schema has tables, columns and migrations, not as the data grows.
SYSTEM_CATALOG = re.compile(
    r"\b(?:from|join)\s+[\"`\[]?(?:information_schema|pg_catalog|pg_\w+|sqlite_(?:master|schema|sequence)|"
    r"django_migrations\b|alembic_version\b|"
    r"(?:user|all|dba)_(?:tables|tab_\w+|cons\w*|ind\w*|views|sequences|objects|triggers|part\w*|col\w*)|sys\.\w+|"
    r"geometry_columns|spatial_ref_sys|mysql\.)",
    re.IGNORECASE)


# The SQL spelling of the lookup and configuration tables the ORM checks take to be small (`Site`, `Role`...).
LOOKUP_TABLE = re.compile(
    r"^\s*select\b.*?\bfrom\s+[\"`\[]?(?:\w+\.)?\w*?(?:settings?|config|configuration|preferences?|registry|plugins?"
    r"|roles?|permissions?|groups?|languages?|locales?|countr(?:y|ies)|currenc(?:y|ies)|timezones?|categor(?:y|ies)"
    r"|content_?types?|\w+_types?)[\"`\]]?(?:\s|$|;)", re.IGNORECASE | re.DOTALL)
# `FROM ?` / `FROM {}`: the table itself is a parameter - generic schema code (constraint checks, table copies),
# which cannot be judged from one statement.
SPLICED_TABLE = re.compile(r"\bfrom\s+[\"`\[]?(?:\?|\{\w*\}|%s|%\(\w+\)s)", re.IGNORECASE)


def sql_bounded(text: str) -> bool:
    """Does this SELECT cap its rows (LIMIT, TOP, FETCH FIRST, GROUP BY a column that is not a row key), return
    one aggregate row, pick rows by key (`WHERE id = ?`, `IN (...)`, `= ANY(%s)`), or read the database's own
    catalog?"""
    bare = STRING_LITERAL.sub("''", text)
    if CAPPING.search(bare) or _groups_few(bare) or KEY_PREDICATE.search(_where_clause(bare)) or \
            SYSTEM_CATALOG.search(bare) or \
            SPLICED_TABLE.search(bare) or LOOKUP_TABLE.search(bare):
        return True
    select_list = SELECT_LIST.match(bare)
    if select_list is None:
        return True  # no FROM at the top: `SELECT 1`, `SELECT now()`
    items = _top_level_items(select_list.group("items"))
    return bool(items) and all(AGGREGATE_ITEM.match(item) for item in items)


def _groups_few(text: str) -> bool:
    """A top-level GROUP BY whose keys are not row keys: one row per status or day, not one per job or user."""
    top = text
    while True:  # drop parenthesised parts (subqueries, call arguments): only the outer grouping counts
        stripped = PARENTHESISED.sub(" ", top)
        if stripped == top:
            break
        top = stripped
    groups = [match.group("keys") for match in GROUP_BY.finditer(top)]
    return bool(groups) and all(
        not any(GROUP_KEY.match(key.strip()) for key in keys.split(",")) for keys in groups)


def _where_clause(text: str) -> str:
    match = re.search(r"\bwhere\b", text, re.IGNORECASE)
    return text[match.end():] if match else ""


def _top_level_items(select_list: str) -> list[str]:
    items, depth, current = [], 0, ""
    for char in select_list:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [item for item in items if item.strip()]


def describe_sql(text: str) -> str:
    return " ".join(text.split())[:50]


# ---- Django ----------------------------------------------------------------------------------------------------
# Queryset methods after which at most a few rows, one number, or a stream is left.
DJANGO_CAPPING = frozenset({
    "get", "first", "last", "none", "in_bulk", "iterator", "aiterator", "count", "exists", "aggregate", "earliest",
    "latest", "aget", "afirst", "alast", "acount", "aexists", "aaggregate", "update", "delete", "contains",
})
# Methods that keep every row they are given (ordering, shaping, eager loading).
DJANGO_KEEPING = frozenset({
    "all", "order_by", "select_related", "prefetch_related", "annotate", "alias", "values", "values_list", "only",
    "defer", "distinct", "using", "reverse", "select_for_update", "exclude",
})


def django_lookup_on_key(call: ast.Call) -> bool:
    """`filter(pk=...)`, `filter(id__in=ids)`, `filter(slug=slug, ...)`, `filter(**conditions)`: rows picked by key
    or by a list the code holds (or conditions we cannot see: silence beats a guess)."""
    for keyword in call.keywords:
        if keyword.arg is None:
            return True
        field, _, lookup = keyword.arg.partition("__")
        if lookup == "in" or lookup.endswith("__in") or (field in KEY_COLUMNS and lookup in ("", "exact", "iexact")):
            return True
    return any(_q_on_key(arg) for arg in call.args)


def _q_on_key(arg: ast.AST) -> bool:
    """A `Q(...)` written here that picks by key, or a condition built elsewhere (`filter(conditions)`), which we
    cannot see."""
    if not isinstance(arg, (ast.Call, ast.BinOp, ast.UnaryOp)) or \
            isinstance(arg, ast.Call) and call_name(arg) != "Q":
        return True
    return any(isinstance(node, ast.Call) and call_name(node) == "Q" and django_lookup_on_key(node)
               for node in ast.walk(arg)) or not any(isinstance(node, ast.Call) and call_name(node) == "Q"
                                                     for node in ast.walk(arg))


def django_methods_unbounded(methods: tuple[tuple[str, ast.Call], ...], ctx: "ModuleContext") -> bool:
    """Every method on the chain keeps all rows, or filters on something that is not a key. Unknown (custom
    manager / queryset) methods count as bounding: `Page.objects.live().public()` may well filter and page."""
    for name, call in methods:
        if name in ("filter", "exclude"):
            if django_lookup_on_key(call):
                return False
        elif name == "raw":
            text = sql_text(call.args[0] if call.args else None, ctx)
            if text is None or not is_select(text) or sql_bounded(text):
                return False
        elif name not in DJANGO_KEEPING:
            return False
    return True


def module_function_return(call: ast.AST, ctx: "ModuleContext") -> ast.AST | None:
    """What `helper()` returns, when `helper` is a function of this module with one `return <value>`."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)) or \
            ctx.resolve_name(call.func.id, call) is not None:
        return None
    for stmt in ctx.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == call.func.id:
            returns = [node for node in ctx.own_nodes(stmt) if isinstance(node, ast.Return)]
            return returns[0].value if len(returns) == 1 else None
    return None


# ---- SQLAlchemy ------------------------------------------------------------------------------------------------
# Query / statement / result methods that cap rows, return one row or number, or stream.
SA_CAPPING = frozenset({
    "limit", "slice", "fetch", "first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "count",
    "get", "get_or_404", "first_or_404", "one_or_404", "paginate", "yield_per", "partitions", "fetchone",
    "fetchmany", "group_by", "having", "exists", "stream", "stream_scalars", "execution_options", "top",
})
SA_FILTERS = frozenset({"filter", "filter_by", "where"})


def sa_filter_on_key(call: ast.Call) -> bool:
    """`where(User.id == uid)`, `filter(User.email == e)`, `filter_by(id=...)`, `where(Todo.id.in_(ids))`."""
    for keyword in call.keywords:
        if keyword.arg is None or keyword.arg in KEY_COLUMNS:
            return True
    for arg in call.args:
        for node in ast.walk(arg):
            if isinstance(node, ast.Call) and call_name(node) == "in_" and _keyed_in(node):
                return True
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.In)) for op in node.ops):
                if any(_key_column(side) for side in (node.left, *node.comparators)):
                    return True
    return False


def _keyed_in(call: ast.Call) -> bool:
    """`Todo.id.in_(ids)` / `Tag.name.in_(names)` return at most a row or so per listed value;
    `Event.kind.in_(kinds)` or `Task.status.in_(["open", "late"])` only narrow to a few values of a category
    column that every row repeats."""
    column = call.func.value if isinstance(call.func, ast.Attribute) else None
    return not (isinstance(column, ast.Attribute) and CATEGORY_COLUMN.match(column.attr))


def _key_column(side: ast.AST) -> bool:
    """`User.id`, `models.User.email`, `users.c.id`: a key column of a model or table (not `user.id`, a value)."""
    if not (isinstance(side, ast.Attribute) and side.attr in KEY_COLUMNS):
        return False
    owner = side.value
    if isinstance(owner, ast.Attribute) and owner.attr == "c":
        return True
    return isinstance(owner, (ast.Name, ast.Attribute)) and \
        (owner.id if isinstance(owner, ast.Name) else owner.attr)[:1].isupper()


def sa_methods_unbounded(methods: list[tuple[str, ast.Call]]) -> bool:
    for name, call in methods:
        if name in SA_CAPPING or name in SA_FILTERS and sa_filter_on_key(call):
            return False
    return True


def sa_statement_unbounded(expr: ast.AST | None, ctx: "ModuleContext", depth: int = 0) -> bool | None:
    """Is the statement handed to `execute()` / `scalars()` / `exec()` a `select()` that no method bounds,
    following locals (`stmt = select(M).where(...)`, `page = stmt.limit(n)`)? None when it is not a statement we can
    see; for `text()` the SQL decides."""
    if expr is None or depth > 6:
        return None
    if isinstance(expr, ast.Call) and call_name(expr) in SQL_WRAPPERS:
        text = sql_text(expr, ctx)
        return None if text is None or not is_select(text) else not sql_bounded(text)
    root, methods, sliced, _ = strip_chain(expr)
    if sliced or not sa_methods_unbounded(methods):
        return False
    if any(name == "from_statement" for name, _ in methods):
        return None  # `select(M).from_statement(query)`: the rows are the other statement's, often raw SQL
    select = root if isinstance(root, ast.Call) and call_name(root) == "select" else \
        methods[0][1] if methods and methods[0][0] == "select" else None  # select(M) / db.select(M)
    if select is not None:
        return not (select.args and all(_aggregate_column(a) for a in select.args))  # select(func.count())
    if isinstance(root, ast.Name) and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        if value is not None and value is not root:
            return sa_statement_unbounded(value, ctx, depth + 1)
    return None


def _aggregate_column(arg: ast.AST) -> bool:
    """`func.count()`, `func.sum(Order.total)`, `func.count(User.id).label("n")`."""
    node = arg
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("label",
                                                                                                    "scalar_subquery"):
        node = node.func.value
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        isinstance(node.func.value, ast.Name) and node.func.value.id == "func" and \
        node.func.attr in ("count", "sum", "avg", "min", "max", "coalesce", "bool_and", "bool_or")


# ---- MongoDB ---------------------------------------------------------------------------------------------------
def mongo_filter_unbounded(spec: ast.AST | None, ctx: "ModuleContext", depth: int = 0) -> bool:
    """A find() filter that does not pick documents by `_id` (or another key, or `$in` of a list): `{}`,
    `{"source": s}`, `{"source": s} if s else {}`. An unknown filter (a parameter) is given the benefit of the
    doubt."""
    if spec is None:
        return True
    if isinstance(spec, ast.IfExp):
        return mongo_filter_unbounded(spec.body, ctx, depth + 1) or mongo_filter_unbounded(spec.orelse, ctx,
                                                                                           depth + 1)
    if isinstance(spec, ast.Name) and depth < 3:
        value = ctx.value_of(spec)
        return value is not None and value is not spec and mongo_filter_unbounded(value, ctx, depth + 1)
    if not isinstance(spec, ast.Dict):
        return False
    for key, value in zip(spec.keys, spec.values):
        if key is None:
            return False  # `{**base}`: cannot see
        if isinstance(key, ast.Constant) and key.value in KEY_COLUMNS:
            return False
        if isinstance(value, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "$in" for k in value.keys):
            return False
    return True
