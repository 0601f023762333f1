"""GAP302 lazy-relation-in-loop: a relation loaded lazily for every row of a queryset, without eager loading.

Cross-file by design: the loop (in a view) records which attributes of which model it touches, the model files
record their relation fields; the project check joins the two, so `order.customer` is known to be a ForeignKey
even though `Order` is declared in another module, and reverse accessors (`related_name`, `<model>_set`) and
inherited fields are derived from the whole project's models.
"""
from __future__ import annotations

import ast
from typing import Callable, Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.facts import (DJANGO_BYPASS_PREFETCH, DJANGO_MANAGER_READS, DJANGO_MANAGER_WRITES, QueryChain, call_name,
                         custom_manager_chain, django_chain, iterates_query, outside_request_paths,
                         parameter_annotation, related_chain, strip_chain)
from ..orm.index import (MODELS, function_qualname, is_module_level_class, loaded_relations, lookup_strings,
                         parameter_names, rows_not_models)

RULE = Rule(
    id="GAP302",
    name="lazy-relation-in-loop",
    category="n-plus-one",
    severity="warning",
    # medium: in two reviews of mature projects nobody tuned on, a third of the findings read rows that a caller
    # elsewhere had already loaded (see the docs' last sentence)
    precision="medium",
    cwe="CWE-1073",
    reads=(MODELS,),
    summary="Related object or collection lazily loaded for every row of a query",
    docs=Docs(
        what=(
            "Flags `row.relation` inside a loop (or comprehension) over a Django queryset (from `objects` or a"
            " custom manager the model declares) or a SQLAlchemy query when, per the project's models,"
            " `relation` is a ForeignKey/OneToOne (forward or reverse) that the queryset does not"
            " `select_related`/`prefetch_related`, or a GenericForeignKey, or a reverse ForeignKey / ManyToMany"
            " manager read with `.all()/.count()/.filter()...` that is not prefetched (or is prefetched but read"
            " with a method that bypasses the prefetch cache, such as `.filter()`), or a SQLAlchemy"
            " `relationship()` with the default `lazy=\"select\"` not loaded with `joinedload`/`selectinload`."
            " Models may live in any file of the project; related names, default `<model>_set` accessors,"
            " `Prefetch()` lookups, swappable targets and abstract/concrete inheritance (also concrete models"
            " declared under `if` from star-imported abstract bases) are followed. Loops over the rows of one"
            " object's relation count too (`for line in self.lines.all()` in a model method, `order.lines.all()`"
            " with `order` from `.get()`, an annotated parameter, or named after the model): the related model"
            " comes from the relation; link writes (`row.tags.add/remove/set/clear()`) per row are reported; so do"
            " the items of one row's SQLAlchemy collection (`for item in bundle.items: item.evidence` with `bundle`"
            " from `Bundle.query.get_or_404()`, `session.get(Bundle, pk)` or `db.get_or_404()`, or `self.items` in a"
            " model method) when the item's relationship is lazy, and a `lazy=\"dynamic\"` (or `write_only`)"
            " relationship queried per row (`row.ratings.count()`, `row.ratings.filter_by(...).first()`), and a"
            " model method called per row (`[o.to_dict() for o in orders]`) that reads a lazy SQLAlchemy"
            " relationship on `self` the query does not load. Rows"
            " of a queryset a module function returns (`_published().filter(...)`), of an SQLAlchemy `.all()`"
            " list (`users = db.query(User).all()`) and SQLModel `Relationship()`s read after `session.exec()`"
            " count. Methods Django calls once per row count like a loop body: a syndication `Feed`'s"
            " `item_<x>(item)` over `items()` (also inherited by a feed that replaces `items()`), and a"
            " `ModelAdmin`'s `list_display` methods over the registered model's changelist (with"
            " `get_queryset()`'s loading, `list_select_related`, and the changelist's own `select_related()` when"
            " list_display names a ForeignKey). In a"
            " loop over rows of unknown origin only a reverse one-to-one whose accessor names nothing else in the"
            " project (`recipient.wagtail_userprofile`) is reported."
        ),
        why=(
            "Each lazy access is one SELECT. The loop looks like attribute reads, the test database has five"
            " rows, and the page is fast; in production the same template renders 500 orders with 501 queries,"
            " and the page takes seconds. This is the N+1 that runtime detectors (nplusone, django-zeal,"
            " Sentry) report after it reached users."
        ),
        example=(
            "for order in Order.objects.filter(status=\"open\"):\n"
            "    print(order.customer.name, order.lines.count())"
        ),
        instead=(
            "orders = (Order.objects.filter(status=\"open\")\n"
            "          .select_related(\"customer\").prefetch_related(\"lines\"))\n"
            "for order in orders:\n    print(order.customer.name, len(order.lines.all()))"
        ),
        not_caught=(
            "Querysets whose model is not declared in the scanned project (third-party models), querysets"
            " passed in as parameters or returned by functions other than a same-class method or a module"
            " function with one `return`, model methods that query a dynamic relationship (`row.average_rating()`),"
            " decorated or inherited model methods and Django model methods (functions that query are GAP301's),"
            " appends to one (queued for the flush), one SQLAlchemy row fetched with `.options(...)` (its loading is"
            " taken"
            " as chosen) or by another function, the item's way back to its owner (`item.bundle`, in the identity"
            " map already), admin changelists whose `get_queryset()` is not"
            " `super().get_queryset(request)...` with one `return`, admin methods named only in"
            " `get_list_display()`, feeds whose `items()` has several returns, the foreign key back to the owner of a"
            " reverse manager (`for line in order.lines.all(): line.order`: Django fills it), reads inside a"
            " `raise` or"
            " `return` (`raise ValidationError(f\"{row.owner} ...\")` runs once, the loop ends there),"
            " querysets rebuilt in several `if` branches (`qs = qs.filter(...)` twice: the loading is unknown,"
            " so nothing is reported), querysets built with `|=` from `.none()`, writes through a relation manager"
            " (`ticket.followup_set.create(...)` per row: no prefetch saves it, and whether to batch it is"
            " GAP301's), a relation read on rows a parameter brings (`for ic in obj.issue_cycle.all(): ic.cycle`)"
            " when a module that calls the function, or imports it or its class (a serializer handed to an"
            " exporter), eager-loads that step (`Prefetch(\"issue_cycle\", queryset=...select_related(\"cycle\"))`,"
            " `prefetch_related_objects(rows, *LOOKUPS)`): the rows arrive loaded there, though another caller may"
            " pass them bare, a relation given as an `__in` lookup's value (`filter(points__in=us.role_points.all())`:"
            " a subquery of the outer query), relations reached through a"
            " model `@property`, loops over `values()` / `values_list()` rows, relation lookups we cannot read"
            " (a variable passed to `select_related`, counted as covering everything), `<fk>_id` reads (no"
            " query), templates, FileField reads"
            " (`row.file.read()` is storage I/O, not a query), `.specific` and other model properties that query"
            " inside (their body is not followed), and a relation whose name is both a relation and a column in"
            " different models when the receiver's model is unknown. DRF nested serializers are GAP304. Of the"
            " runtime detectors' documented examples (fixtures/n-plus-one/doc-examples), these stay uncaught:"
            " loops in templates (`{% for e in entries %}{{ e.blog.name }}`), nplusone's"
            " and zeal's \"unused eager load\" warnings (the opposite problem), and relations read through"
            " properties of the row. (An implicit `__str__` that queries, printed per row, and helper"
            " methods that read a relation are GAP301's.) Tests (also Django-style `tests.py`), migrations,"
            " management commands and files under"
            " `scripts/` or `bin/` and seeding modules (`seed.py`, `populate.py`, `sample_data.py`) are not checked."
            " Precision is medium: the rule reads the loading where the rows are built or passed in, and cannot"
            " follow every way a caller loads them - a queryset method of another module that prefetches"
            " (`variants.prefetched_for_webhook()`), a second loop over a queryset the first already evaluated,"
            " or a relation that holds one row by the data's rules (an order's one voucher) - so on mature code"
            " some findings are rows that arrive loaded. On generated apps, where eager loading is rare, it"
            " holds up."
        ),
        references=(
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#select-related",
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#prefetch-related",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html",
        ),
    ),
)


