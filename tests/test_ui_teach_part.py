"""Teaching the kiosk a new part on its own screen: "Teach a new part" on the camera screen, the staff PIN, the
title, photos of good parts from the camera (each through the quality gate), "Learn this part", and the part
offered on the camera screen at once by its title, where a cracked one is a defect; then its threshold, made
stricter or looser on the staff screen, with what that does to the part's own good photos.

The synthetic flange (``tests/synthetic_part.py``) is the part; the camera is an ``ImageFileSource`` over photo
files; enrolment is the real one (the int8 backbone, the memory bank), nothing mocked except where a test says
so to photograph a state on many screens.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from firmware_app.config import KioskSettings, VisionConfig
from firmware_app.inference.manifest import MANIFEST_NAME
from firmware_app.screen import teach as teach_module
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from firmware_app.screen.teach import MAX_TEACH_PHOTOS, MIN_TEACH_PHOTOS, THRESHOLD_FACTORS
from firmware_app.vision.anomaly import EnrolmentError, PatchFeatureExtractor, write_manifest
from firmware_app.vision.capture import ImageFileSource
from firmware_app.vision.enrolment import Enrolment, enrol_part, threshold_effect
from firmware_app.vision.profiles import enrolled_root, read_entry
from firmware_app.vision.recognition import Recognizer
from kiosk_ui.app import KioskUI
from tests.synthetic_part import flange
from tests.test_ui_camera_admin import (
    RIGHT_PIN,
    VARIANTS,
    WRONG_PIN,
    choose_variant,
    collect_problems,
    enter_pin,
    open_camera_from_staff,
    technician_opens_camera,
    words,
)
from tests.ui_driver import UiDriver

TITLE = "Flange 80 mm"
GOOD_PHOTOS = 12


def write_photo(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def blurred_flange() -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(flange(50), (0, 0), 4))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Photo files for the camera: a folder of good flanges, a blurred one, a cracked one and another good one."""
    folder = tmp_path_factory.mktemp("teach-photos")
    for seed in range(GOOD_PHOTOS):
        write_photo(folder / "good" / f"flange_{seed:02d}.png", flange(seed))
    return {
        "good": folder / "good",
        "blurred": write_photo(folder / "blurred.png", blurred_flange()),
        "crack": write_photo(folder / "crack.png", flange(700, "crack")),
        "fine": write_photo(folder / "fine.png", flange(701)),
    }


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, settings: KioskSettings) -> Enrolment:
    """A part taught once for the module (6 good photos and a blurred one, which is left out): for the staff
    screen's thresholds and for photographing the "learned" state on every screen size."""
    folder = tmp_path_factory.mktemp("taught") / "part-1"
    shots = {f"photo-{seed + 1:02d}.png": flange(seed) for seed in range(6)}
    shots["photo-07.png"] = blurred_flange()
    extractor = PatchFeatureExtractor(settings.models_dir, 224, "standard")
    return enrol_part("part-1", TITLE, shots, extractor, folder)


def kiosk_data(tmp_path: Path, enrolment: Enrolment, parts: dict[str, str]) -> Path:
    """A data folder whose kiosk was taught ``parts`` (name: title), each a copy of ``enrolment``'s part."""
    data = tmp_path / "data"
    for name, title in parts.items():
        folder = enrolled_root(data) / name
        shutil.copytree(enrolment.folder, folder)
        write_manifest(folder, {**read_entry(enrolment.folder, "part-1"), "name": name, "title": title})
    return data


def teaching_recognizer(settings: KioskSettings, data: Path, models_dir: Path | None = None) -> Recognizer:
    return Recognizer(VisionConfig(), models_dir or settings.models_dir, data)


def open_teaching(ui: UiDriver, pin: str = RIGHT_PIN) -> None:
    """From the camera screen: Teach a new part, the staff PIN."""
    ui.tap(id="teach_part")
    assert ui.screen == "admin_pin"
    enter_pin(ui, pin)


