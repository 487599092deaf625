"""The kiosk's secrets at rest: encrypted where the platform allows it.

What is secret: the device's TLS client key (its identity to the broker) and any token provisioning adds.
The staff PIN is stored only as a sha256 and the update key is public, so neither needs this.

Two ways, chosen at runtime (``detect_backend``):

- ``systemd-creds`` (systemd >= 250, run as root: provisioning): ``systemd-creds encrypt --with-key=auto``
  seals the secret with the TPM2 when the device has one, and with the host key
  (``/var/lib/systemd/credential.secret``, root only) in any case. The kiosk's service never decrypts it
  itself: its unit says ``LoadCredentialEncrypted=NAME:PATH`` and systemd puts the plain secret in
  ``$CREDENTIALS_DIRECTORY/NAME``, a non-swappable ramfs only that service can read. With a TPM2 the file is
  useless on another machine, even with the SD card's whole contents.
- ``keyfile`` (no systemd-creds, or not root): AES-256-GCM with a random key in a file of its own (mode 0600,
  in a 0700 directory kept apart from the data dir, e.g. ``/etc/kiosk/keys``); the secret's name is bound in
  as associated data, so one sealed file cannot be swapped for another. This protects a copy of the data
  dir or a backup that leaves the key behind; it does not protect against root on the device, or anyone who
  takes the whole disk, since the key sits beside it.

The plain secret is only ever in memory (``decrypt_to_memory``); code that needs a path (``ssl`` loads keys
from files) gets one that lives in memory (``secret_path``): systemd's credential file, or a memfd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk_link.durable import fsync_folder, write_bytes_atomically

Backend = Literal["systemd-creds", "keyfile"]
DEFAULT_KEY_PATH = Path("/etc/kiosk/keys/secrets.key")
MAGIC = b"KSEC1\n"  # a keyfile-sealed file starts so; anything else is systemd-creds output
_NONCE_BYTES = 12
_KEY_BYTES = 32
_TIMEOUT_S = 30


class SecretError(RuntimeError):
    """A secret that cannot be sealed or opened here; the message says what to fix."""


def detect_backend() -> Backend:
    """systemd-creds where the binary exists and we are root (its keys are root's); else the key file."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return "systemd-creds" if root and shutil.which("systemd-creds") else "keyfile"


def encrypt_bytes(
    secret: bytes, out: Path, name: str, key_path: Path = DEFAULT_KEY_PATH, backend: Backend | None = None
) -> Backend:
    """Seal ``secret`` into ``out`` (mode 0600, written atomically) under ``name``; returns the backend used."""
    backend = backend or detect_backend()
    if backend == "systemd-creds":
        sealed = _systemd_creds("encrypt", f"--name={name}", "--with-key=auto", "-", "-", data=secret)
    else:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = MAGIC + nonce + AESGCM(_key(key_path, create=True)).encrypt(nonce, secret, _aad(name))
    write_bytes_atomically(out, sealed)  # 0600 from the first byte
    return backend


def encrypt_file(
    plain: Path, out: Path, name: str, key_path: Path = DEFAULT_KEY_PATH, backend: Backend | None = None
) -> Backend:
    """Seal the file ``plain`` into ``out`` and remove ``plain`` (provisioning: the plain key never stays)."""
    used = encrypt_bytes(plain.read_bytes(), out, name, key_path, backend)
    plain.unlink()
    return used


def decrypt_to_memory(path: Path, name: str, key_path: Path = DEFAULT_KEY_PATH) -> bytes:
    """The plain secret: from systemd's credentials when the service was given it, else by opening ``path``."""
    given = _credential(name)
    if given is not None:
        return given.read_bytes()
    sealed = path.read_bytes()
    if not sealed.startswith(MAGIC):
        return _systemd_creds("decrypt", f"--name={name}", "-", "-", data=sealed)
    nonce, ciphertext = sealed[len(MAGIC) : len(MAGIC) + _NONCE_BYTES], sealed[len(MAGIC) + _NONCE_BYTES :]
    aes = AESGCM(_key(key_path, create=False))
    try:
        return aes.decrypt(nonce, ciphertext, _aad(name))
    except Exception as exc:  # cryptography's InvalidTag says nothing more: wrong key, name or a damaged file
        raise SecretError(f"{path}: cannot open secret {name!r} with {key_path} (wrong key, name or damaged)") from exc


@contextmanager
def secret_path(path: Path, name: str, key_path: Path = DEFAULT_KEY_PATH) -> Iterator[Path]:
    """A path to the plain secret that never touches the disk, for APIs that only read files (``ssl``): the
    credential systemd gave the service, or a memfd for as long as the ``with`` block lasts."""
    given = _credential(name)
    if given is not None:
        yield given
        return
    handle = os.memfd_create(f"kiosk-{name}", os.MFD_CLOEXEC)
    try:
        os.write(handle, decrypt_to_memory(path, name, key_path))
        yield Path(f"/proc/self/fd/{handle}")
    finally:
        os.close(handle)


def _credential(name: str) -> Path | None:
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    candidate = Path(folder) / name if folder else None
    return candidate if candidate is not None and candidate.is_file() else None


def _aad(name: str) -> bytes:
    return MAGIC + name.encode()


def _key(key_path: Path, create: bool) -> bytes:
    """The AES key, made on first use (O_EXCL: two provisioning runs cannot race to different keys)."""
    if create and not key_path.exists():
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            handle = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, "wb") as file:
                file.write(AESGCM.generate_key(bit_length=_KEY_BYTES * 8))
                file.flush()
                os.fsync(file.fileno())
            fsync_folder(key_path.parent)
    try:
        key = key_path.read_bytes()
    except FileNotFoundError:
        raise SecretError(f"no secrets key at {key_path}: provision the device first") from None
    if len(key) != _KEY_BYTES:
        raise SecretError(f"{key_path} is not a {_KEY_BYTES}-byte key")
    return key


def _systemd_creds(*args: str, data: bytes) -> bytes:
    try:
        done = subprocess.run(
            ["systemd-creds", *args], input=data, capture_output=True, timeout=_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SecretError(f"systemd-creds {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        hint = " (as the service: LoadCredentialEncrypted=NAME:PATH in its unit)" if args[0] == "decrypt" else ""
        raise SecretError(f"systemd-creds {args[0]} failed: {detail[-1] if detail else done.returncode}{hint}")
    return done.stdout
