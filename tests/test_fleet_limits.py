"""The backend against an enrolled device that misbehaves (issue 18): what ``fleet serve``'s writer does with each
message, run without a broker (what it would publish is recorded).

A device's chunks are kept only for a ticket that device filed, up to a quota of incomplete files per device,
and whatever stays incomplete is swept after ``PARTIAL_MAX_AGE_S``; a ticket id already stored for another
device is refused, that device's row is left as it was, and the sender is never told it is stored. (That a
device cannot take over another's client id is shown against the generated broker in ``test_provisioning``.)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from firmware_app.store import open_database
from firmware_app.sync.attachments import attachment_messages
from firmware_app.tickets.store import TicketStore
from fleet.files import PARTIAL, PARTIAL_MAX_AGE_S, AttachmentFiles, QuotaExceeded
from fleet.ingest import Ingestor
from fleet.store import FleetStore
from kiosk_link import wire
from tests import test_sync_fuzz as fuzz_tests
from tests.mosquitto import free_port
from tests.test_sync_wire import ticket_request

A, B = "kiosk-a", "kiosk-b"
PHOTO = "photos/a.jpg"


class Published(fuzz_tests.Published):
    """The backend client's ``publish`` stood in for, with the acknowledgements it sent read back."""

    def acks(self, device_id: str) -> list[list[str]]:
        """The ticket ids of each acknowledgement sent to ``device_id``."""
        return [wire.parse(payload, wire.AckV1).ticket_ids for payload in self.on(wire.device_topic(device_id, "acks"))]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[Ingestor, Published]]:
    store = FleetStore(tmp_path / "fleet" / "fleet.db")
    ingestor = Ingestor(store, "127.0.0.1", free_port())
    published = Published()
    ingestor._client.publish = published  # type: ignore[method-assign]
    yield ingestor, published
    store.close()


def message(device_id: str, kind: wire.DeviceTopic, payload: bytes) -> mqtt.MQTTMessage:
    received = mqtt.MQTTMessage(topic=wire.device_topic(device_id, kind).encode())
    received.payload = payload
    return received


def feed(ingestor: Ingestor, *messages: mqtt.MQTTMessage) -> None:
    """One batch of the writer thread: each message handled in turn, then the batch's tickets committed."""
    batch: list[tuple[wire.TicketV1, bytes]] = []
    for received in messages:
        ingestor._handle(received, batch)
    ingestor._commit(batch)


def filed(tmp_path: Path, device_id: str, *attachments: str) -> wire.TicketV1:
    """A ticket as ``device_id``'s kiosk files and publishes it."""
    db = open_database(tmp_path / device_id / "kiosk.db")
    created = TicketStore(db, device_id).create(ticket_request(attachments=attachments))
    payload: str = db.execute("SELECT payload FROM outbox WHERE ticket_id = ?", [created.ticket_id]).fetchone()[0]
    db.close()
    return wire.parse(payload.encode(), wire.TicketV1)


def chunks(tmp_path: Path, ticket_id: str, size: int, name: str = PHOTO) -> list[mqtt.MQTTMessage]:
    """The kiosk's chunks of a ``size``-byte file (each ``wire.MAX_CHUNK_BYTES`` but the last), as any device's."""
    folder = tmp_path / f"data-{uuid.uuid4()}"
    (folder / name).parent.mkdir(parents=True)
    (folder / name).write_bytes(os.urandom(size))
    return [message(A, "attachments", payload) for payload in attachment_messages(folder, ticket_id, name)]


def first_chunk(tmp_path: Path, size: int = 2 * wire.MAX_CHUNK_BYTES) -> wire.AttachmentV1:
    """The first chunk of a file of a new ticket id: never complete on its own."""
    return wire.parse(chunks(tmp_path, str(uuid.uuid4()), size)[0].payload, wire.AttachmentV1)


def sent_by(device_id: str, messages: list[mqtt.MQTTMessage]) -> list[mqtt.MQTTMessage]:
    return [message(device_id, "attachments", bytes(received.payload)) for received in messages]


def partial_files(root: Path) -> list[Path]:
    return sorted(path for path in (root / PARTIAL).rglob("*") if path.is_file())


def test_chunks_for_a_ticket_nobody_filed_are_not_kept(backend: tuple[Ingestor, Published], tmp_path: Path) -> None:
    ingestor, published = backend
    for _ in range(3):  # what filled 26 MB in 5 s: the first chunks of files that never complete
        feed(ingestor, *chunks(tmp_path, str(uuid.uuid4()), 3 * wire.MAX_CHUNK_BYTES)[:2])
    assert partial_files(ingestor.files.root) == []
    assert ingestor.stats.rejected["unknown_ticket"] == 6 and ingestor.stats.files == 0
    assert published.messages == []


def test_chunks_for_another_devices_ticket_are_not_kept(backend: tuple[Ingestor, Published], tmp_path: Path) -> None:
    ingestor, published = backend
    ticket = filed(tmp_path, A, PHOTO)
    feed(ingestor, message(A, "tickets", ticket.encode()))
    assert published.acks(A) == []  # its photo has not arrived
    photo = chunks(tmp_path, ticket.id, 2 * wire.MAX_CHUNK_BYTES + 10)
    missing = message(B, "attachments", wire.AttachmentV1(ticket_id=ticket.id, name=PHOTO, missing=True).encode())
    feed(ingestor, *sent_by(B, photo), missing)
    assert ingestor.stats.rejected["unknown_ticket"] == len(photo) + 1
    assert partial_files(ingestor.files.root) == [] and not (ingestor.files.root / B).exists()
    assert ingestor.store.tickets()[0]["files"] == {PHOTO: "pending"}  # B could neither store it nor call it lost
    feed(ingestor, *photo)  # A's own
    assert published.acks(A) == [[ticket.id]] and published.acks(B) == []
    assert ingestor.store.tickets()[0]["files"] == {PHOTO: "stored"}


