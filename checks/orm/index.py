"""The project index: per-function summaries, loop call sites and models, recorded by one fact pass.

`PROJECT_INDEX` is a fact pass: the engine runs its handlers in the single per-file walk, on every file that an
enabled rule reading these facts may apply to, and the project checks join them once per scan. Rules read the
index (`Rule(reads=...)`); none records it. The kinds:

- `orm-function` {q, line, query: [line, what] | None, http: [line, what] | None, calls: [qualified names]}
- `orm-loop-call` {callee, line, col, end_line, end_col, loop_line, awaited}: a call in a per-item loop to a
  function that may be the project's own
- `orm-model` {q, name, bases, abstract, fields: {attr: [kind, target, related_name]}, overrides?}: Django
  models and SQLAlchemy mapped classes (kind "sa:<lazy>" for `relationship()`, "mgr" for a custom manager;
  `overrides` lists the class's own save/delete methods; `self_reads` {method: [relationship]} the SQLAlchemy
  relationships each plain method reads on `self`)

(`orm-relation-use`, `item.attr` inside a loop over a queryset, is GAP302's own fact, recorded by that rule.)

The join is linear: one dictionary per kind, effects propagated through callees to a fixed depth with a memo.
"""
from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING, Callable, Iterator

from ...analyzer.registry import FactPass
from ..scopes import is_test_module
from .facts import (DJANGO_RELATION_FIELDS, DJANGO_ROWS, DJANGO_TERMINAL, RELATED_QUERYSET_METHODS, SA_EAGER_OPTIONS,
                    call_name, http_effect, iterates_query, once_per_process, outside_request_paths, per_item_loop,
                    query_effect, related_chain, statement_per_item)

# Calls that run a related manager's query now (iteration is followed separately).
RELATED_TERMINAL = DJANGO_TERMINAL

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
# Decorators that remember a function's result: its query runs once, not once per call.
MEMO_DECORATORS = frozenset({"lru_cache", "cache", "cached_property", "cached", "memoize", "memoized",
                             "cache_page", "cached_method", "ttl_cache"})
SUMMARY_DEPTH = 3
MAX_CALLS = 60

# Test modules (analysed with `include-tests`) are left out of the index: no rule reports on them and no
# production module calls into them, and they are two thirds of a large project's functions. Every handler on
# this pass exits on them (`is_test_module`, or `outside_request_paths`, which holds it; `ims-graph` in
# in_memory_state/project.py too), so the engine does not dispatch them there at all: a new handler must not
# record on a test module either.
PROJECT_INDEX = FactPass("project-index", skip_tests=True)
MODELS = "orm-model"
FUNCTIONS = "orm-function"
LOOP_CALLS = "orm-loop-call"


@PROJECT_INDEX.on(ast.ClassDef, fact=MODELS)
def _index_model(cls: ast.ClassDef, ctx: "ModuleContext") -> None:
    if not is_test_module(ctx):
        _model(cls, ctx)


@PROJECT_INDEX.on(ast.FunctionDef, ast.AsyncFunctionDef, fact=FUNCTIONS)
def _index_function(function: "FunctionNode", ctx: "ModuleContext") -> None:
    if not is_test_module(ctx):
        _summarise(function, ctx)


@PROJECT_INDEX.on(ast.Call, fact=LOOP_CALLS)
def _index_loop_call(call: ast.Call, ctx: "ModuleContext") -> None:
    # Only calls that can run per item: the loop test is the cheap one, so it comes first.
    in_loop = ctx.enclosing_loop(call) is not None
    if not (in_loop or isinstance(ctx.enclosing_function(call), ast.Lambda)) or outside_request_paths(ctx):
        return
    _loop_call(call, ctx)
    func = call.func
    if in_loop and isinstance(func, ast.Name) and func.id in ("str", "print", "format") and call.args and \
            ctx.qualified_name(func) in ("builtins.str", "builtins.print", "builtins.format"):
        for arg in call.args[:1] if func.id != "print" else call.args:
            _implicit_str(arg, call, ctx)


