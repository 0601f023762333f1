"""Which shared container a write goes to, and how a function uses it: the analysis GAP101 and GAP103 share."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .facts import (EVICTING_METHODS, MUTATING_METHODS, class_containers, instance_containers, module_containers,
                    subscript_root)

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext


@dataclass(frozen=True)
class Store:
    """A shared container: `kind` is "module", "class" or "instance" (an attribute `__init__` binds, shared only
    when the class has a module-level instance); `key` identifies it within the file."""

    kind: str
    name: str  # as spelled for messages: `SESSIONS`, `Cart.items`
    key: str
    container: str  # dict, list, set ... for messages


def mutation_target(node: ast.AST) -> ast.AST | None:
    """The expression whose container `node` mutates: `X[k] = v`, `del X[k]`, `X.append(v)`, `X[k].add(v)`."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return subscript_root(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATING_METHODS:
        return subscript_root(node.func.value)
    return None


def _container_word(stmt: ast.AST, ctx: "ModuleContext") -> str:
    value = getattr(stmt, "value", None)
    if isinstance(value, (ast.Dict, ast.DictComp)):
        return "dict"
    if isinstance(value, (ast.List, ast.ListComp)):
        return "list"
    if isinstance(value, (ast.Set, ast.SetComp)):
        return "set"
    if isinstance(value, ast.Call):
        return (ctx.qualified_name(value.func) or "container").rsplit(".", 1)[-1]
    return "container"


def _is_local(name: str, function: ast.AST, ctx: "ModuleContext") -> bool:
    """`name` is a local (parameter or assigned without `global`) in `function` or a function around it."""
    current: ast.AST | None = function
    while isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = current.args
        params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        if name in params:
            return True
        if not isinstance(current, ast.Lambda):
            if name in _declared_global(current) :
                return False
            if name in ctx.bindings(current):
                return True
        current = ctx.enclosing_function(current)
    return False


def _declared_global(function: ast.AST) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return frozenset(names)


def resolve_store(expr: ast.AST, ctx: "ModuleContext", instances: bool = False) -> Store | None:
    """The module-level or class-level container `expr` names, when it is one and not shadowed locally; with
    `instances`, also `self.attr` bound to a container in `__init__` (see `instance_containers`)."""
    function = ctx.enclosing_function(expr)
    if isinstance(expr, ast.Name):
        stmt = module_containers(ctx).get(expr.id)
        if stmt is None or (function is not None and _is_local(expr.id, function, ctx)):
            return None
        return Store("module", expr.id, "module:" + expr.id, _container_word(stmt, ctx))
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        owner = expr.value.id
        cls: ast.AST | None = None
        if owner in ("self", "cls") and function is not None:
            cls = ctx.parent(function)
        else:
            for stmt in ctx.tree.body:
                if isinstance(stmt, ast.ClassDef) and stmt.name == owner:
                    cls = stmt
        if isinstance(cls, ast.ClassDef):
            stmt = class_containers(cls, ctx).get(expr.attr)
            if stmt is not None:
                return Store("class", f"{cls.name}.{expr.attr}", f"class:{id(cls)}:{expr.attr}",
                             _container_word(stmt, ctx))
            if instances and owner == "self":
                stmt = instance_containers(cls, ctx).get(expr.attr)
                if stmt is not None:
                    return Store("instance", f"{cls.name}.{expr.attr}", f"instance:{id(cls)}:{expr.attr}",
                                 _container_word(stmt, ctx))
    return None


def _store_key_of(expr: ast.AST, ctx: "ModuleContext") -> str | None:
    store = resolve_store(expr, ctx, instances=True)
    return store.key if store else None


@dataclass(frozen=True)
class Usage:
    """How one function touches one container."""

    reads: bool  # `k in X`, `X.get(k)`, `X[k]` under `try: ... except KeyError`
    stores_by_key: bool  # `X[k] = v` or `X.setdefault(k, v)`
    evicts: bool  # pop/del/clear...


