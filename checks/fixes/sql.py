"""Fix for GAP701 (SQL text built from values): the values become query parameters in the driver's paramstyle.

Only where the fix is certainly right: every spliced piece is a value (never a table, column or sort key, never
inside a longer quoted literal such as `LIKE '%{term}%'`), the text is formatted in one expression (an f-string,
`"..." % (a, b)` with `%s`, `"...".format(a)` or `+`), inline or in a local assigned once and used only by this
call, the call has no parameters yet, and the paramstyle is known: the module imports exactly one driver family.
"""
from __future__ import annotations

import ast
import re
import string
from typing import TYPE_CHECKING

import libcst as cst

from ...analyzer.fixes import FixContext, Rewrite, fixer
from ..sql_building.facts import PRINTF_CONVERSION, SQL_FUNCTIONS, is_identifier_position
from . import with_argument

if TYPE_CHECKING:
    from ...analyzer.model import ModuleContext

# Import roots -> the DB-API paramstyle their cursors take.
DRIVER_STYLES = {
    "sqlite3": "qmark", "aiosqlite": "qmark",
    "psycopg2": "format", "psycopg": "format", "pymysql": "format", "MySQLdb": "format", "mysql": "format",
    "django": "format",
}
SQLALCHEMY_TEXT = frozenset(n for n in SQL_FUNCTIONS if n.startswith("sqlalchemy"))
# Spliced expressions that are plain values (no walrus, await, lambda or star).
VALUE_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.Constant, ast.UnaryOp, ast.BinOp)
NAMED_PARAMETER = re.compile(r"(?<![:\w\\]):\w")


@fixer("GAP701", "unsafe")
def parameterize(fc: FixContext) -> Rewrite | None:
    """The spliced values become parameters: `cursor.execute(f"... WHERE email = '{email}'")` ->
    `cursor.execute("... WHERE email = ?", (email,))` (sqlite3; `%s` for psycopg/MySQL drivers and Django
    `raw()`/`cursor`, `text("... :email").bindparams(email=email)` for SQLAlchemy). Unsafe: the database now
    receives typed values, which can change comparisons (`'5'` vs `5`) and which rows match."""
    call = fc.ast_for_finding(ast.Call)
    if not isinstance(call, ast.Call) or len(call.args) != 1 or call.keywords or isinstance(call.args[0], ast.Starred):
        return None  # parameters already passed, or SQL given by keyword: not a case we rewrite
    sink = _sink(call, fc)
    if sink is None:
        return None
    style, how = sink
    sql_expr, binding = _sql_expression(call.args[0], fc)
    if sql_expr is None:
        return None
    pieces = _pieces(sql_expr, fc)
    if pieces is None:
        return None
    rendered = _render(pieces, style, fc)
    if rendered is None:
        return None
    sql_text, values = rendered
    old_sql = fc.cst_for_ast(sql_expr, cst.BaseExpression)
    old_call = fc.cst_for_ast(call, cst.Call)
    if old_sql is None or not isinstance(old_call, cst.Call):
        return None
    new_sql = _string_literal(sql_text, old_sql)
    with_sql = old_call.with_changes(args=[old_call.args[0].with_changes(value=new_sql)]) if binding is None \
        else old_call
    if how == "bindparams":
        if binding is not None:
            return None  # text() of a local: the call to extend is the local's, not this one
        bound = cst.parse_expression("_.bindparams(" + ", ".join(f"{n}={v}" for n, v in values) + ")")
        assert isinstance(bound, cst.Call) and isinstance(bound.func, cst.Attribute)
        new_call = bound.with_changes(func=bound.func.with_changes(value=with_sql))
        return Rewrite("Pass the values as bound parameters", ((old_call, new_call),))
    codes = ", ".join(v for _, v in values)
    container = f"[{codes}]" if how == "list" else f"({codes},)" if len(values) == 1 else f"({codes})"
    new_call = with_argument(with_sql, cst.Arg(value=cst.parse_expression(container)))
    title = f"Pass the values as query parameters ({'?' if style == 'qmark' else '%s'})"
    if binding is None:
        return Rewrite(title, ((old_call, new_call),))
    return Rewrite(title, ((old_sql, new_sql), (old_call, new_call)))


