"""The fleet's certificate authority: it vouches for the broker to the kiosks and for each kiosk to the broker.

Mosquitto takes a client certificate's common name as the MQTT username (``use_identity_as_username``), and the
ACL allows a username only its own ``kiosk/v1/{name}/...`` topics, so a device's identity is exactly the CN the
CA signed: the CA refuses any name that is not a valid wire device id (a ``+``, ``#`` or ``/`` would widen the
ACL pattern) and the backend's own name. Keys are ECDSA P-256, which OpenSSL (and so Mosquitto and Python's
``ssl``) accepts for TLS on every supported platform, and small enough for a Pi. Private keys are created with
mode 0600 in one step (``durable.write_bytes_atomically``: a temporary file with that mode, then a rename), so
they are never readable by others, not even for a moment.

It is part of the link, not of the backend, because both ends act on it: ``fleet ca`` issues, and
``kiosk-provision`` makes a device's key and request (and signs them at once where the CA is at hand).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kiosk_link.durable import write_bytes_atomically
from kiosk_link.wire import validate_device_id

BACKEND_IDENTITY = "fleet-backend"  # the CN of `fleet serve`'s client certificate; no device may have it
CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"
BACKEND_CERT, BACKEND_KEY = f"{BACKEND_IDENTITY}.pem", f"{BACKEND_IDENTITY}-key.pem"
ISSUED_DIR = "issued"  # every device certificate the CA signed, by serial number: the fleet's record of them
CA_DAYS = 10 * 365
# A stolen device certificate stops working within this (there is no revocation list yet); rotate before.
DEVICE_DAYS = 365
# A certificate starts to be valid a little before it is made: a kiosk's clock a few minutes behind still accepts it.
CLOCK_SKEW = timedelta(minutes=5)

PrivateKey = ec.EllipticCurvePrivateKey


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write ``key`` (PEM, unencrypted: a service reads it unattended) with mode 0600 from the first byte, then
    rename it into place, so a reader sees the old key or the new one, never half of one."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_bytes_atomically(path, pem, 0o600)


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise ValueError("the subject must have exactly one common name")
    return str(names[0].value)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def device_csr(device_id: str, key: PrivateKey) -> x509.CertificateSigningRequest:
    """The request a kiosk sends the fleet: its id as CN, signed with its key (which never leaves the device)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(validate_device_id(device_id)))
    return builder.sign(key, hashes.SHA256())


@dataclass(frozen=True)
class FleetCa:
    """The CA's certificate and key, as ``fleet ca init`` left them in ``folder``."""

    folder: Path
    cert: x509.Certificate
    key: PrivateKey

    @classmethod
    def load(cls, folder: Path) -> FleetCa:
        if not (folder / CA_KEY).is_file():
            raise FileNotFoundError(f"no fleet CA in {folder} (`fleet ca init --out {folder}` makes one)")
        return cls(folder, load_cert(folder / CA_CERT), load_key(folder / CA_KEY))

    @classmethod
    def init(cls, folder: Path, hosts: tuple[str, ...], days: int = CA_DAYS) -> FleetCa:
        """A new CA in ``folder``, with the broker's server certificate for ``hosts`` (names or IP addresses)
        and the backend's client certificate; FileExistsError rather than replacing a CA devices trust."""
        if (folder / CA_KEY).exists():
            raise FileExistsError(f"{folder / CA_KEY} exists; devices may already trust this CA")
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        key = new_key()
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Kestrel kiosk fleet CA"))
            .issuer_name(_name("Kestrel kiosk fleet CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private_key(folder / CA_KEY, key)
        write_bytes_atomically(folder / CA_CERT, cert_pem(cert), 0o644)
        ca = cls(folder, cert, key)
        ca._issue_pair(SERVER_CERT, SERVER_KEY, "Kestrel kiosk broker", ExtendedKeyUsageOID.SERVER_AUTH, hosts)
        ca._issue_pair(BACKEND_CERT, BACKEND_KEY, BACKEND_IDENTITY, ExtendedKeyUsageOID.CLIENT_AUTH)
        return ca

    def _issue_pair(
        self, cert_name: str, key_name: str, common: str, usage: x509.ObjectIdentifier, hosts: tuple[str, ...] = ()
    ) -> None:
        key = new_key()
        cert = self.sign(_name(common), key.public_key(), usage, DEVICE_DAYS * 2, hosts)
        write_private_key(self.folder / key_name, key)
        write_bytes_atomically(self.folder / cert_name, cert_pem(cert), 0o644)

    def issue(
        self, csr: x509.CertificateSigningRequest, days: int = DEVICE_DAYS, not_before: datetime | None = None
    ) -> x509.Certificate:
        """A device certificate for a kiosk's CSR (``not_before`` is for tests of expired certificates), kept
        under ``issued/``; ValueError for a forged request or a name that is not a device id."""
        if not csr.is_signature_valid:
            raise ValueError("the request's signature does not match its key")
        device_id = validate_device_id(common_name(csr))
        if device_id == BACKEND_IDENTITY:
            raise ValueError(f"{BACKEND_IDENTITY!r} is the backend's identity, not a device's")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("device keys are EC (P-256)")
        cert = self.sign(_name(device_id), public_key, ExtendedKeyUsageOID.CLIENT_AUTH, days, not_before=not_before)
        issued = self.folder / ISSUED_DIR
        issued.mkdir(exist_ok=True)
        write_bytes_atomically(issued / f"{device_id}-{cert.serial_number:x}.pem", cert_pem(cert), 0o644)
        return cert

    def sign(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        usage: x509.ObjectIdentifier,
        days: int,
        hosts: tuple[str, ...] = (),
        not_before: datetime | None = None,
    ) -> x509.Certificate:
        start = not_before or datetime.now(UTC) - CLOCK_SKEW
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), False)
        return builder.sign(self.key, hashes.SHA256())


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    """An IP address SAN for an address (a kiosk checks the broker's name against it), else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
