"""The screens of a visit after the home screen (topic, conversation, answer, form, ticket, hand-off, rating,
thank-you), driven by synthetic touches on the real kiosk: real intent model, bank pack, SQLite file."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pygame
import pytest

from firmware_app.app import Kiosk
from firmware_app.events import Language
from firmware_app.screen.controller import KioskController
from firmware_app.screen.strings import t
from kiosk_ui.app import KioskUI
from kiosk_ui.widgets import walk_all
from tests.fakes import FakeClock
from tests.ui_driver import UiDriver

TODAY = datetime.date(2026, 11, 21)  # a Saturday, as in conftest
SMALL, PORTRAIT = (800, 480), (1080, 1920)


MakeUi = Callable[..., UiDriver]


@pytest.fixture()
def make_ui(kiosk: Kiosk, screenshot_dir: Path, request: pytest.FixtureRequest) -> Iterator[MakeUi]:
    """A fresh controller (optionally on a fake clock) and a UI at any size; one UI open at a time."""
    made: list[UiDriver] = []

    def make(
        size: tuple[int, int] = (1280, 800),
        clock: Callable[[], float] | None = None,
        synchronous: bool = True,
        controller: KioskController | None = None,
    ) -> UiDriver:
        if controller is None:
            controller = KioskController(lambda: kiosk, clock=clock or time.monotonic, today=lambda: TODAY)
        name = f"{request.node.name}-{size[0]}x{size[1]}-{len(made)}"
        driver = UiDriver(KioskUI(controller, size, synchronous=synchronous), screenshot_dir / name)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.ui.close()
        driver.ui.controller.detach()


def keys(kiosk: Kiosk, table: str) -> set[str]:
    """The keys of ``table`` now (the kiosk's database is shared by the whole test session)."""
    column = "session_id" if table == "ratings" else "id"
    return {row[0] for row in kiosk.db.execute(f"SELECT {column} FROM {table}").fetchall()}


def new_ratings(kiosk: Kiosk, before: set[str]) -> list[tuple[int, str]]:
    rows = kiosk.db.execute("SELECT session_id, stars, language FROM ratings").fetchall()
    return [(row[1], row[2]) for row in rows if row[0] not in before]


def new_tickets(kiosk: Kiosk, before: set[str]) -> list[str]:
    return sorted(keys(kiosk, "tickets") - before)


def type_text(driver: UiDriver, text: str) -> None:
    """Text from a physical keyboard or an input method (Chinese), through pygame's event queue."""
    pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=text))
    driver.ui.pump()
    driver.ui.runner.wait()
    driver.ui.frame()


def squeeze(text: str) -> str:
    """Text without spaces and line breaks: a phrase wrapped over two lines is still found."""
    return "".join(text.split())


def shows(ui: UiDriver, phrase: str) -> bool:
    return squeeze(phrase) in squeeze(ui.text())


# --- journeys --------------------------------------------------------------------------------------------------


