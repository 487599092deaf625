"""A colleague's answer to a hand-off ticket, from the staff console to the customer: published on the device's
``handoff`` topic of a real Mosquitto, taken by the kiosk's link (junk refused and counted, the link unharmed),
and shown on the hand-off screen of the visit that filed the ticket."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from firmware_app.app import Kiosk
from firmware_app.config import load_settings
from firmware_app.screen.controller import KioskController
from firmware_app.sync.service import KioskSync
from kiosk_link import wire
from tests import test_sync_broker as broker_tests
from tests.conftest import fixed_today
from tests.mosquitto import Mosquitto
from tests.test_sync_broker import DEVICE, client, fast_sync, subscribe, wait_until

pytestmark = broker_tests.pytestmark
mosquitto, broker, kiosk_db = broker_tests.mosquitto, broker_tests.broker, broker_tests.kiosk_db
HANDOFF_TOPIC = wire.device_topic(DEVICE, "handoff")


@pytest.fixture
def console(broker: Mosquitto) -> Iterator[mqtt.Client]:
    """The backend's side: it publishes the staff console's answers."""
    sender = client(broker, "fleet-console")
    yield sender
    sender.disconnect()
    sender.loop_stop()


def subscribed(broker: Mosquitto) -> None:
    """Wait for the kiosk's retained "online" status: it subscribes before it says so, on the same connection."""
    statuses: list[bytes] = []
    observer = client(broker, "status-observer")
    subscribe(observer, wire.device_topic(DEVICE, "status"), statuses)
    try:
        wait_until(lambda: any(wire.parse(s, wire.StatusV1).state == "online" for s in statuses), "the link")
    finally:
        observer.disconnect()
        observer.loop_stop()


def answer(ticket_id: str, reference: str, state: wire.HandoffState = "coming") -> wire.HandoffUpdateV1:
    return wire.HandoffUpdateV1(
        ticket_id=ticket_id, reference=reference, state=state, colleague="Ana", at=datetime.now(UTC)
    )


def test_a_hand_off_update_reaches_the_link_and_junk_is_counted_without_harm(
    broker: Mosquitto, kiosk_db: Path, console: mqtt.Client
) -> None:
    received: list[wire.HandoffUpdateV1] = []
    link = KioskSync(kiosk_db, DEVICE, fast_sync(broker), {"kiosk": "test"})
    link.on_handoff = received.append
    link.start()
    try:
        subscribed(broker)
        first, second = answer(str(uuid.uuid4()), "KB-1"), answer(str(uuid.uuid4()), "KB-2", "closed")
        good = first.encode()
        junk = {
            b"{truncated": "malformed",
            good.replace(b"kiosk.handoff/1", b"kiosk.handoff/2"): "unsupported_version",
            wire.AckV1(ticket_ids=[first.ticket_id]).encode(): "wrong_schema",
            good.replace(b'"coming"', b'"asleep"'): "invalid",
            b" " * (wire.MAX_PAYLOAD_BYTES + 1): "oversized",
        }
        for payload in [*junk, good, *junk, second.encode()]:
            console.publish(HANDOFF_TOPIC, payload, qos=1)
        wait_until(lambda: len(received) == 2, "both good updates")
        assert received == [first, second]
        assert link.rejected == Counter({reason: 2 for reason in junk.values()})
        assert link.connected
    finally:
        link.stop()


def test_the_colleagues_answer_reaches_the_hand_off_screen_of_its_visit(
    broker: Mosquitto, tmp_path: Path, console: mqtt.Client
) -> None:
    settings = load_settings(data_dir=tmp_path / "kiosk", device_id=DEVICE, sync=fast_sync(broker))
    controller = KioskController(lambda: Kiosk(settings, today=fixed_today), today=fixed_today)
    try:
        subscribed(broker)
        controller.touch_start()
        controller.request_staff()
        handoff, reference = controller.state.handoff, controller.state.reference
        assert handoff is not None and reference is not None

        def shown() -> str | None:
            controller.tick()  # as the UI loop does a few times a second
            view = controller.state.handoff
            return view.line(controller.state.language) if view else None

        console.publish(HANDOFF_TOPIC, answer(str(uuid.uuid4()), "KB-OTHER").encode(), qos=1)  # an earlier visit's
        console.publish(HANDOFF_TOPIC, answer(handoff.ticket_id, reference, "pending").encode(), qos=1)
        wait_until(lambda: shown() is not None, "the colleague's answer on the screen")
        assert shown() == "Ana is looking into your request. Please wait a moment."
    finally:
        controller.close()
