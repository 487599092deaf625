"""Version 1 of the MQTT wire: topic names and payload schemas, the one module kiosk and backend share.

Both ends build and parse topics only through the functions here, so a device id can never smuggle a wildcard
or an extra level into a topic, and every payload that arrives goes through ``parse``: size first (before any
JSON is decoded, so a huge message costs nothing), then JSON, then the ``schema`` field (``kind/version``),
then the pydantic model. Anything refused raises ``WireError`` with a short machine-readable ``reason`` that
callers count and log; its detail never repeats payload values, which may hold a customer's words.

Models forbid unknown fields: a new field is a new schema version, and a test keeps ``Ticket.to_wire()`` and
``TicketV1`` in step.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar, cast, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)

KIOSK_PREFIX = "kiosk/v1"
FLEET_PREFIX = "fleet/v1"
# Tickets carry a transcript but no photos (those travel apart, in chunks: AttachmentV1), so 256 KiB is
# generous; the same limit guards every topic either end subscribes to.
MAX_PAYLOAD_BYTES = 256 * 1024

DeviceTopic = Literal[
    "status",
    "telemetry",
    "tickets",
    "attachments",
    "acks",
    "config",
    "analytics",
    "update/request",
    "update/chunk",
    "update/status",
    "release",  # -> device: a release offered to this kiosk alone (a rollout), retained
]
DEVICE_TOPICS: tuple[DeviceTopic, ...] = get_args(DeviceTopic)
RejectReason = Literal["bad_topic", "oversized", "malformed", "wrong_schema", "unsupported_version", "invalid"]

# Letters, digits, '.', '_' and '-': stricter than MQTT needs (no '+', '#', '/', '$', spaces or NUL), so an id
# is also safe in file names, log lines and broker ACL patterns.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class WireError(ValueError):
    """A topic or payload refused on receipt; ``reason`` is what the caller counts, ``detail`` what it logs."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail


def _valid_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid id (1-64 letters, digits, '.', '_' or '-', starting alphanumeric)")
    return value


def validate_device_id(device_id: str) -> str:
    """The device id unchanged, or ValueError: it becomes a topic level, so wildcards and '/' are refused."""
    return _valid_name(device_id)


DeviceId = Annotated[str, AfterValidator(_valid_name)]


def _known_kind(kind: str) -> DeviceTopic:
    if kind not in DEVICE_TOPICS:
        raise ValueError(f"unknown device topic {kind!r}; expected one of {DEVICE_TOPICS}")
    return cast(DeviceTopic, kind)


def device_topic(device_id: str, kind: DeviceTopic) -> str:
    """``kiosk/v1/{device}/{kind}``."""
    return f"{KIOSK_PREFIX}/{validate_device_id(device_id)}/{_known_kind(kind)}"


def device_filter(kind: DeviceTopic) -> str:
    """The subscription matching ``kind`` from every device: ``kiosk/v1/+/{kind}``."""
    return f"{KIOSK_PREFIX}/+/{_known_kind(kind)}"


