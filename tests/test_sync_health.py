"""Status, telemetry, analytics and remote configuration between a real kiosk, a real Mosquitto and the fleet
backend: what the kiosk reports arrives and is stored, the retained status says what it runs, the staff screen
follows the link, a remote configuration changes the running dialogue, survives a restart, and a bad one is
refused with the previous one kept; bad payloads on every new topic are refused and counted."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from firmware_app.app import Kiosk
from firmware_app.config import KioskSettings, load_settings
from firmware_app.screen.controller import KioskController
from firmware_app.screen.state import AdminState
from fleet.cli import main
from fleet.ingest import Ingestor
from kiosk_link import wire
from tests import test_sync_broker as broker_tests
from tests.conftest import fixed_today
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_sync_broker import DEVICE, client, fast_sync, ready, subscribe, wait_until

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (scripts/setup.sh test installs it)"
)
PIN = "2468"
# The broker, backend and database fixtures of the ticket tests (pytest finds fixtures by module attribute).
mosquitto, broker, fleet_db, start_ingestor = (
    broker_tests.mosquitto,
    broker_tests.broker,
    broker_tests.fleet_db,
    broker_tests.start_ingestor,
)


def kiosk_settings(tmp_path: Path, broker: Mosquitto) -> KioskSettings:
    sync = fast_sync(broker).model_copy(update={"telemetry_interval_s": 0.5})
    return load_settings(data_dir=tmp_path / "kiosk", device_id=DEVICE, log_format="text", sync=sync)


def admin_state(kiosk: Kiosk) -> AdminState:
    """The staff screen's status, reached as staff reach it (PIN), then closed again."""
    controller = KioskController(lambda: kiosk, today=fixed_today)
    try:
        controller.open_admin()
        controller.type_text(PIN)
        controller.submit()
        assert controller.state.admin is not None
        return controller.state.admin
    finally:
        controller.detach()


def device_row(ingestor: Ingestor) -> dict[str, Any]:
    return next((d for d in ingestor.store.devices() if d["device_id"] == DEVICE), {})


def test_status_telemetry_and_analytics_reach_the_backend(
    mosquitto: Mosquitto, tmp_path: Path, fleet_db: Path, start_ingestor: Any
) -> None:
    kiosk = Kiosk(kiosk_settings(tmp_path, mosquitto), today=fixed_today)
    try:
        assert kiosk.sync is not None
        wait_until(lambda: admin_state(kiosk).sync == "offline", "the staff screen to show the broker unreachable")
        mosquitto.start()
        wait_until(lambda: admin_state(kiosk).sync == "online", "the staff screen to show the link online")
        ingestor = start_ingestor(mosquitto)
        session, _ = kiosk.start_session()
        assert kiosk.handle_text(session, "How do I change my PIN?").kind == "answer"
        kiosk.handle_text(session, "thanks, goodbye")  # a visit counts once it has ended

        def latest_telemetry() -> dict[str, Any]:
            row = ingestor.store.db.execute(
                "SELECT payload FROM telemetry WHERE device_id = ? ORDER BY sent_at DESC LIMIT 1", [DEVICE]
            ).fetchone()
            return json.loads(row[0]) if row else {}

        wait_until(lambda: "reply" in latest_telemetry().get("latencies", {}), "telemetry with the reply latency")
        telemetry = wire.TelemetryV1.model_validate(latest_telemetry())
        assert telemetry.queue_depth == 0 and telemetry.free_disk_bytes and telemetry.uptime_s > 0
        assert telemetry.versions["model:intent-minilm-bank"] == "1.0.0"
        wait_until(lambda: ingestor.stats.analytics > 0, "the day's analytics")
        ((device, today),) = ingestor.store.analytics()
        assert device == DEVICE and today.day == datetime.now(UTC).date()
        assert (today.conversations, today.resolved, today.top_intents[0].name) == (1, 1, "change_pin")

        devices = CliRunner().invoke(main, ["--db", str(fleet_db), "devices", "--json"])
        (row,) = [json.loads(line) for line in devices.output.splitlines() if DEVICE in line]
        assert row["state"] == "online" and row["queue_depth"] == 0 and row["last_seen_at"]
        assert row["pack"]["id"] == "bank" and len(row["pack"]["sha256"]) == 64
        assert row["versions"]["kiosk"] and "model:intent-minilm-bank" in row["versions"]
        text = CliRunner().invoke(main, ["--db", str(fleet_db), "devices"]).output
        assert f"{DEVICE}" in text and "pack bank 1.0.0  queue 0" in text

        retained: list[bytes] = []
        subscribe(client(mosquitto, "late-subscriber"), wire.device_topic(DEVICE, "status"), retained)
        wait_until(lambda: len(retained) == 1, "the retained status")
        status = wire.parse(retained[0], wire.StatusV1)
        assert status.state == "online" and status.pack is not None and status.pack.id == "bank"
    finally:
        kiosk.close()
    wait_until(lambda: device_row(ingestor).get("state") == "offline", "the kiosk's goodbye")
    assert device_row(ingestor)["pack"]["id"] == "bank"  # an offline status keeps what the device last said