@RULE.on(ast.ClassDef)
def row_callbacks(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    _record_row_callbacks(cls, ctx)


@RULE.on(ast.For, ast.AsyncFor)
def loops(loop: ast.For | ast.AsyncFor, ctx: ModuleContext) -> None:
    _record_uses(loop, loop.iter, loop.target, loop.body, loop.lineno, ctx)


@RULE.on(ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
def comprehensions(node: ast.AST, ctx: ModuleContext) -> None:
    first = node.generators[0]  # type: ignore[attr-defined]
    parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
    for generator in node.generators:  # type: ignore[attr-defined]
        parts.extend(generator.ifs)
    _record_uses(node, first.iter, first.target, parts, node.lineno, ctx)  # type: ignore[attr-defined]


def _record_uses(loop: ast.AST, iterable: ast.AST, target: ast.AST, body: list[ast.AST], line: int,
                 ctx: ModuleContext, extra: list[ast.Call] | None = None, where: str = "",
                 joins_if_fk: list[str] | None = None) -> None:
    if outside_request_paths(ctx):
        return
    if isinstance(iterable, ast.Call) and call_name(iterable) == "enumerate" and iterable.args and \
            isinstance(target, ast.Tuple) and len(target.elts) == 2:
        iterable, target = iterable.args[0], target.elts[1]
    if not isinstance(target, ast.Name):
        return
    iterable = _copied_rows(iterable, ctx) or iterable
    chain = iterates_query(iterable, ctx)
    via = manager = ""
    model: list[str] | None
    if chain is None:
        custom = custom_manager_chain(iterable, ctx)  # `Revision.page_revisions.all()`: confirmed by the join
        if custom is not None:
            chain, manager = custom
    if chain is not None:
        if chain.model is None or rows_not_models(chain.methods):
            return
        model = _model_names(chain, ctx)
        if model is None:
            return
        framework, label, methods, names = chain.framework, chain.label, chain.methods, chain.names
    else:
        related = related_chain(iterable, ctx)
        owned = _sa_collection(iterable, ctx) if related is None else None
        if related is None and owned is None:
            _record_unknown_rows(iterable, target.id, body, line, ctx)
            return
        if owned is not None:
            # `for item in bundle.items`: one row's SQLAlchemy collection; the join confirms the relationship
            model, via = owned
            framework, label, methods, names = "sqlalchemy", f"`{ast.unparse(iterable)}`", (), ()
        else:
            # `for line in order.lines.all()`: the rows of a relation; the join finds the related model
            model, via = _owner(related.receiver, ctx), related.relation
            if model is None:  # the receiver's spelling (`basket_line`) narrows which models own the relation
                model = [None, None, (ctx.dotted_name(related.receiver) or "").rsplit(".", 1)[-1]]
            framework, label, methods, names = "django", related.label, related.methods, related.names
    selected, prefetched, select_all = loaded_relations(methods, _rebinding_calls(names, iterable, ctx)
                                                        + list(extra or ()), ctx)
    uses = _attribute_uses(target.id, body, in_loop=isinstance(loop, (ast.For, ast.AsyncFor)))
    if not uses:
        return
    # `obj.lines.all()` on a parameter's row: the callers decide its loading (checked by the join)
    passed_in = _passed_in_from(iterable, loop, ctx) if via and all(name == "all" for name, _ in methods) else None
    for attr, node, after, method in uses:
        if via and f"{via}__{attr}" in _module_lookups(ctx) and all(name == "all" for name, _ in methods):
            continue  # `invoice.lines.all()` on an invoice the caller loaded with prefetch_related("lines__x")
        if _subquery_argument(node, ctx):
            continue  # `Role.objects.filter(points__in=us.role_points.all())`: SQL inside the outer query
        ctx.record("orm-relation-use", {
            **({"from": passed_in} if passed_in else {}),
            "model": model, "via": via, "manager": manager, "framework": framework, "label": label,
            "var": target.id, "attr": attr,
            "next": after, "method": method, "selected": selected, "prefetched": prefetched,
            "select_all": select_all, "loop_line": line, "line": node.lineno, "where": where,
            **({"joins_if_fk": joins_if_fk} if joins_if_fk else {}),
            "col": ctx.column(node.lineno, node.col_offset), "end_line": node.end_lineno or node.lineno,
            "end_col": ctx.column(node.end_lineno or node.lineno, node.end_col_offset or 0),
        })


# ---- methods a framework calls once per row ----------------------------------------------------------------
FEED_BASES = ("syndication.views.Feed",)
ADMIN_BASES = ("ModelAdmin",)


def _record_row_callbacks(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    """Methods Django calls once per row of a queryset it builds from the class: a syndication `Feed`'s
    `item_<x>(item)` for every row of `items()`, and a `ModelAdmin`'s `list_display` methods for every row of
    the changelist (the registered model's rows, with `get_queryset()` and `list_select_related`). Each is
    recorded like the body of a loop over that queryset."""
    if outside_request_paths(ctx) or not is_module_level_class(cls, ctx):
        return
    kind = _framework_kind(cls, ctx, 3)
    if kind is None:
        return
    methods = _class_methods(cls, ctx, 3)
    if kind == "feed":
        items = methods.get("items")
        returned = _single_return(items) if items is not None else None
        if returned is None:
            return
        for name, method in sorted(methods.items()):
            param = _row_parameter(method)
            if name.startswith("item_") and param:
                _record_uses(method, returned, ast.Name(id=param, ctx=ast.Store()), method.body, method.lineno, ctx,
                             where=f"{cls.name}.{name}(), which the feed calls for every item of {cls.name}.items()"
                                   f" (line {returned.lineno})")
        return
    model = _registered_model(cls, ctx)
    rows = _changelist_rows(cls, methods, model, ctx) if model is not None else None
    if rows is None:
        return
    iterable, extra, line = rows
    listed = _class_strings(cls, ctx, "list_display")
    # With list_select_related unset, the changelist calls select_related() when list_display names a ForeignKey:
    # the join decides which of these plain names are one.
    plain = [] if _class_assigns(cls, "list_select_related") else [
        n for n in listed if n not in methods and "__" not in n]
    for name in listed:
        method = methods.get(name)
        param = _row_parameter(method) if method is not None else None
        if method is not None and param:
            _record_uses(method, iterable, ast.Name(id=param, ctx=ast.Store()), method.body, method.lineno, ctx,
                         extra, where=f"{cls.name}.{name}(), which list_display (line {line}) calls for every row of"
                                      f" the changelist", joins_if_fk=plain)


def _class_assigns(cls: ast.ClassDef, attr: str) -> bool:
    return any(isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in s.targets)
               for s in cls.body)


def _framework_kind(cls: ast.ClassDef, ctx: ModuleContext, depth: int) -> str | None:
    for base in cls.bases:
        spelled = ctx.qualified_name(base) or ctx.dotted_name(base) or ""
        if spelled.endswith(FEED_BASES) and "syndication" in spelled:
            return "feed"
        if spelled.endswith(ADMIN_BASES):
            return "admin"
        parent = _module_class(spelled, ctx)
        if parent is not None and depth > 0:
            found = _framework_kind(parent, ctx, depth - 1)
            if found:
                return found
    return None


def _module_class(name: str, ctx: ModuleContext) -> ast.ClassDef | None:
    for stmt in ctx.tree.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == name:
            return stmt
    return None


def _class_methods(cls: ast.ClassDef, ctx: ModuleContext, depth: int) -> dict[str, ast.FunctionDef]:
    """The class's methods, with those inherited from bases defined in the same module (own ones win)."""
    found: dict[str, ast.FunctionDef] = {}
    if depth > 0:
        for base in cls.bases:
            parent = _module_class(ctx.dotted_name(base) or "", ctx)
            if parent is not None and parent is not cls:
                found.update(_class_methods(parent, ctx, depth - 1))
    found.update({s.name: s for s in cls.body if isinstance(s, ast.FunctionDef)})
    return found


def _class_strings(cls: ast.ClassDef, ctx: ModuleContext, attr: str, depth: int = 3) -> list[str]:
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in stmt.targets) \
                and isinstance(stmt.value, (ast.List, ast.Tuple)):
            return [e.value for e in stmt.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    for base in cls.bases:
        parent = _module_class(ctx.dotted_name(base) or "", ctx)
        if parent is not None and parent is not cls and depth > 0:
            return _class_strings(parent, ctx, attr, depth - 1)
    return []


def _single_return(function: ast.FunctionDef) -> ast.AST | None:
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return)]
    return returns[0].value if len(returns) == 1 else None


