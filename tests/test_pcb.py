"""The ``pcb`` profile on two DeepPCB dev pairs (tests/fixtures/pcb, never seen in training): it finds most
annotated defects with the right type, still finds them when the test image is shifted and rotated like a
technician's photo, turns unusable files into an error line instead of a crash, and refuses a test image that
does not show the template's board (the two fixture pairs are two different boards)."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_app.inference.manifest import load_manifest, sha256_file
from firmware_app.vision.pcb.alignment import align_pair, local_shift
from firmware_app.vision.pcb.board_check import COPPER_FLOOR, measure, unmatched_copper
from firmware_app.vision.pcb.candidates import difference, find_candidates
from firmware_app.vision.pcb.detector import (
    CROP_MODEL_NAME,
    MODEL_PATH,
    PcbDetector,
    check_board,
    detect_pairs,
    read_pairs_csv,
)
from firmware_app.vision.pcb.errors import NotTheTemplateBoard, PcbError
from firmware_app.vision.pcb.labels import LABELS
from firmware_app.vision.pcb.masks import binarise, load_binary, xor_share
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


def _grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return image


def _rotate_and_shift(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A photo held slightly askew: 4 degrees about the centre and shifted by (12, -9) px, white borders."""
    matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), 4.0, 1.0)
    matrix[:, 2] += (12, -9)
    return cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_NEAREST, borderValue=255), matrix


def test_a_shifted_rotated_test_image_is_aligned(detector: PcbDetector, tmp_path: Path) -> None:
    name = "13000086"
    moved, matrix = _rotate_and_shift(_grey(PCB / f"{name}_test.png"))
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


# --- the board check: the test image must show the template's board -----------------------------------------

OTHER_BOARD = "not_the_template_board"


def _text_page() -> np.ndarray:
    page = np.full((640, 640), 255, np.uint8)
    for row, y in enumerate(range(40, 630, 34)):
        cv2.putText(page, f"Line {row}: the quick brown fox jumps over the lazy dog", (20, y), 0, 0.7, 0, 2)
    return page


def _noise() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (640, 640), dtype=np.uint8)


def test_the_real_pairs_pass_the_board_check() -> None:
    for name in NAMES:
        template, test = load_binary(PCB / f"{name}_temp.png"), load_binary(PCB / f"{name}_test.png")
        match = check_board(template, test)
        assert match.same_board and match.refusal() is None
        assert match.unmatched < 0.05 and match.differ < 0.05 and match.in_view == 1.0


def test_the_shifted_rotated_photo_passes_the_board_check() -> None:
    name = "13000086"
    moved, _ = _rotate_and_shift(_grey(PCB / f"{name}_test.png"))
    match = check_board(load_binary(PCB / f"{name}_temp.png"), binarise(moved))
    assert match.method == "orb+ecc" and match.in_view > 0.9 and match.inliers is not None and match.inliers > 50


def test_another_board_text_and_noise_are_refused_with_the_numbers() -> None:
    template = load_binary(PCB / f"{NAMES[0]}_temp.png")
    others = {
        "board": load_binary(PCB / f"{NAMES[1]}_test.png"),
        "text": binarise(_text_page()),
        "noise": binarise(_noise()),
        "white": binarise(np.full((640, 640), 255, np.uint8)),
    }
    for what, test in others.items():
        with pytest.raises(NotTheTemplateBoard, match="PHOTO does not show the template's board") as refused:
            check_board(template, test, "PHOTO")
        assert refused.value.reason == OTHER_BOARD, what
        assert "matching features after alignment" in str(refused.value), what
        assert "% of pixels differ" in str(refused.value), what


def test_a_bare_corner_of_a_board_is_not_all_unmatched() -> None:
    """DeepPCB has templates without any copper, whose test images have a few added defects: the share is
    taken of at least ``COPPER_FLOOR`` of the pixels, so 200 pixels of defect are not "100% unmatched"."""
    template = np.zeros((640, 640), np.uint8)
    test = template.copy()
    test[300:310, 300:320] = 1
    ones = np.ones_like(test)
    assert unmatched_copper(template, ones, test) == pytest.approx(200 / (COPPER_FLOOR * test.size))
    match = measure(template.shape, align_pair(template, test), test)
    assert match.same_board


def test_a_partial_view_of_the_board_is_refused() -> None:
    """The right half of the template's board, shifted into view: the copper matches, the left half is not seen."""
    template = load_binary(PCB / f"{NAMES[0]}_temp.png")
    test = np.zeros_like(template)
    test[:, :300] = template[:, 340:]
    with pytest.raises(NotTheTemplateBoard, match=r"of the template's board is in the picture; .*all of it"):
        check_board(template, test)


def test_detect_pairs_gives_the_refusal_its_reason_and_goes_on(tmp_path: Path) -> None:
    text = tmp_path / "page.png"
    cv2.imwrite(str(text), _text_page())
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), _noise())
    (a_temp, a_test), (b_temp, b_test) = ((PCB / f"{n}_temp.png", PCB / f"{n}_test.png") for n in NAMES)
    pairs = [(a_temp, b_test), (b_temp, a_test), (a_temp, text), (b_temp, noise), (a_temp, a_test), (b_temp, b_test)]
    results = list(detect_pairs(pairs))
    for result, (_, test) in zip(results[:4], pairs, strict=False):
        assert result["file"] == str(test) and result["reason"] == OTHER_BOARD
        assert result["error"].startswith(f"{test} does not show the template's board: ")
        assert "boxes" not in result
    assert all(r["boxes"] and "error" not in r and "reason" not in r for r in results[4:])


def test_kiosk_vision_detect_refuses_another_board_and_exits_1(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from firmware_app.cli import main

    test = PCB / f"{NAMES[1]}_test.png"
    run = CliRunner().invoke(
        main,
        ["vision", "detect", "--template", str(PCB / f"{NAMES[0]}_temp.png"), str(test)],
        env={"KIOSK_DATA_DIR": str(tmp_path / "data")},
    )
    assert run.exit_code == 1, run.output
    [line] = [json.loads(text) for text in run.stdout.splitlines()]
    assert line["file"] == str(test) and line["reason"] == OTHER_BOARD
    assert "does not show the template's board" in line["error"] and "% of pixels differ" in line["error"]


def test_the_extraction_reuses_the_board_checks_alignment(
    detector: PcbDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``detect`` checks the board before it extracts candidates; the pair is aligned once, not twice (an ORB + ECC
    alignment costs 50-400 ms)."""
    from firmware_app.vision.pcb import alignment

    calls = []
    original = alignment._align

    def counted(template: np.ndarray, test: np.ndarray) -> alignment.Alignment:
        calls.append(1)
        return original(template, test)

    monkeypatch.setattr(alignment, "_align", counted)
    moved, _ = _rotate_and_shift(_grey(PCB / "13000086_test.png"))
    template, test = load_binary(PCB / "13000086_temp.png"), binarise(moved)
    check_board(template, test)
    boxes, method = detector.detect_masks(template, test)
    assert method == "orb+ecc" and boxes and len(calls) == 1
