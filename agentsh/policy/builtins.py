"""Shell builtins that change how bash itself behaves, checked before any rule.

A rule can allow `echo` or `cd`; no rule can allow what would let a later part of
the line escape checking (eval, source, functions, traps, aliases...).
"""

from __future__ import annotations

import re
import sys
from fnmatch import fnmatchcase

from ..parse import Word
from ..profile import Profile

# Always refused, with the reason shown to the agent.
REFUSED: dict[str, str] = {
    "eval": "eval runs a string as shell code that was never checked",
    "source": "source runs a file as shell code that was never checked",
    ".": ". runs a file as shell code that was never checked",
    "exec": "exec replaces the shell and can rewire its file descriptors",
    "trap": "trap runs a string as shell code later",
    "enable": "enable can load builtins from shared libraries or turn builtins off",
    "builtin": "builtin bypasses command checking",
    "alias": "aliases change what later command names mean",
    "unalias": "aliases are not used",
    "hash": "hash -p would repoint a command name to another file",
    "let": "let evaluates its arguments as arithmetic, which can run code through array subscripts",
    "declare": "declare evaluates array subscripts and attributes as code",
    "typeset": "typeset evaluates array subscripts and attributes as code",
    "local": "local is only meaningful in functions, which are not allowed",
    "readonly": "readonly evaluates array subscripts as code",
    "fc": "fc re-runs commands from history without checking them",
    "history": "history can insert commands to be re-run",
    "bind": "bind -x runs shell code on key presses",
    "complete": "complete -C/-F runs code for completion",
    "compgen": "compgen -C/-F runs code",
    "compopt": "completion is not used",
    "caller": "only meaningful in functions",
    "return": "only meaningful in functions",
    "coproc": "coprocesses are not supported",
}
# `set` options that move assignments into the environment or change parsing.
_SET_REFUSED_LETTERS = {"k": "set -k puts assignments anywhere in a command into its environment",
                        "a": "set -a exports every later assignment",
                        "B": "set +B/-B changes brace expansion"}
_SET_REFUSED_NAMES = {"keyword", "allexport", "braceexpand", "posix", "history", "functrace",
                      "errtrace", "onecmd"}
# Not dotglob or nocaseglob: they change which names a glob matches (`*` would match
# `.ssh`, `.SS*` would too), and the read and write checks match globs against the denied
# roots as bash does by default (policy/paths.py).
_SHOPT_SAFE = {"nullglob", "failglob", "globstar", "nocasematch",
               "lastpipe", "inherit_errexit", "globasciiranges", "checkwinsize", "xpg_echo",
               "extquote", "expand_aliases_off"}


def builtin_problem(name: str, args: tuple[Word, ...], profile: Profile) -> str:
    """Why this builtin invocation is refused whatever the rules say; '' if it is not."""
    if name == "command":
        if args and args[0].value in ("-v", "-V"):
            return ""
        return "command bypasses command checking (only `command -v NAME` is allowed)"
    if name in REFUSED:
        return REFUSED[name]
    if name == "jobs" and any(w.value is None or (w.value[:1] == "-" and "x" in w.value) for w in args
                              if w.value != "--"):
        return "jobs -x runs a command"
    if name in ("mapfile", "readarray"):
        for word in args:
            text = word.value if word.value is not None else word.text
            if text.startswith("-") and ("C" in text or "c" in text):
                return f"{name} -C runs a callback as shell code"
    if name in _NAMING_OPTION and any(w.value is None for w in args):
        problem = _dynamic_option_problem(name, args, profile)
        if problem:
            return problem
    values = [w.value for w in args]
    for variable in _name_operands(name, args):
        if variable is None:
            return f"{name}: computed variable name"
        if "[" in variable:
            return f"{name}: array subscript in a variable name is evaluated as code"
        if name in ("read", "printf", "getopts", "mapfile", "readarray", "wait"):
            problem = shell_variable_problem(variable, profile)  # these assign the variable
            if problem:
                return problem
    if name == "set":
        return _set_problem(values)
    if name == "shopt":
        return _shopt_problem(values)
    if name == "export":
        return _export_problem(args, profile)
    if name == "unset":
        for word in args:
            if word.value is None:
                return "unset of a computed name"
            if word.value in dict(profile.env_set) or word.value == "PATH" or word.value.startswith("AGENTSH_"):
                return f"unset {word.value} would remove a value the profile or agentsh sets"
            if word.value in LOCALE_VARIABLES and not parse_safe_locale(""):
                # agentsh reads lines in a GBK-like charset: `unset LC_ALL` let bash fall back
                # to a UTF-8 LANG and read the next line otherwise than the checker did
                return _locale_problem(word.value)
    return ""