def _row_parameter(function: ast.FunctionDef) -> str | None:
    """`def comment_count(self, obj)`: the row the framework passes (the second positional parameter)."""
    args = function.args.posonlyargs + function.args.args
    return args[1].arg if len(args) >= 2 and args[0].arg == "self" else None


def _registered_model(cls: ast.ClassDef, ctx: ModuleContext) -> ast.AST | None:
    """`@admin.register(Post)` on the class, or `admin.site.register(Post, PostAdmin)` in the module."""
    for decorator in cls.decorator_list:
        if isinstance(decorator, ast.Call) and call_name(decorator) == "register" and len(decorator.args) == 1:
            return decorator.args[0]
    for stmt in ctx.tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and call_name(call) == "register" and len(call.args) >= 2 and \
                isinstance(call.args[1], ast.Name) and call.args[1].id == cls.name:
            return call.args[0]
    return None


def _changelist_rows(cls: ast.ClassDef, methods: dict[str, ast.FunctionDef], model: ast.AST,
                     ctx: ModuleContext) -> tuple[ast.AST, list[ast.Call], int] | None:
    """(`Model.objects.all()`, the loading calls of `get_queryset()` and `list_select_related`, the line of
    list_display) for the changelist rows; None when `get_queryset()` builds them in a way we cannot read."""
    if not isinstance(model, (ast.Name, ast.Attribute)):
        return None
    extra: list[ast.Call] = []
    get_queryset = methods.get("get_queryset")
    if get_queryset is not None:
        returned = _single_return(get_queryset)
        if returned is None:
            return None
        root, chain, _, _ = strip_chain(returned)
        names = [name for name, _ in chain]
        if "get_queryset" not in names:
            return None
        extra = [call for name, call in chain[names.index("get_queryset") + 1:]]
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "list_select_related"
                                                for t in stmt.targets):
            value = stmt.value
            if isinstance(value, ast.Constant) and value.value is True:
                extra.append(ast.Call(func=ast.Name("select_related"), args=[], keywords=[]))
            elif isinstance(value, (ast.List, ast.Tuple)):
                extra.append(ast.Call(func=ast.Name("select_related"), args=list(value.elts), keywords=[]))
    line = next((s.lineno for s in cls.body if isinstance(s, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "list_display" for t in s.targets)), cls.lineno)
    rows = ast.Call(func=ast.Attribute(value=ast.Attribute(value=model, attr="objects", ctx=ast.Load()), attr="all",
                                       ctx=ast.Load()), args=[], keywords=[])
    return rows, extra, line


def _copied_rows(iterable: ast.AST, ctx: ModuleContext) -> ast.AST | None:
    """`positions = list(order.positions.select_related("voucher"))` then `for op in positions`: the loop walks the
    queryset's rows, held in a list (GAP302 only: for the other rules the list was fetched once, before)."""
    value = ctx.value_of(iterable) if isinstance(iterable, ast.Name) else iterable  # also `for x in list(qs)`
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "sorted",
                                                                                           "tuple") and value.args:
        return value.args[0]
    if isinstance(iterable, ast.Name) and value is not None:
        chain = iterates_query(value, ctx)  # `users = db.query(User).all()`: a list of rows, relations still lazy
        if chain is not None and chain.framework == "sqlalchemy":
            return value
    return None


def _record_unknown_rows(iterable: ast.AST, var: str, body: list[ast.AST], line: int, ctx: ModuleContext) -> None:
    """A loop over rows of unknown origin (a parameter, an attribute, a call's result): only a reverse one-to-one
    with a name no other model uses (`recipient.wagtail_userprofile`) can be judged, so the join gets just the
    attribute names that are read, not called."""
    if not isinstance(iterable, (ast.Name, ast.Attribute, ast.Call)) or _is_literal_or_builtin(iterable, ctx):
        return
    loaded = _module_lookups(ctx)
    for attr, node in _distinctive_reads(var, body):
        if attr in loaded:
            continue  # rows from a helper that select_related()s this accessor somewhere in the module
        ctx.record("orm-rows-attr", [attr, var, line, node.lineno, ctx.column(node.lineno, node.col_offset),
                                     node.end_lineno or node.lineno,
                                     ctx.column(node.end_lineno or node.lineno, node.end_col_offset or 0)])


def _subquery_argument(node: ast.AST, ctx: ModuleContext) -> bool:
    """`row.rel.all()` given as an `__in` lookup's value: Django compiles the queryset into the outer query as a
    subquery, so reading it runs no query of its own (the outer query is GAP301's)."""
    current = node
    for _ in range(4):
        parent = ctx.parent(current)
        if isinstance(parent, ast.keyword):
            return bool(parent.arg) and parent.arg.endswith("__in")
        if not isinstance(parent, (ast.Attribute, ast.Call)) or \
                isinstance(parent, ast.Call) and current is not parent.func:
            return False
        current = parent
    return False


