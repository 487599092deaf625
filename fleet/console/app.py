"""The console's web application: the API and the pages on one FastAPI app, with its live feed, its MQTT link
to the kiosks and the security headers every answer carries. ``fleet web`` serves it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from fleet.console import api, pages
from fleet.console.accounts import AccountError
from fleet.console.brief import PackAnswers
from fleet.console.desk import DeskError
from fleet.console.guard import LOGIN_ATTEMPTS, LoginLimiter, NotLoggedIn
from fleet.console.live import ChangeFeed
from fleet.console.messenger import KioskMessenger
from fleet.console.service import ConsoleService, Forbidden, ReleaseSigning, StorePool
from fleet.database import home
from fleet.releases import ReleaseStore, default_releases_dir
from fleet.rollouts import RolloutError
from fleet.store import FleetStore

STATIC = Path(__file__).parent / "static"
# Everything the pages load comes from the console itself; no inline script, no framing by other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class ConsoleConfig:
    db_target: str | Path
    pack_dir: Path | None = None
    broker: tuple[str, int] | None = None  # None: kiosks are not told (a console without a broker)
    secure_cookies: bool = False  # True behind TLS: the session cookie is never sent in the clear
    tls: object | None = None  # an ssl.SSLContext for the broker
    logins_per_minute: int = LOGIN_ATTEMPTS
    release_key: Path | None = None  # set: managers may sign releases of the staged artifacts
    artifacts_dir: Path | None = None  # default: ``artifacts`` beside the database (``fleet.database.home``)


def create_app(config: ConsoleConfig) -> FastAPI:
    pool = StorePool(config.db_target)  # migrates the schema

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        messenger = None
        if config.broker is not None:
            messenger = KioskMessenger(*config.broker, tls=config.tls)  # type: ignore[arg-type]
        signing = None
        if config.release_key is not None:
            signing = ReleaseSigning(config.release_key, config.artifacts_dir or home(config.db_target) / "artifacts")
        releases = ReleaseStore(default_releases_dir(config.db_target))
        app.state.service = ConsoleService(pool, releases, PackAnswers(config.pack_dir), messenger, signing)
        app.state.feed = ChangeFeed(lambda: FleetStore(config.db_target, migrate=False))
        app.state.feed.start()
        try:
            yield
        finally:
            app.state.feed.stop()
            if messenger is not None:
                messenger.close()
            pool.close()

    app = FastAPI(title="Kestrel staff console", version="1", lifespan=lifespan)
    app.state.secure_cookies = config.secure_cookies
    app.state.login_limiter = LoginLimiter(config.logins_per_minute)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _handle_errors(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if config.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    return app


def _handle_errors(app: FastAPI) -> None:
    """Domain errors as HTTP answers: the API gets JSON, a page the login (not logged in) or a short text."""

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> Response:
        return JSONResponse({"detail": f"not found: {exc}"}, status_code=404)

    for refused in (DeskError, RolloutError, AccountError, ValidationError, ValueError, FileExistsError):

        @app.exception_handler(refused)
        async def conflict(request: Request, exc: Exception) -> Response:
            return JSONResponse({"detail": str(exc)[:500]}, status_code=409)