@PROJECT_INDEX.on(ast.FormattedValue, fact=LOOP_CALLS)
def _index_formatted(node: ast.FormattedValue, ctx: "ModuleContext") -> None:
    """`f"{pizza}"` in a loop over pizzas calls Pizza.__str__ per row (`!r` calls __repr__: not followed)."""
    if node.conversion != ord("r") and isinstance(node.value, ast.Name) and ctx.enclosing_loop(node) is not None \
            and not outside_request_paths(ctx):
        _implicit_str(node.value, node, ctx)


# ---- naming -------------------------------------------------------------------------------------------------
def function_qualname(function: FunctionNode, ctx: "ModuleContext") -> str | None:
    """`pkg.mod.func` or `pkg.mod.Class.method`; None for nested functions (nobody outside can call them)."""
    parent = ctx.parent(function)
    module = _module(ctx)
    if isinstance(parent, ast.Module):
        return f"{module}.{function.name}"
    if isinstance(parent, ast.ClassDef) and isinstance(ctx.parent(parent), ast.Module):
        return f"{module}.{parent.name}.{function.name}"
    return None


def callee_qualname(call: ast.Call, ctx: "ModuleContext") -> str | None:
    """The qualified name a call resolves to when it can be a project function: an import, a module-level def,
    or `self.method()` in the enclosing class."""
    func = call.func
    module = _module(ctx)
    root = func.value if isinstance(func, ast.Attribute) else func
    if not isinstance(root, ast.Name) or not (root.id in ctx.imports or root.id in ctx.module_names
                                              or root.id in ("self", "cls")):
        return None  # a local, a parameter, a builtin (imports inside functions are not followed)
    if isinstance(func, ast.Name):
        resolved = ctx.imports.get(func.id) or ctx.resolve_name(func.id, func)
        if resolved is not None:
            return None if resolved.startswith("builtins.") else resolved
        return f"{module}.{func.id}" if func.id in ctx.module_names else None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id in ("self", "cls"):
            cls = ctx.enclosing(call, ast.ClassDef)
            return f"{module}.{cls.name}.{func.attr}" if cls is not None else None
        qualified = ctx.qualified_name(func)
        if qualified and not qualified.startswith("builtins."):
            return qualified
        if func.value.id in ctx.module_names and func.value.id[:1].isupper():
            return f"{module}.{func.value.id}.{func.attr}"  # a static/class method of a class in this module
    return None


def _module(ctx: "ModuleContext") -> str:
    """The module's dotted name, or its file's stem when it has none (asked per call: memoised per file)."""
    return ctx.module_name or ctx.memo(("index-module-stem",),
                                       lambda: os.path.splitext(os.path.basename(ctx.path))[0])


def is_memoised(function: FunctionNode) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if call_name(target) in MEMO_DECORATORS:
            return True
    return False


