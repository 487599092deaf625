"""The console's JSON API (``/api``, described at ``/openapi.json`` and ``/docs``): what the pages show and do,
for scripts and other tools. Every route needs a session; every change also its CSRF token (``guard``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from fleet.console.accounts import User
from fleet.console.desk import Action
from fleet.console.guard import checked_user
from fleet.console.live import Change
from fleet.console.service import ConsoleService
from kiosk_link import wire

router = APIRouter(prefix="/api", tags=["console"])
SignedIn = Annotated[User, Depends(checked_user)]
HEARTBEAT_S = 15.0


def service(request: Request) -> ConsoleService:
    found: ConsoleService = request.app.state.service
    return found


Service = Annotated[ConsoleService, Depends(service)]


class TicketAction(BaseModel):
    note: str = Field(default="", max_length=2000)


class ConfigChange(BaseModel):
    """Settings to change (dotted keys); null returns a key to the kiosk's own value."""

    settings: dict[str, wire.SettingValue | None] = Field(min_length=1, max_length=64)


class ReleaseRequest(BaseModel):
    """Staged artifacts (``GET /api/artifacts``) to sign into a release of ``channel``."""

    artifacts: list[str] = Field(min_length=1, max_length=16)
    channel: str = Field(default="stable", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    min_kiosk_version: str = Field(default="0.1.0", pattern=r"^[0-9]+(\.[0-9]+){0,3}$")
    valid_days: float = Field(default=30.0, gt=0, le=3650)


class RolloutRequest(BaseModel):
    release_id: str
    group: str | None = None
    canary_percent: float = Field(default=10.0, ge=0, le=100)
    max_failure_percent: float = Field(default=20.0, ge=0, le=100)


@router.get("/me")
def me(user: SignedIn) -> dict[str, Any]:
    return user.to_dict()


@router.get("/queue")
def queue(user: SignedIn, svc: Service) -> list[dict[str, Any]]:
    """Tickets waiting for a colleague (new, open, pending), the longest-waiting first."""
    return svc.desk.queue(user)


@router.get("/tickets")
def tickets(
    user: SignedIn,
    svc: Service,
    status: Annotated[wire.TicketStatus | None, Query()] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Tickets newest first, filtered by status, type and creation day (UTC)."""
    return svc.desk.search(user, status, type, since, limit)


@router.get("/tickets/{ref}")
def ticket(ref: str, user: SignedIn, svc: Service, lang: Literal["en", "zh"] = "en") -> dict[str, Any]:
    """One ticket (reference or id) with its transcript, notes, files and brief (summary, suggested answers)."""
    found = svc.ticket(user, ref, lang)
    if found is None:
        raise HTTPException(404, f"no ticket {ref}")
    return found


@router.post("/tickets/{ref}/{action}")
def act(ref: str, action: Action, body: TicketAction, user: SignedIn, svc: Service) -> dict[str, Any]:
    """Claim ("I'm coming"), set pending or close a ticket, with a note; the kiosk is told of a hand-off."""
    outcome = svc.act(user, ref, action, body.note)
    return {"ticket": outcome.value, "kiosk_told": outcome.kiosk_told}


@router.get("/devices")
def devices(user: SignedIn, svc: Service) -> list[dict[str, Any]]:
    return svc.devices(user)


@router.post("/devices/{device_id}/config")
def set_config(device_id: str, body: ConfigChange, user: SignedIn, svc: Service) -> dict[str, Any]:
    """A new revision of the kiosk's remote configuration, checked against the kiosk's schema, then sent."""
    outcome = svc.set_config(user, device_id, body.settings)
    return {"revision": outcome.value.revision, "settings": outcome.value.settings, "kiosk_told": outcome.kiosk_told}


@router.get("/releases")
def releases(user: SignedIn, svc: Service) -> list[dict[str, Any]]:
    return svc.releases_list(user)


@router.get("/artifacts")
def artifacts(user: SignedIn, svc: Service) -> list[dict[str, str]]:
    """What a release can be made of: the packs and models staged on the backend."""
    return [vars(item) for item in svc.staged(user)]


@router.post("/releases")
def create_release(body: ReleaseRequest, user: SignedIn, svc: Service) -> dict[str, Any]:
    """Sign and store a release; no kiosk is offered it until a rollout starts."""
    release_id = svc.create_release(user, body.artifacts, body.channel, body.min_kiosk_version, body.valid_days)
    return next(r for r in svc.releases_list(user) if r["release_id"] == release_id)


@router.get("/rollouts")
def rollouts(user: SignedIn, svc: Service) -> list[dict[str, Any]]:
    return svc.rollouts(user)


@router.get("/rollouts/{rollout_id}")
def rollout(rollout_id: int, user: SignedIn, svc: Service) -> dict[str, Any]:
    found = svc.rollouts(user, rollout_id)
    if not found:
        raise HTTPException(404, f"no rollout {rollout_id}")
    return found[0]


@router.post("/rollouts")
def start_rollout(body: RolloutRequest, user: SignedIn, svc: Service) -> dict[str, Any]:
    """Start a rollout of a release; ``fleet serve`` offers it to the canaries, then to the rest."""
    rollout_id = svc.start_rollout(user, body.release_id, body.group, body.canary_percent, body.max_failure_percent)
    return svc.rollouts(user, rollout_id)[0]


@router.post("/rollouts/{rollout_id}/{action}")
def change_rollout(
    rollout_id: int, action: Literal["pause", "resume", "abort"], user: SignedIn, svc: Service
) -> dict[str, Any]:
    return {"rollout_id": rollout_id, "state": svc.change_rollout(user, rollout_id, action)}


@router.get("/dashboard")
def dashboard(user: SignedIn, svc: Service, days: Annotated[int, Query(ge=1, le=366)] = 14) -> dict[str, Any]:
    return svc.dashboard(user, days)


@router.get("/audit")
def audit(user: SignedIn, svc: Service, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    return svc.audit_entries(user, limit)


class BranchDevices:
    """Whether a change concerns a kiosk the user may see: any for a manager, else the kiosks of their branches,
    read again (at most every ``REFRESH_S``) when a change names one not known yet: a kiosk that was put in the
    branch, or first seen, after the page opened. Called on the change feed's thread."""

    REFRESH_S = 5.0

    def __init__(self, svc: ConsoleService, user: User) -> None:
        self.svc, self.user = svc, user
        self.devices: set[str] = set()
        self.read_at = -self.REFRESH_S

    def __call__(self, device_id: str | None) -> bool:
        if self.user.is_manager:
            return True
        if device_id not in self.devices and time.monotonic() - self.read_at >= self.REFRESH_S:
            marks = ", ".join("?" for _ in self.user.branches)
            rows = self.svc.pool.get().db.execute(
                f"SELECT device_id FROM device_groups WHERE group_name IN ({marks})", list(self.user.branches)
            )
            self.devices = {row[0] for row in rows.fetchall()}
            self.read_at = time.monotonic()
        return device_id in self.devices


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request, user: SignedIn, svc: Service) -> StreamingResponse:
    """Server-sent events: ``ticket``, ``device`` and ``rollout`` changes the user may see, as they happen."""
    may_see = BranchDevices(svc, user)
    feed = request.app.state.feed
    changes = feed.listen(may_see)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    change: Change | None = await asyncio.wait_for(changes.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": still here\n\n"
                    continue
                if change is None:  # fell too far behind: the browser reconnects and reloads
                    return
                data = {"id": change.id, "ref": change.ref, "device_id": change.device_id}
                yield f"id: {change.id}\nevent: {change.kind}\ndata: {json.dumps(data)}\n\n"
        finally:
            feed.forget(changes)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
