"""The fleet's release signing key: Ed25519, generated once, kept by the fleet manager, never sent anywhere.

Kiosks hold only the public half (provisioning writes it to the path in their ``[updates] public_key``) and
install nothing that it does not verify. The private key file is created with mode 0600 in one step
(``O_CREAT | O_EXCL``), so it is never readable by others, not even for a moment, and never overwritten.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_link.wire import ReleaseManifestV1, SignedReleaseV1, canonical_json

PRIVATE_KEY_NAME = "release-signing.key"
PUBLIC_KEY_NAME = "release-signing.pub"


def generate_keys(out_dir: Path) -> tuple[Path, Path]:
    """Write a new key pair into ``out_dir``; FileExistsError rather than replacing a key kiosks already trust."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_KEY_NAME, out_dir / PUBLIC_KEY_NAME
    if public_path.exists():
        raise FileExistsError(f"{public_path} exists; kiosks may already trust it")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path.write_bytes(public_pem)
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def sign_release(manifest: ReleaseManifestV1, key: Ed25519PrivateKey) -> SignedReleaseV1:
    """The manifest as a JSON object and the signature over its canonical bytes, ready to publish."""
    body = manifest.model_dump(mode="json")
    signature = key.sign(canonical_json(body))
    return SignedReleaseV1(manifest=body, signature=base64.b64encode(signature).decode())
