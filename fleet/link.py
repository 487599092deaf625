"""The backend's MQTT 5 client, made one way for every long-lived `fleet` connection (ingest, rollouts)."""

from __future__ import annotations

import os
import socket
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from kiosk_link.tls import use_tls


def backend_client(role: str, client_id: str | None, tls: ssl.SSLContext | None) -> mqtt.Client:
    """A client named ``fleet-<role>-<host>-<pid>`` unless ``client_id`` is given (one per process, so several
    backends never throw each other off the broker), reconnecting by itself every 1-30 s, with TLS when
    ``tls`` is set. The caller sets its callbacks and connects."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"fleet-{role}-{socket.gethostname()}-{os.getpid()}",
        protocol=mqtt.MQTTv5,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    use_tls(client, tls)
    return client
