"""Free space in the data dir (and whether it can be written at all), and telling a full disk apart from other
write failures.

A kiosk on an SD card can fill up (photos waiting for a broker that is down for weeks). The retention pass
frees what it may (``firmware_app.retention``); below a hard floor a new photo is refused up front with
``StorageFull``, so the technician hears "storage full" instead of the ticket failing half-way through.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware_app.health import Health

MB = 1024 * 1024
# Measures the free bytes of the file system holding a path; tests pass one that simulates a small disk.
FreeSpace = Callable[[Path], int]


class StorageFull(OSError):
    """The data dir is (nearly) full: nothing was written."""

    def __init__(self, free_bytes: int, needed_bytes: int) -> None:
        super().__init__(errno.ENOSPC, f"storage full: {free_bytes // MB} MB free, {needed_bytes // MB} MB needed")


def free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged writer (``disk_usage`` reports ``f_bavail``, not the root reserve), measured
    at ``path`` or, before it exists, its nearest existing parent."""
    return shutil.disk_usage(_existing(path)).free


def mounted_read_only(path: Path) -> bool:
    """Whether the file system holding ``path`` (or its nearest existing parent) is mounted read-only, as an SD
    card is remounted after I/O errors: writes there would fail whatever the free space."""
    return bool(os.statvfs(_existing(path)).f_flag & os.ST_RDONLY)


def _existing(path: Path) -> Path:
    """``path``, or before it exists (a data dir before the first start) its nearest existing parent."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def ensure_room(path: Path, floor_bytes: int, free_space: FreeSpace = free_bytes) -> None:
    """Raise ``StorageFull`` when less than ``floor_bytes`` are free where ``path`` lives."""
    free = free_space(path)
    if free < floor_bytes:
        raise StorageFull(free, floor_bytes)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC or a quota from the OS, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def is_read_only(exc: BaseException) -> bool:
    """EROFS from the OS (a card remounted read-only after errors), or SQLite's "readonly database"."""
    if isinstance(exc, OSError):
        return exc.errno == errno.EROFS
    return isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc)


def report_room(health: Health, path: Path, floor_bytes: int, free_space: FreeSpace = free_bytes) -> bool:
    """Tell ``health`` whether there is room where ``path`` lives (``floor_bytes`` free: new photos are taken) or
    not (storage degraded: new photos are refused); returns whether there is."""
    try:
        if mounted_read_only(path):
            health.degraded("storage", f"{path} is on a read-only file system", "photos_refused")
            return False
        ensure_room(path, floor_bytes, free_space)
    except StorageFull as full:
        health.degraded("storage", str(full), "photos_refused")
        return False
    except OSError as exc:  # the data dir cannot even be measured
        health.degraded("storage", f"cannot measure free space: {exc}", "photos_refused")
        return False
    health.ok("storage")
    return True
