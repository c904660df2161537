"""The policy engine: rules, resolution, builtins, wrappers, environment and path roots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from tests.conftest import write_profile

PROFILE = """\
agentsh: 1
name: policy-test
extends: [base]
write: {allow: ["{workspace}"]}
env: {pass: [GOOD_VAR]}
commands:
  - name: git-read
    run: git
    args: ["status ...", "log ...", "diff ..."]
    decision: allow
  - name: git-one-arg
    run: git
    args: ["show *"]
    decision: allow
  - name: git-pager-ok
    run: git
    args: ["-c core.pager=cat log ..."]
    decision: allow
  - name: no-force-push
    run: git
    args: ["push ... --force ...", "push ... -f ..."]
    decision: deny
    message: "Use --force-with-lease."
  - name: push
    run: git
    args: ["push ..."]
    decision: ask
  - name: tools
    run: [ls, cat, rm, cp, env, timeout, nice, xargs, grep, wc, sort, flock, head, tee, sleep]
    decision: allow
  - name: pager-for-man
    run: man
    env: [MANPAGER]
    decision: allow
  - name: kubectl-restart
    run: sort
    args: ["--reverse ..."]
    decision: deny
"""


@pytest.fixture
def policy(tmp_path: Path, home: Path, workspace: Path) -> Policy:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    return Policy(load_profile(str(write_profile(tmp_path, "policy", PROFILE)), host), host)


@pytest.fixture
def decide(policy: Policy) -> Callable[[str], Decision]:
    return policy.decide


def outcome(decision: Decision) -> tuple[str, str]:
    deciding = decision.deciding
    assert deciding is not None
    return decision.decision, deciding.rule


@pytest.mark.parametrize("line, expected", [
    ("git status", ("allow", "git-read")),
    ("git log --oneline -n 5", ("allow", "git-read")),
    ("git show HEAD", ("allow", "git-one-arg")),
    # `*` is one argv element, never several: sudo's joined-string mistake is not possible.
    ("git show HEAD --output=/tmp/x", ("deny", "default-deny")),
    ("git push origin main", ("ask", "push")),
    ("git push origin main --force", ("deny", "no-force-push")),
    ("git push -f origin main", ("deny", "no-force-push")),
    ("git commit -m x", ("deny", "default-deny")),
    ("git status && git push --force", ("deny", "no-force-push")),
    ("sort -n f", ("allow", "tools")),
    ("sort --reverse f", ("deny", "kubectl-restart")),  # deny beats allow whatever the order
    ("true; frobnicate", ("deny", "")),
])
def test_rules_and_strictest_wins(decide: Callable[[str], Decision], line: str, expected: tuple[str, str]) -> None:
    assert outcome(decide(line)) == expected


def test_denial_names_the_rule_and_its_message(decide: Callable[[str], Decision]) -> None:
    deciding = decide("git push --force").deciding
    assert deciding is not None and deciding.reason == "Use --force-with-lease."


@pytest.mark.parametrize("line, reason", [
    ("git -c core.pager=sh -p log", "no rule allows"),
    ("git -c core.pager=cat -p log", "no rule allows"),
    ("PAGER=sh git log", "setting PAGER can change what programs run"),
    ("GIT_CONFIG_COUNT=1 git status", "setting GIT_CONFIG_COUNT"),
    ("LD_PRELOAD=/tmp/x.so ls", "setting LD_PRELOAD"),
    ("BASH_ENV=/tmp/x ls", "setting BASH_ENV"),
    ("OTHER=1 ls", "OTHER is not among the variables the profile passes"),
    ("env PAGER=sh git log", "setting PAGER"),
    ("env -S 'sh -c id' ls", "splits a string"),
    ("timeout 5 git push --force", "Use --force-with-lease."),
    ("nice -n 5 timeout -s KILL 3 git commit", "no rule allows"),
    ("xargs -I{} sh -c {}", "no rule allows"),
    ("xargs rm", "only known at run time"),
    ("flock /tmp/l -c 'rm -rf /'", "runs a shell string"),
    ("timeout $t ls", "dynamic argument"),
    ("$cmd status", "only known at run time"),
    ("$(echo git) status", "only known at run time"),
    ("cat${IFS}/etc/passwd", "only known at run time"),
    ("\"g\"it push --force", "Use --force-with-lease."),
    ("\\git push --force", "Use --force-with-lease."),
])
def test_escapes_visible_in_the_line_are_refused(decide: Callable[[str], Decision], line: str, reason: str) -> None:
    decision = decide(line)
    assert decision.decision != "allow"
    assert any(reason in v.reason for v in decision.refused), [v.reason for v in decision.refused]


def test_an_explicit_rule_can_name_a_hazard(decide: Callable[[str], Decision]) -> None:
    assert outcome(decide("git -c core.pager=cat log -n 1")) == ("allow", "git-pager-ok")
    assert outcome(decide("MANPAGER=cat man ls")) == ("allow", "pager-for-man")
    assert outcome(decide("GOOD_VAR=1 ls")) == ("allow", "tools")


def test_program_must_be_the_pinned_file(decide: Callable[[str], Decision], workspace: Path, tmp_path: Path) -> None:
    real = shutil.which("git", path="/usr/bin:/bin")
    assert real
    shutil.copy(real, workspace / "git")
    (workspace / "linked").mkdir()
    os.symlink(real, workspace / "linked" / "git")
    assert outcome(decide(f"{real} status")) == ("allow", "git-read")
    for line in ("./git status", f"{workspace}/git status", "linked/git status", f"{workspace}/linked/git status"):
        decision = decide(line)
        assert decision.decision == "deny", line
        assert "is not the 'git' on the profile's path" in decision.refused[0].reason


def test_relative_program_path_is_checked_from_every_directory(decide: Callable[[str], Decision],
                                                                workspace: Path) -> None:
    """`cd` earlier in the line changes what `./git` names; it must be on-path from all of them."""
    evil = workspace / "evil"
    evil.mkdir()
    shutil.copy(shutil.which("git", path="/usr/bin:/bin") or "", evil / "git")
    assert decide("cd /usr/bin && /usr/bin/git status").decision == "allow"
    # The check does not follow control flow: every directory the line may be in counts.
    assert decide("cd /usr/bin && ./git status").decision == "deny"
    assert decide("cd /usr/bin && cd evil && ./git status").decision == "deny"
    assert decide(f"cd /usr/bin; cd {evil}; ./git status").decision == "deny"


def test_builtin_and_binary_share_a_rule(tmp_path: Path, home: Path, workspace: Path) -> None:
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    profile = write_profile(tmp_path, "echo", "agentsh: 1\npath: [/usr/bin, /bin]\ncommands:\n"
                            "  - {name: no-echo, run: echo, decision: deny}\n")
    policy = Policy(load_profile(str(profile), host), host)
    assert outcome(policy.decide("echo hi")) == ("deny", "no-echo")
    assert outcome(policy.decide("/usr/bin/echo hi")) == ("deny", "no-echo")
    assert policy.decide("echo hi").verdicts[0].program == "builtin:echo"


@pytest.mark.parametrize("line", [
    "eval ls", "source x", ". x", "exec ls", "trap 'rm -rf /' EXIT", "enable -f x.so y", "builtin echo",
    "alias ls='rm -rf /'", "hash -p /tmp/x ls", "command ls", "let 'x[$(id)]'", "declare -x A=1",
    "typeset A", "readonly A", "fc -s", "mapfile -C cb x", "printf -v 'a[$(id)]' x", "read 'a[$(id)]'",
    "test -v 'a[$(id)]'", "set -k", "set -a", "set -o allexport", "shopt -s extglob",
    "export PAGER=sh", "export LD_PRELOAD", "export NOT_PASSED=1", "unset PAGER", "cd \"$d\"",
    "jobs -x curl x", "jobs -lx touch y", "jobs $opt curl", "wait -p PATH -n", "wait -n -p BASH_ENV",
    # option letters cluster: `-eo NAME` is `-e -o NAME`, `shopt -qs`/`-os` set like `-s`/`set -o`
    "set -eo keyword", "set -euo allexport", "set +eo braceexpand", "shopt -os keyword", "shopt -so allexport",
    "shopt -uo braceexpand", "shopt -o -u braceexpand", "shopt -qs dotglob", "shopt -sq nocaseglob",
    "shopt -ps extglob", "shopt -s -- dotglob",
    # getopt: an option's value may be glued to it or follow a cluster (`-vNAME`, `-np NAME`)
    "printf -vPS4 %s x", "read -raPS4", "read -ra'a[$(id)]'", "wait -npPATH", "mapfile -tC'id' x",
])
def test_shell_builtins_that_break_checking_are_refused(decide: Callable[[str], Decision], line: str) -> None:
    decision = decide(line)
    assert decision.decision == "deny", line


@pytest.mark.parametrize(("passed", "expected"), [("", "allow"), ("OLDPWD", "deny")])
def test_cd_dash_only_where_oldpwd_cannot_come_from_outside(tmp_path: Path, home: Path, workspace: Path,
                                                           passed: str, expected: str) -> None:
    """`cd -` goes to $OLDPWD, which is unset when the line starts unless the profile passes it
    (the line cannot assign it): then it is one of the line's own, already checked, directories."""
    text = f"agentsh: 1\nextends: [base]\nenv:\n  pass: [{passed}]\n"
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(write_profile(tmp_path, "cd", text)), host), host)
    assert policy.decide("cd -").decision == expected
    assert policy.decide("pushd -").decision == "deny"


