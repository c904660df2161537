"""Every GTFOBins escape that is visible in the command line is refused by built-in hazards.

Each payload of shared/corpus/gtfobins_escapes.jsonl is decided under a profile with one
rule that allows the payload's program with *any* arguments.  The program's own simple
command (or the command a wrapper makes it run) must then be denied or sent for approval,
or the line must not parse.  A denial of some other command in the payload (`echo`,
`chmod`, `cp` that set the escape up) does not count: those merely have no rule here.

Escapes that cannot be seen in the line (typed at the program's prompt, reached through a
pager or editor the program opens, read from a file written beforehand, or granted by the
rule itself) are listed in EXEC_TIME with a reason: the exec guard (issue 6) or the read
and write roots deal with them.  The table must stay honest both ways: a payload that is
neither refused nor listed fails, and so does a listed payload that is refused.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsh.policy import Decision, Policy
from agentsh.policy.decision import Verdict, flatten
from agentsh.profile import Host, load_profile

CORPUS = Path(__file__).absolute().parents[2] / "shared" / "corpus" / "gtfobins_escapes.jsonl"


def load_rows() -> list[dict[str, Any]]:
    if not CORPUS.is_file():
        return []
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


ROWS = load_rows()


def _keyed(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[str, int], dict[str, Any]]]:
    """(binary, n): the n-th payload (from 0) of that binary, in corpus order."""
    seen: Counter[str] = Counter()
    for row in rows:
        yield (row["binary"], seen[row["binary"]]), row
        seen[row["binary"]] += 1


KEYED = list(_keyed(ROWS))

# The program the payload runs, where it is not the row's binary.
PROGRAM = {"lxd": "lxc", "octave": "octave-cli", "mosh-server": "mosh", "opkg": "rpm"}

# -- reasons (the text before ':' is the category counted in the report) -------------------
INTERACTIVE = ("interactive: the escape is typed at the program's own prompt on a later line; "
               "needs the exec guard (issue 6)")
PAGER = ("pager: the program opens a pager or editor at run time (base sets PAGER=cat, EDITOR=false); "
         "the escape is typed into it; needs the exec guard (issue 6)")
STAGED = ("staged: the code that runs comes from a file or config written beforehand; its content is "
          "not in the command line; needs the exec guard (issue 6)")
GRANTED_READ = ("granted: reading a file is what a rule allowing this program with any arguments grants; "
                "the read roots decide, and this path is readable here")
GRANTED_NET = ("granted: network transfer is this program's job, which an any-arguments rule grants; "
               "only a network policy can refuse it")
PLACEHOLDER = ("placeholder: the payload is not a concrete command (`...` stands for code the corpus "
               "leaves out, or the words do not form the program's command line)")

EXEC_TIME: dict[tuple[str, int], str] = {
    # staged
    ("acr", 0): STAGED, ("ansible-playbook", 0): STAGED, ("arch-nspawn", 0): STAGED, ("bundle", 4): STAGED,
    ("bundler", 4): STAGED, ("byebug", 0): STAGED, ("cmake", 0): STAGED, ("composer", 0): STAGED,
    ("dpkg", 1): STAGED, ("easy_install", 0): STAGED, ("gem", 1): STAGED,
    ("git", 5): STAGED, ("go", 0): STAGED, ("java", 0): STAGED, ("less", 0): STAGED, ("npm", 1): STAGED,
    ("npm", 2): STAGED, ("pdb", 0): STAGED, ("pip", 0): STAGED, ("pkg", 0): STAGED, ("rpm", 0): STAGED,
    ("rtorrent", 0): STAGED, ("rtorrent", 1): STAGED, ("runscript", 0): STAGED, ("snap", 0): STAGED,
    ("systemctl", 1): STAGED, ("top", 0): STAGED, ("vagrant", 0): STAGED, ("virsh", 0): STAGED,
    ("wg-quick", 0): STAGED, ("yarn", 1): STAGED, ("yarn", 2): STAGED, ("yum", 0): STAGED,
    ("zypper", 0): STAGED, ("dstat", 0): STAGED,
    # pager
    ("apt", 0): PAGER, ("apt-get", 0): PAGER, ("aptitude", 0): PAGER, ("aws", 0): PAGER,
    ("bashbug", 0): PAGER, ("batcat", 0): PAGER, ("bundle", 0): PAGER, ("bundler", 0): PAGER,
    ("busctl", 0): PAGER, ("cargo", 0): PAGER, ("crash", 1): PAGER, ("dmesg", 0): PAGER, ("dpkg", 0): PAGER,
    ("eb", 0): PAGER, ("gcloud", 0): PAGER, ("gem", 0): PAGER, ("git", 2): PAGER, ("git", 3): PAGER,
    ("journalctl", 0): PAGER, ("loginctl", 0): PAGER, ("man", 1): PAGER, ("run-mailcap", 0): PAGER,
    ("run-mailcap", 1): PAGER, ("rustc", 0): PAGER, ("systemctl", 0): PAGER, ("systemd-resolve", 0): PAGER,
    ("timedatectl", 0): PAGER, ("vigr", 0): PAGER, ("vipw", 0): PAGER, ("zless", 0): PAGER,
    # interactive
    ("apport-cli", 0): INTERACTIVE, ("asterisk", 0): INTERACTIVE, ("bconsole", 0): INTERACTIVE,
    ("bundle", 1): INTERACTIVE, ("bundler", 1): INTERACTIVE, ("cpan", 0): INTERACTIVE,
    ("debugfs", 0): INTERACTIVE, ("ed", 0): INTERACTIVE, ("ftp", 0): INTERACTIVE, ("ginsh", 0): INTERACTIVE,
    ("hping3", 0): INTERACTIVE, ("hping3", 1): INTERACTIVE, ("iftop", 0): INTERACTIVE,
    ("ispell", 0): INTERACTIVE, ("ispell", 1): INTERACTIVE, ("joe", 0): INTERACTIVE, ("jtag", 0): INTERACTIVE,
    ("less", 3): INTERACTIVE, ("less", 5): INTERACTIVE, ("less", 6): INTERACTIVE, ("less", 7): INTERACTIVE,
    ("mail", 1): INTERACTIVE, ("minicom", 0): INTERACTIVE, ("more", 1): INTERACTIVE,
    ("msfconsole", 0): INTERACTIVE, ("nano", 1): INTERACTIVE, ("nano", 2): INTERACTIVE,
    ("ncdu", 0): INTERACTIVE, ("ncftp", 0): INTERACTIVE, ("ncftp", 1): INTERACTIVE,
    ("opencode", 0): INTERACTIVE, ("pg", 0): INTERACTIVE, ("pico", 0): INTERACTIVE, ("psftp", 0): INTERACTIVE,
    ("ranger", 0): INTERACTIVE, ("red", 0): INTERACTIVE,
    ("scanmem", 0): INTERACTIVE, ("sftp", 0): INTERACTIVE, ("smbclient", 0): INTERACTIVE,
    ("tasksh", 0): INTERACTIVE, ("tdbtool", 0): INTERACTIVE, ("telnet", 0): INTERACTIVE,
    ("vi", 1): INTERACTIVE, ("volatility", 0): INTERACTIVE, ("wireshark", 0): INTERACTIVE,
    ("zathura", 0): INTERACTIVE,
    # granted_read
    ("awk", 0): GRANTED_READ, ("git", 0): GRANTED_READ, ("less", 2): GRANTED_READ,
    ("man", 0): GRANTED_READ, ("more", 0): GRANTED_READ, ("nano", 0): GRANTED_READ, ("sed", 0): GRANTED_READ,
    ("vi", 0): GRANTED_READ, ("wget", 1): GRANTED_READ, ("xargs", 0): GRANTED_READ,
    # granted_net
    ("curl", 4): GRANTED_NET, ("curl", 5): GRANTED_NET, ("curl", 6): GRANTED_NET, ("kubectl", 1): GRANTED_NET,
    ("scp", 3): GRANTED_NET, ("wget", 5): GRANTED_NET, ("wget", 6): GRANTED_NET,
    # paths
    # placeholder
    ("opencode", 1): PLACEHOLDER, ("opkg", 0): PLACEHOLDER,
}

# Decided differently depending on what the test process's own stdout is: realpaths.py resolves
# /dev/stdout with realpath in *this* process (a pipe or a file is outside the write roots,
# a terminal is not).  Either verdict is accepted, but only for that reason.
STDOUT_DEPENDENT: dict[tuple[str, int], str] = {
    ("cp", 0): GRANTED_READ + "; the write to /dev/stdout is judged by where the test's stdout goes",
}


def category(reason: str) -> str:
    return reason.split(":", 1)[0]


# -- the profile ------------------------------------------------------------------------------

def _stub_names() -> set[str]:
    names = {row["binary"] for row in ROWS} | set(PROGRAM.values())
    return {name for name in names if "/" not in name}


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One executable file per program name, so every binary resolves on any host."""
    directory = tmp_path_factory.mktemp("stubs")
    for name in _stub_names():
        stub = directory / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def policies(stubs: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Policy]:
    root = tmp_path_factory.mktemp("gtfo")
    home = root / "home"
    workspace = root / "work"
    home.mkdir()
    workspace.mkdir()
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    cache: dict[str, Policy] = {}

    def policy(program: str) -> Policy:
        if program not in cache:
            path = root / f"allow-{len(cache)}.yaml"
            path.write_text(profile_text(program, stubs))
            cache[program] = Policy(load_profile(str(path), host), host)
        return cache[program]
    return policy


