"""Where a provisioned kiosk keeps its configuration and identity, and who may read what.

Everything lives under ``{root}/etc/kiosk`` (root ``/`` on a device, a temporary folder in tests)::

    kiosk.toml               0640  what firmware_app.config reads: [sync] with TLS paths, [updates] public_key
    fleet-ca.pem             0644  the only issuer the kiosk trusts for the broker
    update-key.pem           0644  the fleet's release-signing public key
    identity/                0750
      current -> <serial>          the certificate in use: a symlink swapped in one rename
      <serial>/              0750  key.sealed (0600, the kiosk user's), cert.pem (0644)
      pending/               0700  key.sealed and request.csr while the fleet signs a request
    keys/secrets.key         0600  opens key.sealed with the key-file backend (absent with systemd-creds)

The device key is sealed (``kiosk_link.secret_store``) from the moment it is made: no plain private key is ever
written. ``kiosk.toml`` names ``identity/current/...``, so a rotation changes the link, never the configuration. Run as
root with a ``kiosk`` user present, the key files belong to that user and the folders to group ``kiosk``, so
the service (and nobody else but root) can read its key; otherwise ownership is left as it is and ``Owner``
says so.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from kiosk_link.tls import SEALED_SUFFIX

KIOSK_USER = "kiosk"  # the service user scripts/setup.sh creates


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "kiosk"

    @property
    def config(self) -> Path:
        return self.etc / "kiosk.toml"

    @property
    def ca_cert(self) -> Path:
        return self.etc / "fleet-ca.pem"

    @property
    def update_key(self) -> Path:
        return self.etc / "update-key.pem"

    @property
    def identity(self) -> Path:
        return self.etc / "identity"

    @property
    def current(self) -> Path:
        return self.identity / "current"

    @property
    def pending(self) -> Path:
        return self.identity / "pending"

    @property
    def pending_config(self) -> Path:
        """The kiosk.toml of a first provisioning waiting for its certificate: put in place with it."""
        return self.pending / "kiosk.toml"

    @property
    def keys(self) -> Path:
        return self.etc / "keys"

    @property
    def sealing_key(self) -> Path:
        """The key-file backend's AES key: a copy of the rest of ``etc`` without it cannot open the device key."""
        return self.keys / "secrets.key"

    @staticmethod
    def key(folder: Path) -> Path:
        """The device's private key, sealed: the suffix tells ``tls.client_context`` to open it."""
        return folder / f"key{SEALED_SUFFIX}"

    @staticmethod
    def cert(folder: Path) -> Path:
        return folder / "cert.pem"

    @staticmethod
    def csr(folder: Path) -> Path:
        return folder / "request.csr"


@dataclass(frozen=True)
class Owner:
    """The kiosk user's ids when this process can hand files to it (root, and the user exists), else None."""

    ids: tuple[int, int] | None
    note: str

    @classmethod
    def resolve(cls, user: str) -> Owner:
        if os.geteuid() != 0:
            return cls(None, f"not root: ownership left to uid {os.geteuid()} (run as root to give keys to {user!r})")
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return cls(None, f"no user {user!r}: ownership left to root (create it, then provision again)")
        return cls((entry.pw_uid, entry.pw_gid), f"keys owned by {user!r}")

    def folder(self, path: Path, mode: int) -> None:
        """Make ``path`` with ``mode``, group the kiosk user's so the service can enter it."""
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        if self.ids is not None:
            os.chown(path, 0, self.ids[1])

    def secret(self, path: Path) -> None:
        """A file only the kiosk user (and root) may read: 0600, its owner the kiosk user."""
        path.chmod(0o600)
        if self.ids is not None:
            os.chown(path, *self.ids)

    def readable(self, path: Path, mode: int = 0o644) -> None:
        """A file root owns, readable by the service through its group (0640) or by anyone (0644)."""
        path.chmod(mode)
        if self.ids is not None:
            os.chown(path, 0, self.ids[1])
