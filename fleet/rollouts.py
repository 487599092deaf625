"""Rollouts: a release offered to a canary share of a channel's devices first, then to the rest, stopping itself
when too many of the devices that finished failed (hawkBit / AWS IoT Jobs style). Also the backend's record of
every kiosk's update reports, which is what a rollout advances on.

Everything here is the database (``fleet.store`` migration 4): ``update_status`` keeps, per device and release,
the latest report and when the first and the latest came; ``device_groups`` the fleet manager's groups;
``rollouts`` and ``rollout_devices`` each rollout, its targets (fixed when it starts, so a device joining the
channel later is not swept in halfway) and which of them were offered the release. ``advance`` is the state
machine: it reads the reports, decides, records, and returns what to publish; ``rollout_engine`` publishes it.
A rollout's state lives only here, so a restarted backend carries on where the last one stopped.

Targeting reaches the kiosk through its own retained topic (``kiosk/v1/{device}/release``): the signed release
is published there, unchanged, for each device offered it, and an empty retained message withdraws the offer.
A release reaches devices only through a rollout, never by being stored: the channels' topics carry none
(``channel_clears`` empties them, also of what an older backend left there), so a device not targeted, or a new
kiosk joining a channel, never sees one.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fleet.releases import ReleaseStore
from fleet.store import FleetStore
from kiosk_link import wire

RolloutState = Literal["running", "paused", "halted", "aborted", "finished"]
Phase = Literal["canary", "all"]
FINAL: tuple[wire.UpdateState, ...] = ("installed", "rolled_back", "failed", "refused")
FAILURES: tuple[wire.UpdateState, ...] = ("failed", "rolled_back")
# What a pause, resume or abort may follow: a halted rollout can only be aborted (its failures stand).
TRANSITIONS: dict[str, tuple[RolloutState, tuple[RolloutState, ...]]] = {
    "pause": ("paused", ("running",)),
    "resume": ("running", ("paused",)),
    "abort": ("aborted", ("running", "paused", "halted")),
}
ACTIVE: tuple[RolloutState, ...] = ("running", "paused")


class RolloutError(ValueError):
    """A rollout that cannot be started or changed; the message says why, for the fleet manager."""


@dataclass(frozen=True)
class Publish:
    """A retained message for ``rollout_engine`` to publish: an offer, or ``b""`` (an offer withdrawn)."""

    topic: str
    payload: bytes


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def record_update(store: FleetStore, device_id: str, report: wire.UpdateStatusV1) -> None:
    """Keep the device's latest report about the release; an outcome is never replaced by progress (a late or
    repeated "downloading", or the retained outcome delivered again when a backend reconnects)."""
    now = _now()
    with store.db.transaction():  # the change feed's rows are written under the write lock, in order
        store.db.execute(
            "INSERT INTO update_status (device_id, release_id, state, reason, detail, done, total, first_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id, release_id) DO UPDATE SET"
            " state = excluded.state, reason = excluded.reason, detail = excluded.detail, done = excluded.done,"
            " total = excluded.total, updated_at = excluded.updated_at"
            f" WHERE update_status.state NOT IN ({', '.join('?' * len(FINAL))})",
            [
                *(device_id, report.release_id or "", report.state, report.reason, report.detail),
                *(report.done, report.total, now, now, *FINAL),
            ],
        )
        store.note_change("rollout", report.release_id or "", device_id)


def set_groups(store: FleetStore, group: str, devices: Iterable[str], member: bool) -> None:
    """Put ``devices`` in ``group`` (or take them out); ids are checked as the wire checks them."""
    rows = [[wire.validate_device_id(device), wire.validate_device_id(group)] for device in devices]
    sql = (
        "INSERT INTO device_groups (device_id, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING"
        if member
        else "DELETE FROM device_groups WHERE device_id = ? AND group_name = ?"
    )
    with store.db.transaction():
        for row in rows:
            store.db.execute(sql, row)


def device_assignments(store: FleetStore) -> list[dict[str, Any]]:
    """Every device seen or grouped: the channel its kiosk reports (its ``[updates] channel``) and its groups."""
    groups: defaultdict[str, list[str]] = defaultdict(list)
    rows = store.db.execute("SELECT device_id, group_name FROM device_groups ORDER BY group_name").fetchall()
    for device, group in rows:
        groups[device].append(group)
    channels = dict(store.db.execute("SELECT device_id, channel FROM devices").fetchall())
    return [
        {"device_id": device, "channel": channels.get(device), "groups": groups[device]}
        for device in sorted(channels.keys() | groups.keys())
    ]


def canary_devices(release_id: str, devices: list[str], percent: float) -> set[str]:
    """The canary share of ``devices``: the first ``ceil(percent)`` of them (one at least, for any share) ranked
    by a hash of the release and the device id, so the choice is reproducible yet differs from release to
    release (no kiosk is the guinea pig every time)."""
    if percent <= 0:
        return set()
    count = max(1, math.ceil(len(devices) * percent / 100))
    ranked = sorted(devices, key=lambda device: hashlib.sha256(f"{release_id}/{device}".encode()).digest())
    return set(ranked[:count])


def start_rollout(
    store: FleetStore,
    release: wire.ReleaseManifestV1,
    group: str | None,
    canary_percent: float,
    max_failure_percent: float,
) -> int:
    """Record a rollout of ``release`` to its channel's devices (those in ``group``, if given); its id.

    Targets are the devices whose kiosk reported the release's channel: a kiosk on another channel would refuse
    the release anyway. One active rollout per channel, since a device's offer topic holds one release."""
    if not 0 <= canary_percent <= 100 or not 0 <= max_failure_percent <= 100:
        raise RolloutError("percentages go from 0 to 100")
    channel = release.channel
    sql = "SELECT device_id FROM devices WHERE channel = ?"
    params = [channel]
    if group is not None:
        sql += " AND device_id IN (SELECT device_id FROM device_groups WHERE group_name = ?)"
        params.append(group)
    now = _now()
    with store.db.transaction():
        targets = [row[0] for row in store.db.execute(sql + " ORDER BY device_id", params).fetchall()]
        if not targets:
            where = f" in group {group!r}" if group else ""
            raise RolloutError(f"no device{where} has reported channel {channel!r}")
        active = store.db.execute(
            "SELECT id FROM rollouts WHERE channel = ? AND state IN (?, ?)", [channel, *ACTIVE]
        ).fetchone()
        if active is not None:
            raise RolloutError(f"rollout {active[0]} is still active on {channel!r}: pause it to keep it, or abort it")
        if store.db.execute("SELECT 1 FROM rollouts WHERE release_id = ?", [release.release_id]).fetchone():
            raise RolloutError(f"{release.release_id} has had a rollout already")
        canaries = canary_devices(release.release_id, targets, canary_percent)
        (rollout_id,) = store.db.execute(
            "INSERT INTO rollouts (release_id, channel, group_name, canary_percent, max_failure_percent, state,"
            " phase, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?) RETURNING id",
            [
                *(release.release_id, channel, group, canary_percent, max_failure_percent),
                *("canary" if canaries else "all", now, now),
            ],
        ).fetchone()
        for device in targets:
            store.db.execute(
                "INSERT INTO rollout_devices (rollout_id, device_id, canary) VALUES (?, ?, ?)",
                [rollout_id, device, int(device in canaries)],
            )
        store.note_change("rollout", str(rollout_id))
    return int(rollout_id)


