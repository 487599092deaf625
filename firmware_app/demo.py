"""``kiosk demo``: real conversations on the bank pack, turn by turn, through the same code a customer uses.

Each script is a list of customer inputs; ``@entry_id`` stands for a tap on a topic tile. Nothing here is
canned on the kiosk's side: every reply comes from the intent model, the knowledge store and the dialogue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from firmware_app.app import Kiosk
from firmware_app.events import Language, TicketCreated
from firmware_app.reply_text import format_reply

DEMO_SCRIPTS: list[tuple[str, Language, list[str]]] = [
    (
        "A question, a follow-up in context, goodbye",
        "en",
        [
            "Hi",
            "I ordered a new card two weeks ago and it still hasn't come",
            "and how long does that take?",
            "thanks, bye",
        ],
    ),
    (
        "A stolen card: confirm the last four digits, block, ticket",
        "en",
        ["I think my card was stolen", "it ends in 4821", "yes"],
    ),
    (
        "Booking an appointment, with a correction",
        "en",
        ["I'd like to book an appointment", "next Tuesday at 3pm", "about my mortgage", "no, I meant Wednesday", "yes"],
    ),
    (
        "A complaint",
        "en",
        [
            "I want to make a complaint",
            "The cash machine outside kept my card and nobody answered the phone",
            "you can reach me on 07911 123456",
            "yes",
        ],
    ),
    ("Touch: tapping topic tiles", "en", ["@exchange_rate", "@opening_hours"]),
    (
        "General FAQ and out-of-scope questions, then a colleague",
        "en",
        [
            "Do you have a hearing loop?",
            "what's the weather going to be like tomorrow?",
            "can you recommend a pizza place?",
        ],
    ),
    (
        "An unhappy customer is handed to a colleague",
        "en",
        [
            "My transfer failed again, this is ridiculous",
            "I've been waiting for weeks, this is useless",
            "I'm fed up with this bank",
        ],
    ),
    ("The customer asks for a person", "en", ["Can I speak to a real person please?"]),
    ("Simplified Chinese", "zh", ["我的卡丢了", "尾号是 4821", "是", "我想预约", "下周二下午3点", "房贷", "是"]),
    (
        "Bad input is answered, not crashed on",
        "en",
        ["", "\x00\x01\xff binary junk \x7f", "hello " * 2000, "我想问 about the exchange rate"],
    ),
]


def run_demo(kiosk: Kiosk, echo: Callable[[str], None], kept_in: Path | None = None) -> None:
    """Play every script; ``kept_in``: the data folder the tickets stay in (None: a throwaway one)."""
    filed: list[str] = []
    kiosk.bus.subscribe(lambda e: filed.append(e.reference) if isinstance(e, TicketCreated) else None)
    for number, (title, language, turns) in enumerate(DEMO_SCRIPTS, 1):
        echo(f"\n=== {number}. {title} ===")
        session, greeting = kiosk.start_session(language)
        echo(format_reply(greeting))
        for text in turns:
            shown = text if len(text) <= 80 else text[:77] + "..."
            echo(f"Customer: {shown!r}" if not text.isprintable() or not text else f"Customer: {shown}")
            reply = kiosk.choose(session, text[1:]) if text.startswith("@") else kiosk.handle_text(session, text)
            echo(format_reply(reply))
            if session.ended:
                break
        if not session.ended:
            kiosk.end_session(session, "reset")
    see = f"see them with: kiosk --data-dir {kept_in} tickets list" if kept_in else "gone with the throwaway folder"
    echo(f"\nTickets filed in this demo: {', '.join(filed) or 'none'} ({see})")
    kiosk.close()