def _passed_in_from(iterable: ast.AST, loop: ast.AST, ctx: ModuleContext) -> list[str] | None:
    """The qualified names that call the function whose parameter the relation read starts at (`obj` in
    `for ic in obj.issue_cycle.all()`): the function itself, and for a method its class too (a serializer's
    `get_cycles(self, obj)` runs for the rows whoever builds the serializer hands it)."""
    root = iterable
    while isinstance(root, (ast.Call, ast.Attribute, ast.Subscript)):
        root = root.func if isinstance(root, ast.Call) else root.value
    function = ctx.enclosing_function(loop)
    if not isinstance(root, ast.Name) or not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) \
            or root.id not in parameter_names(function) or root.id in ("self", "cls"):
        return None
    qualname = function_qualname(function, ctx)
    if qualname is None:
        return None
    return [qualname, qualname.rsplit(".", 1)[0]] if isinstance(ctx.parent(function), ast.ClassDef) else [qualname]


EAGER_CALLS = ("select_related", "prefetch_related", "Prefetch", "prefetch_related_objects")


@RULE.on(ast.Call, callees=EAGER_CALLS)
def eager_lookups(call: ast.Call, ctx: ModuleContext) -> None:
    """Each module's eager-loading lookups, for relation reads on rows its functions pass to another module
    (`Prefetch("issue_relation", queryset=IssueRelation.objects.select_related("related_issue"))` loads
    `issue_relation__related_issue`)."""
    name = call_name(call)
    if name not in EAGER_CALLS or outside_request_paths(ctx):
        return
    lookups = lookup_strings(call.args[1:] if name == "prefetch_related_objects" else call.args, ctx)
    if name == "Prefetch" and call.args and isinstance(call.args[0], ast.Constant) \
            and isinstance(call.args[0].value, str):
        queryset = next((k.value for k in call.keywords if k.arg == "queryset"), None)
        inner = [n for n in ast.walk(queryset) if isinstance(n, ast.Call)
                 and call_name(n) in ("select_related", "prefetch_related")] if queryset is not None else []
        lookups += [f"{call.args[0].value}__{lookup}" for n in inner for lookup in lookup_strings(n.args, ctx)]
    pairs = sorted({"__".join(parts[i:i + 2]) for lookup in lookups if lookup != "*"
                    for parts in [lookup.split("__")] for i in range(len(parts) - 1)})
    if pairs:
        recorded = ctx.memo(("orm-eager-pairs",), lambda: _new_pairs_fact(ctx))
        recorded["pairs"] = sorted(set(recorded["pairs"]) | set(pairs))


def _new_pairs_fact(ctx: ModuleContext) -> dict:
    fact: dict = {"pairs": [], "imports": sorted(set(ctx.imports.values()))}
    ctx.record("orm-eager-pairs", fact)  # filled in as the walk goes on; serialised after it
    return fact


def _module_lookups(ctx: ModuleContext) -> frozenset[str]:
    """Every eager-loading lookup written in this module, whole and by segment: `"lines__subevent"` gives
    `lines__subevent`, `lines` and `subevent`. Rows that reach a loop from elsewhere (a parameter, a helper's
    return value) are often loaded with these."""
    def compute() -> frozenset[str]:
        found: set[str] = set()
        for node in ctx.nodes:  # `prefetch_related_objects(rows, "lines__x")` and `*LOOKUPS` constants too
            if node.__class__ is not ast.Call:
                continue
            name = call_name(node)
            if name in ("select_related", "prefetch_related", "Prefetch"):
                args = node.args  # type: ignore[attr-defined]
            elif name == "prefetch_related_objects":
                args = node.args[1:]  # type: ignore[attr-defined]  # (instances, *lookups)
            else:
                continue
            for arg in args:
                for lookup in lookup_strings([arg], ctx):
                    parts = lookup.split("__")
                    found.add(lookup)
                    found.update(parts)
                    found.update("__".join(parts[i:i + 2]) for i in range(len(parts) - 1))
        return frozenset(found)
    return ctx.memo(("orm-module-lookups",), compute)


def _distinctive_reads(var: str, body: list[ast.AST]) -> list[tuple[str, ast.Attribute]]:
    """`var.attr` reads whose accessor name is specific enough to judge blind (`wagtail_userprofile`, never
    `user`), first of each name; one light pass with no parent map (most loops are not over querysets)."""
    found: dict[str, ast.Attribute] = {}
    for part in body:
        stack = [part]
        while stack:
            node = stack.pop()
            if node.__class__ is ast.Attribute:
                value = node.value  # type: ignore[attr-defined]
                if value.__class__ is ast.Name and value.id == var:  # type: ignore[attr-defined]
                    attr = node.attr  # type: ignore[attr-defined]
                    if node.ctx.__class__ is ast.Load and attr not in found and not attr.startswith("_") and \
                            ("_" in attr or attr.endswith("profile")) and not attr.endswith("_id"):  # type: ignore
                        found[attr] = node  # type: ignore[assignment]
            elif node.__class__ is ast.Name and node.id == var and node.ctx.__class__ is ast.Store:  # type: ignore
                return []
            elif node.__class__ in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda) and \
                    node is not part:
                continue
            stack.extend(ast.iter_child_nodes(node))
    return sorted(found.items(), key=lambda item: (item[1].lineno, item[1].col_offset))


def _is_literal_or_builtin(iterable: ast.AST, ctx: ModuleContext) -> bool:
    if isinstance(iterable, ast.Call):
        qualified = ctx.qualified_name(iterable.func) or ""
        return qualified.startswith("builtins.") and qualified not in ("builtins.list", "builtins.sorted")
    return False


def _owner(receiver: ast.AST, ctx: ModuleContext) -> list[str] | None:
    """[qualified name, class name] of the model `receiver` is an instance of, when the code says so: `self` in
    a model class, a parameter annotated with a class, `x = Model.objects.get(...)`, or the variable of a loop over
    a queryset of a model. None when unknown (the join then goes by the relation's name alone)."""
    if not isinstance(receiver, ast.Name):
        return None
    if receiver.id in ("self", "cls"):
        cls = ctx.enclosing(receiver, ast.ClassDef)
        if cls is None or not is_module_level_class(cls, ctx):
            return None
        return [f"{ctx.module_name}.{cls.name}" if ctx.module_name else cls.name, cls.name, "self"]
    annotation = parameter_annotation(receiver, ctx)
    if annotation:
        name = annotation.split(".")[-1]
        if name[:1].isupper():
            head = annotation.split(".")[0]
            qualified = ctx.resolve_name(head, receiver)
            if qualified and "." in annotation:
                qualified = qualified + annotation[len(head):]
            return [qualified or annotation, name]
        return None
    value = ctx.value_of(receiver)
    if value is not None:
        chain = django_chain(value, ctx)
        if chain is not None and chain.terminal in ("get", "first", "last", "latest", "earliest", "aget", "afirst",
                                                    "alast") or chain is not None and chain.indexed:
            return _model_names(chain, ctx)
        return None
    for ancestor in ctx.ancestors(receiver):
        if isinstance(ancestor, (ast.For, ast.AsyncFor)) and isinstance(ancestor.target, ast.Name) and \
                ancestor.target.id == receiver.id:
            chain = iterates_query(ancestor.iter, ctx)
            if chain is not None and chain.framework == "django" and not rows_not_models(chain.methods):
                return _model_names(chain, ctx)
            return None
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            break
    return None


