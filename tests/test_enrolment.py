"""Teaching the kiosk a part from good photos only (``kiosk vision enrol``): a synthetic machined flange stands in
for "a part no model was trained for" (``tests/synthetic_part.py``). Enrolled once per module on 6 good photos;
every verdict below is the int8 backbone and the real memory bank, nothing mocked."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from firmware_app.cli import main
from firmware_app.config import KioskSettings
from firmware_app.inference.manifest import ModelIntegrityError, verified_model_path
from firmware_app.inference.probe import probe_model
from firmware_app.vision.anomaly import AnomalyInspector, EnrolmentError, PatchFeatureExtractor
from firmware_app.vision.capture import load_image
from firmware_app.vision.enrolment import enrol_part, gate, set_threshold
from firmware_app.vision.profiles import enrolled_profiles, open_profile
from tests.conftest import FIXTURES
from tests.synthetic_part import CRACK_BOX, flange

NAME = "flange"
GOOD_SEEDS = range(6)


@pytest.fixture(scope="module")
def extractor(settings: KioskSettings) -> PatchFeatureExtractor:
    return PatchFeatureExtractor(settings.models_dir, 224, "standard")


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory: pytest.TempPathFactory, extractor: PatchFeatureExtractor) -> Path:
    folder = tmp_path_factory.mktemp("profiles") / NAME
    photos = {f"good_{seed}.png": flange(seed) for seed in GOOD_SEEDS}
    enrol_part(NAME, "Flange 80 mm", photos, extractor, folder)
    return folder


@pytest.fixture(scope="module")
def inspector(profile_dir: Path, settings: KioskSettings) -> AnomalyInspector:
    return AnomalyInspector(profile_dir, NAME, settings.models_dir)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED))


def test_the_profile_is_a_verified_model_folder_with_its_calibration(profile_dir: Path) -> None:
    entry, bank = verified_model_path(profile_dir, NAME)  # the sha256 in the manifest matches the bank
    extra = entry.model_extra or {}
    assert extra["kind"] == "anomaly" and extra["title"] == "Flange 80 mm"
    assert extra["enrolment"]["photos"] == len(GOOD_SEEDS) and len(extra["calibration"]["good_scores"]) == 6
    assert entry.thresholds["score"] == extra["calibration"]["threshold"] > max(extra["calibration"]["good_scores"])
    assert bank.stat().st_size < 5 * 2**20
    with np.load(bank, allow_pickle=False) as arrays:
        assert arrays["bank"].dtype == np.float16 and arrays["bank"].shape[0] <= 2048


def test_new_good_photos_pass_and_defects_are_boxed_where_they_are(inspector: AnomalyInspector) -> None:
    for seed in (100, 101, 102):
        result = inspector.classify(flange(seed))
        assert (result.label, result.defective, result.boxes) == ("ok", False, [])
        assert result.defect_score < 0.5 and result.heatmap.max() < 0.5  # a good part does not look alarming
    crack = inspector.classify(flange(200, "crack"))
    assert crack.label == "defect" and crack.defective and crack.defect_score > 0.5
    x1, y1, x2, y2 = crack.boxes[0]["box"]  # type: ignore[misc]
    cx1, cy1, cx2, cy2 = CRACK_BOX
    assert x1 < cx2 + 10 and cx1 - 10 < x2 and y1 < cy2 + 10 and cy1 - 10 < y2  # the box is on the crack
    assert inspector.classify(flange(201, "chip")).label == "defect"


@pytest.mark.parametrize(
    "change",
    [
        lambda image: np.rot90(image, 1),
        lambda image: np.rot90(image, 2),
        lambda image: np.rot90(image, 3),
        lambda image: (image * 0.4).astype(np.uint8),
        lambda image: jpeg(image, 20),
        lambda image: cv2.GaussianBlur(image, (0, 0), 1.0),
        lambda image: cv2.resize(image, (200, 200), interpolation=cv2.INTER_AREA),
    ],
    ids=["turned-90", "turned-180", "turned-270", "dark-40pc", "jpeg-20", "blur-1px", "smaller"],
)
def test_an_ordinary_photo_keeps_its_verdict(inspector: AnomalyInspector, change: object) -> None:
    assert callable(change)
    good, crack = flange(300), flange(301, "crack")
    assert inspector.classify(np.ascontiguousarray(change(good))).label == "ok"
    assert inspector.classify(np.ascontiguousarray(change(crack))).label == "defect"


def test_a_photo_of_something_else_is_not_recognised(inspector: AnomalyInspector) -> None:
    steel = load_image(FIXTURES / "defects" / "neu_crazing_93.jpg")
    assert inspector.classify(steel).label == "not_recognised"


def test_too_few_good_photos_and_bad_names_are_refused(
    extractor: PatchFeatureExtractor, settings: KioskSettings, tmp_path: Path
) -> None:
    with pytest.raises(EnrolmentError, match="at least 4"):
        enrol_part(NAME, "", {"a.png": flange(1), "b.png": flange(2)}, extractor, tmp_path / NAME)
    runner = CliRunner()
    for name in ("../escape", "Steel Surface", "steel_surface", "pcb"):
        args = ["--data-dir", str(settings.data_dir), "vision", "enrol", "--profile", name, "--good", str(tmp_path)]
        result = runner.invoke(main, args)
        assert result.exit_code == 1 and "profile name" in result.output, result.output


def test_a_tampered_bank_or_another_backbone_is_refused(
    profile_dir: Path, settings: KioskSettings, tmp_path: Path
) -> None:
    copy = tmp_path / NAME
    copy.mkdir()
    for path in profile_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["models"][0]["backbone_sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="enrol its photos again"):
        AnomalyInspector(copy, NAME, settings.models_dir)
    bank = copy / manifest["models"][0]["file"]
    bank.write_bytes(bank.read_bytes()[:-10] + b"0" * 10)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        AnomalyInspector(copy, NAME, settings.models_dir)


def test_enrol_classify_and_threshold_from_the_command_line(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    for seed in GOOD_SEEDS:
        cv2.imwrite(str(good / f"flange_{seed}.png"), flange(seed))
    cv2.imwrite(str(good / "shaky.png"), cv2.GaussianBlur(flange(50), (0, 0), 4))  # a photo to retake
    (good / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    data = tmp_path / "kiosk-data"
    runner = CliRunner()
    base = ["--data-dir", str(data), "vision"]
    enrolled = runner.invoke(main, [*base, "enrol", "--profile", NAME, "--good", str(good), "--title", "Flange 80 mm"])
    assert enrolled.exit_code == 0, enrolled.output
    summary = json.loads(enrolled.stdout)
    assert summary["photos"] == len(GOOD_SEEDS) and summary["title"] == "Flange 80 mm"
    assert (
        summary["left_out"]["shaky.png"] == "retake: blurred"
        and "not a readable image" in summary["left_out"]["broken.jpg"]
    )
    assert summary["size_bytes"] < 5 * 2**20

    photos = {
        "ok.png": flange(400),
        "crack.png": flange(401, "crack"),
        "dark.png": (flange(402) * 0.1).astype(np.uint8),
    }
    for name, image in photos.items():
        cv2.imwrite(str(tmp_path / name), image)
    classified = runner.invoke(main, [*base, "classify", "--profile", NAME, *(str(tmp_path / n) for n in photos)])
    assert classified.exit_code == 1  # the dark photo was not inspected
    ok, crack, dark = (json.loads(line) for line in classified.stdout.splitlines())
    assert ok["label"] == "ok" and ok["quality"]["ok"] is True and ok["quality"]["reasons"] == []
    assert crack["label"] == "defect" and crack["boxes"] and 0.5 < crack["defect_score"] <= 1
    assert dark["retake"] == "too_dark" and "label" not in dark

    listed = json.loads(runner.invoke(main, [*base, "profiles"]).stdout)
    assert NAME in listed["enrolled"] and "steel_surface" in listed["trained"]

    tighter = runner.invoke(main, [*base, "threshold", "--profile", NAME, "--factor", "0.5"])
    effect = json.loads(tighter.stdout)
    assert effect["after"]["threshold"] == pytest.approx(effect["before"]["threshold"] * 0.5, rel=1e-3)
    assert effect["before"]["flagged"] == 0 and effect["after"]["flagged"] == len(GOOD_SEEDS)
    assert runner.invoke(main, [*base, "threshold", "--profile", NAME, "--factor", "9"]).exit_code == 1
    assert runner.invoke(main, [*base, "threshold", "--profile", "unknown", "--factor", "1"]).exit_code == 1


def test_a_released_part_is_found_in_the_models_folder_and_passes_the_self_test(
    profile_dir: Path, settings: KioskSettings, tmp_path: Path
) -> None:
    """What the updater does with a released part: the entry joins the models manifest, the self-test loads it
    with the backbone, and the camera's profile list offers it."""
    models = tmp_path / "models"
    models.mkdir()
    manifest = json.loads((settings.models_dir / "manifest.json").read_text())
    backbone = next(entry for entry in manifest["models"] if entry["name"] == "patch-features")
    for file in (backbone["file"], *backbone["assets"].values()):  # the model and its .tflite, as released
        (models / file).write_bytes((settings.models_dir / file).read_bytes())
    part = json.loads((profile_dir / "manifest.json").read_text())["models"][0]
    (models / part["file"]).write_bytes((profile_dir / part["file"]).read_bytes())
    (models / "manifest.json").write_text(json.dumps({"models": [backbone, part]}))
    probe_model(models, NAME)
    assert enrolled_profiles(None, models) == [NAME]
    assert open_profile(NAME, None, models).classify(flange(500, "chip")).label == "defect"


