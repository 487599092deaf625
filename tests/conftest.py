"""Shared fixtures: one real kiosk (real int8 model, real SQLite file, the bank pack) per test session.

The clock is fixed at Saturday 21 November 2026 so date handling ("next Tuesday") is reproducible.
"""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from firmware_app.app import Kiosk, build_nlu
from firmware_app.config import KioskSettings, load_settings
from firmware_app.events import Event
from firmware_app.health import CAPABILITIES
from firmware_app.nlu.engine import NluEngine
from firmware_app.packs import Pack, load_pack
from firmware_app.screen.controller import KioskController

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
# Every kiosk the tests start, in this process or a child, compiles each intent model once per session, not once
# per kiosk: about 0.9 s of CPU saved per kiosk (the suite starts dozens).
if "KIOSK_MODEL_CACHE_DIR" not in os.environ:
    os.environ["KIOSK_MODEL_CACHE_DIR"] = tempfile.mkdtemp(prefix="kiosk-test-model-cache-")
    atexit.register(shutil.rmtree, os.environ["KIOSK_MODEL_CACHE_DIR"], True)

from kiosk_ui.app import KioskUI
from tests.ui_driver import UiDriver

# Property tests draw the same examples on every run (the suite must never pass or fail by luck); set
# HYPOTHESIS_PROFILE=explore to draw new ones while hunting, as the redaction and wire generators were hunted.
settings.register_profile("suite", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

TODAY = datetime.date(2026, 11, 21)
FIXTURES = Path(__file__).parent / "fixtures"


def fixed_today() -> datetime.date:
    return TODAY


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> KioskSettings:
    return load_settings(data_dir=tmp_path_factory.mktemp("kiosk-data"), device_id="kiosk-test-01", log_format="text")


@pytest.fixture(scope="session")
def pack(settings: KioskSettings) -> Pack:
    return load_pack(settings.pack_dir)


@pytest.fixture(scope="session")
def nlu(settings: KioskSettings, pack: Pack) -> NluEngine:
    return build_nlu(settings, pack, today=fixed_today)


@pytest.fixture(scope="session")
def kiosk(settings: KioskSettings) -> Iterator[Kiosk]:
    kiosk = Kiosk(settings, today=fixed_today)
    yield kiosk
    kiosk.close()


@pytest.fixture()
def events(kiosk: Kiosk) -> Iterator[list[Event]]:
    """Every event the kiosk publishes during one test."""
    seen: list[Event] = []
    kiosk.bus.subscribe(seen.append)
    yield seen
    kiosk.bus.unsubscribe(seen.append)


@pytest.fixture()
def controller(kiosk: Kiosk) -> Iterator[KioskController]:
    """The screen's controller on the shared kiosk, starting on the attract screen."""
    controller = KioskController(lambda: kiosk, today=fixed_today)
    yield controller
    controller.detach()
    # The tour and the voice tests publish the pipeline's failures on the shared kiosk's bus ("speech recognition
    # unavailable"): the next test starts at full service, whatever order the tests run in.
    for capability in CAPABILITIES:
        kiosk.capabilities.ok(capability)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where UI tests save a picture of every screen they visit (KIOSK_SCREENSHOT_DIR keeps them)."""
    kept = os.environ.get("KIOSK_SCREENSHOT_DIR")
    return Path(kept) if kept else tmp_path_factory.mktemp("screenshots")


@pytest.fixture()
def ui(controller: KioskController, screenshot_dir: Path, request: pytest.FixtureRequest) -> Iterator[UiDriver]:
    """A real pygame window (SDL's dummy video driver) at 1280x800, driven by synthetic touches."""
    driver = UiDriver(KioskUI(controller, (1280, 800), synchronous=True), screenshot_dir / request.node.name)
    yield driver
    driver.ui.close()
