"""Cross-module request reachability: "does this helper run per request or per job?" across the project.

`request_reachable` (scopes.py) answers within one module. Generated apps split a service into `routes.py` and
helpers (`thumbnails.py`, `db.py`, `mailer.py`) that the routes import, so a rule that only looks at one module is
silent on the helper. This module extends the question to the whole project without a second parse:

- every handler, and every function its own module reaches from one, records a `reach-root` fact {q, root}; the
  call edges come from the per-function summaries the ORM index records anyway (`orm-function` {q, calls});
- a rule that would report a call only in handler code records a `reach-pending` fact for calls whose function is
  not reached in its own module, and `pending_findings()` reports those whose function the join reaches from a
  handler in another module (any depth, cycles cut).

The join is linear in the number of facts and memoised per scan.
"""
from __future__ import annotations

import ast
import sys
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from .orm.index import function_qualname
from .scopes import request_reachable

if TYPE_CHECKING:
    from ..analyzer.findings import Finding
    from ..analyzer.model import ModuleContext
    from ..analyzer.project import ProjectIndex
    from ..analyzer.registry import Rule

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
WHERE = {"task": "background task", "route": "request handler", "view": "request handler",
         "websocket": "websocket handler"}


def record_reach(function: FunctionNode, ctx: "ModuleContext") -> None:
    """Record a `reach-root` fact when this function is a handler or is reached from one in its own module
    (once per function, whichever rule asks first). The call edges come from the project index's function
    summaries: a rule that uses this reads `FUNCTIONS`."""
    ctx.memo(("reach-root", id(function)), lambda: _record_root(function, ctx))


def _record_root(function: FunctionNode, ctx: "ModuleContext") -> bool:
    root = request_reachable(function, ctx)
    qualname = function_qualname(function, ctx) if root else None
    if qualname is not None:
        ctx.record("reach-root", {"q": qualname, "root": root})
    return True


def outer_qualname(node: ast.AST, ctx: "ModuleContext") -> str | None:
    """The qualified name of the outermost named function `node` runs in (nested functions run with it)."""
    function = ctx.enclosing_function(node)
    while function is not None:
        qualname = function_qualname(function, ctx)
        if qualname is not None:
            return qualname
        function = ctx.enclosing_function(function)
    return None


def defer(rule: "Rule", node: ast.AST, ctx: "ModuleContext", message: str) -> None:
    """Report `node` later if the join finds its function reached from a handler in another module. `message`
    may hold `{where}` (request handler / background task) and `{via}` (the handler it is reached from)."""
    qualname = outer_qualname(node, ctx)
    if qualname is None:
        return
    spot = ctx.finding(rule, node, message)
    ctx.record("reach-pending", {"rule": rule.id, "fn": qualname, "line": spot.line, "col": spot.column,
                                 "end_line": spot.end_line, "end_col": spot.end_column, "message": message})


# An absolute import of one of these names is the standard library's, unless the app's own folder holds a module
# of that name: Python 3 has no implicit relative imports.
STDLIB_MODULES = frozenset(getattr(sys, "stdlib_module_names", ()))


def suffix_resolver(known: Iterable[str]) -> Callable[[str], str]:
    """Map a callee spelled from an import to the project qualname it names when the two disagree on the package
    root: generated apps put their own folder on `sys.path` (`from storage import Storage`), so the call says
    `storage.Storage.add` while the function, found under a package, is `backend.app1.storage.Storage.add`. A
    callee already known, or whose suffix matches none or several project functions, is kept as it is."""
    known = set(known)
    by_suffix: dict[str, str | None] = {}
    for qualname in known:
        parts = qualname.split(".")
        for start in range(1, len(parts) - 1):  # at least `module.function`
            suffix = ".".join(parts[start:])
            by_suffix[suffix] = None if suffix in by_suffix and by_suffix[suffix] != qualname else qualname

    def resolve(callee: str) -> str:
        if callee in known:
            return callee
        found = by_suffix.get(callee)
        if found is None:
            return callee
        if callee.split(".", 1)[0] in STDLIB_MODULES and found.count(".") - callee.count(".") > 1:
            # `copy.copy` is the standard library's beside a package's own `wagtail/blocks/copy.py`: only a module
            # at the top of an app's folder (on `sys.path` when the app runs) can shadow it
            return callee
        return found

    return resolve


def reached(index: "ProjectIndex") -> dict[str, tuple[str, str]]:
    """qualname -> (handler kind, the handler's qualname) for every function a handler reaches, project-wide."""
    cached = getattr(index, "_gapcheck_reach", None)
    if cached is not None:
        return cached
    calls: dict[str, list[str]] = {}
    for _, data in index.facts("orm-function"):
        calls.setdefault(data["q"], list(data["calls"]))
    _add_instance_calls(index, calls)
    resolve = suffix_resolver([*calls, *(data["fn"] for _, data in index.facts("reach-pending")),
                               *(data["q"] for _, data in index.facts("reach-root"))])
    found: dict[str, tuple[str, str]] = {}
    work: list[str] = []
    for _, data in index.facts("reach-root"):
        if data["q"] not in found:
            found[data["q"]] = (data["root"], data["q"])
            work.append(data["q"])
    for _, data in index.facts("ims-graph"):  # routes defined inside `create_app()`: `mod.create_app.<locals>.put`
        for qualname, (kind, _) in data.get("functions", {}).items():
            if kind and ".<locals>." in qualname and qualname not in found:
                found[qualname] = (kind, qualname)
                work.append(qualname)
    while work:
        qualname = work.pop()
        origin = found[qualname]
        for callee in map(resolve, calls.get(qualname, ())):
            if callee not in found:
                found[callee] = origin
                work.append(callee)
    index._gapcheck_reach = found  # type: ignore[attr-defined]
    return found


def _add_instance_calls(index: "ProjectIndex", calls: dict[str, list[str]]) -> None:
    """Edges the function summaries miss: a method called on a module-level instance (`ORCH.start(env)` with
    `ORCH = Orchestrator()` in this or another module), a function handed to a thread or an executor
    (`pool.submit(self._run, job)`), from the in-memory-state call graph when it was recorded (a rule that uses
    this and wants them reads `ims-graph` too)."""
    graphs = list(index.facts("ims-graph"))
    instances: dict[str, str] = {}
    for _, data in graphs:
        instances.update(data.get("instances", {}))
    for _, data in graphs:
        for qualname, (_, callees) in data.get("functions", {}).items():
            for callee in callees:
                if callee.startswith("*."):
                    continue  # a method name on a collaborator of unknown class: not followed here
                owner, _, method = callee.rpartition(".")
                target = f"{instances[owner]}.{method}" if owner in instances else callee
                known = calls.setdefault(qualname, [])
                if target not in known:
                    known.append(target)


def pending_findings(index: "ProjectIndex", rule: "Rule", kinds: frozenset[str] | None = None
                     ) -> Iterator["Finding"]:
    """The deferred findings of `rule` whose function a handler (of one of `kinds`, default any) reaches."""
    table = reached(index)
    for path, data in index.facts("reach-pending"):
        if data["rule"] != rule.id:
            continue
        hit = table.get(data["fn"])
        if hit is None or (kinds is not None and hit[0] not in kinds):
            continue
        kind, via = hit
        message = data["message"].format(where=WHERE.get(kind, "request handler"), via=via.rsplit(".", 1)[-1])
        yield index.finding(rule, path, data["line"], data["col"], data["end_line"], data["end_col"], message)
