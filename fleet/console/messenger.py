"""The console's one MQTT connection: tells kiosks what staff did (``handoff``) and carries the remote
configuration a manager set (``config``, retained), as ``fleet config set`` does.

paho keeps reconnecting on its own thread. A message published while the broker is away is refused at once
(``sent`` is False) rather than held in memory: the change is already committed and audited, and the page says
the kiosk was not told, so the colleague can walk over anyway.
"""

from __future__ import annotations

import logging
import ssl
import threading

from paho.mqtt.enums import MQTTErrorCode

from fleet.link import backend_client
from kiosk_link import wire

log = logging.getLogger(__name__)
PUBLISH_WAIT_S = 2.0


class KioskMessenger:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self._client = backend_client("console", None, tls)
        self._connected = threading.Event()
        self._client.on_connect = lambda c, u, f, reason, p: self._connected.set() if not reason.is_failure else None
        self._client.on_disconnect = lambda c, u, f, reason, p: self._connected.clear()
        self._client.connect_async(host, port, keepalive=30, clean_start=True)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def send(self, device_id: str, kind: wire.DeviceTopic, payload: bytes, retain: bool = False) -> bool:
        """Publish at QoS 1 and wait (briefly) for the broker's acknowledgement; False if it did not come."""
        if not self._connected.wait(PUBLISH_WAIT_S):
            log.warning("broker unreachable: %s for %s not sent", kind, device_id)
            return False
        info = self._client.publish(wire.device_topic(device_id, kind), payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(PUBLISH_WAIT_S)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
