"""The staff console through its HTTP interface (FastAPI's TestClient over a real SQLite fleet database): logins,
lock-out, branch scoping, CSRF, the hand-off workflow, the brief, manager-only pages, the audit and the feed."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from fleet.console.accounts import MAX_FAILED_LOGINS, Users
from fleet.console.app import ConsoleConfig, create_app
from fleet.console.live import ChangeFeed
from fleet.releases import ReleaseStore, default_releases_dir
from fleet.rollouts import set_groups
from fleet.signing import generate_keys, load_private_key
from fleet.store import FleetStore
from kiosk_link import wire
from tests.test_sync_updates import model_dir, release

PASSWORD = "correct horse battery"


def hand_off_ticket(device_id: str, language: str = "en") -> wire.TicketV1:
    now = datetime.now(UTC)
    return wire.TicketV1(
        id=str(uuid.uuid4()),
        reference=f"K-{uuid.uuid4().hex[:6].upper()}",
        type="handoff",
        priority="high",
        status="new",
        device_id=device_id,
        session_id="s1",
        language=language,
        intent="card_arrival",
        summary="Customer needs a colleague: the customer asked for a person.",
        entities=[],
        sentiment="negative",
        transcript=[
            {"role": "customer", "text": "my card never came", "at": now.isoformat()},
            {
                "role": "assistant",
                "text": "New cards arrive in 3-5 days.",
                "at": now.isoformat(),
                "intent": "card_arrival",
            },
            {"role": "customer", "text": "I want a person", "at": now.isoformat()},
        ],
        created_at=now,
        updated_at=now,
        attachments=[],
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.db"
    store = FleetStore(path)
    set_groups(store, "north", ["kiosk-n1"], member=True)
    set_groups(store, "south", ["kiosk-s1"], member=True)
    users = Users(store.db)
    users.add("ana", "Ana", PASSWORD, "staff", ["north"])
    users.add("bo", "Bo", PASSWORD, "staff", ["south"])
    users.add("mia", "Mia", PASSWORD, "manager", [])
    store.close()
    return path


@pytest.fixture
def tickets(db_path: Path) -> dict[str, wire.TicketV1]:
    store = FleetStore(db_path)
    made = {"north": hand_off_ticket("kiosk-n1"), "south": hand_off_ticket("kiosk-s1", "zh")}
    for ticket in made.values():
        store.add_ticket(ticket, ticket.encode())
    store.close()
    return made


@pytest.fixture
def client(db_path: Path) -> Iterator[TestClient]:
    app = create_app(ConsoleConfig(db_path, broker=None))
    with TestClient(app, base_url="http://console.test") as test_client:
        yield test_client


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; the session's CSRF token, read from a page as a browser would."""
    response = client.post("/login", data={"username": username, "password": password, "next": "/queue"})
    assert response.status_code == 200, response.text
    match = re.search(r'data-csrf="([^"]+)"', response.text)
    assert match, "no CSRF token on the page after logging in"
    return match.group(1)


