"""What runs a database query, an HTTP call or an LLM call, and which loops run once per item.

One table per fact (the Django queryset API, SQLAlchemy session calls, DB-API cursors, pymongo, redis, HTTP and LLM
clients) and small decisions over the per-module model. The unbounded-query and n-plus-one checks, and the
per-function summaries of the project index, all ask these questions, so they agree on what "a query" is.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

# ---- Django -------------------------------------------------------------------------------------------------
DJANGO_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
# Queryset methods that run SQL when called (sync and async spellings).
DJANGO_TERMINAL = frozenset({
    "get", "first", "last", "count", "exists", "aggregate", "create", "get_or_create", "update_or_create",
    "earliest", "latest", "contains", "explain", "update", "delete",
    "aget", "afirst", "alast", "acount", "aexists", "aaggregate", "acreate", "aget_or_create",
    "aupdate_or_create", "aearliest", "alatest", "acontains", "aupdate", "adelete",
})
# Bulk operations: one statement for many rows, never reported in a loop (the code already batches).
DJANGO_BULK = frozenset({"bulk_create", "bulk_update", "in_bulk", "abulk_create", "abulk_update", "ain_bulk"})
# Methods that narrow a queryset to a key or a page: the result is bounded.
DJANGO_RESTRICTING = frozenset({"filter", "exclude", "get", "none", "in_bulk", "iterator", "aiterator", "raw"})
# Methods that keep every row: a chain made only of these (after the manager) reads the whole table. Custom
# manager methods (`Page.objects.live()`) may filter, so anything else counts as bounded.
DJANGO_KEEP_ALL = frozenset({
    "all", "order_by", "select_related", "prefetch_related", "annotate", "alias", "values", "values_list",
    "only", "defer", "distinct", "using", "reverse",
})
# Queryset results that hold dicts/tuples, not model instances: no relation access possible.
DJANGO_ROWS = frozenset({"values", "values_list"})
# On a related manager: methods that query even when the relation was prefetched (they build a new queryset).
DJANGO_BYPASS_PREFETCH = frozenset({
    "filter", "exclude", "get", "order_by", "values", "values_list", "annotate", "aggregate", "latest", "earliest",
    "create", "get_or_create", "update_or_create", "update", "delete", "select_related", "distinct",
})
DJANGO_MANAGER_READS = DJANGO_BYPASS_PREFETCH | frozenset({"all", "count", "exists", "first", "last", "iterator"})
# On a related manager: writes that run one statement each (`offer.combinations.remove(x)` per row).
DJANGO_MANAGER_WRITES = frozenset({"add", "remove", "set", "clear", "aadd", "aremove", "aset", "aclear"})
# Field constructors: (kind, whether the first positional argument is the target model).
DJANGO_RELATION_FIELDS = {
    "ForeignKey": "fk", "OneToOneField": "o2o", "ManyToManyField": "m2m", "ParentalKey": "fk",
    "ParentalManyToManyField": "m2m", "TreeForeignKey": "fk", "TreeOneToOneField": "o2o",
    "GenericForeignKey": "gfk", "GenericRelation": "m2m", "TaggableManager": "m2m",
}
# Builtins that materialise an iterable in full.
MATERIALISERS = frozenset({
    "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset", "builtins.sorted", "builtins.dict",
    "builtins.sum", "builtins.max", "builtins.min", "builtins.enumerate", "builtins.any", "builtins.all",
})

# ---- SQLAlchemy ---------------------------------------------------------------------------------------------
SA_SESSION_QUERIES = frozenset({"execute", "exec", "scalar", "scalars", "get", "get_one", "merge", "refresh"})
# `select` spelled through an import (`from sqlmodel import select as sm_select`).
SA_SELECTS = frozenset({"sqlalchemy.select", "sqlmodel.select", "sqlalchemy.future.select", "sqlalchemy.sql.select",
                        "sqlalchemy.sql.expression.select", "sqlmodel.sql.expression.select"})
SA_QUERY_TERMINAL = frozenset({
    "all", "first", "one", "one_or_none", "scalar", "count", "get", "delete", "update",
    "first_or_404", "get_or_404", "one_or_404", "paginate",
})
SA_RESTRICTING = frozenset({"filter", "filter_by", "where", "limit", "get", "slice", "paginate", "yield_per",
                            "first", "one", "one_or_none", "scalar", "count", "get_or_404", "first_or_404",
                            "one_or_404", "fetch", "offset", "having", "group_by", "exists"})
SA_LIBRARIES = ("sqlalchemy", "flask_sqlalchemy", "sqlmodel", "flask_sqlalchemy_lite")
SA_SESSION_NAMES = frozenset({"session", "db_session", "dbsession", "sess", "async_session", "db"})
SA_EAGER_OPTIONS = frozenset({"joinedload", "selectinload", "subqueryload", "contains_eager", "immediateload",
                              "defaultload", "raiseload", "lazyload", "noload"})
SA_LOADING_EAGER = frozenset({"joined", "selectin", "subquery", "immediate", "raise", "raise_on_sql", "noload",
                              "False", "write_only"})

# ---- DB-API, asyncpg, pymongo, redis ------------------------------------------------------------------------
CURSOR_NAMES = frozenset({"cursor", "cur", "curs", "db_cursor", "dbcursor"})
CONNECTION_NAMES = frozenset({"conn", "connection", "con", "db_conn", "dbconn", "pool", "db_pool"})
CONNECT_CALLS = frozenset({"connect", "begin", "acquire", "get_connection", "getconn", "raw_connection"})
# `pool.connection()` (psycopg_pool, DBUtils): a pooled connection, when the receiver is a pool.
POOL_CONNECT_CALLS = frozenset({"connection", "getconn", "acquire", "get_connection"})
ASYNCPG_QUERIES = frozenset({"fetch", "fetchrow", "fetchval"})
MONGO_LIBRARIES = ("pymongo", "motor", "mongomock", "bson", "mongoengine", "beanie")
MONGO_PER_ITEM = frozenset({
    "find_one", "insert_one", "update_one", "replace_one", "delete_one", "find_one_and_update",
    "find_one_and_replace", "find_one_and_delete", "count_documents", "update_many", "delete_many",
})
REDIS_PER_KEY = frozenset({
    "get", "set", "setex", "setnx", "getset", "incr", "incrby", "decr", "decrby", "expire", "ttl", "exists",
    "delete", "hget", "hset", "hgetall", "hincrby", "hdel", "hexists", "sadd", "srem", "smembers", "sismember",
    "zadd", "zscore", "zrem", "zincrby", "lpush", "rpush", "lpop", "rpop", "lrange", "llen", "getdel",
})

# ---- HTTP and LLM -------------------------------------------------------------------------------------------
HTTP_FUNCTIONS = frozenset(
    [f"requests.{m}" for m in ("get", "post", "put", "patch", "delete", "head", "options", "request")]
    + [f"httpx.{m}" for m in ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")]
    + ["urllib.request.urlopen", "urllib3.request", "aiohttp.request"]
)
HTTP_CLIENTS = frozenset({
    "requests.Session", "requests.session", "requests.sessions.Session", "httpx.Client", "httpx.AsyncClient",
    "aiohttp.ClientSession", "urllib3.PoolManager", "urllib3.HTTPConnectionPool",
})
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "send"})
LLM_CLIENTS = frozenset({
    "openai.OpenAI", "openai.AsyncOpenAI", "openai.AzureOpenAI", "openai.AsyncAzureOpenAI",
    "anthropic.Anthropic", "anthropic.AsyncAnthropic", "anthropic.AnthropicBedrock", "anthropic.AnthropicVertex",
    "anthropic.AsyncAnthropicBedrock", "anthropic.AsyncAnthropicVertex", "google.genai.Client",
    "mistralai.Mistral", "groq.Groq", "groq.AsyncGroq", "cohere.Client", "cohere.ClientV2",
})
LLM_FUNCTIONS = frozenset({
    "openai.ChatCompletion.create", "openai.ChatCompletion.acreate", "openai.Completion.create",
    "openai.Embedding.create", "litellm.completion", "litellm.acompletion", "litellm.embedding",
    "litellm.aembedding",
})
# Method paths on an LLM client object; the first one is specific enough to trust on any receiver.
LLM_PATHS = (
    ("chat", "completions", "create"), ("chat", "completions", "parse"), ("beta", "chat", "completions", "parse"),
    ("completions", "create"), ("embeddings", "create"), ("responses", "create"), ("messages", "create"),
    ("images", "generate"), ("moderations", "create"), ("models", "generate_content"), ("chat",), ("embed",),
)
HTTP_ROOTS = ("requests", "httpx", "aiohttp", "urllib3")
LLM_ROOTS = ("openai", "anthropic", "google", "mistralai", "groq", "cohere")
# The last name of every call http_effect can accept: a cheap filter before any resolution.
HTTP_LAST_NAMES = frozenset(
    {name.rsplit(".", 1)[-1] for name in HTTP_FUNCTIONS | LLM_FUNCTIONS} | HTTP_METHODS
    | {path[-1] for path in LLM_PATHS})
SPECIFIC_LLM_PATHS = (("chat", "completions", "create"), ("chat", "completions", "parse"))
# SDK clients whose every public method is one HTTPS request to the provider's API (Slack Web API, AWS via boto3).
SDK_CLIENTS = frozenset({
    "slack_sdk.WebClient", "slack_sdk.web.WebClient", "slack_sdk.web.client.WebClient", "slack_sdk.AsyncWebClient",
    "slack_sdk.web.async_client.AsyncWebClient", "slack.WebClient",
    "boto3.client", "boto3.session.Session.client", "boto3.Session.client",
})
# Client methods that run locally: building paginators, waiters and presigned URLs makes no request.
SDK_LOCAL_METHODS = frozenset({
    "get_paginator", "get_waiter", "can_paginate", "generate_presigned_url", "generate_presigned_post", "close",
    "meta", "exceptions",
})
SDK_ROOTS = ("slack_sdk", "slack", "boto3", "stripe")
# `stripe.Customer.retrieve(...)`: the resource classes' request methods (the rest build objects locally).
STRIPE_METHODS = frozenset({
    "create", "retrieve", "modify", "list", "delete", "search", "cancel", "capture", "confirm", "pay", "void",
    "finalize_invoice", "send_invoice", "create_reversal", "list_line_items", "upcoming", "refund", "reject",
})

# ---- loops --------------------------------------------------------------------------------------------------
# A loop variable or iterable with one of these words walks pages, chunks or retries: the code already batches.
BATCHING = re.compile(
    r"chunk|batch|offset|shard|attempt|retr|tries|backoff|paginat|page_?(?:num|no|number|token|index|idx)",
    re.IGNORECASE)
# Calls that run their argument concurrently (an awaitable built in a comprehension handed to them).
CONCURRENT_CALLS = frozenset({"gather", "wait", "create_task", "ensure_future", "submit", "map", "as_completed",
                              "run_coroutine_threadsafe", "start_soon", "apply_async", "delay"})
TEST_OR_MIGRATION = re.compile(
    r"(^|/)(tests?|testing|[a-z_]*migrations|alembic|test_utils|testutils)(/|$)"
    r"|(^|/)(test_[^/]*|[^/]*_tests?|tests?|testing|conftest)\.py$"
)


def is_test_or_migration(ctx: "ModuleContext") -> bool:
    """Tests and schema migrations (also Alembic revision scripts outside a `migrations/` folder): a query per row
    there never reaches a production request."""
    def compute() -> bool:
        from ..scopes import is_migration_module  # scopes imports nothing from here; local to keep it that way
        return bool(TEST_OR_MIGRATION.search(ctx.path.replace("\\", "/"))) or is_migration_module(ctx)
    return ctx.memo(("test-or-migration",), compute)


# Management commands, scripts and one-off data-migration modules: run by hand or by cron, nobody waits on them.
# Seeding and populating modules fill a fresh database once (`seed.py`, `populate_db.py`).
# Seeding modules by name: `seed.py`, `populate_db.py`, `sample_data.py`, `random_data.py` (demo data a management
# command loads).
BATCH_PATH = re.compile(r"(^|/)(management/commands|scripts?|bin)/"
                        r"|(^|/)[^/]*(?:migrat|seed|populate|(?:sample|random|fake|demo|dummy)_?data)[^/]*\.py$")
# A `cli/` package or a `cli.py` module holds the app's command-line commands (click/typer/argparse), run by hand in
# a terminal. Loading a whole table there is the command's job, and its event loop serves no one else; but an
# importer CLI that queries per CSV row is the app's own job, slow on every run, so the N+1 rules still check it.
CLI_PATH = re.compile(r"(^|/)cli/|(^|/)(cli|[^/]*_cli)\.py$")


def outside_request_paths(ctx: "ModuleContext") -> bool:
    """Files the N+1 rules leave alone: tests, migrations, management commands, files under `scripts/` or `bin/`,
    data-migration and seeding modules (`seed.py`, `populate.py`). An N+1 there makes a maintenance run slower, not a page. A module with an
    `if __name__ == "__main__":` block elsewhere is the app's own job or CLI (`python -m app.import_orders`): it
    walks production data on a schedule or per upload, so it is checked."""
    def compute() -> bool:
        path = ctx.path.replace("\\", "/")
        if BATCH_PATH.search(path) or is_test_or_migration(ctx):
            return True
        from ..scopes import is_test_module  # scopes imports nothing from here; local to keep it that way
        return is_test_module(ctx)
    return ctx.memo(("n1-skip-file",), compute)


def imports_any(ctx: "ModuleContext", roots: tuple[str, ...]) -> bool:
    return ctx.memo(("orm-imports", roots), lambda: any(
        q.split(".", 1)[0] in roots for q in ctx.imports.values()))


def call_name(call: ast.AST) -> str:
    """The last name of a called function or method (`objects.filter` -> `filter`)."""
    if isinstance(call, ast.Call):
        call = call.func
    if isinstance(call, ast.Attribute):
        return call.attr
    if isinstance(call, ast.Name):
        return call.id
    return ""


def unparse(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    text = re.sub(r"\(.*\)", "(...)", text, flags=re.S) if len(text) > limit else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- following values ---------------------------------------------------------------------------------------
def origin(expr: ast.AST, ctx: "ModuleContext", depth: int = 3) -> ast.AST:
    """The expression a receiver was built from: a local's assignment or `with ... as`, `self.x`'s assignment in
    its class; the expression itself when it cannot be followed."""
    current = expr
    for _ in range(depth):
        if isinstance(current, ast.Name):
            value = ctx.value_of(current)
        elif isinstance(current, ast.Attribute) and isinstance(current.value, ast.Name) and \
                current.value.id in ("self", "cls"):
            value = self_attribute(current, ctx)
        else:
            value = None
        if value is None or value is current:
            return current
        current = value.value if isinstance(value, ast.Await) else value
    return current


def self_attribute(attr: ast.Attribute, ctx: "ModuleContext") -> ast.AST | None:
    """The value assigned to `self.<attr>` anywhere in the enclosing class (when assigned exactly once)."""
    cls = ctx.enclosing(attr, ast.ClassDef)
    if cls is None:
        return None
    table = ctx.memo(("orm-self-attrs", id(cls)), lambda: _self_assignments(cls))
    values = table.get(attr.attr)
    return values[0] if values and len(values) == 1 else None


def _self_assignments(cls: ast.ClassDef) -> dict[str, list[ast.AST]]:
    table: dict[str, list[ast.AST]] = {}
    for stmt in cls.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    table.setdefault(target.id, []).append(stmt.value)
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                            target.value.id == "self":
                        table.setdefault(target.attr, []).append(node.value)
    return table


def parameter_annotation(name: ast.Name, ctx: "ModuleContext") -> str | None:
    """The dotted annotation of a function parameter `name` refers to (`db: Session` -> `Session`)."""
    function = ctx.enclosing_function(name)
    while function is not None:
        args = function.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if arg.arg == name.id:
                if arg.annotation is None:
                    return None
                return ctx.dotted_name(arg.annotation) or (
                    ctx.dotted_name(arg.annotation.value) if isinstance(arg.annotation, ast.Subscript) else None)
        function = ctx.enclosing_function(function)
    return None


def _origin_call_name(expr: ast.AST, ctx: "ModuleContext") -> tuple[str, str]:
    """(qualified name or dotted spelling, last name) of the call a receiver was built from, else ("", "")."""
    source = origin(expr, ctx)
    if isinstance(source, ast.Call):
        return ctx.qualified_name(source.func) or ctx.dotted_name(source.func) or "", call_name(source)
    return "", ""


# ---- Django querysets ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryChain:
    """A queryset expression: where it starts (`Order.objects`, `session.query(Order)`) and the calls on it."""

    framework: str  # "django" | "sqlalchemy"
    label: str  # how the message names it: "Order.objects", "session.query(Order)"
    model: ast.AST | None  # the model class expression, when known
    methods: tuple[tuple[str, ast.Call], ...]  # inner to outer
    sliced: bool  # a slice `[:n]` somewhere on the chain
    indexed: bool  # ends in `[i]`: one row
    names: tuple[str, ...] = ()  # local names followed to build the chain

    @property
    def method_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.methods)

    @property
    def terminal(self) -> str | None:
        """The method that ran the query, when the chain ends in one."""
        if not self.methods:
            return None
        last = self.methods[-1][0]
        table = DJANGO_TERMINAL if self.framework == "django" else SA_QUERY_TERMINAL
        return last if last in table or last in DJANGO_BULK else None


# How many `qs = qs.filter(...)` rebindings a queryset is followed through (each optional `if` filter is one).
CHAIN_DEPTH = 6


def looks_like_model(expr: ast.AST) -> bool:
    """`Order`, `models.Order`, `self.model`, `get_user_model()`: an expression naming a model class."""
    if isinstance(expr, ast.Name):
        return expr.id[:1].isupper()
    if isinstance(expr, ast.Attribute):
        return expr.attr[:1].isupper() or expr.attr == "model"
    if isinstance(expr, ast.Call):
        return call_name(expr) in ("get_user_model", "get_model")
    return False


def strip_chain(expr: ast.AST) -> tuple[ast.AST, list[tuple[str, ast.Call]], bool, bool]:
    """Peel calls and subscripts off a chain: (root, methods inner-to-outer, sliced, indexed-at-the-end)."""
    methods: list[tuple[str, ast.Call]] = []
    sliced = indexed = False
    node = expr
    first = True
    while True:
        if isinstance(node, ast.Await):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            methods.append((node.func.attr, node))
            node = node.func.value
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                sliced = True
            elif first:
                indexed = True
            else:
                sliced = True  # an index mid-chain: one row, bounded
            node = node.value
        else:
            break
        first = False
    methods.reverse()
    return node, methods, sliced, indexed


def django_chain(expr: ast.AST, ctx: "ModuleContext", depth: int = CHAIN_DEPTH) -> QueryChain | None:
    """The Django queryset `expr` builds, following local names (`qs = Order.objects.all()`) and a method of the
    same class that returns one (`qs = self.get_orders()`); None otherwise."""
    root, methods, sliced, indexed = strip_chain(expr)
    if isinstance(root, ast.Attribute) and root.attr in DJANGO_MANAGERS and looks_like_model(root.value):
        label = f"{ctx.dotted_name(root) or unparse(root)}"
        return QueryChain("django", label, root.value, tuple(methods), sliced, indexed)
    if isinstance(root, ast.Name) and root.id == "self" and methods and depth > 0:
        returned = self_method_return(methods[0][1], ctx)
        if returned is not None:
            inner = django_chain(returned, ctx, depth - 1)
            if inner is not None and not (inner.terminal or inner.indexed):
                return QueryChain("django", inner.label, inner.model, inner.methods + tuple(methods[1:]),
                                  inner.sliced or sliced, indexed, inner.names)
    if isinstance(root, ast.Name) and depth > 0 and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        if value is not None and not isinstance(value, ast.Name):
            inner = django_chain(value, ctx, depth - 1)
            if inner is not None and not (inner.terminal or inner.indexed):  # a row or a number, not a queryset
                return QueryChain("django", inner.label, inner.model, inner.methods + tuple(methods),
                                  inner.sliced or sliced, indexed, inner.names + (root.id,))
    if isinstance(root, ast.Call) and depth > 0:
        returned = module_function_return(root, ctx)  # `_published().filter(author=a)`
        if returned is not None:
            inner = django_chain(returned, ctx, depth - 1)
            if inner is not None and not (inner.terminal or inner.indexed):
                return QueryChain("django", inner.label, inner.model, inner.methods + tuple(methods),
                                  inner.sliced or sliced, indexed, inner.names)
    return None


def module_function_return(call: ast.Call, ctx: "ModuleContext") -> ast.AST | None:
    """The expression `helper(...)` returns, when `helper` is a function of this module with one `return
    <value>` (`def _published(): return Post.objects.filter(...)`)."""
    if not isinstance(call.func, ast.Name) or call.func.id not in ctx.module_names:
        return None
    for stmt in ctx.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == call.func.id:
            returns = [node for node in ctx.own_nodes(stmt) if isinstance(node, ast.Return)]
            if len(returns) == 1 and returns[0].value is not None:
                return returns[0].value
            return None
    return None


def self_method_return(call: ast.Call, ctx: "ModuleContext") -> ast.AST | None:
    """The expression `self.method(...)` returns, when `method` is defined in the enclosing class with a single
    `return <value>` (`def orders_qs(self): return Order.objects.filter(...).select_related(...)`)."""
    if not (isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "self"):
        return None
    cls = ctx.enclosing(call, ast.ClassDef)
    if cls is None:
        return None
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == call.func.attr:
            returns = [node for node in ctx.own_nodes(stmt) if isinstance(node, ast.Return)]
            if len(returns) == 1 and returns[0].value is not None:
                return returns[0].value
            return None
    return None


# Methods that, called first on `obj.<relation>`, make a queryset of the related rows (a related manager).
RELATED_QUERYSET_METHODS = frozenset({
    "all", "filter", "exclude", "order_by", "select_related", "prefetch_related", "distinct", "only", "defer",
    "annotate", "alias", "iterator", "using", "reverse",
})


@dataclass(frozen=True)
class RelatedChain:
    """`order.lines.filter(...)`, `self.events.all()`: the rows of a relation of one object, as a queryset.

    Whether `relation` really is a reverse ForeignKey / ManyToMany manager is for the project join to decide
    (it knows every model); here we only know the shape."""

    receiver: ast.AST  # `self`, `order`, `self.basket`
    relation: str  # `lines`, `event_set`
    methods: tuple[tuple[str, ast.Call], ...]
    names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        receiver = self.receiver
        spelled = receiver.id if isinstance(receiver, ast.Name) else unparse(receiver, 30)
        return f"{spelled}.{self.relation}"


def related_chain(expr: ast.AST, ctx: "ModuleContext", depth: int = CHAIN_DEPTH) -> RelatedChain | None:
    """The related-manager queryset `expr` iterates (following local names), or None. Values rows, slices,
    terminal and bulk calls are not a lazy iteration of model rows."""
    root, methods, sliced, indexed = strip_chain(expr)
    if indexed or any(name in DJANGO_TERMINAL or name in DJANGO_BULK or name in DJANGO_ROWS for name, _ in methods):
        return None
    if methods and methods[0][0] in RELATED_QUERYSET_METHODS and isinstance(root, ast.Attribute) and \
            isinstance(root.value, (ast.Name, ast.Attribute)) and root.attr not in DJANGO_MANAGERS and \
            not root.attr.startswith("_") and not root.attr[:1].isupper():
        if isinstance(root.value, ast.Name) and ctx.resolve_name(root.value.id, root.value) is not None:
            return None  # `module.thing.all()`: an import, not an object's relation
        return RelatedChain(root.value, root.attr, tuple(methods))
    if isinstance(root, ast.Name) and depth > 0 and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        if value is not None and not isinstance(value, ast.Name):
            inner = related_chain(value, ctx, depth - 1)
            if inner is not None:
                return RelatedChain(inner.receiver, inner.relation, inner.methods + tuple(methods),
                                    inner.names + (root.id,))
    return None


# ---- SQLAlchemy ---------------------------------------------------------------------------------------------
def is_sa_session(expr: ast.AST, ctx: "ModuleContext") -> bool:
    """A SQLAlchemy (or Flask-SQLAlchemy, SQLModel) session: by its origin, its annotation, or its name in a
    module that imports SQLAlchemy. `request.session` (Django's session dict) never is."""
    dotted = ctx.dotted_name(expr) or ""
    parts = dotted.split(".")
    if "request" in parts[:-1]:
        return False
    if not (parts[-1] in SA_SESSION_NAMES or "session" in parts[-1].lower() or imports_any(ctx, SA_LIBRARIES)):
        return False  # neither named like a session nor in a module that uses SQLAlchemy: do not follow it
    qualified, last = _origin_call_name(expr, ctx)
    if qualified:
        return "session" in last.lower() and not qualified.startswith(("requests", "httpx", "aiohttp", "boto"))
    if isinstance(expr, ast.Name):
        annotation = parameter_annotation(expr, ctx)
        if annotation:
            return annotation.split(".")[-1] in ("Session", "AsyncSession", "scoped_session")
    if not imports_any(ctx, SA_LIBRARIES):
        return False
    if len(parts) == 2 and parts[0] == "g" and parts[1] in SA_SESSION_NAMES:
        return True  # Flask's per-request `g.db = SessionLocal()` in a module that uses SQLAlchemy
    return parts[-1] in SA_SESSION_NAMES - {"db"} or dotted.endswith("db.session")


def sa_chain(expr: ast.AST, ctx: "ModuleContext", depth: int = CHAIN_DEPTH) -> QueryChain | None:
    """`session.query(M)...`, `M.query...` (Flask-SQLAlchemy), or `session.execute/scalars(select(M)...)...`."""
    root, methods, sliced, indexed = strip_chain(expr)
    if isinstance(root, ast.Attribute) and root.attr == "query" and looks_like_model(root.value) and \
            isinstance(root.value, (ast.Name, ast.Attribute)) and methods:
        return QueryChain("sqlalchemy", ctx.dotted_name(root) or "Model.query", root.value, tuple(methods),
                          sliced, indexed)
    if isinstance(root, ast.Name) and depth > 0 and ctx.resolve_name(root.id, root) is None and methods:
        if is_sa_session(root, ctx) and methods[0][0] in ("query", "execute", "exec", "scalars", "scalar"):
            first_call = methods[0][1]
            model = _sa_model(first_call, ctx)
            label = f"{root.id}.{methods[0][0]}({unparse(model) if model is not None else '...'})"
            return QueryChain("sqlalchemy", label, model, tuple(methods), sliced, indexed)
        value = ctx.value_of(root)
        if value is not None and not isinstance(value, ast.Name):
            inner = sa_chain(value, ctx, depth - 1)
            if inner is not None and not (inner.terminal or inner.indexed):
                return QueryChain("sqlalchemy", inner.label, inner.model, inner.methods + tuple(methods),
                                  inner.sliced or sliced, indexed, inner.names + (root.id,))
    if isinstance(root, ast.Attribute) and methods and methods[0][0] in ("query", "execute", "exec", "scalars") and \
            is_sa_session(root, ctx):
        model = _sa_model(methods[0][1], ctx)
        label = f"{ctx.dotted_name(root)}.{methods[0][0]}({unparse(model) if model is not None else '...'})"
        return QueryChain("sqlalchemy", label, model, tuple(methods), sliced, indexed)
    return None


def _is_select(node: ast.AST, ctx: "ModuleContext") -> bool:
    return isinstance(node, ast.Call) and (call_name(node) == "select" or ctx.qualified_name(node.func) in SA_SELECTS)


def _sa_model(call: ast.Call, ctx: "ModuleContext") -> ast.AST | None:
    """The model of `query(M)` or of `execute(select(M).where(...))`."""
    if not call.args:
        return None
    first = call.args[0]
    if call_name(call) == "query":
        return first if looks_like_model(first) else None
    root, methods, _, _ = strip_chain(first)
    if isinstance(root, ast.Name) and (root.id == "select" or ctx.qualified_name(root) in SA_SELECTS):
        return None
    # select(M).where(...): the innermost call is select(M)
    inner = methods[0][1] if methods else first
    if isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and _is_select(first, ctx):
        inner = first
    if _is_select(inner, ctx) and inner.args and looks_like_model(inner.args[0]):  # type: ignore[attr-defined]
        return inner.args[0]
    node = first
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value
    if _is_select(node, ctx) and node.args and looks_like_model(node.args[0]):  # type: ignore[attr-defined]
        return node.args[0]
    return None


def sa_statement_methods(call: ast.Call) -> set[str]:
    """Method names on the statement passed to `execute(select(M).where(...))`."""
    names: set[str] = set()
    if call.args:
        node = call.args[0]
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names.add(node.func.attr)
            node = node.func.value
    return names


# ---- one round trip now -------------------------------------------------------------------------------------
def query_effect(call: ast.Call, ctx: "ModuleContext") -> str | None:
    """A short description (`Order.objects.get()`) when this call runs one database round trip right now."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    if method in DJANGO_TERMINAL or method in DJANGO_BULK:
        chain = django_chain(call, ctx)
        if chain is not None and chain.terminal:
            return f"{chain.label}.{method}()" if not chain.names else f"{chain.names[0]}.{method}() on {chain.label}"
    if method in SA_SESSION_QUERIES and (method not in ("get", "get_one") or call.args and looks_like_model(
            call.args[0])) and is_sa_session(func.value, ctx):
        return f"{ctx.dotted_name(func) or method}()"
    if method in SA_QUERY_TERMINAL:
        chain = sa_chain(call, ctx)
        if chain is not None and chain.methods and chain.methods[0][0] == "query" or (
                chain is not None and chain.label.endswith(".query")):
            return f"{chain.label}.{method}()"
    if method in ("execute", "executescript") and (is_cursor(func.value, ctx) or is_connection(func.value, ctx)):
        return f"{ctx.dotted_name(func) or method}()"
    if method in ASYNCPG_QUERIES and is_connection(func.value, ctx):
        return f"{ctx.dotted_name(func) or method}()"
    if method in MONGO_PER_ITEM and is_mongo_collection(func.value, ctx):
        return f"{ctx.dotted_name(func) or unparse(func)}()"
    if method in REDIS_PER_KEY and is_redis(func.value, ctx):
        return f"{ctx.dotted_name(func) or method}()"
    return None


def _maybe_manager(root: ast.AST, ctx: "ModuleContext") -> bool:
    """`Revision.page_revisions`: a lowercase attribute, not one of Django's own managers, of a CapWords name this
    module imports or defines. Whether it is a manager is for the project join to confirm."""
    return isinstance(root, ast.Attribute) and isinstance(root.value, ast.Name) and root.value.id[:1].isupper() \
        and root.attr not in DJANGO_MANAGERS and root.attr[:1].islower() and (
            root.value.id in ctx.module_names or ctx.resolve_name(root.value.id, root.value) is not None)


def custom_manager_chain(expr: ast.AST, ctx: "ModuleContext", depth: int = CHAIN_DEPTH) -> tuple[QueryChain, str] | None:
    """(the queryset, the manager's name) for `Revision.page_revisions.order_by(...)`: a model class (a CapWords
    name this module imports or defines) read through a lowercase attribute that starts a queryset chain and is
    not one of Django's own managers. Only the shape: the project join confirms that the model declares that
    attribute as a manager (`page_revisions = PageRevisionsManager()`)."""
    root, methods, sliced, indexed = strip_chain(expr)
    if _maybe_manager(root, ctx) and methods and methods[0][0] in RELATED_QUERYSET_METHODS and not indexed and \
            not any(name in DJANGO_TERMINAL or name in DJANGO_BULK for name, _ in methods):
        chain = QueryChain("django", f"{root.value.id}.{root.attr}", root.value, tuple(methods), sliced, indexed)
        return chain, root.attr
    if isinstance(root, ast.Name) and depth > 0 and ctx.resolve_name(root.id, root) is None:
        value = ctx.value_of(root)
        if value is not None and not isinstance(value, ast.Name):
            inner = custom_manager_chain(value, ctx, depth - 1)
            if inner is not None and not methods:
                chain, manager = inner
                return QueryChain("django", chain.label, chain.model, chain.methods, chain.sliced, chain.indexed,
                                  chain.names + (root.id,)), manager
    return None


QUERYSET_METHODS = RELATED_QUERYSET_METHODS | DJANGO_TERMINAL | DJANGO_RESTRICTING | DJANGO_KEEP_ALL | DJANGO_ROWS


def custom_manager_query(call: ast.Call, ctx: "ModuleContext") -> tuple[str, ast.Name, str] | None:
    """(label, model name, manager) for `OrderPosition.all.filter(order=o).count()`: a query run now through a
    lowercase class attribute that may be a custom manager, every call on it a queryset method. The project join
    confirms that the model declares the attribute as a manager."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in DJANGO_TERMINAL:
        return None
    root, methods, _, indexed = strip_chain(call)
    if not _maybe_manager(root, ctx) or indexed or not all(name in QUERYSET_METHODS for name, _ in methods):
        return None
    return f"{root.value.id}.{root.attr}", root.value, root.attr  # type: ignore[attr-defined]


def iterates_query(expr: ast.AST, ctx: "ModuleContext") -> QueryChain | None:
    """`expr` is a lazy queryset/query that runs when iterated or materialised (not one that already ran)."""
    chain = django_chain(expr, ctx)
    if chain is not None:
        names = chain.method_names
        if chain.terminal or chain.indexed or (names and names[-1] in DJANGO_BULK):
            return None
        return chain
    chain = sa_chain(expr, ctx)
    if chain is not None and chain.methods:
        last = chain.methods[-1][0]
        if last in ("all", "scalars", "execute", "exec", "fetchall", "unique", "mappings") or \
                chain.methods[0][0] == "query" and last not in SA_QUERY_TERMINAL:
            return chain
    return None


def is_cursor(expr: ast.AST, ctx: "ModuleContext") -> bool:
    qualified, last = _origin_call_name(expr, ctx)
    if qualified:
        return last == "cursor"
    dotted = ctx.dotted_name(expr) or ""
    name = dotted.split(".")[-1]
    return name in CURSOR_NAMES or name.endswith(("_cursor", "_cur"))


def is_connection(expr: ast.AST, ctx: "ModuleContext") -> bool:
    qualified, last = _origin_call_name(expr, ctx)
    if qualified:
        if last in POOL_CONNECT_CALLS and "pool" in qualified.lower():
            return True
        return last in CONNECT_CALLS and not qualified.startswith(("socket", "ssl", "http", "ftplib", "smtplib"))
    dotted = ctx.dotted_name(expr) or ""
    name = dotted.split(".")[-1]
    return name in CONNECTION_NAMES or name.endswith(("_conn", "_connection"))


def is_mongo_collection(expr: ast.AST, ctx: "ModuleContext") -> bool:
    if imports_any(ctx, MONGO_LIBRARIES):
        return True
    spelled = (ctx.dotted_name(expr) or unparse(expr)).lower()
    return any(word in spelled for word in ("coll", "mongo")) or (
        isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and "db" in spelled)


REDIS_ROOTS = ("redis", "aioredis", "django_redis", "fakeredis")
# What may follow "redis" in the name of a variable that holds a client: `redis`, `redis_client`, `self.redis_conn`.
# `redis_result`, `redis_params`, `redis_keys` hold what a client returned or is built from: dicts and lists.
REDIS_CLIENT_WORDS = frozenset({"client", "conn", "connection", "cli", "db", "pool", "instance", "server", "backend"})
REDIS_FACTORY = re.compile(r"(?:(?:get|make|create|build|new|init|open|connect)_\w*)?redis(?:_(?:client|conn|connection"
                           r"|pool))?$", re.IGNORECASE)


def is_redis(expr: ast.AST, ctx: "ModuleContext", wrappers: bool = True) -> bool:
    """Is `expr` a Redis client? With `wrappers`, also an object of a project class named after Redis
    (`RedisDict`, `RedisCache`): its `get()`/`set()` are one command each, but its `keys()` is its own method."""
    if not imports_any(ctx, REDIS_ROOTS) and "redis" not in (ctx.dotted_name(expr) or "").lower():
        return False
    qualified, last = _origin_call_name(expr, ctx)
    if qualified:
        if last == "pipeline" or "pipeline" in qualified or "redis" not in qualified.lower():
            return False
        # Factories (`get_redis()`) return clients; other project calls (`self._push_increments_to_redis()`) return
        # what they read, usually a dict. A project class named after Redis wraps a client behind its own methods.
        if qualified.split(".", 1)[0] in REDIS_ROOTS or \
                REDIS_FACTORY.match(last.lstrip("_")) and not last[:1].isupper():
            return True
        return wrappers and last[:1].isupper() and "redis" in last.lower()
    dotted = (ctx.dotted_name(expr) or "").lower()
    return _names_a_redis_client(dotted.split(".")[-1]) and "pipe" not in dotted


def _names_a_redis_client(name: str) -> bool:
    words = [w for w in name.split("_") if w]
    at = next((i for i, w in enumerate(words) if "redis" in w), None)
    return at is not None and all(w in REDIS_CLIENT_WORDS for w in words[at + 1:])


# ---- HTTP and LLM calls -------------------------------------------------------------------------------------
def client_type(receiver: ast.AST, ctx: "ModuleContext") -> str:
    """The qualified name of what built a client object: its constructor call followed through locals, `with`,
    `self.<attr>` and module globals (`slack = WebClient(...)`), `boto3.Session().client(...)`, or the annotation
    of the parameter it is (`session: aiohttp.ClientSession`); "" when unknown."""
    source = origin(receiver, ctx)
    if isinstance(source, ast.Call):
        func = source.func
        if isinstance(func, ast.Attribute) and func.attr in ("client", "resource") and \
                _origin_call_name(func.value, ctx)[0] in ("boto3.Session", "boto3.session.Session"):
            return f"boto3.session.Session.{func.attr}"
        return ctx.qualified_name(func) or ctx.dotted_name(func) or ""
    if isinstance(source, ast.Name):
        annotation = parameter_annotation(source, ctx)
        if annotation:
            head, _, rest = annotation.partition(".")
            resolved = ctx.resolve_name(head, source)
            if resolved:
                return f"{resolved}.{rest}" if rest else resolved
    return ""


def sdk_effect(call: ast.Call, ctx: "ModuleContext") -> str | None:
    """`slack.users_info(user=m)` on a Slack WebClient, `s3.head_object(...)` on a boto3 client,
    `stripe.Customer.retrieve(id)`: one request to the provider's API."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr.startswith("_") or not imports_any(ctx, SDK_ROOTS):
        return None
    qualified = ctx.qualified_name(func) or ""
    if qualified.startswith("stripe."):
        parts = qualified.split(".")
        if len(parts) >= 3 and parts[-2][:1].isupper() and parts[-1] in STRIPE_METHODS:
            return f"{qualified}()"
        return None
    if func.attr in SDK_LOCAL_METHODS:
        return None
    if client_type(func.value, ctx) in SDK_CLIENTS:
        return f"{ctx.dotted_name(func) or unparse(func)}()"
    return None


def http_effect(call: ast.Call, ctx: "ModuleContext") -> str | None:
    """A description (`requests.get()`, `client.chat.completions.create()`) when this call goes over the network
    to an HTTP API, an LLM provider or a cloud SDK."""
    if call_name(call) not in HTTP_LAST_NAMES:
        return sdk_effect(call, ctx)  # most calls: decided without resolving anything
    qualified = ctx.qualified_name(call.func)
    if qualified in HTTP_FUNCTIONS or qualified in LLM_FUNCTIONS:
        return f"{qualified}()"
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    path: list[str] = []
    node: ast.AST = func
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    path.reverse()
    spelled = ctx.dotted_name(func) or unparse(func)
    for llm_path in LLM_PATHS:
        if tuple(path[-len(llm_path):]) == llm_path and len(path) >= len(llm_path):
            receiver = func
            for _ in llm_path:
                receiver = receiver.value  # type: ignore[assignment]
            made_by, _ = _origin_call_name(receiver, ctx) if imports_any(ctx, LLM_ROOTS) else ("", "")
            if made_by in LLM_CLIENTS or (llm_path in SPECIFIC_LLM_PATHS and not made_by):
                return f"{spelled}()"
            return None
    if func.attr in HTTP_METHODS and imports_any(ctx, HTTP_ROOTS):
        if client_type(func.value, ctx) in HTTP_CLIENTS:
            return f"{spelled}()"
    return sdk_effect(call, ctx)


# ---- loops --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerItemLoop:
    node: ast.AST  # For / AsyncFor / comprehension / map() call
    line: int
    what: str  # "for loop", "comprehension", "map()"


def per_item_loop(node: ast.AST, ctx: "ModuleContext") -> PerItemLoop | None:
    """The innermost loop around `node` (in its function) that runs once per item of a collection and whose
    item `node` depends on. While loops (polling, pagination), loops over literals, constants and small ranges,
    chunk/page/retry loops and first-success fallback loops do not count."""
    child: ast.AST = node
    came_from_first_iter = False
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, (ast.Return, ast.Raise)):
            return None  # `return process(item)` in a loop runs once: the loop ends there
        if isinstance(ancestor, ast.Lambda):
            parent = ctx.parent(ancestor)
            if isinstance(parent, ast.Call) and parent.args and parent.args[0] is ancestor and \
                    ctx.qualified_name(parent.func) == "builtins.map":
                bound = {a.arg for a in ancestor.args.args}
                if uses_any(node, bound):
                    return PerItemLoop(parent, parent.lineno, "map()")
            return None
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return None
        if isinstance(ancestor, (ast.For, ast.AsyncFor)):
            if child is not ancestor.iter and _batches(ancestor.iter, ancestor.target):
                return None  # the code already works in chunks
            if child is not ancestor.iter and child not in ancestor.orelse and _counts(ancestor.iter,
                                                                                         ancestor.target, ctx):
                if uses_any(node, loop_bound_names(ancestor, ctx)) and not _first_success_loop(ancestor, node) \
                        and not _guarded_once(ancestor, node, ctx) and not _collected_for_concurrency(ancestor, node,
                                                                                                    ctx) \
                        and not _leaves_the_loop_after(ancestor, node, ctx):
                    return PerItemLoop(ancestor, ancestor.lineno, "loop")
        elif isinstance(ancestor, ast.comprehension):
            came_from_first_iter = child is ancestor.iter
        elif isinstance(ancestor, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            first = ancestor.generators[0]
            if not (child is first and came_from_first_iter) and _counts(first.iter, first.target, ctx):
                bound: set[str] = set()
                for generator in ancestor.generators:
                    bound.update(_names_in(generator.target))
                if uses_any(node, bound) and not _handed_to_concurrency(ancestor, node, ctx) and \
                        not _comprehension_misses_prefetched(ancestor, ctx):
                    return PerItemLoop(ancestor, ancestor.lineno, "comprehension")
            came_from_first_iter = False
        child = ancestor
    return None


def _names_in(target: ast.AST) -> set[str]:
    return {n.id for n in walk(target) if n.__class__ is ast.Name}  # type: ignore[attr-defined]


def loop_bound_names(loop: ast.For | ast.AsyncFor, ctx: "ModuleContext") -> frozenset[str]:
    """The loop's own variables and every name assigned in its body: what changes from one item to the next."""
    def compute() -> frozenset[str]:
        names = set(_names_in(loop.target))
        assignments = [node for stmt in loop.body for node in ast.walk(stmt)
                       if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For,
                                            ast.AsyncFor, ast.With, ast.AsyncWith))]
        for _ in range(3):  # names derived from names derived from the item
            before = len(names)
            for node in assignments:
                if isinstance(node, (ast.For, ast.AsyncFor)):
                    value, targets = node.iter, [node.target]
                elif isinstance(node, (ast.With, ast.AsyncWith)):
                    value = ast.Tuple([i.context_expr for i in node.items], ast.Load())
                    targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
                elif isinstance(node, ast.Assign):
                    value, targets = node.value, node.targets
                else:
                    value, targets = node.value, [node.target]  # type: ignore[assignment]
                if value is not None and uses_any(value, names):
                    for target in targets:
                        names.update(_names_in(target))
            if len(names) == before:
                break
        return frozenset(names)
    return ctx.memo(("orm-loop-bound", id(loop)), compute)


