"""The screen's controller without drawing anything: which screen follows which action, what is masked, and
that a visit's personal data is gone when it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firmware_app import audit
from firmware_app.app import Kiosk
from firmware_app.events import (
    DialogueError,
    Event,
    ListeningStarted,
    NothingHeard,
    PartialTranscript,
    Reply,
    SessionEnded,
    SessionRated,
    SpeechToTextError,
    TranscriptionStarted,
    UtteranceCaptured,
    WakeWordDetected,
)
from firmware_app.screen.actions import OpenAdmin, Submit, TypeText
from firmware_app.screen.controller import ELDERLY_TIMEOUT_FACTOR, MIN_IDLE_WARNING_S, KioskController
from firmware_app.screen.strings import t
from tests.conftest import fixed_today
from tests.fakes import FakeClock


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def desk(kiosk: Kiosk, clock: FakeClock) -> Iterator[KioskController]:
    controller = KioskController(lambda: kiosk, clock=clock, today=fixed_today)
    yield controller
    controller.detach()


def test_idle_visit_warns_then_ends_and_forgets_everything(
    desk: KioskController, clock: FakeClock, events: list[Event]
) -> None:
    desk.touch_start()
    desk.ask("my card number is 4929 1234 5678 9012, call me on 07911 123456")
    assert desk.state.bubbles
    timeout = desk.kiosk.settings.dialogue.idle_timeout_s
    warning = desk.kiosk.settings.ui.idle_warning_s
    clock.now += timeout - warning - 1
    desk.tick()
    assert desk.state.notice is None
    clock.now += 2
    desk.tick()
    assert desk.state.notice == "idle_warning"
    clock.now += warning
    desk.tick()
    state = desk.state
    assert state.screen == "attract"
    assert (state.bubbles, state.card, state.form, state.caption, state.partial_transcript) == ((), None, None, "", "")
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert ended and ended[-1].reason == "idle_timeout"


def test_still_here_keeps_the_visit(desk: KioskController, clock: FakeClock) -> None:
    desk.touch_start()
    clock.now += desk.kiosk.settings.dialogue.idle_timeout_s - 1
    desk.tick()
    assert desk.state.notice == "idle_warning"
    desk.still_here()
    clock.now += 5
    desk.tick()
    assert desk.state.screen == "home" and desk.state.notice is None


def _warnings_said(events: list[Event]) -> list[Reply]:
    """The idle warning, said aloud: a reply outside any turn, which the voice pipeline speaks."""
    said = t("idle_warning", "en")
    return [e for e in events if isinstance(e, Reply) and e.kind == "info" and e.text.startswith(said)]


def _wait_for_warning(desk: KioskController, clock: FakeClock) -> float:
    """Stay silent until the warning comes; how long the customer then has to answer."""
    timeout, warning = desk.idle_limits()
    clock.now += timeout - warning - 0.5
    desk.tick()
    assert desk.state.notice is None
    clock.now += 0.5
    desk.tick()
    assert desk.state.notice == "idle_warning"
    return warning


def test_idle_warning_is_shown_and_said_gives_20_s_and_extends_ten_times(
    desk: KioskController, clock: FakeClock, events: list[Event]
) -> None:
    """WCAG 2.2.1: the warning is on screen and heard, leaves >= 20 s, and the customer may extend again and again
    (by a touch, or by saying anything), at least ten times."""
    desk.touch_start()
    for extension in range(12):
        warning = _wait_for_warning(desk, clock)
        assert warning >= MIN_IDLE_WARNING_S >= 20
        assert len(_warnings_said(events)) == extension + 1
        clock.now += warning - 0.5  # almost all of the time given, and still there
        desk.tick()
        assert desk.state.screen == "home" and desk.state.notice == "idle_warning"
        if extension % 2:
            desk.still_here()  # the overlay's button (any touch calls the same _touched)
        else:
            desk.kiosk.bus.publish(PartialTranscript(text="yes"))  # a spoken word
        assert desk.state.notice is None
    assert not [e for e in events if isinstance(e, SessionEnded)]
    _wait_for_warning(desk, clock)
    clock.now += desk.idle_limits()[1]
    desk.tick()
    assert desk.state.screen == "attract"


def test_a_configured_short_warning_still_gives_20_s(kiosk: Kiosk, clock: FakeClock) -> None:
    ui = kiosk.settings.ui.model_copy(update={"idle_warning_s": 5.0})
    settings = kiosk.settings.model_copy(update={"ui": ui})
    desk = KioskController(lambda: kiosk, clock=clock, today=fixed_today)
    try:
        kiosk.settings = settings
        assert desk.idle_limits()[1] == MIN_IDLE_WARNING_S
    finally:
        desk.detach()


def test_elderly_mode_doubles_the_idle_timeouts(desk: KioskController, clock: FakeClock) -> None:
    desk.touch_start()
    timeout, warning = desk.idle_limits()
    desk.toggle_elderly()
    assert desk.state.elderly
    assert desk.idle_limits() == (timeout * ELDERLY_TIMEOUT_FACTOR, warning * ELDERLY_TIMEOUT_FACTOR)
    clock.now += timeout + 1  # the normal timeout has passed: in elderly mode the visit goes on
    desk.tick()
    assert desk.state.screen == "home" and desk.state.notice is None
    desk.still_here()  # a touch: the timer starts again
    assert _wait_for_warning(desk, clock) >= 2 * MIN_IDLE_WARNING_S


def test_customer_words_on_screen_are_masked(desk: KioskController) -> None:
    desk.touch_start()
    desk.ask("my card number is 4929 1234 5678 9012, call me on 07911 123456")
    said = desk.state.bubbles[-2]
    assert said.role == "customer"
    assert "4929" not in said.text and "•••• 9012" in said.text
    assert "07911" not in said.text and "•••••••" in said.text
    desk.set_activity("listening", "it's 4929 1234 5678 9012")
    assert desk.state.partial_transcript == "it's •••• 9012"


def test_language_switch_changes_topics_and_the_visit(desk: KioskController) -> None:
    desk.touch_start()
    desk.open_topic("cards")
    desk.set_language("zh")
    state = desk.state
    assert state.topic_title == "银行卡" and state.brand == "红隼银行"
    card_arrival = desk.kiosk.pack.intent("card_arrival")
    assert card_arrival is not None
    assert state.topic_entries[0].label == card_arrival.title.zh
    desk.ask("汇率是多少")
    assert desk.state.screen == "answer" and desk.state.language == "zh"


def test_numpad_takes_four_digits_only(desk: KioskController) -> None:
    desk.touch_start()
    desk.ask("I think my card was stolen")
    form = desk.state.form
    assert form is not None and form.hint == "numpad" and form.max_chars == 4
    for key in "48a2-19":
        desk.type_key(key)
    assert desk.state.form is not None and desk.state.form.draft == "4821"
    desk.submit()
    assert desk.state.form is not None and desk.state.form.hint == "yes_no"
    desk.submit("yes")
    assert desk.state.screen == "ticket" and desk.state.reference is not None
    assert desk.kiosk.tickets.get(desk.state.reference) is not None


def test_empty_or_repeated_submit_does_nothing(desk: KioskController) -> None:
    desk.touch_start()
    desk.start_typing()
    before = desk.state.version
    desk.submit()
    desk.submit("   ")
    assert desk.state.version == before and desk.state.screen == "form"


def test_appointment_buttons_offer_only_opening_days_and_hours(desk: KioskController) -> None:
    desk.touch_start()
    desk.ask("I'd like to book an appointment")
    form = desk.state.form
    assert form is not None and form.hint == "date"
    labels = [choice.label for choice in form.choices]
    assert labels[0] == "Monday 23 November" and not any(label.startswith("Sunday") for label in labels)
    saturday = next(choice for choice in form.choices if choice.label.startswith("Saturday"))
    desk.submit(saturday.value)
    times = desk.state.form
    assert times is not None and times.hint == "time"
    assert times.choices[0].value == "09:30" and times.choices[-1].value == "12:30"


def test_rating_is_stored_once_and_the_thanks_screen_times_out(
    desk: KioskController, clock: FakeClock, events: list[Event]
) -> None:
    desk.touch_start()
    desk.ask("what is the exchange rate")
    desk.finish()
    assert desk.state.screen == "rating"
    desk.rate(4)
    desk.rate(1)  # a late second tap on the thank-you screen
    rated = [e for e in events if isinstance(e, SessionRated)]
    assert [e.stars for e in rated] == [4]
    stored = desk.kiosk.db.execute("SELECT stars FROM ratings WHERE session_id = ?", [rated[0].session_id]).fetchall()
    assert stored == [(4,)]
    clock.now += desk.kiosk.settings.ui.thanks_s
    desk.tick()
    assert desk.state.screen == "attract" and desk.state.rating is None


def test_wrong_pins_lock_the_staff_screen_for_a_while(desk: KioskController, clock: FakeClock) -> None:
    desk.open_admin()
    for _ in range(desk.kiosk.settings.ui.admin_attempts_before_lockout):
        desk.type_text("1111")
        desk.submit()
    assert desk.state.notice == "locked"
    desk.type_text("2468")
    desk.submit()
    assert desk.state.screen == "admin_pin" and desk.state.notice == "locked"
    clock.now += desk.kiosk.settings.ui.admin_lockout_s
    desk.type_text("2468")
    desk.submit()
    assert desk.state.screen == "admin"
    assert desk.state.admin is not None and any("wrong staff PIN" in line for line in desk.state.admin.recent_errors)


def test_the_staff_screen_counts_todays_tickets(desk: KioskController) -> None:
    today = fixed_today().isoformat()
    before = desk.kiosk.tickets.count_since(today)
    desk.touch_start()
    desk.request_staff()  # files a hand-off ticket
    for action in (OpenAdmin(), TypeText("2468"), Submit()):
        desk.dispatch(action)
    assert desk.state.screen == "admin"
    assert desk.state.admin is not None and desk.state.admin.tickets_today == before + 1


def test_staff_hand_off_by_touch_files_a_ticket_with_the_transcript(desk: KioskController) -> None:
    desk.touch_start()
    desk.ask("what is the exchange rate")
    desk.request_staff()
    state = desk.state
    assert state.screen == "handoff" and state.reference
    ticket = desk.kiosk.tickets.get(state.reference)
    assert ticket is not None and ticket.type == "handoff"
    said = [turn["text"] for turn in ticket.transcript if turn["role"] == "customer"]
    assert said == ["what is the exchange rate", "[staff]"]


@pytest.mark.parametrize(
    ("words", "check"),
    [
        ("Chinese please", lambda s: s.language == "zh"),
        ("切换到中文", lambda s: s.language == "zh"),
        ("bigger text", lambda s: s.large_text),
        ("放大", lambda s: s.large_text),
        ("senior mode please", lambda s: s.elderly),
        ("长辈模式", lambda s: s.elderly),
    ],
)
def test_short_spoken_commands_work_the_screen(desk: KioskController, words: str, check) -> None:  # type: ignore[no-untyped-def]
    desk.touch_start()
    desk.ask(words, "voice")
    assert check(desk.state)
    assert not [b for b in desk.state.bubbles if b.role == "customer"], "a screen command is not a question"


def test_the_camera_is_for_technicians_behind_the_staff_pin_not_customers(desk: KioskController) -> None:
    """A customer cannot open the technician's camera (by a tap's action or by saying "take a photo": then the
    words are a question); from the staff screen it opens, a technician's visit of its own, and within that
    visit it opens again (a retake, or said); once the visit ends it is closed to the next visitor."""
    opened = [e.action for e in audit.entries(desk.kiosk.db)].count("technician_camera_opened")
    desk.touch_start()
    desk.open_camera()
    assert desk.state.screen == "home"
    desk.ask("take a photo", "voice")
    assert desk.state.screen != "camera"
    assert [b.text for b in desk.state.bubbles if b.role == "customer"] == ["take a photo"]
    desk.open_admin()
    desk.type_text("2468")
    desk.submit()
    assert desk.state.screen == "admin"
    desk.ask("take a photo", "voice")
    assert desk.state.screen == "camera" and desk.state.admin is None
    assert not [b for b in desk.state.bubbles if b.role == "customer"], "the customer's visit ended at the PIN"
    desk.go_home()
    desk.ask("camera", "voice")
    assert desk.state.screen == "camera"
    desk.finish()
    desk.touch_start()
    desk.open_camera()
    assert desk.state.screen == "home"
    assert [e.action for e in audit.entries(desk.kiosk.db)].count("technician_camera_opened") == opened + 1


def test_a_question_that_mentions_a_language_still_reaches_the_dialogue(desk: KioskController) -> None:
    desk.touch_start()
    desk.ask("do you have leaflets in Chinese?", "voice")
    assert desk.state.language == "en" and desk.state.bubbles[-2].text == "do you have leaflets in Chinese?"


@pytest.mark.parametrize(("words", "stars"), [("five stars", 5), ("3", 3), ("四星", 4), ("two", 2)])
def test_rating_by_voice(desk: KioskController, words: str, stars: int) -> None:
    desk.touch_start()
    desk.finish()
    desk.ask(words, "voice")
    assert desk.state.screen == "thanks" and desk.state.rating == stars


def test_a_wake_word_starts_a_visit_and_shows_listening(desk: KioskController) -> None:
    desk.kiosk.bus.publish(WakeWordDetected(wake_word="amelia", score=0.9, time_s=3.2))
    assert desk.state.screen == "home" and desk.state.activity == "listening"


def test_captured_speech_without_recognition_says_so_plainly(desk: KioskController) -> None:
    desk.touch_start()
    desk.kiosk.bus.publish(ListeningStarted(trigger="push_to_talk"))
    assert desk.state.activity == "listening"
    desk.kiosk.bus.publish(UtteranceCaptured(path=None, duration_s=1.5, ended_by="silence"))
    desk.kiosk.bus.publish(TranscriptionStarted(audio_s=1.5))
    desk.kiosk.bus.publish(SpeechToTextError(code="unavailable", message="no recognizer"))
    assert desk.state.activity == "idle" and desk.state.notice == "no_speech_recognition"


@pytest.mark.parametrize("code", ["bad_audio", "no_text", "failed"])
def test_speech_that_cannot_be_read_asks_to_try_again(desk: KioskController, code: str) -> None:
    desk.touch_start()
    desk.kiosk.bus.publish(PartialTranscript(text="what time do you"))
    desk.kiosk.bus.publish(TranscriptionStarted(audio_s=1.5))  # the words so far stay while they are checked
    assert desk.state.activity == "thinking" and desk.state.partial_transcript == "what time do you"
    desk.kiosk.bus.publish(SpeechToTextError(code=code))  # type: ignore[arg-type]
    assert desk.state.activity == "idle" and desk.state.partial_transcript == ""
    assert desk.state.notice == "not_understood_audio"


def test_a_failed_dialogue_stops_thinking(desk: KioskController) -> None:
    desk.touch_start()
    desk.kiosk.bus.publish(TranscriptionStarted(audio_s=1.5))
    desk.kiosk.bus.publish(DialogueError(code="failed", message="RuntimeError: boom"))
    assert desk.state.activity == "idle" and desk.state.notice is None


def test_the_pipelines_words_are_asked_as_a_spoken_turn(desk: KioskController) -> None:
    desk.touch_start()
    reply = desk.respond("what is the exchange rate")
    assert reply is not None and reply.kind == "answer"
    assert desk.state.screen == "answer"
    assert desk.state.bubbles[-2].source == "voice"


def test_a_spoken_screen_command_needs_no_reply(desk: KioskController) -> None:
    desk.touch_start()
    assert desk.respond("bigger text") is None
    assert desk.state.large_text


def test_nothing_heard_asks_to_try_again(desk: KioskController) -> None:
    desk.touch_start()
    desk.set_activity("listening")
    desk.kiosk.bus.publish(NothingHeard(trigger="push_to_talk", waited_s=5.0))
    assert desk.state.activity == "idle" and desk.state.notice == "not_heard"
