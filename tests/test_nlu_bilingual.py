"""Understanding in both languages: the multilingual model for Chinese, its second opinion for English."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_app.app import Kiosk
from firmware_app.config import KioskSettings
from firmware_app.nlu.engine import NluEngine
from tests.test_dialogue import converse


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我的银行卡丢了", "lost_or_stolen_card"),
        ("我的卡被取款机吞了", "card_swallowed"),
        ("转账到别的银行要多久", "transfer_timing"),
        ("你们周六开门吗", "opening_hours"),
        ("我想改一下银行卡密码", "change_pin"),
        ("我的virtual card在网上付不了款", "virtual_card_not_working"),
    ],
)
def test_chinese_and_mixed_questions_are_understood_by_a_model(nlu: NluEngine, text: str, intent: str) -> None:
    result = nlu.understand(text, "zh").result
    assert (result.language, result.intent) == ("zh", intent)


def test_the_english_model_asks_the_multilingual_one_about_faq_questions(nlu: NluEngine) -> None:
    assert nlu.understand("how do I make a complaint").result.intent == "make_complaint"
    assert nlu.understand("I ordered a new card two weeks ago and it still hasn't come").result.intent == "card_arrival"


@pytest.mark.parametrize(
    ("text", "act"),
    [("冻结我的卡", "block_card"), ("有没有真人啊？我要人工服务", "human"), ("谢谢你，帮了大忙", "thanks")],
)
def test_kiosk_level_intents_become_dialogue_acts(nlu: NluEngine, text: str, act: str) -> None:
    understanding = nlu.understand(text, "zh")
    assert act in understanding.acts and understanding.result.intent == "oos"


def test_a_bare_yes_is_never_read_as_goodbye(nlu: NluEngine) -> None:
    for text in ("对", "对的", "是的", "好的"):
        assert nlu.understand(text, "zh").result.dialogue_act == "affirm"


def test_chinese_faq_search_has_a_semantic_score(kiosk: Kiosk) -> None:
    understanding = kiosk.nlu.understand("你们的客服电话是多少", "zh")
    hits = kiosk.knowledge.search(understanding.result.text, "zh", query_vector=understanding.embedding)
    assert hits[0].entry_id == "contact_details" and hits[0].similarity > 0.5


def test_a_lost_card_said_in_chinese_is_blocked_with_the_ending_from_the_first_sentence(kiosk: Kiosk) -> None:
    session, [first, done] = converse(kiosk, "我的银行卡丢了，尾号四八一二", "是的", language="zh")
    assert first.kind == "confirm" and "4812" in first.text and first.language == "zh"
    assert done.kind == "done" and session.flow is None


def test_a_new_model_re_embeds_the_pack(settings: KioskSettings, tmp_path: Path) -> None:
    """The FAQ vectors belong to the models that made them: a kiosk whose models changed embeds the pack again."""
    scoped = settings.model_copy(update={"data_dir": tmp_path})
    first = Kiosk(scoped)
    embedder = first.knowledge.embedder
    first.db.execute("UPDATE packs SET embedder = 'en:an-older-model'")
    first.close()
    second = Kiosk(scoped)
    installed = second.knowledge.installed_version(second.pack.manifest.id)
    second.close()
    assert installed is not None and installed[2] == embedder
