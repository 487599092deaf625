"""Photo sources, atomic photo files and the quality gate, on real photos of parts (tests/fixtures/photos) and
bad photos derived from them with OpenCV: blurred, dark, overexposed, and a blank wall."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_app.vision import capture
from firmware_app.vision.capture import (
    MAX_PHOTO_SIDE_PX,
    CameraSource,
    ImageError,
    ImageFileSource,
    load_image,
    save_photo,
)
from firmware_app.vision.quality import RetakeReason, check_quality
from kiosk_link import durable
from tests.conftest import FIXTURES

PHOTOS = FIXTURES / "photos"
GOOD_PHOTOS = sorted(PHOTOS.glob("*.jpg"))


def blurred(image: np.ndarray) -> np.ndarray:
    """Out of focus: a Gaussian blur of 1.5% of the longer side (3 px on a 200 px photo)."""
    return cv2.GaussianBlur(image, (0, 0), max(image.shape[:2]) * 0.015)


def dark(image: np.ndarray) -> np.ndarray:
    """A dim room: the light cut to 15%."""
    return (image.astype(np.float32) * 0.15).astype(np.uint8)


def overexposed(image: np.ndarray) -> np.ndarray:
    """Glare: twice the gain and a bright offset, so most of the picture clips white."""
    return np.clip(image.astype(np.int16) * 2 + 120, 0, 255).astype(np.uint8)


def blank_wall(image: np.ndarray) -> np.ndarray:
    """The camera pointed past the part: a wall of the photo's own colour, lit unevenly, with sensor noise."""
    height, width = image.shape[:2]
    colour = image.reshape(-1, 3).mean(axis=0)
    light = np.linspace(-15, 15, width)[None, :, None]
    noise = np.random.default_rng(7).normal(0, 2, (height, width, 1))
    return np.clip(colour + light + noise, 0, 255).astype(np.uint8)


DERIVED: list[tuple[Callable[[np.ndarray], np.ndarray], RetakeReason]] = [
    (blurred, "blurred"),
    (dark, "too_dark"),
    (overexposed, "too_bright"),
    (blank_wall, "not_in_frame"),
]


def test_fixture_photos_are_there_small_and_attributed() -> None:
    assert len(GOOD_PHOTOS) >= 2
    assert all(path.stat().st_size < 100_000 for path in GOOD_PHOTOS)
    source = (PHOTOS / "SOURCE.md").read_text()
    for path in GOOD_PHOTOS:
        assert path.name in source, f"{path.name} has no attribution in SOURCE.md"


# --- load_image --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_load_image_decodes_jpeg_as_rgb_uint8(path: Path) -> None:
    image = load_image(path)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 100
    assert 20 < image.mean() < 235  # a real photo, not a black or white frame


def test_load_image_png_keeps_pixels_and_turns_bgr_into_rgb(tmp_path: Path) -> None:
    picture = np.zeros((40, 60, 3), np.uint8)
    picture[:, :20] = (255, 0, 0)  # red, in RGB order
    picture[:, 20:40] = (0, 255, 0)
    picture[:, 40:] = (0, 0, 255)
    path = tmp_path / "stripes.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(load_image(path), picture)


def test_load_image_reads_greyscale_files_as_three_channels(tmp_path: Path) -> None:
    grey = cv2.cvtColor(load_image(GOOD_PHOTOS[0]), cv2.COLOR_RGB2GRAY)
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), grey)
    image = load_image(path)
    assert image.shape == (*grey.shape, 3)
    np.testing.assert_array_equal(image[..., 0], grey)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.05])
def test_truncated_jpeg_is_refused_with_the_file_named(tmp_path: Path, keep: float) -> None:
    data = GOOD_PHOTOS[0].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageError, match=r"cut\.jpg: not a readable image \(corrupt, truncated"):
        load_image(path)


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    full = tmp_path / "full.png"
    cv2.imwrite(str(full), cv2.cvtColor(load_image(GOOD_PHOTOS[0]), cv2.COLOR_RGB2BGR))
    data = full.read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(ImageError, match=r"cut\.png: not a readable image"):
        load_image(path)


def test_corrupt_header_is_refused(tmp_path: Path) -> None:
    data = bytearray(GOOD_PHOTOS[0].read_bytes())
    data[0:16] = bytes(16)  # the JPEG signature and the first segment wiped out
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"corrupt\.jpg: not a readable image"):
        load_image(path)


@pytest.mark.parametrize("content", [b"", b"not an image, just a note\n", bytes(range(256)) * 8])
def test_files_that_are_not_images_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=r"photo\.jpg: not a readable image"):
        load_image(path)


def test_missing_file_and_folder_say_they_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"missing\.jpg: cannot read \(No such file or directory\)"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` in its header, followed by a few bytes of pixel data: what a
    decompression bomb or a mislabelled giant file looks like before anything is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64)))


@pytest.mark.parametrize("side", [20000, 9000])
def test_a_giant_image_is_refused_from_its_header_without_decoding(tmp_path: Path, side: int) -> None:
    path = tmp_path / "giant.png"
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(ImageError, match=r"giant\.png: too large"):
        load_image(path)


@pytest.mark.parametrize("shape", [(1, 1), (8, 300)])
def test_a_tiny_image_is_refused_as_too_small(tmp_path: Path, shape: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), np.full((*shape, 3), 128, np.uint8))
    with pytest.raises(ImageError, match=rf"tiny\.png: too small \({shape[1]} x {shape[0]} px"):
        load_image(path)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(GOOD_PHOTOS[0].read_bytes())
    monkeypatch.setattr(capture, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ImageError, match=r"big\.jpg: too large \([0-9.]+ MB; photos up to"):
        load_image(path)


def test_a_large_photo_is_decoded_at_a_reduced_scale(tmp_path: Path) -> None:
    path = tmp_path / "large.jpg"
    picture = cv2.resize(load_image(GOOD_PHOTOS[0]), (6000, 4500), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    assert load_image(path).shape == (2250, 3000, 3)  # 1/2 scale: within DECODE_SIDE_PX


def test_image_error_is_a_value_error() -> None:
    assert issubclass(ImageError, ValueError)  # callers that catch bad input generally still catch it


# --- ImageFileSource ---------------------------------------------------------------------------------------


def test_file_source_over_a_folder_cycles_through_the_images_in_name_order(tmp_path: Path) -> None:
    for index, colour in enumerate([(200, 0, 0), (0, 200, 0)]):
        cv2.imwrite(str(tmp_path / f"{index}.png"), np.full((40, 40, 3), colour, np.uint8))
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "sub.png").mkdir()  # a folder with an image's name is not a photo either
    source = ImageFileSource([tmp_path])
    assert [p.name for p in source.paths] == ["0.png", "1.png"]
    frames = [source.frame() for _ in range(5)]
    blues = [int(frame[0, 0, 2]) for frame in frames]  # BGR (200, 0, 0) on disk is blue in RGB
    assert blues == [200, 0, 200, 0, 200]


def test_file_source_mixes_files_and_folders() -> None:
    source = ImageFileSource([GOOD_PHOTOS[0], PHOTOS])
    assert source.paths[0] == GOOD_PHOTOS[0]
    assert len(source.paths) == 1 + len(GOOD_PHOTOS)
    assert source.frame().shape == load_image(GOOD_PHOTOS[0]).shape


def test_file_source_rejects_an_empty_folder_and_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("no photos here")
    with pytest.raises(ImageError, match=r"no images \(\.png, \.jpg"):
        ImageFileSource([tmp_path])
    with pytest.raises(ImageError, match=r"no such file or folder: .*nowhere"):
        ImageFileSource([tmp_path / "nowhere"])


def test_file_source_reports_a_corrupt_file_when_its_turn_comes(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((40, 40, 3), 90, np.uint8))
    (tmp_path / "b.jpg").write_bytes(GOOD_PHOTOS[0].read_bytes()[:300])
    source = ImageFileSource([tmp_path])
    assert source.frame().shape == (40, 40, 3)
    with pytest.raises(ImageError, match=r"b\.jpg: not a readable image"):
        source.frame()


# --- CameraSource ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", [97, "/nonexistent/video97"])
def test_camera_source_on_a_missing_device_raises_a_clear_oserror(device: int | str) -> None:
    with pytest.raises(OSError, match=r"no camera at .*97.*plugged in.*'video'"):
        CameraSource(device)


# --- save_photo --------------------------------------------------------------------------------------------


def test_save_photo_writes_a_downscaled_jpeg_atomically(tmp_path: Path) -> None:
    big = cv2.resize(load_image(GOOD_PHOTOS[0]), (2000, 1500), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "photos" / "ticket.jpg"
    save_photo(big, path)  # creates the folder
    saved = load_image(path)
    assert saved.shape == (768, MAX_PHOTO_SIDE_PX, 3)  # the longer side capped, the aspect kept
    assert path.read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert path.stat().st_size < 400_000
    small = cv2.resize(big, (MAX_PHOTO_SIDE_PX, 768), interpolation=cv2.INTER_AREA)
    assert np.abs(saved.astype(int) - small.astype(int)).mean() < 6  # the same picture, JPEG-compressed
    assert [p.name for p in path.parent.iterdir()] == ["ticket.jpg"]  # no temporary file left


def test_save_photo_keeps_a_small_photo_at_its_size(tmp_path: Path) -> None:
    image = load_image(GOOD_PHOTOS[0])
    save_photo(image, tmp_path / "small.jpg")
    assert load_image(tmp_path / "small.jpg").shape == image.shape


def test_save_photo_failing_at_the_rename_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "photo.jpg"
    save_photo(load_image(GOOD_PHOTOS[0]), path)
    before = path.read_bytes()

    def power_cut(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(durable.os, "replace", power_cut)
    with pytest.raises(OSError, match="No space left"):
        save_photo(load_image(GOOD_PHOTOS[-1]), path)
    assert path.read_bytes() == before
    assert load_image(path).shape == load_image(GOOD_PHOTOS[0]).shape
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_save_photo_failing_while_writing_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        save_photo(load_image(GOOD_PHOTOS[0]), tmp_path / "photo.jpg")
    assert list(tmp_path.iterdir()) == []


def test_save_photo_refuses_what_is_not_an_rgb_photo(tmp_path: Path) -> None:
    for image in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float64)):
        with pytest.raises(ImageError, match=r"cannot save .*flat\.jpg: expected an RGB uint8 photo"):
            save_photo(image, tmp_path / "flat.jpg")
    assert list(tmp_path.iterdir()) == []


# --- the quality gate --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_quality_gate_passes_real_photos_of_parts(path: Path) -> None:
    report = check_quality(load_image(path))
    assert report.ok, report
    assert report.reasons == ()
    assert 0.5 < report.sharpness <= 1
    assert 60 < report.brightness < 200
    assert report.edge_density > 0.1


@pytest.mark.parametrize("derive, reason", DERIVED, ids=[reason for _, reason in DERIVED])
@pytest.mark.parametrize("path", GOOD_PHOTOS, ids=lambda p: p.name)
def test_quality_gate_refuses_derived_bad_photos_with_the_right_reason(
    path: Path, derive: Callable[[np.ndarray], np.ndarray], reason: RetakeReason
) -> None:
    report = check_quality(derive(load_image(path)))
    assert not report.ok
    assert report.reasons == (reason,), report


def test_quality_measures_move_the_right_way() -> None:
    image = load_image(GOOD_PHOTOS[0])
    good = check_quality(image)
    assert check_quality(blurred(image)).sharpness < good.sharpness - 0.2
    assert check_quality(dark(image)).brightness < 30 < good.brightness
    assert check_quality(overexposed(image)).brightness > 235
    assert check_quality(blank_wall(image)).edge_density < 0.001 < good.edge_density


def test_quality_does_not_depend_on_resolution() -> None:
    """A camera at 1024 px sees the same photo as the 200-300 px fixture: the same verdict."""
    for path in GOOD_PHOTOS:
        image = load_image(path)
        bigger = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
        assert check_quality(bigger).ok
        assert check_quality(blurred(bigger)).reasons == ("blurred",)


def test_quality_gate_judges_contrast_fairly() -> None:
    """A faint part (contrast cut to a third) is still a sharp, framed photo."""
    image = load_image(GOOD_PHOTOS[0]).astype(np.float32)
    faint = (image.mean() + (image - image.mean()) / 3).astype(np.uint8)
    assert check_quality(faint).ok


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((100, 100), np.uint8),  # grey, no channels
        np.zeros((100, 100, 4), np.uint8),  # RGBA
        np.zeros((100, 100, 3), np.float32),  # not uint8
        np.zeros((20, 100, 3), np.uint8),  # too small to judge
        np.zeros((100,), np.uint8),
    ],
    ids=["grey", "rgba", "float", "tiny", "flat"],
)
def test_quality_gate_refuses_wrong_shapes(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected an RGB uint8 photo of at least 32x32"):
        check_quality(image)
