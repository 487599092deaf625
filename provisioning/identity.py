"""A kiosk's identity: its key, made on the device and never sent anywhere, and the certificate the fleet signs.

Every identity, the first one or a rotation, goes the same way: a new key and a request wait in
``identity/pending`` while the fleet signs the request (at once, in a bench setup that has the CA, or later with
``fleet ca issue``), then ``install_cert`` checks the certificate against the pending key, the device id and the
fleet CA and makes it current in one atomic step: the ``current`` symlink is replaced by a rename, so the kiosk
finds the old key and certificate or the new pair, never a mix, and the old pair is removed only once the new
one is in place. A first provisioning's ``kiosk.toml`` waits in ``pending`` too and appears with the
certificate, so a kiosk never starts with a configuration naming files that are not there yet.

The key is sealed with ``kiosk_link.secret_store`` as it is made (systemd-creds as root where available, else
an AES key in ``keys/``), so the plain key exists only in memory: a copy of the card, or of ``etc/kiosk`` without
``keys/``, holds no usable identity.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk_link import pki, secret_store
from kiosk_link.durable import point_symlink, write_bytes_atomically
from kiosk_link.tls import SEALED_KEY_NAME
from kiosk_link.trust import load_public_key
from kiosk_link.wire import validate_device_id
from provisioning import kiosk_toml
from provisioning.layout import Layout, Owner


class ProvisionError(Exception):
    """Something the fleet manager must fix; the message says what."""


class Device:
    def __init__(self, layout: Layout, owner: Owner, sealing: secret_store.Backend | None = None) -> None:
        self.layout = layout
        self.owner = owner
        self.sealing = sealing  # None: secret_store.detect_backend()

    def init(
        self,
        device_id: str,
        broker_host: str,
        broker_port: int,
        ca_cert: Path,
        update_key: Path,
        force: bool,
        pin_hash: str,
    ) -> x509.CertificateSigningRequest:
        """Install the fleet's CA certificate and update key, and make a key and request for ``device_id``, its
        kiosk.toml holding ``pin_hash`` (``kiosk_link.pin_hash``: no device keeps the demo PIN); ProvisionError
        rather than replacing an existing identity or configuration without ``force``."""
        layout = self.layout
        try:
            validate_device_id(device_id)
        except ValueError as exc:
            raise ProvisionError(str(exc)) from None
        existing = [path for path in (layout.current, layout.pending, layout.config) if os.path.lexists(path)]
        if existing and not force:
            raise ProvisionError(f"already provisioned ({', '.join(map(str, existing))}); --force replaces it")
        self.owner.folder(layout.etc, 0o750)
        self.owner.folder(layout.identity, 0o750)
        self._install_trust(ca_cert, update_key)
        csr = self._request(device_id)
        config = kiosk_toml.with_staff_pin(kiosk_toml.render(layout, device_id, broker_host, broker_port), pin_hash)
        write_bytes_atomically(layout.pending_config, config.encode(), 0o640)
        return csr

    def set_staff_pin(self, pin_hash: str) -> Path:
        """Put ``pin_hash`` in this device's kiosk.toml (the one waiting for its certificate, if that is the only
        one), keeping every other line; returns the file. The kiosk reads it at its next start."""
        config = next((path for path in (self.layout.config, self.layout.pending_config) if path.is_file()), None)
        if config is None:
            raise ProvisionError(f"no {self.layout.config} to set the PIN in (`kiosk-provision init` first)")
        try:
            text = kiosk_toml.with_staff_pin(config.read_text(encoding="utf-8"), pin_hash)
        except ValueError as exc:  # tomllib's errors are ValueErrors too
            raise ProvisionError(f"{config}: {exc}") from None
        write_bytes_atomically(config, text.encode(), 0o640)
        self.owner.readable(config, 0o640)
        return config

    def rotate(self) -> x509.CertificateSigningRequest:
        """A new key and request for the current device id; the current pair stays in use until ``install_cert``."""
        if not self.layout.current.exists():
            raise ProvisionError(f"no identity at {self.layout.current} to rotate (`kiosk-provision init` first)")
        return self._request(pki.common_name(pki.load_cert(Layout.cert(self.layout.current))))

    def install_cert(self, cert: x509.Certificate) -> Path:
        """Make ``cert`` (signed for the pending request) current; returns the folder it now lives in."""
        pending = self.layout.pending
        if not Layout.key(pending).is_file():
            raise ProvisionError(f"no pending request in {pending} (`kiosk-provision init` or `rotate` makes one)")
        self._check(cert, self._pending_key(), x509.load_pem_x509_csr(Layout.csr(pending).read_bytes()))
        folder = self.layout.identity / f"{cert.serial_number:x}"
        self.owner.folder(folder, 0o750)
        os.replace(Layout.key(pending), Layout.key(folder))  # same file system: the 0600 key is never copied
        self.owner.secret(Layout.key(folder))
        write_bytes_atomically(Layout.cert(folder), pki.cert_pem(cert), 0o644)
        self.owner.readable(Layout.cert(folder))
        previous = self._swap_current(folder.name)
        if self.layout.pending_config.exists():
            os.replace(self.layout.pending_config, self.layout.config)
            self.owner.readable(self.layout.config, 0o640)
        shutil.rmtree(pending)
        if previous is not None and previous != folder.name:
            shutil.rmtree(self.layout.identity / previous, ignore_errors=True)
        return folder

    def _install_trust(self, ca_cert: Path, update_key: Path) -> None:
        try:
            ca = pki.load_cert(ca_cert)
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
            load_public_key(update_key)
        except (ValueError, x509.ExtensionNotFound) as exc:
            raise ProvisionError(f"not a fleet CA certificate and Ed25519 update key: {exc}") from None
        if not constraints.ca:
            raise ProvisionError(f"{ca_cert} is not a CA certificate")
        for source, target in ((ca_cert, self.layout.ca_cert), (update_key, self.layout.update_key)):
            write_bytes_atomically(target, source.read_bytes(), 0o644)
            self.owner.readable(target)

    def _request(self, device_id: str) -> x509.CertificateSigningRequest:
        """A new key and its request in ``pending``, replacing any earlier request that was never signed."""
        pending = self.layout.pending
        shutil.rmtree(pending, ignore_errors=True)
        self.owner.folder(pending, 0o700)
        key = pki.new_key()
        csr = pki.device_csr(device_id, key)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            used = secret_store.encrypt_bytes(
                pem, Layout.key(pending), SEALED_KEY_NAME, self.layout.sealing_key, self.sealing
            )
        except secret_store.SecretError as exc:
            raise ProvisionError(str(exc)) from None
        if used == "keyfile":  # the service opens the key itself, so the sealing key must be the kiosk user's
            self.owner.folder(self.layout.keys, 0o750)
            self.owner.secret(self.layout.sealing_key)
        write_bytes_atomically(Layout.csr(pending), csr.public_bytes(serialization.Encoding.PEM), 0o644)
        return csr

    def _pending_key(self) -> pki.PrivateKey:
        """The pending key, opened in memory only, to check the certificate against it."""
        try:
            pem = secret_store.decrypt_to_memory(
                Layout.key(self.layout.pending), SEALED_KEY_NAME, self.layout.sealing_key
            )
        except secret_store.SecretError as exc:
            raise ProvisionError(str(exc)) from None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ProvisionError(f"{Layout.key(self.layout.pending)} is not an EC private key")
        return key

    def _check(self, cert: x509.Certificate, key: pki.PrivateKey, csr: x509.CertificateSigningRequest) -> None:
        """The certificate is for the pending key and device id, issued by the installed fleet CA, not expired."""
        if cert.public_key() != key.public_key():
            raise ProvisionError("the certificate is not for the pending key (signed for another request?)")
        if pki.common_name(cert) != pki.common_name(csr):
            raise ProvisionError(f"the certificate names {pki.common_name(cert)!r}, not {pki.common_name(csr)!r}")
        try:
            cert.verify_directly_issued_by(pki.load_cert(self.layout.ca_cert))
        except (ValueError, TypeError, InvalidSignature):
            raise ProvisionError(f"the certificate was not issued by the fleet CA in {self.layout.ca_cert}") from None
        if cert.not_valid_after_utc <= datetime.now(UTC):
            raise ProvisionError(f"the certificate expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")

    def _swap_current(self, name: str) -> str | None:
        """Point ``current`` at ``name`` with one rename; returns what it pointed at before."""
        current = self.layout.current
        previous = os.readlink(current) if current.is_symlink() else None
        point_symlink(current, name)
        return previous
