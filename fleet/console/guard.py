"""Who may do what: the session cookie, the CSRF check on every change, and the login rate limit.

- The session cookie is HttpOnly and SameSite=Strict, and Secure when the console is served over TLS (or told
  it sits behind a TLS proxy): scripts cannot read it and other sites' pages cannot send it.
- Every request that changes something (POST, PUT, PATCH, DELETE) must carry the session's CSRF token, in the
  ``X-CSRF-Token`` header (the JSON API) or a ``csrf`` form field (the pages), and, where the browser says where
  it comes from (``Origin``), come from the console itself.
- Logins are limited per client address (``LOGIN_ATTEMPTS`` a minute) on top of the per-account lock-out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from fleet.console.accounts import SESSION_S, Session, User

COOKIE = "kiosk_console"
SESSION_COOKIE_S = SESSION_S
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_S = 60.0


class NotLoggedIn(Exception):
    """No valid session: pages send the browser to the login, the API answers 401."""


def session_of(request: Request) -> Session:
    """The request's session (``app.state.service`` looks the cookie up), or ``NotLoggedIn``."""
    token = request.cookies.get(COOKIE)
    session = request.app.state.service.sessions.get(token) if token else None
    if session is None:
        raise NotLoggedIn
    request.state.session = session
    return session


def user_of(request: Request) -> User:
    return session_of(request).user


async def checked_user(request: Request) -> User:
    """The logged-in user; for a change, only with the session's CSRF token and from the console's own origin."""
    session = session_of(request)
    if request.method in UNSAFE_METHODS:
        await check_csrf(request, session)
    return session.user


async def check_csrf(request: Request, session: Session) -> None:
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-origin request refused")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, session.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token")


class LoginLimiter:
    """At most ``attempts`` logins a ``window_s`` from one client address (in this process)."""

    def __init__(self, attempts: int = LOGIN_ATTEMPTS, window_s: float = LOGIN_WINDOW_S) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen[address]
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.attempts:
                return False
            seen.append(now)
            return True
