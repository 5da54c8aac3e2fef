"""Lexer and Pratt parser for FHIRPath N1 (https://hl7.org/fhirpath/N1/#grammar).

The AST is made of tuples, first item the node kind:
``("lit", value)``, ``("empty",)``, ``("id", name)``, ``("call", name, args)``,
``("var", name)``, ``("this",)``, ``("index",)``, ``("total",)``,
``("dot", left, right)``, ``("idx", left, index)``, ``("bin", op, left, right)``,
``("neg", operand)``, ``("type", "is"|"as", operand, type_name)``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .dates import parse_date_time, parse_time
from .nodes import FHIRPathError
from .quantities import CALENDAR_UNITS, Quantity

__all__ = ["parse"]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*(?:.|\n)*?\*/)
  | (?P<time>@T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)
  | (?P<date>@\d{4}(?:-\d{2}(?:-\d{2})?)?
        (?:T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<num>\d+(?:\.\d+)?L?)
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<btick>`(?:[^`\\]|\\.)*`)
  | (?P<ext>%(?:[A-Za-z_][A-Za-z0-9_\-]*|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`))
  | (?P<special>\$(?:this|index|total))
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|!~|[=~<>+\-*/|&()\[\]{}.,])
    """,
    re.VERBOSE,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

_BINARY = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}
_POSTFIX = 12


def unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "u" and i + 5 < len(body) + 1:
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if n not in _ESCAPES:
                raise FHIRPathError(f"invalid escape '\\{n}'", "syntax")
            out.append(_ESCAPES[n])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FHIRPathError(f"unexpected character {text[pos]!r} at {pos}", "syntax")
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group()))  # type: ignore[arg-type]
        pos = m.end()
    tokens.append(("eof", ""))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def next(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text = self.next()
        if text != value or kind not in ("op", "id"):
            raise FHIRPathError(f"expected {value!r}, found {text or 'end of expression'!r}", "syntax")

    def expression(self, min_bp: int = 0) -> tuple[Any, ...]:
        left = self.prefix()
        while True:
            kind, text = self.peek()
            if kind == "op" and text in (".", "["):
                self.next()
                if text == ".":
                    left = ("dot", left, self.member())
                else:
                    index = self.expression()
                    self.expect("]")
                    left = ("idx", left, index)
                continue
            bp = _BINARY.get(text) if kind in ("op", "id") else None
            if bp is None or bp <= min_bp:
                return left
            self.next()
            if text in ("is", "as"):
                left = ("type", text, left, self.type_name())
            else:
                left = ("bin", text, left, self.expression(bp))

    def type_name(self) -> str:
        parts = [self.identifier()]
        while self.peek() == ("op", ".") and self.tokens[self.pos + 1][0] in ("id", "btick"):
            self.next()
            parts.append(self.identifier())
        return ".".join(parts)

    def identifier(self) -> str:
        kind, text = self.next()
        if kind == "id":
            return text
        if kind == "btick":
            return unescape(text[1:-1])
        raise FHIRPathError(f"expected an identifier, found {text or 'end of expression'!r}", "syntax")

    def member(self) -> tuple[Any, ...]:
        name = self.identifier()
        if self.peek() == ("op", "("):
            return self.call(name)
        return ("id", name)

    def call(self, name: str) -> tuple[Any, ...]:
        self.expect("(")
        args: list[tuple[Any, ...]] = []
        if self.peek() != ("op", ")"):
            args.append(self.expression())
            while self.peek() == ("op", ","):
                self.next()
                args.append(self.expression())
        self.expect(")")
        return ("call", name, tuple(args))

    def prefix(self) -> tuple[Any, ...]:
        kind, text = self.next()
        if kind == "num":
            return self.number(text)
        if kind == "str":
            return ("lit", unescape(text[1:-1]))
        if kind == "date":
            value = parse_date_time(text[1:])
            if value is None:
                raise FHIRPathError(f"invalid date/time literal {text}", "syntax")
            return ("lit", value)
        if kind == "time":
            value = parse_time(text[2:])
            if value is None:
                raise FHIRPathError(f"invalid time literal {text}", "syntax")
            return ("lit", value)
        if kind == "ext":
            body = text[1:]
            if body[0] in "'`":
                body = unescape(body[1:-1])
            return ("var", body)
        if kind == "special":
            return (text[1:],)
        if kind == "btick":
            return ("id", unescape(text[1:-1]))
        if kind == "id":
            if text in ("true", "false"):
                return ("lit", text == "true")
            if self.peek() == ("op", "("):
                return self.call(text)
            return ("id", text)
        if kind == "op":
            if text == "(":
                inner = self.expression()
                self.expect(")")
                return inner
            if text == "{":
                self.expect("}")
                return ("empty",)
            if text in ("-", "+"):
                operand = self.expression(11)
                if text == "+":
                    return operand
                if (
                    operand[0] == "lit"
                    and isinstance(operand[1], (int, Decimal))
                    and not isinstance(operand[1], bool)
                ):
                    return ("lit", -operand[1])
                if operand[0] == "lit" and isinstance(operand[1], Quantity):
                    return ("lit", Quantity(-operand[1].value, operand[1].unit))
                return ("neg", operand)
        raise FHIRPathError(f"unexpected {text or 'end of expression'!r}", "syntax")

    def number(self, text: str) -> tuple[Any, ...]:
        if text.endswith("L"):
            return ("lit", int(text[:-1]))
        value: int | Decimal = Decimal(text) if "." in text else int(text)
        kind, unit = self.peek()
        if kind == "str":
            self.next()
            return ("lit", Quantity(Decimal(value), unescape(unit[1:-1])))
        if kind == "id" and unit in CALENDAR_UNITS:
            self.next()
            return ("lit", Quantity(Decimal(value), unit))
        return ("lit", value)


def parse(text: str) -> tuple[Any, ...]:
    parser = _Parser(text)
    tree = parser.expression()
    kind, rest = parser.peek()
    if kind != "eof":
        raise FHIRPathError(f"unexpected {rest!r} after the expression", "syntax")
    return tree
