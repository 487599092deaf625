"""A simulated fleet in one process: many kiosk MQTT clients on one epoll loop, against one broker and backend.

Each simulated kiosk connects as a kiosk does (MQTT 5, its device id, persistent session, "offline" last will),
subscribes to its acknowledgements, and publishes what a kiosk publishes on connecting: its retained "online"
status, a telemetry report and one ticket from the outbox a real ``TicketStore`` wrote, all at QoS 1. It is done
when the backend's acknowledgement names its ticket.

Why not ``KioskSync`` itself: paho's own loop waits with ``select()``, which cannot watch file descriptors past
1,024, and a link holds about six (its socket, paho's wake-up pair, the database and its WAL files); so one
process runs at most ~140 real links, while a kiosk runs one. Here paho's documented external-loop calls
(``loop_read``/``loop_write``/``loop_misc``) are driven by one ``selectors`` loop (epoll), one descriptor per kiosk.
"""

from __future__ import annotations

import selectors
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kiosk_link import wire

KEEPALIVE_S = 30


class SimulatedKiosk:
    def __init__(self, device_id: str, ticket: bytes) -> None:
        self.device_id = device_id
        self.ticket = ticket
        self.ticket_id = wire.parse(ticket, wire.TicketV1).id
        self.connected_at: float | None = None
        self.acked_at: float | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        offline = wire.StatusV1(state="offline", versions={"kiosk": "bench"}).encode()
        self.client.will_set(wire.device_topic(device_id, "status"), offline, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def connect(self, host: str, port: int) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect(host, port, keepalive=KEEPALIVE_S, clean_start=False, properties=properties)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            raise ConnectionError(f"{self.device_id}: {reason}")
        self.connected_at = time.monotonic()
        client.subscribe(wire.device_topic(self.device_id, "acks"), qos=1)
        online = wire.StatusV1(state="online", versions={"kiosk": "bench"}).encode()
        client.publish(wire.device_topic(self.device_id, "status"), online, qos=1, retain=True)
        health = wire.TelemetryV1(sent_at=datetime.now(UTC), uptime_s=1.0, queue_depth=1).encode()
        client.publish(wire.device_topic(self.device_id, "telemetry"), health, qos=1)
        client.publish(wire.device_topic(self.device_id, "tickets"), self.ticket, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.ticket_id in wire.parse(message.payload, wire.AckV1).ticket_ids:
            self.acked_at = time.monotonic()


def outbox_ticket(kiosk_db: Path) -> bytes:
    """The first ticket payload in a kiosk database's outbox, as the kiosk would publish it."""
    with sqlite3.connect(kiosk_db) as conn:
        return str(conn.execute("SELECT payload FROM outbox ORDER BY id LIMIT 1").fetchone()[0]).encode()


def run_fleet(kiosks: list[SimulatedKiosk], host: str, port: int, timeout: float = 120.0) -> float:
    """Connect every kiosk and drive them all on one epoll loop until each ticket is acknowledged; returns the
    ``time.monotonic()`` the connecting started at."""
    selector = selectors.DefaultSelector()
    started = time.monotonic()
    for kiosk in kiosks:
        kiosk.connect(host, port)
        sock = kiosk.client.socket()
        assert sock is not None
        selector.register(sock, selectors.EVENT_READ, kiosk)
    deadline = started + timeout
    try:
        while any(kiosk.acked_at is None for kiosk in kiosks):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sum(k.acked_at is None for k in kiosks)} tickets never acknowledged")
            for kiosk in kiosks:  # what paho has queued to send decides whether to wait for writability
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if kiosk.client.want_write() else 0)
                selector.modify(kiosk.client.socket(), events, kiosk)  # type: ignore[arg-type]
            for key, mask in selector.select(timeout=0.05):
                if mask & selectors.EVENT_READ:
                    key.data.client.loop_read()
                if mask & selectors.EVENT_WRITE:
                    key.data.client.loop_write()
            for kiosk in kiosks:
                kiosk.client.loop_misc()
    finally:
        for kiosk in kiosks:
            kiosk.client.disconnect()
            kiosk.client.loop_write()
        selector.close()
    return started
