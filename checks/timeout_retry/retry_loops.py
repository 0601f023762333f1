"""Hand-written retry loops: the shape GAP406, GAP407 and GAP409 share.

A retry loop is a loop whose body holds a `try` that leaves the loop on success (`return`/`break` in the `try` or
its `else`) and has a handler that lets the loop run again. That separates it from a worker loop (`while True:
job = q.get(); try: handle(job) except: log`), which never leaves on success, and from a search over alternatives
(`for port in ports: try: bind(port); break`), whose `try` uses the loop variable.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from .facts import SLEEP_CALLS

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

EXITS = (ast.Return, ast.Break, ast.Raise)
# Waiting for an item or for input is not retrying a failed operation.
# A full queue (`put_nowait` -> `QueueFull`/`queue.Full`) is back-pressure, not a failing service.
WAIT_EXCEPTIONS = ("Empty", "Full", "StopIteration", "KeyboardInterrupt", "EOFError", "StopAsyncIteration")
CONFLICT_WORDS = ("integrity", "exists", "conflict", "stale", "optimisticlock", "serializ", "deadlock",
                  "uniqueviolation")
INTERACTIVE_CALLS = frozenset({"builtins.input", "getpass.getpass", "click.prompt", "click.confirm", "typer.prompt",
                               "typer.confirm", "prompt_toolkit.prompt", "rich.prompt.Prompt.ask",
                               "rich.prompt.Confirm.ask", "rich.prompt.IntPrompt.ask"})
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print",
                         "echo", "inc", "observe", "labels", "append", "add"})


@dataclass(frozen=True)
class RetryLoop:
    loop: ast.While | ast.For | ast.AsyncFor
    attempt: ast.Try
    retrying: tuple[ast.ExceptHandler, ...]  # handlers that let the loop go round again
    bounded: bool  # an attempt limit or deadline exists (range(), a counter test, a conditional raise...)
    sleeps: tuple[ast.Call, ...]  # sleep calls in the loop body


def _own_nodes(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    """Nodes under these statements, not entering nested functions, classes or loops."""
    stack: list[ast.AST] = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
                                      ast.For, ast.AsyncFor, ast.While)):
                stack.append(child)


def _exits(nodes: list[ast.stmt], kinds: tuple[type, ...] = EXITS) -> bool:
    return any(isinstance(n, kinds) for n in _own_nodes(nodes))


def _is_constant_true(test: ast.expr) -> bool:
    return isinstance(test, ast.Constant) and bool(test.value)


def _handler_retries(handler: ast.ExceptHandler) -> bool:
    """The handler does not end in an unconditional raise/return/break."""
    return bool(handler.body) and not isinstance(handler.body[-1], EXITS)


def _waits_for_item(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return False
    spelled = ast.unparse(handler.type)
    return any(word in spelled for word in WAIT_EXCEPTIONS)


def _uses_name(nodes: list[ast.stmt], names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for stmt in nodes for n in ast.walk(stmt))


MUTATORS = frozenset({"pop", "append", "insert", "extend", "remove", "popleft", "update", "add", "discard"})


def _changed_names(statements: list[ast.stmt]) -> set[str]:
    """Names rebound (`x = ...`, `x += ...`) or mutated in place (`x.pop()`) by these statements."""
    names: set[str] = set()
    for node in _own_nodes(statements):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS \
                and isinstance(node.func.value, ast.Name):
            names.add(node.func.value.id)
    return names


def _read_names(statements: list[ast.stmt]) -> set[str]:
    return {n.id for n in _own_nodes(statements) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def retry_loop(loop: ast.AST, ctx: "ModuleContext") -> RetryLoop | None:
    if not isinstance(loop, (ast.While, ast.For, ast.AsyncFor)):
        return None
    return ctx.memo(("retry-loop", id(loop)), lambda: _retry_loop(loop, ctx))


def _retry_loop(loop: ast.While | ast.For | ast.AsyncFor, ctx: "ModuleContext") -> RetryLoop | None:
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        # Only `for _ in range(n)`: the same operation n times, not one per item.
        if not (isinstance(loop.iter, ast.Call) and ctx.qualified_name(loop.iter.func) == "builtins.range"):
            return None
    attempt = next((s for s in loop.body if isinstance(s, ast.Try)), None)
    if attempt is None or not attempt.handlers:
        return None
    if not _exits(attempt.body + attempt.orelse, (ast.Return, ast.Break)):
        return None  # does not leave the loop on success: a worker or polling loop
    if not any(isinstance(n, ast.Call) for n in _own_nodes(attempt.body)):
        return None
    if any(isinstance(n, ast.Call) and _is_interactive(n, ctx) for n in _own_nodes(attempt.body)):
        return None
    if isinstance(loop, (ast.For, ast.AsyncFor)) and _uses_name(attempt.body, _target_names(loop.target) - {"_"}):
        return None  # each round tries something different
    if any(_waits_for_item(h) for h in attempt.handlers):
        return None  # a consumer loop (`q.get(timeout=1)` ... `except Empty: continue`): its other handlers skip items
    retrying = tuple(h for h in attempt.handlers if _handler_retries(h))
    if not retrying:
        return None
    others = [s for s in loop.body if s is not attempt]
    if _changed_names(others + [s for h in retrying for s in h.body]) & _read_names(attempt.body):
        return None  # each round works on different data (a new name, the rest of the input): not a retry
    bounded = (
        isinstance(loop, (ast.For, ast.AsyncFor))
        or not _is_constant_true(loop.test)
        or _exits(others)
        or any(_exits(h.body) for h in retrying)
        or _exits(attempt.finalbody)
    )
    sleeps = tuple(n for n in _own_nodes(loop.body) if isinstance(n, ast.Call) and _is_pause(n, ctx))
    sleeps += tuple(n for h in retrying for n in _own_nodes(h.body)
                    if isinstance(n, ast.Call) and n not in sleeps and _schedules_retry(n, loop, ctx))
    return RetryLoop(loop, attempt, retrying, bounded, sleeps)


def _is_interactive(call: ast.Call, ctx: "ModuleContext") -> bool:
    """input(), click.prompt() and friends, or a helper of this module that calls one (`styled_prompt()`). Not a
    name alone: `build_prompt()` in an LLM retry loop builds text, it does not ask anybody."""
    if ctx.qualified_name(call.func) in INTERACTIVE_CALLS:
        return True
    last = (ctx.dotted_name(call.func) or "").rsplit(".", 1)[-1]
    return any(isinstance(n, ast.Call) and ctx.qualified_name(n.func) in INTERACTIVE_CALLS
               for f in _module_functions(ctx).get(last, ()) for n in ast.walk(f))


def _schedules_retry(call: ast.Call, loop: ast.While | ast.For | ast.AsyncFor, ctx: "ModuleContext") -> bool:
    """A handler call that decides the pause itself: a helper defined in this module whose body sleeps, or a
    helper handed the attempt number (`await self.on_failure(e, attempt=i)`) - the usual shape of a shared
    "sleep with backoff or re-raise" function. Logging and metrics calls that receive the counter do not count."""
    name = ctx.dotted_name(call.func) or ""
    last = name.rsplit(".", 1)[-1]
    if not last or last in LOG_METHODS or "log" in name.lower().split(".")[0]:
        return False
    if any(_is_pause(n, ctx) for f in _module_functions(ctx).get(last, ()) for n in ast.walk(f)
           if isinstance(n, ast.Call)):
        return True
    counters = _target_names(loop.target) - {"_"} if isinstance(loop, (ast.For, ast.AsyncFor)) else set()
    arguments = [*call.args, *(k.value for k in call.keywords)]
    return any(isinstance(a, ast.Name) and a.id in counters for a in arguments)


def _module_functions(ctx: "ModuleContext") -> dict[str, list[ast.AST]]:
    def compute() -> dict[str, list[ast.AST]]:
        found: dict[str, list[ast.AST]] = {}
        for node in ctx.nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.setdefault(node.name, []).append(node)
        return found

    return ctx.memo(("retry-module-functions",), compute)


def _is_pause(call: ast.Call, ctx: "ModuleContext") -> bool:
    """time.sleep and friends, a `sleep` passed in or wrapped (`_sleep(d)`), or `event.wait(d)`."""
    if ctx.qualified_name(call.func) in SLEEP_CALLS:
        return True
    last = (ctx.dotted_name(call.func) or "").rsplit(".", 1)[-1].lower()
    return "sleep" in last or (last == "wait" and bool(call.args or call.keywords))


def only_conflicts(loop: RetryLoop) -> bool:
    """Every retrying handler is about a write conflict (unique violation, "already exists", stale row - in the
    caught type or the handler's test): retrying those
    at once re-reads the state and is the usual optimistic-concurrency idiom, not hammering a failing service."""
    return all(any(w in ast.unparse(h).lower() for w in CONFLICT_WORDS) for h in loop.retrying)


def sleep_grows(loop: RetryLoop, ctx: "ModuleContext") -> bool:
    """Some sleep's delay changes between rounds: it uses the loop variable, a name rebound in the loop, `**`/`*`,
    or randomness (jitter)."""
    loop_names = _target_names(loop.loop.target) if isinstance(loop.loop, (ast.For, ast.AsyncFor)) else set()
    for node in _own_nodes(loop.loop.body):
        if isinstance(node, ast.AugAssign):
            loop_names |= _target_names(node.target)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                loop_names |= _target_names(target)
    for sleep in loop.sleeps:
        for arg in [*sleep.args, *(k.value for k in sleep.keywords)]:
            for node in ast.walk(arg):
                if isinstance(node, ast.Name) and node.id in loop_names:
                    return True
                if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.Mult, ast.LShift)):
                    return True
                if isinstance(node, ast.Call):
                    name = ctx.qualified_name(node.func) or ""
                    if name.startswith(("random.", "secrets.", "numpy.random.")) or "jitter" in name \
                            or "backoff" in (ctx.dotted_name(node.func) or "").lower():
                        return True
    return False
