"""The staff console in a real browser (Debian's chromium, driven by Playwright) against real processes: a real
Mosquitto, a real ``fleet serve``, a real ``fleet web`` and a real kiosk process (its touchscreen UI on SDL's
dummy display, with its MQTT link). A customer asks for a person at the kiosk -> the hand-off appears in the
console -> staff claims it -> the kiosk's screen names the colleague -> staff closes it; a manager starts a
rollout from the console and watches it finish; a staff member is refused another branch's ticket; five wrong
passwords lock the login. Every page is photographed in English and Chinese, at tablet and phone width
(``CONSOLE_SCREENSHOTS`` keeps them; ``bench/screenshots/console`` holds the set the report shows).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from firmware_app.config import UpdatesConfig, load_settings
from firmware_app.sync.service import KioskSync
from fleet.console.accounts import Users
from fleet.releases import ReleaseStore, default_releases_dir
from fleet.rollouts import set_groups
from fleet.signing import generate_keys, load_private_key
from fleet.store import FleetStore
from tests.mosquitto import MOSQUITTO, Mosquitto, free_port
from tests.test_sync_broker import fast_sync, wait_until
from tests.test_sync_updates import model_dir, release

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery"
KIOSK = "kiosk-e2e-1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Stack:
    broker: Mosquitto
    db: Path
    url: str
    folder: Path


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("console-e2e")
    broker = Mosquitto(folder / "broker")
    broker.start()
    db = folder / "fleet.db"
    store = FleetStore(db)
    set_groups(store, "north", [KIOSK], member=True)
    users = Users(store.db)
    users.add("ana", "Ana", PASSWORD, "staff", ["north"])
    users.add("bo", "Bo", PASSWORD, "staff", ["south"])
    users.add("mia", "Mia", PASSWORD, "manager", [])
    users.add("lee", "Lee", PASSWORD, "staff", ["north"])
    store.close()
    fleet = [str(BIN / "fleet"), "--db", str(db)]
    port = free_port()
    serve = _start([*fleet, "serve", "--port", str(broker.port)], folder / "serve.log")
    web = _start(
        # Every test logs in from 127.0.0.1: more than the ten a minute a real address gets.
        [*fleet, "web", "--port", str(port), "--broker-port", str(broker.port), "--logins-per-minute", "100"],
        folder / "web.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), "fleet web to answer", timeout=30)
        yield Stack(broker, db, url, folder)
    finally:
        for process in (web, serve):
            _stop(process)
        broker.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/login", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("console-shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(browser: object, stack: Stack, username: str, viewport: dict[str, int] = TABLET, lang: str = "en") -> object:
    context = browser.new_context(viewport=viewport, base_url=stack.url)  # type: ignore[attr-defined]
    context.add_cookies([{"name": "lang", "value": lang, "url": stack.url}])
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url("**/queue")
    return page


class KioskProcess:
    """``tests.kiosk_at_counter``: the kiosk a customer just asked for a person at; its screen, line by line."""

    def __init__(self, stack: Stack) -> None:
        self.lines: queue.Queue[dict[str, str]] = queue.Queue()
        env = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
        env |= {
            "KIOSK_DEVICE_ID": KIOSK,
            "KIOSK_SYNC__ENABLED": "true",
            "KIOSK_SYNC__BROKER_PORT": str(stack.broker.port),
            "KIOSK_SYNC__POLL_S": "0.05",
            "KIOSK_SYNC__RECONNECT_MIN_S": "0.05",
            "SDL_VIDEODRIVER": "dummy",
            "KIOSK_MODEL_CACHE_DIR": os.environ.get("KIOSK_MODEL_CACHE_DIR", ""),
        }
        command = [
            sys.executable,
            "-m",
            "tests.kiosk_at_counter",
            str(stack.folder / "kiosk"),
            str(stack.folder / "kiosk-shots"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=Path(__file__).parent.parent)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, words: str, timeout: float = 20.0) -> dict[str, str]:
        """The first screen (from now on) showing ``words``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                shown = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if words in shown["text"]:
                return shown
        raise AssertionError(f"the kiosk's screen never showed {words!r}")

    def stop(self) -> None:
        _stop(self.process)


