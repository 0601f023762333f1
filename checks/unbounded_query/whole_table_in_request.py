"""GAP201 whole-table-in-request: every row of a table or collection loaded into memory at once, with nothing
that caps the rows, in application code (views, jobs, exports and the helpers they call)."""
from __future__ import annotations

import ast
import re
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext, call_keyword, has_kwargs_splat
from ...analyzer.registry import Docs, Rule
from ..orm.facts import (BATCH_PATH, CHAIN_DEPTH, CLI_PATH, DJANGO_MANAGERS, MATERIALISERS,
                         RELATED_QUERYSET_METHODS, call_name, is_mongo_collection, is_redis, is_sa_session, is_test_or_migration,
                         looks_like_model, self_method_return, strip_chain, unparse)
from ..scopes import request_reachable
from .bounds import (describe_sql, django_methods_unbounded, is_select, module_function_return,
                     mongo_filter_unbounded, sa_methods_unbounded, sa_statement_unbounded, sql_bounded, sql_text)

RULE = Rule(
    id="GAP201",
    name="whole-table-in-request",
    category="unbounded-query",
    severity="warning",
    # Medium: boundedness is decided from the code (LIMIT, slicing, first/get, paginate, a filter on a unique key),
    # and from a model's name only for a short list of lookup tables, as generated code needs; so on mature projects a read of a table that stays small
    # by nature (a CMS's sites, one user's addresses, one workflow's states) is reported like a growing one. On a
    # fresh sample of wagtail, postorius and graphite-web about two thirds of the findings were such tables.
    precision="medium",
    cwe="CWE-770",
    summary="Every row of a table or collection loaded into memory at once, with nothing capping the rows",
    docs=Docs(
        what=(
            "Flags, in application code (views, jobs, exports and the helpers they call), a query whose rows are"
            " all materialised while nothing caps them: `fetchall()` / asyncpg `fetch()` after a `SELECT`;"
            " SQLAlchemy, SQLModel and Flask-SQLAlchemy `.all()` or iteration of `session.query(M)`, `M.query`,"
            " `session.execute/scalars/exec(select(M))`; Django querysets and `raw(sql)` iterated, listed,"
            " rendered or serialised with `many=True`; Mongo `find()` materialised or `to_list(None)`; Redis"
            " `KEYS`; pandas `read_sql*` without `chunksize`; a `ListView` without `paginate_by`. Caps are read"
            " from the code: `LIMIT` / `TOP` / `FETCH FIRST` / `GROUP BY` on a non-key column (`GROUP BY j.id`"
            " or `user_id` returns one row per job or user: not capped) / aggregate-only SQL (through locals,"
            " `+=`, f-strings, `text()`, `sql.SQL()`), `.limit()`, `[:n]`, single-row terminals, `paginate()`,"
            " `fetchmany()`, `iterator()`, `yield_per`, and filters on a key (`id`, `pk`, `email`, `slug`, SQL `IN`"
            " lists, `in_()` on any column but a category such as a status or a type). Any other filter"
            " (`WHERE room_id = ?`, a status, a date range, `Event.kind.in_(kinds)`) narrows without capping, and"
            " so does a key filter added under an `if` (`if tenant_id: q = q.filter(Tenant.id == tenant_id)`): the"
            " other path reads every row."
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
            "Tests (also Django-style `tests.py` / `testing.py`), migrations, RunPython steps (`def f(apps,"
            " schema_editor)`), management commands, command-line packages (`cli/`, `cli.py`) and"
            " scripts directories, Alembic revision scripts wherever they live (known by their `revision` /"
            " `down_revision` identifiers; walking everything is their job); querysets handed to a paginator or a DRF"
            " view (pagination may be configured globally) or returned lazily to a caller; `iterator()` /"
            " `yield_per` / `fetchmany()` streams and iteration over a cursor; generic code over `self.model`"
            " or a table name that is a parameter (`FROM {}`) and queries of the database catalog or of a"
            " migration history table (`django_migrations`, `alembic_version`). One object's"
            " relation (`order.lines.all()`) is reported only when a view renders or serialises it as its"
            " listing, and filtered queries inside methods of models, forms and other classes (they filter by"
            " the object they belong to) are not reported. Models whose name marks a lookup or configuration"
            " table (`Locale`, `Group`, `Permission`, `ContentType`, `PluginRegistry`, `SettingsGroup`,"
            " `Category`, `Country`, `Currency`, `Language`, `ProductType`, and `Site` when it is"
            " django.contrib.sites') are taken to be small, as mature Django, Wagtail, Oscar and FlaskBB code"
            " treats them; an app's own `Site` or `sites` table (the websites it monitors) and other small tables"
            " (a file's tags) are reported,"
            " suppress them with a comment. SQL whose text cannot be seen (a parameter, a call's result, the"
            " statement behind `select(M).from_statement(query)`) is not judged."
            " Precision is medium: a table that stays small by nature (a CMS's sites, one user's addresses) is reported like one that grows: beyond the short list of lookup-table names above, boundedness is read from the code."
        ),
        references=(
            "https://docs.djangoproject.com/en/5.2/topics/pagination/",
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#iterator",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/api.html#fetching-large-result-sets-with-yield-per",
        ),
    ),
)


