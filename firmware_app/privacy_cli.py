"""``kiosk privacy purge|erase`` and ``kiosk audit``: retention, erasure and the audit log from the command line.

They open the database alone (no pack, no models), so they work on a kiosk whose pipeline is broken; the
kiosk's own process may be running at the same time (SQLite's locking and ``busy_timeout`` serialise them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import click
from sqlite_utils import Database

from firmware_app import audit
from firmware_app.config import KioskSettings
from firmware_app.erasure import erase
from firmware_app.retention import purge
from firmware_app.store import open_database


@contextmanager
def _database(ctx: click.Context) -> Iterator[tuple[KioskSettings, Database]]:
    settings: KioskSettings = ctx.obj["settings"]
    db = open_database(settings.database_path)
    try:
        yield settings, db
    finally:
        db.close()


@click.group()
def privacy() -> None:
    """Retention of customers' data and erasure on request."""


@privacy.command("purge")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@click.pass_context
def privacy_purge(ctx: click.Context, dry_run: bool) -> None:
    """Run the retention pass now (and the disk guard): one JSON object with what was removed."""
    with _database(ctx) as (settings, db):
        report = purge(db, settings.data_dir, settings.privacy, datetime.now(UTC), dry_run=dry_run, actor="cli")
    click.echo(report.to_json())


@privacy.command("erase")
@click.argument("ticket")
@click.pass_context
def privacy_erase(ctx: click.Context, ticket: str) -> None:
    """Erase one customer's ticket (id or reference such as KB-1A2B3C4D) from this kiosk, outbox included."""
    with _database(ctx) as (settings, db):
        erased = erase(db, settings.data_dir, ticket, "cli")
    if erased is None:
        raise click.ClickException(f"no ticket {ticket}")
    click.echo(json.dumps(erased.__dict__))
    if erased.synced:
        click.echo(f"{erased.reference} had reached the backend: erase it there too (fleet side).", err=True)


_AGO = re.compile(r"^(\d+)([dh])$")


def _since(text: str | None) -> str | None:
    """ "7d", "24h" or an ISO date/time (UTC) -> the store's timestamp text to compare with."""
    if text is None:
        return None
    match = _AGO.match(text)
    if match:
        amount, unit = int(match[1]), match[2]
        start = datetime.now(UTC) - (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    else:
        try:
            start = datetime.fromisoformat(text)
        except ValueError:
            raise click.BadParameter(f"expected 7d, 24h or an ISO date such as 2026-11-01, got {text!r}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return start.astimezone(UTC).isoformat(timespec="milliseconds")


@click.command("audit")
@click.option("--since", help="7d, 24h or an ISO date/time (UTC).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--verify", is_flag=True, help="Check the hash chain and guard triggers instead; exit 1 on a problem.")
@click.pass_context
def audit_command(ctx: click.Context, since: str | None, as_json: bool, verify: bool) -> None:
    """The audit log of admin actions, oldest first."""
    if verify:
        _verify(ctx, as_json)
        return
    with _database(ctx) as (_, db):
        found = audit.entries(db, _since(since))
    for entry in found:
        if as_json:
            click.echo(entry.to_json())
        else:
            detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
            click.echo(f"{entry.at[:19]}  {entry.actor:<6} {entry.action:<22} {detail}".rstrip())


def _verify(ctx: click.Context, as_json: bool) -> None:
    """Print each sign of tampering (exit code 1), or that the log is intact, so a script can act on it."""
    with _database(ctx) as (_, db):
        problems = audit.verify(db)
        count = len(audit.entries(db))
    for problem in problems:
        click.echo(json.dumps({"kind": problem.kind, "message": problem.message}) if as_json else str(problem))
    if problems:
        ctx.exit(1)
    if not as_json:
        click.echo(f"audit log intact: {count} entries chained, guard triggers in place")
