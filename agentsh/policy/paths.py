"""Static checks of file arguments and redirections against the profile's read and write roots.

This is the first of two layers: it sees only what the line spells out.  Paths
a program computes at run time are the exec-time layer's job (Landlock).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from stat import S_ISDIR, S_ISLNK

from ..parse import Word
from ..profile import Profile

ALWAYS_WRITABLE = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd")
_GLOB = "*?["

# Programs whose operands they create, change or delete.  Value: which operands.
#   "all": every operand; "last": the last one (cp's destination); "after-first": all but the
#   first (chmod MODE FILE...); "compress": every operand unless the output goes to stdout
#   (gzip FILE writes FILE.gz beside it and deletes FILE); "mktemp": the template, in -p DIR.
WRITERS: dict[str, str] = {
    "rm": "all", "rmdir": "all", "mkdir": "all", "touch": "all", "tee": "all", "truncate": "all",
    "shred": "all", "unlink": "all", "mv": "all", "ln": "last", "cp": "last", "install": "last",
    "chmod": "after-first", "chown": "after-first", "chgrp": "after-first", "mkfifo": "all",
    "mknod": "all", "rsync": "last", "scp": "last", "dd": "of", "sed": "in-place", "split": "last",
    "patch": "all", "tar": "none", "unzip": "none", "sort": "none", "uniq": "last", "tree": "none",
    "zip": "first", "find": "find-delete", "strace": "none", "ltrace": "none", "wget": "none", "curl": "none",
    "gzip": "compress", "gunzip": "compress", "bzip2": "compress", "bunzip2": "compress",
    "xz": "compress", "unxz": "compress", "lzma": "compress", "unlzma": "compress", "zstd": "compress",
    "unzstd": "compress", "mktemp": "mktemp",
}
# Options whose value a program writes to: `--output=FILE`, `-o FILE`, `-t DIR`.
OUTPUT_OPTIONS: dict[str, tuple[str, ...]] = {
    "cp": ("-t", "--target-directory"), "mv": ("-t", "--target-directory"),
    "install": ("-t", "--target-directory"), "ln": ("-t", "--target-directory"),
    "sort": ("-o", "--output", "-T", "--temporary-directory"),
    "tar": ("-C", "--directory", "-f", "--file", "-g", "--listed-incremental", "--index-file"),
    "unzip": ("-d",), "gcc": ("-o",), "cc": ("-o",), "g++": ("-o",), "curl": ("-o", "--output"),
    "wget": ("-O", "--output-document", "-P", "--directory-prefix", "-o", "--output-file", "-a",
             "--append-output"), "git": ("--output", "-o"),
    "tree": ("-o",), "split": ("--additional-suffix",), "strace": ("-o", "--output"),
    "ltrace": ("-o", "--output"), "patch": ("-o", "--output", "-r", "--reject-file", "-d", "--directory"),
    "mktemp": ("-p", "--tmpdir"),
}
# Options that take a value, besides the output options: getopt takes the rest of a cluster
# (`-S.bak`) or the next word (`-S .bak`) as the value, so that word is no operand, and the
# letters after such an option in a cluster are no options.  Misreading either way moved the
# write target (`cp a ~/.bashrc -S .bak` has the destination ~/.bashrc, not `.bak`).
VALUE_OPTIONS: dict[str, tuple[str, ...]] = {
    "cp": ("-S", "--suffix", "--no-preserve", "--sparse"),
    "mv": ("-S", "--suffix"), "ln": ("-S", "--suffix"),
    "install": ("-S", "--suffix", "-m", "--mode", "-o", "--owner", "-g", "--group", "--strip-program"),
    "mkdir": ("-m", "--mode"), "mkfifo": ("-m", "--mode"), "mknod": ("-m", "--mode"),
    "touch": ("-d", "--date", "-r", "--reference", "-t", "--time"),
    "truncate": ("-s", "--size", "-r", "--reference"),
    "shred": ("-n", "--iterations", "-s", "--size", "--random-source"),
    "chmod": ("--reference",), "chown": ("--reference", "--from"), "chgrp": ("--reference",),
    "sed": ("-e", "--expression", "-f", "--file", "-l", "--line-length"),
    "split": ("-a", "--suffix-length", "-b", "--bytes", "-C", "--line-bytes", "-l", "--lines", "-n",
              "--number", "-t", "--separator", "--filter"),
    "sort": ("-k", "--key", "-t", "--field-separator", "-S", "--buffer-size", "--compress-program",
             "--files0-from", "--batch-size", "--parallel", "--random-source", "--sort"),
    "uniq": ("-f", "--skip-fields", "-s", "--skip-chars", "-w", "--check-chars"),
    "tar": ("-b", "--blocking-factor", "-H", "--format", "-K", "--starting-file", "-L", "--tape-length",
            "-N", "--newer", "-T", "--files-from", "-V", "--label", "-X", "--exclude-from", "-I",
            "--use-compress-program", "-F", "--info-script", "--new-volume-script", "--exclude",
            "--transform", "--xform", "--owner", "--group", "--mode", "--mtime", "--checkpoint-action",
            "--to-command", "--rsh-command", "--rmt-command"),
    "patch": ("-B", "--prefix", "-D", "--ifdef", "-F", "--fuzz", "-i", "--input", "-p", "--strip",
              "-V", "--version-control", "-Y", "--basename-prefix", "-z", "--suffix", "-g", "--get",
              "--quoting-style", "--reject-format"),
    "gzip": ("-S", "--suffix"), "gunzip": ("-S", "--suffix"),
    "xz": ("-S", "--suffix", "-F", "--format", "-C", "--check", "-T", "--threads", "-M", "--memlimit"),
    "unxz": ("-S", "--suffix", "-F", "--format", "-T", "--threads", "-M", "--memlimit"),
    "mktemp": ("--suffix",),
}
# gzip and friends write to stdout (or write nothing) with these: their operands are only read.
_COMPRESS_NO_WRITE = ("-c", "--stdout", "--to-stdout", "-l", "--list", "-t", "--test")
# Letters that make a compressor's cluster (`-dc`) write to stdout or nothing.
_COMPRESS_NO_WRITE_LETTERS = "clt"
# tar's modes that read the archive (-f) and those that write it.
_TAR_READS_ARCHIVE = frozenset({"-x", "--extract", "--get", "-t", "--list", "-d", "--diff", "--compare"})
_TAR_WRITES_ARCHIVE = frozenset({"-c", "--create", "-r", "--append", "-u", "--update", "-A", "--catenate",
                                 "--concatenate", "--delete"})
# unzip options that list, test or print members instead of extracting them.
_UNZIP_NO_WRITE = ("-l", "-t", "-p", "-c", "-v", "-z", "-Z")
# A chmod mode may be written as an option (`chmod -w FILE`): then no operand is the mode.
_CHMOD_MODE_OPTION = re.compile(r"-[rwxXstugoa0-7=+,-]+")


def within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


# The command's own streams: resolving them here would describe agentsh's descriptors,
# not the command's.
OWN_STREAMS = ("/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/null", "/dev/tty")
OWN_STREAM_DIRS = ("/dev/fd/", "/proc/self/fd/")


def resolve(value: str, cwd: str, reals: dict[str, str] | None = None, read: bool = False) -> str:
    """The real path `value` names from `cwd` (own streams by their own name).

    `reals` is one line's scratch of directories' real paths (never kept past the line):
    given it, a short relative value takes _resolve_under.
    """
    if reals is not None:
        found = _resolve_under(value, cwd, reals, read)
        if found is not None:
            return found
    joined = os.path.join(cwd, value)
    path = os.path.normpath(joined)
    # `..` is resolved the kernel's way: after a link it goes up from the link's target, so
    # `link/../id_rsa` names a file beside what link points to, whatever normpath says.
    # Only a path without `..` is the same file written either way.
    physical = ".." in joined.split("/")
    if (path in OWN_STREAMS or path.startswith(OWN_STREAM_DIRS)) and not physical:
        return path
    try:
        return real_path(joined if physical else path)
    except OSError:  # e.g. /proc/1/ns/net: unreadable links are judged by their own path
        return path


# Longer relative values take real_path: an lstat per component stops paying past a few.
_UNDER_PARTS = 4


def _resolve_under(value: str, cwd: str, reals: dict[str, str], read: bool) -> str | None:
    """resolve(value, cwd) for a relative value of a few plain components (`a.txt`,
    `src/app.py`, `src/`, `.`) when cwd is its own real path, else None.

    A line's file arguments are mostly such names in one directory.  os.path.realpath walks
    a path left to right, appending each component that lstat finds is no symlink (or, last,
    finds missing); from a directory already known real that is an lstat per component
    (~1.5 µs each) instead of resolve's normpath + open(O_PATH) + readlink + close (~8 µs).
    cwd's real path is found once per line, in `reals`: from the first value read there
    (`read`), or by real_path(cwd) for a write target (often missing).  Symlinks, `.`/`..`/empty
    components, absolute values and errors other than a missing last component return None:
    resolve then does what it always did.  What this returns is also the value's normalised
    path, which is what resolve answers for an own stream (/dev/null, /dev/fd/1) anyway.
    """
    if value == ".":
        parts = []
    else:
        parts = value.split("/")
        if len(parts) > 1 and not parts[-1]:
            parts.pop()  # one trailing slash: normpath drops it, and realpath never sees it
        if len(parts) > _UNDER_PARTS or "" in parts or "." in parts or ".." in parts:
            return None
    real = reals.get(cwd)
    if real is None:
        if parts and read:
            # The first value read from cwd in this line (it exists, as a rule): the kernel's
            # name for the whole path, as real_path would ask it.  When that is the path as
            # written, cwd, a prefix of a real path, is real itself (the kernel's name has no
            # symlink or `.` in it), and later values take the lstat way.  Otherwise resolve
            # decides, as it always did.
            full = ("" if cwd == "/" else cwd) + "/" + "/".join(parts)
            if _opened_real_path(full) != full:
                return None
            reals[cwd] = cwd
            return full
        if len(parts) > 1:
            return None  # a write target: real_path(cwd) and two lstats cost more than resolve
        try:
            real = reals[cwd] = real_path(cwd)
        except OSError:
            return None
    if real != cwd:
        return None  # cwd reached through a link, or not normalised: not worth the cases
    base = "" if cwd == "/" else cwd
    if not parts:
        return cwd
    full = base + "/" + "/".join(parts)
    path = base
    last = len(parts) - 1
    for i, part in enumerate(parts):
        path = path + "/" + part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return full if i == last else None
        except (OSError, ValueError):
            return None
        if S_ISLNK(mode) or (i < last and not S_ISDIR(mode)):
            return None
    return full


_O_PATH = getattr(os, "O_PATH", 0)


def real_path(path: str) -> str:
    """os.path.realpath(path), in three system calls when the path exists.

    os.path.realpath walks the path in Python with an lstat per component (~15 µs for a
    file in a workspace); the kernel resolves it in one open(O_PATH), which neither reads
    the file nor has an open's side effects (FIFOs, devices), and names the result in
    /proc/self/fd.  A path whose last component alone is missing (a file about to be
    written) is its directory's real path and the name.  Anything else unusual (no /proc,
    a link to a pipe, a deleted file, a dangling link) takes os.path.realpath, so the
    result is always realpath's.
    """
    if not _O_PATH or not path.startswith("/"):
        return os.path.realpath(path)
    real = _opened_real_path(path)
    if real is None:
        real = _missing_real_path(path)
    return real


def _opened_real_path(path: str) -> str | None:
    """The name the kernel gives `path` once resolved; None if it cannot give it plainly."""
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    finally:
        os.close(fd)
    if not real.startswith("/") or real.endswith(" (deleted)"):
        return None
    return real


def _missing_real_path(path: str) -> str:
    """realpath of a path open() did not resolve.

    realpath resolves the directory part, then appends a last component that lstat does not
    find as it stands: so when lstat finds no such name (ENOENT: not even a dangling link)
    in a directory that resolves, the result is that directory's real path and the name.
    Every other case takes os.path.realpath itself, and so, to keep this easy to check, do
    paths with `.`, `..` or empty components (realpath takes `..` after a missing component
    lexically, the kernel does not; the directory would not resolve then, but no matter).
    """
    parent, _, name = path.rpartition("/")
    if name in ("", ".", "..") or "//" in path or "/./" in path or "/../" in path:
        return os.path.realpath(path)
    try:
        os.lstat(path)
    except FileNotFoundError:
        parent_real = _opened_real_path(parent or "/")
        if parent_real is not None:
            return os.path.join(parent_real, name)
    except (OSError, ValueError):
        pass
    return os.path.realpath(path)


class PathChecker:
    def __init__(self, profile: Profile, home: str) -> None:
        self.profile = profile
        self.home = home
        home_relative = []
        for root in profile.read_deny:
            # Under HOME, the relative name (`.ssh`) is what a line spells after $HOME or ~;
            # elsewhere the full path, since a bare basename (`agentsh`, `shadow`) is too common.
            name = os.path.relpath(root, home) if within(root, home) and root != home else root
            if name:
                home_relative.append(name)
        # For words only known at run time (`"$HOME/.ssh/id_rsa"`), look for the denied
        # roots' names in the text as written.
        self.denied_fragments = tuple(home_relative)
        self._fragment_parts = tuple((fragment, tuple(fragment.split("/"))) for fragment in home_relative)
        # Every path argument is checked against every root: one C-level startswith over
        # all of them first (what `within` tests), the loop only to name the root.
        self._deny_roots = frozenset(profile.read_deny)
        self._deny_prefixes = tuple(root.rstrip("/") + "/" for root in profile.read_deny)
        self._allow_roots = frozenset(profile.read_allow)
        self._allow_prefixes = tuple(root.rstrip("/") + "/" for root in profile.read_allow)

    def read_problem(self, path: str) -> str:
        if path in self._deny_roots or path.startswith(self._deny_prefixes):
            for root in self.profile.read_deny:
                if within(path, root):
                    return f"reads {path}, which is inside the denied read root {root}"
        if self.profile.read_allow and not (path in self._allow_roots or path.startswith(self._allow_prefixes)):
            return f"reads {path}, which is outside the read roots"
        return ""

    def write_problem(self, path: str) -> str:
        if path in OWN_STREAMS or path.startswith(OWN_STREAM_DIRS) or any(within(path, p) for p in ALWAYS_WRITABLE):
            return ""
        for root in self.profile.write_deny:
            if within(path, root):
                return f"writes {path}, which is inside the denied write root {root}"
        if not any(within(path, r) for r in self.profile.write_allow):
            return f"writes {path}, which is outside the write roots ({', '.join(self.profile.write_allow) or 'none'})"
        return self.read_problem(path)

    def check_read_word(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None = None) -> str:
        value = word.value
        if value is None:
            return self._dynamic(word, "read") or (self._glob(word, cwds, write=False) if word.why_dynamic == "glob" else "")
        # The two commonest shapes without _candidates' lists: a flag (`-la`, no file in it)
        # and a plain operand (the word itself is the only candidate).
        if value[:1] == "-" and "=" not in value and "/" not in value:
            return ""
        if value and value[0] != "-" and value[0] != "@" and "=@" not in value:
            candidates = [value]
        else:
            candidates = _candidates(value)
        for candidate in candidates:
            for cwd in cwds:
                if _pathlike(candidate, cwd):
                    problem = self.read_problem(resolve(candidate, cwd, reals, read=True))
                    if problem:
                        return problem
        return ""

    def check_write_word(self, word: Word, cwds: Iterable[str], reals: dict[str, str] | None = None) -> str:
        if word.value is None:
            if word.why_dynamic == "glob":
                return self._glob(word, cwds, write=True)
            return f"writes to {word.text}, which is only known at run time"
        for cwd in cwds:
            problem = self.write_problem(resolve(word.value, cwd, reals))
            if problem:
                return problem
        return ""

    def _dynamic(self, word: Word, what: str) -> str:
        """Does a word known only at run time spell a denied root's name?  Quotes and
        backslashes cut no name short (`.ss"h"` spells `.ssh`), each alternative of a brace
        expansion is read (`~/.{ssh,aws}`), and a glob component may stand for a component
        of the name (`$HOME/.s*h/id_rsa`)."""
        text = word.text
        bare = text.replace('"', "").replace("'", "").replace("\\", "") if "'" in text or '"' in text or \
            "\\" in text else text
        for spelled in _brace_alternatives(bare) if "{" in bare else (bare,):
            for fragment in self.denied_fragments:
                if fragment in spelled:
                    return f"{what}s {word.text}, which names the denied root {fragment}"
            # `$?`, `$*` are parameters, not globs: only a component with a glob left in it
            # can stand for a component of a name.
            parts = spelled.split("/")
            globs = [i for i, part in enumerate(parts)
                     if any(c in _PARAMETERS.sub("", part) for c in _GLOB)]
            for fragment, wanted in self._fragment_parts if globs else ():
                if _components_may_spell(parts, globs, wanted):
                    return f"{what}s {word.text}, which names the denied root {fragment}"
        return ""

    def _glob(self, word: Word, cwds: Iterable[str], *, write: bool) -> str:
        """A glob expands to names under its literal directory, as bash matches them: refused
        when that directory is outside the roots (`link/*` with link -> ~/.ssh, `rm ~/.bash*`),
        or when its pattern can name a denied root below it (`~/.s*/id_rsa`, `/etc/sha*`).
        A glob with quotes, escapes or expansions is left to the fragment check when read,
        and refused as a write target, whose directory it would hide."""
        found = _glob_parts(word.text, self.home)
        if found is None:
            return f"writes to {word.text}, which is only known at run time" if write else ""
        directory, pattern = found
        check = self.write_problem if write else self.read_problem
        denied = (*self.profile.read_deny, *self.profile.write_deny) if write else self.profile.read_deny
        for cwd in cwds:
            base = resolve(directory, cwd)
            problem = check(base)
            if problem:
                return f"{word.text} expands under {base}: {problem}"
            for root in denied:
                if root != base and within(root, base) and \
                        _glob_may_name(pattern, root[len(base.rstrip("/")) + 1:].split("/")):
                    return f"{'writes' if write else 'reads'} {word.text}, which can name {root}, a denied root"
        return ""


def _candidates(value: str) -> list[str]:
    """The parts of an argument that may name a file (`--file=X`, `-I/x`, curl's `@X`, `k=@X`)."""
    if value.startswith("-"):
        out = []
        if "=" in value:
            out.append(value.split("=", 1)[1])
        elif "/" in value:
            out.append(value[value.index("/"):])
    else:
        out = [value]
        if "=@" in value:
            out.append(value.split("=@", 1)[1])
    return [c[1:] if c.startswith("@") else c for c in out if c and c != "@"]


def _find_start_points(args: tuple[Word, ...]) -> list[Word]:
    """find's start points: the words before its first expression (`.` if there are none)."""
    points = []
    for word in args:
        if word.value is None or word.value.startswith(("-", "(", "!")) or word.value in (")",):
            if word.value is None:
                points.append(word)  # unknown: checked (and refused) as a write target
            break
        points.append(word)
    return points or [Word(".", ".")]


def nofollow_access_works() -> bool:
    """Does access(F_OK) without following links answer here?

    Python makes it faccessat(..., AT_SYMLINK_NOFOLLOW), which glibc 2.33 and later turn
    into the faccessat2 system call.  A seccomp filter older than that call (container
    runtimes before 2021) fails it with EPERM, and os.access then says False for every
    path: every operand would be taken for a word that names no file and go unchecked.
    So it is used only where it answers for "/", which always exists."""
    try:
        return os.access("/", os.F_OK, follow_symlinks=False)
    except (NotImplementedError, OSError, ValueError):
        return False


_NOFOLLOW_ACCESS = nofollow_access_works()


def _pathlike(value: str, cwd: str) -> bool:
    if "/" in value or value.startswith(".") or value == "~":
        return True
    # os.path.lexists(os.path.join(cwd, value)) for a value without a slash, without their
    # Python-level layers: this runs for most arguments of most commands, and most of them
    # (`status`, `HEAD~1`, `20`) name no file: access(F_OK) without following a link answers
    # as lstat would, but a miss returns False where lstat raises (~0.7 µs less).
    path = cwd + value if not cwd or cwd.endswith("/") else cwd + "/" + value
    try:
        if _NOFOLLOW_ACCESS:
            return os.access(path, os.F_OK, follow_symlinks=False)
        os.lstat(path)
    except (OSError, ValueError):  # a NUL in the word
        return False
    return True


def _glob_parts(text: str, home: str) -> tuple[str, list[str]] | None:
    """(literal directory, components of the pattern from there) of a plain glob, `~/` as
    HOME; None when quotes, escapes, expansions or another `~` make the text not the path."""
    if any(c in text for c in "'\"\\$`{"):
        return None
    if text == "~" or text.startswith("~/"):
        text = home.rstrip("/") + text[1:]
    elif "~" in text:
        return None
    head = text[:min((text.find(c) for c in _GLOB if c in text), default=len(text))]
    directory = head[:head.rfind("/") + 1] or "."
    return directory, text[len(directory):].split("/")


# A brace group with a comma and nothing that would change its meaning inside it.
_BRACE_GROUP = re.compile(r"\{([^{}'\"\\\\$`]*,[^{}'\"\\\\$`]*)\}")
_MAX_ALTERNATIVES = 256


def _brace_alternatives(text: str) -> list[str]:
    """The words bash's brace expansion makes of `text`, for its simple comma groups (up to
    _MAX_ALTERNATIVES; a group it cannot read stays as written)."""
    out = [text]
    while len(out) < _MAX_ALTERNATIVES:
        found = [(i, _BRACE_GROUP.search(t)) for i, t in enumerate(out)]
        first = next(((i, m) for i, m in found if m is not None), None)
        if first is None:
            break
        i, match = first
        alternatives = [out[i][:match.start()] + alt + out[i][match.end():] for alt in match.group(1).split(",")]
        out[i:i + 1] = alternatives
    return out[:_MAX_ALTERNATIVES]


_PARAMETERS = re.compile(r"\$[?*@#$!-]")


def _components_may_spell(parts: list[str], globs: list[int], wanted: tuple[str, ...]) -> bool:
    """Can consecutive components of a word (`parts`, `globs` the indexes of those with a
    glob in them), globs matched as bash matches names, spell the components of a name
    (`.s*h` for `.ssh`; `/etc/sha*` for `/etc/shadow`)?  Windows without a glob were
    already compared as text."""
    starts = {g - k for g in globs for k in range(len(wanted)) if 0 <= g - k <= len(parts) - len(wanted)}
    return any(all(_glob_may_name([parts[j + k]], [wanted[k]]) for k in range(len(wanted))) for j in starts)


def _glob_may_name(pattern: list[str], names: list[str]) -> bool:
    """Can a glob's components (from its literal directory on) match these path components
    and so name that path or something below it?  As bash matches: a leading `.` is matched
    only by a literal `.` (not by `*`, `?`, `**` or a bracket); a bracket expression is
    otherwise taken to match anything it might."""
    if len(pattern) < len(names):
        return False  # the glob names directories above the root at most, like a literal parent
    for part, name in zip(pattern, names, strict=False):  # the pattern may go deeper
        if name.startswith(".") and not part.startswith("."):
            return False
        if "[" not in part and not fnmatch.fnmatchcase(name, part):
            return False
    return True


# Programs whose options do not cluster (`gcc -static` is one option): only `-oFILE` is read
# as an output option glued to its value.
_NO_CLUSTERS = frozenset({"gcc", "cc", "g++", "tree"})


def _long_option(name: str, outputs: tuple[str, ...], values: tuple[str, ...]) -> str:
    """"out", "value" or "" for `--name`: getopt takes any unambiguous prefix of a long option
    (`--outp` is `--output`), so a prefix of an output option counts as one (fail closed)."""
    if name in outputs:
        return "out"
    if name in values:
        return "value"
    if any(o.startswith(name) for o in outputs if o.startswith("--")):
        return "out"
    if any(o.startswith(name) for o in values if o.startswith("--")):
        return "value"
    return ""


def write_targets(program: str, args: tuple[Word, ...]) -> list[Word]:
    """The arguments `program` will write to, as far as the line shows.

    Options are read the way getopt reads them: clusters (`-rt DIR`, `-czf FILE`), values glued
    or in the next word, long options abbreviated, tar's old dashless first word (`czf FILE`).
    Where the program writes without naming the place (tar extracting, `ln -s TARGET`, `split
    FILE`, `patch`, `unzip`), the working directory `.` is a target."""
    mode = WRITERS.get(program)
    options = OUTPUT_OPTIONS.get(program, ())
    if mode is None and not options:
        return []  # most programs (git aside): nothing below could add a target
    values = VALUE_OPTIONS.get(program, ())
    targets: list[Word] = []
    operands: list[Word] = []
    seen: set[str] = set()  # options given (long ones by their full name when known)
    archives: list[Word] = []  # tar's -f: written when tar creates or adds to it, else read
    in_place = False
    after_dashdash = False
    i = 0

    def take(option: str, rest: str, word: Word) -> None:
        """An option with a value: `rest` glued to it, else the next word."""
        nonlocal i
        if rest:
            value: Word | None = Word(word.text, rest)
        elif i + 1 < len(args):
            i += 1
            value = args[i]
        else:
            value = None
        if value is not None and option in options:
            targets.append(value)
            if option in ("-f", "--file") and program == "tar":
                archives.append(value)

    while i < len(args):
        word = args[i]
        value = word.value
        if program == "tar" and i == 0 and value and value[0] != "-" and value.isalpha():
            # Old-style tar: `czf ARCHIVE ...`, each letter that takes a value takes the next word.
            for letter in value:
                option = "-" + letter
                seen.add(option)
                if option in options or option in values:
                    take(option, "", word)
            i += 1
            continue
        if value is not None and not after_dashdash and value.startswith("-") and value != "-":
            if value == "--":
                after_dashdash = True
            elif value.startswith("--"):
                name, eq, rest = value.partition("=")
                kind = _long_option(name, options, values)
                full = next((o for o in (*options, *values) if o.startswith(name)), name) if kind else name
                seen.add(full)
                if kind == "out":
                    if eq:
                        targets.append(Word(word.text, rest))
                    elif full != "--tmpdir":  # mktemp's value is optional: only with `=`
                        take(full, "", word)
                elif kind == "value" and not eq:
                    take(full, "", word)
            elif program in _NO_CLUSTERS:
                seen.add(value[:2])
                if value[:2] in options:
                    take(value[:2], value[2:], word)
            elif program == "chmod" and _CHMOD_MODE_OPTION.fullmatch(value):
                seen.add("-MODE")  # `chmod -w FILE`: the mode is this word, not an operand
            else:
                for at, letter in enumerate(value[1:], start=2):
                    option = "-" + letter
                    seen.add(option)
                    if program == "sed" and letter == "i":
                        in_place = True  # its value (a backup suffix) is optional: the rest
                        break
                    if option in options or option in values:
                        take(option, value[at:], word)
                        break
            if program == "sed" and value.startswith("--in-place"):
                in_place = True
            i += 1
            continue
        if program == "dd" and value is not None and value.startswith("of="):
            targets.append(Word(word.text, value[3:]))
        operands.append(word)
        i += 1
    here = Word(".", ".")
    if mode in ("all", "patch"):
        targets.extend(operands)
    elif mode == "last" and not {"-t", "--target-directory"} & seen:  # with -t, operands are sources
        if len(operands) > 1:
            targets.append(operands[-1])
        elif program in ("ln", "split"):
            targets.append(here)  # `ln -s /x/y` links ./y; `split FILE` writes ./xaa ...
    elif mode == "after-first":
        mode_given = seen & {"--reference", "-MODE"}
        targets.extend(operands if mode_given else operands[1:])
    elif mode == "first" and operands:
        targets.append(operands[0])
    elif mode == "find-delete" and any(w.value == "-delete" for w in args):
        targets.extend(_find_start_points(args))
    elif mode == "in-place" and in_place:
        script_given = seen & {"-e", "--expression", "-f", "--file"}
        targets.extend(operands if script_given else operands[1:])
    elif mode == "compress":
        to_stdout = seen & {*_COMPRESS_NO_WRITE, *("-" + c for c in _COMPRESS_NO_WRITE_LETTERS)}
        if not to_stdout:
            targets.extend(operands)  # FILE.gz is written beside FILE, and FILE deleted
    elif mode == "mktemp":
        targets.extend(_mktemp_targets(operands, targets, seen))
    if program == "patch" and not seen & {"-d", "--directory"}:
        targets.append(here)  # the files the patch names, from here
    if program == "unzip" and not seen & {"-d", *_UNZIP_NO_WRITE}:
        targets.append(here)
    if program == "tar" and archives and seen & _TAR_READS_ARCHIVE and not seen & _TAR_WRITES_ARCHIVE:
        targets = [t for t in targets if t not in archives]  # read: `tar -xzf ~/Downloads/x.tgz`
    if program == "tar" and seen & {"-x", "--extract", "--get"}:
        if seen & {"-P", "--absolute-names"}:
            # Members with absolute names or `..` land wherever they say: only the archive knows.
            targets.append(Word("the archive's member names (tar -P)", None, "archive"))
        if not seen & {"-C", "--directory"}:
            targets.append(here)
    return targets


def _mktemp_targets(operands: list[Word], targets: list[Word], seen: set[str]) -> list[Word]:
    """mktemp's file: TEMPLATE under `-p DIR`/`--tmpdir=DIR` when given (already a target),
    under /tmp with a bare `--tmpdir` or `-t` (the profile's environment has no TMPDIR, and a
    line cannot set it), else TEMPLATE from the working directory."""
    if not operands:
        return []  # /tmp/tmp.XXXXXXXXXX, or under -p DIR, which is a target already
    template = operands[-1]
    if template.value is None:
        return [template]
    directory = targets[-1].value if targets else None
    if directory is None and seen & {"-t", "--tmpdir"}:
        directory = "/tmp"
    if directory is None:
        return [template]
    return [Word(template.text, os.path.join(directory, template.value))]