def test_nothing_without_a_session(client: TestClient, tickets: dict[str, wire.TicketV1]) -> None:
    assert client.get("/api/queue").status_code == 401
    assert client.get(f"/api/tickets/{tickets['north'].reference}").status_code == 401
    assert client.post(f"/api/tickets/{tickets['north'].reference}/claim", json={}).status_code == 401
    page = client.get("/queue", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/login").headers["content-security-policy"].startswith("default-src 'self'")


def test_staff_see_only_their_branch(client: TestClient, tickets: dict[str, wire.TicketV1]) -> None:
    log_in(client, "ana")
    queue = client.get("/api/queue").json()
    assert [row["reference"] for row in queue] == [tickets["north"].reference]
    assert client.get(f"/api/tickets/{tickets['south'].reference}").status_code == 404
    assert client.get(f"/api/tickets/{tickets['south'].id}").status_code == 404
    assert client.get(f"/tickets/{tickets['south'].reference}").status_code == 404
    assert tickets["south"].reference not in client.get("/tickets").text
    assert client.get("/api/devices").status_code == 403  # kiosks are for managers
    assert client.get("/api/audit").status_code == 403


def test_changes_need_the_csrf_token(client: TestClient, tickets: dict[str, wire.TicketV1]) -> None:
    csrf = log_in(client, "ana")
    url = f"/api/tickets/{tickets['north'].reference}/claim"
    assert client.post(url, json={"note": "x"}).status_code == 403
    assert client.post(url, json={}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    cross_site = {"X-CSRF-Token": csrf, "Origin": "http://evil.test"}
    assert client.post(url, json={}, headers=cross_site).status_code == 403
    form_without_token = client.post(f"/tickets/{tickets['north'].reference}/claim", data={"note": "x"})
    assert form_without_token.status_code == 403
    assert client.get("/api/queue").json()[0]["status"] == "new"  # nothing changed


def test_hand_off_workflow_with_notes_audit_and_feed(
    client: TestClient, db_path: Path, tickets: dict[str, wire.TicketV1]
) -> None:
    csrf = log_in(client, "ana")
    ref = tickets["north"].reference
    headers = {"X-CSRF-Token": csrf}
    before = FleetStore(db_path).last_change()
    claimed = client.post(f"/api/tickets/{ref}/claim", json={"note": "on my way"}, headers=headers)
    assert claimed.status_code == 200
    assert claimed.json()["ticket"]["status"] == "open" and claimed.json()["ticket"]["assignee"] == "ana"
    assert claimed.json()["kiosk_told"] is False  # no broker in this test: stored, and the answer says so
    assert client.post(f"/api/tickets/{ref}/pending", json={"note": "checking"}, headers=headers).status_code == 200
    closed = client.post(f"/tickets/{ref}/close", data={"note": "card reissued", "csrf": csrf}, follow_redirects=False)
    assert closed.status_code == 303
    ticket = client.get(f"/api/tickets/{ref}").json()
    assert ticket["status"] == "closed" and ticket["closed_at"] and ticket["claimed_at"]
    assert [(n["status"], n["note"]) for n in ticket["notes"]] == [
        ("open", "on my way"),
        ("pending", "checking"),
        ("closed", "card reissued"),
    ]
    again = client.post(f"/api/tickets/{ref}/close", json={}, headers=headers)
    assert again.status_code == 409 and "closed" in again.json()["detail"]
    store = FleetStore(db_path)
    assert [kind for _, kind, _, _ in store.changes_after(before)] == ["ticket"] * 3
    client.cookies.clear()
    log_in(client, "mia")
    actions = [(e["actor"], e["action"], e["target"]) for e in client.get("/api/audit").json()]
    assert ("ana", "ticket.claim", ref) in actions and ("ana", "ticket.close", ref) in actions
    times = client.get("/api/dashboard").json()["response_times"]
    assert times["claimed"] == 1 and times["closed"] == 1


def test_brief_from_transcript_and_pack(client: TestClient, tickets: dict[str, wire.TicketV1]) -> None:
    log_in(client, "ana")
    brief = client.get(f"/api/tickets/{tickets['north'].reference}").json()["brief"]
    assert brief["wants"] == "Where is my new card?"
    assert brief["tried"] == ["Where is my new card?"]
    assert brief["mood"] == "unhappy" and brief["customer_turns"] == 2
    assert brief["suggestions"][0]["id"] == "card_arrival"
    assert "working days" in brief["suggestions"][0]["answer"]
    page = client.get(f"/tickets/{tickets['north'].reference}").text
    assert "Suggested answers" in page and "I want a person" in page


def test_wrong_passwords_lock_the_account(client: TestClient) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        response = client.post("/login", data={"username": "ana", "password": "guess"}, follow_redirects=False)
        assert response.status_code == 303 and "problem=" in response.headers["location"]
    assert "problem=locked" in response.headers["location"]
    right = client.post("/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False)
    assert "problem=locked" in right.headers["location"]  # even the right password, until the lock runs out
    assert client.get("/api/queue").status_code == 401


def test_logins_are_rate_limited_per_address(client: TestClient) -> None:
    codes = [
        client.post("/login", data={"username": f"nobody{i}", "password": "x"}, follow_redirects=False).status_code
        for i in range(12)
    ]
    assert codes[:10] == [303] * 10 and codes[10:] == [429, 429]


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client, "mia")
    token = client.cookies.get("kiosk_console")
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.set("kiosk_console", token or "")
    assert client.get("/api/me").status_code == 401


def test_manager_pages_render_in_both_languages(client: TestClient, tickets: dict[str, wire.TicketV1]) -> None:
    log_in(client, "mia")
    for page in ("/queue", "/tickets", "/devices", "/devices/kiosk-n1", "/rollouts", "/dashboard", "/audit"):
        assert client.get(page).status_code == 200, page
    client.cookies.set("lang", "zh")
    assert "转人工队列" in client.get("/queue").text
    assert client.get("/queue?partial=1").text.lstrip().startswith("<ul") or "queue" in client.get("/queue").text
    assert "/api/tickets" in client.get("/openapi.json").json()["paths"]


def test_the_feed_tells_each_listener_what_it_may_see(db_path: Path) -> None:
    feed = ChangeFeed(lambda: FleetStore(db_path))

    async def listen() -> list[str]:
        north = feed.listen(lambda device: device == "kiosk-n1")
        everything = feed.listen(lambda device: True)
        feed.start()
        await asyncio.sleep(0.3)  # the feed has read where the changes stand
        store = FleetStore(db_path)
        for device in ("kiosk-s1", "kiosk-n1"):
            ticket = hand_off_ticket(device)
            store.add_ticket(ticket, ticket.encode())
        seen = [(await asyncio.wait_for(north.get(), 5)), *[await asyncio.wait_for(everything.get(), 5) for _ in "ab"]]
        return [change.device_id for change in seen if change]

    try:
        assert asyncio.run(listen()) == ["kiosk-n1", "kiosk-s1", "kiosk-n1"]
    finally:
        feed.stop()


def test_remote_configuration_is_checked_before_it_is_saved(
    client: TestClient, db_path: Path, tickets: dict[str, wire.TicketV1]
) -> None:
    csrf = log_in(client, "mia")
    headers = {"X-CSRF-Token": csrf}
    url = "/api/devices/kiosk-n1/config"
    for junk in ({"dialogue.idle_timeout_s": "sixty"}, {"dialogue.idle_timeout_s": -5}, {"model.path": "x"}):
        refused = client.post(url, json={"settings": junk}, headers=headers)
        assert refused.status_code == 409 and next(iter(junk)) in refused.json()["detail"], refused.text
    assert FleetStore(db_path).db.execute("SELECT COUNT(*) FROM device_config").fetchone()[0] == 0
    accepted = client.post(url, json={"settings": {"dialogue.idle_timeout_s": 90}}, headers=headers)
    assert accepted.status_code == 200 and accepted.json()["revision"] == 1
    form = client.post("/devices/kiosk-n1/config", data={"settings": "ui.thanks_s=nonsense", "csrf": csrf})
    assert form.status_code == 200 and "ui.thanks_s" in form.text  # the page shows why, nothing saved
    assert client.get("/api/audit").json()[0]["action"] == "config.set"


def test_a_technicians_photos_and_inspection_are_shown_and_nothing_else_is_served(
    client: TestClient, db_path: Path
) -> None:
    store = FleetStore(db_path)
    made = hand_off_ticket("kiosk-n1").model_dump(by_alias=True)
    made |= {
        "type": "inspection",
        "attachments": ["photos/part.jpg", "photos/part-annotated.jpg", "photos/gone.jpg"],
        "inspection": {"profile": "pcb", "defects": [{"label": "missing_hole", "box": [1, 2, 3, 4]}]},
    }
    ticket = wire.TicketV1.model_validate(made)
    store.add_ticket(ticket, ticket.encode())
    for name, data in (("photos/part.jpg", b"\xff\xd8 photo"), ("photos/part-annotated.jpg", b"\xff\xd8 boxes")):
        path = store.files_dir / "kiosk-n1" / ticket.id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        store.add_attachment("kiosk-n1", ticket.id, name, "0" * 64, len(data))
    store.add_attachment("kiosk-n1", ticket.id, "photos/gone.jpg", None, 0)  # missing on the kiosk
    store.close()
    log_in(client, "ana")
    page = client.get(f"/tickets/{ticket.reference}").text
    assert f"/tickets/{ticket.reference}/files/photos/part-annotated.jpg" in page and "missing_hole" in page
    assert "photos/gone.jpg: missing" in page
    photo = client.get(f"/tickets/{ticket.reference}/files/photos/part.jpg")
    assert photo.status_code == 200 and photo.content == b"\xff\xd8 photo"
    for hostile in ("photos/gone.jpg", "photos/other.jpg", "../../fleet.db", "%2e%2e/%2e%2e/fleet.db"):
        assert client.get(f"/tickets/{ticket.reference}/files/{hostile}").status_code == 404, hostile
    client.cookies.clear()
    log_in(client, "bo")  # another branch: not even the photo
    assert client.get(f"/tickets/{ticket.reference}/files/photos/part.jpg").status_code == 404


def test_a_manager_signs_a_release_of_staged_artifacts(db_path: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(Path(__file__).resolve().parent.parent / "packs" / "bank", artifacts / "bank-next")
    pack_yaml = artifacts / "bank-next" / "pack.yaml"
    pack_yaml.write_text(re.sub(r"(?m)^version: .*$", "version: 9.9.9", pack_yaml.read_text("utf-8"), count=1), "utf-8")
    shutil.move(model_dir(tmp_path, "1.0.1").parent, artifacts / "amelia-next")
    private_key, _ = generate_keys(tmp_path / "keys")
    app = create_app(ConsoleConfig(db_path, broker=None, release_key=private_key, artifacts_dir=artifacts))
    with TestClient(app, base_url="http://console.test") as client:
        headers = {"X-CSRF-Token": log_in(client, "mia")}
        staged = {item["key"]: (item["kind"], item["version"]) for item in client.get("/api/artifacts").json()}
        assert staged == {"pack/bank-next": ("pack", "9.9.9"), "model/amelia-next/amelia.int8.onnx": ("model", "1.0.1")}
        for hostile in (["../keys/release-signing.key"], ["pack/../../keys"], ["model/amelia-next/manifest.json"]):
            refused = client.post("/api/releases", json={"artifacts": hostile}, headers=headers)
            assert refused.status_code == 409 and "no staged artifact" in refused.json()["detail"], hostile
        made = client.post("/api/releases", json={"artifacts": sorted(staged), "channel": "pilot"}, headers=headers)
        assert made.status_code == 200, made.text
        assert made.json()["channel"] == "pilot" and len(made.json()["artifacts"]) == 2
        assert client.get("/api/rollouts").json() == []  # signed and stored, offered to nobody yet
        assert client.get("/api/audit").json()[0]["action"] == "release.create"
        assert "pilot" in client.get("/releases").text
        client.cookies.clear()
        headers = {"X-CSRF-Token": log_in(client, "ana")}
        assert client.post("/api/releases", json={"artifacts": ["pack/bank-next"]}, headers=headers).status_code == 403


def test_a_console_without_the_release_key_signs_nothing(client: TestClient) -> None:
    headers = {"X-CSRF-Token": log_in(client, "mia")}
    refused = client.post("/api/releases", json={"artifacts": ["pack/bank"]}, headers=headers)
    assert refused.status_code == 409 and "--release-key" in refused.json()["detail"]
    assert "fleet release create" in client.get("/releases").text


def test_charts_are_drawn_on_the_server_with_every_label_escaped() -> None:
    from fleet.console import charts

    bars = charts.bar_chart(["2026-12-01", "<script>"], [3, 5], "Visits & <b>hand-offs</b>")
    assert "<script>" not in bars and "&lt;script&gt;" in bars and "&amp; &lt;b&gt;" in bars
    assert bars.count('class="bar"') == 2 and ">5<" in bars
    line = charts.line_chart(["10:00", "10:05", "10:10"], [120.0, 480.5, 90.0], "answer p95", " ms")
    assert "max 480.5 ms" in line and ">10:00<" in line and ">10:10<" in line
    assert ">-<" in charts.line_chart([], [], "nothing yet")


def test_a_manager_pauses_resumes_and_aborts_a_rollout_and_each_step_is_audited(db_path: Path, tmp_path: Path) -> None:
    private_key, _ = generate_keys(tmp_path / "keys")
    made = release(
        ReleaseStore(default_releases_dir(db_path)), load_private_key(private_key), model_dir(tmp_path, "1.0.1")
    )
    store = FleetStore(db_path)
    for device in ("kiosk-n1", "kiosk-s1"):
        store.set_status(device, wire.StatusV1(state="online", channel="stable"))
    store.close()
    app = create_app(ConsoleConfig(db_path, broker=None))
    with TestClient(app, base_url="http://console.test") as client:
        headers = {"X-CSRF-Token": log_in(client, "mia")}
        started = client.post(
            "/api/rollouts", json={"release_id": made.manifest.release_id, "canary_percent": 50}, headers=headers
        )
        assert started.status_code == 200, started.text
        rollout_id = started.json()["id"]
        assert {d["device_id"] for d in started.json()["devices"]} == {"kiosk-n1", "kiosk-s1"}
        for action, state in (("pause", "paused"), ("resume", "running"), ("abort", "aborted")):
            changed = client.post(f"/api/rollouts/{rollout_id}/{action}", headers=headers)
            assert changed.json()["state"] == state, changed.text
        again = client.post(f"/api/rollouts/{rollout_id}/resume", headers=headers)
        assert again.status_code == 409 and "aborted" in again.json()["detail"]
        assert client.post("/api/rollouts", json={"release_id": "no-such"}, headers=headers).status_code == 409
        actions = [e["action"] for e in client.get("/api/audit").json()]
        assert actions[:4] == ["rollout.abort", "rollout.resume", "rollout.pause", "rollout.start"]
        assert "aborted" in client.get(f"/rollouts/{rollout_id}").text


def test_the_change_feed_forgets_rows_older_than_a_day(db_path: Path) -> None:
    store = FleetStore(db_path)
    store.db.execute("INSERT INTO changes (at, kind, ref, scope) VALUES (?, 'ticket', 'old', NULL)", ["2020-01-01"])
    store.note_change("ticket", "new", "kiosk-n1")
    assert store.prune_changes("2026-01-01") == 1
    assert [ref for _, _, ref, _ in store.changes_after(0)] == ["new"]
