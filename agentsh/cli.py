"""The click CLI for everything that is not a bash-style invocation (see main.py)."""

from __future__ import annotations

import json
import os
import sys

import click

from . import __version__
from .cli_audit import audit, kill_session, replay, sessions
from .errors import EXIT_USAGE, AgentshError


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, "--version", prog_name="agentsh")
def cli() -> None:
    """agentsh: a restricted shell for AI agents.

    \b
    Run a line:      agentsh [-p PROFILE] -c 'LINE'
    Explain a line:  agentsh explain [-p PROFILE] [--json] 'LINE'
    Check profiles:  agentsh profile check FILE...
    """


for _command in (audit, sessions, replay, kill_session):  # the auditor's commands (cli_audit.py)
    cli.add_command(_command)


@cli.command()
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.argument("line")
def explain(profile: str | None, as_json: bool, line: str) -> None:
    """Show each command in LINE, the program it resolves to, and the rule that decides it."""
    from .explain import render_decision
    from .session import session_from_environ

    session = session_from_environ(_account_profile(profile))
    decision = session.decide(line)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), indent=2))
    else:
        click.echo(render_decision(decision, session.profile), nl=False)


def _account_profile(requested: str | None) -> str | None:
    """For commands that run nothing (explain, env, doctor): without -p, the profile this account's
    shell would use (/etc/agentsh/config.yaml); with -p, the one asked about."""
    if requested is not None:
        return requested
    from .session import user_name
    from .sysconfig import profile_for

    return profile_for(None, user_name())


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"agentsh {__version__}")


@cli.group()
def profile() -> None:
    """Validate and inspect profiles."""


@profile.command("check")
@click.option("--strict", is_flag=True, help="Treat hazard warnings as errors.")
@click.argument("files", nargs=-1, required=True)
def profile_check(strict: bool, files: tuple[str, ...]) -> None:
    """Validate profiles, run their tests, and warn about hazardous rules."""
    from .explain import profile_warnings
    from .profile import Host
    from .session import load_policy

    host = Host.from_environ(os.environ)
    failed = False
    for name in files:
        try:
            policy = load_policy(name, host)
        except AgentshError as err:
            click.echo(f"FAIL {err}", err=True)
            failed = True
            continue
        warnings = profile_warnings(policy.profile)
        tests = policy.profile.tests
        count = len(tests.allow) + len(tests.ask) + len(tests.deny)
        click.echo(f"ok   {policy.profile.source}: {len(policy.profile.rules)} rules, {count} tests passed, "
                   f"sha256 {policy.profile.sha256[:16]}")
        for warning in warnings:
            click.echo(f"warn {warning}")
        failed |= strict and bool(warnings)
    if failed:
        sys.exit(EXIT_USAGE)


@cli.command()
@click.option("--spool", default=None, help="Approval spool directory.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def approvals(spool: str | None, as_json: bool) -> None:
    """List commands waiting for approval."""
    import time

    from .approve import pending, shown, spool_dir

    requests = pending(spool or spool_dir(os.environ))
    if as_json:
        click.echo(json.dumps(requests, indent=2))
        return
    if not requests:
        click.echo("no pending approvals")
        return
    for request in requests:
        age = time.time() - float(request.get("created", 0))
        click.echo(shown(f"{request['id']}  {age:5.0f}s  session {request.get('session', '?')}  user "
                         f"{request.get('user', '?')}  profile {request.get('profile', '?')}  rule "
                         f"{request.get('rule', '?')}") + "\n" + _request_text(request))


@cli.command()
@click.option("--spool", default=None, help="Approval spool directory.")
@click.argument("request_id")
def approve(spool: str | None, request_id: str) -> None:
    """Approve a waiting command (run it from your own terminal, not from an agent)."""
    from .approve import decide, spool_dir

    who, request = decide(spool or spool_dir(os.environ), request_id, True, "approved", os.environ)
    click.echo(f"approved {request_id} as {who.user} (uid {who.uid}):\n" + _request_text(request))


@cli.command()
@click.option("--spool", default=None, help="Approval spool directory.")
@click.option("--reason", required=True, help="Told to the agent and kept in the audit trail.")
@click.argument("request_id")
def deny(spool: str | None, reason: str, request_id: str) -> None:
    """Deny a waiting command."""
    from .approve import decide, spool_dir

    who, request = decide(spool or spool_dir(os.environ), request_id, False, reason, os.environ)
    click.echo(f"denied {request_id} as {who.user} (uid {who.uid}):\n" + _request_text(request))


def _request_text(request: dict[str, object]) -> str:
    """What a decision was about, as the approver must see it (the bytes it is bound to)."""
    from .approve import shown

    return f"          in {shown(request.get('cwd', '?'))}\n          {shown(request.get('line', ''))}"


@cli.group()
def secret() -> None:
    """Store credentials in the OS keyring for profiles to inject (values never on the command line)."""


@secret.command("set")
@click.argument("service")
@click.argument("user")
def secret_set(service: str, user: str) -> None:
    """Store a credential; the value is read from a hidden prompt, or from stdin."""
    from .credentials.store import CredentialError, store

    if sys.stdin.isatty():
        value = click.prompt(f"value for {service}/{user}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\n")
    try:
        store(os.environ, service, user, value)
    except CredentialError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"stored {service}/{user}")


