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

Messages are stored by one writer thread, not paho's: the network thread only queues them, and the writer takes
whatever has queued up (at most ``MAX_BATCH``) and commits all its tickets in one transaction before
acknowledging any of them. A durable commit costs milliseconds (an fsync), so one commit per ticket would cap
a backend at a few hundred tickets a second; under load batches grow by themselves, and a lone ticket is
committed at once. Tickets are still acknowledged only after their commit.

A ticket that names files (the technician's photos) is acknowledged only once each of them is stored too (its
chunks on ``attachments``, put together and checked by ``fleet.files``, any process of the group taking any
chunk) or reported missing by its kiosk, so the kiosk keeps the ticket until nothing of it can be lost.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from firmware_app.sync import wire
from fleet.files import AttachmentFiles, FileRefused
from fleet.link import backend_client
from fleet.releases import ReleaseStore
from fleet.rollout_engine import RolloutEngine
from fleet.rollouts import channel_payloads, record_update
from fleet.store import FleetStore

log = logging.getLogger(__name__)
# Messages the writer takes at once: bounds how long the first ticket waits for its acknowledgement, and keeps
# one acknowledgement within the 1,000 ids ``AckV1`` carries.
MAX_BATCH = 500
# Messages received but not yet stored; past it paho's thread waits, so TCP slows the broker down instead of
# this process growing without bound.
MAX_QUEUED = 5000


