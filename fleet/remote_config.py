"""``fleet config set``: a kiosk's remote configuration, merged with what was set before, revisioned, published.

The message is retained on the kiosk's ``config`` topic, so a kiosk that is offline gets it when it connects,
and one that restarts gets it again (and finds it already applied). The kiosk judges which keys it may apply
live and reports what it did in its status, which ``fleet devices`` shows.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from kiosk_link.tls import use_tls
from kiosk_link.wire import SettingValue

TIMEOUT_S = 10.0


def parse_assignments(pairs: Sequence[str]) -> dict[str, SettingValue | None]:
    """``key=value`` pairs: JSON scalars as such (60, 0.5, true), anything else as text; ``key=`` removes."""
    changes: dict[str, SettingValue | None] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"{pair!r} is not key=value")
        changes[key] = _value(text) if text else None
    return changes


def _value(text: str) -> SettingValue:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def publish_retained(
    host: str,
    port: int,
    topic: str,
    payload: bytes,
    client_id: str = "fleet-config",
    tls: ssl.SSLContext | None = None,
) -> None:
    """Publish once at QoS 1 with the retain flag and wait for the broker's PUBACK; OSError or TimeoutError."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    use_tls(client, tls)
    connected = threading.Event()
    refused: list[ReasonCode] = []

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
        if reason.is_failure:
            refused.append(reason)
        connected.set()

    client.on_connect = on_connect
    client.connect(host, port)
    client.loop_start()
    try:
        if not connected.wait(TIMEOUT_S) or refused:
            raise ConnectionError(f"broker {host}:{port} did not accept the connection {refused or ''}".strip())
        info = client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(TIMEOUT_S)
        if not info.is_published():
            raise TimeoutError(f"broker {host}:{port} did not acknowledge the publish within {TIMEOUT_S} s")
    finally:
        client.disconnect()
        client.loop_stop()
