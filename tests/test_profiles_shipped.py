"""The profiles shipped in profiles/ (and the embedded default): they load, pass their own
`tests:`, and make the key decisions their roles promise."""

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
from agentsh.session import load_policy
from tests.conftest import REPO, run_guardrail

PROFILES = REPO / "profiles"
SHIPPED = sorted(p.stem for p in PROFILES.glob("*.yaml"))
BASE_PATH = ["/usr/local/bin", "/usr/bin", "/bin"]


@pytest.fixture
def host(workspace: Path, home: Path) -> Host:
    return Host(cwd=str(workspace), home=str(home), config_home=str(home / ".config"))


def policy_for(spec: str, host: Host) -> Policy:
    return load_policy(spec, host)


def test_expected_profiles_are_shipped() -> None:
    assert {"developer", "reviewer", "kubectl-readonly"} <= set(SHIPPED)


@pytest.mark.parametrize("name", [*SHIPPED, "<embedded default>"])
def test_profile_loads_and_passes_its_own_tests(name: str, host: Host) -> None:
    spec = None if name.startswith("<") else str(PROFILES / f"{name}.yaml")
    policy = policy_for(spec, host) if spec else policy_for("default", host)
    profile = policy.profile
    assert policy.self_test() == []
    if spec:
        assert profile.description
        assert "base" in " ".join(profile.files)
        assert len(profile.tests.allow) >= 8
        assert len(profile.tests.deny) >= 8


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_check_cli(name: str, run_agentsh: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run_agentsh("profile", "check", str(PROFILES / f"{name}.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_files_explain_themselves(name: str) -> None:
    text = (PROFILES / f"{name}.yaml").read_text()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 5
    assert "extends: [base]" in text


# -- key decisions ----------------------------------------------------------------

def decide_with(spec: str, host: Host) -> Callable[[str], Decision]:
    policy = Policy(load_profile(spec, host), host)
    return lambda line: policy.decide(line)


def reason_of(decision: Decision) -> str:
    return decision.deciding.reason if decision.deciding else ""


DEVELOPER = [
    ("git add -A && git commit -m 'wip'", "allow", ""),
    ("git rebase -i HEAD~3", "allow", ""),
    ("python3 -c 'import sys; print(sys.version)'", "allow", ""),
    ("PYTHONPATH=src python3 -m pytest -q", "allow", ""),
    ("make test", "allow", ""),
    ("npm run lint", "allow", ""),
    ("git push origin main", "ask", "approve"),
    ("git push --force-with-lease origin feature", "ask", "approve"),
    ("git push --force origin main", "deny", "Use --force-with-lease."),
    ("git push -f", "deny", "Use --force-with-lease."),
    ("git push -uf origin main", "deny", "Use --force-with-lease."),
    ("git push origin +main", "deny", "Use --force-with-lease."),
    ("git fetch origin", "ask", "remote"),
    ("npm install left-pad", "ask", "package installs"),
    ("pip install requests", "ask", "package installs"),
    ("python3 -m pip install requests", "ask", "package installs"),
    ("npx create-react-app x", "deny", ""),
    ("curl https://example.com", "deny", "no network"),
    ("wget -qO- https://example.com", "deny", "no network"),
    ("cat <<'EOF' | python3 -\nprint(1)\nEOF", "deny", "standard input"),
    ("python3 -i", "deny", "interactive"),
    ("git config core.pager 'sh -c id'", "deny", ""),
    ("echo x > /etc/hosts", "deny", "outside the write roots"),
    ("uniq a.txt ~/.bashrc", "deny", ""),
    ("sort --compress-program=sh a.txt", "deny", "runs another program"),
]


@pytest.mark.parametrize(("line", "expected", "reason"), DEVELOPER, ids=[c[0][:40] for c in DEVELOPER])
def test_developer_decisions(line: str, expected: str, reason: str, host: Host) -> None:
    decision = decide_with(str(PROFILES / "developer.yaml"), host)(line)
    assert decision.decision == expected, reason_of(decision)
    assert reason in reason_of(decision)


REVIEWER = [
    ("git log --oneline -n 20", "allow", ""),
    ("git diff HEAD~1 --stat", "allow", ""),
    ("git show HEAD:README.md | head", "allow", ""),
    ("grep -rn TODO . | wc -l", "allow", ""),
    ("find . -name '*.py' -newer README.md", "allow", ""),
    ("git diff > /dev/null && echo ok", "allow", ""),
    ("echo notes > review.md", "deny", "outside the write roots"),
    ("git diff > /tmp/review.diff", "deny", "outside the write roots"),
    ("git commit --allow-empty -m x", "deny", "read-only"),
    ("git checkout -b x", "deny", "read-only"),
    ("git stash", "deny", "read-only"),
    ("git push", "deny", "read-only"),
    ("python3 setup.py test", "deny", "does not run it"),
    ("make", "deny", "does not run it"),
    ("curl https://example.com", "deny", "no network"),
    ("sed -i 's/x/y/' README.md", "deny", "outside the write roots"),
    ("find . -name '*.tmp' -delete", "deny", "outside the write roots"),
    ("mkdir out", "deny", "read-only"),
]


@pytest.mark.parametrize(("line", "expected", "reason"), REVIEWER, ids=[c[0][:40] for c in REVIEWER])
def test_reviewer_decisions(line: str, expected: str, reason: str, host: Host) -> None:
    decision = decide_with(str(PROFILES / "reviewer.yaml"), host)(line)
    assert decision.decision == expected, reason_of(decision)
    assert reason in reason_of(decision)


def test_reviewer_has_no_write_roots(host: Host) -> None:
    profile = load_profile(str(PROFILES / "reviewer.yaml"), host)
    assert profile.write_allow == ()
    assert ("GIT_OPTIONAL_LOCKS", "0") in profile.env_set


# -- kubectl-readonly, with a stub kubectl ------------------------------------------------

STUB = "#!/bin/sh\necho \"stub-kubectl $*\"\n"


def kubectl_profile_with_path(tmp_path: Path, path: list[str]) -> Path:
    data = yaml.safe_load((PROFILES / "kubectl-readonly.yaml").read_text())
    data["path"] = path
    out = tmp_path / "kubectl-readonly-test.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    directory = tmp_path / "stub-bin"
    directory.mkdir()
    stub = directory / "kubectl"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return directory


@pytest.fixture
def kubectl_profile(tmp_path: Path, stub_bin: Path) -> Path:
    return kubectl_profile_with_path(tmp_path, [str(stub_bin), *BASE_PATH])


KUBECTL = [
    ("kubectl get pods", "allow", ""),
    ("kubectl get pods -A -o wide | grep -v Running", "allow", ""),
    ("kubectl -n kube-system get pods", "allow", ""),
    ("kubectl get deploy web -o yaml", "allow", ""),
    ("kubectl describe pod web-1", "allow", ""),
    ("kubectl logs deploy/web --tail=100 | tail -n 20", "allow", ""),
    ("kubectl top pods", "allow", ""),
    ("kubectl explain deployment.spec", "allow", ""),
    ("kubectl api-resources", "allow", ""),
    ("kubectl version", "allow", ""),
    ("kubectl config view", "allow", ""),
    ("kubectl rollout restart deployment/web", "ask", "approval"),
    ("kubectl rollout restart deployment/web -n prod", "ask", "approval"),
    ("kubectl rollout restart statefulset/db", "deny", ""),
    ("kubectl config view --raw", "deny", "Secrets"),
    ("kubectl get secret", "deny", "Secrets"),
    ("kubectl get secrets", "deny", "Secrets"),
    ("kubectl get secret db -o yaml", "deny", "Secrets"),
    ("kubectl get -n prod secrets/db -o yaml", "deny", "Secrets"),
    ("kubectl describe secrets", "deny", "Secrets"),
    ("kubectl get all,secrets", "deny", "Secrets"),
    # kubectl lowercases the resource name, so these list Secrets too; -f/-k fetch whatever
    # objects a file or stdin names (`echo '{"kind":"Secret",...}' | kubectl get -f - -o yaml`).
    ("kubectl get SECRETS -o yaml", "deny", "Secrets"),
    ("kubectl get -n prod sEcReT/db -o yaml", "deny", "Secrets"),
    ("kubectl describe SECRETS", "deny", "Secrets"),
    ("kubectl get -f - -o yaml", "deny", "Secrets"),
    ("kubectl get -f- -o yaml", "deny", "Secrets"),
    ("kubectl get -Af - -o yaml", "deny", "Secrets"),
    ("kubectl get --filename=x.yaml", "deny", "Secrets"),
    ("kubectl describe -k .", "deny", "Secrets"),
    ("kubectl logs -f deploy/web", "allow", ""),
    # a word only known at run time could be what a deny rule names (it matched none before)
    ('kubectl get "$r" -o yaml', "deny", "only known at run time"),
    ("kubectl get $(echo secrets) -o yaml", "deny", "only known at run time"),
    # `... delete ...` denies `delete` anywhere, so "$pod" could be it too (fail closed: the
    # exec guard decides the real argv in confined mode, but guardrail mode has only this)
    ('kubectl logs "$pod" --tail=20', "deny", "only known at run time"),
    ('ns="x delete pod web-1 --"; kubectl -n $ns get pods', "deny", "only known at run time"),
    ("kubectl logs web-1 --tail=20", "allow", ""),
    ("kubectl get pods --as=system:admin", "deny", "impersonation"),
    ("kubectl delete pod web-1", "deny", "changes nothing"),
    ("kubectl -n prod delete pod web-1", "deny", "changes nothing"),
    ("kubectl apply -f x.yaml", "deny", "changes nothing"),
    ("kubectl edit deploy/web", "deny", "changes nothing"),
    ("kubectl scale deploy/web --replicas=0", "deny", "changes nothing"),
    ("kubectl exec -it web-1 -- sh", "deny", "no shells"),
    ("kubectl port-forward svc/web 8080:80", "deny", "no shells"),
    ("kubectl cp web-1:/data ./data", "deny", "no shells"),
    ("kubectl get pods > pods.txt", "deny", "outside the write roots"),
    ("kubectl get pods --kubeconfig ~/.kube/config", "deny", "exec credential plugin"),  # a hazard anywhere
]


@pytest.mark.parametrize(("line", "expected", "reason"), KUBECTL, ids=[c[0][:40] for c in KUBECTL])
def test_kubectl_decisions_with_stub(line: str, expected: str, reason: str, kubectl_profile: Path,
                                     host: Host) -> None:
    decision = decide_with(str(kubectl_profile), host)(line)
    assert decision.decision == expected, reason_of(decision)
    assert reason in reason_of(decision)


def test_a_split_word_cannot_turn_a_read_into_a_delete(kubectl_profile: Path, agentsh_env: dict[str, str],
                                                       workspace: Path, tmp_path: Path) -> None:
    """`kubectl -n $ns get pods` was allowed by `-n * get ...` with $ns one word, but bash
    splits it: with ns='x delete pod web-1 --' kubectl deleted a pod in guardrail mode."""
    done = run_guardrail('ns="x delete pod web-1 --"; kubectl -n $ns get pods', workspace, agentsh_env, tmp_path,
                         kubectl_profile)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "delete" not in done.stdout


def test_an_unquoted_word_is_not_one_argument_to_an_allow_rule(stub_bin: Path, agentsh_env: dict[str, str],
                                                              workspace: Path, tmp_path: Path) -> None:
    """With only `-n * get ...` allowed, `kubectl -n $ns get pods` matched (the `*` took $ns),
    and bash split it into `-n x delete pod web-1 -- get pods` in guardrail mode."""
    profile = tmp_path / "only-get.yaml"
    profile.write_text(yaml.safe_dump({
        "agentsh": 1, "name": "only-get", "extends": ["base"], "path": [str(stub_bin), *BASE_PATH],
        "commands": [{"name": "get", "run": "kubectl", "args": ["-n * get ..."], "decision": "allow"}]}))
    line = 'ns="x delete pod web-1 --"; kubectl -n $ns get pods'
    done = run_guardrail(line, workspace, agentsh_env, tmp_path, profile)
    assert done.returncode == 126, done.stdout + done.stderr
    assert "delete" not in done.stdout
    quoted = run_guardrail('ns=kube-system; kubectl -n "$ns" get pods', workspace, agentsh_env, tmp_path, profile)
    assert quoted.returncode == 0 and quoted.stdout == "stub-kubectl -n kube-system get pods\n", quoted.stderr


def test_kubectl_stub_runs_and_kubeconfig_passes(kubectl_profile: Path, agentsh_env: dict[str, str],
                                                 run_agentsh: Callable[..., subprocess.CompletedProcess[str]],
                                                 home: Path) -> None:
    env = dict(agentsh_env, KUBECONFIG=str(home / "kubeconfig"), AWS_SECRET_ACCESS_KEY="nope")
    result = run_agentsh("-p", str(kubectl_profile), "-c",
                         'kubectl get pods -A | tr a-z A-Z; echo "${KUBECONFIG##*/}" "${AWS_SECRET_ACCESS_KEY:-unset}"',
                         env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "STUB-KUBECTL GET PODS -A\nkubeconfig unset\n"
    denied = run_agentsh("-p", str(kubectl_profile), "-c", "kubectl get secrets", env=env)
    assert denied.returncode == 126
    assert "Secrets" in denied.stderr
    assert denied.stdout == ""


def test_kubectl_profile_loads_on_a_host_without_kubectl(tmp_path: Path, host: Host) -> None:
    """The shipped self-tests must pass where kubectl is not installed at all."""
    bare = tmp_path / "no-kubectl-bin"
    bare.mkdir()
    for tool in ("cat", "head", "tail", "grep", "sort", "jq", "awk", "sed", "date", "seq", "curl", "wc", "tr"):
        for directory in BASE_PATH:
            found = Path(directory) / tool
            if found.is_file() and os.access(found, os.X_OK):
                (bare / tool).symlink_to(found)
                break
    if not (bare / "jq").exists():
        pytest.skip("jq is not installed (the shipped self-tests use it)")
    profile = kubectl_profile_with_path(tmp_path, [str(bare)])
    policy = policy_for(str(profile), host)
    assert policy.self_test() == []
    assert policy.decide("kubectl get pods").decision == "deny"


def test_developer_runs_a_line_for_real(run_agentsh: Callable[..., subprocess.CompletedProcess[str]],
                                        workspace: Path) -> None:
    result = run_agentsh("-p", str(PROFILES / "developer.yaml"), "-c",
                         "git init -q && git status --porcelain | wc -l")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    assert (workspace / ".git").is_dir()
    assert sys.executable  # the fixture runs agentsh with this interpreter
