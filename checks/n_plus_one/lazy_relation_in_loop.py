"""GAP302 lazy-relation-in-loop: a relation loaded lazily for every row of a queryset, without eager loading.

Cross-file by design: the loop (in a view) records which attributes of which model it touches, the model files
record their relation fields; the project check joins the two, so `order.customer` is known to be a ForeignKey
even though `Order` is declared in another module, and reverse accessors (`related_name`, `<model>_set`) and
inherited fields are derived from the whole project's models.
"""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.project import ProjectIndex
from ...analyzer.registry import Docs, Rule
from ..orm.facts import (DJANGO_BYPASS_PREFETCH, DJANGO_MANAGER_READS, QueryChain, call_name, is_test_or_migration,
                         iterates_query)
from ..orm.index import loaded_relations, record_model, rows_not_models

RULE = Rule(
    id="GAP302",
    name="lazy-relation-in-loop",
    category="n-plus-one",
    severity="warning",
    precision="high",
    cwe="CWE-1073",
    summary="Related object or collection lazily loaded for every row of a query",
    docs=Docs(
        what=(
            "Flags `row.relation` inside a loop (or comprehension) over a Django queryset or a SQLAlchemy query"
            " when, per the project's models, `relation` is a ForeignKey/OneToOne (forward or reverse) that the"
            " queryset does not `select_related`/`prefetch_related`, or a reverse ForeignKey / ManyToMany"
            " manager read with `.all()/.count()/.filter()...` that is not prefetched (or is prefetched but read"
            " with a method that bypasses the prefetch cache, such as `.filter()`), or a SQLAlchemy"
            " `relationship()` with the default `lazy=\"select\"` not loaded with `joinedload`/`selectinload`."
            " Models may live in any file of the project; related names, default `<model>_set` accessors,"
            " `Prefetch()` lookups and abstract/concrete inheritance are followed."
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
            " passed in as parameters or returned by functions (`self.get_queryset()`), loops over `values()`"
            " / `values_list()` rows, relation lookups we cannot read (a variable passed to"
            " `select_related`, counted as covering everything), `<fk>_id` reads (no query), templates, and"
            " DRF nested serializers (not yet). Tests and migrations are not checked."
        ),
        references=(
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#select-related",
            "https://docs.djangoproject.com/en/5.2/ref/models/querysets/#prefetch-related",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html",
        ),
    ),
)


@RULE.on(ast.ClassDef)
def models(cls: ast.ClassDef, ctx: ModuleContext) -> None:
    record_model(cls, ctx)


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
                 ctx: ModuleContext) -> None:
    if ctx.memo(("orm-skip-file",), lambda: is_test_or_migration(ctx.path)):
        return
    if isinstance(iterable, ast.Call) and call_name(iterable) == "enumerate" and iterable.args and \
            isinstance(target, ast.Tuple) and len(target.elts) == 2:
        iterable, target = iterable.args[0], target.elts[1]
    if not isinstance(target, ast.Name):
        return
    chain = iterates_query(iterable, ctx)
    if chain is None or chain.model is None or rows_not_models(chain.methods):
        return
    model = _model_names(chain, ctx)
    if model is None:
        return
    selected, prefetched, select_all = loaded_relations(chain.methods, _rebinding_calls(chain, iterable, ctx), ctx)
    uses = _attribute_uses(target.id, body)
    if not uses:
        return
    for attr, node, after, method in uses:
        ctx.record("orm-relation-use", {
            "model": model, "framework": chain.framework, "label": chain.label, "var": target.id, "attr": attr,
            "next": after, "method": method, "selected": selected, "prefetched": prefetched,
            "select_all": select_all, "loop_line": line, "line": node.lineno,
            "col": ctx.column(node.lineno, node.col_offset), "end_line": node.end_lineno or node.lineno,
            "end_col": ctx.column(node.end_lineno or node.lineno, node.end_col_offset or 0),
        })


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


def _rebinding_calls(chain: QueryChain, iterable: ast.AST, ctx: ModuleContext) -> list[ast.Call]:
    """Eager-loading calls on any assignment of the names the chain went through (`qs = qs.select_related(..)`
    in a branch), and `prefetch_related_objects(...)` in the function: counted as loading, to stay silent."""
    calls: list[ast.Call] = []
    scope = ctx.scope_of(iterable)
    table = ctx.bindings(scope)
    for name in chain.names:
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


