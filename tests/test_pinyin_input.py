"""The pinyin input method: candidates from the bank pack and the general table, and the controller's
composition (letters → candidates → text) on a Chinese keyboard."""

from __future__ import annotations

import time

import pytest

from firmware_app.packs import Pack
from firmware_app.screen.controller import KioskController
from firmware_app.screen.pinyin import DATA_FILE, PinyinInput, build, for_pack, gb2312_hanzi, pack_texts


@pytest.fixture(scope="module")
def ime(pack: Pack) -> PinyinInput:
    return for_pack(pack)


def pack_says(pack: Pack, word: str) -> bool:
    return any(word in text for text, _ in pack_texts(pack))


def test_whole_pinyin_and_its_short_forms_find_the_word(ime: PinyinInput) -> None:
    assert ime.candidates("huilv")[0] == "汇率"
    assert ime.candidates("huil")[0] == "汇率"  # the last syllable cut short
    assert ime.candidates("hl")[0] == "汇率"  # initials only
    assert ime.candidates("HuiLv")[0] == "汇率"
    assert ime.candidates("kapian")[0] == "卡片"
    assert ime.candidates("zhanghu")[0] == "账户"
    assert ime.candidates("yinhang")[0] == "银行"  # 行 read hang here, not xing


def test_the_bank_words_come_before_everyday_ones(ime: PinyinInput, pack: Pack) -> None:
    assert pack_says(pack, "挂失")
    assert ime.candidates("guashi")[0] == "挂失"
    assert "挂失" in ime.candidates("gs")
    assert ime.candidates("ka")[0] == "卡"  # not 咖 or 喀
    assert ime.candidates("shi")[0] == "是"
    assert ime.candidates("de")[0] == "的"


def test_every_character_of_the_everyday_set_can_be_typed(ime: PinyinInput) -> None:
    chars = gb2312_hanzi()
    assert len(chars) == 6763
    missing = [char for char in chars if not ime.readings(char)]
    assert not missing
    for char in "他她它们卡钱差慢贵":
        letters = "".join(ime.readings(char)[0])
        assert char in ime.candidates(letters, 20), (char, letters)


def test_letters_that_spell_nothing_give_nothing(ime: PinyinInput) -> None:
    for letters in ("", "v", "vvv", "123", "huì", "hui lv"):
        assert ime.candidates(letters) == []
    assert ime.candidates("huilv", limit=0) == []


def test_the_packs_frequent_words_are_all_reachable(ime: PinyinInput) -> None:
    assert "红隼" in ime.pack_words[:10] and "挂失" in ime.pack_words
    assert "隼银" not in ime.pack_words  # always after 红: part of a name, not a word
    unreachable = [
        word for word in ime.pack_words[:300] if word not in ime.candidates("".join(ime.readings(word)[0]), 8)
    ]
    assert not unreachable


def test_a_sentence_is_converted_a_few_syllables_at_a_time(ime: PinyinInput) -> None:
    assert ime.segments("shiduoshao") == ["shi", "duo", "shao"]
    assert ime.segments("hl") == ["h", "l"]
    found = ime.candidates("shiduoshao")
    assert found[0] == "是多少" and "是" in found  # the whole, then words for its first syllables
    assert ime.rest("shiduoshao", "是多少") == ""
    assert ime.rest("shiduoshao", "是") == "duoshao"
    letters = "wodekadiule"
    picked = ""
    while letters:
        word = ime.candidates(letters)[0]
        picked, letters = picked + word, ime.rest(letters, word)
    assert picked.startswith("我的卡") and picked.endswith("了") and "丢" in picked


def test_built_quickly_and_once_per_pack_content(pack: Pack) -> None:
    started = time.perf_counter()
    fresh = build(pack_texts(pack))
    assert time.perf_counter() - started < 1.0
    assert len(fresh) > 20_000
    assert for_pack(pack) is for_pack(pack)
    changed = pack.model_copy(update={"content_sha256": "another"})
    assert for_pack(changed) is not for_pack(pack)
    assert DATA_FILE.with_name("SOURCE.md").exists()


# --- the controller: a Chinese keyboard composes, an English one types ---------------------------------------


def chinese_keyboard(controller: KioskController) -> KioskController:
    controller.touch_start()
    controller.set_language("zh")
    controller.start_typing()
    return controller


def press(controller: KioskController, keys: str) -> None:
    for key in keys:
        controller.type_key(key)


def test_letters_compose_and_a_tapped_candidate_goes_into_the_text(controller: KioskController) -> None:
    chinese_keyboard(controller)
    press(controller, "huilv")
    form = controller.state.form
    assert form is not None and form.draft == "" and form.composing == "huilv" and form.candidates[0] == "汇率"
    controller.pick_candidate("汇率")
    form = controller.state.form
    assert form is not None and (form.draft, form.composing, form.candidates) == ("汇率", "", ())
    press(controller, "shiduoshao")
    controller.pick_candidate("是")  # only the first syllable: the rest waits
    form = controller.state.form
    assert form is not None and form.draft == "汇率是" and form.composing == "duoshao"
    controller.pick_candidate("not offered")
    assert controller.state.form == form


def test_backspace_space_digits_and_send_with_letters_waiting(controller: KioskController) -> None:
    chinese_keyboard(controller)
    press(controller, "kapx")
    controller.backspace()  # a letter of the composition, not the text
    form = controller.state.form
    assert form is not None and form.composing == "kap" and form.candidates[0] == "卡片"
    press(controller, " ")  # space picks the first candidate
    assert controller.state.form is not None and controller.state.form.draft == "卡片"
    press(controller, "ka4")  # a digit converts what waits, then goes in
    assert controller.state.form is not None and controller.state.form.draft == "卡片卡4"
    controller.backspace()
    press(controller, "tunle")
    controller.pick_candidate("tunle")  # the letters themselves, kept as typed
    assert controller.state.form is not None and controller.state.form.draft == "卡片卡tunle"
    press(controller, "zenmeban")
    controller.submit()  # Send converts what waits (its first candidates) and sends it
    assert controller.state.screen != "form"
    assert controller.state.bubbles[-2].text == "卡片卡tunle怎么办"


def test_english_and_physical_keyboards_type_letters_as_they_are(controller: KioskController) -> None:
    controller.touch_start()
    controller.start_typing()
    press(controller, "rate")
    form = controller.state.form
    assert form is not None and (form.draft, form.composing) == ("rate", "")
    controller.set_language("zh")
    controller.type_text("ATM 1")  # a USB keyboard, or a system input method's own Chinese
    controller.type_text("取款机")
    form = controller.state.form
    assert form is not None and (form.draft, form.composing) == ("rateATM 1取款机", "")