# Builtins with an option whose operand is a variable name, evaluated (its subscript too) or
# assigned: `test -v NAME`, `printf -v NAME`, `wait -p NAME`.
_NAMING_OPTION = {"test": "-v", "[": "-v", "printf": "-v", "wait": "-p"}


def _dynamic_option_problem(name: str, args: tuple[Word, ...], profile: Profile) -> str:
    """A word known only at run time may be the naming option itself: `o=-v; test $o 'a[$(cmd)]'`
    runs cmd, and an unquoted `$x` may split into both (`x='-v a[$(cmd)]'; [ $x -gt 1 ]`)."""
    option = _NAMING_OPTION[name]
    words = args
    if name in ("printf", "wait"):  # options only before the first operand (or `--`)
        end = next((i for i, w in enumerate(args) if w.value is not None and (w.value[:1] != "-" or w.value == "--")),
                   len(args))
        words = args[:end + 1]
    for i, word in enumerate(words):
        if word.value is not None or word.why_dynamic in ("number", "process substitution"):
            continue  # a known number (parse/bracket.py), or one /dev/fd/N path
        if not _one_word(word):
            if word.why_dynamic == "glob" and not fnmatchcase(option, word.text):
                continue  # the file names it expands to cannot be the option
            return (f"{name}: {word.text} may split into `{option} NAME[...]`, and bash evaluates the "
                    f"subscript of NAME as code; quote it (\"{word.text}\")")
        after = args[i + 1] if i + 1 < len(args) else None
        if after is None or not option.startswith(word.prefix):
            continue
        if after.value is None or "[" in after.value:
            return (f"{name}: {word.text} may be `{option}`, and bash would evaluate the subscript "
                    f"of the name after it as code")
        if name in ("printf", "wait"):  # they assign it: `printf "$o" PS4 '$(cmd)'`
            problem = shell_variable_problem(after.value, profile)
            if problem:
                return f"{name}: {word.text} may be `{option}`: {problem}"
    return ""


def _one_word(word: Word) -> bool:
    """Whether a dynamic word stays one word: a single double-quoted string (`"$x"`)."""
    text = word.text
    return len(text) > 1 and text[0] == '"' and text[-1] == '"' and '"' not in text[1:-1]


# Each builtin's options as bash's internal_getopt reads them (a letter before `:` takes a
# value: the rest of its word, `-vNAME`, or the next word), and the option whose value is a
# variable it assigns.  Option letters cluster: `wait -np NAME` and `printf -vNAME` name a
# variable as surely as `wait -p NAME`.
_GETOPT = {"read": "Eersa:d:i:n:p:t:u:N:", "wait": "fnp:", "printf": "v:", "mapfile": "d:u:n:O:tC:c:s:",
           "readarray": "d:u:n:O:tC:c:s:", "unset": "fnv", "export": "fnp"}
_NAMING_LETTER = {"read": "a", "wait": "p", "printf": "v"}


