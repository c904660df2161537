"""Differential fuzzing of the parser against bash: helper for tests/test_parse_fuzz.py.

``generated(seed, n)`` builds random lines from risky shell pieces (every kind of quote,
here-documents, case, [[ ]], arithmetic, brace groups, process substitution, coproc,
continuations, odd whitespace ...), each piece embedding canary commands ``cN`` and
canary redirection targets ``fN``.  ``Sandbox.run(line)`` runs a line under real bash with
a PATH holding only the canary programs and returns the canaries that ran and the files
the line created (``Sandbox.arguments()``: the arguments each canary run was given);
``unreported(parsed, ran, made)`` lists what bash did that the walker's parse did not
report, ``misread_arguments(parsed, runs)`` the canary runs whose arguments no reported
command has.  Deterministic: the same seed gives the same lines.  A campaign:
``python3 -m tests.parse_fuzz SEED SECONDS [DEPTH]``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agentsh.parse import ParsedLine, parse_line
from agentsh.policy.wrappers import unwrap

CANARIES = 12  # c0 .. c11 exist as programs; higher numbers wrap around

_Gen = Callable[[random.Random, int], str]


class _Pieces:
    """The grammar: each method returns a fragment; `depth` bounds recursion."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0

    def canary(self) -> str:
        self.count += 1
        return f"c{self.count % CANARIES}"

    def target(self) -> str:
        self.count += 1
        return f"f{self.count % CANARIES}"

    def pick(self, *options: Callable[[], str]) -> str:
        return self.rng.choice(options)()

    def blank(self) -> str:
        return self.rng.choice([" ", " ", " ", "  ", "\t", " \\\n", "\\\n ", " \t"])

    def sep(self) -> str:
        return self.rng.choice(["; ", ";", "\n", " && ", " || ", " | ", " |& ", " & ", ";\n", " ;; ", " ;& ",
                                "\\\n;", " &\\\n& ", "\r\n", " # x\n", "\n\n"])

    def word(self, depth: int) -> str:
        r = self.rng
        simple = ["a", "'a b'", '"a b"', "$'a\\'b'", '$"a"', "\\#", "a#b", "'#'", "\\\\", "\\'", '\\"', "'\\'",
                  '"\\""', "$x", "${x}", "${x:-a b}", "${x#*a}", "${x//a/b}", "{a,b}", "{a..c}", "{a}", "{}",
                  "@(a|b)", "!(x)", "*", "?", "[a]", "$((1+2))", "$((16#ff))", "$(( (1) ))", "\\\n", "$'\\n'",
                  "a\\ b", "\\ ", "'a'\"b\"$'c'", "\"'\"", "'\"'", "$'\\''", "\"$'x'\"", "\"${x:-'a'}\"",
                  "if", "then", "fi", "do", "done", "case", "esac", "in", "{", "}", "!", "time", "function",
                  "coproc", "[[", "]]", "((", "))", "=~", "\u00a0", "\u3000", "\r", "\\\t", "é", "$", "$$", "$#",
                  "#", "\\$", "`", "'", '"', ")", "(", "a=b", "x+=y", "a[1]=b", "-", "--", "\\\r"]
        if depth <= 0 or r.random() < 0.55:
            return r.choice(simple)
        inner = self.command(depth - 1)
        return r.choice([
            f"$({inner})", f"`{inner}`", f'"$({inner})"', f'"`{inner}`"', f"<({inner})", f">({inner})",
            f"${{x:-$({inner})}}", f"${{x#$({inner})}}", f'"${{x:-$({inner})}}"', f"$(( $({inner}) ))",
            f"${{x:-`{inner}`}}", f"$( {inner} )", f"$(\n{inner}\n)", f"'$({inner})'", f"\\$({inner})",
            f"$'$({inner})'", f'$"$({inner})"', f"\"'$({inner})'\"", f"a$({inner})b", f"$({inner}#)",
            f"$({inner} # )\n)", f"@($({inner}))", f"{{a,$({inner})}}",
            *self.expansions(inner),
        ])

    def expansions(self, inner: str) -> list[str]:
        """Parameter expansions whose operands hold a substitution, quoted in each way:
        bash expands (and, in double quotes, unquotes) each operand by its own rules."""
        r = self.rng
        sub = r.choice([f"$({inner})", f"'$({inner})'", f'"$({inner})"', f"`{inner}`", f"$'$({inner})'",
                        f"\\$({inner})", f"a'$({inner})'b", f"\"'$({inner})'\"", f"${{y-$({inner})}}",
                        f"${{y-'$({inner})'}}", f"$[$({inner})]", f"$\\\n({inner})", f"$'\\x24({inner})'",
                        f"$'\\x60{inner}\\x60'", f"$'\\x27'$({inner})", f"\"${{y-'$({inner})'}}\""])
        op = r.choice(["/a/", "//a/", "/#a/", "/%a/", "/", "^^", ",,", "^", ",", ":", ":0:", ":-", "-", "+", ":+",
                       ":=", "=", "?", ":?", "#", "##", "%", "%%", "@", "-${y-", ":-${y:-"])
        if op == "@":
            body = r.choice(["Q", "E", "A", "a", "U", "u", "L", "K", "k"]) + r.choice(["", sub])
        elif op.startswith("-${"):
            body = op + sub + "}"
        else:
            body = op + sub
        expansion = r.choice(["${x", "${x[0]", "${x[@]", "${#x", "${@", "${*"]) + body + "}"
        return [expansion, f'"{expansion}"', f"a{expansion}b", f'"a{expansion}b"', f"$[{sub}]", f"$[1+{sub}]",
                f'"$[{sub}]"', f"${{x:{sub}:{sub}}}", f'"${{x:1:{sub}}}"', f"${{x-${{y-${{z-{sub}}}}}}}",
                f'"${{x/{sub}/{sub}}}"', f"${{x/a/{sub}}}", f'"${{x//a/{sub}}}"', f"${{x^^{sub}}}",
                f'"${{x,,{sub}}}"']

    def redirect(self, depth: int) -> str:
        r = self.rng
        op = r.choice([">", ">>", ">|", "&>", "2>", "{fd}>", "{fd}>>", "<>", "3>", ">&", "1>", "2>>", "\\>"])
        tgt = self.target()
        quoted = r.choice([tgt, f"'{tgt}'", f'"{tgt}"', f"$'{tgt}'", f"{tgt}\\ ", f"\\\n{tgt}", f" {tgt}",
                           f"\t{tgt}", f"{tgt}#", f"#{tgt}", f"'$({self.canary()})'", f"{tgt}\\\\",
                           f"\"{tgt}\\\\x\""])
        return op + quoted

    def heredoc(self, depth: int) -> tuple[str, str]:
        """(the operator and delimiter, the body with its end line)."""
        r = self.rng
        delim = r.choice(["EOF", "E", "_", "E1"])
        written = r.choice([delim, f"'{delim}'", f'"{delim}"', f"\\{delim}", f"{delim[0]}'{delim[1:]}'",
                            f"$'{delim}'", f"{delim}\\\n"])
        dash = r.choice(["", "", "-"])
        lines = []
        for _ in range(r.randint(0, 3)):
            lines.append(r.choice([
                self.canary(), f"$({self.canary()})", f"`{self.canary()}`", f"\t{delim}", f"{delim} ", f"{delim}\\",
                f"{delim[:1]}\\\n{delim[1:]}", "x\\", "'", '"', f"${{x:-$({self.canary()})}}", f"{delim}x",
                f" {delim}", "\\", "$(", "`",
            ]))
        end = r.choice([delim, delim, f"\t{delim}", f"{delim} ", written])
        return f"<<{dash}{written}", "\n".join(lines + [end])

    def simple(self, depth: int) -> str:
        r = self.rng
        parts = [self.canary()]
        if r.random() < 0.3:
            parts.insert(0, r.choice(["x=1", "x=$(c9)", "a[$(c8)]=1", "x='a b'", "x=(a b)", "x=\\ ", "TERM=\\\n"]))
        for _ in range(r.randint(0, 3)):
            choice = r.random()
            if choice < 0.6:
                parts.append(self.word(depth))
            elif choice < 0.9:
                parts.append(self.redirect(depth))
            else:
                parts.append(r.choice(["<<<" + self.word(depth), "< /dev/null", "2>&1", "<&-"]))
        return "".join(p + self.blank() for p in parts[:-1]) + parts[-1]

    def command(self, depth: int) -> str:
        r = self.rng
        if depth <= 0 or r.random() < 0.35:
            return self.simple(depth)
        d = depth - 1
        c = lambda: self.command(d)  # noqa: E731 - short local alias keeps the table readable
        w = lambda: self.word(d)  # noqa: E731
        kind = r.randrange(59)
        if kind >= 44:
            return self.third(kind - 44, d)
        if kind >= 26:
            return self.more(kind - 26, d)
        if kind == 0:
            return f"if {c()}; then {c()}; elif {c()}; then {c()}; else {c()}; fi"
        if kind == 1:
            pat = r.choice(["a", "a)", "(a)", "'a)'", "a\\)", "*", "@(a|b)", "x|a", "\"a\"", "[)]", "$(c3)", "{a,b}"])
            end = r.choice([";;", ";&", ";;&", ""])
            return f"case {w()} in {pat}) {c()} {end} *) {c()};; esac"
        if kind == 2:
            rx = r.choice(["a b", "'a b'", "(a|b)", "^a$", "a\\ b", "[)]", "( a )", "a#b", "#", "$(c4)", "`c5`",
                           "\"$(c6)\"", "a\\;", "[[:space:]]", "x)|(y", "]]", "a]]b", ";"])
            op = r.choice(["=~", "==", "!=", "<", "-eq"])
            return f"[[ {w()} {op} {rx} ]] && {c()}"
        if kind == 3:
            ex = r.choice(["1", "x#1", "2#10", "(1)+((2))", "x[$(c7)]", "1 # c", "a=1", "$(c2)", "x=$((1))", "1?2:3",
                           "\"1\"", "'1'", "x++", "(1", "1)"])
            return r.choice([f"(( {ex} )) && {c()}", f"(({ex}))||{c()}", f"echo $(( {ex} )); {c()}",
                             f"(( {ex} ))\n{c()}", f"for (({ex};0;)); do {c()}; done"])
        if kind == 4:
            return r.choice([f"{{ {c()}; }}", f"{{ {c()}\n}}", f"{{{c()};}}", f"{{ {c()} }}", f"{{ {c()}; }} > {self.target()}"])
        if kind == 5:
            return r.choice([f"( {c()} )", f"({c()})", f"( ({c()}) )", f"$( ({c()}) )"])
        if kind == 6:
            return r.choice([f"function g {{ {c()}; }}; g", f"g() {{ {c()}; }}; g", f"function g() ( {c()} ); g",
                             f"g() {{ {c()}; }} >{self.target()}; g", f"function {self.canary()} {{ :; }}"])
        if kind == 7:
            return r.choice([f"coproc {c()}", f"coproc G {{ {c()}; }}", f"coproc {{ {c()}; }}", f"coproc ( {c()} )"])
        if kind == 8:
            return r.choice([f"! {c()}", f"time {c()}", f"time -p {c()}", f"! time {c()}", f"time ! {c()}"])
        if kind == 9:
            return f"{c()}{self.sep()}{c()}"
        if kind == 10:
            op, body = self.heredoc(d)
            return r.choice([f"{c()} {op}\n{body}\n", f"{c()} {op} | {c()}\n{body}\n",
                             f"x=$({c()} {op}\n{body}\n)", f"x=`{c()} {op}\n{body}\n`",
                             f"{c()} | {c()} {op}\n{body}\n", f"{c()} {op}; {c()}\n{body}\n",
                             f"{c()} {op} {op}\n{body}\n{body}\n", f"$({c()} {op}\n{body})"])
        if kind == 11:
            return r.choice([f"for v in {w()}; do {c()}; done", f"for v; do {c()}; done",
                             f"while false; do {c()}; done; {c()}", f"until :; do {c()}; done",
                             f"select v in; do {c()}; done"])
        if kind == 12:
            return r.choice([f"eval {w()}", f"{c()} '$({c()})'", f"{c()} \"$({c()})\"", f"{c()} $'\\'$({c()})'"])
        if kind == 13:
            return r.choice([f"{c()} # {c()}", f"{c()}#{c()}", f"{c()} \\# {c()}", f"#\\\n{c()}",
                             f"{c()} ${{x:-#}}; {c()}", f"{c()} \"#\"; {c()}", f"{c()}\\\n#x\n{c()}"])
        if kind == 14:
            return r.choice([f"{c()} <({c()})", f"{c()} >({c()})", f"{c()} < <({c()})", f"{c()} <<< $({c()})"])
        if kind == 15:
            return r.choice([f"{c()} {{a,b}}", f"{{{c()},a}}", f"{{ {c()},a; }}", f"{{a,b}} {c()}",
                             f"{{{c()}}}", f"{c()} {{a,$({c()})}}"])
        if kind == 16:
            return f"shopt -s extglob\n{c()} @({w()}|b) !({w()})"
        if kind == 17:
            return r.choice([f"{c()} $'\\x41' $'{self.canary()}'", f"{c()} $\"{self.canary()}\"",
                             f"{c()} $'\\c{self.canary()}'", f"$'{self.canary()}'", f"\"{self.canary()}\"",
                             f"'{self.canary()}'", f"\\{self.canary()}", f"{self.canary()[0]}''{self.canary()[1:]}"])
        if kind == 18:
            return f"{c()} \\\n{w()} \\\r\n{c()}"
        if kind == 19:
            return r.choice([f"{w()} {c()}", f"{c()} {w()} {w()}", f"{w()}{c()}", f"{c()}{w()}"])
        if kind == 20:
            return r.choice([f"[ {w()} ] && {c()}", f"test {w()} || {c()}", f"{c()} && [ -z {w()} ]"])
        if kind == 21:
            return r.choice([f"x=({w()} $({c()})); {c()}", f"declare x=$({c()})", f"export x={w()} && {c()}",
                             f"local x=`{c()}`", f"readonly {w()}; {c()}", f"x=({c()})"])
        if kind == 22:
            return r.choice([f"{c()} & {c()}", f"{c()} &\n{c()}", f"{c()}|&{c()}", f"{c()}||{c()}&&{c()}"])
        if kind == 23:
            return r.choice([f"{c()} 2>&1 {w()}", f"{c()} {{fd}}<&0 {w()}", f"{self.redirect(d)} {c()}",
                             f"{self.redirect(d)}"])
        if kind == 24:
            return r.choice([f"{c()} ${{x:+'$({c()})'}}", f"{c()} \"${{x-$'$({c()})'}}\"",
                             f"{c()} ${{x/'/'}}; {c()} #'}}", f"{c()} ${{x@Q}}", f"{c()} ${{!x}}",
                             f"{c()} \"${{x-'$({c()})'a}}\"", f"{c()} \"${{x-a$'$({c()})'}}\""])
        return f"{c()} {w()}{self.sep()}{c()}"


    def more(self, kind: int, d: int) -> str:
        """Compound commands and redirections beyond the first table (a second widening)."""
        r = self.rng
        c = lambda: self.command(d)  # noqa: E731
        w = lambda: self.word(d)  # noqa: E731
        t = self.target
        if kind == 0:  # case patterns with quotes, substitutions, extglob; fall-through terminators
            pat = r.choice([f"\"$({c()})\"", f"'$({c()})'", f"$({c()})|a", f"a|$({c()})", f"@($({c()}))",
                            f"+(a|$({c()}))", f"${{x-$({c()})}}", "a\\\n", "#a", "a#", f"\\$({c()})",
                            f"[$({c()})]", "'a'\"b\"", "a\\|b"])
            lead = r.choice(["", "(", " (", "\n", " # x\n", "\\\n"])
            return (f"shopt -s extglob\ncase {w()} in{lead} {pat}) {c()} {r.choice([';;', ';&', ';;&'])}"
                    f"{r.choice(['', ' # x', '#x', chr(10)])} *) {c()};; esac")
        if kind == 1:  # [[ ]] with !, &&, ||, parentheses, -v, arithmetic tests
            left = r.choice([w(), f"$({c()})", "-n", "!", "(", "a"])
            test = r.choice([
                f"! {w()}", f"{w()} && {w()}", f"( {w()} || {w()} )", f"-v {w()}", f"-v x[$({c()})]",
                f"{left} -eq {w()}", f"{left} -lt 1", f"-n {w()} && ! -z {w()}", f"{w()} < {w()}",
                f"( ! {w()} ) && ({w()})", f"-z \\\n{w()}", f"{w()} -nt {t()}", f"-o {w()}", f"-a {t()}",
                f"{w()} == {w()} || -e {w()}",
            ])
            return r.choice([f"[[ {test} ]] && {c()}", f"[[ {test} ]] || {c()}", f"[[ {test} ]]\n{c()}",
                             f"[[ {test} ]] >{t()}; {c()}"])
        if kind == 2:  # (( )) and $[ ] with quotes, substitutions, assignments
            ex = r.choice([f"\"$({c()})\"", f"'$({c()})'", f"x = $({c()})", f"x[$({c()})]", "x = 'a'",
                           f"1 + \"{w()}\"", f"$[{w()}]", "\"1\" + '2'", f"y=$({c()}), 1", f"x ? {w()} : 2",
                           f"$x + ${{y-$({c()})}}", "1 \\\n+ 2", "# x", f"1 # $({c()})"])
            return r.choice([f"(( {ex} )); {c()}", f"(({ex}))&&{c()}", f"echo $[{ex}] $(({ex})); {c()}",
                             f"for (( {ex} ; 0 ; )); do {c()}; done", f"(( {ex} )) >{t()}"])
        if kind == 3:  # here-strings with every quote kind
            word = r.choice([f"'$({c()})'", f"\"$({c()})\"", f"$'$({c()})'", f"$\"$({c()})\"", f"$({c()})",
                             f"`{c()}`", f"${{x-$({c()})}}", "\\\n" + c(), " \"a\nb\"", "'a\nb'",
                             f"{w()}{w()}", f" {t()}"])
            return r.choice([f"{c()} <<<{word}", f"{c()} <<< {word}", f"{c()} <<<{word} >{t()}",
                             f"{c()} 0<<<{word}", f"{c()} <<<{word}| {c()}"])
        if kind == 4:  # here-docs: <<-, tabs, continuation lines, nested in $( ) and in groups
            op, body = self.heredoc(d)
            return r.choice([f"x=$({c()} {op}\n{body}\n); {c()}", f"{{ {c()} {op}\n{body}\n}}",
                             f"( {c()} {op}\n{body}\n)", f"{c()} $({c()} {op}\n{body}\n) {w()}",
                             f"{c()} {op} >{t()}\n{body}\n{c()}", f"{c()} {op} && {c()}\n{body}\n",
                             f"{c()} <<-E\n\t{c()}\n\tE\n{c()}", f"{c()} \"$(cat {op}\n{body}\n)\""])
        if kind == 5:  # process substitution as a redirection target
            return r.choice([f"{c()} > >({c()})", f"{c()} 2> >({c()})", f"{c()} < <({c()})",
                             f"{c()} &> >({c()})", f"{c()} >> >({c()})", f"{c()} >>({c()})",
                             f"{c()} <<(c{c()})", f"{c()} >|>({c()})", f"{c()} >& >({c()})"])
        if kind == 6:  # redirections of every operator, numbered, closed, moved
            op = r.choice(["10>", "<>", "3<>", ">|", "2>|", "&>>", ">&-", "<&-", "3>&-", "1>&2-", "0<&3-",
                           ">&2-", "9>>", "0>", "2<", "1<>", "255>", "00>", "2 >", "2\t>", "&>|"])
            tgt = "" if op.endswith("-") else r.choice([t(), f" {t()}", f"'{t()}'", f"\"{t()}\"", f"{t()}-"])
            return r.choice([f"{c()} {op}{tgt}", f"{op}{tgt} {c()}", f"{{ {c()}; }} {op}{tgt}",
                             f"( {c()} ) {op}{tgt}", f"{c()} {op}{tgt} | {c()}", f"x=1 {op}{tgt} {c()}",
                             f"exec {op}{tgt}; {c()}"])
        if kind == 7:  # groups and subshells with redirections and continuations
            return r.choice([f"{{ {c()}; }} 2>{t()} >{t()}", f"( {c()} ) <{t()}", f"{{ {c()}; }} | {c()}",
                             f"( {c()}; {c()} ) &>{t()}", f"{{\\\n{c()}; }}", f"(\\\n{c()})", f"{{ {c()}; }}&",
                             f"{{ ( {c()} ) }} >{t()}", f"( {{ {c()}; }} )", f"{{ {c()}; }}\\\n>{t()}"])
        if kind == 8:  # backslash-newline inside constructs
            bs = "\\\n"
            return r.choice([f"{c()} ${bs}({c()})", f"{c()} $({bs}{c()})", f"{c()} ${bs}{{x-$({c()})}}",
                             f"{c()} >{bs}{t()}", f"{c()} >{bs}&{t()}", f"{c()} 2{bs}>{t()}", f"{c()} &{bs}>{t()}",
                             f"{c()} <{bs}<<{w()}", f"{c()} |{bs}& {c()}", f"{c()} &{bs}& {c()}", f"{c()} |{bs}| {c()}",
                             f"{c()} \"${bs}({c()})\"", f"{c()} `{bs}{c()}`", f"{c()} $(({bs}1))",
                             f"{c()} <{bs}({c()})", f"[{bs}[ a ]] && {c()}", f"(({bs}1)) && {c()}",
                             f"{c()} ;{bs}; {c()}", f"i{bs}f {c()}; then {c()}; fi", f"{c()} ${bs}'{c()}'",
                             f"({bs}({c()} '$({c()})'))", f"{c()} $({bs}({c()} '$({c()})'))", f"({bs}{c()})",
                             f"{c()} <<{bs}-E\n\tE\n{c()}\nE", f"{c()} <<{bs}<{w()}", f"{c()} >{bs}|{t()}",
                             f"{c()} ${bs}[{w()}]", f"{c()} ${bs}\"{w()}\"", f"{c()} ${bs}'\\x24({c()})'",
                             f"{c()} <{bs}&-", f"{c()} {bs}#{c()}", f"{c()} 2{bs}>&1", f"{c()} $({bs}{bs}({c()}))",
                             f"{c()} \"$({bs}({c()}))\"", f"{c()} `({bs}({c()}))`", f"{c()} >({bs}{c()})"])
        if kind == 9:  # comments inside $( ), case and groups
            return r.choice([f"x=$({c()} # )\n{c()})", f"x=$(# {c()}\n{c()})", f"x=\"$({c()} # \"\n)\"",
                             f"x=$(\n#)\n{c()}\n)", f"{{ # }}\n{c()}; }}", f"( # )\n{c()} )",
                             f"case a in # )\n a) {c()};; esac", f"x=`{c()} # `\n{c()}",
                             f"{c()} $(echo a)#$({c()})", f"{c()} ${{x-#}}#$({c()})"])
        if kind == 10:  # words that look like history, options, odd characters
            return r.choice([f"{c()} !{c()}", f"!{c()}", f"{c()} !!", f"{c()} -{w()}", f"{c()} --{w()}=",
                             f"{c()} -- -{c()}", f"{c()}\u00a0{c()}", f"{c()}\u2028{c()}", f"{c()} \u00a0; {c()}",
                             f"{c()}\t;\t{c()}", f"{c()}\t&&\t{c()}", f"{c()}\u3000|\u3000{c()}",
                             f"{c()} ^{c()}", f"{c()} a^b^", f"{c()} %1", f"{c()} ~{c()}", f"{c()} x=~/{t()}"])
        if kind == 11:  # coproc, select, arrays
            return r.choice([f"coproc G {c()}", f"coproc {c()} {{ {c()}; }}", f"select v in a; do {c()}; break; done <<<1",
                             f"select v; do {c()}; done", f"a=( '$({c()})' \"$({c()})\" $({c()}) )",
                             f"a=([1]=$({c()}) [2]='$({c()})')", f"a+=({w()} {w()}); {c()}",
                             f"a=(\n{w()} # $({c()})\n)", f"a=( {w()}\\\n{w()} )", f"export x={w()} y=$({c()})",
                             f"export -n x={w()}; {c()}", f"a=({w()}) {c()}"])
        if kind == 12:  # function keyword forms (refused) and time / negation / |&
            return r.choice([f"function {c()} {{ :; }}", f"function g\n{{ {c()}; }}", f"g ( ) {{ {c()}; }}",
                             f"function g {{ {c()}; }} >{t()}", f"time -p -- {c()}", f"time -- {c()}",
                             f"! {c()} | {c()}", f"{c()} |& {c()} |& {c()}", f"! ! {c()}", f"time -p ! {c()}",
                             f"! {{ {c()}; }}", f"{c()} | ! {c()}", f"time {c()} | {c()}"])
        if kind == 13:  # `((` and `$((` that bash may read as arithmetic or as nested subshells
            return r.choice([f"(({c()}) )", f"(( {c()} ) )", f"(({c()})|{c()})", f"x=$(({c()}) ); {c()}",
                             f"{c()} $(({c()});({c()}))", f"{c()} \"$(({c()}) )\"", f"{c()} ${{x:-$(({c()}) )}}",
                             f"{c()} $(( $({c()}) ))", f"(({c()}\n))", f"{c()} $(((1)) )", f"( ({c()}) )>{t()}"])
        if kind == 14:  # inside "$(...)": bash parses some expansions with double-quote rules there
            sub = r.choice([f"$'\\x24({c()})'", f"$'$({c()})'", f"'$({c()})'", f"\"'$({c()})'\"", "$'\\x27'",
                            f"$'\\x60{c()}\\x60'", f"\\$({c()})", f"$\"$({c()})\""])
            inner = r.choice([f"${{y-{sub}}}", f"${{y:+{sub}}}", f"${{y/#/{sub}}}", f"${{y:-a{sub}b}}",
                              f"${{y-${{z-{sub}}}}}", f"\"${{y-{sub}}}\"", f"${{y@Q}}{sub}", f"<<<${{y-{sub}}}",
                              f"$(( ${{y-{sub}}} ))", f"<<E\n${{y-{sub}}}\nE\n"])
            return r.choice([f"{c()} \"$({c()} {inner})\"", f"x=\"$({c()} {inner})\"", f"{c()} \"`{c()} {inner}`\"",
                             f"{c()} \"${{x-$({c()} {inner})}}\"", f"{c()} \"$( ({c()} {inner}) )\"",
                             f"{c()} \"$({c()} \"$({c()} {inner})\")\"", f"{c()} $({c()} {inner})"])
        if kind == 15:  # $(<file) and reads
            return r.choice([f"x=$(<{t()})", f"{c()} $(< {t()})", f"{c()} \"$(<{t()})\"", f"{c()} $(<{t()} {c()})",
                             f"{c()} $(<{t()};{c()})", f"{c()} <{t()} <{t()}"])
        if kind == 16:  # several here-documents on a line, in conditions and loops, continued lines
            op1, body1 = self.heredoc(d)
            op2, body2 = self.heredoc(d)
            return r.choice([f"{c()} {op1} {op2}\n{body1}\n{body2}\n", f"{c()} {op1}; {c()} {op2}\n{body1}\n{body2}\n",
                             f"while {c()} {op1}; do {c()}; break; done\n{body1}\n",
                             f"if {c()} {op1}\nthen {c()}; fi\n{body1}\n", f"{c()} {op1} \\\n| {c()}\n{body1}\n",
                             f"case a in a) {c()} {op1};; esac\n{body1}\n", f"{c()} {op1} |& {c()}\n{body1}\n",
                             f"[[ a ]] && {c()} {op1}\n{body1}\n", f"{c()} {op1}\n{body1}\n{c()} {op2}\n{body2}\n"])
        # quotes spanning newlines and odd assignments
        return r.choice([f"{c()} 'a\n$({c()})'", f"{c()} \"a\n$({c()})\nb\"", f"{c()} $'a\n' '\n'{w()}",
                         f"x='\n' {c()}", f"x=\"\n$({c()})\" {c()}", f"{c()} \"\\\n$({c()})\"",
                         f"{c()} '\\\n'$({c()})", f"{c()} \"${{x-\n$({c()})}}\"", f"x=a\\\nb {c()}"])

    def third(self, kind: int, d: int) -> str:
        """A third widening: function definitions, loops in their rarer forms, here-documents
        nested in substitutions and bodies, process substitutions in odd places, comments
        after operators, declarations with arrays, brace sequences, `time`/`!` with compounds."""
        r = self.rng
        c = lambda: self.command(d)  # noqa: E731
        w = lambda: self.word(d)  # noqa: E731
        t = self.target
        if kind == 0:  # function definitions, also of builtins and of canary names
            name = r.choice(["g", "cd", "echo", "test", "command", "[", self.canary(), "g-h", "g.h"])
            body = r.choice([f"{{ {c()}; }}", f"( {c()} )", f"{{\n{c()}\n}}", f"[[ {w()} ]]", f"(( {w()} ))",
                             f"if {c()}; then :; fi", f"{{ {c()}; }} >{t()}", f"{{ {c()}; }} <<<{w()}"])
            return r.choice([f"{name}() {body}; {name}", f"function {name} {body}\n{name}",
                             f"function {name}() {body}; {c()}", f"{name} () {body}", f"{name}()\n{body}; {name}",
                             f"function {name}\n{body}", f"{name}() {body} & {name}"])
        if kind == 1:  # C-style for and select in each of their forms
            ex = r.choice(["i=0;i<1;i++", ";;", " ; ; ", "i=0; i<1; i++", "i=1,j=2;i<1;i++", "i=0;i<1;", ""])
            # `break` on a line of its own: a comment or a `&` at the end of the body would
            # take it along (`for ((;;))` then runs until the sandbox's timeout)
            body = r.choice([f"do {c()}\nbreak; done", f"{{ {c()}\nbreak; }}", f"\ndo {c()}\nbreak\ndone",
                             f"do\n{c()}\nbreak; done"])
            return r.choice([f"for (({ex})) {body}", f"for (({ex})); {body}", f"for (({ex}))\n{body}",
                             f"for v in {w()}; {body}", f"for v {body}", f"for v\n{body}",
                             f"select v in {w()}; {body} <<<1", f"select v {body} <<<1",
                             f"for v in {w()} $({c()}); {body}"])
        if kind == 2:  # here-documents inside substitutions, inside bodies, after `)`
            op, body = self.heredoc(d)
            op2, body2 = self.heredoc(d)
            return r.choice([f"{c()} {op}\n$({c()} {op2}\n{body2}\n)\n{body}\n",
                             f"{c()} \"$({c()} {op}\n{body}\n)\" {op2}\n{body2}\n",
                             f"{c()} $({c()} {op}\n{body}\n) $({c()} {op2}\n{body2}\n)",
                             f"{c()} `{c()} {op}\n{body}\n`", f"x=$({c()} {op}\n{body}\n{c()})",
                             f"g() {{ {c()} {op}\n{body}\n}}", f"{c()} {op} $({c()})\n{body}\n",
                             f"{c()} {op}; $({c()} {op2}\n{body2}\n)\n{body}\n",
                             f"{c()} <(<<E {c()}\nE\n) {op}\n{body}\n", f"{{ {c()} {op}; }} {op2}\n{body}\n{body2}\n"])
        if kind == 3:  # process substitution as a value, an element, a program, a pattern
            ps = r.choice([f"<({c()})", f">({c()})", f"<( {c()} )", f"<(\n{c()}\n)"])
            return r.choice([f"x={ps} {c()}", f"a=({ps} {w()})", f"a[0]={ps}", f"{{fd}}<{ps} {c()}",
                             f"{c()} {ps}{ps}", f"{c()} a{ps}b", f"{ps} {c()}", f"{c()} ${{x:-{ps}}}",
                             f"{c()} \"{ps}\"", f"case {ps} in *) {c()};; esac", f"for v in {ps}; do {c()}; done",
                             f"[[ {ps} ]] && {c()}", f"{c()} {ps}>{t()}", f"{c()} <{ps}", f"{c()} <<<{ps}",
                             f"export x={ps}; {c()}", f"{c()} 3<{ps} 4>{ps}", f"{c()} {ps}# {c()}"])
        if kind == 4:  # comments right after operators and inside compounds
            return r.choice([f"{c()};#x\n{c()}", f"{c()}&#x\n{c()}", f"{c()} &#x", f"{{ {c()};#}}\n{c()}; }}",
                             f"{c()} |#x\n{c()}", f"{c()} ||#x\n{c()}", f"({c()} #)\n)", f"{c()} #x\\\n{c()}",
                             f"{c()} x#y #z", f"{c()} &&\n#x\n{c()}", f"if {c()};#x\nthen {c()};#\nfi",
                             f"case a in a) {c()};;#x\nesac", f"{c()} ;;#x", f"{c()}#\n{c()}",
                             f"while false;#x\ndo :; done;#\n{c()}", f"{c()} <<E #x\nE\n{c()}"])
        if kind == 5:  # declarations with values, arrays and appends
            decl = r.choice(["declare", "local", "export", "readonly", "typeset", "declare -a", "declare -x",
                             "export -n", "declare --", "local -r"])
            value = r.choice([w(), f"$({c()})", f"({w()} $({c()}))", f"'$({c()})'", f"\"$({c()})\"",
                              f"a\\ $({c()})", "(a b)", "([0]=a)", f"${{x-$({c()})}}"])
            name = r.choice(["x", "x+", "a[0]", "a[0]+", "\"x", "'x'"])
            return r.choice([f"{decl} {name}={value}; {c()}", f"{decl} {name}={value} && {c()}",
                             f"{decl} {name}={value} y={value}", f"x+={value} {c()}", f"a[0]+={value}; {c()}",
                             f"x+=({w()}) {c()}", f"{decl} \"x={value}\"", f"{decl} x {name}={value}"])
        if kind == 6:  # brace expansion: sequences, nesting, in command names
            seq = r.choice(["{1..3}", "{a..c..2}", "{01..3}", "{c1,c2}", "{1..2}", f"{{a,$({c()})}}",
                            f"{{$({c()})..3}}", "{a,b}{c,d}", "{a,{b,c}}", "{,a}", "{a,}", "{-1..1}",
                            "{a..c..$(c9)}", "{\\,a}", "{'a,b'}", "{a,'b c'}", "x{a,b}y"])
            return r.choice([f"{c()} {seq}", f"c{seq[1:] if seq.startswith('{') else seq}",
                             f"{seq} {c()}", f"{c()} >{seq}", f"x={seq} {c()}", f"{c()} {seq}$({c()})"])
        if kind == 7:  # `time`, `time -p` and `!` before compounds and pipelines
            target = r.choice([f"{{ {c()}; }}", f"( {c()} )", f"[[ {w()} ]] && {c()}", f"(( 1 )) && {c()}",
                               f"{c()} | {c()}", f"if {c()}; then :; fi", f"for v in a; do {c()}; done",
                               f"case a in *) {c()};; esac", c()])
            return r.choice([f"time {target}", f"time -p {target}", f"! {target}", f"! time {target}",
                             f"time ! {target}", f"time -p -- {target}", f"{c()} | time {target}",
                             f"{c()} && ! {target}", f"time\n{c()}", f"time;{c()}", f"time -p; {c()}"])
        if kind == 8:  # extglob in words and case patterns (with and without extglob set)
            glob = r.choice(["@(a|b)", "!(a)", "?(a)", "*(a|b)", "+(a)", f"@(a|$({c()}))", f"!({w()})",
                             f"@({w()}|{w()})", "@(a|(b))", "!(@(a))", "@()", "@(a\\|b)", "@(a b)"])
            on = r.choice(["shopt -s extglob\n", "", "shopt -s extglob; "])
            return r.choice([f"{on}{c()} {glob}", f"{on}case {w()} in {glob}) {c()};; esac",
                             f"{on}[[ {w()} == {glob} ]] && {c()}", f"{on}[[ {w()} != {glob}x ]] || {c()}",
                             f"{on}{c()} {glob}$({c()})", f"{on}{c()} x{glob}y"])
        if kind == 9:  # [[ ]] with =~ regexes of odd tokens, == patterns and -v
            rx = r.choice(["a|b", "(a b)", "( $(c9) )", "a\\ b", "'a'", "\"a\"", "$'\\x24(c9)'", "x]]",
                           "a&&b", "(a;b)", "(a&b)", "(a|b)c", "a{1,2}", "[[:alpha:]]", "a\\|b", "(\\))",
                           f"{w()}", f"{w()}{w()}"])
            return r.choice([f"[[ {w()} =~ {rx} ]] && {c()}", f"[[ {w()} == {rx} ]] || {c()}",
                             f"[[ -v {w()} ]] && {c()}", f"[[ {w()} =~ {rx} && {w()} ]] && {c()}",
                             f"[[ ( {w()} =~ {rx} ) ]]; {c()}", f"[[ {w()} =~ {rx} ]]\n{c()}"])
        if kind == 10:  # line continuations in odd places
            bs = "\\\n"
            return r.choice([f"{c()} ;{bs}; {c()}", f"case a in a) {c()} ;{bs}; esac", f"{c()} |{bs}{c()}",
                             f"{c()} &{bs}{c()}", f"{c()} {bs}&& {c()}", f"{c()} <<{bs}E\nE\n{c()}",
                             f"{c()} $(({bs}1 + {bs}2))", f"{c()} ${{x{bs}-a}}", f"{c()} ${{{bs}x}}",
                             f"[[ a {bs}=~ {bs}a ]] && {c()}", f"for (({bs}i=0;i<1;i++)); do {c()}; done",
                             f"{c()} >{bs}>{t()}", f"{c()} {bs}{bs}{c()}", f"{c()}{bs}", f"{bs}{c()}",
                             f"{c()} '{bs}' \"{bs}\" {bs}", f"g(){bs}{{ {c()}; }}", f"{c()} <{bs}(${c()})"])
        if kind == 11:  # blanks and separators of several kinds between words
            blank = r.choice(["\t", "\u00a0", " \t ", "\u2003", "\u200b", "\ufeff", "\u3000"])
            return r.choice([f"{c()}{blank}{w()}{blank}{c()}", f"{c()};{blank}{c()}", f"{blank}{c()}",
                             f"{c()}{blank}>{t()}", f"x=1{blank}{c()}", f"{c()}{blank}#{blank}{c()}"])
        if kind == 12:  # arithmetic in loops and tests with odd spellings
            ex = r.choice(["1", "i", "i<1", "1,2", "i=1", "(1)", "-1", "1 ", "1#1", "10#1", "0x1", "'1'", "\"1\""])
            return r.choice([f"while (( {ex} )); do {c()}\nbreak; done", f"until (( {ex} )); do {c()}\nbreak; done",
                             f"if (( {ex} )); then {c()}; fi", f"[[ {ex} -eq 1 ]] && {c()}", f"(( {ex} ))&{c()}",
                             f"{c()} $(( {ex} )) $[ {ex} ]", f"i=0; (( {ex} )) || {c()}"])
        if kind == 13:  # words glued from quotes, escapes and continuations (checked by the arguments)
            pieces = ["'a'", '"b"', "\\x", "\\;", "\\>", "\\|", "\\\\", "$'c'", "\\\n", "{", "}", ",", "$x", "~",
                      "\\ ", "#", "=", "a", "..", "/", "\\{", "''", '""', "\\'", "\\\"", "$", "*", "[", "]", "!", "%"]
            glued = "".join(r.choice(pieces) for _ in range(r.randint(2, 5)))
            return r.choice([f"{c()} {glued}", f"{c()} {glued} {glued}", f"x={glued} {c()}", f"{c()} {glued}\\\n 2>&1",
                             f"{c()} x={glued}", f"{c()} >{glued}", f"{c()} -o{glued}", f"{c()} <<<{glued}"])
        # keywords used as plain words and words that look like keywords
        word = r.choice(["if", "then", "done", "esac", "in", "do", "}", "{", "]]", "!", "function", "select",
                         "time", "coproc", "case", "fi", "elif", "until", "while"])
        return r.choice([f"{c()} {word}", f"{c()} {word} {c()}", f"echo {word}; {c()}", f"{c()} {word}={w()}",
                         f"{c()} -{word}", f"x={word} {c()}", f"{c()} \\{word}", f"{c()} '{word}'"])


