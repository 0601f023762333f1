"""GAP201 whole-table-in-request: every row of a table or collection loaded in request or job code."""
from __future__ import annotations

import ast
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext, call_keyword, has_kwargs_splat
from ...analyzer.registry import Docs, Rule
from ..scopes import request_reachable
from ..orm.facts import (DJANGO_KEEP_ALL, MATERIALISERS, SA_RESTRICTING, QueryChain, call_name, is_cursor,
                         is_mongo_collection, is_test_or_migration, iterates_query, sa_statement_methods)

RULE = Rule(
    id="GAP201",
    name="whole-table-in-request",
    category="unbounded-query",
    severity="warning",
    precision="high",
    cwe="CWE-770",
    summary="A whole table or collection loaded into memory in request or job code",
    docs=Docs(
        what=(
            "Flags, inside a view, route, view method or background task (and functions of the same module"
            " they call), a query with no filter, slice, limit or pagination whose rows are all materialised:"
            " a Django `Model.objects.all()` / `.order_by()` / `.values()` queryset iterated, `list()`-ed or"
            " passed to a serializer with `many=True`; SQLAlchemy `session.query(M).all()`, `M.query.all()`,"
            " `session.scalars(select(M)).all()` / `session.execute(select(M))` iterated; pymongo `find()` /"
            " `find({})` materialised without `limit`, and `to_list(None)`; DB-API `fetchall()` after a"
            " constant `SELECT` with no `WHERE`/`LIMIT`; pandas `read_sql_table()`, and `read_sql()` /"
            " `read_sql_query()` of such a `SELECT`, without `chunksize`; and a Django `ListView` with no"
            " `paginate_by`."
        ),
        why=(
            "The table grows, the code does not change: the list view that rendered 50 rows at launch loads"
            " 400,000 a year later, holds them all in memory at once, serialises them, and times out. Nothing"
            " fails in review or in tests, because test databases are small."
        ),
        example=(
            "def order_list(request):\n"
            "    orders = Order.objects.all()\n"
            "    return render(request, \"orders.html\", {\"orders\": list(orders)})"
        ),
        instead=(
            "def order_list(request):\n"
            "    page = Paginator(Order.objects.order_by(\"-id\"), 50).get_page(request.GET.get(\"page\"))\n"
            "    return render(request, \"orders.html\", {\"page\": page})\n"
            "# jobs that must walk everything: Order.objects.iterator(chunk_size=2000) / yield_per(1000)"
        ),
        not_caught=(
            "Filtered queries (`filter(user=request.user)` is bounded by the filter more often than not, so it"
            " is not reported), management commands, scripts, tests and migrations (walking everything is"
            " their job), querysets handed to a paginator or a DRF view (pagination may be configured"
            " globally), querysets returned from helpers in other modules, and `iterator()` / `yield_per`"
            " streams. Models whose name marks a lookup or configuration table (`SettingsGroup`, `PluginRegistry`,"
            " `Role`, `Group`, `Category`, `Country`, `Currency`, `Language`, `...Type`, `...Status`) are taken to be"
            " small; other small tables loaded whole are reported, suppress them with a comment."
        ),
        references=(
            "https://docs.djangoproject.com/en/5.2/topics/pagination/",
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#iterator",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/api.html#fetching-large-result-sets-with-yield-per",
        ),
    ),
)

SELECT_ALL = re.compile(r"^\s*select\b", re.IGNORECASE)
BOUNDED_SQL = re.compile(r"\b(where|limit|fetch\s+first|top|offset|count\s*\(|sum\s*\(|max\s*\(|min\s*\(|avg\s*\()",
                         re.IGNORECASE)


def _in_scope(node: ast.AST, ctx: ModuleContext) -> bool:
    if ctx.memo(("orm-skip-file",), lambda: is_test_or_migration(ctx.path)):
        return False
    function = ctx.enclosing_function(node)
    while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        function = ctx.enclosing_function(function)
    return function is not None and request_reachable(function, ctx) is not None


# Models whose name says they hold a lookup or configuration table: rows written by admins or installers, a few
# dozen at most (a settings group, a plugin registry, countries, roles). Loading them whole is what they are for.
LOOKUP_MODEL = re.compile(
    r"(?:Settings?|SettingsGroup|Config|Configuration|Preferences?|Registry|Plugin|Role|Permission|Group|Language"
    r"|Locale|Country|Countries|Currency|Currencies|Timezone|Category|Categories|Type|Kind|Status|Choice|Option"
    r"|Flag|Feature|Site|Region|Unit)s?$")


