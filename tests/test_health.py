"""Issue 20, degraded modes: each part of the kiosk that breaks for real (a damaged intent model, a broker that is
down, a camera that does not open, a damaged defect model, a full disk) shows in the capability registry with its
fallback, reaches the fleet in the telemetry, and clears when the part is repaired, without a restart."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from firmware_app.app import Kiosk
from firmware_app.asr.types import SpeechRecognizer
from firmware_app.audio.sources import ArraySource
from firmware_app.audio.tts import SpeechSynthesizer, SpokenReplies, WavFileOutput
from firmware_app.config import VisionConfig, load_settings
from firmware_app.events import Event, HealthChanged, event_from_dict
from firmware_app.health import CAPABILITIES, DEFAULT_FALLBACK, FALLBACKS, Health
from firmware_app.kiosk_voice import ScreenlessVisit, voice_for
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from firmware_app.storage import MB, report_room
from firmware_app.store import open_database
from firmware_app.sync.outbox import Outbox
from firmware_app.sync.telemetry import HealthRecorder, telemetry
from firmware_app.vision.capture import CameraSource
from firmware_app.vision.recognition import RecognitionUnavailable, Recognizer
from fleet.cli import main as fleet_main
from fleet.ingest import Ingestor
from kiosk_link import wire
from tests import test_degraded_intent as intent_tests
from tests import test_sync_broker as broker_tests
from tests.audio_samples import silence
from tests.conftest import fixed_today
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_degraded_intent import damage, intent_model_file, kiosk_on_a_damaged_model
from tests.test_recognition import MODELS, corrupted_models, noise_photo
from tests.test_sync_broker import DEVICE, fast_sync, ready, wait_until
from tests.test_sync_health import admin_state
from tests.test_ui_camera_admin import RIGHT_PIN, enter_pin, screen_problems
from tests.test_voice_pipeline import fast_policy
from tests.ui_driver import UiDriver

# Fixtures of the other modules, found by pytest as module attributes.
models = intent_tests.models
mosquitto, fleet_db, start_ingestor = broker_tests.mosquitto, broker_tests.fleet_db, broker_tests.start_ingestor
PIN = "2468"
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (scripts/setup.sh test installs it)"
)


# --- the registry --------------------------------------------------------------------------------------------


def test_a_change_is_published_once_and_clears_with_its_since_kept() -> None:
    events: list[Event] = []
    told: list[int] = []
    health = Health(events.append)
    health.listen(lambda: told.append(1))
    health.ok("camera")  # not degraded: nothing to say
    health.degraded("broker", "broker unreachable: refused")
    first = health.state("broker")
    assert first is not None and first.fallback == "outbox" and first.reason == "broker unreachable: refused"
    health.degraded("broker", "broker unreachable: refused")  # the same again: no change
    health.degraded("broker", "connection lost")  # a new reason: a change, the outage's start kept
    again = health.state("broker")
    assert again is not None and again.since == first.since and again.reason == "connection lost"
    health.degraded("intent_model", "x" * 1000, "keywords")
    assert [d.capability for d in health.snapshot()] == ["intent_model", "broker"]  # in CAPABILITIES order
    assert len(health.snapshot()[0].reason) == 300
    health.ok("broker")
    assert health.state("broker") is None
    changes = [e for e in events if isinstance(e, HealthChanged)]
    assert [(e.capability, e.ok) for e in changes] == [
        ("broker", False),
        ("broker", False),
        ("intent_model", False),
        ("broker", True),
    ]
    assert len(told) == 4
    assert event_from_dict(json.loads(changes[0].to_json())) == changes[0]  # JSON-friendly, like every event
    with pytest.raises(ValueError, match="unknown capability"):
        health.degraded("printer", "jammed")  # type: ignore[arg-type]


def test_reports_from_many_threads_leave_a_consistent_state() -> None:
    changes: list[Event] = []
    lock = threading.Lock()

    def publish(event: Event) -> None:
        with lock:
            changes.append(event)

    health = Health(publish)

    def flap(capability: Any) -> None:
        for i in range(300):
            health.degraded(capability, f"try {i % 3}")
            health.ok(capability)

    threads = [threading.Thread(target=flap, args=(c,)) for c in CAPABILITIES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert health.snapshot() == ()
    assert len(changes) == 2 * 300 * len(CAPABILITIES)


def test_every_capability_and_fallback_is_said_in_plain_words_in_both_languages() -> None:
    assert set(DEFAULT_FALLBACK) == set(CAPABILITIES) and set(DEFAULT_FALLBACK.values()) <= set(FALLBACKS)
    for language in ("en", "zh"):
        for capability in CAPABILITIES:
            assert t(f"health_{capability}", language)
        for fallback in FALLBACKS:
            assert t(f"health_fallback_{fallback}", language)
        assert "12:00" in t("health_degraded", language, capability="a", fallback="b", since="12:00")


# --- the wire ------------------------------------------------------------------------------------------------


def test_telemetry_lists_what_is_degraded_and_both_versions_still_parse(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "kiosk.db"))
    health = Health()
    healthy = telemetry(HealthRecorder(), outbox, {"kiosk": "1"}, {}, tmp_path, 0, health.snapshot())
    # A healthy kiosk sends version 1, byte for byte what an older backend reads.
    assert isinstance(healthy, wire.TelemetryV1)
    assert wire.parse(healthy.encode(), wire.TelemetryV1) == healthy
    # A newer backend reads it as a version 2 with nothing degraded.
    upgraded = wire.parse(healthy.encode(), wire.TelemetryV2)
    assert upgraded.degraded == [] and upgraded.queue_depth == healthy.queue_depth
    assert upgraded.sent_at == healthy.sent_at and upgraded.versions == {"kiosk": "1"}

    health.degraded("intent_model", "model file has sha256 0000", "keywords")
    report = telemetry(HealthRecorder(), outbox, {"kiosk": "1"}, {}, tmp_path, 0, health.snapshot())
    assert isinstance(report, wire.TelemetryV2)
    parsed = wire.parse(report.encode(), wire.TelemetryV2)
    (degraded,) = parsed.degraded
    assert (degraded.capability, degraded.fallback) == ("intent_model", "keywords")
    assert degraded.reason.startswith("model file") and degraded.since <= datetime.now(UTC)
    # A backend that reads only version 1 refuses version 2 by its version (counted, never crashing).
    with pytest.raises(wire.WireError) as refused:
        wire.parse(report.encode(), wire.TelemetryV1)
    assert refused.value.reason == "unsupported_version"
    outbox.db.close()


@pytest.mark.parametrize(
    "payload",
    [
        {
            "schema": "kiosk.telemetry/1",
            "sent_at": "2026-12-01T10:00:00Z",
            "uptime_s": 1,
            "queue_depth": 0,
            "degraded": [],
        },
        {
            "schema": "kiosk.telemetry/2",
            "sent_at": "2026-12-01T10:00:00Z",
            "uptime_s": 1,
            "queue_depth": 0,
            "degraded": [{"capability": "camera", "fallback": "no_photos", "since": "yesterday"}],
        },
        {"schema": "kiosk.telemetry/3", "sent_at": "2026-12-01T10:00:00Z", "uptime_s": 1, "queue_depth": 0},
    ],
)
def test_bad_telemetry_is_refused_by_the_reader_of_version_2(payload: dict[str, Any]) -> None:
    with pytest.raises(wire.WireError) as refused:
        wire.parse(json.dumps(payload).encode(), wire.TelemetryV2)
    assert refused.value.reason in ("invalid", "unsupported_version")


# --- parts broken for real -----------------------------------------------------------------------------------


def test_a_damaged_intent_model_is_degraded_until_repaired(models: Path, tmp_path: Path) -> None:
    kiosk, path, original = kiosk_on_a_damaged_model(models, tmp_path)
    try:
        state = kiosk.capabilities.state("intent_model")
        assert state is not None and state.fallback == "keywords" and "sha256" in state.reason
        changes: list[Event] = []
        kiosk.bus.subscribe(changes.append)
        path.write_bytes(original)
        kiosk.check_health()  # what the staff screen does when it opens; a question does the same
        assert kiosk.capabilities.state("intent_model") is None and kiosk.nlu.degraded == ()
        assert HealthChanged("intent_model", True) in changes
    finally:
        kiosk.close()


def write_video(path: Path, frames: int = 3) -> None:
    """A short MJPEG file: OpenCV opens it as it opens a camera, so the "camera" appears at ``path``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()


