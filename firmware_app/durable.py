"""Writing files so that a power cut leaves the old file or the new one, never half of one."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); skipped where a folder cannot be opened or synced
    (Windows, some network file systems): the file itself is already on disk."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