def profile_text(program: str, stubs: Path) -> str:
    return (
        "agentsh: 1\n"
        f"name: allow-{re.sub(r'[^A-Za-z0-9_-]', '_', program)}\n"
        "extends: [base]\n"
        f"path: [{json.dumps(str(stubs))}, /usr/bin, /bin]\n"
        'write: {allow: ["{workspace}", "/tmp"]}\n'
        "commands:\n"
        "  - name: the-binary\n"
        f"    run: {json.dumps(program)}\n"
        "    decision: allow\n"
    )


def program_of(binary: str) -> str:
    return PROGRAM.get(binary, binary)


def concrete(payload: str, stubs: Path) -> str:
    """The loader is named by a placeholder path; point it at its stub so the rule applies."""
    return payload.replace("/path/to/ld.so", str(stubs / "ld.so"))


def own_verdicts(decision: Decision, program: str) -> list[Verdict]:
    """The verdicts for the program itself, wherever it appears (also inside wrappers)."""
    return [v for v in flatten(decision.verdicts) if v.name and Path(v.name).name == program]


def refused_statically(decision: Decision, program: str) -> tuple[bool, str]:
    """Is the program's own command (or what it runs) denied or asked? With a description."""
    problems = [v for v in decision.verdicts if v.rule == "" and not v.program and not v.name
                and v.decision == "deny" and "rewrite the line" in v.hint]
    if problems:
        return True, f"parse problem: {problems[0].reason}"
    own = own_verdicts(decision, program)
    if not own:
        return False, f"no command runs {program}: " + "; ".join(f"{v.command!r}: {v.decision}"
                                                                 for v in flatten(decision.verdicts))
    for verdict in own:
        refused = [v for v in flatten((verdict,)) if v.decision in ("deny", "ask")]
        if refused:
            return True, f"{refused[0].command!r}: {refused[0].reason}"
    return False, "; ".join(f"{v.command!r}: {v.decision} ({v.reason})" for v in own)


