"""Where a SQL string comes from, inside one function: the intra-function dataflow behind GAP7xx.

`shape_of(expr)` answers "is this a string, which constant text does it carry, and which values were spliced into
it?" It follows f-strings, `%`, `.format()`, `+`, `+=`, `sep.join(...)`, conditional expressions, local variables
(every binding before the use, so `q += " AND ..."` in a branch counts) and helpers in the same module (a function or
a method of the same class) whose return value is such a string. Everything it cannot see is "opaque" (None): a
parameter, an attribute, a call's result. Opaque values are never reported on their own - only a visible building
step with a non-constant part is.
"""
from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .facts import (
    CATALOG_NAME_METHODS, CATALOG_QUERY, INSPECTOR_CONSTRUCTORS, INSPECTOR_METHODS, NUMERIC_CALLS,
    NUMERIC_CONVERSIONS, FOREIGN_ESCAPES, NUMERIC_FORMAT_SPEC, PRINTF_CONVERSION, QUOTING_CONSTRUCTS, QUOTING_WORDS,
    REQUEST_WORDS, SCHEMA_SEGMENTS, SQL_METHODS, TRUSTED_ATTRIBUTE_SEGMENTS,
)

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

MAX_DEPTH = 12


@dataclass(frozen=True)
class Splice:
    """One value spliced into SQL text: the expression, the constant text right before it, and how it got in."""

    node: ast.AST
    before: str
    how: str  # "an f-string", "% formatting", ".format()", "+ concatenation", "join()"


@dataclass(frozen=True)
class Shape:
    text: str  # the constant text, with "?" where a value goes
    splices: tuple[Splice, ...] = ()
    built: bool = False  # some formatting step was seen
    helper: str = ""  # name of the same-module helper that built it, if any


def shape_of(expr: ast.AST | None, ctx: "ModuleContext", depth: int = 0) -> Shape | None:
    """The string shape of `expr`, or None when it is not a string we can see."""
    if expr is None or depth > MAX_DEPTH:
        return None
    if isinstance(expr, ast.Constant):
        return Shape(expr.value) if isinstance(expr.value, str) else None
    if isinstance(expr, ast.JoinedStr):
        return _fstring(expr, ctx, depth)
    if isinstance(expr, ast.BinOp):
        if isinstance(expr.op, ast.Mod):
            return _percent(expr, ctx, depth)
        if isinstance(expr.op, ast.Add):
            return _concat(expr, ctx, depth)
        if isinstance(expr.op, ast.Mult):
            return _repeat(expr, ctx, depth)
        return None
    if isinstance(expr, ast.IfExp):
        return _union([shape_of(expr.body, ctx, depth + 1), shape_of(expr.orelse, ctx, depth + 1)])
    if isinstance(expr, ast.Call):
        return _call(expr, ctx, depth)
    if isinstance(expr, ast.Name):
        return _name(expr, ctx, depth)
    return None


def _class_constant(expr: ast.Attribute, ctx: "ModuleContext") -> Shape | None:
    """`cls._columns` / `self._columns` where the class body sets `_columns = "id, name, ..."` and no method
    assigns it: text the developer wrote. Only asked about a value spliced into other text: a class template
    (`self.sql_delete_fk % {...}`) stays opaque, as schema editors fill it with names from the catalog."""
    found = _class_body_value(expr, ctx)
    if found is None or not (isinstance(found[0], ast.Constant) and isinstance(found[0].value, str)):
        return None
    if any(isinstance(store.ctx, ast.Store) for store in found[1]):
        return None  # set per instance somewhere: not a constant any more
    return Shape(found[0].value)


MUTATORS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "append", "extend", "insert", "add",
                      "remove", "discard"})


def _attribute_stores(klass: ast.ClassDef, ctx: "ModuleContext") -> dict[str, list[ast.Attribute]]:
    """Every attribute the class's code assigns (`x.name = ...`, any receiver) or changes in place
    (`x.name[key] = ...`, `x.name.update(...)`), by name: one pass over the file's nodes for all its classes."""
    def collect() -> dict[int, dict[str, list[ast.Attribute]]]:
        by_class: dict[int, dict[str, list[ast.Attribute]]] = {}
        for node in ctx.nodes:
            if isinstance(node, ast.Attribute):
                if isinstance(node.ctx, ast.Store):
                    changed = node
                elif node.attr in MUTATORS and isinstance(node.value, ast.Attribute):
                    changed = node.value
                else:
                    continue
            elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load) \
                    and isinstance(node.value, ast.Attribute):
                changed = node.value
            else:
                continue
            owner = ctx.enclosing(node, ast.ClassDef)
            if owner is not None:
                by_class.setdefault(id(owner), {}).setdefault(changed.attr, []).append(changed)
        return by_class
    return ctx.memo(("gap701-attribute-stores",), collect).get(id(klass), {})


def _class_body_value(expr: ast.Attribute, ctx: "ModuleContext") -> tuple[ast.AST, list[ast.Attribute]] | None:
    """`self.X` / `cls.X` where the class body sets `X` once: that value and the attribute's stores elsewhere."""
    if not (isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls")):
        return None
    klass = ctx.enclosing(expr, ast.ClassDef)
    if klass is None:
        return None
    values = [stmt.value for stmt in klass.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
              and any(isinstance(t, ast.Name) and t.id == expr.attr
                      for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))]
    if len(values) != 1 or values[0] is None:
        return None
    return values[0], _attribute_stores(klass, ctx).get(expr.attr, [])


def _class_table_lookup(expr: ast.Subscript, ctx: "ModuleContext") -> bool:
    """`self._standard_operators["contains"]`: an item of a table of literals the class body sets and no code
    assigns again."""
    if not isinstance(expr.value, ast.Attribute):
        return False
    found = _class_body_value(expr.value, ctx)
    if found is None or found[1]:
        return False
    table = found[0]
    if isinstance(table, ast.Dict):
        return all(v is not None and _is_constant_tree(v) for v in table.values)
    return isinstance(table, (ast.List, ast.Tuple)) and all(_is_constant_tree(e) for e in table.elts)


def _class_counter(expr: ast.Attribute, ctx: "ModuleContext") -> bool:
    """`self.cache_bust_counter` set to a number in the class body and only ever stepped by numbers (`+= 1`)."""
    found = _class_body_value(expr, ctx)
    if found is None:
        return False
    value, stores = found
    if not (isinstance(value, ast.Constant) and type(value.value) in (int, float)):
        return False
    for store in stores:
        statement = ctx.parent(store)
        if not (isinstance(statement, ast.AugAssign) and isinstance(statement.value, ast.Constant)
                and type(statement.value.value) in (int, float)):
            return False
    return True


