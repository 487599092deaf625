"""``fleet web`` serves the staff console; ``fleet user`` manages who may log in to it."""

from __future__ import annotations

import json
import ssl
import sys
from pathlib import Path

import click

from fleet.broker_tls import tls_options
from fleet.cli_store import open_store
from fleet.console.accounts import ROLES, AccountError, Users
from fleet.console.guard import LOGIN_ATTEMPTS


@click.command()
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to serve the console on.")
@click.option("--port", "web_port", default=8080, show_default=True, help="HTTP(S) port of the console.")
@click.option("--broker-host", default="127.0.0.1", show_default=True, help="MQTT broker that reaches the kiosks.")
@click.option("--broker-port", default=1883, show_default=True)
@click.option("--no-broker", is_flag=True, help="Serve without telling kiosks (claims are stored, not sent).")
@click.option(
    "--pack",
    "pack_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The domain pack the suggested answers come from (default: packs/bank of this checkout).",
)
@click.option(
    "--https-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate (and --https-key); cookies are then Secure.",
)
@click.option("--https-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option(
    "--behind-tls-proxy",
    is_flag=True,
    help="A TLS proxy (nginx, Caddy) on this machine serves HTTPS: Secure cookies, its X-Forwarded headers.",
)
@click.option(
    "--logins-per-minute",
    default=LOGIN_ATTEMPTS,
    show_default=True,
    help="Login attempts allowed per client address per minute (on top of the account lock-out).",
)
@click.option(
    "--release-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The release signing key: managers may then sign releases in the console.",
)
@click.option(
    "--artifacts",
    "artifacts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Staged packs and models a release can hold (default: 'artifacts' beside --db).",
)
@tls_options
@click.pass_context
def web(
    ctx: click.Context,
    listen: str,
    web_port: int,
    broker_host: str,
    broker_port: int,
    no_broker: bool,
    pack_dir: Path | None,
    https_cert: Path | None,
    https_key: Path | None,
    behind_tls_proxy: bool,
    logins_per_minute: int,
    release_key: Path | None,
    artifacts_dir: Path | None,
    tls: ssl.SSLContext | None,
) -> None:
    """Serve the staff console (hand-off queue, kiosks, rollouts, dashboard, audit) until Ctrl-C."""
    import uvicorn  # the console's server: only this command needs it

    from fleet.console.app import ConsoleConfig, create_app

    if (https_cert is None) != (https_key is None):
        raise click.UsageError("--https-cert and --https-key go together")
    with open_store(ctx, create=True) as store:
        if not Users(store.db).all():
            click.echo("no console users yet: create the first with `fleet user add NAME --role admin`", err=True)
    config = ConsoleConfig(
        ctx.obj["db_path"],
        pack_dir=pack_dir,
        broker=None if no_broker else (broker_host, broker_port),
        secure_cookies=https_cert is not None or behind_tls_proxy,
        tls=tls,
        logins_per_minute=logins_per_minute,
        release_key=release_key,
        artifacts_dir=artifacts_dir,
    )
    uvicorn.run(
        create_app(config),
        host=listen,
        port=web_port,
        ssl_certfile=str(https_cert) if https_cert else None,
        ssl_keyfile=str(https_key) if https_key else None,
        proxy_headers=behind_tls_proxy,
        forwarded_allow_ips="127.0.0.1" if behind_tls_proxy else None,
        log_level="warning",
    )


@click.group()
def user() -> None:
    """Console users: staff of branches (device groups), managers and admins."""


@user.command("add")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="The name kiosks show customers (default: USERNAME).")
@click.option("--role", type=click.Choice(ROLES), default="staff", show_default=True)
@click.option("--branch", "branches", multiple=True, help="A branch (device group) a staff member serves; repeat.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (scripts).")
@click.pass_context
def user_add(
    ctx: click.Context,
    username: str,
    display_name: str | None,
    role: str,
    branches: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create a console user (the first should be an admin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_store(ctx, create=True) as store:
        try:
            created = Users(store.db).add(username, display_name or username, password, role, list(branches))
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{created.username}: {created.role}" + (f" of {', '.join(created.branches)}" if branches else ""))


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """Every console user, one JSON object per line."""
    with open_store(ctx) as store:
        for found in Users(store.db).all():
            click.echo(json.dumps(found.to_dict(), ensure_ascii=False))


@user.command("unlock")
@click.argument("username")
@click.pass_context
def user_unlock(ctx: click.Context, username: str) -> None:
    """Lift a lock-out after too many wrong passwords."""
    with open_store(ctx) as store:
        if not Users(store.db).unlock(username):
            raise click.ClickException(f"no user {username!r}")
    click.echo(f"{username}: unlocked")
