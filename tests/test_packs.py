"""The bank pack is complete, and a broken pack is refused with a clear reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from firmware_app.config import PCB_PROFILE, KioskSettings
from firmware_app.inference.manifest import load_manifest
from firmware_app.packs import Pack, PackError, load_pack
from firmware_app.vision.defects import NOT_RECOGNISED

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


# --- guidance for technicians' photos ------------------------------------------------------------------------


def shipped_profiles(settings: KioskSettings) -> dict[str, list[str]]:
    """Every product profile the model manifest ships, with its labels (a classifier's ``not_recognised`` is the
    kiosk's own verdict, not a defect), and the magnetic tile profile, which the guidance covers before its
    model ships."""
    manifest = load_manifest(settings.models_dir)
    profiles = {
        name: [label for label in entry.labels if label != NOT_RECOGNISED]
        for name, entry in manifest.items()
        if name == PCB_PROFILE or (entry.labels and entry.labels[-1] == NOT_RECOGNISED)
    }
    profiles.setdefault("magnetic_tile", ["blowhole", "break", "crack", "fray", "uneven", "free"])
    return profiles


def test_every_label_of_every_shipped_profile_has_guidance_in_both_languages(
    pack: Pack, settings: KioskSettings
) -> None:
    profiles = shipped_profiles(settings)
    assert {"steel_surface", "pcb", "magnetic_tile"} <= set(profiles)
    for profile, labels in profiles.items():
        spec = pack.guidance.profiles.get(profile)
        assert spec is not None, f"no guidance for profile {profile}"
        assert spec.name.en and spec.name.zh
        for label in labels:
            linked = pack.guidance.label(profile, label)
            assert linked is not None, f"no guidance for {profile}/{label}"
            assert linked.name.en and linked.name.zh
            entries = pack.guidance.entries_for(profile, label)
            assert entries, f"{profile}/{label} links to nothing"
            for entry in entries:
                assert entry.meaning.en and entry.meaning.zh and entry.title.en and entry.title.zh
                assert 2 <= len(entry.steps.en) == len(entry.steps.zh) <= 4
                assert all(step.strip() for step in [*entry.steps.en, *entry.steps.zh])


def test_guidance_is_not_in_the_faq(pack: Pack) -> None:
    faq_ids = {entry.id for entry in pack.faq} | {intent.id for intent in pack.intents}
    assert not faq_ids & {entry.id for entry in pack.guidance.entries}


def test_guidance_linking_to_a_missing_entry_is_refused(pack_copy: Path) -> None:
    _edit(pack_copy / "guidance.yaml", "entries: [steel-scratches]", "entries: [steel-scratch]")
    with pytest.raises(PackError, match=r"steel_surface/scratches links to unknown entries \['steel-scratch'\]"):
        load_pack(pack_copy)


def test_guidance_needs_two_to_four_steps_in_both_languages(pack_copy: Path) -> None:
    _edit(pack_copy / "guidance.yaml", "        - Do not power the board.\n", "")
    with pytest.raises(PackError, match="steps differ in length"):
        load_pack(pack_copy)


def test_a_pack_without_guidance_still_loads(pack_copy: Path) -> None:
    (pack_copy / "guidance.yaml").unlink()
    loaded = load_pack(pack_copy)
    assert loaded.guidance.profiles == {} and loaded.guidance.entries_for("steel_surface", "scratches") == ()


def test_guidance_is_part_of_the_pack_hash(pack: Pack, pack_copy: Path) -> None:
    """A fleet update that only changes guidance is still a new pack content."""
    _edit(pack_copy / "guidance.yaml", "Straight marks", "Straight lines")
    assert load_pack(pack_copy).content_sha256 != pack.content_sha256
