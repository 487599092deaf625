"""Signed updates on the wire: the release a channel (or one kiosk) is offered, its chunks, and how it went."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, StrictInt, model_validator

from kiosk_link.wire.core import MAX_CHUNK_BYTES, Count, Label, Name, Sha256, WireModel, WirePart

UpdateState = Literal["downloading", "verifying", "installing", "installed", "rolled_back", "failed", "refused"]
# Why an update was refused, failed or rolled back: codes a rollout can count, never free text.
UpdateReason = Literal[
    "malformed",  # the release or its manifest does not match the schema
    "bad_signature",  # not signed by the key this kiosk trusts (or altered after signing)
    "expired",
    "kiosk_too_old",  # the release needs a newer kiosk
    "wrong_channel",
    "oversize",  # an artifact larger than this kiosk accepts
    "replay",  # a release not newer than one this kiosk already saw
    "unavailable",  # the backend does not have the release or artifact
    "hash_mismatch",  # the whole artifact does not match its sha256 (its chunks did)
    "unpack_failed",
    "self_test_failed",
    "interrupted",  # the kiosk stopped during installation or self-test
]


def canonical_json(value: Any) -> bytes:
    """The bytes a release signature covers: sorted keys, no whitespace, UTF-8, so both ends produce the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class ArtifactV1(WirePart):
    """One file of a release, transferred in ``chunk_size`` pieces that each have their own sha256.

    A model artifact is a tar of the model's files and a ``manifest.json`` with their entries; a pack artifact
    is a tar of the pack's folder."""

    name: Name
    kind: Literal["model", "pack"]
    version: Label
    size: int = Field(gt=0)
    sha256: Sha256
    chunk_size: int = Field(gt=0, le=MAX_CHUNK_BYTES)
    chunks: list[Sha256] = Field(min_length=1)

    @model_validator(mode="after")
    def _chunks_cover_the_size(self) -> ArtifactV1:
        if len(self.chunks) != -(-self.size // self.chunk_size):
            raise ValueError(f"{len(self.chunks)} chunk hashes for {self.size} bytes in chunks of {self.chunk_size}")
        return self


class ReleaseManifestV1(WirePart):
    """What a release contains; only trusted once its signature (``SignedReleaseV1``) has been checked.

    ``sequence`` grows with every release of the fleet, whatever its channel: a kiosk refuses one that is not
    newer than the newest it has seen, so an old signed release replayed by anyone is refused."""

    release_id: Name
    sequence: StrictInt = Field(ge=1)
    channel: Name
    created_at: datetime
    expires_at: datetime
    min_kiosk_version: str = Field(pattern=r"^[0-9]+(\.[0-9]+){0,3}$")
    artifacts: list[ArtifactV1] = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _one_artifact_per_name(self) -> ReleaseManifestV1:
        names = [artifact.name for artifact in self.artifacts]
        if len(set(names)) != len(names):
            raise ValueError("artifact names repeat")
        if sum(artifact.kind == "pack" for artifact in self.artifacts) > 1:
            raise ValueError("more than one pack")
        return self


class SignedReleaseV1(WireModel):
    """Retained on ``fleet/v1/releases/{channel}``: a manifest, kept as the JSON object that was signed, and
    its Ed25519 signature (base64) over ``canonical_json(manifest)``."""

    SCHEMA: ClassVar[str] = "fleet.release/1"

    schema_id: Literal["fleet.release/1"] = Field(default="fleet.release/1", alias="schema")
    manifest: dict[str, Any]
    signature: str = Field(pattern=r"^[A-Za-z0-9+/]{86}==$")


class UpdateRequestV1(WireModel):
    """The kiosk asks for one chunk of one artifact; the backend answers on ``update/chunk``."""

    SCHEMA: ClassVar[str] = "kiosk.update_request/1"

    schema_id: Literal["kiosk.update_request/1"] = Field(default="kiosk.update_request/1", alias="schema")
    release_id: Name
    artifact: Name
    index: int = Field(ge=0)


class UpdateChunkV1(WireModel):
    """One chunk (base64 ``data``), or ``error`` when the backend cannot serve it."""

    SCHEMA: ClassVar[str] = "kiosk.update_chunk/1"

    schema_id: Literal["kiosk.update_chunk/1"] = Field(default="kiosk.update_chunk/1", alias="schema")
    release_id: Name
    artifact: Name
    index: int = Field(ge=0)
    data: str | None = Field(default=None, max_length=4 * -(-MAX_CHUNK_BYTES // 3))
    error: Literal["unknown_release", "unknown_artifact", "bad_index"] | None = None

    @model_validator(mode="after")
    def _data_or_error(self) -> UpdateChunkV1:
        if (self.data is None) == (self.error is None):
            raise ValueError("exactly one of data and error")
        return self


class UpdateStatusV1(WireModel):
    """Where the kiosk is with a release; ``done``/``total`` count chunks while downloading."""

    SCHEMA: ClassVar[str] = "kiosk.update_status/1"

    schema_id: Literal["kiosk.update_status/1"] = Field(default="kiosk.update_status/1", alias="schema")
    release_id: Name | None
    state: UpdateState
    reason: UpdateReason | None = None
    detail: str | None = Field(default=None, max_length=300)
    done: Count = 0
    total: Count = 0