def test_remote_config_is_applied_live_kept_across_a_restart_and_a_bad_one_refused(
    broker: Mosquitto, tmp_path: Path, fleet_db: Path, start_ingestor: Any
) -> None:
    ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    settings = kiosk_settings(tmp_path, broker)
    kiosk = Kiosk(settings, today=fixed_today)
    runner = CliRunner()

    def config_set(*pairs: str) -> None:
        result = runner.invoke(
            main, ["--db", str(fleet_db), "config", "set", DEVICE, *pairs, "--port", str(broker.port)]
        )
        assert result.exit_code == 0, result.output

    def reported() -> dict[str, Any]:
        return device_row(ingestor).get("config") or {}

    try:
        assert kiosk.sync is not None
        wait_until(lambda: kiosk.sync is not None and kiosk.sync.connected, "the kiosk to connect")
        config_set("dialogue.oos_turns_before_handoff=1", "ui.thanks_s=2.5")
        wait_until(lambda: reported().get("revision") == 1, "the kiosk to report revision 1")
        assert reported()["state"] == "applied" and settings.ui.thanks_s == 2.5
        session, _ = kiosk.start_session()  # live: one unanswered question is now enough for a colleague
        assert kiosk.handle_text(session, "What's the weather like tomorrow?").kind == "handoff"

        config_topic = wire.device_topic(DEVICE, "config")
        # `fleet config set` refuses this before sending it; a backend that did not check (an older one) sent it
        # merged with revision 1, and the kiosk refuses it as a whole.
        older = {"dialogue.oos_turns_before_handoff": 1, "ui.thanks_s": 2.5, "nlu.model_name": "other"}
        fleet = client(broker, "fleet-older")
        fleet.publish(config_topic, wire.RemoteConfigV1(revision=2, settings=older).encode(), qos=1, retain=True)
        wait_until(lambda: reported().get("revision") == 2, "the kiosk to report revision 2")
        assert reported() == {"revision": 2, "state": "refused", "reason": "not settable remotely: nlu.model_name"}
        assert settings.dialogue.oos_turns_before_handoff == 1 and settings.nlu.model_name == "intent-minilm-bank"
        assert (
            "config r2 refused: not settable remotely" in runner.invoke(main, ["--db", str(fleet_db), "devices"]).output
        )

        config_set("ui.thanks_s=")  # KEY= removes: thanks_s returns to the kiosk's own value (revision 2 here)
        wait_until(lambda: reported() == {"revision": 2, "state": "applied", "reason": None}, "revision 2 applied")
        assert settings.ui.thanks_s == 6.0

        good = wire.RemoteConfigV1(revision=9, settings={"ui.thanks_s": 1.0}).encode()
        bad = [
            (b"{not json", "malformed"),
            (b" " * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
            (good.replace(b"kiosk.config/1", b"kiosk.config/2"), "unsupported_version"),
            (wire.StatusV1(state="online").encode(), "wrong_schema"),
            (good.replace(b'"revision":9', b'"revision":-1'), "invalid"),
        ]
        for payload, _ in bad:
            fleet.publish(config_topic, payload, qos=1, retain=True)
        wait_until(lambda: kiosk.sync is not None and kiosk.sync.rejected.total() == len(bad), "every refusal")
        assert kiosk.sync.rejected == Counter(reason for _, reason in bad)
        wait_until(lambda: (reported().get("reason") or "").startswith("invalid"), "the last refusal reported")
        assert reported()["revision"] is None and reported()["state"] == "refused"
        assert settings.dialogue.oos_turns_before_handoff == 1 and settings.ui.thanks_s == 6.0
        fleet.loop_stop()
    finally:
        kiosk.close()
    restarted = Kiosk(load_settings(data_dir=tmp_path / "kiosk", device_id=DEVICE, log_format="text"))
    try:  # no broker this time: the saved revision 2 is in force from the start
        assert restarted.settings.dialogue.oos_turns_before_handoff == 1 and restarted.remote_config.revision == 2
    finally:
        restarted.close()


def test_bad_telemetry_and_analytics_are_rejected_and_counted_and_repeats_stored_once(
    broker: Mosquitto, start_ingestor: Any
) -> None:
    ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    telemetry_topic, analytics_topic = (wire.device_topic(DEVICE, kind) for kind in ("telemetry", "analytics"))
    telemetry = wire.TelemetryV1(sent_at=datetime.now(UTC), uptime_s=5, queue_depth=2).encode()
    analytics = wire.AnalyticsV1(day=date(2026, 11, 21), conversations=2, resolved=1, handoffs=1).encode()
    bad = [
        (telemetry_topic, b"{", "malformed"),
        (telemetry_topic, b" " * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
        (telemetry_topic, telemetry.replace(b"kiosk.telemetry/1", b"kiosk.telemetry/3"), "unsupported_version"),
        (telemetry_topic, analytics, "wrong_schema"),
        (telemetry_topic, telemetry.replace(b'"queue_depth":2', b'"queue_depth":"many"'), "invalid"),
        (analytics_topic, b"[]", "malformed"),
        (analytics_topic, b"\x00" * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
        (analytics_topic, analytics.replace(b'"resolved":1', b'"resolved":5'), "invalid"),
    ]
    sender = client(broker, "fuzzer")
    for topic, payload, _ in bad:
        sender.publish(topic, payload, qos=1)
    for topic, payload in ((telemetry_topic, telemetry), (telemetry_topic, telemetry), (analytics_topic, analytics)):
        sender.publish(topic, payload, qos=1)
    wait_until(lambda: ingestor.stats.rejected.total() == len(bad), "every bad payload to be counted")
    wait_until(lambda: ingestor.stats.analytics == 1, "the good analytics after the bad ones")
    time.sleep(0.2)  # the repeated telemetry, had it been stored twice
    assert ingestor.stats.rejected == Counter(reason for _, _, reason in bad)
    assert ingestor.stats.telemetry == 1
    assert ingestor.store.db.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0] == 1
    assert device_row(ingestor)["queue_depth"] == 2
    sender.loop_stop()
