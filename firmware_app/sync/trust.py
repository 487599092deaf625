"""Whether a release manifest may be acted on: who signed it, and whether this kiosk should take it.

The signature is checked first, over the canonical bytes of the manifest object exactly as received, and only
then is the manifest read; so nothing an unsigned message says (its sequence number above all) can change what
the kiosk remembers. A verified manifest must then be for this kiosk's channel, unexpired, not need a newer
kiosk, and have no artifact above the size cap. Every refusal is an ``UpdateRefused`` with a wire reason code.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from packaging.version import Version
from pydantic import ValidationError

from firmware_app.config import UpdatesConfig
from firmware_app.sync import wire


class UpdateRefused(Exception):
    """The release (or a step of installing it) is refused; ``reason`` is reported, ``detail`` explains."""

    def __init__(self, reason: wire.UpdateReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: wire.UpdateReason = reason
        self.detail = detail


def load_public_key(path: Path) -> Ed25519PublicKey:
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


def check_applicable(
    manifest: wire.ReleaseManifestV1, config: UpdatesConfig, kiosk_version: str, now: datetime
) -> None:
    """``UpdateRefused`` unless this kiosk should install the (verified) release."""
    if manifest.channel != config.channel:
        raise UpdateRefused("wrong_channel", f"release for {manifest.channel!r}, kiosk on {config.channel!r}")
    if manifest.expires_at <= now:
        raise UpdateRefused("expired", f"expired at {manifest.expires_at.isoformat()}")
    if Version(kiosk_version) < Version(manifest.min_kiosk_version):
        raise UpdateRefused("kiosk_too_old", f"needs kiosk {manifest.min_kiosk_version}, this is {kiosk_version}")
    for artifact in manifest.artifacts:
        if artifact.size > config.max_artifact_bytes:
            raise UpdateRefused(
                "oversize", f"{artifact.name} is {artifact.size} bytes, the limit is {config.max_artifact_bytes}"
            )
