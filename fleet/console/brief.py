"""A hand-off's brief for the colleague who takes it: what the customer wants, what the kiosk already tried,
their mood, and suggested answers, made from the ticket's transcript and the domain pack, on the backend.

The kiosk's own models already read every turn: the ticket carries the intent the intent model settled on,
the intent of each answer in the transcript and the sentiment model's verdict. The brief puts those in words
and looks their answers up in the pack (``packs/<name>/intents.yaml`` and ``faq.yaml``: ids, titles and answers
in English and Chinese), so the colleague can read out what the kiosk would have said, or go beyond it. No
cloud service and no model runs here: the brief costs a dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PACK = Path(__file__).resolve().parents[2] / "packs" / "bank"
MAX_SUGGESTIONS = 3
MOODS = {
    "negative": ("unhappy", "不满意"),
    "positive": ("happy", "满意"),
    "neutral": ("calm", "平静"),
}


@dataclass(frozen=True)
class PackEntry:
    id: str
    title: dict[str, str]
    answer: dict[str, str]


@dataclass(frozen=True)
class Brief:
    wants: str  # what the customer wants, in words
    tried: list[str]  # what the kiosk already answered (titles), oldest first
    mood: str
    turns: int  # how many times the customer spoke
    suggestions: list[PackEntry] = field(default_factory=list)

    def to_dict(self, language: str) -> dict[str, Any]:
        """As JSON, the suggested answers in ``language`` (the customer's, to read out)."""
        return {
            "wants": self.wants,
            "tried": self.tried,
            "mood": self.mood,
            "customer_turns": self.turns,
            "suggestions": [
                {"id": s.id, "title": _pick(s.title, language), "answer": _pick(s.answer, language)}
                for s in self.suggestions
            ],
        }


def _pick(text: dict[str, str], language: str) -> str:
    return text.get(language) or text.get("en") or next(iter(text.values()), "")


class PackAnswers:
    """The pack's intents and FAQ entries by id. A missing or unreadable pack gives briefs without suggestions
    (the console still works), and says so once in ``problem``."""

    def __init__(self, pack_dir: Path | None = None) -> None:
        self.entries: dict[str, PackEntry] = {}
        self.problem: str | None = None
        folder = pack_dir or DEFAULT_PACK
        for name, title_key in (("intents.yaml", "title"), ("faq.yaml", "question")):
            try:
                with (folder / name).open(encoding="utf-8") as file:
                    items = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or []
            except (OSError, yaml.YAMLError) as exc:
                self.problem = f"{folder / name}: {exc}"
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("answer"), dict):
                    entry = PackEntry(str(item["id"]), dict(item.get(title_key) or {}), dict(item["answer"]))
                    self.entries[entry.id] = entry

    def brief(self, ticket: dict[str, Any], language: str) -> Brief:
        """The brief of a ticket's wire payload (``TicketV1`` as JSON), in the console's ``language``."""
        transcript = ticket.get("transcript") or []
        answered = [turn.get("intent") for turn in transcript if turn.get("role") == "assistant"]
        topics = list(dict.fromkeys(i for i in [ticket.get("intent"), *reversed(answered)] if i))
        known = [self.entries[topic] for topic in topics if topic in self.entries]
        wants = _pick(known[0].title, language) if known else (ticket.get("summary") or "")
        tried = [_pick(self.entries[i].title, language) for i in dict.fromkeys(answered) if i in self.entries]
        mood = MOODS.get(ticket.get("sentiment") or "neutral", MOODS["neutral"])[language == "zh"]
        turns = sum(1 for turn in transcript if turn.get("role") == "customer")
        return Brief(wants, tried, mood, turns, known[:MAX_SUGGESTIONS])
