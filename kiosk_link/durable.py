"""Writing files so that a power cut leaves the old file or the new one, never half of one.

Every end replaces files this one way (the kiosk's state and photos, a sealed secret, the CA's keys and
certificates, the backend's copies of tickets' files), so none of them can forget the folder's fsync that makes
the rename itself survive a power cut.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
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


def write_bytes_atomically(path: Path, data: bytes | Iterable[bytes], mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: a temporary file in the same folder, fsync, rename, fsync of the folder.
    A power cut leaves the old content or the new, never a torn file, and a failure (a full disk) leaves no
    temporary file behind.

    ``data`` may come in pieces (a file put together from chunks), so it never has to sit in memory whole. The
    file has ``mode`` from its first byte (0600 unless asked: a private key is never readable by others, not even
    for a moment), exactly, whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), mode)
            for piece in [data] if isinstance(data, bytes) else data:
                file.write(piece)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def point_symlink(link: Path, target: str | Path) -> None:
    """Point ``link`` at ``target`` with one rename, durably: a reader finds the old target or the new one, never
    no link at all."""
    temporary = link.with_name(f".{link.name}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    os.replace(temporary, link)
    fsync_folder(link.parent)