def lookup_table(model: ast.AST | None) -> bool:
    name = model.id if isinstance(model, ast.Name) else model.attr if isinstance(model, ast.Attribute) else ""
    return bool(name) and name[:1].isupper() and bool(LOOKUP_MODEL.search(name))


def whole_table(chain: QueryChain) -> bool:
    """No filter, slice, limit or key lookup anywhere on the chain (or in the statement it executes), and not a
    lookup table."""
    if chain.sliced or chain.indexed or lookup_table(chain.model):
        return False
    names = set(chain.method_names)
    if chain.framework == "django":
        return names <= DJANGO_KEEP_ALL
    if names & SA_RESTRICTING:
        return False
    for name, call in chain.methods:
        if name in ("execute", "scalars", "scalar") and sa_statement_methods(call) & SA_RESTRICTING:
            return False
    return True


def _message(what: str) -> str:
    return (f"{what} loads every row into memory on each request or job run: fine with test data, a timeout"
            " once the table grows; paginate or slice it (Paginator, .limit(), [:n]), or stream with"
            " .iterator(chunk_size=...) / yield_per() in jobs")


@RULE.on(ast.For, ast.AsyncFor, ast.comprehension)
def check_iteration(node: ast.For | ast.AsyncFor | ast.comprehension, ctx: ModuleContext) -> Iterator[Finding]:
    chain = iterates_query(node.iter, ctx)
    if chain is not None and whole_table(chain) and _in_scope(node, ctx):
        yield ctx.finding(RULE, node.iter, _message(f"iterating {chain.label}"))
        return
    mongo = _unbounded_find(node.iter, ctx)
    if mongo and _in_scope(node, ctx):
        yield ctx.finding(RULE, node.iter, _message(f"iterating {mongo}"))


