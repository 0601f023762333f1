"""Project facts behind GAP701: what every call in the project passes for a parameter that a function splices into
SQL text.

A storage layer's `simple_select_one(table, keyvalues, retcols)` builds `SELECT %s FROM %s ...` from its
parameters, and the modules that use it pass literal table and column names. Inside one function that splice is
indistinguishable from a request value; across the project it is the developer's text when every call site passes
a constant (a literal, a tuple/list of literals, an ALL_CAPS constant) or forwards a parameter of its own function
that is itself only ever given constants.

Per file: one fact per call (callee name, the kind of each argument) and, for a function passed as a callback
(`run_interaction("desc", self.insert_txn, table, values)`), one per reference with the arguments that follow it.
A finding whose every spliced value is a parameter of its function is recorded instead of reported; the project
join reports it unless every call of that function name anywhere fills those parameters with constants.
"""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.model import ModuleContext
from .facts import REQUEST_WORDS, is_value_position
from .flow import Shape, _attribute_stores, _checked_against_constants, _iterates_constants, _names

CALL_FACT = "gap701-call"
DEF_FACT = "gap701-def"
CANDIDATE_FACT = "gap701-param-splice"
CONSTANT = "c"
UNKNOWN = "u"
NAMES = "k"  # a dict literal with constant keys: its names are the developer's, its values are not
# First parameters that a runner fills itself when it is handed the function (`run_interaction(desc, fn, *args)`
# calls `fn(txn, *args)`).
RUNNER_FILLED = frozenset({"txn", "cur", "cursor", "conn", "connection", "db", "c", "session"})


# Names so common on other receivers (lists, dicts, strings, loggers, typing) that recording their calls would
# only fill the cache. None of their calls is recorded, so a function of the project with such a name has no
# recorded call and keeps its findings: leaving them out can only keep a finding, never drop one.
# Exception classes, message translations (`raise ValueError(...)`, `_("...")`) and `super().__init__(...)` (the
# join knows a constructor by its class's name) are not recorded either.
NEVER_STORAGE = ("Error", "Exception", "Warning")
UNRECORDED = frozenset({"_", "gettext", "gettext_lazy", "ngettext", "pgettext", "__init__",
    "append", "extend", "insert", "add", "get", "pop", "update", "setdefault", "items", "keys", "values", "join",
    "format", "split", "strip", "replace", "startswith", "endswith", "encode", "decode", "lower", "upper",
    "debug", "info", "warning", "warn", "error", "exception", "critical", "log", "cast", "isinstance", "len",
    "getattr", "setattr", "hasattr", "str", "int", "list", "dict", "set", "tuple", "print", "sorted", "range",
    "execute", "executemany", "fetchone", "fetchall", "assertEqual", "assertTrue", "call_later", "sleep",
})


def _is_constant(expr: ast.AST) -> bool:
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant(e) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(k is not None and _is_constant(k) for k in expr.keys) and all(_is_constant(v) for v in expr.values)
    name = expr.id if isinstance(expr, ast.Name) else expr.attr if isinstance(expr, ast.Attribute) else ""
    if len(name) < 2 or not name.isupper():
        return False
    if isinstance(expr, ast.Attribute) and REQUEST_WORDS.search(ast.unparse(expr)):
        return False  # `request.GET` is upper case too
    return True  # `TABLE`, `Schema.EVENTS_TABLE`: a constant by convention


