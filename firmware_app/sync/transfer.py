"""One artifact being downloaded, chunk by chunk, into a staging file that is its own progress record.

Each chunk is written at its offset in ``{name}.part`` only after its sha256 matched the signed manifest, and a
chunk counts as present when the bytes at its offset hash to the manifest's value. So after a disconnect, a
killed process or a power cut, re-reading the file tells exactly which chunks are still missing: nothing else
has to be kept in step with it (and no fsync per chunk is needed, since a chunk lost with the page cache just
hashes wrong and is fetched again). The whole file is checked against the artifact's sha256 at the end.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from firmware_app.inference.manifest import sha256_file
from kiosk_link import wire


class Download:
    def __init__(self, staging_dir: Path, artifact: wire.ArtifactV1) -> None:
        self.artifact = artifact
        self.path = staging_dir / f"{artifact.name}.part"
        staging_dir.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:  # created if new; sized (sparse) to the artifact
            handle.truncate(artifact.size)
        self.missing = self._missing_chunks()

    def _missing_chunks(self) -> set[int]:
        missing = set()
        with self.path.open("rb") as handle:
            for index, expected in enumerate(self.artifact.chunks):
                if hashlib.sha256(handle.read(self.artifact.chunk_size)).hexdigest() != expected:
                    missing.add(index)
        return missing

    @property
    def done(self) -> int:
        return len(self.artifact.chunks) - len(self.missing)

    def write(self, index: int, data: bytes) -> bool:
        """Store chunk ``index`` if its bytes are the signed ones; False (nothing written) if they are not."""
        if index >= len(self.artifact.chunks) or hashlib.sha256(data).hexdigest() != self.artifact.chunks[index]:
            return False
        with self.path.open("r+b") as handle:
            handle.seek(index * self.artifact.chunk_size)
            handle.write(data)
        self.missing.discard(index)
        return True

    def whole_file_matches(self) -> bool:
        return sha256_file(self.path) == self.artifact.sha256
