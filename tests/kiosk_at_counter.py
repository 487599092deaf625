"""A real kiosk process for end-to-end tests: the touchscreen UI (pygame, SDL's dummy video driver) with its
MQTT link, configured by ``KIOSK_*`` variables as an installed kiosk is. A customer touches the screen and
presses "Talk to a person"; from then on the process prints, as one JSON line, every change of what the screen
shows, and saves a screenshot of each to the folder given, until SIGTERM.

    python -m tests.kiosk_at_counter DATA_DIR SCREENSHOT_DIR
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from firmware_app.config import load_settings
from kiosk_ui.main import build_ui
from tests.ui_driver import UiDriver

FRAME_S = 0.05


def main(data_dir: Path, screenshots: Path) -> None:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    ui = build_ui(load_settings(data_dir=data_dir), window=(1280, 800), synchronous=True)
    driver = UiDriver(ui, screenshots)
    running = True

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    driver.tap(id="touch_to_start")
    driver.tap(id="home:talk_to_person")
    shown = ""
    try:
        while running:
            ui.pump()
            ui.frame()
            text = driver.text()
            if text != shown:
                shown = text
                shot = driver.shot(driver.screen)
                line = {"screen": driver.screen, "text": text, "screenshot": str(shot)}
                print(json.dumps(line, ensure_ascii=False), flush=True)
            time.sleep(FRAME_S)
    finally:
        ui.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
