"""Visits the way customers really talk: digits in any form, corrections, side questions, one hand-off."""

from __future__ import annotations

import pytest

from firmware_app.app import Kiosk
from firmware_app.events import Event, HandoffRequested, TicketCreated, TicketRequested
from firmware_app.nlu.digits import spell_out_digits
from tests.test_dialogue import converse, ticket_count


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("last four are three one one nine", "last four are 3119"),
        ("four eight one two", "4812"),
        ("4 8 1 2", "4812"),
        ("double seven eight one", "7781"),
        ("尾号四八一二", "尾号4812"),
        ("尾号幺二八八", "尾号1288"),
        ("三零九六", "3096"),
        ("I have one card and two accounts", "I have one card and two accounts"),
        ("三天前", "三天前"),
        ("oh, four eight one two", "oh, 4812"),
        ("£3.40 both times", "£3.40 both times"),
        ("07700 900123", "07700 900123"),
        ("十点半", "十点半"),
    ],
)
def test_digit_strings_are_read_however_they_are_said(said: str, written: str) -> None:
    assert spell_out_digits(said) == written


def _tickets(events: list[Event]) -> list[TicketCreated]:
    return [e for e in events if isinstance(e, TicketCreated)]


def _requests(events: list[Event]) -> list[TicketRequested]:
    return [e for e in events if isinstance(e, TicketRequested)]


@pytest.mark.parametrize(
    "opening",
    ["I need to block my card", "block my card", "cancel my card, my wallet was taken", "freeze my card please"],
)
def test_asking_to_block_a_card_starts_the_block_flow(kiosk: Kiosk, opening: str) -> None:
    session, [reply] = converse(kiosk, opening)
    assert session.flow is not None and session.flow.flow_id == "lost_card"
    assert reply.input_hint == "numpad"


@pytest.mark.parametrize(
    ("digits", "last4"),
    [("four seven zero two", "4702"), ("it's 9903", "9903"), ("４８１２", "4812"), ("4 5 1 2", "4512")],
)
def test_card_endings_in_any_form_reach_the_confirmation(kiosk: Kiosk, digits: str, last4: str) -> None:
    session, [_, reply] = converse(kiosk, "my card was stolen", digits)
    assert reply.kind == "confirm" and last4 in reply.text
    assert session.flow is not None and session.flow.slots["card_last4"].value == last4


def test_digits_in_the_first_sentence_do_not_derail_the_intent(kiosk: Kiosk, events: list[Event]) -> None:
    _session, [first, _second] = converse(kiosk, "stolen card ending 6617 please cancel it", "yes")
    assert first.kind == "confirm" and "6617" in first.text
    [request] = _requests(events)
    assert (request.ticket_type, request.fields) == ("card_block", {"card_last4": "6617"})


def test_a_correction_with_a_value_replaces_it_and_asks_again(kiosk: Kiosk, events: list[Event]) -> None:
    _, replies = converse(kiosk, "lost my card, ending 4821", "no sorry, it's 4812 not 4821", "yes that's right")
    assert replies[1].kind == "confirm" and "4812" in replies[1].text
    [request] = _requests(events)
    assert request.fields == {"card_last4": "4812"}


def test_a_correction_without_a_value_asks_for_it(kiosk: Kiosk) -> None:
    session, [_, reply] = converse(kiosk, "lost my card, ending 4821", "no")
    assert session.flow is not None and session.flow.awaiting == "change"
    assert "digits" in reply.text


def test_a_full_card_number_keeps_only_its_last_four_and_warns(kiosk: Kiosk, events: list[Event]) -> None:
    session, [_, reply] = converse(kiosk, "my card was stolen", "4111 1111 1111 1234")
    assert "never give anyone your full card number" in reply.text
    assert reply.kind == "confirm" and "1234" in reply.text
    said = [turn.text for turn in session.transcript if turn.role == "customer"]
    assert "4111" not in " ".join(said) and "1111" not in " ".join(said)
    published = [e for e in events if hasattr(e, "text") and e.type == "nlu_result"]
    assert all("4111 1111" not in e.text for e in published)  # type: ignore[attr-defined]


