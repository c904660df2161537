"""A fast path for the plainest lines: simple commands of literal words joined by `|`, `&&`,
`||` and `;`, with trailing redirections.

Most agent lines (`git status`, `ls -la | head -n 20`, `cd src && make test 2>&1 | tail`)
are made of nothing else, and walking tree-sitter's tree for them in Python costs far
more than deciding them.  This scanner accepts only a small, closed subset of the shell
and hands back exactly the ParsedLine the tree walker would (tests compare the two on
the test corpora and on thousands of generated lines); anything outside the subset,
however harmless, returns None and goes to tree-sitter.  It never refuses a line itself,
so it cannot make a decision stricter or looser: at worst it declines.

The subset, in ASCII only, one line:
- a word is a run of plain characters ``A-Za-z0-9_./:+,=-`` (and ``~`` inside an unquoted
  word, never first or after ``=`` or ``:``: ``HEAD~1``), single-quoted text
  without control characters, and double-quoted text without ``$``, backquote,
  backslash or ``!``, glued together (``--include='*.py'``); no glob, tilde expansion, brace,
  ``$``, backslash or ``#`` outside quotes;
- the first word of a command is plain (no quotes) and neither a shell keyword, a
  declaration builtin (``export``, ``local`` ...) nor an assignment (no ``=``);
- after the words, redirections ``>``, ``>>``, ``<`` with a word, ``>&N``, each with an
  optional single-digit descriptor (``2>&1``, ``2>/dev/null``);
- commands separated by ``|``, ``&&``, ``||``, ``;`` (not a trailing one, not ``&``).
"""

from __future__ import annotations

import re

from .model import ParsedLine, Redirect, SimpleCommand, Word

# Words tree-sitter gives a meaning of their own in command position, and builtins it
# parses as declarations: all left to the tree walker.
_NOT_A_NAME = frozenset({
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done",
    "in", "function", "time", "coproc", "declare", "typeset", "export", "readonly", "local", "unset",
    "unsetenv",
})

# The subset as regular expressions, so that a line is scanned by re's C loop, one match per
# command, instead of a Python loop per character (~0.1 µs a word instead of ~1 µs;
# tests/test_parse_plain_scan.py holds the scanner to the character-by-character one it
# replaced).  Every repetition is possessive (`++`, `*+`): a word ends where the old scanner's
# greedy loop ended it, and a line that fails cannot make re backtrack through the ways of
# splitting a long run.
# A word: plain runs, '...' (0x20-0x7E but the quote) and "..." (0x20-0x7E but " $ \ ` !), glued.
_PIECES = r"""(?:[A-Za-z0-9_./:+,=~-]++|'[ -&(-~]*+'|"[ #%-\[\]-_a-~]*+")++"""
_NOT_A_LONE_DASH = r"(?!-(?![^ \t|&;<>]))"  # tree-sitter drops a lone `-` in some places
# A word in argv must end at a blank, an operator or the end: one glued to `<` or `>` is
# declined (`-n2>&1`: tree-sitter splits such words its own way), and so is `12>x` (the
# word `12` ends at `>`, and a descriptor has one digit here).  A command name has no quote
# and no `=`: a name glued to either is declined the same way.
_ARGUMENTS = (rf"{_NOT_A_LONE_DASH}[A-Za-z0-9_./:+,~-]++(?=[ \t|&;]|\Z)"
              rf"(?:[ \t]++{_NOT_A_LONE_DASH}{_PIECES}(?=[ \t|&;]|\Z))*+")


def _redirect(group: str) -> str:
    """A redirection: `>&N` ends at a blank, `|`, `;` or the end; `>`, `>>`, `<` take a word
    that may be glued to the next redirection (`>a 2>&1`, `>a>b`), but not `>|`, `>&`, `<<`,
    `<>`, `>(` ...  group is `(` to capture `>&`, the other operator and the word, `(?:` not to:
    re in Python 3.11 raises SystemError on a capturing group inside a possessive repetition
    (CPython issue 101955), as in _COMMAND's group 2."""
    return (rf"[0-9]?+(?:{group}>&)[0-9](?=[ \t|;]|\Z)"
            rf"|{group}>>|[<>])(?![|&<>(])[ \t]*+{group}{_NOT_A_LONE_DASH}{_PIECES})(?=[ \t|&;<>]|\Z))")


