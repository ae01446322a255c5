"""SCIM paths (RFC 7644 §3.5.2): `userName`, `name.givenName`,
`urn:...:enterprise:2.0:User:department`, `emails[type eq "work"].value`.

A port of the gateway's `scim::path` and the bracketed part of `scim::filter`
(Rust), with the same grammar and error messages, so that a path means the
same thing in a Python plugin as in the gateway. Positions count code points
where the Rust counts bytes; they agree on ASCII paths.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 64
"""The deepest nesting of `( )`, `not ( )` and `[ ]` a filter may have."""
MAX_TERMS = 256
"""The most comparisons one filter may hold."""
OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")

WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Rust's `char::is_whitespace`, the Unicode White_Space property (`str.isspace` also takes U+001C..U+001F)."""

_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class PathError(ValueError):
    """A path that does not parse; the message is the gateway's."""


class _Syntax(Exception):
    """A parse error at a position, before the path's text is added."""

    def __init__(self, pos: int, message: str):
        super().__init__(message)
        self.pos = pos
        self.message = message


def ascii_lower(s: str) -> str:
    """ASCII-only lower case, as Rust's `eq_ignore_ascii_case` compares."""
    return s.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def eq_ignore_ascii_case(a: str, b: str) -> bool:
    return len(a) == len(b) and ascii_lower(a) == ascii_lower(b)


def _is_control(c: str) -> bool:
    return c <= "\x1f" or "\x7f" <= c <= "\x9f"


def _quote_char(c: str) -> str:
    """A character as Rust's `{:?}` shows it in messages: `'x'`."""
    escapes = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "'": "\\'", "\\": "\\\\"}
    if c in escapes:
        return f"'{escapes[c]}'"
    if _is_control(c):
        return f"'\\u{{{ord(c):x}}}'"
    return f"'{c}'"


@dataclass
class AttrPath:
    """`[urn:...:]attr[.sub]`"""

    schema: str | None
    attr: str
    sub: str | None

    def __str__(self) -> str:
        schema = "" if self.schema is None else f"{self.schema}:"
        sub = "" if self.sub is None else f".{self.sub}"
        return f"{schema}{self.attr}{sub}"


@dataclass
class Compare:
    path: AttrPath
    op: str
    value: Any


@dataclass
class Present:
    path: AttrPath


@dataclass
class And:
    a: Filter
    b: Filter


@dataclass
class Or:
    a: Filter
    b: Filter


@dataclass
class Not:
    inner: Filter


Filter = Compare | Present | And | Or | Not


@dataclass
class ValuePath:
    """A PATCH path: an attribute path and the filter in brackets, if any."""

    attr: AttrPath
    filter: Filter | None


def parse_value_path(s: str) -> ValuePath:
    """Parse a PATCH path; surrounding white space is ignored. Raises PathError."""

    def fail(pos: int, message: str) -> PathError:
        return PathError(f"invalid path {json.dumps(s, ensure_ascii=False)}: {message} at position {pos}")

    lead = len(s) - len(s.lstrip(WHITE_SPACE))
    trimmed = s.strip(WHITE_SPACE)
    try:
        open_at = trimmed.find("[")
        if open_at < 0:
            return ValuePath(_parse_attr_path(trimmed), None)
        attr = _parse_attr_path(trimmed[:open_at])
        if attr.sub is not None:
            raise _Syntax(0, "a filtered attribute cannot have a sub-attribute before '['")
    except _Syntax as e:
        raise fail(lead + e.pos, e.message) from None
    end = lead + len(trimmed)
    parser = _Parser(s[:end], lead + open_at + 1)
    try:
        filter = parser.parse_group(lead + open_at, "]")
        close = parser.pos - 1
        rest = s[close + 1 : end]
        if rest:
            if not rest.startswith("."):
                raise _Syntax(close + 1, "expected '.' and a sub-attribute or the end of the path after ']'")
            _check_name(rest[1:], close + 2)
            attr.sub = rest[1:]
    except _Syntax as e:
        raise fail(e.pos, e.message) from None
    return ValuePath(attr, filter)


def _parse_attr_path(s: str) -> AttrPath:
    """An attribute path without surrounding white space."""
    schema, rest, rest_at = None, s, 0
    if eq_ignore_ascii_case(s[:4], "urn:"):
        # URNs contain dots (`...:2.0:User`), so the schema ends at the last ':'.
        colon = s.rfind(":")
        _check_urn(s[:colon])
        schema, rest, rest_at = s[:colon], s[colon + 1 :], colon + 1
    attr, dot, sub = rest.partition(".")
    _check_name(attr, rest_at)
    if dot:
        _check_name(sub, rest_at + len(attr) + 1)
    return AttrPath(schema, attr, sub if dot else None)


