"""Staff console benchmark (``fleet web``): the two targets of the console's issue, on real processes over loopback.

- Live hand-offs: ``LIVE_KIOSKS`` simulated kiosks (MQTT clients on one epoll loop, as in ``bench.sync_fleet_sim``)
  each publish a hand-off ticket, a telemetry report and their status every 1-2 s (jittered) for ``LIVE_S``, to
  a real Mosquitto and one ``fleet serve``. One ``fleet web`` on the same database has a manager logged in (httpx)
  with the server-sent-event stream open, doing what ``console.js`` does on each ``ticket`` event: reload
  ``/queue?partial=1``, one reload at a time, events meanwhile causing one more. A ticket is shown once its event
  has arrived and a reloaded queue lists it; its latency runs from just before its publish. A second connection
  of the same session closes each ticket once listed (staff working the queue), so the queue, which lists the 200
  longest-waiting, keeps showing arrivals. On SQLite and on PostgreSQL.
- Pages: a PostgreSQL database filled with ``FLEET_DEVICES`` kiosks in ``BRANCHES`` branches (status, a day of
  telemetry, two weeks of analytics, past rollouts) and ``TICKETS`` hand-off and technician-photo tickets over
  ``TICKET_DAYS`` days (their notes, audit lines and change-feed rows), ``fleet web`` on it, and every page fetched
  ``PAGE_RUNS`` times in a row (after ``WARMUP``) by a manager and by one branch's staff member: the round trip,
  measured by the client. Then, for a page that misses its target, where its time goes: the dashboard's parts
  timed in this process, and PostgreSQL's plans of the queries behind the slow parts.

    python -m bench.run --only console
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import paho.mqtt.client as mqtt
import psycopg
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from bench.bench_sync import broker_in
from bench.sync_processes import wait_until
from firmware_app.events import reference_for
from fleet.console.accounts import User, Users
from fleet.console.brief import DEFAULT_PACK
from fleet.console.desk import HandoffDesk
from fleet.stats import FLEET, ServiceSummary
from fleet.store import FleetStore
from kiosk_link import wire
from tests.mosquitto import Mosquitto, free_port
from tests.postgres import Postgres

LIVE_KIOSKS = 50
LIVE_S = 30.0
SEND_EVERY_S = (1.0, 2.0)
DRAIN_S = 20.0  # after the last publish, how long every ticket may take to show before it counts as missing
FLEET_DEVICES = 200
BRANCHES = 10
TICKETS = 50_000
TICKET_DAYS = 30
TELEMETRY_PER_DEVICE = 48  # a day of reports, one every half hour
ANALYTICS_DAYS = 14
WAITING_SHARE = 0.015  # tickets still new, open or pending
PAGE_RUNS = 30
WARMUP = 3
MANAGER, STAFF, STAFF_BRANCH = "bench-manager", "bench-staff", "branch-00"
PASSWORD = "bench console password"
TARGETS = {"shown_p50_ms": 1000.0, "shown_p95_ms": 2000.0, "page_p95_ms": 300.0}
MANAGER_PAGES = (
    "/queue",
    "/tickets",
    "/tickets/{ref}",
    "/devices",
    "/devices/{device}",
    "/dashboard",
    "/rollouts",
    "/audit",
    "/api/queue",
    "/api/tickets",
)
STAFF_PAGES = ("/queue", "/tickets", "/tickets/{ref}", "/dashboard", "/api/queue", "/api/tickets")
_TICKET_IDS = re.compile(r'data-ticket="([^"]+)"')
_CSRF = re.compile(r'data-csrf="([^"]+)"')


def _spread(seconds: list[float]) -> dict[str, float]:
    """Median, 95th percentile and maximum, in milliseconds."""
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[-1]
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def _iso(at: datetime) -> str:
    """A timestamp as ``FleetStore`` writes its own (``received_at``, notes, audit)."""
    return at.isoformat(timespec="milliseconds")


# --- the processes ---------------------------------------------------------------------------------------------


class FleetProcess:
    """A ``fleet`` command on ``target`` (a SQLite file or a PostgreSQL URL) as a child process, output in ``log``.

    Not ``bench.sync_processes.FleetServe``: that takes a ``Path``, which a URL would not survive. ``FLEET_HOME``
    is ``home``: where a PostgreSQL-backed console looks for releases (none here)."""

    def __init__(self, target: str, args: list[str], log: Path, home: Path) -> None:
        self.log = log
        self.command = f"fleet {' '.join(args)}"
        with open(log, "ab") as out:
            env = os.environ | {"FLEET_HOME": str(home)}
            command = [sys.executable, "-m", "fleet", "--db", target, *args]
            self.process = subprocess.Popen(command, stdout=out, stderr=out, env=env)

    def running(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.command} exited:\n{self.log.read_text()[-2000:]}")
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a server still waiting on a client: the run is over anyway
                self.process.kill()
                self.process.wait()


@contextmanager
def fleet_serve(target: str, folder: Path, broker: Mosquitto) -> Iterator[FleetProcess]:
    serve = FleetProcess(target, ["serve", "--port", str(broker.port)], folder / "serve.log", folder)
    try:
        wait_until(lambda: serve.running() and "subscribing" in serve.log.read_text(), "fleet serve to subscribe")
        yield serve
    finally:
        serve.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def fleet_web(target: str, folder: Path) -> Iterator[str]:
    """``fleet web`` without a broker (the bench measures kiosk -> console); its base URL once it answers."""
    port = free_port()
    web = FleetProcess(target, ["web", "--no-broker", "--port", str(port)], folder / "web.log", folder)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: web.running() and _answers(f"{url}/login"), "fleet web to answer", 60, 0.1)
        yield url
    finally:
        web.stop()


@contextmanager
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def add_users(target: str) -> None:
    """The manager and the staff member of ``STAFF_BRANCH`` the bench logs in as."""
    store = FleetStore(target)
    try:
        users = Users(store.db)
        users.add(MANAGER, "Bench Manager", PASSWORD, "manager", [])
        users.add(STAFF, "Bench Staff", PASSWORD, "staff", [STAFF_BRANCH])
    finally:
        store.close()


class Console:
    """A user logged in to ``fleet web`` through the login form, as a browser is."""

    def __init__(self, url: str, username: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)
        page = self.client.post(
            "/login", data={"username": username, "password": PASSWORD, "next": "/queue"}, follow_redirects=True
        )
        found = _CSRF.search(page.text)
        if page.status_code != 200 or found is None:
            raise RuntimeError(f"{username} could not log in: {page.status_code} {page.url}")
        self.csrf = found.group(1)

    def connection(self) -> httpx.Client:
        """Another connection with the same session (a browser opens several)."""
        return httpx.Client(base_url=self.url, cookies=self.client.cookies, timeout=30)


# --- kiosk traffic ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    id: str
    asked: dict[str, list[str]]  # what customers say, by language
    answer: dict[str, str]


def pack_intents() -> list[Intent]:
    """The bank pack's intents, so that transcripts read like the kiosk's and briefs find their answers."""
    with (DEFAULT_PACK / "intents.yaml").open(encoding="utf-8") as file:
        items = yaml.safe_load(file)
    return [
        Intent(item["id"], {"en": item["examples"], "zh": item.get("examples_zh") or item["examples"]}, item["answer"])
        for item in items
        if item.get("examples") and isinstance(item.get("answer"), dict)
    ]


ASK_FOR_PERSON = {"en": "I'd like to speak to a person please", "zh": "我想找工作人员"}
REASONS = ("the customer asked for a person", "the customer is frustrated", "two questions in a row were outside")


def transcript(intents: list[Intent], language: str, turns: int, end: datetime, rng: random.Random) -> list[Any]:
    """``turns`` lines, customer and kiosk in turn, the last the customer asking for a colleague."""
    lines: list[dict[str, Any]] = []
    for n in range(turns - 1):
        at = (end - timedelta(seconds=20 * (turns - n))).isoformat()
        intent = rng.choice(intents)
        if n % 2 == 0:
            lines.append({"role": "customer", "text": rng.choice(intent.asked[language]), "at": at})
        else:
            answer = intent.answer.get(language) or intent.answer["en"]
            lines.append({"role": "assistant", "text": answer, "at": at, "intent": intent.id})
    return [*lines, {"role": "customer", "text": ASK_FOR_PERSON[language], "at": end.isoformat()}]


def hand_off(device_id: str, created: datetime, intents: list[Intent], rng: random.Random) -> wire.TicketV1:
    """A kiosk's hand-off ticket, as ``TicketStore`` files it: 4-8 turns, redacted entities, the last intent."""
    ticket_id = str(uuid.uuid4())
    language: Literal["en", "zh"] = "zh" if rng.random() < 0.3 else "en"
    lines = transcript(intents, language, rng.randint(4, 8), created, rng)
    last = next((line["intent"] for line in reversed(lines) if "intent" in line), None)
    amount = [{"kind": "amount", "text": "£20", "value": "20 GBP", "start": 9, "end": 12}]
    return wire.TicketV1(
        id=ticket_id,
        reference=reference_for(ticket_id),
        type="handoff",
        priority="high" if rng.random() < 0.3 else "normal",
        status="new",
        device_id=device_id,
        session_id=str(uuid.uuid4()),
        language=language,
        intent=last,
        summary=f"Customer needs a colleague: {rng.choice(REASONS)}. Last topic: {last}.",
        entities=amount if rng.random() < 0.2 else [],
        sentiment=rng.choice(("negative", "neutral", "neutral", "positive")),
        transcript=lines,
        created_at=created,
        updated_at=created,
        attachments=[],
    )


