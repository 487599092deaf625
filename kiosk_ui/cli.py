"""``kiosk``, the console script: the kiosk's command line (``firmware_app.cli``) and the commands that open the
touchscreen, ``run`` and ``demo`` (whose ``--ui`` plays the visits on it).

The kiosk's code sits below its UI and never imports it, so the UI's commands cannot live in ``firmware_app.cli``
(``tests/test_import_graph.py`` refuses the import); they are added here to the same ``click`` group, and the
console script starts here. ``kiosk_ui.main`` (pygame) is only imported by the command that needs it, so ``kiosk
ask`` and the other commands without a screen start as quickly as before.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from firmware_app.app import Kiosk
from firmware_app.cli import main, settings_of
from firmware_app.config import KioskSettings
from firmware_app.service_notify import Watchdog
from kiosk_link.pin_hash import DEMO_PIN_HASH


@click.command()
@click.option("--ui", "with_ui", is_flag=True, help="Play the scripted visits on the touchscreen UI instead.")
@click.option("--screenshots", type=click.Path(file_okay=False, path_type=Path), help="Save each UI step as PNG.")
@click.option("--photos", type=click.Path(exists=True, path_type=Path), help="Folder of photos for the camera.")
@click.pass_context
def demo(ctx: click.Context, with_ui: bool, screenshots: Path | None, photos: Path | None) -> None:
    """Walk through scripted conversations on the built-in bank pack, printing every turn.

    The visits file real tickets, into a throwaway data folder removed at the end unless --data-dir is given
    (`kiosk --data-dir DIR demo`); none of them is sent to the fleet."""
    kept = ctx.find_root().params.get("data_dir")
    with _demo_data_dir(kept) as folder:
        settings = demo_settings(settings_of(ctx), folder)
        where = "kept" if kept else "a throwaway folder, removed at the end (`kiosk --data-dir DIR demo` keeps it)"
        click.echo(f"Demo data in {folder} ({where})")
        if not with_ui:
            from firmware_app.demo import run_demo

            run_demo(Kiosk(settings), click.echo, kept)
            return
        from kiosk_ui.main import DEMO_PHOTOS, build_ui, run_demo_ui  # pygame is only loaded when asked for

        ui = build_ui(settings, window=(1280, 800), photos=photos or DEMO_PHOTOS)
        try:
            shots = run_demo_ui(ui, screenshots, click.echo)
        finally:
            ui.close()
            ui.controller.close()
    if screenshots is not None:
        click.echo(f"Screenshots: {shots} PNG files in {screenshots.resolve()}")
    elif os.environ.get("SDL_VIDEODRIVER") == "dummy":
        click.echo("No display here, so nothing was shown: --screenshots DIR saves each step as a PNG")


def demo_settings(settings: KioskSettings, folder: Path) -> KioskSettings:
    """The device's settings as the demo runs them: its own data folder, no fleet link, and the demo staff PIN
    (which the scripted visits type), whatever PIN this device was provisioned with."""
    offline = settings.sync.model_copy(update={"enabled": False})
    demo_ui = settings.ui.model_copy(update={"admin_pin_hash": DEMO_PIN_HASH})
    return settings.model_copy(update={"data_dir": folder, "sync": offline, "ui": demo_ui})


@contextmanager
def _demo_data_dir(kept: Path | None) -> Iterator[Path]:
    """The folder the demo's kiosk writes to: the one given, else a fresh temporary one, removed afterwards."""
    if kept is not None:
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="kiosk-demo-") as scratch:
        yield Path(scratch)


@click.command()
@click.option("--window", "window", metavar="WxH", help="Run in a window of this size instead of full screen.")
@click.option("--photos", type=click.Path(exists=True, path_type=Path), help="Use photos from a folder as camera.")
@click.option("--audio", type=click.Path(exists=True, path_type=Path), help="Play a WAV as the microphone.")
@click.pass_context
def run(ctx: click.Context, window: str | None, photos: Path | None, audio: Path | None) -> None:
    """Start the kiosk on its touchscreen (full screen; Esc closes a windowed kiosk), listening to the
    microphone when there is one."""
    from kiosk_ui.main import build_ui  # pygame is only loaded when asked for

    size = _window_size(window) if window else None
    watchdog = Watchdog.from_environment()  # systemd's READY/WATCHDOG/STOPPING; a no-op outside a service
    ui = build_ui(settings_of(ctx), window=size, photos=photos, audio=audio, listen=True, watchdog=watchdog)
    signal.signal(signal.SIGTERM, lambda *_: ui.stop())  # systemctl stop: finish the frame, close in order
    try:
        ui.run()
    finally:
        ui.close()  # the listening loop first: it may be answering a question through the kiosk
        ui.controller.close()
    exit_without_finalizing()


def exit_without_finalizing() -> None:
    """Leave once everything is closed in order, without the interpreter's final clean-up of native objects.

    That clean-up frees what OpenVINO, CTranslate2 and the tokenizers' Rust threads still hold in whatever order its
    garbage collector meets them: with one core of two kept busy, 6 of 8 `systemctl stop`s in the service test ended in
    ``terminate called without an active exception`` (SIGABRT, a core dump, a failed stop): gdb showed the abort
    under ``Py_FinalizeEx``. The database, the outbox and the logs are closed and flushed by then."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _window_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 1280x800, got {text!r}") from None
    if not (320 <= width <= 7680 and 240 <= height <= 4320):
        raise click.BadParameter(f"window {width}x{height} is outside 320x240..7680x4320")
    return width, height


main.add_command(demo)
main.add_command(run)
