"""The backend's store and its ``fleet tickets`` / ``fleet devices`` reports (no broker needed)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import CliRunner

from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore
from fleet.cli import main
from fleet.store import FleetStore
from kiosk_link import wire
from tests.test_sync_wire import ticket_request


def kiosk_ticket(tmp_path: Path, device_id: str) -> bytes:
    """A ticket as a kiosk publishes it (its outbox payload)."""
    db = open_database(tmp_path / device_id / "kiosk.db")
    created = TicketStore(db, device_id).create(ticket_request(summary=f"help at {device_id}"))
    payload: str = db.execute("SELECT payload FROM outbox WHERE ticket_id = ?", [created.ticket_id]).fetchone()[0]
    db.close()
    return payload.encode()


def test_a_ticket_is_stored_once_and_the_schema_survives_reopening(tmp_path: Path) -> None:
    payload = kiosk_ticket(tmp_path, "kiosk-a")
    ticket = wire.parse(payload, wire.TicketV1)
    store = FleetStore(tmp_path / "fleet" / "fleet.db")
    assert store.add_ticket(ticket, payload) is True
    assert store.add_ticket(ticket, payload) is False
    store.close()
    reopened = FleetStore(tmp_path / "fleet" / "fleet.db")
    (row,) = reopened.tickets()
    assert row["id"] == ticket.id and row["ticket"] == json.loads(payload)
    assert reopened.devices()[0] | {"first_seen_at": None} == {
        "device_id": "kiosk-a",
        "state": "unknown",
        "versions": {},
        "first_seen_at": None,
        "status_at": None,
        "tickets": 1,
        "pack": None,
        "last_seen_at": None,
        "queue_depth": None,
        "config": None,
        "config_revision_set": None,
        "degraded": [],  # no telemetry yet: nothing known to be degraded
    }
    reopened.close()


def test_fleet_tickets_and_devices_for_people_and_for_scripts(tmp_path: Path) -> None:
    db_path = tmp_path / "fleet.db"
    store = FleetStore(db_path)
    for device_id in ("kiosk-a", "kiosk-b"):
        payload = kiosk_ticket(tmp_path, device_id)
        store.add_ticket(wire.parse(payload, wire.TicketV1), payload)
    store.set_status("kiosk-a", wire.StatusV1(state="online", versions={"kiosk": "0.1.0"}))
    store.close()
    runner = CliRunner()

    text = runner.invoke(main, ["--db", str(db_path), "tickets"])
    assert text.exit_code == 0, text.output
    assert len(text.output.splitlines()) == 2 and "help at kiosk-b" in text.output and "KB-" in text.output

    only_a = runner.invoke(main, ["--db", str(db_path), "tickets", "--device", "kiosk-a", "--json"])
    (line,) = only_a.output.splitlines()
    assert json.loads(line)["ticket"]["summary"] == "help at kiosk-a"
    uuid.UUID(json.loads(line)["id"])

    devices = runner.invoke(main, ["--db", str(db_path), "devices", "--json"])
    rows = [json.loads(line) for line in devices.output.splitlines()]
    assert [(r["device_id"], r["state"], r["tickets"]) for r in rows] == [
        ("kiosk-a", "online", 1),
        ("kiosk-b", "unknown", 1),
    ]
    assert rows[0]["versions"] == {"kiosk": "0.1.0"}
    people = runner.invoke(main, ["--db", str(db_path), "devices"])
    assert people.output.splitlines()[0].split()[:2] == ["kiosk-a", "online"]
    missing = runner.invoke(main, ["--db", str(tmp_path / "typo.db"), "tickets"])
    assert missing.exit_code == 1 and "no fleet database" in missing.output