def test_classify_with_the_pairwise_board_profile_points_to_detect(settings: KioskSettings) -> None:
    photo = FIXTURES / "pcb" / "00041001_test.png"
    result = CliRunner().invoke(
        main, ["--data-dir", str(settings.data_dir), "vision", "classify", "--profile", "pcb", str(photo)]
    )
    assert result.exit_code == 2 and "vision detect --template" in result.output


def test_threshold_is_only_moved_on_parts_enrolled_here(settings: KioskSettings) -> None:
    with pytest.raises(EnrolmentError, match="not a part enrolled"):
        set_threshold("steel_surface", settings.data_dir, 1.0)


def test_binarised_photos_teach_the_gate_that_clipping_is_how_the_part_looks() -> None:
    """Board scans are pure black and white: "too dark" or "too bright" by their share of copper. Together they
    are most of the photos, so exposure is this part's look; a blurred one among them is still left out."""
    rng = np.random.default_rng(5)
    boards = {}
    for index, copper in enumerate((0.55, 0.6, 0.65, 0.35, 0.4, 0.3)):
        mask = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 6)
        binary = np.where(mask < np.quantile(mask, copper), 0, 255).astype(np.uint8)
        boards[f"board_{index}.png"] = cv2.cvtColor(binary, cv2.COLOR_GRAY2RGB)
    boards["shaky.png"] = cv2.GaussianBlur(flange(7), (0, 0), 4)
    kept, left_out, skips = gate(boards)
    assert set(skips) == {"too_dark", "too_bright"}
    assert len(kept) == 6 and left_out == {"shaky.png": "retake: blurred"}