def technician_photo(device_id: str, created: datetime, rng: random.Random) -> wire.TicketV1:
    """A technician's photo ticket (the kiosk's ``technician_photo``) with the defect model's verdict."""
    ticket_id = str(uuid.uuid4())
    label = rng.choice(("scratches", "inclusion", "patches", "crazing", "pitted_surface", "rolled-in_scale"))
    inspection = {
        "profile": "steel_surface",
        "model": "steel_surface",
        "model_version": "2.0.0",
        "label": label,
        "confidence": round(rng.uniform(0.5, 0.99), 3),
        "defective": True,
        "defect_score": round(rng.uniform(0.5, 0.99), 3),
        "boxes": [{"box": [40, 60, 180, 210], "label": label, "score": round(rng.uniform(0.5, 0.99), 3)}],
    }
    return wire.TicketV1(
        id=ticket_id,
        reference=reference_for(ticket_id),
        type="technician_photo",
        priority="normal",
        status="new",
        device_id=device_id,
        session_id=None,
        language="en",
        intent=None,
        summary=f"Technician photo: {label} on the inspected part.",
        entities=[],
        sentiment=None,
        transcript=[],
        created_at=created,
        updated_at=created,
        attachments=["photo-1.jpg"],
        inspection=inspection,
    )


def telemetry(sent_at: datetime, uptime_s: float, rng: random.Random) -> wire.TelemetryV1:
    latencies = {
        name: wire.LatencyV1(count=200, p50_ms=p50, p95_ms=round(p50 * rng.uniform(1.5, 3.0), 1), max_ms=p50 * 5)
        for name, p50 in (("asr", 420.0), ("intent", 6.0), ("answer", 35.0), ("tts", 180.0))
    }
    return wire.TelemetryV1(
        sent_at=sent_at,
        uptime_s=uptime_s,
        versions={"kiosk": "1.4.2"},
        queue_depth=rng.choice((0, 0, 0, 1, 2)),
        latencies=latencies,
        free_disk_bytes=rng.randint(8, 20) * 10**9,
    )