def _attribute_uses(var: str, body: list[ast.AST]) -> list[tuple[str, ast.Attribute, str, bool]]:
    """(attr, node, the attribute or method read on it, whether that is a call) for `var.attr` reads, first
    occurrence of each (attr, next) pair; nothing when the loop rebinds `var`."""
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
    for node in nodes:
        if isinstance(node, ast.Name) and node.id == var and isinstance(node.ctx, ast.Store):
            return []
    for node in nodes:
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == var
                and isinstance(node.ctx, ast.Load)) or node.attr.startswith("_") or node.attr.endswith("_id"):
            continue
        parent = parents.get(id(node))
        after, method = "", False
        if isinstance(parent, ast.Attribute) and parent.value is node:
            after = parent.attr
            grand = parents.get(id(parent))
            method = isinstance(grand, ast.Call) and grand.func is parent
        elif isinstance(parent, (ast.Assign, ast.AugAssign)) and node in getattr(parent, "targets", ()):
            continue
        key = (node.attr, after)
        if key not in seen:
            seen.add(key)
            found.append((node.attr, node, after, method))
    return found


def own_nodes_of(node: ast.AST) -> Iterator[ast.AST]:
    stack = list(ast.iter_child_nodes(node))
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(current))


# ---- the project join ---------------------------------------------------------------------------------------
class _Models:
    """Every recorded model with its own, inherited and reverse relations."""

    def __init__(self, index: ProjectIndex) -> None:
        self.by_q: dict[str, dict] = {}
        self.by_name: dict[str, list[dict]] = {}
        for _, data in index.facts("orm-model"):
            self.by_q.setdefault(data["q"], data)  # type: ignore[index]
            self.by_name.setdefault(data["name"], []).append(data)  # type: ignore[index]
        self.fields: dict[str, dict[str, list]] = {}
        for q in self.by_q:
            self.fields[q] = self._all_fields(q, 0)
        for q, model in self.by_q.items():
            if model["abstract"]:
                continue
            for attr, (kind, target, related) in list(self.fields[q].items()):
                if kind not in ("fk", "o2o", "m2m") or related.endswith("+") or "%(" in related:
                    continue
                reverse_kind = "rev-o2o" if kind == "o2o" else "manager"
                default = model["name"].lower() if kind == "o2o" else f"{model['name'].lower()}_set"
                for other in self.targets(target, model):
                    self.fields[other["q"]].setdefault(related or default, [reverse_kind, q, ""])

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
        return self.by_name.get(target.rsplit(".", 1)[-1], [])

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
    if not uses:
        return
    known = _Models(index)
    reported: set[tuple[str, int, str]] = set()
    for path, use in uses:
        model = known.find(*use["model"])  # type: ignore[index]
        if model is None:
            continue
        field = known.fields[model["q"]].get(use["attr"])  # type: ignore[index]
        if field is None:
            continue
        message = _message(use, model, field)  # type: ignore[arg-type]
        key = (path, use["loop_line"], use["attr"])  # type: ignore[index]
        if message is None or key in reported:
            continue
        reported.add(key)
        yield index.finding(RULE, path, use["line"], use["col"], use["end_line"], use["end_col"],  # type: ignore[index]
                            message)


def _covered(attr: str, paths: list[str]) -> bool:
    return any(p == "*" or p.split("__", 1)[0] == attr for p in paths)


def _message(use: dict, model: dict, field: list) -> str | None:
    kind, target = field[0], field[1]
    attr, var, name = use["attr"], use["var"], model["name"]
    where = f"the loop on line {use['loop_line']} over {use['label']}"
    loaded = _covered(attr, use["selected"]) or _covered(attr, use["prefetched"])
    if kind.startswith("sa:"):
        if kind[3:] not in ("select", "True") or _covered(attr, use["prefetched"]):
            return None
        return (f"`{var}.{attr}` lazy-loads a relationship with one SELECT per {name} in {where}; load it with"
                f" the query: `.options(selectinload({name}.{attr}))` (or joinedload for a single object)")
    if kind in ("fk", "o2o", "rev-o2o", "gfk"):
        if loaded or (use["select_all"] and kind in ("fk", "o2o")):
            return None
        related = target.rsplit(".", 1)[-1] or "object"
        related = "user" if related == "AUTH_USER_MODEL" else related
        hint = f" (or read `{attr}_id` when only the key is needed)" if kind == "fk" and use["next"] in (
            "id", "pk") else ""
        eager = "prefetch_related" if kind == "gfk" else "select_related"
        return (f"`{var}.{attr}` loads the related {related} with one query per {name} in {where}; add"
                f" {eager}(\"{attr}\") to the queryset{hint}")
    if kind in ("manager", "m2m"):
        method = use["next"]
        if not use["method"] or method not in DJANGO_MANAGER_READS:
            return None
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
