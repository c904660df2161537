"""Every value a word may have, written out from the values the line gives its variables.

The path checks see a word's text; a word that uses a variable the line gave a value is
a path only bash writes out.  Found in guardrail mode, each printing ~/.ssh/id_rsa with
`x=/root/.ss` (or `/root/.SSH/id_rsa`, `/root/.sshX/id_rsa`) given first:
`cat "${x,,}"`, `cat ${x/X/}`, `cat $x$y/id_rsa` (y=h), `cat "$x"'h/id_rsa'`,
`cat $x\\h/id_rsa`, `g=$x; cat ${g}h/id_rsa`, `cat ${x:+/root/.ss}h/id_rsa`.

`spell` follows quotes, escapes, `~`, `$name`, `${name}` and bash's operators on a value
whose result the check can compute: defaults and alternatives, the length, case changes
without a pattern, `@U @u @L @Q`, literal substitution, literal or numeric substrings, and
prefix and suffix removal (by a glob pattern too: then every prefix or suffix is a
candidate, which holds whatever the pattern matches).  What it cannot compute exactly
raises CannotFollow, so that a caller can refuse rather than guess; a value known only at
run time (a command substitution, a variable set by `read`) makes it return None: those
words keep the checks of run-time words (the fragment check, confined mode's Landlock).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ..parse.words import GLOB_CHARS, WordError, ansi_c

SPLIT = "\0"  # no value holds a NUL: bash cannot pass one
_BLANKS = str.maketrans({" ": SPLIT, "\t": SPLIT, "\n": SPLIT})
# How many values a word may have before the check gives up (`$a$b$c` with 10 values each)
LIMIT = 256

# A variable's name, or a special parameter
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|[0-9]+|[@*#?$!-]")
# `$x`, `${x...}`, `${#x}`, `${!x}`: the name a word's text mentions
_MENTION = re.compile(r"\$\{?[#!]?([A-Za-z_][A-Za-z_0-9]*|[0-9]+|[@*])")
# A name may hold lower-case letters only if a user set it: bash's own are upper case.
_USER_NAME = re.compile(r"[A-Za-z_0-9]*[a-z][A-Za-z_0-9]*")
# `{a,b}`, `{1..3}` (not `${...}`), quoted or not: the check does not expand them
_BRACES = re.compile(r"(?<!\$)\{[^{}]*(?:,|\.\.)[^{}]*\}")
_ARITHMETIC_NAME = re.compile(r"\s*\$?([A-Za-z_][A-Za-z_0-9]*)\s*")  # `i` or `$i` in `${s:i:2}`
_NUMBER = re.compile(r"\s*(-?\s*[0-9]+)\s*")
_CASE = {"^^": str.upper, ",,": str.lower, "~~": str.swapcase, "@U": str.upper, "@L": str.lower,
         "^": lambda v: v[:1].upper() + v[1:], ",": lambda v: v[:1].lower() + v[1:],
         "~": lambda v: v[:1].swapcase() + v[1:], "@u": lambda v: v[:1].upper() + v[1:]}


class CannotFollow(ValueError):
    """The word transforms a known value in a way the check does not compute."""


class Spelling(NamedTuple):
    """`values`: each value the word may have; where bash splits an unquoted expansion into
    fields (at blanks in its value), the value holds SPLIT instead of those blanks."""

    values: tuple[str, ...]
    unquoted: bool  # some expansion is unquoted: bash splits it into fields and globs them

    def fields(self, value: str) -> list[str]:
        """The words bash makes of one of the values."""
        return [f for f in value.split(SPLIT) if f] if SPLIT in value else [value]


class _RunTime(Exception):
    """A part of the word is known only at run time."""


def names_in(text: str) -> set[str]:
    """The variables a word's text mentions (`$x`, `${x...}`, `${#x}`), roughly: for
    choosing the words worth spelling."""
    return {m.group(1) for m in _MENTION.finditer(text)}


def spell(text: str, variables: Mapping[str, Sequence[str] | None], home: str,
          cwds: Sequence[str] = (), *, split: bool = True) -> Spelling | None:
    """The values of the word `text` (as written in the line), or None if a part of it is
    known only at run time.  `variables`: each name's possible values (None: set at run
    time); a name not in it is unset, unless bash may have set it (upper case, `$$`).
    `split`: a command's word, whose unquoted expansions bash splits (not an assignment's)."""
    if _BRACES.search(text):
        raise CannotFollow("a brace expansion")  # bash makes several words of it first
    speller = _Speller(variables, home, cwds)
    try:
        values = speller.word(text, quoted=False, top=split)
    except _RunTime:
        return None
    except WordError as err:
        raise CannotFollow(str(err)) from None
    return Spelling(tuple(values), speller.unquoted)


class _Speller:
    def __init__(self, variables: Mapping[str, Sequence[str] | None], home: str, cwds: Sequence[str]) -> None:
        self.variables = variables
        self.home = home
        self.cwds = list(cwds)
        self.unquoted = False
        self.set_here: dict[str, list[str]] = {}  # `${u=WORD}` gives u WORD's values for the rest
        self.splitting = False  # in an unquoted expansion of the word itself: blanks are SPLIT

    def word(self, text: str, quoted: bool, operand: bool = False, top: bool = False) -> list[str]:
        """`quoted`: the text is inside double quotes (the operand of `"${x-...}"`), where
        single quotes are plain characters; `operand`: the text is the operand of a `${...}`,
        where bash decodes `$'...'` even inside double quotes."""
        values = [""]
        i, n = 0, len(text)
        if not quoted and text[:1] == "~":
            i, values = self._tilde(text)
        while i < n:
            ch = text[i]
            if ch == "'" and not quoted:
                end = _find(text, "'", i + 1)
                parts, i = [text[i + 1:end]], end + 1
            elif ch == '"':
                end = _double_quote_end(text, i + 1)
                parts, i = self.word(text[i + 1:end], True, operand), end + 1
            elif ch == "\\":
                nxt = text[i + 1:i + 2]
                if quoted and nxt not in ('$', '`', '"', "\\", "\n"):
                    parts = ["\\"]
                    i += 1
                else:
                    parts = ["" if nxt == "\n" else nxt]
                    i += 2
            elif ch == "$":
                # in the word itself, unquoted, bash splits what the expansion makes at blanks
                splitting = self.splitting
                self.splitting = splitting or (top and not quoted)
                parts, i = self._dollar(text, i, quoted, operand)
                self.splitting = splitting
            elif ch == "`":
                raise _RunTime
            else:
                j = i + 1
                while j < n and text[j] not in "'\"\\$`":
                    j += 1
                literal = text[i:j]
                if not quoted and any(c in literal for c in GLOB_CHARS):
                    self.unquoted = True
                if self.splitting and not quoted:  # an operand's unquoted text (`${x:+a b}`)
                    literal = literal.translate(_BLANKS)
                parts, i = [literal], j
            values = _join(values, parts)
        return values

    def _tilde(self, text: str) -> tuple[int, list[str]]:
        end = text.find("/")
        end = len(text) if end < 0 else end
        prefix = text[:end]
        if prefix == "~":
            return end, [self.home]
        if prefix == "~+":
            return end, self.cwds or [""]
        if prefix == "~-":
            return end, list(self.variables.get("OLDPWD") or ["", *self.cwds])
        raise _RunTime  # `~user`, `~+2`: the fragment check

    def _dollar(self, text: str, i: int, quoted: bool, operand: bool = False) -> tuple[list[str], int]:
        nxt = text[i + 1:i + 2]
        if nxt == "{":
            end = _brace_end(text, i + 2)
            return self._parameter(text[i + 2:end], quoted), end + 1
        if nxt == "(" or nxt == "[":
            raise _RunTime  # command substitution or arithmetic
        if nxt == "'" and quoted and operand:  # decoded, then expanded again: refused by the parser too
            raise CannotFollow("$'...' inside a double-quoted ${...}")
        if nxt == "'" and not quoted:
            end = _find(text, "'", i + 2)
            return [ansi_c(text[i + 2:end])], end + 1
        if nxt == '"' and not quoted:  # `$"..."`: a translated string, the same text here
            return [""], i + 1
        match = _NAME.match(text, i + 1)
        if match is None:
            return ["$"], i + 1
        name = match.group()
        if name[0].isdigit():
            name = name[0]  # `$10` is `${1}0`
        return self._values(name, quoted), i + 1 + len(name)

    def _values(self, name: str, quoted: bool) -> list[str]:
        if not quoted:
            self.unquoted = True
        if name in self.set_here:
            return self.set_here[name]
        if name in self.variables:
            values = self.variables[name]
            if values is None:
                raise _RunTime
            if self.splitting and not quoted:
                return [v.translate(_BLANKS) for v in values] or [""]
            return list(values) or [""]
        if (name.isdigit() and name != "0") or name in "@*" or _USER_NAME.fullmatch(name):
            return [""]  # unset: the environment is the one agentsh passed
        raise _RunTime  # bash's own ($BASH, $RANDOM, $$ ...) or one it passed on

    def _parameter(self, body: str, quoted: bool) -> list[str]:
        """`${...}`, its body without the braces."""
        if body[:1] == "!":
            raise _RunTime  # indirection is refused by the parser; `${!prefix*}` lists names
        if body[:1] == "#" and len(body) > 1:
            match = _NAME.fullmatch(body[1:].split("[")[0])
            if match:
                return sorted({str(len(v)) for v in self._values(match.group(), quoted)})
        match = _NAME.match(body)
        if match is None:
            raise CannotFollow(f"${{{body}}}")
        end = match.end()
        if body[end:end + 1] == "[":  # an array's element: any of its values
            close = body.find("]", end)
            if close < 0:
                raise CannotFollow(f"${{{body}}}")
            end = close + 1
        values = self._values(match.group(), quoted)
        rest = body[end:]
        if not rest:
            return values
        found = self._operator(rest, values, quoted, body)
        if rest[:1] == "=" or rest[:2] == ":=":
            self.set_here[match.group()] = found
        return found

    def _operator(self, rest: str, values: list[str], quoted: bool, body: str) -> list[str]:
        for op in (":-", ":=", ":?", ":+", "-", "=", "?", "+"):
            if rest.startswith(op):
                other = self.word(rest[len(op):], quoted, operand=True)
                if "+" in op:  # the operand if set (and non-empty), else nothing
                    return [*other, ""]
                return [*values, *other]
        for op in ("##", "#", "%%", "%"):
            if rest.startswith(op):
                return self._remove(op, rest[len(op):], values, quoted)
        if rest[:1] == "/":
            return self._substitute(rest[1:], values, quoted, body)
        if rest in _CASE:
            return [_CASE[rest](v) for v in values]
        if rest == "@Q":  # an unset variable quotes to nothing, an empty one to ''
            shown = ["'" + v.replace("'", "'\\''") + "'" for v in values]
            return shown + ([""] if "" in values else [])
        if rest[:1] == ":":
            return self._substring(rest[1:], values, body)
        raise CannotFollow(f"${{{body}}}")

    def _remove(self, op: str, pattern: str, values: list[str], quoted: bool) -> list[str]:
        literal = self._literal(pattern, quoted)
        found: list[str] = []
        for v in values:
            if literal is not None:
                found.append(v.removeprefix(literal) if op[0] == "#" else v.removesuffix(literal))
            elif op[0] == "#":  # a pattern: whatever it matches, the result is a suffix
                found += [v[k:] for k in range(len(v) + 1)]
            else:
                found += [v[:k] for k in range(len(v) + 1)]
        return found

    def _substitute(self, rest: str, values: list[str], quoted: bool, body: str) -> list[str]:
        mode = rest[:1] if rest[:1] in "/#%" else ""
        pattern, _, replacement = rest[len(mode):].partition("/")
        old = self._literal(pattern, quoted)
        new = self._literal(replacement, quoted)
        # `&` in the replacement: the matched text (bash 5.2); a value `#...` or `%...` as the
        # pattern anchors it, as if written
        if not old or new is None or "&" in replacement or (not mode and old[:1] in "#%"):
            raise CannotFollow(f"${{{body}}}")
        found = []
        for v in values:
            if mode == "/":
                found.append(v.replace(old, new))
            elif mode == "#":
                found.append(new + v[len(old):] if v.startswith(old) else v)
            elif mode == "%":
                found.append(v[:-len(old)] + new if v.endswith(old) else v)
            else:
                found.append(v.replace(old, new, 1))
        return found

    def _substring(self, rest: str, values: list[str], body: str) -> list[str]:
        """`${x:OFFSET}`, `${x:OFFSET:LENGTH}`: each a number or a variable (arithmetic:
        `${s:i:2}`) whose values are numbers."""
        offset, _, length = rest.partition(":")
        starts = self._numbers(offset, body)
        sizes: list[int | None] = [*self._numbers(length, body)] if length else [None]
        found = []
        for v in values:
            for start in starts:
                begin = start if start >= 0 else len(v) + start
                for size in sizes:
                    if begin < 0 or begin > len(v):
                        found.append("")
                    elif size is None:
                        found.append(v[begin:])
                    else:
                        found.append(v[begin:begin + size] if size >= 0 else v[begin:len(v) + size])
        return found

    def _numbers(self, expression: str, body: str) -> list[int]:
        number = _NUMBER.fullmatch(expression)
        if number:
            return [int(number.group(1).replace(" ", ""))]
        name = _ARITHMETIC_NAME.fullmatch(expression)
        known = self.variables.get(name.group(1)) if name else None
        if known and all(_NUMBER.fullmatch(v) for v in known):
            return [int(v.replace(" ", "")) for v in known]
        raise CannotFollow(f"${{{body}}}")

    def _literal(self, pattern: str, quoted: bool) -> str | None:
        """The pattern's one value if it matches only itself, else None: a glob character
        left unquoted, or any in a value (an expansion's value is a pattern too), several
        values, or single quotes inside double quotes (bash's reading of those varies)."""
        if (quoted and "'" in pattern) or not _all_quoted(pattern):
            return None
        before = self.unquoted
        try:
            values = self.word(pattern, quoted)
        finally:
            self.unquoted = before
        # a value's backslash escapes in a pattern, and with extglob on so do `@( !( +(`
        if len(values) != 1 or any(c in values[0] for c in "*?[\\()|"):
            return None
        return values[0]


def _join(values: list[str], parts: list[str]) -> list[str]:
    if len(values) * len(parts) > LIMIT:
        raise CannotFollow("too many values to write out")
    return [v + p for v in values for p in dict.fromkeys(parts)]


def _find(text: str, char: str, start: int) -> int:
    end = text.find(char, start)
    if end < 0:
        raise CannotFollow(f"an unclosed {char}")
    return end


def _double_quote_end(text: str, i: int) -> int:
    """The index of the `"` that closes a double-quoted part starting at i."""
    return _closing(text, i, '"')


def _brace_end(text: str, i: int) -> int:
    """The index of the `}` that closes a `${` whose body starts at i."""
    return _closing(text, i, "}")


def _closing(text: str, i: int, closer: str) -> int:
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
        elif ch == closer:
            return i
        elif ch == "'" and closer == "}":
            i = _find(text, "'", i + 1) + 1
        elif ch == '"' and closer == "}":
            i = _double_quote_end(text, i + 1) + 1
        elif ch == "$" and text[i + 1:i + 2] == "{":
            i = _brace_end(text, i + 2) + 1
        elif (ch == "$" and text[i + 1:i + 2] == "(") or ch == "`":
            raise _RunTime
        else:
            i += 1
    raise CannotFollow(f"an unclosed {'${' if closer == '}' else closer}")


def _all_quoted(pattern: str) -> bool:
    """No glob character of the pattern is outside quotes or unescaped."""
    i, n, quote = 0, len(pattern), ""
    while i < n:
        ch = pattern[i]
        if ch == "\\" and quote != "'":
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in GLOB_CHARS:
            return False
        i += 1
    return True
