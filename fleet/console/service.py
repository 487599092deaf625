"""What the console does, once, for both its pages and its JSON API: every change checks the user's role and
scope, is committed, audited, and (where a kiosk must know) sent to the kiosk.

Each server thread gets its own database connection (``StorePool``): SQLite's and psycopg's connections are
not to be shared by threads that may be in a transaction at the same time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleet.console.accounts import Sessions, User, Users
from fleet.console.artifacts import Staged, source, staged
from fleet.console.audit import AuditLog
from fleet.console.brief import PackAnswers
from fleet.console.desk import Action, HandoffDesk, scope_sql
from fleet.console.messenger import KioskMessenger
from fleet.releases import ReleaseStore
from fleet.remote_config import check_changes
from fleet.rollouts import RolloutError, change_rollout, rollouts, start_rollout
from fleet.signing import load_private_key
from fleet.stats import FLEET, ServiceSummary
from fleet.store import FleetStore
from kiosk_link import wire


@dataclass(frozen=True)
class ReleaseSigning:
    """Where a console that may make releases finds its signing key and the staged artifacts."""

    key: Path
    artifacts: Path


class Forbidden(Exception):
    """The user's role does not allow this."""


class StorePool:
    """One ``FleetStore`` per thread, opened on first use; the schema is migrated once, when the pool is made (a
    bad database fails the console's start, not the first login)."""

    def __init__(self, target: str | Path) -> None:
        FleetStore(target).close()
        self.target = target
        self._local = threading.local()
        self._opened: list[FleetStore] = []
        self._lock = threading.Lock()

    def get(self) -> FleetStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = FleetStore(self.target, migrate=False)
            with self._lock:
                self._opened.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._opened:
                store.close()
            self._opened.clear()


@dataclass(frozen=True)
class Outcome:
    """What a change did: the thing changed, and whether the kiosk was told (None: no kiosk to tell)."""

    value: Any
    kiosk_told: bool | None


def require_manager(user: User) -> None:
    if not user.is_manager:
        raise Forbidden(f"{user.username} is {user.role}; this needs a manager")


