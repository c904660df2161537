"""The files a patch names, read from the patch when the line is checked.

patch and `git apply` read, write, create, delete and rename the files a patch names (`---
a/x`, `+++ b/x`, `Index:`, git's `diff --git`, `rename from/to`, `copy from/to`), not the
ones the line names: `patch -p1 < evil.diff` with `+++ b/.git/hooks/pre-commit` planted a
hook in both modes (Landlock leaves `write.deny` holes to the static check), `patch -o - -p0
-i r.patch` with r.patch editing secrets/key printed it, and `git apply mv.patch && cat
leak` with a rename from secrets/key printed it too.  So the patch is read at check time:
the file the line names (`patch -i FILE`, `patch ORIG FILE`, `git apply FILE...`, up to
MAX_PATCH_BYTES, regular files only), else its stdin as bash sets it up (`< FILE`, a
here-document that does not expand).  Every name in it, with each number of leading
components `-p` could strip (or the one `-p N` given; git: 1), from where it applies (`-d`,
`--directory`; git: also the top of the work tree), is a read and a write target (the
backup names `-B`, `-Y` and `-z` make: suffixes.py).  A patch that cannot be read before it runs
(from a pipe, from agentsh's own stdin, a missing file or one the line writes first, a
dynamic name, one too big) is refused.  A git diff that creates a symbolic link (mode
120000) makes the command one that makes a link (links.py).
"""

from __future__ import annotations

import os
import re
import stat

from ..parse import ParsedLine, SimpleCommand, Word
from ..parse.stdin import Stdin, stdin_of
from .githazards import git_subcommand
from .paths import PathChecker
from .pathspecs import work_tree_top

MAX_PATCH_BYTES = 16 << 20
MAX_NAMES = 10000
# Header lines that name a file; `diff --git a/X b/Y` is read apart (two names in one line).
_NAMED = re.compile(r"^(?:--- |\+\+\+ |\*\*\* |Index: |rename from |rename to |copy from |copy to )(.+)$",
                    re.MULTILINE)
_GIT_HEADER = re.compile(r"^diff --git (.+)$", re.MULTILINE)
_CONTEXT_HUNK = re.compile(r"^[0-9]+(?:,[0-9]+)? (?:\*\*\*\*|----)$")  # `*** 1,3 ****`, `--- 1,3 ----`
_LINK_MODE = re.compile(r"^(?:new file mode|new mode|index \S+) 120000$", re.MULTILINE)  # git: a symbolic link
# GNU patch's options that take a value, as getopt_long reads them.
_VALUE_LETTERS = frozenset("BDFVYdgiopxrz")
_LONG_VALUES = ("--prefix", "--ifdef", "--fuzz", "--version-control", "--basename-prefix", "--directory",
                "--get", "--input", "--output", "--strip", "--reject-file", "--suffix", "--quoting-style",
                "--reject-format", "--read-only", "--debug")
_SHORT_OF = {"--directory": "-d", "--input": "-i", "--strip": "-p"}
_GIT_APPLY_VALUES = ("-C", "--include", "--exclude", "--whitespace", "--build-fake-ancestor")
HINT = ("give it a patch that exists when the line starts: `patch -p1 -i FILE`, `patch -p1 < FILE`, "
        "`git apply FILE`, or a quoted here-document (<<'EOF')")
# What patch or git apply was given: patch files (none, or `-`: stdin), -p (None: any), the
# directory names apply below, a dynamic word if any.
_Given = tuple[list[str], int | None, str, str]


def check(program: str, args: tuple[Word, ...], cwds: list[str], paths: PathChecker,
          origin: tuple[ParsedLine, SimpleCommand] | None,
          reals: dict[str, str] | None = None) -> tuple[str, str, bool]:
    """(why patch or `git apply` may not run with these arguments, or ""; a hint; whether
    the patch makes a symbolic link).

    `origin`: the line and the command of it that runs the program (directly or through
    wrappers), for what it reads on stdin; None when the line that set stdin up was checked
    before (an exec the guard decides)."""
    given = _patch_args(args) if program == "patch" else _git_apply_args(args)
    if given is None:
        return "", "", False  # git, but not `git apply`
    files, strip, directory, dynamic = given
    if dynamic:
        return (f"{program}'s argument {dynamic} is only known at run time, and so are the files its patch "
                "names", HINT, False)
    texts = []
    for name in files:
        if name == "-":
            continue
        text, problem = _read_file(name, cwds)
        if text is None:
            return f"{program} acts on the files its patch names, but {problem}", HINT, False
        texts.append(text)
    if (not files or "-" in files) and origin is not None:  # the patch comes on stdin
        for stdin, value in stdin_with_value(*origin):
            text, problem = _stdin_text(stdin, value, cwds)
            if text is None:
                return f"{program} acts on the files its patch names, but {problem}", HINT, False
            texts.append(text)
    text = "\n".join(texts)
    makes_link = _LINK_MODE.search(text) is not None
    bases = cwds + [top for top in map(work_tree_top, cwds) if top] if program == "git" else cwds
    places = list(dict.fromkeys(os.path.join(base, directory) if directory else base for base in bases))
    for name in patch_names(text):
        for stripped in _stripped(name, strip):
            word = Word(stripped, stripped)
            problem = paths.check_read_word(word, places, reals) or paths.check_write_word(word, places, reals)
            if problem:
                return f"the patch names {name}: {program} {problem}", "", makes_link
    return "", "", makes_link


def stdin_with_value(parsed: ParsedLine, command: SimpleCommand) -> list[tuple[Stdin, str | None]]:
    """What `command` of the line (or each command written as it is) reads on stdin; for `<
    FILE`, FILE's value as the walker read it."""
    found = []
    for given in stdin_of(parsed.source, command.text, command.line):
        values = {r.target.value for r in (*parsed.redirects, *command.redirects)
                  if r.op == "<" and r.target is not None and r.target.text == given.text}
        found.append((given, values.pop() if given.kind == "file" and len(values) == 1 else None))
    return found


