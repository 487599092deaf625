"""MQTT over TLS with a client certificate, as both ends (the kiosk's link and ``fleet serve``) connect.

The context trusts only the fleet CA (not the system's CAs: a certificate any public CA issued for the broker's
name must not be able to impersonate it), checks the broker's name against its certificate, refuses anything
older than TLS 1.2, and presents this end's certificate, which is its identity on the broker.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt


def client_context(ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> ssl.SSLContext | None:
    """The context for one identity, or None (plain MQTT) without one; OSError or ssl.SSLError if a file is
    missing or the key does not match the certificate, so a misconfigured end fails at start, not at connect."""
    if ca_file is None or cert_file is None or key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


def use_tls(client: mqtt.Client, context: ssl.SSLContext | None) -> None:
    """Connect ``client`` over TLS with ``context``; None leaves it plain (a test or development broker)."""
    if context is not None:
        client.tls_set_context(context)
