"""``kiosk demo --ui`` and ``kiosk run``: the same UI started the way a person starts it."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import kiosk_ui.main
from firmware_app.config import load_settings
from firmware_app.screen.controller import KioskController
from firmware_app.screen.state import Bubble
from kiosk_ui.cli import main
from kiosk_ui.main import DEMO_STEPS, build_ui, run_demo_ui
from tests.conftest import FIXTURES, fixed_today


def test_demo_writes_to_a_throwaway_folder_unless_given_one(tmp_path: Path) -> None:
    """`kiosk demo` files real tickets: without --data-dir they go to a temporary folder, removed at the end, and
    the kiosk's own data folder (here KIOSK_DATA_DIR) is left alone."""
    own = tmp_path / "own-data"
    result = CliRunner().invoke(main, ["demo"], env={"KIOSK_DATA_DIR": str(own), "KIOSK_CONFIG": None})
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Demo data in ") and "a throwaway folder, removed at the end" in first, first
    scratch = Path(first.removeprefix("Demo data in ").split(" (")[0])
    assert scratch.name.startswith("kiosk-demo-") and not scratch.exists()
    assert "Tickets filed in this demo: KB-" in result.output and "gone with the throwaway folder" in result.output
    assert not (own / "kiosk.db").exists()


def test_ui_demo_plays_every_visit_keeps_a_given_data_dir_and_says_where_its_screenshots_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kiosk_ui.main, "run_demo_ui", functools.partial(run_demo_ui, pause_s=0.0))
    data, shots = tmp_path / "data", tmp_path / "shots"
    result = CliRunner().invoke(
        main, ["--data-dir", str(data), "demo", "--ui", "--screenshots", str(shots)], env={"KIOSK_CONFIG": None}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Demo data in {data} (kept)"
    steps = sum(len(steps) for _, steps in DEMO_STEPS)
    assert lines[-1] == f"Screenshots: {steps} PNG files in {shots.resolve()}"
    assert len(list(shots.glob("*.png"))) == steps
    assert (data / "kiosk.db").exists()
    # Played through the worker thread and the new-screen guard, every visit reached its screens.
    reached = " ".join(lines)
    for screen in ("answer", "rating", "thanks", "ticket (KB-", "handoff (KB-", "inspection", "photo_result"):
        assert screen in reached


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


def test_the_microphone_button_captures_real_speech_through_the_listening_loop(tmp_path: Path) -> None:
    """`kiosk run --audio FILE` wiring: a WAV played in real time as the microphone, push-to-talk, Silero VAD,
    the utterance handed to recognition in memory and answered on the screen as a spoken turn (a real "wine glass"
    clip)."""
    speech = FIXTURES / "audio" / "notwakeword-en-113240c4-b6e8-4efe-93d1-f7613a569aa9.wav"
    settings = load_settings(data_dir=tmp_path, device_id="kiosk-listen-01", listening={"wake_words": []})
    padded = tmp_path / "mic.wav"
    samples, rate = soundfile.read(speech, dtype="int16")
    silence = np.zeros(rate, dtype=np.int16)
    soundfile.write(padded, np.concatenate([silence, samples, silence, silence]), rate)
    ui = build_ui(settings, window=(800, 480), synchronous=True, today=fixed_today, audio=padded)
    controller = ui.controller
    try:
        ui.tap(ui.find(id="touch_to_start").rect.center)
        ui.tap(ui.find(id="home:speak").rect.center)
        assert controller.state.activity == "listening"
        deadline = time.monotonic() + 15
        while not _spoken_turns(controller) and time.monotonic() < deadline:
            ui.run(seconds=0.1)
        heard = [bubble.text.lower().strip(".") for bubble in _spoken_turns(controller)]
        assert heard == ["wine glass"], controller.state
        assert not (tmp_path / "utterances").exists()  # handed on in memory, never written to disk
    finally:
        ui.close()  # stops and joins the listening loop before the kiosk's database closes
        controller.close()


def _spoken_turns(controller: KioskController) -> list[Bubble]:
    return [bubble for bubble in controller.state.bubbles if bubble.source == "voice"]