CALLED = "()"  # the `next` of a `row.method()` use
SA_COLLECTION_WRITES = frozenset({"append", "remove", "extend", "add", "add_all"})
# Row writes through a Django related manager: a statement per call that eager loading cannot save, and that often
# must run per row (the model's own save()/delete() and signals); whether the loop should batch them is GAP301's.
RELATED_ROW_WRITES = frozenset({"create", "get_or_create", "update_or_create", "update", "delete", "acreate",
                                "aget_or_create", "aupdate_or_create", "aupdate", "adelete"})
SA_ONE_ROW = frozenset({"get", "get_or_404", "first", "first_or_404", "one", "one_or_none", "one_or_404",
                        "scalar_one", "scalar_one_or_none"})


def _sa_collection(iterable: ast.AST, ctx: ModuleContext) -> tuple[list[str], str] | None:
    """`self.items` in a model method, or `bundle.items` with `bundle = Bundle.query.get_or_404(id)` (also
    `session.get(Bundle, id)`, `db.get_or_404(Bundle, id)`, `.filter(...).first()`, an annotated parameter):
    ([qualified name, class name], relation) of one object's collection, iterated without a query call. The join
    keeps it only when the model's relationship of that name is SQLAlchemy's."""
    if not isinstance(iterable, ast.Attribute) or not isinstance(iterable.value, ast.Name) or \
            iterable.attr.startswith("_") or iterable.attr[:1].isupper():
        return None
    receiver = iterable.value
    model = _owner(receiver, ctx)
    if model is None and receiver.id not in ("self", "cls"):
        model = _sa_single_row(ctx.value_of(receiver), ctx)
    return (model, iterable.attr) if model is not None else None


def _sa_single_row(value: ast.AST | None, ctx: ModuleContext) -> list[str] | None:
    """The model of one row a SQLAlchemy / Flask-SQLAlchemy call returns: `M.query...get_or_404()`,
    `session.get(M, pk)`, `db.get_or_404(M, pk)`."""
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute) or \
            value.func.attr not in SA_ONE_ROW:
        return None
    if value.func.attr in ("get", "get_or_404", "one_or_404") and value.args and isinstance(value.args[0], ast.Name) \
            and value.args[0].id[:1].isupper() and len(value.args) >= 2:
        model = value.args[0]  # `session.get(Bundle, bundle_id)`
    else:
        root, methods, _, _ = strip_chain(value)
        if not (isinstance(root, ast.Attribute) and root.attr == "query" and isinstance(root.value, ast.Name)
                and root.value.id[:1].isupper()) or any(name == "options" for name, _ in methods):
            return None  # not a model's query, or one that chooses its loading (`.options(selectinload(...))`)
        model = root.value  # `Bundle.query.get_or_404(bundle_id)`
    qualified = ctx.resolve_name(model.id, model)
    if qualified is None and model.id in ctx.module_names:
        qualified = f"{ctx.module_name}.{model.id}" if ctx.module_name else model.id
    return [qualified or model.id, model.id]


def _model_names(chain: QueryChain, ctx: ModuleContext) -> list[str] | None:
    """[qualified name, class name] of the chain's model, when it is a class name we can resolve."""
    model = chain.model
    if isinstance(model, ast.Name):
        qualified = ctx.resolve_name(model.id, model)
        if qualified is None and model.id in ctx.module_names:
            qualified = f"{ctx.module_name}.{model.id}" if ctx.module_name else model.id
        return [qualified or model.id, model.id]
    if isinstance(model, ast.Attribute) and model.attr[:1].isupper():
        return [ctx.qualified_name(model) or ctx.dotted_name(model) or model.attr, model.attr]
    return None


def _rebinding_calls(names: tuple[str, ...], iterable: ast.AST, ctx: ModuleContext) -> list[ast.Call]:
    """Eager-loading calls on any assignment of the names the chain went through (`qs = qs.select_related(..)`
    in a branch), and `prefetch_related_objects(...)` in the function: counted as loading, to stay silent."""
    calls: list[ast.Call] = []
    scope = ctx.scope_of(iterable)
    table = ctx.bindings(scope)
    for name in names:
        for stmt in table.get(name, ()):
            for node in ast.walk(stmt):
                if isinstance(node, ast.Call) and call_name(node) in ("select_related", "prefetch_related",
                                                                      "options"):
                    calls.append(node)
    if scope is not ctx.tree:
        for node in ctx.own_nodes(scope):
            if isinstance(node, ast.Call) and call_name(node) == "prefetch_related_objects":
                calls.append(ast.Call(func=ast.Name("prefetch_related"), args=node.args[1:], keywords=[]))
    return calls


def _attribute_uses(var: str, body: list[ast.AST], in_loop: bool = True) -> list[tuple[str, ast.Attribute, str, bool]]:
    """(attr, node, the attribute or method read on it, whether that is a call) for `var.attr` reads, first
    occurrence of each (attr, next) pair; nothing when the loop rebinds `var`. `in_loop`: `body` is a loop's (a
    read in its `raise`/`return` runs once), not a per-row callback's (whose `return obj.x` runs per row)."""
    found: list[tuple[str, ast.Attribute, str, bool]] = []
    seen: set[tuple[str, str]] = set()
    nodes: list[ast.AST] = []
    for part in body:
        nodes.append(part)
        if not isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            nodes.extend(own_nodes_of(part))
    parents: dict[int, ast.AST] = {}
    for node in nodes:
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    # Reads after the loop rebinds `var` (`acr = copy.copy(acr)`) are of another object: only earlier ones count.
    rebound = min((node.lineno for node in nodes if isinstance(node, ast.Name) and node.id == var
                   and isinstance(node.ctx, ast.Store)), default=None)
    candidates = sorted((node for node in nodes if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                         and node.value.id == var and isinstance(node.ctx, ast.Load)),
                        key=lambda node: (node.lineno, node.col_offset))  # the first read is the one that queries
    for node in candidates:
        if rebound is not None and node.lineno > rebound:
            break
        if node.attr.startswith("_") or node.attr.endswith("_id") or in_loop and _ends_loop(node, parents):
            continue
        parent = parents.get(id(node))
        after, method = "", False
        if isinstance(parent, ast.Attribute) and parent.value is node:
            after = parent.attr
            grand = parents.get(id(parent))
            method = isinstance(grand, ast.Call) and grand.func is parent
        elif isinstance(parent, ast.Call) and parent.func is node:
            after = CALLED  # `row.to_dict()`: a model method, which may read the row's relationships
        elif isinstance(parent, (ast.Assign, ast.AugAssign)) and node in getattr(parent, "targets", ()):
            continue
        key = (node.attr, after)
        if key not in seen:
            seen.add(key)
            found.append((node.attr, node, after, method))
    return found