def _skipped_file(ctx: ModuleContext) -> bool:
    """Tests, migrations (also Alembic revision scripts), management commands, command-line packages and scripts:
    walking everything is their job."""
    path = ctx.path.replace("\\", "/")
    return bool(BATCH_PATH.search(path) or CLI_PATH.search(path)) or is_test_or_migration(ctx)


def _in_scope(node: ast.AST, ctx: ModuleContext) -> bool:
    if ctx.memo(("gap201-skip-file",), lambda: _skipped_file(ctx)):
        return False
    function = ctx.enclosing_function(node)
    return function is not None and not _data_migration(function)


def _data_migration(function: ast.AST) -> bool:
    """`def forwards(apps, schema_editor):` - a RunPython step, wherever it lives: a migration walks every row."""
    args = [a.arg for a in function.args.args]  # type: ignore[attr-defined]
    return args[:2] == ["apps", "schema_editor"]


def _in_request_code(node: ast.AST, ctx: ModuleContext) -> bool:
    function = ctx.enclosing_function(node)
    while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        function = ctx.enclosing_function(function)
    return request_reachable(function, ctx) is not None


def _message(what: str) -> str:
    return (f"{what} loads every matching row into memory at once and nothing caps them: fine with test data, a"
            " timeout or an out-of-memory kill once the table grows; add a LIMIT / .limit() / [:n] or paginate, or"
            " stream with .iterator(chunk_size=...) / yield_per() / fetchmany() in jobs and exports")


# ---- what yields every row -------------------------------------------------------------------------------------
def _django_rows(expr: ast.AST, ctx: ModuleContext, depth: int = CHAIN_DEPTH) -> tuple[str, bool, bool] | None:
    """(label, through a related manager, filtered) when `expr` is a Django queryset that nothing bounds: no slice, no key
    filter, no single-row terminal, no stream; followed through locals, `self.method()` and module helpers."""
    root, methods, sliced, indexed = strip_chain(expr)
    if sliced or indexed or depth < 0:
        return None
    if isinstance(root, ast.Attribute) and root.attr in DJANGO_MANAGERS and looks_like_model(root.value):
        if not _model_class(root.value) or not methods or not django_methods_unbounded(tuple(methods), ctx) or \
                lookup_table(root.value, ctx):
            return None
        return ctx.dotted_name(root) or unparse(root), False, _filters(methods)
    if _related_manager(root, methods, ctx):
        if django_methods_unbounded(tuple(methods), ctx):
            owner = root.value  # type: ignore[attr-defined]
            spelled = owner.id if isinstance(owner, ast.Name) else unparse(owner, 30)
            return f"{spelled}.{root.attr}", True, _filters(methods)  # type: ignore[attr-defined]
        return None
    inner_expr: ast.AST | None = None
    rest = methods
    if isinstance(root, ast.Name) and root.id == "self" and methods:
        inner_expr, rest = self_method_return(methods[0][1], ctx), methods[1:]
    elif isinstance(root, ast.Call):
        inner_expr = module_function_return(root, ctx)
    elif isinstance(root, ast.Name) and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        inner_expr = value if value is not None and not isinstance(value, ast.Name) else None
    if inner_expr is None:
        return None
    inner = _django_rows(inner_expr, ctx, depth - 1)
    if inner is not None and (not rest or django_methods_unbounded(tuple(rest), ctx)):
        return inner[0], inner[1], inner[2] or _filters(rest)
    return None


