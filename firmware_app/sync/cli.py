"""``kiosk sync``: the MQTT link on its own, in the foreground (a separate service, or a test's kiosk process).

It reads the same database as the kiosk, so tickets filed by ``kiosk run`` leave through it. Run it only where
the kiosk itself has ``[sync] enabled = false``: both would connect with the device's client id and the broker
would keep throwing one of them off.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from firmware_app.config import KioskSettings
from firmware_app.store import open_database
from firmware_app.sync.outbox import Outbox
from firmware_app.sync.service import KioskSync


@click.group()
def sync() -> None:
    """Fleet sync over MQTT."""


@sync.command("run")
@click.pass_context
def run(ctx: click.Context) -> None:
    """Publish the outbox to the broker in [sync] until SIGTERM or Ctrl-C."""
    settings: KioskSettings = ctx.find_root().obj["settings"]
    link = KioskSync.from_settings(settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        link.stop(timeout=0)  # only asks: run() below notices, says "offline" and returns

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sync_config = settings.sync
    transport = "TLS" if sync_config.ca_file else "plain MQTT"
    waiting, held = link.outbox.depth(), link.outbox.held()
    click.echo(
        f"kiosk sync run: device {link.device_id}, broker {sync_config.broker_host}:{sync_config.broker_port} "
        f"({transport}), {_tickets(waiting)} in the outbox"
        + (f" ({held} held)" if held else "")
        + "; sending until SIGTERM or Ctrl-C"
    )
    link.run()
    left = _outbox_depth(settings.database_path)
    click.echo(
        f"kiosk sync run: stopped, {_tickets(left)} still in the outbox (sent at the next run)"
        if left
        else "kiosk sync run: stopped, the outbox is empty"
    )


def _tickets(count: int) -> str:
    return f"{count} ticket" if count == 1 else f"{count} tickets"


def _outbox_depth(database_path: Path) -> int:
    """What is still waiting, read afresh: the link closes its own connection when it stops."""
    database = open_database(database_path)
    try:
        return Outbox(database).depth()
    finally:
        database.close()