@pytest.mark.parametrize("line", [
    "true", ":", "echo hi", "printf '%s\\n' x", "test -f x", "[ -d x ]", "pwd", "cd /tmp", "command -v git",
    "set -euo pipefail", "set -x", "shopt -s nullglob globstar", "export GOOD_VAR=1", "read -r line",
    "x=1; echo $x", "while read -r l; do echo \"$l\"; done < README.md", "unset GOOD_VAR",
    "set -euxo pipefail", "set -o errexit -o nounset", "shopt -qs nullglob", "shopt -so pipefail", "shopt -u dotglob",
])
def test_harmless_builtins_are_allowed(decide: Callable[[str], Decision], line: str) -> None:
    decision = decide(line)
    assert decision.decision == "allow", [v.reason for v in decision.refused]


@pytest.mark.parametrize("line, reason", [
    ("cat ~/.ssh/id_rsa", "inside the denied read root"),
    ("cat $HOME/.ssh/id_rsa", "names the denied root .ssh"),
    ("cd ~/.ssh && cat id_rsa", "inside the denied read root"),
    ("cd ~ && cat .ssh/id_rsa", "inside the denied read root"),
    ("grep -r key --include=x ~/.aws/credentials", "inside the denied read root"),
    ("cat < ~/.ssh/id_rsa", "inside the denied read root"),
    ("echo x > /etc/agentsh-test", "outside the write roots"),
    ("echo x >> ../outside", "outside the write roots"),
    ("ls > \"$out\"", "only known at run time"),
    ("rm -rf /", "outside the write roots"),
    ("rm -rf ../*", "outside the write roots"),
    ("cp README.md /etc/", "outside the write roots"),
    ("tee /tmp/../etc/x", "outside the write roots"),
])
def test_read_and_write_roots(decide: Callable[[str], Decision], line: str, reason: str) -> None:
    decision = decide(line)
    assert decision.decision == "deny"
    assert any(reason in v.reason for v in decision.refused), [v.reason for v in decision.refused]


