"""The steel_surface and magnetic_tile product profiles: real dev-split photos get their class (and a defect-free
tile is not flagged), photos of something else are not forced into a class, unreadable files fail clearly, and the
int8 file gives the same answer on both runtimes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from firmware_app.cli import main
from firmware_app.config import KioskSettings
from firmware_app.inference.manifest import verified_model_path
from firmware_app.vision.capture import load_image
from firmware_app.vision.defects import (
    NOT_RECOGNISED,
    DefectClassifier,
    annotate,
    blockiness,
    grey_of,
    percentile_99,
    preprocess,
    restore_photo,
)
from tests.conftest import FIXTURES

PHOTOS = sorted((FIXTURES / "defects").glob("neu_*.jpg"))
PROFILE = "steel_surface"
TILE_PHOTOS = sorted((FIXTURES / "defects").glob("tile_*.jpg"))
TILE = "magnetic_tile"


def true_label(path: Path) -> str:
    """``neu_rolled-in_scale_188.jpg`` -> ``rolled-in_scale``."""
    return path.stem.removeprefix("neu_").rsplit("_", 1)[0]


def tile_label(path: Path) -> str:
    """``tile_blowhole_exp1_num_40410.jpg`` -> ``blowhole``."""
    return path.stem.split("_")[1]


@pytest.fixture(scope="module")
def classifier(settings: KioskSettings) -> DefectClassifier:
    return DefectClassifier(settings.models_dir, PROFILE)


@pytest.fixture(scope="module")
def tile_classifier(settings: KioskSettings) -> DefectClassifier:
    return DefectClassifier(settings.models_dir, TILE)


def blank_wall(size: int = 480) -> np.ndarray:
    """A painted wall under a lamp: flat colour, a gentle gradient, vignetting and sensor noise."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    wall = np.array([205.0, 198.0, 186.0]) + 25 * xx[:, :, None] - 30 * (xx**2 + yy**2)[:, :, None]
    return np.clip(wall + rng.normal(0, 4, (size, size, 1)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_dev_photos_get_their_class_a_heat_map_and_a_box(classifier: DefectClassifier, path: Path) -> None:
    image = load_image(path)
    result = classifier.classify(image)
    assert result.label == true_label(path)
    assert result.defective and result.defect_score == pytest.approx(1.0)  # every steel class is a defect
    assert result.heatmap.shape == image.shape[:2] and 0.0 <= result.heatmap.min() <= result.heatmap.max() <= 1.0
    (box,) = result.boxes
    x1, y1, x2, y2 = cast(list[int], box["box"])
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    annotated = annotate(image, result)
    assert annotated.shape == image.shape and annotated.dtype == np.uint8 and not np.array_equal(annotated, image)


@pytest.mark.parametrize(
    "image",
    [
        blank_wall(),
        np.random.default_rng(5).integers(0, 256, (300, 300, 3), dtype=np.uint8),
        np.full((240, 320, 3), 128, np.uint8),
    ],
    ids=["blank-wall", "noise", "flat-grey"],
)
def test_something_else_is_not_recognised(classifier: DefectClassifier, image: np.ndarray) -> None:
    result = classifier.classify(image)
    assert result.label == NOT_RECOGNISED
    assert not result.defective and result.boxes == []


@pytest.mark.parametrize("path", TILE_PHOTOS, ids=lambda p: p.name)
def test_tile_photos_get_their_class_and_only_defects_are_flagged(
    tile_classifier: DefectClassifier, path: Path
) -> None:
    image = load_image(path)
    result = tile_classifier.classify(image)
    label = tile_label(path)
    assert result.label == label
    assert result.defective == (label != "free")  # ok_labels: a defect-free tile is not a defect
    assert result.heatmap.shape == image.shape[:2]
    if result.defective:
        assert result.defect_score > 0.5 and len(result.boxes) == 1
    else:
        assert result.defect_score < 0.5 and result.boxes == []


@pytest.mark.parametrize(
    "image",
    [blank_wall(), np.random.default_rng(5).integers(0, 256, (300, 300, 3), dtype=np.uint8)],
    ids=["blank-wall", "noise"],
)
def test_tile_profile_does_not_force_something_else_into_a_class(
    tile_classifier: DefectClassifier, image: np.ndarray
) -> None:
    result = tile_classifier.classify(image)
    assert result.label == NOT_RECOGNISED and not result.defective and result.boxes == []


def turned(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, quarter_turns))


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buffer = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return np.ascontiguousarray(decoded[:, :, ::-1])


def darker(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.rint(image.astype(np.float32) * gain), 0, 255).astype(np.uint8)


# Ordinary phone photos: turned, compressed hard, under-exposed. Every photo here is a dev-split photo that the
# model alone (views=1) already gets right upright and uncompressed.
STEADY = [(PROFILE, path) for path in PHOTOS] + [(TILE, path) for path in TILE_PHOTOS if "blowhole" in path.name]
CHANGES = {
    "turned 90": lambda image: turned(image, 1),
    "turned 180": lambda image: turned(image, 2),
    "turned 270": lambda image: turned(image, 3),
    "jpeg 20": lambda image: jpeg(image, 20),
    "brightness x0.4": lambda image: darker(image, 0.4),
}


@pytest.mark.parametrize(("profile", "path"), STEADY, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_turning_compressing_or_darkening_a_photo_keeps_its_verdict(
    classifier: DefectClassifier, tile_classifier: DefectClassifier, profile: str, path: Path
) -> None:
    chosen = classifier if profile == PROFILE else tile_classifier
    image = load_image(path)
    verdict = chosen.classify(image)
    assert verdict.label == (true_label(path) if profile == PROFILE else tile_label(path))
    for change, apply in CHANGES.items():
        result = chosen.classify(apply(image))
        assert (result.label, result.defective) == (verdict.label, verdict.defective), change


@pytest.mark.parametrize("path", TILE_PHOTOS, ids=lambda p: p.name)
def test_a_turned_tile_is_recognised_and_its_heat_map_turns_with_it(
    tile_classifier: DefectClassifier, path: Path
) -> None:
    """The model alone calls most tiles turned by 90 degrees ``not_recognised``; the four-view classifier does
    not, and the heat map and box stay on the same part of the tile."""
    image = load_image(path)
    upright = tile_classifier.classify(image)
    for quarter_turns in (1, 2, 3):
        result = tile_classifier.classify(turned(image, quarter_turns))
        assert result.label == upright.label == tile_label(path)
        assert result.heatmap.shape == turned(image, quarter_turns).shape[:2]
        back = np.rot90(result.heatmap, -quarter_turns)
        assert np.abs(back - upright.heatmap).mean() < 0.05


def test_views_is_a_choice_of_one_two_or_four(settings: KioskSettings) -> None:
    with pytest.raises(ValueError, match="views"):
        DefectClassifier(settings.models_dir, PROFILE, views=3)


@pytest.mark.parametrize("views", [1, 2])
def test_fewer_views_still_classify_a_clean_photo(settings: KioskSettings, views: int) -> None:
    single = DefectClassifier(settings.models_dir, TILE, views=views)
    assert single.views == views
    for path in TILE_PHOTOS:
        result = single.classify(load_image(path))
        assert result.label == tile_label(path) and result.heatmap.shape == load_image(path).shape[:2]


def test_one_view_is_the_model_alone(settings: KioskSettings) -> None:
    single = DefectClassifier(settings.models_dir, PROFILE, views=1)
    image = load_image(PHOTOS[0])
    logits = single.raw(preprocess(image))["logits"][0]
    result = single.classify(image)
    exp = np.exp(logits - logits.max())[:-1]
    expected = dict(zip(single.labels, exp / exp.sum(), strict=True))
    assert result.probabilities == pytest.approx(expected)  # views=1: the model's own probabilities


@pytest.mark.parametrize("path", PHOTOS + TILE_PHOTOS, ids=lambda p: p.name)
def test_restoration_leaves_an_ordinary_photo_alone(path: Path) -> None:
    image = load_image(path)
    assert np.array_equal(restore_photo(image), grey_of(image))


def test_restoration_brightens_a_dark_photo_and_dithers_a_blocky_one() -> None:
    image = load_image(TILE_PHOTOS[0])
    dark = darker(image, 0.4)
    assert percentile_99(grey_of(dark)) < 90 <= percentile_99(restore_photo(dark))
    black = np.zeros((64, 64, 3), np.uint8)
    assert np.array_equal(restore_photo(black), grey_of(black))  # nothing to brighten: stays black
    compressed = jpeg(image, 20)
    assert blockiness(grey_of(image)) < 1.6 <= blockiness(grey_of(compressed))
    restored = restore_photo(compressed)
    assert not np.array_equal(restored, grey_of(compressed))
    assert np.array_equal(restored, restore_photo(compressed))  # seeded: the same photo, the same verdict
    assert abs(float(restored.mean()) - float(grey_of(compressed).mean())) < 1.0


def test_int8_model_agrees_on_openvino_and_onnxruntime(classifier: DefectClassifier, settings: KioskSettings) -> None:
    ort = pytest.importorskip("onnxruntime")
    _, path = verified_model_path(settings.models_dir, PROFILE)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for photo in PHOTOS:
        tensor = preprocess(load_image(photo))
        ov_out = classifier.raw(tensor)
        logits, similarity = session.run(["logits", "similarity"], {"image": tensor})
        assert int(np.argmax(logits)) == int(np.argmax(ov_out["logits"]))
        assert np.abs(logits - ov_out["logits"]).max() < 0.5
        assert np.abs(similarity - ov_out["similarity"]).max() < 0.05


def test_cli_prints_one_line_per_image_and_fails_on_an_unreadable_file_or_a_photo_to_retake(
    settings: KioskSettings, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(PHOTOS[0].read_bytes()[:200])
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), blank_wall())
    args = ["--data-dir", str(settings.data_dir), "vision", "classify", "--profile", PROFILE]
    result = CliRunner().invoke(main, [*args, str(PHOTOS[0]), str(corrupt), str(wall)])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(PHOTOS[0]), str(corrupt), str(wall)]
    assert lines[0]["label"] == true_label(PHOTOS[0]) and lines[0]["defective"] is True
    assert set(lines[0]) >= {"label", "confidence", "defective", "defect_score", "boxes"}
    assert "not a readable image" in lines[1]["error"]
    assert lines[0]["quality"]["ok"] is True
    # The gate refuses the wall, as the camera screen would, instead of asking the model about it.
    assert lines[2]["retake"] == "not_in_frame" and lines[2]["quality"]["ok"] is False and "label" not in lines[2]


def test_unknown_profile_is_a_clear_error(settings: KioskSettings) -> None:
    args = ["--data-dir", str(settings.data_dir), "vision", "classify", "--profile", "teapot", str(PHOTOS[0])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "teapot" in result.output


def test_eval_reports_accuracy_on_class_folders(settings: KioskSettings, tmp_path: Path) -> None:
    for photo in PHOTOS:
        folder = tmp_path / true_label(photo)
        folder.mkdir()
        (folder / photo.name).write_bytes(photo.read_bytes())
    args = ["--data-dir", str(settings.data_dir), "vision", "eval", "--profile", PROFILE, str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == len(PHOTOS) and report["accuracy"] == 1.0 and report["macro_f1"] == 1.0


def test_jpeg_dithering_is_only_for_a_model_not_trained_on_compressed_photos(
    classifier: DefectClassifier, tile_classifier: DefectClassifier
) -> None:
    assert "jpeg" in (classifier.entry.model_extra or {})["trained_for"] and classifier.dither is False
    assert tile_classifier.dither is True  # the tile recipe run predates JPEG augmentation
