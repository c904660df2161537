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
  name the fragment check cannot see: it names `gh`, not `.config/gh`), the path is checked
  as written out, from every directory the line may be in.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from ..parse import ParsedLine, Word
from ..parse.words import GLOB_CHARS
from .decision import Verdict
from .paths import PathChecker

# `for NAME in WORDS; do` (or a newline before `do`): the words, as written
_FOR_WORDS = re.compile(r"for\s+\w+\s+in\s+(.*?)\s*(?:;|\n)\s*do\b", re.DOTALL)
# `$f/rest`, `${f}rest`: a variable and plain text after it (double quotes taken out)
_VARIABLE_PATH = re.compile(r"\$(?:([A-Za-z_]\w*|[0-9@*])|\{([A-Za-z_]\w*|[0-9]+|[@*])\})([A-Za-z0-9_./:@%+,=-]*)")
_GLOB_WORD = re.compile(r"[A-Za-z0-9_./:@%+,=*?\[\]!-]*")
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")
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
    handed: list[tuple[str, int, str, Word]] = []  # (command text, line, variable or "", value)
    for number, arg in enumerate(positional):
        handed.append((f"${number} ({arg})", 1, str(number), Word(arg, arg)))
    for command in parsed.commands:
        for assignment in command.assignments:
            handed.append((command.text, command.line, assignment.name, assignment.value))
    for text, line, redirect in [(c.text, c.line, r) for c in parsed.commands for r in c.redirects] + \
            [(r.text, 1, r) for r in parsed.redirects]:
        if redirect.op == "<<<" and redirect.target is not None:
            handed.append((text, line, "", redirect.target))
        elif redirect.op == "<<":
            handed += [(text, line, "", word) for word in _heredoc_paths(redirect.text)]
    for name, text, line in parsed.assigned:
        matched = rematch_word(name, text)
        if matched is not None:  # `[[ WORD =~ RE ]]`
            handed.append((text + " ... ]]", line, name, Word(f"({matched})", None, "array")))
            continue
        listed = _FOR_WORDS.match(text)
        if listed:
            handed.append((text, line, name, Word(f"({listed.group(1)})", None, "array")))
    if not handed and not environment:
        return []
    verdicts = []
    given: dict[str, list[str]] = {}  # each variable's values in this line, as paths
    for text, line, name, word in handed:
        values = _value_words(word, home)
        for value in values:
            problem = paths.check_read_word(value, cwds, cd_real)
            if problem:
                verdicts.append(Verdict(command=text, decision="deny", rule="read-roots", line=line,
                                        reason=f"{'gives a variable' if name else 'hands on'} {word.text}: {problem}",
                                        hint=_HINT))
                break
        if name:
            given.setdefault(name, []).extend(_as_paths(values, cwds, home, paths))
    for number in range(1, len(positional)):  # "$@" and "$*" are each of $1 ...
        for every in ("@", "*"):
            given.setdefault(every, []).extend(given.get(str(number), ()))
    # (HOME and PWD as the path checks know them are theirs already: paths.known_variable_paths)
    known = {"HOME": (paths.home,), "PWD": cwds}
    inherited = {name: value for name, value in (environment or {}).items()
                 if "/" in value and value not in known.get(name, ())}
    for name, value in inherited.items():  # checked where the line reads it, not where it is passed
        given.setdefault(name, []).append(value)
    if given:
        verdicts += _uses(parsed, given, cwds, cd_real, paths, alone=frozenset(inherited))
    return verdicts


def rematch_word(name: str, text: str) -> str | None:
    """The WORD of a `[[ WORD =~ RE ]]` entry of ParsedLine.assigned (the walker's note that
    bash sets BASH_REMATCH from it), None for any other entry."""
    return text[3:-3] if name == "BASH_REMATCH" and text[:3] == "[[ " and text[-3:] == " =~" else None