def _sink(call: ast.Call, fc: FixContext) -> tuple[str, str] | None:
    """(paramstyle, how the parameters go in) for this SQL call, or None when the driver is not known."""
    ctx = fc.ast_ctx
    if ctx.qualified_name(call.func) in SQLALCHEMY_TEXT:
        return "named", "bindparams"
    if not isinstance(call.func, ast.Attribute):
        return None
    roots = {q.split(".", 1)[0] for q in ctx.imports.values()}
    if call.func.attr == "raw":
        return ("format", "list") if "django" in roots else None
    if call.func.attr != "execute" or roots & {"sqlalchemy", "asyncpg", "databases"}:
        return None  # SQLAlchemy's execute wants text() and a dict; asyncpg numbers its parameters
    drivers = {r for r in roots if r in DRIVER_STYLES and r != "django"}
    if _imports_django_connection(ctx):
        drivers.add("django")
    styles = {DRIVER_STYLES[r] for r in drivers}
    if len(styles) != 1:
        return None
    return styles.pop(), "list" if "django" in drivers else "tuple"


def _imports_django_connection(ctx: "ModuleContext") -> bool:
    return any(q in ("django.db.connection", "django.db.connections") for q in ctx.imports.values())


def _sql_expression(arg: ast.AST, fc: FixContext) -> tuple[ast.AST | None, ast.Assign | None]:
    """The expression that builds the SQL: the argument itself, or the value of a local assigned once and read
    only here (so rewriting it cannot change another use)."""
    if not isinstance(arg, ast.Name):
        return arg, None
    ctx = fc.ast_ctx
    scope = ctx.scope_of(arg)
    if scope is ctx.tree:
        return None, None
    bound = ctx.bindings(scope).get(arg.id, [])
    if len(bound) != 1 or not isinstance(bound[0], ast.Assign) or len(bound[0].targets) != 1 \
            or not isinstance(bound[0].targets[0], ast.Name):
        return None, None
    reads = [n for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id == arg.id and isinstance(n.ctx, ast.Load)]
    if len(reads) != 1 or bound[0].lineno > arg.lineno:
        return None, None
    return bound[0].value, bound[0]


# The SQL as pieces: constant text (str) and spliced values (ast expressions), in order.
Pieces = list  # list[str | ast.AST]


def _pieces(expr: ast.AST, fc: FixContext) -> Pieces | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.JoinedStr):
        out: Pieces = []
        for value in expr.values:
            if isinstance(value, ast.Constant):
                out.append(str(value.value))
            elif isinstance(value, ast.FormattedValue) and value.conversion == -1 and value.format_spec is None:
                out.append(value.value)
            else:
                return None
        return out
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _pieces(expr.left, fc), _pieces(expr.right, fc)
        if left is None and isinstance(expr.left, VALUE_NODES) and not _is_text(expr.left):
            left = [expr.left]
        if right is None and isinstance(expr.right, VALUE_NODES) and not _is_text(expr.right):
            right = [expr.right]
        if left is None or right is None:
            return None
        return left + right
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod) and isinstance(expr.left, ast.Constant) \
            and isinstance(expr.left.value, str):
        return _percent(expr.left.value, expr.right)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format" \
            and isinstance(expr.func.value, ast.Constant) and isinstance(expr.func.value.value, str):
        return _format(expr.func.value.value, expr)
    return None


def _is_text(expr: ast.AST) -> bool:
    """A formatting step of its own (`"a" % b` inside a `+`): left to a person."""
    return isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod)


def _percent(template: str, right: ast.AST) -> Pieces | None:
    if isinstance(right, ast.Dict) or isinstance(right, (ast.List, ast.Set)):
        return None
    values = list(right.elts) if isinstance(right, ast.Tuple) else [right]
    out: Pieces = []
    cursor = index = 0
    for match in PRINTF_CONVERSION.finditer(template):
        out.append(template[cursor:match.start()])
        cursor = match.end()
        if match.group(0) == "%%":
            out.append("%")
            continue
        if match.group(0) != "%s" or index >= len(values):
            return None  # `%d`, `%(name)s`, widths: left to a person
        out.append(values[index])
        index += 1
    out.append(template[cursor:])
    return out if index == len(values) else None


