"""The technician's camera (preview, quality gate, note, ticket with the photo) and the staff screens (PIN,
lockout, status, restart), driven by synthetic touches on a real pygame surface."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from firmware_app.app import Kiosk
from firmware_app.config import KioskSettings
from firmware_app.events import Language
from firmware_app.screen.actions import OpenCamera, RequestStaff
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from firmware_app.vision.capture import ImageFileSource, load_image
from kiosk_ui.app import KioskUI
from kiosk_ui.inspect import layout_problems
from kiosk_ui.render import RenderReport
from tests.conftest import FIXTURES, fixed_today
from tests.fakes import FakeClock
from tests.ui_driver import UiDriver

PHOTO = FIXTURES / "photos" / "magnetic_tile_crack_exp4_num_3234.jpg"
RIGHT_PIN = "2468"
WRONG_PIN = "1111"


# Language and display mode: "large" is the large-text switch (also the high-contrast one); "elderly" is elderly
# mode, which the staff's and the technician's screens do not take (they keep their sizes: the mode is the
# customer's, see kiosk_ui.app), so these screens must look the same and pass the same checks in it.
VARIANTS: dict[str, tuple[Language, str]] = {
    "en": ("en", "normal"),
    "zh": ("zh", "normal"),
    "large": ("en", "large"),
    "zh-large": ("zh", "large"),
    "elderly": ("en", "elderly"),
}


@pytest.fixture()
def make_ui(screenshot_dir: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., UiDriver]]:
    """UIs on controllers a test builds itself (a fake clock, a pipeline that can restart), one at a time;
    each controller is closed with its UI (its log handler removed, its own kiosk closed if it has one)."""
    opened: list[tuple[UiDriver, KioskController, bool]] = []

    def make(controller: KioskController, size: tuple[int, int] = (1280, 800), owns_kiosk: bool = False) -> UiDriver:
        for driver, _, _ in opened:
            driver.ui.close()  # pygame has one display: the previous UI goes first
        folder = screenshot_dir / request.node.name / f"{size[0]}x{size[1]}"
        driver = UiDriver(KioskUI(controller, size, synchronous=True), folder)
        opened.append((driver, controller, owns_kiosk))
        return driver

    yield make
    for driver, controller, owns_kiosk in opened:
        driver.ui.close()
        controller.detach()
        if owns_kiosk:
            controller.kiosk.close()


def screen_problems(ui: UiDriver) -> list[str]:
    """Layout problems of the screen's own widgets, without the shared header (which has its own checks)."""
    ui.ui.rebuild_if_needed()
    widgets = [w for w in ui.ui.widgets if not w.id.startswith("header")]
    report = RenderReport(
        runs=[run for run in ui.ui.report.runs if not run.widget_id.startswith("header")],
        overflowing=[name for name in ui.ui.report.overflowing if not name.startswith("header")],
        elderly=ui.ui.report.elderly,
        line_spacing=ui.ui.report.line_spacing,
    )
    return layout_problems(widgets, report, ui.ui.size)


def collect_problems(ui: UiDriver, found: dict[str, list[str]], name: str, pages: bool = False) -> None:
    """Add the screen's layout problems to ``found`` under ``name:page``, paging through it when ``pages``."""
    page = 0
    while True:
        problems = screen_problems(ui)
        if problems:
            found[f"{name}:{page}"] = problems
        if not pages or "page:next" not in ui.ids():
            return
        ui.tap(id="page:next")
        page += 1


def words(ui: UiDriver) -> str:
    """The text on screen with its line breaks undone (English wraps at spaces)."""
    return " ".join(ui.text().split())


def shown_image(ui: UiDriver, id: str) -> np.ndarray:
    """The picture an image widget shows."""
    widget = ui.find(id=id)
    assert widget.kind == "image" and widget.image is not None
    return widget.image


def dark(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) * 0.15).astype(np.uint8)


def enter_pin(ui: UiDriver, pin: str) -> None:
    for digit in pin:
        ui.tap(id=f"key:{digit}")
    ui.tap(id="key:submit")


