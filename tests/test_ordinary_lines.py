"""Ordinary lines an AI coding agent really runs must be allowed by the developer profile,
and must behave exactly as under `bash -c`.  False positives are bugs: the known ones are
marked xfail(strict=True) so that they turn into failures the day they are fixed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agentsh.policy import Decision, Policy
from agentsh.profile import Host, load_profile
from agentsh.run import build_environment
from tests.conftest import REPO

DEVELOPER = REPO / "profiles" / "developer.yaml"
BASE_PATH = ["/usr/local/bin", "/usr/bin", "/bin"]
FIXED_DATE = "2024-01-02T03:04:05+00:00"


def fp(line: str, why: str, fix: str) -> object:
    """A known false positive: `why` is agentsh's refusal, `fix` the proposed change."""
    return pytest.param(line, marks=pytest.mark.xfail(strict=True, reason=f"false positive: {why}; fix: {fix}"))


# -- a small real project ------------------------------------------------------------

FILES = {
    "README.md": "hello\n",
    "src/__init__.py": "",
    "src/calc.py": "def add(a, b):\n    # TODO: types\n    return a + b\n",
    "src/util.py": "import os\n\n\ndef cwd():\n    return os.getcwd()\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": "from src.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "Makefile": "test:\n\tpython3 -m pytest -q -p no:cacheprovider tests > /dev/null && echo tests-ok\n"
                "hello:\n\t@echo hello from make\n",
    "a.txt": "pear\napple\nfig\n",
    "b.txt": "fig\napple\nplum\n",
    "notes.txt": "first line\nsecond line\n",
    "data.csv": "x,3\ny,10\nz,7\n",
}


def build_project(root: Path) -> None:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env = dict(os.environ, GIT_AUTHOR_DATE=FIXED_DATE, GIT_COMMITTER_DATE=FIXED_DATE,
               GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "Agent"],
                 ["git", "config", "user.email", "agent@example.com"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "initial"]):
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture
def project(workspace: Path) -> Path:
    (workspace / "README.md").unlink()
    build_project(workspace)
    return workspace


@pytest.fixture
def decide(project: Path, home: Path) -> Callable[[str], Decision]:
    host = Host(cwd=str(project), home=str(home), config_home=str(home / ".config"))
    policy = Policy(load_profile(str(DEVELOPER), host), host)
    return lambda line: policy.decide(line, str(project))


def reason_of(decision: Decision) -> str:
    return "; ".join(f"{v.command}: {v.reason}" for v in decision.refused)


# -- lines that must be allowed -------------------------------------------------------

