"""Signed updates on the staff screen: the release serving now and the updater's latest report (a download with
its percentage, checking, installing, installed, rolled back, failed or refused, each with its reason), in both
languages and at the kiosk's screen sizes, each screenshotted and layout-checked. The reports arrive as the
updater makes them (``UpdateProgress`` on the kiosk's bus, from the sync's thread) and show without a reopen;
a rollback done at start (the kiosk died during a self-test) is shown too.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_app.app import Kiosk
from firmware_app.config import installed_link, load_settings
from firmware_app.events import UpdateProgress
from firmware_app.screen import staff as staff_screens
from firmware_app.screen.controller import KioskController
from firmware_app.sync.install import PENDING, installed_releases
from tests import test_ui_camera_admin as admin_tests
from tests.conftest import fixed_today
from tests.test_ui_camera_admin import RIGHT_PIN, choose_variant, enter_pin, screen_problems
from tests.ui_driver import UiDriver

make_ui = admin_tests.make_ui

REPORTS: dict[str, tuple[UpdateProgress, dict[str, str]]] = {
    "downloading": (
        UpdateProgress(release_id="r-2026-11-21", state="downloading", done=9, total=20),
        {"en": "downloading r-2026-11-21: 45%", "zh": "正在下载 r-2026-11-21：45%"},
    ),
    "verifying": (
        UpdateProgress(release_id="r-2026-11-21", state="verifying", done=20, total=20),
        {"en": "checking r-2026-11-21…", "zh": "正在校验 r-2026-11-21…"},
    ),
    "installing": (
        UpdateProgress(release_id="r-2026-11-21", state="installing", done=20, total=20),
        {"en": "installing r-2026-11-21…", "zh": "正在安装 r-2026-11-21…"},
    ),
    "installed": (
        UpdateProgress(release_id="r-2026-11-21", state="installed"),
        {"en": "r-2026-11-21 installed", "zh": "r-2026-11-21 已安装"},
    ),
    "rolled_back": (
        UpdateProgress(release_id="r-2026-11-21", state="rolled_back", reason="self_test_failed"),
        {"en": "r-2026-11-21 rolled back: self-test failed", "zh": "r-2026-11-21 已回滚：自检失败"},
    ),
    "failed": (
        UpdateProgress(release_id="r-2026-11-21", state="failed", reason="hash_mismatch"),
        {"en": "r-2026-11-21 failed: download corrupted", "zh": "r-2026-11-21 失败：下载内容损坏"},
    ),
    "refused": (
        UpdateProgress(release_id=None, state="refused", reason="bad_signature"),
        {"en": "refused a release: bad signature", "zh": "已拒绝 一个版本：签名无效"},
    ),
}


def test_the_installed_releases_are_read_from_the_update_links(tmp_path: Path) -> None:
    assert installed_releases(tmp_path) == ()  # as shipped
    for kind, release_id in (("models", "r-7"), ("packs", "r-9")):
        folder = tmp_path / "updates" / kind
        (folder / "versions" / release_id).mkdir(parents=True)
        os.symlink(f"versions/{release_id}", folder / "current")  # as the installer leaves it
    assert installed_releases(tmp_path) == ("r-7", "r-9")
    os.replace(tmp_path / "updates" / "models" / "current", tmp_path / "current.old")
    os.symlink(tmp_path / "shipped-models", tmp_path / "updates" / "models" / "current")  # rolled back
    assert installed_releases(tmp_path) == ("r-9",)


@pytest.mark.parametrize("variant", ["en", "zh", "zh-large"])
@pytest.mark.parametrize("state", list(REPORTS))
def test_the_staff_screen_shows_each_update_report_as_it_comes(
    kiosk: Kiosk, make_ui: Callable[..., UiDriver], state: str, variant: str
) -> None:
    controller = KioskController(lambda: kiosk, today=fixed_today)
    ui = make_ui(controller)
    choose_variant(controller, variant)
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.find(id="admin:update").text == {"en": "none since start", "zh": "启动后无更新"}[variant[:2]]
    assert ui.find(id="admin:releases").text == {"en": "as shipped", "zh": "出厂版本"}[variant[:2]]
    report, shown = REPORTS[state]
    kiosk.bus.publish(report)  # as the updater on the sync's thread does
    controller.tick()
    assert ui.find(id="admin:update").text == shown[variant[:2]]
    assert screen_problems(ui) == []
    ui.shot(f"admin-update-{state}-{variant}")


@pytest.mark.parametrize("size", [(800, 480), (1080, 1920), (1280, 800)], ids=["800x480", "portrait", "1280x800"])
def test_the_installed_release_and_a_rollback_fit_every_screen_size(
    kiosk: Kiosk, make_ui: Callable[..., UiDriver], size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff_screens, "installed_releases", lambda data_dir: ("r-2026-11-21",))
    controller = KioskController(lambda: kiosk, today=fixed_today)
    ui = make_ui(controller, size=size)
    choose_variant(controller, "zh-large")
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    kiosk.bus.publish(UpdateProgress(release_id="r-2026-11-28", state="rolled_back", reason="self_test_failed"))
    controller.tick()
    assert ui.find(id="admin:releases").text == "r-2026-11-21"
    assert ui.find(id="admin:update").text == "r-2026-11-28 已回滚：自检失败"
    assert screen_problems(ui) == []
    ui.shot(f"admin-update-rolled_back-{size[0]}x{size[1]}")


def test_a_release_rolled_back_at_start_is_on_the_staff_screen(
    tmp_path: Path, make_ui: Callable[..., UiDriver]
) -> None:
    """The kiosk died between switching to a release and the end of its self-test: the next start puts the old
    pack back before loading anything, and staff see why."""
    settings = load_settings(data_dir=tmp_path / "kiosk", device_id="kiosk-test-01", log_format="text")
    shipped = settings.pack_dir
    packs = installed_link(settings.data_dir, "packs").parent
    shutil.copytree(shipped, packs / "versions" / "r-2026-11-30")
    os.symlink("versions/r-2026-11-30", packs / "current")
    marker = {"release_id": "r-2026-11-30", "sequence": 4, "previous": {"packs": str(shipped)}}
    (packs.parent / PENDING).write_text(json.dumps(marker), encoding="utf-8")  # as the installer leaves it
    controller = KioskController(lambda: Kiosk(settings, today=fixed_today), today=fixed_today)
    ui = make_ui(controller, owns_kiosk=True)
    ui.tap(id="staff")
    enter_pin(ui, RIGHT_PIN)
    assert ui.find(id="admin:update").text == "r-2026-11-30 rolled back: interrupted"
    assert ui.find(id="admin:releases").text == "as shipped"
    assert screen_problems(ui) == []
    ui.shot("admin-update-rolled_back-at-start")