def _enclosing_def(node: ast.AST, ctx: ModuleContext) -> ast.AST | None:
    function = ctx.enclosing_function(node)
    return function if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _is_parameter(name: str, function: ast.AST) -> bool:
    names = getattr(function, "_gapcheck_parameters", None)  # asked for every name of every recorded call
    if names is None:
        args = function.args  # type: ignore[attr-defined]
        names = frozenset(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
        function._gapcheck_parameters = names  # type: ignore[attr-defined]
    return name in names


def describe_def(function: ast.AST, ctx: ModuleContext) -> dict:
    """Name, parameters and which of them default to a constant; `bound`: an attribute call skips the first."""
    args = function.args  # type: ignore[attr-defined]
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    decorators = function.decorator_list  # type: ignore[attr-defined]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in decorators)
    bound = isinstance(ctx.parent(function), ast.ClassDef) and not static and bool(positional)
    constant: list[str] = [arg for arg, default in zip(reversed(positional), reversed(args.defaults))
                           if _is_constant(default)]
    constant.extend(a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None and _is_constant(d))
    name = function.name  # type: ignore[attr-defined]
    parent = ctx.parent(function)
    if name == "__init__" and isinstance(parent, ast.ClassDef):
        name = parent.name  # called as `IdGenerator(db_conn, table="events")`
    return {"name": name, "positional": positional, "ctor": name != function.name,  # type: ignore[attr-defined]
            "keyword": [a.arg for a in args.kwonlyargs], "bound": bound, "constant_defaults": constant,
            "varargs": args.vararg is not None, "varkw": args.kwarg is not None}


def _kind(expr: ast.AST, ctx: ModuleContext) -> str:
    """"c" constant, "k" constant keys, "p:<function>:<parameter>" a parameter of the caller's own function,
    "u" anything else."""
    if _is_constant(expr):
        return CONSTANT
    if isinstance(expr, ast.Dict) and all(k is not None and (_is_constant(k) or _checked_key(k, ctx))
                                          for k in expr.keys):
        return NAMES
    if isinstance(expr, ast.Attribute):
        found = constructor_parameter(expr, ctx)
        if isinstance(found, tuple):
            return f"p:{_record_def(found[0], ctx)}:{found[1]}"
        return CONSTANT if found == CONSTANT else UNKNOWN
    if isinstance(expr, ast.IfExp):
        kinds = {_kind(expr.body, ctx), _kind(expr.orelse, ctx)}
        return kinds.pop() if len(kinds) == 1 and kinds <= {CONSTANT, NAMES} else UNKNOWN
    if isinstance(expr, (ast.BinOp, ast.JoinedStr)):
        return _text_kind(expr, ctx)
    if isinstance(expr, ast.BoolOp):  # `keyvalues or {}`: the parameter, or a constant
        kinds = {_kind(value, ctx) for value in expr.values} - {CONSTANT}
        return kinds.pop() if len(kinds) == 1 else CONSTANT if not kinds else UNKNOWN
    if isinstance(expr, ast.Name):
        innermost = _enclosing_def(expr, ctx)
        if innermost is None:
            return UNKNOWN
        # a name's kind depends only on the function it is read in: asked once per (function, name), not per read
        names: dict[tuple[int, str], str] = ctx.memo(("gap701-name-kinds",), dict)
        key = (id(innermost), expr.id)
        found = names.get(key)
        if found is None:
            names[key] = UNKNOWN  # `table = table if x else "a"`: a cycle proves nothing
            found = names[key] = _name_kind(expr, innermost, ctx)
        return found
    return UNKNOWN


def _name_kind(expr: ast.Name, function: ast.AST, ctx: ModuleContext) -> str:
    while function is not None and not _is_parameter(expr.id, function) and not ctx.bindings(function).get(expr.id):
        function = _enclosing_def(function, ctx)  # a closure's free variable: an enclosing function's own
    if function is None:
        return UNKNOWN
    if _is_parameter(expr.id, function) and not _rebound(expr.id, function, ctx):
        return f"p:{_record_def(function, ctx)}:{expr.id}"
    kinds: dict[tuple[int, str], str] = ctx.memo(("gap701-local-kinds",), dict)
    key = (id(function), expr.id)
    if key not in kinds:
        kinds[key] = UNKNOWN
        kinds[key] = _local_kind(expr, function, ctx)
    return kinds[key]


def _checked_key(key: ast.AST, ctx: ModuleContext) -> bool:
    """`{field_name: value}` under `if field_name in (Fields.DISPLAYNAME, Fields.AVATAR_URL):`: an allow-listed key."""
    return isinstance(key, ast.Name) and _checked_against_constants(key, ctx)


def _text_kind(expr: ast.AST, ctx: ModuleContext) -> str:
    """Text joined from constants (`TEMP_TABLE + "_rooms"`, `f"COALESCE(MAX({column}), 1)"` with a constant or
    forwarded column): constant, or the one forwarded parameter it depends on."""
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Mod)):
        parts = [expr.left, *(expr.right.elts if isinstance(expr.right, ast.Tuple) else [expr.right])]
    elif isinstance(expr, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.FormattedValue) else v for v in expr.values]
    else:
        return UNKNOWN
    kinds = {_kind(part, ctx) for part in parts} - {CONSTANT}
    if not kinds:
        return CONSTANT
    return kinds.pop() if len(kinds) == 1 and next(iter(kinds)).startswith("p:") else UNKNOWN


