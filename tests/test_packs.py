"""The bank pack is complete, and a broken pack is refused with a clear reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from firmware_app.packs import Pack, PackError, load_pack

GENERAL_FAQ = {"opening_hours", "fees", "open_account_documents", "mortgage_loan_documents", "accessibility"}


def test_every_intent_has_a_specific_answer_in_both_languages(pack: Pack) -> None:
    assert len(pack.intents) == 77
    answers = [i.answer.en for i in pack.intents]
    assert len(set(answers)) == 77, "two intents share an answer"
    for intent in pack.intents:
        assert len(intent.answer.en) > 80 and len(intent.answer.zh) > 30, intent.id
        assert intent.examples and len(intent.examples_zh) >= 3, intent.id


def test_general_faq_and_flows_are_there(pack: Pack) -> None:
    assert {f.id for f in pack.faq} >= GENERAL_FAQ
    assert {f.id for f in pack.flows} == {"lost_card", "appointment", "complaint"}
    lost_card = pack.flow("lost_card")
    assert lost_card is not None and "lost_or_stolen_card" in lost_card.trigger_intents


@pytest.fixture()
def pack_copy(pack: Pack, tmp_path: Path) -> Path:
    target = tmp_path / "bank"
    shutil.copytree(pack.path, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_missing_file(pack_copy: Path) -> None:
    (pack_copy / "faq.yaml").unlink()
    with pytest.raises(PackError, match=r"pack file missing: .*faq\.yaml"):
        load_pack(pack_copy)


def test_broken_yaml(pack_copy: Path) -> None:
    (pack_copy / "acts.yaml").write_text("patterns: [unclosed", encoding="utf-8")
    with pytest.raises(PackError, match=r"acts\.yaml is not valid YAML"):
        load_pack(pack_copy)


def test_flow_on_unknown_intent(pack_copy: Path) -> None:
    _edit(pack_copy / "flows.yaml", "trigger_intents: [lost_or_stolen_card", "trigger_intents: [no_such_intent")
    with pytest.raises(PackError, match="unknown intents"):
        load_pack(pack_copy)


def test_missing_translation(pack_copy: Path) -> None:
    _edit(pack_copy / "pack.yaml", "  zh: 红隼银行\n", "")
    with pytest.raises(PackError, match="zh"):
        load_pack(pack_copy)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not found"):
        load_pack(tmp_path / "nothing")
