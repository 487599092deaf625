"""After an update installs, the running kiosk serves it: a real signed release (a model and the pack)
travels through a real Mosquitto to a kiosk in the middle of a visit; the visit keeps what it started with, and
the first quiet moment (the attract screen, no visit) reloads the kiosk onto the new pack and models, with the
link up again and the staff screen saying what was installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_app.app import Kiosk
from firmware_app.config import REPO_ROOT, installed_link
from firmware_app.events import Event, UpdateProgress
from firmware_app.screen.controller import KioskController
from fleet.releases import ReleaseStore
from tests import test_sync_updates as update_tests
from tests.conftest import fixed_today
from tests.fakes import FakeClock
from tests.mosquitto import Mosquitto
from tests.test_sync_broker import wait_until
from tests.test_sync_updates import kiosk_settings, model_dir, offer, release

pytestmark = update_tests.pytestmark
broker, keys, store, start_backend = (
    update_tests.broker,
    update_tests.keys,
    update_tests.store,
    update_tests.start_backend,
)
NEW_VERSION = "1.0.1"


def bank_pack(tmp_path: Path, version: str) -> Path:
    """The shipped bank pack as ``version``."""
    pack = tmp_path / f"bank-{version}"
    shutil.copytree(REPO_ROOT / "packs" / "bank", pack)
    manifest = pack / "pack.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(re.sub(r"(?m)^version: .*$", f"version: {version}", text, count=1), encoding="utf-8")
    return pack


def test_an_installed_pack_is_served_from_the_next_quiet_moment_not_mid_visit(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    start_backend,
) -> None:
    key, public_key = keys
    settings = kiosk_settings(tmp_path, broker, public_key)
    clock = FakeClock()
    controller = KioskController(lambda: Kiosk(settings, today=fixed_today), clock=clock, today=fixed_today)
    reports: list[Event] = []
    try:
        first = controller.kiosk
        first.bus.subscribe(reports.append)
        controller.touch_start()  # a customer is using the kiosk
        published = release(store, key, model_dir(tmp_path, NEW_VERSION), pack=bank_pack(tmp_path, NEW_VERSION))
        start_backend()
        offer(broker, published)  # as the rollout's step would

        def installed() -> bool:
            return any(isinstance(r, UpdateProgress) and r.state == "installed" for r in reports)

        wait_until(installed, "the release to install", timeout=30)
        controller.tick()
        assert controller.kiosk is first and first.pack.manifest.version == "1.0.0"  # not in the middle of a visit

        controller.finish()
        controller.rate_skip()
        clock.now += settings.ui.thanks_s + 1
        controller.tick()  # the thank-you screen times out: attract, no visit -> reload
        kiosk = controller.kiosk
        assert kiosk is not first
        assert kiosk.pack.manifest.version == NEW_VERSION
        assert kiosk.settings.pack_dir == installed_link(settings.data_dir, "packs")
        assert kiosk.settings.models_dir == installed_link(settings.data_dir, "models")
        assert controller.recognizer.models_dir == kiosk.settings.models_dir  # photos use the new models too
        assert kiosk.sync is not None
        wait_until(lambda: kiosk.sync is not None and kiosk.sync.state == "online", "the new link to connect")

        controller.touch_start()
        controller.ask("what are your opening hours")
        assert controller.state.screen == "answer"  # the new pack answers

        controller.open_admin()
        controller.type_text("2468")
        controller.submit()
        admin = controller.state.admin
        assert admin is not None and admin.pack == f"bank {NEW_VERSION}"
        assert f"amelia {NEW_VERSION}" in admin.models
        assert admin.releases == (published.manifest.release_id,)
        assert admin.update is not None and admin.update.state == "installed"
    finally:
        controller.close()
