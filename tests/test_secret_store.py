"""Secrets at rest: the key-file round trip, the detection fallback, systemd's credentials, and systemd-creds
itself where this machine already has a key for it (the test never makes one: that would change the host)."""

from __future__ import annotations

import datetime
import os
import shutil
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk_link import secret_store
from kiosk_link.secret_store import SecretError, decrypt_to_memory, detect_backend, encrypt_file, secret_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def self_signed() -> tuple[bytes, bytes]:
    """A device certificate and its private key (PEM), as provisioning would leave them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk-secret-01")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), pem


def tls_key() -> bytes:
    return self_signed()[1]


def test_a_key_file_round_trip_keeps_the_plain_secret_off_the_disk(tmp_path: Path) -> None:
    plain, sealed, key = tmp_path / "tls.key", tmp_path / "data" / "tls.key.sealed", tmp_path / "keys" / "secrets.key"
    secret = tls_key()
    plain.write_bytes(secret)
    assert encrypt_file(plain, sealed, "tls-key", key, backend="keyfile") == "keyfile"
    assert not plain.exists() and secret not in sealed.read_bytes()
    assert (mode(sealed), mode(key), mode(key.parent)) == (0o600, 0o600, 0o700)
    assert decrypt_to_memory(sealed, "tls-key", key) == secret


def test_a_copied_data_dir_a_swapped_name_or_a_damaged_file_do_not_open(tmp_path: Path) -> None:
    sealed, key = tmp_path / "token.sealed", tmp_path / "keys" / "secrets.key"
    secret_store.encrypt_bytes(b"fleet-token", sealed, "token", key, backend="keyfile")
    with pytest.raises(SecretError, match="no secrets key"):
        decrypt_to_memory(sealed, "token", tmp_path / "elsewhere" / "secrets.key")  # the data dir alone
    with pytest.raises(SecretError, match="wrong key, name or damaged"):
        decrypt_to_memory(sealed, "tls-key", key)
    damaged = bytearray(sealed.read_bytes())
    damaged[-1] ^= 1
    sealed.write_bytes(bytes(damaged))
    with pytest.raises(SecretError, match="wrong key, name or damaged"):
        decrypt_to_memory(sealed, "token", key)


def test_ssl_loads_the_key_from_memory(tmp_path: Path) -> None:
    """``ssl`` only reads files: it gets a memfd, and the cert chain check proves it read the real key."""
    sealed, key = tmp_path / "tls.key.sealed", tmp_path / "keys" / "secrets.key"
    cert_pem, key_pem = self_signed()
    (tmp_path / "tls.crt").write_bytes(cert_pem)
    secret_store.encrypt_bytes(key_pem, sealed, "tls-key", key, backend="keyfile")
    with secret_path(sealed, "tls-key", key) as path:
        assert str(path).startswith("/proc/self/fd/")
        ssl.create_default_context(ssl.Purpose.SERVER_AUTH).load_cert_chain(tmp_path / "tls.crt", path)


def test_a_credential_systemd_gave_the_service_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "tls-key").write_bytes(b"from systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    assert decrypt_to_memory(tmp_path / "not-there.sealed", "tls-key") == b"from systemd"
    with secret_path(tmp_path / "not-there.sealed", "tls-key") as path:
        assert path == tmp_path / "creds" / "tls-key"


def test_detection_falls_back_to_the_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemd-creds
    assert detect_backend() == "keyfile"
    fake = tmp_path / "systemd-creds"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert detect_backend() == "systemd-creds"
    monkeypatch.setattr(os, "geteuid", lambda: 999)  # the kiosk's own user cannot use systemd's keys
    assert detect_backend() == "keyfile"


def test_a_systemd_creds_failure_says_how_the_service_gets_its_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "systemd-creds"
    fake.write_text("#!/bin/sh\necho 'Failed to determine local credential host secret' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "tls.key.cred").write_bytes(b"not ours")
    with pytest.raises(SecretError, match="LoadCredentialEncrypted"):
        decrypt_to_memory(tmp_path / "tls.key.cred", "tls-key")


@pytest.mark.skipif(
    not (shutil.which("systemd-creds") and os.geteuid() == 0 and Path("/var/lib/systemd/credential.secret").exists()),
    reason="needs root, systemd-creds and an existing host credential key",
)
def test_systemd_creds_round_trip(tmp_path: Path) -> None:
    sealed = tmp_path / "token.cred"
    assert secret_store.encrypt_bytes(b"fleet-token", sealed, "token", backend="systemd-creds") == "systemd-creds"
    assert b"fleet-token" not in sealed.read_bytes()
    assert decrypt_to_memory(sealed, "token") == b"fleet-token"
