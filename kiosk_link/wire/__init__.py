"""Version 1 of the MQTT wire: topic names and payload schemas, what kiosk and backend agree on.

Read as one namespace (``from kiosk_link import wire``; ``wire.parse(payload, wire.TicketV1)``), so callers do
not care which domain module a model lives in: ``core`` (topics, ids, ``WireError``, ``parse``), ``tickets``,
``status`` (status, telemetry, analytics), ``config`` (remote configuration) and ``updates`` (signed releases).

Models forbid unknown fields: a new field is a new schema version. A ticket has exactly one shape, ``TicketV1``:
the kiosk's ``TicketStore`` builds it, stores it and queues its JSON, and the backend reads the same model.
"""

from kiosk_link.wire.config import RemoteConfigV1, SettingValue
from kiosk_link.wire.core import (
    DEVICE_TOPICS,
    FLEET_PREFIX,
    KIOSK_PREFIX,
    MAX_CHUNK_BYTES,
    MAX_PAYLOAD_BYTES,
    DeviceTopic,
    RejectReason,
    WireError,
    WireModel,
    check_size,
    device_filter,
    device_topic,
    parse,
    parse_device_topic,
    release_topic,
    shared_filter,
    validate_device_id,
)
from kiosk_link.wire.status import (
    AnalyticsV1,
    ConfigReportV1,
    CountedV1,
    LatencyV1,
    PackV1,
    StatusV1,
    TelemetryV1,
)
from kiosk_link.wire.tickets import (
    MAX_ATTACHMENT_BYTES,
    TICKET_STATUSES,
    AckV1,
    AttachmentV1,
    HandoffState,
    HandoffUpdateV1,
    TicketStatus,
    TicketV1,
    carried_attachments,
)
from kiosk_link.wire.updates import (
    ArtifactV1,
    ReleaseManifestV1,
    SignedReleaseV1,
    UpdateChunkV1,
    UpdateReason,
    UpdateRequestV1,
    UpdateState,
    UpdateStatusV1,
    canonical_json,
)

__all__ = [
    "DEVICE_TOPICS",
    "FLEET_PREFIX",
    "KIOSK_PREFIX",
    "MAX_ATTACHMENT_BYTES",
    "MAX_CHUNK_BYTES",
    "MAX_PAYLOAD_BYTES",
    "TICKET_STATUSES",
    "AckV1",
    "AnalyticsV1",
    "ArtifactV1",
    "AttachmentV1",
    "ConfigReportV1",
    "CountedV1",
    "DeviceTopic",
    "HandoffState",
    "HandoffUpdateV1",
    "LatencyV1",
    "PackV1",
    "RejectReason",
    "ReleaseManifestV1",
    "RemoteConfigV1",
    "SettingValue",
    "SignedReleaseV1",
    "StatusV1",
    "TelemetryV1",
    "TicketStatus",
    "TicketV1",
    "UpdateChunkV1",
    "UpdateReason",
    "UpdateRequestV1",
    "UpdateState",
    "UpdateStatusV1",
    "WireError",
    "WireModel",
    "canonical_json",
    "carried_attachments",
    "check_size",
    "device_filter",
    "device_topic",
    "parse",
    "parse_device_topic",
    "release_topic",
    "shared_filter",
    "validate_device_id",
]
