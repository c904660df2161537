"""Paths a line hands to variables, and where it uses them.

A command's arguments are read-checked, but a path given to a variable was not:
`f=~/.ssh/id_rsa; cat $f`, `for f in ~/.ssh/id_rsa; do cat $f; done`, `a=(../.netrc)`,
`read -r f <<< ~/.aws/credentials; cat "$f"` (found by the policy fuzzer,
tests/policy_fuzz.py) and `[[ ~/.ssh/id_rsa =~ .* ]] && cat "$BASH_REMATCH"` printed the
file in guardrail mode, the word that read it naming no denied root.  So:

- every value a line hands on (an assignment, each element of an array or of a `for`
  loop's list, a here-string, the word a `[[ =~ ]]` test matches, the paths a
  here-document lists) is checked as a read where it is given;
- where such a variable is used with more after it (`f=~/.config; cat $f/gh/hosts.yml`, a
  name the fragment check cannot see: it names `gh`, not `.config/gh`), with another, or
  through bash's operators (`x=~/.SSH/id_rsa; cat "${x,,}"`), the word is written out with
  each value the line gave (spelling.py) and checked as a read, from every directory the
  line may be in; an operator the check does not compute is refused.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from ..parse import ParsedLine, Word
from ..parse.words import GLOB_CHARS
from .decision import Verdict
from .globs import brace_alternatives
from .paths import PathChecker
from .spelling import SPLIT, CannotFollow, Spelling, names_in, spell

# a variable alone: its values were checked where it was given
_ALONE = re.compile(r"\$([A-Za-z_]\w*|[0-9@*])|\$\{([A-Za-z_]\w*|[0-9]+|[@*])\}")
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")
# programs that read names from their standard input and open them, or hand them to a variable
_NAME_READERS = frozenset({"xargs", "read", "mapfile", "readarray", "parallel"})
_HINT = "a path in a denied root may not be handed on (to a variable, in a here-string or a here-document) either"


def handed_paths(parsed: ParsedLine, cwds: list[str], cd_real: dict[str, str], paths: PathChecker,
                 home: str, positional: tuple[str, ...] = (), environment: Mapping[str, str] | None = None
                 ) -> list[Verdict]:
    """Refusals for the paths the line hands to variables (see the module's text); `cwds`:
    every directory the line may be in, once the line is walked.  `positional`: the
    arguments after the line (`agentsh -c LINE ARG0 ARG...`), which bash makes $0, $1 ...:
    `agentsh -c 'cat "$1"' x ~/.ssh/id_rsa` printed the key.  `environment`: the variables
    the line starts with (passed by the profile): a read of one is checked as its value,
    alone too (`cat "$KUBECONFIG"` printed ~/.kube/config under kubectl-readonly)."""
    if not positional and not environment and not parsed.listed and not parsed.redirects \
            and "$" not in parsed.source:
        # Most lines: nothing handed on and nothing expanded, unless a command has an
        # assignment or a redirection (a here-string, a here-document) to look at below.
        for command in parsed.commands:
            if command.assignments or command.redirects:
                break
        else:
            return []
    handed = _handed(parsed, positional)
    reads = _expanding_reads(parsed) if "$" in parsed.source else []
    if not handed and not environment and not reads:
        return []
    verdicts = []
    # each variable's values in this line, as bash would write them out; None: set at run time
    variables: dict[str, list[str] | None] = {"HOME": [paths.home], "PWD": list(cwds), "OLDPWD": ["", *cwds]}
    variables.update((name, [value]) for name, value in (environment or {}).items() if name not in variables)
    given: set[str] = set()  # the names this line (or its arguments) gives values
    pending: list[tuple[str, int, str, Word]] = []  # values that use variables: written out below
    for text, line, name, word in handed:
        for value in _value_words(word, home):
            problem = _check_value(value, value.value, cwds, cd_real, paths)
            if problem:
                verdicts.append(_refusal(text, line, name, word, problem))
                break
            if name and (value.value is not None or value.why_dynamic == "glob"):
                _add(variables, given, name, value.shown())
            elif name or value.value is None:
                pending.append((text, line, name, value))
    refused = _write_out(pending, variables, given, home, cwds, cd_real, paths)
    if refused:
        return verdicts + [refused]
    for number in range(1, len(positional)):  # "$@" and "$*" are each of $1 ...
        for every in ("@", "*"):
            if str(number) in given:
                _add(variables, given, every, *(variables[str(number)] or ()))
    # a passed variable's value is checked where the line reads it, not where it is passed
    # (HOME and PWD as the path checks know them are theirs already: paths.known_variable_paths)
    inherited = {name for name, value in (environment or {}).items()
                 if "/" in value and name not in ("HOME", "PWD") and name not in given}
    verdicts += _uses(reads, variables, given, inherited, home, cwds, cd_real, paths)
    return verdicts


def _expanding_reads(parsed: ParsedLine) -> list[tuple[str, int, Word]]:
    """The words the line's commands read (arguments, `<` targets) that expand a variable."""
    reads = [(c.text, c.line, w) for c in parsed.commands
             for w in [*c.argv[1:], *(r.target for r in c.redirects if r.op == "<" and r.target)]]
    reads += [(r.text, 1, r.target) for r in parsed.redirects if r.op == "<" and r.target]
    return [(text, line, w) for text, line, w in reads if w.value is None and "$" in w.text and names_in(w.text)]


def _handed(parsed: ParsedLine, positional: tuple[str, ...]) -> list[tuple[str, int, str, Word]]:
    """Each value the line hands on: (command text, line, variable or "", value)."""
    handed: list[tuple[str, int, str, Word]] = []
    for number, arg in enumerate(positional):
        handed.append((f"${number} ({arg})", 1, str(number), Word(arg, arg)))
    for command in parsed.commands:
        for assignment in command.assignments:
            handed.append((command.text, command.line, assignment.name, assignment.value))
    every: bool | None = None  # whether a here-document's every word is a name: asked once, if any
    for text, line, redirects in [(c.text, c.line, c.redirects) for c in parsed.commands if c.redirects] + \
            [("", 1, parsed.redirects)]:  # here-documents are here (the parse hangs them on no command)
        for redirect in redirects:
            if redirect.op == "<<<" and redirect.target is not None:
                handed.append((text or redirect.text, line, "", redirect.target))
            elif redirect.op == "<<":
                every = _reads_names(parsed) if every is None else every
                handed += [(text or redirect.text, line, "", word) for word in _heredoc_paths(redirect.text, every)]
    for name, word, text, line in parsed.listed:  # `for NAME in WORDS`, `[[ WORD =~ RE ]]`
        handed.append((text, line, name, word))
    return handed


def _write_out(pending: list[tuple[str, int, str, Word]], variables: dict[str, list[str] | None], given: set[str],
               home: str, cwds: list[str], cd_real: dict[str, str], paths: PathChecker) -> Verdict | None:
    """Values that use variables (`g=$f`, `x=${y%.py}`, a here-string `<<< ${x,,}`), written
    out with what the line gave those (spelling.py), each checked as a read and added to its
    variable's values (a here-string's or here-document's to none); the first refusal.  A
    variable whose value is known only at run time gets None."""
    for _ in range(3):  # `g=$f`: a value may use another variable's, given later in the text
        changed = False
        for text, line, name, value in pending:
            try:
                spelled = spell(value.text, variables, home, cwds, split=False)
            except CannotFollow as err:
                if names_in(value.text) & given:
                    return _refusal(text, line, name, value, _cannot_follow(err))
                spelled = None
            if spelled is None:
                if name:
                    changed |= variables.get(name, ()) is not None and name not in given
                    variables[name] = variables[name] if name in given else None
                continue
            if not name:  # a here-string or here-document word: handed to a reader, not a variable
                problem = _check_spelled(Spelling(spelled.values, True), cwds, cd_real, paths)
                if problem:
                    return _refusal(text, line, name, value, problem)
                continue
            for written in spelled.values:
                if written not in (variables.get(name) or ()):
                    changed = True
                    problem = _check_spelled(Spelling((written,), True), cwds, cd_real, paths)  # split at use
                    if problem:
                        return _refusal(text, line, name, value, problem)
                    _add(variables, given, name, written)
        if not changed:
            break
    return None


def _add(variables: dict[str, list[str] | None], given: set[str], name: str, *values: str) -> None:
    known = variables.get(name) if name in given else None
    if name not in given:
        given.add(name)
    known = list(known or ())
    known += [v for v in values if v not in known]
    variables[name] = known


def _check_value(value: Word, written: str | None, cwds: list[str], cd_real: dict[str, str],
                 paths: PathChecker) -> str:
    """A handed value as a read; a static one with blanks also field by field (`x="a
    /root/.ssh/id_rsa"; cat $x` reads both)."""
    problem = paths.check_read_word(value, cwds, cd_real)
    if problem or written is None or not any(c in written for c in " \t\n"):
        return problem
    for field in written.split():
        problem = paths.check_read_word(Word(field, field), cwds, cd_real)
        if problem:
            return problem
    return ""


def _refusal(text: str, line: int, name: str, word: Word, problem: str) -> Verdict:
    return Verdict(command=text, decision="deny", rule="read-roots", line=line,
                   reason=f"{'gives a variable' if name else 'hands on'} {word.text}: {problem}", hint=_HINT)


def _cannot_follow(err: CannotFollow) -> str:
    return (f"it changes a value this line gives a variable in a way agentsh does not follow ({err}), "
            "so the path it reads is not known")


def _uses(reads: list[tuple[str, int, Word]], variables: dict[str, list[str] | None], given: set[str],
          inherited: set[str], home: str, cwds: list[str], cd_real: dict[str, str], paths: PathChecker
          ) -> list[Verdict]:
    """Each word the line reads with an expansion, written out (.spelling) with what the line
    gave its variables, the values agentsh knows (HOME, PWD, OLDPWD, what the profile
    passes) and the rest unset, and checked as a read: `cat $HOME/.s${HOME:0:0}sh/id_rsa` and
    `cat ~/.ss${u}h/id_rsa` read the key.  A given variable alone (`$f`, `"${f}"`) was checked
    where given.  What spell cannot follow is refused when it uses a value the line gave or
    agentsh knows (`inherited`: passed values that are paths), else left to the other checks."""
    known = given | inherited | {"HOME", "PWD", "OLDPWD"}
    verdicts = []
    for text, line, word in reads:
        alone = _ALONE.fullmatch(word.text.replace('"', ""))
        if alone and (alone.group(1) or alone.group(2)) in given:
            continue
        try:
            spelled = spell(word.text, variables, home, cwds)
        except CannotFollow as err:
            if names_in(word.text) & known:
                verdicts.append(Verdict(command=text, decision="deny", rule="read-roots", line=line,
                                        reason=f"{word.text}: {_cannot_follow(err)}", hint=_HINT))
            continue
        if spelled is None:
            continue
        problem = _check_spelled(spelled, cwds, cd_real, paths)
        if problem:
            verdicts.append(Verdict(command=text, decision="deny", rule="read-roots", line=line,
                                    reason=f"{word.text}: {problem}"))
    return verdicts


def _check_spelled(spelled: Spelling, cwds: list[str], cd_real: dict[str, str], paths: PathChecker) -> str:
    """Each value as a read, field by field as bash splits it (a value handed to a variable, which
    a later use may split: as it is, and at each blank), and as a glob."""
    for value in spelled.values:
        pieces = spelled.fields(value)
        if spelled.unquoted and SPLIT not in value and any(c in value for c in " \t\n"):
            pieces += value.split()
        for piece in pieces:
            # a glob in the value: matched at use unquoted, or where a `for` list or an array got it
            glob = any(c in piece for c in GLOB_CHARS)
            problem = paths.check_read_word(Word(piece, None, "glob") if glob else Word(piece, piece), cwds, cd_real)
            if problem:
                return problem
    return ""


def _value_words(word: Word, home: str) -> list[Word]:
    """The words a value hands on, each checkable as a path: an array's or a for loop's
    elements one by one, `~/...` with HOME put in (bash expands it in an assignment too)."""
    if word.why_dynamic == "brace expansion":  # `for d in ../{.config,x}`: each word it makes
        texts, plain = brace_alternatives(word.text), []
    elif word.why_dynamic != "array":
        texts = [word.text] if word.value is None else []
        plain = [word] if word.value is not None else []
    else:
        inner, plain = word.text[1:-1], []
        if not any(c in inner for c in "'\"\\$`#"):
            texts = inner.split()  # what shlex would make of it, ten times faster
        else:
            try:
                texts = shlex.split(inner, comments=True)
            except ValueError:  # an unbalanced quote: the fragment check on the whole text
                return [Word(word.text, None, "array")]
        texts = [alternative for text in texts for alternative in brace_alternatives(text)]
    for text in texts:
        if (text == "~" or text.startswith("~/")) and _PLAIN_WORD.fullmatch(text[1:]):
            plain.append(Word(text, home + text[1:]))
        elif _PLAIN_WORD.fullmatch(text) and word.why_dynamic in ("array", "brace expansion"):
            plain.append(Word(text, text))
        else:
            glob = any(c in text for c in GLOB_CHARS) and not any(c in text for c in "$`'\"\\{~")
            plain.append(Word(text, None, "glob" if glob else word.why_dynamic or "expansion"))
    return plain


def _reads_names(parsed: ParsedLine) -> bool:
    """Does the line run a reader of names (xargs, read, mapfile ...), which takes every word
    of a here-document as one, `/` or not?  (The parse does not say which command of the line
    a here-document feeds: a line with such a reader has all its here-documents read so.)"""
    for command in parsed.commands:
        name = command.name.value if command.name is not None else None
        if name is None or name.rsplit("/", 1)[-1] in _NAME_READERS:
            return True
    return False


def _heredoc_paths(text: str, every: bool = False) -> list[Word]:
    """The words of a here-document's body that may be paths (those with a `/`; `every` word
    for a reader of names), and each whole line that has one: `xargs cat <<EOF`, `while read
    -r f; do cat "$f"; done <<EOF` and `read -r f <<EOF` read the names a body lists
    (`/home/u/.ssh/id_rsa` printed the key; `cd ~ && xargs cat <<EOF` with `.netrc`: a name
    with no `/`).  Other commands' bodies (a commit message, a script) are checked for words
    with a `/` only: prose mentions names without reading them.  A word with an expansion (in
    an unquoted body) is only known at run time."""
    head, _, rest = text.partition("\n")
    body = rest.rpartition("\n")[0]  # without the delimiter's line
    if "/" not in body and not every:
        return []
    quoted = any(q in head for q in "'\"\\")
    words = []
    for line in body.split("\n"):
        for piece in dict.fromkeys([line.strip(), *line.split()]):
            if piece and ("/" in piece or every):
                literal = quoted or not any(c in piece for c in "$`\\")
                words.append(Word(piece, piece if literal else None, "" if literal else "expansion"))
    return words