def _uses(parsed: ParsedLine, given: dict[str, list[str]], cwds: list[str], cd_real: dict[str, str],
          paths: PathChecker, alone: frozenset[str] = frozenset()) -> list[Verdict]:
    """Where a variable the line gave a value is read with more after it, the path written out;
    the variables in `alone` (whose values were not checked where given) also by themselves."""
    read = [(c.text, c.line, [*c.argv[1:], *(r.target for r in c.redirects if r.op == "<" and r.target)])
            for c in parsed.commands]
    read += [(r.text, 1, [r.target]) for r in parsed.redirects if r.op == "<" and r.target]
    verdicts = []
    for text, line, words in read:
        for word in words:
            if word.value is not None or "'" in word.text:
                continue
            match = _VARIABLE_PATH.fullmatch(word.text.replace('"', ""))
            if match is None:
                continue
            name = match.group(1) or match.group(2)
            if not match.group(3) and name not in alone:
                continue  # `$f` alone: its value was checked where given
            for value in given.get(name, ()):
                path = value + match.group(3)
                # unquoted, a glob in the value matches at use (`d=~/.con?ig; cat $d/gh/x`)
                glob = any(c in path for c in GLOB_CHARS) and '"' not in word.text
                problem = paths.check_read_word(Word(path, None, "glob") if glob else Word(path, path), cwds, cd_real)
                if problem:
                    verdicts.append(Verdict(command=text, decision="deny", rule="read-roots", line=line,
                                            reason=f"{word.text}: {problem}"))
                    break
    return verdicts


def _as_paths(values: list[Word], cwds: list[str], home: str, paths: PathChecker) -> list[str]:
    """Static values, and `$HOME/...`, `"$PWD"/..`, `~/.con?ig`, `~+/..` written out."""
    found: list[str] = []
    for v in values:
        text = v.text
        if v.value is not None:
            found.append(v.value)
        elif (text == "~" or text[:2] == "~/") and _GLOB_WORD.fullmatch(text[1:]):
            found.append(home + text[1:])
        elif text[:2] in ("~+", "~-") and _GLOB_WORD.fullmatch(text[2:]):
            found += [c + text[2:] for c in cwds]
        else:
            found += paths.known_variable_paths(text, cwds)
    return found


def _value_words(word: Word, home: str) -> list[Word]:
    """The words a value hands on, each checkable as a path: an array's or a for loop's
    elements one by one, `~/...` with HOME put in (bash expands it in an assignment too)."""
    if word.why_dynamic != "array":
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
    for text in texts:
        if (text == "~" or text.startswith("~/")) and _PLAIN_WORD.fullmatch(text[1:]):
            plain.append(Word(text, home + text[1:]))
        elif _PLAIN_WORD.fullmatch(text) and word.why_dynamic == "array":
            plain.append(Word(text, text))
        else:
            glob = any(c in text for c in GLOB_CHARS) and not any(c in text for c in "$`'\"\\{~")
            plain.append(Word(text, None, "glob" if glob else word.why_dynamic or "expansion"))
    return plain


def _heredoc_paths(text: str) -> list[Word]:
    """The words of a here-document's body that may be paths (those with a `/`), and each
    whole line that has one: `xargs cat <<EOF`, `while read -r f; do cat "$f"; done <<EOF`
    and `read -r f <<EOF` read the names a body lists (`/home/u/.ssh/id_rsa` printed the key).
    A word with an expansion (in an unquoted body) is only known at run time."""
    head, _, rest = text.partition("\n")
    body = rest.rpartition("\n")[0]  # without the delimiter's line
    if "/" not in body:
        return []
    quoted = any(q in head for q in "'\"\\")
    words = []
    for line in body.split("\n"):
        for piece in dict.fromkeys([line.strip(), *line.split()]):
            if "/" in piece:
                literal = quoted or not any(c in piece for c in "$`\\")
                words.append(Word(piece, piece if literal else None, "" if literal else "expansion"))
    return words
