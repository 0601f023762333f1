"""Cross-module reachability for the in-memory-state rules: a helper in `sessions.py` that writes a module-level
dict is per-process state when a route in `routes.py` calls it.

The project index (a fact pass, see `orm/index.py`) records, once per file, for the GAP1xx rules that read it:

- `ims-graph` {functions: {qualname: [kind | None, [callee qualnames]]}, instances: {module.name: class qualname},
  registered: [qualnames]}: which of its functions run per request or per job (`scopes.request_reachable`),
  the project functions each one calls (imports resolved, `self.m()`, `manager.m()` on a module-level
  instance, functions passed as arguments such as `Thread(target=handle)`), and handlers registered by
  qualified name (`path("cart/", views.add_to_cart)`, `add_url_rule(view_func=views.index)`).

And each rule records its own:

- `gap1nn-write` {q, line, col, end_line, end_col, message}: a finding its rule would report if the function
  `q` ran per request or per job, recorded only where the file alone cannot tell (the per-file handler reports
  the rest itself).

The join walks the call graph once from every handler (any depth, cycles cut) and reports the recorded writes
of every function it reaches, with the chain that reaches it.
"""
from __future__ import annotations

import ast
import os
from collections import deque
from typing import TYPE_CHECKING, Iterator

from ...analyzer.model import OWNER
from ..orm.index import PROJECT_INDEX, callee_qualname, function_qualname
from ..reach import suffix_resolver
from ..scopes import (REGISTRATION_ATTRS, REGISTRATION_CALLS, WEB_APP_CONSTRUCTORS, is_test_module,
                      request_reachable)

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext
    from ...analyzer.project import ProjectIndex
    from ...analyzer.registry import Rule

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
GRAPH = "ims-graph"
MAX_CALLS = 80
# `self.<attr>.<method>()` on a collaborator of unknown class: joined by method name to the project classes that
# define it, when few do (duck typing; a name many classes define says nothing).
DUCK = "*"
MAX_DUCK_CLASSES = 3


def _module(ctx: "ModuleContext") -> str:
    return ctx.module_name or ctx.memo(("ims-module-stem",), lambda: os.path.splitext(os.path.basename(ctx.path))[0])


@PROJECT_INDEX.on(ast.Module, fact=GRAPH)
def _index_graph(node: ast.Module, ctx: "ModuleContext") -> None:
    """This file's `ims-graph` fact."""
    if is_test_module(ctx):
        return
    functions: dict[str, list] = {}
    methods: list[str] = []
    for function in _top_functions(ctx):
        qualname = function_qualname(function, ctx)
        if qualname is None:
            continue
        if isinstance(ctx.parent(function), ast.ClassDef) and not function.name.startswith("__"):
            methods.append(qualname)
        kind = request_reachable(function, ctx)
        calls = _calls(function, ctx)
        if kind or calls:
            functions[qualname] = [kind, calls]
    for nested, qualname in _nested_handlers(ctx):
        kind = request_reachable(nested, ctx)
        calls = _calls(nested, ctx, [n for n in ast.walk(nested) if isinstance(n, ast.Call)])
        if kind and calls:
            functions[qualname] = [kind, calls]
    instances = _instances(ctx)
    registered = _registered(ctx)
    decorators = _decorators(ctx)
    if functions or instances or registered or methods or decorators:
        ctx.record(GRAPH, {"functions": functions, "instances": instances, "registered": registered,
                           "methods": methods, "decorators": decorators})


def _top_functions(ctx: "ModuleContext") -> Iterator[FunctionNode]:
    for stmt in ctx.tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield stmt
        elif isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield inner


def _reference(expr: ast.AST, ctx: "ModuleContext") -> str | None:
    """The qualname a function reference names: `handle`, `views.index`, `self.process` (not a call)."""
    if isinstance(expr, ast.Name):
        if expr.id in _module_defs(ctx):
            return f"{_module(ctx)}.{expr.id}"
        resolved = ctx.imports.get(expr.id)
        return resolved if resolved and not resolved.startswith("builtins.") else None
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        if expr.value.id in ("self", "cls"):
            cls = ctx.enclosing(expr, ast.ClassDef)
            return f"{_module(ctx)}.{cls.name}.{expr.attr}" if cls is not None else None
        if expr.value.id in ctx.imports:
            return ctx.qualified_name(expr)
    return None


