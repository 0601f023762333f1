"""GAP304 serializer-without-prefetch: a DRF serializer that loads relations per row, used with `many=True`.

Its own rule, not a case of GAP302: the loop is inside DRF (`ListSerializer.to_representation`), the relation is
read by a nested serializer field or a `SerializerMethodField` in another file, and the fix is on the queryset
the view hands to the serializer. Three facts meet in the project join: the serializer's relation-reading fields
(serializers.py), the many-row use with the queryset's eager loading (views.py), and the models (models.py).
"""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.facts import (DJANGO_BYPASS_PREFETCH, DJANGO_MANAGER_READS, DJANGO_ROWS, call_name, is_test_or_migration,
                         iterates_query, outside_request_paths, query_effect, strip_chain)
from ..orm.index import (FUNCTIONS, MODELS, callee_qualname, function_qualname, is_module_level_class,
                         loaded_relations, resolve_effects)
from .lazy_relation_in_loop import ModelIndex, _covered, _model_names

RULE = Rule(
    id="GAP304",
    name="serializer-without-prefetch",
    category="n-plus-one",
    severity="warning",
    precision="high",
    cwe="CWE-1073",
    reads=(MODELS, FUNCTIONS),
    summary="DRF serializer or FastAPI response model reads relations of every row without eager loading",
    docs=Docs(
        what=(
            "Flags `SomeSerializer(queryset, many=True)` and list views (`ListAPIView`, `ModelViewSet` ...) with"
            " `queryset = ...` (or a `get_queryset()` with one `return`, also `super().get_queryset()...` on the"
            " class's `queryset`) and `serializer_class = SomeSerializer` when the serializer (in any file of the"
            " project, also re-exported through a package) has a nested serializer field, a"
            " `SlugRelatedField` / `StringRelatedField` / `HyperlinkedRelatedField`, or a"
            " `PrimaryKeyRelatedField(many=True)` on a relation that the queryset does not"
            " `select_related`/`prefetch_related`, or a `SerializerMethodField` whose `get_<field>(obj)` runs a"
            " query (`Model.objects...`), reads `obj.<fk>.<attr>` or `obj.<relation>.all()/count()...` without"
            " the eager load, or names in `Meta.fields` a model method or property that queries (DRF calls it per"
            " row), or a plain field whose dotted `source=\"product.sku\"` follows a relation that is not loaded."
            " A method field whose query no eager load can serve (`Model.objects...` per row,"
            " `obj.lines.filter(...)`, `obj.lines.aggregate(...)`) is reported once, on that line of the"
            " serializer, when a view lists the serializer's rows; the view's finding names what its queryset"
            " should load. Rows returned by a project function with one `return`"
            " (`return list(Product.objects.raw(sql))`) are read for their model and loading. FastAPI too: a route"
            " with `response_model=list[UserOut]` (or `-> list[UserOut]`) returning the rows of a query, when the"
            " Pydantic (or SQLModel) schema has a field named after a lazy relationship of the rows' model"
            " (`todos: list[TodoOut]`) that the query does not `selectinload`/`joinedload`."
        ),
        why=(
            "DRF serializes a list by running the row serializer once per object, so each nested relation or"
            " querying method field is one query per row. The endpoint returns 20 rows in tests; with 500 rows in"
            " production it sends 1,000 queries per request."
        ),
        example=(
            "class BookSerializer(serializers.ModelSerializer):\n"
            "    author = AuthorSerializer()\n"
            "    reviews = serializers.SerializerMethodField()\n\n"
            "    def get_reviews(self, obj):\n        return obj.reviews.count()\n\n"
            "BookSerializer(Book.objects.all(), many=True).data"
        ),
        instead=(
            "books = Book.objects.select_related(\"author\").annotate(review_count=Count(\"reviews\"))\n"
            "BookSerializer(books, many=True).data  # get_reviews returns obj.review_count"
        ),
        not_caught=(
            "Views whose `get_queryset()` has several returns, views whose direct project base view adds"
            " `select_related`/`prefetch_related` in its own `get_queryset()` (taken as loading everything),"
            " views overriding `list()` or"
            " `get_serializer_class()`, querysets passed in as parameters, serializers whose model or fields are"
            " not in the scanned project, `source=` paths through several relations (only the first step is"
            " checked), method fields that call project helpers which query (GAP301 reports those in loops),"
            " serializers used one object at a time (no `many=True`; a FastAPI response model for one row), the"
            " relations of a nested serializer field declared with a queryset argument (DRF ignores it and reads the"
            " parent's attribute, whose loading is not followed: only a method field's query that no loading can"
            " serve is reported there) and empty querysets (`.none()`);"
            " FastAPI schemas declared in another module than their base, and routes that build the response"
            " objects themselves. Tests, migrations,"
            " management commands, files under `scripts/` or `bin/` and seeding modules are not checked."
        ),
        references=(
            "https://www.django-rest-framework.org/api-guide/relations/#nested-relationships",
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#prefetch-related",
        ),
    ),
)

