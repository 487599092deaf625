"""The shipped int8 intent model: manifest, integrity, size, and parity across the runtimes that load it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from firmware_app.config import KioskSettings
from firmware_app.inference.encoder import TextEncoder
from firmware_app.inference.manifest import ModelIntegrityError, load_manifest, verified_model_path
from firmware_app.nlu.intent import IntentClassifier
from firmware_app.packs import Pack

PARITY_TEXTS = [
    "I lost my card",
    "How long does a transfer to Spain take?",
    "why was I charged twice for one coffee",
    "what's the weather tomorrow",
    "Can I get a virtual card?",
    "my top up is still pending",
    "tell me a joke",
    "The ATM swallowed my card last night and I need cash",
    "how do i verify my identity",
    "a",
    "我的银行卡丢了，尾号四八一二",
    "你们几点关门",
    "我的card被ATM吞了",
]


@pytest.fixture(scope="module", params=["model_name", "multilingual_model_name"])
def model(settings: KioskSettings, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """Each shipped intent model: the English one and the multilingual one."""
    entry, path = verified_model_path(settings.models_dir, getattr(settings.nlu, request.param))
    return path, settings.models_dir / entry.assets["tokenizer"]


def test_manifest_describes_the_model(settings: KioskSettings, pack: Pack) -> None:
    entry = load_manifest(settings.models_dir)[settings.nlu.model_name]
    assert entry.labels[-1] == "oos" and entry.labels[:-1] == [i.id for i in pack.intents]
    assert 0.0 < entry.thresholds["in_scope"] < 1.0
    assert {"openvino", "onnxruntime"} <= set(entry.runtime)
    assert entry.metrics["int8_openvino"]["accuracy_closed_set"] > 0.9
    assert entry.model_extra and entry.model_extra["training_data"]


def test_multilingual_manifest_knows_intents_faq_and_the_kiosks_own_labels(settings: KioskSettings, pack: Pack) -> None:
    entry = load_manifest(settings.models_dir)[settings.nlu.multilingual_model_name]
    faq_ids = [e.id for e in pack.faq]
    assert entry.labels[:77] == [i.id for i in pack.intents] and entry.labels[-1] == "oos"
    assert set(faq_ids) <= set(entry.labels)
    assert {"block_card", "talk_to_human", "thanks", "greeting", "goodbye"} <= set(entry.labels)
    assert entry.assets_sha256 and 0.0 < entry.thresholds["in_scope"] < 1.0


def test_model_is_small_enough(model: tuple[Path, Path]) -> None:
    assert model[0].stat().st_size <= 40 * 1000 * 1000


def _onnxruntime_logits(model_path: Path, encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    ids, mask = encoder.tokenize(texts)
    return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_openvino_matches_onnxruntime(model: tuple[Path, Path], threads: int) -> None:
    """Same int8 file, two runtimes; 1 thread included (OpenVINO has produced garbage there on some CPUs)."""
    encoder = TextEncoder.from_onnx(*model, threads=threads)
    openvino_logits = encoder.encode(PARITY_TEXTS).logits
    reference = _onnxruntime_logits(model[0], encoder, PARITY_TEXTS)
    assert np.array_equal(openvino_logits.argmax(axis=1), reference.argmax(axis=1))
    assert np.abs(openvino_logits - reference).max() < 0.5


def test_padding_to_a_token_bucket_does_not_change_results(model: tuple[Path, Path]) -> None:
    """Texts are padded to a few fixed lengths (TOKEN_BUCKETS); the padding must not leak into the result."""
    encoder = TextEncoder.from_onnx(*model)
    session = ort.InferenceSession(str(model[0]), providers=["CPUExecutionProvider"])
    padded_texts = 0
    for text in PARITY_TEXTS:
        ids, mask = encoder.tokenize([text])
        length = int(mask.sum())
        padded_texts += length < ids.shape[1]
        padded = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        exact = session.run(["logits"], {"input_ids": ids[:, :length], "attention_mask": mask[:, :length]})[0]
        assert np.abs(padded - exact).max() < 0.05
    assert padded_texts >= len(PARITY_TEXTS) - 2  # nearly every text was padded, so the check checked something
    assert np.allclose(np.linalg.norm(encoder.encode(PARITY_TEXTS).embeddings, axis=1), 1.0, atol=1e-3)


def test_tampered_model_is_refused(settings: KioskSettings, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(settings.models_dir, copy)
    entry = load_manifest(copy)[settings.nlu.model_name]
    with (copy / entry.file).open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        IntentClassifier.from_models_dir(copy, settings.nlu.model_name)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="manifest not found"):
        IntentClassifier.from_models_dir(tmp_path, "intent-minilm-bank")