# ---- pieces -----------------------------------------------------------------------------------------------------
def _piece(expr: ast.AST, before: str, how: str, ctx: "ModuleContext", depth: int) -> Shape:
    """A value going into the text: safe values become "0", strings keep their shape, the rest is a splice."""
    if is_safe_value(expr, ctx):
        return Shape("0")
    sub = shape_of(expr, ctx, depth + 1)
    if sub is not None:
        return Shape(sub.text, sub.splices, sub.built, sub.helper)
    return Shape("?", (Splice(expr, before, how),), True)


def _join(parts: list[Shape], built: bool = True) -> Shape:
    splices: list[Splice] = []
    for part in parts:
        splices.extend(part.splices)
    helper = next((p.helper for p in parts if p.helper), "")
    return Shape("".join(p.text for p in parts), tuple(splices), built or any(p.built for p in parts), helper)


def _union(shapes: list[Shape | None]) -> Shape | None:
    seen = [s for s in shapes if s is not None]
    if not seen:
        return None
    return _join(seen, built=any(s.built for s in seen))


def _fstring(expr: ast.JoinedStr, ctx: "ModuleContext", depth: int) -> Shape:
    parts: list[Shape] = []
    text = ""
    for value in expr.values:
        if isinstance(value, ast.Constant):
            part = Shape(str(value.value))
        elif isinstance(value, ast.FormattedValue):
            spec = value.format_spec
            spec_text = "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant)) if spec else ""
            if spec_text and NUMERIC_FORMAT_SPEC.match(spec_text) and value.conversion == -1:
                part = Shape("0")
            else:
                part = _piece(value.value, text, "an f-string", ctx, depth)
        else:
            continue
        parts.append(part)
        text += part.text
    return _join(parts)


def _percent(expr: ast.BinOp, ctx: "ModuleContext", depth: int) -> Shape | None:
    left = shape_of(expr.left, ctx, depth + 1)
    if left is None or "%" not in left.text:
        return None
    right = expr.right
    if isinstance(right, ast.Tuple):
        positional: list[ast.AST] = list(right.elts)
        named: dict[str, ast.AST] = {}
    elif isinstance(right, ast.Dict):
        positional = []
        named = {k.value: v for k, v in zip(right.keys, right.values)
                 if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    else:
        positional, named = [right], {}
    parts: list[Shape] = [Shape("", left.splices, left.built, left.helper)]
    cursor = 0
    index = 0
    text = ""
    single = not isinstance(right, (ast.Tuple, ast.Dict))
    for match in PRINTF_CONVERSION.finditer(left.text):
        literal = left.text[cursor:match.start()]
        parts.append(Shape(literal))
        text += literal
        cursor = match.end()
        conversion = match.group("conv")
        if conversion == "%":
            parts.append(Shape("%"))
            continue
        key = match.group("key")
        if key is not None:
            value = named.get(key)
            if value is None and single:
                value = right  # `"%(a)s" % mapping`: the mapping's values are unknown
        else:
            value = positional[index] if index < len(positional) else (right if single else None)
            index += 1
        if conversion in NUMERIC_CONVERSIONS:
            part = Shape("0")
        elif value is None:
            part = Shape("?")
        else:
            part = _piece(value, text, "% formatting", ctx, depth)
        parts.append(part)
        text += part.text
    parts.append(Shape(left.text[cursor:]))
    return _join(parts)


def _format(call: ast.Call, receiver: Shape, ctx: "ModuleContext", depth: int) -> Shape | None:
    try:
        fields = list(string.Formatter().parse(receiver.text))
    except ValueError:
        return None
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    splat = any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)
    parts: list[Shape] = [Shape("", receiver.splices, receiver.built, receiver.helper)]
    text = ""
    auto = 0
    for literal, field, spec, conversion in fields:
        parts.append(Shape(literal))
        text += literal
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        value: ast.AST | None
        if root == "":
            value = call.args[auto] if auto < len(call.args) else None
            auto += 1
        elif root.isdigit():
            index = int(root)
            value = call.args[index] if index < len(call.args) else None
        else:
            value = keywords.get(root)
        if spec and NUMERIC_FORMAT_SPEC.match(spec) and not conversion:
            part = Shape("0")
        elif value is None:
            part = Shape("?", (Splice(call, text, ".format()"),), True) if splat else Shape("?")
        else:
            part = _piece(value, text, ".format()", ctx, depth)
        parts.append(part)
        text += part.text
    return _join(parts)


def _concat(expr: ast.BinOp, ctx: "ModuleContext", depth: int) -> Shape | None:
    left = shape_of(expr.left, ctx, depth + 1)
    right = shape_of(expr.right, ctx, depth + 1)
    if left is None and right is None:
        return None  # two unknowns: maybe numbers, maybe lists; no evidence of a string
    if left is None:
        left = _piece(expr.left, "", "+ concatenation", ctx, depth)
    if right is None:
        right = _piece(expr.right, left.text, "+ concatenation", ctx, depth)
    return _join([left, right], built=bool(left.splices or right.splices) or left.built or right.built)


def _repeat(expr: ast.BinOp, ctx: "ModuleContext", depth: int) -> Shape | None:
    """`"?, " * n` and `["%s"] * n`: repeating constant text is placeholder building, never a splice."""
    for side in (expr.left, expr.right):
        if isinstance(side, (ast.List, ast.Tuple)) and side.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in side.elts):
            return Shape("".join(e.value for e in side.elts))  # type: ignore[attr-defined]
        sub = shape_of(side, ctx, depth + 1)
        if sub is not None and not sub.splices:
            return Shape(sub.text)
    return None


def _call(call: ast.Call, ctx: "ModuleContext", depth: int) -> Shape | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        receiver = shape_of(func.value, ctx, depth + 1)
        if receiver is not None:
            if func.attr == "format":
                return _format(call, receiver, ctx, depth)
            if func.attr == "join" and call.args:
                return _join_call(call, receiver, ctx, depth)
            if func.attr in ("strip", "lstrip", "rstrip", "upper", "lower", "replace", "rjust", "ljust"):
                return receiver
            return None
    if _is_quoting(func, ctx) or is_safe_value(call, ctx):
        return Shape("0")  # a quoted identifier or a number: text that cannot change the statement
    helper = _helper_function(call, ctx)
    if helper is not None:
        shape = ctx.memo(("gap7-return-shape", id(helper)), lambda: _return_shape(helper, ctx, depth))
        if shape is not None and shape.splices:
            shape = _bind_arguments(shape, helper, call, ctx)
        if shape is not None and shape.splices:
            return Shape(shape.text, shape.splices, True, helper.name)
        return shape
    if ctx.qualified_name(func) == "builtins.str" and len(call.args) == 1:
        return shape_of(call.args[0], ctx, depth + 1)
    return None


