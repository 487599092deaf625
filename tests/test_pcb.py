"""The ``pcb`` profile on two DeepPCB dev pairs (tests/fixtures/pcb, never seen in training): it finds most
annotated defects with the right type, still finds them when the test image is shifted and rotated like a
technician's photo, and turns unusable files into an error line instead of a crash."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_app.inference.manifest import load_manifest, sha256_file
from firmware_app.vision.pcb.alignment import local_shift
from firmware_app.vision.pcb.candidates import difference, find_candidates
from firmware_app.vision.pcb.detector import CROP_MODEL_NAME, MODEL_PATH, PcbDetector, detect_pairs, read_pairs_csv
from firmware_app.vision.pcb.errors import PcbError
from firmware_app.vision.pcb.labels import LABELS
from firmware_app.vision.pcb.masks import xor_share
from firmware_app.vision.pcb.scoring import detection_metrics
from tests.conftest import FIXTURES

PCB = FIXTURES / "pcb"
NAMES = ("00041001", "13000086")


def truth() -> dict[str, list[dict]]:
    boxes: dict[str, list[dict]] = defaultdict(list)
    with open(PCB / "annotations.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            box = [int(row[k]) for k in ("x1", "y1", "x2", "y2")]
            boxes[row["test_image"]].append({"box": box, "label": row["type_name"]})
    return boxes


@pytest.fixture(scope="module")
def detector() -> PcbDetector:
    cv2.setNumThreads(1)
    return PcbDetector()


def test_finds_most_annotated_defects_with_their_type(detector: PcbDetector) -> None:
    boxes = truth()
    results = []
    for name in NAMES:
        result = detector.detect(PCB / f"{name}_temp.png", PCB / f"{name}_test.png")
        assert result["alignment"] == "prealigned"
        assert all(box["label"] in LABELS and 0 < box["score"] <= 1 for box in result["boxes"])
        results.append((result["boxes"], boxes[f"{name}_test.png"]))
    metrics = detection_metrics(results)
    assert metrics["recall"] >= 0.75
    assert metrics["precision"] >= 0.75


def _rotate_and_shift(image: np.ndarray) -> np.ndarray:
    """A photo held slightly askew: 4 degrees about the centre and shifted by (12, -9) px, white borders."""
    matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), 4.0, 1.0)
    matrix[:, 2] += (12, -9)
    return cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_NEAREST, borderValue=255), matrix


def test_a_shifted_rotated_test_image_is_aligned(detector: PcbDetector, tmp_path: Path) -> None:
    name = "13000086"
    moved, matrix = _rotate_and_shift(cv2.imread(str(PCB / f"{name}_test.png"), cv2.IMREAD_GRAYSCALE))
    moved_path = tmp_path / "photo.png"
    cv2.imwrite(str(moved_path), moved)
    result = detector.detect(PCB / f"{name}_temp.png", moved_path)
    assert result["alignment"] == "orb+ecc"
    centres = []
    for box in truth()[f"{name}_test.png"]:
        x1, y1, x2, y2 = box["box"]
        centres.append(matrix @ np.array([(x1 + x2) / 2, (y1 + y2) / 2, 1.0]))
    found = [
        any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in (r["box"] for r in result["boxes"]))
        for cx, cy in centres
    ]
    assert sum(found) >= 0.6 * len(centres)
    assert len(result["boxes"]) <= 2 * len(centres)  # alignment left no trail of edge differences


def test_local_shift_absorbs_part_of_the_board_sitting_off_and_keeps_the_defect() -> None:
    """Half the board 2 px off: the edge stripes go, a cut through a track stays in the difference."""
    template = np.zeros((256, 256), np.uint8)
    for k in range(16, 256, 24):
        cv2.line(template, (k, 0), (k, 255), 1, 5)
        cv2.line(template, (0, k + 8), (255, k + 8), 1, 3)
    test = template.copy()
    test[:, 128:] = np.roll(template, (1, 2), axis=(0, 1))[:, 128:]
    test[100:106, 180:190] = 0  # an open: the vertical track at x = 184 (moved to 186) is cut
    ones = np.ones_like(test)
    before = xor_share(template, test)
    shifted = local_shift(template, test)
    assert xor_share(shifted, test) < 0.1 * before
    extra, missing = difference(shifted, test, ones)
    assert not extra.any()
    [candidate] = find_candidates(extra, missing)
    x1, y1, x2, y2 = candidate.blob
    assert x1 >= 180 and x2 <= 190 and y1 >= 100 and y2 <= 106


def test_manifest_entry_matches_the_shipped_files() -> None:
    """Both model files (trees and crop network) are the ones the manifest's hashes describe."""
    entry = load_manifest(MODEL_PATH.parent)["pcb"]
    assert sha256_file(MODEL_PATH) == entry.sha256
    crop_file = MODEL_PATH.parent / entry.assets["crop_net"]
    assert crop_file.name == CROP_MODEL_NAME
    assert sha256_file(crop_file) == entry.assets_sha256["crop_net"]


