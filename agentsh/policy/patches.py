"""What `patch` writes: the files its patch names, read from the patch when the line is checked.

The files a patch changes are named inside it (`--- a/x`, `+++ b/x`, `Index:`, git's `diff
--git`, `rename to`), not on the command line: `patch -p1 < evil.diff` with `+++
b/.git/hooks/pre-commit` wrote a hook, which git runs at the next commit, in both modes
(Landlock leaves `write.deny` holes to the static check).  So the patch is read at check
time (a file up to MAX_PATCH_BYTES, or a here-document that does not expand), and every name
it holds, with each number of leading components `-p` could strip (or the one `-p N`
given), from the `-d` directory, and the backup names `-B`, `-Y` and `-z` make of it, must
pass the write check.  A patch that cannot be read before it runs (from a pipe, from
agentsh's own stdin, a file the line makes first) is refused.  A git diff that creates a
symbolic link (mode 120000) makes this a command that makes a link (links.py).
"""

from __future__ import annotations

import os
import stat

from ..parse import ParsedLine, SimpleCommand, Word
from ..parse.stdin import Stdin, stdin_of
from .paths import PathChecker
from .realpaths import resolve

MAX_PATCH_BYTES = 16 << 20
_VALUE_LETTERS = frozenset("BDFVYdgiopxrz")  # GNU patch's short options that take a value
_LONG_VALUES = ("--prefix", "--ifdef", "--fuzz", "--version-control", "--basename-prefix", "--directory",
                "--get", "--input", "--output", "--strip", "--reject-file", "--suffix", "--quoting-style",
                "--reject-format", "--read-only", "--debug")
_SHORT_OF = {"--prefix": "-B", "--basename-prefix": "-Y", "--directory": "-d", "--input": "-i",
             "--strip": "-p", "--suffix": "-z"}
_NAME_MARKS = ("--- ", "+++ ", "*** ", "Index: ", "rename to ", "rename from ", "copy to ", "copy from ")
HINT = ("give patch a patch that exists when the line starts: `patch -p1 -i FILE`, `patch -p1 < FILE`, "
        "or a quoted here-document (<<'EOF')")


def stdin_with_value(parsed: ParsedLine, command: SimpleCommand) -> list[tuple[Stdin, str | None]]:
    """What `command` of the line (or each command written as it is) reads on stdin; for `<
    FILE`, FILE's value as the walker read it."""
    found = []
    for given in stdin_of(parsed.source, command.text, command.line):
        values = {r.target.value for r in (*parsed.redirects, *command.redirects)
                  if r.op == "<" and r.target is not None and r.target.text == given.text}
        found.append((given, values.pop() if given.kind == "file" and len(values) == 1 else None))
    return found


def check(args: tuple[Word, ...], cwds: list[str], paths: PathChecker,
          origin: tuple[ParsedLine, SimpleCommand] | None) -> tuple[str, str, bool]:
    """(why patch may not run with these arguments, or ""; a hint; whether its patch makes a link).

    `origin`: the line and the command of it that runs patch (directly or through wrappers),
    for what it reads on stdin; None when the line that set stdin up was checked before (an
    exec the guard decides)."""
    options, operands, dynamic = _read(args)
    if dynamic:
        return f"patch's argument {dynamic} is only known at run time, and so are the files it writes", HINT, False
    source = options.get("-i") or (operands[1] if len(operands) > 1 else None)
    if source is not None and source != "-":
        text, problem = _read_file(source, cwds)
    elif origin is None:
        return "", "", False
    else:
        texts = []
        for given, value in stdin_with_value(*origin):
            text, problem = _stdin_text(given, value, cwds)
            if text is None:
                break
            texts.append(text)
        text = "\n".join(texts) if text is not None else None
    if text is None:
        return f"patch writes the files its patch names, but {problem}", HINT, False
    names, makes_link = _names(text)
    strip = options.get("-p")
    directories = [resolve(options["-d"], cwd) for cwd in cwds] if "-d" in options else cwds
    for name in names:
        for stripped in _stripped(name, strip):
            for written in _written(stripped, options):
                for directory in directories:
                    problem = paths.write_problem(resolve(written, directory))
                    if problem:
                        return f"the patch names {name}: patch {problem}", "", makes_link
    return "", "", makes_link


def _stdin_text(given: Stdin, value: str | None, cwds: list[str]) -> tuple[str | None, str]:
    """The patch a command reads on stdin, or why it cannot be known before it runs."""
    if given.kind == "file":
        return _read_file(value, cwds) if value is not None else (None, f"its input {given.text} is only known at run time")
    if given.kind == "text":
        return given.text, ""
    where = {"pipe": "a pipe", "inherited": "agentsh's own input"}.get(given.kind, "an input it cannot see")
    return None, f"it reads the patch from {where}, which cannot be looked into before it runs"