# ---- per-function summaries ---------------------------------------------------------------------------------
def _summarise(function: FunctionNode, ctx: "ModuleContext") -> bool:
    qualname = function_qualname(function, ctx)
    if qualname is None:
        return False
    # A memoised query runs once per distinct argument, like a cache: not counted. A memoised HTTP call still
    # makes one request per distinct value (every ZIP code of an import), 100 ms each, so it stays an effect.
    memoised = is_memoised(function)
    query: list | None = None
    related: list | None = None
    http: list | None = None
    calls: list[str] = []
    seen: set[str] = set()
    parameters = parameter_names(function)
    once: list[str] = []
    for node in ctx.own_nodes(function):
        if isinstance(node, ast.Call):
            callee = callee_qualname(node, ctx)
            new_related = _relation_query(node, parameters, function, ctx) \
                if query is None and related is None and parameters else None
            new_query: list | None = None
            if query is None:
                what = query_effect(node, ctx)
                if what is None and isinstance(node.func, ast.Name) and node.func.id in ("list", "tuple", "set",
                                                                                       "sorted") and node.args and \
                        iterates_query(node.args[0], ctx) is not None:
                    what = f"{call_name(node)}() over a query"
                if what and not cache_miss_branch(node, function, ctx):
                    new_query = [node.lineno, what]
            what = http_effect(node, ctx) if http is None else None
            new_http = [node.lineno, what] if what else None
            if not (callee or new_related or new_query or new_http):
                continue
            # A call made once per process (a table filled on first use) is still an edge for reachability,
            # but no effect per call. Asked last: it walks up the tree, and most calls have nothing to add.
            once_only = once_per_process(node, function, ctx)
            if not once_only:
                related = related or new_related
                query = query or new_query
                http = http or new_http
            if callee and callee not in seen and len(calls) < MAX_CALLS:
                seen.add(callee)
                calls.append(callee)
                if once_only:
                    once.append(callee)
        elif query is None and isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            chain = iterates_query(node.iter, ctx)
            if chain is not None and not cache_miss_branch(node.iter, function, ctx) \
                    and not once_per_process(node.iter, function, ctx):
                query = [node.iter.lineno, f"iterating {chain.label}"]
            elif chain is None and related is None and parameters:
                rows = related_chain(node.iter, ctx)  # `for t in self.toppings.all()`: confirmed by the join
                if rows is not None and isinstance(rows.receiver, ast.Name) and rows.receiver.id in parameters \
                        and not cache_miss_branch(node.iter, function, ctx):
                    related = [node.iter.lineno, f"iterating {rows.label}", rows.relation]
                    if all(name == "all" for name, _ in rows.methods):
                        related.append("all")  # served by a caller's prefetch_related
    if memoised:
        query = related = None
    if query or related or http or calls:
        data = {"q": qualname, "line": function.lineno, "query": query, "http": http, "calls": calls}
        if related and not query:
            data["relq"] = related
        if memoised:
            data["memo"] = True
        if once:
            data["once"] = once
        ctx.record("orm-function", data)
    return True


def parameter_names(function: FunctionNode) -> frozenset[str]:
    args = function.args
    return frozenset(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])


def _relation_query(call: ast.Call, parameters: frozenset[str], function: FunctionNode,
                    ctx: "ModuleContext") -> list | None:
    """[line, what, relation] for `order.payments.filter(...).last()` or `self.lines.count()` on a parameter:
    a query if `payments` is a reverse ForeignKey or ManyToMany manager, which the project join confirms."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in RELATED_TERMINAL:
        return None
    node: ast.AST = func.value
    methods = 0
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in RELATED_QUERYSET_METHODS:
        node, methods = node.func.value, methods + 1
    if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in parameters
            and not node.attr.startswith("_") and node.attr[:1].islower()):
        return None
    if func.attr in ("get", "count", "contains") and call.args:
        return None  # `self.options.get(key)`, `row.tags.count(x)`: a dict or list method, not a manager's
    if cache_miss_branch(call, function, ctx):
        return None
    return [call.lineno, f"{node.value.id}.{node.attr}...{func.attr}()", node.attr]


def cache_miss_branch(node: ast.AST, function: ast.AST, ctx: "ModuleContext") -> bool:
    """Is `node` only reached when a cache lookup missed? `value = cache.get(key)` (or `getattr(obj,
    "_cached_x", None)`) then `if value is None:` / `if not value:` around it: cache-aside memoisation, the
    query runs once per key, like `@lru_cache`."""
    for ancestor in ctx.ancestors(node):
        if ancestor is function:
            return False
        if not isinstance(ancestor, ast.If) or not _in_body(node, ancestor, ctx):
            continue
        test = ancestor.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test = test.operand
        elif isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is) and \
                isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None:
            test = test.left
        elif isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotIn):
            if "cache" in (ctx.dotted_name(test.comparators[0]) or "").lower():
                return True  # `if key not in self._cache:`
            continue
        else:
            continue
        if isinstance(test, ast.Name):
            value = ctx.value_of(test)
            if value is not None and _reads_cache(value, ctx):
                return True
    return False


def _in_body(node: ast.AST, branch: ast.If, ctx: "ModuleContext") -> bool:
    """`node` is inside the `if` branch's body (not its test or `else`)."""
    child = node
    for ancestor in ctx.ancestors(node):
        if ancestor is branch:
            return child in branch.body
        child = ancestor
    return False