def _ends_loop(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """A read in a `raise` or `return` (`raise ValidationError(f"... {row.owner} ...")`) runs once: the loop ends."""
    current = parents.get(id(node))
    while current is not None:
        if isinstance(current, (ast.Raise, ast.Return)):
            return True
        current = parents.get(id(current))
    return False


def own_nodes_of(node: ast.AST) -> Iterator[ast.AST]:
    stack = list(ast.iter_child_nodes(node))
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(current))


# ---- the project join ---------------------------------------------------------------------------------------
USER_MODEL_SPELLINGS = ("AUTH_USER_MODEL", "auth.User", "get_user_model", "contrib.auth.models.User")
USER_STAND_IN = "django.contrib.auth.models.User"


def _named_after(spelled: str, model: dict) -> bool:
    """`line`, `basket_line` (app `basket`), `order_line` name an instance of model `Line`."""
    name = model["name"].lower()
    parts = spelled.lower().split("_")
    if not spelled or model["abstract"] or parts[-1] != name:
        return False
    return len(parts) == 1 or f".{parts[-2]}." in f".{model['q']}"


def _models_only(classes: list[dict]) -> list[dict]:
    """The recorded classes that are models: with fields or a Django base, or inheriting from such a class
    (by qualified name, or by class name when that name is unique). Linear: a few rounds over the classes."""
    by_name: dict[str, list[dict]] = {}
    for data in classes:
        by_name.setdefault(data["name"], []).append(data)
    is_model: dict[int, bool] = {id(d): any(f[0] != "mgr" for f in d["fields"].values()) or d.get("django", True)
                                 for d in classes}
    known_q = {d["q"] for d in classes}
    for _ in range(6):
        changed = False
        for data in classes:
            if is_model[id(data)]:
                continue
            for base in data["bases"]:
                same = by_name.get(base.rsplit(".", 1)[-1], [])
                parents = [d for d in same if d["q"] == base] if base in known_q else same if len(same) == 1 else []
                if any(is_model[id(p)] for p in parents):
                    is_model[id(data)] = changed = True
                    break
        if not changed:
            break
    return [d for d in classes if is_model[id(d)]]


class ModelIndex:
    """Every recorded model with its own, inherited and reverse relations."""

    def __init__(self, index: ProjectIndex) -> None:
        self.by_q: dict[str, dict] = {}
        self.by_name: dict[str, list[dict]] = {}
        for data in _models_only([data for _, data in index.facts("orm-model")]):  # type: ignore[misc]
            self.by_q.setdefault(data["q"], data)
            self.by_name.setdefault(data["name"], []).append(data)
        self._children: dict[str, list[str]] | None = None
        self._by_field: dict[str, list[tuple[str, list]]] | None = None
        self.fields: dict[str, dict[str, list]] = {}
        for q in self.by_q:
            self.fields[q] = self._all_fields(q, 0)
        reverse: dict[str, dict[str, list]] = {}
        for q, model in list(self.by_q.items()):
            if model["abstract"]:
                continue
            for attr, (kind, target, related) in list(self.fields[q].items()):
                if kind not in ("fk", "o2o", "m2m") or related.endswith("+") or "%(" in related:
                    continue
                reverse_kind = "rev-o2o" if kind == "o2o" else "manager"
                default = model["name"].lower() if kind == "o2o" else f"{model['name'].lower()}_set"
                for other in self.targets(target, model):
                    self.fields[other["q"]].setdefault(related or default, [reverse_kind, q, ""])
                    reverse.setdefault(other["q"], {}).setdefault(related or default, [reverse_kind, q, ""])
        # Concrete inheritance: a child row has its parents' reverse accessors too (`signing_key.signatures`
        # where the key declared on the parent `Content`).
        for q in self.by_q:
            for ancestor in self._ancestors(q):
                for attr, field in reverse.get(ancestor, {}).items():
                    self.fields[q].setdefault(attr, field)

    def _ancestors(self, q: str) -> list[str]:
        found: list[str] = []
        frontier = [q]
        for _ in range(6):
            parents = []
            for current in frontier:
                for base in self.by_q[current]["bases"]:
                    parent = self.find(base, base.rsplit(".", 1)[-1])
                    if parent is not None and parent["q"] not in found and parent["q"] != q:
                        found.append(parent["q"])
                        parents.append(parent["q"])
            frontier = parents
            if not frontier:
                break
        return found

    def overrides(self, q: str, method: str) -> bool:
        """Does the model or one of its project bases define its own `save()` / `delete()` (sync or async)?"""
        return any(method in self.by_q[m].get("overrides", ()) or f"a{method}" in self.by_q[m].get("overrides", ())
                   for m in [q, *self._ancestors(q)])

    def find(self, qualified: str, name: str) -> dict | None:
        if qualified in self.by_q:
            return self.by_q[qualified]
        same = self.by_name.get(name, [])
        return same[0] if len(same) == 1 else None

    def targets(self, target: str, model: dict) -> list[dict]:
        if target in ("self", model["name"]):
            return [model]
        if target in self.by_q:
            return [self.by_q[target]]
        if target.endswith(USER_MODEL_SPELLINGS):
            return [self._user_model()]
        same = self.by_name.get(target.rsplit(".", 1)[-1], [])
        if "." in target and len(same) > 1:  # "order.Line": the Line of the `order` app
            app = target.rsplit(".", 1)[0].rsplit(".", 1)[-1]
            return [m for m in same if f".{app}." in f".{m['q']}"] or same
        if len(same) > 1:  # a bare "Line": Django looks in the declaring model's own app first
            module = model["q"].rsplit(".", 1)[0]
            package = module.rsplit(".", 1)[0]
            return [m for m in same if m["q"].rsplit(".", 1)[0] == module] or \
                [m for m in same if m["q"].startswith(package + ".")] or same
        return same

    def _user_model(self) -> dict:
        """The project's `User` model when it declares exactly one, else a stand-in for django.contrib.auth's,
        so reverse relations onto the user model (`user.profile`) are known."""
        users = [m for m in self.by_name.get("User", []) if not m["abstract"]]
        if len(users) == 1:
            return users[0]
        if USER_STAND_IN not in self.by_q:
            model = {"q": USER_STAND_IN, "name": "User", "bases": [], "abstract": False, "fields": {}}
            self.by_q[USER_STAND_IN] = model
            self.by_name.setdefault("User", []).append(model)
            self.fields[USER_STAND_IN] = {}
        return self.by_q[USER_STAND_IN]

    def relation(self, model: dict, attr: str) -> list | None:
        """The field `attr` of `model`; for an abstract model (a method on `self` in an abstract base), the field
        of its concrete subclasses when they all agree."""
        field = self.fields[model["q"]].get(attr)
        if field is not None or not model["abstract"]:
            return field
        found = [self.fields[q].get(attr) for q in self._descendants(model["q"])]
        found = [f for f in found if f is not None]
        return found[0] if found and all(f[0] == found[0][0] and f[1] == found[0][1] for f in found) else None

    def _descendants(self, q: str) -> list[str]:
        if self._children is None:
            self._children = {}
            for child_q, child in self.by_q.items():
                for base in child["bases"]:
                    parent = self.find(base, base.rsplit(".", 1)[-1])
                    if parent is not None and parent["q"] != child_q:
                        self._children.setdefault(parent["q"], []).append(child_q)
        found: list[str] = []
        frontier = [q]
        for _ in range(4):
            frontier = [c for p in frontier for c in self._children.get(p, ()) if c not in found]
            found.extend(frontier)
        return found

    def related_rows(self, owner: list[str] | None, relation: str, spelled: str = "") -> list[dict]:
        """The models whose rows `owner.relation.all()` yields. Without a known owner, by the relation's name:
        every model field of that name must be a manager or many-to-many (else we cannot tell), and the targets
        of all of them count, or of those whose model the receiver is named after (`basket_line` -> the `Line`
        of the `basket` app)."""
        if owner is not None:
            model = self.find(owner[0], owner[1])
            if model is None:
                return []
            field = self.relation(model, relation)
            return self.targets(field[1], model) if field and (field[0] in ("manager", "m2m")
                                                               or field[0].startswith("sa:")) else []
        if self._by_field is None:
            self._by_field = {}
            for q, fields in self.fields.items():
                for attr, field in fields.items():
                    self._by_field.setdefault(attr, []).append((q, field))
        owners = self._by_field.get(relation, [])
        if any(field[0] not in ("manager", "m2m") for _, field in owners):
            return []
        owners = [(q, f) for q, f in owners if _named_after(spelled, self.by_q[q])] or owners
        rows: dict[str, dict] = {}
        for q, field in owners:
            for target in self.targets(field[1], self.by_q[q]):
                rows.setdefault(target["q"], target)
        return [rows[q] for q in sorted(rows)]

    def unique_reverse_one_to_one(self, attr: str) -> tuple[dict, list] | None:
        """(model, field) when `attr` is a reverse one-to-one accessor on exactly one model and names nothing
        else in any model."""
        if self._by_field is None:
            self.related_rows(None, "")
        found = self._by_field.get(attr, [])  # type: ignore[union-attr]
        concrete = [(q, f) for q, f in found if not self.by_q[q]["abstract"]]
        if len(concrete) == 1 and concrete[0][1][0] == "rev-o2o" and all(f[0] == "rev-o2o" for _, f in found):
            return self.by_q[concrete[0][0]], concrete[0][1]
        return None

    def _all_fields(self, q: str, depth: int) -> dict[str, list]:
        model = self.by_q[q]
        fields: dict[str, list] = {}
        if depth < 6:
            for base in model["bases"]:
                parent = self.find(base, base.rsplit(".", 1)[-1])
                if parent is not None and parent["q"] != q:
                    fields.update(self._all_fields(parent["q"], depth + 1))
        fields.update(model["fields"])
        return fields


