"""Turn a tree-sitter-bash syntax tree into the simple commands bash will run.

Only node kinds listed here are understood.  Anything else, a parse error, or
text the tree does not account for becomes a ``Problem`` and the whole line is
refused: lshell's history shows that a checker which guesses where its parser
and bash disagree is a checker that can be bypassed.
"""

from __future__ import annotations

import re
from typing import Any

from . import _ts_parser, disagree, wordnodes  # walker is imported lazily, after the package itself
from .arith import may_hold_arithmetic
from .arith import problems as arithmetic_problems
from .bracket import OPTION_READERS, bracket_words, known_numbers
from .disagree import comment_starts_here, in_backticks, keyword_after_time, regex_runs, unicode_blank_splits
from .heredoc import lost_words
from .model import Assignment, ParsedLine, Problem, Redirect, SimpleCommand, Word
from .redirects import heredoc_body, redirect
from .wordnodes import DOUBLE_PAREN, INERT, MAX_DEPTH, STRUCTURE, text_of

_WORDISH = frozenset({
    "word", "string", "raw_string", "ansi_c_string", "concatenation", "number",
    "simple_expansion", "expansion", "command_substitution", "arithmetic_expansion",
    "process_substitution", "brace_expression", "string_content", "translated_string",
})
# Shell keywords that tree-sitter may hand us as a plain command name.
_KEYWORDS_AS_NAMES = frozenset({
    "coproc", "function", "select", "{", "}", "[[", "]]", "!", "if", "then", "else",
    "elif", "fi", "case", "esac", "for", "while", "until", "do", "done", "in",
})
_REDIRECTS = ("file_redirect", "heredoc_redirect", "herestring_redirect")
_DOLLAR_BLANK = re.compile(rb"\$[ \t\n]")
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "^=", "|=", "**="})
# `a\<newline>b` is one word to bash (a word's character on both sides; on the right also `<`
# or `>`: `2\<newline>>f` is `2>f`), two to tree-sitter.
# An escaped blank joins too (`a\\ \\<newline>#x` is the one word `a #x` to bash; tree-sitter
# read the word `a ` and a comment), and so does an escaped operator character (`\\;\\<newline>/x`
# is the one word `;/x`; tree-sitter read the words `;` and `/x`).
_GLUED = re.compile(rb"(?:[^ \t\n|&;<>()]|\\[ \t|&;<>()])\\\n(?:\\\n)*[^ \t\n|&;()]")
_NUMBERED_ELEMENT = re.compile(r"\[[0-9]+\]\+?=")  # `[3]=x` in `a=(...)`

def parse_line(source: str, home: str | None = None) -> ParsedLine:
    tree = _ts_parser().parse(source.encode("utf-8", "surrogateescape"))
    walker = _Walker(source, home)
    walker.walk(tree.root_node, 0)
    root = tree.root_node
    if (walker.raw[:root.start_byte] + walker.raw[root.end_byte:]).replace(b"\\\n", b"").strip(b" \t\n"):
        # `\\<tab># ...; cmd`: tree-sitter skips `\\<tab>` and reads a comment; bash runs cmd
        walker.problem(root, "text the parser skipped at the start or end of the line")
    split = unicode_blank_splits(root, source)
    if split is not None:
        walker.problem(split, "a Unicode blank glued to a quoted word, an expansion or an '=': it is part "
                              "of the word to bash, the parser split the word there (quote it, or use a space)")
    # Every split the fuzzers found is at a backslash or a `$` before a blank (the walk costs
    # ~6 µs a line); check_gaps refuses two words side by side wherever they are, on every line.
    words = disagree.split_words(root) if b"\\" in walker.raw or _DOLLAR_BLANK.search(walker.raw) else None
    if words is not None:
        walker.problem(*words)
    if tree.root_node.has_error and not walker.problems:
        walker.problem(tree.root_node, "the line could not be parsed")
    walker.arithmetic(tree.root_node)
    if walker.expansions:
        known_numbers(walker.commands, walker.expansions, tree.root_node, walker.raw)
    return ParsedLine(
        source=source,
        commands=tuple(walker.commands),
        redirects=tuple(walker.redirects),
        problems=tuple(walker.problems),
        assigned=tuple(walker.assigned),
        listed=tuple(walker.listed),
    )


