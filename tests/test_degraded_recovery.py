"""Issue 20, degraded modes on the running kiosk: a microphone, a camera, the wake word and speech recognition
that are missing or break are reported with their fallback, the customer is still served, and each comes back by
itself within 10 s of the repair, without a restart.

This machine has no sound card and no camera: the kiosk's own microphone (PortAudio) and camera (OpenCV) paths
run for real where absence is what is tested; where a device must come and go, a recording stands in for the
microphone and a video file for the camera, as the guide allows for hardware the machine lacks.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_app.app import Kiosk
from firmware_app.asr.types import SpeechRecognizer
from firmware_app.audio.sinks import ReconnectingSpeaker, Speaker
from firmware_app.audio.sources import ReconnectingMicrophone
from firmware_app.audio.tts import SpeechSynthesizer, SpokenReplies
from firmware_app.config import KioskSettings, load_settings
from firmware_app.health import Health
from firmware_app.kiosk_voice import ScreenlessVisit, voice_for
from firmware_app.storage import MB, report_room
from firmware_app.vision.capture import ReconnectingCamera
from kiosk_ui.app import KioskUI
from kiosk_ui.main import build_ui
from tests.conftest import fixed_today
from tests.fakes import PluggableMicrophone, PluggableSpeaker
from tests.test_health import write_video
from tests.test_recognition import MODELS
from tests.test_sync_broker import wait_until
from tests.test_voice_pipeline import HeardAs, fast_policy
from tests.ui_driver import UiDriver

REPAIR_S = 10.0  # the target: full service within 10 s of the repair
RETRY_S = 0.2


def kiosk_settings(tmp_path: Path, wake_words: tuple[str, ...] = (), **overrides: object) -> KioskSettings:
    return load_settings(
        data_dir=tmp_path / "data",
        listening={"wake_words": list(wake_words), "retry_s": RETRY_S},
        speech={"tts_engine": "none", "asr_engine": "fast"},
        **overrides,  # type: ignore[arg-type]
    )


def timed(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition`` holds, failing after ``REPAIR_S``."""
    started = time.monotonic()
    wait_until(condition, what, timeout=REPAIR_S)
    return time.monotonic() - started


# --- the microphone ------------------------------------------------------------------------------------------


def test_a_kiosk_without_a_microphone_is_served_by_touch_and_says_so(tmp_path: Path) -> None:
    """The real PortAudio path on a machine with no sound card: the kiosk still starts, listens for nothing,
    tells the staff and the fleet, and the microphone button says to type or tap."""
    ui = build_ui(
        kiosk_settings(tmp_path, ui={"camera_device": None}),
        window=(800, 480),
        listen=True,
        synchronous=True,
        today=fixed_today,
    )
    driver = UiDriver(ui, tmp_path / "shots")
    try:
        health = ui.controller.kiosk.capabilities
        wait_until(lambda: health.state("microphone") is not None, "the missing microphone reported")
        state = health.state("microphone")
        assert state is not None and state.fallback == "touch_only" and "no microphone" in state.reason
        driver.tap(id="touch_to_start")
        driver.tap(id="home:speak")
        assert ui.controller.state.notice == "no_microphone"
        reply = ui.controller.ask("what are your opening hours")
        assert reply is not None and reply.kind == "answer"
    finally:
        ui.close()


def test_a_microphone_unplugged_and_plugged_back_in_listens_again_without_a_restart(tmp_path: Path) -> None:
    kiosk = Kiosk(kiosk_settings(tmp_path), today=fixed_today)
    plugged = threading.Event()
    source = ReconnectingMicrophone(lambda: PluggableMicrophone(plugged), lambda: kiosk.capabilities, RETRY_S)
    pipeline = voice_for(kiosk, source, None, ScreenlessVisit(kiosk), policy=fast_policy(lambda: silent_recognizer()))
    pipeline.start()
    health = kiosk.capabilities
    try:
        wait_until(lambda: health.state("microphone") is not None, "no microphone at start")
        assert pipeline.progress() is None  # waiting for a microphone is not a hang for the watchdog
        plugged.set()
        timed(lambda: health.state("microphone") is None and bool(pipeline.progress()), "the microphone in use")
        heard = pipeline.progress() or 0
        plugged.clear()
        timed(lambda: health.state("microphone") is not None, "the unplugged microphone reported")
        assert "stopped" in (health.state("microphone") or object()).reason  # type: ignore[attr-defined]
        plugged.set()
        timed(lambda: health.state("microphone") is None and (pipeline.progress() or 0) > heard, "listening again")
    finally:
        pipeline.close()
        kiosk.close()