@pytest.mark.parametrize("line", [
    "echo hi > out.txt", "ls 2>/dev/null", "ls > /dev/null 2>&1", "rm -f *.pyc", "cp README.md copy.md",
    "cat README.md | tee log.txt", "ls -la ..",
])
def test_workspace_writes_are_allowed(decide: Callable[[str], Decision], line: str) -> None:
    decision = decide(line)
    assert decision.decision == "allow", [v.reason for v in decision.refused]


def test_symlink_out_of_the_workspace_is_resolved(decide: Callable[[str], Decision], workspace: Path,
                                                  home: Path) -> None:
    os.symlink(home / ".ssh", workspace / "innocent")
    assert decide("cat innocent/id_rsa").decision == "deny"
    os.symlink("/etc", workspace / "etc-link")
    assert decide("echo x > etc-link/passwd").decision == "deny"


def test_decision_is_plain_data(decide: Callable[[str], Decision]) -> None:
    data = decide("git status | wc -l").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["decision"] == "allow" and len(data["commands"]) == 2
    assert data["profile_sha256"] and data["profile"].endswith("policy.yaml")


def test_explain_cli(run_agentsh: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    path = write_profile(tmp_path, "policy", PROFILE)
    result = run_agentsh("explain", "-p", str(path), "--json", "git status; timeout 3 git push -f")
    data = json.loads(result.stdout)
    assert data["decision"] == "deny" and data["rule"] == "no-force-push"
    assert data["commands"][1]["wrapped"][0]["program"].endswith("/git")
    text = run_agentsh("explain", "-p", str(path), "git status").stdout
    assert "ALLOW by git-read" in text and "program: " in text


def test_multi_call_binary_is_matched_by_invoked_name(tmp_path: Path, home: Path, workspace: Path) -> None:
    """busybox-style: `ls` and `sh` are links to one file; allowing `ls` must not allow `sh`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = bin_dir / "multi"
    real.write_text("#!/bin/sh\necho multi\n")
    real.chmod(0o755)
    os.link(real, bin_dir / "ls")
    os.symlink(real, bin_dir / "sh")
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    profile = write_profile(tmp_path, "multi", f"agentsh: 1\npath: [{bin_dir}]\ncommands:\n"
                            "  - {name: only-ls, run: ls, decision: allow}\n")
    policy = Policy(load_profile(str(profile), host), host)
    assert policy.decide("ls").decision == "allow"
    assert policy.decide(f"{bin_dir}/ls").decision == "allow"
    for line in ("sh", "multi", f"{bin_dir}/sh"):
        assert policy.decide(line).decision == "deny", line


@pytest.mark.parametrize("line", [
    "for GIT_EDITOR in 'date > x; true'; do git status; done",
    "for PATH in 0; do ls; done",
    "read PATH <<< 0; ls",
    "printf -v PATH %s 0; ls",
    "getopts ab PATH",
    "mapfile -t LD_PRELOAD < README.md",
    "echo $((PATH=0)); ls",
    "((PATH=0)); ls",
    "((BASH_ENV++))",
    ": ${CDPATH:=/etc}; ls",
    "echo ${PAGER=sh}",
    # ~- is $OLDPWD and ~+ (~0) $PWD: the read check resolves them from the line's `cd`s
    "OLDPWD=~/.ssh; cat ~-/id_rsa",
    "PWD=~/.ssh; cat ~+/id_rsa",
    "PWD=~/.ssh; cat ~0/id_rsa",
    "read OLDPWD <<< ~/.ssh; cat ~-/id_rsa",
])
def test_every_way_of_setting_a_variable_is_checked(decide: Callable[[str], Decision], line: str) -> None:
    """Found by review: only NAME=value and export were checked; for/read/printf -v/getopts/
    mapfile/arithmetic/${V:=} could set PATH or GIT_EDITOR and run an unchecked program."""
    decision = decide(line)
    assert decision.decision == "deny", line
    assert any("changes how bash or later programs behave" in v.reason for v in decision.refused)


def test_clustered_shopt_option_does_not_widen_globs(
        run_agentsh: Callable[..., subprocess.CompletedProcess[str]], workspace: Path, home: Path) -> None:
    """Found by red-teaming: only a lone `-s` counted as enabling, so `shopt -qs dotglob` passed
    and `cat ~/*/id_rsa` (checked as a glob that cannot match `.ssh`) printed the key."""
    line = "shopt -qs dotglob\ncat ~/*/id_rsa"
    under_bash = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace,
                                capture_output=True, text=True, env={"HOME": str(home), "PATH": os.environ["PATH"]})
    assert "SECRET-KEY-BYTES" in under_bash.stdout, "bash no longer reads it: the case proves nothing"
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert "SECRET-KEY-BYTES" not in result.stdout + result.stderr


@pytest.mark.parametrize("line", ["set -eo keyword\ngit diff GIT_EXTERNAL_DIFF={script}",
                                  "shopt -os keyword\ngit diff GIT_EXTERNAL_DIFF={script}"])
def test_keyword_option_by_another_spelling_is_refused(
        line: str, run_agentsh: Callable[..., subprocess.CompletedProcess[str]], workspace: Path,
        decide: Callable[[str], Decision], tmp_path: Path) -> None:
    """Found by red-teaming: `set -k` was refused but `set -eo keyword` and `shopt -os keyword`
    passed; under it `git diff GIT_EXTERNAL_DIFF=SCRIPT` puts the word into git's environment
    (the check saw a pathspec) and git runs SCRIPT."""
    canary = tmp_path / "CANARY"
    script = tmp_path / "diff.sh"
    script.write_text(f"#!/bin/sh\ntouch {canary}\n")
    script.chmod(0o755)
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], cwd=workspace, check=True)
    subprocess.run([*git, "add", "README.md"], cwd=workspace, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=workspace, check=True)
    (workspace / "README.md").write_text("changed\n")
    line = line.format(script=script)
    subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    assert canary.exists(), "bash and git no longer run it: the case proves nothing"
    canary.unlink()
    assert decide(line).decision == "deny"
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert not canary.exists()


def test_oldpwd_set_by_the_line_does_not_read_a_denied_root(
        run_agentsh: Callable[..., subprocess.CompletedProcess[str]], workspace: Path, home: Path) -> None:
    """Found by red-teaming: `OLDPWD=~/.ssh; cat ~-/id_rsa` passed the static check (the check
    takes ~- from the line's own `cd`s) and printed the key under plain bash."""
    line = "OLDPWD=~/.ssh; cat ~-/id_rsa"
    under_bash = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", line], cwd=workspace,
                                capture_output=True, text=True, env={"HOME": str(home), "PATH": os.environ["PATH"]})
    assert "SECRET-KEY-BYTES" in under_bash.stdout, "bash no longer reads it: the case proves nothing"
    result = run_agentsh("-c", line)
    assert result.returncode == 126, result
    assert "SECRET-KEY-BYTES" not in result.stdout + result.stderr


@pytest.mark.parametrize("line", [
    "for f in *.py; do echo $f; done", "i=0; ((i++)); echo $((i + 1))", "read -r line < README.md",
    "echo ${x:=default}", "mapfile -t lines < README.md",
])
def test_ordinary_variables_may_still_be_set(decide: Callable[[str], Decision], line: str) -> None:
    decision = decide(line)
    assert decision.decision == "allow", [v.reason for v in decision.refused]


def test_no_builtin_has_hazards() -> None:
    """The engine skips the hazard tables for builtins (start-up time); that is sound only
    while the tables name none.  A table entry for a builtin must remove that shortcut."""
    from agentsh.policy.hazards import spec_for
    from agentsh.policy.resolve import BASH_BUILTINS

    assert [name for name in sorted(BASH_BUILTINS) if spec_for(name)] == []


def test_ask_rules_refuse_hazards_before_asking(tmp_path: Path, home: Path, workspace: Path) -> None:
    """A person approves what the line shows: options that run other programs and refused
    variables are denied before anyone is asked, as for allow rules."""
    text = "agentsh: 1\nname: askp\nextends: [base]\ncommands:\n  - {name: push, run: git, args: ['push ...'], decision: ask}\n"
    profile = tmp_path / "askp.yaml"
    profile.write_text(text)
    host = Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(profile), host), host)
    assert policy.decide("git push origin main").decision == "ask"
    for line in ("git push --receive-pack=evil origin main", "GIT_SSH_COMMAND=x git push origin"):
        decision = policy.decide(line)
        assert decision.decision == "deny", line
        assert decision.deciding is not None and decision.deciding.rule == "push"


