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

from fleet.files import AttachmentFiles, FileRefused
from fleet.link import backend_client
from fleet.releases import ReleaseStore
from fleet.rollout_engine import RolloutEngine
from fleet.rollouts import record_update
from fleet.store import FleetStore, TicketOutcome
from kiosk_link import wire
from kiosk_link.logs import RateLimit
from kiosk_link.routing import Route

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
    # By reason: a wire.RejectReason, "device_mismatch" (a ticket id of another device), "unknown_ticket" (a chunk
    # for a ticket this device never filed), "over_quota" (its unfinished files), "bad_file".
    rejected: Counter[str] = field(default_factory=Counter)


# Tickets validated by the writer and waiting for its commit, each with its payload as received (stored as sent).
TicketBatch = list[tuple[wire.TicketV1, bytes]]


@dataclass(frozen=True)
class Received:
    """Where a message came from, handed to its route's handler with the parsed payload."""

    device_id: str  # from the topic: what the broker's ACL vouches for
    payload: bytes  # as received (tickets and telemetry are stored as sent)
    tickets: TicketBatch  # the writer's batch, which a ticket joins rather than being committed alone


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
        self._log_limit = RateLimit()  # lines about refused and failed messages, by reason
        self.releases = releases
        self.rollouts = rollouts  # told of each update report
        self._filters = [
            (wire.shared_filter(group, wire.device_filter("tickets")), 1),
            (wire.shared_filter(group, wire.device_filter("attachments")), 1),
            (wire.device_filter("status"), 1),
            (wire.shared_filter(group, wire.device_filter("telemetry")), 1),
            (wire.shared_filter(group, wire.device_filter("analytics")), 1),
        ]
        # What each kind of device topic must validate as, and what then stores it.
        self._routes: dict[wire.DeviceTopic, Route[Any, [Received]]] = {
            "tickets": Route(wire.TicketV1, self._on_ticket),
            "attachments": Route(wire.AttachmentV1, self._on_attachment),
            "status": Route(wire.StatusV1, self._on_status),
            "telemetry": Route(wire.TelemetryV2, self._on_telemetry),  # and version 1, read as a 2
            "analytics": Route(wire.AnalyticsV1, self._on_analytics),
            "update/status": Route(wire.UpdateStatusV1, self._on_update_status),
        }
        if releases is not None:  # any one process of the group answers a chunk request
            self._filters += [
                (wire.shared_filter(group, wire.device_filter("update/request")), 1),
                # Retained, like status (a kiosk's outcome must reach a backend that was down): a plain subscription.
                (wire.device_filter("update/status"), 1),
            ]
            self._routes["update/request"] = Route(wire.UpdateRequestV1, self._on_update_request)
        self._client = backend_client("ingest", client_id, tls)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect_async(host, port, keepalive=30, clean_start=True)
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(MAX_QUEUED)  # None: the writer stops
        self._writer = threading.Thread(target=self._write, name="fleet-writer", daemon=True)
        # Set once connected and subscribed: what a caller that needs the backend listening waits for.
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
        self.ready.set()

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
            tickets: TicketBatch = []
            for message in batch:
                if message is not None:
                    self._handle(message, tickets)
            self._commit(tickets)
            if batch[-1] is None:
                return

    def _handle(self, message: mqtt.MQTTMessage, tickets: TicketBatch) -> None:
        """Store one message, or (a ticket) validate it and add it to the batch's ``tickets``."""
        try:
            device_id, kind = wire.parse_device_topic(message.topic)
            route = self._routes.get(kind)
            if route is not None:  # else a kind this process never subscribed to
                route(message.payload, Received(device_id, bytes(message.payload), tickets))
        except wire.WireError as exc:
            self._reject(message.topic, exc.reason, exc.detail)
        except Exception:  # the database, say: nothing was acknowledged, so the kiosk will send it again
            self.stats.failed += 1
            self._log_limit.log(
                log, logging.ERROR, "failed", "message on %s not stored", message.topic[:120], exc_info=True
            )

    def _on_ticket(self, ticket: wire.TicketV1, received: Received) -> None:
        if ticket.device_id != received.device_id:  # a kiosk may only file tickets under its own name
            topic = wire.device_topic(received.device_id, "tickets")
            self._reject(topic, "device_mismatch", f"ticket of {ticket.device_id}")
            return
        received.tickets.append((ticket, received.payload))

    def _on_status(self, status: wire.StatusV1, received: Received) -> None:
        self.store.set_status(received.device_id, status)
        self.stats.statuses += 1

    def _on_telemetry(self, report: wire.TelemetryV2, received: Received) -> None:
        self.stats.telemetry += self.store.add_telemetry(received.device_id, report, received.payload)

    def _on_analytics(self, report: wire.AnalyticsV1, received: Received) -> None:
        self.store.set_analytics(received.device_id, report)
        self.stats.analytics += 1

    def _on_update_request(self, request: wire.UpdateRequestV1, received: Received) -> None:
        assert self.releases is not None  # only routed with a release store
        chunk = self.releases.chunk(request)
        self._client.publish(wire.device_topic(received.device_id, "update/chunk"), chunk.encode(), qos=1)

    def _on_update_status(self, update: wire.UpdateStatusV1, received: Received) -> None:
        log.info("update %s on %s: %s %s", update.release_id, received.device_id, update.state, update.reason or "")
        record_update(self.store, received.device_id, update)
        self.stats.updates += 1
        if self.rollouts is not None:
            self.rollouts.wake()

    def _commit(self, tickets: TicketBatch) -> None:
        """Commit a batch of tickets, then acknowledge them: one message per device, whatever the batch holds."""
        if not tickets:
            return
        try:
            outcomes = self.store.add_tickets(tickets)
        except Exception:  # nothing was acknowledged, so the kiosks will send these again
            self.stats.failed += len(tickets)
            log.exception("%d tickets not stored", len(tickets))
            return
        committed: defaultdict[str, list[str]] = defaultdict(list)
        for (ticket, _), outcome in zip(tickets, outcomes, strict=True):
            if self._count(ticket, outcome):
                committed[ticket.device_id].append(ticket.id)
        with_files = {ticket.id for ticket, _ in tickets if wire.carried_attachments(ticket.attachments)}
        for device_id, ids in committed.items():
            self._acknowledge(device_id, list(dict.fromkeys(ids)), with_files)  # a ticket delivered twice: once

    def _count(self, ticket: wire.TicketV1, outcome: TicketOutcome) -> bool:
        """Count what the commit did with ``ticket``; whether its kiosk may be told it is stored (not when the id
        is another device's: acknowledging it would make this kiosk delete a ticket the backend does not hold)."""
        if outcome == "refused":
            topic = wire.device_topic(ticket.device_id, "tickets")
            self._reject(topic, "device_mismatch", f"ticket {ticket.id} is stored for another device")
            return False
        if outcome == "stored":
            self.stats.stored += 1
            log.debug("stored ticket %s of %s", ticket.id, ticket.device_id)
        else:
            self.stats.duplicates += 1
        return True

    def _acknowledge(self, device_id: str, ids: list[str], with_files: set[str]) -> None:
        """Acknowledge the committed tickets ``ids`` whose files (if they name any: ``with_files``) are all stored
        or reported missing too: the kiosk forgets a ticket only once its photos are safe as well."""
        waiting = [ticket_id for ticket_id in ids if ticket_id in with_files]
        ready = set(self.store.delivered(device_id, waiting)) if waiting else set()
        acknowledged = [ticket_id for ticket_id in ids if ticket_id not in with_files or ticket_id in ready]
        if acknowledged:
            ack = wire.AckV1(ticket_ids=acknowledged).encode()
            self._client.publish(wire.device_topic(device_id, "acks"), ack, qos=1)

    def _on_attachment(self, part: wire.AttachmentV1, received: Received) -> None:
        """Keep a chunk of a ticket's file; once the file is whole and checked (or reported missing), record it and
        acknowledge its ticket if that is stored with all its files. A chunk of a file already stored is a
        re-send: the ticket's own re-send is what gets acknowledged again. A chunk of a ticket this device has not
        filed is refused (``_filed``), and so is one past the device's quota of incomplete files."""
        device_id = received.device_id
        if not self._filed(part.ticket_id, received):
            self._reject(wire.device_topic(device_id, "attachments"), "unknown_ticket", f"ticket {part.ticket_id}")
            return
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
                self._reject(wire.device_topic(device_id, "attachments"), exc.reason, str(exc))
                return
            self.stats.files += 1
        self.store.add_attachment(device_id, part.ticket_id, part.name, part.sha256, part.size)
        self._acknowledge(device_id, [part.ticket_id], {part.ticket_id})

    def _filed(self, ticket_id: str, received: Received) -> bool:
        """Whether the sender filed ``ticket_id``: stored under its name, or (not stored for anyone yet) in the
        batch being written, since a kiosk publishes a ticket just before its chunks and both often arrive in one
        batch. A chunk that overtakes its ticket to another process of the group (shared subscriptions) is
        refused, as one for a ticket that does not exist: the kiosk re-sends the ticket with all its files
        until it is acknowledged, and by then the ticket is stored. Holding such chunks until the ticket shows
        up would keep exactly the unowned data that lets a device fill the backend's disk."""
        owner = self.store.ticket_device(ticket_id)
        if owner is not None:
            return owner == received.device_id
        return any(t.id == ticket_id and t.device_id == received.device_id for t, _ in received.tickets)

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        """Count every refusal; log one line per reason a minute, since any kiosk (or a forged one) can send a flood."""
        self.stats.rejected[reason] += 1
        self._log_limit.log(
            log, logging.WARNING, reason, "rejected a message on %s: %s (%s)", topic[:120], reason, detail
        )