FILTERS = frozenset({"filter", "exclude", "raw", "filter_by", "where"})


def _filters(methods: list[tuple[str, ast.Call]]) -> bool:
    return any(name in FILTERS for name, _ in methods)


def _statement_filters(expr: ast.AST, ctx: ModuleContext, depth: int = 4) -> bool:
    """The `select()` handed to execute() has a `where()` / `filter()`, here or where its local was built."""
    root, methods, _, _ = strip_chain(expr)
    if _filters(methods) or isinstance(root, ast.Call) and call_name(root) in ("text", "SQL"):
        return True
    if isinstance(root, ast.Name) and depth > 0 and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        return value is not None and not isinstance(value, ast.Name) and _statement_filters(value, ctx, depth - 1)
    return False


def _filter_allowed(node: ast.AST, ctx: ModuleContext) -> bool:
    """A filtered query is judged in views, routes, jobs and module-level helpers (`db.py`, `services.py`). Methods of
    models, forms and other classes filter by the object they belong to (a workflow's states, a form's choices)."""
    function = ctx.enclosing_function(node)
    while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        function = ctx.enclosing_function(function)
    if function is None:
        return False
    return isinstance(ctx.parent(function), ast.Module) or request_reachable(function, ctx) is not None or \
        _storage_method(function, ctx)


def _storage_method(function: ast.AST, ctx: ModuleContext) -> bool:
    """A method of a class that holds the connection itself (`self.conn`, `self.pool`, `self.session`): a data
    access object, whose listing methods are what the routes call."""
    cls = ctx.parent(function)
    if not isinstance(cls, ast.ClassDef):
        return False
    for node in ast.walk(cls):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" and \
                isinstance(node.ctx, ast.Store) and node.attr.lstrip("_") in ("conn", "connection", "pool", "db",
                                                                              "session", "engine", "client"):
            return True
    return False


def _model_class(expr: ast.AST) -> bool:
    """`Order`, `models.Order`: a model class named in the code. `self.model` / `model` belong to generic code
    (admin, generic views, the ORM itself) that works for any model, whatever its size."""
    name = expr.id if isinstance(expr, ast.Name) else expr.attr if isinstance(expr, ast.Attribute) else ""
    return name[:1].isupper()


# Models whose name says they hold a lookup or configuration table, written by admins or installers: sites,
# locales, groups and permissions, plugin registries, settings (mature Django, Wagtail, Oscar and FlaskBB code loads
# these whole to build menus and choices). Only a load of the whole table is excused: any filter is judged as usual.
LOOKUP_MODEL = re.compile(
    r"(?:Settings?|SettingsGroup|Config|Configuration|Preferences?|Registry|Plugin|Role|Permission|Group|Language"
    r"|Locale|Country|Countries|Currency|Currencies|Timezone|Category|Categories|Site|ContentType|\w+Type)s?$")


FRAMEWORK_SITES = ("django.contrib.sites.", "wagtail.models.", "wagtail.core.models.")


def lookup_table(model: ast.AST | None, ctx: ModuleContext | None = None) -> bool:
    name = model.id if isinstance(model, ast.Name) else model.attr if isinstance(model, ast.Attribute) else ""
    if isinstance(model, ast.Attribute) and isinstance(model.value, ast.Name):
        owner = model.value.id  # `select(Group.id, Group.name)`: columns of the model; `cls.id` in its classmethod
        if owner in ("cls", "self") and ctx is not None:
            owner = next((a.name for a in ctx.ancestors(model) if isinstance(a, ast.ClassDef)), "")
        if owner[:1].isupper():
            name = owner
    if name == "Site" and ctx is not None and model is not None:
        # django.contrib.sites' or Wagtail's table (one row per deployed site); an app's own `Site` (monitored
        # websites, a customer's shops) is its data and is judged like any table
        qualified = ctx.qualified_name(model) or (f"{ctx.module_name}.{name}" if name in ctx.module_names else "")
        return qualified.startswith(FRAMEWORK_SITES)  # also inside the module that defines Wagtail's `Site`
    return bool(name) and name[:1].isupper() and bool(LOOKUP_MODEL.search(name))