def uses_any(node: ast.AST, names: set[str] | frozenset[str]) -> bool:
    if not names:
        return False
    return any(n.__class__ is ast.Name and n.id in names for n in walk(node))  # type: ignore[attr-defined]


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk` without its per-call import and queue: every node under `node` (order not guaranteed).
    Expression contexts are skipped. Called for most loops, so it is worth the copy."""
    stack = [node]
    pop, push, AST = stack.pop, stack.append, ast.AST
    while stack:
        current = pop()
        yield current
        for name in current._fields:
            if name == "ctx":
                continue
            value = getattr(current, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, AST):
                        push(item)
            elif isinstance(value, AST):
                push(value)


# `async for line in resp.aiter_lines():` - events of a stream arrive one at a time (a server-sent-events feed, a
# long poll): each is handled as it comes, there is no list to batch or run concurrently.
STREAM_READS = re.compile(r"^a?iter_(lines|bytes|text|raw|content|chunked|any)$|^(listen|stream_events|events)$")


def _counts(iterable: ast.AST, target: ast.AST, ctx: "ModuleContext") -> bool:
    """Does iterating this run once per row of data (not over a literal, a constant or a page/chunk list)?"""
    if any(BATCHING.search(name) for name in _names_in(target)):
        return False
    node = iterable
    while isinstance(node, ast.Call) and call_name(node) in ("enumerate", "reversed", "sorted", "zip", "items",
                                                            "values", "keys", "list", "tuple"):
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("items", "values", "keys"):
            node = node.func.value
        elif node.args:
            node = node.args[0]
        else:
            break
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Constant, ast.JoinedStr)):
        return False
    if _schema_metadata(node) or _sized_by_code(node, ctx):
        return False
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.upper is not None:
        return False  # `for t in sample[:N]`: a bounded sample, not every row
    if isinstance(node, ast.Call):
        name = call_name(node)
        if name == "range" and all(isinstance(a, ast.Constant) for a in node.args):
            return False
        if BATCHING.search(name) or STREAM_READS.match(name):
            return False
    spelled = ctx.dotted_name(node)
    if spelled:
        last = spelled.split(".")[-1]
        if last.isupper() and len(last) > 1 or BATCHING.search(last):
            return False
    return True


# Class attributes of an enum or a Django choices class: `Status.choices`, `Color.__members__`.
CHOICES_ATTRS = frozenset({"choices", "labels", "values", "names", "__members__"})
ARGUMENT_PARSERS = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args"})


def _sized_by_code(node: ast.AST, ctx: "ModuleContext") -> bool:
    """Iterables whose length the code or the operator fixes, not the data: a class (`for value, label in
    Status:` walks an enum's or a choices class's members), its `choices`/`__members__`, a name bound to a
    literal of constants (`FIELDS = ("a", "b")`, also lowercase and local), a name bound to a slice with a constant
    bound (`sorted(books)[:4]`) or to a comprehension over such a literal, the project's models
    (`apps.get_models()`, an app config's `get_models()`), and command-line arguments (`args.urls` from
    `parse_args()`, `sys.argv`)."""
    if isinstance(node, ast.Name):
        value = ctx.value_of(node)
        if value is None:
            return node.id[:1].isupper() and (node.id in ctx.module_names or ctx.resolve_name(node.id, node)
                                              is not None) and not node.id.isupper() and _is_class_name(node, ctx)
        if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Slice) \
                and isinstance(value.slice.upper, ast.Constant):
            return True  # `books = sorted(series_books, key=...)[:4]`: at most four
        if isinstance(value, (ast.ListComp, ast.SetComp, ast.GeneratorExp)) and value.generators:
            source = value.generators[0].iter  # `missing = [r for r in RESOLUTIONS if r not in done]`
            return _literal_of_constants(source) or isinstance(source, ast.Name) and source is not node \
                and _sized_by_code(source, ctx)
        return _literal_of_constants(value) or isinstance(value, ast.Attribute) and _read_from_settings(value, ctx)
    if isinstance(node, ast.Call) and call_name(node) in ("get_models", "get_app_configs"):
        return True  # the project's models or apps: as many as the code declares
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        if ctx.qualified_name(node) == "sys.argv" or _read_from_settings(node, ctx):
            return True
        owner = node.value
        if node.attr in CHOICES_ATTRS and isinstance(owner, ast.Name) and owner.id[:1].isupper() and \
                ctx.value_of(owner) is None:
            return True
        if isinstance(owner, ast.Name):
            parsed = ctx.value_of(owner)
            return isinstance(parsed, ast.Call) and call_name(parsed) in ARGUMENT_PARSERS
    return False


SETTINGS_FACTORY = re.compile(r"^get_\w*settings$")
# Imported configuration modules or objects (`from app import config`, `from django.conf import settings`).
CONFIG_MODULES = frozenset({"config", "settings", "conf", "configuration", "cfg"})


def _read_from_settings(node: ast.Attribute, ctx: "ModuleContext") -> bool:
    """`settings.services.vacuum.retention_overrides`: a value of the app's configuration (Django's `settings`, an
    imported `config` / `settings` module or object, Flask's `current_app.config`, or an object from
    `get_settings()` / `get_current_settings()`), as long as the operator makes it."""
    root: ast.AST = node
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    qualified = ctx.qualified_name(root) or ""
    if qualified == "django.conf.settings" or qualified.rsplit(".", 1)[-1] in CONFIG_MODULES and \
            ctx.value_of(root) is None:
        return True  # `from infogami.infobase import config` ... `config.http_listeners`
    if isinstance(node.value, ast.Name) and node.attr == "config" and node.value.id in ("app", "current_app"):
        return True  # Flask's `current_app.config["WEBHOOKS"]`
    value = ctx.value_of(root)
    return isinstance(value, ast.Call) and bool(SETTINGS_FACTORY.match(call_name(value)))


def _is_class_name(name: ast.Name, ctx: "ModuleContext") -> bool:
    """A class this module defines or imports (CapWords, never assigned a value here)."""
    if name.id not in ctx.module_names:
        return True  # imported CapWords name: a class
    return any(isinstance(stmt, ast.ClassDef) and stmt.name == name.id for stmt in ctx.tree.body)


def _literal_of_constants(value: ast.AST, depth: int = 3) -> bool:
    """`("a", "b")`, `[("draft", "Draft"), ...]`, `{"en": "English"}`, `[{"name": "Ada", "role": "admin"}]`
    (seed data): a non-empty literal whose leaves are constants."""
    if isinstance(value, ast.Dict):
        elements = [v for v in [*value.keys, *value.values] if v is not None]
    elif isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        elements = list(value.elts)
    else:
        return False
    return bool(elements) and depth > 0 and all(
        isinstance(e, ast.Constant) or _literal_of_constants(e, depth - 1) for e in elements)


# Model and table metadata: a loop over a model's fields or a schema's tables is bounded by the code, not the data.
SCHEMA_META_ATTRS = frozenset({
    "fields", "get_fields", "local_fields", "local_concrete_fields", "concrete_fields", "local_many_to_many",
    "many_to_many", "related_objects", "private_fields", "constraints", "indexes", "unique_together",
    "index_together", "parents", "get_parent_list", "total_unique_constraints", "pk_fields", "fields_map",
})
SA_SCHEMA_ATTRS = frozenset({"sorted_tables", "tables", "columns", "c", "constraints", "indexes", "foreign_keys"})


def _schema_metadata(iterable: ast.AST) -> bool:
    """`model._meta.local_many_to_many`, `model._meta.get_fields()`, `metadata.sorted_tables`,
    `Model.__table__.columns`: the items are schema objects, as many as the code declares."""
    for node in ast.walk(iterable):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) \
            else ""
        if owner_name == "_meta" and node.attr in SCHEMA_META_ATTRS:
            return True
        if owner_name in ("metadata", "__table__", "MetaData") and node.attr in SA_SCHEMA_ATTRS:
            return True
    return False


# Statements that change or inspect the schema, or the session: never batched into one statement per row.
UTILITY_STATEMENT = re.compile(
    r"\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*(?:CREATE|DROP|ALTER|TRUNCATE|COMMENT|GRANT|REVOKE|PRAGMA|VACUUM|ANALYZE"
    r"|REINDEX|CLUSTER|SET|RESET|LOCK|REFRESH|SHOW|DESCRIBE|EXPLAIN|ATTACH|DETACH|USE|SAVEPOINT|RELEASE|BEGIN"
    r"|COMMIT|ROLLBACK|DECLARE|OPTIMIZE|NOTIFY|LISTEN|DISCARD)\b", re.IGNORECASE | re.DOTALL)
# `self.sql_delete_unique`, `sql_create_index`, `CREATE_TABLE_SQL`: a named schema-statement template.
SCHEMA_TEMPLATE_NAME = re.compile(
    r"(?:^|_)(?:sql|ddl)(?:_|$).*(?:create|drop|alter|rename|delete|index|unique|constraint|pk|fk|primary|check"
    r"|table|column|comment|pragma|sequence)|(?:create|drop|alter|rename)_(?:table|index|column|constraint|schema"
    r"|sequence)|ddl", re.IGNORECASE)
STATEMENT_NAMES = re.compile(r"^(?:sql|stmt|statement|query|ddl|command|template)s?$|_(?:sql|stmt|statement|ddl)$",
                             re.IGNORECASE)


# SQLAlchemy's DDL elements (`CreateTable`, `DropTable`, `DropConstraint`, `CreateIndex`, `DDL(...)`).
SA_DDL_MODULES = ("sqlalchemy.schema.", "sqlalchemy.sql.ddl.")


def statement_per_item(expr: ast.AST, loop: ast.AST, ctx: "ModuleContext", helper: bool = False,
                       depth: int = 2) -> bool:
    """Is `expr`, the statement handed to `execute()` in `loop`, a different statement for each item (a list of
    statements, a DDL/PRAGMA per table, a statement builder) rather than one query run with each item's values?
    With `helper`, `expr` is an argument of a project function called per item (`self.execute(sql)`)."""
    targets = _names_in(loop.target) if isinstance(loop, (ast.For, ast.AsyncFor, ast.comprehension)) else set()
    bound = loop_bound_names(loop, ctx) if isinstance(loop, (ast.For, ast.AsyncFor)) else frozenset(targets)
    if isinstance(expr, ast.Name):
        if expr.id in targets:
            return not helper or bool(STATEMENT_NAMES.search(expr.id))
        if helper and SCHEMA_TEMPLATE_NAME.search(expr.id):
            return True
        if depth > 0:
            value = ctx.value_of(expr)
            if expr.id in bound:
                return value is not None and statement_per_item(value, loop, ctx, helper, depth - 1)
            if isinstance(value, (ast.Constant, ast.JoinedStr)):  # `columns = 'PRAGMA table_info("%s")'` above
                return statement_per_item(value, loop, ctx, helper, depth - 1)
        return False
    if isinstance(expr, ast.Attribute):
        return helper and bool(SCHEMA_TEMPLATE_NAME.search(expr.attr))
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return bool(UTILITY_STATEMENT.match(expr.value))
    if isinstance(expr, ast.JoinedStr):
        head = expr.values[0] if expr.values else None
        return isinstance(head, ast.Constant) and isinstance(head.value, str) and \
            bool(UTILITY_STATEMENT.match(head.value))
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mod, ast.Add)):
        template = expr.left
        while isinstance(template, ast.BinOp) and isinstance(template.op, ast.Add):
            template = template.left
        if isinstance(template, (ast.Name, ast.Attribute)):
            name = template.id if isinstance(template, ast.Name) else template.attr
            if SCHEMA_TEMPLATE_NAME.search(name) or isinstance(template, ast.Name) and template.id in targets:
                return True
        return statement_per_item(template, loop, ctx, False, depth) if isinstance(template, (
            ast.Constant, ast.JoinedStr, ast.Name)) else False
    if isinstance(expr, ast.Call):
        name = call_name(expr)
        if (ctx.qualified_name(expr.func) or "").startswith(SA_DDL_MODULES):
            return True  # `conn.execute(DropTable(table))`: schema work, one DDL element per table
        if name == "format" and isinstance(expr.func, ast.Attribute):
            return statement_per_item(expr.func.value, loop, ctx, False, depth)
        if name in ("text", "SQL", "Composed") and expr.args:
            return statement_per_item(expr.args[0], loop, ctx, helper, depth)
        return bool(re.search(r"(?:^|_)(?:sql|ddl|statement)s?$", name)) and uses_any(expr, bound)
    return False


def _batches(iterable: ast.AST, target: ast.AST) -> bool:
    """`for chunk in chunked(ids, 500)`, `for i in range(0, n, size)`: a loop over chunks."""
    if any(BATCHING.search(name) for name in _names_in(target)):
        return True
    if isinstance(iterable, ast.Call):
        name = call_name(iterable)
        return name == "range" and len(iterable.args) == 3 or bool(BATCHING.search(name))
    return False


def _first_success_loop(loop: ast.For | ast.AsyncFor | ast.While, node: ast.AST | None = None,
                        exits: tuple[type, ...] = (ast.Return, ast.Break)) -> bool:
    """`for url in mirrors: try: return fetch(url) except ...: continue` tries items until one works; so do
    `if (found := lookup(x)): return found` and `found = lookup(x)` then `if found: return found`, also when the
    `return` sits deeper (`if data and data.get("cover"): ... if image: return edition.id`). A loop nested in it
    that returns on success ends this loop too (a `break` there only ends the inner one)."""
    for stmt in loop.body:
        if isinstance(stmt, exits):
            return True
        if isinstance(stmt, ast.Try) and any(isinstance(s, exits) for s in (*stmt.body, *stmt.orelse)):
            return True  # also `try: found = lookup(x) except Missing: continue else: break`
    if node is None:
        return False
    if any(isinstance(stmt, (ast.With, ast.AsyncWith)) and any(n is node for item in stmt.items
                                                               for n in walk(item.context_expr))
           and _stops_on_success(stmt.body, exits) for stmt in _loop_statements(loop.body)):
        return True  # `async with session.get(url) as resp: if resp.status == 200: return ...`: mirrors
    if any(isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)) and any(n is node for n in walk(stmt))
           and _first_success_loop(stmt, node, (ast.Return,)) for stmt in loop.body):
        return True
    answers = [stmt for stmt in loop.body if isinstance(stmt, ast.If) and _stops_on_success(stmt.body, exits)]
    if not answers:
        return False
    results: set[str] = set()  # names bound to the call's result inside the loop
    for inner in (n for stmt in loop.body for n in walk(stmt)):
        if isinstance(inner, (ast.Assign, ast.NamedExpr)) and any(n is node for n in walk(inner.value)):
            targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
            results.update(name for target in targets for name in _names_in(target))
    return any(_tests_found(stmt.test, node, results) for stmt in answers)


def _leaves_the_loop_after(loop: ast.For | ast.AsyncFor, node: ast.AST, ctx: "ModuleContext") -> bool:
    """`if plugin.id == wanted: config = Config.objects.get_or_create(...); return config`: the block holding the
    call ends the loop (`return`, `break` or `raise` last), so the call runs at most once per loop, not per item."""
    child = node
    for ancestor in ctx.ancestors(node):
        if ancestor is loop or isinstance(ancestor, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef,
                                                     ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        for field in ("body", "orelse", "finalbody"):
            block = getattr(ancestor, field, None)
            if isinstance(block, list) and block and any(stmt is child for stmt in block):
                last = block[-1]
                if last is not child and isinstance(last, (ast.Return, ast.Break, ast.Raise)):
                    return True
        child = ancestor
    return False


def _loop_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a loop body at any depth, not entering nested loops, functions or classes."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _loop_statements(getattr(stmt, field, None) or [])
        for handler in getattr(stmt, "handlers", None) or []:
            yield from _loop_statements(handler.body)
        for case in getattr(stmt, "cases", None) or []:
            yield from _loop_statements(case.body)


def _stops_on_success(body: list[ast.stmt], exits: tuple[type, ...] = (ast.Return, ast.Break)) -> bool:
    """A `return` or `break` that the answer reaches (not one under `if resp.status != 200:` or in an `except`):
    the loop tries items until one works."""
    for stmt in body:
        if isinstance(stmt, exits):
            return True
        if isinstance(stmt, ast.If):
            if not _tests_failure(stmt.test) and _stops_on_success(stmt.body, exits) \
                    or _stops_on_success(stmt.orelse, exits):
                return True
        elif isinstance(stmt, (ast.With, ast.AsyncWith, ast.Try)) and _stops_on_success(stmt.body, exits):
            return True
    return False


def _tests_failure(test: ast.AST) -> bool:
    """`resp.status != 200`, `status >= 400`, `not resp.ok`: the branch for an item that failed."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    return isinstance(test, ast.Compare) and isinstance(test.ops[0], (ast.NotEq, ast.Gt, ast.GtE, ast.NotIn))


def _guarded_once(loop: ast.For | ast.AsyncFor, node: ast.AST, ctx: "ModuleContext") -> bool:
    """Is `node` inside a branch that does not run for every item? `if not i:` / `if i == 0:` on the enumerate
    index, a flag or counter the loop itself sets (`if not counter: ...` with `counter += 1`, `if first is None:
    first = ...`), or `if name not in existing:` where `existing` came from one query before the loop (only
    the items that query did not find reach the call)."""
    child = node
    for ancestor in ctx.ancestors(node):
        if ancestor is loop:
            return False
        if isinstance(ancestor, ast.If) and child is not ancestor.test:
            in_body = child in ancestor.body
            if in_body and _set_by_loop(ancestor.test, loop, ctx) or _misses_prefetched(ancestor.test, in_body,
                                                                                        loop, ctx):
                return True
        child = ancestor
    return False


def _set_by_loop(test: ast.AST, loop: ast.For | ast.AsyncFor, ctx: "ModuleContext") -> bool:
    """`not i` / `i == 0` on the enumerate index, or `not flag` / `flag is None` on a name the loop rebinds."""
    zero_test = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, zero_test = test.operand, True
    elif isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)) and \
            isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value in (0, None, False):
        test, zero_test = test.left, True
    if not isinstance(test, ast.Name) or not zero_test:
        return False
    target = loop.target
    if isinstance(loop.iter, ast.Call) and call_name(loop.iter) == "enumerate" and isinstance(target, ast.Tuple) \
            and target.elts and isinstance(target.elts[0], ast.Name) and target.elts[0].id == test.id:
        return not any(k.arg == "start" for k in loop.iter.keywords) and len(loop.iter.args) < 2
    if test.id in _names_in(target) or not _bound_before(test.id, loop, ctx):
        return False
    branch = ctx.parent(test)
    while branch is not None and not isinstance(branch, ast.If):
        branch = ctx.parent(branch)
    inside = {id(n) for stmt in (branch.body if branch is not None else []) for n in walk(stmt)}
    rebound = False
    for inner in (n for stmt in loop.body for n in walk(stmt)):
        if isinstance(inner, ast.AugAssign) and isinstance(inner.target, ast.Name) and inner.target.id == test.id:
            rebound = True
        elif isinstance(inner, ast.Assign) and any(isinstance(t, ast.Name) and t.id == test.id for t in inner.targets):
            if id(inner) not in inside and not isinstance(inner.value, ast.Constant):
                return False  # `price = item.price` then `if not price:`: set from each item, tested per item
            rebound = True
    return rebound


def _bound_before(name: str, loop: ast.AST, ctx: "ModuleContext") -> bool:
    scope = ctx.enclosing_function(loop)
    statements = ctx.bindings(scope if scope is not None else ctx.tree).get(name, [])
    return any(getattr(s, "lineno", 0) < loop.lineno for s in statements)


def _misses_prefetched(test: ast.AST, in_body: bool, loop: ast.For | ast.AsyncFor, ctx: "ModuleContext") -> bool:
    """`if name not in existing:` (body) or `if name in existing: ... else:` where `existing` holds the rows of
    one query made before the loop: the call runs only for the items it did not find."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotIn if in_body
                                                                               else ast.In)):
        return False
    container = test.comparators[0]
    if isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name):
        container = container.value
    bound = loop_bound_names(loop, ctx) if isinstance(loop, (ast.For, ast.AsyncFor)) else frozenset()
    return isinstance(container, ast.Name) and container.id not in bound and _read_from_query(container, ctx)


def _read_from_query(name: ast.Name, ctx: "ModuleContext", depth: int = 2) -> bool:
    """`existing = {t.name for t in Tag.objects.filter(name__in=names)}`, also through one more name
    (`rows = list(qs)` then `names = frozenset(r.name for r in rows)`): a container filled by a query."""
    value = ctx.value_of(name)
    if value is None:
        return False
    for inner in walk(value):
        if isinstance(inner, ast.Call) and (query_effect(inner, ctx) or iterates_query(inner, ctx)):
            return True
        if isinstance(inner, ast.comprehension) and iterates_query(inner.iter, ctx):
            return True
        if isinstance(inner, ast.Name) and inner.id != name.id and depth > 0 and \
                ctx.resolve_name(inner.id, inner) is None and _read_from_query(inner, ctx, depth - 1):
            return True
    return False


def _comprehension_misses_prefetched(comprehension: ast.AST, ctx: "ModuleContext") -> bool:
    """`[Group.objects.get_or_create(name=n)[0] for n in names if n not in existing]`: only the missing ones."""
    for generator in comprehension.generators:  # type: ignore[attr-defined]
        for condition in generator.ifs:
            if _misses_prefetched(condition, True, generator, ctx):  # type: ignore[arg-type]
                return True
    return False


def _tests_found(test: ast.AST, node: ast.AST, results: set[str]) -> bool:
    """`if found:`, `if found is not None:`, `if (found := call()):`: did this item give the answer? (Not
    `if found.invalid:`, which checks each item and goes on.)"""
    if test is node:
        return True  # `if is_complete(item): return item`: stops at the first item that passes
    if isinstance(test, ast.NamedExpr):
        return any(n is node for n in walk(test.value))
    if isinstance(test, ast.Name):
        return test.id in results
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return _tests_found(test.values[0], node, results)  # `if data and data.get("cover"):`
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.IsNot, ast.NotEq)) \
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None:
        return _tests_found(test.left, node, results)
    return False


def _collected_for_concurrency(loop: ast.For | ast.AsyncFor, node: ast.AST, ctx: "ModuleContext") -> bool:
    """In a coroutine, `tasks.append(fetch(u))` (or `task = fetch(u)` ... `tasks.append(task)`, or
    `create_task(fetch(u))`) with `tasks` handed to `asyncio.gather` afterwards: the loop only builds coroutines,
    the calls run concurrently."""
    if not isinstance(node, ast.Call) or not isinstance(ctx.enclosing_function(loop), ast.AsyncFunctionDef):
        return False
    parent = ctx.parent(node)
    if isinstance(parent, ast.Call) and call_name(parent) in CONCURRENT_CALLS and node in parent.args:
        return True
    holder = _appended_to(parent, node)
    if holder is None and isinstance(parent, ast.Assign) and len(parent.targets) == 1 and \
            isinstance(parent.targets[0], ast.Name):
        name = parent.targets[0].id
        holder = next((found for inner in walk(loop) if isinstance(inner, ast.Call)
                       for arg in inner.args if isinstance(arg, ast.Name) and arg.id == name
                       if (found := _appended_to(inner, arg)) is not None), None)
    if holder is None:
        return False
    return any(isinstance(inner, ast.Call) and call_name(inner) in CONCURRENT_CALLS and any(
        isinstance(n, ast.Name) and n.id == holder for arg in inner.args for n in walk(arg))
        for inner in walk(ctx.enclosing_function(loop)))


def _appended_to(call: ast.AST | None, item: ast.AST) -> str | None:
    """`tasks.append(item)` / `tasks.add(item)`: "tasks"."""
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in ("append", "add") \
            and isinstance(call.func.value, ast.Name) and any(arg is item for arg in call.args):
        return call.func.value.id
    return None


def _handed_to_concurrency(comprehension: ast.AST, node: ast.AST, ctx: "ModuleContext") -> bool:
    """`asyncio.gather(*[client.get(u) for u in urls])`, or the list bound to a name that is gathered later: the
    calls are collected, then run concurrently."""
    if isinstance(ctx.parent(node), ast.Await):
        return False
    parent = ctx.parent(comprehension)
    if isinstance(parent, ast.Starred):
        parent = ctx.parent(parent)
    if isinstance(parent, ast.Call) and call_name(parent) in CONCURRENT_CALLS:
        return True
    # `tasks = [fetch(u) for u in urls]` then `await asyncio.gather(*tasks)` in the same function
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)):
        return False
    holder = parent.targets[0].id
    function = ctx.enclosing_function(comprehension)
    return function is not None and any(
        isinstance(inner, ast.Call) and call_name(inner) in CONCURRENT_CALLS and any(
            isinstance(n, ast.Name) and n.id == holder for arg in inner.args for n in walk(arg))
        for inner in walk(function))


# ---- lazy once-per-process initialisation ------------------------------------------------------------------------
FILLING_METHODS = frozenset({"update", "add", "append", "extend", "setdefault", "__setitem__"})


def once_per_process(node: ast.AST, function: ast.AST, ctx: "ModuleContext") -> bool:
    """Does `node` run only while a module-level value is unset, in the code that sets it? `if not _TYPES:` then
    `_TYPES[oid] = name` (a process-wide table filled on first use), or `global _CONFIG` with an early
    `if _CONFIG is not None: return _CONFIG` and `_CONFIG = load()`: the query or request runs once per process,
    not once per call."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    # Called for every call of every function: the walk for the function's local names runs only once a test
    # of the right shape is found, and the declared globals come from one pass over the file.
    def declared() -> frozenset[str]:
        return _declared_globals(ctx).get(id(function), frozenset())

    def shared(name: str) -> bool:
        if name in declared():
            return True
        local = ctx.memo(("local-names", id(function)), lambda: frozenset(
            inner.id for inner in ast.walk(function) if isinstance(inner, ast.Name)
            and isinstance(inner.ctx, ast.Store)))
        return name in ctx.module_names and name not in local

    top: ast.AST | None = None
    child: ast.AST = node
    for ancestor in ctx.ancestors(node):
        if ancestor is function:
            break
        if isinstance(ancestor, ast.If) and child in ancestor.body:
            name = _unset_name(ancestor.test)
            if name is not None and shared(name) and _fills(ancestor.body, name):
                return True
        top = child = ancestor
    if top is None:
        return False
    assigned = _assigned_global(node, declared, ctx)
    if assigned is None:
        return False
    for earlier in function.body:
        if earlier is top:
            break
        if isinstance(earlier, ast.If) and _set_name(earlier.test) == assigned and earlier.body \
                and isinstance(earlier.body[-1], ast.Return):
            return True
    return False


def _declared_globals(ctx: "ModuleContext") -> dict[int, frozenset[str]]:
    """id(function) -> the names its `global` statements declare, its nested functions' included (one pass
    over the file's nodes; most files have no `global` at all)."""

    def compute() -> dict[int, frozenset[str]]:
        found: dict[int, set[str]] = {}
        for node in ctx.nodes:
            if isinstance(node, ast.Global):
                for ancestor in ctx.ancestors(node):
                    if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        found.setdefault(id(ancestor), set()).update(node.names)
        return {key: frozenset(names) for key, names in found.items()}

    return ctx.memo(("declared-globals",), compute)


def _unset_name(test: ast.AST) -> str | None:
    """`not X` / `X is None` / `len(X) == 0`: the name tested for being unset."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Name):
        return test.operand.id
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Is, ast.Eq)) \
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value in (None, 0):
        left = test.left
        if isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == "len" and left.args:
            left = left.args[0]
        return left.id if isinstance(left, ast.Name) else None
    return None


def _set_name(test: ast.AST) -> str | None:
    """`X` / `X is not None`: the name tested for being set."""
    if isinstance(test, ast.Name):
        return test.id
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot) \
            and isinstance(test.left, ast.Name) and isinstance(test.comparators[0], ast.Constant) \
            and test.comparators[0].value is None:
        return test.left.id
    return None


def _fills(body: list[ast.stmt], name: str) -> bool:
    """The branch binds `name` or fills it (`name[k] = v`, `name.update(...)`)."""
    for stmt in body:
        for inner in ast.walk(stmt):
            if isinstance(inner, ast.Name) and inner.id == name and isinstance(inner.ctx, ast.Store):
                return True
            if isinstance(inner, ast.Subscript) and isinstance(inner.ctx, ast.Store) \
                    and isinstance(inner.value, ast.Name) and inner.value.id == name:
                return True
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) \
                    and inner.func.attr in FILLING_METHODS and isinstance(inner.func.value, ast.Name) \
                    and inner.func.value.id == name:
                return True
    return False


def _assigned_global(node: ast.AST, declared: Callable[[], frozenset[str]], ctx: "ModuleContext") -> str | None:
    """`_CONFIG = load()`: the declared global that the statement holding `node` assigns."""
    if not declared():
        return None
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, (ast.Assign, ast.AnnAssign)):
            targets = ancestor.targets if isinstance(ancestor, ast.Assign) else [ancestor.target]
            return next((t.id for t in targets if isinstance(t, ast.Name) and t.id in declared()), None)
        if isinstance(ancestor, ast.stmt):
            return None
    return None
