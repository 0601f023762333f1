"""Bytes -> text (PEP 263) -> one `ast` tree. Never imports or executes the code it reads."""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass


class SourceError(Exception):
    """A file that cannot be analysed; `kind` names why (it becomes a tool notification)."""

    def __init__(self, kind: str, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Source:
    text: str
    lines: list[str]
    encoding: str


def decode(data: bytes) -> Source:
    """Decode as Python itself would: a UTF-8 BOM, else a PEP 263 coding cookie, else UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # not UTF-8 without a cookie, or an unknown or conflicting coding cookie
        message = str(exc.msg if hasattr(exc, "msg") else exc)
        if "invalid or missing encoding declaration" in message:
            message = "cannot decode as utf-8 (no coding cookie; Python source defaults to UTF-8)"
        else:
            message = f"cannot decode: {message}"
        raise SourceError("decode-error", message) from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        hint = "" if encoding != "utf-8" else " (no coding cookie; Python source defaults to UTF-8)"
        raise SourceError("decode-error", f"cannot decode as {encoding}{hint}: {exc}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(text=text, lines=text.splitlines(), encoding=encoding)


def parse(source: Source, filename: str) -> ast.Module:
    """Parse once with the stdlib parser; every failure becomes a SourceError, never a crash."""
    if "\0" in source.text:
        line = source.text.count("\n", 0, source.text.index("\0")) + 1
        raise SourceError("syntax-error", "file contains NUL bytes; not Python source", line)
    try:
        return ast.parse(source.text, filename=filename)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        hint = ""
        if exc.msg and ("print" in exc.msg or "Missing parentheses" in exc.msg):
            hint = " (Python 2 code?)"
        raise SourceError("syntax-error", f"syntax error{where}: {exc.msg}{hint}", exc.lineno or 0) from None
    except (RecursionError, MemoryError):
        raise SourceError("too-complex", "too deeply nested for the Python parser") from None
    except ValueError as exc:  # e.g. NUL bytes on some Python versions
        raise SourceError("syntax-error", f"cannot parse: {exc}") from None

