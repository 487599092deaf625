"""Randomized fault cycles against real processes: no ticket lost, none stored twice.

A real Mosquitto, a real ``fleet serve`` process and a real ``kiosk sync run`` process; the test files tickets
into the kiosk's database through the real ``TicketStore`` the whole time, as the dialogue would. Each cycle
picks one fault at random (the seed is printed; ``FAULT_SEED`` replays a run, ``FAULT_CYCLES`` changes the count:
the suite runs 25 with a fresh seed each time, and ``FAULT_CYCLES=100`` is the longer soak the results quote):

- ``kill_kiosk``: a burst of tickets, then SIGKILL of the kiosk sync a few milliseconds into publishing it, and
  a restart (it resumes from its outbox);
- ``kill_backend``: SIGKILL of ``fleet serve`` (whatever it committed but had not acknowledged is sent again),
  and a new one;
- ``restart_broker``: the broker stopped and started at once (its persistence keeps the kiosk's session);
- ``cut_network``: the broker gone for 0.2-1 s, so both ends lose the link and reconnect with backoff;
- ``duplicate``: a ticket the backend already stored, published again straight to the broker 1-3 times.

Then the outbox must drain, and the backend must hold exactly the filed tickets, each once.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firmware_app.store import open_database
from firmware_app.tickets.store import TicketStore
from kiosk_link import wire
from tests.mosquitto import MOSQUITTO, Mosquitto
from tests.test_sync_broker import KIOSK, FleetProcess, client, stored, wait_until
from tests.test_sync_wire import ticket_request

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="the mosquitto broker is not installed")

DEVICE = "kiosk-faults-01"
CYCLES = int(os.environ.get("FAULT_CYCLES", "25"))
FAULTS = ("kill_kiosk", "kill_backend", "restart_broker", "cut_network", "duplicate")
FILE_EVERY_S = 0.02  # the steady stream of tickets, besides the bursts before a kiosk kill
BURST = 30


class KioskProcess:
    """``kiosk sync run`` with its own data folder and short timers, so that a test can SIGKILL it."""

    def __init__(self, broker: Mosquitto, data_dir: Path) -> None:
        self.broker = broker
        self.log = data_dir.parent / "kiosk-sync.log"
        self.command = [str(KIOSK), "--data-dir", str(data_dir), "sync", "run"]
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("KIOSK_")}
        self.env |= {
            "KIOSK_DEVICE_ID": DEVICE,
            "KIOSK_SYNC__BROKER_PORT": str(broker.port),
            "KIOSK_SYNC__KEEPALIVE_S": "2",
            "KIOSK_SYNC__RECONNECT_MIN_S": "0.05",
            "KIOSK_SYNC__RECONNECT_MAX_S": "0.5",
            "KIOSK_SYNC__ACK_TIMEOUT_S": "1.0",
            "KIOSK_SYNC__POLL_S": "0.05",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._connections_before = 0

    def connections(self) -> int:
        """How often the broker has accepted this kiosk (its log outlives broker restarts)."""
        return self.broker.log.read_text(errors="replace").count(f" as {DEVICE} ")

    def start(self) -> None:
        self._connections_before = self.connections()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log)

    def wait_connected(self) -> None:
        """Until the broker has accepted this process (or one of its reconnections)."""
        assert self.process is not None and self.process.poll() is None, self.log.read_text()[-2000:]
        wait_until(lambda: self.connections() > self._connections_before, "the kiosk sync to connect")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Filer:
    """Files tickets through the real ``TicketStore`` on its own thread, as the kiosk's dialogue does."""

    def __init__(self, tickets: TicketStore) -> None:
        self.tickets = tickets
        self.filed: list[str] = []
        self._bursts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filer")

    def _file(self) -> None:
        self.filed.append(self.tickets.create(ticket_request(summary=f"visit {len(self.filed)}")).ticket_id)

    def _run(self) -> None:
        while not self._stop.wait(FILE_EVERY_S):
            with self._lock:
                bursts, self._bursts = self._bursts, 0
            for _ in range(1 + bursts * BURST):
                self._file()

    def burst(self) -> None:
        with self._lock:
            self._bursts += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def duplicate(broker: Mosquitto, fleet_db: Path, rng: random.Random) -> int:
    """Publish a ticket the backend already stored again, 1-3 times, as a broker redelivering it would."""
    with sqlite3.connect(fleet_db) as conn:
        row = conn.execute("SELECT payload FROM tickets ORDER BY random() LIMIT 1").fetchone()
    if row is None:
        return 0
    times = rng.randint(1, 3)
    sender = client(broker, "duplicator")
    try:
        for _ in range(times):
            sender.publish(wire.device_topic(DEVICE, "tickets"), row[0].encode(), qos=1).wait_for_publish(5)
    finally:
        sender.disconnect()
        sender.loop_stop()
    return times


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def test_randomized_fault_cycles_lose_no_ticket_and_store_none_twice(tmp_path: Path, broker: Mosquitto) -> None:
    seed = int(os.environ.get("FAULT_SEED", str(random.randrange(2**32))))
    print(f"fault cycles: {CYCLES}, seed {seed} (FAULT_SEED={seed} replays it)")
    rng = random.Random(seed)
    fleet_db = tmp_path / "fleet" / "fleet.db"
    db = open_database(tmp_path / "kiosk" / "kiosk.db")  # migrated before the kiosk process opens it
    tickets = TicketStore(db, DEVICE)
    backends = [FleetProcess(broker, fleet_db, tmp_path / "fleet-0.log")]
    kiosk = KioskProcess(broker, tmp_path / "kiosk")
    filer = Filer(tickets)
    faults: Counter[str] = Counter()
    duplicates = 0

    def restart_backend() -> None:
        backends[-1].kill()
        backends.append(FleetProcess(broker, fleet_db, tmp_path / f"fleet-{len(backends)}.log"))

    def kill_kiosk() -> None:
        kiosk.wait_connected()
        filer.burst()  # the kill lands while this burst is being published
        time.sleep(FILE_EVERY_S + rng.uniform(0.0, 0.1))
        kiosk.kill()
        kiosk.start()

    def restart_broker(down_s: float = 0.0) -> None:
        broker.stop()
        time.sleep(down_s)
        broker.start()

    actions: dict[str, Callable[[], None]] = {
        "kill_kiosk": kill_kiosk,
        "kill_backend": restart_backend,
        "restart_broker": restart_broker,
        "cut_network": lambda: restart_broker(rng.uniform(0.2, 1.0)),
    }
    started = time.monotonic()
    try:
        kiosk.start()
        filer.start()
        kiosk.wait_connected()
        for _ in range(CYCLES):
            fault = rng.choice(FAULTS)
            faults[fault] += 1
            if fault == "duplicate":
                duplicates += duplicate(broker, fleet_db, rng)
            else:
                actions[fault]()
            time.sleep(rng.uniform(0.05, 0.3))
        filer.stop()
        wait_until(lambda: tickets.outbox_depth() == 0, "the outbox to drain after the last fault", timeout=60)
        rows = stored(fleet_db)
        elapsed = time.monotonic() - started
        print(
            f"filed {len(filer.filed)}, stored rows {len(rows)}, distinct {len(set(rows))}, duplicates delivered"
            f" {duplicates}, faults {dict(sorted(faults.items()))}, {elapsed:.1f} s"
        )
        assert len(rows) == len(set(rows)), "a ticket stored twice"
        assert sorted(rows) == sorted(filer.filed), "tickets lost (or stored that were never filed)"
    finally:
        filer.stop()
        kiosk.stop()
        for backend in backends:
            backend.stop()
        db.close()