@dataclass
class IngestStats:
    stored: int = 0
    duplicates: int = 0  # deliveries of tickets already stored (acknowledged again)
    statuses: int = 0
    telemetry: int = 0  # telemetry reports stored
    analytics: int = 0  # daily service aggregates stored (each replaces its device's and day's last)
    files: int = 0  # tickets' files put together, checked and stored
    missing_files: int = 0  # files a kiosk no longer had (its ticket was delivered without them)
    updates: int = 0  # update reports stored (each device's latest per release)
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
        rollouts: RolloutEngine | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
        self.files = AttachmentFiles(store.files_dir)
        self.stats = IngestStats()
        self.releases = releases
        self.rollouts = rollouts  # told of each update report; says which channels' topics rollouts manage
        self._filters = [
            (wire.shared_filter(group, wire.device_filter("tickets")), 1),
            (wire.shared_filter(group, wire.device_filter("attachments")), 1),
            (wire.device_filter("status"), 1),
            (wire.shared_filter(group, wire.device_filter("telemetry")), 1),
            (wire.shared_filter(group, wire.device_filter("analytics")), 1),
        ]
        if releases is not None:  # any one process of the group answers a chunk request
            self._filters += [
                (wire.shared_filter(group, wire.device_filter("update/request")), 1),
                # Retained, like status (a kiosk's outcome must reach a backend that was down): a plain subscription.
                (wire.device_filter("update/status"), 1),
            ]
        self._client = backend_client("ingest", client_id, tls)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect_async(host, port, keepalive=30, clean_start=True)
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(MAX_QUEUED)  # None: the writer stops
        self._writer = threading.Thread(target=self._write, name="fleet-writer", daemon=True)
        # Set once connected, subscribed and the channels' releases published: what a caller that creates a
        # release right after starting waits for (else the connect publishes that release to its whole channel).
        self.ready = threading.Event()

    def serve_forever(self) -> None:
        """Run in this thread, reconnecting as needed, until ``stop`` (from a signal handler or another thread)."""
        self._writer.start()
        try:
            self._client.loop_forever(retry_first_connection=True)
        finally:
            self._stop_writer()

    def start(self) -> None:
        """Run on paho's own thread."""
        self._writer.start()
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._stop_writer()

    def _stop_writer(self) -> None:
        """Store what was received (acknowledgements no longer go out: the kiosks send those tickets again)."""
        if self._writer.is_alive():
            self._inbox.put(None)
            self._writer.join()

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
        self.ready.set()

    def _publish_releases(self, client: mqtt.Client) -> None:
        """The newest release of each channel, retained, again on every connect (a broker may have lost it); or
        nothing, on a channel that has had a rollout (its releases are offered device by device)."""
        if self.releases is None:
            return
        managed = self.rollouts.managed() if self.rollouts else frozenset[str]()
        for channel, payload in channel_payloads(self.releases, managed).items():
            client.publish(wire.release_topic(channel), payload, qos=1, retain=True)
            log.info("channel %s: %s", channel, "newest release published" if payload else "left to a rollout")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(message)

    def _write(self) -> None:
        """The writer thread: store whatever has queued up, batch by batch, until the ``None`` from ``stop``."""
        while True:
            batch = [self._inbox.get()]
            while len(batch) < MAX_BATCH and batch[-1] is not None:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            tickets: list[tuple[wire.TicketV1, bytes]] = []
            for message in batch:
                if message is not None:
                    self._handle(message, tickets)
            self._commit(tickets)
            if batch[-1] is None:
                return

    def _handle(self, message: mqtt.MQTTMessage, tickets: list[tuple[wire.TicketV1, bytes]]) -> None:
        """Store one message, or (a ticket) validate it and add it to the batch's ``tickets``."""
        try:
            device_id, kind = wire.parse_device_topic(message.topic)
            if kind == "tickets":
                self._valid_ticket(device_id, message.payload, tickets)
            elif kind == "attachments":
                self._ingest_attachment(device_id, wire.parse(message.payload, wire.AttachmentV1))
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
                record_update(self.store, device_id, update)
                self.stats.updates += 1
                if self.rollouts is not None:
                    self.rollouts.wake()
        except wire.WireError as exc:
            self._reject(message.topic, exc.reason, exc.detail)
        except Exception:  # the database, say: nothing was acknowledged, so the kiosk will send it again
            self.stats.failed += 1
            log.exception("message on %s not stored", message.topic[:120])

    def _valid_ticket(
        self, device_id: str, payload: bytes | bytearray, tickets: list[tuple[wire.TicketV1, bytes]]
    ) -> None:
        ticket = wire.parse(payload, wire.TicketV1)
        if ticket.device_id != device_id:  # a kiosk may only file tickets under its own name
            self._reject(wire.device_topic(device_id, "tickets"), "device_mismatch", f"ticket of {ticket.device_id}")
            return
        tickets.append((ticket, bytes(payload)))

    def _commit(self, tickets: list[tuple[wire.TicketV1, bytes]]) -> None:
        """Commit a batch of tickets, then acknowledge them: one message per device, whatever the batch holds."""
        if not tickets:
            return
        try:
            new = self.store.add_tickets(tickets)
        except Exception:  # nothing was acknowledged, so the kiosks will send these again
            self.stats.failed += len(tickets)
            log.exception("%d tickets not stored", len(tickets))
            return
        committed: defaultdict[str, list[str]] = defaultdict(list)
        for (ticket, _), stored in zip(tickets, new, strict=True):
            if stored:
                self.stats.stored += 1
                log.debug("stored ticket %s of %s", ticket.id, ticket.device_id)
            else:
                self.stats.duplicates += 1
            committed[ticket.device_id].append(ticket.id)
        with_files = {ticket.id for ticket, _ in tickets if wire.carried_attachments(ticket.attachments)}
        for device_id, ids in committed.items():
            self._acknowledge(device_id, list(dict.fromkeys(ids)), with_files)  # a ticket delivered twice: once

    def _acknowledge(self, device_id: str, ids: list[str], with_files: set[str]) -> None:
        """Acknowledge the committed tickets ``ids`` whose files (if they name any: ``with_files``) are all stored
        or reported missing too: the kiosk forgets a ticket only once its photos are safe as well."""
        waiting = [ticket_id for ticket_id in ids if ticket_id in with_files]
        ready = set(self.store.delivered(device_id, waiting)) if waiting else set()
        acknowledged = [ticket_id for ticket_id in ids if ticket_id not in with_files or ticket_id in ready]
        if acknowledged:
            ack = wire.AckV1(ticket_ids=acknowledged).encode()
            self._client.publish(wire.device_topic(device_id, "acks"), ack, qos=1)

    def _ingest_attachment(self, device_id: str, part: wire.AttachmentV1) -> None:
        """Keep a chunk of a ticket's file; once the file is whole and checked (or reported missing), record it and
        acknowledge its ticket if that is stored with all its files. A chunk of a file already stored is a
        re-send: the ticket's own re-send is what gets acknowledged again."""
        if self.store.attachment_stored(part.ticket_id, part.name):
            return
        if part.missing:
            self.stats.missing_files += 1
            log.warning("ticket %s of %s: %s is missing on the kiosk", part.ticket_id, device_id, part.name)
        else:
            try:
                if not self.files.put(device_id, part):
                    return  # more chunks to come
            except FileRefused as exc:
                self._reject(wire.device_topic(device_id, "attachments"), "bad_file", str(exc))
                return
            self.stats.files += 1
        self.store.add_attachment(device_id, part.ticket_id, part.name, part.sha256, part.size)
        self._acknowledge(device_id, [part.ticket_id], {part.ticket_id})

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        self.stats.rejected[reason] += 1
        log.warning("rejected a message on %s: %s (%s)", topic[:120], reason, detail)