def _join_call(call: ast.Call, separator: Shape, ctx: "ModuleContext", depth: int) -> Shape:
    items = call.args[0]
    how = "join()"
    if isinstance(items, ast.Name):
        grown = _appended_list(items, call, ctx)
        if grown is not None:
            parts = [_piece(e, separator.text, how, ctx, depth) for e in grown]
            return _join([Shape(separator.text)] + parts, built=any(p.splices for p in parts))
        followed = _local_value(items, ctx)
        if isinstance(followed, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp, ast.BinOp)):
            items = followed
    if isinstance(items, (ast.List, ast.Tuple, ast.Set)):
        parts = [_piece(e, separator.text, how, ctx, depth) for e in items.elts]
        return _join([Shape(separator.text)] + parts, built=any(p.splices for p in parts))
    if isinstance(items, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
        part = _comprehension_element(items, separator.text, ctx, depth)
        return _join([Shape(separator.text), part], built=bool(part.splices))
    if isinstance(items, ast.BinOp) and isinstance(items.op, ast.Add) and all(
            isinstance(side, (ast.List, ast.Tuple, ast.ListComp)) for side in (items.left, items.right)):
        # `sep.join([...for r in old] + [...for t in new])`: each list's elements are pieces of the text
        left = _join_call(_with_items(call, items.left), separator, ctx, depth)
        right = _join_call(_with_items(call, items.right), separator, ctx, depth)
        return _join([left, right], built=bool(left.splices or right.splices))
    repeated = shape_of(items, ctx, depth + 1) if isinstance(items, ast.BinOp) else None
    if repeated is not None:
        return repeated
    if isinstance(items, ast.Constant) and isinstance(items.value, str):
        return Shape(items.value)
    return _join([Shape(separator.text), _piece(items, separator.text, how, ctx, depth)])


LIST_GROWERS = frozenset({"append", "extend", "insert"})


def _appended_list(name: ast.Name, join: ast.Call, ctx: "ModuleContext") -> list[ast.AST] | None:
    """`clauses = []` ... `clauses.append("status = ?")` ... `" AND ".join(clauses)`: every element the local list
    is built from (its literal starting values, `append`/`insert`/`extend([...])`/`+= [...]`), when the list never
    leaves the function (no other use than growing it, testing it, `len()` and joining it). None otherwise."""
    function = ctx.enclosing_function(name)
    if function is None:
        return None
    statements = ctx.bindings(function).get(name.id) or []
    elements: list[ast.AST] = []
    for stmt in statements:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) else None
        if isinstance(stmt, ast.Assign) and not (len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            return None
        if isinstance(stmt, ast.AugAssign) and not isinstance(stmt.op, ast.Add):
            return None
        if not isinstance(value, (ast.List, ast.Tuple)):
            return None
        elements.extend(value.elts)
    if not statements:
        return None
    grew = False
    for node in ast.walk(function):
        if not (isinstance(node, ast.Name) and node.id == name.id) or node is name:
            continue
        parent = ctx.parent(node)
        if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node in (
                getattr(parent, "targets", None) or [getattr(parent, "target", None)]):
            continue  # one of the bindings read above
        if isinstance(parent, ast.Attribute) and parent.attr in LIST_GROWERS:
            grower = ctx.parent(parent)
            if not (isinstance(grower, ast.Call) and grower.func is parent and grower.args):
                return None
            added = grower.args[-1]
            if parent.attr == "extend":
                if not isinstance(added, (ast.List, ast.Tuple)):
                    return None
                elements.extend(added.elts)
            else:
                elements.append(added)
            grew = True
            continue
        if isinstance(parent, ast.Call) and node in parent.args and (
                ctx.qualified_name(parent.func) == "builtins.len"
                or isinstance(parent.func, ast.Attribute) and parent.func.attr == "join"):
            continue
        if isinstance(parent, (ast.If, ast.While, ast.IfExp)) and node is parent.test \
                or isinstance(parent, (ast.BoolOp, ast.UnaryOp)):
            continue
        return None  # passed on, stored or indexed: other code may add to it
    return elements if grew or elements else None


def _with_items(call: ast.Call, items: ast.AST) -> ast.Call:
    return ast.Call(func=call.func, args=[items], keywords=[])


def _comprehension_element(comp: ast.AST, before: str, ctx: "ModuleContext", depth: int) -> Shape:
    """The element of `sep.join(<elt> for x in xs)`: loop variables over `range()`/`enumerate` indexes are numbers."""
    safe_targets: set[str] = set()
    for generator in comp.generators:  # type: ignore[attr-defined]
        iterable = generator.iter
        if isinstance(iterable, ast.Call) and ctx.qualified_name(iterable.func) == "builtins.range":
            safe_targets.update(_names(generator.target))
        elif isinstance(iterable, ast.Call) and ctx.qualified_name(iterable.func) == "builtins.enumerate" \
                and isinstance(generator.target, ast.Tuple) and generator.target.elts:
            safe_targets.update(_names(generator.target.elts[0]))
    element = comp.elt  # type: ignore[attr-defined]
    if isinstance(element, ast.Name) and element.id in safe_targets:
        return Shape("0")
    if isinstance(element, ast.JoinedStr):
        parts: list[Shape] = []
        text = before
        for value in element.values:
            if isinstance(value, ast.Constant):
                part = Shape(str(value.value))
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name) \
                    and value.value.id in safe_targets:
                part = Shape("0")
            elif isinstance(value, ast.FormattedValue):
                part = _piece(value.value, text, "join()", ctx, depth)
            else:
                continue
            parts.append(part)
            text += part.text
        return _join(parts)
    return _piece(element, before, "join()", ctx, depth)


def _names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in _names(e)]
    return []


# ---- names and helpers ------------------------------------------------------------------------------------------
def _function_scopes(at: ast.AST, ctx: "ModuleContext") -> list[ast.AST]:
    scopes = []
    for ancestor in ctx.ancestors(at):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scopes.append(ancestor)
    return scopes


def _bindings_before(name: ast.Name, ctx: "ModuleContext") -> list[ast.AST] | None:
    """Statements binding `name` in the innermost function that binds it, before the use (None: not local)."""
    for scope in _function_scopes(name, ctx):
        statements = ctx.bindings(scope).get(name.id)
        if statements:
            before = [s for s in statements if getattr(s, "lineno", 0) < name.lineno]
            return before
        if any(a.arg == name.id for a in _arguments(scope)):
            return []  # a parameter: opaque
    return None