def shared_filter(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: the broker gives each message to one member of ``group``."""
    return f"$share/{_valid_name(group)}/{topic_filter}"


def release_topic(channel: str) -> str:
    """``fleet/v1/releases/{channel}``: where the signed release manifest of a channel is retained."""
    return f"{FLEET_PREFIX}/releases/{_valid_name(channel)}"


def parse_device_topic(topic: str) -> tuple[str, DeviceTopic]:
    """``(device_id, kind)`` of a ``kiosk/v1/{device}/{kind}`` topic, or ``WireError('bad_topic')``."""
    prefix, _, rest = topic.partition(f"{KIOSK_PREFIX}/")
    device_id, _, kind = rest.partition("/")
    if prefix == "" and _NAME.fullmatch(device_id) and kind in DEVICE_TOPICS:
        return device_id, cast(DeviceTopic, kind)
    raise WireError("bad_topic", f"not a {KIOSK_PREFIX} device topic: {topic[:120]!r}")


def _canonical_uuid(value: str) -> str:
    """Ticket ids are idempotency keys: any spelling of a UUID becomes the one the kiosk stores."""
    return str(uuid.UUID(value))


TicketId = Annotated[str, AfterValidator(_canonical_uuid)]


class WireModel(BaseModel):
    """A payload: frozen, no unknown fields, and a ``schema`` field naming its kind and version."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    SCHEMA: ClassVar[str]

    schema_id: str = Field(alias="schema")

    def encode(self) -> bytes:
        """The JSON bytes to publish, refused here rather than by the receiver if over the size limit."""
        payload = self.model_dump_json(by_alias=True).encode()
        check_size(payload)
        return payload


class TicketV1(WireModel):
    """One ticket (``firmware_app.tickets.store.Ticket.to_wire()``); ``id`` is the idempotency key."""

    SCHEMA: ClassVar[str] = "kiosk.ticket/1"

    schema_id: Literal["kiosk.ticket/1"] = Field(default="kiosk.ticket/1", alias="schema")
    id: TicketId
    reference: str = Field(min_length=1, max_length=40)
    type: str = Field(min_length=1, max_length=64)
    priority: Literal["low", "normal", "high", "urgent"]
    status: Literal["new", "open", "pending", "closed"]
    device_id: DeviceId
    session_id: str | None
    language: Literal["en", "zh"]
    intent: str | None
    summary: str
    entities: list[dict[str, Any]]
    sentiment: str | None
    transcript: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    attachments: list[str]
    inspection: dict[str, Any] | None = None


class AckV1(WireModel):
    """The backend has committed these tickets: the kiosk may now delete their outbox rows."""

    SCHEMA: ClassVar[str] = "kiosk.ack/1"

    schema_id: Literal["kiosk.ack/1"] = Field(default="kiosk.ack/1", alias="schema")
    ticket_ids: list[TicketId] = Field(min_length=1, max_length=1000)


class WirePart(BaseModel):
    """An object nested in a payload: as strict as the payload (frozen, no unknown fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Bounded to SQLite's 64-bit INTEGER: the backend stores counts in columns, and a larger one would fail the store
# instead of being refused by the wire (found by tests/test_sync_fuzz.py).
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class PackV1(WirePart):
    """The domain pack a kiosk serves: its id, version and content hash (two builds of one version differ)."""

    id: Label
    version: Label
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ConfigReportV1(WirePart):
    """What the kiosk did with the remote configuration of ``revision`` (None: the message was unreadable);
    ``reason`` says why it was refused."""

    revision: Count | None
    state: Literal["applied", "refused"]
    reason: str | None = Field(default=None, max_length=300)


class StatusV1(WireModel):
    """Retained on ``status``: "online" when a kiosk connects, "offline" as its last will or on a clean stop.

    ``versions`` names the kiosk software and each model (``model:NAME``), ``pack`` the pack it serves and
    ``config`` what became of the last remote configuration (the last will, composed when the client is made,
    carries what was known then)."""

    SCHEMA: ClassVar[str] = "kiosk.status/1"

    schema_id: Literal["kiosk.status/1"] = Field(default="kiosk.status/1", alias="schema")
    state: Literal["online", "offline"]
    versions: dict[str, str] = Field(default_factory=dict, max_length=32)
    pack: PackV1 | None = None
    config: ConfigReportV1 | None = None
    # The kiosk's ``[updates] channel`` (None: it takes no updates): rollouts target devices by it.
    channel: Annotated[str, AfterValidator(_valid_name)] | None = None


class LatencyV1(WirePart):
    """Recent samples of one latency (the kiosk keeps a bounded window), in milliseconds."""

    count: Count
    p50_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)


class TelemetryV1(WireModel):
    """Periodic health on ``telemetry``: the backend keeps each row (one per ``sent_at``) and the latest per device."""

    SCHEMA: ClassVar[str] = "kiosk.telemetry/1"

    schema_id: Literal["kiosk.telemetry/1"] = Field(default="kiosk.telemetry/1", alias="schema")
    sent_at: datetime
    uptime_s: float = Field(ge=0)
    versions: dict[str, str] = Field(default_factory=dict, max_length=32)
    queue_depth: Count  # outbox rows waiting for the backend's acknowledgement
    held: Count = 0  # of which the wire could never carry (kept for staff)
    latencies: dict[Label, LatencyV1] = Field(default_factory=dict, max_length=16)
    errors: dict[Label, Count] = Field(default_factory=dict, max_length=32)
    free_disk_bytes: Count | None = None
    config_revision: Count = 0


SettingKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]{1,64}){1,2}$")]
SettingValue = StrictBool | StrictInt | StrictFloat | Annotated[str, Field(max_length=200)]


class RemoteConfigV1(WireModel):
    """Retained on ``config`` (-> device): settings changed from the kiosk's own file, as dotted keys
    (``dialogue.idle_timeout_s``). The whole message is the desired state: a key left out returns to the
    kiosk's own value. Which keys may change live, and their bounds, are for the kiosk to judge (a refusal is
    reported in its status), so one backend can configure kiosks of different software versions."""

    SCHEMA: ClassVar[str] = "kiosk.config/1"

    schema_id: Literal["kiosk.config/1"] = Field(default="kiosk.config/1", alias="schema")
    revision: int = Field(ge=1)
    settings: dict[SettingKey, SettingValue] = Field(default_factory=dict, max_length=64)


class CountedV1(WirePart):
    """An intent, or a redacted and normalised out-of-scope question, and how often it came up."""

    name: str = Field(min_length=1, max_length=200)
    count: int = Field(ge=1)


class AnalyticsV1(WireModel):
    """Service analytics of one kiosk for one UTC day, sent again as the day goes on: the backend keeps the
    latest per (device, day), so a lost or repeated report changes nothing. Aggregates only, no transcripts."""

    SCHEMA: ClassVar[str] = "kiosk.analytics/1"

    schema_id: Literal["kiosk.analytics/1"] = Field(default="kiosk.analytics/1", alias="schema")
    day: date
    conversations: Count  # visits with at least one customer turn
    resolved: Count  # of which answered with no hand-off
    handoffs: Count  # of which handed to a colleague
    ratings: list[Count] = Field(default_factory=lambda: [0] * 5, min_length=5, max_length=5)  # 1..5 stars
    top_intents: list[CountedV1] = Field(default_factory=list, max_length=20)
    out_of_scope: list[CountedV1] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _outcomes_within_conversations(self) -> AnalyticsV1:
        if self.resolved + self.handoffs > self.conversations:
            raise ValueError("resolved + handoffs exceed conversations")
        return self


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, AfterValidator(_valid_name)]
# Chunks travel base64 in JSON (4/3 of the bytes): 128 KiB of data stays well under MAX_PAYLOAD_BYTES.
MAX_CHUNK_BYTES = 128 * 1024
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


# A ticket's file (a photo) is named by its path under the kiosk's data folder: 1-4 levels of plain names, so it
# is also a safe path under the backend's files folder (no '..', no absolute path).
_LEVEL = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
AttachmentName = Annotated[str, Field(pattern=rf"^{_LEVEL}(/{_LEVEL}){{0,3}}$")]
MAX_ATTACHMENT_BYTES = 32 * 1024 * 1024  # a photo is a few hundred KB; the cap guards the backend's disk
_ATTACHMENT_NAME: TypeAdapter[str] = TypeAdapter(AttachmentName)


def carried_attachments(names: list[Any]) -> list[str]:
    """The names in a ticket's ``attachments`` that the wire can carry: both ends wait for exactly these."""
    carried = []
    for name in names:
        try:
            carried.append(_ATTACHMENT_NAME.validate_python(name))
        except ValidationError:
            continue
    return carried