@RULE.on_project
def join(index: ProjectIndex) -> Iterator[Finding]:
    uses = index.facts("orm-relation-use")
    blind = index.facts("orm-rows-attr")
    if not uses and not blind:
        return
    known = ModelIndex(index)
    reported: set[tuple[str, int, str]] = set()
    loaded_by_callers = _callers_eager_load(index, uses)
    for path, use in uses:
        if loaded_by_callers(use):  # type: ignore[arg-type]
            continue
        message = _use_message(use, known)  # type: ignore[arg-type]
        key = (path, use["loop_line"], use["attr"])  # type: ignore[index]
        if message is None or key in reported:
            continue
        reported.add(key)
        yield index.finding(RULE, path, use["line"], use["col"], use["end_line"], use["end_col"],  # type: ignore[index]
                            message)
    for path, (attr, var, loop_line, line, col, end_line, end_col) in blind:  # type: ignore[misc]
        found = known.unique_reverse_one_to_one(attr)
        if found is None or (path, loop_line, attr) in reported:
            continue
        reported.add((path, loop_line, attr))
        model, field = found
        related = field[1].rsplit(".", 1)[-1]
        yield index.finding(RULE, path, line, col, end_line, end_col,
                            f"`{var}.{attr}` loads the {related} of each {model['name']} with one query per row in"
                            f" the loop on line {loop_line} (a reverse one-to-one is never cached until read); fetch"
                            f" the rows with select_related(\"{attr}\")")


def _callers_eager_load(index: ProjectIndex, uses: list) -> "Callable[[dict], bool]":
    """Whether a module that calls the function a relation read on a parameter's row runs in, or imports it (or,
    for a method, its class: `DataExporter(IssueExportSerializer)` hands the class on), eager-loads that relation
    step (`issue_cycle__cycle`): the rows arrive loaded there. A function no such module loads for is judged as
    it reads."""
    if not any(use.get("from") for _, use in uses):
        return lambda use: False
    pairs: dict[str, set[str]] = {}
    importers: dict[str, set[str]] = {}
    for path, fact in index.facts("orm-eager-pairs"):
        pairs.setdefault(path, set()).update(fact["pairs"])  # type: ignore[index]
        for name in fact["imports"]:  # type: ignore[index]
            importers.setdefault(name, set()).add(path)
    summaries = index.facts("orm-function")
    from ..reach import suffix_resolver  # (reach imports the ORM index, which this module imports)

    resolve = suffix_resolver({data["q"] for _, data in summaries})  # type: ignore[index]
    callers: dict[str, set[str]] = {}
    for path, data in summaries:
        for callee in data.get("calls", ()):  # type: ignore[union-attr]
            callers.setdefault(resolve(callee), set()).add(path)
    for name, paths in list(importers.items()):
        callers.setdefault(resolve(name), set()).update(paths)

    def loaded(use: dict) -> bool:
        step = f"{use['via']}__{use['attr']}"
        return any(step in pairs.get(module, ()) for name in use.get("from") or ()
                   for module in callers.get(name, ()))
    return loaded


def _use_message(use: dict, known: ModelIndex) -> str | None:
    """The message for one recorded `row.attr` read, or None when `attr` is not a lazily loaded relation."""
    if use.get("via"):
        owner = use["model"][:2] if use["model"] and use["model"][0] else None
        spelled = use["model"][2] if use["model"] and len(use["model"]) > 2 else ""
        rows = known.related_rows(owner, use["via"], spelled)
    else:
        model = known.find(*use["model"][:2])
        rows = [model] if model is not None else []
        if model is not None and use.get("manager") and \
                (known.fields[model["q"]].get(use["manager"]) or [""])[0] != "mgr":
            return None  # `Model.attr.filter()` where attr is not a manager the model declares
    if use.get("via") and _points_back(use, rows, known):
        return None
    messages = []
    for model in rows:
        if use.get("joins_if_fk") and any((known.fields[model["q"]].get(n) or [""])[0] in ("fk", "o2o")
                                          for n in use["joins_if_fk"]):
            use = {**use, "select_all": True}  # the admin changelist's automatic select_related()
        field = known.fields[model["q"]].get(use["attr"])
        name = model["name"] if len(rows) == 1 else "row"
        if use["next"] == CALLED:
            message = _method_message(use, model, name, known) if field is None else None
        else:
            message = (_message(use, model, field, name) or _second_hop(use, model, field, name, known)) \
                if field is not None else None
        if message is None:
            return None  # one of the possible row models does not lazy-load it: stay silent
        messages.append(message)
    return messages[0] if messages else None