def _arguments(function: ast.AST) -> list[ast.arg]:
    args = function.args  # type: ignore[attr-defined]
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every.extend(a for a in (args.vararg, args.kwarg) if a is not None)
    return every


def _local_value(name: ast.Name, ctx: "ModuleContext") -> ast.AST | None:
    statements = _bindings_before(name, ctx)
    if statements and isinstance(statements[-1], ast.Assign) and len(statements) == 1:
        return statements[-1].value
    return None


def _name(name: ast.Name, ctx: "ModuleContext", depth: int) -> Shape | None:
    statements = _bindings_before(name, ctx)
    if statements is None:
        return _module_constant(name, ctx)
    shapes: list[Shape | None] = []
    for stmt in statements:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            if isinstance(stmt, ast.Assign) and any(not isinstance(t, ast.Name) for t in stmt.targets):
                shapes.append(None)  # tuple unpacking: which element is unknown
                continue
            shapes.append(shape_of(stmt.value, ctx, depth + 1))
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
            shapes.append(_piece(stmt.value, "", "+= concatenation", ctx, depth))
        else:
            shapes.append(None)
    return _union(shapes)


def _module_constant(name: ast.Name, ctx: "ModuleContext") -> Shape | None:
    resolved = ctx.resolve_name(name.id, name)
    if resolved is not None:
        # an imported UPPER_CASE name is a constant by convention: safe text we cannot read
        return Shape("") if name.id.isupper() and not resolved.startswith("builtins.") else None
    statements = ctx.bindings(ctx.tree).get(name.id)
    # one literal, or a literal per branch (`if SQLITE: BIND = "?" else: BIND = "%s"`)
    if statements and all(isinstance(st, (ast.Assign, ast.AnnAssign)) and isinstance(st.value, ast.Constant)
                          and isinstance(st.value.value, str) for st in statements):
        return _union([Shape(st.value.value) for st in statements])  # type: ignore[union-attr]
    return None


def _helper_function(call: ast.Call, ctx: "ModuleContext") -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """A function of this module (`build_query(...)`) or a method of the enclosing class (`self._where(...)`)."""
    func = call.func
    body: list[ast.stmt] = []
    wanted = ""
    if isinstance(func, ast.Name) and func.id in ctx.module_names and ctx.resolve_name(func.id, call) is None:
        body, wanted = ctx.tree.body, func.id
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        klass = ctx.enclosing(call, ast.ClassDef)
        if klass is not None:
            body, wanted = klass.body, func.attr  # type: ignore[attr-defined]
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == wanted:
            return stmt
    if isinstance(func, ast.Name):
        return _nested_function(func, ctx)
    return None


def _nested_function(func: ast.Name, ctx: "ModuleContext") -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """`def author(path): ...` defined inside the function that calls it (the nearest definition before the call,
    when branches define it once each)."""
    for scope in _function_scopes(func, ctx):
        statements = ctx.bindings(scope).get(func.id)
        if statements:
            if not all(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) for s in statements):
                return None
            before = [s for s in statements if s.lineno < func.lineno]
            return before[-1] if before else None  # type: ignore[return-value]
    return None


def _parameter_of(node: ast.AST, function: ast.AST, ctx: "ModuleContext") -> int | None:
    """The index (in positional order, keyword-only after) of the parameter of `function` that `node` reads,
    when `node` is a bare name the function never rebinds."""
    if not isinstance(node, ast.Name) or ctx.enclosing_function(node) is not function:
        return None
    if ctx.bindings(function).get(node.id):
        return None
    args = function.args  # type: ignore[attr-defined]
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return names.index(node.id) if node.id in names else None


def _argument_for(function: ast.AST, index: int, call: ast.Call) -> ast.AST | None:
    """The expression `call` passes for parameter `index` of `function` (its default when left out)."""
    args = function.args  # type: ignore[attr-defined]
    positional = [*args.posonlyargs, *args.args]
    every = positional + list(args.kwonlyargs)
    name = every[index].arg
    offset = 1 if isinstance(call.func, ast.Attribute) and positional and positional[0].arg in ("self", "cls") else 0
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if index < len(positional) and 0 <= index - offset < len(call.args):
        return call.args[index - offset]
    if index < len(positional):
        defaults = args.defaults
        first_default = len(positional) - len(defaults)
        return defaults[index - first_default] if index >= first_default else None
    default = args.kw_defaults[index - len(positional)]
    return default


def _bind_arguments(shape: Shape, builder: ast.AST, call: ast.Call, ctx: "ModuleContext") -> Shape:
    """`content_match_sql("phrase")`: a builder's parameter spliced into its text is what this call passes, so a
    constant or safe argument drops the splice and another value takes its place in the message."""
    splices: list[Splice] = []
    for splice in shape.splices:
        index = _parameter_of(splice.node, builder, ctx)
        argument = _argument_for(builder, index, call) if index is not None else None
        if argument is None:
            splices.append(splice)
        elif _safe_argument(argument, ctx):
            continue
        else:
            splices.append(Splice(argument, splice.before, splice.how))
    return Shape(shape.text, tuple(splices), shape.built, shape.helper)


def _safe_argument(argument: ast.AST, ctx: "ModuleContext") -> bool:
    if isinstance(argument, ast.Constant):
        return True
    if is_safe_value(argument, ctx):
        return True
    sub = shape_of(argument, ctx, MAX_DEPTH - 2)
    return sub is not None and not sub.splices


