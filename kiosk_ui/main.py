"""Starting the touchscreen: ``kiosk run`` (the real kiosk) and ``kiosk demo --ui`` (the same UI, scripted).

Without a display (a server, CI, a Pi with no screen attached) SDL's dummy driver is chosen, so both still
run; the demo can then save a screenshot of every step to show what a customer would have seen.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware_app.app import Kiosk
from firmware_app.audio.headphones import HeadphoneJack, JackWatcher
from firmware_app.audio.sinks import ReconnectingSpeaker, Speaker
from firmware_app.audio.sources import (
    AudioSource,
    MicrophoneSource,
    ReconnectingMicrophone,
    WavSource,
)
from firmware_app.audio.tts import AudioOutput, SpeechSynthesizer, SpokenReplies
from firmware_app.config import KioskSettings
from firmware_app.health import Health
from firmware_app.kiosk_voice import voice_for
from firmware_app.retention import Housekeeper
from firmware_app.screen.controller import KioskController
from firmware_app.service_notify import Watchdog
from firmware_app.vision.capture import ImageFileSource, ReconnectingCamera
from kiosk_link.pin_hash import DEMO_PIN
from kiosk_ui.app import KioskUI

log = logging.getLogger(__name__)
DEMO_PHOTOS = Path(__file__).parent / "assets" / "photos"  # the technician demo's sample part


def choose_video_driver() -> bool:
    """Use the dummy video driver when there is no display; returns whether a real one is available."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return os.environ["SDL_VIDEODRIVER"] != "dummy"
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or Path("/dev/fb0").exists():
        return True
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    log.warning("no display found: running on SDL's dummy video driver (nothing will be shown)")
    return False


def open_camera(
    settings: KioskSettings, photos: Path | None, health_of: Callable[[], Health]
) -> ImageFileSource | ReconnectingCamera | None:
    """Photos from a folder when asked, else the configured camera, used whenever it is plugged in (the kiosk's
    health says when it is not); None for a kiosk configured without one."""
    if photos is not None:
        return ImageFileSource([photos])
    if settings.ui.camera_device is None:
        return None
    camera = ReconnectingCamera(settings.ui.camera_device, health_of, settings.ui.camera_retry_s)
    if not camera.connected:
        log.warning("technician camera unavailable at %r: tried again every %.0f s", camera.device, camera.retry_s)
    return camera


def open_microphone(settings: KioskSettings, audio: Path | None, health_of: Callable[[], Health]) -> AudioSource:
    """A WAV file played in real time when asked (demos, tests), else the configured microphone, used whenever
    it is plugged in: without one the kiosk works by touch (the kiosk's health says so, the microphone button
    says voice is unavailable) and voice starts when one is plugged in."""
    if audio is not None:
        return WavSource(audio, realtime=True)
    listening = settings.listening
    return ReconnectingMicrophone(lambda: MicrophoneSource(listening.input_device), health_of, listening.retry_s)


def build_ui(
    settings: KioskSettings,
    *,
    window: tuple[int, int] | None,
    photos: Path | None = None,
    audio: Path | None = None,
    listen: bool = False,
    synchronous: bool = False,
    today: Callable[[], datetime.date] = datetime.date.today,
    watchdog: Watchdog | None = None,
) -> KioskUI:
    """The controller on a fresh kiosk, and the window (full screen unless ``window`` gives a size). With
    ``listen`` the microphone (or ``audio``) feeds the voice pipeline on its own thread, the screen answering its
    spoken turns. A ``watchdog`` (systemd's, for ``kiosk run``) is ticked by the UI loop and also watches the
    listening loop."""
    choose_video_driver()  # SDL reads it when the display opens
    controller = KioskController(lambda: Kiosk(settings, today=today), today=today)

    def health_of() -> Health:
        """The kiosk's health, where the camera and the microphone report (a reload makes a new kiosk)."""
        return controller.kiosk.capabilities

    camera = open_camera(settings, photos, health_of)
    controller.camera = camera
    fullscreen = window is None and settings.ui.fullscreen
    size = window or settings.ui.window_size
    speaker = open_speaker(settings, health_of)
    source = open_microphone(settings, audio, health_of) if listen or audio is not None else None
    voice = voice_for(controller.kiosk, source, speaker, controller) if source is not None else None
    # Speech mode reads the screen with the kiosk's one voice: the pipeline's when it listens (so reading and
    # replies never talk over each other), else a voice of its own on the loudspeaker.
    replies = voice.voice.replies if voice is not None else screen_voice(settings, speaker)
    ui = KioskUI(controller, size, fullscreen=fullscreen, synchronous=synchronous, voice=replies)
    housekeeper = Housekeeper(settings)  # retention and the disk guard, at start and then periodically
    housekeeper.start()
    ui.on_close.append(housekeeper.stop)
    if voice is not None:
        controller.connect_voice(voice)
        voice.start()
        ui.on_close.append(voice.close)
        if watchdog is not None:
            watchdog.watch("listening", voice.progress)
    elif replies is not None:
        ui.on_close.append(replies.close)
    jack = HeadphoneJack.find()
    if jack is not None:
        watcher = JackWatcher(jack, controller.headphones_changed)
        watcher.start()
        ui.on_close.append(watcher.stop)
    poller = DevicePoller([speaker, camera] if isinstance(camera, ReconnectingCamera) else [speaker])
    poller.start()
    ui.on_close.append(poller.stop)
    if watchdog is not None:
        ui.on_loop.append(watchdog.tick)
        ui.on_close.insert(0, watchdog.notifier.stopping)
    return ui


