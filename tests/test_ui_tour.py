"""The tour reaches every screen, and every screen it reaches is drawn with a clean layout and meets the written
accessibility rules (``kiosk_ui.inspect``: contrast, target size, elderly text size, not colour alone) at
800x480, 1280x800 and 1080x1920, in every mode (normal, large text / high contrast, elderly) and both languages."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pygame
import pytest

from firmware_app.config import VisionConfig
from firmware_app.events import Language
from firmware_app.screen import state as screen_state
from firmware_app.screen.actions import RequestStaff
from firmware_app.screen.controller import KioskController
from firmware_app.vision.capture import load_image
from firmware_app.vision.quality import check_quality
from firmware_app.vision.recognition import Recognizer
from kiosk_ui.app import KioskUI
from kiosk_ui.inspect import contrast_ratio, is_large_text, layout_problems
from kiosk_ui.render import RenderReport, TextRun
from kiosk_ui.screens import CUSTOMER_SCREENS, SCREENS
from kiosk_ui.tour import synthetic_part_photo, tour
from kiosk_ui.widgets import Widget, walk_all
from tests.conftest import FIXTURES
from tests.ui_driver import UiDriver

PCB_TEMPLATE = FIXTURES / "pcb" / "00041001_temp.png"
SIZES = [(800, 480), (1280, 800), (1080, 1920)]
# The display modes: "large" is the large-text switch, which is also the high-contrast one (one switch today).
MODES = ["normal", "large", "elderly"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path = tmp_path_factory.mktemp("part") / "part.png"
    cv2.imwrite(str(path), cv2.cvtColor(synthetic_part_photo(), cv2.COLOR_RGB2BGR))
    image = load_image(path)
    assert check_quality(image).ok  # the tour's photo must get past the quality gate to the note form
    return image


def choose_mode(controller: KioskController, language: Language, mode: str) -> None:
    controller.set_language(language)
    if (mode == "large") != controller.state.large_text:
        controller.toggle_large_text()
    if (mode == "elderly") != controller.state.elderly:
        controller.toggle_elderly()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_tour_visits_every_screen_and_each_has_a_clean_layout(
    controller: KioskController,
    screenshot_dir: Path,
    request: pytest.FixtureRequest,
    photo: np.ndarray,
    size: tuple[int, int],
    language: Language,
    mode: str,
) -> None:
    ui = UiDriver(KioskUI(controller, size, synchronous=True), screenshot_dir / request.node.name)
    try:
        controller.camera = None
        # Two products, so that the camera screen shows the choice (the template is any board: the tour's photo
        # is recognised as the first product).
        controller.recognizer = Recognizer(
            VisionConfig(pcb_template=PCB_TEMPLATE), controller.kiosk.settings.models_dir
        )
        choose_mode(controller, language, mode)
        visited: dict[str, list[str]] = {}
        problems: dict[str, list[str]] = {}
        camera_ids: list[str] = []
        for index, name in enumerate(tour(controller, photo)):
            assert controller.state.elderly == (mode == "elderly")
            if size == (1280, 800) or language == "en":
                ui.ui.screenshot(ui.screenshot_dir / f"{index:02d}-{name}.png")  # draws the state
            else:
                ui.ui.rebuild_if_needed()
            visited.setdefault(controller.state.screen, []).append(name)
            if name == "camera":
                camera_ids = ui.ids()
            problems[name] = layout_problems(ui.ui.widgets, ui.ui.report, ui.ui.size)
            # Elderly mode is the customer's: the staff's and technician's screens keep their sizes.
            assert ui.ui.report.elderly == (mode == "elderly" and controller.state.screen in CUSTOMER_SCREENS)
        assert controller.camera is None  # the tour's stand-in camera is gone again
        assert "profile:pcb" in camera_ids  # the product choice was on the camera screen
        assert set(visited) == set(screen_state.SCREENS)  # every screen the kiosk has
        assert set(SCREENS) <= set(visited)  # every screen the UI draws
        assert {name: found for name, found in problems.items() if found} == {}
        assert controller.state.screen == "admin"
        assert controller.state.admin is not None and controller.state.admin.device_id == "kiosk-test-01"
    finally:
        ui.ui.close()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_talk_to_a_person_is_on_every_customer_screen(
    ui: UiDriver, controller: KioskController, photo: np.ndarray, language: Language
) -> None:
    """Every customer-facing state of the tour offers "Talk to a person" (the hand-off screen is where it leads)."""
    controller.set_language(language)
    seen: set[str] = set()
    missing: list[str] = []
    for name in tour(controller, photo):
        screen = controller.state.screen
        if screen not in CUSTOMER_SCREENS or screen == "handoff":
            continue
        seen.add(screen)
        ui.ui.rebuild_if_needed()
        staff = [w for w in walk_all(ui.ui.widgets) if isinstance(w.action, RequestStaff)]
        if not staff:
            missing.append(name)
    assert missing == []
    assert seen == set(CUSTOMER_SCREENS) - {"handoff"}


def test_the_checker_applies_the_written_rules() -> None:
    """WCAG contrast by relative luminance (4.5:1, 3:1 for large text), not colour alone, and elderly sizes."""
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)
    assert is_large_text(24, bold=False) and not is_large_text(23, bold=False)
    assert is_large_text(19, bold=True) and not is_large_text(18, bold=True)
    grey = TextRun("hint", "Tap to start", pygame.Rect(0, 0, 100, 20), 20, False, (119, 119, 119), (255, 255, 255))
    big_grey = TextRun("title", "Welcome", pygame.Rect(0, 30, 100, 30), 24, False, (119, 119, 119), (255, 255, 255))
    tile = Widget("button", pygame.Rect(0, 100, 200, 62), "5", id="rate:5", style="selected", action=RequestStaff())
    plain = RenderReport(runs=[grey, big_grey, TextRun("rate:5", "5", tile.rect, 24, True, (0, 0, 0), (255, 200, 0))])
    problems = layout_problems([tile], plain, (800, 480))
    assert [p.split()[0:3] for p in problems] == [
        ["touch", "target", "'rate:5'"],
        ["contrast", "of", "'Tap"],
        ["selected", "'rate:5'", "is"],
    ]
    elderly = RenderReport(
        runs=[TextRun("x", "small", pygame.Rect(0, 0, 50, 20), 17, False, (0, 0, 0), (255, 255, 255))]
    )
    elderly.elderly, elderly.line_spacing = True, 1.25
    assert [p.split(":")[0] for p in layout_problems([], elderly, (800, 480))] == ["elderly"] * 3


def test_talk_to_a_person_from_the_attract_screen_fetches_a_colleague(ui: UiDriver) -> None:
    ui.tap(id="header:talk_to_person")
    assert ui.screen == "handoff"


def test_elderly_mode_switch_shows_its_state_by_a_check_mark(ui: UiDriver) -> None:
    ui.tap(id="touch_to_start")
    ui.tap(id="header:elderly")
    assert ui.ui.controller.state.elderly and ui.ui.report.elderly
    switch = ui.find(id="header:elderly")
    assert switch.style == "selected" and switch.text.startswith("✓")
    assert "header:large_text" not in ui.ids()  # one bigger size at a time: this one goes back to normal
    ui.shot("home-elderly")  # and passes every rule, elderly sizes included
    ui.tap(id="header:elderly")
    assert not ui.ui.controller.state.elderly and "header:large_text" in ui.ids()
