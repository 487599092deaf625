"""``kiosk sync``: the MQTT link on its own, in the foreground (a separate service, or a test's kiosk process).

It reads the same database as the kiosk, so tickets filed by ``kiosk run`` leave through it. Run it only where
the kiosk itself has ``[sync] enabled = false``: both would connect with the device's client id and the broker
would keep throwing one of them off.
"""

from __future__ import annotations

import signal
from types import FrameType

import click

from firmware_app.config import KioskSettings
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
    link.run()
