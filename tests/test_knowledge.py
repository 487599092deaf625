"""The knowledge store: English word search, Chinese trigram search and its short-query fallback, meaning."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from firmware_app.app import Kiosk
from firmware_app.events import Language
from firmware_app.knowledge.base import Embed, KnowledgeBase
from firmware_app.packs import load_pack
from firmware_app.store import open_database


def top(kiosk: Kiosk, query: str, lang: str = "en") -> str:
    hits = kiosk.knowledge.search(query, lang)  # type: ignore[arg-type]
    assert hits, f"nothing found for {query!r}"
    return hits[0].entry_id


def test_every_intent_and_faq_entry_is_stored_in_both_languages(kiosk: Kiosk) -> None:
    rows = kiosk.db.execute("SELECT lang, kind, COUNT(*) FROM faq GROUP BY lang, kind ORDER BY lang, kind").fetchall()
    counts = {(lang, kind): n for lang, kind, n in rows}
    assert counts[("en", "intent")] == counts[("zh", "intent")] == 77
    assert counts[("en", "faq")] == counts[("zh", "faq")] == len(kiosk.pack.faq)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("opening hours", "opening_hours"),
        ("hearing loop", "accessibility"),
        ("change my PIN", "change_pin"),
    ],
)
def test_english_word_search(kiosk: Kiosk, query: str, expected: str) -> None:
    assert top(kiosk, query) == expected


def test_semantic_search_finds_a_paraphrase_with_no_shared_words(kiosk: Kiosk) -> None:
    hits = kiosk.knowledge.search("when do you guys close on saturdays", "en")
    assert hits[0].entry_id == "opening_hours" and hits[0].similarity >= kiosk.settings.nlu.faq_answer_similarity


@pytest.mark.parametrize(("query", "expected"), [("营业时间", "opening_hours"), ("我的卡丢了", "lost_or_stolen_card")])
def test_chinese_trigram_search(kiosk: Kiosk, query: str, expected: str) -> None:
    assert top(kiosk, query, "zh") == expected


@pytest.mark.parametrize("query", ["汇率", "卡"])
def test_chinese_one_and_two_character_queries_fall_back_to_substring_search(kiosk: Kiosk, query: str) -> None:
    hits = kiosk.knowledge.search(query, "zh")
    assert hits and all(query in h.question + h.answer or h.kind for h in hits)
    assert query in hits[0].question or query in hits[0].answer


@pytest.mark.parametrize("query", ["", "   ", '"', "AND OR NOT", "*", "((", "'; DROP TABLE faq; --"])
def test_odd_queries_do_not_break_the_full_text_syntax(kiosk: Kiosk, query: str) -> None:
    kiosk.knowledge.search(query, "en")
    kiosk.knowledge.search(query, "zh")


def test_reinstalling_a_changed_pack_replaces_its_content(kiosk: Kiosk, tmp_path: Path) -> None:
    pack_copy = tmp_path / "bank"
    shutil.copytree(kiosk.pack.path, pack_copy)
    faq = pack_copy / "faq.yaml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("Wi-Fi", "Wireless internet"), encoding="utf-8")
    db = open_database(tmp_path / "k.db")
    knowledge = KnowledgeBase(db)
    knowledge.install_pack(kiosk.pack)
    changed = load_pack(pack_copy)
    knowledge.install_pack(changed)
    assert knowledge.installed_version("bank") == (changed.manifest.version, changed.content_sha256, "")
    assert db.execute("SELECT COUNT(*) FROM faq").fetchone()[0] == 2 * (77 + len(changed.faq))
    assert db.execute("SELECT COUNT(*) FROM faq WHERE answer LIKE '%Wireless internet%'").fetchone()[0] >= 1
    assert knowledge.search("wireless internet", "en")


def test_a_pack_embedded_once_installs_from_the_vector_cache(kiosk: Kiosk, tmp_path: Path) -> None:
    """A second database gets the same vectors without running the encoder; a damaged cache file is redone."""
    encoders = kiosk.knowledge.embed
    calls: list[int] = []

    def counted(language: Language) -> Embed:
        def embed(texts: Sequence[str]) -> np.ndarray:
            calls.append(len(texts))
            return encoders[language](texts)

        return embed

    def install(name: str) -> list[tuple[str, str, bytes]]:
        db = open_database(tmp_path / name)
        embed = {language: counted(language) for language in encoders}
        KnowledgeBase(db, embed, "test-embedder", vector_cache=tmp_path / "cache").install_pack(kiosk.pack)
        return list(db.execute("SELECT entry_id, lang, vector FROM faq ORDER BY entry_id, lang").fetchall())

    first = install("a.db")
    assert calls
    assert len(list((tmp_path / "cache").glob("pack-vectors-*.npz"))) == 1
    calls.clear()
    assert install("b.db") == first and not calls
    (cached,) = (tmp_path / "cache").glob("pack-vectors-*.npz")
    cached.write_bytes(b"not a numpy file")
    assert install("c.db") == first and calls
