"""The technician's photo recognised on the kiosk: the product choice, "analysing", the verdict with the
annotated photo and the pack's guidance, a photo of something else, a model that cannot be loaded, a board
compared with its template, and the ticket with the verdict and both photos; in English and Chinese, at every
screen size. Real models, a real pygame window (SDL's dummy driver), real SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from firmware_app.config import REPO_ROOT, KioskSettings, VisionConfig
from firmware_app.events import Language
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from firmware_app.vision.capture import ImageFileSource, load_image
from firmware_app.vision.recognition import Recognizer
from kiosk_ui.app import KioskUI
from tests.conftest import FIXTURES
from tests.test_recognition import board_photo, corrupted_models, noise_photo
from tests.test_ui_camera_admin import (
    VARIANTS,
    choose_variant,
    collect_problems,
    open_camera_from_staff,
    shown_image,
    technician_opens_camera,
    words,
)
from tests.ui_driver import UiDriver

MODELS = REPO_ROOT / "models" / "int8"
SCRATCHES = FIXTURES / "defects" / "neu_scratches_163.jpg"
PCB = FIXTURES / "pcb"
LANGUAGES: list[Language] = ["en", "zh"]


def two_products(models_dir: Path = MODELS) -> Recognizer:
    """Steel surfaces and, with the golden board configured, bare circuit boards."""
    return Recognizer(VisionConfig(pcb_template=PCB / "00041001_temp.png"), models_dir)


@pytest.fixture(scope="module")
def products() -> Recognizer:
    return two_products()  # loaded once for the module: each model loads on its first photo


@pytest.fixture()
def technician(ui: UiDriver, controller: KioskController, products: Recognizer) -> UiDriver:
    """A visit with a camera that sees a scratched steel strip, on a kiosk that knows two products."""
    controller.recognizer = products
    controller.camera = ImageFileSource([SCRATCHES])
    return ui


def start(ui: UiDriver, language: Language) -> KioskController:
    controller = ui.ui.controller
    controller.set_language(language)
    open_camera_from_staff(ui)
    return controller


def flat(text: str) -> str:
    """Text without any whitespace: Chinese wraps anywhere, so line breaks fall between any two characters."""
    return "".join(text.split())


def every_page(ui: UiDriver) -> str:
    """The text of every page of the screen's paged document, turning the pages as a person would."""
    seen = [words(ui)]
    while "page:next" in ui.ids():
        ui.tap(id="page:next")
        seen.append(words(ui))
    return " ".join(seen)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_technician_chooses_the_product_and_sees_the_defect_with_guidance(
    technician: UiDriver, language: Language
) -> None:
    ui = technician
    controller = start(ui, language)
    assert ui.find(id="profile:steel_surface").style == "selected"
    assert ui.find(id="profile:pcb").style == "secondary"
    assert t("product", language) in words(ui)
    ui.shot(f"camera-profiles-{language}")
    ui.tap(id="profile:pcb")
    assert ui.find(id="profile:pcb").style == "selected" and controller.state.photo is not None
    assert controller.state.photo.profile == "pcb"
    ui.tap(id="profile:steel_surface")

    controller.capture(analyse=False)  # the state the screen shows while the model runs
    assert ui.screen == "inspection"
    assert t("analysing", language) in words(ui)
    assert "inspection:spinner" in ui.ids() and "file_photo" not in ui.ids()
    ui.shot(f"analysing-{language}")

    controller.analyse()
    photo = controller.state.photo
    assert photo is not None and photo.recognition is not None and photo.verdict == "defect"
    assert np.array_equal(shown_image(ui, "photo:image"), photo.recognition.annotated)
    text = words(ui)
    assert t("verdict_defect", language) in text
    name = {"en": "Scratches", "zh": "划痕"}[language]
    percent = f"{round(photo.recognition.inspection.confidence * 100)}%"
    assert flat(t("finding", language, name=name, percent=percent)) in flat(text)
    assert ui.find(id="file_photo").style == "primary"
    ui.shot(f"defect-{language}")
    entry = controller.kiosk.pack.guidance.entries_for("steel_surface", "scratches")[0]
    guidance = flat(every_page(ui))
    assert flat(entry.meaning.get(language)) in guidance
    assert all(flat(step) in guidance for step in entry.steps.get(language))
    ui.shot(f"defect-guidance-{language}")

    ui.tap(id="back")
    assert ui.screen == "home"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_photo_of_something_else_is_not_recognised(technician: UiDriver, language: Language) -> None:
    ui = technician
    controller = start(ui, language)
    controller.capture(image=noise_photo())
    assert controller.state.photo is not None and controller.state.photo.verdict == "not_recognised"
    text = flat(words(ui))
    assert flat(t("verdict_not_recognised", language)) in text
    assert flat(t("other_profile_hint", language)) in text  # two products: the other may be the right one
    assert ui.find(id="retake").style == "primary" and ui.find(id="file_photo").style == "secondary"
    assert not any(id.startswith("guidance:") for id in ui.ids())
    ui.shot(f"not_recognised-{language}")
    ui.tap(id="retake")
    assert ui.screen == "camera"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_board_is_compared_with_the_golden_template_and_the_choice_is_kept(
    technician: UiDriver, language: Language
) -> None:
    ui = technician
    controller = start(ui, language)
    ui.tap(id="profile:pcb")
    controller.capture(image=board_photo(PCB / "00041001_test.png"))
    photo = controller.state.photo
    assert photo is not None and photo.recognition is not None and photo.verdict == "defect"
    assert len(photo.recognition.inspection.boxes) >= 4
    names = {finding.name.get(language) for finding in photo.findings}
    assert {"en": "Open circuit", "zh": "断路"}[language] in names
    assert t("checked_as", language, profile={"en": "Bare circuit board", "zh": "裸电路板"}[language]) in words(ui)
    ui.shot(f"pcb-{language}")
    ui.tap(id="retake")
    assert ui.find(id="profile:pcb").style == "selected"  # chosen once for the visit
    controller.finish()
    technician_opens_camera(controller)
    assert controller.state.photo is not None and controller.state.photo.profile == "steel_surface"


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_its_model_the_photo_can_still_be_filed(
    ui: UiDriver,
    controller: KioskController,
    settings: KioskSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    language: Language,
) -> None:
    controller.recognizer = two_products(corrupted_models(tmp_path, "steel_surface.int8.onnx"))
    controller.camera = ImageFileSource([SCRATCHES])
    start(ui, language)
    ui.tap(id="take_photo")
    assert controller.state.photo is not None and controller.state.photo.verdict == "unavailable"
    assert flat(t("verdict_unavailable", language)) in flat(words(ui))
    assert flat(t("unavailable_hint", language)) in flat(words(ui))
    assert "recognition unavailable for profile steel_surface" in caplog.text
    ui.shot(f"unavailable-{language}")

    ui.tap(id="file_photo")
    assert ui.screen == "photo_result" and ui.find(id="form:draft").kind == "field"
    controller.type_text("strip 12, model down")
    ui.tap(id="key:submit")
    ticket = controller.kiosk.tickets.get(controller.state.reference or "")
    assert ticket is not None and ticket.inspection is None
    assert ticket.attachments == [f"photos/{ticket.id}.jpg"]  # nothing annotated
    assert "steel_surface: recognition unavailable" in ticket.summary and "strip 12, model down" in ticket.summary


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_ticket_keeps_the_verdict_the_photo_and_the_annotated_photo(
    technician: UiDriver, settings: KioskSettings, language: Language
) -> None:
    ui = technician
    controller = start(ui, language)
    ui.tap(id="take_photo")
    photo = controller.state.photo
    assert photo is not None and photo.recognition is not None
    inspection = photo.recognition.inspection
    ui.tap(id="file_photo")
    assert ui.screen == "photo_result"
    assert np.array_equal(shown_image(ui, "photo:image"), photo.recognition.annotated)
    note = {"en": "scratch along the edge, coil 7", "zh": "边缘有划痕，7号卷"}[language]
    controller.type_text(note)
    ui.shot(f"note-{language}")
    ui.tap(id="key:submit")
    assert ui.screen == "ticket"
    ui.shot(f"ticket-{language}")

    ticket = controller.kiosk.tickets.get(controller.state.reference or "")
    assert ticket is not None and ticket.type == "technician_photo"
    assert ticket.inspection == json.loads(json.dumps(asdict(inspection)))
    assert ticket.inspection["label"] == "scratches" and ticket.inspection["model_version"] == "1.0.0"
    assert f"steel_surface: scratches ({inspection.confidence:.0%})" in ticket.summary and note in ticket.summary
    assert ticket.model_dump(mode="json")["inspection"] == ticket.inspection
    original, annotated = (load_image(settings.data_dir / path) for path in ticket.attachments)
    assert ticket.attachments == [f"photos/{ticket.id}.jpg", f"photos/{ticket.id}-annotated.jpg"]
    assert original.shape == annotated.shape == load_image(SCRATCHES).shape
    assert np.abs(original.astype(int) - annotated.astype(int)).mean() > 10  # the heat map is on one only
    (box,) = ticket.inspection["boxes"]
    x1, y1, x2, y2 = box["box"]
    assert 0 <= x1 < x2 <= original.shape[1] and 0 <= y1 < y2 <= original.shape[0]