PACK = wire.PackV1(id="bank", version="3", sha256="ab" * 32)
VERSIONS = {"kiosk": "1.4.2", "model:intent-minilm-bank": "2.0.0", "model:whisper-base": "1.1.0"}


def online_status() -> bytes:
    return wire.StatusV1(state="online", versions=VERSIONS, pack=PACK, channel="stable").encode()


class LiveKiosk:
    """A simulated kiosk: connects as a kiosk does, then sends a hand-off, a telemetry report and its status every
    1-2 s; ``sent`` holds when each ticket was published (``time.monotonic()`` just before the call)."""

    def __init__(self, device_id: str, intents: list[Intent]) -> None:
        self.device_id = device_id
        self.intents = intents
        self.rng = random.Random(device_id)
        self.sent: dict[str, float] = {}
        self.published: list[mqtt.MQTTMessageInfo] = []
        self.acked: set[str] = set()
        self.connected = False
        self.started = time.monotonic()
        self.next_at = 0.0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        offline = wire.StatusV1(state="offline", versions=VERSIONS).encode()
        self.client.will_set(wire.device_topic(device_id, "status"), offline, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            raise ConnectionError(f"{self.device_id}: {reason}")
        client.subscribe(wire.device_topic(self.device_id, "acks"), qos=1)
        self.connected = True

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.acked.update(wire.parse(message.payload, wire.AckV1).ticket_ids)

    def send(self) -> None:
        now = datetime.now(UTC)
        ticket = hand_off(self.device_id, now, self.intents, self.rng).encode()
        health = telemetry(now, time.monotonic() - self.started, self.rng).encode()
        ticket_id = wire.parse(ticket, wire.TicketV1).id
        self.sent[ticket_id] = time.monotonic()
        self.published.append(self.client.publish(wire.device_topic(self.device_id, "tickets"), ticket, qos=1))
        self.client.publish(wire.device_topic(self.device_id, "telemetry"), health, qos=1)
        self.client.publish(wire.device_topic(self.device_id, "status"), online_status(), qos=1, retain=True)
        self.next_at = time.monotonic() + self.rng.uniform(*SEND_EVERY_S)


class KioskLoop:
    """Every simulated kiosk's network on one epoll loop (paho's external-loop calls), in the calling thread."""

    def __init__(self, kiosks: list[LiveKiosk], broker: Mosquitto) -> None:
        self.kiosks = kiosks
        self.selector = selectors.DefaultSelector()
        for kiosk in kiosks:
            kiosk.client.connect(broker.host, broker.port, keepalive=30, clean_start=True)
            self.selector.register(kiosk.client.socket(), selectors.EVENT_READ, kiosk)  # type: ignore[arg-type]
        if not self.run_until(lambda: all(kiosk.connected for kiosk in kiosks), 30):
            raise TimeoutError("the kiosks did not all connect")

    def _turn(self, wait_s: float) -> None:
        for kiosk in self.kiosks:  # what paho has queued to send decides whether to wait for writability
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if kiosk.client.want_write() else 0)
            self.selector.modify(kiosk.client.socket(), events, kiosk)  # type: ignore[arg-type]
        for key, mask in self.selector.select(timeout=wait_s):
            if mask & selectors.EVENT_READ:
                key.data.client.loop_read()
            if mask & selectors.EVENT_WRITE:
                key.data.client.loop_write()

    def run_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Drive the network until ``done()`` or for ``timeout_s``; whether ``done()`` came true."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            self._turn(0.01)
            for kiosk in self.kiosks:
                kiosk.client.loop_misc()
        return True

    def send_for(self, seconds: float) -> None:
        """Each kiosk sends at its own jittered pace, starting at random points of the first interval."""
        start = time.monotonic()
        rng = random.Random(0)
        for kiosk in self.kiosks:
            kiosk.next_at = start + rng.uniform(*SEND_EVERY_S) - SEND_EVERY_S[0]
        while (now := time.monotonic()) < start + seconds:
            for kiosk in self.kiosks:
                if kiosk.next_at <= now:
                    kiosk.send()
            self._turn(max(0.0, min(kiosk.next_at for kiosk in self.kiosks) - time.monotonic()))
        everything = [info for kiosk in self.kiosks for info in kiosk.published]
        if not self.run_until(lambda: all(info.is_published() for info in everything), 30):
            raise TimeoutError("the broker did not acknowledge every publish")

    def close(self) -> None:
        for kiosk in self.kiosks:
            kiosk.client.disconnect()
            kiosk.client.loop_write()
        self.selector.close()