def generated(seed: int, count: int, depth: int = 3) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        pieces = _Pieces(rng)
        line = pieces.command(depth)
        if rng.random() < 0.3:
            line = pieces.command(depth - 1) + pieces.sep() + line
        lines.append(line)
    return lines


class Sandbox:
    """A directory with canary programs c0..cN on the only PATH; one run per line."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="agentsh-fuzz-"))
        self.bin = self.root / "bin"
        self.log = self.root / "log"
        self.args = self.root / "args"
        self.work = self.root / "work"
        for directory in (self.bin, self.log, self.args, self.work):
            directory.mkdir()
        for n in range(CANARIES):
            program = self.bin / f"c{n}"
            # `:` with a redirection: no program needed but the shell itself; each run's
            # arguments, NUL-terminated, in a file of its own (the PID tells runs apart)
            program.write_text(f"#!/bin/sh\n: > {self.log}/c{n}\nfor a do printf '%s\\0' \"$a\"; done"
                               f" > {self.args}/c{n}.$$\n")
            program.chmod(0o755)

    def run(self, line: str) -> tuple[set[str], set[str]]:
        """The canaries bash ran and the names it created in the work directory."""
        for directory in (self.log, self.args, self.work):
            for entry in directory.iterdir():
                entry.unlink() if not entry.is_dir() or entry.is_symlink() else _rmtree(entry)
        # capture_output: bash's background jobs and coprocesses hold the pipes, so the call
        # returns only when every process the line started has ended; a new session lets a
        # line that hangs be ended whole, so nothing it started writes into the next run
        with subprocess.Popen(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=self.work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              env={"PATH": str(self.bin), "LC_ALL": "C.UTF-8"}, start_new_session=True) as bash:
            try:
                bash.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(bash.pid, signal.SIGKILL)
                bash.communicate()
        ran = {entry.name for entry in self.log.iterdir()}
        made = {entry.name for entry in self.work.iterdir()}
        return ran, made

    def arguments(self) -> list[tuple[str, tuple[str, ...]]]:
        """(canary, its arguments) for each canary run of the last line."""
        runs = []
        for entry in sorted(self.args.iterdir()):
            data = entry.read_bytes().decode("utf-8", "surrogateescape")
            runs.append((entry.name.split(".", 1)[0], tuple(data.split("\0")[:-1])))
        return runs


def _rmtree(path: Path) -> None:
    for sub in path.iterdir():
        _rmtree(sub) if sub.is_dir() and not sub.is_symlink() else sub.unlink()
    path.rmdir()


def misread_arguments(parsed: ParsedLine, runs: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Canary runs whose arguments no reported command of that name has: the parse split or
    joined a word otherwise than bash (`cat ~/.ss""\\h/id_rsa` read as two files).  A command
    with a word known only at run time may have had any arguments."""
    reported: dict[str | None, list[tuple[str | None, ...]]] = {}
    for command in parsed.commands:
        argv = command.argv
        while argv:
            reported.setdefault(argv[0].value, []).append(tuple(w.value for w in argv[1:]))
            inner = unwrap(argv[0].value or "", argv[1:])
            if inner is not None and inner.problem:
                return []  # a wrapper whose program is known only at run time (`time {c1,c2}`)
            argv = inner.inner if inner is not None else ()
    if None in reported:
        return []
    return [f"{name} ran with {list(args)}" for name, args in runs
            if name in reported and not any(None in values or values == args for values in reported[name])]


