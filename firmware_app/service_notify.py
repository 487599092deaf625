"""systemd's notify protocol: READY=1 once the kiosk is up, WATCHDOG=1 from its loop, STOPPING=1 on the way out.

``kiosk.service`` is ``Type=notify`` with ``WatchdogSec=``: systemd restarts the kiosk when the pings stop. The pings
therefore come from the loop that serves customers (the touchscreen loop calls ``Watchdog.tick`` every frame), never
from a timer thread of their own, which would keep pinging while that loop hung. Other loops (the listening loop on
its thread) are watched through a progress value the UI loop reads: when one stops moving, the pings stop too.

Outside systemd (no ``NOTIFY_SOCKET``) everything here is a no-op. ``WATCHDOG_PID`` is not checked: under ``cage``
the kiosk is the compositor's child, not the unit's main process, and the unit says ``NotifyAccess=all``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)


class ServiceNotifier:
    """Sends notify messages to ``$NOTIFY_SOCKET`` (an AF_UNIX datagram socket; ``@name`` is abstract)."""

    def __init__(self, address: str | None) -> None:
        self.address = "\0" + address[1:] if address and address.startswith("@") else address

    @classmethod
    def from_environment(cls) -> ServiceNotifier:
        return cls(os.environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> None:
        """One datagram of ``KEY=VALUE`` lines; a failure is logged, never raised (the kiosk keeps serving)."""
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as error:
            log.warning("systemd notify failed: %s", error)

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")


def watchdog_interval_s() -> float | None:
    """Half of ``WATCHDOG_USEC`` (systemd's advice: ping at twice the rate it checks), or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    return int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None


class Watchdog:
    """Called once per iteration of the main loop: READY=1 on the first call, then WATCHDOG=1 every ``interval_s``
    while every watched loop has made progress within ``2 * interval_s`` (the unit's ``WatchdogSec``)."""

    def __init__(
        self, notifier: ServiceNotifier, interval_s: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.notifier = notifier
        self.interval_s = interval_s
        self._clock = clock
        self._ready = False
        self._last_ping = 0.0
        # name -> (probe, last value seen, when it last changed)
        self._watched: dict[str, tuple[Callable[[], Hashable | None], Hashable | None, float]] = {}
        self._stalled: set[str] = set()

    @classmethod
    def from_environment(cls) -> Watchdog:
        return cls(ServiceNotifier.from_environment(), watchdog_interval_s())

    def watch(self, name: str, progress: Callable[[], Hashable | None]) -> None:
        """Watch another loop: ``progress()`` returns a value that changes while it works (a frame counter), or
        None once it has ended on purpose (a finished recording), which is not a hang."""
        self._watched[name] = (progress, progress(), self._clock())

    def tick(self) -> None:
        now = self._clock()
        if not self._ready:
            self._ready = True
            self.notifier.send("READY=1", "STATUS=serving customers")
        if self.interval_s is None or now - self._last_ping < self.interval_s:
            return
        stalled = self._stalled_loops(now)
        if stalled:
            if stalled != self._stalled:
                log.error("watchdog pings withheld: no progress in %s", ", ".join(sorted(stalled)))
            self._stalled = stalled
            return
        self._stalled = set()
        self._last_ping = now
        self.notifier.send("WATCHDOG=1")

    def _stalled_loops(self, now: float) -> set[str]:
        assert self.interval_s is not None
        stalled = set()
        for name, (probe, seen, changed_at) in self._watched.items():
            value = probe()
            if value is None:
                continue
            if value != seen:
                self._watched[name] = (probe, value, now)
            elif now - changed_at > 2 * self.interval_s:
                stalled.add(name)
        return stalled
