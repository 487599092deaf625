"""The staff console's answer on the hand-off screen: a colleague's news of the visit's hand-off ticket, as it
arrives on the kiosk's bus (from the sync link's thread), is shown by name in the visit's language; news of any
other ticket is not, and the news leaves with the visit. Real kiosk (intent model, bank pack, SQLite), real
pygame drawing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_app.app import Kiosk
from firmware_app.events import HandoffUpdate, Reply
from firmware_app.screen.controller import KioskController
from firmware_app.screen.state import HandoffView
from kiosk_link.wire import HandoffState
from kiosk_ui.app import KioskUI
from tests.conftest import fixed_today
from tests.fakes import FakeClock
from tests.ui_driver import UiDriver

SMALL = (800, 480)


@pytest.fixture()
def desk(kiosk: Kiosk) -> Iterator[KioskController]:
    """A visit that asked for a colleague: on the hand-off screen, its ticket filed."""
    controller = KioskController(lambda: kiosk, clock=FakeClock(), today=fixed_today)
    controller.touch_start()
    controller.request_staff()
    yield controller
    controller.detach()


def ticket_of(desk: KioskController) -> HandoffView:
    handoff = desk.state.handoff
    assert desk.state.screen == "handoff" and handoff is not None
    return handoff


def tell(desk: KioskController, ticket_id: str, state: HandoffState, colleague: str = "Ana") -> None:
    """The staff console's news as the kiosk's link delivers it (an event on the bus), then the screen's tick."""
    reference = desk.state.reference or "KB-00000000"
    desk.kiosk.bus.publish(HandoffUpdate(ticket_id=ticket_id, reference=reference, state=state, colleague=colleague))
    desk.tick()


def test_the_hand_off_screen_names_the_colleague_in_the_visits_language(desk: KioskController) -> None:
    handoff = ticket_of(desk)
    filed = desk.kiosk.tickets.get(desk.state.reference or "")
    assert filed is not None and filed.id == handoff.ticket_id and handoff.line("en") is None

    tell(desk, handoff.ticket_id, "coming")
    assert ticket_of(desk).line(desk.state.language) == "Ana is on the way to you"
    desk.set_language("zh")
    assert ticket_of(desk).line(desk.state.language) == "Ana 正在赶来为您服务"

    tell(desk, handoff.ticket_id, "pending")
    assert ticket_of(desk).line("en") == "Ana is looking into your request. Please wait a moment."
    tell(desk, handoff.ticket_id, "closed")
    assert ticket_of(desk).line("en") == f"Your request {desk.state.reference} is closed. Thank you."
    assert ticket_of(desk).line("zh") == f"您的请求 {desk.state.reference} 已处理完毕，谢谢。"


def test_news_of_another_ticket_is_ignored_and_the_news_leaves_with_the_visit(desk: KioskController) -> None:
    handoff = ticket_of(desk)
    tell(desk, str(uuid.uuid4()), "coming", colleague="Bo")  # an earlier visit's hand-off
    assert desk.state.handoff == handoff

    tell(desk, handoff.ticket_id, "coming")
    desk.finish()
    assert desk.state.handoff is None
    desk.touch_start()
    desk.request_staff()  # the next visit's hand-off: the last visit's news does not reach it
    tell(desk, handoff.ticket_id, "closed")
    assert ticket_of(desk).ticket_id != handoff.ticket_id and ticket_of(desk).line("en") is None


@pytest.mark.parametrize("size", [(1280, 800), SMALL])
def test_the_hand_off_screen_draws_the_news(
    desk: KioskController, screenshot_dir: Path, request: pytest.FixtureRequest, size: tuple[int, int]
) -> None:
    ui = UiDriver(KioskUI(desk, size, synchronous=True), screenshot_dir / request.node.name)
    try:
        assert "A colleague is coming" in ui.text()
        tell(desk, ticket_of(desk).ticket_id, "coming")
        assert "Ana is on the way to you" in ui.text() and "A colleague is coming" not in ui.text()
        assert ui.find(id="handoff:reference").text == desk.state.reference
        ui.shot("handoff-coming")  # and its layout is clean: nothing cut off or overlapping
        desk.set_language("zh")
        assert "Ana 正在赶来为您服务" in ui.text()
        ui.shot("handoff-coming-zh")
    finally:
        ui.ui.close()


def test_the_news_is_also_said_aloud_once_for_the_visits_ticket_only(desk: KioskController) -> None:
    """A connected voice pipeline speaks every reply published outside a turn: the news goes on the bus as one."""
    said: list[Reply] = []
    desk.kiosk.bus.subscribe(lambda event: said.append(event) if isinstance(event, Reply) else None)
    tell(desk, str(uuid.uuid4()), "coming", colleague="Bo")  # another visit's ticket: nothing said
    assert said == []
    filed = desk.kiosk.tickets.get(ticket_of(desk).ticket_id)
    assert filed is not None and filed.session_id
    tell(desk, ticket_of(desk).ticket_id, "coming")
    assert [(r.text, r.kind, r.session_id) for r in said] == [("Ana is on the way to you", "info", filed.session_id)]
    assert desk.state.screen == "handoff"  # the screen stays where it is
