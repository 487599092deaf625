"""Drives the real pygame UI the way a customer would, and reads back what is on screen."""

from __future__ import annotations

from pathlib import Path

from kiosk_ui.app import KioskUI
from kiosk_ui.inspect import layout_problems
from kiosk_ui.widgets import Widget, walk_all


class UiDriver:
    def __init__(self, ui: KioskUI, screenshot_dir: Path) -> None:
        self.ui = ui
        self.screenshot_dir = screenshot_dir
        self.shots: list[Path] = []

    @property
    def screen(self) -> str:
        return self.ui.controller.state.screen

    def tap(self, *, id: str | None = None, text: str | None = None) -> None:
        """Touch the widget (by id, or by its label) at its centre, through pygame's event queue."""
        self.ui.tap_widget(id=id, text=text)

    def type(self, text: str) -> None:
        """Press the on-screen keys one by one (space included)."""
        for char in text:
            self.tap(id="key:space" if char == " " else f"key:{char}")

    def text(self) -> str:
        """All text drawn on the screen, line by line."""
        self.ui.rebuild_if_needed()
        return self.ui.report.text()

    def ids(self) -> list[str]:
        self.ui.rebuild_if_needed()
        return [w.id for w in walk_all(self.ui.widgets) if w.id]

    def find(self, *, id: str | None = None, text: str | None = None) -> Widget:
        return self.ui.find(id=id, text=text)

    def shot(self, name: str) -> Path:
        """Save a screenshot and check that the screen looks finished (no cut-off or overlapping text)."""
        path = self.ui.screenshot(self.screenshot_dir / f"{len(self.shots):02d}-{name}.png")
        self.shots.append(path)
        problems = layout_problems(self.ui.widgets, self.ui.report, self.ui.size)
        assert not problems, f"{name}: {problems}"
        return path