# --- teaching a part, end to end --------------------------------------------------------------------------------


def test_staff_teach_a_new_part_and_the_technician_inspects_it_at_once(
    ui: UiDriver, controller: KioskController, settings: KioskSettings, photos: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    controller.recognizer = teaching_recognizer(settings, data)
    controller.camera = ImageFileSource([photos["good"]])
    open_camera_from_staff(ui)
    assert "profile:part-1" not in ui.ids() and "Teach a new part" in words(ui)
    ui.shot("camera")

    open_teaching(ui, WRONG_PIN)
    assert ui.screen == "admin_pin" and "Wrong PIN. Try again." in words(ui)
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "form" and controller.state.form is not None
    assert controller.state.form.purpose == "part_title" and controller.state.form.draft == "Part 1"
    assert "What is this part called?" in words(ui)
    ui.shot("title")
    for _ in "Part 1":
        ui.tap(id="key:backspace")
    controller.type_text(TITLE)  # a USB keyboard (the on-screen one is tested with the photo's note)
    ui.tap(id="key:submit")
    assert ui.screen == "teach"
    assert "Teach: Flange 80 mm" in words(ui) and "0 of at least 10 photos" in words(ui)
    assert "camera:image" in ui.ids() and "learn_part" not in ui.ids()
    ui.shot("teach-empty")

    controller.camera = ImageFileSource([photos["blurred"]])
    ui.tap(id="take_photo")
    teach = controller.state.teach
    assert teach is not None and teach.count == 0  # a photo to retake is not kept ...
    assert "That photo was not kept. It is blurred: hold the part still." in words(ui)  # ... and says why
    ui.shot("teach-blurred")

    controller.camera = ImageFileSource([photos["good"]])
    for count in range(1, MIN_TEACH_PHOTOS):
        ui.tap(id="take_photo")
        assert f"{count} of at least 10 photos" in words(ui)
    assert "That photo was not kept" not in words(ui) and "learn_part" not in ui.ids()
    ui.shot("teach-9")
    ui.tap(id="take_photo")
    ui.tap(id="take_photo")
    assert "11 photos: enough to learn (at most 30)" in words(ui)
    assert ui.find(id="learn_part").style == "primary"
    ui.shot("teach-11")

    ui.tap(id="learn_part")  # the UI's worker runs it (inline here): the screen said "Learning…" meanwhile
    teach = controller.state.teach
    assert teach is not None and teach.phase == "learned" and teach.result is not None
    text = words(ui)
    assert "Learned: Flange 80 mm" in text and "Learned from 11 photos." in text
    assert f"Flags {teach.result.flagged} of 11 of its own good photos" in text and teach.result.flagged == 0
    assert "Threshold:" in text
    entry = read_entry(enrolled_root(data) / "part-1", "part-1")
    assert entry["title"] == TITLE and entry["enrolment"]["photos"] == 11
    assert entry["thresholds"]["score"] == pytest.approx(teach.result.threshold)
    ui.shot("learned")

    ui.tap(id="photograph_part")
    assert ui.screen == "camera" and controller.state.teach is None
    chip = ui.find(id="profile:part-1")
    assert chip.text == TITLE and chip.style == "selected"  # offered at once, by its title, and chosen
    assert controller.recognizer.profiles == ("steel_surface", "magnetic_tile", "part-1")
    ui.shot("camera-taught")

    controller.camera = ImageFileSource([photos["crack"]])
    ui.tap(id="take_photo")
    photo = controller.state.photo
    assert ui.screen == "inspection" and photo is not None and photo.verdict == "defect"
    assert photo.recognition is not None and photo.recognition.inspection.profile == "part-1"
    assert "Defect found" in words(ui) and "Checked as: Flange 80 mm" in words(ui)
    ui.shot("inspection-crack")
    controller.camera = ImageFileSource([photos["fine"]])
    ui.tap(id="retake")
    ui.tap(id="take_photo")
    assert controller.state.photo is not None and controller.state.photo.verdict == "no_defect"


def test_in_chinese_the_counter_and_the_refusal_are_chinese(
    ui: UiDriver, controller: KioskController, settings: KioskSettings, photos: dict[str, Path], tmp_path: Path
) -> None:
    controller.recognizer = teaching_recognizer(settings, tmp_path / "data")
    controller.camera = ImageFileSource([photos["blurred"]])
    controller.set_language("zh")
    open_camera_from_staff(ui)
    assert ui.find(id="teach_part").text == "教新零件"
    open_teaching(ui)
    assert controller.state.form is not None and controller.state.form.draft == "零件 1"
    ui.tap(id="key:submit")
    ui.tap(id="take_photo")
    text = "".join(words(ui).split())
    assert "已拍0张，至少需要10张" in text and "刚才的照片未保留。照片模糊：请保持部件稳定。" in text
    ui.shot("teach-blurred-zh")


def test_cancel_leaves_nothing_behind_and_the_pin_pad_closes_back_to_the_camera(
    ui: UiDriver, controller: KioskController, settings: KioskSettings, photos: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    controller.recognizer = teaching_recognizer(settings, data)
    controller.camera = ImageFileSource([photos["good"]])
    open_camera_from_staff(ui)
    ui.tap(id="teach_part")
    ui.tap(id="close")  # the PIN pad opened from the camera closes back to it, the visit still on
    assert ui.screen == "camera" and controller.state.bubbles
    open_teaching(ui)
    ui.tap(id="back")  # the title's Back
    assert ui.screen == "camera"
    open_teaching(ui)
    ui.tap(id="key:submit")
    ui.tap(id="take_photo")
    ui.tap(id="cancel")
    assert ui.screen == "camera" and controller.state.teach is None
    assert not enrolled_root(data).exists() and controller.recognizer.profiles == ("steel_surface", "magnetic_tile")


def test_without_the_feature_model_the_screen_says_so_and_keeps_the_photos(
    ui: UiDriver,
    controller: KioskController,
    settings: KioskSettings,
    photos: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(settings.models_dir / MANIFEST_NAME, models / MANIFEST_NAME)  # the manifest, but no model files
    data = tmp_path / "data"
    controller.recognizer = teaching_recognizer(settings, data, models)
    controller.camera = ImageFileSource([photos["good"]])
    open_camera_from_staff(ui)
    open_teaching(ui)
    ui.tap(id="key:submit")
    for _ in range(MIN_TEACH_PHOTOS):
        controller.teach_capture()
    ui.tap(id="learn_part")
    teach = controller.state.teach
    assert teach is not None and teach.phase == "failed" and teach.error == "teach_no_model"
    text = words(ui)
    assert "Could not learn this part" in text and "missing or damaged" in text and "model file missing" in text
    assert "part not learned" in caplog.text
    ui.shot("failed")
    ui.tap(id="teach_more")
    teach = controller.state.teach
    assert teach is not None and teach.phase == "capture" and teach.count == MIN_TEACH_PHOTOS
    assert not (enrolled_root(data) / "part-1" / MANIFEST_NAME).exists()


def test_teaching_needs_the_pin_and_learning_needs_enough_photos(
    controller: KioskController, settings: KioskSettings, photos: dict[str, Path], tmp_path: Path
) -> None:
    controller.recognizer = teaching_recognizer(settings, tmp_path / "data")
    controller.camera = ImageFileSource([photos["good"]])
    technician_opens_camera(controller)
    controller.teach_capture()  # not teaching: nothing happens
    controller.learn_part()
    assert controller.state.screen == "camera" and controller.state.teach is None
    controller.teach_part()
    controller.type_text(WRONG_PIN)
    controller.submit()
    assert controller.state.screen == "admin_pin"
    controller.type_text(RIGHT_PIN)
    controller.submit()
    controller.submit()  # the default title
    for _ in range(MIN_TEACH_PHOTOS - 1):
        controller.teach_capture()
    controller.learn_part()
    teach = controller.state.teach
    assert teach is not None and teach.phase == "capture" and teach.count == MIN_TEACH_PHOTOS - 1
    for _ in range(MAX_TEACH_PHOTOS + 3):
        controller.teach_capture()
    teach = controller.state.teach
    assert teach is not None and teach.count == MAX_TEACH_PHOTOS
    controller.open_parts()  # the staff screen's parts need the staff screen, not just a PIN for teaching
    assert controller.state.screen == "teach"


# --- the threshold on the staff screen ----------------------------------------------------------------------


def test_staff_make_a_taught_part_stricter_or_looser_and_see_its_effect(
    ui: UiDriver, controller: KioskController, settings: KioskSettings, enrolled: Enrolment, tmp_path: Path
) -> None:
    data = kiosk_data(tmp_path, enrolled, {"part-1": TITLE})
    controller.recognizer = teaching_recognizer(settings, data)
    entry = read_entry(enrolled_root(data) / "part-1", "part-1")
    learned = entry["calibration"]["threshold"]
    photos = len(entry["calibration"]["good_scores"])
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    ui.tap(id="admin:parts")
    assert ui.screen == "parts"
    assert ui.find(id="part:part-1:title").text == TITLE
    assert ui.find(id="part:part-1:threshold").text == "Threshold 1× as learned"
    assert ui.find(id="part:part-1:flags").text == f"Flags 0 of {photos} of its own good photos"
    ui.shot("parts")

    def flagged(factor: float) -> int:
        return threshold_effect(entry, learned * factor).flagged

    for factor in (0.85, 0.7, 0.7):  # the last tap is at the strictest already: nothing changes
        ui.tap(id="part:part-1:stricter")
        assert read_entry(enrolled_root(data) / "part-1", "part-1")["thresholds"]["score"] == pytest.approx(
            learned * factor
        )
        shown = " ".join(ui.find(id="part:part-1:flags").text.split())
        assert shown == f"Flags {flagged(factor)} of {photos} of its own good photos"
        assert " ".join(ui.find(id="part:part-1:threshold").text.split()) == f"Threshold {factor:g}× as learned"
    assert flagged(0.7) >= flagged(0.85) >= flagged(1.0) == 0
    ui.shot("parts-stricter")
    controller.set_language("zh")
    text = "".join(words(ui).split())
    assert f"会把{photos}张合格照片中的{flagged(0.7)}张判为缺陷" in text and "阈值为学习值的0.7倍" in text
    ui.shot("parts-stricter-zh")
    for _ in range(5):
        ui.tap(id="part:part-1:looser")
    assert read_entry(enrolled_root(data) / "part-1", "part-1")["thresholds"]["score"] == pytest.approx(
        learned * THRESHOLD_FACTORS[-1]
    )
    ui.tap(id="back")
    assert ui.screen == "admin"
    ui.tap(id="admin:close")
    assert ui.screen == "attract"


def test_a_changed_threshold_is_the_one_the_next_photo_is_judged_by(
    controller: KioskController, settings: KioskSettings, enrolled: Enrolment, tmp_path: Path
) -> None:
    data = kiosk_data(tmp_path, enrolled, {"part-1": TITLE})
    controller.recognizer = teaching_recognizer(settings, data)
    good = flange(702)
    before = controller.recognizer.recognise("part-1", good).inspection
    assert not before.defective
    controller.open_admin()
    controller.type_text(RIGHT_PIN)
    controller.submit()
    controller.open_parts()
    controller.step_threshold("part-1", -1)
    controller.step_threshold("part-1", -1)
    after = controller.recognizer.recognise("part-1", good).inspection
    # The same photo, judged against a threshold 0.7 times as high: its defect score rose (0.5 at the threshold).
    assert after.defect_score > before.defect_score


def test_the_staff_screen_says_when_no_part_was_taught(
    ui: UiDriver, controller: KioskController, settings: KioskSettings, tmp_path: Path
) -> None:
    controller.recognizer = teaching_recognizer(settings, tmp_path / "data")
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    ui.tap(id="admin:parts")
    assert "No parts have been taught on this kiosk yet." in words(ui)
    ui.shot("parts-none")


# --- every state, in every variant and size --------------------------------------------------------------------


@pytest.fixture()
def sized(
    request: pytest.FixtureRequest, controller: KioskController, monkeypatch: pytest.MonkeyPatch, enrolled: Enrolment
) -> Iterator[UiDriver]:
    """A UI of the requested size; enrolment answers at once with the module's real one (what it looks like is
    the point here, not learning it again on every screen size)."""

    answers: list[Enrolment | Exception] = [enrolled, EnrolmentError("only 3 of 30 photos are good enough " * 3)]

    def enrol(*args: Any, **kwargs: Any) -> Enrolment:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(teach_module, "PatchFeatureExtractor", lambda *args, **kwargs: None)
    monkeypatch.setattr(teach_module, "enrol_part", enrol)
    driver = UiDriver(KioskUI(controller, request.param, synchronous=True), Path())
    yield driver
    driver.ui.close()


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize(
    "sized", [(1280, 800), (800, 480), (1080, 1920), (1920, 1080)], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_every_teaching_state_fits_every_screen(
    sized: UiDriver, settings: KioskSettings, photos: dict[str, Path], enrolled: Enrolment, tmp_path: Path, variant: str
) -> None:
    ui = sized
    controller = ui.ui.controller
    titles = {"part-1": TITLE, "part-2": "Bearing housing, left side, long title", "part-3": "法兰盘"}
    controller.recognizer = teaching_recognizer(settings, kiosk_data(tmp_path, enrolled, titles))
    controller.camera = ImageFileSource([photos["good"]])
    found: dict[str, list[str]] = {}

    def check(name: str, pages: bool = False) -> None:
        collect_problems(ui, found, name, pages)

    choose_variant(controller, variant)
    technician_opens_camera(controller)
    check("camera")
    controller.teach_part()
    controller.type_text(RIGHT_PIN)
    controller.submit()
    check("title")
    controller.submit()
    check("teach")
    controller.camera = ImageFileSource([photos["blurred"]])
    controller.teach_capture()
    check("teach-refused")
    controller.camera = ImageFileSource([photos["good"]])
    for _ in range(MIN_TEACH_PHOTOS):
        controller.teach_capture()
    check("teach-enough")
    controller.learn_part(learn=False)
    check("learning")
    controller.finish_learning()
    teach = controller.state.teach
    assert teach is not None and teach.phase == "learned" and teach.result is not None
    assert teach.result.left_out == ((7, "blurred"),)
    check("learned", pages=True)
    controller.back()
    controller.teach_part()
    controller.type_text(RIGHT_PIN)
    controller.submit()
    controller.submit()
    for _ in range(MAX_TEACH_PHOTOS):
        controller.teach_capture()
    check("teach-full")
    controller.learn_part()
    assert controller.state.teach is not None and controller.state.teach.error == "teach_failed_photos"
    check("failed", pages=True)
    controller.close_admin()
    choose_variant(controller, variant)
    controller.open_admin()
    controller.type_text(RIGHT_PIN)
    controller.submit()
    check("admin")
    controller.open_parts()
    assert [part.title for part in (controller.state.admin.parts if controller.state.admin else ())] == list(
        titles.values()
    )
    check("parts", pages=True)
    assert found == {}
    assert "".join(t("parts_title", controller.state.language).split()) in "".join(words(ui).split())