def _id(key: tuple[str, int], row: dict[str, Any]) -> str:
    return f"{key[0]}#{key[1]}-{row['function']}"


# -- tests --------------------------------------------------------------------------------

def test_corpus_is_present() -> None:
    assert CORPUS.is_file(), (
        f"GTFOBins corpus not found at {CORPUS}: CI must place a copy of shared/ beside the repository")
    assert len(ROWS) >= 600


def test_table_names_only_corpus_payloads() -> None:
    keys = {key for key, _ in KEYED}
    stale = sorted((set(EXEC_TIME) | set(STDOUT_DEPENDENT)) - keys)
    assert not stale, f"EXEC_TIME lists payloads the corpus does not have: {stale}"
    for key, reason in EXEC_TIME.items():
        assert category(reason) in {"interactive", "pager", "staged", "granted",
                                    "paths", "placeholder"}, key


@pytest.mark.parametrize(("key", "row"), KEYED, ids=[_id(k, r) for k, r in KEYED])
def test_payload(key: tuple[str, int], row: dict[str, Any], policies: Callable[[str], Policy],
                 stubs: Path) -> None:
    program = program_of(row["binary"])
    decision = policies(program).decide(concrete(row["payload"], stubs))
    refused, why = refused_statically(decision, program)
    if key in STDOUT_DEPENDENT:
        assert not refused or "outside the write roots" in why, why
    elif key in EXEC_TIME:
        assert not refused, (f"{key} is refused statically ({why}); remove it from EXEC_TIME "
                             f"({EXEC_TIME[key]})")
    else:
        assert refused, (f"{row['payload']!r} is allowed for {program} ({why}); refuse it with a "
                         "built-in hazard or list it in EXEC_TIME with the reason")