def _module_defs(ctx: "ModuleContext") -> frozenset[str]:
    return ctx.memo(("ims-module-defs",), lambda: frozenset(
        s.name for s in ctx.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))))


def _nested_handlers(ctx: "ModuleContext") -> Iterator[tuple[FunctionNode, str]]:
    """Handlers defined inside a top-level function - the routes of `create_app()` or `register_routes(app)` -
    with the qualname the graph knows them by (`mod.create_app.<locals>.put`): nobody calls them by name, but
    they run per request and what they call runs with them."""
    for node in _module_pass(ctx)[1]:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or function_qualname(node, ctx) is not None:
            continue
        outer = owner_qualname(ctx.enclosing_function(node), ctx)
        if outer is not None:
            yield node, f"{outer}.<locals>.{node.name}"


def _top_function(node: ast.AST, ctx: "ModuleContext") -> FunctionNode | None:
    current = node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else ctx.enclosing_function(node)
    while current is not None and not isinstance(ctx.parent(current), (ast.Module, ast.ClassDef)):
        current = ctx.enclosing_function(current)
    return current if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def factory_instances(function: FunctionNode | None, ctx: "ModuleContext") -> dict[str, str]:
    """`svc = Svc()` in the body of an app factory - a top-level function that builds the Flask/FastAPI/...
    app (`app = Flask(__name__)`) - by local name -> class qualname: one instance per process, which the routes
    the factory defines share as they would a module-level one."""
    if function is None or not isinstance(ctx.parent(function), ast.Module):
        return {}

    def compute() -> dict[str, str]:
        builds_app = False
        table: dict[str, str] = {}
        for stmt in function.body:
            if not (isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call)):
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            func = stmt.value.func
            qualified = ctx.qualified_name(func) or ""
            if qualified in WEB_APP_CONSTRUCTORS:
                builds_app = True
                continue
            cls = f"{_module(ctx)}.{func.id}" if isinstance(func, ast.Name) and func.id in ctx.module_names \
                else qualified
            if not cls or cls.startswith("builtins.") or not cls.rsplit(".", 1)[-1][:1].isupper():
                continue
            for target in targets:
                if isinstance(target, ast.Name):
                    table[target.id] = cls
        return table if builds_app else {}

    return ctx.memo(("ims-factory-instances", id(function)), compute)


def _calls(function: FunctionNode, ctx: "ModuleContext", nodes: list[ast.Call] | None = None) -> list[str]:
    """Project functions `function` (and the closures in it) may call, by qualname, in source order."""
    found: list[str] = []
    seen: set[str] = set()
    local_instances = factory_instances(_top_function(function, ctx), ctx)

    def add(name: str | None) -> None:
        if name and name not in seen and len(found) < MAX_CALLS:
            seen.add(name)
            found.append(name)

    # Not the decorators: they run once, when the function is defined. Defaults are walked for FastAPI's
    # `user=Depends(get_current_user)`, which runs `get_current_user` per request.
    defaults = [d for d in [*function.args.defaults, *function.args.kw_defaults] if d is not None]
    in_defaults = [n for part in defaults for n in ast.walk(part) if isinstance(n, ast.Call)]
    for node in [*in_defaults, *(_calls_by_function(ctx).get(id(function), ()) if nodes is None else nodes)]:
        add(callee_qualname(node, ctx))
        if local_instances and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in local_instances:
            add(f"{local_instances[node.func.value.id]}.{node.func.attr}")  # `svc.add()`, the factory's instance
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in ctx.module_names and node.func.value.id not in ("self", "cls"):
            add(f"{_module(ctx)}.{node.func.value.id}.{node.func.attr}")  # `manager.connect()`, a module instance
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Attribute) \
                and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "self" \
                and not node.func.attr.startswith("_"):
            add(f"{DUCK}.{node.func.attr}")  # `self.buckets.hit()`: a collaborator injected in __init__
        # `Thread(target=handle)`, `executor.submit(handle, x)`, `background_tasks.add_task(send, ...)`
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(arg, (ast.Name, ast.Attribute)) and isinstance(getattr(arg, "ctx", ast.Load()), ast.Load):
                reference = _reference(arg, ctx)
                if reference is not None and (not isinstance(arg, ast.Name) or arg.id not in ctx.imports
                                              or reference.rsplit(".", 1)[-1][:1].islower()):
                    add(reference)
    return found