def test_topic_answer_rating_thanks_and_nothing_left(make_ui: MakeUi, kiosk: Kiosk) -> None:
    clock = FakeClock()
    ui = make_ui(clock=clock)
    controller = ui.ui.controller
    rated_before = keys(kiosk, "ratings")
    ui.tap(id="touch_to_start")
    ui.tap(id="topic:exchange")
    assert ui.screen == "topic"
    assert shows(ui, "Currencies") and shows(ui, "What exchange rate do you use?")
    ui.shot("topic")
    ui.tap(id="entry:exchange_rate")
    assert ui.screen == "answer"
    assert shows(ui, "What exchange rate do you use?") and shows(ui, "interbank rate")
    assert shows(ui, "Scan to take this with you")
    codes = [w for w in walk_all(ui.ui.widgets) if w.kind == "qr"]
    assert len(codes) == 1 and codes[0].text == controller.state.qr_text
    assert codes[0].text.startswith("What exchange rate do you use?")
    assert {"ask_more", "conversation", "talk_to_person", "finish"} <= set(ui.ids())
    ui.shot("answer")
    ui.tap(id="finish")
    assert ui.screen == "rating"
    assert shows(ui, "How did we do today?") and shows(ui, "1 = poor, 5 = excellent")
    assert [f"rate:{n}" for n in range(1, 6)] == [i for i in ui.ids() if i.startswith("rate:")]
    ui.shot("rating")
    ui.tap(id="rate:5")
    assert ui.screen == "thanks"
    assert shows(ui, "Thank you!") and shows(ui, "cleared from this screen")
    ui.shot("thanks")
    assert new_ratings(kiosk, rated_before) == [(5, "en")]

    clock.now += kiosk.settings.ui.thanks_s - 1
    controller.tick()
    assert ui.screen == "thanks"
    clock.now += 1
    controller.tick()
    assert ui.screen == "attract"
    state = controller.state
    assert state.bubbles == () and state.card is None and state.qr_text is None and state.reference is None
    assert state.form is None and state.rating is None and state.topic_entries == ()
    assert "exchange" not in ui.text().lower()
    ui.shot("attract-again")


def test_a_long_topic_is_paged_and_back_goes_home(make_ui: MakeUi) -> None:
    ui = make_ui()
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    ui.tap(id="topic:cards")
    expected = [entry.value for entry in controller.state.topic_entries]
    assert len(expected) == 18
    seen: list[str] = []
    for page in range(10):
        seen += [i.removeprefix("entry:") for i in ui.ids() if i.startswith("entry:")]
        assert shows(ui, f"{page + 1} / ")
        ui.shot(f"topic-page-{page + 1}")
        if "page:next" not in ui.ids():
            break
        ui.tap(id="page:next")
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)
    ui.tap(id="page:previous")
    assert "page:next" in ui.ids()
    ui.tap(id="back")
    assert ui.screen == "home"


def test_typed_question_gets_an_answer(make_ui: MakeUi) -> None:
    ui = make_ui()
    ui.tap(id="touch_to_start")
    ui.tap(id="home:type_question")
    assert ui.screen == "form" and ui.ui.controller.state.form is not None
    assert shows(ui, "Type here")
    assert {"key:q", "key:space", "key:backspace", "key:submit", "back", "form:draft"} <= set(ui.ids())
    assert "cancel" not in ui.ids()  # nothing to cancel outside a flow
    ui.shot("keyboard-empty")
    ui.type("what is the exchange rate")
    assert ui.find(id="form:draft").text == "what is the exchange rate"
    ui.shot("keyboard-typed")
    ui.tap(id="key:submit")
    assert ui.screen == "answer"
    assert ui.find(id="answer:title").text == "What exchange rate do you use?"
    ui.shot("answer")
    ui.tap(id="conversation")
    assert ui.screen == "conversation"
    assert shows(ui, "interbank rate")
    ui.shot("conversation")
    ui.tap(id="chat:earlier")  # the long answer fills the screen; the question is one page back
    assert shows(ui, "what is the exchange rate") and "chat:later" in ui.ids()
    assert {"type_question", "speak", "talk_to_person", "finish"} <= set(ui.ids())
    ui.shot("conversation-earlier")