def _format(template: str, call: ast.Call) -> Pieces | None:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    out: Pieces = []
    auto = 0
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for literal, name, spec, conversion in fields:
        out.append(literal)
        if name is None:
            continue
        if spec or conversion:
            return None
        if name == "":
            if auto >= len(call.args):
                return None
            out.append(call.args[auto])
            auto += 1
        elif name.isdigit() and int(name) < len(call.args):
            out.append(call.args[int(name)])
        elif name.isidentifier() and name in keywords:
            out.append(keywords[name])
        else:
            return None
    return out


def _render(pieces: Pieces, style: str, fc: FixContext) -> tuple[str, list[tuple[str, str]]] | None:
    """The SQL text with placeholders, and (parameter name, value source) pairs; None when a value is not a plain
    value in a value position."""
    merged: Pieces = []
    for piece in pieces:  # adjacent text pieces joined, so quotes around a value are seen on both sides
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    text = ""
    values: list[tuple[str, str]] = []
    used: dict[str, str] = {}
    for i, piece in enumerate(merged):
        if isinstance(piece, str):
            if style == "qmark" and "?" in piece or style == "named" and NAMED_PARAMETER.search(piece):
                return None  # text that would read as a placeholder
            text += piece.replace("%", "%%") if style == "format" else piece
            continue
        if not isinstance(piece, VALUE_NODES):
            return None
        after = merged[i + 1] if i + 1 < len(merged) and isinstance(merged[i + 1], str) else ""
        quoted = text.endswith("'") and after.startswith("'")
        if quoted:
            text = text[:-1]
            merged[i + 1] = after[1:]
        elif text.count("'") % 2 or text.count('"') % 2 or text.endswith(("`", "[")):
            return None  # part of a longer literal (`LIKE '%{term}%'`) or a quoted identifier
        if is_identifier_position(text):
            return None  # a table, column or sort key: parameters cannot stand there
        source = _source(piece, fc)
        if source is None:
            return None
        if style == "named":
            name = _parameter_name(piece, len(values), used, source)
            if name not in used:
                used[name] = source
                values.append((name, source))
            text += f":{name}"
        else:
            values.append((str(len(values)), source))
            text += "?" if style == "qmark" else "%s"
    return (text, values) if values else None


def _parameter_name(piece: ast.AST, index: int, used: dict[str, str], source: str) -> str:
    base = piece.id if isinstance(piece, ast.Name) else piece.attr if isinstance(piece, ast.Attribute) else f"p{index}"
    name = base
    n = 1
    while name in used and used[name] != source:
        n += 1
        name = f"{base}_{n}"
    return name


def _source(node: ast.AST, fc: FixContext) -> str | None:
    (line, col), (end_line, end_col) = fc.ast_span(node)
    document = fc.document
    text = document.text[document.offset(line, col):document.offset(end_line, end_col)]
    return text if "\n" not in text and "#" not in text else None  # one-line values: no comment to lose


def _string_literal(text: str, old: cst.BaseExpression) -> cst.SimpleString:
    """A string literal for `text`, in the quotes the original used (triple quotes for multi-line SQL)."""
    first: cst.CSTNode = old
    while isinstance(first, (cst.BinaryOperation, cst.ConcatenatedString)):
        first = first.left
    if isinstance(first, cst.Call) and isinstance(first.func, cst.Attribute):
        first = first.func.value  # "...".format(...)
    quote = first.quote if isinstance(first, (cst.SimpleString, cst.FormattedString)) else '"'
    body = text.replace("\\", "\\\\")
    if len(quote) == 3:
        body = body.replace(quote[0] * 3, "\\" + quote[0] * 3)
        if body.endswith(quote[0]):
            body = body[:-1] + "\\" + quote[0]
    else:
        body = body.replace(quote, "\\" + quote).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return cst.SimpleString(quote + body + quote)