@secret.command("get-info")
@click.argument("service")
@click.argument("user")
def secret_info(service: str, user: str) -> None:
    """Whether a credential is stored, its length and the backend (never the value)."""
    from .credentials.store import CredentialError, info

    try:
        data = info(service, user)
    except CredentialError as err:
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps(data, indent=2))
    if not data["stored"]:
        sys.exit(1)


@secret.command("delete")
@click.argument("service")
@click.argument("user")
def secret_delete(service: str, user: str) -> None:
    """Remove a credential."""
    from .credentials.store import CredentialError, delete

    try:
        delete(os.environ, service, user)
    except CredentialError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"deleted {service}/{user}")


@secret.command("list")
def secret_list() -> None:
    """Names of stored credentials (service and user only)."""
    from .credentials.store import names

    for service, user in names(os.environ):
        click.echo(f"{service}\t{user}")


@cli.command("env")
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
@click.argument("line")
def env_command(profile: str | None, line: str) -> None:
    """Show the environment each command in LINE would receive (credential values masked)."""
    from .policy.decision import flatten
    from .run import build_environment
    from .session import session_from_environ

    session = session_from_environ(_account_profile(profile))
    decision = session.decide(line)
    base = build_environment(session.profile, session.config.environ, session.cwd)
    rules = {rule.name: rule for rule in session.profile.rules}
    if session.dropped:
        click.echo("dropped from agentsh's own environment: " + ", ".join(session.dropped))
    for verdict in flatten(decision.verdicts):
        click.echo(f"\n{verdict.command}  [{verdict.decision}{', rule ' + verdict.rule if verdict.rule else ''}]")
        if verdict.decision == "deny":
            continue
        for name, value in sorted(base.items()):
            click.echo(f"  {name}={value}")
        rule = rules.get(verdict.rule)
        for credential in rule.credentials if rule else ():
            shown = "***" if credential.kind == "env" else "<path of a 0600 file holding ***>"
            click.echo(f"  {credential.variable}={shown}  (keyring {credential.service}/{credential.user})")


@cli.command()
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
@click.argument("agent", type=click.Choice(["claude-code", "codex", "gemini"]))
def hook(profile: str | None, agent: str) -> None:
    """Answer AGENT's pre-tool hook (JSON on stdin) from the profile: allow, deny or ask, audited."""
    from .adapters.hooks import run_hook

    sys.exit(run_hook(agent, profile, sys.stdin.buffer, sys.stdout, sys.stderr, os.environ))


@cli.command()
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
def mcp(profile: str | None) -> None:
    """MCP server on stdio with one tool, run_command, checked, recorded and audited like agentsh -c."""
    from .adapters.mcp_server import serve

    sys.exit(serve(profile))


@cli.command()
@click.option("-p", "--profile", "profile", default=None, help="Profile to bake into the shim (name or path).")
@click.option("--force", is_flag=True, help="Replace existing bash/sh files that are not agentsh shims.")
@click.argument("directory")
def shim(profile: str | None, force: bool, directory: str) -> None:
    """Make DIRECTORY with `bash` and `sh` entries that run agentsh (put it first on an agent's PATH)."""
    from .adapters.shim import ShimError, write_shim

    try:
        for path in write_shim(directory, profile, force=force):
            click.echo(path)
    except (ShimError, OSError) as err:
        click.echo(f"agentsh: {err}", err=True)
        sys.exit(EXIT_USAGE)


@cli.command(context_settings={"allow_interspersed_args": False})
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
@click.option("--name", "name", default="", help="The agent's name in the audit trail (AGENTSH_AGENT).")
@click.option("--keep-env", "keep_env", multiple=True, metavar="NAME",
              help="Pass this credential-like variable to the agent itself (e.g. its own API key).")
@click.argument("command", nargs=-1, required=True)
def launch(profile: str | None, name: str, keep_env: tuple[str, ...], command: tuple[str, ...]) -> None:
    """Start an agent under agentsh: one session, re-cut environment, shim first on PATH, SHELL set,
    its whole terminal recorded.  Usage: agentsh launch [-p PROFILE] [--name AGENT] -- COMMAND..."""
    from .adapters.launch import launch as run_launch

    sys.exit(run_launch(list(command), profile, name, keep_env))


@cli.command()
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(profile: str | None, as_json: bool) -> None:
    """Which protection layers work on this host and why any does not; exit 1 if the profile needs a missing one."""
    from .guard.doctor import diagnose, render
    from .profile import Host
    from .session import load_policy

    report = diagnose(load_policy(_account_profile(profile), Host.from_environ(os.environ)).profile, os.environ)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else render(report), nl=as_json)
    sys.exit(0 if report.ok else 1)


def run_cli(argv: list[str]) -> int:
    try:
        cli.main(args=argv, prog_name="agentsh", standalone_mode=False)
    except click.exceptions.Exit as exit_:
        return int(exit_.exit_code or 0)
    except click.ClickException as err:
        err.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        return 130
    except AgentshError as err:
        click.echo(f"agentsh: {err}", err=True)
        return err.exit_code
    return 0
