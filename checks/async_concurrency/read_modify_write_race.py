"""GAP903 read-modify-write-race: a row's value read, changed in Python and saved back without a lock."""
from __future__ import annotations

import ast
from typing import Iterator

from ...analyzer.findings import Finding
from ...analyzer.model import ModuleContext
from ...analyzer.registry import Docs, Rule
from ..orm.facts import django_chain, iterates_query, outside_request_paths, sa_chain

RULE = Rule(
    id="GAP903",
    name="read-modify-write-race",
    category="async-concurrency",
    tags=("race",),
    severity="warning",
    precision="high",
    cwe="CWE-362",
    hints=("save", "commit"),
    summary="A row's value is read, changed in Python and saved back without a row lock or an atomic update",
    docs=Docs(
        what=(
            "Flags `obj.field += n`, `obj.field -= n` and `obj.field = obj.field <op> ...` on a model instance"
            " loaded in the same function - Django `Model.objects.get/first/last(...)`, `get_object_or_404`, a"
            " row of a queryset loop; SQLAlchemy `session.get(...)`, `query(...).first()/one()/get()` - when the"
            " instance is then saved (`obj.save()`, `session.commit()`) and the query took no row lock"
            " (`select_for_update()`, `with_for_update()`). The finding is on the write and names the read."
        ),
        why=(
            "Two requests that run this at once both read the same balance, stock or counter, both compute"
            " from it and both save: one update is lost, or both pass a `balance >= amount` check that only one"
            " should. Credits are spent twice, stock goes negative, counters drift - and no test that runs one"
            " request at a time will ever show it."
        ),
        example=(
            "account = Account.objects.get(pk=account_id)\nif account.balance < amount:\n"
            "    raise InsufficientCredits()\naccount.balance -= amount\naccount.save()"
        ),
        instead=(
            "updated = Account.objects.filter(pk=account_id, balance__gte=amount).update(\n"
            "    balance=F(\"balance\") - amount)\nif not updated:\n    raise InsufficientCredits()\n"
            "# or: with transaction.atomic(): account = Account.objects.select_for_update().get(pk=account_id)"
        ),
        not_caught=(
            "Instances passed in as parameters or loaded in another function, raw SQL read-then-update (SELECT"
            " then UPDATE with a value computed in Python), Redis GET-then-SET, get-then-create without a unique"
            " constraint, optimistic locking written by hand (a version column checked in the UPDATE's WHERE is"
            " not recognised), tests, scripts, management commands and migrations (run one at a time)."
        ),
        references=(
            "https://docs.djangoproject.com/en/stable/ref/models/expressions/#avoiding-race-conditions-using-f",
            "https://docs.djangoproject.com/en/stable/ref/models/querysets/#select-for-update",
            "https://docs.sqlalchemy.org/en/20/orm/queryguide/query.html#sqlalchemy.orm.Query.with_for_update",
        ),
    ),
)

ONE_ROW = frozenset({"get", "first", "last", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "scalar",
                     "get_or_404", "first_or_404", "one_or_404", "earliest", "latest"})
LOCKS = frozenset({"select_for_update", "with_for_update"})
GET_OR_404 = frozenset({"django.shortcuts.get_object_or_404"})


@RULE.on(ast.AugAssign, ast.Assign)
def check(stmt: ast.AugAssign | ast.Assign, ctx: ModuleContext) -> Iterator[Finding]:
    target = stmt.target if isinstance(stmt, ast.AugAssign) else (stmt.targets[0] if len(stmt.targets) == 1
                                                                    else None)
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
        return
    name, field = target.value.id, target.attr
    if isinstance(stmt, ast.AugAssign):
        amount = stmt.value if isinstance(stmt.op, (ast.Add, ast.Sub)) else None
    else:
        amount = _arithmetic_on(stmt.value, name, field)
    if amount is None or _is_text(amount) or _is_expression(amount, ctx):
        return  # only counters, balances and stock: `x.f = x.f or default`, text appends and toggles are not
    function = ctx.enclosing_function(stmt)
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or outside_request_paths(ctx):
        return
    read = _unlocked_row(target.value, function, ctx)
    if read is None:
        return
    saved = _saved_after(stmt, name, function)
    if saved is None:
        return
    yield ctx.finding(
        RULE, stmt,
        f"{name}.{field} is read ({read}) and written back here, then saved (line {saved}), with no row lock: two"
        f" concurrent requests read the same {field} and one update is lost (or both pass its check); update it"
        f" in the database (`.filter(..., {field}__gte=n).update({field}=F(\"{field}\") - n)`) or lock the row"
        " (`select_for_update()` in `transaction.atomic()`)",
    )