def _reads_cache(expr: ast.AST, ctx: "ModuleContext") -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            name = call_name(node)
            spelled = (ctx.dotted_name(node.func) or "").lower()
            if name in ("get", "get_many", "hget") and "cache" in spelled:
                return True
            if name == "getattr" and len(node.args) >= 2 and isinstance(node.args[1], (ast.Constant, ast.BinOp)) \
                    and "cache" in ast.unparse(node.args[1]).lower():
                return True
    return False


def _implicit_str(value: ast.AST, at: ast.AST, ctx: "ModuleContext") -> None:
    """`str(row)`, `print(row)`, `f"{row}"` on the rows of a queryset loop call the model's `__str__` once per
    row: recorded as a loop call to `<model>.__str__`, which the join resolves like any project function."""
    if not isinstance(value, ast.Name) or ctx.enclosing_loop(at) is None:
        return
    loop = per_item_loop(at, ctx)
    if loop is None:
        return
    node = loop.node
    generators = node.generators if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp,
                                                      ast.DictComp)) else [node]
    iterable = next((g.iter for g in generators if isinstance(g, (ast.For, ast.AsyncFor, ast.comprehension))
                     and isinstance(g.target, ast.Name) and g.target.id == value.id), None)
    chain = iterates_query(iterable, ctx) if iterable is not None else None
    if chain is None or chain.framework != "django" or not isinstance(chain.model, ast.Name) or \
            any(name in DJANGO_ROWS for name in chain.method_names):
        return
    model = chain.model
    qualified = ctx.resolve_name(model.id, model) or (f"{ctx.module_name}.{model.id}" if ctx.module_name
                                                      else model.id)
    ctx.record("orm-loop-call", {
        "callee": f"{qualified}.__str__", "name": f"{model.id}.__str__",
        "line": at.lineno, "col": ctx.column(at.lineno, at.col_offset),
        "end_line": at.end_lineno or at.lineno,
        "end_col": ctx.column(at.end_lineno or at.lineno, at.end_col_offset or 0),
        "loop_line": loop.line, "awaited": False,
    })


def _loop_call(call: ast.Call, ctx: "ModuleContext") -> bool:
    """A call inside a per-item loop to what may be a project function: the project check decides."""
    callee = callee_qualname(call, ctx)
    if callee is None or query_effect(call, ctx) or http_effect(call, ctx):
        return False
    loop = per_item_loop(call, ctx)
    if loop is None or any(statement_per_item(arg, loop.node, ctx, helper=True)
                           for arg in [*call.args, *(k.value for k in call.keywords)]):
        return False  # `self.execute(self._delete_fk_sql(model, name))`: a statement per item, not a row
    fact = {
        "callee": callee, "name": ctx.dotted_name(call.func) or callee.rsplit(".", 1)[-1],
        "line": call.lineno, "col": ctx.column(call.lineno, call.col_offset),
        "end_line": call.end_lineno or call.lineno,
        "end_col": ctx.column(call.end_lineno or call.lineno, call.end_col_offset or 0),
        "loop_line": loop.line, "awaited": isinstance(ctx.parent(call), ast.Await),
    }
    prefetched = _loop_prefetches(loop.node, ctx)
    if prefetched:
        fact["prefetched"] = prefetched
    ctx.record("orm-loop-call", fact)
    return True