def change_rollout(store: FleetStore, rollout_id: int, action: str) -> RolloutState:
    """Pause, resume or abort; the new state. ``rollout_engine`` acts on it at its next step."""
    new_state, allowed = TRANSITIONS[action]
    with store.db.transaction():
        row = store.db.execute("SELECT state FROM rollouts WHERE id = ?", [rollout_id]).fetchone()
        if row is None:
            raise RolloutError(f"no rollout {rollout_id}")
        if row[0] not in allowed:
            raise RolloutError(f"rollout {rollout_id} is {row[0]}; only a {' or '.join(allowed)} one can {action}")
        store.db.execute(
            "UPDATE rollouts SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
            [new_state, "aborted by the fleet manager" if action == "abort" else None, _now(), rollout_id],
        )
        store.note_change("rollout", str(rollout_id))
    return new_state


def channel_clears(releases: ReleaseStore) -> list[Publish]:
    """An empty retained message for the topic of every channel that has releases: a channel's topic offers
    nothing (an older backend published the newest release there, which a kiosk joining the channel would
    install before any rollout began), releases being offered device by device."""
    return [Publish(wire.release_topic(channel), b"") for channel in releases.latest_per_channel()]


@dataclass(frozen=True)
class DeviceProgress:
    """One target of a rollout: ``pending`` (not offered yet), ``offered`` (no report yet), or its last report."""

    device_id: str
    canary: bool
    state: str
    reason: str | None
    detail: str | None
    done: int
    total: int
    updated_at: str | None

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "canary": self.canary,
            "state": self.state,
            "reason": self.reason,
            "detail": self.detail,
            "progress": round(100 * self.done / self.total) if self.total else None,
            "updated_at": self.updated_at,
        }