def _local_kind(name: ast.Name, function: ast.AST, ctx: ModuleContext) -> str:
    """A local set only to constants (`table = "a" if rw else "b"`), a loop over a constant table, or a dict
    literal with constant keys that only ever gains constant keys (`keyvalues["device_id"] = device_id`)."""
    statements = ctx.bindings(function).get(name.id) or []
    if not statements or _is_parameter(name.id, function):
        return UNKNOWN
    kinds = set()
    for stmt in statements:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None and all(
                isinstance(t, ast.Name) for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])):
            kinds.add(_kind(stmt.value, ctx) if not isinstance(stmt.value, ast.Name) else UNKNOWN)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and _iterates_constants(stmt.iter, ctx):
            kinds.add(CONSTANT)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.iter, ast.Name) \
                and _is_parameter(stmt.iter.id, function) and not _rebound(stmt.iter.id, function, ctx):
            # `for table, column in stream_id_tables:`: the parts of what the callers pass
            kinds.add(f"p:{_record_def(function, ctx)}:{stmt.iter.id}")
        else:
            kinds.add(UNKNOWN)
    if len(kinds) == 1 and next(iter(kinds)).startswith("p:"):
        return kinds.pop()
    if len(kinds) != 1 or not kinds <= {CONSTANT, NAMES}:
        return UNKNOWN
    keyed, grown, stored = _stores(function, ctx)
    if name.id in keyed or name.id in grown:
        return UNKNOWN  # `keyvalues[column] = value`: a key from elsewhere; `keyvalues.update(...)`
    kind = kinds.pop()
    return NAMES if name.id in stored and kind == CONSTANT else kind


GROWING_METHODS = frozenset({"update", "setdefault", "append", "extend", "insert", "add"})


def _stores(function: ast.AST, ctx: ModuleContext) -> tuple[set[str], set[str], set[str]]:
    """Per function, once: the local names stored into by a non-constant key, those given a growing method call,
    and those stored into by any key (`d[k] = v`)."""
    memo: dict[int, tuple[set[str], set[str], set[str]]] = ctx.memo(("gap701-stores",), dict)
    found = memo.get(id(function))
    if found is None:
        keyed: set[str] = set()
        grown: set[str] = set()
        stored: set[str] = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(node.ctx, ast.Store):
                stored.add(node.value.id)
                if not _is_constant(node.slice):
                    keyed.add(node.value.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in GROWING_METHODS:
                grown.add(node.value.id)
        found = memo[id(function)] = (keyed, grown, stored)
    return found


def _rebound(name: str, function: ast.AST, ctx: ModuleContext) -> bool:
    """Bound again in the function, other than `keyvalues = keyvalues or {}` (the parameter, or a constant)."""
    return any(not _defaults_itself(stmt, name) for stmt in ctx.bindings(function).get(name) or [])


def _defaults_itself(stmt: ast.AST, name: str) -> bool:
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return False
    value = stmt.value
    return isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or) and isinstance(value.values[0], ast.Name) \
        and value.values[0].id == name and all(_is_constant(v) for v in value.values[1:])


def _record_def(function: ast.AST, ctx: ModuleContext) -> str:
    """Record the function's description once per file; its name as calls spell it."""
    recorded: dict[int, str] = ctx.memo(("gap701-defs-recorded",), dict)
    if id(function) not in recorded:
        description = describe_def(function, ctx)
        recorded[id(function)] = description["name"]
        ctx.record(DEF_FACT, description)
    return recorded[id(function)]


def callee_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def record_call(call: ast.Call, ctx: ModuleContext) -> None:
    """What this call passes, and, for each function handed over as an argument, what the arguments after it are:
    one fact per file, `{callee name: [signature, ...]}` (see `_signature`), each signature once."""
    if not call.args and not call.keywords:
        return
    name = callee_name(call.func)
    if name is None or name in UNRECORDED or name.startswith("assert") or name.endswith(NEVER_STORAGE) \
            or ctx.qualified_name(call.func) == "builtins." + name:
        return  # `self.assertEqual(...)`: a test's checks, never a storage function
    splat = any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)
    positional = [UNKNOWN if isinstance(a, ast.Starred) else _kind(a, ctx) for a in call.args]
    keywords = {k.arg: _kind(k.value, ctx) for k in call.keywords if k.arg}
    _add_call(name, _signature("a" if isinstance(call.func, ast.Attribute) else "n", positional, keywords, splat),
              ctx)
    for index, argument in enumerate(call.args):
        if isinstance(argument, (ast.Name, ast.Attribute)) and not _is_constant(argument):
            # the runner passes its keywords on too (`run_interaction("d", self.select_txn, table, limit=10)`)
            _add_call(callee_name(argument) or "", _signature("r", positional[index + 1:], keywords, splat), ctx)