def open_camera_from_staff(ui: UiDriver) -> None:
    """The technician's way to the camera (it is not on the customer's home screen): the staff corner on the
    attract screen, the staff PIN, then "Technician: photo of a part" on the staff screen."""
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin"
    ui.tap(id="admin:camera")
    assert ui.screen == "camera"


def technician_opens_camera(controller: KioskController) -> None:
    """``open_camera_from_staff`` without a UI: the staff PIN, then the camera from the staff screen."""
    controller.open_admin()
    controller.type_text(RIGHT_PIN)
    controller.submit()
    assert controller.state.screen == "admin"
    controller.open_camera()
    assert controller.state.screen == "camera"


# --- the technician's camera ---------------------------------------------------------------------------------


def no_technician_entry(ui: UiDriver, language: Language) -> None:
    """Nothing on the screen opens the camera or offers it, in either language."""
    assert "home:camera" not in ui.ids()
    assert not any(isinstance(widget.action, OpenCamera) for widget in ui.ui.widgets)
    shown = "".join(ui.text().split())
    for words_ in (t("camera", language), "Technician", "技术"):
        assert "".join(words_.split()) not in shown


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_customers_home_screen_has_no_technician_entry(
    ui: UiDriver, controller: KioskController, language: Language
) -> None:
    controller.camera = ImageFileSource([PHOTO])
    controller.set_language(language)
    ui.tap(id="touch_to_start")
    assert ui.screen == "home" and controller.state.language == language
    no_technician_entry(ui, language)
    ui.shot(f"home-{language}")
    controller.dispatch(OpenCamera())  # nor does the action work in a customer's visit
    assert ui.screen == "home"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_staff_corner_opens_the_camera_and_back_ends_on_home(
    ui: UiDriver, controller: KioskController, language: Language
) -> None:
    controller.camera = ImageFileSource([PHOTO])
    controller.set_language(language)
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin"
    entry = ui.find(id="admin:camera")
    assert entry.action == OpenCamera() and entry.text == t("camera", language)
    assert entry.text == {"en": "Technician: photo of a part", "zh": "技术人员：拍摄部件"}[language]
    ui.shot(f"admin-{language}")
    ui.tap(id="admin:camera")
    assert ui.screen == "camera" and controller.state.admin is None
    assert "teach_part" in ui.ids()  # Teach a new part stays on the camera screen (it asks for the PIN again)
    ui.tap(id="back")  # the technician's visit goes on at home, and ends like any visit
    assert ui.screen == "home"
    no_technician_entry(ui, language)
    controller.finish()
    assert ui.screen == "rating"


def test_technician_photographs_a_part_and_files_it_with_a_note(
    ui: UiDriver, controller: KioskController, settings: KioskSettings
) -> None:
    controller.camera = ImageFileSource([PHOTO])
    open_camera_from_staff(ui)
    text = words(ui)
    assert "Hold the part in the frame" in text and "Fill the frame" in text
    assert shown_image(ui, "camera:image").shape == load_image(PHOTO).shape  # the camera's frame, shown live
    assert "camera:guide" in ui.ids()
    ui.shot("camera")

    ui.tap(id="take_photo")
    assert ui.screen == "inspection"  # the verdict and its guidance: tests/test_ui_inspection.py
    assert controller.state.photo is not None and controller.state.photo.verdict not in (None, "analysing")
    ui.tap(id="file_photo")
    assert ui.screen == "photo_result"
    assert "Photo is clear" in words(ui)
    assert "Please take the photo again" not in words(ui)
    shown_image(ui, "photo:image")
    assert ui.find(id="form:draft").kind == "field"
    ui.shot("photo-ok")

    ui.type("crack by hole ")
    ui.tap(id="key:mode")  # 1280x800 has the four-row keyboard: digits are behind 123
    ui.type("3")
    assert controller.state.form is not None and controller.state.form.draft == "crack by hole 3"
    assert "crack by hole 3" in words(ui)
    ui.shot("photo-note")

    ui.tap(id="key:submit")
    assert ui.screen == "ticket"
    reference = controller.state.reference
    assert reference and reference in words(ui)
    ticket = controller.kiosk.tickets.get(reference)
    assert ticket is not None
    assert ticket.type == "technician_photo"
    assert "crack by hole 3" in ticket.summary
    assert ticket.attachments == [f"photos/{ticket.id}.jpg", f"photos/{ticket.id}-annotated.jpg"]
    saved = settings.data_dir / ticket.attachments[0]
    assert saved.is_file()
    photo = load_image(saved)
    assert photo.shape == load_image(PHOTO).shape  # small enough not to be downscaled
    assert np.abs(photo.astype(int) - load_image(PHOTO).astype(int)).mean() < 6
    ui.shot("ticket")


def test_a_dark_photo_is_refused_with_the_reason_and_retake_opens_the_camera(
    ui: UiDriver, controller: KioskController
) -> None:
    controller.camera = ImageFileSource([PHOTO])
    open_camera_from_staff(ui)
    controller.capture(image=dark(load_image(PHOTO)))
    assert ui.screen == "photo_result"
    text = words(ui)
    assert "Please take the photo again" in text
    assert "It is too dark: move to better light." in text
    assert "Photo is clear" not in text and "form:draft" not in ui.ids()
    assert ui.find(id="talk_to_person").action == RequestStaff()
    ui.shot("photo-dark")

    ui.tap(id="retake")
    assert ui.screen == "camera"
    assert controller.state.photo is not None and controller.state.photo.quality is None
    shown_image(ui, "camera:image")


def test_a_blurred_photo_from_the_camera_is_refused_as_blurred(
    ui: UiDriver, controller: KioskController, tmp_path: Path
) -> None:
    blurred = cv2.GaussianBlur(load_image(PHOTO), (0, 0), 6)
    path = tmp_path / "blurred.png"
    cv2.imwrite(str(path), cv2.cvtColor(blurred, cv2.COLOR_RGB2BGR))
    controller.camera = ImageFileSource([path])
    open_camera_from_staff(ui)
    ui.tap(id="take_photo")
    assert ui.screen == "photo_result"
    assert "It is blurred: hold the part still." in words(ui)
    ui.shot("photo-blurred")
    controller.camera = ImageFileSource([PHOTO])
    ui.tap(id="retake")
    ui.tap(id="take_photo")
    assert ui.screen == "inspection"


def test_a_talk_to_a_person_from_a_refused_photo_fetches_a_colleague(ui: UiDriver, controller: KioskController) -> None:
    ui.tap(id="touch_to_start")
    controller.capture(image=dark(load_image(PHOTO)))
    ui.tap(id="talk_to_person")
    assert ui.screen == "handoff"


def test_without_a_camera_the_screen_says_so(ui: UiDriver, controller: KioskController) -> None:
    controller.camera = None
    open_camera_from_staff(ui)
    assert ui.screen == "camera"
    assert "camera:image" not in ui.ids()
    assert "No camera picture. Check the camera, or ask a colleague." in words(ui)
    ui.shot("camera-none")
    ui.tap(id="take_photo")
    assert ui.screen == "camera"
    assert controller.state.notice == "no_camera"
    assert "No camera picture. Check the camera, or ask a colleague." in words(ui)
    ui.shot("camera-none-notice")
    ui.tap(id="back")
    assert ui.screen == "home"


# --- staff -----------------------------------------------------------------------------------------------


def test_staff_corner_asks_for_the_pin_and_shows_only_dots(ui: UiDriver, controller: KioskController) -> None:
    ui.tap(id="staff")
    assert ui.screen == "admin_pin"
    assert "Staff only" in words(ui) and "Enter the staff PIN" in words(ui)
    ui.shot("pin")
    for digit in "24":
        ui.tap(id=f"key:{digit}")
    assert ui.find(id="form:draft").text == "••"
    assert "24" not in words(ui)
    ui.shot("pin-typed")
    ui.tap(id="close")
    assert ui.screen == "attract"


