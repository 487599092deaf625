"""A walk through every screen of the kiosk, driven by the controller's own actions (no touches, no drawing).

``tour`` yields a short name for each state it reaches ("answer", "form-numpad", "admin_pin-wrong_pin"): the
part before the first "-" is the screen, the rest says which variant of it. The bench photographs every
state (in English, Chinese and large text, at several sizes), the tests check each one's layout, and
``kiosk demo --ui`` plays it on the real window. The kiosk answers every question with its real models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

from firmware_app.app import EventBus
from firmware_app.events import (
    HandoffUpdate,
    Language,
    NothingHeard,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    SpeechToTextError,
    UpdateProgress,
    WakeWordDetected,
)
from firmware_app.screen.controller import KioskController
from firmware_app.screen.teach import MIN_TEACH_PHOTOS

DEMO_PIN = "2468"  # the default staff PIN (provisioning sets a device's own)
DOWNLOADING = UpdateProgress(release_id="r-2026-11-21", state="downloading", done=9, total=20)
CARD_DIGITS = "4821"

# What the customer says on the tour, in each language the kiosk speaks.
PHRASES: dict[Language, dict[str, str]] = {
    "en": {
        "answer": "what is the exchange rate",
        "out_of_scope": "what's the weather going to be like tomorrow?",
        "heard_so_far": "what time do you open on",
        "typed": "opening hours",
        "stolen": "I think my card was stolen",
        "appointment": "I'd like to book an appointment",
        "note": "Hairline crack next to the left hinge, part 7731",
    },
    "zh": {
        "answer": "汇率是多少",
        "out_of_scope": "明天天气怎么样",
        "heard_so_far": "你们星期六几点",
        "typed": "营业时间",
        "stolen": "我的卡被偷了",
        "appointment": "我想预约",
        "note": "左侧铰链旁有细裂纹，部件 7731",
    },
}


class StillCamera:
    """A camera that always sees the same picture (the tour's stand-in when the kiosk has none)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def frame(self) -> np.ndarray:
        return self.image


Step = tuple[str, tuple[Callable[[], object], ...]]  # a state's name and the actions that reach it


def tour(controller: KioskController, photo: np.ndarray, pin: str = DEMO_PIN) -> Iterator[str]:
    """Drive ``controller`` from the attract screen through every screen, yielding each state's name once the
    state is showing. Ends on the staff screen (``close_admin`` returns to the attract screen)."""
    if controller.state.screen != "attract":
        raise ValueError(f"the tour starts on the attract screen, not on {controller.state.screen!r}")
    steps = _steps(controller, photo, pin)
    own_camera = controller.camera is None
    if own_camera:
        controller.camera = StillCamera(photo)
    try:
        for name, actions in steps:
            for action in actions:
                action()
            _check(controller, name)
            yield name
    finally:
        if own_camera:
            controller.camera = None


def _steps(c: KioskController, photo: np.ndarray, pin: str) -> list[Step]:
    """The tour's states in order, each with what the customer (or the voice pipeline) does to reach it."""
    words = PHRASES[c.state.language]

    def bus() -> EventBus:
        return c.kiosk.bus  # the voice pipeline's events arrive on the kiosk's bus

    def first_choice() -> None:
        form = c.state.form
        assert form is not None and form.choices, f"no choices on the {c.state.screen} screen"
        c.submit(form.choices[0].value)

    return [
        _step("attract"),
        _step("attract-wake_word", lambda: c.announce_wake_words(["amelia"])),
        _step("home-listening", lambda: bus().publish(WakeWordDetected(wake_word="amelia", score=0.97, time_s=3.2))),
        _step("home-heard", lambda: bus().publish(SpeechToTextError(code="unavailable"))),
        _step("home-not_heard", lambda: bus().publish(NothingHeard(trigger="wake_word", waited_s=5.0))),
        _step("home", c.touch_start),
        _step("topic", lambda: c.open_topic(_a_topic(c))),
        _step("answer", lambda: c.ask(words["answer"])),
        _step("answer-speaking", lambda: bus().publish(SpeechStarted(text=c.state.caption))),
        _step("answer-idle_warning", lambda: bus().publish(SpeechEnded(interrupted=False)), lambda: _idle_warning(c)),
        _step("conversation", c.still_here, lambda: c.ask(words["out_of_scope"])),
        _step("conversation-listening", lambda: bus().publish(PartialTranscript(text=words["heard_so_far"]))),
        _step("conversation-thinking", lambda: c.set_activity("thinking", words["heard_so_far"])),
        _step("form-keyboard", lambda: c.set_activity("idle"), c.start_typing, lambda: c.type_text(words["typed"])),
        _step("form-numpad", lambda: c.ask(words["stolen"]), lambda: c.type_text(CARD_DIGITS)),
        _step("form-yes_no", c.submit),
        _step("ticket", first_choice),
        _step("form-date", lambda: c.ask(words["appointment"])),
        _step("form-time", first_choice),
        _step("form-choice", first_choice),
        _step("handoff", c.request_staff),
        _step("handoff-coming", lambda: _colleague_coming(c, bus())),
        # The technician's camera is behind the staff PIN: the staff corner, then the camera from the staff screen
        # (which starts the technician's visit).
        _step("camera", c.open_admin, lambda: c.type_text(pin), c.submit, c.open_camera),
        # Teaching a new part: the staff PIN, the default title sent as it is, then its photos.
        _step("teach", c.teach_part, lambda: c.type_text(pin), c.submit, c.submit),
        _step("teach-photos", *[c.teach_capture] * MIN_TEACH_PHOTOS),
        _step("teach-learning", lambda: c.learn_part(learn=False)),
        _step("photo_result-retake", c.back, lambda: c.capture(image=photo // 6)),  # far too dark: a retake
        _step("inspection-analysing", c.retake, lambda: c.capture(image=photo, analyse=False)),
        _step("inspection", c.analyse),
        _step("photo_result", c.file_photo),
        _step("ticket-photo", lambda: c.type_text(words["note"]), c.submit),
        _step("rating", c.finish),
        _step("thanks", lambda: c.rate(5)),
        _step("admin_pin", c.open_admin, lambda: c.type_text(pin[:2])),
        _step("admin_pin-wrong_pin", lambda: c.type_text("00"), c.submit),
        _step("admin", lambda: c.type_text(pin), c.submit),
        _step("parts", c.open_parts),
        _step("admin-update", c.close_parts, lambda: bus().publish(DOWNLOADING), c.tick),  # the updater's report
    ]


def _step(name: str, *actions: Callable[[], object]) -> Step:
    return name, actions


def _a_topic(controller: KioskController) -> str:
    topics = [topic.value for topic in controller.state.topics]
    return "cards" if "cards" in topics else topics[0]


def _idle_warning(controller: KioskController) -> None:
    """Let the idle timer see a customer who has not touched anything for a while (without waiting for it)."""
    timeout, warning = controller.idle_limits()
    silent_s = timeout - warning / 2
    real_clock = controller._clock
    controller._clock = lambda: real_clock() + silent_s
    try:
        controller.tick()
    finally:
        controller._clock = real_clock


def _check(controller: KioskController, name: str) -> None:
    state = controller.state
    screen, _, variant = name.partition("-")
    form_hint = state.form.hint if state.form else None
    notice = state.notice or ""
    if (
        state.screen != screen
        or (screen == "form" and variant != form_hint)
        or (variant.endswith("_pin") and not notice)
    ):
        raise RuntimeError(
            f"the tour expected {name!r} but the kiosk shows {state.screen!r} (form {form_hint}, notice {notice!r},"
            f" reply {state.reply_kind!r}: {state.caption[:80]!r})"
        )
    verdict = state.photo.verdict if state.photo else None
    if screen == "inspection" and (verdict == "analysing") != (variant == "analysing"):
        raise RuntimeError(f"the tour expected {name!r}, the photo's verdict is {verdict!r}")
    teach = state.teach
    if screen == "teach" and (teach is None or teach.phase != ("learning" if variant == "learning" else "capture")):
        raise RuntimeError(f"the tour expected {name!r}, the part being taught is {teach!r:.80}")
    if variant == "photos" and (teach is None or teach.count < MIN_TEACH_PHOTOS):
        raise RuntimeError(f"the tour expected {MIN_TEACH_PHOTOS} photos of the part being taught")
    if variant == "update" and (state.admin is None or state.admin.update is None):
        raise RuntimeError("the tour expected the staff screen to show an update report")
    if variant == "idle_warning" and notice != "idle_warning":
        raise RuntimeError(f"the tour expected the idle warning, the notice is {notice!r}")


def synthetic_part_photo(width: int = 800, height: int = 600, seed: int = 7) -> np.ndarray:
    """A drawn stand-in for a technician's photo (RGB): a machined plate with holes, a label and a crack, on a
    grey mat. Sharp, evenly lit and filling the centre, so it passes the quality gate."""
    rng = np.random.default_rng(seed)
    mat = np.linspace(60, 74, width, dtype=np.float32)[None, :].repeat(height, axis=0).astype(np.uint8)
    image = cv2.cvtColor(mat, cv2.COLOR_GRAY2RGB)
    plate = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = width // 6, height // 5, width * 5 // 6, height * 4 // 5
    cv2.rectangle(plate, (x0, y0), (x1, y1), 255, -1)
    brushed = cv2.blur(rng.normal(0, 4, (height, width)), (61, 1))  # brushed metal runs one way
    metal = (160 + brushed + np.linspace(-12, 12, width)[None, :]).clip(0, 255)
    for channel, tint in enumerate((1.0, 1.02, 1.06)):
        image[..., channel] = np.where(plate > 0, (metal * tint).clip(0, 255), image[..., channel])
    cv2.rectangle(image, (x0, y0), (x1, y1), (60, 62, 66), 3)
    step = (x1 - x0) // 5
    for x in range(x0 + step // 2, x1, step):
        for y in (y0 + step // 3, y1 - step // 3):
            cv2.circle(image, (x, y), step // 6, (35, 36, 40), -1)
            cv2.circle(image, (x, y), step // 6, (210, 212, 215), 2)
    cv2.putText(image, "P/N 7731-B", (x0 + step // 2, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (40, 40, 44), 3)
    crack = np.array(
        [(width // 2 + step, y0 + 4), (width // 2 + step + 18, height // 2), (width // 2 + step - 6, y1 - 30)]
    )
    cv2.polylines(image, [crack.astype(np.int32)], False, (25, 22, 20), 2)
    return image


def _colleague_coming(c: KioskController, bus: EventBus) -> None:
    """The staff console's answer to the visit's hand-off, as the kiosk's link puts it on the bus; the screen
    takes it at its next tick."""
    handoff = c.state.handoff
    assert handoff is not None, "the hand-off screen records its ticket"
    news = HandoffUpdate(ticket_id=handoff.ticket_id, reference=handoff.reference, state="coming", colleague="Ana")
    bus.publish(news)
    c.tick()