def _read(args: tuple[Word, ...]) -> tuple[dict[str, str], list[str], str]:
    """patch's options (the ones this module needs, by short name), operands, and the first
    dynamic word, read the way getopt_long reads them."""
    options: dict[str, str] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        value = args[i].value
        if value is None:
            return options, operands, args[i].text
        if value == "--":
            for word in args[i + 1:]:
                if word.value is None:
                    return options, operands, word.text
                operands.append(word.value)
            break
        if value.startswith("--"):
            name, eq, rest = value.partition("=")
            full = [o for o in _LONG_VALUES if o.startswith(name)] if len(name) > 2 else []
            if len(full) == 1:
                if not eq:
                    i += 1
                    rest = args[i].value if i < len(args) else ""
                    if rest is None:
                        return options, operands, args[i].text
                if full[0] in _SHORT_OF:
                    options[_SHORT_OF[full[0]]] = rest
        elif value.startswith("-") and value != "-":
            for at, letter in enumerate(value[1:], start=2):
                if letter in _VALUE_LETTERS:
                    rest = value[at:]
                    if not rest:
                        i += 1
                        rest = args[i].value if i < len(args) else ""
                        if rest is None:
                            return options, operands, args[i].text
                    options["-" + letter] = rest
                    break
        else:
            operands.append(value)
        i += 1
    return options, operands, ""


def _read_file(value: str, cwds: list[str]) -> tuple[str | None, str]:
    """The patch file's text (the same file from every directory the line may be in), or why not."""
    texts = set()
    for cwd in cwds:
        path = resolve(value, cwd)
        try:
            # O_NONBLOCK: a FIFO named as the patch must not hang the check (it is refused below).
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            with open(fd, "rb") as patch:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None, f"{value} is not a regular file"
                data = patch.read(MAX_PATCH_BYTES + 1)
        except OSError as err:
            return None, f"{value} cannot be read now ({err.strerror}): a file the line makes is not looked into"
        if len(data) > MAX_PATCH_BYTES:
            return None, f"{value} is larger than {MAX_PATCH_BYTES >> 20} MB, too large to look into"
        texts.add(data.decode("utf-8", "surrogateescape"))
    return ("\n".join(texts), "") if texts else (None, "no directory")


def _names(text: str) -> tuple[list[str], bool]:
    """Every name the patch's headers may give patch, and whether it creates a symbolic link."""
    names: list[str] = []
    makes_link = False
    for line in text.splitlines():
        if line.startswith(_NAME_MARKS):
            rest = line.split(" ", 1)[1] if not line.startswith(("rename ", "copy ")) else line.split(" ", 2)[2]
            names.extend(_header_names(rest))
        elif line.startswith("diff --git "):
            names.extend(_git_header_names(line[11:]))
        elif line.endswith(" 120000"):
            makes_link = True  # git's mode of a symbolic link: `new file mode 120000`, `index a..b 120000`
    return [n for n in dict.fromkeys(names) if n and n != "/dev/null"], makes_link


def _header_names(rest: str) -> list[str]:
    """The name in the rest of a header line: up to a tab (a timestamp follows), and its first
    blank-separated piece too (patch's own reading differs by version); C-quoted names unquoted."""
    rest = rest.split("\t", 1)[0].rstrip()
    if rest.startswith('"'):
        return [_unquote(rest)]
    return [rest, rest.split(" ", 1)[0]]


def _git_header_names(rest: str) -> list[str]:
    """The names of `diff --git a/x b/y`: each C-quoted name, and every blank-separated piece
    of the unquoted text (git leaves names with blanks unquoted: all of them are looked at)."""
    names = [rest]
    while rest:
        if rest.startswith('"'):
            end = 1
            while end < len(rest) and rest[end] != '"':
                end += 2 if rest[end] == "\\" else 1
            names.append(_unquote(rest[:end + 1]))
            rest = rest[end + 1:].lstrip(" ")
        else:
            piece, _, rest = rest.partition(" ")
            names.append(piece)
    return names


def _unquote(quoted: str) -> str:
    """A C-quoted name as git writes one ("a/\\303\\251 x")."""
    out = bytearray()
    i = 1
    escapes = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, '"': 34}
    while i < len(quoted) and quoted[i] != '"':
        char = quoted[i]
        if char == "\\" and i + 1 < len(quoted):
            following = quoted[i + 1]
            if following in "01234567" and quoted[i + 1:i + 4].isdigit():
                out.append(int(quoted[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(escapes.get(following, ord(following) & 0xFF))
            i += 2
            continue
        out.extend(char.encode("utf-8", "surrogateescape"))
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _stripped(name: str, strip: str | None) -> list[str]:
    """The names `-p` makes of `name`: the one level given, else every level."""
    parts = [p for p in name.split("/") if p]
    if strip is not None and strip.isdigit():
        level = int(strip)
        return [name] if not level else ["/".join(parts[level:])] if level < len(parts) else []
    return [name] + ["/".join(parts[level:]) for level in range(1, len(parts))]


def _written(name: str, options: dict[str, str]) -> list[str]:
    """`name` and the backup names made of it: `-B PREFIX`, `-Y PREFIX` (before the base name),
    `-z SUFFIX`."""
    out = [name]
    if "-B" in options:
        out.append(options["-B"] + name)
    if "-Y" in options:
        head, tail = os.path.split(name)
        out.append(os.path.join(head, options["-Y"] + tail))
    if "-z" in options:
        out.append(name + options["-z"])
    return out
