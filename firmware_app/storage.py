"""Free space in the data dir, and telling a full disk apart from other write failures.

A kiosk on an SD card can fill up (photos waiting for a broker that is down for weeks). The retention pass
frees what it may (``firmware_app.retention``); below a hard floor a new photo is refused up front with
``StorageFull``, so the technician hears "storage full" instead of the ticket failing half-way through.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

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
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


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