def test_a_camera_that_does_not_open_is_degraded_until_it_does(tmp_path: Path) -> None:
    health = Health()
    device = str(tmp_path / "video0.avi")
    with pytest.raises(OSError, match="no camera"):
        CameraSource(device, health)
    state = health.state("camera")
    assert state is not None and state.fallback == "no_photos" and "no camera" in state.reason

    write_video(Path(device), frames=2)  # plugged in
    camera = CameraSource(device, health)
    try:
        assert health.state("camera") is None
        while camera.frame() is not None:  # the stream ends: no more pictures
            pass
        gone = health.state("camera")
        assert gone is not None and "gives no picture" in gone.reason
    finally:
        camera.close()


def test_a_damaged_defect_model_is_degraded_per_profile_until_restored(tmp_path: Path) -> None:
    folder = corrupted_models(tmp_path, "steel_surface.int8.onnx")
    health = Health()
    recognizer = Recognizer(VisionConfig(), folder, health=health)
    with pytest.raises(RecognitionUnavailable):
        recognizer.recognise("steel_surface", noise_photo())
    state = health.state("defect_models")
    assert state is not None and state.fallback == "no_verdict" and state.reason.startswith("steel_surface:")
    shutil.copy(MODELS / "steel_surface.int8.onnx", folder)  # the fleet restores the file
    assert recognizer.recognise("steel_surface", noise_photo()).inspection.label == "not_recognised"
    assert health.state("defect_models") is None


