"""Tickets' photos travel with them: chunked within the wire's size limit, put together and checked by the
backend, and the ticket leaves the kiosk's outbox only once it and its files are committed. Against a real
Mosquitto: two real JPEGs arrive byte-identical, a broker restart mid-transfer still ends with everything stored
once, a photo deleted on the kiosk does not hold its ticket back, and a corrupted file is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from firmware_app.sync.attachments import attachment_messages
from firmware_app.sync.service import KioskSync
from firmware_app.tickets.store import TicketStore
from firmware_app.vision.capture import save_photo
from fleet.files import AttachmentFiles, FileRefused
from fleet.ingest import Ingestor
from kiosk_link import wire
from kiosk_ui.tour import synthetic_part_photo
from tests import test_sync_broker as broker_tests
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_sync_broker import DEVICE, ready, wait_until
from tests.test_sync_wire import ticket_request

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (scripts/setup.sh test installs it)"
)
mosquitto, broker, kiosk_db, tickets, link, fleet_db, start_ingestor = (
    broker_tests.mosquitto,
    broker_tests.broker,
    broker_tests.kiosk_db,
    broker_tests.tickets,
    broker_tests.link,
    broker_tests.fleet_db,
    broker_tests.start_ingestor,
)


def photo_ticket(tickets: TicketStore, kiosk_db: Path) -> tuple[str, dict[str, bytes]]:
    """A technician's ticket with its photo and a (noisier, so several chunks) annotated copy, as the kiosk
    files them: JPEGs under the data folder, named in the ticket."""
    ticket_id = str(uuid.uuid4())
    names = [f"photos/{ticket_id}.jpg", f"photos/{ticket_id}-annotated.jpg"]
    noisy = np.random.default_rng(3).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    for name, image in zip(names, (synthetic_part_photo(), noisy), strict=True):
        save_photo(image, kiosk_db.parent / name)
    tickets.create(ticket_request(ticket_id=ticket_id, ticket_type="technician_photo", attachments=tuple(names)))
    return ticket_id, {name: (kiosk_db.parent / name).read_bytes() for name in names}


def stored_files(fleet_db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(fleet_db) as conn:
        return conn.execute("SELECT ticket_id, name, state FROM attachments ORDER BY name").fetchall()


def assert_arrived_once(fleet_db: Path, ticket_id: str, photos: dict[str, bytes]) -> None:
    with sqlite3.connect(fleet_db) as conn:
        assert conn.execute("SELECT id FROM tickets").fetchall() == [(ticket_id,)]
    assert stored_files(fleet_db) == [(ticket_id, name, "stored") for name in sorted(photos)]
    files = AttachmentFiles(fleet_db.parent / "files")
    for name, data in photos.items():
        assert files.path(DEVICE, ticket_id, name).read_bytes() == data  # byte-identical
    assert not list((fleet_db.parent / "files" / ".partial").rglob("*.jpg/*/*"))  # no chunk left behind


def test_a_ticket_with_two_photos_arrives_byte_identical_and_leaves_the_outbox_only_with_them(
    broker: Mosquitto, link: KioskSync, tickets: TicketStore, kiosk_db: Path, fleet_db: Path, start_ingestor
) -> None:
    ingestor: Ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    ticket_id, photos = photo_ticket(tickets, kiosk_db)
    assert max(len(data) for data in photos.values()) > 2 * wire.MAX_CHUNK_BYTES  # several chunks
    wait_until(lambda: tickets.outbox_depth() == 0, "the ticket and its photos to be acknowledged")
    assert_arrived_once(fleet_db, ticket_id, photos)
    assert ingestor.stats.files == 2 and ingestor.stats.stored == 1
    assert all((kiosk_db.parent / name).is_file() for name in photos)  # the kiosk keeps its photos


def test_a_broker_restart_mid_transfer_ends_with_everything_stored_once(
    broker: Mosquitto, link: KioskSync, tickets: TicketStore, kiosk_db: Path, fleet_db: Path, start_ingestor
) -> None:
    ingestor: Ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    first_chunk = threading.Event()
    put = ingestor.files.put

    def slow_put(device_id: str, part: wire.AttachmentV1) -> bool:
        first_chunk.set()
        time.sleep(0.1)  # a slow disk: the transfer is still going when the broker goes
        return put(device_id, part)

    ingestor.files.put = slow_put  # type: ignore[method-assign]
    ticket_id, photos = photo_ticket(tickets, kiosk_db)
    assert first_chunk.wait(10), "no chunk reached the backend"
    broker.stop()
    assert tickets.outbox_depth() == 1  # not acknowledged: a file was still incomplete
    broker.start()
    wait_until(lambda: tickets.outbox_depth() == 0, "the ticket and its photos after the restart", timeout=30)
    assert_arrived_once(fleet_db, ticket_id, photos)


def test_a_photo_deleted_on_the_kiosk_does_not_hold_its_ticket_back(
    broker: Mosquitto,
    link: KioskSync,
    tickets: TicketStore,
    kiosk_db: Path,
    fleet_db: Path,
    start_ingestor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingestor: Ingestor = start_ingestor(broker)
    ready(ingestor, broker)
    link.stop()  # file the ticket, then lose a photo, before the link sends anything
    ticket_id, photos = photo_ticket(tickets, kiosk_db)
    gone, kept = sorted(photos)
    (kiosk_db.parent / gone).unlink()
    sync = KioskSync(kiosk_db, DEVICE, broker_tests.fast_sync(broker), {"kiosk": "test"})
    with caplog.at_level(logging.WARNING, logger="firmware_app.sync.attachments"):
        sync.start()
        try:
            wait_until(lambda: tickets.outbox_depth() == 0, "the ticket without its deleted photo")
        finally:
            sync.stop()
    assert stored_files(fleet_db) == [(ticket_id, gone, "missing"), (ticket_id, kept, "stored")]
    (listed,) = ingestor.store.tickets()  # what `fleet tickets --json` says
    assert listed["files"] == {gone: "missing", kept: "stored"}
    assert ingestor.stats.missing_files == 1
    assert any("attachment missing on the kiosk" in record.message for record in caplog.records)


def test_a_corrupted_chunk_is_refused_and_the_resent_file_is_stored(tmp_path: Path, kiosk_db: Path) -> None:
    save_photo(synthetic_part_photo(), kiosk_db.parent / "photos" / "p.jpg")
    ticket_id = str(uuid.uuid4())
    good = [wire.parse(m, wire.AttachmentV1) for m in attachment_messages(kiosk_db.parent, ticket_id, "photos/p.jpg")]
    data = bytearray(base64.b64decode(good[-1].data or ""))
    data[10] ^= 0xFF
    bad = good[-1].model_copy(update={"data": base64.b64encode(bytes(data)).decode()})
    files = AttachmentFiles(tmp_path / "files")
    with pytest.raises(FileRefused, match="sha256"):
        for part in [*good[:-1], bad]:
            files.put(DEVICE, part)
    assert not files.path(DEVICE, ticket_id, "photos/p.jpg").exists()
    assert [files.put(DEVICE, part) for part in good][-1]  # the kiosk's re-send
    stored = files.path(DEVICE, ticket_id, "photos/p.jpg").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == good[0].sha256


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "../etc/passwd"},
        {"name": "/photos/a.jpg"},
        {"count": 2},  # one chunk's worth of bytes
        {"index": 1},
        {"missing": True},  # a missing file carries no data
        {"sha256": None},
    ],
)
def test_attachment_messages_that_do_not_add_up_are_refused(fields: dict[str, object]) -> None:
    chunk = {
        "schema": "kiosk.attachment/1",
        "ticket_id": str(uuid.uuid4()),
        "name": "photos/a.jpg",
        "size": 3,
        "sha256": "0" * 64,
        "index": 0,
        "count": 1,
        "data": "YWJj",
    }
    wire.parse(wire.AttachmentV1.model_validate(chunk).encode(), wire.AttachmentV1)
    with pytest.raises(wire.WireError) as refused:
        wire.parse(wire.canonical_json(chunk | fields), wire.AttachmentV1)
    assert refused.value.reason == "invalid"
