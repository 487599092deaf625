"""MQTT over TLS with a client certificate, as both ends (the kiosk's link and ``fleet serve``) connect.

The context trusts only the fleet CA (not the system's CAs: a certificate any public CA issued for the broker's
name must not be able to impersonate it), checks the broker's name against its certificate, refuses anything
older than TLS 1.2, and presents this end's certificate, which is its identity on the broker.

A kiosk's key is sealed at rest (``kiosk-provision`` writes ``*.sealed``, see ``kiosk_link.secret_store``): it is
opened into memory only while ``ssl`` reads it. A plain PEM key (the backend, a development setup) is read as is.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt

from kiosk_link import secret_store

# The secret's name: bound into the sealed file, and the credential name in kiosk.service's LoadCredentialEncrypted=.
SEALED_KEY_NAME = "tls-key"
SEALED_SUFFIX = ".sealed"


def client_context(
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    sealing_key_file: Path = secret_store.DEFAULT_KEY_PATH,
) -> ssl.SSLContext | None:
    """The context for one identity, or None (plain MQTT) without one; OSError or ssl.SSLError if a file is
    missing or the key does not match the certificate, secret_store.SecretError if a sealed key cannot be opened
    here (``sealing_key_file`` missing or another device's), so a misconfigured end fails at start, not at connect."""
    if ca_file is None or cert_file is None or key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if key_file.suffix != SEALED_SUFFIX:
        context.load_cert_chain(str(cert_file), str(key_file))
        return context
    with secret_store.secret_path(key_file, SEALED_KEY_NAME, sealing_key_file) as plain:
        context.load_cert_chain(str(cert_file), str(plain))
    return context


def use_tls(client: mqtt.Client, context: ssl.SSLContext | None) -> None:
    """Connect ``client`` over TLS with ``context``; None leaves it plain (a test or development broker)."""
    if context is not None:
        client.tls_set_context(context)