class AttachmentV1(WireModel):
    """One chunk of a ticket's file on ``attachments`` (chunk ``index`` of ``count``, ``MAX_CHUNK_BYTES`` each
    but the last, base64), with the whole file's ``size`` and ``sha256`` so the backend can check what it put
    together; or ``missing``: the kiosk no longer has the file, so the ticket travels without it."""

    SCHEMA: ClassVar[str] = "kiosk.attachment/1"

    schema_id: Literal["kiosk.attachment/1"] = Field(default="kiosk.attachment/1", alias="schema")
    ticket_id: TicketId
    name: AttachmentName
    missing: StrictBool = False
    size: int = Field(default=0, ge=0, le=MAX_ATTACHMENT_BYTES)
    sha256: Sha256 | None = None
    index: int = Field(default=0, ge=0)
    count: int = Field(default=0, ge=0)
    data: str | None = Field(default=None, max_length=4 * -(-MAX_CHUNK_BYTES // 3))

    @model_validator(mode="after")
    def _a_chunk_or_missing(self) -> AttachmentV1:
        if self.missing:
            if self.data is not None or self.sha256 is not None or self.size or self.count:
                raise ValueError("a missing attachment carries no data")
            return self
        if self.data is None or self.sha256 is None:
            raise ValueError("a chunk needs data and the file's sha256")
        if self.count != max(1, -(-self.size // MAX_CHUNK_BYTES)) or self.index >= self.count:
            raise ValueError(f"chunk {self.index} of {self.count} for {self.size} bytes")
        return self


M = TypeVar("M", bound=WireModel)


def check_size(payload: bytes | bytearray | str) -> None:
    """``WireError('oversized')`` past ``MAX_PAYLOAD_BYTES``; strings are measured as the UTF-8 they travel as."""
    size = len(payload.encode()) if isinstance(payload, str) else len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise WireError("oversized", f"{size} bytes > {MAX_PAYLOAD_BYTES}")


def parse(payload: bytes | bytearray, model: type[M]) -> M:
    """Validate a received payload as ``model``, or raise ``WireError`` saying why not."""
    check_size(payload)
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: nesting a few thousand deep fits well under the size limit and would otherwise escape
        # the receiver's callback (and stop ``fleet serve``'s loop).
        raise WireError("malformed", f"not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise WireError("malformed", f"a JSON {type(data).__name__}, not an object")
    schema = data.get("schema")
    if schema != model.SCHEMA:
        kind = model.SCHEMA.partition("/")[0]
        if isinstance(schema, str) and schema.partition("/")[0] == kind:
            raise WireError("unsupported_version", f"{schema[:40]!r}; this end reads {model.SCHEMA!r}")
        shown = repr(schema[:40]) if isinstance(schema, str) else type(schema).__name__
        raise WireError("wrong_schema", f"schema {shown}, expected {model.SCHEMA!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Field locations and error types only: pydantic's own message quotes the offending values.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
        raise WireError("invalid", f"{exc.error_count()} problem(s): {problems}") from None
