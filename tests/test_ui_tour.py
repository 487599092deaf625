"""The tour reaches every screen, and every screen it reaches is drawn with a clean layout at 1280x800, in
English, in Chinese and in large-text mode."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from firmware_app.config import VisionConfig
from firmware_app.events import Language
from firmware_app.screen import state as screen_state
from firmware_app.screen.controller import KioskController
from firmware_app.vision.capture import load_image
from firmware_app.vision.quality import check_quality
from firmware_app.vision.recognition import Recognizer
from kiosk_ui.inspect import layout_problems
from kiosk_ui.screens import SCREENS
from kiosk_ui.tour import synthetic_part_photo, tour
from tests.conftest import FIXTURES
from tests.ui_driver import UiDriver

PCB_TEMPLATE = FIXTURES / "pcb" / "00041001_temp.png"


@pytest.mark.parametrize(("language", "large_text"), [("en", False), ("zh", False), ("en", True)])
def test_tour_visits_every_screen_and_each_has_a_clean_layout(
    ui: UiDriver, controller: KioskController, tmp_path: Path, language: Language, large_text: bool
) -> None:
    path = tmp_path / "part.png"
    cv2.imwrite(str(path), cv2.cvtColor(synthetic_part_photo(), cv2.COLOR_RGB2BGR))
    photo = load_image(path)
    assert check_quality(photo).ok  # the tour's photo must get past the quality gate to the note form
    controller.camera = None
    # Two products, so that the camera screen shows the choice (the template is any board: the tour's photo is
    # recognised as the first product).
    controller.recognizer = Recognizer(VisionConfig(pcb_template=PCB_TEMPLATE), controller.kiosk.settings.models_dir)
    controller.set_language(language)
    if large_text:
        controller.toggle_large_text()
    visited: dict[str, list[str]] = {}
    problems: dict[str, list[str]] = {}
    camera_ids: list[str] = []
    for index, name in enumerate(tour(controller, photo)):
        ui.ui.screenshot(ui.screenshot_dir / f"{index:02d}-{name}.png")  # draws the state
        visited.setdefault(controller.state.screen, []).append(name)
        if name == "camera":
            camera_ids = ui.ids()
        problems[name] = layout_problems(ui.ui.widgets, ui.ui.report, ui.ui.size)
    assert controller.camera is None  # the tour's stand-in camera is gone again
    assert "profile:pcb" in camera_ids  # the product choice was on the camera screen
    assert set(visited) == set(screen_state.SCREENS)  # every screen the kiosk has
    assert set(SCREENS) <= set(visited)  # every screen the UI draws
    assert {name: found for name, found in problems.items() if found} == {}
    assert controller.state.screen == "admin"
    assert controller.state.admin is not None and controller.state.admin.device_id == "kiosk-test-01"