def _sa_model(call: ast.Call) -> ast.AST | None:
    """The model of `query(M)` / `execute(select(M)...)`."""
    node = call.args[0] if call.args else None
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and call_name(node) != "select":
        node = node.func.value  # `select(M).order_by(...)`; also `db.select(M)` / `sa.select(M)`
    if isinstance(node, ast.Call) and call_name(node) == "select" and node.args:
        return node.args[0]
    return node


def _related_manager(root: ast.AST, methods: list[tuple[str, ast.Call]], ctx: ModuleContext) -> bool:
    """`tag.posts.filter(...)`, `self.room.messages.all()`: the rows of one object's relation."""
    if not (methods and methods[0][0] in RELATED_QUERYSET_METHODS and isinstance(root, ast.Attribute)):
        return False
    owner = root.value
    if not isinstance(owner, (ast.Name, ast.Attribute)) or root.attr in DJANGO_MANAGERS or \
            root.attr.startswith("_") or not root.attr[:1].islower():
        return False
    if isinstance(owner, ast.Name) and (owner.id[:1].isupper() or owner.id in ("self", "cls") or
                                        ctx.resolve_name(owner.id, owner) is not None):
        return False  # a custom manager on a model class, the object itself, or a module attribute
    return True


SA_STARTS = frozenset({"query", "execute", "scalars", "exec"})
SA_MATERIALISING = frozenset({"all", "fetchall"})


def _sa_rows(expr: ast.AST, ctx: ModuleContext, depth: int = CHAIN_DEPTH) -> tuple[str, str, bool] | None:
    """(label, last method, filtered) when `expr` is a SQLAlchemy / SQLModel / Flask-SQLAlchemy query or result whose
    statement nothing bounds: `session.query(M).order_by(...)`, `M.query.filter_by(owner=x)`,
    `session.execute(select(M).where(M.room == r))`, `session.exec(select(M))`."""
    root, methods, sliced, indexed = strip_chain(expr)
    if sliced or indexed or depth < 0:
        return None
    if isinstance(root, ast.Attribute) and root.attr == "query" and looks_like_model(root.value) and \
            isinstance(root.value, (ast.Name, ast.Attribute)) and methods:
        if sa_methods_unbounded(methods) and not lookup_table(root.value, ctx):
            return ctx.dotted_name(root) or "Model.query", methods[-1][0], _filters(methods)
        return None
    if methods and methods[0][0] in SA_STARTS and isinstance(root, (ast.Name, ast.Attribute)) and \
            is_sa_session(root, ctx):
        name, first = methods[0]
        if not first.args or not sa_methods_unbounded(methods[1:]):
            return None
        if lookup_table(_sa_model(first), ctx):
            return None
        if name == "query":
            label = f"{ctx.dotted_name(root)}.query({unparse(first.args[0], 30)})"
        elif sa_statement_unbounded(first.args[0], ctx):
            label = f"{ctx.dotted_name(root)}.{name}({unparse(first.args[0], 30)})"
        else:
            return None
        return label, methods[-1][0], _filters(methods) or _statement_filters(first.args[0], ctx)
    if isinstance(root, ast.Name) and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        if value is None or isinstance(value, ast.Name):
            return None
        value = _unconditional_value(root, value, ctx)
        if isinstance(value, ast.Attribute) and value.attr == "query" and looks_like_model(value.value) and \
                isinstance(value.value, (ast.Name, ast.Attribute)) and methods:
            # `q = Incident.query` then `q.order_by(...).all()`: the chain starts at the model's query
            if sa_methods_unbounded(methods) and not lookup_table(value.value, ctx):
                return ctx.dotted_name(value) or "Model.query", methods[-1][0], _filters(methods)
            return None
        inner = _sa_rows(value, ctx, depth - 1)
        if inner is not None and inner[1] not in SA_MATERIALISING and sa_methods_unbounded(methods):
            return inner[0], methods[-1][0] if methods else inner[1], inner[2] or _filters(methods)
    return None