def test_hazard_value_patterns_compile() -> None:
    """They are compiled on first use (start-up time), so a broken one must fail here, not in a decision."""
    import re

    from agentsh.policy import hazard_table

    for name, patterns in hazard_table.VALUE_PATTERNS.items():
        for _option, pattern, _reason in patterns:
            assert re.compile(pattern), name


def test_a_checker_bug_refuses_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception while checking (a bug) refuses the whole line with a reason
    and the rule `internal-error`, instead of a traceback: nothing of the line runs."""
    from agentsh.policy import engine

    host = Host(cwd=str(tmp_path), home=str(tmp_path), config_home=str(tmp_path / ".config"))
    policy = Policy(load_profile(None, host), host)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("mv")

    monkeypatch.setattr(engine.Policy, "check_command", broken)
    decision = policy.decide("ls")
    assert decision.decision == "deny"
    assert decision.deciding is not None and decision.deciding.rule == "internal-error"
    assert "KeyError" in decision.deciding.reason and "nothing of it runs" in decision.deciding.reason


def test_jobs_x_runs_nothing(run_agentsh: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    """`jobs -x COMMAND` runs COMMAND (with job specs replaced): a program no rule saw."""
    canary = tmp_path / "canary"
    done = run_agentsh("-c", f"jobs -x touch {canary}")
    assert done.returncode == 126 and "jobs -x runs a command" in done.stderr, done.stderr
    assert not canary.exists()