def _loop_prefetches(loop: ast.AST, ctx: "ModuleContext") -> list[str]:
    """The prefetch_related lookups of the queryset a loop walks (`for basket in baskets`), for helpers that
    read a relation of the row with `.all()`."""
    iterable = loop.iter if isinstance(loop, (ast.For, ast.AsyncFor)) else \
        loop.generators[0].iter if isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)) \
        else None
    if iterable is None:
        return []
    chain = iterates_query(iterable, ctx) or related_chain(iterable, ctx)
    if chain is None:
        return _prefetched_objects(iterable, loop, ctx)
    _, prefetched, _ = loaded_relations(chain.methods, [], ctx)
    return prefetched


def _prefetched_objects(iterable: ast.AST, loop: ast.AST, ctx: "ModuleContext") -> list[str]:
    """`prefetch_related_objects(rows, "lines", *LOOKUPS)` before `for row in rows` in the same function."""
    if not isinstance(iterable, ast.Name):
        return []
    scope = ctx.scope_of(loop)
    found: list[str] = []
    for node in ctx.own_nodes(scope) if scope is not ctx.tree else ():
        if isinstance(node, ast.Call) and call_name(node) == "prefetch_related_objects" and node.args and \
                isinstance(node.args[0], ast.Name) and node.args[0].id == iterable.id and \
                node.lineno < getattr(loop, "lineno", 0):
            found.extend(lookup_strings(node.args[1:], ctx))
    return found


def loop_calls_reaching(index: object, kind: str, is_relation: "Callable[[str], bool] | None" = None
                        ) -> Iterator[tuple[str, dict, str]]:
    """(path, loop-call fact, "name() -> ... -> file:line what") for every call made once per loop item to a
    project function that reaches a `kind` ("query" | "http") effect. Shared by GAP301 and GAP303. With
    `is_relation`, a query on a parameter's relation counts when the relation name passes it."""
    cacheable: dict[str, str] = {}
    memoised: set[str] = set()
    chains = resolve_effects(index, kind, is_relation, cacheable, memoised)
    if not chains:
        return
    from ..reach import suffix_resolver  # (reach imports this module)

    resolve = suffix_resolver(chains)
    for path, data in index.facts("orm-loop-call"):  # type: ignore[attr-defined]
        callee = resolve(_namespace_callee(data["callee"], chains))
        chain = chains.get(callee)
        relation = cacheable.get(callee)
        if chain is not None and not (relation and any(p == "*" or p.split("__", 1)[0] == relation
                                                       for p in data.get("prefetched", ()))):
            via = " -> ".join([f"{data['name']}()", *chain])
            yield path, dict(data, memoised=True) if callee in memoised else data, via


def _namespace_callee(callee: str, known: "dict[str, object]") -> str:
    """`from . import queries` in a folder without `__init__.py` (a namespace package) leaves the callee
    relative (`..queries.top_products`); its module was indexed under its own name (`queries.top_products`)."""
    if not callee.startswith(".") or callee in known:
        return callee
    return callee.lstrip(".")


