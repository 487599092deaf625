"""The steel_surface and magnetic_tile product profiles: real dev-split photos get their class (and a defect-free
tile is not flagged), photos of something else are not forced into a class, unreadable files fail clearly, and the
int8 file gives the same answer on both runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from firmware_app.cli import main
from firmware_app.config import KioskSettings
from firmware_app.inference.manifest import verified_model_path
from firmware_app.vision.capture import load_image
from firmware_app.vision.defects import NOT_RECOGNISED, DefectClassifier, annotate, preprocess
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
    x1, y1, x2, y2 = box["box"]
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


def test_cli_prints_one_line_per_image_and_fails_on_an_unreadable_file(settings: KioskSettings, tmp_path: Path) -> None:
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
    assert lines[2]["label"] == NOT_RECOGNISED and lines[2]["boxes"] == []


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