def _unconditional_value(use: ast.Name, value: ast.AST, ctx: ModuleContext) -> ast.AST:
    """`q = q.filter(M.id == x)` under an `if` the use is not in only narrows on that path: when the test is
    false, `q` is the statement before it. Returns that earlier statement (the path with fewer filters), or
    `value` itself when the binding is unconditional or not a refinement of the same name."""
    root = strip_chain(value)[0]
    if not (isinstance(root, ast.Name) and root.id == use.id):
        return value
    binding = ctx.parent(value)
    if not isinstance(binding, ast.Assign):
        return value
    use_ancestors = {id(a) for a in ctx.ancestors(use)}
    for ancestor in ctx.ancestors(binding):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module)):
            return value
        if isinstance(ancestor, ast.If) and id(ancestor) not in use_ancestors:
            inside = {id(a) for a in ctx.ancestors(binding)}
            other = ancestor.orelse if any(id(s) in inside or s is binding for s in ancestor.body) \
                else ancestor.body
            if any(isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and use.id in {
                    t.id for t in ast.walk(n) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
                   for s in other for n in ast.walk(s)):
                return value  # both branches rebind it: no path keeps the earlier statement
            earlier = ctx.value_of(root)
            return earlier if earlier is not None and not isinstance(earlier, ast.Name) else value
    return value


CURSOR_MODIFIERS = frozenset({"sort", "skip", "batch_size", "max_time_ms", "hint", "collation", "projection",
                              "allow_disk_use", "comment"})


def _mongo_find(expr: ast.AST, ctx: ModuleContext, depth: int = 3) -> str | None:
    """`coll.find()`, `coll.find({"source": s}).sort(...)`: a cursor over documents no key picks, no limit."""
    node = expr
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CURSOR_MODIFIERS:
        node = node.func.value
    if isinstance(node, ast.Name) and depth > 0 and ctx.resolve_name(node.id, node) is None:
        value = ctx.value_of(node)
        return _mongo_find(value, ctx, depth - 1) if value is not None and not isinstance(value, ast.Name) else None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "find"):
        return None
    if call_keyword(node, "limit") or has_kwargs_splat(node) or not is_mongo_collection(node.func.value, ctx):
        return None
    keyword = call_keyword(node, "filter")
    spec = node.args[0] if node.args else keyword.value if keyword else None
    if not mongo_filter_unbounded(spec, ctx):
        return None
    return f"{ctx.dotted_name(node.func) or 'find'}()"


def _rows(expr: ast.AST, ctx: ModuleContext, node: ast.AST, listing: bool = False) -> str | None:
    """How to name `expr` when iterating or materialising it reads every row of an unbounded query. One object's
    relation (`order.lines.all()`) counts only when a view renders or serialises it as its listing (`listing`):
    code that walks an order's lines to do work is bounded by what one order holds."""
    django = _django_rows(expr, ctx)
    if django is not None:
        label, related, filtered = django
        if related and not (listing and _in_request_code(node, ctx)) or filtered and not _filter_allowed(node, ctx):
            return None
        return label
    sa = _sa_rows(expr, ctx)
    if sa is not None and sa[1] not in SA_MATERIALISING:  # `.all()` / `.fetchall()` report themselves
        return sa[0] if not sa[2] or _filter_allowed(node, ctx) else None
    return _mongo_find(expr, ctx)


def _executed_select(expr: ast.AST, ctx: ModuleContext) -> str | None:
    """`conn.execute("SELECT ... FROM t")` iterated into a list: every row, like fetchall()."""
    if isinstance(expr, ast.Call) and call_name(expr) == "execute" and isinstance(expr.func, ast.Attribute) and \
            expr.args:
        text = _unbounded_select(expr.args[0], ctx)
        if text is not None:
            return f"{ctx.dotted_name(expr.func) or 'execute'}(\"{describe_sql(text)}\")"
    return None


def _unbounded_select(sql: ast.AST | None, ctx: ModuleContext) -> str | None:
    text = sql_text(sql, ctx)
    return text if text is not None and is_select(text) and not sql_bounded(text) else None


# ---- where the rows are materialised ---------------------------------------------------------------------------
@RULE.on(ast.For, ast.AsyncFor, ast.comprehension)
def check_iteration(node: ast.For | ast.AsyncFor | ast.comprehension, ctx: ModuleContext) -> Iterator[Finding]:
    if not _in_scope(node, ctx):
        return
    if isinstance(node, ast.comprehension):
        parent = ctx.parent(node)
        if isinstance(parent, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)) and \
                parent.generators[0] is not node:
            return  # an inner generator runs once per outer item: the outer one decides
    what = _rows(node.iter, ctx, node)
    if what is None and isinstance(node, ast.comprehension) and \
            not isinstance(ctx.parent(node), ast.GeneratorExp):
        what = _executed_select(node.iter, ctx)
    if what is not None:
        yield ctx.finding(RULE, node.iter, _message(f"iterating {what}"))