def test_a_full_disk_is_degraded_storage_until_there_is_room(tmp_path: Path) -> None:
    health = Health()
    free = {"bytes": 10 * MB}
    assert not report_room(health, tmp_path, 64 * MB, lambda _: free["bytes"])
    state = health.state("storage")
    assert state is not None and state.fallback == "photos_refused" and "storage full" in state.reason
    free["bytes"] = 100 * MB  # the retention pass freed space
    assert report_room(health, tmp_path, 64 * MB, lambda _: free["bytes"])
    assert health.state("storage") is None


def test_a_ticket_the_disk_refuses_is_degraded_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kiosk = Kiosk(load_settings(data_dir=tmp_path / "data"), today=fixed_today)
    try:
        session, _ = kiosk.start_session()

        def full(*args: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(kiosk.tickets, "create", full)
        with pytest.raises(sqlite3.OperationalError):
            kiosk.hand_off(session, "customer_request")
        state = kiosk.capabilities.state("storage")
        assert state is not None and "disk is full" in state.reason
        monkeypatch.undo()
        session, _ = kiosk.start_session()
        kiosk.hand_off(session, "customer_request")
        assert kiosk.capabilities.state("storage") is None
    finally:
        kiosk.close()


# --- end to end: a real broker and the fleet backend ---------------------------------------------------------


def device_row(ingestor: Ingestor) -> dict[str, Any]:
    return next((d for d in ingestor.store.devices() if d["device_id"] == DEVICE), {})


@needs_mosquitto
def test_the_broker_and_the_intent_model_reach_the_staff_screen_and_the_fleet_and_clear(
    mosquitto: Mosquitto, models: Path, tmp_path: Path, fleet_db: Path, start_ingestor: Any
) -> None:
    path = intent_model_file(models)
    original = damage(path)
    # Telemetry every minute: only the publish on a change can bring the repair to the fleet within the test.
    sync = fast_sync(mosquitto).model_copy(update={"telemetry_interval_s": 60.0})
    settings = load_settings(data_dir=tmp_path / "kiosk", device_id=DEVICE, log_format="text", models_dir=models)
    settings.sync = sync
    settings.nlu = settings.nlu.model_copy(update={"model_retry_s": 0.0})
    kiosk = Kiosk(settings, today=fixed_today)
    try:
        wait_until(lambda: kiosk.capabilities.state("broker") is not None, "the broker reported down")
        broker = kiosk.capabilities.state("broker")
        assert broker is not None and broker.fallback == "outbox"
        shown = {d.capability: d for d in admin_state(kiosk).degraded}
        assert shown["broker"].fallback == "outbox" and shown["intent_model"].fallback == "keywords"

        mosquitto.start()
        ingestor = start_ingestor(mosquitto)
        wait_until(lambda: kiosk.capabilities.state("broker") is None, "the broker back", timeout=20)
        # The kiosk reports the broker's return at once, maybe before this test's backend has subscribed (a real
        # backend is there all along); once it has, the next change must reach it promptly.
        ready(ingestor, mosquitto)
        kiosk.capabilities.degraded("camera", "no camera at '/dev/video9'", "no_photos")
        wait_until(lambda: len(device_row(ingestor).get("degraded") or []) == 2, "telemetry listing both", timeout=10)
        listed = {entry["capability"]: entry for entry in device_row(ingestor)["degraded"]}
        assert listed["intent_model"]["fallback"] == "keywords" and listed["camera"]["fallback"] == "no_photos"
        kiosk.capabilities.ok("camera")
        wait_until(lambda: len(device_row(ingestor).get("degraded") or []) == 1, "the camera back", timeout=10)
        text = CliRunner().invoke(fleet_main, ["--db", str(fleet_db), "devices"]).output
        assert "degraded intent_model (keywords)" in text

        path.write_bytes(original)  # repaired while the kiosk runs
        repaired = time.monotonic()
        assert admin_state(kiosk).degraded == ()  # opening the staff screen tries the model again
        wait_until(lambda: device_row(ingestor).get("degraded") == [], "the fleet to see full service", timeout=10)
        assert time.monotonic() - repaired < 10
        telemetry_rows = ingestor.store.recent_telemetry(DEVICE)
        assert isinstance(telemetry_rows[-1][2], wire.TelemetryV2) and telemetry_rows[-1][2].degraded == []
        assert any(report.degraded for _, _, report in telemetry_rows)
    finally:
        kiosk.close()


def test_the_staff_screen_says_what_runs_on_its_fallback_in_plain_words(
    ui: UiDriver, kiosk: Kiosk, controller: KioskController
) -> None:
    kiosk.capabilities.degraded("broker", "broker unreachable: connection refused", "outbox")
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin"
    shown = " ".join(ui.find(id="admin:degraded").text.split())
    assert shown.startswith("Link to the office: tickets wait on the kiosk (since ")
    assert screen_problems(ui) == []
    kiosk.capabilities.ok("broker")  # the link is back while the screen is open
    controller.tick()
    ui.ui.rebuild_if_needed()
    assert "admin:degraded" not in ui.ids()


# --- the voice: wake words, recognizers, the kiosk's voice ---------------------------------------------------


def test_wake_words_and_recognizers_that_cannot_load_are_degraded_on_the_kiosk(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", listening={"wake_words": ["no_such_word"]}, speech={"tts_engine": "none"}
    )
    kiosk = Kiosk(settings, today=fixed_today)

    def missing() -> SpeechRecognizer:
        raise FileNotFoundError("no acoustic model")

    visit = ScreenlessVisit(kiosk)
    pipeline = voice_for(
        kiosk, ArraySource(silence(0.1)), None, visit, policy=fast_policy(missing), wait_for_engines=True
    )
    try:
        wake = kiosk.capabilities.state("wake_word")
        assert wake is not None and wake.fallback == "tap_to_talk" and "no_such_word" in wake.reason
        asr = kiosk.capabilities.state("speech_recognition")
        assert asr is not None and asr.fallback == "touch_only" and "acoustic model" in asr.reason
    finally:
        pipeline.close()
        kiosk.close()


def test_a_voice_that_cannot_speak_is_degraded_until_it_can(tmp_path: Path) -> None:
    health = Health()
    replies = SpokenReplies(SpeechSynthesizer("flite", "nobody"), WavFileOutput(tmp_path))
    replies.health = health
    try:
        replies.say("Hello.")
        assert replies.wait_until_quiet(10)
        wait_until(lambda: health.state("speech_output") is not None, "the voice reported degraded")
        state = health.state("speech_output")
        assert state is not None and state.fallback == "text_only" and "no voice" in state.reason
        replies.synthesizer = SpeechSynthesizer("flite", "slt")  # the voice installed again
        replies.say("Hello.")
        assert replies.wait_until_quiet(10)
        wait_until(lambda: health.state("speech_output") is None, "the voice back")
    finally:
        replies.close()
