"""The backend's copies of tickets' files (photos): ``{root}/{device}/{ticket}/{name}``, put together from chunks.

Chunks of one file may reach different ``fleet serve`` processes (a shared subscription hands out messages, not
files), so each chunk is kept as its own file under ``{root}/.partial/`` (written to a temporary name, synced,
renamed) and whichever process finds every chunk present after writing its own assembles the file, checks the
whole sha256 and renames it into place: the last writer always sees all chunks, a crash leaves chunks or the
complete file, never a torn one, and two processes assembling at once write the same bytes. Processes on
several hosts must therefore share ``root`` (the SQLite default keeps it beside the database).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from kiosk_link import wire
from kiosk_link.durable import write_bytes_atomically

PARTIAL = ".partial"


class FileRefused(ValueError):
    """A chunk that does not fit its file, or a file whose chunks do not add up to its sha256."""


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


class AttachmentFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, device_id: str, ticket_id: str, name: str) -> Path:
        """Where a stored file lives (the names were validated by the wire: plain relative paths)."""
        return self.root / device_id / ticket_id / name

    def put(self, device_id: str, part: wire.AttachmentV1) -> bool:
        """Keep one chunk; True once the whole file is in place and matches its sha256 (``FileRefused`` if not)."""
        try:
            data = base64.b64decode(part.data or "", validate=True)
        except binascii.Error:
            raise FileRefused(f"chunk {part.index}: not base64") from None
        expected = min(wire.MAX_CHUNK_BYTES, part.size - part.index * wire.MAX_CHUNK_BYTES)
        if len(data) != expected:
            raise FileRefused(f"chunk {part.index}: {len(data)} bytes, expected {expected}")
        final = self.path(device_id, part.ticket_id, part.name)
        partial = self.root / PARTIAL / device_id / part.ticket_id / part.name / str(part.sha256)
        write_bytes_atomically(partial / str(part.index), data)
        chunks = [partial / str(index) for index in range(part.count)]
        if not all(chunk.is_file() for chunk in chunks):
            return False
        try:
            digest = _assemble(final, chunks)
        except FileNotFoundError:  # another process assembled it and removed the chunks meanwhile
            digest = hashlib.sha256(final.read_bytes()).hexdigest() if final.is_file() else ""
        shutil.rmtree(partial, ignore_errors=True)
        if digest != part.sha256:
            final.unlink(missing_ok=True)
            raise FileRefused(f"{part.name}: the chunks do not add up to the file's sha256")
        return True
