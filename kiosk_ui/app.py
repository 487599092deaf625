"""The touchscreen loop: draws the controller's state, turns touches into actions, and stays responsive.

Three rules keep it fast on a Pi: the widget tree is rebuilt only when the state (or page, or size) changes;
a frame is redrawn only when something changed, and animations repaint only their own small rectangle; and
a touch is answered at once by repainting the pressed widget, while the action itself (which may run the
intent model) runs on a worker thread. Taps that arrive while an action is running are ignored, which is
what makes rapid repeated taps harmless.

Speech mode (``kiosk_ui.speech_mode``) rides on the same loop: each screen built is handed to it to read, its
commands arrive as the controller's ``reader`` requests, and a long press anywhere turns it on or off.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from firmware_app.screen.actions import Action, Backspace, ReadScreen, Submit, TypeText
from firmware_app.screen.controller import KioskController
from kiosk_ui.render import Renderer, RenderReport
from kiosk_ui.screen_reader import reading_order
from kiosk_ui.screens import CUSTOMER_SCREENS, build_screen, load_screens
from kiosk_ui.speech_mode import READER_KEYS, SPEECH_MODE_KEYS, ReaderVoice, SpeechMode
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import Page, SwitchKeyboard, TapAction, Widget, hit, walk_all

log = logging.getLogger(__name__)
FPS = 60
TICK_INTERVAL_S = 0.25  # idle timers
ATTRACT_ANIMATION_FPS = 3
ACTIVITY_ANIMATION_FPS = 20
PREVIEW_INTERVAL_S = 0.1  # camera preview: 10 frames a second is plenty to aim a part
LONG_PRESS_S = 2.0  # a touch held this long anywhere turns speech mode on (or off): no need to find a button


class ActionRunner:
    """Runs controller actions one at a time, on a worker thread (or inline, for tests and scripts)."""

    def __init__(self, synchronous: bool) -> None:
        self.synchronous = synchronous
        self._busy = threading.Event()
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        if not synchronous:
            threading.Thread(target=self._work, name="kiosk-actions", daemon=True).start()

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def submit(self, job: Callable[[], None]) -> bool:
        """Run ``job`` unless another is still running; returns whether it was taken."""
        if self._busy.is_set():
            return False
        self._busy.set()
        if self.synchronous:
            self._run(job)
        else:
            self._jobs.put(job)
        return True

    def wait(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self._busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.002)

    def _work(self) -> None:
        while True:
            self._run(self._jobs.get())

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("screen action failed")
        finally:
            self._busy.clear()


class KioskUI:
    def __init__(
        self,
        controller: KioskController,
        size: tuple[int, int] = (1280, 800),
        *,
        fullscreen: bool = False,
        synchronous: bool = False,
        new_screen_guard_s: float | None = None,
        voice: ReaderVoice | None = None,
    ) -> None:
        pygame.display.init()
        pygame.font.init()
        load_screens()
        flags = pygame.FULLSCREEN if fullscreen else 0
        self.surface = pygame.display.set_mode((0, 0) if fullscreen else size, flags)
        pygame.display.set_caption("Kestrel kiosk")
        if fullscreen:
            pygame.mouse.set_visible(False)
        self.controller = controller
        self.runner = ActionRunner(synchronous)
        self.widgets: list[Widget] = []
        self.report = RenderReport()
        self.pressed: Widget | None = None
        self.speech = SpeechMode(voice)  # speech mode reads on ``voice``, the kiosk's (None: no loudspeaker)
        self._reader_serial = 0  # the last speech-mode request carried out
        self._held_since: float | None = None  # when the finger now down went down (a long press)
        self.page = 0
        self.keyboard_symbols = False
        self.last_feedback_s = 0.0  # how long the last touch took to show on screen
        # Touches this soon after a new screen appears are ignored: the second tap of a double tap would
        # otherwise land on whatever the first one brought up (a star on the rating screen, say). Scripts and
        # tests, which tap as fast as they can, run without it unless they ask.
        self.new_screen_guard_s = (0.0 if synchronous else 0.3) if new_screen_guard_s is None else new_screen_guard_s
        self._screen_shown_at = 0.0
        self._static = pygame.Surface(self.surface.get_size())
        self._built_for: tuple[object, ...] = ()
        self._dirty = True
        self._last_tick = 0.0
        self._last_preview = 0.0
        self._last_animation = 0.0
        self._running = True
        self.on_close: list[Callable[[], None]] = []  # what else stops with the window (the listening loop)
        self.on_loop: list[Callable[[], None]] = []  # called every iteration of ``run`` (the service watchdog)
        self.rebuild_if_needed()

    @property
    def size(self) -> tuple[int, int]:
        return self.surface.get_size()

    @property
    def theme(self) -> Theme:
        state = self.controller.state
        # Elderly mode is the customer's; the technician's and the staff's screens keep their own sizes.
        elderly = state.elderly and state.screen in CUSTOMER_SCREENS
        return Theme.for_screen(*self.size, large_text=state.large_text, elderly=elderly)

    # --- building and drawing ----------------------------------------------------------------------------

    def rebuild_if_needed(self) -> bool:
        state = self.controller.state
        if self._built_for[:1] != (state.screen,):
            self.page = 0
            self.keyboard_symbols = False
            self._screen_shown_at = time.monotonic()
        key = (state.screen, state.version, self.page, self.keyboard_symbols, self.size)
        if key == self._built_for:
            return False
        theme = self.theme
        self.widgets = build_screen(state, theme, self.page, self.keyboard_symbols)
        renderer = Renderer(theme)
        self.report = renderer.draw(self._static, self.widgets)
        self._built_for = key
        self._dirty = True
        if state.speech_mode:
            self.speech.show(state.screen, reading_order(self.widgets, state.language), state.language)
        return True

    def follow_speech_mode(self) -> None:
        """Carry out the controller's latest speech-mode request, and leave speech mode when the controller did
        (the visit ended)."""
        state = self.controller.state
        if not state.speech_mode and self.speech.active:
            self.speech.active = False
            self._dirty = True
        request = state.reader
        if request is None or request.serial == self._reader_serial:
            return
        self._reader_serial = request.serial
        chosen = self.speech.command(request.command)
        self._dirty = True
        if chosen is not None:
            self.activate(chosen)
            self.rebuild_if_needed()  # the screen it leads to is read at once, not a frame later

    def frame(self) -> None:
        """One pass of the loop: timers, a rebuild if the state moved, and the repaint that needs doing."""
        now = time.monotonic()
        if now - self._last_tick >= TICK_INTERVAL_S:
            self._last_tick = now
            self.runner.submit(self.controller.tick)
        state = self.controller.state
        teaching = state.screen == "teach" and state.teach is not None and state.teach.phase == "capture"
        previewing = state.screen == "camera" or teaching
        if previewing and now - self._last_preview >= PREVIEW_INTERVAL_S:
            self._last_preview = now
            self.runner.submit(self.controller.refresh_preview)
        self.rebuild_if_needed()
        self.follow_speech_mode()
        self._check_long_press(now)
        spinners = [w for w in walk_all(self.widgets) if w.kind == "spinner" and w.text != "idle"]
        if self._dirty:
            self.surface.blit(self._static, (0, 0))
            if self.pressed is not None:
                Renderer(self.theme).draw_pressed(self.surface, self.pressed)
            self._draw_focus()
            for spinner in spinners:
                self._draw_spinner(spinner, now)
            pygame.display.flip()
            self._dirty = False
        elif spinners and now - self._last_animation >= 1 / self._animation_fps(spinners):
            self._last_animation = now
            for spinner in spinners:
                self.surface.blit(self._static, spinner.rect, spinner.rect)
                self._draw_spinner(spinner, now)
            pygame.display.update([s.rect for s in spinners])

    def _draw_focus(self) -> None:
        focused = self.speech.focused if self.speech.active else None
        if focused is not None and focused.widget is not None:
            Renderer(self.theme).draw_focus(self.surface, focused.widget.rect)
        elif focused is not None and focused.keys:  # the keyboard as a whole
            rects = [key.widget.rect for key in focused.keys if key.widget is not None]
            Renderer(self.theme).draw_focus(self.surface, rects[0].unionall(rects[1:]))

    @staticmethod
    def _animation_fps(spinners: list[Widget]) -> float:
        """Presenting even a small rectangle costs 3-6 ms of CPU on X11 (measured under Xvfb), so
        the attract screen's dots breathe slowly at 3 frames a second (idle CPU stays low) while the
        listening / thinking / speaking dots move at 20; input is still read 60 times a second."""
        return ATTRACT_ANIMATION_FPS if all(s.text == "attract" for s in spinners) else ACTIVITY_ANIMATION_FPS

    def _draw_spinner(self, widget: Widget, now: float) -> None:
        """Three dots that pulse: listening, thinking or speaking (the label beside it says which), or slowly
        breathing on the attract screen."""
        palette = self.theme.palette
        rect = widget.rect
        radius = max(3, rect.height // 9)
        speed = 1.5 if widget.text == "attract" else 6.0  # radians a second
        for index in range(3):
            phase = (math.sin(now * speed - index * 0.9) + 1) / 2
            center = (rect.x + radius * (2 + index * 3), rect.centery - round(phase * radius))
            color = palette.accent if phase > 0.5 else palette.muted
            pygame.draw.circle(self.surface, color, center, radius)

    # --- input -------------------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self._running = False
        elif event.type in (pygame.MOUSEBUTTONDOWN, pygame.FINGERDOWN):
            self.press(self._position(event))
        elif event.type in (pygame.MOUSEBUTTONUP, pygame.FINGERUP):
            self.release(self._position(event))
        elif event.type == pygame.TEXTINPUT and self.controller.state.form is not None:
            self.perform(TypeText(event.text))
        elif event.type == pygame.KEYDOWN:
            self._key(event)

    def _position(self, event: pygame.event.Event) -> tuple[int, int]:
        if event.type in (pygame.FINGERDOWN, pygame.FINGERUP):
            width, height = self.size
            return round(event.x * width), round(event.y * height)
        return event.pos

    def _key(self, event: pygame.event.Event) -> None:
        """A physical keyboard on a desktop or a technician's USB keyboard: Enter sends, Backspace deletes. The
        navigation keys work speech mode (and start it); in speech mode Enter chooses and Escape goes back."""
        command = READER_KEYS.get(event.key)
        if event.key == pygame.K_TAB and event.mod & pygame.KMOD_SHIFT:
            command = "previous"
        if command is None and self.controller.state.speech_mode:
            command = SPEECH_MODE_KEYS.get(event.key)
        if command is not None:
            self.perform(ReadScreen(command if self.controller.state.speech_mode else "start"))
        elif event.key == pygame.K_ESCAPE and not self.surface.get_flags() & pygame.FULLSCREEN:
            self._running = False
        elif event.key == pygame.K_RETURN:
            self.perform(Submit())
        elif event.key == pygame.K_BACKSPACE:
            self.perform(Backspace())

    def press(self, position: tuple[int, int]) -> None:
        """Show the touch at once: the pressed widget is repainted and only its rectangle is updated."""
        started = time.perf_counter()
        self.rebuild_if_needed()
        self._held_since = time.monotonic()
        if time.monotonic() - self._screen_shown_at < self.new_screen_guard_s:
            self.pressed = None
            return
        self.pressed = hit(self.widgets, position)
        if self.pressed is not None:
            Renderer(self.theme).draw_pressed(self.surface, self.pressed)
            pygame.display.update(self.pressed.rect)
        self.last_feedback_s = time.perf_counter() - started

    def release(self, position: tuple[int, int]) -> None:
        """A tap counts when the finger lifts on the widget it went down on (so a slide-off cancels it)."""
        pressed, self.pressed = self.pressed, None
        self._held_since = None
        self._dirty = True
        if pressed is None or hit(self.widgets, position) is not pressed or pressed.action is None:
            return
        if self.speech.active and not self.speech.touched(pressed):
            return  # speech mode: the first tap says what it is, a second one chooses it
        self.activate(pressed.action)

    def _check_long_press(self, now: float) -> None:
        """A finger held still for ``LONG_PRESS_S`` anywhere turns speech mode on, or off when it is on; the touch
        then chooses nothing."""
        if self._held_since is None or now - self._held_since < LONG_PRESS_S:
            return
        self._held_since = None
        self.pressed = None
        self.perform(ReadScreen("exit" if self.controller.state.speech_mode else "start"))

    def activate(self, action: TapAction) -> None:
        """What a tap on a widget (or speech mode's "select") does: the UI's own paging and keyboard mode, or
        the controller's action."""
        match action:
            case Page(step):
                self.page = max(0, self.page + step)
            case SwitchKeyboard():
                self.keyboard_symbols = not self.keyboard_symbols
            case _:
                self.perform(action)

    def perform(self, action: Action) -> None:
        """Hand ``action`` to the controller on the worker thread (ignored while another one is running)."""
        self.runner.submit(lambda: self.controller.dispatch(action))

    # --- for tests, the demo and the bench ---------------------------------------------------------------

    def tap(self, position: tuple[int, int]) -> None:
        """A synthetic touch through pygame's own event queue, exactly as a finger would arrive; returns when
        the action it started has finished and the result is drawn. Like a person, it waits out the moment in
        which a new screen ignores touches."""
        settle_s = self._screen_shown_at + self.new_screen_guard_s - time.monotonic()
        if settle_s > 0:
            self.run(seconds=settle_s)
        for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
            pygame.event.post(pygame.event.Event(kind, pos=position, button=1))
        self.pump()
        while self.runner.busy:  # keep drawing (the thinking dots) while the action runs
            self.frame()
            time.sleep(1 / FPS)
        self.frame()

    def pump(self) -> None:
        for event in pygame.event.get():
            self.handle(event)

    def find(self, *, id: str | None = None, text: str | None = None) -> Widget:
        """The widget with this id, or the one whose text is exactly (or else contains) ``text``."""
        self.rebuild_if_needed()
        widgets = list(walk_all(self.widgets))
        matches = [w for w in widgets if (id is not None and w.id == id) or (text is not None and w.text == text)]
        if not matches and text is not None:
            matches = [w for w in widgets if text in w.text]
        if not matches:
            raise LookupError(f"nothing on the {self.controller.state.screen} screen with id={id!r} text={text!r}")
        return matches[-1]

    def tap_widget(self, *, id: str | None = None, text: str | None = None) -> None:
        self.tap(self.find(id=id, text=text).rect.center)

    def screenshot(self, path: Path) -> Path:
        self.rebuild_if_needed()
        self.frame()
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        return path

    def run(self, seconds: float | None = None) -> None:
        """The loop at up to 60 frames a second, until the window closes (or for ``seconds``, for scripts)."""
        clock = pygame.time.Clock()
        deadline = None if seconds is None else time.monotonic() + seconds
        while self._running and (deadline is None or time.monotonic() < deadline):
            self.pump()
            self.frame()
            for hook in self.on_loop:
                hook()
            clock.tick(FPS)

    def stop(self) -> None:
        """End ``run`` after the current frame (SIGTERM from systemd); safe from a signal handler."""
        self._running = False

    def close(self) -> None:
        self._running = False
        for stop in self.on_close:
            stop()
        pygame.display.quit()