def function_usage(function: ast.AST, key: str, ctx: "ModuleContext") -> Usage:
    def compute() -> Usage:
        reads = stores = evicts = False
        for node in ast.walk(function):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                if any(_store_key_of(c, ctx) == key for c in node.comparators):
                    reads = True
            elif isinstance(node, ast.Subscript):
                if _store_key_of(node.value, ctx) != key:
                    continue
                if isinstance(node.ctx, ast.Load):
                    reads = reads or _in_key_error_try(node, ctx)
                elif isinstance(node.ctx, ast.Store):
                    stores = True
                else:
                    evicts = True
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and _store_key_of(node.func.value, ctx) == key:
                if node.func.attr in ("get", "__contains__"):
                    reads = True
                elif node.func.attr == "setdefault":
                    stores = True
                    reads = reads or not _result_is_mutated(node, ctx)
                elif node.func.attr in EVICTING_METHODS:
                    evicts = True
        return Usage(reads, stores, evicts)

    return ctx.memo(("container-usage", id(function), key), compute)


def _in_key_error_try(node: ast.AST, ctx: "ModuleContext") -> bool:
    """`try: return C[k] except KeyError:` - the EAFP spelling of a cache lookup."""
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(ancestor, ast.Try):
            return any(h.type is not None and "KeyError" in ast.unparse(h.type) for h in ancestor.handlers)
    return False