def test_a_hand_off_from_the_kiosk_to_a_colleague_and_back(browser: object, stack: Stack, screenshots: Path) -> None:
    page = log_in(browser, stack, "ana")  # the queue is open, and empty, before the customer arrives
    assert page.locator("ul.queue li").count() == 0  # type: ignore[attr-defined]
    kiosk = KioskProcess(stack)
    try:
        kiosk.wait_for("A colleague is coming", timeout=90)  # the kiosk started and filed the hand-off
        waiting = page.locator("ul.queue li")  # type: ignore[attr-defined]
        waiting.first.wait_for(timeout=20_000)  # over MQTT, `fleet serve`, the change feed and SSE: no reload
        assert "handoff" in waiting.first.inner_text() and KIOSK in waiting.first.inner_text()
        assert page.title().startswith("● ")  # type: ignore[attr-defined]  # the chime played, the tab is marked
        page.screenshot(path=str(screenshots / "queue-waiting-en-tablet.png"))  # type: ignore[attr-defined]
        waiting.first.locator("a").click()
        page.wait_for_selector("ol.transcript li")  # type: ignore[attr-defined]
        assert "[staff]" in page.inner_text("ol.transcript")  # type: ignore[attr-defined]
        page.fill("textarea[name=note]", "On my way from the counter")  # type: ignore[attr-defined]
        page.click('button:has-text("I\'m coming")')  # type: ignore[attr-defined]
        page.wait_for_selector("text=The kiosk was told.")  # type: ignore[attr-defined]
        assert page.inner_text("#status") == "open"  # type: ignore[attr-defined]
        kiosk.wait_for("Ana is on the way to you")
        page.screenshot(path=str(screenshots / "ticket-claimed-en-tablet.png"), full_page=True)  # type: ignore[attr-defined]
        page.fill("textarea[name=note]", "Card reissued")  # type: ignore[attr-defined]
        page.click('button:has-text("Close")')  # type: ignore[attr-defined]
        page.wait_for_selector('#status:has-text("closed")')  # type: ignore[attr-defined]
        shown = kiosk.wait_for("is closed. Thank you.")
        shutil.copyfile(shown["screenshot"], screenshots / "kiosk-after-close.png")
        assert "Card reissued" in page.inner_text(".notes")  # type: ignore[attr-defined]
    finally:
        kiosk.stop()


def test_staff_are_refused_another_branchs_ticket(browser: object, stack: Stack) -> None:
    store = FleetStore(stack.db)
    rows = store.db.execute("SELECT reference FROM tickets WHERE device_id = ?", [KIOSK]).fetchall()
    store.close()
    assert rows, "run after the hand-off test: it files the ticket"
    page = log_in(browser, stack, "bo")
    response = page.goto(f"/tickets/{rows[0][0]}")  # type: ignore[attr-defined]
    assert response.status == 404
    api = page.request.get(f"/api/tickets/{rows[0][0]}")  # type: ignore[attr-defined]
    assert api.status == 404
    page.goto("/queue")  # type: ignore[attr-defined]
    assert rows[0][0] not in page.content()  # type: ignore[attr-defined]


def test_five_wrong_passwords_lock_the_login(browser: object, stack: Stack) -> None:
    page = browser.new_page(base_url=stack.url)  # type: ignore[attr-defined]
    for _ in range(5):
        page.goto("/login")
        page.fill("input[name=username]", "lee")
        page.fill("input[name=password]", "not the password")
        page.click("button.primary")
    assert "locked" in page.inner_text(".problem")
    page.fill("input[name=username]", "lee")
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    assert "/login" in page.url and "locked" in page.inner_text(".problem")


