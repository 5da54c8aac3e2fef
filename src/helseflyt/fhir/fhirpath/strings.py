"""String functions (https://hl7.org/fhirpath/N1/#string-manipulation)."""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from functools import lru_cache
from typing import Any

from . import ops
from .compiler import Ctx
from .functions import function
from .nodes import FHIRPathError

__all__: list[str] = []


def _string(focus: list[Any], fname: str) -> str | None:
    v = ops.singleton(focus, f"input of {fname}()")
    if v is None:
        return None
    if not isinstance(v, str):
        raise FHIRPathError(f"{fname}() needs a String input")
    return v


def _arg(coll: list[Any], fname: str) -> Any:
    return ops.singleton(coll, f"argument of {fname}()")


def _str_fn(name: str, nargs: int, body: Any) -> None:
    def impl(ctx: Ctx, focus: list[Any], *args: list[Any]) -> list[Any]:
        s = _string(focus, name)
        if s is None:
            return []
        values = [_arg(a, name) for a in args]
        if any(v is None for v in values):
            return []
        r = body(s, *values)
        return [] if r is None else [r]

    function(name, nargs)(impl)


@lru_cache(maxsize=256)
def _regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags | re.DOTALL)
    except re.error as exc:
        raise FHIRPathError(f"invalid regular expression: {exc}") from exc


def _substring(s: str, start: Any, length: Any = None) -> str | None:
    if not isinstance(start, int) or start < 0 or start >= len(s):
        return None
    if length is None:
        return s[start:]
    return s[start : start + max(length, 0)]


def _replace(s: str, pattern: str, substitution: str) -> str:
    if pattern == "":
        return substitution + substitution.join(s) + substitution
    return s.replace(pattern, substitution)


def _replace_matches(s: str, regex: str, substitution: str) -> str:
    if regex == "":
        return s
    repl = re.sub(r"\$(\d+)", r"\\g<\1>", substitution)
    return _regex(regex).sub(repl, s)


def _encode(s: str, fmt: str) -> str | None:
    data = s.encode()
    if fmt == "base64":
        return base64.b64encode(data).decode()
    if fmt == "urlbase64":
        return base64.urlsafe_b64encode(data).decode()
    if fmt == "hex":
        return data.hex()
    return None


def _decode(s: str, fmt: str) -> str | None:
    try:
        if fmt == "base64":
            return base64.b64decode(s).decode()
        if fmt == "urlbase64":
            return base64.urlsafe_b64decode(s).decode()
        if fmt == "hex":
            return bytes.fromhex(s).decode()
    except (binascii.Error, ValueError) as exc:
        raise FHIRPathError(f"cannot decode {fmt}: {exc}") from exc
    return None


def _escape(s: str, fmt: str) -> str | None:
    if fmt == "html":
        return html.escape(s, quote=True).replace("&#x27;", "&#39;")
    if fmt == "json":
        return json.dumps(s)[1:-1]
    return None


def _unescape(s: str, fmt: str) -> str | None:
    if fmt == "html":
        return html.unescape(s)
    if fmt == "json":
        return _JSON_ESCAPE.sub(_json_unescape_one, s)
    return None


_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
_JSON_CHARS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape_one(m: re.Match[str]) -> str:
    c = m.group(1)
    if c[0] == "u" and len(c) == 5:
        return chr(int(c[1:], 16))
    return _JSON_CHARS.get(c, c)


_str_fn("indexOf", 1, lambda s, sub: s.find(sub))
_str_fn("lastIndexOf", 1, lambda s, sub: s.rfind(sub))
_str_fn("startsWith", 1, lambda s, p: s.startswith(p))
_str_fn("endsWith", 1, lambda s, p: s.endswith(p))
_str_fn("upper", 0, str.upper)
_str_fn("lower", 0, str.lower)
_str_fn("replace", 2, _replace)
_str_fn("matches", 1, lambda s, r: _regex(r).search(s) is not None)
_str_fn("matchesFull", 1, lambda s, r: _regex(r).fullmatch(s) is not None)
_str_fn("replaceMatches", 2, _replace_matches)
_str_fn("length", 0, len)
_str_fn("encode", 1, _encode)
_str_fn("decode", 1, _decode)
_str_fn("escape", 1, _escape)
_str_fn("unescape", 1, _unescape)
_str_fn("trim", 0, str.strip)


@function("contains", 1)
def _contains(ctx: Ctx, focus: list[Any], sub: list[Any]) -> list[Any]:
    s = _string(focus, "contains")
    v = _arg(sub, "contains")
    if s is None or v is None:
        return []
    return [v in s]


@function("substring", (1, 2))
def _substring_fn(ctx: Ctx, focus: list[Any], start: list[Any], length: list[Any] | None = None) -> list[Any]:
    s = _string(focus, "substring")
    if s is None:
        return []
    b = _arg(start, "substring")
    if b is None:
        return []
    n = _arg(length, "substring") if length is not None else None
    r = _substring(s, b, n)
    return [] if r is None else [r]


@function("toChars")
def _to_chars(ctx: Ctx, focus: list[Any]) -> list[Any]:
    s = _string(focus, "toChars")
    return [] if s is None else list(s)


@function("split", 1)
def _split(ctx: Ctx, focus: list[Any], sep: list[Any]) -> list[Any]:
    s = _string(focus, "split")
    d = _arg(sep, "split")
    if s is None or d is None:
        return []
    return s.split(d) if d else list(s)


@function("join", (0, 1))
def _join(ctx: Ctx, focus: list[Any], sep: list[Any] | None = None) -> list[Any]:
    d = _arg(sep, "join") if sep is not None else ""
    values = [ops.singleton([x]) for x in focus]
    if any(not isinstance(v, str) for v in values):
        raise FHIRPathError("join() needs a collection of Strings")
    return [(d or "").join(values)]