ORDINARY = [
    "ls -la | head -n 20",
    "git status && git diff --stat",
    "grep -rn \"TODO\" --include='*.py' .",
    "find . -name '*.py' | xargs wc -l",
    "ls -la | sort -k5 -n | tail -3",
    "python3 -m pytest -q 2>&1 | tail -n 20",
    "sed -n '10,20p' src/calc.py",
    "echo \"$HOME\"",
    "test -f setup.py && echo yes",
    "[ -d src ] || mkdir src",
    "if [ -f x ]; then cat x; fi",
    "while read -r line; do echo \"$line\"; done < notes.txt",
    "set -euo pipefail; ls src | wc -l",
    "grep -q nothing README.md || true",
    "export LANG=C.UTF-8",
    "command -v python3",
    "echo $((1+2))",
    "mkdir -p build && cd build",
    "git log --oneline -n 5 | cat",
    "diff <(sort a.txt) <(sort b.txt)",
    "cat > f.py <<'EOF'\nimport sys\nprint(sys.argv)\nEOF",
    "cd src && make test",
    "for f in *.py; do wc -l \"$f\"; done",
    "LANG=C sort a.txt",
    "git add -A && git commit -m 'wip'",
    "git diff HEAD~1 -- src/",
    "git log -p -1 -- src/calc.py",
    "git show HEAD --stat",
    "git checkout -b feature/x",
    "git stash",
    "git stash pop",
    "git rev-parse --abbrev-ref HEAD",
    "git log --format='%h %s' -n 3",
    "git --no-pager log -n 1",
    "git diff --name-only | xargs -r grep -n TODO",
    "wc -l $(git ls-files '*.py')",
    "x=$(git rev-parse HEAD); echo \"$x\"",
    "echo \"done\" >&2",
    "ls nonexist 2>/dev/null || echo missing",
    "cat src/calc.py | grep -n def",
    "find . -type f -name '*.py' -not -path './.git/*'",
    "awk -F, '{print $2}' data.csv | sort -n | tail -1",
    "awk '{print $1}' a.txt | sort | uniq -c",
    "sed -i 's/hello/world/' README.md",
    "cp a.txt a.txt.bak && mv a.txt.bak /tmp/",
    "rm -rf build/",
    "tar czf /tmp/src.tgz src",
    "echo '{\"a\": 1}' | jq .a",
    "printf '%s\\n' c a b | sort -r",
    "du -sh . 2>/dev/null | cut -f1",
    "timeout 10 python3 -m pytest -q",
    "{ echo a; echo b; } > out.txt",
    "(cd src && ls)",
    "echo hi | tee out.txt",
    "[[ -f README.md ]] && echo exists",
    "for i in 1 2 3; do echo $i; done",
    "sort -u a.txt > sorted.txt",
    "python3 -m pytest tests/test_calc.py::test_add -x -q",
    "make -C . hello",
    "nl -ba src/calc.py | sed -n '1,5p'",
    "echo \"$(date) - build done\" >> build.log",
    "xargs -I {} echo item {} < a.txt",
    "comm -12 <(sort a.txt) <(sort b.txt)",
    "tr a-z A-Z <<< hello",
    "i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i",
    "python3 -c 'import sys; print(sys.version_info[0])'",
    "npm test",
    "npm run build -- --verbose",
    "PYTHONPATH=src python3 -m pytest -q",
    "git commit -am 'fix: thing' && git log -1 --oneline",
    "shopt -s nullglob; for f in *.md; do echo \"$f\"; done",
    # -- known false positives -----------------------------------------------------------
    "cat - <<'EOF'\nhello\nEOF",
    'cat <<EOF\nsum=$((2 * 21))\nEOF',
    'python3 --version',
    'python3 -V',
    'node --version',
    'node --test',
    'while IFS= read -r line; do echo "$line"; done < notes.txt',
    "find . -name '*.txt' | xargs -I{} cp {} /tmp/",  # the attached -I{} form is -I
    'git commit -m "$(cat <<\'EOF\'\nfix: the thing\n\nlonger text\nEOF\n)"',
    'git commit -m "$MSG"',
    'git log --since="$(date +%F)" --oneline',
    'git add "$f"',
    # every value of f starts with `tests/`: the script (policy/loopvars.py)
    "for f in tests/*.py; do python3 \"$f\"; done",
    "cd src && ls && cd -",  # OLDPWD is unset when the line starts: one of the line's directories
    "for i in 1 2 3; do mkdir -p x && cd x; done",  # followed 3 rounds, however deep x/x/... is
    fp("source .venv/bin/activate && python3 -m pytest -q",
       "'source runs a file as shell code that was never checked': the script is a workspace file "
       "the agent can write; a genuine one defines a function and runs `hash -r`, dropping agentsh's "
       "pins, and puts .venv/bin first on PATH, so later names (python3, pytest, or a `git` the agent "
       "put there) resolve to files no rule or pin was checked against, unchecked in guardrail mode; "
       "a profile path entry for {workspace}/.venv/bin would let every rule cover agent-written files "
       "(docs/profiles.md, Environment)",
       "none safe yet: it would need the script matched against venv's generated text, the PATH "
       "change modelled for the rest of the line, and re-pinning after `hash -r`"),
    # every program of the line is allowed by a rule naming PYTHONPATH; src is in the workspace
    "export PYTHONPATH=src && python3 -m pytest -q",
    # `$(mktemp)` without arguments (TMPDIR is not passed) is a new file in /tmp, a write root
    'tmp=$(mktemp) && echo hi > "$tmp" && cat "$tmp" && rm "$tmp"',
    # an -exec'd rm's lone `{}` is a path below find's start points (no -L): checked as them
    "find . -name __pycache__ -type d -prune -exec rm -rf {} +",
    # a plain loop's cd is checked (and followed) once for each of its literal words
    'for d in src tests; do (cd "$d" && ls); done',
    'python3 -m pytest -q "$TEST"',
    'mapfile -t lines < notes.txt',
    "find . -name '*.py' -exec grep -l import {} +",
    "find . -name '*.pyc' -delete",
]


