"""The kiosk's MQTT link: publishes the outbox, deletes rows on the backend's acknowledgement, keeps status.

One thread owns the paho client, its own database connection and the outbox, so nothing here needs a lock:
it connects (MQTT 5, persistent session so acknowledgements sent while the kiosk was away are queued for it),
publishes due outbox rows at QoS 1, handles acknowledgements, and on a lost connection waits a jittered,
growing delay before trying again. The outbox, not paho's memory, is what makes delivery reliable: every row
not yet acknowledged is published again on each new connection and after ``ack_timeout_s``, and the backend
stores by ticket id, so a repeat costs a duplicate message, never a duplicate ticket.
A ticket's photos follow it on every publish, in chunks (``attachments``), and the backend acknowledges the
ticket only once they are stored as well.

Status is retained on ``kiosk/v1/{device}/status``: "online" on every connect, "offline" as the last will
(the broker publishes it when the link dies without a DISCONNECT: power cut, crash, network cut) and on a
clean stop. While online the link also reports, every ``telemetry_interval_s``, its health (``telemetry``) and
the service analytics of recently active days (``analytics``), and applies the retained remote configuration
(``config``), reporting the outcome in its status; after the updater installs a release it says "online" again,
with the versions the release installed. A colleague's answer to a hand-off ticket (``handoff``) goes to
``on_handoff``, on this thread: the kiosk puts it on its bus for the screen. Telemetry and analytics are
snapshots, not a log: a lost one is replaced by the next, so they are published straight from memory, never
through the outbox.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware_app.config import KioskSettings, SyncConfig
from firmware_app.health import Health
from firmware_app.store import open_database
from firmware_app.sync.analytics import active_days, daily_report
from firmware_app.sync.attachments import attachment_messages, attachment_names
from firmware_app.sync.backoff import Backoff
from firmware_app.sync.outbox import Outbox, OutboxRow
from firmware_app.sync.remote_config import RemoteConfig
from firmware_app.sync.telemetry import HealthRecorder, installed_pack, model_versions, telemetry, wire_versions
from firmware_app.sync.updates import Updater
from kiosk_link import wire
from kiosk_link.routing import Receiver, Route, counted, guarded
from kiosk_link.tls import client_context, use_tls

log = logging.getLogger(__name__)
# paho holds at most this many unacknowledged publishes in memory; past it ``publish`` refuses and the rows wait
# in SQLite for the next check, so a backlog of thousands of tickets never sits in RAM.
MAX_QUEUED_PUBLISHES = 500
GOODBYE_TIMEOUT_S = 2.0
# File chunks (up to 128 KiB each) handed to paho and not yet acknowledged by the broker; past it the next ticket
# with files waits, so a backlog of photos does not sit in RAM.
MAX_FILE_CHUNKS_IN_FLIGHT = 32
# The first report after a connect covers this many days of analytics (the kiosk may have been offline), later
# ones today and yesterday (visits that were still going at midnight).
ANALYTICS_CATCH_UP_DAYS = 7
LinkState = Literal["connecting", "online", "offline"]


class KioskSync:
    def __init__(
        self,
        database_path: Path,
        device_id: str,
        config: SyncConfig,
        versions: Mapping[str, str] | None = None,
        health: HealthRecorder | None = None,
        remote_config: RemoteConfig | None = None,
        updater: Updater | None = None,
        capabilities: Health | None = None,
    ) -> None:
        self.device_id = wire.validate_device_id(device_id)
        self.config = config
        self.versions = dict(versions or {})
        self.health = health or HealthRecorder()
        self.remote_config = remote_config  # None: this link takes no remote configuration
        self.updater = updater  # None: no release key configured, so no updates
        # Told each hand-off update that validated (on this thread); None: nobody to tell, the update is dropped.
        self.on_handoff: Callable[[wire.HandoffUpdateV1], None] | None = None
        self._installed_pack: wire.PackV1 | None = None  # a pack an update installed since this link started
        self._data_dir = database_path.parent
        self._config_topic = wire.device_topic(device_id, "config")
        self._telemetry_topic = wire.device_topic(device_id, "telemetry")
        self._analytics_topic = wire.device_topic(device_id, "analytics")
        self._attachments_topic = wire.device_topic(device_id, "attachments")
        self._file_chunks: list[mqtt.MQTTMessageInfo] = []  # published file chunks the broker has not acknowledged
        self._next_report = 0.0  # time.monotonic() of the next telemetry; 0 right after a connect
        self._catch_up = True  # the next report covers ANALYTICS_CATCH_UP_DAYS
        # What works and what runs on its fallback: this link reports the broker, and sends telemetry as soon as
        # anything changes (``_report_now``, set from any thread) rather than at the next interval.
        self.capabilities = capabilities or Health()
        self._report_now = threading.Event()
        self.capabilities.listen(self._report_now.set)
        self._tried = False  # a connection attempt has finished (failed, or succeeded and ended)
        self.outbox = Outbox(open_database(database_path))
        # Acknowledgements, hand-off updates, configurations refused, and messages whose handler failed, by reason.
        self.rejected: Counter[str] = Counter()
        self._status_topic = wire.device_topic(device_id, "status")
        self._acks_topic = wire.device_topic(device_id, "acks")
        self._handoff_topic = wire.device_topic(device_id, "handoff")
        self._routes = self._route_table()
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._connected_at: datetime | None = None  # set once the broker accepted this connection
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = self._new_client()
        if updater is not None:
            updater.on_installed = self._on_installed

    @classmethod
    def from_settings(
        cls,
        settings: KioskSettings,
        health: HealthRecorder | None = None,
        remote_config: RemoteConfig | None = None,
        capabilities: Health | None = None,
    ) -> KioskSync:
        """The link as a kiosk runs it; without ``remote_config`` (``kiosk sync run``) it loads the saved one."""
        updater = Updater.from_settings(settings)  # first: it rolls back an interrupted install
        if remote_config is None:
            remote_config = RemoteConfig(settings)
            remote_config.load()
        versions = {"kiosk": version("kestrel-kiosk"), **model_versions(settings.models_dir)}
        return cls(
            settings.database_path,
            settings.device_id,
            settings.sync,
            versions,
            health,
            remote_config,
            updater,
            capabilities,
        )

    @property
    def connected(self) -> bool:
        return self._connected_at is not None

    @property
    def state(self) -> LinkState:
        """For the staff screen: "connecting" until the first attempt has finished, then online or offline."""
        if self._connected_at is not None:
            return "online"
        return "offline" if self._tried else "connecting"

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5)
        client.max_queued_messages_set(MAX_QUEUED_PUBLISHES)
        context = client_context(
            self.config.ca_file, self.config.cert_file, self.config.key_file, self.config.sealing_key_file
        )
        use_tls(client, context)
        client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.config.session_expiry_s
        client.connect_async(
            self.config.broker_host,
            self.config.broker_port,
            keepalive=self.config.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        return client

    def _route_table(self) -> dict[str, Receiver]:
        """What the link subscribes to, and the handler of each: the backend's acknowledgements and hand-off
        updates, the remote configuration where it takes one, and the updater's topics where it has one. Each is
        ``guarded``: this thread runs paho's loop, and a message whose handler raised would never be
        acknowledged, so it would come back after every reconnect and stop everything behind it."""
        ack = Route(wire.AckV1, self._on_ack, counted(self.rejected, log, "acknowledgement refused"))
        handoff = Route(wire.HandoffUpdateV1, self._on_handoff, counted(self.rejected, log, "hand-off update refused"))
        routes: dict[str, Receiver] = {self._acks_topic: ack, self._handoff_topic: handoff}
        if self.remote_config is not None:
            routes[self._config_topic] = Route(wire.RemoteConfigV1, self._on_config, self._on_config_refused)
        if self.updater is not None:
            routes |= self.updater.routes
        return {topic: guarded(receive, self.rejected, log, topic) for topic, receive in routes.items()}

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        report = self.remote_config.report if self.remote_config else None
        pack = self._installed_pack or installed_pack(self.outbox.db)
        channel = self.updater.config.channel if self.updater else None
        return wire.StatusV1(
            state=state, versions=wire_versions(self.versions), pack=pack, config=report, channel=channel
        ).encode()

    def start(self) -> None:
        """Run the link on its own thread (inside the kiosk process)."""
        self._thread = threading.Thread(target=self.run, name=f"sync-{self.device_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say "offline", disconnect and close the database; safe from any thread, and to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Connect, serve, reconnect with backoff, until ``stop``; then leave cleanly."""
        try:
            while not self._stop.is_set():
                try:
                    self._client.reconnect()
                    self._serve_connection()
                except OSError as exc:
                    self._connected_at = None
                    self._tried = True
                    log.info("broker unreachable", extra={"error": str(exc), "port": self.config.broker_port})
                    self._broker_down(f"broker unreachable: {exc}")
                except Exception as exc:
                    # A database error, say: a thread that died here would silently stop all delivery, while the
                    # outbox lets a fresh connection pick up exactly where this one failed.
                    self._connected_at = None
                    self._tried = True
                    log.exception("sync failed; reconnecting")
                    self._broker_down(f"sync failed: {type(exc).__name__}")
                if not self._stop.is_set():
                    self._stop.wait(self._backoff.next_delay())
            self._say_goodbye()
        finally:
            self.outbox.db.close()

    def _serve_connection(self) -> None:
        """Network traffic and outbox checks until the connection drops or ``stop`` is asked."""
        wait_s = self.config.poll_s
        while not self._stop.is_set():
            rc = self._client.loop(timeout=wait_s)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._connected_at = None
                log.info("connection lost", extra={"reason": mqtt.error_string(rc)})
                self._broker_down(f"connection lost: {mqtt.error_string(rc)}")
                return
            # A full batch means more rows are waiting: check again without sleeping.
            wait_s = 0.0 if self._publish_due() == self.config.batch else self.config.poll_s
            self._publish_updates()
            self._report_if_due()

    def _publish_due(self) -> int:
        """Publish outbox rows that are due; returns how many went to paho."""
        if self._connected_at is None:
            return 0
        now = datetime.now(UTC)
        sent_before = max(self._connected_at, now - timedelta(seconds=self.config.ack_timeout_s))
        published: list[int] = []
        for row in self.outbox.due(sent_before, now, self.config.batch):
            try:
                wire.check_size(row.payload)
            except wire.WireError as exc:
                log.error("outbox row can never be sent", extra={"row": row.id, "reason": exc.detail})
                self.outbox.hold(row.id, exc.detail)
                continue
            if not self._publish_row(row):
                break  # paho's queue is full, the link just dropped or files are still in flight: the row stays due
            published.append(row.id)
        self.outbox.mark_sent(published, now)
        return len(published)

    def _publish_row(self, row: OutboxRow) -> bool:
        """A ticket, then each of its files in chunks (``attachments``); the backend acknowledges the ticket once
        it has committed all of them. False if paho did not take everything: the whole row goes again later."""
        names = attachment_names(row.payload) if row.ticket_id else []
        self._file_chunks = [info for info in self._file_chunks if not info.is_published()]
        if names and len(self._file_chunks) >= MAX_FILE_CHUNKS_IN_FLIGHT:
            return False
        if self._client.publish(row.topic, row.payload, qos=1).rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        for name in names:
            for payload in attachment_messages(self._data_dir, str(row.ticket_id), name):
                info = self._client.publish(self._attachments_topic, payload, qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return False
                self._file_chunks.append(info)
        return True

    def _publish_updates(self) -> None:
        """Update reports and chunk requests (``Updater.poll``), while online."""
        if self.updater is None or self._connected_at is None:
            return
        for topic, payload in self.updater.poll():
            self._client.publish(topic, payload, qos=1, retain=topic == self.updater.status_topic)

    def _report_if_due(self) -> None:
        """Telemetry, and the analytics of each recently active day, every ``telemetry_interval_s`` while online;
        telemetry alone as soon as a capability went degraded or came back (within ``poll_s``)."""
        now = time.monotonic()
        if self._connected_at is None:
            return
        if now < self._next_report:
            if self._report_now.is_set():
                self._report_now.clear()  # before the report: a change while it is made makes another
                self._publish_telemetry()
            return
        self._next_report = now + self.config.telemetry_interval_s
        self._report_now.clear()
        self._publish_telemetry()
        days_back = ANALYTICS_CATCH_UP_DAYS - 1 if self._catch_up else 1
        self._catch_up = False
        for day in active_days(self.outbox.db, datetime.now(UTC).date() - timedelta(days=days_back)):
            self._client.publish(self._analytics_topic, daily_report(self.outbox.db, day).encode(), qos=1)

    def _publish_telemetry(self) -> None:
        revision = self.remote_config.revision if self.remote_config else 0
        report = telemetry(
            self.health,
            self.outbox,
            self.versions,
            self._refused(),
            self._data_dir,
            revision,
            self.capabilities.snapshot(),
        )
        self._client.publish(self._telemetry_topic, report.encode(), qos=1)

    def _broker_down(self, reason: str) -> None:
        """The broker cannot be reached: tickets wait in the outbox (unless this link is stopping)."""
        if not self._stop.is_set():
            self.capabilities.degraded("broker", reason, "outbox")

    def _refused(self) -> Counter[str]:
        """Messages this kiosk dropped, by reason: its own refusals and failed handlers, and the update chunks the
        updater refused (releases refused are reported on their own, in ``update/status``)."""
        return self.rejected + (self.updater.rejected if self.updater is not None else Counter())

    def _say_goodbye(self) -> None:
        """A clean stop: retained "offline" (the will is only for unclean ends), then DISCONNECT."""
        if self._connected_at is None:
            return
        info = self._client.publish(self._status_topic, self._status("offline"), qos=1, retain=True)
        deadline = time.monotonic() + GOODBYE_TIMEOUT_S
        while not info.is_published() and time.monotonic() < deadline:
            if self._client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._client.disconnect()
        self._connected_at = None

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection", extra={"reason": str(reason)})
            self._broker_down(f"broker refused the connection: {reason}")
            return
        self._backoff.reset()
        self._connected_at = datetime.now(UTC)
        self.capabilities.ok("broker")
        if isinstance(sock := client.socket(), socket.socket):  # small request/answer packets: no Nagle delays
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._next_report, self._catch_up = 0.0, True
        self._file_chunks = []  # every due row is published again on this connection
        client.subscribe([(topic, 1) for topic in self._routes])
        if self.updater is not None:
            self.updater.reconnected()
        self._publish_online()
        log.info("connected", extra={"session_present": flags.session_present, "outbox": self.outbox.depth()})

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode, properties: Any
    ) -> None:
        self._connected_at = None
        self._tried = True
        self._broker_down(f"disconnected: {reason}")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        route = self._routes.get(message.topic)
        if route is not None:  # always, but for a message from a subscription of an earlier session
            route(message.payload)

    def _on_ack(self, ack: wire.AckV1) -> None:
        deleted = self.outbox.acknowledge(ack.ticket_ids)
        log.info("tickets acknowledged", extra={"tickets": len(ack.ticket_ids), "deleted": deleted})

    def _on_handoff(self, update: wire.HandoffUpdateV1) -> None:
        if self.on_handoff is not None:
            self.on_handoff(update)

    def _on_installed(self, models: Mapping[str, str], pack: wire.PackV1 | None) -> None:
        """An update was installed: the retained status names its versions at once, not only after the next start
        (the database names the pack the kiosk loaded, which is the new one only once the kiosk reloads)."""
        self.versions |= models
        self._installed_pack = pack or self._installed_pack
        self._publish_online()

    def _on_config(self, config: wire.RemoteConfigV1) -> None:
        """Apply the retained remote configuration, then say so in the retained status."""
        assert self.remote_config is not None  # only routed with one
        self.remote_config.apply(config)
        self._publish_online()

    def _on_config_refused(self, exc: wire.WireError) -> None:
        """Refuse (and count) an unreadable remote configuration, then say so in the retained status."""
        assert self.remote_config is not None  # only routed with one
        self.rejected[exc.reason] += 1
        self.remote_config.refuse(None, f"{exc.reason}: {exc.detail}")
        self._publish_online()

    def _publish_online(self) -> None:
        """The retained "online" status, with the versions and what became of the remote configuration."""
        self._client.publish(self._status_topic, self._status("online"), qos=1, retain=True)