def test_lost_card_flow_files_a_ticket_with_the_reference_shown(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui()
    controller = ui.ui.controller
    tickets_before = keys(kiosk, "tickets")
    ui.tap(id="touch_to_start")
    ui.tap(id="home:type_question")
    ui.type("i think my card was stolen")
    ui.tap(id="key:submit")
    assert ui.screen == "form" and controller.state.form is not None
    assert controller.state.form.hint == "numpad"
    assert shows(ui, "last four digits")
    assert {"key:0", "key:9", "key:submit", "back", "cancel"} <= set(ui.ids())
    assert "key:q" not in ui.ids()
    ui.shot("numpad")
    for digit in "4821":
        ui.tap(id=f"key:{digit}")
    assert ui.find(id="form:draft").text == "4821"
    ui.shot("numpad-typed")
    ui.tap(id="key:submit")
    assert controller.state.form is not None and controller.state.form.hint == "yes_no"
    assert shows(ui, "ending 4821")
    ui.shot("yes-no")
    ui.tap(id="choice:yes")
    assert ui.screen == "ticket"
    reference = ui.find(id="ticket:reference").text
    assert reference.startswith("KB-") and reference == controller.state.reference
    assert shows(ui, "All done") and shows(ui, "Your reference") and shows(ui, "Keep this reference")
    assert [w.text for w in walk_all(ui.ui.widgets) if w.kind == "qr"] == [controller.state.qr_text]
    ui.shot("ticket")
    ticket = kiosk.tickets.get(reference)
    assert ticket is not None and ticket.reference == reference and ticket.type == "card_block"
    assert new_tickets(kiosk, tickets_before) == [ticket.id]


def test_cancel_leaves_a_flow_without_a_ticket(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui()
    tickets_before = keys(kiosk, "tickets")
    ui.tap(id="touch_to_start")
    ui.ui.controller.ask("I think my card was stolen")
    ui.ui.frame()
    assert ui.screen == "form"
    ui.tap(id="cancel")
    assert ui.screen == "conversation"
    assert shows(ui, "cancel")  # the customer's tap, as a bubble
    ui.shot("cancelled")
    assert new_tickets(kiosk, tickets_before) == []


def test_talk_to_a_person_shows_the_hand_off_with_its_reference(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui()
    ui.tap(id="touch_to_start")
    ui.tap(id="home:talk_to_person")
    assert ui.screen == "handoff"
    assert shows(ui, "A colleague is coming") and shows(ui, "they'll be with you shortly")
    assert shows(ui, "Keep this reference for any follow-up.")
    reference = ui.find(id="handoff:reference").text
    assert reference == ui.ui.controller.state.reference and reference.startswith("KB-")
    assert kiosk.tickets.get(reference) is not None
    assert {"ask_more", "finish"} <= set(ui.ids())
    ui.shot("handoff")
    ui.tap(id="ask_more")
    assert ui.screen == "home"


def test_appointment_by_day_time_and_topic_buttons(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui()
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    ui.tap(id="home:type_question")
    ui.type("i want to book an appointment")
    ui.tap(id="key:submit")
    form = controller.state.form
    assert form is not None and form.hint == "date"
    assert shows(ui, "Which day would suit you?")
    assert [i for i in ui.ids() if i.startswith("choice:")] == [f"choice:{c.value}" for c in form.choices]
    assert shows(ui, "Monday 23 November")  # Saturday 21: the next opening day
    ui.shot("date")
    ui.tap(id="choice:Tuesday 24 November")
    form = controller.state.form
    assert form is not None and form.hint == "time"
    assert {f"choice:{c.value}" for c in form.choices} <= set(ui.ids())  # every time slot on one screen
    ui.shot("time")
    ui.tap(id="choice:10:30")
    form = controller.state.form
    assert form is not None and form.hint == "choice"
    assert shows(ui, "Mortgage")
    ui.shot("topic-choice")
    ui.tap(id="choice:mortgage")
    assert shows(ui, "Tuesday 24 November at 10:30")
    ui.shot("confirm")
    ui.tap(id="choice:yes")
    assert ui.screen == "ticket"
    reference = ui.find(id="ticket:reference").text
    ticket = kiosk.tickets.get(reference)
    assert ticket is not None and ticket.type == "appointment"
    assert shows(ui, "Tuesday 24 November at 10:30")
    ui.shot("ticket")


def test_chinese_lost_card_flow(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui()
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    ui.tap(id="header:language_switch")
    ui.tap(id="home:type_question")
    assert shows(ui, "在此输入") and shows(ui, "发送")
    type_text(ui, "我的卡丢了")  # pinyin through the system input method
    assert ui.find(id="form:draft").text == "我的卡丢了"
    ui.shot("keyboard-zh")
    ui.tap(id="key:submit")
    form = controller.state.form
    assert form is not None and form.hint == "numpad"
    assert shows(ui, "最后四位") and shows(ui, "返回") and shows(ui, "取消")
    ui.shot("numpad-zh")
    for digit in "4821":
        ui.tap(id=f"key:{digit}")
    ui.tap(id="key:submit")
    assert shows(ui, "4821") and ui.find(id="choice:是").text == "是"
    ui.shot("yes-no-zh")
    ui.tap(id="choice:是")
    assert ui.screen == "ticket"
    assert shows(ui, "已办理") and shows(ui, "您的参考编号") and shows(ui, "请保留此编号") and shows(ui, "扫码带走")
    assert not shows(ui, "All done") and not shows(ui, "Your reference")
    reference = ui.find(id="ticket:reference").text
    ticket = kiosk.tickets.get(reference)
    assert ticket is not None and ticket.language == "zh" and ticket.type == "card_block"
    ui.shot("ticket-zh")
    ui.tap(id="finish")
    assert shows(ui, "您对本次服务满意吗") and shows(ui, "跳过")
    ui.shot("rating-zh")


def test_out_of_scope_question_offers_suggestions_that_work(make_ui: MakeUi) -> None:
    ui = make_ui()
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    ui.tap(id="home:type_question")
    ui.type("what is the weather like")
    ui.tap(id="key:submit")
    assert ui.screen == "conversation"
    suggestions = controller.state.suggestions
    assert suggestions and shows(ui, "You can also tap:")
    assert ui.find(id="suggestion:0").text == suggestions[0].label
    bubbles = [w for w in walk_all(ui.ui.widgets) if w.id.startswith("bubble:") and w.kind == "panel"]
    customer = [w for w in bubbles if w.style == "bubble_customer"]
    assistant = [w for w in bubbles if w.style == "bubble_assistant"]
    assert customer and assistant
    assert min(w.rect.right for w in customer) > max(w.rect.right for w in assistant)  # customer on the right
    assert bubbles[-1].rect.bottom == max(w.rect.bottom for w in bubbles)  # newest at the bottom
    ui.shot("conversation-suggestions")
    ui.tap(id="suggestion:0")
    assert controller.state.bubbles[-2].text == suggestions[0].value
    ui.shot("after-suggestion")


# --- large text, long answers, long input, rapid taps ----------------------------------------------------------


def longest_answer(kiosk: Kiosk, language: str) -> str:
    pack = kiosk.pack
    entries = [(i.id, i.answer, i.steps) for i in pack.intents] + [(f.id, f.answer, f.steps) for f in pack.faq]

    def size(entry: tuple[str, object, object]) -> int:
        _, answer, steps = entry
        return len(getattr(answer, language)) + sum(len(step) for step in getattr(steps, language))

    return max(entries, key=size)[0]


def test_answer_in_large_text_has_no_layout_problems(make_ui: MakeUi) -> None:
    ui = make_ui()
    ui.tap(id="touch_to_start")
    ui.tap(id="header:large_text")
    ui.tap(id="topic:exchange")
    ui.shot("topic-large")
    ui.tap(id="entry:exchange_rate")
    assert ui.ui.controller.state.large_text
    ui.shot("answer-large")
    for page in range(1, 10):
        if "page:next" not in ui.ids():
            break
        ui.tap(id="page:next")
        ui.shot(f"answer-large-page-{page + 1}")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_long_answer_pages_without_losing_a_word(make_ui: MakeUi, kiosk: Kiosk, language: Language) -> None:
    entry = longest_answer(kiosk, language)
    for size, large in ((SMALL, True), ((1280, 800), False), (PORTRAIT, True)):
        ui = make_ui(size)
        controller = ui.ui.controller
        controller.touch_start()
        controller.set_language(language)
        if large:
            controller.toggle_large_text()
        controller.choose(entry)
        assert ui.screen == "answer"
        card = controller.state.card
        assert card is not None
        if size == SMALL:
            assert "page:next" in ui.ids() and "page:previous" not in ui.ids()
        shown = []
        for page in range(30):
            ui.shot(f"{language}-page-{page + 1}")
            shown.append("\n".join(run.text for run in ui.ui.report.runs if run.widget_id.startswith("answer:")))
            if "page:next" not in ui.ids():
                break
            ui.tap(id="page:next")
        everything = squeeze("\n".join(shown))
        heading = [t("steps", language)] if card.steps else []
        for part in (card.title, card.body, *heading, *card.steps):
            assert squeeze(part) in everything, part
        ui.ui.close()


def test_very_long_typed_text_breaks_nothing(make_ui: MakeUi) -> None:
    ui = make_ui()
    controller = ui.ui.controller
    ui.tap(id="touch_to_start")
    ui.tap(id="home:type_question")
    ui.type("my name is ")
    name = ("Bartholomew Fitzwilliam-Montgomery " * 9)[: 300 - len("my name is ")]
    type_text(ui, name)
    form = controller.state.form
    assert form is not None and len(form.draft) == 300
    assert ui.find(id="form:draft").text.endswith(name[-5:])
    ui.shot("keyboard-300")
    type_text(ui, "x" * 400)
    assert controller.state.form is not None and len(controller.state.form.draft) == form.max_chars
    for _ in range(form.max_chars - 300):
        controller.backspace()
    ui.tap(id="key:submit")
    ui.shot("after-300")
    ui.tap(id="header:home")
    controller.show_conversation()
    ui.ui.frame()
    index, said = next((i, b.text) for i, b in enumerate(controller.state.bubbles) if name[:40] in b.text)
    pieces = []  # the long bubble, split over the chat's pages, newest part first
    for page in range(10):
        ui.shot(f"conversation-300-{page + 1}")
        pieces.append("".join(r.text for r in ui.ui.report.runs if r.widget_id == f"bubble:{index}:text"))
        if "chat:earlier" not in ui.ids():
            break
        ui.tap(id="chat:earlier")
        assert "chat:later" in ui.ids()
    assert squeeze("".join(reversed(pieces))) == squeeze(said)  # every character reachable, none cut


def test_rapid_taps_file_one_ticket_and_one_rating(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui(synchronous=False)  # the real worker thread: taps during an action are ignored
    controller = ui.ui.controller
    tickets_before, rated_before = keys(kiosk, "tickets"), keys(kiosk, "ratings")

    def taps(id: str, times: int = 5) -> None:
        ui.ui.runner.wait()  # the UI loop's idle-timer tick must not swallow the first tap
        time.sleep(ui.ui.new_screen_guard_s)  # a screen ignores touches for a moment after it appears
        position = ui.find(id=id).rect.center
        for _ in range(times):
            for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                pygame.event.post(pygame.event.Event(kind, pos=position, button=1))
        ui.ui.pump()
        ui.ui.runner.wait()
        ui.ui.frame()

    time.sleep(ui.ui.new_screen_guard_s)
    ui.tap(id="touch_to_start")
    controller.ask("I think my card was stolen")
    ui.ui.frame()
    time.sleep(ui.ui.new_screen_guard_s)
    for digit in "4821":
        ui.tap(id=f"key:{digit}")
    taps("key:submit")
    assert controller.state.form is not None and controller.state.form.hint == "yes_no"
    taps("choice:yes")
    assert ui.screen == "ticket"
    assert len(new_tickets(kiosk, tickets_before)) == 1
    ui.shot("ticket")
    taps("finish")
    assert ui.screen == "rating"
    taps("rate:4")
    assert ui.screen == "thanks"  # the double taps did not go on to the thank-you screen's tap-anywhere
    assert new_ratings(kiosk, rated_before) == [(4, "en")]
    assert len(new_tickets(kiosk, tickets_before)) == 1
    assert not shows(ui, "4821")


def test_skip_rating_thanks_without_a_rating(make_ui: MakeUi, kiosk: Kiosk) -> None:
    ui = make_ui()
    rated_before = keys(kiosk, "ratings")
    ui.tap(id="touch_to_start")
    ui.tap(id="home:talk_to_person")
    ui.tap(id="finish")
    ui.tap(id="skip")
    assert ui.screen == "thanks"
    assert new_ratings(kiosk, rated_before) == []


# --- every screen at the smallest and the portrait size, in both languages -------------------------------------


def visit_every_screen(controller: KioskController, language: Language, look: Callable[[str], None]) -> None:
    """Walks one controller through every screen this module draws, calling ``look`` on each."""
    zh = language == "zh"
    controller.touch_start()
    controller.set_language(language)
    controller.open_topic("cards")
    look("topic")
    controller.choose(longest_answer(controller.kiosk, language))
    look("answer")
    controller.ask("今天天气怎么样" if zh else "what's the weather like")
    controller.ask("怎么修改密码" if zh else "how do I change my PIN?")  # a second decline in a row would hand off
    controller.ask(("巴塞洛缪" if zh else "Bartholomew ") * 25)
    controller.show_conversation()
    look("conversation")
    controller.start_typing()
    look("form-keyboard")
    controller.set_activity("listening", "我的卡" if zh else "I lost my")
    look("form-keyboard-listening")
    controller.set_activity("idle")
    controller.type_text("x" * 300)
    look("form-keyboard-300")
    controller.go_home()
    controller.ask("我想投诉" if zh else "I want to make a complaint")
    if controller.state.screen == "form":
        look("form-complaint")
    controller.ask("取消" if zh else "cancel")
    controller.ask("我的卡丢了" if zh else "I lost my card")
    look("form-numpad")
    controller.set_activity("listening", "4 8")  # the caption bar takes its share of the screen
    look("form-numpad-listening")
    controller.set_activity("idle")
    controller.type_text("4821")
    controller.submit()
    look("form-yes-no")
    controller.submit("是" if zh else "yes")
    look("ticket")
    controller.ask("我想预约" if zh else "I want to book an appointment")
    look("form-date")
    controller.submit(controller.state.form.choices[1].value if controller.state.form else "")
    look("form-time")
    controller.submit(controller.state.form.choices[3].value if controller.state.form else "")
    look("form-choice")
    controller.submit(controller.state.form.choices[0].value if controller.state.form else "")
    look("form-confirm")
    controller.request_staff()
    look("handoff")
    controller.finish()
    look("rating")
    controller.rate(3)
    look("thanks")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_screen_fits_small_and_portrait_screens(make_ui: MakeUi, kiosk: Kiosk, language: Language) -> None:
    controller = KioskController(lambda: kiosk, today=lambda: TODAY)
    visited: list[str] = []

    def look(name: str) -> None:
        visited.append(controller.state.screen)
        for size in (SMALL, PORTRAIT):
            ui = make_ui(size, controller=controller)
            for large in (False, True):
                if controller.state.large_text != large:
                    controller.toggle_large_text()
                ui.ui.page = 0
                for page in range(20):  # every page of a long answer or list, every page of the chat
                    ui.shot(f"{name}{'-large' if large else ''}-{page + 1}")
                    following = [i for i in ("page:next", "chat:earlier") if i in ui.ids()]
                    if not following:
                        break
                    ui.tap(id=following[0])
            if controller.state.large_text:
                controller.toggle_large_text()
            ui.ui.close()

    try:
        visit_every_screen(controller, language, look)
    finally:
        controller.detach()
    expected = {"topic", "conversation", "answer", "form", "ticket", "handoff", "rating", "thanks"}
    assert expected <= set(visited)