def _calls_by_function(ctx: "ModuleContext") -> dict[int, list[ast.Call]]:
    """Every call in the module under the top-level function or method whose body holds it (closures, lambdas
    and nested classes included), in source order."""
    return _module_pass(ctx)[0]


def _module_pass(ctx: "ModuleContext") -> tuple[dict[int, list[ast.Call]], list[ast.AST], list[ast.Call]]:
    """One pass over the engine's node list for the graph: calls grouped by their top-level function, the
    definitions that carry decorators, and every call (for registrations); instead of a walk per question."""
    def collect() -> tuple[dict[int, list[ast.Call]], list[ast.AST], list[ast.Call]]:
        tops = {id(f) for f in _top_functions(ctx)}
        by_function: dict[int, list[ast.Call]] = {}
        decorated: list[ast.AST] = []
        calls: list[ast.Call] = []
        definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        for node in ctx.nodes:
            cls = node.__class__
            if cls is ast.Call:
                calls.append(node)
                owner = getattr(node, OWNER, None)
                while owner is not None and id(owner) not in tops:
                    owner = getattr(owner, OWNER, None)
                if owner is not None:
                    by_function.setdefault(id(owner), []).append(node)
            elif cls in definitions and node.decorator_list:
                decorated.append(node)
        return by_function, decorated, calls

    return ctx.memo(("ims-module-pass",), collect)


def _instances(ctx: "ModuleContext") -> dict[str, str]:
    """Module-level `manager = ConnectionManager()`: `mod.manager` -> `mod.ConnectionManager` (or the import)."""
    table: dict[str, str] = {}
    for stmt in ctx.tree.body:
        if not (isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call)):
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        func = stmt.value.func
        if isinstance(func, ast.Name) and func.id in ctx.module_names:
            cls = f"{_module(ctx)}.{func.id}"
        else:
            cls = ctx.qualified_name(func)
        if not cls or cls.startswith("builtins.") or not cls.rsplit(".", 1)[-1][:1].isupper():
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                table[f"{_module(ctx)}.{target.id}"] = cls
    for stmt in ctx.tree.body:  # instances an app factory builds once per process: singletons too
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for name, cls in factory_instances(stmt, ctx).items():
                table[f"{_module(ctx)}.{stmt.name}.<locals>.{name}"] = cls
    return table


def _decorators(ctx: "ModuleContext") -> list[str]:
    """Project functions used as decorators here (`@hooks.register("x")`, `@register`): registration functions
    that run at import time, whatever else calls them later."""
    names: set[str] = set()
    for node in _module_pass(ctx)[1]:
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            reference = _reference(target, ctx)
            if reference:
                names.add(reference)
    return sorted(names)


def _registered(ctx: "ModuleContext") -> list[str]:
    """Handlers registered by reference to another module: `path("", views.index)`, `add_url_rule(view_func=f)`."""
    names: list[str] = []
    for node in _module_pass(ctx)[2]:
        func = node.func
        if not ((isinstance(func, ast.Attribute) and func.attr in REGISTRATION_ATTRS)
                or ctx.qualified_name(func) in REGISTRATION_CALLS):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords if k.arg in ("endpoint", "view_func", "handler",
                                                                            "view"))]:
            if isinstance(arg, (ast.Name, ast.Attribute)):
                reference = _reference(arg, ctx)
                if reference and not reference.startswith(_module(ctx) + ".") and reference not in names:
                    names.append(reference)
    return names


# ---- writes a rule would report from request code -------------------------------------------------------------
def owner_qualname(function: ast.AST | None, ctx: "ModuleContext") -> str | None:
    """The qualname of the outermost named function around `function` (closures run when it runs)."""
    current = function
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            qualname = function_qualname(current, ctx)
            if qualname is not None:
                return qualname
        current = ctx.enclosing_function(current)
    return None