# Relational fields that read the related object itself per row (a primary key alone comes from `<fk>_id`).
RELATED_OBJECT_FIELDS = frozenset({"SlugRelatedField", "StringRelatedField", "HyperlinkedRelatedField"})
LIST_VIEWS = ("ListAPIView", "ListCreateAPIView", "ModelViewSet", "ReadOnlyModelViewSet", "ListModelMixin")


def _is_serializer_class(cls: ast.ClassDef, ctx: ModuleContext) -> bool:
    return any((ctx.dotted_name(base) or "").endswith("Serializer") for base in cls.bases)


@RULE.on(ast.ClassDef)
def classes(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    if ctx.memo(("orm-skip-file",), lambda: is_test_or_migration(ctx)) or not is_module_level_class(cls, ctx):
        return
    if _is_serializer_class(cls, ctx):
        _record_serializer(cls, ctx)
    elif any((ctx.dotted_name(base) or "").endswith(LIST_VIEWS) for base in cls.bases):
        _record_list_view(cls, ctx)
    else:
        _record_response_schema(cls, ctx)
    if _loads_in_get_queryset(cls):
        ctx.record("drf-loading-view", cls.name)  # subclasses get their relations loaded by this base


def _loads_in_get_queryset(cls: ast.ClassDef) -> bool:
    """A (base) view whose `get_queryset()` adds select_related/prefetch_related to whatever it gets."""
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "get_queryset":
            return any(isinstance(n, ast.Call) and call_name(n) in ("select_related", "prefetch_related")
                       for n in ast.walk(stmt))
    return False


def _record_serializer(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    """Fields that read a relation per row: [field or method name, relation, 'nested'|'method-rel'|'method-query',
    detail]."""
    methods = {s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    reads: list[list] = []
    for stmt in cls.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Call)):
            continue
        name, call = stmt.targets[0].id, stmt.value
        callee = call_name(call)
        source = _keyword_str(call, "source") or name
        if callee == "SerializerMethodField":
            method = methods.get(_keyword_str(call, "method_name") or f"get_{name}")
            if method is not None:
                reads.extend([method.name, *read] for read in _method_reads(method, ctx))
        elif callee.endswith("Serializer") and source != "*" or callee in RELATED_OBJECT_FIELDS or \
                callee == "PrimaryKeyRelatedField" and _keyword_true(call, "many"):
            reads.append([name, source.split(".", 1)[0], "nested", callee])
        elif callee.endswith("Field") and "." in source and not source.startswith("_"):
            # `sku = CharField(source="product.sku")`: DRF follows `product` on every row
            reads.append([name, source.split(".", 1)[0], "source", f"{name} (source=\"{source}\")"])
    model = _meta_model(cls, ctx)
    # Names DRF reads from the row that may be model methods or properties (`budget_used` in Meta.fields, or a
    # plain field with that source): the join checks the model's own methods for queries.
    declared = {t.id: s.value for s in cls.body if isinstance(s, ast.Assign) for t in s.targets
                if isinstance(t, ast.Name)}
    attrs: list[str] = []
    for name in _meta_field_names(cls):
        value = declared.get(name)
        if value is None or isinstance(value, ast.Call) and call_name(value).endswith("Field") and \
                call_name(value) not in ("SerializerMethodField", *RELATED_OBJECT_FIELDS):
            source = _keyword_str(value, "source") if isinstance(value, ast.Call) else None
            if source is None or "." not in source and source != "*":
                attrs.append(source or name)
    if model is not None:
        reads.extend([attr, attr, "model-attr", ""] for attr in attrs[:40])
    if reads:
        module = ctx.module_name
        ctx.record("drf-serializer", {"q": f"{module}.{cls.name}" if module else cls.name, "name": cls.name,
                                      "model": model, "reads": reads})


def _meta_field_names(cls: ast.ClassDef) -> list[str]:
    for stmt in cls.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
            for inner in stmt.body:
                if isinstance(inner, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "fields"
                                                         for t in inner.targets) and \
                        isinstance(inner.value, (ast.List, ast.Tuple)):
                    return [e.value for e in inner.value.elts if isinstance(e, ast.Constant)
                            and isinstance(e.value, str)]
    return []


def _method_reads(method: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> list[list]:
    """What `get_x(self, obj)` reads per row: `obj.rel.count()` (a relation) or `Model.objects...` (a query)."""
    args = method.args.args
    if len(args) < 2:
        return []
    obj = args[1].arg
    found: list[list] = []
    for node in ctx.own_nodes(method):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and \
                isinstance(node.value.value, ast.Name) and node.value.value.id == obj and \
                not node.value.attr.startswith("_") and not node.value.attr.endswith("_id") and \
                node.attr not in DJANGO_MANAGER_READS:
            # `obj.role.description`: the join keeps it when `role` is a ForeignKey/OneToOne not selected
            found.append([node.value.attr, "method-rel", f"{obj}.{node.value.attr}.{node.attr}", *_where(node, ctx)])
            continue
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in DJANGO_MANAGER_READS and \
                isinstance(func.value, ast.Attribute) and isinstance(func.value.value, ast.Name) and \
                func.value.value.id == obj:
            found.append([func.value.attr, "method-rel", f"{obj}.{func.value.attr}.{func.attr}()", *_where(node, ctx)])
        else:
            what = query_effect(node, ctx)
            if what is None and isinstance(node.func, ast.Name) and node.func.id in ("list", "len") and node.args:
                chain = iterates_query(node.args[0], ctx)
                what = f"{node.func.id}({chain.label}...)" if chain is not None else None
            if what and _uses_name(node, obj):
                found.append(["", "method-query", f"{what} (line {node.lineno})", *_where(node, ctx)])
        if len(found) >= 4:
            break
    return found


def _where(node: ast.AST, ctx: ModuleContext) -> list[int]:
    """[line, col, end_line, end_col] of a read, for a finding in the serializer itself."""
    end = node.end_lineno or node.lineno  # type: ignore[attr-defined]
    return [node.lineno, ctx.column(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            end, ctx.column(end, node.end_col_offset or 0)]  # type: ignore[attr-defined]


def _uses_name(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _keyword_str(call: ast.Call, name: str) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            return keyword.value.value
    return None


def _keyword_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def _meta_model(cls: ast.ClassDef, ctx: ModuleContext) -> list[str] | None:
    for stmt in cls.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
            for inner in stmt.body:
                if isinstance(inner, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "model"
                                                         for t in inner.targets):
                    return _class_names(inner.value, ctx)
    return None


def _class_names(expr: ast.AST, ctx: ModuleContext) -> list[str] | None:
    if isinstance(expr, ast.Name):
        qualified = ctx.resolve_name(expr.id, expr)
        if qualified is None and expr.id in ctx.module_names:
            qualified = f"{ctx.module_name}.{expr.id}" if ctx.module_name else expr.id
        return [qualified or expr.id, expr.id]
    if isinstance(expr, ast.Attribute):
        return [ctx.qualified_name(expr) or ctx.dotted_name(expr) or expr.attr, expr.attr]
    return None


def _serializer_q(expr: ast.AST, ctx: ModuleContext) -> str | None:
    """The qualified name of a serializer class expression (`BookSerializer`, `serializers.BookSerializer`)."""
    return callee_qualname(ast.Call(func=expr, args=[], keywords=[]), ctx)


def _record_use(serializer: ast.AST, queryset: ast.AST, at: ast.AST, ctx: ModuleContext,
                extra: list[ast.Call] | None = None, bases: list[str] | None = None, nested: bool = False) -> bool:
    """Record a many-row use of `serializer` on `queryset`; False when `queryset` is not a queryset we read."""
    chain = iterates_query(queryset, ctx)
    if chain is None or chain.framework != "django" or chain.model is None or \
            any(name in DJANGO_ROWS or (name == "none" and not nested) for name, _ in chain.methods) or \
            any(call_name(call) in DJANGO_ROWS for call in extra or ()):
        return chain is not None
    target = _serializer_q(serializer, ctx)
    model = _model_names(chain, ctx)
    if target is None or model is None:
        return True
    selected, prefetched, select_all = loaded_relations(chain.methods, list(extra or ()), ctx)
    ctx.record("drf-many-use", {
        "serializer": target, "spelled": ctx.dotted_name(serializer) or target.rsplit(".", 1)[-1], "model": model,
        "label": chain.label, "selected": selected, "prefetched": prefetched, "select_all": select_all,
        "bases": bases or [], "nested": nested,
        "line": at.lineno, "col": ctx.column(at.lineno, at.col_offset), "end_line": at.end_lineno or at.lineno,
        "end_col": ctx.column(at.end_lineno or at.lineno, at.end_col_offset or 0),
    })
    return True


@RULE.on(ast.FunctionDef, ast.AsyncFunctionDef)
def summarise(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    """The queryset a project function returns (`return list(Product.objects.raw(sql))`), for views that
    serialize a helper's rows (which model methods run a query comes from the project index)."""
    if is_test_or_migration(ctx):
        return
    if function.decorator_list:
        _record_response_use(function, ctx)
    qualname = function_qualname(function, ctx)
    returns = [n for n in ctx.own_nodes(function) if isinstance(n, ast.Return)]
    if qualname is None or len(returns) != 1 or returns[0].value is None:
        return
    value = returns[0].value
    if isinstance(value, ast.Name):
        value = ctx.value_of(value) or value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "tuple",
                                                                                          "sorted") and value.args:
        value = value.args[0]
    chain = iterates_query(value, ctx)
    if chain is None or chain.framework != "django" or any(name in DJANGO_ROWS for name, _ in chain.methods):
        return
    model = _model_names(chain, ctx)
    if model is None:
        return
    selected, prefetched, select_all = loaded_relations(chain.methods, [], ctx)
    ctx.record("drf-returns", {"q": qualname, "model": model, "label": f"{function.name}() ({chain.label})",
                               "selected": selected, "prefetched": prefetched, "select_all": select_all})


# ---- Pydantic response models (FastAPI) ---------------------------------------------------------------------
SCHEMA_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel", "sqlmodel.SQLModel"})
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "api_route"})
LIST_TYPES = frozenset({"list", "List", "Sequence", "Iterable", "tuple", "Tuple", "set", "Set"})


def _schema_class(cls: ast.ClassDef, ctx: ModuleContext, depth: int = 3) -> bool:
    """A Pydantic model (or a SQLModel without `table=True`): a response schema, not a table."""
    if any(k.arg == "table" for k in cls.keywords):
        return False
    for base in cls.bases:
        if ctx.qualified_name(base) in SCHEMA_BASES:
            return True
        parent = next((s for s in ctx.tree.body if isinstance(s, ast.ClassDef) and isinstance(base, ast.Name)
                       and s.name == base.id), None)
        if parent is not None and parent is not cls and depth > 0 and _schema_class(parent, ctx, depth - 1):
            return True
    return False


def _schema_fields(cls: ast.ClassDef, ctx: ModuleContext, depth: int = 3) -> list[str]:
    fields = [s.target.id for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
              and not s.target.id.startswith("_")]
    for base in cls.bases:
        parent = next((s for s in ctx.tree.body if isinstance(s, ast.ClassDef) and isinstance(base, ast.Name)
                       and s.name == base.id), None)
        if parent is not None and parent is not cls and depth > 0:
            fields.extend(_schema_fields(parent, ctx, depth - 1))
    return fields


def _record_response_schema(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    if not _schema_class(cls, ctx):
        return
    fields = sorted(set(_schema_fields(cls, ctx)))
    if fields:
        module = ctx.module_name
        ctx.record("response-schema", {"q": f"{module}.{cls.name}" if module else cls.name, "name": cls.name,
                                       "fields": fields[:60]})


def _record_response_use(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: ModuleContext) -> None:
    """`@app.get("/users", response_model=list[UserOut])` (or `-> list[UserOut]`) returning the rows of a query:
    FastAPI reads every field of UserOut from every row, so a lazy relationship among them loads per row."""
    declared: ast.AST | None = None
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and call_name(decorator) in ROUTE_METHODS:
            declared = next((k.value for k in decorator.keywords if k.arg == "response_model"), None) or \
                function.returns
            break
    if not (isinstance(declared, ast.Subscript) and call_name(declared.value) in LIST_TYPES and
            isinstance(declared.slice, (ast.Name, ast.Attribute))):
        return
    target = _serializer_q(declared.slice, ctx)
    if target is None:
        return
    for node in ctx.own_nodes(function):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        value = ctx.value_of(node.value) if isinstance(node.value, ast.Name) else node.value
        chain = iterates_query(value, ctx) if value is not None else None
        if chain is None or chain.model is None or any(name in DJANGO_ROWS for name, _ in chain.methods):
            continue
        model = _model_names(chain, ctx)
        if model is None:
            continue
        selected, prefetched, select_all = loaded_relations(chain.methods, [], ctx)
        at = node.value
        ctx.record("response-many-use", {
            "schema": target, "spelled": ctx.dotted_name(declared.slice) or target.rsplit(".", 1)[-1],
            "model": model, "label": chain.label, "selected": selected, "prefetched": prefetched,
            "select_all": select_all, "route": function.name,
            "line": at.lineno, "col": ctx.column(at.lineno, at.col_offset), "end_line": at.end_lineno or at.lineno,
            "end_col": ctx.column(at.end_lineno or at.lineno, at.end_col_offset or 0),
        })


@RULE.on_project
def response_models(index: ProjectIndex) -> Iterator[Finding]:
    """A FastAPI route whose list response model names a relationship the returned query does not load."""
    uses = index.facts("response-many-use")
    if not uses:
        return
    schemas = {data["q"]: data for _, data in index.facts("response-schema")}  # type: ignore[index]
    by_name: dict[str, list[dict]] = {}
    for data in schemas.values():
        by_name.setdefault(data["name"], []).append(data)
    known = ModelIndex(index)
    for path, use in uses:
        schema = schemas.get(use["schema"])  # type: ignore[index]
        if schema is None:
            same = by_name.get(use["schema"].rsplit(".", 1)[-1], [])  # type: ignore[index]
            schema = same[0] if len(same) == 1 else None
        model = known.find(*use["model"]) if schema is not None else None  # type: ignore[index]
        if schema is None or model is None:
            continue
        lazy = []
        for name in schema["fields"]:
            field = known.fields[model["q"]].get(name)
            if field is None or _covered(name, use["prefetched"]) or _covered(name, use["selected"]):
                continue
            kind = field[0]
            if kind.startswith("sa:") and kind[3:] in ("select", "True") or \
                    kind in ("fk", "o2o", "rev-o2o") and not use["select_all"] or kind in ("manager", "m2m"):
                lazy.append(name)
        if lazy:
            names = ", ".join(f"`{n}`" for n in lazy[:3])
            yield index.finding(
                RULE, path, use["line"], use["col"], use["end_line"], use["end_col"],  # type: ignore[index]
                f"{use['route']}() returns every {model['name']} of {use['label']} as {use['spelled']}, which reads"  # type: ignore[index]
                f" {names}: a lazy relationship loaded with one query per row while the response is built; load"
                f" it with the query (`.options(selectinload({model['name']}.{lazy[0]}))`)",
            )


@RULE.on(ast.Call)
def many_calls(call: ast.Call, ctx: ModuleContext) -> None:
    """`BookSerializer(qs, many=True)` / `self.get_serializer(qs, many=True)` is not followed (its class is
    decided at run time)."""
    if not call.keywords or not isinstance(call.func, (ast.Name, ast.Attribute)) or not _keyword_true(call, "many"):
        return
    if not call_name(call).endswith("Serializer") and not (ctx.qualified_name(call.func) or "").endswith("Serializer"):
        return  # `from .serializers import BookSerializer as BS`: the alias resolves to a serializer
    if outside_request_paths(ctx):
        return
    holder = ctx.parent(call)
    # A nested serializer field (`slots = SlotSerializer(qs, many=True)`): DRF ignores the queryset and serializes
    # the parent's attribute, whose loading is not followed; only what no loading can serve is reported.
    nested = isinstance(holder, (ast.Assign, ast.AnnAssign)) and isinstance(ctx.parent(holder), ast.ClassDef)
    queryset = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "instance"), None)
    if queryset is not None:
        if nested:
            _record_use(call.func, queryset, call, ctx, nested=True)
        elif not _record_use(call.func, queryset, call, ctx):
            _record_returned_use(call.func, queryset, call, ctx)


def _record_returned_use(serializer: ast.AST, rows: ast.AST, at: ast.Call, ctx: ModuleContext) -> None:
    """`products = services.search_products(term)` then `ProductSerializer(products, many=True)`: the rows a
    project function returns; the join reads that function's queryset."""
    value = ctx.value_of(rows) if isinstance(rows, ast.Name) else rows
    target = _serializer_q(serializer, ctx)
    callee = callee_qualname(value, ctx) if isinstance(value, ast.Call) else None
    if callee is None or target is None:
        return
    ctx.record("drf-many-use", {
        "serializer": target, "spelled": ctx.dotted_name(serializer) or target.rsplit(".", 1)[-1],
        "returned_by": callee, "bases": [],
        "line": at.lineno, "col": ctx.column(at.lineno, at.col_offset), "end_line": at.end_lineno or at.lineno,
        "end_col": ctx.column(at.end_lineno or at.lineno, at.end_col_offset or 0),
    })


def _record_list_view(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    queryset = serializer = get_queryset = None
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name in (
                "get_serializer_class", "list", "filter_queryset", "paginate_queryset"):
            return  # the serializer or the rows are decided at run time
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "get_queryset":
            get_queryset = stmt
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if stmt.targets[0].id == "queryset":
                queryset = stmt.value
            elif stmt.targets[0].id == "serializer_class":
                serializer = stmt
    if serializer is None or not isinstance(serializer.value, (ast.Name, ast.Attribute)):
        return
    extra: list[ast.Call] = []
    if get_queryset is not None:
        # `def get_queryset(self): return Book.objects.filter(owner=...)`, or `super().get_queryset()...` on the
        # class's `queryset`: one return we can read; anything else is decided at run time.
        returns = [n for n in ctx.own_nodes(get_queryset) if isinstance(n, ast.Return)]
        if len(returns) != 1 or returns[0].value is None:
            return
        returned = returns[0].value
        if isinstance(returned, ast.Name):
            returned = ctx.value_of(returned) or returned
        root, methods, _, _ = strip_chain(returned)
        if isinstance(root, ast.Call) and isinstance(root.func, ast.Name) and root.func.id == "super" or \
                methods and methods[0][0] == "get_queryset" and isinstance(root, ast.Call):
            if queryset is None:
                return
            extra = [call for name, call in methods if name != "get_queryset"]
        else:
            queryset = returned
    if queryset is not None:
        bases = [(ctx.dotted_name(base) or "").rsplit(".", 1)[-1] for base in cls.bases]
        _record_use(serializer.value, queryset, serializer, ctx, extra, bases)


# ---- the project join ---------------------------------------------------------------------------------------
@RULE.on_project
def join(index: ProjectIndex) -> Iterator[Finding]:
    uses = index.facts("drf-many-use")
    if not uses:
        return
    serializers = {data["q"]: data for _, data in index.facts("drf-serializer")}  # type: ignore[index]
    if not serializers:
        return
    where = {data["q"]: path for path, data in index.facts("drf-serializer")}  # type: ignore[index]
    in_serializer: dict[tuple[str, int], tuple[list, str, dict, dict]] = {}
    by_name: dict[str, list[dict]] = {}
    for data in serializers.values():
        by_name.setdefault(data["name"], []).append(data)
    loading_views = {name for _, name in index.facts("drf-loading-view")}
    effects: dict[str, list[str]] | None = None  # model methods that query, resolved on first need
    known = ModelIndex(index)
    returned = {data["q"]: data for _, data in index.facts("drf-returns")}  # type: ignore[index]
    for path, use in uses:
        if use.get("returned_by"):  # type: ignore[union-attr]
            rows = returned.get(use["returned_by"])  # type: ignore[index]
            if rows is None:
                continue
            use = {**use, **{k: v for k, v in rows.items() if k != "q"}}  # type: ignore[dict-item]
        if loading_views.intersection(use.get("bases", ())):  # type: ignore[union-attr]
            continue  # a project base view's get_queryset() adds the loading
        serializer = serializers.get(use["serializer"])  # type: ignore[index]
        if serializer is None:  # re-exported (`from .serializers import X` through a package __init__)
            package = use["serializer"].rsplit(".", 1)[0]  # type: ignore[index]
            same = [d for d in by_name.get(use["serializer"].rsplit(".", 1)[-1], [])  # type: ignore[index]
                    if d["q"].startswith(package + ".")]  # defined under the package it is imported from
            serializer = same[0] if len(same) == 1 else None
        if serializer is None:
            continue
        model = known.find(*use["model"]) or (  # type: ignore[index]
            known.find(*serializer["model"]) if serializer["model"] else None)
        if model is None:
            continue
        if effects is None:
            effects = resolve_effects(index, "query", lambda name: bool(known.related_rows(None, name)))
        problems = []
        seen: set[str] = set()
        for read in serializer["reads"]:  # type: ignore[index]
            problem = _problem(read, use, model, known, effects)
            if problem and len(read) >= 8 and _queries_whatever_is_loaded(read, model, known):
                in_serializer.setdefault((where[serializer["q"]], read[4]), (read, problem, {**use, "path": path},
                                                                              model))
            elif problem and read[1] not in seen and not use.get("nested"):
                seen.add(read[1])  # one problem per relation: `sku` and `name` through `product` are one join
                problems.append(problem)
        if problems:
            yield index.finding(
                RULE, path, use["line"], use["col"], use["end_line"], use["end_col"],  # type: ignore[index]
                f"{use['spelled']} serializes every {model['name']} of {use['label']} and {'; '.join(problems[:3])}"  # type: ignore[index]
                f" for each row: one query per row and field; load them with the queryset",
            )
    for (path, _), (read, problem, use, model) in sorted(in_serializer.items()):
        yield index.finding(
            RULE, path, read[4], read[5], read[6], read[7],
            f"{problem}; it runs for every {model['name']} that {use['spelled']} serializes in a list ({use['path']}, line"
            f" {use['line']}): one query per row whatever the view loads;"
            " annotate the value on the queryset (Count/Sum) or compute it from prefetched rows",
        )


def _queries_whatever_is_loaded(read: list, model: dict, known: ModelIndex) -> bool:
    """A method field whose query no eager loading of the view can serve: `Model.objects...` per row, or a
    related manager read with a method that builds a new query (`obj.lines.filter(...)`, `.aggregate()`)."""
    how, detail = read[2], read[3]
    if how == "method-query":
        return True
    if how != "method-rel" or not detail.endswith("()"):
        return False
    field = known.fields[model["q"]].get(read[1])
    return field is not None and field[0] in ("manager", "m2m") and \
        detail.rsplit(".", 1)[-1][:-2] in DJANGO_BYPASS_PREFETCH


def _problem(read: list, use: dict, model: dict, known: ModelIndex,
             effects: dict[str, list[str]] | None = None) -> str | None:
    field_name, relation, how, detail = read[:4]
    if how == "method-query":
        return f"{field_name}() runs {detail}"
    if how == "model-attr":
        if known.fields[model["q"]].get(relation) is not None or not effects:
            return None  # a model field, or no model method queries
        chain = effects.get(f"{model['q']}.{relation}")
        return f"`{relation}` is a {model['name']} method DRF calls per row and it runs a query ({' -> '.join(chain)})" \
            if chain else None
    field = known.fields[model["q"]].get(relation)
    if field is None:
        return None
    kind = field[0]
    selected = _covered(relation, use["selected"]) or (use["select_all"] and kind in ("fk", "o2o"))
    prefetched = _covered(relation, use["prefetched"])
    if kind in ("fk", "o2o", "rev-o2o"):
        if selected or prefetched:
            return None
        if how == "source":
            return f"the field {detail} loads `{relation}` (add select_related(\"{relation}\"))"
        return f"the nested {detail} loads `{relation}` (add select_related(\"{relation}\"))" if how == "nested" \
            else f"{field_name}() reads `{relation}` (add select_related(\"{relation}\"))"
    if kind in ("manager", "m2m", "gfk"):
        if prefetched and not (how == "method-rel" and detail.rsplit(".", 1)[-1][:-2] in DJANGO_BYPASS_PREFETCH):
            return None
        if how in ("nested", "source"):
            return f"the {'nested' if how == 'nested' else 'field'} {detail} reads `{relation}`" \
                f" (add prefetch_related(\"{relation}\"))"
        if how == "method-rel" and detail.rsplit(".", 1)[-1][:-2] in DJANGO_BYPASS_PREFETCH:
            return f"{field_name}() runs {detail}, a new query even when `{relation}` is prefetched"
        return f"{field_name}() runs {detail} (prefetch_related(\"{relation}\") or annotate a Count)"
    return None