class DevicePoller:
    """Tries a missing camera or loudspeaker again (and checks an idle camera) when it is due, on a thread of its
    own: not on the drawing thread, and not on the action runner, which ignores a tap while it is busy."""

    def __init__(self, devices: list[ReconnectingSpeaker | ReconnectingCamera], interval_s: float = 0.5) -> None:
        self.devices = devices
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="device-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for device in self.devices:
            device.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for device in self.devices:
                try:
                    if device.due:
                        device.poll()
                except Exception:  # a driver's surprise: the next round tries again
                    log.exception("polling %s failed", type(device).__name__)


def screen_voice(settings: KioskSettings, speaker: AudioOutput) -> SpokenReplies | None:
    """A voice for speech mode on a kiosk that does not listen (None with speech off)."""
    if settings.speech.tts_engine == "none":
        return None
    return SpokenReplies(SpeechSynthesizer.from_config(settings.speech), speaker)


def open_speaker(settings: KioskSettings, health_of: Callable[[], Health]) -> ReconnectingSpeaker:
    """The configured loudspeaker, used whenever it is plugged in: without one the kiosk answers on screen only
    (the kiosk's health says so) and speaks again when one is plugged in."""
    device = settings.listening.output_device
    return ReconnectingSpeaker(lambda: Speaker(device), health_of, settings.listening.retry_s)


@dataclass(frozen=True)
class Step:
    """One scripted input: a touch on a widget, words spoken, a photo shown, or a pause to read."""

    kind: str  # "tap", "say", "photo", "wait"
    value: str = ""
    seconds: float = 1.0


def tap(widget_id: str) -> Step:
    return Step("tap", widget_id)


def say(words: str) -> Step:
    return Step("say", words)


DEMO_STEPS: list[tuple[str, list[Step]]] = [
    (
        "A question by touch, an answer to take away, a rating",
        [
            tap("touch_to_start"),
            tap("topic:exchange"),
            tap("entry:exchange_rate"),
            Step("wait"),
            tap("finish"),
            tap("rate:5"),
        ],
    ),
    (
        "A stolen card by voice: last four digits on the numpad, confirm, ticket",
        [
            tap("touch_to_start"),
            say("I think my card was stolen"),
            *(tap(f"key:{digit}") for digit in "4821"),
            tap("key:submit"),
            tap("choice:yes"),
            Step("wait"),
            tap("finish"),
            tap("rate:4"),
        ],
    ),
    (
        "Chinese, large text, and a colleague",
        [
            tap("touch_to_start"),
            tap("header:language_switch"),
            tap("header:large_text"),
            say("汇率是多少"),
            Step("wait"),
            tap("talk_to_person"),
            Step("wait"),
            tap("finish"),
            tap("skip"),
        ],
    ),
    (
        "A technician's photo, what the defect model sees, a note and a ticket",
        [
            tap("staff"),  # the camera is the technician's: behind the staff PIN, not on the customer's home screen
            *(tap(f"key:{digit}") for digit in DEMO_PIN),
            tap("key:submit"),
            tap("admin:camera"),
            tap("profile:magnetic_tile"),  # the sample part (kiosk_ui/assets/photos) is a magnetic tile
            tap("take_photo"),
            Step("wait"),
            tap("file_photo"),
            Step("photo_note", "Crack across the tile"),
            tap("key:submit"),
            Step("wait"),
        ],
    ),
]


def run_demo_ui(ui: KioskUI, screenshots: Path | None, echo: Callable[[str], None], pause_s: float = 0.8) -> int:
    """Play the demo scripts on the real UI, a touch at a time, as a customer would; returns how many
    screenshots were saved."""
    controller = ui.controller
    shot = 0
    for number, (title, steps) in enumerate(DEMO_STEPS, 1):
        echo(f"=== {number}. {title} ===")
        for step in steps:
            if step.kind == "tap":
                ui.tap_widget(id=step.value)
            elif step.kind == "say":  # the words arrive as speech recognition would deliver them
                words = step.value.split() or [step.value]
                for count in range(1, len(words) + 1):
                    controller.set_activity("listening", " ".join(words[:count]))
                    ui.run(seconds=pause_s / 4)
                controller.ask(step.value, "voice")
            elif step.kind == "photo_note":
                controller.type_text(step.value)
            ui.run(seconds=step.seconds if step.kind == "wait" else pause_s / 2)
            state = controller.state
            echo(
                f"  {step.kind} {step.value!r} -> {state.screen}" + (f" ({state.reference})" if state.reference else "")
            )
            if screenshots is not None:
                shot += 1
                ui.screenshot(screenshots / f"{shot:02d}-{state.screen}.png")
        controller.close_admin()  # back to the attract screen for the next visitor
    return shot