def test_counts(policies: Callable[[str], Policy]) -> None:
    """The summary the issue asks for: how many are refused, how many wait for exec time."""
    table = {**EXEC_TIME, **STDOUT_DEPENDENT}
    by_category = Counter(category(table[key]) for key, _ in KEYED if key in table)
    static = len(KEYED) - sum(by_category.values())
    print(f"\nstatically refused: {static}; exec-time table: {dict(by_category)}", file=sys.stderr)
    assert static >= len(KEYED) // 2


# -- for real: a representative subset, with the escape rewritten to create a canary ------------

REAL = [
    ("find", "find . -exec touch {canary} \\; -quit"),
    ("tar", "tar cf /dev/null /dev/null --checkpoint=1 --checkpoint-action=exec='touch {canary}'"),
    ("sed", "sed -n '1e touch {canary}' /etc/hosts"),
    ("awk", "awk 'BEGIN {{system(\"touch {canary}\")}}'"),
    ("env", "env touch {canary}"),
    ("timeout", "timeout 5 touch {canary}"),
    ("xargs", "xargs -a /dev/null touch {canary}"),
    ("zip", "zip {tmp}/x.zip /etc/hosts -T -TT 'touch {canary} #'"),
    ("make", "make --eval='$(shell touch {canary})' ."),
    ("nice", "nice touch {canary}"),
    ("flock", "flock -u / touch {canary}"),
    ("strace", "strace -o /dev/null touch {canary}"),
    ("git", "PAGER='touch {canary}' git -p help"),
    ("git", "git -c core.pager='touch {canary}' -p log"),
    ("python3", "python3 -c 'import os; os.system(\"touch {canary}\")'"),
]


@pytest.mark.parametrize(("program", "line"), REAL, ids=[f"{p}-{n}" for n, (p, _) in enumerate(REAL)])
def test_escape_for_real(program: str, line: str, tmp_path: Path,
                         run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """The outcome, not the message: exit 126 and the escape did not run."""
    canary = tmp_path / "canary"
    profile = tmp_path / "real.yaml"
    profile.write_text("agentsh: 1\nname: real\nextends: [base]\n"
                       'write: {allow: ["{workspace}", "/tmp"]}\ncommands:\n'
                       f"  - name: the-binary\n    run: {json.dumps(program)}\n    decision: allow\n")
    result = run_agentsh("-p", str(profile), "-c", line.format(canary=canary, tmp=tmp_path))
    assert result.returncode == 126, result.stderr
    assert not canary.exists()