def _result_is_mutated(node: ast.AST, ctx: "ModuleContext") -> bool:
    """`X[k].append(v)` / `X.setdefault(k, []).append(v)`: the value is written to, not looked up."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return not isinstance(parent.ctx, ast.Load) or _result_is_mutated(parent, ctx)
    return isinstance(parent, ast.Attribute) and parent.attr in MUTATING_METHODS


def is_memo_cache(function: ast.AST, key: str, ctx: "ModuleContext") -> bool:
    """The function looks a key up in the container and stores under a key: a memo cache, not a shared store."""
    usage = function_usage(function, key, ctx)
    return usage.reads and usage.stores_by_key


ENUMERATING_METHODS = frozenset({"keys", "values", "items"})


def is_enumerated_store(key: str, ctx: "ModuleContext") -> bool:
    """The container is listed somewhere in the file (`self._indexes.keys()`, `for k in self._items`,
    `list(self._items)`): a table of records the code enumerates, not a memo cache, which is only looked up by
    key. Eviction sweeps (`for k in list(C): del C[k]`) list it too, so only instance containers use this."""

    def compute() -> frozenset[str]:
        keys: set[str] = set()
        for node in ctx.nodes:
            target: ast.AST | None = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ENUMERATING_METHODS and not node.args:
                target = node.func.value
            elif isinstance(node, (ast.For, ast.comprehension)):
                target = node.iter
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("list", "sorted", "tuple", "set") and len(node.args) == 1:
                target = node.args[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == "self":
                found = _store_key_of(target, ctx)
                if found:
                    keys.add(found)
        return frozenset(keys)

    return key in ctx.memo(("enumerated-containers",), compute)


def _is_eviction(node: ast.AST) -> bool:
    if isinstance(node, ast.Subscript):
        return isinstance(node.ctx, ast.Del)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EVICTING_METHODS


def _adders(ctx: "ModuleContext") -> dict[str, frozenset[int]]:
    """Container key -> ids of the functions that add to it (anything but pop/del/discard/clear...)."""

    def compute() -> dict[str, frozenset[int]]:
        table: dict[str, set[int]] = {}
        for node in ctx.nodes:
            if not isinstance(node, (ast.Subscript, ast.Call)) or _is_eviction(node):
                continue
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                if not isinstance(ctx.parent(node), (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                    continue  # `history = D[k]` keeps the entry it inserted
                store = resolve_store(subscript_root(node.value), ctx)
                if store is not None and store.container == "defaultdict":  # `D[k]` inserts the default
                    table.setdefault(store.key, set()).add(id(ctx.enclosing_function(node)))
                continue
            target = mutation_target(node)
            if target is None:
                continue
            key = _store_key_of(target, ctx)
            if key is not None:
                table.setdefault(key, set()).add(id(ctx.enclosing_function(node)))
        return {k: frozenset(v) for k, v in table.items()}

    return ctx.memo(("container-adders",), compute)


def only_evicts_what_others_add(function: ast.AST, key: str, ctx: "ModuleContext") -> bool:
    """`destroy_session()` only pops from `SESSIONS`, which another function fills: the state is reported where
    it is added, not at every removal."""
    adders = _adders(ctx).get(key, frozenset())
    return id(function) not in adders and bool(adders)


def module_bounds(key: str, ctx: "ModuleContext") -> bool:
    """The cache has a bound: `clear()`/`popitem()`/`popleft()`, a size check (`len(C)`), a rebinding, or an
    expiry - a removal by key in a function that also reads it. A removal by key elsewhere (`revoke()` deleting
    one entry) only invalidates: the cache still keeps every other distinct key."""

    def compute() -> frozenset[str]:
        keys: set[str] = set()
        for node in ctx.nodes:
            target: ast.AST | None = None
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Del):
                target = node.value if _reads_in_same_function(node, ctx) else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in EVICTING_METHODS:
                per_key = node.func.attr in ("pop", "remove", "discard", "__delitem__")
                target = node.func.value if not per_key or _reads_in_same_function(node, ctx) else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" \
                    and node.args:
                target = node.args[0]
            elif isinstance(node, ast.Global):
                keys.update("module:" + n for n in node.names)
            if target is not None:
                found = _store_key_of(subscript_root(target), ctx)
                if found:
                    keys.add(found)
        return frozenset(keys)

    return key in ctx.memo(("bounded-containers",), compute)


def _reads_in_same_function(node: ast.AST, ctx: "ModuleContext") -> bool:
    function = ctx.enclosing_function(node)
    if function is None:
        return True  # module level: treat as a bound
    target = node.value if isinstance(node, ast.Subscript) else node.func.value  # type: ignore[attr-defined]
    key = _store_key_of(subscript_root(target), ctx)
    return key is not None and function_usage(function, key, ctx).reads


def resolve_written_store(target: ast.AST, ctx: "ModuleContext") -> Store | None:
    """The container a write goes to, also through a local alias of one of its entries:
    `history = CONVERSATIONS[user_id]; history.append(msg)` writes to `CONVERSATIONS`."""
    store = resolve_store(target, ctx, instances=True)
    if store is not None or not isinstance(target, ast.Name):
        return store
    value = ctx.value_of(target)
    if isinstance(value, ast.Subscript):
        return resolve_store(subscript_root(value), ctx, instances=True)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
            and value.func.attr in ("get", "setdefault"):
        return resolve_store(subscript_root(value.func.value), ctx, instances=True)
    return None


def resets_first(function: ast.AST, key: str, ctx: "ModuleContext") -> bool:
    """`searched_locations[:] = []` / `X.clear()` in the function: a buffer emptied on every call, not state
    that accumulates across requests."""

    def compute() -> bool:
        for node in ast.walk(function):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.slice, ast.Slice) and node.slice.lower is None and node.slice.upper is None:
                if _store_key_of(node.value, ctx) == key:
                    return True
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "clear" \
                    and _store_key_of(node.func.value, ctx) == key:
                return True
        return False

    return ctx.memo(("container-reset", id(function), key), compute)


def keeps_running_tasks(function: ast.AST, key: str, ctx: "ModuleContext") -> bool:
    """`BACKGROUND.add(task)` with `task.add_done_callback(BACKGROUND.discard)`: the asyncio idiom that keeps a
    reference to each running task until it finishes. The set holds only this process's live tasks, which no
    other worker could run or await anyway, and it empties itself."""

    def compute() -> bool:
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "add_done_callback" and node.args:
                callback = node.args[0]
                if isinstance(callback, ast.Attribute) and callback.attr in ("discard", "remove", "pop") \
                        and _store_key_of(callback.value, ctx) == key:
                    return True
        return False

    return ctx.memo(("container-task-refs", id(function), key), compute)