def resolve_effects(index: object, kind: str, is_relation: "Callable[[str], bool] | None" = None,
                    cacheable: dict[str, str] | None = None,
                    memoised: set[str] | None = None) -> dict[str, list[str]]:
    """qualname -> the chain of calls that reaches a `kind` ("query" | "http") effect, within SUMMARY_DEPTH.

    Each chain ends with "<file>:<line> <what>". Linear: every summary is resolved once (memo), cycles cut.
    `cacheable` receives qualname -> relation for functions whose own effect is reading a parameter's
    relation with `.all()`, which a caller's prefetch_related serves from memory. `memoised` receives the
    functions whose chain passes through a memoised one (`@lru_cache`): an HTTP effect once per distinct argument.
    """
    summaries: dict[str, tuple[str, dict]] = {}
    for path, data in index.facts("orm-function"):  # type: ignore[attr-defined]
        summaries.setdefault(data["q"], (path, data))
    resolved: dict[str, list[str] | None] = {}
    from ..reach import suffix_resolver  # (reach imports this module)

    resolve = suffix_resolver(summaries)  # `from storage import Storage` names `app1.storage.Storage`

    def effect(qualname: str, depth: int) -> list[str] | None:
        if qualname in resolved:
            return resolved[qualname]
        entry = summaries.get(qualname)
        if entry is None or depth < 0:
            return None
        resolved[qualname] = None  # cycle guard
        path, data = entry
        if data.get("memo") and kind != "http":
            return None  # memoised: its queries run once per distinct argument
        found: list[str] | None = None
        if data.get(kind):
            line, what = data[kind]
            found = [f"{os.path.basename(path)}:{line} {what}"]
        elif kind == "query" and is_relation is not None and data.get("relq") and is_relation(data["relq"][2]):
            line, what, relation = data["relq"][:3]
            found = [f"{os.path.basename(path)}:{line} {what}"]
            if cacheable is not None and data["relq"][3:] == ["all"]:
                cacheable[qualname] = relation
        else:
            for callee in data["calls"]:
                if callee in data.get("once", ()):
                    continue  # called only to fill a process-wide value the first time
                resolved_callee = resolve(_namespace_callee(callee, summaries))
                inner = effect(resolved_callee, depth - 1)
                if inner:
                    found = [f"{callee.rsplit('.', 1)[-1]}()", *inner]
                    if memoised is not None and resolved_callee in memoised:
                        memoised.add(qualname)
                    break
        if found and memoised is not None and data.get("memo"):
            memoised.add(qualname)
        resolved[qualname] = found
        return found

    return {q: chain for q in summaries if (chain := effect(q, SUMMARY_DEPTH))}


# ---- models -------------------------------------------------------------------------------------------------
def is_module_level_class(cls: ast.ClassDef, ctx: "ModuleContext") -> bool:
    """A class defined at module level, also under `if`/`try` (`if not is_model_registered(...): class Line`)."""
    for ancestor in ctx.ancestors(cls):
        if isinstance(ancestor, ast.Module):
            return True
        if not isinstance(ancestor, (ast.If, ast.Try, ast.ExceptHandler)):
            return False
    return False


def _model(cls: ast.ClassDef, ctx: "ModuleContext") -> bool:
    if not is_module_level_class(cls, ctx):
        return False
    fields: dict[str, list] = {}
    abstract = False
    django_base = False
    bases: list[str] = []
    for base in cls.bases:
        spelled = ctx.qualified_name(base) or ctx.dotted_name(base)
        if spelled is None:
            continue
        if spelled.startswith("django.db.models") or spelled.endswith(("models.Model", "db.Model")):
            django_base = True
        elif spelled in ctx.module_names:
            bases.append(f"{ctx.module_name}.{spelled}" if ctx.module_name else spelled)
        elif "." not in spelled and _star_modules(ctx):
            # `from .abstract_models import *` then `class Line(AbstractLine)`: each star module may define it
            bases.extend(f"{module}.{spelled}" for module in _star_modules(ctx))
        elif spelled.split(".", 1)[0] not in ("builtins", "object", "typing", "enum", "abc", "dataclasses",
                                               "Exception", "str", "int", "dict", "list"):
            bases.append(spelled)
    hooks = sorted(stmt.name for stmt in cls.body if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and stmt.name in ("save", "delete", "asave", "adelete"))
    for stmt in cls.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == "Meta":
            for inner in stmt.body:
                if isinstance(inner, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "abstract"
                                                         for t in inner.targets):
                    abstract = isinstance(inner.value, ast.Constant) and bool(inner.value.value)
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value = stmt.target.id, stmt.value
        else:
            continue
        if not isinstance(value, ast.Call):
            continue
        field = _field(value, ctx) or (["mgr", "", ""] if _is_manager(value) else None)
        if field is not None:
            fields[name] = field
    if not fields and not django_base and not bases:
        return False
    self_reads = _self_relation_reads(cls, fields)
    # A class with neither fields nor a Django base (`class Line(AbstractLine): pass`) may be a concrete model
    # whose fields are inherited: recorded too, the join keeps it only when one of its bases is a model.
    ctx.record("orm-model", {
        "q": f"{ctx.module_name}.{cls.name}" if ctx.module_name else cls.name, "name": cls.name,
        "bases": bases, "abstract": abstract, "fields": fields, "django": django_base,
        **({"overrides": hooks} if hooks else {}),
        **({"self_reads": self_reads} if self_reads else {}),
    })
    return True