def test_a_side_question_in_the_flow_is_answered_and_the_flow_goes_on(kiosk: Kiosk) -> None:
    session, [_, aside, after] = converse(
        kiosk, "someone nicked my wallet, i need my card stopped", "what time do you close today?", "it ends in 0394"
    )
    assert aside.card is not None and aside.card.source_id == "opening_hours"
    assert aside.flow == "lost_card" and session.flow is not None
    assert after.kind == "confirm" and "0394" in after.text


def test_cancel_clears_the_flow_and_its_context(kiosk: Kiosk) -> None:
    session, [_, cancelled, question] = converse(
        kiosk, "my card was stolen", "actually forget it, I found it", "how do I change my PIN?"
    )
    assert session.flow is None and cancelled.kind == "info"
    assert question.intent == "change_pin"


def test_an_appointment_takes_everything_said_in_the_first_sentence(kiosk: Kiosk) -> None:
    session, [reply] = converse(kiosk, "Make an appointment to speak to someone about a mortgage next Tuesday at 2pm")
    assert reply.kind == "confirm"
    assert session.flow is not None and session.flow.slots["topic"].value == "mortgages"


def test_one_hand_off_per_visit_and_no_flow_after_it(kiosk: Kiosk, events: list[Event]) -> None:
    before = ticket_count(kiosk)
    session, replies = converse(
        kiosk, "can I speak to a human please", "hurry up", "get me your manager", "my card was stolen"
    )
    assert next(r.kind for r in replies) == "handoff"
    assert ticket_count(kiosk) == before + 1
    assert session.flow is None and all(r.kind != "handoff" for r in replies[1:])
    [handoff] = [e for e in events if isinstance(e, HandoffRequested)]
    assert handoff.reason == "asked"


def test_the_hand_off_ticket_says_why_and_holds_the_kiosks_last_reply(kiosk: Kiosk) -> None:
    _session, replies = converse(kiosk, "this is ridiculous", "useless. completely useless", "an absolute joke")
    assert replies[-1].kind == "handoff"
    ticket = kiosk.tickets.get(replies[-1].ticket_id or "")
    assert ticket is not None and "frustrated" in ticket.summary and ticket.priority == "high"
    assert ticket.transcript[-1]["role"] == "assistant" and ticket.reference in ticket.transcript[-1]["text"]


def test_out_of_scope_twice_is_the_reason_given(kiosk: Kiosk, events: list[Event]) -> None:
    converse(kiosk, "what's the weather like tomorrow?", "who won the football last night?")
    [handoff] = [e for e in events if isinstance(e, HandoffRequested)]
    assert handoff.reason == "out_of_scope_twice"


def test_angry_chinese_customers_are_handed_off(kiosk: Kiosk) -> None:
    _, replies = converse(
        kiosk, "什么破银行，一点用都没有", "气死我了，每次都这样", "你这破机器有什么用，垃圾", language="zh"
    )
    assert [r.kind for r in replies][-1] == "handoff"
    assert replies[-1].language == "zh"


def test_thanks_is_not_declined(kiosk: Kiosk) -> None:
    _, replies = converse(kiosk, "thanks very much", "Lovely, thank you.", "ok cool thanks")
    assert all(r.kind == "info" for r in replies)


def test_the_reply_follows_the_language_of_the_turn(kiosk: Kiosk) -> None:
    _, [zh, en] = converse(kiosk, "你们几点关门", "what time do you close?", language="zh")
    assert (zh.language, en.language) == ("zh", "en")


def test_a_short_question_the_model_cannot_place_is_read_with_the_previous_one(kiosk: Kiosk) -> None:
    """No pronoun, no "and": only the previous question says what "the rate" is about."""
    _, [_, reply] = converse(kiosk, "can i swap my pounds for euros in the app", "whats the rate like today roughly")
    assert reply.intent == "exchange_rate"


def test_a_confidently_unrelated_question_is_not_swallowed_by_the_previous_topic(kiosk: Kiosk) -> None:
    _, [_, reply] = converse(
        kiosk, "can i swap my pounds for euros in the app", "can you recommend a good pub near here"
    )
    assert reply.intent is None and reply.kind != "answer"


def test_what_about_a_new_thing_answers_about_the_new_thing(kiosk: Kiosk) -> None:
    _, [first, second] = converse(
        kiosk,
        "is there a fee for taking cash out of a machine abroad?",
        "what about paying for things by card in shops",
    )
    assert first.intent != second.intent == "card_payment_fee_charged"