@RULE.on(ast.Call)
def check_call(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    what = _materialised(call, ctx) or _to_list_none(call, ctx) or _fetchall_everything(call, ctx) or \
        _pandas_read_all(call, ctx)
    if what and _in_scope(call, ctx):
        yield ctx.finding(RULE, call, _message(what))


@RULE.on(ast.ClassDef)
def check_list_view(cls: ast.ClassDef, ctx: ModuleContext) -> Iterator[Finding]:
    """`class OrderList(ListView): model = Order` with no paginate_by renders every row."""
    if ctx.memo(("orm-skip-file",), lambda: is_test_or_migration(ctx.path)):
        return
    bases = [ctx.qualified_name(b) or ctx.dotted_name(b) or "" for b in cls.bases]
    if not any(b.endswith("ListView") and ("django" in b or b == "ListView") for b in bases):
        return
    names: set[str] = set()
    model: ast.AST | None = None
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id in ("model", "queryset"):
                        model = stmt.value
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(stmt.name)
    if model is None or names & {"paginate_by", "get_paginate_by", "get_queryset", "paginator_class",
                                 "get_context_data"} or lookup_table(model):
        return
    if isinstance(model, ast.Call):
        chain = iterates_query(model, ctx)
        if chain is None or not whole_table(chain):
            return
    yield ctx.finding(
        RULE, cls,
        f"{cls.name} is a ListView without paginate_by: it renders every row of"
        f" {ast.unparse(model)} on each request and times out once the table grows; set paginate_by",
        end_node=cls.bases[0] if cls.bases else cls,
    )


def _materialised(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`list(Order.objects.all())`, `session.query(M).all()`, `OrderSerializer(qs, many=True)`, `list(c.find())`."""
    name = call_name(call)
    if call.args and isinstance(call.func, ast.Name) and f"builtins.{name}" in MATERIALISERS and \
            ctx.qualified_name(call.func) in MATERIALISERS:
        chain = iterates_query(call.args[0], ctx)
        if chain is not None and whole_table(chain):
            return f"{name}({chain.label}...)"
        mongo = _unbounded_find(call.args[0], ctx)
        if mongo:
            return f"{name}({mongo})"
    if name == "all" and isinstance(call.func, ast.Attribute):
        chain = iterates_query(call, ctx)
        if chain is not None and chain.framework == "sqlalchemy" and whole_table(chain):
            return f"{chain.label}...all()"
    if name.endswith("Serializer") and call.args:
        many = call_keyword(call, "many")
        if many is not None and isinstance(many.value, ast.Constant) and many.value.value is True:
            chain = iterates_query(call.args[0], ctx)
            if chain is not None and whole_table(chain):
                return f"{name}({chain.label}..., many=True)"
    return None


def _unbounded_find(expr: ast.AST, ctx: ModuleContext) -> str | None:
    """`coll.find()` / `coll.find({})` with no limit on the cursor and no `limit=`."""
    node = expr
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "sort", "skip", "batch_size", "max_time_ms", "hint", "collation", "projection"):
        node = node.func.value
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "find"):
        return None
    if call_keyword(node, "limit") or has_kwargs_splat(node) or not is_mongo_collection(node.func.value, ctx):
        return None
    spec = node.args[0] if node.args else (call_keyword(node, "filter").value if call_keyword(node, "filter")
                                           else None)
    if spec is not None and not (isinstance(spec, ast.Dict) and not spec.keys):
        return None
    return f"{ctx.dotted_name(node.func) or 'find'}()"


def _to_list_none(call: ast.Call, ctx: ModuleContext) -> str | None:
    """Motor `cursor.to_list(None)` / `to_list(length=None)` over an unfiltered find()."""
    if call_name(call) != "to_list" or not isinstance(call.func, ast.Attribute):
        return None
    length = call.args[0] if call.args else (call_keyword(call, "length").value if call_keyword(call, "length")
                                             else None)
    if not (isinstance(length, ast.Constant) and length.value is None):
        return None
    found = _unbounded_find(call.func.value, ctx)
    return f"{found}.to_list(None)" if found else None


PANDAS_READERS = frozenset({"pandas.read_sql", "pandas.read_sql_query", "pandas.read_sql_table",
                            "polars.read_database", "modin.pandas.read_sql"})


def _pandas_read_all(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`pd.read_sql_table("orders", engine)`, `pd.read_sql("SELECT * FROM orders", con)` without `chunksize`:
    the whole table becomes one DataFrame."""
    if call_name(call) not in ("read_sql", "read_sql_query", "read_sql_table", "read_database") and \
            not isinstance(call.func, ast.Name):  # a bare name may be an alias (`read_sql_table as load`)
        return None
    qualified = ctx.qualified_name(call.func)
    if qualified not in PANDAS_READERS or call_keyword(call, "chunksize") or call_keyword(call, "iter_batches") \
            or has_kwargs_splat(call):
        return None
    spelled = ctx.dotted_name(call.func) or call_name(call)
    if qualified.endswith("read_sql_table"):
        return f"{spelled}()"
    sql = call.args[0] if call.args else (call_keyword(call, "sql") or call_keyword(call, "query"))
    if isinstance(sql, ast.keyword):
        sql = sql.value
    if isinstance(sql, ast.Name):
        sql = ctx.value_of(sql) or sql
    if isinstance(sql, ast.Constant) and isinstance(sql.value, str) and SELECT_ALL.search(sql.value) and \
            not BOUNDED_SQL.search(sql.value):
        return f"{spelled}(\"{' '.join(sql.value.split())[:40]}\")"
    return None


def _fetchall_everything(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`cursor.fetchall()` after `cursor.execute("SELECT ... FROM t")` with no WHERE/LIMIT in the same function."""
    if call_name(call) != "fetchall" or not isinstance(call.func, ast.Attribute):
        return None
    receiver = ctx.dotted_name(call.func.value)
    if receiver is None or not is_cursor(call.func.value, ctx):
        return None
    function = ctx.enclosing_function(call)
    if function is None:
        return None
    last_sql: str | None = None
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and call_name(node) == "execute" and node.args and \
                ctx.dotted_name(node.func.value) == receiver and node.lineno <= call.lineno:  # type: ignore[attr-defined]
            sql = node.args[0]
            if isinstance(sql, ast.Name):
                sql = ctx.value_of(sql) or sql
            last_sql = sql.value if isinstance(sql, ast.Constant) and isinstance(sql.value, str) else ""
    if last_sql and SELECT_ALL.search(last_sql) and not BOUNDED_SQL.search(last_sql):
        return f"{receiver}.fetchall() after \"{' '.join(last_sql.split())[:40]}\""
    return None