def _name_operands(name: str, args: tuple[Word, ...]) -> list[str | None]:
    """The variable names bash will assign or test (None: computed at run time)."""
    def name_of(word: Word) -> str | None:
        if word.value is not None:
            return word.value.split("=", 1)[0]
        head, eq, _ = word.text.partition("=")
        return head if eq and head.replace("_", "a").isalnum() else None

    if name in ("test", "["):  # not getopt: `-v` is a word of its own, anywhere
        return [name_of(args[i + 1]) for i in range(len(args) - 1) if args[i].value == "-v"]
    spec = _GETOPT.get(name)
    if spec is None:
        return [name_of(w) for w in args[1:2]] if name == "getopts" else []
    options, operands = _getopt(spec, args)
    letter = _NAMING_LETTER.get(name)
    named = [name_of(value) if value is not None else None for option, value in options if option == letter]
    if name in ("wait", "printf"):
        return named  # their operands are jobs, a format and its arguments: not names
    return [name_of(w) for w in operands] + named


def _getopt(spec: str, args: tuple[Word, ...]) -> tuple[list[tuple[str, Word | None]], tuple[Word, ...]]:
    """(letter, value) for each option and the operands after them, as internal_getopt splits
    args: options end at the first word that is not one (or a word only known at run time,
    which is then an operand) or after `--`."""
    options: list[tuple[str, Word | None]] = []
    i = 0
    while i < len(args):
        word = args[i].value
        if word is None or word == "-" or word[:1] != "-":
            break
        i += 1
        if word == "--":
            break
        for j in range(1, len(word)):
            at = spec.find(word[j])
            if at < 0 or spec[at + 1:at + 2] != ":":
                options.append((word[j], None))
                continue
            if j + 1 < len(word):  # `-vNAME`: the rest of the word is the value
                options.append((word[j], Word(word[j + 1:], word[j + 1:])))
            elif i < len(args):
                options.append((word[j], args[i]))
                i += 1
            break
    return options, args[i:]


def _set_problem(values: list[str | None]) -> str:
    names_due = 0  # option names still owed to the `o`s of a cluster: `-eo keyword` is `-e -o keyword`
    for value in values:
        if value is None:
            return "set with a computed option"
        if names_due:
            names_due -= 1
            if value in _SET_REFUSED_NAMES:
                return f"set -o {value} changes how later commands are parsed or run"
            continue
        if value in ("--", "-"):
            return ""
        if value[:1] in "-+" and len(value) > 1:
            for letter in value[1:]:
                if letter in _SET_REFUSED_LETTERS:
                    return _SET_REFUSED_LETTERS[letter]
            names_due = value.count("o", 1)
    return ""


def _shopt_problem(values: list[str | None]) -> str:
    if None in values:
        return "shopt with a computed option"
    # Option letters combine (`-qs`, `-os`) and may come in any order before the names: a
    # lone "-s" test let `shopt -qs dotglob` and `shopt -os keyword` (= set -k) through.
    letters = ""
    names: list[str] = []
    for i, value in enumerate(values):
        if value == "--":
            names += [v for v in values[i + 1:] if v is not None]
            break
        if value is not None and value[:1] == "-" and len(value) > 1:
            letters += value[1:]
        elif value is not None:
            names.append(value)
    if "o" in letters:  # `shopt -so NAME`/`-uo NAME` is `set -o NAME`/`set +o NAME`
        if "s" in letters or "u" in letters:
            refused = next((n for n in names if n in _SET_REFUSED_NAMES), None)
            if refused is not None:
                return f"shopt -o {refused} (set -o {refused}) changes how later commands are parsed or run"
        return ""
    if "s" in letters:
        refused = next((n for n in names if n not in _SHOPT_SAFE), None)
        if refused is not None:
            return f"shopt -s {refused} changes how bash parses or runs later commands"
    return ""


