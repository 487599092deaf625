"""``kiosk demo --ui`` and ``kiosk run``: the same UI started the way a person starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from firmware_app.cli import main
from firmware_app.config import KioskSettings
from kiosk_ui.main import DEMO_PHOTOS, DEMO_STEPS, build_ui, run_demo_ui
from tests.conftest import fixed_today


def test_ui_demo_plays_every_visit_and_saves_each_step(settings: KioskSettings, tmp_path: Path) -> None:
    # The worker thread and the new-screen guard, as `kiosk demo --ui` runs them.
    ui = build_ui(settings, window=(1280, 800), today=fixed_today, photos=DEMO_PHOTOS)
    lines: list[str] = []
    try:
        run_demo_ui(ui, tmp_path, lines.append, pause_s=0.0)
    finally:
        ui.controller.close()
        ui.close()
    reached = " ".join(lines)
    for screen in ("answer", "rating", "thanks", "ticket (KB-", "handoff (KB-", "photo_result"):
        assert screen in reached
    steps = sum(len(steps) for _, steps in DEMO_STEPS)
    assert len(list(tmp_path.glob("*.png"))) == steps


def test_run_refuses_a_nonsense_window_size(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "run", "--window", "10x10"])
    assert result.exit_code != 0 and "outside 320x240" in result.output
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "run", "--window", "big"])
    assert result.exit_code != 0 and "WIDTHxHEIGHT" in result.output


def test_kiosk_run_starts_and_keeps_running_until_stopped(tmp_path: Path) -> None:
    """The real entry point in its own process: it must come up (models, database, window) and stay up."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "KIOSK_UI__CAMERA_DEVICE": "/dev/null"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "kiosk"), "--data-dir", str(tmp_path), "run", "--window", "800x480"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (tmp_path / "kiosk.db").exists():
            time.sleep(0.2)
        time.sleep(2)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert (tmp_path / "kiosk.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