# One command: its words (group 1), its redirections (group 2), blanks, then an operator
# (`&&`, `||`, or a `|` or `;` not followed by `&`, `|`, `;`) or the end.
_COMMAND = re.compile(rf"[ \t]*+({_ARGUMENTS})((?:[ \t]*+{_redirect('(?:')})*+)[ \t]*+"
                      r"(?:(&&|\|\||[|;](?![&|;]))|\Z)")
_REDIRECTS = re.compile(rf"[ \t]*+({_redirect('(')})")  # in group 2 of a _COMMAND match: (text, `>&`, op, word)
_WORDS = re.compile(_PIECES)  # in group 1 of a _COMMAND match, with quotes
_QUOTED = re.compile(r"""'([^']*)'|"([^"]*)\"""")
# The model's tuples are built with tuple.__new__ and every field given, not through the
# NamedTuple constructors, whose generated Python __new__ costs ~0.3 µs a call (a Word each
# word).  A field added to the model makes these differ from the walker's and the oracle's
# and fails tests/test_parse_plain*.py.
_new = tuple.__new__


def parse_plain(source: str) -> ParsedLine | None:
    """The ParsedLine of a line in the plain subset; None for any other line."""
    if not source.isascii() or "\n" in source:
        return None
    # The scanner accepts `$`, backquote, backslash and `!` only inside single quotes (and a
    # newline nowhere): a line with one of them and no single quote is declined before any
    # scanning. Four `in` tests: ~0.06 µs.
    if "'" not in source and ("$" in source or "`" in source or "\\" in source or "!" in source):
        return None
    return _scan_bare(source) or _scan(source)


# The commonest lines of all: words and operators, each one blank apart (`git status`,
# `git diff HEAD~1 -- src/ | head -n 100`, `sed -n '1,40p' src/app.py`).  One simple regular
# expression says a line is one (a word's pieces as in _PIECES, but no blank inside quotes),
# and str.split gives its words (a command's text is then its words joined by a blank);
# _COMMAND's larger program, run once a command, costs more than that.
_BARE_WORD = r"""(?:[A-Za-z0-9_./:+,=~-]++|'[!-&(-~]*+'|"[#%-\[\]-_a-~]*+")++"""
_BARE_LINE = re.compile(rf"{_BARE_WORD}(?: (?:{_BARE_WORD}|&&|\|\||[|;]))*+")
_OPERATORS = frozenset({"|", "&&", "||", ";"})


def _scan_bare(source: str) -> ParsedLine | None:
    """_scan's ParsedLine for a line of words and operators one blank apart; None for any other
    line, and for the few it leaves to _scan (a lone `-`, a name with `=` or a quote or one of
    _NOT_A_NAME, a tilde that may expand or with quotes in the line, an operator with no command
    after it): _scan answers for those."""
    if _BARE_LINE.fullmatch(source) is None:
        return None
    quoted = "'" in source or '"' in source
    if "~" in source and (quoted or _expanding_tilde(source)):
        return None
    if "|" not in source and "&" not in source and ";" not in source:
        command = _bare_command(source.split(" "), source, quoted)  # one command: the whole line
        return None if command is None else _new(ParsedLine, (source, (command,), (), (), (), ()))
    commands: list[SimpleCommand] = []
    words: list[str] = []
    for token in (*source.split(" "), ";"):  # (the last command ends as if an operator followed)
        if token not in _OPERATORS:
            words.append(token)
            continue
        found = _bare_command(words, " ".join(words), quoted) if words else None
        if found is None:
            return None
        commands.append(found)
        words = []
    return _new(ParsedLine, (source, tuple(commands), (), (), (), ()))