def _add_call(name: str, signature: str, ctx: ModuleContext) -> None:
    calls: dict[str, list[str]] = ctx.memo(("gap701-calls",), lambda: _new_call_fact(ctx))
    seen = calls.setdefault(name, [])
    if signature not in seen:
        seen.append(signature)


def _new_call_fact(ctx: ModuleContext) -> dict[str, list[str]]:
    calls: dict[str, list[str]] = {}
    ctx.record(CALL_FACT, calls)  # filled in as the walk goes on; serialised after it
    return calls


def _signature(how: str, positional: list[str], keywords: dict[str, str], splat: bool) -> str:
    """`a|c,p:f:table|retcols=c|0`: attribute call (`a`), plain name (`n`) or hand-over (`r`); the positional
    kinds; the keyword kinds; whether `*args`/`**kwargs` was passed."""
    return "|".join((how, ",".join(positional), ",".join(f"{k}={v}" for k, v in keywords.items()),
                     "1" if splat else "0"))


def _parse(name: str, signature: str) -> list:
    how, positional, keywords, splat = signature.split("|")
    return [name, {"a": True, "n": False, "r": "ref"}[how], positional.split(",") if positional else [],
            dict(pair.split("=", 1) for pair in keywords.split(",")) if keywords else {}, splat == "1"]


def parameter_splices(shape: Shape, ctx: ModuleContext) -> tuple[ast.AST, list[list[str]]] | None:
    """The function and its `[parameter, use, function name]` triples, when every value spliced into the text where
    a name or a clause goes (not a literal value: see `is_value_position`) is a parameter of a module function or
    method holding the splices (use "value"), a name taken from iterating one
    (`k for k in keyvalues`, `keys, vals = zip(*values.items())`, `for column in columns:`; use "names": a dict's
    keys count), or an attribute the class's `__init__` sets from one of its parameters (`self._table = table`;
    the constructor's calls decide, under the class's name)."""
    function = None
    uses: list[list[str]] = []
    for splice in shape.splices:
        node = splice.node
        if is_value_position(splice.before):
            return None  # a value (`email = '{email}'`) stays reported where it is, in the file's own pass
        if isinstance(node, ast.Attribute):
            found = constructor_parameter(node, ctx)
            if not isinstance(found, tuple):
                return None
            init, parameter = found
            use = [parameter, "value", _record_def(init, ctx)]
            function = function or init
            if use not in uses:
                uses.append(use)
            continue
        if not isinstance(node, ast.Name):
            return None
        owner = _enclosing_def(node, ctx)
        while owner is not None and not isinstance(ctx.parent(owner), (ast.ClassDef, ast.Module)) \
                and not _is_parameter(node.id, owner) and not ctx.bindings(owner).get(node.id):
            owner = _enclosing_def(owner, ctx)  # a closure's free variable: the enclosing function's parameter
        if owner is None or not isinstance(ctx.parent(owner), (ast.ClassDef, ast.Module)):
            return None  # a nested function's own parameter: the file's own pass follows its calls
        use = _parameter_use(node, owner, ctx)
        if use is None:
            return None
        use = [*use, _record_def(owner, ctx)]
        function = function or owner
        if use not in uses:
            uses.append(use)
    return (function, uses) if function is not None else None


def constructor_parameter(node: ast.Attribute, ctx: ModuleContext) -> tuple[ast.AST, str] | str | None:
    """`self._table` where the class's `__init__` is the one place that sets it: `(init, parameter)` when it is set
    from a parameter the constructor never rebinds, `CONSTANT` when set to a constant (`"a" if rw else "b"`),
    None otherwise (set elsewhere too, or from anything else)."""
    if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
        return None
    klass = ctx.enclosing(node, ast.ClassDef)
    if klass is None:
        return None
    memo: dict[tuple[int, str], object] = ctx.memo(("gap701-ctor-attrs",), dict)
    key = (id(klass), node.attr)
    if key not in memo:
        memo[key] = _constructor_parameter(klass, node.attr, ctx)
    return memo[key]  # type: ignore[return-value]


