"""In-memory-state facts: which values are mutable containers, and how they are written and evicted.

Which code runs per request or per job is in `checks/scopes.py`, shared with the other families.
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext


# ---- mutable containers ----------------------------------------------------------------------------------------
MUTABLE_FACTORIES = frozenset({
    "builtins.dict", "builtins.list", "builtins.set", "builtins.bytearray", "collections.defaultdict",
    "collections.OrderedDict", "collections.Counter", "collections.deque", "typing.DefaultDict",
})
MUTATING_METHODS = frozenset({
    "append", "appendleft", "extend", "extendleft", "insert", "add", "update", "setdefault", "pop", "popitem",
    "popleft", "remove", "discard", "clear", "__setitem__", "__delitem__", "sort", "reverse",
})
EVICTING_METHODS = frozenset({"pop", "popitem", "popleft", "clear", "remove", "discard", "__delitem__"})


def is_mutable_container(value: ast.AST | None, ctx: "ModuleContext") -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    if isinstance(value, ast.Call):
        return ctx.qualified_name(value.func) in MUTABLE_FACTORIES
    return False


def module_containers(ctx: "ModuleContext") -> dict[str, ast.AST]:
    """Module-level names bound only to mutable containers: name -> the binding statement."""

    def compute() -> dict[str, ast.AST]:
        table: dict[str, ast.AST] = {}
        excluded: set[str] = set()
        for name, statements in ctx.bindings(ctx.tree).items():
            if name.startswith("__") and name.endswith("__"):
                continue
            values = [getattr(s, "value", None) for s in statements if isinstance(s, (ast.Assign, ast.AnnAssign))]
            if len(values) != len(statements) or not values:
                excluded.add(name)
                continue
            if all(is_mutable_container(v, ctx) for v in values) and all(
                    _binds_name_directly(s, name) for s in statements):
                table[name] = statements[0]
        return table

    return ctx.memo(("module-containers",), compute)


def _binds_name_directly(stmt: ast.AST, name: str) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def class_containers(cls: ast.ClassDef, ctx: "ModuleContext") -> dict[str, ast.AST]:
    """Class attributes bound to a mutable container in the class body and never rebound on `self`."""

    def compute() -> dict[str, ast.AST]:
        table: dict[str, ast.AST] = {}
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                    and is_mutable_container(stmt.value, ctx):
                table[stmt.targets[0].id] = stmt
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                    and is_mutable_container(stmt.value, ctx) and (
                        "ClassVar" in ast.unparse(stmt.annotation) or _plain_class(cls)):
                # ClassVar, or a plain class: dataclass, attrs, pydantic and ORM fields with defaults are per
                # instance, so a decorated class or one with a base is trusted only with ClassVar.
                table[stmt.target.id] = stmt
        if not table:
            return table
        for node in ast.walk(cls):
            # `self.items = []` anywhere (usually __init__) gives each instance its own container.
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self":
                    table.pop(target.attr, None)
        return table

    return ctx.memo(("class-containers", id(cls)), compute)


CACHE_WORDS = ("cache", "memo", "lru", "ttl")


def instance_containers(cls: ast.ClassDef, ctx: "ModuleContext") -> dict[str, ast.AST]:
    """Attributes `__init__` binds to a mutable container (`self.secrets = {}`) that no other method rebinds:
    per-instance state, which is per-process state when the project keeps one module-level instance. Caches
    (a class or attribute named for one) are left to the cache rules."""

    def compute() -> dict[str, ast.AST]:
        if any(word in cls.name.lower() for word in CACHE_WORDS):
            return {}
        init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        if init is None:
            return {}
        table: dict[str, ast.AST] = {}
        for node in ast.walk(init):
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
                node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self" \
                    and is_mutable_container(getattr(node, "value", None), ctx) \
                    and not any(word in target.attr.lower() for word in CACHE_WORDS):
                table[target.attr] = node
        if not table:
            return table  # most classes: nothing to look for in the other methods
        loaders = _init_only_loaders(cls, init)
        for method in cls.body:
            if method is init or not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    or method.name in loaders:
                continue
            for node in ast.walk(method):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
                for target in targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == "self":
                        table.pop(target.attr, None)  # rebound or reset elsewhere: not one growing container
        return table

    return ctx.memo(("instance-containers", id(cls)), compute)


def _init_only_loaders(cls: ast.ClassDef, init: ast.FunctionDef) -> frozenset[str]:
    """Private methods only `__init__` runs (`self._load()`, also through each other): `self._data =
    json.load(f)` there fills the container once at start, as `__init__` does, and is no reset. A method
    named anywhere else in the class, or public (another module may call it per request), is not one."""
    methods = {s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    callers: dict[str, set[str]] = {}
    for name, method in methods.items():
        for node in ast.walk(method):
            if isinstance(node, ast.Attribute) and node.attr in methods and node.attr != name:
                is_self_call = isinstance(node.value, ast.Name) and node.value.id == "self"
                callers.setdefault(node.attr, set()).add(name if is_self_call else "")
    loaders: set[str] = set()
    frontier = ["__init__"]
    while frontier:
        current = frontier.pop()
        for name, seen_in in callers.items():
            if name in loaders or not name.startswith("_") or name.startswith("__") or current not in seen_in:
                continue
            if seen_in <= loaders | {"__init__"} | {current}:
                loaders.add(name)
                frontier.append(name)
    return frozenset(loaders)


PLAIN_BASES = frozenset({"object", "ABC", "abc.ABC", "Generic"})


def _plain_class(cls: ast.ClassDef) -> bool:
    """`class RoomManager:` - no decorator, no base but `object`/`ABC`/`Generic[...]`: an annotated class attribute
    with a value is one container shared by every instance."""
    if cls.decorator_list or cls.keywords:
        return False
    for base in cls.bases:
        spelled = ast.unparse(base.value if isinstance(base, ast.Subscript) else base)
        if spelled not in PLAIN_BASES:
            return False
    return True


def subscript_root(node: ast.AST) -> ast.AST:
    """`STORE[a][b]` -> `STORE`; `self.items[k]` -> `self.items`."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return node
