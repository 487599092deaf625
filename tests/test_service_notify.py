"""systemd's notify protocol, received on a real AF_UNIX datagram socket standing in for systemd's."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_app.service_notify import ServiceNotifier, Watchdog, watchdog_interval_s
from tests.ui_driver import UiDriver

INTERVAL_S = 0.2  # WatchdogSec=0.4s


class FakeSystemd:
    """Collects (arrival time, message) from a bound datagram socket on a thread, like systemd's manager."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._open = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while self._open:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, field: str, count: int = 1, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count(field) < count:
            assert time.monotonic() < deadline, f"{field} x{count} not received: {self.messages}"
            time.sleep(0.05)

    def count(self, field: str) -> int:
        return sum(field in message.splitlines() for _, message in self.messages)

    def times(self, field: str) -> list[float]:
        return [at for at, message in self.messages if field in message.splitlines()]

    def close(self) -> None:
        self._open = False
        self._thread.join()
        self.sock.close()


@pytest.fixture()
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd(f"@kiosk-notify-test-{os.getpid()}-{time.monotonic_ns()}")
    yield fake
    fake.close()


def test_kiosk_run_reports_ready_pings_from_its_loop_and_says_stopping(systemd: FakeSystemd, tmp_path: Path) -> None:
    """`kiosk run` as kiosk.service starts it: READY=1 once the screen is up, WATCHDOG=1 at half of WATCHDOG_USEC,
    STOPPING=1 and a clean exit on SIGTERM (what `systemctl stop` sends)."""
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "KIOSK_UI__CAMERA_DEVICE": "/dev/null",
        "NOTIFY_SOCKET": systemd.address,
        "WATCHDOG_USEC": str(int(2 * INTERVAL_S * 1e6)),
    }
    kiosk = [str(Path(sys.executable).parent / "kiosk"), "--data-dir", str(tmp_path), "run", "--window", "640x480"]
    process = subprocess.Popen(kiosk, env=env, stderr=subprocess.PIPE, text=True)
    try:
        systemd.wait_for("READY=1")
        systemd.wait_for("WATCHDOG=1", count=5, timeout_s=10)
        pings = systemd.times("WATCHDOG=1")
        gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
        assert all(INTERVAL_S * 0.8 <= gap <= INTERVAL_S * 2 for gap in gaps), gaps
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    systemd.wait_for("STOPPING=1", timeout_s=2)


def test_a_hung_ui_loop_sends_no_pings_while_it_hangs(systemd: FakeSystemd, ui: UiDriver) -> None:
    """The pings come from the loop itself: one iteration stuck for 4 intervals means 4 intervals of silence,
    which systemd (WatchdogSec = 2 intervals) answers by killing and restarting the kiosk."""
    watchdog = Watchdog(ServiceNotifier(systemd.address), INTERVAL_S)
    hang: list[tuple[float, float]] = []

    def stuck_once() -> None:
        if not hang and systemd.count("WATCHDOG=1") >= 3:
            started = time.monotonic()
            time.sleep(4 * INTERVAL_S)
            hang.append((started, time.monotonic()))

    ui.ui.on_loop += [watchdog.tick, stuck_once]
    ui.ui.run(seconds=8 * INTERVAL_S)
    time.sleep(0.1)  # the receiving thread's last datagrams
    started, ended = hang[0]
    pings = systemd.times("WATCHDOG=1")
    assert systemd.count("READY=1") == 1
    assert not [at for at in pings if started < at < ended], (hang, pings)
    assert [at for at in pings if at > ended], "the loop pings again once it runs"


def test_a_stalled_listening_loop_withholds_the_pings_of_a_running_ui(
    systemd: FakeSystemd, ui: UiDriver, caplog: pytest.LogCaptureFixture
) -> None:
    """The UI loop keeps drawing, but the listening loop's frame counter stops: after WatchdogSec without progress
    the pings stop, so systemd restarts a kiosk that could no longer hear; a loop that ended is not a hang."""
    watchdog = Watchdog(ServiceNotifier(systemd.address), INTERVAL_S)
    frames = itertools.count()
    frozen_at = time.monotonic() + 3 * INTERVAL_S
    watchdog.watch("listening", lambda: next(frames) if time.monotonic() < frozen_at else -1)
    ui.ui.on_loop.append(watchdog.tick)
    ui.ui.run(seconds=10 * INTERVAL_S)
    time.sleep(0.1)
    pings = systemd.times("WATCHDOG=1")
    assert pings and max(pings) < frozen_at + 3 * INTERVAL_S, (frozen_at, pings)
    assert "no progress in listening" in caplog.text

    ended = Watchdog(ServiceNotifier(systemd.address), INTERVAL_S)
    ended.watch("listening", lambda: None)
    before = systemd.count("WATCHDOG=1")
    ui.ui.on_loop[:] = [ended.tick]
    ui.ui.run(seconds=4 * INTERVAL_S)
    systemd.wait_for("WATCHDOG=1", count=before + 2, timeout_s=2)


def test_without_systemd_nothing_is_sent_and_there_is_no_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    watchdog = Watchdog.from_environment()
    assert not watchdog.notifier.enabled and watchdog.interval_s is None
    watchdog.tick()  # no socket to write to: a no-op
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_interval_s() == 15.0
