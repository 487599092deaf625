"""Unpacking a release artifact (a tar, plain or gzip) so that it can neither write outside its folder nor fill
the disk, and leaves nothing behind when it fails.

Not ``tarfile.extractall(filter="data")``: on the Python the kiosk runs (3.11.7) that filter is walked out of by a
chain of symlinks whose resolved path exceeds PATH_MAX (CVE-2025-4517), and it bounds neither the bytes a
compressed tar unpacks to nor its number of members (a 2 MB gzip unpacked to 2 GiB). So the archive is read here,
member by member, as a stream:

- only regular files and folders: a pack or a model needs no link, device, fifo or sparse file, so a member of any
  other kind is refused outright and nothing is ever resolved through a link the archive made;
- a name must be relative and free of '..', and the real path of the folder a member lands in (made here) must be
  inside the destination; a file is created exclusively, never through an existing link;
- at most ``max_members`` members, and at most ``max_bytes`` bytes out of the decompressor (headers included, so
  a huge long-name or pax header counts too), counted as they stream in chunks: the read that passes the cap is
  refused before its bytes are used. Every byte written comes out of that stream, so it caps the disk used too;
- everything goes into a sibling ``.{name}.partial`` folder, renamed to the destination only once complete and
  removed on any failure.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

GZIP_MAGIC = b"\x1f\x8b"
COPY_CHUNK_BYTES = 64 * 1024
# An artifact may unpack to UNPACKED_RATIO times its signed size, and to MIN_UNPACKED_BYTES whatever its size: a
# plain tar (what ``fleet release create`` makes) unpacks to less than its size, a gzip of models or a pack's text
# to a few times it; a bomb's ratio is in the hundreds.
MIN_UNPACKED_BYTES = 32 * 1024 * 1024
UNPACKED_RATIO = 4
MAX_MEMBERS = 4096  # a pack has tens of files, a model artifact a handful
_KINDS = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a device",
    tarfile.BLKTYPE: "a device",
    tarfile.FIFOTYPE: "a fifo",
}


class UnpackRefused(Exception):
    """The archive is not one the kiosk unpacks; ``reason`` says which rule it broke, for the update's report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """How much one archive may unpack to; ``for_artifact`` sizes them from what the release signed."""

    max_bytes: int  # out of the decompressor, headers included
    max_members: int = MAX_MEMBERS

    @classmethod
    def for_artifact(cls, size: int) -> Limits:
        """The limits for an artifact of ``size`` bytes (its signed size, which the file was checked against)."""
        return cls(max_bytes=max(MIN_UNPACKED_BYTES, UNPACKED_RATIO * size))


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Capped(io.RawIOBase):
    """``stream`` as tarfile reads it, refused the moment more than ``limit`` bytes have come out of it: a bomb is
    stopped after ``limit`` bytes however much it would give, and no read asks for more than one byte past that."""

    def __init__(self, stream: _Readable, limit: int) -> None:
        super().__init__()
        self._stream = stream
        self._limit = limit
        self._left = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(self._left + 1 if size < 0 else min(size, self._left + 1))
        if len(data) > self._left:
            raise UnpackRefused(f"unpacks to more than {self._limit} bytes")
        self._left -= len(data)
        return data


def unpack(archive: Path, dest: Path, limits: Limits) -> Path:
    """Unpack the tar ``archive`` (plain or gzip) into ``dest``, which must not exist: all of it, or nothing.

    ``UnpackRefused`` for an archive breaking a rule (module docstring) or not a readable tar; ``OSError`` for the
    disk failing. Either way neither ``dest`` nor the partial folder is left."""
    partial = dest.with_name(f".{dest.name}.partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(partial, ignore_errors=True)  # left by a kiosk killed while unpacking
    try:
        partial.mkdir()
        _extract(archive, partial, limits)
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest


def _extract(archive: Path, folder: Path, limits: Limits) -> None:
    """Every member of ``archive`` into ``folder``, read as one forward stream (tarfile's "r|")."""
    with archive.open("rb") as raw:
        gzipped = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        raw.seek(0)
        stream = _Capped(gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw, limits.max_bytes)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                _extract_members(tar, folder, limits)
        except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise UnpackRefused(f"not a readable tar: {exc}") from exc


def _extract_members(tar: tarfile.TarFile, folder: Path, limits: Limits) -> None:
    real_root = os.path.realpath(folder)
    for count, member in enumerate(tar, start=1):
        if count > limits.max_members:
            raise UnpackRefused(f"more than {limits.max_members} members")
        target = folder.joinpath(*_relative_parts(member.name))
        if member.isdir():
            _make_folder(target, real_root)
        elif member.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and member.sparse is None:
            _make_folder(target.parent, real_root)
            _write(tar, member, target)
        else:
            kind = "a sparse file" if member.sparse is not None else _KINDS.get(member.type, "not a file or folder")
            raise UnpackRefused(f"{member.name!r} is {kind}: only regular files and folders are unpacked")


def _relative_parts(name: str) -> tuple[str, ...]:
    """``name``'s components below the destination ('.' dropped); refused if absolute or climbing with '..'."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise UnpackRefused(f"{name!r} points outside the folder")
    return path.parts


def _make_folder(path: Path, real_root: str) -> None:
    """Create ``path`` and check that it really is inside the destination: nothing we made is a link, so this
    holds unless the destination's own parents changed under us, but it is the rule that matters, so checked."""
    path.mkdir(parents=True, exist_ok=True)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise UnpackRefused(f"{path.name!r} resolves outside the folder")


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """The member's bytes into a new file (never through a link, never over another member), in chunks."""
    source = tar.extractfile(member)
    assert source is not None  # a regular member always has data
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError as exc:
        raise UnpackRefused(f"{member.name!r} is in the archive twice") from exc
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