def devices_of(store: FleetStore, rollout_id: int) -> list[DeviceProgress]:
    rows = store.db.execute(
        "SELECT rd.device_id, rd.canary, rd.offered_at, u.state, u.reason, u.detail, u.done, u.total, u.updated_at"
        " FROM rollout_devices rd JOIN rollouts r ON r.id = rd.rollout_id"
        " LEFT JOIN update_status u ON u.device_id = rd.device_id AND u.release_id = r.release_id"
        " WHERE rd.rollout_id = ? ORDER BY rd.canary DESC, rd.device_id",
        [rollout_id],
    ).fetchall()
    return [
        DeviceProgress(
            device,
            bool(canary),
            # A device may report before it is recorded as offered (it took the release from its channel's topic,
            # where an older backend published it, before the rollout began): its report counts.
            state or ("offered" if offered_at else "pending"),
            reason,
            detail,
            done or 0,
            total or 0,
            updated_at or offered_at,
        )
        for device, canary, offered_at, state, reason, detail, done, total, updated_at in rows
    ]


_ROLLOUT_COLUMNS = (
    "id",
    "release_id",
    "channel",
    "group_name",
    "canary_percent",
    "max_failure_percent",
    "state",
    "phase",
    "reason",
    "created_at",
    "updated_at",
)


def rollouts(store: FleetStore, rollout_id: int | None = None) -> list[dict[str, Any]]:
    """Rollouts (one, or all, oldest first) with their devices and a count of the devices per state."""
    where = " WHERE id = ?" if rollout_id is not None else ""
    rows = store.db.execute(
        f"SELECT {', '.join(_ROLLOUT_COLUMNS)} FROM rollouts{where} ORDER BY id",
        [rollout_id] if rollout_id is not None else [],
    ).fetchall()
    found = []
    for row in rows:
        rollout = dict(zip(_ROLLOUT_COLUMNS, row, strict=True))
        devices = devices_of(store, rollout["id"])
        rollout["counts"] = dict(Counter(device.state for device in devices))
        rollout["devices"] = [device.to_dict() for device in devices]
        found.append(rollout)
    return found


def _failure_reason(devices: list[DeviceProgress], max_failure_percent: float) -> str | None:
    """Why the rollout must halt, if the failures among the finished devices are past the threshold."""
    finished = [device for device in devices if device.finished]
    failed = [device for device in finished if device.state in FAILURES]
    if not finished or 100 * len(failed) / len(finished) <= max_failure_percent:
        return None
    causes = Counter(f"{device.state} ({device.reason})" if device.reason else device.state for device in failed)
    listed = ", ".join(f"{count} {cause}" for cause, count in causes.most_common())
    return f"{len(failed)} of {len(finished)} finished devices failed ({listed}): above {max_failure_percent:g}%"