def test_a_ticket_and_its_chunks_in_one_batch_are_stored_and_acknowledged(
    backend: tuple[Ingestor, Published], tmp_path: Path
) -> None:
    """The kiosk publishes a ticket just before its chunks, so one batch often holds all of them: the chunks are
    kept although the ticket is committed only at the batch's end."""
    ingestor, published = backend
    ticket = filed(tmp_path, A, PHOTO)
    feed(ingestor, message(A, "tickets", ticket.encode()), *chunks(tmp_path, ticket.id, wire.MAX_CHUNK_BYTES + 1))
    assert published.acks(A) == [[ticket.id]]
    assert ingestor.stats.files == 1 and not ingestor.stats.rejected
    assert ingestor.files.path(A, ticket.id, PHOTO).stat().st_size == wire.MAX_CHUNK_BYTES + 1


def test_a_device_over_its_quota_of_incomplete_files_is_refused(
    backend: tuple[Ingestor, Published], tmp_path: Path
) -> None:
    ingestor, published = backend
    ingestor.files.quota_bytes = 2 * wire.MAX_CHUNK_BYTES
    big, other = filed(tmp_path, A, PHOTO), filed(tmp_path, B, PHOTO)
    feed(ingestor, message(A, "tickets", big.encode()), message(B, "tickets", other.encode()))
    photo = chunks(tmp_path, big.id, 4 * wire.MAX_CHUNK_BYTES)
    feed(ingestor, photo[0], photo[1], photo[1])  # a re-sent chunk replaces itself: it does not count twice
    assert not ingestor.stats.rejected
    feed(ingestor, photo[2])
    assert ingestor.stats.rejected["over_quota"] == 1
    assert ingestor.files.partial_bytes(A) == 2 * wire.MAX_CHUNK_BYTES
    feed(ingestor, *sent_by(B, chunks(tmp_path, other.id, 3 * wire.MAX_CHUNK_BYTES)[:2]))  # B has a quota of its own
    assert ingestor.files.partial_bytes(B) == 2 * wire.MAX_CHUNK_BYTES and ingestor.stats.rejected["over_quota"] == 1
    assert published.acks(A) == []


def test_the_quota_is_counted_across_files_and_tickets(tmp_path: Path) -> None:
    files = AttachmentFiles(tmp_path / "files", quota_bytes=3 * wire.MAX_CHUNK_BYTES)
    for _ in range(3):
        files.put(A, first_chunk(tmp_path))
    with pytest.raises(QuotaExceeded, match=f"{A} holds {3 * wire.MAX_CHUNK_BYTES} bytes"):
        files.put(A, first_chunk(tmp_path))
    files.put(B, first_chunk(tmp_path))


def test_incomplete_files_older_than_the_limit_are_swept(tmp_path: Path) -> None:
    files = AttachmentFiles(tmp_path / "files")
    assert not files.put(A, first_chunk(tmp_path))
    (abandoned,) = partial_files(files.root)
    past = time.time() - PARTIAL_MAX_AGE_S - 60
    os.utime(abandoned, (past, past))
    restarted = AttachmentFiles(tmp_path / "files")  # a process starting sweeps on its first chunk
    fresh = first_chunk(tmp_path)
    assert not restarted.put(B, fresh)
    assert [path.relative_to(files.root / PARTIAL).parts[:2] for path in partial_files(files.root)] == [
        (B, fresh.ticket_id)
    ]
    assert restarted.sweep(time.time() + PARTIAL_MAX_AGE_S + 60) == 1  # the fresh one goes in its turn,
    assert list((files.root / PARTIAL).iterdir()) == []  # and the folders left empty with it


def test_a_ticket_id_stored_for_another_device_is_refused_and_never_acknowledged_to_it(
    backend: tuple[Ingestor, Published], tmp_path: Path
) -> None:
    ingestor, published = backend
    ticket = filed(tmp_path, A)
    feed(ingestor, message(A, "tickets", ticket.encode()))
    assert published.acks(A) == [[ticket.id]]
    (before,) = ingestor.store.tickets()
    stolen = ticket.model_copy(update={"device_id": B, "summary": "replaced"})  # B re-sends A's id as its own
    own = filed(tmp_path, B)
    feed(ingestor, message(B, "tickets", stolen.encode()), message(B, "tickets", own.encode()))
    assert published.acks(B) == [[own.id]]  # B's own ticket only: its outbox keeps the other row
    assert ingestor.stats.rejected["device_mismatch"] == 1 and ingestor.stats.duplicates == 0
    assert [row for row in ingestor.store.tickets() if row["id"] == ticket.id] == [before]  # A's row as it was
    feed(ingestor, message(A, "tickets", ticket.encode()))  # A's own re-send is still a duplicate, acknowledged
    assert published.acks(A) == [[ticket.id], [ticket.id]] and ingestor.stats.duplicates == 1


def test_the_store_tells_a_repeat_from_another_devices_ticket(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "fleet.db")
    ticket = filed(tmp_path, A)
    stolen = ticket.model_copy(update={"device_id": B})
    batch = [(ticket, ticket.encode()), (ticket, ticket.encode()), (stolen, stolen.encode())]
    assert store.add_tickets(batch) == ["stored", "duplicate", "refused"]
    assert store.add_ticket(stolen, stolen.encode()) is False
    assert (store.ticket_device(ticket.id), store.ticket_device(str(uuid.uuid4()))) == (A, None)
    store.close()