def _return_shape(function: ast.AST, ctx: "ModuleContext", depth: int) -> Shape | None:
    returns: list[ast.AST] = []
    stack: list[ast.AST] = list(function.body)  # type: ignore[attr-defined]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Return) and node.value is not None:
            returns.append(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return _union([shape_of(r, ctx, depth + 2) for r in returns])


# ---- safe values ------------------------------------------------------------------------------------------------
def is_safe_value(expr: ast.AST, ctx: "ModuleContext") -> bool:
    """Numbers, number conversions and identifier quoting: values that cannot change the SQL's structure."""
    if isinstance(expr, ast.Constant):
        return not isinstance(expr.value, (str, bytes))
    if isinstance(expr, ast.Call):
        if ctx.qualified_name(expr.func) in NUMERIC_CALLS:
            return True
        if ctx.qualified_name(expr.func) == "builtins.next" and len(expr.args) == 1 \
                and isinstance(expr.args[0], ast.Name):
            counter = _local_value(expr.args[0], ctx)
            if isinstance(counter, ast.Call) and ctx.qualified_name(counter.func) == "itertools.count":
                return True  # `next(idx)` with `idx = itertools.count()`: a number
        if ctx.qualified_name(expr.func) == "builtins.str" and expr.args and is_safe_value(expr.args[0], ctx):
            return True
        if isinstance(expr.func, ast.Attribute) and expr.func.attr == "get" \
                and all(_is_constant_tree(a) for a in expr.args[1:]) and _iterates_constants(expr.func.value, ctx):
            return True  # `ALLOWED.get(key, "default")`
        if isinstance(expr.func, ast.Attribute) and _through_schema_segment(expr.func):
            return True  # `Model._meta.get_field("quantity")`: a field of the schema (its str() is its name)
        return _is_quoting(expr.func, ctx) or _doubles_quotes(expr)
    if isinstance(expr, ast.Attribute):
        if _class_constant(expr, ctx) is not None or _class_counter(expr, ctx):
            return True  # `cls._columns`, set once in the class body; `self.counter` that only counts
        if expr.attr in ("key", "name") and isinstance(expr.value, ast.Name) and _mapped_attribute(expr.value, ctx):
            return True  # `column.key` beside `column.class_.__tablename__`: a mapped column's own name
        if expr.attr in ("id", "pk") and _row_key(expr, ctx):
            return True  # `user.id`, `request.user.id`, `type.id`: a row's integer primary key
        if _setting_constant(expr):
            return True  # `self.cfg.HOLD_TIME`, `settings.MAX_ROWS`: configuration the operator wrote
        if expr.attr == "value" and isinstance(expr.value, ast.Call) \
                and isinstance(expr.value.func, ast.Name) and _is_class_name(expr.value.func.id):
            return True  # `SortOrder(order_by).value`: the enum rejects anything but one of its members
        return _is_trusted_attribute(expr) or _through_trusted_alias(expr, ctx) or _from_schema(expr, ctx)
    if isinstance(expr, ast.BoolOp):
        return all(is_safe_value(v, ctx) for v in expr.values)  # `field.db_column or field.column`
    if isinstance(expr, ast.Subscript):
        # `ALLOWED[key]`: a lookup in an allow-list of literals; `fk["name"]` of a catalog row
        return _iterates_constants(expr.value, ctx) or _from_schema(expr, ctx) or _class_table_lookup(expr, ctx)
    if isinstance(expr, ast.Name):
        if _checked_against_constants(expr, ctx):
            return True  # `if sort in ("name", "created"):` / `if sort not in ALLOWED: abort(400)`
        if _safe_comprehension_target(expr, ctx):
            return True  # `[f":tag_{i}" for i, tag in enumerate(tags)]`, `[":" + p for p in placeholders]`
        if _from_schema(expr, ctx):
            return True  # `for table in Base.metadata.sorted_tables`, `for name in inspector.get_table_names()`
        statements = _bindings_before(expr, ctx)
        if statements and all(isinstance(s, ast.Assign) and _compiled_sql(s.value) for s in statements):
            return True  # `sql, params = qs.query.sql_with_params()`: the ORM's SQL, values left as placeholders
        if statements and all(isinstance(s, ast.Assign) and _built_with_params(s, expr.id) for s in statements):
            return True  # `where, params = self._build_filter(f)`: a builder that returns its own parameters
        if statements and all(isinstance(s, ast.For) and _enumerate_index(s, expr.id, ctx) for s in statements):
            return True  # `for i, key in enumerate(keys)`: `i` is a number
        if statements and all(isinstance(s, ast.Assign) for s in statements):
            return all(is_safe_value(s.value, ctx) for s in statements)  # type: ignore[attr-defined]
        if statements and all(isinstance(s, ast.For) and _iterates_constants(s.iter, ctx) for s in statements):
            return True  # `for i in range(n)`, `for table in ("a", "b")`: numbers or literal text
        if statements and all(isinstance(s, ast.For) and _constant_key_target(s.iter, s.target, expr.id, ctx)
                              for s in statements):
            return True  # `for key, value in filters.items()` over a dict of literal keys
        if statements == [] and _numeric_parameter(expr, ctx):
            return True  # `def with_lock_timeout(session, lock_timeout: int = 30)`
        if statements == [] and _callers_pass_safe(expr, ctx):
            return True  # `_count_rows(conn, "users")`: a private function only ever given constants
    return False


# Where a client's data sits: `payload.id`, `body.id`, `request.json.id` may be any text the client sent.
CLIENT_DATA = re.compile(r"(?i)(^|[._])(json|body|payload|data|form|args|params|query|values|input|event|message"
                         r"|item|row|record)s?($|[._])")


def _row_key(expr: ast.Attribute, ctx: "ModuleContext") -> bool:
    """`obj.id` / `obj.pk` of a model row (an ORM object, `request.user`): an integer key, never text. Not when the
    object is a client's data (`payload.id`) or a dict-like row read from elsewhere."""
    spelled = ctx.dotted_name(expr.value)
    return spelled is not None and not CLIENT_DATA.search(spelled)


def _mapped_attribute(name: ast.Name, ctx: "ModuleContext") -> bool:
    """The function also reads `name.class_.__tablename__`: `name` is an ORM's mapped attribute (SQLAlchemy
    `InstrumentedAttribute`), so its `key`/`name` is a column of the schema the code declared."""
    function = ctx.enclosing_function(name)
    if function is None:
        return False
    return any(isinstance(n, ast.Attribute) and n.attr in ("__tablename__", "__table__")
               and isinstance(n.value, ast.Attribute) and n.value.attr == "class_"
               and isinstance(n.value.value, ast.Name) and n.value.value.id == name.id
               for n in ctx.own_nodes(function))


def _safe_comprehension_target(name: ast.Name, ctx: "ModuleContext") -> bool:
    """A comprehension variable over `range()`, an `enumerate()` index, constants, schema metadata, or a list of
    placeholder names built from constants and numbers (`[f"val_{n}" for n in range(k)]`)."""
    for ancestor in ctx.ancestors(name):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if not isinstance(ancestor, (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)):
            continue
        for generator in ancestor.generators:
            target, iterable = generator.target, generator.iter
            if name.id not in _names(target):
                continue
            if isinstance(iterable, ast.Call) and ctx.qualified_name(iterable.func) == "builtins.enumerate" \
                    and isinstance(target, ast.Tuple) and target.elts:
                if _names(target.elts[0]) == [name.id]:
                    return True
                iterable = iterable.args[0] if iterable.args else iterable
            if _iterates_constants(iterable, ctx) or _from_schema(iterable, ctx):
                return True
            if _constant_key_target(iterable, target, name.id, ctx):
                return True
            if isinstance(iterable, ast.Name):
                value = _local_value(iterable, ctx)
                if isinstance(value, (ast.ListComp, ast.GeneratorExp)) and value is not ancestor:
                    element = _comprehension_element(value, "", ctx, 1)
                    return not element.splices
            return False
    return False


def _constant_key_target(iterable: ast.AST, target: ast.AST, name: str, ctx: "ModuleContext") -> bool:
    """`for k, _ in keyvalues.items()` / `for k in keyvalues` where `keyvalues` is a local dict whose keys are all
    literal (`{"user_id": uid}`, later `keyvalues["device_id"] = ...`): `k` is one of those literals."""
    if isinstance(iterable, ast.Name):
        followed = _local_value(iterable, ctx)
        if isinstance(followed, ast.Call):
            iterable = followed
    method = None
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and not iterable.args \
            and iterable.func.attr in ("items", "keys"):
        method, iterable = iterable.func.attr, iterable.func.value
    if method == "items":
        if not (isinstance(target, ast.Tuple) and target.elts and _names(target.elts[0]) == [name]):
            return False
    elif _names(target) != [name]:
        return False
    return isinstance(iterable, ast.Name) and _literal_keyed_dict(iterable, ctx)


def _literal_keyed_dict(name: ast.Name, ctx: "ModuleContext") -> bool:
    function = ctx.enclosing_function(name)
    statements = _bindings_before(name, ctx)
    if function is None or not statements or not all(
            isinstance(s, (ast.Assign, ast.AnnAssign)) and isinstance(s.value, ast.Dict)
            and all(k is not None and isinstance(k, ast.Constant) for k in s.value.keys) for s in statements):
        return False
    for node in ast.walk(function):
        if not (isinstance(node, ast.Name) and node.id == name.id) or isinstance(node.ctx, ast.Store):
            continue
        parent = ctx.parent(node)
        if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store):
            if not isinstance(parent.slice, ast.Constant):
                return False
        elif isinstance(parent, ast.Subscript) or isinstance(parent, ast.Attribute) and parent.attr in (
                "items", "keys", "values", "get"):
            continue
        elif isinstance(parent, (ast.comprehension, ast.For)) and node is parent.iter:
            continue
        else:
            return False  # passed on or updated in bulk: its keys are no longer known
    return True


