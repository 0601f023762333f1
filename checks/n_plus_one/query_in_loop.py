"""GAP301 query-in-loop: a database round trip per item of a loop, directly or through a project function."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.facts import (DJANGO_TERMINAL, MATERIALISERS, REDIS_PER_KEY, call_name, custom_manager_query,
                         django_chain, is_redis, is_sa_session, iterates_query, outside_request_paths, per_item_loop,
                         query_effect, statement_per_item, strip_chain)
from ..orm.index import FUNCTIONS, LOOP_CALLS, MODELS, cache_miss_branch, loop_calls_reaching
from .lazy_relation_in_loop import ModelIndex, _framework_kind, _model_names, _registered_model

RULE = Rule(
    id="GAP301",
    name="query-in-loop",
    category="n-plus-one",
    severity="warning",
    precision="medium",
    cwe="CWE-1073",
    reads=(MODELS, FUNCTIONS, LOOP_CALLS),
    summary="Database query issued once per item of a loop",
    docs=Docs(
        what=(
            "Flags a database round trip inside a loop that runs once per item (for loop, comprehension,"
            " `map(lambda ...)`) when the query depends on the item: Django `Model.objects.get/first/count/"
            "exists/create/update...()` and querysets iterated or `list()`-ed in the loop, `item.save()` on the"
            " rows of a queryset loop, SQLAlchemy `session.get/execute/scalars/scalar/merge/refresh()` and"
            " `session.query(...).first()/all()/...`, Flask-SQLAlchemy `Model.query...first()`, DB-API"
            " `cursor.execute()` / asyncpg `conn.fetchrow()`, pymongo `find_one/insert_one/update_one...`, and"
            " redis per-key commands. Custom managers count once the project's models declare them"
            " (`OrderPosition.all.filter(...).count()` when the model has"
            " `all = Manager()`). A call to a project function that runs such a query (in any file, through"
            " up to three calls; a query on a parameter's related manager, `order.lines.filter(...).count()`,"
            " counts when the models confirm the relation) is reported at the call site with the chain that"
            " reaches the query; so is `str(row)` / `print(row)` / `f\"{row}\"` on the rows of a queryset when the"
            " model's `__str__` queries. `row.save()` / `row.delete()` on each row of a queryset (also of an admin"
            " action's `queryset`, the registered model's rows) counts unless the model or a project base"
            " overrides that method or a `pre_/post_save` (`_delete`) receiver listens to the model. A call"
            " inside `return` or `raise` ends the loop and is not counted. The app's own jobs and CLIs (a module"
            " with an `if __name__ == \"__main__\":` block: importers, nightly reports) are checked."
        ),
        why=(
            "Each round trip costs a network hop and a statement (0.5-5 ms on a good day). A loop over 20 test"
            " rows is instant; over 5,000 production rows it is 5,000 queries and seconds of latency, and it"
            " grows with the data, so it is found in production, under load, by timeouts."
        ),
        example=(
            "for order in Order.objects.filter(status=\"open\"):\n"
            "    customer = Customer.objects.get(pk=order.customer_id)\n"
            "    send_receipt(customer.email)"
        ),
        instead=(
            "orders = list(Order.objects.filter(status=\"open\"))\n"
            "customers = Customer.objects.in_bulk({o.customer_id for o in orders})\n"
            "for order in orders:\n    send_receipt(customers[order.customer_id].email)\n"
            "# writes: bulk_create/bulk_update, executemany, insert_many/bulk_write, redis mget/pipeline"
        ),
        not_caught=(
            "`while` loops (pagination and polling walk pages on purpose), loops over what the code sizes:"
            " literals, UPPER_CASE constants and any name bound to a literal of constants (also seed rows: a list of"
            " dicts of constants), a class (enum or"
            " choices members: `for value, label in Status:`) and its `.choices`, `get_models()`, command-line"
            " arguments (`args.x` from `parse_args()`, `sys.argv`), values of the app's settings (Django's"
            " `settings`, an imported `config`/`settings` module, Flask's `current_app.config`, an object from"
            " `get_settings()`), constant `range()`s and"
            " chunk/batch/page/retry loops; loops that stop at the first"
            " success; calls in a branch that runs once (`if not counter:` with `counter += 1` in the loop,"
            " `if i == 0:` on the enumerate index) or only for the items one earlier query did not find"
            " (`if name not in existing:`, also a comprehension's `if`, with `existing` read from a queryset"
            " before the loop); per-row"
            " `save()`/`delete()` on a model that overrides it or feeds a signal receiver (the row's own code"
            " must run); queries that do not depend on the loop item, bulk operations (`bulk_create`,"
            " `in_bulk`, `executemany`, `insert_many`), `session.add()` (deferred to the flush), schema work"
            " (loops over `model._meta` fields or SQLAlchemy metadata tables, and `execute()` of a statement that"
            " differs per item: a list of statements, a `*_sql()` builder, a named DDL template, a SQLAlchemy DDL"
            " element (`conn.execute(DropTable(table))`),"
            " CREATE/ALTER/DROP/PRAGMA text), memoised helpers"
            " (`@lru_cache`, `@cached_property`, or a query only on a cache miss: `x = cache.get(k)` then"
            " `if x is None:`), helpers that query only to fill a process-wide value the first time"
            " (`if not _RATES:` then `_RATES[code] = rate`, or `global _CFG` after `if _CFG is not None: return"
            " _CFG`), loops that stop at the first item that answers (`if found: return found`, `try: ... except Missing:"
            " continue else: break`), calls in a branch that ends the loop (the block's last statement is"
            " `return`, `break` or `raise`: it runs once),"
            " tests (also Django-style `tests.py`), migrations (also Alembic revision scripts outside a"
            " `migrations/` folder), management commands, files under `scripts/` or"
            " `bin/`, Django `RunPython` functions (`def forwards(apps, schema_editor):`, wherever they live), data-migration"
            " and seeding modules (`seed.py`, `populate.py`, `sample_data.py`; maintenance runs: walking every row is their job)."
            " Receivers are recognised by origin or"
            " by conventional names (`cursor`, `conn`, `session` in a module importing SQLAlchemy); a cursor"
            " hidden behind an unconventional name is missed. Lazy relation access is GAP302. Precision is"
            " medium: the rule cannot tell how large a loop's collection gets, so loops over a handful of"
            " configured or form-sized items (a settings table, a form's new rows, one object's custom"
            " relationships) are reported like loops over table rows."
        ),
        references=(
            "https://docs.djangoproject.com/en/5.2/topics/db/optimization/",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html",
        ),
    ),
)


def advice(call: ast.AST | None, ctx: ModuleContext) -> str:
    """What to do instead, by the kind of round trip."""
    method = call_name(call) if call is not None else ""
    receiver = call.func.value if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) else None
    if receiver is not None and method in REDIS_PER_KEY and is_redis(receiver, ctx):
        return "fetch or write all keys in one round trip (mget/mset or a pipeline)"
    if method in ("execute", "executescript") and receiver is not None and not is_sa_session(receiver, ctx):
        return "send one statement for all rows (executemany / execute_values, or `WHERE id = ANY(%s)`)"
    if method in ("create", "acreate", "insert_one", "add"):
        return "collect the rows and write them once (bulk_create / insert_many)"
    if method in ("save", "update", "aupdate", "update_one", "replace_one", "update_many"):
        return "update them in one statement (queryset.update(), bulk_update, bulk_write)"
    if method in ("delete", "delete_one", "delete_many", "adelete"):
        return "delete them in one statement (filter(pk__in=...).delete(), delete_many with $in)"
    return "fetch all rows before the loop with one `IN (...)` query and look items up in a dict"


def _message(what: str, loop_line: int, call: ast.AST | None, ctx: ModuleContext) -> str:
    return (f"{what} runs one query per item of the loop on line {loop_line}: a thousand rows mean a thousand"
            f" round trips; {advice(call, ctx)}")


def _skip_file(ctx: ModuleContext) -> bool:
    return outside_request_paths(ctx)


@RULE.on(ast.Call)
def check_call(call: ast.Call, ctx: ModuleContext) -> Iterator[Finding]:
    if _skip_file(ctx):
        return
    what = query_effect(call, ctx)
    if what is None:
        what = _materialised_query(call, ctx)
    if what is None:
        _record_manager_query(call, ctx)
        _record_row_write(call, ctx)
        _record_signal_connect(call, ctx)
        return
    if what is None or ctx.enclosing_loop(call) is None and not isinstance(ctx.enclosing_function(call), ast.Lambda):
        return
    loop = per_item_loop(call, ctx)
    function = ctx.enclosing_function(call)
    if loop is not None and not _runs_listed_statement(call, loop.node, ctx) and \
            not (function is not None and cache_miss_branch(call, function, ctx)) and not _data_migration(call, ctx):
        yield ctx.finding(RULE, call, _message(what, loop.line, call, ctx))


def _data_migration(node: ast.AST, ctx: ModuleContext) -> bool:
    """`def forwards(apps, schema_editor):` - a Django `RunPython` step, wherever the project keeps it (a factory of
    migration operations in `images/utils.py`): run once by `migrate`, walking every row is its job."""
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and [a.arg for a in ancestor.args.args][:2] == ["apps", "schema_editor"]:
            return True
    return False


@RULE.on(ast.For, ast.AsyncFor, ast.comprehension)
def check_iteration(node: ast.For | ast.AsyncFor | ast.comprehension, ctx: ModuleContext) -> Iterator[Finding]:
    """`for item in Item.objects.filter(order=order)` nested in a loop over orders: one query per order."""
    if _skip_file(ctx) or ctx.enclosing_loop(node.iter) is None:
        return
    chain = iterates_query(node.iter, ctx)
    if chain is None:
        return
    loop = per_item_loop(node.iter, ctx)
    if loop is not None and loop.node is not node and not _data_migration(node, ctx):
        yield ctx.finding(RULE, node.iter, _message(f"iterating {chain.label}", loop.line, None, ctx))


def _record_manager_query(call: ast.Call, ctx: ModuleContext) -> None:
    """`OrderPosition.all.filter(order=o).count()` per loop item: a query if `all` is a manager of the model,
    which only the project join can tell."""
    found = custom_manager_query(call, ctx)
    if found is None or ctx.enclosing_loop(call) is None:
        return
    loop = per_item_loop(call, ctx)
    if loop is None:
        return
    label, model, manager = found
    qualified = ctx.resolve_name(model.id, model) or (f"{ctx.module_name}.{model.id}" if ctx.module_name
                                                      else model.id)
    ctx.record("orm-manager-query", {
        "model": [qualified, model.id], "manager": manager, "what": f"{label}.{call_name(call)}()",
        "line": call.lineno, "col": ctx.column(call.lineno, call.col_offset),
        "end_line": call.end_lineno or call.lineno,
        "end_col": ctx.column(call.end_lineno or call.lineno, call.end_col_offset or 0),
        "loop_line": loop.line, "advice": advice(call, ctx),
    })


@RULE.on_project
def manager_queries_in_loops(index: ProjectIndex) -> Iterator[Finding]:
    """Queries through a custom manager (`Revision.page_revisions.get(...)`) per loop item, once the model index
    confirms the attribute is a manager the model declares."""
    facts = index.facts("orm-manager-query")
    if not facts:
        return
    known = ModelIndex(index)
    for path, data in facts:
        model = known.find(*data["model"])  # type: ignore[index]
        if model is None or (known.fields[model["q"]].get(data["manager"]) or [""])[0] != "mgr":  # type: ignore
            continue
        yield index.finding(
            RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],  # type: ignore[index]
            f"{data['what']} runs one query per item of the loop on line {data['loop_line']}: a thousand rows"  # type: ignore[index]
            f" mean a thousand round trips; {data['advice']}",  # type: ignore[index]
        )


@RULE.on_project
def helpers_in_loops(index: ProjectIndex) -> Iterator[Finding]:
    """A project function that (through up to three calls) runs a query, called once per item of a loop."""
    known: list[ModelIndex] = []

    def is_relation(name: str) -> bool:
        """A reverse ForeignKey or ManyToMany manager on every model that has an attribute of that name."""
        if not known:
            known.append(ModelIndex(index))
        return bool(known[0].related_rows(None, name))

    for path, data, via in loop_calls_reaching(index, "query", is_relation):
        yield index.finding(
            RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],  # type: ignore[index]
            f"{data['name']}() runs a query ({via}) once per item of the loop on line {data['loop_line']}:"  # type: ignore[index]
            " a thousand rows mean a thousand round trips; load what it needs for all items before the loop",
        )


def _materialised_query(call: ast.Call, ctx: ModuleContext) -> str | None:
    """`list(Item.objects.filter(order=o))` in a loop: the queryset runs here."""
    if not call.args or not isinstance(call.func, ast.Name) or f"builtins.{call.func.id}" not in MATERIALISERS or \
            ctx.qualified_name(call.func) not in MATERIALISERS:
        return None
    chain = iterates_query(call.args[0], ctx)
    return f"{call_name(call)}({chain.label}...)" if chain is not None else None


SIGNALS = {"pre_save": "save", "post_save": "save", "pre_delete": "delete", "post_delete": "delete"}


def _record_row_write(call: ast.Call, ctx: ModuleContext) -> None:
    """`row.save()` / `row.delete()` on the rows of a Django queryset loop (or of an admin action's `queryset`):
    one UPDATE/DELETE per row. Recorded for the join, which stays silent when the model overrides the method or
    a signal receiver listens to it: then each row's save runs code a bulk `update()` would skip."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("save", "delete", "asave", "adelete")
            and isinstance(func.value, ast.Name)):
        return
    loop = ctx.enclosing_loop(call)
    if not isinstance(loop, (ast.For, ast.AsyncFor)) or not isinstance(loop.target, ast.Name) or \
            loop.target.id != func.value.id or per_item_loop(call, ctx) is None:
        return
    chain = django_chain(loop.iter, ctx)
    if chain is not None and not chain.terminal:
        label, model = chain.label, _model_names(chain, ctx)
    else:
        label, model = _admin_action_rows(loop.iter, ctx)
        if model is None:
            return
    ctx.record("orm-row-write", {
        "model": model, "method": func.attr[1:] if func.attr in ("asave", "adelete") else func.attr,
        "what": f"{func.value.id}.{func.attr}() on each row of {label}",
        "line": call.lineno, "col": ctx.column(call.lineno, call.col_offset),
        "end_line": call.end_lineno or call.lineno,
        "end_col": ctx.column(call.end_lineno or call.lineno, call.end_col_offset or 0),
        "loop_line": loop.lineno, "advice": advice(call, ctx),
    })


