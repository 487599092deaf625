"""``fleet``: the backend's command line: ``serve`` ingests from the broker, ``tickets`` (``tickets show``),
``devices`` and ``stats`` report, ``config set`` configures a kiosk.

Reports are aligned text for people, or with ``--json`` one JSON object per line for scripts. Logs go to
stderr.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import ssl
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import click
from pydantic import ValidationError

from fleet.broker_tls import tls_options
from fleet.ca_cli import broker_config, ca
from fleet.cli_store import open_store
from fleet.console.cli import user, web
from fleet.console.desk import HandoffDesk
from fleet.database import is_url
from fleet.ingest import Ingestor
from fleet.release_cli import keys, release
from fleet.releases import ReleaseStore, default_releases_dir
from fleet.remote_config import check_changes, parse_assignments, publish_retained
from fleet.rollout_cli import group, rollout
from fleet.rollout_engine import RolloutEngine
from fleet.stats import since_day, summarise, text_lines, write_csv, write_png
from kiosk_link import wire
from kiosk_link.logs import JsonFormatter, log_to_stderr

log = logging.getLogger(__name__)


@click.group()
@click.option(
    "--db",
    "db_path",
    default="fleet.db",
    envvar="FLEET_DB",
    show_default=True,
    help="The backend's database: a SQLite file, or a postgresql://USER@HOST/DB URL (FLEET_DB).",
)
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
@click.pass_context
def main(ctx: click.Context, db_path: str, log_level: str) -> None:
    """Kestrel kiosk fleet backend."""
    log_to_stderr(JsonFormatter(), log_level)  # the kiosk's JSON lines
    ctx.obj = {"db_path": db_path if is_url(db_path) else Path(db_path)}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="MQTT broker.")
@click.option("--port", default=1883, show_default=True)
@click.option("--group", default="fleet", show_default=True, help="Shared-subscription group of the ingest processes.")
@click.option("--client-id", default=None, help="MQTT client id (default: fleet-HOST-PID).")
@tls_options
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, group: str, client_id: str | None, tls: ssl.SSLContext | None
) -> None:
    """Ingest tickets and status until SIGTERM or Ctrl-C; run several to share the load."""
    with open_store(ctx, create=True) as store:
        releases = ReleaseStore(default_releases_dir(ctx.obj["db_path"]))
        rollouts = RolloutEngine(ctx.obj["db_path"], releases, host, port, tls=tls)
        ingestor = Ingestor(
            store, host, port, group=group, client_id=client_id, releases=releases, rollouts=rollouts, tls=tls
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            ingestor.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        where = {"broker": f"{host}:{port}", "tls": tls is not None, "db": _safe_db(ctx.obj["db_path"]), "group": group}
        log.info("serving until SIGTERM or Ctrl-C", extra=where)
        rollouts.start()
        try:
            ingestor.serve_forever()
        finally:
            rollouts.stop()
            log.info("stopped", extra={"stored": ingestor.stats.stored, "duplicates": ingestor.stats.duplicates})


def _safe_db(path: str | Path) -> str:
    """The database for a log line: a URL without its password."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", str(path))


def _echo(rows: list[dict[str, Any]], as_json: bool, line: str) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False) if as_json else line.format(**row))