def _from_schema(expr: ast.AST, ctx: "ModuleContext", depth: int = 0) -> bool:
    """Tables, columns and names that come from the schema, not from a request: SQLAlchemy metadata
    (`Base.metadata.sorted_tables`, a table's `primary_key`), an `Inspector`'s catalog reads, and loop variables,
    attributes and items of those."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(expr, ast.Await):
        return _from_schema(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.Attribute):
        node: ast.AST = expr
        while isinstance(node, ast.Attribute):
            if node.attr in SCHEMA_SEGMENTS:
                return True
            node = node.value
        return _from_schema(node, ctx, depth + 1) \
            if isinstance(node, (ast.Name, ast.Subscript, ast.Call, ast.Await)) else False
    if isinstance(expr, ast.Subscript):
        return _from_schema(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name) and func.id in ("reversed", "sorted", "list", "tuple", "set", "iter") \
                and expr.args:
            return _from_schema(expr.args[0], ctx, depth + 1)
        if isinstance(func, ast.Attribute):
            if func.attr in ("values", "keys", "items", "copy", "fetchall", "fetchmany") and not expr.args:
                return _from_schema(func.value, ctx, depth + 1)
            if func.attr in CATALOG_NAME_METHODS:
                return True
            if func.attr in SQL_METHODS and expr.args and isinstance(expr.args[0], ast.Constant) \
                    and isinstance(expr.args[0].value, str) and CATALOG_QUERY.search(expr.args[0].value):
                return True  # `conn.execute("select name from sqlite_master where type = 'table'")`
            if func.attr in INSPECTOR_METHODS:
                return _is_inspector(func.value, ctx)
            if func.attr.startswith("get_") and isinstance(func.value, ast.Attribute) \
                    and func.value.attr in ("introspection", "inspector"):
                return True  # Django `connection.introspection.get_relations(cursor, table)`: the catalog's rows
        return False
    if isinstance(expr, ast.Name):
        statements = _bindings_before(expr, ctx)
        if not statements:
            return False
        for stmt in statements:
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                iterable = stmt.iter
                if isinstance(iterable, ast.Call) and ctx.qualified_name(iterable.func) == "builtins.enumerate" \
                        and iterable.args:
                    iterable = iterable.args[0]
                if not _from_schema(iterable, ctx, depth + 1):
                    return False
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                if not _from_schema(stmt.value, ctx, depth + 1):
                    return False
            else:
                return False
        return True
    return False


def _is_inspector(expr: ast.AST, ctx: "ModuleContext") -> bool:
    value = _local_value(expr, ctx) if isinstance(expr, ast.Name) else expr
    return isinstance(value, ast.Call) and ctx.qualified_name(value.func) in INSPECTOR_CONSTRUCTORS


def _callers_pass_safe(name: ast.Name, ctx: "ModuleContext") -> bool:
    """A parameter of a private or nested function that every call in this module fills with a constant or a safe
    value: nothing from outside the module can reach it (`_count_rows(conn, "users")`)."""
    function = next((s for s in _function_scopes(name, ctx) if any(a.arg == name.id for a in _arguments(s))), None)
    if function is None or isinstance(function, ast.Lambda):
        return False
    nested = not isinstance(ctx.parent(function), (ast.Module, ast.ClassDef))
    if not (nested or function.name.startswith("_")) or function.name.startswith("__"):
        return False
    verdicts: dict[tuple[int, str], bool] = ctx.memo(("gap7-callers-safe",), dict)
    key = (id(function), name.id)
    if key in verdicts:
        return verdicts[key]
    verdicts[key] = False  # a recursive function that asks about itself is not proven safe
    names = [a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)]
    index = names.index(name.id) if name.id in names else None
    calls = [n for n in ctx.nodes if isinstance(n, ast.Call) and _calls_function(n, function, ctx)]
    safe = index is not None and bool(calls) and not _referenced_uncalled(function, calls, ctx) and all(
        (argument := _argument_for(function, index, call)) is not None and _safe_argument(argument, ctx)
        for call in calls)
    verdicts[key] = safe
    return safe


def _calls_function(call: ast.Call, function: ast.AST, ctx: "ModuleContext") -> bool:
    func = call.func
    if isinstance(func, ast.Name) and func.id == function.name:  # type: ignore[attr-defined]
        if isinstance(ctx.parent(function), ast.Module):
            return ctx.resolve_name(func.id, call) is None
        return _nested_function(func, ctx) is function
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") \
            and func.attr == function.name:  # type: ignore[attr-defined]
        return ctx.enclosing(call, ast.ClassDef) is ctx.parent(function)
    return False


def _referenced_uncalled(function: ast.AST, calls: list[ast.Call], ctx: "ModuleContext") -> bool:
    called = {id(c.func) for c in calls}
    wanted = function.name  # type: ignore[attr-defined]
    for node in ctx.nodes:
        if isinstance(node, ast.Name) and node.id == wanted and id(node) not in called:
            return True
        if isinstance(node, ast.Attribute) and node.attr == wanted and id(node) not in called:
            return True
    return False


def _tests_constants(test: ast.AST, name: str, negated: bool, ctx: "ModuleContext") -> bool:
    """`name in ("a", "b")` / `name == "a"` (or, `negated`, `name not in ALLOWED`), alone or in the chain that
    makes the branch depend on it (`and` for a branch taken, `or` for a branch that leaves)."""
    joiner = ast.Or if negated else ast.And
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, joiner) else [test]
    for part in parts:
        if negated and isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.Not) \
                and _tests_constants(part.operand, name, False, ctx):
            return True  # `if not order in ["asc", "desc"]:`
        if not (isinstance(part, ast.Compare) and len(part.ops) == 1 and isinstance(part.left, ast.Name)
                and part.left.id == name):
            continue
        op, right = part.ops[0], part.comparators[0]
        if isinstance(op, ast.NotIn if negated else ast.In) and (_iterates_constants(right, ctx)
                                                               or _own_registry(right, ctx)):
            return True
        if not negated and isinstance(op, ast.Eq) and isinstance(right, ast.Constant) and isinstance(right.value, str):
            return True
    return False


def _own_registry(expr: ast.AST, ctx: "ModuleContext") -> bool:
    """`self.table_names`, `cls.ALLOWED`, a module-level `TABLES` or `registry`: a collection the code keeps of its
    own (the tables it created, the columns it knows), not one spelled from a request; a name found in it is one of
    them (`if table not in self.table_names: return default`)."""
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls"):
        return not REQUEST_WORDS.search(ast.unparse(expr))
    if isinstance(expr, ast.Name):
        function = ctx.enclosing_function(expr)
        local = function is not None and (ctx.bindings(function).get(expr.id)
                                          or any(a.arg == expr.id for a in _arguments(function)))
        return not local and expr.id in ctx.module_names
    return False


def _checked_against_constants(expr: ast.Name, ctx: "ModuleContext") -> bool:
    """The value was tested against literal text before it reached the SQL: the use sits in the body of an
    `if name in (...)` / `if name == "..."` branch, or an earlier `if name not in (...):` leaves the function
    (return, raise, abort)."""
    child: ast.AST = expr
    function = ctx.enclosing_function(expr)
    for ancestor in ctx.ancestors(expr):
        if ancestor is function:
            break
        if isinstance(ancestor, (ast.If, ast.IfExp)) and child is not ancestor.test:
            in_body = child in ancestor.body if isinstance(ancestor, ast.If) else child is ancestor.body
            if in_body and _tests_constants(ancestor.test, expr.id, False, ctx):
                return True
        child = ancestor
    while function is not None:
        for node in ctx.own_nodes(function):
            if isinstance(node, ast.If) and (node.end_lineno or node.lineno) < expr.lineno and node.body \
                    and (isinstance(node.body[-1], (ast.Return, ast.Raise, ast.Continue)) or _aborts(node.body[-1])
                         or _rebinds_to_constant(node.body[-1], expr.id)) \
                    and _tests_constants(node.test, expr.id, True, ctx):
                return True
            if isinstance(node, ast.Assert) and node.lineno < expr.lineno \
                    and _tests_constants(node.test, expr.id, False, ctx):
                return True  # `assert bound in (">", "<")`
        if ctx.bindings(function).get(expr.id) or any(a.arg == expr.id for a in _arguments(function)):
            return False
        # a closure's free variable: the enclosing function's guard before the closure holds for it too
        function = ctx.enclosing_function(function)
    return False


def _rebinds_to_constant(stmt: ast.stmt, name: str) -> bool:
    """`if order not in ("asc", "desc"): order = "asc"`: anything else is replaced by a literal."""
    return isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
        and stmt.targets[0].id == name and isinstance(stmt.value, ast.Constant)


def _aborts(stmt: ast.stmt) -> bool:
    """`abort(400)` / `flask.abort(...)`: leaves the view like a raise."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
        (getattr(stmt.value.func, "attr", None) or getattr(stmt.value.func, "id", None)) == "abort"