def _export_problem(args: tuple[Word, ...], profile: Profile) -> str:
    for word in args:
        value = word.value
        if value is None and "=" not in word.text:
            return "export of a computed name"
        text = value if value is not None else word.text
        if text in ("-p", "-n"):
            continue
        if text.startswith("-"):
            return f"export {text} is not allowed"
        variable, eq, assigned = text.partition("=")
        variable = variable.rstrip("+")
        if variable in LOCALE_VARIABLES and eq and (value is None or not parse_safe_locale(assigned)):
            return _locale_problem(variable)
        problem = variable_problem(variable, profile)
        if problem:
            if problem.endswith("(a rule must name it under env:)"):
                # `export PYTHONPATH=src && pytest`: it would reach every later command, where
                # `PYTHONPATH=src pytest` reaches one, whose rule can name it
                problem += f"; set it in front of the command instead ({variable}=... COMMAND)"
            return problem
    return ""


def variable_problem(name: str, profile: Profile, rule_env: frozenset[str] = frozenset()) -> str:
    """Why the line may not set this environment variable for a command."""
    if name in rule_env:
        return ""
    from .hazards import env_hazard

    if name.startswith("BASH") or env_hazard(name):
        return (f"setting {name} can change what programs run "
                "(a rule must name it under env:)")
    if name in dict(profile.env_set):
        return f"{name} is set by the profile and cannot be overridden"
    if name not in profile.env_pass and not any(fnmatchcase(name, p) for p in profile.env_pass):
        return f"{name} is not among the variables the profile passes (env.pass)"
    return ""


# bash evaluates a value assigned to these as arithmetic (`OPTIND='a[$(cmd)]'` runs cmd).
ARITHMETIC_VARIABLES = frozenset({"OPTIND", "RANDOM", "SRANDOM", "HISTCMD"})
# A value known to be a number: digits, or one `$((...))` of plain names and numbers, whose
# names parse/arith.py holds to known numbers like any arithmetic.
_NUMBER = re.compile(r"-?[0-9]+")
_ARITHMETIC = re.compile(r"\$\(\([^$`'\"\\]*\)\)")


# The locale bash reads the line in.  A multibyte charset such as GBK, Big5 or Shift-JIS has
# characters whose second byte is `\\`, a quote or a backtick, so bash, switched to one, reads
# `€\\; cmd` as `€\\` then `; cmd`, where the checker (UTF-8) saw an escaped `;`.
LOCALE_VARIABLES = ("LC_ALL", "LC_CTYPE", "LANG")
_PARSE_SAFE_LOCALE = re.compile(r"(?:C|POSIX|)|[A-Za-z0-9_-]*\.(?i:utf-?8)(?:@[A-Za-z0-9_-]+)?")


def parse_safe_locale(value: str) -> bool:
    """Whether bash reads a line in this locale as agentsh's checker does: C, POSIX or UTF-8,
    and only while agentsh itself decodes its input as UTF-8 (not in a GBK or Big5 locale)."""
    return _PARSE_SAFE_LOCALE.fullmatch(value) is not None and sys.getfilesystemencoding() == "utf-8"


def shell_variable_problem(name: str, profile: Profile, value: Word | None = None) -> str:
    """A plain `NAME=value` statement: fine for shell variables, checked if it reaches the env.
    value: what the statement assigns, None where the line does not show it (read, for ...)."""
    from .hazards import env_hazard

    if name in ARITHMETIC_VARIABLES and not (
            value is not None and (_NUMBER.fullmatch(value.value) if value.value is not None
                                   else _ARITHMETIC.fullmatch(value.text))):
        return (f"assigning {name} evaluates the value as arithmetic, which can run commands through "
                "an array subscript: assign it a number")
    if name.startswith("BASH") or env_hazard(name):
        return f"assigning {name} changes how bash or later programs behave"
    if name in LOCALE_VARIABLES and not (value is not None and value.value is not None
                                         and parse_safe_locale(value.value)):
        return _locale_problem(name)
    if name in profile.env_pass or name in dict(profile.env_set):
        # Already exported (it came from the environment), so this changes the env.
        return variable_problem(name, profile)
    return ""


def _locale_problem(name: str) -> str:
    return (f"assigning {name} changes the locale bash reads the rest of the line in, and a multibyte "
            "charset can hide a backslash or a quote from the checker: only C, POSIX or a UTF-8 locale")