def test_a_manager_starts_a_rollout_and_watches_it_finish(
    browser: object, stack: Stack, tmp_path: Path, screenshots: Path
) -> None:
    private_path, public_key = generate_keys(tmp_path / "keys")
    made = release(
        ReleaseStore(default_releases_dir(stack.db)), load_private_key(private_path), model_dir(tmp_path, "1.0.1")
    )
    links = []
    devices = [f"kiosk-roll-{n}" for n in range(3)]
    for device in devices:
        settings = load_settings(
            data_dir=tmp_path / device,
            device_id=device,
            sync=fast_sync(stack.broker),
            updates=UpdatesConfig(public_key=public_key, chunk_timeout_s=1.0),
        )
        links.append(KioskSync.from_settings(settings))
        links[-1].start()
    try:
        wait_until(lambda: _channels_reported(stack.db, devices), "the kiosks to report their channel")
        page = log_in(browser, stack, "mia")
        page.goto("/rollouts")  # type: ignore[attr-defined]
        page.select_option("select[name=release_id]", made.manifest.release_id)  # type: ignore[attr-defined]
        page.fill("input[name=canary_percent]", "34")  # type: ignore[attr-defined]
        page.click('button:has-text("Start rollout")')  # type: ignore[attr-defined]
        page.wait_for_url("**/rollouts/*")  # type: ignore[attr-defined]
        page.wait_for_selector('#rollout-state:has-text("finished")', timeout=60_000)  # type: ignore[attr-defined]
        assert page.locator('td:has-text("installed")').count() == len(devices)  # type: ignore[attr-defined]
        page.screenshot(path=str(screenshots / "rollout-finished-en-tablet.png"), full_page=True)  # type: ignore[attr-defined]
        page.goto("/audit")  # type: ignore[attr-defined]
        assert "rollout.start" in page.inner_text("table")  # type: ignore[attr-defined]
    finally:
        for link in links:
            link.stop()


def _channels_reported(db: Path, devices: list[str]) -> bool:
    store = FleetStore(db)
    try:
        marks = ", ".join("?" for _ in devices)
        rows = store.db.execute(
            f"SELECT COUNT(*) FROM devices WHERE channel = 'stable' AND device_id IN ({marks})", devices
        )
        return int(rows.fetchone()[0]) == len(devices)
    finally:
        store.close()


PAGES = [
    "/queue",
    "/tickets",
    "/devices",
    f"/devices/{KIOSK}",
    "/releases",
    "/rollouts",
    "/rollouts/1",
    "/dashboard",
    "/audit",
]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("form", "viewport"), [("tablet", TABLET), ("phone", PHONE)])
def test_every_page_fits_a_tablet_and_a_phone(
    browser: object, stack: Stack, screenshots: Path, lang: str, form: str, viewport: dict[str, int]
) -> None:
    page = log_in(browser, stack, "mia", viewport, lang)
    for path in [*PAGES, _first_ticket(stack)]:
        response = page.goto(path)  # type: ignore[attr-defined]
        assert response.status == 200, path
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
        assert overflow <= 0, f"{path} is {overflow} px wider than a {form} ({lang})"
        name = (
            {"tickets": "ticket", "devices": "device", "rollouts": "rollout"}[path.split("/")[1]]
            if path.count("/") > 1
            else path.strip("/")
        )
        page.screenshot(path=str(screenshots / f"{name}-{lang}-{form}.png"), full_page=True)  # type: ignore[attr-defined]
    page.goto("/login")  # type: ignore[attr-defined]


def _first_ticket(stack: Stack) -> str:
    store = FleetStore(stack.db)
    try:
        row = store.db.execute("SELECT reference FROM tickets ORDER BY created_at LIMIT 1").fetchone()
    finally:
        store.close()
    assert row is not None, "run after the hand-off test: it files the ticket"
    return f"/tickets/{row[0]}"