def _stdin_text(given: Stdin, value: str | None, cwds: list[str]) -> tuple[str | None, str]:
    """The patch a command reads on stdin, or why it cannot be known before it runs."""
    if given.kind == "file":
        return _read_file(value, cwds) if value is not None else (None, f"its input {given.text} is only known "
                                                                       "at run time")
    if given.kind == "text":
        return given.text, ""
    where = {"pipe": "a pipe", "inherited": "agentsh's own input"}.get(given.kind, "an input it cannot see")
    return None, f"it reads the patch from {where}, which cannot be looked into before it runs"


def _read_file(value: str, cwds: list[str]) -> tuple[str | None, str]:
    """The patch file's text (the same file from every directory the line may be in), or why not."""
    texts = set()
    for cwd in cwds:
        path = os.path.join(cwd, value)
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


def patch_names(text: str) -> list[str]:
    """The file names a patch's headers give (as written, `a/`... included)."""
    names: list[str] = []
    for match in _NAMED.finditer(text):
        name = match.group(1).split("\t")[0].rstrip("\r")
        if not _CONTEXT_HUNK.match(name):
            names.append(_unquoted(name))
            names.append(name.split(" ", 1)[0])  # patch's own reading stops at a blank in some versions
    for match in _GIT_HEADER.finditer(text):
        names.extend(_git_header_names(match.group(1).rstrip("\r")))
    return [name for name in dict.fromkeys(names) if name and name != "/dev/null"][:MAX_NAMES]


def _git_header_names(rest: str) -> list[str]:
    """`a/X b/Y` (each possibly quoted): both, and, since names may hold blanks, every split."""
    if rest.startswith('"'):
        quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
        return [_unquoted(f'"{q}"') for q in quoted] + [part for part in rest.split(" ") if part]
    parts = rest.split(" ")
    return [" ".join(parts[:i]) for i in range(1, len(parts))] + [" ".join(parts[i:]) for i in range(1, len(parts))]


def _unquoted(name: str) -> str:
    """git's C-style quoting (`"a/\\303\\251"`) undone; other names as they are."""
    if len(name) < 2 or name[0] != '"' or name[-1] != '"':
        return name
    try:
        return name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
            "latin-1").decode("utf-8", "replace")
    except (UnicodeError, ValueError):
        return name[1:-1]


def _stripped(name: str, strip: int | None) -> list[str]:
    """The name after -p: exactly `strip` leading components when given, else every number of
    them (which one patch takes depends on the patch's format and its version)."""
    parts = [part for part in name.split("/") if part]
    if strip is not None:
        if not strip:
            return [name]
        return ["/".join(parts[strip:])] if len(parts) > strip else []
    return list(dict.fromkeys([name] + ["/".join(parts[i:]) for i in range(1, len(parts))]))


def _patch_args(args: tuple[Word, ...]) -> _Given:
    """GNU patch's patch file (`-i FILE`, or the second operand; none: stdin), -p and -d, read
    the way getopt_long reads them."""
    options: dict[str, str] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        value = args[i].value
        if value is None:
            return [], None, "", args[i].text
        i += 1
        if value == "--":
            for word in args[i:]:
                if word.value is None:
                    return [], None, "", word.text
                operands.append(word.value)
            break
        if value.startswith("--"):
            name, eq, rest = value.partition("=")
            full = [o for o in _LONG_VALUES if o.startswith(name)] if len(name) > 2 else []
            if len(full) == 1:
                if not eq and i < len(args):
                    rest = args[i].value
                    if rest is None:
                        return [], None, "", args[i].text
                    i += 1
                if full[0] in _SHORT_OF:
                    options[_SHORT_OF[full[0]]] = rest
        elif value.startswith("-") and value != "-":
            for at, letter in enumerate(value[1:], start=2):
                if letter in _VALUE_LETTERS:
                    rest = value[at:]
                    if not rest and i < len(args):
                        rest = args[i].value
                        if rest is None:
                            return [], None, "", args[i].text
                        i += 1
                    options["-" + letter] = rest
                    break
        else:
            operands.append(value)
    source = options.get("-i") or (operands[1] if len(operands) > 1 else "")
    strip = options.get("-p", "")
    return [source] if source else [], int(strip) if strip.isdigit() else None, options.get("-d", ""), ""


def _git_apply_args(args: tuple[Word, ...]) -> _Given | None:
    """`git apply`'s (or `git am`'s) patch files (none: stdin), its -p (1 unless given) and
    --directory; None for any other git command.  git's -C is the engine's: `cwds` are where git runs."""
    sub = git_subcommand(args)
    if sub is None or args[sub].value not in ("apply", "am"):  # am applies the patches of mailboxes
        return None
    files: list[str] = []
    strip: int | None = 1
    directory = ""
    rest = args[sub + 1:]
    i = 0
    while i < len(rest):
        value = rest[i].value
        i += 1
        if value is None:
            return [], None, "", rest[i - 1].text
        if not value.startswith("-"):
            files.append(value)
            continue
        name, eq, given = value.partition("=")
        if name in ("-p", "--directory") or (value.startswith("-p") and len(value) > 2):
            if value.startswith("-p") and len(name) > 2:
                given = value[2:]
            elif not eq and i < len(rest):
                given, i = rest[i].value or "", i + 1
            if name == "--directory":
                directory = given
            else:
                strip = int(given) if given.isdigit() else None
        elif name in _GIT_APPLY_VALUES and not eq:
            i += 1
    return files, strip, directory, ""
