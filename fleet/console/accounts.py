"""The console's users and their login sessions: one object owns each table's SQL.

Passwords are argon2id hashes (argon2-cffi's defaults, rehashed on login when those change). Five wrong
passwords in a row lock the account for ``LOCKOUT_S``, whoever sends them, so guessing is slow even from many
addresses; the web layer also limits login attempts per client address. Session tokens are random; the
database keeps only their SHA-256, so a copy of it lets nobody log in.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fleet.database import Database
from kiosk_link import wire

Role = Literal["staff", "manager", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
MAX_FAILED_LOGINS = 5
LOCKOUT_S = 15 * 60
SESSION_S = 12 * 60 * 60  # one working day: staff log in once per shift
MIN_PASSWORD_CHARS = 10

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A user that cannot be created as asked; the message says why."""


class LoginRefused(Exception):
    """Wrong name or password, or a locked account; ``locked`` tells the two apart for the person at the login."""

    def __init__(self, locked: bool) -> None:
        super().__init__("account locked" if locked else "wrong user name or password")
        self.locked = locked


@dataclass(frozen=True)
class User:
    """Who is logged in. Staff see the kiosks of their branches (device groups); managers and admins all."""

    username: str
    display_name: str
    role: Role
    branches: tuple[str, ...]

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")

    def to_dict(self) -> dict[str, object]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "branches": list(self.branches),
        }


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str  # sent back with every change (form field or X-CSRF-Token header)


def _now() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The ``users`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, username: str, display_name: str, password: str, role: str, branches: list[str]) -> User:
        """Create a user; names follow the wire's id rules (they appear in audit lines and URLs)."""
        try:
            wire.validate_device_id(username)
            for branch in branches:
                wire.validate_device_id(branch)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        if role not in ROLES:
            raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if role == "staff" and not branches:
            raise AccountError("a staff member needs at least one branch (--branch)")
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
        if not 1 <= len(display_name.strip()) <= 64:
            raise AccountError("a display name is 1 to 64 characters")
        cursor = self.db.execute(
            "INSERT INTO users (username, display_name, password_hash, role, branches, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(username) DO NOTHING",
            [username, display_name.strip(), _hasher.hash(password), role, json.dumps(branches), _now().isoformat()],
        )
        if cursor.rowcount != 1:
            raise AccountError(f"user {username!r} already exists")
        return User(username, display_name.strip(), cast(Role, role), tuple(branches))

    def get(self, username: str) -> User | None:
        row = self.db.execute(
            "SELECT username, display_name, role, branches FROM users WHERE username = ?", [username]
        ).fetchone()
        return _user(row) if row else None

    def all(self) -> list[User]:
        rows = self.db.execute("SELECT username, display_name, role, branches FROM users ORDER BY username")
        return [_user(row) for row in rows.fetchall()]

    def verify(self, username: str, password: str) -> User:
        """The user, or ``LoginRefused``; counts failures and locks the account after ``MAX_FAILED_LOGINS``."""
        row = self.db.execute(
            "SELECT password_hash, failed_logins, locked_until FROM users WHERE username = ?", [username]
        ).fetchone()
        if row is None:
            _hasher.hash(password)  # as slow as a real check: the time taken does not tell who exists
            raise LoginRefused(locked=False)
        password_hash, failed, locked_until = row
        if locked_until and datetime.fromisoformat(locked_until) > _now():
            raise LoginRefused(locked=True)
        try:
            _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            failed = (0 if locked_until else failed) + 1  # a lock that ran out starts the count again
            lock = (_now() + timedelta(seconds=LOCKOUT_S)).isoformat() if failed >= MAX_FAILED_LOGINS else None
            self.db.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE username = ?", [failed, lock, username]
            )
            raise LoginRefused(locked=lock is not None) from None
        new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else password_hash
        self.db.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, password_hash = ? WHERE username = ?",
            [new_hash, username],
        )
        user = self.get(username)
        assert user is not None
        return user

    def unlock(self, username: str) -> bool:
        cursor = self.db.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?", [username]
        )
        return cursor.rowcount == 1


def _user(row: tuple[str, str, str, str]) -> User:
    username, display_name, role, branches = row
    return User(username, display_name, cast(Role, role), tuple(json.loads(branches)))


class Sessions:
    """The ``web_sessions`` table: a login lasts ``SESSION_S`` or until logout."""

    def __init__(self, db: Database, users: Users) -> None:
        self.db = db
        self.users = users

    def create(self, user: User) -> tuple[str, Session]:
        """A new session: the token for the cookie, and the session it opens."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        self.db.execute("DELETE FROM web_sessions WHERE expires_at < ?", [now.isoformat()])
        self.db.execute(
            "INSERT INTO web_sessions (token_hash, username, csrf_token, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                _token_hash(token),
                user.username,
                csrf,
                now.isoformat(),
                (now + timedelta(seconds=SESSION_S)).isoformat(),
            ],
        )
        return token, Session(user, csrf)

    def get(self, token: str) -> Session | None:
        row = self.db.execute(
            "SELECT username, csrf_token, expires_at FROM web_sessions WHERE token_hash = ?", [_token_hash(token)]
        ).fetchone()
        if row is None or datetime.fromisoformat(row[2]) <= _now():
            return None
        user = self.users.get(row[0])
        return Session(user, row[1]) if user else None

    def end(self, token: str) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE token_hash = ?", [_token_hash(token)])