def _check_name(name: str, at: int) -> None:
    """`ALPHA *( "-" / "_" / "$" / DIGIT / ALPHA )`, or the literal `$ref`."""
    if not name:
        raise _Syntax(at, "expected an attribute name")
    if eq_ignore_ascii_case(name, "$ref"):
        return
    if not (name[0].isascii() and name[0].isalpha()):
        raise _Syntax(at, f"an attribute name must start with a letter, found {_quote_char(name[0])}")
    for i, c in enumerate(name[1:], 1):
        if c == ".":
            raise _Syntax(at + i, "only one level of sub-attribute is allowed")
        if not (c.isascii() and (c.isalnum() or c in "-_$")):
            raise _Syntax(at + i, f"invalid character {_quote_char(c)} in attribute name")


def _check_urn(urn: str) -> None:
    """`urn:` and non-empty `:`-separated segments of printable, non-delimiter characters."""
    at = 0
    for i, segment in enumerate(urn.split(":")):
        if not segment:
            raise _Syntax(at, "expected a schema URN after 'urn:'" if i == 1 else "empty segment in schema URN")
        for j, c in enumerate(segment):
            if c in WHITE_SPACE or _is_control(c) or c in "()[]\"'":
                raise _Syntax(at + j, f"invalid character {_quote_char(c)} in schema URN")
        at += len(segment) + 1
    if ":" not in urn:
        raise _Syntax(0, "a URN-qualified path needs 'urn:<schema>:<attribute>'")


def _is_delimiter(c: str) -> bool:
    """What ends a word: white space and the filter's punctuation."""
    return c in WHITE_SPACE or c in '()[]"'


def _operator(word: str) -> str | None:
    return next((op for op in OPERATORS if eq_ignore_ascii_case(op, word)), None)