def test_a_tampered_crop_network_is_refused(tmp_path: Path) -> None:
    models = MODEL_PATH.parent
    for name in ("manifest.json", MODEL_PATH.name, CROP_MODEL_NAME):
        shutil.copy(models / name, tmp_path / name)
    PcbDetector(tmp_path / MODEL_PATH.name)  # an intact copy loads
    with open(tmp_path / CROP_MODEL_NAME, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(PcbError, match="sha256"):
        PcbDetector(tmp_path / MODEL_PATH.name)


def test_unreadable_files_give_an_error_line_and_the_rest_go_on(tmp_path: Path) -> None:
    garbage = tmp_path / "scan.png"
    garbage.write_bytes(b"not a png at all")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((20, 20), np.uint8))  # decodes, but is no scan
    good = (PCB / "00041001_temp.png", PCB / "00041001_test.png")
    pairs = [(PCB / "00041001_temp.png", garbage), (tiny, good[1]), (good[0], tmp_path / "missing.png"), good]
    results = list(detect_pairs(pairs))
    assert [r["file"] for r in results] == [str(garbage), str(good[1]), str(tmp_path / "missing.png"), str(good[1])]
    assert "not a readable image" in results[0]["error"]
    assert "20x20 px is not a PCB scan" in results[1]["error"]
    assert "cannot read" in results[2]["error"]
    assert results[3]["boxes"]


def test_pairs_csv(tmp_path: Path) -> None:
    listing = tmp_path / "pairs.csv"
    listing.write_text("template,test\na_temp.png,a_test.png\n\nb_temp.png, b_test.png\n")
    assert read_pairs_csv(listing) == [
        (Path("a_temp.png"), Path("a_test.png")),
        (Path("b_temp.png"), Path("b_test.png")),
    ]
    listing.write_text("only-one-column\n")
    with pytest.raises(PcbError, match="template,test"):
        read_pairs_csv(listing)


def test_kiosk_vision_detect_one_pair_or_many(tmp_path: Path) -> None:
    """The evaluation interface: --template T TEST for one pair, --pairs LIST.csv for many in one process."""
    import json

    from click.testing import CliRunner

    from firmware_app.cli import main

    env = {"KIOSK_DATA_DIR": str(tmp_path / "data")}
    one = CliRunner().invoke(
        main,
        [
            "vision",
            "detect",
            "--profile",
            "pcb",
            "--template",
            str(PCB / f"{NAMES[0]}_temp.png"),
            str(PCB / f"{NAMES[0]}_test.png"),
        ],
        env=env,
    )
    assert one.exit_code == 0, one.output
    [line] = [json.loads(text) for text in one.stdout.splitlines()]
    assert line["file"] == str(PCB / f"{NAMES[0]}_test.png") and line["boxes"]
    assert {"box", "label", "score"} <= set(line["boxes"][0]) and line["boxes"][0]["label"] in LABELS

    listing = tmp_path / "pairs.csv"
    rows = [f"{PCB / f'{name}_temp.png'},{PCB / f'{name}_test.png'}" for name in NAMES]
    listing.write_text("\n".join([*rows, f"{PCB / 'missing_temp.png'},{PCB / 'missing_test.png'}"]) + "\n")
    many = CliRunner().invoke(main, ["vision", "detect", "--pairs", str(listing)], env=env)
    results = [json.loads(text) for text in many.stdout.splitlines()]
    assert many.exit_code == 1 and len(results) == 3  # the missing pair gets its error line, the others boxes
    assert all(r["boxes"] for r in results[:2]) and "error" in results[2]

    neither = CliRunner().invoke(main, ["vision", "detect", "--profile", "pcb"], env=env)
    assert neither.exit_code == 2 and "--template" in neither.output
