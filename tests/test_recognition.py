"""Recognition by product profile with the shipped models: classification and pcb verdicts, the ticket summary,
and a model that cannot be loaded (refused with the reason, and picked up again once it is restored)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_app.config import REPO_ROOT, VisionConfig
from firmware_app.events import DefectBox, Inspection, TicketRequested, event_from_dict
from firmware_app.vision.capture import load_image
from firmware_app.vision.pcb.scoring import iou
from firmware_app.vision.recognition import RecognitionUnavailable, Recognizer, summary
from tests.conftest import FIXTURES

MODELS = REPO_ROOT / "models" / "int8"
PCB = FIXTURES / "pcb"


def board_photo(scan: Path) -> np.ndarray:
    """A DeepPCB scan as a camera would see the board: copper dark grey, laminate light grey (the binary scan
    itself is refused by the quality gate as clipped)."""
    grey = cv2.imread(str(scan), cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(np.where(grey > 127, 205, 55).astype(np.uint8), cv2.COLOR_GRAY2RGB)


def noise_photo() -> np.ndarray:
    """Colour noise: passes the quality gate (sharp, lit, structured) and looks like no product."""
    return np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(VisionConfig(pcb_template=PCB / "00041001_temp.png"), MODELS)


def corrupted_models(tmp_path: Path, file: str) -> Path:
    """A copy of the shipped manifest and models with one model file's bytes changed (its sha256 no longer
    matches the manifest)."""
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder, ignore=shutil.ignore_patterns("intent-*", "amelia*"))
    data = bytearray((folder / file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / file).write_bytes(bytes(data))
    return folder


def test_a_steel_defect_is_named_boxed_and_drawn(recognizer: Recognizer) -> None:
    photo = load_image(FIXTURES / "defects" / "neu_scratches_163.jpg")
    recognition = recognizer.recognise("steel_surface", photo)
    inspection = recognition.inspection
    assert (inspection.profile, inspection.model, inspection.model_version) == (
        "steel_surface",
        "steel_surface",
        "1.0.0",
    )
    assert inspection.label == "scratches" and inspection.defective and inspection.confidence > 0.9
    (box,) = inspection.boxes
    assert box.label == "scratches" and 0 <= box.box[0] < box.box[2] <= photo.shape[1]
    assert recognition.annotated.shape == photo.shape
    assert not np.array_equal(recognition.annotated, photo)  # heat map and box drawn
    assert summary("steel_surface", inspection) == f"steel_surface: scratches ({inspection.confidence:.0%})"


def test_something_else_is_not_recognised(recognizer: Recognizer) -> None:
    inspection = recognizer.recognise("steel_surface", noise_photo()).inspection
    assert inspection.label == "not_recognised" and not inspection.defective and inspection.boxes == ()
    assert summary("steel_surface", inspection) == "steel_surface: not recognised"


def test_a_board_is_compared_with_its_template(recognizer: Recognizer) -> None:
    recognition = recognizer.recognise("pcb", board_photo(PCB / "00041001_test.png"))
    inspection = recognition.inspection
    assert inspection.profile == "pcb" and inspection.defective
    truth = [line.split(",") for line in (PCB / "annotations.csv").read_text().splitlines()[1:]]
    truth_boxes = [[int(v) for v in row[1:5]] for row in truth if row[0] == "00041001_test.png"]
    found = sum(any(iou(box.box, t) >= 0.33 for box in inspection.boxes) for t in truth_boxes)
    assert found >= len(truth_boxes) - 1  # the model's dev F is 0.94
    assert summary("pcb", inspection).startswith(f"pcb: {len(inspection.boxes)} defects (")
    red = (recognition.annotated[..., 0] == 255) & (recognition.annotated[..., 1] == 0)
    assert red.any()


def test_a_board_that_matches_its_template_has_no_defect(recognizer: Recognizer) -> None:
    inspection = recognizer.recognise("pcb", board_photo(PCB / "00041001_temp.png")).inspection
    assert not inspection.defective and inspection.boxes == ()
    assert summary("pcb", inspection) == "pcb: no defect"


def test_a_photo_of_another_board_is_not_recognised_by_the_pcb_profile(recognizer: Recognizer) -> None:
    """The board check runs on the camera's path too: another board has nothing to compare with the template."""
    recognition = recognizer.recognise("pcb", board_photo(PCB / "13000086_test.png"))
    assert recognition.inspection.label == "not_recognised" and recognition.inspection.boxes == ()
    assert summary("pcb", recognition.inspection) == "pcb: not recognised"


def test_only_active_profiles_are_recognised() -> None:
    steel_only = Recognizer(VisionConfig(profiles=["steel_surface"]), MODELS)
    with pytest.raises(ValueError, match="not active"):
        steel_only.recognise("magnetic_tile", noise_photo())
    with pytest.raises(ValueError, match="not active"):
        steel_only.recognise("pcb", noise_photo())  # offered only with a template


def test_a_corrupt_model_makes_recognition_unavailable_until_it_is_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = corrupted_models(tmp_path, "steel_surface.int8.onnx")
    recognizer = Recognizer(VisionConfig(), folder)
    with pytest.raises(RecognitionUnavailable, match=r"steel_surface: model file .* has sha256"):
        recognizer.recognise("steel_surface", noise_photo())
    assert "recognition unavailable for profile steel_surface" in caplog.text
    shutil.copy(MODELS / "steel_surface.int8.onnx", folder)  # the fleet restores the file
    assert recognizer.recognise("steel_surface", noise_photo()).inspection.label == "not_recognised"


def test_a_missing_template_makes_the_pcb_profile_unavailable(tmp_path: Path) -> None:
    recognizer = Recognizer(VisionConfig(pcb_template=tmp_path / "gone.png"), MODELS)
    with pytest.raises(RecognitionUnavailable, match=r"gone\.png"):
        recognizer.recognise("pcb", board_photo(PCB / "00041001_test.png"))


def test_summary_of_an_ok_class_and_of_no_model() -> None:
    free = Inspection("magnetic_tile", "magnetic_tile", "1.0.0", "free", 0.91, False, 0.09)
    assert summary("magnetic_tile", free) == "magnetic_tile: no defect (free, 91%)"
    assert summary("steel_surface", None) == "steel_surface: recognition unavailable"


def test_an_inspection_travels_in_a_ticket_request() -> None:
    inspection = Inspection(
        "pcb", "pcb", "1.0.0", "open", 0.98, True, 0.98, (DefectBox((540, 140, 571, 182), "open", 0.98),)
    )
    request = TicketRequested(
        ticket_id="7d4a6a8e-0f4b-4cf5-9d1e-2b8f4c1d9a10",
        ticket_type="technician_photo",
        priority="normal",
        summary="pcb: open (98%)",
        language="en",
        inspection=inspection,
    )
    assert event_from_dict(json.loads(request.to_json())) == request
