"""Plain data produced by the shell parser and consumed by the policy engine."""

# No `from __future__ import annotations`: typing.NamedTuple compiles every string
# annotation at import (~4 ms over agentsh -c's models); tests/test_startup_imports.py.

from typing import NamedTuple


class Word(NamedTuple):
    """One shell word as bash would see it after quote removal.

    ``value`` is the word's exact value when it is a static string; it is ``None``
    when bash would compute it at run time (expansions, substitutions, globs,
    brace expansion).  ``why_dynamic`` says which.
    """

    text: str
    value: str | None
    why_dynamic: str = ""
    prefix: str = ""  # for a dynamic word, the static text it starts with (`--since=` of `--since=$(date)`)

    @property
    def is_static(self) -> bool:
        return self.value is not None

    def shown(self) -> str:
        return self.value if self.value is not None else self.text


class Assignment(NamedTuple):
    name: str
    value: Word
    append: bool = False


class Redirect(NamedTuple):
    """A redirection: ``op`` is the operator, ``target`` the file word (None for fd dups)."""

    op: str
    target: Word | None
    text: str

    @property
    def writes(self) -> bool:
        return self.op in {">", ">>", ">|", "&>", "&>>", "<>", ">&"}


class SimpleCommand(NamedTuple):
    """A command bash will run: assignments, then argv (argv may be empty)."""

    argv: tuple[Word, ...]
    assignments: tuple[Assignment, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    text: str = ""
    line: int = 1
    # True for `export x=1`-style declarations, which tree-sitter parses separately.
    declaration: bool = False

    @property
    def name(self) -> Word | None:
        return self.argv[0] if self.argv else None


class Problem(NamedTuple):
    """A piece of the line that is refused before any policy is consulted."""

    text: str
    reason: str
    line: int = 1


class ParsedLine(NamedTuple):
    source: str
    commands: tuple[SimpleCommand, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    problems: tuple[Problem, ...] = ()
    # Variables the line sets other than by NAME=value: `for NAME in`, `${NAME:=x}`,
    # arithmetic (`$((NAME=1))`, `((NAME++))`); (name, text, line) each.
    assigned: tuple[tuple[str, str, int], ...] = ()
    # Values bash hands a variable from a statement's words: each word of `for NAME in WORDS`,
    # and the WORD of `[[ WORD =~ RE ]]` (BASH_REMATCH); (name, word, text to show, line) each.
    listed: tuple[tuple[str, Word, str, int], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems
