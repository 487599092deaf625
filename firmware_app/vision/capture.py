"""Where technicians' photos come from (a camera through OpenCV, or image files) and how they are kept.

Every source yields RGB ``uint8`` arrays (height x width x 3). Decoding is OpenCV's, so a corrupt or
truncated file is refused with a clear ``ImageError`` instead of reaching the models half-read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from firmware_app.durable import fsync_folder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_PHOTO_SIDE_PX = 1024  # photos are kept downscaled: enough to inspect, small enough to sync
JPEG_QUALITY = 88


class ImageError(ValueError):
    """An image that cannot be used: unreadable, not an image, or empty."""


class PhotoSource(Protocol):
    def frame(self) -> np.ndarray | None:
        """The latest frame, RGB; ``None`` when the source has nothing to give right now."""
        ...


def load_image(path: Path) -> np.ndarray:
    """Decode an image file into RGB; raises ``ImageError`` naming the file when it is not a usable image."""
    return cv2.cvtColor(decode_image(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def decode_image(path: Path, flags: int) -> np.ndarray:
    """OpenCV's decoding of an image file (``flags``: colour or greyscale), with ``ImageError`` naming the file
    when it is unreadable, empty, corrupt or not an image."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror})") from error
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None or image.size == 0:
        raise ImageError(f"{path}: not a readable image (corrupt, truncated or not PNG/JPEG/BMP/WebP)")
    return image


class ImageFileSource:
    """Photos from files, one per ``frame()`` call, round and round: the camera of tests and demos."""

    def __init__(self, paths: Sequence[Path]) -> None:
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise ImageError(f"no such file or folder: {', '.join(missing)}")
        files = [p for path in paths for p in (sorted(path.iterdir()) if path.is_dir() else [path])]
        self.paths = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not self.paths:
            raise ImageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, paths))}")
        self._next = 0

    def frame(self) -> np.ndarray:
        path = self.paths[self._next % len(self.paths)]
        self._next += 1
        return load_image(path)


class CameraSource:
    """A camera through OpenCV (``/dev/videoN`` by index, or a device path / URL)."""

    def __init__(self, device: int | str = 0) -> None:
        self.device = device
        self._capture = cv2.VideoCapture(device)
        if not self._capture.isOpened():
            self._capture.release()
            raise OSError(f"no camera at {device!r}: check that it is plugged in and that the kiosk user is in 'video'")

    def frame(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if ok else None

    def close(self) -> None:
        self._capture.release()


def downscale(image: np.ndarray, max_side_px: int = MAX_PHOTO_SIDE_PX) -> np.ndarray:
    height, width = image.shape[:2]
    scale = max_side_px / max(height, width)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def save_photo(image: np.ndarray, path: Path) -> None:
    """Write a downscaled JPEG atomically (temporary file, fsync, rename, fsync of the folder): a power cut
    leaves the old file or the new one, never half of one, and a failure leaves no temporary file behind."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ImageError(f"cannot save {path}: expected an RGB uint8 photo, got {image.shape} {image.dtype}")
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(downscale(image), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise ImageError(f"could not encode the photo for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(encoded.tobytes())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
