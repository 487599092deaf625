"""``fleet``: the backend's command line: ``serve`` ingests from the broker, ``tickets`` and ``devices`` report.

Reports are aligned text for people, or with ``--json`` one JSON object per line for scripts. Logs go to
stderr.
"""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from fleet.ingest import Ingestor
from fleet.store import FleetStore


@click.group()
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("fleet.db"),
    envvar="FLEET_DB",
    show_default=True,
    help="The backend's SQLite database (FLEET_DB).",
)
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
@click.pass_context
def main(ctx: click.Context, db_path: Path, log_level: str) -> None:
    """Kestrel kiosk fleet backend."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"db_path": db_path}


@contextmanager
def _store(ctx: click.Context, create: bool = False) -> Iterator[FleetStore]:
    """The database; only ``serve`` creates one (a report on a mistyped path should say so, not show nothing)."""
    path: Path = ctx.obj["db_path"]
    if not create and not path.is_file():
        raise click.ClickException(f"no fleet database at {path} (`fleet serve` creates it; see --db)")
    store = FleetStore(path)
    try:
        yield store
    finally:
        store.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="MQTT broker.")
@click.option("--port", default=1883, show_default=True)
@click.option("--group", default="fleet", show_default=True, help="Shared-subscription group of the ingest processes.")
@click.option("--client-id", default=None, help="MQTT client id (default: fleet-HOST-PID).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, group: str, client_id: str | None) -> None:
    """Ingest tickets and status until SIGTERM or Ctrl-C; run several to share the load."""
    with _store(ctx, create=True) as store:
        ingestor = Ingestor(store, host, port, group=group, client_id=client_id)

        def stop(signum: int, frame: FrameType | None) -> None:
            ingestor.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        ingestor.serve_forever()


def _echo(rows: list[dict[str, Any]], as_json: bool, line: str) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False) if as_json else line.format(**row))


@main.command()
@click.option("--device", default=None, help="Only this device's tickets.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, with the whole ticket.")
@click.pass_context
def tickets(ctx: click.Context, device: str | None, limit: int, as_json: bool) -> None:
    """Stored tickets, newest first."""
    with _store(ctx) as store:
        rows = store.tickets(device, limit)
    _echo(rows, as_json, "{reference:<12} {created_at:.19}  {device_id:<20} {priority:<7} {type:<11} {summary}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def devices(ctx: click.Context, as_json: bool) -> None:
    """Every device seen: its last status and how many of its tickets are stored."""
    with _store(ctx) as store:
        rows = store.devices()
    _echo(rows, as_json, "{device_id:<20} {state:<8} tickets {tickets:<6} status at {status_at}")