def _admin_action_rows(iterable: ast.AST, ctx: ModuleContext) -> tuple[str, list[str] | None]:
    """`for post in queryset.filter(...)` in an admin action `def publish(self, request, queryset)` of a
    ModelAdmin registered for Post: the rows the user ticked in the changelist."""
    root, methods, _, indexed = strip_chain(iterable)
    function = ctx.enclosing_function(iterable)
    cls = ctx.enclosing(iterable, ast.ClassDef)
    if not isinstance(root, ast.Name) or indexed or root.id != "queryset" or function is None or cls is None or \
            isinstance(function, ast.Lambda) or [a.arg for a in function.args.args[:3]] != ["self", "request",
                                                                                            "queryset"] or \
            any(name in DJANGO_TERMINAL for name, _ in methods) or not _framework_kind(cls, ctx, 3) == "admin":
        return "", None
    model = _registered_model(cls, ctx)
    if not isinstance(model, ast.Name):
        return "", None
    qualified = ctx.resolve_name(model.id, model) or (f"{ctx.module_name}.{model.id}" if ctx.module_name
                                                      else model.id)
    return f"the {model.id} rows of the admin action", [qualified, model.id]


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def receivers(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    """`@receiver(post_save, sender=Post)`: saving a Post runs this, so saving rows one by one is deliberate."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and call_name(decorator) == "receiver" and decorator.args:
            _record_signal(decorator.args[0], decorator, ctx)


def _record_signal_connect(call: ast.Call, ctx: ModuleContext) -> None:
    """`post_save.connect(handler, sender=Post)`."""
    if isinstance(call.func, ast.Attribute) and call.func.attr == "connect":
        _record_signal(call.func.value, call, ctx)


def _record_signal(signals: ast.AST, call: ast.Call, ctx: ModuleContext) -> None:
    names = [call_name(s) if isinstance(s, ast.Attribute) else getattr(s, "id", "")
             for s in (signals.elts if isinstance(signals, (ast.List, ast.Tuple)) else [signals])]
    methods = sorted({SIGNALS[n] for n in names if n in SIGNALS})
    sender = next((k.value for k in call.keywords if k.arg == "sender"), None)
    if not methods or not isinstance(sender, (ast.Name, ast.Attribute)):
        return
    name = sender.id if isinstance(sender, ast.Name) else sender.attr
    qualified = ctx.qualified_name(sender) or (f"{ctx.module_name}.{name}" if ctx.module_name else name)
    ctx.record("orm-signal", {"sender": [qualified, name], "methods": methods})


@RULE.on_project
def row_writes(index: ProjectIndex) -> Iterator[Finding]:
    """Per-row save()/delete() in a loop, unless the model's own save/delete or a signal receiver makes each
    row's write run code that a bulk update would skip."""
    writes = index.facts("orm-row-write")
    if not writes:
        return
    known = ModelIndex(index)
    hooked: set[tuple[str, str]] = set()
    for _, data in index.facts("orm-signal"):
        model = known.find(*data["sender"])  # type: ignore[index]
        for method in data["methods"]:  # type: ignore[index]
            hooked.add((model["q"] if model is not None else data["sender"][1], method))  # type: ignore[index]
    for path, data in writes:
        model = known.find(*data["model"]) if data["model"] else None  # type: ignore[index]
        method = data["method"]  # type: ignore[index]
        if model is not None and (known.overrides(model["q"], method) or (model["q"], method) in hooked) or \
                model is None and data["model"] and (data["model"][1], method) in hooked:  # type: ignore[index]
            continue
        yield index.finding(
            RULE, path, data["line"], data["col"], data["end_line"], data["end_col"],  # type: ignore[index]
            f"{data['what']} runs one query per item of the loop on line {data['loop_line']}: a thousand rows"  # type: ignore[index]
            f" mean a thousand round trips; {data['advice']}",  # type: ignore[index]
        )


def _runs_listed_statement(call: ast.Call, loop: ast.AST, ctx: ModuleContext) -> bool:
    """`for sql in statements: cursor.execute(sql)`, a DDL or PRAGMA per table, a statement built per item:
    different statements, not one query per row, and nothing a batch could replace."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr in ("execute", "executescript")):
        return False
    statement = call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg in ("sql", "query", "operation", "statement")), None)
    return statement is not None and statement_per_item(statement, loop, ctx)
