"""Turn a tree-sitter-bash syntax tree into the simple commands bash will run.

Only node kinds listed here are understood.  Anything else, a parse error, or
text the tree does not account for becomes a ``Problem`` and the whole line is
refused: lshell's history shows that a checker which guesses where its parser
and bash disagree is a checker that can be bypassed.
"""

from __future__ import annotations

import re
from typing import Any

from . import _ts_parser, disagree  # walker is imported lazily, after the package itself
from .arith import may_hold_arithmetic
from .arith import problems as arithmetic_problems
from .bracket import OPTION_READERS, bracket_words, known_numbers
from .disagree import comment_starts_here, dollar_token, in_backticks, keyword_after_time, regex_runs, unicode_blank_splits
from .expansion import check_expansion
from .heredoc import lost_words
from .model import Assignment, ParsedLine, Problem, Redirect, SimpleCommand, Word
from .redirects import heredoc_body, redirect
from .words import WordError, ansi_c, double_quoted, unquoted

MAX_DEPTH = 200

# Nodes whose children are walked without further meaning.
_STRUCTURE = frozenset({
    "program", "list", "pipeline", "redirected_statement", "subshell",
    "compound_statement", "if_statement", "elif_clause", "else_clause",
    "while_statement", "do_group", "for_statement", "c_style_for_statement",
    "case_statement", "case_item", "negated_command", "test_command",
    "binary_expression", "unary_expression", "parenthesized_expression",
    "postfix_expression", "ternary_expression",
})
# Leaves (or leaf-like nodes) that carry no command and need no check.
_INERT = frozenset({
    "comment", "number", "variable_name", "special_variable_name", "test_operator",
    "file_descriptor", "heredoc_start", "heredoc_end", "regex", "extglob_pattern",
    "raw_string", "ansi_c_string",
})
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
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "^=", "|=", "**="})
# `a\<newline>b` is one word to bash (a word's character on both sides; on the right also `<`
# or `>`: `2\<newline>>f` is `2>f`), two to tree-sitter.
# An escaped blank joins too (`a\\ \\<newline>#x` is the one word `a #x` to bash; tree-sitter
# read the word `a ` and a comment), and so does an escaped operator character (`\\;\\<newline>/x`
# is the one word `;/x`; tree-sitter read the words `;` and `/x`).
_GLUED = re.compile(rb"(?:[^ \t\n|&;<>()]|\\[ \t|&;<>()])\\\n(?:\\\n)*[^ \t\n|&;()]")
# `((`, also split by line continuations (bash removes them first: `$(\\<newline>(` is `$((`).
_DOUBLE_PAREN = re.compile(rb"\((?:\\\n)*\(")
_NUMBERED_ELEMENT = re.compile(r"\[[0-9]+\]\+?=")  # `[3]=x` in `a=(...)`
# In backticks bash removes a backslash before these and parses the text again; a line
# continuation it removes first, also inside quotes (`` `cat '.ss\<newline>h'` `` read .ssh).
_BACKTICK_ESCAPE = re.compile(r'\\[\\`$"\n]')
# Brace expansion needs a comma or `..` between unquoted braces; `{}` alone is literal.
_BRACES = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")


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
    words = disagree.split_words(root)
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
        text = _text(node)
        if len(text) > 80:
            text = text[:77] + "..."
        self.problems.append(Problem(text=text, reason=reason, line=node.start_point[0] + 1))

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
                    argv=(), assignments=(assignment,), text=_text(node),
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
                    argv=(Word("[", "["), *words[0], Word("]", "]")), text=_text(node), line=node.start_point[0] + 1))
        elif kind == "redirected_statement" and lost_words(self.raw, node) is not None:
            # tree-sitter drops a lone `-` operand before a here-doc (`cat - <<EOF`);
            # give the command back exactly the plain words it lost.
            body = node.children[0]
            self.command(body, depth + 1, extra=lost_words(self.raw, node) or [])
            for child in node.children[1:]:
                self.walk(child, depth + 1)
        elif kind == "subshell" and _DOUBLE_PAREN.match(self.raw, node.start_byte):
            # `!((cmd '$(id)'))`: tree-sitter reads two subshells, bash an arithmetic command,
            # whose operand it expands with quotes that do not quote ('$(id)' ran id)
            self.problem(node, "'((' read as two subshells: bash reads arithmetic (write '( (' for "
                               "nested subshells; for a negated test, '! ((' is not read right: "
                               "write '(( ... )) || ...' or '((!(...)))')")
        elif kind in _STRUCTURE:
            children = node.children
            self.check_gaps(node, children)
            self.note_assignment(node)
            listing = _listing(node)
            for i, child in enumerate(children):
                word = self.walk(child, depth + 1)
                if listing and listing[0] == "BASH_REMATCH" and i == 0:
                    # tree-sitter may read the word as an expression (`~/x` is `~` applied to `/x`)
                    word = word or Word(_text(child), None, "expansion")
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
        elif kind in _INERT:
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
        for child in node.children if children is None else children:
            start = child.start_byte
            if pos < start:
                gap = self.raw[pos:start]
                if gap != b" " and self.odd_gap(node, gap, pos, one_command):  # most gaps: one blank
                    return
            end = child.end_byte
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
            self.assigned.append((_text(target), _text(node), node.start_point[0] + 1))

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
            text=_text(node), line=node.start_point[0] + 1))

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
                argv.append(Word(_text(child), None if value is None else assignment.name + op + value,
                                 assignment.value.why_dynamic))
            elif child.type == "variable_name":
                argv.append(Word(_text(child), _text(child)))
            else:
                argv.append(self.word(child, depth + 1))
        self.commands.append(SimpleCommand(argv=tuple(argv), text=_text(node),
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
                if _text(element)[:1] == "[" and not _NUMBERED_ELEMENT.match(_text(element)):
                    # `a=([x]=1)`: bash evaluates the subscript as arithmetic, through x's value
                    # (`x='b[$(cmd)]'` runs cmd); only `[DIGITS]=` is a known number.
                    self.problem(element, "array subscript with an expression (bash evaluates it as code)")
                self.word(element, depth + 1)
            value = Word(_text(value_node), None, "array")
        else:
            operator = value_node.prev_sibling
            if operator is not None and self.raw[operator.end_byte:value_node.start_byte].replace(b"\\\n", b""):
                # `V=\\<newline> cmd`: bash removes the continuation, so `V=` ends at the blank
                # and cmd runs; tree-sitter took cmd for the value
                self.problem(node, "a blank after '=' in an assignment (bash ends the assignment there)")
            value = self.word(value_node, depth + 1)
        return Assignment(name=_text(name_node), value=value, append=append)

    # -- words ---------------------------------------------------------------
    def word(self, node: Any, depth: int) -> Word:
        text = _text(node)
        if depth > MAX_DEPTH:
            self.problem(node, f"nesting deeper than {MAX_DEPTH} levels")
            return Word(text, None, "too deep")
        kind = node.type
        try:
            if kind == "word":
                return self.unquoted_word(text)
            if kind == "number":
                return Word(text, text)
            if kind == "raw_string":
                return Word(text, text[1:-1])
            if kind == "ansi_c_string":
                return Word(text, ansi_c(text[2:-1]))
            if kind == "string_content":
                return Word(text, double_quoted(text))
            if kind == "string":
                return self.joined(node, depth, quoted=True)
            if kind == "concatenation":
                return self.joined(node, depth, quoted=False)
        except WordError as err:
            self.problem(node, str(err))
            return Word(text, None, "unparsed")
        if kind == "command_substitution":
            self.check_gaps(node)
            if text.startswith("`") and _BACKTICK_ESCAPE.search(text, 1, len(text) - 1):
                # bash removes these backslashes and parses the rest again (`\`cmd\`` is a
                # nested substitution); tree-sitter keeps them as literal word text.
                self.problem(node, "a backslash escape or line continuation inside backticks (write $(...) instead)")
            if _DOUBLE_PAREN.match(self.raw, node.start_byte + 1):
                # bash reads `$((` as arithmetic when it can, tree-sitter (inside ${x:-...})
                # as a command substitution of a subshell: `'$(cmd)'` in it ran cmd
                self.problem(node, "'$((' read as a command substitution: bash may read arithmetic "
                                   "(write '$( (' for a subshell)")
            for child in node.children:
                self.walk(child, depth + 1)
            return Word(text, None, "command substitution")
        if kind == "process_substitution":
            self.check_gaps(node)
            for child in node.children:
                self.walk(child, depth + 1)
            return Word(text, None, "process substitution")
        if kind in ("simple_expansion", "expansion", "arithmetic_expansion", "subscript"):
            if text.startswith("$\\\n"):
                # `$\\<newline>[$'$(cmd)']`: bash removes the continuation and reads `$[...]`
                # arithmetic (cmd ran); tree-sitter read a variable named by the continuation
                self.problem(node, "a line continuation right after '$' (bash joins it to what "
                                   "follows: write them together)")
            check_expansion(self, node, depth)
            return Word(text, None, "expansion")
        if kind == "brace_expression":
            return Word(text, None, "brace expansion")
        if kind == "comment" and text.endswith("\\"):
            # `>"f"#\\<newline>x`: tree-sitter puts a comment `#\\` into the word and joins the next
            # line's text to it; bash removes the continuation (the file is f#x, not f#\\x)
            self.problem(node, "a '#' glued to a quoted word and followed by a line continuation "
                               "(quote the '#', or put the word on one line)")
            return Word(text, None, "unparsed")
        if kind in _INERT or kind == "variable_name":
            return Word(text, text)
        if kind in _STRUCTURE:
            self.walk(node, depth + 1)
            return Word(text, None, "expression")
        self.problem(node, f"unsupported shell syntax in a word ({kind})")
        return Word(text, None, "unsupported")

    def unquoted_word(self, text: str) -> Word:
        """An unquoted word's value (WordError for text bash would not read as one word)."""
        value, glob = unquoted(text)
        if _BRACES.search(text):
            return Word(text, None, "brace expansion")
        if glob:
            return Word(text, None, "glob")
        if "=~" in text or ":~" in text:
            return Word(text, None, "tilde expansion")
        if value.startswith("~") and text.startswith("~"):
            return self.tilde(text, value)
        return Word(text, value)

    def plain_word(self, node: Any, text: str) -> Word:
        """unquoted_word, with a problem for the line instead of WordError."""
        try:
            return self.unquoted_word(text)
        except WordError as err:
            self.problem(node, str(err))
            return Word(text, None, "unparsed")

    def tilde(self, text: str, value: str) -> Word:
        head, sep, rest = value.partition("/")
        if head != "~" or self.home is None:
            return Word(text, None, "tilde expansion")
        return Word(text, self.home.rstrip("/") + sep + rest if sep else self.home)

    def joined(self, node: Any, depth: int, *, quoted: bool) -> Word:
        parts: list[str] = []
        prefix: str | None = None  # static text before the first dynamic part
        dynamic = ""
        braces = ""
        end = node.start_byte
        for child in node.children:
            if quoted and child.start_byte > end > node.start_byte:
                # blanks inside quotes that no token's span holds (`"<newline>/x"`, `"a<newline>"`):
                # literal text to bash, which tree-sitter's tokens leave out
                parts.append(self.raw[end:child.start_byte].replace(b"\\\n", b"").decode("utf-8", "surrogateescape"))
            end = child.end_byte
            if quoted and child.type != "string_content" and child.start_byte > node.start_byte:
                # tree-sitter puts blanks inside quotes into the span of the token after
                # them unless other text joins them (`" "`, `" $a"`): they are literal text.
                child_text = _text(child)
                lead = child_text[:len(child_text) - len(child_text.lstrip(" \t\n"))]
                if lead:
                    parts.append(lead)
            if not child.is_named:
                if child.type == "$" and self.raw[child.end_byte:child.end_byte + 2] == b"\\\n":
                    # `"$\\<newline>(cmd)"`: bash removes the continuation first and runs cmd;
                    # tree-sitter reads a lone `$` and the text `(cmd)`
                    self.problem(child, "a line continuation right after '$' (bash joins it to what "
                                        "follows: write them together)")
                    continue
                if child.type == "$":
                    part = dollar_token(child)  # `a$$` is a's text and the PID; `a$` keeps its `$`
                    if part is None:
                        continue  # `$"..."`: bash's translated string, read as the string itself
                    if part.value is None:
                        dynamic = dynamic or part.why_dynamic
                        if prefix is None:
                            prefix = "".join(parts)
                    else:
                        parts.append(part.value)
                elif child.type != '"':
                    self.problem(child, f"unexpected token {child.type!r} in a word")
                continue
            if quoted and child.type == "string_content":
                part = Word(_text(child), double_quoted(_text(child)))
            else:
                part = self.word(child, depth + 1)
            if child.type == "word":
                braces += _text(child)
            if part.value is None:
                dynamic = dynamic or part.why_dynamic
                if prefix is None:
                    prefix = "".join(parts) + part.prefix
            else:
                parts.append(part.value)
        if not quoted and _BRACES.search(braces):
            dynamic = dynamic or "brace expansion"
            prefix = ""
        text = node.text.decode("utf-8", "surrogateescape")
        if dynamic:
            return Word(text, None, dynamic, prefix or "")
        return Word(text, "".join(parts))


def _glued_number(word: Any, redirect_node: Any) -> bool:
    """Is word (a command name or argument) a number ending where a redirection starts?"""
    if word.type == "command_name" and word.named_children:
        word = word.named_children[0]
    return word.end_byte == redirect_node.start_byte and word.type in ("number", "word") and _text(word).isdigit()


def _listing(node: Any) -> tuple[str, str] | None:
    """(variable, text to show) when a statement hands a variable the values of its words:
    `for NAME in WORDS` each word, `[[ WORD =~ RE ]]` WORD's match to BASH_REMATCH
    (`[[ ~/.ssh/id_rsa =~ .* ]] && cat "$BASH_REMATCH"` read the key)."""
    if node.type == "for_statement":
        target = node.child_by_field_name("variable")
        if target is not None and node.children_by_field_name("value"):
            values = " ".join(_text(v) for v in node.children_by_field_name("value"))
            return _text(target), f"for {_text(target)} in {values}"
    elif node.type == "binary_expression" and any(not c.is_named and c.type == "=~" for c in node.children):
        return "BASH_REMATCH", f"[[ {_text(node.children[0])} =~ ... ]]"
    return None


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "surrogateescape")
