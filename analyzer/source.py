"""Bytes -> text (PEP 263) -> one `ast` tree. Never imports or executes the code it reads."""
from __future__ import annotations

import ast
import codecs
import io
import re
import sys
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


_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines numbered as Python numbers them: only \\n, \\r\\n and a lone \\r end a line. (`str.splitlines` also
    splits at form feeds, \\x1c-\\x1e, \\x85, U+2028 and U+2029, which are ordinary characters to Python, so every
    line after one would be off by one against the `ast` line numbers.)"""
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def decode(data: bytes) -> Source:
    """Decode as Python itself would: a UTF-8 BOM, else a PEP 263 coding cookie, else UTF-8.

    Where `tokenize.detect_encoding` and a strict decode are stricter than the interpreter's own compiler (bytes
    that are not UTF-8 in a comment, a cookie line that ends in a lone CR or holds undecodable bytes), the
    compiler decides: a file Python would run is analysed, its undecodable comment bytes read as U+FFFD."""
    # Line ends as the compiler sees them, for finding the cookie in the first two lines (offsets do not matter).
    head = _LINE_END_BYTES.sub(b"\n", _TWO_LINES.match(data).group(0)) + b"\n"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(head).readline)
    except (SyntaxError, UnicodeError, LookupError) as exc:  # not UTF-8 without a cookie, a bad or conflicting cookie
        encoding = _declared_encoding(head) if compiler_accepts(data) else ""
        if not encoding:
            message = str(exc.msg if hasattr(exc, "msg") else exc)
            if "invalid or missing encoding declaration" in message:
                message = "cannot decode as utf-8 (no coding cookie; Python source defaults to UTF-8)"
            else:
                message = f"cannot decode: {message}"
            raise SourceError("decode-error", message) from None
    try:
        text = data.decode(encoding)
    except (UnicodeError, LookupError) as exc:
        if isinstance(exc, UnicodeError) and compiler_accepts(data):
            text = data.decode(encoding, "replace")
        else:
            hint = "" if encoding != "utf-8" else " (no coding cookie; Python source defaults to UTF-8)"
            raise SourceError("decode-error", f"cannot decode as {encoding}{hint}: {exc}") from None
    except Exception as exc:  # a codec that is not a text encoding, or one that fails in its own way
        raise SourceError("decode-error", f"cannot decode as {encoding}: {type(exc).__name__}: {exc}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(text=text, lines=split_lines(text), encoding=encoding)


_TWO_LINES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?[^\r\n]*")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BLANK_OR_COMMENT = re.compile(rb"^[ \t\f]*(?:#|$)")


def _declared_encoding(head: bytes) -> str:
    """The PEP 263 cookie of the first two lines, read without decoding them (the compiler does not either)."""
    bom = head.startswith(b"\xef\xbb\xbf")
    lines = (head[3:] if bom else head).split(b"\n", 2)[:2]
    for number, line in enumerate(lines):
        match = _COOKIE.match(line)
        if match:
            try:
                name = codecs.lookup(match.group(1).decode("ascii")).name
            except (LookupError, UnicodeError):
                return ""
            return "" if bom and name != "utf-8" else name
        if number == 0 and not _BLANK_OR_COMMENT.match(line):
            break
    return "utf-8-sig" if bom else "utf-8"


def compiler_accepts(data: bytes) -> bool:
    """Whether this interpreter's compiler parses the raw bytes (it does its own PEP 263 decoding)."""
    try:
        compile(data, "<gapcheck>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        return True
    except Exception:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError ...
        return False


def lines_of(data: bytes) -> list[str]:
    """A file's lines for everything that only needs their text (fingerprints, baselines, Semgrep results).
    Never raises: see `read_anyway`."""
    return read_anyway(data).lines


def read_anyway(data: bytes) -> Source:
    """`decode(data)`, or for a file Python cannot decode (it has its own notice) UTF-8 with U+FFFD for the bytes
    that do not decode, so a Semgrep finding in it still gets a line text and a fingerprint. Never raises."""
    try:
        return decode(data)
    except SourceError:
        text = data.decode("utf-8", "replace")
        text = text[1:] if text.startswith("\ufeff") else text
        return Source(text=text, lines=split_lines(text), encoding="utf-8")


def char_column(source: Source, line: int, byte_column: int) -> int:
    """1-based column in characters from a 1-based column in bytes of the file's encoding (Semgrep's columns)."""
    if not 0 < line <= len(source.lines) or byte_column <= 1:
        return byte_column
    encoding = source.encoding
    if encoding == "utf-8-sig" and line > 1:
        encoding = "utf-8"
    try:
        raw = source.lines[line - 1].encode(encoding, "replace")
        return len(raw[:byte_column - 1].decode(encoding, "ignore")) + 1  # utf-8-sig: drops the BOM again
    except (LookupError, UnicodeError, ValueError):
        return byte_column


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
        newer = newer_syntax(exc, source.lines)
        if newer:
            hint = (f" (looks like {newer[1]}, Python {newer[0]}+ syntax: gapcheck parses with the Python it runs "
                    f"on, {sys.version_info.major}.{sys.version_info.minor}; run it on Python {newer[0]} or newer)")
        raise SourceError("syntax-error", f"syntax error{where}: {exc.msg}{hint}", exc.lineno or 0) from None
    except (RecursionError, MemoryError):
        raise SourceError("too-complex", "too deeply nested for the Python parser") from None
    except (ValueError, OverflowError, SystemError) as exc:  # e.g. NUL bytes on some Python versions
        raise SourceError("syntax-error", f"cannot parse: {type(exc).__name__}: {exc}") from None


# Syntax newer than the oldest Python gapcheck runs on: (version, what, test on the error line, test on the message).
_TYPE_PARAMS = re.compile(r"^\s*(?:async\s+def|def|class)\s+\w+\s*\[")
_NEWER_SYNTAX: tuple[tuple[tuple[int, int], str, re.Pattern[str], re.Pattern[str]], ...] = (
    ((3, 13), "a type parameter default (PEP 696)", re.compile(r"^\s*(?:(?:async\s+def|def|class)\s+\w+|type\s+\w+)"
                                                            r"\s*\[[^\]]*="), re.compile("")),
    ((3, 12), "a type alias statement (PEP 695)", re.compile(r"^\s*type\s+[A-Za-z_]\w*\s*(?:\[.*\])?\s*="),
     re.compile("")),
    ((3, 12), "a generic function or class (PEP 695)", _TYPE_PARAMS, re.compile("")),
    ((3, 14), "a template string (PEP 750)", re.compile(r"(?<![\w.'\"])[tT][rR]?['\"]"), re.compile("^invalid syntax")),
    ((3, 12), "an f-string that reuses its quotes, or holds a backslash or a comment (PEP 701)",
     re.compile(r"(?<![\w.])(?:[fF][rR]?|[rR][fF])['\"]"),
     re.compile(r"^(?:f-string|unterminated string|unexpected character after line continuation)")),
    ((3, 14), "`except A, B:` without parentheses (PEP 758)", re.compile(r"^\s*except\b"),
     re.compile("^multiple exception types must be parenthesized")),
)


def newer_syntax(exc: SyntaxError, lines: list[str]) -> tuple[str, str] | None:
    """("3.12", "a type alias statement (PEP 695)") when the syntax error is syntax a newer Python accepts."""
    line = exc.text or (lines[exc.lineno - 1] if exc.lineno and 0 < exc.lineno <= len(lines) else "")
    message = exc.msg or ""
    for version, what, line_test, message_test in _NEWER_SYNTAX:
        if sys.version_info[:2] < version and line_test.search(line) and message_test.search(message):
            return f"{version[0]}.{version[1]}", what
    return None