def _self_relation_reads(cls: ast.ClassDef, fields: dict[str, list]) -> dict[str, list[str]]:
    """method -> the SQLAlchemy relationships of this model it reads on `self` (`to_dict()` serialising
    `self.items`): a call of the method per row loads them per row."""
    relations = {name for name, field in fields.items() if field[0].startswith("sa:")}
    if not relations:
        return {}
    table: dict[str, list[str]] = {}
    for stmt in cls.body:
        if not isinstance(stmt, ast.FunctionDef) or stmt.name.startswith("__") or stmt.decorator_list:
            continue
        read = sorted({node.attr for node in ast.walk(stmt) if isinstance(node, ast.Attribute)
                       and node.attr in relations and isinstance(node.value, ast.Name) and node.value.id == "self"
                       and isinstance(node.ctx, ast.Load)})
        if read:
            table[stmt.name] = read
    return table


def _is_manager(call: ast.Call) -> bool:
    """`PageRevisionsManager()`, `models.Manager()`, `RevisionQuerySet.as_manager()`,
    `Manager.from_queryset(QS)()`: a custom manager declared on the model."""
    name = call_name(call)
    return name.endswith("Manager") or name == "as_manager" or (
        isinstance(call.func, ast.Call) and call_name(call.func) == "from_queryset")


def _star_modules(ctx: "ModuleContext") -> tuple[str, ...]:
    def compute() -> tuple[str, ...]:
        return tuple(ctx._import_base(stmt) for stmt in ctx.tree.body  # noqa: SLF001 (relative imports resolved)
                     if isinstance(stmt, ast.ImportFrom) and any(alias.name == "*" for alias in stmt.names))
    return ctx.memo(("orm-star-imports",), compute)


def _field(call: ast.Call, ctx: "ModuleContext") -> list | None:
    """[kind, target, related_name] for a relation field or relationship(); ["col", "", ""] for other fields."""
    name = call_name(call)
    qualified = ctx.qualified_name(call.func) or ctx.dotted_name(call.func) or name
    if name == "relationship" and ("sqlalchemy" in qualified or qualified.endswith(("db.relationship",
                                                                                     "orm.relationship"))
                                   or qualified == "relationship") or \
            name == "Relationship" and qualified.startswith("sqlmodel"):
        lazy = "select"
        for keyword in call.keywords:
            if keyword.arg == "lazy":
                lazy = str(keyword.value.value) if isinstance(keyword.value, ast.Constant) else "?"
            elif keyword.arg == "sa_relationship_kwargs":  # SQLModel: Relationship(sa_relationship_kwargs={...})
                lazy = _dict_string(keyword.value, "lazy") or ("?" if not isinstance(keyword.value, ast.Dict)
                                                              else lazy)
        return [f"sa:{lazy}", _target(call, ctx), ""]
    kind = DJANGO_RELATION_FIELDS.get(name)
    if kind is None:
        return ["col", "", ""] if name.endswith("Field") else None
    related = ""
    for keyword in call.keywords:
        if keyword.arg == "related_name" and isinstance(keyword.value, ast.Constant):
            related = str(keyword.value.value)
    return [kind, _target(call, ctx), related]


def _dict_string(expr: ast.AST, key: str) -> str | None:
    """`{"lazy": "selectin"}` -> "selectin" for key "lazy"."""
    if isinstance(expr, ast.Dict):
        for k, v in zip(expr.keys, expr.values):
            if isinstance(k, ast.Constant) and k.value == key:
                return str(v.value) if isinstance(v, ast.Constant) else "?"
    return None