# --- the open console ---------------------------------------------------------------------------------------------


@dataclass
class Sightings:
    events: dict[str, float] = field(default_factory=dict)  # ticket id -> first ``ticket`` event naming it
    shown: dict[str, float] = field(default_factory=dict)  # ticket id -> the end of the first reload listing it
    reloads: int = 0
    longest_queue: int = 0  # the most tickets one reloaded queue listed (it lists 200 at most)
    closed: int = 0


class OpenQueue:
    """An open queue page, from outside: its event stream, its region reloads (one at a time, as ``console.js``),
    and a colleague at another connection closing each ticket once it is shown."""

    def __init__(self, console: Console) -> None:
        self.seen = Sightings()
        self.listening = threading.Event()
        self._console = console
        self._stream = console.connection()
        self._page = console.connection()
        self._closer = console.connection()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._to_close: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=target, name=name, daemon=True)
            for name, target in (("events", self._read_events), ("reload", self._reload), ("close", self._close))
        ]

    def __enter__(self) -> OpenQueue:
        for thread in self._threads:
            thread.start()
        if not self.listening.wait(10):
            raise TimeoutError("the event stream did not open")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._to_close.put(None)
        self._stream.close()  # ends the stream's read; the server forgets the listener
        for thread in self._threads:
            thread.join(10)
        for client in (self._page, self._closer):
            client.close()

    def _read_events(self) -> None:
        kind = ""
        try:
            with self._stream.stream("GET", "/api/events", timeout=httpx.Timeout(30, read=None)) as response:
                for line in response.iter_lines():
                    at = time.monotonic()
                    self.listening.set()
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "ticket":
                        self.seen.events.setdefault(json.loads(line.removeprefix("data: "))["ref"], at)
                        self._dirty.set()
        except (httpx.HTTPError, RuntimeError):
            if not self._stop.is_set():
                raise

    def _reload(self) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(0.1):
                continue
            self._dirty.clear()
            page = self._page.get("/queue?partial=1")
            at = time.monotonic()
            page.raise_for_status()
            listed = _TICKET_IDS.findall(page.text)
            self.seen.reloads += 1
            self.seen.longest_queue = max(self.seen.longest_queue, len(listed))
            for ticket_id in listed:
                if ticket_id not in self.seen.shown:
                    self.seen.shown[ticket_id] = at
                    self._to_close.put(ticket_id)

    def _close(self) -> None:
        headers = {"X-CSRF-Token": self._console.csrf}
        while (ticket_id := self._to_close.get()) is not None:
            answer = self._closer.post(f"/api/tickets/{ticket_id}/close", json={"note": "served"}, headers=headers)
            self.seen.closed += answer.status_code == 200


def _live(folder: Path, target: str, intents: list[Intent]) -> dict[str, Any]:
    """One live run on ``target``: the latency of each ticket from its publish to its event and to the queue."""
    folder.mkdir(parents=True)
    add_users(target)
    with (
        broker_in(folder) as broker,
        fleet_serve(target, folder, broker),
        fleet_web(target, folder) as url,
        OpenQueue(Console(url, MANAGER)) as page,
    ):
        kiosks = [LiveKiosk(f"live-kiosk-{n:02d}", intents) for n in range(LIVE_KIOSKS)]
        loop = KioskLoop(kiosks, broker)
        try:
            loop.send_for(LIVE_S)
            sent = {ticket_id: at for kiosk in kiosks for ticket_id, at in kiosk.sent.items()}
            loop.run_until(lambda: sent.keys() <= page.seen.shown.keys(), DRAIN_S)  # what is missing is counted
            loop.run_until(lambda: all(kiosk.sent.keys() <= kiosk.acked for kiosk in kiosks), 5)
        finally:
            loop.close()
    seen = page.seen
    both = {t: at for t, at in sent.items() if t in seen.shown and t in seen.events}
    return {
        "kiosks": LIVE_KIOSKS,
        "seconds": LIVE_S,
        "tickets": len(sent),
        "acked": sum(len(kiosk.acked & kiosk.sent.keys()) for kiosk in kiosks),
        "shown": len(both),
        # Both must have happened: the event has arrived and a reload listing the ticket has returned.
        "shown_latency": _spread([max(seen.events[t], seen.shown[t]) - at for t, at in both.items()]),
        "event_latency": _spread([seen.events[t] - at for t, at in sent.items() if t in seen.events]),
        "reloads": seen.reloads,
        "longest_queue": seen.longest_queue,
        "closed": seen.closed,
    }


def _live_runs(tmp: Path, intents: list[Intent]) -> dict[str, Any]:
    runs = {"sqlite": _live(tmp / "live-sqlite", str(tmp / "live-sqlite" / "fleet.db"), intents)}
    with postgres() as server:
        runs["postgresql"] = _live(tmp / "live-postgresql", server.new_database(), intents)
    return runs