def _method_message(use: dict, model: dict, name: str, known: ModelIndex) -> str | None:
    """`row.to_dict()` per row, when the model's method reads a lazily loaded relationship on `self` that the
    query did not load."""
    for relation in model.get("self_reads", {}).get(use["attr"], ()):
        field = known.fields[model["q"]].get(relation) or ["", ""]
        if field[0] not in ("sa:select", "sa:True") or _covered(relation, use["prefetched"]) \
                or _covered(relation, use["selected"]) or use["select_all"]:
            continue
        where = use.get("where") or f"the loop on line {use['loop_line']} over {use['label']}"
        return (f"`{use['var']}.{use['attr']}()` reads `self.{relation}`, a lazy relationship: one SELECT per {name}"
                f" in {where}; load it with the query: `.options(selectinload({name}.{relation}))`")
    return None


def _points_back(use: dict, rows: list[dict], known: ModelIndex) -> bool:
    """`for line in order.lines.all(): line.order`: the foreign key that the reverse manager `via` follows back to
    its owner. Django fills it from the owner (the related manager's known related objects): no query. The key
    must lead to the owner: to the owner's model when it is known, else to every model with a `via` relation to
    these rows (`posts` may be both `author.posts` and `tag.posts`)."""
    via = use["via"]
    owner = known.find(*use["model"][:2]) if use.get("model") and use["model"][0] else None
    for model in rows:
        field = known.fields[model["q"]].get(use["attr"])
        if field and field[0].startswith("sa:") and owner is not None and \
                owner["q"] in {target["q"] for target in known.targets(field[1], model)}:
            return True  # `for item in bundle.items: item.bundle`: the owner, already in the identity map
        if not field or field[0] != "fk" or not (field[2] == via if field[2] else
                                                 via == f"{model['name'].lower()}_set"):
            continue
        targets = {target["q"] for target in known.targets(field[1], model)}
        if owner is not None:
            if owner["q"] in targets:
                return True
            continue
        holders = {q for q, fields in known.fields.items()
                   if (fields.get(via) or ["", ""])[:2] == ["manager", model["q"]]}
        if holders and holders <= targets:
            return True
    return False


def _second_hop(use: dict, model: dict, field: list, name: str, known: ModelIndex) -> str | None:
    """`m.pos.order` where the queryset select_related("pos") but not "pos__order": the joined row's own
    relation is still loaded once per row."""
    kind, attr, after = field[0], use["attr"], use["next"]
    if kind not in ("fk", "o2o", "rev-o2o") or not after or use["method"] or use.get("via"):
        return None
    if not (_covered(attr, use["selected"]) or _covered(attr, use["prefetched"]) or use["select_all"]):
        return None  # the first hop itself is reported by _message
    targets = known.targets(field[1], model) if kind != "rev-o2o" else [known.by_q[field[1]]] \
        if field[1] in known.by_q else []
    if len(targets) != 1:
        return None
    inner = known.fields[targets[0]["q"]].get(after)
    lookup = f"{attr}__{after}"
    if inner is None or inner[0] not in ("fk", "o2o", "rev-o2o") or use["select_all"] and inner[0] != "rev-o2o" or \
            any(p == "*" or p == lookup or p.startswith(lookup + "__") for p in use["selected"] + use["prefetched"]):
        return None
    related = inner[1].rsplit(".", 1)[-1] or "object"
    return (f"`{use['var']}.{attr}.{after}` loads the related {related} with one query per {name} in the loop on"
            f" line {use['loop_line']} over {use['label']}: \"{attr}\" is joined, \"{lookup}\" is not; add"
            f" select_related(\"{lookup}\")")


def _covered(attr: str, paths: list[str]) -> bool:
    return any(p == "*" or p.split("__", 1)[0] == attr for p in paths)


def _message(use: dict, model: dict, field: list, name: str) -> str | None:
    kind, target = field[0], field[1]
    attr, var = use["attr"], use["var"]
    where = use.get("where") or f"the loop on line {use['loop_line']} over {use['label']}"
    loaded = _covered(attr, use["selected"]) or _covered(attr, use["prefetched"])
    if kind.startswith("sa:") and kind[3:] in ("dynamic", "write_only"):
        method = use["next"]
        if not use["method"] or method in SA_COLLECTION_WRITES:
            return None  # `row.items.append(x)` queues an INSERT for the flush; a bare read queries nothing yet
        return (f"`{var}.{attr}.{method}()` runs one query per {name} in {where} (a lazy=\"{kind[3:]}\" relationship"
                f" is a query, never loaded with the row); compute it for all rows in one query (`group_by` the"
                f" foreign key) or make the relationship loadable and use `selectinload({name}.{attr})`")
    if kind.startswith("sa:"):
        if kind[3:] not in ("select", "True") or _covered(attr, use["prefetched"]):
            return None
        return (f"`{var}.{attr}` lazy-loads a relationship with one SELECT per {name} in {where}; load it with"
                f" the query: `.options(selectinload({name}.{attr}))` (or joinedload for a single object)")
    if kind in ("fk", "o2o", "rev-o2o", "gfk"):
        if loaded or (use["select_all"] and kind in ("fk", "o2o")):
            return None
        related = target.rsplit(".", 1)[-1] if kind != "gfk" else ""  # a generic key's target is any model
        related = related or "object"
        related = "user" if related == "AUTH_USER_MODEL" else related
        hint = f" (or read `{attr}_id` when only the key is needed)" if kind == "fk" and use["next"] in (
            "id", "pk") else ""
        eager = "prefetch_related" if kind == "gfk" else "select_related"
        return (f"`{var}.{attr}` loads the related {related} with one query per {name} in {where}; add"
                f" {eager}(\"{attr}\") to the queryset{hint}")
    if kind in ("manager", "m2m"):
        method = use["next"]
        if use["method"] and method in DJANGO_MANAGER_WRITES:
            return (f"`{var}.{attr}.{method}()` runs one statement per {name} in {where}; change the links of all"
                    f" rows at once through the relation's through model (bulk_create, filter(...).delete())")
        if not use["method"] or method not in DJANGO_MANAGER_READS or method in RELATED_ROW_WRITES:
            return None  # a write through the relation (`t.followup_set.create(...)`): no prefetch saves it
        prefetched = _covered(attr, use["prefetched"])
        if prefetched and method not in DJANGO_BYPASS_PREFETCH:
            return None
        if prefetched:
            return (f"`{var}.{attr}.{method}()` runs a new query per {name} in {where} although \"{attr}\" is"
                    f" prefetched: .{method}() bypasses the prefetch cache; use"
                    f" Prefetch(\"{attr}\", queryset=..., to_attr=...) or filter the prefetched rows in Python")
        return (f"`{var}.{attr}.{method}()` runs one query per {name} in {where}; add"
                f" prefetch_related(\"{attr}\") to the queryset and read `{var}.{attr}.all()`")
    return None
