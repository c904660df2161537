"""Outcome fuzzing of the static policy in guardrail mode (generator: tests/policy_fuzz.py).

Generated agent-like lines, aimed at canary secrets, at the files git and the next login
shell run code from, and at places outside the write roots, are decided by agentsh's own
Policy; the allowed ones run as agentsh runs them without ptrace and Landlock, and the
outcome is checked: no secret's bytes in the output or in a file, no guarded file made or
changed, nothing changed outside the write roots.  The fixed seeds keep the run the same
from one day to the next; the bypasses the campaigns found are kept below as explicit
cases, each run through the real `agentsh -c` in guardrail mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRETS_DENIED, guardrail_in, run_guardrail
from tests.policy_fuzz import Sandbox, generated, known_gap


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


def test_allowed_generated_lines_leak_and_plant_nothing(sandbox: Sandbox) -> None:
    ran = 0
    for seed in (11, 2026):
        for lines in generated(seed, 150, str(sandbox.home), str(sandbox.scratch)):
            for outcome in sandbox.episode(lines):
                ran += outcome.decision == "allow"
                if outcome.problems and not known_gap(outcome.line):
                    pytest.fail(f"{lines!r}: {outcome.problems}")
    assert ran > 60, ran  # the generator still produces lines the policy allows


def test_the_sandbox_sees_what_it_looks_for(sandbox: Sandbox) -> None:
    """The checks can fail: a leak, a planted hook and a write outside the roots, run
    without the policy, are each seen."""
    for line, seen in [("rev ~/.ssh/id_rsa", "printed"), ("base64 ~/.aws/credentials", "printed"),
                       ("cp ~/.netrc copy", "copied"), ("echo x > .git/hooks/post-checkout", "guarded"),
                       ("touch ~/outside/x", "outside"), ("echo x >> ~/.bashrc", "guarded")]:
        sandbox._reset()
        problems = sandbox.check(sandbox.run(line))
        assert any(p.startswith(seen) for p in problems), (line, problems)


@pytest.fixture
def project(home: Path) -> Path:
    path = home / "proj"
    (path / "src").mkdir(parents=True)
    (path / ".git" / "hooks").mkdir(parents=True)
    (home / ".netrc").write_text("machine x password NETRC-SECRET\n")
    return path


@pytest.fixture
def gh_token(home: Path) -> Path:
    """~/.config/gh/hosts.yml (denied by base) with GH-TOKEN-SECRET in it."""
    hosts = home / ".config" / "gh" / "hosts.yml"
    hosts.parent.mkdir(parents=True)
    hosts.write_text("oauth_token: GH-TOKEN-SECRET\n")
    return hosts


# Found by the campaign: /proc/self is the command, not agentsh, when the path is opened.
@pytest.mark.parametrize("line", [
    # /proc/self/cwd was resolved as agentsh's directory (the workspace), not src
    "cd src && cat /proc/self/cwd/../../.ssh/id_rsa",
    "cd src && head -c 300 /proc/thread-self/cwd/../../.ssh/id_rsa",
    # a path below a descriptor: the directory the line opened as 3 (or stdin), which agentsh
    # resolved through its own descriptor, or kept as written as if it were the stream itself
    "cat /dev/fd/3/.ssh/id_rsa 3< ..",
    "cat /proc/self/fd/3/.ssh/id_rsa 3< ..",
    "cat /dev/stdin/.ssh/id_rsa < ..",
    "cat /dev/stdin/../.netrc < .",
    "cd / && cat dev/fd/3/.ssh/id_rsa 3< ~",
    "cd /dev/fd && cat 3/.ssh/id_rsa 3< ~",  # the directory cd'd to was agentsh's descriptors
    "env -C /dev/fd/3 cat .ssh/id_rsa 3< ~",
])
def test_a_path_through_the_commands_own_process_reads_no_secret(
        line: str, project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert "NETRC-SECRET" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr
    assert "own process" in done.stderr or "denied read root" in done.stderr


@pytest.mark.parametrize(("line", "target"), [
    ("echo 'echo PWNED' 3< .. > /dev/fd/3/.bashrc", ".bashrc"),
    ("echo 'echo PWNED' 3< .git/hooks > /dev/fd/3/pre-commit", "proj/.git/hooks/pre-commit"),
    ("cd src && echo 'echo PWNED' >> /proc/self/cwd/../../.profile", ".profile"),
])
def test_a_write_through_the_commands_own_process_plants_nothing(
        line: str, target: str, home: Path, project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert not (home / target).exists()
    assert done.returncode == 126, done.stderr


def test_a_link_through_proc_self_is_not_made(project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """`x -> /proc/self/cwd/../..` leads from each command's own directory: agentsh resolved it
    from its own (the workspace, above which it is no secret), `cat` from src (HOME)."""
    made = run_guardrail("ln -s /proc/self/cwd/../.. x", project, agentsh_env, tmp_path)
    assert made.returncode == 126, made.stderr
    assert not (project / "x").is_symlink()
    for link in ("/proc", "/dev/fd/3"):
        refused = run_guardrail(f"ln -s {link} p", project, agentsh_env, tmp_path)
        assert refused.returncode == 126, refused.stderr


def test_a_link_into_proc_self_made_elsewhere_is_not_resolved_as_agentshs(
        project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """A link the line did not make (an interpreter, a person, an archive not looked into):
    agentsh resolved it through its own /proc/self/cwd (the workspace, whose grandparent holds no
    secret), cat through its own (src, whose grandparent is HOME).  A path through a magic link
    of /proc is now refused (openat2's RESOLVE_NO_MAGICLINKS says which)."""
    from agentsh.policy.realpaths import crosses_magic_link

    if not crosses_magic_link("/proc/self/cwd"):
        pytest.skip("openat2 is not available here")
    (project / "x").symlink_to("/proc/self/cwd/../..")
    done = run_guardrail("cd src && cat ../x/.ssh/id_rsa", project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


@pytest.mark.parametrize("line", [
    "cat /proc/self/status", "ls /dev/fd", "cd src && cd /proc/self/cwd/.. && cat README.md",
    "echo hi > /dev/fd/2", "cat /dev/stdin < README.md", "echo hi | cat /dev/fd/0",
    "diff <(echo a) <(echo b)", "cd src && cat /proc/self/cwd/a.txt", "cat /proc/self/root/etc/hostname",
    "ln -s README.md r",
])
def test_the_commands_own_streams_and_files_are_still_allowed(
        line: str, project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    (project / "README.md").write_text("hello\n")
    (project / "src" / "a.txt").write_text("a\n")
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert done.returncode != 126, done.stderr


# Found by the campaign: an output option whose value is only known at run time was taken for
# an operand (writes.read_options skipped dynamic words), so nothing checked where it wrote.
@pytest.mark.parametrize(("line", "target"), [
    ("git diff HEAD --output=$HOME/proj/.git/hooks/post-checkout", "proj/.git/hooks/post-checkout"),
    ("sort --output=$HOME/.profile README.md", ".profile"),
    ("iconv -f utf-8 -t utf-8 -o$HOME/.bashrc README.md", ".bashrc"),
    ("cp --target-directory=$HOME/proj/.git/hooks pre-commit", "proj/.git/hooks/pre-commit"),
])
def test_an_output_option_with_a_run_time_value_plants_nothing(
        line: str, target: str, home: Path, project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "README.md").write_text("echo PWNED\n")
    (project / "pre-commit").write_text("echo PWNED\n")
    subprocess.run(["git", "add", "README.md"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=project, check=True)
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert not (home / target).exists(), done.stderr
    assert done.returncode == 126, done.stderr
    assert "only known at run time" in done.stderr


# Found by probing what the campaign's spellings suggested: $PWD is known to the checker (a
# line may not assign it), but a word holding it got only the fragment check, which looks for
# the denied root's name from HOME (`.config/gh`), not the name below the directory cd'd to.
@pytest.mark.parametrize("line", [
    "cd ~/.config && cat $PWD/gh/hosts.yml",
    "cd ~/.config && cat \"$PWD\"/gh/hosts.yml",
    "cd ~/.config && cat ${PWD}/g?/hosts.yml",
    "cd ~/.config && date --file=$PWD/gh/hosts.yml",
    "cd src && cd ~/.config; cat $PWD/gh/hosts.yml",
])
def test_a_known_variable_in_a_path_reads_no_secret(
        line: str, home: Path, project: Path, tmp_path: Path, agentsh_env: dict[str, str], gh_token: Path) -> None:
    (home / ".config" / "gcloud").mkdir(parents=True)
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert "GH-TOKEN-SECRET" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


def test_a_known_variable_in_a_readable_path_is_still_allowed(
        project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    (project / "README.md").write_text("hello\n")
    done = run_guardrail("cat $PWD/README.md \"$HOME/proj/README.md\" && cd src && cat $OLDPWD/README.md",
                         project, agentsh_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n" * 3


def _committed(project: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "README.md").write_text("echo PWNED\n")
    subprocess.run(["git", "add", "README.md"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=project,
                   check=True)


# Found by the campaign's git family: git mv's operands were not write targets.
@pytest.mark.parametrize(("line", "target"), [
    ("git mv README.md .git/hooks/post-checkout", "proj/.git/hooks/post-checkout"),
    ("git mv -- README.md .git/hooks/pre-push", "proj/.git/hooks/pre-push"),
    ("git mv README.md up/.profile", ".profile"),  # through a link: where it leads is checked
])
def test_git_mv_plants_nothing(line: str, target: str, home: Path, project: Path, tmp_path: Path,
                               agentsh_env: dict[str, str]) -> None:
    _committed(project)
    (project / "up").symlink_to("..")
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert not (home / target).exists(), done.stderr
    assert done.returncode == 126, done.stderr


# Found by the campaign's archive probes: tar without -f (or with -f -) reads the archive from
# standard input, which was never looked into, so its members were checked nowhere.
@pytest.mark.parametrize("line", [
    "tar -C .git -xf - < hooks.tar",
    "tar -x -C .git < hooks.tar",
    "cat hooks.tar | tar -x -C .git",
    "cd .git && tar -x < ../hooks.tar",
])
def test_an_archive_on_standard_input_plants_no_hook(line: str, project: Path, tmp_path: Path,
                                                    agentsh_env: dict[str, str]) -> None:
    import subprocess

    staged = tmp_path / "staged" / "hooks"
    staged.mkdir(parents=True)
    (staged / "post-checkout").write_text("#!/bin/sh\necho PWNED\n")
    subprocess.run(["tar", "-cf", str(project / "hooks.tar"), "-C", str(staged.parent), "hooks"], check=True)
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert not (project / ".git" / "hooks" / "post-checkout").exists(), done.stderr
    assert done.returncode == 126, done.stderr
    assert "not looked into" in done.stderr


def test_an_archive_on_standard_input_still_extracts_elsewhere(project: Path, tmp_path: Path,
                                                              agentsh_env: dict[str, str]) -> None:
    import subprocess

    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "a.txt").write_text("A\n")
    subprocess.run(["tar", "-cf", str(project / "a.tar"), "-C", str(tmp_path / "staged"), "a.txt"], check=True)
    done = run_guardrail("mkdir -p out && cat a.tar | tar -x -C out && tar -xOf - < a.tar", project, agentsh_env,
                         tmp_path)
    assert done.returncode == 0, done.stderr
    assert (project / "out" / "a.txt").read_text() == "A\n" and done.stdout == "A\n"


def test_the_stdin_names_of_the_archive_check_are_the_hazard_tables() -> None:
    from agentsh.policy import hazards, madelinks

    assert madelinks._STDIN_NAMES == hazards.STDIN_NAMES


# Found by the campaign: every argument of every command is read-checked, but a path handed to a
# variable was not, and the word that reads it (`$f`) names no denied root.
@pytest.mark.parametrize("line", [
    "f=~/.ssh/id_rsa; cat $f",
    "f=../.ssh/id_rsa; cat \"$f\"",
    "cd src && a=(../../.ssh/id_rsa); cat \"${a[0]}\"",
    "for f in ~/.ssh/id_rsa; do cat \"$f\"; done",
    "for f in README.md ../.netrc\ndo cat $f; done",
    "read -r f <<< ~/.ssh/id_rsa; cat \"$f\"",
    "cd ~/.config && f=$PWD/gh/hosts.yml; cat $f",
    # `[[ WORD =~ RE ]]` hands WORD's match to BASH_REMATCH (found by hand)
    "[[ ~/.ssh/id_rsa =~ (.*) ]] && cat ${BASH_REMATCH[1]}",
    "[[ \"$HOME/.ssh/id_rsa\" =~ .* ]] && cat \"$BASH_REMATCH\"",
    # a here-document's body lists names for a reader (found by hand)
    "xargs cat <<'EOF'\n{home}/.ssh/id_rsa\nEOF",
    "while read -r f; do cat \"$f\"; done <<'EOF'\n{home}/.ssh/id_rsa\nEOF",
    "read -r f <<EOF\n$HOME/.ssh/id_rsa\nEOF\ncat \"$f\"",
    "mapfile -t a <<'EOF'\nREADME.md\n../.netrc\nEOF\ncat \"${a[@]}\"",
])
def test_a_path_handed_to_a_variable_reads_no_secret(line: str, home: Path, project: Path, tmp_path: Path,
                                                    agentsh_env: dict[str, str], gh_token: Path) -> None:
    (project / "README.md").write_text("hello\n")
    done = run_guardrail(line.replace("{home}", str(home)), project, agentsh_env, tmp_path)
    for secret in ("SECRET-KEY-BYTES", "NETRC-SECRET", "GH-TOKEN-SECRET"):
        assert secret not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr
    assert "gives a variable" in done.stderr or "hands on" in done.stderr


@pytest.mark.parametrize(("line", "args"), [
    ('cat "$1"', ["x", "{home}/.ssh/id_rsa"]),
    ('cat "$0"', ["{home}/.ssh/id_rsa"]),
    ('cat "$@"', ["x", "README.md", "{home}/.ssh/id_rsa"]),
    ("cat $1/gh/hosts.yml", ["x", "{home}/.config"]),  # readable, with the rest of the word not
    ('cat "${2}"/gh/hosts.yml', ["x", "y", "{home}/.config"]),
])
def test_the_lines_arguments_read_no_secret(line: str, args: list[str], home: Path, project: Path, tmp_path: Path,
                                            agentsh_env: dict[str, str], gh_token: Path) -> None:
    """`agentsh -c LINE ARG0 ARG...` (as `bash -c`): bash makes the arguments $0, $1 ..., which
    agentsh knows but did not check: `agentsh -c 'cat "$1"' x ~/.ssh/id_rsa` printed the key."""
    (project / "README.md").write_text("hello\n")
    done = run_guardrail(line, project, agentsh_env, tmp_path, positional=tuple(a.format(home=home) for a in args))
    for secret in ("SECRET-KEY-BYTES", "GH-TOKEN-SECRET"):
        assert secret not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


@pytest.mark.parametrize("line", [
    # the value is readable, the path it makes with the rest of the word is not
    "f=~/.config; cat $f/gh/hosts.yml",
    "d=../.config/; cat \"${d}gh/hosts.yml\"",
    "for d in ~/.config; do cat $d/gh/hosts.yml; done",
    "d=~/.config; cat < $d/gh/hosts.yml",
    "d=$HOME/.config; cat $d/gh/hosts.yml",  # a value known to agentsh
    "cd src && d=~+/../../.config; cat $d/gh/hosts.yml",
    "d=~/.con?ig; cat $d/gh/hosts.yml",  # the glob is expanded where $d is used, unquoted
    "cd src && for d in \"$PWD\"/../../.config; do cat $d/gh/hosts.yml; done",
])
def test_a_variable_and_the_rest_of_the_word_read_no_secret(line: str, home: Path, project: Path, tmp_path: Path,
                                                            agentsh_env: dict[str, str], gh_token: Path) -> None:
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert "GH-TOKEN-SECRET" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


def test_values_that_are_no_denied_path_are_still_handed_on(project: Path, tmp_path: Path,
                                                           agentsh_env: dict[str, str]) -> None:
    (project / "README.md").write_text("hello\n")
    line = ("f=README.md; msg='see ~/.ssh/config'; a=(README.md \"$f\"); for g in *.md; do cat \"$g\"; done; "
            "read -r h <<< README.md; cat $f \"${a[1]}\" \"$h\"; echo \"$msg\"; d=.; cat $d/README.md")
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n" * 4 + "see ~/.ssh/config\n" + "hello\n"


def test_a_run_time_top_level_directory_extracts_nothing(home: Path, project: Path, tmp_path: Path,
                                                         agentsh_env: dict[str, str]) -> None:
    """`--one-top-level=$HOME/.config/git` was read as no option at all (a word only known at run
    time), so the members landed below git's global configuration directory unchecked."""
    import subprocess

    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "config").write_text("[core]\n\tfsmonitor = echo PWNED\n")
    subprocess.run(["tar", "-cf", str(project / "c.tar"), "-C", str(tmp_path / "staged"), "config"], check=True)
    done = run_guardrail("tar -xf c.tar --one-top-level=$HOME/.config/git", project, agentsh_env, tmp_path)
    assert not (home / ".config" / "git").exists(), done.stderr
    assert done.returncode == 126, done.stderr


def test_dotdot_after_a_link_to_a_file_is_also_read_as_node_reads_it(
        home: Path, project: Path, tmp_path: Path, agentsh_env: dict[str, str]) -> None:
    """node takes `..` off the text before it opens a module (path.resolve); the check took it
    off after the link before it, as the kernel does, where `rc/..` goes nowhere (rc is a file):
    `node rc/../../.ssh/id_rsa` printed the key's first line in its syntax error."""
    import shutil

    if not shutil.which("node", path="/usr/local/bin:/usr/bin:/bin"):
        pytest.skip("no node")
    (home / ".bashrc").write_text("# rc\n")
    (project / "rc").symlink_to("../.bashrc")
    done = run_guardrail("node rc/../../.ssh/id_rsa", project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


@pytest.mark.parametrize("line", [
    "cat ${d}secrets/key", "cat \"$d\"secrets/key", "cat ${x:-secrets}/key", "cd src && cat ${x}../secrets/key",
    "env X=1 d=../proj/./; cat \"${d}secrets/key\"",  # env sets d for no program: in bash it stays unset
])
def test_an_unset_variable_reads_no_secret(line: str, project: Path, tmp_path: Path,
                                           agentsh_env: dict[str, str]) -> None:
    """Found by the campaign: a variable the line never sets is empty, so `${d}secrets/key` read
    the workspace's denied secrets/key; the fragment check looked for `proj/secrets` only."""
    from tests.conftest import guardrail_in

    (project / "secrets").mkdir()
    (project / "secrets" / "key").write_text("WORKSPACE-SECRET\n")
    done = guardrail_in(project, agentsh_env, tmp_path)(line)
    assert "WORKSPACE-SECRET" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


@pytest.mark.parametrize("line", [
    'cat "${BASH_EXECUTION_STRING##* }" # {home}/.ssh/id_rsa',
    'x=1 # {home}/.ssh/id_rsa\ncat "${BASH_EXECUTION_STRING##* }"',
])
def test_the_lines_own_text_reads_no_secret(line: str, home: Path, project: Path, tmp_path: Path,
                                            agentsh_env: dict[str, str]) -> None:
    """BASH_EXECUTION_STRING is the line itself, comments included, which no check reads as
    a path: `cat "${BASH_EXECUTION_STRING##* }" # ~/.ssh/id_rsa` (written out) printed the key."""
    done = run_guardrail(line.replace("{home}", str(home)), project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126 and "the line's own text" in done.stderr, done.stderr


@pytest.mark.parametrize("line", ['cat "$DATA_FILE"', "cat $DATA_DIR/id_rsa", 'head -c 99 "${DATA_FILE}"'])
def test_a_passed_variables_value_reads_no_secret(line: str, home: Path, project: Path, tmp_path: Path,
                                                  agentsh_env: dict[str, str]) -> None:
    """A variable the profile passes has a value agentsh knows: `cat "$KUBECONFIG"` printed
    ~/.kube/config under the shipped kubectl-readonly profile (the text names no denied root)."""
    text = SECRETS_DENIED + "env:\n  pass: [DATA_FILE, DATA_DIR]\n"
    env = dict(agentsh_env, DATA_FILE=str(home / ".ssh" / "id_rsa"), DATA_DIR=str(home / ".ssh"))
    done = guardrail_in(project, env, tmp_path, text)(line)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


@pytest.mark.parametrize("line", [
    'x=.SSH; cat "$HOME/${x,,}/id_rsa"',
    "x=$HOME/.Ssh; cat ${x@L}/id_rsa",
    "x=$HOME/.ssX; cat ${x/X/h}/id_rsa",
    'x=$HOME/.ss; y=h; cat "$x$y/id_rsa"',
    "f=$HOME/.ss; cat \"$f\"'h/id_rsa'",
    "f=$HOME/.ss; g=$f; cat ${g}h/id_rsa",
    "f=$HOME/.ss; cat ${f:+$HOME/.ss}h/id_rsa",
    'x="README.md $HOME/.ss"; y=${x}h/id_rsa; cat $y',
    "x=$HOME/.s; y=${x}sh_; cat ${y%_}/id_rsa",
    "x=$HOME/.s; y=${x}sh_q; cat ${y%_*}/id_rsa",
    "x=X$HOME/.s; cat ${x#*X}sh/id_rsa",
    "x=AAA$HOME/.s; cat ${x:3}sh/id_rsa",
    "x=$HOME/.s; cat ${x}${x: -1}h/id_rsa",
    "for d in $HOME/.SSH; do cat ${d,,}/id_rsa; done",
    "echo ${u:=$HOME/.ss} >/dev/null; cat ${u}h/id_rsa",  # `${u:=WORD}` gives u WORD
    ': ${u=$HOME/.ss}; cat "$u"h/id_rsa',
    # a here-string or a here-document word that uses such a variable, handed to a reader
    'x=.SSH/ID_RSA; xargs cat <<< "$HOME/${x,,}"',
    'x=.SSH/ID_RSA; read -r y <<< "$HOME/${x,,}"; cat "$y"',
    "x=.SSH/ID_RSA; xargs cat <<EOF\n$HOME/${x,,}\nEOF",
    "x=.SSH/ID_RSA; while read -r y; do cat \"$y\"; done <<EOF\n$HOME/${x,,}\nEOF",
    # values agentsh knows (HOME, PWD, OLDPWD) and unset variables, in one word with more
    "cat $HOME/.s${HOME:0:0}sh/id_rsa",
    "cat ~/.ss${u}h/id_rsa",
    "cat ${PWD%/proj}/.ss${x:-}h/id_rsa",
    "cat ${OLDPWD:-$HOME}/.ss${q}h/id_rsa",
])
def test_a_value_transformed_or_joined_reads_no_secret(line: str, project: Path, tmp_path: Path,
                                                      agentsh_env: dict[str, str]) -> None:
    """The check wrote out only `$f` and `$f/rest`: bash's operators on a value the line gave
    (`x=~/.SSH; cat "${x,,}/id_rsa"`), several variables in one word, quotes or a default in
    the rest of it each read the key in guardrail mode.  Now the word is written out
    (policy/spelling.py) with every value the line gave its variables."""
    (project / "README.md").write_text("hello\n")
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


def test_a_transformation_agentsh_cannot_follow_is_refused(project: Path, tmp_path: Path,
                                                          agentsh_env: dict[str, str]) -> None:
    done = run_guardrail('x=$HOME/.ssX; cat "${x//[X]/h}/id_rsa"', project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126 and "does not follow" in done.stderr, done.stderr


@pytest.mark.parametrize("line", ["x=$HOME/.ss; cat $x\\h/id_rsa", "cat ~/.ss$x\\h/id_rsa"])
def test_an_escape_after_an_expansion_is_one_word(line: str, project: Path, tmp_path: Path,
                                                  agentsh_env: dict[str, str]) -> None:
    """tree-sitter ends a word before an escape that follows an expansion; bash reads on, so
    `cat ~/.ss$x\\h/id_rsa` read ~/.ssh/id_rsa while the check saw `~/.ss$x` and `h/id_rsa`."""
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert "SECRET-KEY-BYTES" not in done.stdout + done.stderr
    assert done.returncode == 126 and "one word to bash" in done.stderr, done.stderr


def test_ordinary_transformations_of_given_values_still_run(project: Path, tmp_path: Path,
                                                           agentsh_env: dict[str, str]) -> None:
    (project / "README.md").write_text("hello\n")
    (project / "src" / "a.py").write_text("")
    line = ('f=src/a.py; echo "${f##*/}" "${f%/*}" "${f%.py}.txt" "${f^^}" "${#f}" "${f:4}"; '
            'x=READ; y=ME.md; cat "$x$y" ${x}ME.md; for g in src/*.py; do echo "${g%.py}"; done')
    done = run_guardrail(line, project, agentsh_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a.py src src/a.txt SRC/A.PY 8 a.py\nhello\nhello\nsrc/a\n"


@pytest.mark.parametrize("line", [
    "shopt -s globstar; cat ~/**/key",
    "shopt -s globstar; cat ~/**",
    "shopt -s globstar; cat \"$HOME\"/**/key",
    "shopt -s globstar; for f in ~/**/key; do cat $f; done",
    "shopt -s globstar; f=(~/**/key); cat ${f[0]}",
    "shopt -s globstar; cd .. && head -n 5 **/key",
])
def test_a_globstar_reads_no_secret_below_a_directory(line: str, home: Path, project: Path, tmp_path: Path,
                                                      agentsh_env: dict[str, str]) -> None:
    """Found by this round's hand probes: `shopt -s globstar` is allowed, and then `**` matches
    any number of directories, but the glob checks matched it as one component like `*`:
    `cat ~/**/key` printed proj/secrets/key (a denied root two levels below HOME)."""
    (project / "secrets").mkdir()
    (project / "secrets" / "key").write_text("WORKSPACE-SECRET\n")
    done = guardrail_in(project, agentsh_env, tmp_path)(line)
    assert "WORKSPACE-SECRET" not in done.stdout + done.stderr
    assert done.returncode == 126, done.stderr


def test_a_globstar_below_the_denied_roots_is_still_allowed(project: Path, tmp_path: Path,
                                                            agentsh_env: dict[str, str]) -> None:
    (project / "secrets").mkdir()
    (project / "src" / "a").mkdir()
    (project / "src" / "a" / "x.py").write_text("X\n")
    done = guardrail_in(project, agentsh_env, tmp_path)("shopt -s globstar; cat src/**/*.py ~/proj/src/**/x.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "X\nX\n"
