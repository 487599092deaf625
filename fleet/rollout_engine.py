"""The rollout state machine at work inside ``fleet serve``: a thread that steps every rollout (``rollouts.advance``)
when an update report arrives (``wake``) and every ``interval_s`` (a pause, resume or abort from the command
line, a rollout just started), and publishes the offers and withdrawals it decides.

It has its own database connection and its own MQTT client, so it never holds up ingestion. Offers are retained
messages, so on every (re)connect it publishes again what each offer topic should hold (a broker may have lost
them, or a publish may have been lost with the last connection): the state in the database, not what was
published, is the truth. It empties the channels' release topics then too: releases are offered only by rollouts.
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
from fleet.rollouts import Publish, advance, channel_clears, retained_offers
from fleet.store import FleetStore

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
        self._lock = threading.Lock()  # the connection is used by this thread and by paho's (a connect)
        self._wake = threading.Event()
        self._stop = threading.Event()
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

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the step: a report stored during it wakes the next one at once
            try:
                self._advance()
            except Exception:  # the database busy past its timeout, say: the next step tries again
                log.exception("rollout step failed")
            self._wake.wait(self.interval_s)

    def _advance(self) -> None:
        with self._lock:
            publishes = advance(self._store, self.releases)
        self._publish(publishes)

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
            offers = retained_offers(self._store, self.releases)
        self._publish(channel_clears(self.releases) + offers)
