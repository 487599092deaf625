"""The console's pages: Jinja templates rendered on the server, forms that post back (with the CSRF token) and
redirect, and regions that ``console.js`` reloads when the live feed says they changed (``?partial=1``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from fleet.console import charts
from fleet.console.accounts import LoginRefused, User
from fleet.console.api import Service
from fleet.console.desk import Action
from fleet.console.guard import COOKIE, SESSION_COOKIE_S, checked_user, session_of
from fleet.console.strings import LANGUAGES, text
from fleet.remote_config import parse_assignments

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES)
SignedIn = Annotated[User, Depends(checked_user)]


def language(request: Request) -> str:
    chosen = request.cookies.get("lang", "")
    return chosen if chosen in LANGUAGES else "en"


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    """A page, or only its live region (``_name``) when ``console.js`` asks with ``?partial=1``."""
    lang = language(request)
    session = getattr(request.state, "session", None)
    if request.query_params.get("partial") and (TEMPLATES / f"_{name}").is_file():
        name = f"_{name}"
    return templates.TemplateResponse(
        request,
        name,
        {"t": text(lang), "lang": lang, "session": session, "user": session.user if session else None, **context},
    )


def back(url: str, note: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"{url}?done={note}" if note else url, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=next, problem=request.query_params.get("problem"))


@router.post("/login")
def login(
    request: Request,
    svc: Service,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    address = request.client.host if request.client else "?"
    if not request.app.state.login_limiter.allow(address):
        raise HTTPException(429, "too many login attempts; wait a minute")
    target = next if next.startswith("/") and not next.startswith("//") else "/"  # never off the console
    try:
        user = svc.users.verify(username, password)
    except LoginRefused as exc:
        svc.audit.record(username[:64], "login.refused", address, {"locked": exc.locked})
        problem = "locked" if exc.locked else "wrong"
        return RedirectResponse(f"/login?problem={problem}&next={quote(target)}", status_code=303)
    token, _ = svc.sessions.create(user)
    svc.audit.record(user.username, "login", address)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_COOKIE_S,
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
    )
    return response


@router.post("/logout")
async def logout(request: Request, svc: Service, user: SignedIn) -> Response:
    svc.sessions.end(request.cookies.get(COOKIE, ""))
    svc.audit.record(user.username, "logout", "")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(next if next.startswith("/") and not next.startswith("//") else "/", 303)
    response.set_cookie("lang", code if code in LANGUAGES else "en", samesite="strict", max_age=365 * 86400)
    return response


@router.get("/")
def home(request: Request) -> Response:
    session_of(request)
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue(request: Request, user: SignedIn, svc: Service) -> HTMLResponse:
    return render(request, "queue.html", tickets=svc.desk.queue(user))


@router.get("/tickets")
def tickets(
    request: Request, user: SignedIn, svc: Service, status: str = "", type: str = "", since: str = ""
) -> HTMLResponse:
    found = svc.desk.search(user, status or None, type or None, since or None)
    return render(request, "tickets.html", tickets=found, status=status, type=type, since=since)


@router.get("/tickets/{ref}")
def ticket(request: Request, ref: str, user: SignedIn, svc: Service) -> HTMLResponse:
    found = svc.ticket(user, ref, language(request))
    if found is None:
        raise HTTPException(404, f"no ticket {ref}")
    return render(request, "ticket.html", ticket=found, done=request.query_params.get("done"))


@router.post("/tickets/{ref}/{action}")
def act(ref: str, action: Action, user: SignedIn, svc: Service, note: Annotated[str, Form()] = "") -> Response:
    outcome = svc.act(user, ref, action, note)
    told = {None: None, True: "kiosk_told", False: "kiosk_not_told"}[outcome.kiosk_told]
    return back(f"/tickets/{outcome.value['reference']}", told)


@router.get("/tickets/{ref}/files/{name:path}")
def ticket_file(ref: str, name: str, user: SignedIn, svc: Service) -> FileResponse:
    """A ticket's stored photo: only a name the ticket lists, stored and checked by ``fleet serve``."""
    found = svc.desk.ticket(user, ref)
    if found is None or found["files"].get(name) != "stored":
        raise HTTPException(404, "no such file")
    path = svc.pool.get().files_dir / found["device_id"] / found["id"] / name
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/devices")
def devices(request: Request, user: SignedIn, svc: Service) -> HTMLResponse:
    return render(request, "devices.html", devices=svc.devices(user))