def _first_day(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--since`` as the first day included (ISO), from a date or a number of days back (``7d``)."""
    try:
        return since_day(value, date.today()).isoformat() if value else None
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a date nor a number of days (7d)") from None


since_option = click.option(
    "--since", default=None, callback=_first_day, help="From this day (2026-11-01) or this many days back (7d)."
)


@main.group(invoke_without_command=True)
@click.option("--device", default=None, help="Only this device's tickets.")
@click.option("--type", "ticket_type", default=None, help="Only tickets of this type (handoff, card_block...).")
@click.option("--status", type=click.Choice(wire.TICKET_STATUSES), default=None, help="Only tickets in this status.")
@since_option
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, with the whole ticket.")
@click.pass_context
def tickets(
    ctx: click.Context,
    device: str | None,
    ticket_type: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Stored tickets, newest first; `fleet tickets show REF` shows one whole."""
    if ctx.invoked_subcommand is not None:
        return
    with open_store(ctx) as store:
        rows = store.tickets(device, limit, ticket_type=ticket_type, status=status, since=since)
    line = "{reference:<12} {created_at:.19}  {device_id:<20} {status:<7} {priority:<7} {type:<11} {summary}"
    _echo(rows, as_json, line)


@tickets.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, as `fleet tickets --json` gives it.")
@click.pass_context
def show_ticket(ctx: click.Context, ref: str, as_json: bool) -> None:
    """One ticket whole, by its reference (KB-1A2B3C4D) or its id: fields, summary, transcript, files and the
    notes colleagues wrote in the staff console."""
    with open_store(ctx) as store:
        found = store.ticket(ref)
        if found is not None:
            found["notes"] = HandoffDesk(store).notes(found["id"])  # what colleagues wrote in the console
    if found is None:
        raise click.ClickException(f"no ticket {ref!r} (a reference such as KB-1A2B3C4D, or a ticket id)")
    click.echo(json.dumps(found, ensure_ascii=False) if as_json else "\n".join(_ticket_text(found)))


# Who said a transcript line, as a person reads it: the kiosk's own turns are stored as the "assistant"'s.
_SPEAKERS = {"customer": "customer", "assistant": "kiosk"}


def _ticket_text(row: dict[str, Any]) -> list[str]:
    """A stored ticket for a person: its header fields, then summary, transcript and files, each under a title."""
    ticket = row["ticket"]
    fields = {
        "id": row["id"],
        "device": row["device_id"],
        "type": row["type"],
        "priority": row["priority"],
        "status": row["status"],
        "language": row["language"],
        "intent": ticket.get("intent"),
        "sentiment": ticket.get("sentiment"),
        "created": row["created_at"],
        "received": row["received_at"],
        "assignee": row["assignee"],
        "claimed": row["claimed_at"],
        "closed": row["closed_at"],
    }
    lines = [row["reference"], *(f"  {name:<9} {value}" for name, value in fields.items() if value)]
    entities = ", ".join(f"{e.get('kind')} {e.get('value')}" for e in ticket.get("entities") or [])
    if entities:
        lines.append(f"  {'entities':<9} {entities}")
    lines += ["summary", f"  {row['summary'] or '-'}", "transcript"]
    turns = ticket.get("transcript") or []
    lines += [f"  {_SPEAKERS.get(t.get('role'), t.get('role'))}: {t.get('text', '')}" for t in turns] or ["  -"]
    lines += ["files", *(f"  {name}  {state}" for name, state in row["files"].items())] if row["files"] else []
    notes = [
        f"  {n['at'][:16]} {n['author']} -> {n['status']}" + (f": {n['note']}" if n["note"] else "")
        for n in row["notes"]
    ]
    return lines + (["notes", *notes] if notes else [])


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def devices(ctx: click.Context, as_json: bool) -> None:
    """Every device seen: online or offline, last seen, versions, queue depth, tickets, remote configuration."""
    with open_store(ctx) as store:
        rows = store.devices()
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False) if as_json else _device_line(row))


def _device_line(row: dict[str, Any]) -> str:
    pack, report = row["pack"], row["config"]
    config = "-"
    if report is not None:
        reason = f": {report['reason']}" if report["reason"] else ""
        config = f"r{report['revision'] or '?'} {report['state']}{reason}"
    queue = "-" if row["queue_depth"] is None else row["queue_depth"]
    pack_text = f"{pack['id']} {pack['version']}" if pack else "-"
    degraded = ", ".join(f"{d['capability']} ({d['fallback']})" for d in row.get("degraded", []))
    return (
        f"{row['device_id']:<20} {row['state']:<8} seen {(row['last_seen_at'] or '-')[:19]:<19}"
        f"  kiosk {row['versions'].get('kiosk', '-')}  pack {pack_text}  queue {queue}  tickets {row['tickets']}"
        f"  config {config}" + (f"  degraded {degraded}" if degraded else "")
    )


@main.command()
@click.option("--device", default=None, help="Only this device.")
@since_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per device, then one for the fleet.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write per-day rows here.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), help="Draw a chart here.")
@click.pass_context
def stats(
    ctx: click.Context,
    device: str | None,
    since: str | None,
    as_json: bool,
    csv_path: Path | None,
    png_path: Path | None,
) -> None:
    """Service analytics: conversations, resolution and hand-off rates, ratings, top intents, unanswered questions."""
    with open_store(ctx) as store:
        reports = store.analytics(device, since)
    summaries = summarise(reports)
    if as_json:
        _echo([s.to_dict() for s in summaries], True, "")
    else:
        click.echo("\n".join(text_lines(summaries)))
    if csv_path is not None:
        write_csv(reports, csv_path)
    if png_path is not None:
        write_png(reports, png_path)


@main.group()
def config() -> None:
    """Remote configuration of kiosks (applied live where the kiosk allows; it reports what it did)."""


@config.command("set")
@click.argument("device")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="MQTT broker.")
@click.option("--port", default=1883, show_default=True)
@tls_options
@click.pass_context
def config_set(
    ctx: click.Context, device: str, assignments: tuple[str, ...], host: str, port: int, tls: ssl.SSLContext | None
) -> None:
    """Set KEY=VALUE settings of DEVICE (``KEY=`` returns a key to the kiosk's own value) and publish them.

    Only the settings a kiosk applies live, each within its bounds: anything else is refused before it is saved."""
    try:
        topic = wire.device_topic(device, "config")
        changes = parse_assignments(assignments)
        check_changes(changes)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        with open_store(ctx, create=True) as store:
            remote = store.next_config(device, changes)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise click.ClickException(f"not a valid configuration: {problems}") from None
    try:
        publish_retained(host, port, topic, remote.encode(), tls=tls)
    except (OSError, TimeoutError) as exc:
        raise click.ClickException(f"revision {remote.revision} saved but not published ({exc}); run again") from None
    click.echo(f"{device}: revision {remote.revision} published {json.dumps(remote.settings)}")


main.add_command(keys)
main.add_command(ca)
main.add_command(broker_config)
main.add_command(release)
main.add_command(rollout)
main.add_command(group)
main.add_command(web)
main.add_command(user)