class _Walker:
    def __init__(self, source: str, home: str | None) -> None:
        self.source = source
        self.home = home
        self.raw = source.encode("utf-8", "surrogateescape")
        self.commands: list[SimpleCommand] = []
        self.redirects: list[Redirect] = []
        self.problems: list[Problem] = []
        self.assigned: list[tuple[str, str, int]] = []
        self.listed: list[tuple[str, Word, str, int]] = []  # ParsedLine.listed
        # (index in commands, [(index in argv, node)]): `$x` words of test, `[`, printf, wait
        self.expansions: list[tuple[int, list[tuple[int, Any]]]] = []

    # -- helpers -----------------------------------------------------------
    def problem(self, node: Any, reason: str) -> None:
        text = text_of(node)
        if len(text) > 80:
            text = text[:77] + "..."
        problem = Problem(text=text, reason=reason, line=node.start_point[0] + 1)
        if problem not in self.problems:  # two checks may see the same place (split words)
            self.problems.append(problem)

    def nested(self, source: str) -> _Walker:
        """A walker for text bash reads again (a here-document's body), in this line's context."""
        return _Walker(source, self.home)

    def arithmetic(self, root: Any) -> None:
        """Refuse values evaluated as arithmetic that are not known numbers (arith.py)."""
        if not self.problems and may_hold_arithmetic(self.source):
            for node, reason in arithmetic_problems(root, self.raw):
                self.problem(node, reason)

    # -- statements --------------------------------------------------------
    def walk(self, node: Any, depth: int) -> Word | None:
        """Walk a statement (None) or a word in statement position (its Word)."""
        if depth > MAX_DEPTH:
            self.problem(node, f"nesting deeper than {MAX_DEPTH} levels")
            return
        kind = node.type
        if node.is_missing or kind == "ERROR":
            # split("\n"), not splitlines(): tree-sitter counts rows at `\n` only (a `\r` or
            # U+2028 in the line made splitlines() shorter and the lookup raised IndexError)
            lines = self.source.split("\n")
            line = lines[min(node.start_point[0], len(lines) - 1)] if self.source.strip() else ""
            self.problems.append(Problem(text=line[:80], reason="syntax error", line=node.start_point[0] + 1))
            return
        if not node.is_named:
            return
        if kind == "command":
            self.command(node, depth)
        elif kind == "declaration_command" or kind == "unset_command":
            self.declaration(node, depth)
        elif kind == "variable_assignment":
            assignment = self.assignment(node, depth)
            if assignment is not None:
                self.commands.append(SimpleCommand(
                    argv=(), assignments=(assignment,), text=text_of(node),
                    line=node.start_point[0] + 1))
        elif kind == "variable_assignments":
            for child in node.named_children:
                self.walk(child, depth + 1)
        elif kind in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
            redirect(self, node, depth)
        elif kind == "function_definition":
            self.problem(node, "function definitions are not allowed (a function can shadow any checked command)")
        elif kind == "test_command" and node.children[0].type == "[":
            words = bracket_words(self, node, depth)
            if words is not None:  # `[` is a command to bash, checked like `test` (bracket.py)
                if words[1]:  # `$x` words, for known_numbers
                    self.expansions.append((len(self.commands), [(i + 1, n) for i, n in words[1]]))
                self.commands.append(SimpleCommand(
                    argv=(Word("[", "["), *words[0], Word("]", "]")), text=text_of(node), line=node.start_point[0] + 1))
        elif kind == "redirected_statement" and lost_words(self.raw, node) is not None:
            # tree-sitter drops a lone `-` operand before a here-doc (`cat - <<EOF`);
            # give the command back exactly the plain words it lost.
            body = node.children[0]
            self.command(body, depth + 1, extra=lost_words(self.raw, node) or [])
            for child in node.children[1:]:
                self.walk(child, depth + 1)
        elif kind == "subshell" and DOUBLE_PAREN.match(self.raw, node.start_byte):
            # `!((cmd '$(id)'))`: tree-sitter reads two subshells, bash an arithmetic command,
            # whose operand it expands with quotes that do not quote ('$(id)' ran id)
            self.problem(node, "'((' read as two subshells: bash reads arithmetic (write '( (' for "
                               "nested subshells; for a negated test, '! ((' is not read right: "
                               "write '(( ... )) || ...' or '((!(...)))')")
        elif kind in STRUCTURE:
            children = node.children
            self.check_gaps(node, children)
            self.note_assignment(node)
            listing = _listing(node)
            for i, child in enumerate(children):
                word = self.walk(child, depth + 1)
                if listing and listing[0] == "BASH_REMATCH" and i == 0:
                    # tree-sitter may read the word as an expression (`~/x` is `~` applied to `/x`)
                    word = word or Word(text_of(child), None, "expansion")
                elif not listing or word is None or node.field_name_for_child(i) != "value":
                    continue
                self.listed.append((listing[0], word, listing[1], node.start_point[0] + 1))
        elif kind in ("regex", "extglob_pattern") and regex_runs(node.text):
            # tree-sitter keeps the right side of `[[ a =~ ... ]]` (or an extglob pattern
            # `@(...)` in case or [[ ==) as one opaque token when it holds backticks or `<(`;
            # bash expands it and runs the command inside
            self.problem(node, "a command or process substitution in a [[ ]] regex or extglob pattern")
        elif kind == "comment" and not comment_starts_here(self.raw, node):
            # `[ -z x ]#c $(cmd)`: to bash `]#c` is one word, and cmd runs
            self.problem(node, "a '#' glued to the word before it starts no comment to bash")
        elif kind == "comment" and node.text.endswith(b"\\") and in_backticks(node):
            # in backticks bash removes `\\<newline>` before parsing the text: `#\\<newline>x`
            # is one comment and the here-doc body tree-sitter saw after x became commands
            self.problem(node, "a comment ending in a backslash inside backticks")
        elif kind in INERT:
            self.word(node, depth)
        elif kind in _WORDISH or kind == "subscript":
            # A word in statement position: `for x in WORDS`, `case WORD`, `[[ ... ]]`.
            return self.word(node, depth)
        elif kind == "heredoc_body":
            heredoc_body(self, node, depth, expands=True)
        else:
            self.problem(node, f"unsupported shell syntax ({kind})")

    def check_gaps(self, node: Any, children: list[Any] | None = None, *, one_command: bool = False) -> None:
        """Refuse text between a node's children that no child accounts for; with one_command,
        also a newline (bash ends a simple command there: `printf <newline>\\<newline>cmd` ran cmd)."""
        pos = node.start_byte
        before = ""  # the kind of the child before, if it ends where this one starts
        for child in node.children if children is None else children:
            start = child.start_byte
            if pos < start:
                gap = self.raw[pos:start]
                if gap != b" " and self.odd_gap(node, gap, pos, one_command):  # most gaps: one blank
                    return
            elif before in disagree.GLUED_KINDS and child.type in disagree.GLUED_KINDS:
                self.problem(child, disagree.GLUED_WORDS)  # one word to bash (disagree.split_words)
                return
            end = child.end_byte
            before = child.type if end > pos else ""
            if end > pos:
                pos = end

    def odd_gap(self, node: Any, gap: bytes, pos: int, one_command: bool) -> bool:
        """check_gaps for a gap other than one blank: whether it is refused (a problem added)."""
        joined = gap.replace(b"\\\n", b"")
        if joined.strip(b" \t\n"):
            self.problem(node, "text the parser skipped: " + gap.decode("utf-8", "replace").strip())
        elif one_command and b"\n" in joined:
            self.problem(node, "a newline inside one command: bash ends the command there")
        elif len(joined) < len(gap) and _GLUED.search(self.raw, max(pos - 2, 0), pos + len(gap) + 1):
            # tree-sitter ends a word at `\\<newline>`, bash reads on (`cat ~/.ss\\<newline>h/id_rsa`)
            self.problem(node, "a line continuation inside a word (put a blank before the backslash)")
        else:
            return False
        return True

    def note_assignment(self, node: Any) -> None:
        """Record variables set by `for NAME`, arithmetic assignment and ++/-- (their values:
        ParsedLine.listed, for `for` lists)."""
        kind = node.type
        target = None
        if kind == "for_statement":
            target = node.child_by_field_name("variable")
        elif kind == "binary_expression" and any(not c.is_named and c.type in _ASSIGN_OPS for c in node.children):
            target = node.children[0]
        elif kind in ("postfix_expression", "unary_expression") and \
                any(not c.is_named and c.type in ("++", "--") for c in node.children):
            target = next((c for c in node.named_children), None)
        if target is not None and target.type in ("variable_name", "word"):
            self.assigned.append((text_of(target), text_of(node), node.start_point[0] + 1))

    def command(self, node: Any, depth: int, extra: list[Word] | None = None) -> None:
        children = node.children
        self.check_gaps(node, children, one_command=True)
        assignments: list[Assignment] = []
        argv: list[Word] = []
        redirects: list[Redirect] = []
        expansions: list[tuple[int, Any]] = []  # (index in argv, node) of each `$x`, `${x}` word
        for i, child in enumerate(children):
            kind = child.type
            if kind in _REDIRECTS and i and _glued_number(children[i - 1], child):
                # `>f 0<<<x cmd`: bash reads `0<<<` as a here-string on descriptor 0 and runs
                # cmd; tree-sitter took `0` for the program name (or an argument)
                self.problem(children[i - 1], "a descriptor number glued to a redirection that the parser read "
                                              "as a separate word (`0<<<x`): write `<<<`/`<<` without a number")
            if kind in _REDIRECTS and i + 1 < len(children) and children[i + 1].type not in _REDIRECTS and \
                    children[i + 1].is_named and children[i + 1].start_byte == child.end_byte:
                # `>f`cmd`x`: tree-sitter ends the file name at the backtick and reads a command
                # `cmd`x; bash writes the file f<output>x
                self.problem(child, "a redirection's file name or word that the parser split in two (bash "
                                    "reads one word): write $(...) for a substitution there")
            if kind == "variable_assignment":
                assignment = self.assignment(child, depth + 1)
                if assignment is not None:
                    assignments.append(assignment)
            elif kind == "command_name":
                inner = child.named_children
                if len(inner) != 1:
                    self.problem(child, "unsupported command name")
                    return
                word = self.word(inner[0], depth + 1)
                if word.value in _KEYWORDS_AS_NAMES:
                    self.problem(child, f"shell keyword '{word.value}' is not supported here")
                argv.append(word)
            elif kind in _REDIRECTS:
                redirects.extend(redirect(self, child, depth + 1))
            elif kind in _WORDISH or node.field_name_for_child(i) == "argument":
                word = self.word(child, depth + 1)
                if word.why_dynamic == "expansion":
                    expansions.append((len(argv), child))
                argv.append(word)
            elif kind == "comment" and not comment_starts_here(self.raw, child):
                self.problem(child, "a '#' glued to the word before it starts no comment to bash")
            elif kind == "comment" or not child.is_named:
                continue
            else:
                self.problem(child, f"unsupported shell syntax in a command ({kind})")
        argv.extend(extra or ())
        if argv and argv[0].text == "time" and keyword_after_time(argv, _KEYWORDS_AS_NAMES):
            # `time` is a keyword to bash (tree-sitter reads a command): `time x=1 cmd` and
            # `time ! cmd` run cmd, but the check saw the program `x=1` or `!`
            self.problem(node, "an assignment or keyword after 'time' (bash reads them as syntax)")
        if expansions and argv and argv[0].value in OPTION_READERS:
            self.expansions.append((len(self.commands), expansions))
        self.commands.append(SimpleCommand(
            argv=tuple(argv), assignments=tuple(assignments), redirects=tuple(redirects),
            text=text_of(node), line=node.start_point[0] + 1))

    def declaration(self, node: Any, depth: int) -> None:
        """`export A=1 B`, `declare -x A`, `unset A`: a builtin with NAME[=VALUE] words."""
        self.check_gaps(node, one_command=True)
        argv: list[Word] = []
        for child in node.children:
            if not child.is_named:
                if not argv:
                    argv.append(Word(child.type, child.type))
                continue
            if child.type == "variable_assignment":
                assignment = self.assignment(child, depth + 1)
                if assignment is None:
                    continue
                value = assignment.value.value
                op = "+=" if assignment.append else "="
                argv.append(Word(text_of(child), None if value is None else assignment.name + op + value,
                                 assignment.value.why_dynamic))
            elif child.type == "variable_name":
                argv.append(Word(text_of(child), text_of(child)))
            else:
                argv.append(self.word(child, depth + 1))
        self.commands.append(SimpleCommand(argv=tuple(argv), text=text_of(node),
                                           line=node.start_point[0] + 1, declaration=True))

    def assignment(self, node: Any, depth: int) -> Assignment | None:
        # `V=\\<blank><newline>cmd args`: tree-sitter skips `\\ ` and takes cmd as the value
        self.check_gaps(node, one_command=True)
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        if name_node is None or name_node.type != "variable_name":
            self.problem(node, "assignment to an array element or computed name")
            return None
        append = any(not c.is_named and c.type == "+=" for c in node.children)
        if value_node is None:
            value = Word("", "")
        elif value_node.type == "array":
            self.check_gaps(value_node)
            for element in value_node.named_children:
                if text_of(element)[:1] == "[" and not _NUMBERED_ELEMENT.match(text_of(element)):
                    # `a=([x]=1)`: bash evaluates the subscript as arithmetic, through x's value
                    # (`x='b[$(cmd)]'` runs cmd); only `[DIGITS]=` is a known number.
                    self.problem(element, "array subscript with an expression (bash evaluates it as code)")
                self.word(element, depth + 1)
            value = Word(text_of(value_node), None, "array")
        else:
            operator = value_node.prev_sibling
            if operator is not None and self.raw[operator.end_byte:value_node.start_byte].replace(b"\\\n", b""):
                # `V=\\<newline> cmd`: bash removes the continuation, so `V=` ends at the blank
                # and cmd runs; tree-sitter took cmd for the value
                self.problem(node, "a blank after '=' in an assignment (bash ends the assignment there)")
            value = self.word(value_node, depth + 1)
        return Assignment(name=text_of(name_node), value=value, append=append)

    # -- words ---------------------------------------------------------------
    def word(self, node: Any, depth: int) -> Word:
        return wordnodes.word(self, node, depth)

    def plain_word(self, node: Any, text: str) -> Word:
        return wordnodes.plain_word(self, node, text)


def _glued_number(word: Any, redirect_node: Any) -> bool:
    """Is word (a command name or argument) a number ending where a redirection starts?"""
    if word.type == "command_name" and word.named_children:
        word = word.named_children[0]
    return word.end_byte == redirect_node.start_byte and word.type in ("number", "word") and text_of(word).isdigit()


def _listing(node: Any) -> tuple[str, str] | None:
    """(variable, text to show) when a statement hands a variable the values of its words:
    `for NAME in WORDS` each word, `[[ WORD =~ RE ]]` WORD's match to BASH_REMATCH
    (`[[ ~/.ssh/id_rsa =~ .* ]] && cat "$BASH_REMATCH"` read the key)."""
    if node.type == "for_statement":
        target = node.child_by_field_name("variable")
        if target is not None and node.children_by_field_name("value"):
            values = " ".join(text_of(v) for v in node.children_by_field_name("value"))
            return text_of(target), f"for {text_of(target)} in {values}"
    elif node.type == "binary_expression" and any(not c.is_named and c.type == "=~" for c in node.children):
        return "BASH_REMATCH", f"[[ {text_of(node.children[0])} =~ ... ]]"
    return None