def silent_recognizer() -> SpeechRecognizer:
    """The fast engine's stand-in (``tests.test_voice_pipeline``): no turn reaches it in these tests."""
    return HeardAs("")


# --- the wake word and speech recognition ----------------------------------------------------------------------


def models_with_a_damaged(tmp_path: Path, file: str) -> Path:
    """The shipped models folder (linked, not copied) with one file's bytes changed: its sha256 no longer
    matches the manifest."""
    folder = tmp_path / "models"
    folder.mkdir()
    for path in MODELS.iterdir():
        (folder / path.name).symlink_to(path)
    (folder / file).unlink()
    data = bytearray((MODELS / file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / file).write_bytes(bytes(data))
    return folder


def test_a_damaged_wake_word_model_leaves_the_button_until_the_file_is_repaired(tmp_path: Path) -> None:
    folder = models_with_a_damaged(tmp_path, "amelia.int8.onnx")
    kiosk = Kiosk(kiosk_settings(tmp_path, ("amelia",), models_dir=folder), today=fixed_today)
    plugged = threading.Event()
    plugged.set()
    source = ReconnectingMicrophone(lambda: PluggableMicrophone(plugged), lambda: kiosk.capabilities, RETRY_S)
    pipeline = voice_for(kiosk, source, None, ScreenlessVisit(kiosk), policy=fast_policy(lambda: silent_recognizer()))
    pipeline.start()
    health = kiosk.capabilities
    try:
        state = health.state("wake_word")
        assert state is not None and state.fallback == "tap_to_talk" and pipeline.listener.wake_words is None
        (folder / "amelia.int8.onnx").unlink()
        (folder / "amelia.int8.onnx").symlink_to(MODELS / "amelia.int8.onnx")  # the fleet restores the file
        timed(lambda: health.state("wake_word") is None, "the wake word back")
        assert pipeline.listener.wake_words is not None
    finally:
        pipeline.close()
        kiosk.close()


def test_a_recognizer_that_cannot_load_leaves_touch_until_it_can(tmp_path: Path) -> None:
    kiosk = Kiosk(kiosk_settings(tmp_path), today=fixed_today)
    installed = threading.Event()

    def recognizer() -> SpeechRecognizer:
        if not installed.is_set():
            raise FileNotFoundError("no acoustic model at /usr/share/pocketsphinx/model/en-us")
        return silent_recognizer()

    plugged = threading.Event()
    plugged.set()
    source = ReconnectingMicrophone(lambda: PluggableMicrophone(plugged), lambda: kiosk.capabilities, RETRY_S)
    pipeline = voice_for(kiosk, source, None, ScreenlessVisit(kiosk), policy=fast_policy(recognizer))
    health = kiosk.capabilities
    try:
        wait_until(lambda: health.state("speech_recognition") is not None, "the recognizer reported")
        pipeline.start()
        installed.set()  # the package installed again, or an update brought the model
        timed(lambda: health.state("speech_recognition") is None, "speech recognition back")
        assert not pipeline.recognition.unavailable
    finally:
        pipeline.close()
        kiosk.close()


# --- the camera ----------------------------------------------------------------------------------------------


def test_a_camera_missing_at_start_is_used_once_plugged_in_and_reported_when_it_goes(tmp_path: Path) -> None:
    device = tmp_path / "video0.avi"  # OpenCV opens a video file as it opens a camera
    ui = build_ui(
        kiosk_settings(tmp_path, ui={"camera_device": str(device), "camera_retry_s": RETRY_S}),
        window=(800, 480),
        synchronous=True,
        today=fixed_today,
    )
    try:
        controller = ui.controller
        health = controller.kiosk.capabilities
        state = health.state("camera")
        assert state is not None and state.fallback == "no_photos" and "no camera" in state.reason
        controller.capture()  # a technician's photo without a camera: said plainly, nothing filed
        assert controller.state.notice == "no_camera"
        write_video(device, frames=20)  # plugged in
        camera = controller.camera
        assert isinstance(camera, ReconnectingCamera)
        timed(lambda: running(ui) and health.state("camera") is None, "the camera in use")
        assert camera.frame() is not None
        device.unlink()  # unplugged: the picture stops, and the camera cannot be opened again
        timed(lambda: camera.frame() is None and health.state("camera") is not None, "the lost camera reported")
        state = health.state("camera")
        assert state is not None and "gives no picture" in state.reason
    finally:
        ui.close()


def running(ui: KioskUI) -> bool:
    """Let the kiosk's loop run a moment (it polls the camera); True, for use in a condition."""
    ui.run(seconds=0.05)
    return True


# --- the loudspeaker -------------------------------------------------------------------------------------------


def test_a_loudspeaker_missing_or_unplugged_leaves_text_until_it_returns(tmp_path: Path) -> None:
    """No sound card here: the real PortAudio path reports the missing loudspeaker; a WAV writer that can be
    unplugged stands in for one that comes and goes."""
    health = Health()
    missing = ReconnectingSpeaker(lambda: Speaker("USB"), lambda: health, RETRY_S)
    state = health.state("loudspeaker")
    assert not missing.connected and state is not None and state.fallback == "text_only"
    assert "no loudspeaker" in state.reason

    plugged = threading.Event()
    speaker = ReconnectingSpeaker(lambda: PluggableSpeaker(tmp_path, plugged), lambda: health, RETRY_S)
    replies = SpokenReplies(SpeechSynthesizer("flite"), speaker)
    try:
        replies.say("Your card is blocked.")
        assert replies.wait_until_quiet(10) and not (tmp_path / "reply-0001.wav").exists()  # shown, not spoken
        plugged.set()
        timed(lambda: speaker.connected and health.state("loudspeaker") is None, "the loudspeaker back")
        replies.say("Your card is blocked.")
        assert replies.wait_until_quiet(10) and (tmp_path / "reply-0001.wav").exists()
        plugged.clear()  # pulled out while speaking
        replies.say("Your card is blocked.")
        assert replies.wait_until_quiet(10)
        lost = health.state("loudspeaker")
        assert lost is not None and "stopped" in lost.reason and not speaker.connected
    finally:
        replies.close()


# --- the data folder -----------------------------------------------------------------------------------------


def mount_tmpfs(folder: Path) -> bool:
    """A small tmpfs at ``folder`` (root only; False where it cannot be mounted)."""
    folder.mkdir(parents=True)
    command = ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(folder)]
    return os.geteuid() == 0 and subprocess.run(command, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="remounting a file system read-only needs root")
def test_a_data_disk_remounted_read_only_is_reported_until_it_is_writable_again(tmp_path: Path) -> None:
    """An SD card that the kernel remounts read-only after I/O errors: the kiosk's look at its disk (the screen's
    tick, every 2 s) reports it whatever the free space, and clears when the card is writable again. (A busy mount
    cannot be remounted read-only from user space, so the disk here has no file open, as after the kernel's own
    emergency remount the kiosk's writes would simply fail.)"""
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk):
        pytest.skip("tmpfs cannot be mounted here")
    health = Health()
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert not report_room(health, disk / "data", 64 * MB)
        state = health.state("storage")
        assert state is not None and state.fallback == "photos_refused" and "read-only" in state.reason
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        assert report_room(health, disk / "data", 64 * MB) and health.state("storage") is None
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
