"""The ``fleet`` command as a fleet manager meets it: the CA's broker names, logs in the kiosk's JSON lines,
``config set`` refusing what a kiosk would refuse, and ``tickets`` filtered or shown one at a time."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509

from fleet.cli import main
from fleet.store import FleetStore
from kiosk_link import pki, wire
from tests.mosquitto import MOSQUITTO, Mosquitto, free_port
from tests.test_sync_broker import client, subscribe, wait_until


def broker_names(ca_dir: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate((ca_dir / pki.SERVER_CERT).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), {
        str(address) for address in names.get_values_for_type(x509.IPAddress)
    }


def test_ca_init_takes_several_broker_names_repeated_or_comma_separated(tmp_path: Path) -> None:
    args = ["ca", "init", "--out", str(tmp_path / "ca"), "--host", "mqtt.example.com, 10.0.0.5", "--host", "broker"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert broker_names(tmp_path / "ca") == ({"mqtt.example.com", "broker"}, {"10.0.0.5"})  # the IP as an IP SAN
    assert "for mqtt.example.com, 10.0.0.5, broker" in result.output

    empty = CliRunner().invoke(main, ["ca", "init", "--out", str(tmp_path / "ca2"), "--host", ","])
    assert empty.exit_code == 2 and "broker's DNS name or IP address" in empty.output
    assert not (tmp_path / "ca2").exists()


def test_fleet_serve_logs_json_lines_on_stderr(tmp_path: Path) -> None:
    """A real ``fleet serve`` (no broker on its port): it says where it serves, and stops on SIGTERM, each as one
    JSON object per stderr line."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLEET_")}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "--db", str(tmp_path / "fleet.db"), "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert select.select([process.stderr], [], [], 30)[0], "no log line within 30 s"
        first = process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    lines = [json.loads(line) for line in [first, *rest.splitlines()]]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines), lines
    assert lines[0]["msg"] == "serving until SIGTERM or Ctrl-C"
    assert lines[0]["broker"] == f"127.0.0.1:{port}" and lines[0]["tls"] is False
    assert lines[-1]["msg"] == "stopped" and lines[-1]["stored"] == 0


@pytest.mark.parametrize(
    ("assignment", "problem"),
    [
        ("nlu.model_name=other", "not settable remotely: nlu.model_name (settable: dialogue.idle_timeout_s,"),
        ('dialogue.idle_timeout_s="60"', "dialogue.idle_timeout_s: Input should be a valid number"),  # text
        ("dialogue.idle_timeout_s=sixty", "dialogue.idle_timeout_s: Input should be a valid number"),
        ("ui.thanks_s=true", "ui.thanks_s: Input should be a valid number"),
        ("dialogue.oos_turns_before_handoff=1.5", "dialogue.oos_turns_before_handoff: Input should be a valid integer"),
        ("dialogue.idle_timeout_s=0", "dialogue.idle_timeout_s: Input should be greater than 0"),
        ("sync.telemetry_interval_s=0.1", "sync.telemetry_interval_s: Input should be greater than or equal to 0.5"),
    ],
)
def test_config_set_refuses_what_a_kiosk_would_and_stores_and_sends_nothing(
    tmp_path: Path, assignment: str, problem: str
) -> None:
    """No broker listens on the port: a command that got as far as publishing would fail differently."""
    db = tmp_path / "fleet.db"
    FleetStore(db).close()
    args = ["--db", str(db), "config", "set", "kiosk-a", "ui.thanks_s=2.5", assignment, "--port", str(free_port())]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert problem in " ".join(result.output.split()), result.output  # click wraps a long message
    store = FleetStore(db)
    try:
        assert store.db.execute("SELECT COUNT(*) FROM device_config").fetchone()[0] == 0
    finally:
        store.close()


@pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed")
def test_config_set_stores_and_publishes_a_valid_configuration(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    kiosk = client(broker, "kiosk-a")
    received: list[bytes] = []
    subscribe(kiosk, wire.device_topic("kiosk-a", "config"), received)
    try:

        def config_set(*pairs: str) -> wire.RemoteConfigV1:
            args = ["--db", str(tmp_path / "fleet.db"), "config", "set", "kiosk-a", *pairs, "--port", str(broker.port)]
            seen = len(received)
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
            wait_until(lambda: len(received) > seen, "the configuration")
            return wire.parse(received[-1], wire.RemoteConfigV1)

        # 60 is a number (JSON), and a whole number is a valid number of seconds.
        first = config_set("dialogue.idle_timeout_s=60", "ui.thanks_s=2.5", "dialogue.oos_turns_before_handoff=1")
        live = {"dialogue.idle_timeout_s": 60, "dialogue.oos_turns_before_handoff": 1}
        assert (first.revision, first.settings) == (1, {**live, "ui.thanks_s": 2.5})
        # Removing a key is always allowed, even one no kiosk knows (stored by an older backend).
        second = config_set("ui.thanks_s=", "nlu.model_name=")
        assert (second.revision, second.settings) == (2, live)
    finally:
        kiosk.disconnect()
        kiosk.loop_stop()
        broker.stop()


def add_ticket(store: FleetStore, reference: str, **fields: Any) -> wire.TicketV1:
    """A ticket as a kiosk files it, ``fields`` changed (its type, status, creation time, transcript, files)."""
    now = datetime.now(UTC)
    ticket = wire.TicketV1(
        **{
            "id": str(uuid.uuid4()),
            "reference": reference,
            "type": "handoff",
            "priority": "normal",
            "status": "new",
            "device_id": "kiosk-a",
            "session_id": None,
            "language": "en",
            "intent": None,
            "summary": f"summary of {reference}",
            "entities": [],
            "sentiment": None,
            "transcript": [],
            "created_at": now,
            "updated_at": now,
            "attachments": [],
            **fields,
        }
    )
    store.add_ticket(ticket, ticket.encode())
    return ticket


@pytest.fixture
def ticket_db(tmp_path: Path) -> Path:
    """Four tickets of two kiosks: new and closed, two types, one filed 30 days ago, one with a transcript and files."""
    db = tmp_path / "fleet.db"
    store = FleetStore(db)
    add_ticket(store, "KB-OLD00001", type="card_block", created_at=datetime.now(UTC) - timedelta(days=30))
    add_ticket(store, "KB-NEWB0002", device_id="kiosk-b")
    card = add_ticket(
        store,
        "KB-CARD0003",
        type="card_block",
        priority="urgent",
        intent="block_card",
        sentiment="negative",
        entities=[{"kind": "card_last4", "text": "1234", "value": "1234", "start": 0, "end": 4}],
        transcript=[
            {"role": "customer", "text": "Someone stole my card", "at": "2026-11-01T10:00:00Z"},
            {"role": "assistant", "text": "I can block it now.", "at": "2026-11-01T10:00:01Z"},
        ],
        attachments=["photos/a.jpg", "photos/b.jpg", "photos/c.jpg"],
    )
    store.add_attachment("kiosk-a", card.id, "photos/a.jpg", "0" * 64, 10)
    store.add_attachment("kiosk-a", card.id, "photos/b.jpg", None, 0)
    store.db.execute(  # what the staff console does when a colleague closes it
        "UPDATE tickets SET status = 'closed', assignee = 'ana', claimed_at = ?, closed_at = ? WHERE id = ?",
        ["2026-11-01T10:05:00+00:00", "2026-11-01T10:30:00+00:00", card.id],
    )
    for status, note, at in (("open", "on my way", "10:05"), ("closed", "card blocked at the desk", "10:30")):
        store.db.execute(
            "INSERT INTO ticket_notes (ticket_id, author, status, note, at) VALUES (?, 'ana', ?, ?, ?)",
            [card.id, status, note, f"2026-11-01T{at}:00.000+00:00"],
        )
    add_ticket(store, "KB-NEWA0004")
    store.close()
    return db


def run(db: Path, *args: str) -> list[str]:
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def references(db: Path, *args: str) -> list[str]:
    return [json.loads(line)["reference"] for line in run(db, "tickets", *args, "--json")]


def test_tickets_are_filtered_by_type_status_day_and_device(ticket_db: Path) -> None:
    assert references(ticket_db) == ["KB-NEWA0004", "KB-CARD0003", "KB-NEWB0002", "KB-OLD00001"]
    assert references(ticket_db, "--type", "card_block") == ["KB-CARD0003", "KB-OLD00001"]
    assert references(ticket_db, "--status", "closed") == ["KB-CARD0003"]
    assert references(ticket_db, "--status", "new", "--device", "kiosk-a") == ["KB-NEWA0004", "KB-OLD00001"]
    assert references(ticket_db, "--since", "7d", "--type", "card_block") == ["KB-CARD0003"]
    month_ago = (date.today() - timedelta(days=31)).isoformat()
    assert references(ticket_db, "--since", month_ago, "--limit", "5") == references(ticket_db)
    assert references(ticket_db, "--since", "2999-01-01") == []

    (closed,) = [json.loads(line) for line in run(ticket_db, "tickets", "--status", "closed", "--json")]
    assert (closed["assignee"], closed["closed_at"]) == ("ana", "2026-11-01T10:30:00+00:00")
    text = run(ticket_db, "tickets", "--status", "closed")
    assert len(text) == 1 and text[0].split()[3:6] == ["closed", "urgent", "card_block"]

    for args, hint in [(["--status", "done"], "'done' is not one of"), (["--since", "last week"], "7d")]:
        refused = CliRunner().invoke(main, ["--db", str(ticket_db), "tickets", *args])
        assert refused.exit_code == 2 and hint in refused.output, refused.output


def test_tickets_show_prints_one_ticket_whole_by_reference_or_id(ticket_db: Path) -> None:
    text = run(ticket_db, "tickets", "show", "KB-CARD0003")
    assert text[0] == "KB-CARD0003"
    header = dict(line.split(maxsplit=1) for line in text[1 : text.index("summary")])
    assert header["device"] == "kiosk-a" and header["type"] == "card_block" and header["status"] == "closed"
    assert (header["intent"], header["assignee"], header["closed"]) == (
        "block_card",
        "ana",
        "2026-11-01T10:30:00+00:00",
    )
    assert header["entities"] == "card_last4 1234"
    assert text[text.index("summary") + 1] == "  summary of KB-CARD0003"
    turns = text[text.index("transcript") + 1 : text.index("files")]
    assert turns == ["  customer: Someone stole my card", "  kiosk: I can block it now."]
    files = text[text.index("files") + 1 : text.index("notes")]
    assert files == ["  photos/a.jpg  stored", "  photos/b.jpg  missing", "  photos/c.jpg  pending"]
    assert text[text.index("notes") + 1 :] == [
        "  2026-11-01T10:05 ana -> open: on my way",
        "  2026-11-01T10:30 ana -> closed: card blocked at the desk",
    ]

    (whole,) = [json.loads(line) for line in run(ticket_db, "tickets", "show", "KB-CARD0003", "--json")]
    assert whole["ticket"]["transcript"][0]["text"] == "Someone stole my card" and whole["assignee"] == "ana"
    assert run(ticket_db, "tickets", "show", whole["id"]) == text  # by id too

    plain = run(ticket_db, "tickets", "show", "KB-NEWA0004")
    assert plain[plain.index("transcript") + 1] == "  -" and "files" not in plain and "notes" not in plain
    missing = CliRunner().invoke(main, ["--db", str(ticket_db), "tickets", "show", "KB-NOPE"])
    assert missing.exit_code == 1 and "no ticket 'KB-NOPE'" in missing.output
