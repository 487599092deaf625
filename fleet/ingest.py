"""``fleet serve``: takes tickets, status, telemetry and analytics from the broker, stores them, acknowledges tickets.

Tickets come through the MQTT 5 shared subscription ``$share/{group}/kiosk/v1/+/tickets``: the broker hands each
message to one member of the group, so several processes share the load. Each ticket is validated, committed,
and only then acknowledged on its kiosk's ``acks`` topic; a duplicate is acknowledged again without being
stored again, because the kiosk re-sends whatever it has not seen acknowledged.

The backend keeps no MQTT session (clean start): a process that dies loses whatever the broker had queued for
it, and the kiosks' outboxes re-send it to the surviving members. Status uses a plain subscription, not a shared
one, because MQTT 5 does not send retained messages to shared subscriptions and the retained status (a last
will published while no backend was running) is the one that must not be missed; every process storing the
same state is harmless. Telemetry and analytics share the load like tickets; a repeated telemetry report is
stored once (its ``sent_at`` is its key) and analytics replace the same device's and day's earlier aggregates.

Anything the wire schema refuses is counted by reason in ``stats`` and logged, and the process carries on.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from firmware_app.sync import wire
from fleet.releases import ReleaseStore
from fleet.store import FleetStore

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    stored: int = 0
    duplicates: int = 0  # deliveries of tickets already stored (acknowledged again)
    statuses: int = 0
    telemetry: int = 0  # telemetry reports stored
    analytics: int = 0  # daily service aggregates stored (each replaces its device's and day's last)
    failed: int = 0  # messages not stored (a database error); tickets among them are not acknowledged
    rejected: Counter[str] = field(default_factory=Counter)  # by reason: wire.RejectReason or "device_mismatch"


class Ingestor:
    def __init__(
        self,
        store: FleetStore,
        host: str,
        port: int,
        group: str = "fleet",
        client_id: str | None = None,
        releases: ReleaseStore | None = None,
    ) -> None:
        self.store = store
        self.stats = IngestStats()
        self.releases = releases
        self._filters = [
            (wire.shared_filter(group, wire.device_filter("tickets")), 1),
            (wire.device_filter("status"), 1),
            (wire.shared_filter(group, wire.device_filter("telemetry")), 1),
            (wire.shared_filter(group, wire.device_filter("analytics")), 1),
        ]
        if releases is not None:  # any one process of the group answers a chunk request
            self._filters += [
                (wire.shared_filter(group, wire.device_filter("update/request")), 1),
                (wire.shared_filter(group, wire.device_filter("update/status")), 1),
            ]
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"fleet-{socket.gethostname()}-{os.getpid()}",
            protocol=mqtt.MQTTv5,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect_async(host, port, keepalive=30, clean_start=True)

    def serve_forever(self) -> None:
        """Run in this thread, reconnecting as needed, until ``stop`` (from a signal handler or another thread)."""
        self._client.loop_forever(retry_first_connection=True)

    def start(self) -> None:
        """Run on paho's own thread."""
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        client.subscribe(self._filters)
        if isinstance(sock := client.socket(), socket.socket):  # small request/answer packets: no Nagle delays
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("connected; subscribing to %s", [topic for topic, _ in self._filters])
        self._publish_releases(client)

    def _publish_releases(self, client: mqtt.Client) -> None:
        """The newest release of each channel, retained, again on every connect (a broker may have lost it)."""
        for channel, release in (self.releases.latest_per_channel() if self.releases else {}).items():
            client.publish(wire.release_topic(channel), release.signed.encode(), qos=1, retain=True)
            log.info("published release %s on channel %s", release.manifest.release_id, channel)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            device_id, kind = wire.parse_device_topic(message.topic)
            if kind == "tickets":
                self._ingest_ticket(device_id, message.payload)
            elif kind == "status":
                self.store.set_status(device_id, wire.parse(message.payload, wire.StatusV1))
                self.stats.statuses += 1
            elif kind == "telemetry":
                report = wire.parse(message.payload, wire.TelemetryV1)
                self.stats.telemetry += self.store.add_telemetry(device_id, report, message.payload)
            elif kind == "analytics":
                self.store.set_analytics(device_id, wire.parse(message.payload, wire.AnalyticsV1))
                self.stats.analytics += 1
            elif kind == "update/request" and self.releases is not None:
                chunk = self.releases.chunk(wire.parse(message.payload, wire.UpdateRequestV1))
                self._client.publish(wire.device_topic(device_id, "update/chunk"), chunk.encode(), qos=1)
            elif kind == "update/status":
                update = wire.parse(message.payload, wire.UpdateStatusV1)
                log.info("update %s on %s: %s %s", update.release_id, device_id, update.state, update.reason or "")
        except wire.WireError as exc:
            self._reject(message.topic, exc.reason, exc.detail)
        except Exception:  # the database, say: nothing was acknowledged, so the kiosk will send it again
            self.stats.failed += 1
            log.exception("message on %s not stored", message.topic[:120])

    def _ingest_ticket(self, device_id: str, payload: bytes | bytearray) -> None:
        ticket = wire.parse(payload, wire.TicketV1)
        if ticket.device_id != device_id:  # a kiosk may only file tickets under its own name
            self._reject(wire.device_topic(device_id, "tickets"), "device_mismatch", f"ticket of {ticket.device_id}")
            return
        if self.store.add_ticket(ticket, payload):
            self.stats.stored += 1
            log.debug("stored ticket %s of %s", ticket.id, device_id)
        else:
            self.stats.duplicates += 1
        ack = wire.AckV1(ticket_ids=[ticket.id]).encode()
        self._client.publish(wire.device_topic(device_id, "acks"), ack, qos=1)

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        self.stats.rejected[reason] += 1
        log.warning("rejected a message on %s: %s (%s)", topic[:120], reason, detail)