COMPILERS = frozenset({"sql_with_params", "as_sql", "compile"})
# Names of the second half of a `(sql, params)` pair a query builder returns.
PARAMS_NAMES = re.compile(r"(?i)param|args|binds|values")


def _built_with_params(stmt: ast.Assign, name: str) -> bool:
    """`fsql, fparams = self._build_filter_sql(expr)`: the first of a pair whose second half is named for
    parameters - the builder kept the values out of the text and returns them to be bound."""
    target = stmt.targets[0] if len(stmt.targets) == 1 else None
    if not (isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(stmt.value, ast.Call)):
        return False
    first, second = target.elts
    return isinstance(first, ast.Name) and first.id == name and isinstance(second, ast.Name) \
        and bool(PARAMS_NAMES.search(second.id))


def _enumerate_index(loop: ast.For, name: str, ctx: "ModuleContext") -> bool:
    """`for i, value in enumerate(values)`: the index is an int, whatever the values are."""
    iterable, target = loop.iter, loop.target
    return isinstance(iterable, ast.Call) and ctx.qualified_name(iterable.func) == "builtins.enumerate" \
        and isinstance(target, ast.Tuple) and bool(target.elts) and isinstance(target.elts[0], ast.Name) \
        and target.elts[0].id == name


def _compiled_sql(value: ast.AST) -> bool:
    """SQL text an ORM compiled (Django `query.sql_with_params()`, `compiler.as_sql()`, SQLAlchemy
    `stmt.compile()`): its values are placeholders with their own parameters, so splicing it adds no input."""
    if isinstance(value, ast.Subscript):
        value = value.value
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in COMPILERS):
        return False
    return "literal_binds" not in ast.unparse(value)  # literal_binds inlines the values into the text