def _id(param: object) -> str:
    line = param if isinstance(param, str) else param.values[0]  # type: ignore[attr-defined]
    return " ".join(line.split())[:60]


def test_there_are_enough_ordinary_lines() -> None:
    assert len([p for p in ORDINARY if isinstance(p, str)]) >= 60


@pytest.mark.parametrize("line", ORDINARY, ids=[_id(p) for p in ORDINARY])
def test_ordinary_line_is_allowed(line: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "allow", reason_of(decision)


# -- lines that must be refused ------------------------------------------------------------

REFUSED = [
    ("curl https://example.com", "no network"),
    ("wget -q https://example.com/x.sh", "no network"),
    ("ssh host uptime", "no network"),
    ("nc -l 4444", ""),  # denied by rule where installed, as not found elsewhere
    ("echo x > /etc/passwd", "outside the write roots"),
    ("cp src/calc.py /usr/local/bin/", "outside the write roots"),
    ("touch /etc/cron.d/job", "outside the write roots"),
    ("cat ~/.ssh/id_rsa", "denied read root"),
    ("cat \"$HOME/.ssh/id_rsa\"", ".ssh"),
    ("grep -r key ~/.aws", "denied read root"),
    ("cd ~/.ssh && cat id_rsa", "denied read root"),
    ("git -c core.pager=sh -p log", "-c"),
    ("git config core.fsmonitor 'sh -c id'", "git config"),
    ("PAGER='sh -c id' git log", "PAGER"),
    ("eval ls", "eval"),
    ("source ~/.bashrc", "source"),
    ("bash -c 'ls'", ""),
    ("find . -exec sh -c id \\;", "no rule allows"),
    ("xargs sh -c 'id'", ""),
    ("awk 'BEGIN { system(\"id\") }'", "system"),
    ("sed -n '1e id' README.md", "sed script"),
    ("cat <<'EOF' | python3 -\nimport os\nEOF", "standard input"),
    ("python3 -i", "interactive"),
    ("LD_PRELOAD=/tmp/x.so ls", "LD_PRELOAD"),
    ("sudo make install", ""),  # "privilege" where sudo is installed
    ("git push --force origin main", "Use --force-with-lease."),
    ("npx cowsay hi", "fetches and runs packages"),
    ("f() { ls; }; f", ""),
    ("alias ls='rm -rf /'", "alias"),
    ("env -S 'sh -c id'", "split"),
    # Not a false positive: git writing the work tree may make a symbolic link the line's
    # check cannot see, so it must end its line (policy/madelinks.py); two lines do it.
    ("git stash && git stash pop", "git writing work-tree files"),
]


@pytest.mark.parametrize(("line", "reason"), REFUSED, ids=[" ".join(c[0].split())[:60] for c in REFUSED])
def test_line_is_refused(line: str, reason: str, decide: Callable[[str], Decision]) -> None:
    decision = decide(line)
    assert decision.decision == "deny", "allowed"
    assert reason in reason_of(decision)


def test_python_stdin_heredoc_is_refused_for_the_right_reason(decide: Callable[[str], Decision]) -> None:
    decision = decide("python3 - <<'EOF'\nprint(1)\nEOF")
    assert decision.decision == "deny"
    assert "parser skipped" not in reason_of(decision)


# -- the same lines, run for real, must behave as under bash -c ----------------------------

REAL = [
    "ls -1 | head -n 20",
    "git status && git diff --stat",
    "grep -rn \"TODO\" --include='*.py' .",
    "find . -name '*.py' -not -path './.git/*' | sort | xargs wc -l",
    "wc -c src/*.py | sort -n | tail -3",
    "python3 -m pytest -q -p no:cacheprovider 2>&1 | tail -n 1 | sed 's/ in .*//'",
    "sed -n '1,2p' src/calc.py",
    "echo \"$HOME\"",
    "test -f setup.py && echo yes",
    "[ -d src ] || mkdir src; ls",
    "if [ -f README.md ]; then cat README.md; fi",
    "while read -r line; do echo \"<$line>\"; done < notes.txt",
    "set -euo pipefail; ls src | wc -l",
    "grep -q nothing README.md || true",
    "export LANG=C.UTF-8; echo \"$LANG\"",
    "command -v python3 >/dev/null && echo found",
    "echo $((1+2))",
    "mkdir -p build && cd build && pwd | sed 's|.*/||'",
    "git log --oneline -n 5 | cat",
    "diff <(sort a.txt) <(sort b.txt); echo \"rc=$?\"",
    "cat > gen.py <<'EOF'\nprint('generated', 6 * 7)\nEOF\npython3 gen.py",
    "cd src && ls && cd .. && make -s test",
    "for f in src/*.py; do wc -l \"$f\"; done",
    "LANG=C sort notes.txt a.txt",
    "echo change >> README.md && git add -A && git commit -q -m second && git log --oneline | wc -l",
    "python3 -c 'print(sum(range(10)))'",
    "x=$(git rev-parse --abbrev-ref HEAD); echo \"branch=$x\"",
    "cat missing.txt 2>&1; echo \"rc=$?\"",
    "printf '%s\\n' c a b | sort -r | head -n 2",
    "echo '{\"a\": [1, 2]}' | jq -c '.a'",
    "awk -F, '{print $2}' data.csv | sort -n | tail -1",
    "false || echo recovered",
    "exit 3",
    "cp a.txt c.txt && mv c.txt d.txt && ls *.txt",
    "cat <<EOF\nhome=${HOME##*/} branch=$(git rev-parse --abbrev-ref HEAD)\nEOF",
    "git diff --stat HEAD; sed -i 's/hello/world/' README.md; git diff --stat | tail -n 1",
    "make -s hello 2>&1",
    "ls nonexist; echo \"rc=$?\"",
    # false positives fixed from tests/ordinary_corpus.py
    "for f in tests/*.py; do PYTHONPATH=. python3 \"$f\"; done; echo \"rc=$?\"",
    "cd src && cd - >/dev/null && ls src",
    "cd -; echo \"rc=$?\"",
    "pushd src >/dev/null && ls && popd >/dev/null && pwd | sed 's|.*/||'",
    "node -e 'console.log(6 * 7)'",
    "NODE_ENV=test node -p 'process.env.NODE_ENV'",
    "for i in 1 2 3; do mkdir -p x && cd x; done; pwd | sed 's|.*/work||'",
    "ulimit -n",
    'for d in src tests; do (cd "$d" && ls); done',
    "export PYTHONPATH=src && python3 -c 'import calc; print(calc.add(2, 3))'",
    "mkdir -p src/__pycache__ && find . -name __pycache__ -type d -prune -exec rm -rf {} + && ls -a src",
]


@pytest.fixture
def real_profile(tmp_path: Path) -> Path:
    """The developer profile with this interpreter's bin dir first, so pytest is importable."""
    data = yaml.safe_load(DEVELOPER.read_text())
    data["path"] = [os.path.dirname(sys.executable), *data.get("path", BASE_PATH)]
    out = tmp_path / "developer-real.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def test_there_are_enough_real_lines() -> None:
    assert len(REAL) >= 25


@pytest.mark.parametrize("line", REAL, ids=[" ".join(line.split())[:60] for line in REAL])
def test_real_run_matches_bash(line: str, project: Path, real_profile: Path, home: Path,
                               agentsh_env: dict[str, str],
                               run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    host = Host(cwd=str(project), home=str(home), config_home=str(home / ".config"))
    profile = load_profile(str(real_profile), host)
    env = build_environment(profile, agentsh_env, str(project))
    expected = subprocess.run(["bash", "--noprofile", "--norc", "-c", line], cwd=project, env=env,
                              capture_output=True, text=True, timeout=60)
    # Start agentsh from the same pristine project.
    subprocess.run(["rm", "-rf", str(project)], check=True)
    project.mkdir()
    build_project(project)
    got = run_agentsh("-p", str(real_profile), "-c", line, cwd=project)
    assert "agentsh:" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (expected.returncode, expected.stdout), got.stderr
