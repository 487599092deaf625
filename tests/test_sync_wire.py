"""The wire schema: topics, the kiosk's ticket as the backend reads it, and every way a payload is refused."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from firmware_app.events import Inspection, TicketRequested
from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore
from kiosk_link import wire


def ticket_request(**overrides: object) -> TicketRequested:
    fields: dict[str, object] = {
        "ticket_id": str(uuid.uuid4()),
        "ticket_type": "handoff",
        "priority": "normal",
        "summary": "Customer needs a colleague.",
        "language": "en",
    }
    return TicketRequested(**(fields | overrides))  # type: ignore[arg-type]


@pytest.fixture
def tickets(tmp_path: Path) -> TicketStore:
    return TicketStore(open_database(tmp_path / "kiosk.db"), "kiosk-wire-01")


def test_topics_are_built_and_parsed_by_one_module() -> None:
    assert wire.device_topic("kiosk-branch-12.01", "tickets") == "kiosk/v1/kiosk-branch-12.01/tickets"
    assert wire.parse_device_topic("kiosk/v1/kiosk-branch-12.01/acks") == ("kiosk-branch-12.01", "acks")
    assert wire.device_filter("status") == "kiosk/v1/+/status"
    assert wire.shared_filter("fleet", wire.device_filter("tickets")) == "$share/fleet/kiosk/v1/+/tickets"
    assert wire.release_topic("stable") == "fleet/v1/releases/stable"


@pytest.mark.parametrize("device_id", ["", "a/b", "kiosk+", "kiosk#", "$SYS", "has space", "-lead", "x" * 65, "é"])
def test_device_ids_that_would_change_a_topic_are_refused(device_id: str) -> None:
    with pytest.raises(ValueError, match="not a valid id"):
        wire.device_topic(device_id, "tickets")


@pytest.mark.parametrize(
    "topic",
    ["kiosk/v1/k1/unknown", "kiosk/v2/k1/tickets", "kiosk/v1/a/b/tickets", "kiosk/v1/+/tickets", "fleet/v1/k1/acks"],
)
def test_topics_outside_the_schema_are_refused(topic: str) -> None:
    with pytest.raises(wire.WireError) as refused:
        wire.parse_device_topic(topic)
    assert refused.value.reason == "bad_topic"


def test_the_kiosks_ticket_is_what_the_backend_reads(tickets: TicketStore) -> None:
    """The payload the kiosk queues parses, as the backend parses it, into the very ticket the kiosk stored."""
    inspection = Inspection("steel_surface", "m", "1", "scratches", 0.9, True, 0.9)
    for request in (ticket_request(), ticket_request(inspection=inspection, attachments=("photos/a.jpg",))):
        created = tickets.create(request)
        ticket = tickets.get(created.ticket_id)
        assert ticket is not None
        (payload,) = tickets.db.execute("SELECT payload FROM outbox WHERE ticket_id = ?", [ticket.id]).fetchone()
        parsed = wire.parse(payload.encode(), wire.TicketV1)
        assert parsed == ticket
        assert parsed.id == ticket.id and parsed.device_id == "kiosk-wire-01"
        assert parsed.inspection == ticket.inspection and parsed.attachments == ticket.attachments


def test_ticket_ids_are_canonical_so_any_spelling_is_the_same_ticket() -> None:
    ticket_id = uuid.uuid4()
    ack = wire.parse(json.dumps({"schema": "kiosk.ack/1", "ticket_ids": [str(ticket_id).upper()]}).encode(), wire.AckV1)
    assert ack.ticket_ids == [str(ticket_id)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b"[1, 2]", "malformed"),
        (b'{"ticket_ids": ["x"]}', "wrong_schema"),
        (b'{"schema": "kiosk.status/1", "state": "online"}', "wrong_schema"),
        (b'{"schema": "kiosk.ack/2", "ticket_ids": []}', "unsupported_version"),
        (b'{"schema": "kiosk.ack/1", "ticket_ids": ["not-a-uuid"]}', "invalid"),
        (b'{"schema": "kiosk.ack/1", "ticket_ids": []}', "invalid"),
        (b'{"schema": "kiosk.ack/1", "ticket_ids": ["%s"], "extra": 1}' % str(uuid.uuid4()).encode(), "invalid"),
        (b" " * (wire.MAX_PAYLOAD_BYTES + 1), "oversized"),
    ],
)
def test_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError) as refused:
        wire.parse(payload, wire.AckV1)
    assert refused.value.reason == reason


def test_refusals_never_quote_the_payload() -> None:
    """Ticket payloads hold customers' words: the logged detail names fields, not values."""
    bad = {"schema": "kiosk.ticket/1", "id": str(uuid.uuid4()), "summary": "card 4111 1111 1111 1111"}
    with pytest.raises(wire.WireError) as refused:
        wire.parse(json.dumps(bad).encode(), wire.TicketV1)
    assert refused.value.reason == "invalid" and "4111" not in str(refused.value)


def test_encode_refuses_what_the_receiver_would() -> None:
    with pytest.raises(wire.WireError) as refused:
        wire.StatusV1(state="online", versions={"kiosk": "x" * wire.MAX_PAYLOAD_BYTES}).encode()
    assert refused.value.reason == "oversized"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
schemas = st.sampled_from(["kiosk.ticket/1", "kiosk.ticket/9", "kiosk.ack/1", "kiosk.status/1", "other", 7])


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda schema, body: json.dumps({**body, "schema": schema}).encode(),
        schemas,
        st.dictionaries(
            st.sampled_from(["id", "ticket_ids", "state", "device_id", "versions", "priority"]), json_values, max_size=4
        ),
    ),
    model=st.sampled_from([wire.TicketV1, wire.AckV1, wire.StatusV1]),
)
def test_any_payload_is_parsed_or_refused_with_a_wire_error(payload: bytes, model: type[wire.WireModel]) -> None:
    try:
        parsed = wire.parse(payload, model)
    except wire.WireError as refused:
        assert refused.reason in ("oversized", "malformed", "wrong_schema", "unsupported_version", "invalid")
    else:
        assert isinstance(parsed, model)


@given(st.text(max_size=80))
def test_any_topic_is_parsed_or_refused_with_a_wire_error(topic: str) -> None:
    try:
        device_id, kind = wire.parse_device_topic(topic)
    except wire.WireError as refused:
        assert refused.reason == "bad_topic"
    else:
        assert wire.device_topic(device_id, kind) == topic
