"""Issue 20, degraded modes: a damaged intent model leaves the kiosk answering by keyword search, handing off to a
person, and back on the model (no restart) once the file is repaired."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_app.app import Kiosk
from firmware_app.cli import main
from firmware_app.config import load_settings
from firmware_app.inference.manifest import MANIFEST_NAME, load_manifest
from firmware_app.nlu.degraded import INTENT_MODEL, KEYWORD_MODEL_ID
from firmware_app.packs import load_pack
from tests.conftest import fixed_today

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "int8"


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    """The two intent models, their tokenizers and the manifest, copied (not linked: the copy gets damaged)."""
    folder = tmp_path / "models"
    folder.mkdir()
    settings = load_settings(data_dir=tmp_path / "unused")
    entries = load_manifest(SHIPPED)
    names = [MANIFEST_NAME]
    for model in {settings.nlu.model_name, settings.nlu.multilingual_model_name}:
        names += [entries[model].file, *entries[model].assets.values()]
    for name in names:
        shutil.copyfile(SHIPPED / name, folder / name)
    return folder


def intent_model_file(models: Path) -> Path:
    pack = load_pack(load_settings(data_dir=models.parent / "unused").pack_dir)
    return models / load_manifest(models)[pack.manifest.intent_model].file


def damage(path: Path) -> bytes:
    """Overwrite one byte range in the middle of ``path`` for real; returns the original bytes."""
    original = path.read_bytes()
    middle = len(original) // 2
    with path.open("r+b") as handle:
        handle.seek(middle)
        handle.write(bytes(b ^ 0xFF for b in original[middle : middle + 4096]))
    return original


def ask(models: Path, data_dir: Path, question: str) -> tuple[dict[str, object], str]:
    result = CliRunner().invoke(
        main, ["--data-dir", str(data_dir), "ask", "--json", question], env={"KIOSK_MODELS_DIR": str(models)}
    )
    assert result.exit_code == 0, result.output
    assert "Error:" not in result.output
    return json.loads(result.stdout), result.stderr


def test_a_damaged_intent_model_still_answers_from_the_knowledge_store(models: Path, tmp_path: Path) -> None:
    damage(intent_model_file(models))
    reply, stderr = ask(models, tmp_path / "data", "what are your opening hours")
    assert reply["degraded"] == [INTENT_MODEL] and "degraded" in stderr
    assert reply["intent"] == "opening_hours" and reply["kind"] == "answer"
    assert "Monday to Friday 9:00-17:00" in str(reply["text"])


@pytest.mark.parametrize("question", ["I want to talk to a person", "我要找人工"])
def test_a_damaged_intent_model_still_hands_off(models: Path, tmp_path: Path, question: str) -> None:
    damage(intent_model_file(models))
    reply, _ = ask(models, tmp_path / "data", question)
    assert reply["degraded"] == [INTENT_MODEL]
    assert reply["kind"] == "handoff" and reply["ticket_id"]


def test_a_missing_intent_model_reads_chinese_by_keywords_too(models: Path, tmp_path: Path) -> None:
    intent_model_file(models).unlink()
    reply, _ = ask(models, tmp_path / "data", "营业时间是几点")
    assert reply["degraded"] == [INTENT_MODEL] and reply["intent"] == "opening_hours"


def kiosk_on_a_damaged_model(models: Path, tmp_path: Path) -> tuple[Kiosk, Path, bytes]:
    """A kiosk started with its intent model damaged and tried again at every chance (``model_retry_s`` 0);
    also the model's path and its original bytes, to repair it with."""
    path = intent_model_file(models)
    original = damage(path)
    settings = load_settings(data_dir=tmp_path / "data", models_dir=models)
    settings.nlu = settings.nlu.model_copy(update={"model_retry_s": 0.0})
    return Kiosk(settings, today=fixed_today), path, original


def test_a_repaired_model_serves_again_without_a_restart(models: Path, tmp_path: Path) -> None:
    kiosk, path, original = kiosk_on_a_damaged_model(models, tmp_path)
    try:
        assert kiosk.nlu.degraded == (INTENT_MODEL,)
        assert kiosk.nlu.classifiers["en"].model_id == KEYWORD_MODEL_ID
        session, _ = kiosk.start_session()
        assert kiosk.handle_text(session, "what are your opening hours").intent == "opening_hours"

        path.write_bytes(original)  # repaired (or replaced by an update) while the kiosk runs
        session, _ = kiosk.start_session()
        reply = kiosk.handle_text(session, "I lost my card")
        assert kiosk.nlu.degraded == ()
        assert kiosk.nlu.classifiers["en"].model_id.startswith("intent-minilm-bank@")
        assert reply.intent == "lost_or_stolen_card"
        prediction = kiosk.nlu.understand("I lost my card").result  # the model's label and its probability
        assert prediction.intent == "lost_or_stolen_card" and 0 < prediction.confidence < 1
        assert kiosk.knowledge.embedder.startswith("en:intent-minilm-bank@")  # the pack's vectors are back
        assert kiosk.knowledge.search("when do you open", "en", limit=1)[0].similarity > 0
    finally:
        kiosk.close()


def test_the_model_is_not_retried_before_its_interval(models: Path, tmp_path: Path) -> None:
    path = intent_model_file(models)
    original = damage(path)
    settings = load_settings(data_dir=tmp_path / "data", models_dir=models)  # default: a retry every 5 s
    kiosk = Kiosk(settings, today=fixed_today)
    try:
        path.write_bytes(original)
        assert kiosk.nlu.understand("I lost my card").result.intent == "lost_or_stolen_card"
        assert kiosk.nlu.degraded == (INTENT_MODEL,)  # read by keywords until the next try is due
    finally:
        kiosk.close()
