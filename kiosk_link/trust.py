"""Who signed a release manifest: the fleet's Ed25519 release key, loaded here, and the check of its signature.

The signature is checked first, over the canonical bytes of the manifest object exactly as received, and only
then is the manifest read; so nothing an unsigned message says (its sequence number above all) can change what
the kiosk remembers. Whether a verified release suits one kiosk (its channel, version and size cap) is the
kiosk's own judgement (``firmware_app.sync.updates``), so nothing here reads a kiosk's configuration. Every
refusal is an ``UpdateRefused`` with a wire reason code.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from kiosk_link import wire


class UpdateRefused(Exception):
    """The release (or a step of installing it) is refused; ``reason`` is reported, ``detail`` explains."""

    def __init__(self, reason: wire.UpdateReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: wire.UpdateReason = reason
        self.detail = detail


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The fleet's release key from its PEM file; ValueError for any other kind of key, so a wrong file fails
    where it is configured (a kiosk's start, provisioning), not at the first release."""
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def verified_manifest(payload: bytes | bytearray, key: Ed25519PublicKey) -> wire.ReleaseManifestV1:
    """The manifest of a signed release, once the signature over it checks out."""
    try:
        signed = wire.parse(payload, wire.SignedReleaseV1)
    except wire.WireError as exc:
        raise UpdateRefused("malformed", f"release {exc.reason}: {exc.detail}") from None
    try:
        key.verify(base64.b64decode(signed.signature), wire.canonical_json(signed.manifest))
    except (InvalidSignature, ValueError):
        raise UpdateRefused("bad_signature", "the signature does not match the manifest and the trusted key") from None
    try:
        return wire.ReleaseManifestV1.model_validate(signed.manifest)
    except ValidationError as exc:  # signed, yet not a manifest this kiosk understands
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:3])
        raise UpdateRefused("malformed", f"manifest: {problems}") from None