def _constructor_parameter(klass: ast.ClassDef, attr: str, ctx: ModuleContext) -> tuple[ast.AST, str] | str | None:
    init = next((s for s in klass.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
    if init is None:
        return None
    stores = _attribute_stores(klass, ctx).get(attr, [])
    if len(stores) != 1:
        return None
    statement = ctx.parent(stores[0])
    if not (isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None
            and ctx.parent(statement) is init and _targets(statement) == [stores[0]]
            and isinstance(stores[0].value, ast.Name) and stores[0].value.id == "self"):
        return None
    value = statement.value
    if isinstance(value, ast.Name) and _is_parameter(value.id, init) and not _rebound(value.id, init, ctx):
        return init, value.id
    return CONSTANT if _kind(value, ctx) == CONSTANT else None


def _targets(statement: ast.AST) -> list[ast.AST]:
    return list(statement.targets) if isinstance(statement, ast.Assign) else [statement.target]  # type: ignore


def _parameter_use(node: ast.Name, function: ast.AST, ctx: ModuleContext) -> list[str] | None:
    for ancestor in ctx.ancestors(node):
        if ancestor is function:
            break
        if isinstance(ancestor, (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)):
            for generator in ancestor.generators:
                if _first_name(generator.target) == node.id:
                    parameter = _iterated_parameter(generator.iter, function, ctx)
                    return [parameter, "names"] if parameter else None
                if node.id in _names(generator.target):
                    return None
    if _is_parameter(node.id, function) and not _rebound(node.id, function, ctx):
        return [node.id, "value"]
    statements = ctx.bindings(function).get(node.id) or []
    if not statements or _is_parameter(node.id, function):
        return None
    rows = {_rows_parameter(stmt, node.id, function, ctx) for stmt in statements}
    if len(rows) == 1 and None not in rows:
        # `for table, _, id_column in tables:`: a part of each row the callers pass, decided as a value
        return [rows.pop(), "value"]  # type: ignore[list-item]
    parameters = set()
    for stmt in statements:
        if isinstance(stmt, (ast.For, ast.AsyncFor)) and _first_name(stmt.target) == node.id:
            parameters.add(_iterated_parameter(stmt.iter, function, ctx))
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and _first_name(stmt.targets[0]) == node.id:
            value = stmt.value  # `keys, vals = zip(*values.items())` / `columns = list(values)`
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("zip", "list"):
                argument = value.args[0] if len(value.args) == 1 else None
                if isinstance(argument, ast.Starred) and value.func.id == "zip":
                    argument = argument.value
                elif value.func.id == "zip" or isinstance(stmt.targets[0], ast.Tuple):
                    argument = None
                parameters.add(_iterated_parameter(argument, function, ctx) if argument is not None else None)
            else:
                parameters.add(None)
        else:
            parameters.add(None)
    if len(parameters) != 1 or None in parameters:
        return None
    return [parameters.pop(), "names"]


def _rows_parameter(stmt: ast.AST, name: str, function: ast.AST, ctx: ModuleContext) -> str | None:
    """The parameter a loop walks when `name` is a later part of its tuple target (`for table, _, column in rows`)."""
    if isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.target, ast.Tuple) \
            and _first_name(stmt.target) != name and name in _names(stmt.target) \
            and isinstance(stmt.iter, ast.Name) and _is_parameter(stmt.iter.id, function) \
            and not _rebound(stmt.iter.id, function, ctx):
        return stmt.iter.id
    return None


def _first_name(target: ast.AST) -> str | None:
    if isinstance(target, ast.Tuple) and target.elts:
        target = target.elts[0]
    return target.id if isinstance(target, ast.Name) else None


def _iterated_parameter(iterable: ast.AST, function: ast.AST, ctx: ModuleContext, depth: int = 0) -> str | None:
    """`keyvalues`, `keyvalues.keys()`, `keyvalues.items()`, `sorted(columns)`: the parameter walked."""
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and not iterable.args \
            and iterable.func.attr in ("keys", "items"):
        iterable = iterable.func.value
    elif isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and len(iterable.args) == 1 \
            and iterable.func.id in ("sorted", "list", "tuple", "set", "iter"):
        iterable = iterable.args[0]
    if not isinstance(iterable, ast.Name):
        return None
    if _is_parameter(iterable.id, function):
        return None if _rebound(iterable.id, function, ctx) else iterable.id
    statements = ctx.bindings(function).get(iterable.id) or []
    if depth < 3 and len(statements) == 1 and isinstance(statements[0], ast.Assign) \
            and len(statements[0].targets) == 1 and isinstance(statements[0].targets[0], ast.Name):
        return _iterated_parameter(statements[0].value, function, ctx, depth + 1)  # `keys = list(keyvalues)`
    return None


class _Join:
    """Is a (function name, parameter) only ever given constants, by every call and callback hand-over?"""

    def __init__(self, calls: list[list], defs: list[dict]) -> None:
        self.calls: dict[str, list[list]] = {}
        for call in calls:
            self.calls.setdefault(call[0], []).append(call)
        self.defs: dict[str, list[dict]] = {}
        for definition in defs:
            self.defs.setdefault(definition["name"], []).append(definition)
        self.verdicts: dict[tuple[str, str, str], bool] = {}

    def constant(self, name: str, parameter: str, use: str = "value") -> bool:
        key = (name, parameter, use)
        if key in self.verdicts:
            return self.verdicts[key]
        self.verdicts[key] = False  # a cycle proves nothing
        definitions = [d for d in self.defs.get(name, []) if parameter in d["positional"] + d["keyword"]]
        calls = self.calls.get(name, [])
        verdict = bool(definitions) and bool(calls) and all(
            self._passes_constant(call, d, parameter, use) for call in calls for d in definitions)
        self.verdicts[key] = verdict
        return verdict

    def _passes_constant(self, call: list, definition: dict, parameter: str, use: str) -> bool:
        kind = self.kind_for(call, definition, parameter)
        if kind == CONSTANT or kind == NAMES and use == "names":
            return True
        if kind.startswith("p:"):
            _, function, forwarded = kind.split(":", 2)
            return self.constant(function, forwarded, use)
        return False

    @staticmethod
    def kind_for(call: list, definition: dict, parameter: str) -> str:
        """What the call passes for the parameter of this definition (a default that is constant counts as "c")."""
        _, how, positional, keywords, splat = call
        known = definition["positional"] + definition["keyword"]
        skips_self = bool(how or definition.get("ctor")) and definition["bound"]
        if how == "ref":
            keywords = {k: v for k, v in keywords.items() if k in known}  # the others are the runner's own
        elif not definition["varkw"] and any(k not in known for k in keywords):
            return UNKNOWN  # a keyword this function does not take: a call of another function of that name
        if not definition["varargs"] and how != "ref" and \
                len(positional) > len(definition["positional"]) - (1 if skips_self else 0):
            return UNKNOWN  # more arguments than it takes: likewise
        kind: str | None = keywords.get(parameter)
        if kind is None:
            params = list(definition["positional"])
            if how == "ref":
                params = params[1:] if definition["bound"] else params
                if params and params[0] in RUNNER_FILLED:
                    params = params[1:]
            elif skips_self:
                params = params[1:]
            if parameter in params and params.index(parameter) < len(positional):
                kind = positional[params.index(parameter)]
            elif splat:
                return UNKNOWN
            else:  # left out (also by a hand-over): its default is used (none: another function of that name)
                return CONSTANT if parameter in definition["constant_defaults"] else UNKNOWN
        return kind


def join(index) -> Iterator[tuple[str, dict]]:
    """(path, candidate) for every recorded candidate that some call fills with a non-constant."""
    calls = [_parse(name, signature) for _, data in index.facts(CALL_FACT)
             for name, signatures in data.items() for signature in signatures]
    defs = [data for _, data in index.facts(DEF_FACT)] + [data["def"] for _, data in index.facts(CANDIDATE_FACT)]
    resolver = _Join(calls, defs)
    for path, data in index.facts(CANDIDATE_FACT):
        name = data["def"]["name"]
        if not all(resolver.constant(entry[2] if len(entry) > 2 else name, entry[0], entry[1])
                   for entry in data["params"]):
            yield path, data