# --- every new state, in every variant and size --------------------------------------------------------------


@pytest.fixture()
def sized_ui(controller: KioskController, products: Recognizer, request: pytest.FixtureRequest) -> Iterator[UiDriver]:
    size: tuple[int, int] = request.param
    controller.recognizer = products
    controller.camera = ImageFileSource([SCRATCHES])
    driver = UiDriver(KioskUI(controller, size, synchronous=True), Path())
    yield driver
    driver.ui.close()


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize(
    "sized_ui", [(800, 480), (1080, 1920), (1920, 1080)], indirect=True, ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_every_inspection_state_fits_every_screen(sized_ui: UiDriver, tmp_path: Path, variant: str) -> None:
    ui = sized_ui
    controller = ui.ui.controller
    found: dict[str, list[str]] = {}

    def check(name: str, pages: bool = False) -> None:
        collect_problems(ui, found, name, pages)

    choose_variant(controller, variant)
    technician_opens_camera(controller)
    check("camera-profiles")
    controller.capture(analyse=False)
    check("analysing")
    controller.analyse()
    check("defect", pages=True)
    controller.capture(image=noise_photo())
    check("not_recognised")
    controller.choose_profile("pcb")
    controller.capture(image=board_photo(PCB / "00041001_test.png"))
    check("pcb", pages=True)
    controller.file_photo()
    check("note")
    controller.recognizer = two_products(corrupted_models(tmp_path, "pcb.trees.npz"))
    controller.capture(image=board_photo(PCB / "00041001_test.png"))
    assert controller.state.photo is not None and controller.state.photo.verdict == "unavailable"
    check("unavailable")
    assert found == {}