def advance(store: FleetStore, releases: ReleaseStore) -> list[Publish]:
    """One step of every rollout that needs one; what to publish for it.

    A running rollout halts when its failures pass the threshold; in its canary phase it moves on to all its
    devices once every canary finished and at least one installed; it offers the release to the devices its
    phase allows that were not offered yet, and finishes when every device finished. A halted or aborted one
    has its offers withdrawn, once. Offers are claimed in the same transaction that decides them, so two
    ``fleet serve`` processes stepping at once do not both offer."""
    publishes: list[Publish] = []
    with store.db.transaction():
        rows = store.db.execute(
            "SELECT id, release_id, state, phase, max_failure_percent FROM rollouts"
            " WHERE state = 'running' OR (state IN ('halted', 'aborted') AND withdrawn = 0)"
        ).fetchall()
        for rollout_id, release_id, state, phase, max_failure in rows:
            if state == "running":
                publishes += _step(store, releases, rollout_id, release_id, phase, max_failure)
            else:
                publishes += _withdraw(store, rollout_id)
    return publishes


def _step(
    store: FleetStore, releases: ReleaseStore, rollout_id: int, release_id: str, phase: Phase, max_failure: float
) -> list[Publish]:
    devices = devices_of(store, rollout_id)
    old_phase = phase
    halt = _failure_reason(devices, max_failure)
    canaries = [device for device in devices if device.canary]
    if halt is None and phase == "canary" and all(device.finished for device in canaries):
        if any(device.state == "installed" for device in canaries):
            phase = "all"
        else:
            halt = "no canary device installed it: " + ", ".join(f"{d.device_id} {d.state}" for d in canaries)
    if halt is not None:
        _set(store, rollout_id, "halted", phase, halt)
        return _withdraw(store, rollout_id)
    if all(device.finished for device in devices):
        _set(store, rollout_id, "finished", phase)
        return []
    if phase != old_phase:
        _set(store, rollout_id, "running", phase)
    due = [device.device_id for device in devices if device.state == "pending" and (phase == "all" or device.canary)]
    if not due:
        return []
    signed = releases.signed_bytes(release_id)
    if signed is None:  # removed from the releases folder since the rollout began
        _set(store, rollout_id, "halted", phase, f"release {release_id} is no longer in the releases folder")
        return _withdraw(store, rollout_id)
    for device in due:
        store.db.execute(
            "UPDATE rollout_devices SET offered_at = ? WHERE rollout_id = ? AND device_id = ?",
            [_now(), rollout_id, device],
        )
    return [Publish(wire.device_topic(device, "release"), signed) for device in due]


def _set(store: FleetStore, rollout_id: int, state: RolloutState, phase: Phase, reason: str | None = None) -> None:
    store.db.execute(
        "UPDATE rollouts SET state = ?, phase = ?, reason = ?, updated_at = ? WHERE id = ?",
        [state, phase, reason, _now(), rollout_id],
    )
    store.note_change("rollout", str(rollout_id))


def _withdraw(store: FleetStore, rollout_id: int) -> list[Publish]:
    """Clear the offers this rollout made (a device offered by a later rollout keeps that one's offer)."""
    store.db.execute("UPDATE rollouts SET withdrawn = 1 WHERE id = ?", [rollout_id])
    rows = store.db.execute(
        "SELECT device_id FROM rollout_devices rd WHERE rollout_id = ? AND offered_at IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM rollout_devices later WHERE later.device_id = rd.device_id AND later.rollout_id > ?"
        "  AND later.offered_at IS NOT NULL)",
        [rollout_id, rollout_id],
    ).fetchall()
    return [Publish(wire.device_topic(device, "release"), b"") for (device,) in rows]


def retained_offers(store: FleetStore, releases: ReleaseStore) -> list[Publish]:
    """What every offer topic should hold, for a (re)connecting publisher to assert again: the latest offer
    made to each device, if its rollout still stands (running, paused or finished), else nothing."""
    rows = store.db.execute(
        "SELECT rd.device_id, r.release_id, r.state FROM rollout_devices rd JOIN rollouts r ON r.id = rd.rollout_id"
        " WHERE rd.offered_at IS NOT NULL AND rd.rollout_id = (SELECT MAX(rollout_id) FROM rollout_devices x"
        "  WHERE x.device_id = rd.device_id AND x.offered_at IS NOT NULL)"
    ).fetchall()
    publishes = []
    for device, release_id, state in rows:
        signed = releases.signed_bytes(release_id) if state in (*ACTIVE, "finished") else b""
        publishes.append(Publish(wire.device_topic(device, "release"), signed or b""))
    return publishes
