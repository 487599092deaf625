"""Where technicians' photos come from (a camera through OpenCV, or image files) and how they are kept.

Every source yields RGB ``uint8`` arrays (height x width x 3). Decoding is OpenCV's, so a corrupt or
truncated file is refused with a clear ``ImageError`` instead of reaching the models half-read.

Memory stays bounded whatever the file claims: its size on disk and the picture's dimensions (read from the
header by Pillow, which decodes nothing) are checked before OpenCV decodes a pixel, so a 20000 x 20000 image or a
decompression bomb is refused instead of filling the kiosk's memory. Pictures larger than a camera needs are
decoded at 1/2, 1/4 or 1/8 scale (JPEG decoders do this without building the full picture).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from firmware_app.health import Health
from kiosk_link.durable import write_bytes_atomically

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_PHOTO_SIDE_PX = 1024  # photos are kept downscaled: enough to inspect, small enough to sync
JPEG_QUALITY = 88
MAX_FILE_BYTES = 64 * 1024 * 1024  # larger than any camera's photo; refused before it is read into memory
MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel camera; a bigger claim is refused before decoding
CAMERA_RETRY_S = 5.0  # a missing camera is tried again this often: back in service within 10 s of plugging in
MIN_IMAGE_SIDE_PX = 16  # nothing can be recognised in fewer pixels (a 1 x 1 image is refused)
DECODE_SIDE_PX = 4096  # bigger pictures are decoded at 1/2, 1/4 or 1/8 scale, to about this side
# OpenCV's reduced-scale decoding flags by (full-scale flag, scale denominator).
_REDUCED_FLAGS = {
    (cv2.IMREAD_COLOR, 2): cv2.IMREAD_REDUCED_COLOR_2,
    (cv2.IMREAD_COLOR, 4): cv2.IMREAD_REDUCED_COLOR_4,
    (cv2.IMREAD_COLOR, 8): cv2.IMREAD_REDUCED_COLOR_8,
    (cv2.IMREAD_GRAYSCALE, 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    (cv2.IMREAD_GRAYSCALE, 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    (cv2.IMREAD_GRAYSCALE, 8): cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


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
    """OpenCV's decoding of an image file (``flags``: ``cv2.IMREAD_COLOR`` or ``cv2.IMREAD_GRAYSCALE``), with
    ``ImageError`` naming the file when it is unreadable, empty, corrupt, not an image, too small or too large."""
    width, height = _checked_dimensions(path)
    scale = next((s for s in (1, 2, 4) if max(width, height) <= DECODE_SIDE_PX * s), 8)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror})") from error
    image = cv2.imdecode(data, _REDUCED_FLAGS.get((flags, scale), flags)) if data.size else None
    if image is None or image.size == 0:
        raise ImageError(f"{path}: not a readable image (corrupt, truncated or not PNG/JPEG/BMP/WebP)")
    return image


def _checked_dimensions(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, after the checks that need no decoding."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageError(f"{path}: cannot read (not a file)")
        with Image.open(path) as header:  # reads the header only
            width, height = header.size
    except OSError as error:
        if isinstance(error, UnidentifiedImageError) or error.strerror is None:
            raise ImageError(f"{path}: not a readable image (corrupt, truncated or not PNG/JPEG/BMP/WebP)") from error
        raise ImageError(f"{path}: cannot read ({error.strerror})") from error
    except Image.DecompressionBombError as error:  # Pillow's own limit (far above ours) refused it first
        over = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise ImageError(
            f"{path}: too large (over {over:.0f} megapixels; photos up to {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)"
        ) from error
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{path}: too large ({size / 2**20:.1f} MB; photos up to {MAX_FILE_BYTES / 2**20:.0f} MB)")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{path}: too large ({width} x {height} px; photos up to {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)"
        )
    if min(width, height) < MIN_IMAGE_SIDE_PX:
        raise ImageError(f"{path}: too small ({width} x {height} px; at least {MIN_IMAGE_SIDE_PX} px each way)")
    return width, height


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


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """OpenCV's own log lines silenced (``[ WARN:0@0.03] global cap_v4l.cpp:914 open VIDEOIO(V4L2:...)`` on
    stderr, outside the kiosk's JSON logs): the caller reports a camera that does not open in its own words."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class CameraSource:
    """A camera through OpenCV (``/dev/videoN`` by index, or a device path / URL)."""

    def __init__(self, device: int | str = 0, health: Health | None = None) -> None:
        self.device = device
        self.health = health  # told a camera that does not open or gives no picture, and one that works again
        with quiet_opencv():  # every backend OpenCV tries on a missing camera prints its own warning
            self._capture = cv2.VideoCapture(device)
        if not self._capture.isOpened():
            self._capture.release()
            error = f"no camera at {device!r}: check that it is plugged in and that the kiosk user is in 'video'"
            if health is not None:
                health.degraded("camera", error, "no_photos")
            raise OSError(error)
        if health is not None:
            health.ok("camera")

    def frame(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        if self.health is not None:
            if ok:
                self.health.ok("camera")
            else:
                self.health.degraded("camera", f"the camera at {self.device!r} gives no picture", "no_photos")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if ok else None

    def close(self) -> None:
        self._capture.release()


class Camera(Protocol):
    """What ``ReconnectingCamera`` opens: a ``CameraSource`` (or, in the bench, a stand-in for a camera)."""

    def frame(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class ReconnectingCamera:
    """The configured camera, whether or not it is there: missing at start, unplugged or giving no picture, it is
    tried again every ``retry_s`` and used as soon as it opens, without a restart. ``poll()`` (the UI loop calls
    it) also takes a picture now and then while nobody uses the camera, so that the fleet hears of a camera that
    went away before a technician finds out. Health goes to ``health_of()``: the kiosk's, which a reload replaces.
    ``open_camera`` makes one attempt (``CameraSource(device)`` by default) and raises ``OSError`` when it fails.
    """

    def __init__(
        self,
        device: int | str,
        health_of: Callable[[], Health | None] = lambda: None,
        retry_s: float = CAMERA_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        open_camera: Callable[[], Camera] | None = None,
    ) -> None:
        self.device = device
        self.health_of = health_of
        self.retry_s = retry_s
        self.open_camera = open_camera or (lambda: CameraSource(device))
        self._clock = clock
        self._lock = threading.Lock()
        self._camera: Camera | None = None
        self._last_used = float("-inf")
        with self._lock:
            self._open()

    @property
    def connected(self) -> bool:
        return self._camera is not None

    @property
    def due(self) -> bool:
        """Whether ``poll()`` has something to do (cheap: the UI loop asks it every frame)."""
        return self._clock() - self._last_used >= self.retry_s

    def frame(self) -> np.ndarray | None:
        with self._lock:
            return self._frame()

    def poll(self) -> None:
        """Open a missing camera, or check an idle one, when ``retry_s`` has passed since the last try."""
        with self._lock:
            if self.due:
                self._frame()

    def close(self) -> None:
        with self._lock:
            if self._camera is not None:
                self._camera.close()
                self._camera = None

    def _frame(self) -> np.ndarray | None:
        if self._camera is None and self.due:
            self._open()
        if self._camera is None:
            return None
        self._last_used = self._clock()
        image = self._camera.frame()
        if image is None:  # unplugged, or the driver lost it: open it afresh at the next try
            self._camera.close()
            self._camera = None
            self._report(f"the camera at {self.device!r} gives no picture")
        else:
            self._report(None)
        return image

    def _open(self) -> None:
        self._last_used = self._clock()
        try:
            self._camera = self.open_camera()
        except OSError as error:
            log.info("camera not available: %s", error)
            self._camera = None
            self._report(str(error))
        else:
            self._report(None)

    def _report(self, problem: str | None) -> None:
        health = self.health_of()
        if health is None:
            return
        if problem is None:
            health.ok("camera")
        else:
            health.degraded("camera", problem, "no_photos")


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
    write_bytes_atomically(path, encoded.tobytes())