def _bare_command(words: list[str], text: str, quoted: bool) -> SimpleCommand | None:
    """One command of _scan_bare's line, as _scan makes it; None where _scan declines it."""
    if words[0] in _NOT_A_NAME or "=" in words[0] or "-" in words:
        return None
    if quoted and ("'" in text or '"' in text):  # as _scan: values without their quotes
        if "'" in words[0] or '"' in words[0]:
            return None
        argv = tuple([_new(Word, (word, _value(word), "", "")) for word in words])
    else:
        argv = tuple([_new(Word, (word, word, "", "")) for word in words])
    return _new(SimpleCommand, (argv, (), (), text, 1, False))


def _scan(source: str) -> ParsedLine | None:
    """parse_plain's scanner: one _COMMAND match a command."""
    commands: list[SimpleCommand] = []
    redirects: list[Redirect] = []
    # A tilde that may expand (or that the walker treats as if it might) declines the line: one
    # starting a word, after `=` or `:`, or in a word with a quote.  Without quotes, a word starts
    # only at the start, after a blank or after `|&;<>`, so one search of the line finds them all
    # (`HEAD~1` lines are common); with quotes, each word is looked at.
    tilde = "~" in source
    if tilde and "'" not in source and '"' not in source:
        if _expanding_tilde(source):
            return None
        tilde = False
    match = _COMMAND.match
    pos = 0
    while True:
        found = match(source, pos)
        if found is None:
            return None
        text, redirections, operator = found.groups()
        if "'" in text or '"' in text:
            words = _WORDS.findall(text)
            argv = tuple([_new(Word, (word, _value(word), "", "")) for word in words])
        else:
            words = text.split()  # only plain characters and blanks
            argv = tuple([_new(Word, (word, word, "", "")) for word in words])
        if words[0] in _NOT_A_NAME or (tilde and any(map(_may_expand, words))):
            return None
        if redirections:
            for redirect_text, dup, op, target in _REDIRECTS.findall(redirections):
                if dup:
                    redirects.append(_new(Redirect, (dup, None, redirect_text)))
                elif tilde and _may_expand(target):
                    return None
                else:
                    redirects.append(_new(Redirect, (op, _new(Word, (target, _value(target), "", "")), redirect_text)))
        commands.append(_new(SimpleCommand, (argv, (), (), text, 1, False)))
        if operator is None:
            return _new(ParsedLine, (source, tuple(commands), tuple(redirects), (), (), ()))
        pos = found.end()


def _value(word: str) -> str:
    """A word's value: its text with the quotes of each quoted part removed.  A quote of one
    kind only is always a delimiter (neither kind of quoted text holds its own quote); with
    both, a `'` may sit inside "..." (`"it's"`), so the parts are told apart by _QUOTED."""
    if '"' not in word:
        return word.replace("'", "")
    if "'" not in word:
        return word.replace('"', "")
    return _QUOTED.sub(_unquote, word)


def _unquote(quoted: re.Match[str]) -> str:
    return quoted[1] if quoted[1] is not None else quoted[2]


def _expanding_tilde(source: str) -> bool:
    """Is a `~` of the line (one without quotes) at its start or after a blank, `|&;<>`, `=` or
    `:`?  The regular expression `(?:^|[ \t|&;<>=:])~` says the same, but tries its alternation
    at every character (~1 µs a line); str.find goes from tilde to tilde (~0.4 µs)."""
    i = source.find("~")
    while i >= 0:
        if i == 0 or source[i - 1] in " \t|&;<>=:":
            return True
        i = source.find("~", i + 1)
    return False


def _may_expand(word: str) -> bool:
    """A tilde that may expand (or that the walker treats as if it might)."""
    return "~" in word and (word[0] == "~" or "=~" in word or ":~" in word or "'" in word or '"' in word)
