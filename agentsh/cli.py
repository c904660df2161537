"""The click CLI for everything that is not a bash-style invocation (see main.py)."""

from __future__ import annotations

import json
import os
import sys

import click

from . import __version__
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


@cli.command()
@click.option("-p", "--profile", "profile", default=None, help="Profile name or path.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.argument("line")
def explain(profile: str | None, as_json: bool, line: str) -> None:
    """Show each command in LINE, the program it resolves to, and the rule that decides it."""
    from .explain import render_decision
    from .session import session_from_environ

    session = session_from_environ(profile)
    decision = session.decide(line)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), indent=2))
    else:
        click.echo(render_decision(decision, session.profile), nl=False)


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

    from .approve import pending, spool_dir

    requests = pending(spool or spool_dir(os.environ))
    if as_json:
        click.echo(json.dumps(requests, indent=2))
        return
    if not requests:
        click.echo("no pending approvals")
        return
    for request in requests:
        age = time.time() - float(request.get("created", 0))
        click.echo(f"{request['id']}  {age:5.0f}s  session {request.get('session', '?')}  user {request.get('user', '?')}"
                   f"  rule {request.get('rule', '?')}\n          {request.get('line', '')}")


@cli.command()
@click.option("--spool", default=None, help="Approval spool directory.")
@click.argument("request_id")
def approve(spool: str | None, request_id: str) -> None:
    """Approve a waiting command (run it from your own terminal, not from an agent)."""
    from .approve import decide, spool_dir

    who = decide(spool or spool_dir(os.environ), request_id, True, "approved", os.environ)
    click.echo(f"approved {request_id} as {who.user} (uid {who.uid})")


@cli.command()
@click.option("--spool", default=None, help="Approval spool directory.")
@click.option("--reason", required=True, help="Told to the agent and kept in the audit trail.")
@click.argument("request_id")
def deny(spool: str | None, reason: str, request_id: str) -> None:
    """Deny a waiting command."""
    from .approve import decide, spool_dir

    who = decide(spool or spool_dir(os.environ), request_id, False, reason, os.environ)
    click.echo(f"denied {request_id} as {who.user} (uid {who.uid})")


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