# --- a fleet's worth of data in PostgreSQL -------------------------------------------------------------------------


def _copy(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
    """Rows into ``table`` with COPY, as a bulk load would; how many."""
    count = 0
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def device_ids() -> list[str]:
    return [f"kiosk-{n:03d}" for n in range(FLEET_DEVICES)]


def branch_of(device_index: int) -> str:
    """Branches of ``FLEET_DEVICES // BRANCHES`` neighbouring kiosks: branch-00 has kiosk-000 to kiosk-019."""
    return f"branch-{device_index * BRANCHES // FLEET_DEVICES:02d}"


def _device_rows(now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    config = wire.ConfigReportV1(revision=2, state="applied").model_dump_json()
    for n, device in enumerate(device_ids()):
        state = "offline" if n % 20 == 7 else "online"
        status_at = _iso(now - timedelta(minutes=rng.uniform(1, 600)))
        first = _iso(now - timedelta(days=90 + n % 30))
        pack = PACK.model_dump_json()
        yield device, state, json.dumps(VERSIONS), first, status_at, pack, config, "stable"


def _telemetry_rows(now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for device in device_ids():
        for n in range(TELEMETRY_PER_DEVICE):
            sent_at = now - timedelta(minutes=30 * (TELEMETRY_PER_DEVICE - n))
            report = telemetry(sent_at, 3600.0 * 24 + 1800 * n, rng)
            row = (report.uptime_s, report.queue_depth, report.free_disk_bytes, report.encode().decode())
            yield device, sent_at.isoformat(), _iso(sent_at + timedelta(seconds=1)), *row


def _analytics_rows(today: date, intents: list[Intent], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for device in device_ids():
        for back in range(ANALYTICS_DAYS):
            conversations = rng.randint(20, 120)
            handoffs = rng.randint(1, conversations // 8)
            top = rng.sample(intents, 10)
            report = wire.AnalyticsV1(
                day=today - timedelta(days=back),
                conversations=conversations,
                resolved=conversations - handoffs - rng.randint(0, 5),
                handoffs=handoffs,
                ratings=[rng.randint(0, 6) for _ in range(5)],
                top_intents=[wire.CountedV1(name=i.id, count=rng.randint(1, 20)) for i in top],
                out_of_scope=[wire.CountedV1(name=f"question {k}", count=rng.randint(1, 4)) for k in range(5)],
            )
            counts = (report.conversations, report.resolved, report.handoffs)
            yield (
                device,
                report.day.isoformat(),
                *counts,
                report.model_dump_json(by_alias=True),
                _iso(datetime.now(UTC)),
            )


@dataclass
class TicketHistory:
    """Generated tickets and what staff did with them, as rows of their tables."""

    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    notes: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    files: list[tuple[Any, ...]] = field(default_factory=list)
    references: dict[str, list[str]] = field(default_factory=dict)  # branch -> its tickets' references


NOTES = {"open": "on my way", "pending": "checking with the back office", "closed": "resolved at the desk"}


STEPS = {"new": (), "open": ("open",), "pending": ("open", "pending"), "closed": ("open", "closed")}
ACTIONS = {"open": "claim", "pending": "pending", "closed": "close"}


def _worked(
    history: TicketHistory, ticket: wire.TicketV1, status: str, received: datetime, rng: random.Random
) -> tuple[Any, ...]:
    """A ticket's claim, pending and close by a colleague of its branch (notes, audit lines, feed rows): its
    ``assignee``, ``claimed_at`` and ``closed_at``."""
    assignee = f"staff-{branch_of(int(ticket.device_id[-3:]))}-{rng.randint(1, 3)}"
    at, times = received, []
    for step in STEPS[status]:
        at += timedelta(minutes=rng.uniform(1, 20))
        times.append(_iso(at))
        detail = json.dumps({"note": NOTES[step]})
        history.notes.append((ticket.id, assignee, step, NOTES[step], times[-1]))
        history.audit.append((times[-1], assignee, f"ticket.{ACTIONS[step]}", ticket.reference, detail))
        history.changes.append((times[-1], "ticket", ticket.id, ticket.device_id))
    if not times:
        return None, None, None
    return assignee, times[0], times[-1] if status == "closed" else None


def _ticket_history(now: datetime, intents: list[Intent], rng: random.Random) -> TicketHistory:
    history = TicketHistory()
    devices = device_ids()
    for _ in range(TICKETS):
        device = rng.choice(devices)
        waiting = rng.random() < WAITING_SHARE
        age = timedelta(hours=rng.uniform(0, 48)) if waiting else timedelta(days=rng.uniform(0, TICKET_DAYS))
        created = now - age
        photo = rng.random() < 0.15
        ticket = technician_photo(device, created, rng) if photo else hand_off(device, created, intents, rng)
        status = rng.choice(("new", "new", "open", "pending")) if waiting else "closed"
        received = created + timedelta(seconds=rng.uniform(0.2, 3))
        worked = _worked(history, ticket, status, received, rng)
        columns = (ticket.id, device, ticket.reference, ticket.type, ticket.priority, status, ticket.language)
        times = (ticket.created_at.isoformat(), _iso(received))
        history.tickets.append((*columns, ticket.summary, *times, ticket.encode().decode(), *worked))
        history.changes.append((_iso(received), "ticket", ticket.id, device))
        history.references.setdefault(branch_of(int(device[-3:])), []).append(ticket.reference)
        if photo:
            history.files.append((ticket.id, "photo-1.jpg", device, "stored", 180_000, "cd" * 32, _iso(received)))
    return history


def _rollouts(conn: psycopg.Connection[Any], now: datetime, rng: random.Random) -> int:
    """Past rollouts to every kiosk (three finished, one running), with each kiosk's last update report."""
    states = [("1.3.0", "finished"), ("1.3.1", "finished"), ("1.4.1", "finished"), ("1.4.2", "running")]
    for n, (version, state) in enumerate(states):
        release = f"stable-{version}"
        at = _iso(now - timedelta(days=20 - 6 * n))
        (rollout_id,) = conn.execute(
            "INSERT INTO rollouts (release_id, channel, group_name, canary_percent, max_failure_percent, state, phase,"
            " created_at, updated_at) VALUES (%s, 'stable', NULL, 10, 20, %s, 'all', %s, %s) RETURNING id",
            [release, state, at, at],
        ).fetchone()  # type: ignore[misc]
        devices = device_ids()
        _copy(
            conn,
            "rollout_devices",
            ("rollout_id", "device_id", "canary", "offered_at"),
            ((rollout_id, d, int(k < FLEET_DEVICES // 10), at) for k, d in enumerate(devices)),
        )
        outcome = ("installed",) * 18 + ("failed", "downloading") if state == "running" else ("installed",)
        _copy(
            conn,
            "update_status",
            ("device_id", "release_id", "state", "done", "total", "first_at", "updated_at"),
            ((d, release, rng.choice(outcome), 10, 10, at, at) for d in devices),
        )
    return len(states)


def fill(url: str) -> dict[str, Any]:
    """The generated fleet in the (migrated) database at ``url``; the size of each table and the seconds it took.

    Loaded with COPY, then ``VACUUM ANALYZE``: a long-running database has its planner statistics."""
    started = time.monotonic()
    FleetStore(url).close()  # the schema, as every fleet process creates it
    rng = random.Random(42)
    now = datetime.now(UTC)
    intents = pack_intents()
    history = _ticket_history(now, intents, rng)
    history.changes.sort()  # the feed and the audit log in the order things happened, as they are written
    history.audit.sort()
    groups = [(device, branch_of(n)) for n, device in enumerate(device_ids())]
    with psycopg.connect(url, autocommit=True) as conn:
        sizes = {
            "devices": _copy(conn, "devices", DEVICE_COLUMNS, _device_rows(now, rng)),
            "device_groups": _copy(conn, "device_groups", ("device_id", "group_name"), groups),
            "telemetry": _copy(conn, "telemetry", TELEMETRY_COLUMNS, _telemetry_rows(now, rng)),
            "service_stats": _copy(conn, "service_stats", STATS_COLUMNS, _analytics_rows(now.date(), intents, rng)),
            "tickets": _copy(conn, "tickets", TICKET_COLUMNS, history.tickets),
            "ticket_notes": _copy(conn, "ticket_notes", ("ticket_id", "author", "status", "note", "at"), history.notes),
            "audit_log": _copy(conn, "audit_log", ("at", "actor", "action", "target", "detail"), history.audit),
            "changes": _copy(conn, "changes", ("at", "kind", "ref", "scope"), history.changes),
            "attachments": _copy(conn, "attachments", ATTACHMENT_COLUMNS, history.files),
            "rollouts": _rollouts(conn, now, rng),
        }
        conn.execute("VACUUM ANALYZE")
    waiting = sum(row[5] != "closed" for row in history.tickets)
    return {
        "rows": sizes,
        "waiting_tickets": waiting,
        "references": history.references,
        "fill_s": round(time.monotonic() - started, 1),
    }


DEVICE_COLUMNS = ("device_id", "state", "versions", "first_seen_at", "status_at", "pack", "config_report", "channel")
TELEMETRY_COLUMNS = ("device_id", "sent_at", "received_at", "uptime_s", "queue_depth", "free_disk_bytes", "payload")
STATS_COLUMNS = ("device_id", "day", "conversations", "resolved", "handoffs", "payload", "received_at")
TICKET_COLUMNS = (
    *("id", "device_id", "reference", "type", "priority", "status", "language", "summary", "created_at"),
    *("received_at", "payload", "assignee", "claimed_at", "closed_at"),
)
ATTACHMENT_COLUMNS = ("ticket_id", "name", "device_id", "state", "size", "sha256", "received_at")


# --- page times --------------------------------------------------------------------------------------------------


def _time_page(client: httpx.Client, paths: list[str]) -> dict[str, Any]:
    """Fetch each of ``paths`` in turn (the first ``WARMUP`` not counted); the spread of the round trips."""
    seconds = []
    for n, path in enumerate(paths):
        started = time.perf_counter()
        answer = client.get(path)
        took = time.perf_counter() - started
        answer.raise_for_status()
        if n >= WARMUP:
            seconds.append(took)
    return {**_spread(seconds), "n": len(seconds), "kb": round(len(answer.content) / 1024, 1)}


def _page_paths(page: str, references: list[str], rng: random.Random) -> list[str]:
    """``PAGE_RUNS + WARMUP`` URLs of ``page``, each ticket or kiosk page for another ticket or kiosk."""
    return [page.format(ref=rng.choice(references), device=rng.choice(device_ids())) for _ in range(PAGE_RUNS + WARMUP)]


def _median_ms(part: Callable[[], object], runs: int = 10) -> float:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        part()
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds) * 1000, 1)


def dashboard_parts(url: str) -> dict[str, float]:
    """Where a manager's dashboard (14 days) spends its time, timed in this process with the console's own calls
    (medians of 10, ms): reading the analytics rows, reading them as the dashboard does (JSON, checked on
    arrival), summing them up, and the desk's response times."""
    store = FleetStore(url)
    manager = User(MANAGER, "Bench Manager", "manager", ())
    first = (datetime.now(UTC).date() - timedelta(days=ANALYTICS_DAYS - 1)).isoformat()
    records = store.analytics_records(first)

    def summed() -> ServiceSummary:
        fleet = ServiceSummary(FLEET)
        for _, record in records:
            fleet.add_record(record)
        return fleet

    def analytics_rows() -> list[Any]:
        return store.db.execute("SELECT device_id, payload FROM service_stats WHERE day >= ?", [first]).fetchall()

    parts: dict[str, Callable[[], object]] = {
        "analytics_rows": analytics_rows,
        "analytics": lambda: store.analytics_records(first),
        "summarise": summed,
        "response_times": lambda: HandoffDesk(store).response_times(manager, first),
    }
    try:
        return {name: _median_ms(part) for name, part in parts.items()}
    finally:
        store.close()


# The console's queries behind the slowest parts (fleet/console/desk.py, FleetStore.analytics_records), as PostgreSQL
# runs them.
PLANNED = {
    "ticket_by_reference": "SELECT id, payload FROM tickets WHERE (reference = %(ref)s OR id = %(ref)s) AND 1 = 1"
    " ORDER BY created_at DESC LIMIT 1",
    "response_times": "SELECT received_at, claimed_at, closed_at FROM tickets WHERE 1 = 1 AND created_at >= %(first)s"
    " AND claimed_at IS NOT NULL",
    "analytics": "SELECT device_id, payload FROM service_stats WHERE day >= %(first)s",
}


def plans(url: str, ref: str) -> dict[str, dict[str, Any]]:
    """``EXPLAIN ANALYZE`` of each ``PLANNED`` query: its innermost plan node (the scan) and its execution time."""
    first = (datetime.now(UTC).date() - timedelta(days=ANALYTICS_DAYS - 1)).isoformat()
    found = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, sql in PLANNED.items():
            explained = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", {"ref": ref, "first": first}).fetchone()
            assert explained is not None
            result = explained[0][0]
            node = result["Plan"]
            while node.get("Plans"):
                node = node["Plans"][0]
            scan = f"{node['Node Type']} on {node.get('Relation Name', '?')}"
            found[name] = {
                "scan": scan,
                "rows": node["Actual Rows"],
                "execution_ms": round(result["Execution Time"], 1),
            }
    return found


def _pages(tmp: Path) -> dict[str, Any]:
    folder = tmp / "pages"
    folder.mkdir()
    rng = random.Random(7)
    with postgres() as server:
        url = server.new_database()
        data = fill(url)
        add_users(url)
        references = data.pop("references")
        everyone = [ref for refs in references.values() for ref in refs]
        with fleet_web(url, folder) as web:
            times = {}
            users = ((MANAGER, MANAGER_PAGES, everyone), (STAFF, STAFF_PAGES, references[STAFF_BRANCH]))
            for user, pages, refs in users:
                client = Console(web, user).client
                times[user] = {page: _time_page(client, _page_paths(page, refs, rng)) for page in pages}
                client.close()
            shots = screenshots(web, everyone[0])
        parts, planned = dashboard_parts(url), plans(url, rng.choice(everyone))
    return {
        **data,
        "devices": FLEET_DEVICES,
        "branches": BRANCHES,
        "tickets": TICKETS,
        "staff_branch": STAFF_BRANCH,
        "manager": times[MANAGER],
        "staff": times[STAFF],
        "dashboard_parts_ms": parts,
        "plans": planned,
        "screenshots": shots,
    }


SCREENSHOTS = Path(__file__).resolve().parent / "screenshots" / "console"
SHOWN_WITH_DATA = ("/dashboard", "/devices", "/devices/kiosk-000", "/queue", "/tickets/{ref}", "/audit")


def screenshots(url: str, ref: str) -> list[str]:
    """The manager's pages over the generated fleet, in English and Chinese at 1280x800, in Debian's chromium
    (Playwright; the same launch as tests/test_console_browser.py): what the charts and lists look like full."""
    from playwright.sync_api import sync_playwright

    from tests.test_console_browser import CHROMIUM, CHROMIUM_ARGS

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for lang in ("en", "zh"):
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
            context.add_cookies([{"name": "lang", "value": lang, "url": url}])
            page = context.new_page()
            page.goto("/login")
            page.fill("input[name=username]", MANAGER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            page.wait_for_url("**/queue")
            for path in SHOWN_WITH_DATA:
                page.goto(path.format(ref=ref))
                name = path.strip("/").split("/")[0]
                target = SCREENSHOTS / f"fleet-{name}{'-one' if path.count('/') > 1 else ''}-{lang}.png"
                page.screenshot(path=str(target))
                written.append(target.name)
            context.close()
        browser.close()
    return written


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as name:
        tmp = Path(name)
        return {"live": _live_runs(tmp, pack_intents()), "pages": _pages(tmp), "targets": TARGETS}


def _live_row(name: str, run: dict[str, Any], target: dict[str, float]) -> str:
    event, shown = run["event_latency"], run["shown_latency"]
    met = shown["p50_ms"] <= target["shown_p50_ms"] and shown["p95_ms"] <= target["shown_p95_ms"]
    return (
        f"| {name} | {run['tickets']} | {run['shown']} | {event['p50_ms']} | {event['p95_ms']} | **{shown['p50_ms']}**"
        f" | **{shown['p95_ms']}** | {shown['max_ms']} | {run['reloads']} | {run['longest_queue']} |"
        f" {'met' if met else 'missed'} |"
    )


def _page_cell(times: dict[str, Any] | None, target_ms: float) -> str:
    if times is None:
        return "- | -"
    p95 = f"**{times['p95_ms']}** (over)" if times["p95_ms"] > target_ms else str(times["p95_ms"])
    return f"{times['p50_ms']} | {p95}"


def report_section(r: dict[str, Any]) -> list[str]:
    live, pages, target = r["live"], r["pages"], r["targets"]
    first = next(iter(live.values()))
    rows = pages["rows"]
    parts = pages["dashboard_parts_ms"]
    return [
        "## Staff console (`fleet web`, loopback)",
        "",
        "`python -m bench.run --only console` (bench/bench_console.py): real Mosquitto, `fleet serve`, `fleet web` and"
        " PostgreSQL processes on this machine, the clients in the bench's process.",
        "",
        f"Live hand-offs: {first['kiosks']} simulated kiosks (MQTT clients on one epoll loop) each sent a hand-off"
        f" ticket, a telemetry report and their status every 1-2 s (jittered) for {first['seconds']:.0f} s, through a"
        " real Mosquitto to one `fleet serve`; one `fleet web` on the same database had a manager logged in with its"
        " event stream open, reloading `/queue?partial=1` on each `ticket` event as `console.js` does, and a second"
        " connection closing each ticket once listed (so the 200-ticket queue keeps showing arrivals). Latency from"
        " just before the publish to the event, and to the event *and* a reloaded queue listing the ticket (shown);"
        f" target shown p50 <= {target['shown_p50_ms'] / 1000:g} s, p95 <= {target['shown_p95_ms'] / 1000:g} s.",
        "",
        "| database | tickets sent | shown | event p50 ms | event p95 ms | shown p50 ms | shown p95 ms | shown max ms"
        " | queue reloads | longest queue | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(_live_row(name, run, target) for name, run in live.items()),
        "",
        f"Pages: PostgreSQL holding {pages['devices']} kiosks in {pages['branches']} branches (status, a day of"
        f" telemetry: {rows['telemetry']:,} reports, {rows['service_stats']:,} daily analytics, {rows['rollouts']}"
        f" rollouts) and {rows['tickets']:,} tickets over {TICKET_DAYS} days ({pages['waiting_tickets']} still"
        f" waiting, {rows['ticket_notes']:,} notes, {rows['audit_log']:,} audit lines, {rows['changes']:,} feed rows),"
        f" generated and loaded with COPY in {pages['fill_s']} s, then `VACUUM ANALYZE`. Each page fetched"
        f" {PAGE_RUNS} times in a row (after {WARMUP} not counted; ticket and kiosk pages each time another) by a"
        f" manager and by a staff member of {pages['staff_branch']}: round trip measured by the client. Target p95"
        f" <= {target['page_p95_ms']:.0f} ms. Kiosks, rollouts and the audit are for managers only.",
        "",
        "| page | manager p50 ms | manager p95 ms | staff p50 ms | staff p95 ms | manager's page KB |",
        "|---|---|---|---|---|---|",
        *(
            f"| `{page}` | {_page_cell(times, target['page_p95_ms'])} |"
            f" {_page_cell(pages['staff'].get(page), target['page_p95_ms'])} | {times['kb']} |"
            for page, times in pages["manager"].items()
        ),
        "",
        f"Where the manager's dashboard ({ANALYTICS_DAYS} days) spends its time, the console's own calls timed in one"
        f" process (medians of 10): reading the {rows['devices'] * ANALYTICS_DAYS:,} analytics rows"
        f" {parts['analytics_rows']} ms, reading them (`FleetStore.analytics_records`) {parts['analytics']} ms,"
        f" summing them (`ServiceSummary.add_record`) {parts['summarise']} ms, the desk's response times"
        f" {parts['response_times']} ms.",
        "",
        f"The manager's pages over this data, in English and Chinese at 1280x800 (chromium):"
        f" {', '.join(f'[{name}](screenshots/console/{name})' for name in pages.get('screenshots', []))}.",
        "",
        "| query (PostgreSQL `EXPLAIN ANALYZE`) | scan | rows | execution ms |",
        "|---|---|---|---|",
        *(
            f"| {name} | {plan['scan']} | {plan['rows']:,} | {plan['execution_ms']} |"
            for name, plan in pages["plans"].items()
        ),
        "",
    ]