def _target(call: ast.Call, ctx: "ModuleContext") -> str:
    target: ast.AST | None = call.args[0] if call.args else None
    for keyword in call.keywords:
        if keyword.arg in ("to", "argument"):
            target = keyword.value
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        return target.value
    if isinstance(target, ast.Call) and len(target.args) == 2 and all(
            isinstance(a, ast.Constant) and isinstance(a.value, str) for a in target.args):
        # swappable models: `swapper.get_model_name("wagtailcore", "Page")` -> "wagtailcore.Page"
        return f"{target.args[0].value}.{target.args[1].value}"  # type: ignore[attr-defined]
    if isinstance(target, (ast.Name, ast.Attribute)):
        qualified = ctx.qualified_name(target)
        if qualified:
            return qualified
        spelled = ctx.dotted_name(target) or ""
        if isinstance(target, ast.Name) and target.id in ctx.module_names and ctx.module_name:
            return f"{ctx.module_name}.{target.id}"
        return spelled
    return ""


# ---- relation uses in loops ---------------------------------------------------------------------------------
def loaded_relations(chain_methods: tuple[tuple[str, ast.Call], ...], extra: list[ast.Call],
                     ctx: "ModuleContext") -> tuple[list[str], list[str], bool]:
    """(select_related paths, prefetch_related/eager-option paths, select_related() with no argument)."""
    selected: list[str] = []
    prefetched: list[str] = []
    select_all = False
    calls = [call for _, call in chain_methods] + extra
    for call in calls:
        name = call_name(call)
        if name == "select_related":
            select_all = select_all or not call.args
            selected.extend(lookup_strings(call.args, ctx))
        elif name == "prefetch_related":
            prefetched.extend(lookup_strings(call.args, ctx))
        if name in ("options", "scalars", "execute", "query", "select"):
            for node in ast.walk(call):
                if isinstance(node, ast.Call) and call_name(node) in SA_EAGER_OPTIONS:
                    for arg in node.args:
                        if isinstance(arg, ast.Attribute):
                            prefetched.append(arg.attr)
                        elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            prefetched.append(arg.value)
    return selected, prefetched, select_all


def lookup_strings(args: list[ast.expr], ctx: "ModuleContext | None" = None) -> list[str]:
    """The lookups eager-loading arguments spell: strings, `Prefetch("x")` without `to_attr`, and (given `ctx`)
    `*NAME` of a module-level list or tuple of strings (`prefetch_related(*PRODUCT_LOOKUPS)`). Any other argument
    is a lookup we cannot read: "*", taken to cover everything."""
    found: list[str] = []
    for arg in args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append(arg.value)
        elif isinstance(arg, ast.Call) and call_name(arg) == "Prefetch" and arg.args and \
                isinstance(arg.args[0], ast.Constant) and isinstance(arg.args[0].value, str):
            to_attr = [k for k in arg.keywords if k.arg == "to_attr"]
            if not to_attr:
                found.append(arg.args[0].value)
        elif isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name) and ctx is not None and \
                (listed := module_sequence(arg.value.id, ctx)) is not None and \
                all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in listed.elts):
            found.extend(e.value for e in listed.elts)  # type: ignore[attr-defined]
        elif not isinstance(arg, ast.Constant):
            found.append("*")  # a lookup we cannot read: assume it covers everything
    return found


def module_sequence(name: str, ctx: "ModuleContext") -> ast.List | ast.Tuple | None:
    """The list or tuple literal the module-level `NAME = [...]` binds (its last binding), else None."""
    found = None
    for statement in ctx.tree.body:
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets = [statement.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found = statement.value if isinstance(statement.value, (ast.List, ast.Tuple)) else None
    return found


def rows_not_models(chain_methods: tuple[tuple[str, ast.Call], ...]) -> bool:
    return any(name in DJANGO_ROWS for name, _ in chain_methods)