@router.get("/devices/{device_id}")
def device(request: Request, device_id: str, user: SignedIn, svc: Service) -> HTMLResponse:
    found = svc.device(user, device_id)
    if found is None:
        raise HTTPException(404, f"no kiosk {device_id}")
    telemetry = found["telemetry"]
    times = [row["sent_at"][11:16] for row in telemetry]
    queue_chart = charts.line_chart(times, [row["queue_depth"] for row in telemetry], "outbox queue")
    latency_charts = [
        charts.line_chart(
            times,
            [row["report"].latencies[name].p95_ms if name in row["report"].latencies else 0 for row in telemetry],
            f"{name} p95",
            " ms",
        )
        for name in sorted({name for row in telemetry for name in row["report"].latencies})
    ]
    return render(
        request,
        "device.html",
        device=found,
        charts=[queue_chart, *latency_charts],
        done=request.query_params.get("done"),
        problem=request.query_params.get("problem"),
    )


@router.post("/devices/{device_id}/config")
def set_config(device_id: str, user: SignedIn, svc: Service, settings: Annotated[str, Form()]) -> Response:
    try:
        changes = parse_assignments([line.strip() for line in settings.splitlines() if line.strip()])
        outcome = svc.set_config(user, device_id, changes)
    except ValueError as exc:
        return RedirectResponse(f"/devices/{device_id}?problem={quote(str(exc)[:300])}", status_code=303)
    return back(f"/devices/{device_id}", "kiosk_told" if outcome.kiosk_told else "kiosk_not_told")


@router.get("/rollouts")
def rollouts(request: Request, user: SignedIn, svc: Service) -> HTMLResponse:
    return render(
        request,
        "rollouts.html",
        rollouts=svc.rollouts(user),
        releases=svc.releases_list(user),
        problem=request.query_params.get("problem"),
    )


@router.get("/releases")
def releases(request: Request, user: SignedIn, svc: Service) -> HTMLResponse:
    return render(
        request,
        "releases.html",
        releases=svc.releases_list(user),
        staged=svc.staged(user),
        can_sign=svc.signing is not None,
        problem=request.query_params.get("problem"),
    )


@router.post("/releases")
def create_release(
    user: SignedIn,
    svc: Service,
    artifacts: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI's form default)
    channel: Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = "stable",
    min_kiosk_version: Annotated[str, Form(pattern=r"^[0-9]+(\.[0-9]+){0,3}$")] = "0.1.0",
    valid_days: Annotated[float, Form(gt=0, le=3650)] = 30.0,
) -> Response:
    try:
        svc.create_release(user, artifacts, channel, min_kiosk_version, valid_days)
    except (ValueError, FileExistsError) as exc:
        return RedirectResponse(f"/releases?problem={quote(str(exc)[:300])}", status_code=303)
    return back("/rollouts")


@router.post("/rollouts")
def start_rollout(
    user: SignedIn,
    svc: Service,
    release_id: Annotated[str, Form()],
    group: Annotated[str, Form()] = "",
    canary_percent: Annotated[float, Form(ge=0, le=100)] = 10.0,
    max_failure_percent: Annotated[float, Form(ge=0, le=100)] = 20.0,
) -> Response:
    try:
        rollout_id = svc.start_rollout(user, release_id, group or None, canary_percent, max_failure_percent)
    except ValueError as exc:
        return RedirectResponse(f"/rollouts?problem={quote(str(exc)[:300])}", status_code=303)
    return back(f"/rollouts/{rollout_id}")


@router.get("/rollouts/{rollout_id}")
def rollout(request: Request, rollout_id: int, user: SignedIn, svc: Service) -> HTMLResponse:
    found = svc.rollouts(user, rollout_id)
    if not found:
        raise HTTPException(404, f"no rollout {rollout_id}")
    return render(request, "rollout.html", rollout=found[0])


@router.post("/rollouts/{rollout_id}/{action}")
def change_rollout(rollout_id: int, action: str, user: SignedIn, svc: Service) -> Response:
    if action not in ("pause", "resume", "abort"):
        raise HTTPException(404, "no such action")
    svc.change_rollout(user, rollout_id, action)
    return back(f"/rollouts/{rollout_id}")


@router.get("/dashboard")
def dashboard(request: Request, user: SignedIn, svc: Service, days: int = 14) -> HTMLResponse:
    figures = svc.dashboard(user, max(1, min(days, 366)))
    day_labels = [row["day"] for row in figures["days"]]
    t = text(language(request))
    visit_chart = charts.bar_chart(day_labels, [row["conversations"] for row in figures["days"]], t["visits"])
    handoff_chart = charts.bar_chart(day_labels, [row["handoffs"] for row in figures["days"]], t["handoffs"])
    return render(request, "dashboard.html", figures=figures, charts=[visit_chart, handoff_chart], days=days)


@router.get("/audit")
def audit(request: Request, user: SignedIn, svc: Service) -> HTMLResponse:
    return render(request, "audit.html", entries=svc.audit_entries(user))
