"""Tickets on the wire: the ticket itself (the one shape of a ticket, the kiosk's store builds it), the backend's
acknowledgement, and the chunks of a ticket's files."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, TypeAdapter, ValidationError, model_validator

from kiosk_link.wire.core import MAX_CHUNK_BYTES, DeviceId, Sha256, TicketId, WireModel

TicketStatus = Literal["new", "open", "pending", "closed"]
HandoffState = Literal["coming", "pending", "closed"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("new", "open", "pending", "closed")


class TicketV1(WireModel):
    """One ticket, as the kiosk stores it (``TicketStore`` builds it) and queues it; ``id`` is the idempotency key.

    Timestamps are the kiosk's UTC times; ``inspection`` is a technician's photo as the defect model read it."""

    SCHEMA: ClassVar[str] = "kiosk.ticket/1"

    schema_id: Literal["kiosk.ticket/1"] = Field(default="kiosk.ticket/1", alias="schema")
    id: TicketId
    reference: str = Field(min_length=1, max_length=40)
    type: str = Field(min_length=1, max_length=64)
    priority: Literal["low", "normal", "high", "urgent"]
    status: TicketStatus
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


class HandoffUpdateV1(WireModel):
    """On ``handoff`` (-> device, QoS 1, not retained): a named colleague answered one of this kiosk's hand-off
    tickets from the staff console. ``coming``: they claimed it and are on their way (the kiosk's hand-off
    screen says so, by name, in the customer's language); ``pending``: they are waiting on something;
    ``closed``: done. The kiosk shows it only while the visit that filed ``ticket_id`` is still at the screen."""

    SCHEMA: ClassVar[str] = "kiosk.handoff/1"

    schema_id: Literal["kiosk.handoff/1"] = Field(default="kiosk.handoff/1", alias="schema")
    ticket_id: TicketId
    reference: str = Field(min_length=1, max_length=40)
    state: HandoffState
    colleague: str = Field(min_length=1, max_length=64)  # the name the customer is told ("Ana")
    at: datetime


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
