"""Releases on the backend: artifacts packed from files, a signed manifest, and the chunks kiosks ask for.

A release lives in its own folder, ``{releases_dir}/{release_id}/``: ``release.json`` (the signed release, byte
for byte what is published) and one ``{artifact}.tar`` per artifact. The folder is written under a temporary
name and renamed into place, so ``fleet release list`` and ``fleet serve`` never see half a release, and a
release, once there, never changes: a kiosk resuming a download days later gets the same bytes.

Artifacts are tars built deterministically (sorted names, zero mtimes, owners and modes fixed), so packing the
same files twice gives the same sha256. A model artifact holds the model's files and a ``manifest.json`` with
its entry from the models manifest (labels, thresholds, runtime), which the kiosk merges into its own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.database import home
from fleet.signing import sign_release
from kiosk_link import wire

RELEASE_FILE = "release.json"
MODELS_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ArtifactSource:
    """An artifact before packing: its identity and its members as (name in the tar, bytes)."""

    name: str
    kind: Literal["model", "pack"]
    version: str
    members: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Release:
    signed: wire.SignedReleaseV1
    manifest: wire.ReleaseManifestV1


def default_releases_dir(db_path: str | Path) -> Path:
    """``FLEET_RELEASES``, else a ``releases`` folder beside the backend's database (``fleet.database.home``)."""
    return Path(os.environ.get("FLEET_RELEASES") or home(db_path) / "releases")


def model_source(model_file: Path) -> ArtifactSource:
    """The model stored in ``model_file``, described by its entry in the ``manifest.json`` beside it."""
    manifest = json.loads((model_file.parent / MODELS_MANIFEST).read_text(encoding="utf-8"))
    entry = next((e for e in manifest["models"] if e["file"] == model_file.name), None)
    if entry is None:
        raise ValueError(f"{model_file.name} has no entry in {model_file.parent / MODELS_MANIFEST}")
    files = [entry["file"], *entry.get("assets", {}).values()]
    members = [(name, (model_file.parent / name).read_bytes()) for name in files]
    # Signed here, a file that is not the one its entry describes (edited, truncated, a bank enrolled again
    # without its manifest) would only be refused by every kiosk: refuse it before it becomes a release.
    expected = {entry["file"]: entry.get("sha256")} | {
        entry.get("assets", {}).get(asset): digest for asset, digest in entry.get("assets_sha256", {}).items()
    }
    for name, data in members:
        if name in expected and hashlib.sha256(data).hexdigest() != expected[name]:
            raise ValueError(f"{model_file.parent / name} does not match the sha256 in its {MODELS_MANIFEST}")
    members.append((MODELS_MANIFEST, json.dumps({"models": [entry]}, indent=1, ensure_ascii=False).encode()))
    return ArtifactSource(entry["name"], "model", entry["version"], members)


def pack_source(pack_dir: Path) -> ArtifactSource:
    """A domain pack folder as one artifact, named and versioned by its ``pack.yaml``."""
    meta = yaml.safe_load((pack_dir / "pack.yaml").read_text(encoding="utf-8"))
    files = sorted(path for path in pack_dir.rglob("*") if path.is_file() and not path.name.startswith("."))
    members = [(path.relative_to(pack_dir).as_posix(), path.read_bytes()) for path in files]
    return ArtifactSource(str(meta["id"]), "pack", str(meta["version"]), members)


def deterministic_tar(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A tar whose bytes depend only on the members' names and contents."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def describe(name: str, kind: Literal["model", "pack"], version: str, data: bytes, chunk_size: int) -> wire.ArtifactV1:
    """The manifest entry of an artifact: its size, its sha256 and each chunk's."""
    chunks = [hashlib.sha256(data[at : at + chunk_size]).hexdigest() for at in range(0, len(data), chunk_size)]
    return wire.ArtifactV1(
        name=name,
        kind=kind,
        version=version,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        chunk_size=chunk_size,
        chunks=chunks,
    )


class ReleaseStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._manifests: dict[str, wire.ReleaseManifestV1] = {}  # releases never change once stored

    def manifest(self, release_id: str) -> wire.ReleaseManifestV1 | None:
        if release_id not in self._manifests:
            path = self.root / release_id / RELEASE_FILE
            if not path.is_file():
                return None
            signed = wire.parse(path.read_bytes(), wire.SignedReleaseV1)
            self._manifests[release_id] = wire.ReleaseManifestV1.model_validate(signed.manifest)
        return self._manifests[release_id]

    def signed_bytes(self, release_id: str) -> bytes | None:
        """The signed release exactly as stored, to publish; None when there is no such release."""
        path = self.root / release_id / RELEASE_FILE
        return path.read_bytes() if path.is_file() else None

    def releases(self) -> list[Release]:
        """Every complete release, oldest (lowest sequence) first."""
        found = []
        for path in self.root.glob(f"*/{RELEASE_FILE}"):
            signed = wire.parse(path.read_bytes(), wire.SignedReleaseV1)
            found.append(Release(signed, wire.ReleaseManifestV1.model_validate(signed.manifest)))
        return sorted(found, key=lambda release: release.manifest.sequence)

    def latest_per_channel(self) -> dict[str, Release]:
        return {release.manifest.channel: release for release in self.releases()}

    def create(
        self,
        sources: list[ArtifactSource],
        key: Ed25519PrivateKey,
        channel: str,
        min_kiosk_version: str,
        valid_for: timedelta,
        release_id: str | None = None,
        chunk_size: int = wire.MAX_CHUNK_BYTES,
    ) -> Release:
        """Pack, describe and sign a release with the next sequence number of the fleet, then store it."""
        sequence = max((release.manifest.sequence for release in self.releases()), default=0) + 1
        release_id = release_id or f"{channel}-{sequence}"
        final = self.root / release_id
        if final.exists():
            raise FileExistsError(f"release {release_id} exists")
        staging = self.root / f".staging-{release_id}-{os.getpid()}"
        staging.mkdir(parents=True)
        try:
            artifacts = []
            for source in sources:
                data = deterministic_tar(source.members)
                (staging / f"{source.name}.tar").write_bytes(data)
                artifacts.append(describe(source.name, source.kind, source.version, data, chunk_size))
            now = datetime.now(UTC).replace(microsecond=0)
            manifest = wire.ReleaseManifestV1(
                release_id=release_id,
                sequence=sequence,
                channel=channel,
                created_at=now,
                expires_at=now + valid_for,
                min_kiosk_version=min_kiosk_version,
                artifacts=artifacts,
            )
            signed = sign_release(manifest, key)
            (staging / RELEASE_FILE).write_bytes(signed.encode())
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Release(signed, manifest)

    def chunk(self, request: wire.UpdateRequestV1) -> wire.UpdateChunkV1:
        """The requested chunk, or the reason it cannot be served (the kiosk reports it and gives up)."""
        manifest = self.manifest(request.release_id)
        artifact = next((a for a in manifest.artifacts if a.name == request.artifact), None) if manifest else None
        error: Literal["unknown_release", "unknown_artifact", "bad_index"] | None = None
        data: str | None = None
        if manifest is None:
            error = "unknown_release"
        elif artifact is None:
            error = "unknown_artifact"
        elif request.index >= len(artifact.chunks):
            error = "bad_index"
        else:
            with (self.root / request.release_id / f"{artifact.name}.tar").open("rb") as handle:
                handle.seek(request.index * artifact.chunk_size)
                data = base64.b64encode(handle.read(artifact.chunk_size)).decode()
        return wire.UpdateChunkV1(
            release_id=request.release_id, artifact=request.artifact, index=request.index, data=data, error=error
        )