def test_wrong_pins_warn_then_lock_out_even_the_right_pin(kiosk: Kiosk, make_ui: Callable[..., UiDriver]) -> None:
    clock = FakeClock()
    controller = KioskController(lambda: kiosk, clock=clock, today=fixed_today)
    ui = make_ui(controller)
    ui.tap(id="staff")
    enter_pin(ui, WRONG_PIN)
    assert ui.screen == "admin_pin"
    assert "Wrong PIN. Try again." in words(ui)
    assert ui.find(id="form:draft").text == ""  # the wrong PIN is cleared
    ui.shot("pin-wrong")
    enter_pin(ui, WRONG_PIN)
    enter_pin(ui, WRONG_PIN)
    assert "Too many wrong PINs: the staff screen is locked for a while. Try again later." in words(ui)
    ui.shot("pin-locked")
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin_pin"  # locked: even the right PIN is refused
    assert "Too many wrong PINs" in words(ui)
    clock.now += kiosk.settings.ui.admin_lockout_s + 1
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin"
    # the failures are among the recent problems (the newest on the screen, as many as fit)
    assert "staff PIN refused: locked after wrong tries" in words(ui)
    assert controller.state.admin is not None
    assert any("wrong staff PIN" in line for line in controller.state.admin.recent_errors)


def test_right_pin_shows_the_kiosk_status(ui: UiDriver, controller: KioskController, kiosk: Kiosk) -> None:
    ui.tap(id="staff")
    enter_pin(ui, WRONG_PIN)
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin"
    text = words(ui)
    assert "Kiosk status" in text
    assert ui.find(id="admin:device_id").text == "kiosk-test-01"
    assert ui.find(id="admin:pack").text == "bank 1.0.0"
    models = " ".join(ui.find(id="admin:models").text.split())
    assert "intent-minilm-bank 1.0.0," in models and "intent-e5-multilingual 1.0.0" in models
    assert ui.find(id="admin:queue_depth").text == str(kiosk.tickets.outbox_depth())
    assert ui.find(id="admin:tickets_today").text.isdigit()
    assert ui.find(id="admin:sync").text == "not configured"
    assert "wrong staff PIN" in ui.find(id="admin:error:0").text
    assert "WARNING" not in text and "firmware_app." not in text  # readable, not raw log lines
    ui.shot("admin")
    ui.tap(id="admin:close")
    assert ui.screen == "attract"
    assert controller.state.admin is None


def test_restart_reloads_the_pipeline(settings: KioskSettings, make_ui: Callable[..., UiDriver]) -> None:
    built: list[Kiosk] = []

    def factory() -> Kiosk:
        built.append(Kiosk(settings, today=fixed_today))
        return built[-1]

    controller = KioskController(factory, today=fixed_today)
    ui = make_ui(controller, owns_kiosk=True)
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.screen == "admin"
    ui.tap(id="admin:restart")
    assert len(built) == 2 and controller.kiosk is built[1]
    assert ui.screen == "admin"
    assert "Pipeline restarted." in words(ui)
    assert ui.find(id="admin:device_id").text == "kiosk-test-01"
    ui.shot("admin-restarted")
    ui.tap(id="admin:close")
    assert ui.screen == "attract"


def test_admin_says_none_when_nothing_went_wrong(kiosk: Kiosk, make_ui: Callable[..., UiDriver]) -> None:
    controller = KioskController(lambda: kiosk, today=fixed_today)
    ui = make_ui(controller)
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.find(id="admin:errors:none").text == "None"
    assert not any(id.startswith("admin:error:") for id in ui.ids())


