"""``fleet config set``: a kiosk's remote configuration, merged with what was set before, revisioned, published.

Settings are checked against the wire's schema of what a kiosk applies live (``wire.validate_settings``: the
keys, their types and bounds) before anything is stored or sent, so a mistake is refused here, at once, and not
by the kiosk later. The message is retained on the kiosk's ``config`` topic, so a kiosk that is offline gets it
when it connects, and one that restarts gets it again (and finds it already applied). The kiosk checks again
and reports what it did in its status, which ``fleet devices`` shows.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Mapping, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from kiosk_link.tls import use_tls
from kiosk_link.wire import SettingValue, validate_settings

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


def check_changes(changes: Mapping[str, SettingValue | None]) -> None:
    """``ValueError`` naming each key a kiosk would refuse (unknown, of the wrong type, out of bounds). Removing a
    key (None) is always allowed, so one stored before this check existed can still be taken out."""
    problems = validate_settings({key: value for key, value in changes.items() if value is not None})
    if problems:
        raise ValueError("; ".join(problems))


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