def _doubles_quotes(call: ast.Call) -> bool:
    """`value.replace("'", "''")` / `.replace('"', '""')`: the SQL way of escaping a quoted literal or name."""
    return (isinstance(call.func, ast.Attribute) and call.func.attr == "replace" and len(call.args) == 2
            and all(isinstance(a, ast.Constant) for a in call.args)
            and call.args[0].value in ("'", '"', "`")  # type: ignore[attr-defined]
            and call.args[1].value == call.args[0].value * 2)  # type: ignore[attr-defined]


def _iterates_constants(iterable: ast.AST, ctx: "ModuleContext", depth: int = 0) -> bool:
    """A loop over `range()`, a literal of constants, or a (module or local) constant list/tuple/dict."""
    if _is_range_call(iterable, ctx):
        return True
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) \
            and iterable.func.attr in ("items", "values", "keys") and not iterable.args:
        iterable = iterable.func.value
    if isinstance(iterable, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_constant_tree(e) for e in iterable.elts)
    if isinstance(iterable, ast.Dict):
        return all(k is not None and _is_constant_tree(k) for k in iterable.keys) and all(
            _is_constant_tree(v) for v in iterable.values)
    if isinstance(iterable, ast.Name) and depth < 2:
        statements = _bindings_before(iterable, ctx)
        if statements is None:
            statements = ctx.bindings(ctx.tree).get(iterable.id) or []
        if len(statements) == 1 and isinstance(statements[0], (ast.Assign, ast.AnnAssign)):
            return _iterates_constants(statements[0].value, ctx, depth + 1)  # type: ignore[arg-type]
        if statements and all(isinstance(s, ast.For) for s in statements):
            # `for table, columns in COLUMNS.items(): for column in columns:` - parts of a constant table
            return all(_iterates_constants(s.iter, ctx, depth + 1) for s in statements)  # type: ignore[attr-defined]
    return False


def _is_constant_tree(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_constant_tree(e) for e in node.elts)
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value  # `Sort.NAME.value`
    # `ProfileFields.DISPLAYNAME`: an upper-case member of a class or constant namespace, a constant by convention
    return isinstance(node, ast.Attribute) and len(node.attr) > 1 and node.attr.isupper() \
        and isinstance(node.value, ast.Name) and (_is_class_name(node.value.id) or node.value.id.isupper())


def _is_range_call(expr: ast.AST, ctx: "ModuleContext") -> bool:
    return isinstance(expr, ast.Call) and ctx.qualified_name(expr.func) == "builtins.range"


NUMERIC_ANNOTATIONS = frozenset({"int", "float", "bool"})


def _numeric_parameter(name: ast.Name, ctx: "ModuleContext") -> bool:
    """A parameter annotated `int`/`float`/`bool` that the function never rebinds: a number by contract."""
    for scope in _function_scopes(name, ctx):
        for arg in _arguments(scope):
            if arg.arg == name.id:
                return isinstance(arg.annotation, ast.Name) and arg.annotation.id in NUMERIC_ANNOTATIONS
    return False


def _through_trusted_alias(expr: ast.Attribute, ctx: "ModuleContext") -> bool:
    """`meta = model._meta` ... `meta.db_table`, `field = Model._meta.get_field("qty")` ... `field.column`: schema
    metadata reached through a local name."""
    root: ast.AST = expr
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    value = _local_value(root, ctx)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        value = value.func  # `field = Model._meta.get_field("quantity")` ... `field.column`
    return isinstance(value, ast.Attribute) and _is_trusted_attribute(value)


def _through_schema_segment(expr: ast.Attribute) -> bool:
    """An attribute chain through schema metadata (`Model.users.through._meta.get_field`), not just a class."""
    node: ast.AST = expr
    while isinstance(node, ast.Attribute):
        if node.attr in TRUSTED_ATTRIBUTE_SEGMENTS:
            return True
        node = node.value
    return False


def _is_trusted_attribute(expr: ast.Attribute) -> bool:
    """Schema metadata (`Model._meta.db_table`, `column.class_.__tablename__`) or a class constant
    (`Status.DRAFT.value`, `Flags.gatekeeper.flag`): text the developer wrote, never request data."""
    node: ast.AST = expr
    while isinstance(node, ast.Attribute):
        if node.attr in TRUSTED_ATTRIBUTE_SEGMENTS:
            return True
        node = node.value
    return isinstance(node, ast.Name) and _is_class_name(node.id)


# ALL_CAPS attributes of a request are its data, not constants (`request.GET`, `request.META`).
REQUEST_CAPS = frozenset({"GET", "POST", "FILES", "COOKIES", "META", "DATA", "JSON", "FORM", "ARGS", "BODY"})


def _setting_constant(expr: ast.Attribute) -> bool:
    """An ALL_CAPS attribute (`self.cfg.HOLD_TIME`, `settings.PAGE_SIZE`, `self.TABLE`): a constant or a setting by
    convention, unless it is one of a request's data attributes or reached through the request."""
    name = expr.attr
    return name.isupper() and len(name.strip("_")) > 1 and name not in REQUEST_CAPS \
        and not REQUEST_WORDS.search(ast.unparse(expr.value))


def _is_class_name(name: str) -> bool:
    """CapWords (`MCPStatus`, `AutoModFlags`): a class by convention, so its attributes are constants in the code.
    ALL_CAPS names are module constants and are judged by the module-constant rule instead."""
    return name[:1].isupper() and not name.isupper() and "_" not in name.strip("_")


def _is_quoting(func: ast.AST, ctx: "ModuleContext") -> bool:
    """`connection.ops.quote_name`, `qn = ...quote_name; qn(x)`, `sql.Identifier`, `conn.escape_string`,
    SQLAlchemy's `column(name)` / `table(name)` (rendered quoted)."""
    if ctx.qualified_name(func) in QUOTING_CONSTRUCTS:
        return True
    if isinstance(func, ast.Name):
        statements = _bindings_before(func, ctx)
        if statements and isinstance(statements[-1], ast.Assign):
            return _is_quoting(statements[-1].value, ctx) if not isinstance(statements[-1].value, ast.Call) else False
        last = func.id
    elif isinstance(func, ast.Attribute):
        last = func.attr
    else:
        return False
    lowered = last.lower()
    if any(word in lowered for word in QUOTING_WORDS):
        return True
    # A project's own `escape_sqlite(name)` / `sql_escape(value)`; not escapes made for other languages.
    return "escape" in lowered and "unescape" not in lowered and ctx.qualified_name(func) not in FOREIGN_ESCAPES
