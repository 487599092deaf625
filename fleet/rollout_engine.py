"""The rollout state machine at work inside ``fleet serve``: a thread that steps every rollout (``rollouts.advance``)
when an update report arrives (``wake``) and every ``interval_s`` (a pause, resume or abort from the command
line, a rollout just started), and publishes the offers and withdrawals it decides.

It has its own database connection and its own MQTT client, so it never holds up ingestion. Offers are retained
messages, so on every (re)connect it publishes again what each offer topic and channel topic should hold (a
broker may have lost them, or a publish may have been lost with the last connection): the state in the
database, not what was published, is the truth.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from fleet.link import backend_client
from fleet.releases import ReleaseStore
from fleet.rollouts import Publish, advance, channel_payloads, managed_channels, retained_offers
from fleet.store import FleetStore
from kiosk_link import wire

log = logging.getLogger(__name__)


class RolloutEngine:
    def __init__(
        self,
        database: str | Path,
        releases: ReleaseStore,
        host: str,
        port: int,
        interval_s: float = 2.0,
        client_id: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.releases = releases
        self.interval_s = interval_s
        self._store = FleetStore(database)  # its own connection
        self._lock = threading.Lock()  # the connection is used by this thread and by ``managed``
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._managed = frozenset[str]()  # the channels whose topics this engine last cleared
        self._thread = threading.Thread(target=self._run, name="fleet-rollouts", daemon=True)
        self._client = backend_client("rollouts", client_id, tls)
        self._client.on_connect = self._on_connect
        self._client.connect_async(host, port, keepalive=30, clean_start=True)

    def start(self) -> None:
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._client.disconnect()
        self._client.loop_stop()
        self._store.close()

    def wake(self) -> None:
        """An update report was stored: step the rollouts now rather than at the next interval."""
        self._wake.set()

    def managed(self) -> frozenset[str]:
        """Channels rollouts manage, on whose topic ``fleet serve`` must publish no release."""
        with self._lock:
            return managed_channels(self._store)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the step: a report stored during it wakes the next one at once
            try:
                self._advance()
            except Exception:  # the database busy past its timeout, say: the next step tries again
                log.exception("rollout step failed")
            self._wake.wait(self.interval_s)

    def _advance(self) -> None:
        """Advance every rollout; when a channel has just come under rollouts, clear its topic too."""
        with self._lock:
            publishes = advance(self._store, self.releases)
            managed = managed_channels(self._store)
        if managed != self._managed:
            self._managed = managed
            publishes = self._channel_publishes(managed) + publishes
        self._publish(publishes)

    def _channel_publishes(self, managed: frozenset[str]) -> list[Publish]:
        payloads = channel_payloads(self.releases, managed)
        return [Publish(wire.release_topic(channel), payload) for channel, payload in payloads.items()]

    def _publish(self, publishes: list[Publish]) -> None:
        for publish in publishes:
            self._client.publish(publish.topic, publish.payload, qos=1, retain=True)
            log.info("%s %s", "offered on" if publish.payload else "cleared", publish.topic)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the rollout publisher: %s", reason)
            return
        with self._lock:
            managed = managed_channels(self._store)
            offers = retained_offers(self._store, self.releases)
        self._publish(self._channel_publishes(managed) + offers)
