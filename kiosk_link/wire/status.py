"""How a kiosk is doing, on the wire: its retained status, its periodic telemetry and its daily service analytics."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from kiosk_link.wire.core import Count, Label, Name, Sha256, WireModel, WirePart


class PackV1(WirePart):
    """The domain pack a kiosk serves: its id, version and content hash (two builds of one version differ)."""

    id: Label
    version: Label
    sha256: Sha256


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
    channel: Name | None = None


class LatencyV1(WirePart):
    """Recent samples of one latency (the kiosk keeps a bounded window), in milliseconds."""

    count: Count
    p50_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)


class _Telemetry(WireModel):
    """What every version of the telemetry carries."""

    sent_at: datetime
    uptime_s: float = Field(ge=0)
    versions: dict[str, str] = Field(default_factory=dict, max_length=32)
    queue_depth: Count  # outbox rows waiting for the backend's acknowledgement
    held: Count = 0  # of which the wire could never carry (kept for staff)
    latencies: dict[Label, LatencyV1] = Field(default_factory=dict, max_length=16)
    errors: dict[Label, Count] = Field(default_factory=dict, max_length=32)
    free_disk_bytes: Count | None = None
    config_revision: Count = 0


class TelemetryV1(_Telemetry):
    """Periodic health on ``telemetry``: the backend keeps each row (one per ``sent_at``) and the latest per device."""

    SCHEMA: ClassVar[str] = "kiosk.telemetry/1"

    schema_id: Literal["kiosk.telemetry/1"] = Field(default="kiosk.telemetry/1", alias="schema")


class DegradedV1(WirePart):
    """A capability of the kiosk running on its fallback (``firmware_app.health``): which, why, what serves
    instead, and since when."""

    capability: Label
    reason: str = Field(default="", max_length=300)
    fallback: Label
    since: datetime


class TelemetryV2(_Telemetry):
    """``TelemetryV1`` and the capabilities running ``degraded``. A kiosk sends it only while something is degraded
    (``TelemetryV1`` otherwise), so a backend that reads only version 1 misses nothing of a healthy kiosk; a
    backend that reads version 2 reads version 1 as a version 2 with nothing degraded (``READS``)."""

    SCHEMA: ClassVar[str] = "kiosk.telemetry/2"
    READS: ClassVar[tuple[type[WireModel], ...]] = (TelemetryV1,)

    schema_id: Literal["kiosk.telemetry/2"] = Field(default="kiosk.telemetry/2", alias="schema")
    degraded: list[DegradedV1] = Field(default_factory=list, max_length=16)


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