@pytest.mark.parametrize(
    ("state", "variant", "shown"),
    [
        ("connecting", "en", "connecting…"),
        ("online", "zh", "在线"),
        ("offline", "en", "offline"),
        ("offline", "zh-large", "离线"),
    ],
    ids=["connecting-en", "online-zh", "offline-en", "offline-zh-large"],
)
def test_admin_shows_the_fleet_links_state(
    kiosk: Kiosk,
    make_ui: Callable[..., UiDriver],
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    variant: str,
    shown: str,
) -> None:
    """The link's own state (``KioskSync.state``; test_sync_health drives a real one) in both languages."""
    monkeypatch.setattr(kiosk, "sync", SimpleNamespace(state=state))
    controller = KioskController(lambda: kiosk, today=fixed_today)
    ui = make_ui(controller)
    choose_variant(controller, variant)
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.find(id="admin:sync").text == shown
    assert ui.find(id="admin:queue_depth").text == str(kiosk.tickets.outbox_depth())
    assert screen_problems(ui) == []
    ui.shot(f"admin-sync-{state}-{variant}")


# --- every screen, in every variant and size -----------------------------------------------------------------


def choose_variant(controller: KioskController, variant: str) -> None:
    language, mode = VARIANTS[variant]
    if controller.state.language != language:
        controller.set_language(language)
    if controller.state.large_text != (mode == "large"):
        controller.toggle_large_text()
    if controller.state.elderly != (mode == "elderly"):
        controller.toggle_elderly()


def visit_every_screen(controller: KioskController, variant: str, check: Callable[[str], None]) -> None:
    """Camera (live and without a camera), the inspection, both photo results, the PIN pad (with a warning) and
    the status."""
    controller.camera = ImageFileSource([PHOTO])
    choose_variant(controller, variant)
    technician_opens_camera(controller)
    check("camera")
    controller.camera = None
    controller.open_camera()
    controller.capture()
    check("camera-none")
    controller.capture(image=load_image(PHOTO))
    check("inspection")
    controller.file_photo()
    check("photo-ok")
    controller.type_text("crack by hole 3 near the edge of the tile")
    check("photo-note")
    controller.capture(image=dark(load_image(PHOTO)))
    check("photo-dark")
    controller.close_admin()  # back to attract, which forgets the visit's language and type size
    choose_variant(controller, variant)
    controller.open_admin()
    controller.type_text("12")
    check("pin")
    controller.type_text("34")
    controller.submit()
    check("pin-wrong")
    controller.type_text(RIGHT_PIN)
    controller.submit()
    check("admin")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_screen_looks_finished_at_1280x800(kiosk: Kiosk, make_ui: Callable[..., UiDriver], variant: str) -> None:
    language, mode = VARIANTS[variant]
    controller = KioskController(lambda: kiosk, today=fixed_today)
    ui = make_ui(controller)

    def check(name: str) -> None:
        assert controller.state.language == language and controller.state.large_text == (mode == "large")
        assert controller.state.elderly == (mode == "elderly") and not ui.ui.report.elderly
        ui.shot(f"{name}-{variant}")  # saves the picture and fails on any layout problem

    visit_every_screen(controller, variant, check)
    if language == "zh":
        assert "设备状态" in words(ui) and "Kiosk status" not in words(ui)
    assert len(ui.shots) == 9


@pytest.mark.parametrize("size", [(800, 480), (1080, 1920), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_screen_fits_other_screen_sizes(
    kiosk: Kiosk, make_ui: Callable[..., UiDriver], size: tuple[int, int], variant: str
) -> None:
    controller = KioskController(lambda: kiosk, today=fixed_today)
    ui = make_ui(controller, size)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        problems = screen_problems(ui)
        if problems:
            found[name] = problems
        if size == (800, 480) and name.startswith("photo-note"):
            keys = [w for w in ui.ui.widgets if w.id.startswith("key:")]
            assert len(keys) >= 30 and ui.find(id="key:submit").rect.bottom <= size[1]

    visit_every_screen(controller, variant, check)
    assert found == {}
    if variant == "en":  # one picture per size, for review (the header's own problems are not this test's)
        ui.ui.screenshot(ui.screenshot_dir / "admin.png")
