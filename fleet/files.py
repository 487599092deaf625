"""The backend's copies of tickets' files (photos): ``{root}/{device}/{ticket}/{name}``, put together from chunks.

Chunks of one file may reach different ``fleet serve`` processes (a shared subscription hands out messages, not
files), so each chunk is kept as its own file under ``{root}/.partial/`` (written to a temporary name, synced,
renamed) and whichever process finds every chunk present after writing its own assembles the file, checks the
whole sha256 and renames it into place: the last writer always sees all chunks, a crash leaves chunks or the
complete file, never a torn one, and two processes assembling at once write the same bytes. Processes on
several hosts must therefore share ``root`` (the SQLite default keeps it beside the database).

Chunks are a device's to send, so they must not fill the backend's disk: the ingestor takes them only for a
ticket that device filed (``fleet.ingest``), each device may hold at most ``PARTIAL_QUOTA_BYTES`` of chunks
here (two of the largest files the wire carries, far more than a kiosk sending photos ever has in flight), and
chunks of a file that never completed are deleted after ``PARTIAL_MAX_AGE_S`` (the kiosk re-sends a whole file
with its ticket until it is acknowledged, so nothing is lost by dropping an old partial). The quota is counted
from the folder itself, not in memory, so every process sharing ``root`` sees the same total (processes racing
may overshoot it by the chunks they write at that moment); the sweep runs on the next chunk after
``SWEEP_EVERY_S``, in whichever process takes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from kiosk_link import wire
from kiosk_link.durable import write_bytes_atomically

PARTIAL = ".partial"
PARTIAL_QUOTA_BYTES = 64 * 1024 * 1024  # per device: 2 x wire.MAX_ATTACHMENT_BYTES
PARTIAL_MAX_AGE_S = 3600.0  # a kiosk re-sends an unacknowledged ticket's files well within this
SWEEP_EVERY_S = 300.0
FOLDER_GRACE_S = 60.0  # an empty folder this recent may be getting its first chunk: the sweep leaves it


class FileRefused(ValueError):
    """A chunk that does not fit its file, or a file whose chunks do not add up to its sha256."""

    reason: ClassVar[str] = "bad_file"  # what the ingestor counts it as


class QuotaExceeded(FileRefused):
    """The device already holds ``PARTIAL_QUOTA_BYTES`` of incomplete files: its chunk is not kept."""

    reason: ClassVar[str] = "over_quota"


def _assemble(path: Path, chunks: list[Path]) -> str:
    """Write ``path`` as the concatenation of ``chunks``, read one at a time; its sha256."""
    digest = hashlib.sha256()

    def pieces() -> Iterator[bytes]:
        for chunk in chunks:
            data = chunk.read_bytes()
            digest.update(data)
            yield data

    write_bytes_atomically(path, pieces())
    return digest.hexdigest()


def _files_under(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every file below ``folder`` with its stat; files that another process removes meanwhile are skipped."""
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            try:
                yield path, path.stat()
            except FileNotFoundError:
                continue


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # not there, or another process just put its file together
        return 0


def _remove_empty_folders(folder: Path, before: float) -> None:
    """Drop the folders below ``folder`` that are empty (their file was put together, or swept) and untouched
    since ``before``, deepest first: a folder made moments ago is about to receive a chunk, and one that is no
    longer empty stays anyway."""
    for parent, _, _ in sorted(os.walk(folder), key=lambda entry: len(entry[0]), reverse=True):
        try:
            if Path(parent) != folder and os.stat(parent).st_mtime < before:
                os.rmdir(parent)
        except OSError:
            continue


class AttachmentFiles:
    def __init__(self, root: Path, quota_bytes: int = PARTIAL_QUOTA_BYTES) -> None:
        self.root = root
        self.quota_bytes = quota_bytes
        self._next_sweep = 0.0  # monotonic time: the first chunk after a start sweeps what a past run left

    def path(self, device_id: str, ticket_id: str, name: str) -> Path:
        """Where a stored file lives (the names were validated by the wire: plain relative paths)."""
        return self.root / device_id / ticket_id / name

    def put(self, device_id: str, part: wire.AttachmentV1) -> bool:
        """Keep one chunk; True once the whole file is in place and matches its sha256 (``FileRefused`` if not,
        ``QuotaExceeded`` if the device holds too much of incomplete files already)."""
        data = _chunk_bytes(part)
        self._sweep_if_due()
        partial = self.root / PARTIAL / device_id / part.ticket_id / part.name / str(part.sha256)
        chunk = partial / str(part.index)
        held = self.partial_bytes(device_id) - _size(chunk)  # a re-sent chunk replaces itself
        if held + len(data) > self.quota_bytes:
            raise QuotaExceeded(f"{device_id} holds {held} bytes of incomplete files (at most {self.quota_bytes})")
        write_bytes_atomically(chunk, data)
        chunks = [partial / str(index) for index in range(part.count)]
        if not all(piece.is_file() for piece in chunks):
            return False
        return self._finish(self.path(device_id, part.ticket_id, part.name), partial, chunks, part)

    def partial_bytes(self, device_id: str) -> int:
        """The bytes of incomplete files that ``device_id`` holds here, whichever process took them."""
        return sum(stat.st_size for _, stat in _files_under(self.root / PARTIAL / device_id))

    def sweep(self, now: float | None = None) -> int:
        """Delete chunks (and stray temporary files) older than ``PARTIAL_MAX_AGE_S``: files whose kiosk gave up,
        or whose ticket was refused. How many files went."""
        now = time.time() if now is None else now
        folder = self.root / PARTIAL
        removed = 0
        for path, stat in _files_under(folder):
            if stat.st_mtime < now - PARTIAL_MAX_AGE_S:
                path.unlink(missing_ok=True)
                removed += 1
        _remove_empty_folders(folder, now - FOLDER_GRACE_S)
        return removed

    def _sweep_if_due(self) -> None:
        """Sweep on a chunk rather than a timer: no chunks coming means nothing is filling the disk either."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_S
            self.sweep()

    @staticmethod
    def _finish(final: Path, partial: Path, chunks: list[Path], part: wire.AttachmentV1) -> bool:
        """Put the complete file together in place, drop its chunks, and check its sha256."""
        try:
            digest = _assemble(final, chunks)
        except FileNotFoundError:  # another process assembled it and removed the chunks meanwhile
            digest = hashlib.sha256(final.read_bytes()).hexdigest() if final.is_file() else ""
        shutil.rmtree(partial, ignore_errors=True)
        if digest != part.sha256:
            final.unlink(missing_ok=True)
            raise FileRefused(f"{part.name}: the chunks do not add up to the file's sha256")
        return True


def _chunk_bytes(part: wire.AttachmentV1) -> bytes:
    """The chunk's data, refused unless it is exactly as long as its place in the file says."""
    try:
        data = base64.b64decode(part.data or "", validate=True)
    except binascii.Error:
        raise FileRefused(f"chunk {part.index}: not base64") from None
    expected = min(wire.MAX_CHUNK_BYTES, part.size - part.index * wire.MAX_CHUNK_BYTES)
    if len(data) != expected:
        raise FileRefused(f"chunk {part.index}: {len(data)} bytes, expected {expected}")
    return data