@RULE.on(ast.Call)
def check_call(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    name = call_name(call)
    if name not in CALL_NAMES and not (isinstance(call.func, ast.Name) and call.args) and \
            not name.endswith("Serializer"):
        return  # most calls: decided by their name alone
    if not _in_scope(call, ctx):
        return
    what = _materialised(call, ctx) or _fetched(call, ctx) or _to_list_none(call, ctx) or \
        _pandas_read_all(call, ctx) or _rendered(call, ctx) or _redis_keys(call, ctx)
    if what:
        yield ctx.finding(RULE, call, _message(what) if not what.startswith("KEYS") else _keys_message(what))


CALL_NAMES = frozenset({"all", "fetchall", "fetch", "fetch_all", "to_list", "read_sql", "read_sql_query",
                        "read_sql_table", "read_database", "render", "render_to_string", "TemplateResponse",
                        "keys", "lrange", "serialize"})
DJANGO_SERIALIZE = frozenset({"django.core.serializers.serialize"})


def _materialised(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`list(Order.objects.all())`, `session.query(M).all()`, `OrderSerializer(qs, many=True)`, `list(c.find())`."""
    name = call_name(call)
    if call.args and isinstance(call.func, ast.Name) and f"builtins.{name}" in MATERIALISERS and \
            ctx.qualified_name(call.func) in MATERIALISERS:
        rows = _rows(call.args[0], ctx, call) or _executed_select(call.args[0], ctx)
        return f"{name}({rows})" if rows else None
    if name in SA_MATERIALISING and isinstance(call.func, ast.Attribute):
        sa = _sa_rows(call, ctx)
        return f"{sa[0]}...{name}()" if sa and (not sa[2] or _filter_allowed(call, ctx)) else None
    if name == "serialize" and len(call.args) > 1 and ctx.qualified_name(call.func) in DJANGO_SERIALIZE:
        rows = _rows(call.args[1], ctx, call, listing=True)
        return f"serializers.serialize({rows}...)" if rows else None
    if name.endswith("Serializer") and call.args:
        many = call_keyword(call, "many")
        if many is not None and isinstance(many.value, ast.Constant) and many.value.value is True:
            rows = _rows(call.args[0], ctx, call, listing=True)
            return f"{name}({rows}..., many=True)" if rows else None
    return None


def _fetched(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`cur.fetchall()` after an unbounded SELECT on that cursor, `conn.execute("SELECT ...").fetchall()`,
    `cur = conn.execute(sql); cur.fetchall()`, and asyncpg / databases `fetch(sql)` / `fetch_all(sql)`."""
    name = call_name(call)
    if not isinstance(call.func, ast.Attribute):
        return None
    receiver = call.func.value
    if name in ("fetch", "fetch_all"):
        sql = call.args[0] if call.args else (call_keyword(call, "query").value if call_keyword(call, "query")
                                              else None)
        text = _unbounded_select(sql, ctx) if sql is not None else None
        return f"{ctx.dotted_name(call.func) or name}(\"{describe_sql(text)}\")" if text else None
    if name != "fetchall":
        return None
    statement = _executed_statement(receiver, call, ctx)
    text = _unbounded_select(statement, ctx) if statement is not None else None
    if text is None:
        return None
    spelled = ctx.dotted_name(receiver) or (f"{ctx.dotted_name(receiver.func) or 'execute'}(...)" if isinstance(
        receiver, ast.Call) else "cursor")
    return f"{spelled}.fetchall() after \"{describe_sql(text)}\""


def _executed_statement(receiver: ast.AST, at: ast.Call, ctx: ModuleContext) -> ast.AST | None:
    """The SQL last executed on the cursor `receiver` before `at`: `x.execute(sql).fetchall()`,
    `cur = conn.execute(sql)`, or the last `cur.execute(sql)` in the function."""
    if isinstance(receiver, ast.Await):
        receiver = receiver.value
    if isinstance(receiver, ast.Call):
        return receiver.args[0] if call_name(receiver) == "execute" and receiver.args else None
    if isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver)
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and call_name(value) == "execute" and value.args:
            return value.args[0]
    spelled = ctx.dotted_name(receiver)
    function = ctx.enclosing_function(at)
    if spelled is None or function is None:
        return None
    last: ast.AST | None = None
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and call_name(node) == "execute" and node.args and \
                isinstance(node.func, ast.Attribute) and ctx.dotted_name(node.func.value) == spelled and \
                node.lineno <= at.lineno and (last is None or node.lineno >= last.lineno):  # type: ignore[attr-defined]
            last = node
    return last.args[0] if isinstance(last, ast.Call) else None


def _to_list_none(call: ast.Call, ctx: ModuleContext) -> str | None:
    """Motor `cursor.to_list(None)` / `to_list(length=None)` / `to_list()` over a find() nothing bounds."""
    if call_name(call) != "to_list" or not isinstance(call.func, ast.Attribute):
        return None
    keyword = call_keyword(call, "length")
    length = call.args[0] if call.args else keyword.value if keyword else ast.Constant(None)  # Motor 3: optional
    if not (isinstance(length, ast.Constant) and length.value is None):
        return None
    found = _mongo_find(call.func.value, ctx)
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
    keyword = call_keyword(call, "sql") or call_keyword(call, "query")
    text = _unbounded_select(call.args[0] if call.args else keyword.value if keyword else None, ctx)
    return f"{spelled}(\"{describe_sql(text)}\")" if text else None


RENDERERS = {"django.shortcuts.render": 2, "django.shortcuts.render_to_response": 1,
             "django.template.response.TemplateResponse": 2, "django.template.loader.render_to_string": 1}


def _rendered(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`render(request, "tag.html", {"posts": posts})`: the template loops over every row of the queryset."""
    position = RENDERERS.get(ctx.qualified_name(call.func) or "")
    if position is None:
        return None
    keyword = call_keyword(call, "context")
    context = call.args[position] if len(call.args) > position else keyword.value if keyword else None
    if isinstance(context, ast.Name):
        context = ctx.value_of(context)
    if not isinstance(context, ast.Dict):
        return None
    for key, value in zip(context.keys, context.values):
        rows = _rows(value, ctx, call, listing=True) if value is not None else None
        if rows and isinstance(key, ast.Constant):
            return f"rendering {rows} as \"{key.value}\""
    return None


def _redis_keys(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`r.keys("clicks:*")`: KEYS walks the whole keyspace and returns every match in one reply;
    `r.lrange(key, 0, -1)` returns a whole list (a room's history) however long it has grown."""
    if call_name(call) == "lrange" and isinstance(call.func, ast.Attribute) and len(call.args) == 3 and \
            _constant(call.args[1]) == 0 and _constant(call.args[2]) == -1 and \
            is_redis(call.func.value, ctx, wrappers=False):
        return f"{ctx.dotted_name(call.func) or 'lrange'}({unparse(call.args[0], 30)}, 0, -1)"
    if call_name(call) != "keys" or not isinstance(call.func, ast.Attribute) or len(call.args) > 1 or \
            not is_redis(call.func.value, ctx, wrappers=False):
        return None
    pattern = call.args[0] if call.args else None
    spelled = ast.unparse(pattern) if pattern is not None else "*"
    return f"KEYS {spelled}"


def _constant(node: ast.AST) -> object:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return -node.operand.value  # type: ignore[operator]
    return node.value if isinstance(node, ast.Constant) else None


def _keys_message(what: str) -> str:
    return (f"{what} walks the whole Redis keyspace and returns every matching key in one reply: it blocks the"
            " server for everyone while it runs and the reply grows with the data; iterate with scan_iter(match=...,"
            " count=...) or keep the keys in a set")


@RULE.on(ast.ClassDef)
def check_list_view(cls: ast.ClassDef, ctx: ModuleContext) -> Iterator[Finding]:
    """`class OrderList(ListView): model = Order` with no paginate_by renders every row."""
    if ctx.memo(("gap201-skip-file",), lambda: _skipped_file(ctx)):
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
                                 "get_context_data"} or lookup_table(model, ctx):
        return
    if isinstance(model, ast.Call) and _django_rows(model, ctx) is None:
        return
    yield ctx.finding(
        RULE, cls,
        f"{cls.name} is a ListView without paginate_by: it renders every row of"
        f" {ast.unparse(model)} on each request and times out once the table grows; set paginate_by",
        end_node=cls.bases[0] if cls.bases else cls,
    )