class _Parser:
    """The recursive descent of `scim::filter` for the inside of `[ ]`, where value paths cannot nest."""

    def __init__(self, src: str, pos: int):
        self.src = src
        self.pos = pos
        self.depth = 0
        self.terms = 0

    def peek(self) -> str | None:
        return self.src[self.pos] if self.pos < len(self.src) else None

    def skip_ws(self) -> None:
        rest = self.src[self.pos :]
        self.pos += len(rest) - len(rest.lstrip(WHITE_SPACE))

    def word_at(self, pos: int) -> str:
        """The run of non-delimiter characters at `pos` (possibly empty)."""
        end = pos
        while end < len(self.src) and not _is_delimiter(self.src[end]):
            end += 1
        return self.src[pos:end]

    def read_word(self) -> str:
        word = self.word_at(self.pos)
        self.pos += len(word)
        return word

    def found(self) -> str:
        """What is at the current position, for error messages."""
        c = self.peek()
        if c is None:
            return "the end of the input"
        if _is_delimiter(c):
            return _quote_char(c)
        word = self.word_at(self.pos)
        return f"'{word[:40]}…'" if len(word) > 40 else f"'{word}'"

    def expected(self, what: str) -> _Syntax:
        return _Syntax(self.pos, f"expected {what}, found {self.found()}")

    def eat_keyword(self, keyword: str) -> bool:
        save = self.pos
        self.skip_ws()
        word = self.word_at(self.pos)
        if eq_ignore_ascii_case(word, keyword):
            self.pos += len(word)
            return True
        self.pos = save
        return False

    def parse_or(self) -> Filter:
        left = self.parse_and()
        while self.eat_keyword("or"):
            left = Or(left, self.parse_and())
        return left

    def parse_and(self) -> Filter:
        left = self.parse_unary()
        while self.eat_keyword("and"):
            left = And(left, self.parse_unary())
        return left

    def parse_group(self, open_at: int, close: str) -> Filter:
        """The inside of `( )` or `[ ]`: `pos` is just past the opening character at `open_at`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Syntax(open_at, f"filter nested deeper than {MAX_DEPTH} levels")
        inner = self.parse_or()
        self.skip_ws()
        if self.peek() != close:
            raise self.expected(f"'{close}' (to close the one opened at position {open_at}), 'and' or 'or'")
        self.pos += 1
        self.depth -= 1
        return inner

    def parse_unary(self) -> Filter:
        self.skip_ws()
        start = self.pos
        c = self.peek()
        if c == "(":
            self.pos += 1
            return self.parse_group(start, ")")
        if c is not None and not _is_delimiter(c):
            open_at = self.not_paren()
            if open_at is None:
                return self.parse_term()
            self.pos = open_at + 1
            return Not(self.parse_group(open_at, ")"))
        raise self.expected("an attribute path, '(' or 'not'")

    def not_paren(self) -> int | None:
        """The position of the `(` when a `not (` starts at `pos`."""
        word = self.word_at(self.pos)
        if not eq_ignore_ascii_case(word, "not"):
            return None
        rest = self.src[self.pos + len(word) :]
        open_at = len(self.src) - len(rest.lstrip(WHITE_SPACE))
        return open_at if self.src.startswith("(", open_at) else None

    def parse_term(self) -> Filter:
        """`attrPath pr` or `attrPath op value`."""
        start = self.pos
        word = self.read_word()
        if eq_ignore_ascii_case(word, "not"):
            # Not `not (`, so `not` can only be an attribute of that name.
            after = self.pos
            self.skip_ws()
            following = self.word_at(self.pos)
            operator_follows = eq_ignore_ascii_case(following, "pr") or _operator(following) is not None
            if not operator_follows and not self.src.startswith("[", after):
                raise self.expected("'(' after 'not'")
            self.pos = after
        try:
            path = _parse_attr_path(word)
        except _Syntax as e:
            raise _Syntax(start + e.pos, e.message) from None
        if self.peek() == "[":
            raise _Syntax(self.pos, "value paths cannot be nested inside a value path")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _Syntax(start, f"a filter may hold at most {MAX_TERMS} comparisons")
        self.skip_ws()
        op_at = self.pos
        op_word = self.read_word()
        if eq_ignore_ascii_case(op_word, "pr"):
            return Present(path)
        op = _operator(op_word)
        if op is None:
            self.pos = op_at
            what = "a known operator" if op_word else "an operator"
            raise self.expected(f"{what} after '{word}' (one of eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
        self.skip_ws()
        return Compare(path, op, self.parse_value(op))

    def parse_value(self, op: str) -> Any:
        """A JSON string or number, `true`, `false` or `null`."""
        if self.peek() == '"':
            return self.parse_string()
        start = self.pos
        word = self.read_word()
        for keyword, value in (("true", True), ("false", False), ("null", None)):
            if eq_ignore_ascii_case(word, keyword):
                return value
        if word[:1] == "-" or word[:1].isascii() and word[:1].isdigit():
            if _NUMBER.fullmatch(word):
                number = json.loads(word)
                if number not in (float("inf"), float("-inf")):
                    return number
            raise _Syntax(start, f"invalid number '{word}'")
        self.pos = start
        raise self.expected(f"a value (a quoted string, number, true, false or null) after '{op}'")

    def parse_string(self) -> str:
        """A JSON string; `pos` is on the opening quote."""
        open_at = self.pos
        self.pos += 1
        out = []
        while True:
            c = self.peek()
            if c is None:
                raise _Syntax(open_at, "unterminated string starting")
            if c == '"':
                self.pos += 1
                return "".join(out)
            if c == "\\":
                out.append(self.parse_escape())
            elif c < " ":
                raise _Syntax(self.pos, f"control character {_quote_char(c)} in a string must be escaped")
            else:
                out.append(c)
                self.pos += 1

    def parse_escape(self) -> str:
        """One escape sequence; `pos` is on the backslash."""
        at = self.pos
        self.pos += 1
        c = self.peek()
        simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
        if c in simple:
            self.pos += 1
            return simple[c]
        if c is None:
            raise _Syntax(at, "unterminated escape sequence")
        if c != "u":
            raise _Syntax(at, f"invalid escape sequence \\{c}")
        self.pos += 1
        high = self.hex4(at)
        if 0xDC00 <= high <= 0xDFFF:
            raise _Syntax(at, "unpaired low surrogate")
        if not 0xD800 <= high <= 0xDBFF:
            return chr(high)
        low_at = self.pos
        if not self.src.startswith("\\u", self.pos):
            raise _Syntax(at, "a high surrogate must be followed by a \\u low surrogate")
        self.pos += 2
        low = self.hex4(low_at)
        if not 0xDC00 <= low <= 0xDFFF:
            raise _Syntax(low_at, "expected a low surrogate (\\uDC00-\\uDFFF)")
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    def hex4(self, at: int) -> int:
        """Four hex digits for the `\\u` escape at `at`."""
        digits = self.src[self.pos : self.pos + 4]
        if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise _Syntax(at, "\\u must be followed by four hex digits")
        self.pos += 4
        return int(digits, 16)


def show_filter(filter: Filter) -> str:
    """A filter's canonical text: single spaces, lower-case keywords, JSON values, and
    parentheses exactly where the tree differs from left-associative parsing with `and`
    above `or`."""

    def operand(f: Filter, parenthesise: bool) -> str:
        return f"({show_filter(f)})" if parenthesise else show_filter(f)

    match filter:
        case Compare(path, op, value):
            return f"{path} {op} {json.dumps(value, ensure_ascii=False)}"
        case Present(path):
            return f"{path} pr"
        case And(a, b):
            return f"{operand(a, isinstance(a, Or))} and {operand(b, isinstance(b, (Or, And)))}"
        case Or(a, b):
            return f"{show_filter(a)} or {operand(b, isinstance(b, Or))}"
        case Not(inner):
            return f"not ({show_filter(inner)})"