def unreported(parsed: ParsedLine, ran: set[str], made: set[str]) -> list[str]:
    """What bash did that the parse does not show: a canary run by no reported command name,
    a file created by no reported redirection target (a dynamic name or target covers all)."""
    names: set[str | None] = set()
    for command in parsed.commands:
        argv = command.argv
        while argv:  # `time -p c1`: the policy unwraps wrappers, so the check does too
            names.add(argv[0].value)
            inner = unwrap(argv[0].value or "", argv[1:])
            if inner is not None and inner.problem:
                names.add(None)  # the policy refuses a wrapper whose program it cannot know
            argv = inner.inner if inner is not None else ()
    dynamic_name = None in names
    targets = {r.target.value for r in parsed.redirects if r.target is not None}
    for command in parsed.commands:
        targets |= {r.target.value for r in command.redirects if r.target is not None}
    missing = [f"ran {name}" for name in sorted(ran) if name not in names and not dynamic_name]
    missing += [f"created {name}" for name in sorted(made)
                if name not in targets and None not in targets and name.startswith("f")]
    return missing



def campaign(seed: int, seconds: float, depth: int = 3) -> list[tuple[str, list[str]]]:
    """Lines from `seed` on, for about `seconds`: each accepted line whose run bash and the parse
    disagree on, with what differed."""
    box = Sandbox()
    found: list[tuple[str, list[str]]] = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            for line in generated(seed, 50, depth):
                parsed = parse_line(line)
                if not parsed.ok:
                    continue
                ran, made = box.run(line)
                missing = unreported(parsed, ran, made) + misread_arguments(parsed, box.arguments())
                if missing:
                    found.append((line, missing))
            seed += 1
    finally:
        _rmtree(box.root)
    return found


if __name__ == "__main__":  # python3 -m tests.parse_fuzz SEED SECONDS [DEPTH]
    for line, missing in campaign(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 3):
        print(repr(line), missing)