def record_write(rule: "Rule", function: ast.AST, node: ast.AST, message: str, ctx: "ModuleContext",
                 instance_of: str | None = None) -> None:
    """A write `rule` reports if `function` turns out to run per request or per job. `message` holds `{where}`.
    With `instance_of` (a class qualname), only if the project also keeps a module-level instance of it."""
    if is_test_module(ctx):
        return
    qualname = owner_qualname(function, ctx)
    if qualname is None:
        return
    data = {
        "q": qualname, "line": node.lineno, "col": node.col_offset + 1,
        "end_line": getattr(node, "end_lineno", node.lineno) or node.lineno,
        "end_col": (getattr(node, "end_col_offset", node.col_offset) or node.col_offset) + 1, "message": message,
    }
    if instance_of:
        data["instance_of"] = instance_of
    ctx.record(f"{rule.id.lower()}-write", data)


# ---- the join -------------------------------------------------------------------------------------------------
def reached(index: "ProjectIndex") -> dict[str, tuple[str, list[str]]]:
    """qualname -> (handler kind, call chain from the handler) for every project function a handler reaches
    through another module. Computed once per scan and shared by the three rules."""
    cached = getattr(index, "_ims_reached", None)
    if cached is not None:
        return cached
    functions: dict[str, tuple[str, list]] = {}
    instances: dict[str, str] = {}
    roots: list[tuple[str, str, list[str]]] = []
    for path, data in index.facts(GRAPH):
        for qualname, (kind, calls) in data["functions"].items():
            functions.setdefault(qualname, (path, [kind, calls]))
            if kind:
                roots.append((qualname, kind, []))
        instances.update(data["instances"])
        for qualname in data["registered"]:
            roots.append((qualname, "route", [f"registered in {os.path.basename(path)}"]))

    known = [*functions, *(q for _, data in index.facts(GRAPH) for q in data.get("methods", ()))]
    for kind in ("gap101-write", "gap102-write", "gap103-write"):
        known.extend(data["q"] for _, data in index.facts(kind))
    by_suffix = suffix_resolver(known)

    def resolve(callee: str) -> str:
        owner, _, method = callee.rpartition(".")
        if owner in instances:
            return by_suffix(f"{instances[owner]}.{method}")
        return by_suffix(callee)

    by_method: dict[str, list[str]] = {}
    for _, data in index.facts(GRAPH):
        for qualname in data.get("methods", ()):
            by_method.setdefault(qualname.rsplit(".", 1)[-1], []).append(qualname)

    def targets(callee: str) -> list[str]:
        if callee.startswith(DUCK + "."):
            defined = by_method.get(callee[2:], [])
            return defined if len(defined) <= MAX_DUCK_CLASSES else []
        return [resolve(callee)]

    found: dict[str, tuple[str, list[str]]] = {}
    work: deque[tuple[str, str, list[str]]] = deque()  # breadth first: each function gets its shortest chain
    for qualname, kind, chain in roots:
        if qualname not in found:
            found[qualname] = (kind, chain)
            work.append((qualname, kind, chain))
    while work:
        qualname, kind, chain = work.popleft()
        entry = functions.get(qualname)
        if entry is None:
            continue
        path, (_, calls) = entry
        step = [*chain, f"{qualname.rsplit('.', 1)[-1]}() in {os.path.basename(path)}"]
        for callee in calls:
            for target in targets(callee):
                if target not in found:
                    found[target] = (kind, step)
                    work.append((target, kind, step))
    index._ims_reached = found  # type: ignore[attr-defined]
    return found


WHERE = {"task": "a background task", "websocket": "a websocket handler"}


def project_findings(rule: "Rule", index: "ProjectIndex") -> Iterator[object]:
    """The recorded writes of `rule` in functions that a handler of another module reaches."""
    reach = reached(index)
    decorators = {name for _, data in index.facts(GRAPH) for name in data.get("decorators", ())}
    singletons = {cls for _, data in index.facts(GRAPH) for cls in data.get("instances", {}).values()}
    for path, data in index.facts(f"{rule.id.lower()}-write"):
        hit = reach.get(data["q"])
        if hit is None or data["q"] in decorators:
            continue  # not reached, or a registry filled at import time by decorating
        if data.get("instance_of") and not any(
                data["instance_of"] == cls or data["instance_of"].endswith("." + cls) for cls in singletons):
            continue  # an instance attribute, and no module keeps one instance of the class for every request
        kind, chain = hit
        where = WHERE.get(kind, "request code")
        if chain:
            where += f" ({' -> '.join(chain[-3:])} -> here)"
        yield index.finding(rule, path, data["line"], data["col"], data["end_line"], data["end_col"],
                            data["message"].format(where=where))
