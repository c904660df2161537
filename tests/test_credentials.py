"""Credentials from a real keyring backend, injected into one approved process, masked everywhere.

Backends: keyrings.alt's file backend (PlaintextKeyring, in a throwaway data dir), no
backend at all (keyring's fail backend), and a recording backend (a real keyring
plugin, loaded through PYTHON_KEYRING_BACKEND, that stores in a file and logs each
read) to show when the keyring is read.  The Secret Service backend under
gnome-keyring is in test_credentials_secret_service.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pexpect
import pytest

from agentsh.credentials.envcut import holds_url_password
from tests.conftest import REPO, run_guardrail, write_profile

SECRET = "s3cr3t-Value/with+chars=&\"quote"
PROFILE = """\
agentsh: 1
name: creds
extends: [base]
path: ["{bin}", /usr/bin, /bin]
record: {{dir: "{record}"}}
approval: {{timeout: 1}}
commands:
  - name: tools
    run: [printenv, cat, ls, env, head, base64, grep, ps, sed, cut, sleep]
    decision: allow
  - name: deploy
    run: [show-token, show-slowly, show-b64, show-lines, show-file, show-json]
    decision: allow
    credentials:
      MY_TOKEN: {{keyring: agentsh-test, user: Deploy-Key}}
      TOKEN_FILE: {{keyring: agentsh-test, user: deploy-file, as: file}}
  - name: needs-missing
    run: missing-cred
    decision: allow
    credentials:
      OTHER: {{keyring: agentsh-test, user: nobody}}
  - name: gated
    run: gated-cmd
    decision: ask
    credentials:
      GATED: {{keyring: agentsh-test, user: gated}}