class ConsoleService:
    def __init__(
        self,
        pool: StorePool,
        releases: ReleaseStore,
        answers: PackAnswers,
        messenger: KioskMessenger | None,
        signing: ReleaseSigning | None = None,
    ) -> None:
        self.pool = pool
        self.releases = releases
        self.answers = answers
        self.messenger = messenger  # None: no broker configured; changes are stored, kiosks are not told
        self.signing = signing  # None: releases are made with `fleet release create`, not here

    # --- accounts ---------------------------------------------------------------------------------------

    @property
    def users(self) -> Users:
        return Users(self.pool.get().db)

    @property
    def sessions(self) -> Sessions:
        return Sessions(self.pool.get().db, self.users)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.pool.get().db)

    @property
    def desk(self) -> HandoffDesk:
        return HandoffDesk(self.pool.get())

    # --- tickets ----------------------------------------------------------------------------------------

    def ticket(self, user: User, ref: str, language: str) -> dict[str, Any] | None:
        """A ticket with its brief, or None where the user may not see it."""
        ticket = self.desk.ticket(user, ref)
        if ticket is not None:
            ticket["brief"] = self.answers.brief(ticket["ticket"], language).to_dict(ticket["language"])
        return ticket

    def act(self, user: User, ref: str, action: Action, note: str) -> Outcome:
        changed = self.desk.act(user, ref, action, note)
        self.audit.record(user.username, f"ticket.{action}", changed.ticket["reference"], {"note": note[:200]})
        told = None
        if changed.message is not None:
            told = self._send(changed.ticket["device_id"], "handoff", changed.message.encode())
        return Outcome(changed.ticket, told)

    def _send(self, device_id: str, kind: wire.DeviceTopic, payload: bytes, retain: bool = False) -> bool:
        return self.messenger is not None and self.messenger.send(device_id, kind, payload, retain)

    # --- devices and configuration ---------------------------------------------------------------------

    def devices(self, user: User) -> list[dict[str, Any]]:
        require_manager(user)
        return self.pool.get().devices()

    def device(self, user: User, device_id: str) -> dict[str, Any] | None:
        """One kiosk as ``devices`` lists it, with its recent telemetry (for the page's charts)."""
        require_manager(user)
        store = self.pool.get()
        found = store.devices(device_id)
        if not found:
            return None
        telemetry = store.recent_telemetry(device_id)
        return found[0] | {
            "telemetry": [{"sent_at": at, "queue_depth": depth, "report": report} for at, depth, report in telemetry]
        }

    def set_config(self, user: User, device_id: str, changes: dict[str, wire.SettingValue | None]) -> Outcome:
        """Check ``changes`` against the kiosk's schema (``ValueError`` naming each bad key, nothing saved), then
        save a new revision of the device's remote configuration and publish it retained."""
        require_manager(user)
        wire.validate_device_id(device_id)
        check_changes(changes)
        remote = self.pool.get().next_config(device_id, changes)
        self.audit.record(user.username, "config.set", device_id, {"revision": remote.revision, "changes": changes})
        return Outcome(remote, self._send(device_id, "config", remote.encode(), retain=True))

    # --- releases and rollouts -------------------------------------------------------------------------

    def releases_list(self, user: User) -> list[dict[str, Any]]:
        require_manager(user)
        return [
            {
                "release_id": r.manifest.release_id,
                "channel": r.manifest.channel,
                "created_at": str(r.manifest.created_at),
                "artifacts": [f"{a.kind}:{a.name} {a.version}" for a in r.manifest.artifacts],
            }
            for r in self.releases.releases()
        ]

    def staged(self, user: User) -> list[Staged]:
        require_manager(user)
        return staged(self.signing.artifacts) if self.signing else []

    def create_release(
        self, user: User, keys: list[str], channel: str, min_kiosk_version: str, valid_days: float
    ) -> str:
        """Sign and store a release of the staged artifacts ``keys``; it is offered to no kiosk until a rollout."""
        require_manager(user)
        if self.signing is None:
            raise ValueError("this console has no release key: start `fleet web` with --release-key")
        if not keys:
            raise ValueError("choose at least one artifact")
        sources = [source(self.signing.artifacts, key) for key in keys]
        created = self.releases.create(
            sources, load_private_key(self.signing.key), channel, min_kiosk_version, timedelta(days=valid_days)
        )
        release_id = created.manifest.release_id
        self.audit.record(user.username, "release.create", release_id, {"artifacts": keys, "channel": channel})
        return release_id

    def rollouts(self, user: User, rollout_id: int | None = None) -> list[dict[str, Any]]:
        require_manager(user)
        return rollouts(self.pool.get(), rollout_id)

    def start_rollout(
        self, user: User, release_id: str, group: str | None, canary_percent: float, max_failure_percent: float
    ) -> int:
        require_manager(user)
        manifest = self.releases.manifest(release_id)
        if manifest is None:
            raise RolloutError(f"no release {release_id!r}")
        rollout_id = start_rollout(self.pool.get(), manifest, group or None, canary_percent, max_failure_percent)
        detail = {
            "release": release_id,
            "group": group,
            "canary_percent": canary_percent,
            "max_failure_percent": max_failure_percent,
        }
        self.audit.record(user.username, "rollout.start", str(rollout_id), detail)
        return rollout_id

    def change_rollout(self, user: User, rollout_id: int, action: str) -> str:
        require_manager(user)
        state = change_rollout(self.pool.get(), rollout_id, action)
        self.audit.record(user.username, f"rollout.{action}", str(rollout_id), {"state": state})
        return state

    # --- dashboard and audit ---------------------------------------------------------------------------

    def dashboard(self, user: User, days: int = 14) -> dict[str, Any]:
        """Visits, resolution and hand-off rates, ratings, top intents, knowledge gaps, per day and in all,
        with the desk's response times; staff see their branches' kiosks."""
        first = (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
        store = self.pool.get()
        visible = None
        if not user.is_manager:
            scope, params = scope_sql(user)
            visible = [
                row[0] for row in store.db.execute(f"SELECT device_id FROM devices WHERE {scope}", params).fetchall()
            ]
        fleet = ServiceSummary(FLEET)
        per_day: dict[str, ServiceSummary] = {}
        for _, record in store.analytics_records(first, visible):
            fleet.add_record(record)
            per_day.setdefault(record["day"], ServiceSummary(FLEET)).add_record(record)
        return {
            "since": first,
            "fleet": fleet.to_dict(),
            "days": [
                {"day": day, "conversations": s.conversations, "resolved": s.resolved, "handoffs": s.handoffs}
                for day, s in sorted(per_day.items())
            ],
            "response_times": self.desk.response_times(user, first),
        }

    def audit_entries(self, user: User, limit: int = 200) -> list[dict[str, Any]]:
        require_manager(user)
        return self.audit.entries(limit)