def _is_field(expr: ast.AST, name: str, field: str) -> bool:
    return isinstance(expr, ast.Attribute) and expr.attr == field and isinstance(expr.value, ast.Name) \
        and expr.value.id == name


def _arithmetic_on(expr: ast.AST, name: str, field: str) -> ast.AST | None:
    """The amount in `x.f + amount`, `x.f - amount` or `amount + x.f`; None for any other expression."""
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Sub)):
        if _is_field(expr.left, name, field):
            return expr.right
        if isinstance(expr.op, ast.Add) and _is_field(expr.right, name, field):
            return expr.left
    return None


def _is_text(expr: ast.AST) -> bool:
    """A string or list being appended (a log line, a tag list), not a number."""
    if isinstance(expr, ast.BinOp):
        return _is_text(expr.left) or _is_text(expr.right)
    return isinstance(expr, (ast.JoinedStr, ast.List, ast.ListComp, ast.Tuple, ast.Dict)) or (
        isinstance(expr, ast.Constant) and isinstance(expr.value, (str, bytes)))


def _is_expression(expr: ast.AST, ctx: ModuleContext) -> bool:
    """An `F()` / SQL expression: the database computes it, atomically."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            qualified = ctx.qualified_name(node.func) or ""
            if qualified.endswith((".F", ".Func", ".Value")) or qualified in ("django.db.models.F",):
                return True
    return False


def _unlocked_row(name: ast.Name, function: ast.AST, ctx: ModuleContext) -> str | None:
    """"line N, Model.objects.get" when `name` holds one row loaded without a lock in this function."""
    value = ctx.value_of(name)
    if value is not None and ctx.enclosing_function(value) is function:
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and ctx.qualified_name(value.func) in GET_OR_404:
            return f"line {value.lineno}, get_object_or_404()"
        chain = django_chain(value, ctx) or sa_chain(value, ctx) or _session_get(value, ctx)
        if chain is not None:
            methods = chain.method_names
            if methods and methods[-1] in ONE_ROW and not LOCKS.intersection(methods):
                return f"line {value.lineno}, {chain.label}.{methods[-1]}()"
        return None
    loop = _loop_binding(name, function)
    if loop is not None:
        chain = iterates_query(loop.iter, ctx)
        if chain is not None and not LOCKS.intersection(chain.method_names):
            return f"line {loop.lineno}, a row of {chain.label}"
    return None


def _session_get(value: ast.AST, ctx: ModuleContext):
    """`session.get(Model, pk)` (SQLAlchemy 2.x): one row, like `.get()` on a query."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "get" \
            and len(value.args) >= 2 and isinstance(value.args[0], ast.Name) and value.args[0].id[:1].isupper():
        from ..orm.facts import is_sa_session, QueryChain
        if is_sa_session(value.func.value, ctx):
            return QueryChain("sqlalchemy", f"{ctx.dotted_name(value.func.value) or 'session'}", value.args[0],
                              (("get", value),), False, False)
    return None


def _loop_binding(name: ast.Name, function: ast.AST) -> ast.For | ast.AsyncFor | None:
    for node in ast.walk(function):
        if isinstance(node, (ast.For, ast.AsyncFor)) and isinstance(node.target, ast.Name) \
                and node.target.id == name.id and node.lineno <= name.lineno <= (node.end_lineno or node.lineno):
            return node
    return None


def _saved_after(stmt: ast.stmt, name: str, function: ast.AST) -> int | None:
    """The line of `name.save(...)` or `<session>.commit()/flush()` after the write, in the same function."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.lineno >= stmt.lineno:
            receiver = node.func.value
            if node.func.attr in ("save", "asave") and isinstance(receiver, ast.Name) and receiver.id == name:
                return node.lineno
            if node.func.attr in ("commit", "flush"):
                return node.lineno
    return None