"""
PROGRAMS = {
    "show-token": 'printf "token=%s\\n" "$MY_TOKEN"',
    "show-slowly": 'printf "%s" "$MY_TOKEN" | while IFS= read -r -n1 c; do printf "%s" "$c"; sleep 0.01; done; echo',
    "show-b64": 'printf "%s" "$MY_TOKEN" | base64 -w0; echo; printf "xy%s" "$MY_TOKEN" | base64 -w0; echo',
    "show-lines": 'printf "%s\\n" "${MY_TOKEN%%/*}" "${MY_TOKEN#*/}"; printf "%s\\r\\n" "$MY_TOKEN"',
    "show-file": 'ls -l "$TOKEN_FILE" | cut -c1-10; cat "$TOKEN_FILE"; echo; echo "path=$TOKEN_FILE"',
    "show-json": 'printf "{\\"t\\": \\"%s\\"}\\n" "$(printf "%s" "$MY_TOKEN" | sed "s/\\"/\\\\\\\\\\"/g")"',
    "missing-cred": "echo should-not-run",
    "gated-cmd": 'echo "gated-ran ${GATED:-none}"',
}


@pytest.fixture
def keyring_env(agentsh_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "keyring-data"
    data.mkdir()
    return dict(agentsh_env, PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
                XDG_DATA_HOME=str(data), XDG_STATE_HOME=str(tmp_path / "state"))


@pytest.fixture
def setup(tmp_path: Path, keyring_env: dict[str, str]) -> tuple[Path, Path, dict[str, str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in PROGRAMS.items():
        (bindir / name).write_text("#!/bin/bash\n" + body + "\n")
        (bindir / name).chmod(0o755)
    record = tmp_path / "record"
    profile = write_profile(tmp_path, "creds", PROFILE.format(bin=bindir, record=record))
    for user, value in (("Deploy-Key", SECRET), ("deploy-file", "file-secret-bytes"), ("gated", "gated-secret")):
        stored = agentsh(["secret", "set", "agentsh-test", user], keyring_env, value)
        assert stored.returncode == 0, stored.stderr
    return profile, record, keyring_env


def agentsh(args: list[str], env: dict[str, str], stdin: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentsh", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=60)


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode()[:-4], urllib.parse.quote(secret, safe=""),
            json.dumps(secret)[1:-1], secret.replace("\n", "\r\n")]


def assert_absent(text: str, secret: str = SECRET) -> None:
    for form in forms(secret):
        assert form not in text, f"secret form {form!r} leaked"


def recording_text(record: Path) -> str:
    return "".join(path.read_text() for path in record.glob("*.cast"))


@pytest.mark.parametrize("program", ["show-token", "show-slowly", "show-b64", "show-lines", "show-json"])
def test_output_is_masked_everywhere(setup: tuple[Path, Path, dict[str, str]], program: str) -> None:
    profile, record, env = setup
    result = agentsh(["-p", str(profile), "-c", program], env)
    assert result.returncode == 0, result.stderr
    assert "***" in result.stdout
    assert_absent(result.stdout + result.stderr)
    assert_absent(recording_text(record))
    audit = Path(env["XDG_STATE_HOME"]) / "agentsh" / "audit.jsonl"
    trail = audit.read_text()
    assert '"credentials":["MY_TOKEN","TOKEN_FILE"]' in trail  # names are audited...
    assert_absent(trail)  # ...values never


def test_file_credential_is_private_and_removed(setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _record, env = setup
    result = agentsh(["-p", str(profile), "-c", "show-file"], env)
    assert result.returncode == 0, result.stderr
    assert "-rw-------" in result.stdout
    assert "file-secret-bytes" not in result.stdout and "***" in result.stdout
    path = result.stdout.split("path=")[1].strip()
    assert path and not Path(path).exists()


@pytest.mark.parametrize("line", [
    "show-token | env", "show-token | printenv", "show-token; printenv", "env", "printenv MY_TOKEN",
    "show-token | cat /proc/self/environ", "show-token; cat /proc/$PPID/environ", "ps aux | head",
])
def test_other_commands_never_see_it(setup: tuple[Path, Path, dict[str, str]], line: str) -> None:
    profile, record, env = setup
    result = agentsh(["-p", str(profile), "-c", line], env)
    assert_absent(result.stdout + result.stderr)
    assert "MY_TOKEN=" not in result.stdout
    assert_absent(recording_text(record))


def test_secret_is_not_in_any_argv_or_agentsh_environment(setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _, env = setup
    # show-slowly runs long enough to look at every process of the user while it does.
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", "show-slowly"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = b""
    for _ in range(20):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    seen += (entry / "cmdline").read_bytes()
                    if int(entry.name) == proc.pid:
                        seen += (entry / "environ").read_bytes()
                except OSError:
                    continue
    proc.communicate(timeout=60)
    assert SECRET.encode() not in seen


def test_missing_credential_refuses_that_command_only(setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _, env = setup
    result = agentsh(["-p", str(profile), "-c", "missing-cred"], env)
    assert result.returncode == 126
    assert "OTHER (keyring service 'agentsh-test', user 'nobody') is not in the keyring" in result.stderr
    assert "should-not-run" not in result.stdout
    assert agentsh(["-p", str(profile), "-c", "ls /"], env).returncode == 0


def test_no_keyring_backend(setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _, env = setup
    env = dict(env, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    result = agentsh(["-p", str(profile), "-c", "show-token"], env)
    assert result.returncode == 126 and "no keyring backend is available" in result.stderr
    assert agentsh(["-p", str(profile), "-c", "ls /"], env).returncode == 0


def test_lines_that_could_reach_the_secret_are_refused(setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _, env = setup
    for line in ("show-token & cat /proc/$!/environ", "show-token; head /proc/self/environ"):
        result = agentsh(["-p", str(profile), "-c", line], env)
        assert result.returncode == 126 and "may not refer to /proc" in result.stderr


def test_secret_cli(keyring_env: dict[str, str]) -> None:
    assert agentsh(["secret", "set", "svc", "Alice"], keyring_env, "value-1234").returncode == 0
    collide = agentsh(["secret", "set", "svc", "alice"], keyring_env, "other-5678")
    assert collide.returncode != 0 and "differ only in case" in collide.stderr
    listing = agentsh(["secret", "list"], keyring_env)
    assert listing.stdout.strip() == "svc\tAlice" and "value-1234" not in listing.stdout
    info = json.loads(agentsh(["secret", "get-info", "svc", "Alice"], keyring_env).stdout)
    assert info["stored"] and info["length"] == 10 and "PlaintextKeyring" in info["backend"]
    assert "value-1234" not in json.dumps(info)
    short = agentsh(["secret", "set", "svc", "bob"], keyring_env, "abc")
    assert short.returncode != 0 and "shorter than 4 bytes" in short.stderr
    assert agentsh(["secret", "delete", "svc", "Alice"], keyring_env).returncode == 0
    assert agentsh(["secret", "get-info", "svc", "Alice"], keyring_env).returncode == 1


def test_env_command_masks_values(setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _, env = setup
    result = agentsh(["env", "-p", str(profile), "show-token | head -n1"], dict(env, AWS_SECRET_ACCESS_KEY="abcd1234"))
    assert "MY_TOKEN=***" in result.stdout and "TOKEN_FILE=<path of a 0600 file" in result.stdout
    dropped = next(line for line in result.stdout.splitlines() if line.startswith("dropped from agentsh's own"))
    assert "AWS_SECRET_ACCESS_KEY" in dropped
    assert_absent(result.stdout)
    assert "abcd1234" not in result.stdout


def test_the_keyrings_own_files_are_out_of_every_lines_reach(setup: tuple[Path, Path, dict[str, str]],
                                                               tmp_path: Path, home: Path) -> None:
    """The keyrings.alt file backend keeps the secrets under the keyring's data root, and the
    keyring's config file names a backend and a directory to import it from, in agentsh:
    `cat .../python_keyring/keyring_pass.cfg` printed every stored credential (guardrail)."""
    profile, _, env = setup
    store = Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
    assert store.exists()
    done = run_guardrail(f"cat {store}", tmp_path, env, tmp_path, profile)
    assert done.returncode == 126, done.stdout + done.stderr
    assert_absent(done.stdout + done.stderr)
    config = home / ".config" / "python_keyring" / "keyringrc.cfg"
    planted = run_guardrail(f"mkdir -p {config.parent} && echo '[backend]' > {config}", tmp_path, env, tmp_path,
                            profile)
    assert planted.returncode == 126 and not config.exists()


@pytest.mark.parametrize("warm", ["0", "1"])  # in the calling process, or a warm server's worker
def test_inherited_credentials_are_dropped(warm: str, setup: tuple[Path, Path, dict[str, str]]) -> None:
    profile, _, env = setup
    env = dict(env, AGENTSH_WARM=warm)
    # a URL's password is a credential whatever the variable's name (it was kept: HTTPS_PROXY)
    env = dict(env, GITHUB_TOKEN="ghp_inheritedvalue", SSH_AUTH_SOCK="/tmp/agent.sock", MY_API_KEY="k3y-v4lue",
               HTTPS_PROXY="http://bob:pr0xy-pw@proxy:3128", REDIS_URL="redis://:r3dis-pw@cache/0",
               HOMEPAGE="https://example.com/a@b:c",
               # named like none of the patterns before: mysql's password, an unlocked Bitwarden
               MYSQL_PWD="my5ql-pw", BW_SESSION="bw-s3ssion-key", OP_SESSION_team="op-s3ssion")
    result = agentsh(["-p", str(profile), "-c", "printenv; cat /proc/$PPID/environ"], env)
    for value in ("ghp_inheritedvalue", "/tmp/agent.sock", "k3y-v4lue", "pr0xy-pw", "r3dis-pw", "my5ql-pw",
                  "bw-s3ssion-key", "op-s3ssion"):
        assert value not in result.stdout
    # (what /proc/$PPID/environ holds depends on where the line ran: a warm worker's is the server's)
    assert holds_url_password("http://bob:pr0xy-pw@proxy:3128") and holds_url_password("redis://:pw@cache/0")
    assert not holds_url_password("https://example.com/a@b:c") and not holds_url_password("ssh://git@host/x")


def test_keyring_is_read_only_after_approval_and_only_for_that_rule(
        setup: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    profile, _, env = setup
    log = tmp_path / "keyring-reads.log"
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "logging_keyring.py").write_text(
        "import os\n"
        "from keyrings.alt.file import PlaintextKeyring\n"
        "class LoggingKeyring(PlaintextKeyring):\n"
        "    def get_password(self, service, username):\n"
        "        with open(os.environ['KEYRING_LOG'], 'a') as f:\n"
        "            f.write(f'{service}/{username}\\n')\n"
        "        return super().get_password(service, username)\n")
    env = dict(env, PYTHON_KEYRING_BACKEND="logging_keyring.LoggingKeyring", KEYRING_LOG=str(log),
               PYTHONPATH=f"{REPO}:{plugin}")
    assert agentsh(["-p", str(profile), "-c", "ls /"], env).returncode == 0
    assert not log.exists()  # no credential rule, no keyring access
    result = agentsh(["-p", str(profile), "-c", "gated-cmd"], env)
    assert result.returncode == 126 and "timed out" in result.stderr
    assert not log.exists()  # the ask was never approved: the keyring was never read
    result = agentsh(["-p", str(profile), "-c", "show-token"], env)
    assert result.returncode == 0
    assert sorted(log.read_text().split()) == ["agentsh-test/Deploy-Key", "agentsh-test/deploy-file"]


def test_an_approved_ask_rule_gets_its_credentials(setup: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    """Before, an `ask` rule with credentials, once approved, ran its program without them:
    only `allow` verdicts were looked at for credentials (docs/credentials.md promises them
    after approval)."""
    from tests.test_approvals import approver

    profile, _record, env = setup
    profile.write_text(profile.read_text().replace("approval: {timeout: 1}", "approval: {timeout: 30}"))
    proc = subprocess.Popen([sys.executable, "-m", "agentsh", "-p", str(profile), "-c", "gated-cmd"], cwd=tmp_path,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    waiting = proc.stderr.readline()
    assert "waiting for approval" in waiting, waiting
    child = approver(["approve", waiting.split()[4]], env)
    child.expect(pexpect.EOF)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == "gated-ran ***\n", (out, err)  # given, and masked
    assert "gated-secret" not in out + err
