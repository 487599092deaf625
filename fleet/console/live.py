"""Live updates for every open console, whichever process made the change.

Every write that a console shows (a ticket stored by any ``fleet serve``, a claim made in any ``fleet web``, a
device's status, a rollout's progress) adds a row to the ``changes`` table in the same database
(``FleetStore.note_change``). Each ``fleet web`` process runs one ``ChangeFeed`` thread that reads the rows
after the last it saw, every ``POLL_S``, and hands them to the server-sent-event streams of its browsers,
each filtered to what its user may see. One indexed query per process per poll, whatever the number of
browsers; and it works the same on SQLite and PostgreSQL with any number of processes, with no broker
round trip and no second channel that could disagree with the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fleet.store import FleetStore

log = logging.getLogger(__name__)
POLL_S = 0.2
PRUNE_EVERY_S = 3600.0  # each process also forgets feed rows older than KEEP_S, this often
KEEP_S = 24 * 3600.0
MAX_PENDING = 1000  # a browser that stops reading loses its stream rather than growing the server's memory


@dataclass(frozen=True)
class Change:
    id: int
    kind: str  # "ticket", "device" or "rollout"
    ref: str
    device_id: str | None


@dataclass
class _Listener:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Change | None]
    may_see: Callable[[str | None], bool]


class ChangeFeed:
    def __init__(self, open_store: Callable[[], FleetStore]) -> None:
        self._open_store = open_store
        self._listeners: list[_Listener] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def listen(self, may_see: Callable[[str | None], bool]) -> asyncio.Queue[Change | None]:
        """A queue of the changes ``may_see`` lets through (called with the change's device), from now on."""
        listener = _Listener(asyncio.get_running_loop(), asyncio.Queue(MAX_PENDING), may_see)
        with self._lock:
            self._listeners.append(listener)
        return listener.queue

    def forget(self, queue: asyncio.Queue[Change | None]) -> None:
        with self._lock:
            self._listeners = [listener for listener in self._listeners if listener.queue is not queue]

    def _run(self) -> None:
        store = self._open_store()
        try:
            last = store.last_change()
            pruned_at = time.monotonic()
            while not self._stop.wait(POLL_S):
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    self._prune(store)
                try:
                    rows = store.changes_after(last)
                except Exception:
                    log.exception("change feed: the database did not answer; trying again")
                    continue
                for change_id, kind, ref, device_id in rows:
                    last = change_id
                    self._deliver(Change(change_id, kind, ref, device_id))
        finally:
            store.close()

    @staticmethod
    def _prune(store: FleetStore) -> None:
        before = datetime.fromtimestamp(time.time() - KEEP_S, UTC).isoformat(timespec="milliseconds")
        try:
            store.prune_changes(before)
        except Exception:
            log.exception("change feed: old rows not pruned; trying again later")

    def _deliver(self, change: Change) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if listener.may_see(change.device_id):
                listener.loop.call_soon_threadsafe(_offer, listener.queue, change)


def _offer(queue: asyncio.Queue[Change | None], change: Change) -> None:
    """On the browser's event loop: queue the change, or end a stream that has fallen too far behind."""
    try:
        queue.put_nowait(change)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
