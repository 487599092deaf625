"""Every kiosk model on LiteRT: its int8 ``.tflite`` (``models/recipes/litert``) against the same model on OpenVINO,
on real recordings, sentences, photos and boards from ``tests/fixtures``; and ``[inference] runtime`` choosing.

The dev-set numbers (1,003 BANKING77 sentences and so on) are the recipe's, in each manifest entry's ``litert``
block; these tests check the files the kiosk ships and that every kiosk path runs on LiteRT.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from firmware_app.audio.amelia import MODEL_NAME as AMELIA
from firmware_app.audio.amelia import load_amelia, sigmoid
from firmware_app.cli import main
from firmware_app.inference import runtime
from firmware_app.inference.encoder import TextEncoder
from firmware_app.inference.manifest import ModelIntegrityError, load_manifest, sha256_file, verified_model_path
from firmware_app.inference.probe import probe_model
from firmware_app.inference.runtime import open_model, runtime_for, use_runtime
from firmware_app.vision.anomaly import BACKBONE, AnomalyInspector, PatchFeatureExtractor, to_tensor
from firmware_app.vision.capture import load_image
from firmware_app.vision.defects import DefectClassifier
from firmware_app.vision.enrolment import enrol_part
from firmware_app.vision.pcb.detector import PcbDetector
from firmware_app.vision.pcb.extraction import extract
from firmware_app.vision.pcb.masks import load_binary
from tests.audio_samples import amelia_windows
from tests.conftest import FIXTURES
from tests.synthetic_part import flange

MODELS = Path(__file__).resolve().parents[1] / "models" / "int8"
MANIFEST = load_manifest(MODELS)
SENTENCES = [line.split(",")[0] for line in (FIXTURES / "intent_smoke.csv").read_text().splitlines()[1:]]
SENTENCES_ZH = ["我的银行卡丢了", "我想查一下余额", "你们几点关门", "转账没有到账怎么办", "卡被吞了"]
PHOTOS = sorted((FIXTURES / "defects").glob("*.jpg"))


@pytest.fixture(autouse=True)
def process_runtime() -> Iterator[None]:
    """Each test starts on the default (``auto``) and leaves it so."""
    use_runtime("auto")
    yield
    use_runtime("auto")


def onnx_files() -> list[tuple[str, str]]:
    """(entry, ONNX file) of every network the kiosk runs: model files and ONNX assets."""
    files = [(e.name, e.file) for e in MANIFEST.values() if e.file.endswith(".onnx")]
    return files + [(e.name, a) for e in MANIFEST.values() for a in e.assets.values() if a.endswith(".onnx")]


@pytest.mark.parametrize(("name", "file"), onnx_files())
def test_every_kiosk_network_ships_a_checked_int8_tflite(name: str, file: str) -> None:
    entry = MANIFEST[name]
    spec = entry.litert[file]
    tflite = MODELS / entry.assets[spec.asset]
    assert tflite.suffix == ".tflite" and tflite.stat().st_size < 40 * 1000 * 1000
    assert (spec.model_extra or {})["converted_from"] == {"file": file, "sha256": sha256_file(MODELS / file)}
    parity = (spec.model_extra or {})["parity_with_openvino"]
    assert parity["items"] >= 60 and set(parity["ms_per_item_1_thread"]) == {"openvino", "litert"}
    assert "litert" in entry.runtime


def test_auto_is_litert_on_arm_and_openvino_on_x86(monkeypatch: pytest.MonkeyPatch) -> None:
    entry, path = verified_model_path(MODELS, AMELIA)
    monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
    assert runtime_for(entry, path) == "openvino"
    monkeypatch.setattr(runtime.platform, "machine", lambda: "aarch64")
    assert runtime_for(entry, path) == "litert"
    use_runtime("openvino")
    assert runtime_for(entry, path) == "openvino"
    use_runtime("litert")
    monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
    assert runtime_for(entry, path) == "litert"
    no_tflite = entry.model_copy(update={"litert": {}})
    assert runtime_for(no_tflite, path) == "openvino"  # nothing to run on LiteRT: stays on OpenVINO
    with pytest.raises(ValueError, match="unknown inference runtime"):
        use_runtime("tensorrt")  # type: ignore[arg-type]


def test_the_wake_word_decides_the_same_on_every_window() -> None:
    """Real recordings of "Amelia", other words and noise: the same detection decision at the threshold."""
    windows = amelia_windows()
    threshold = MANIFEST[AMELIA].thresholds["detection"]
    entry, path = verified_model_path(MODELS, AMELIA)
    shape = {"features": [1, 120, 40]}
    scores = {
        name: np.array([sigmoid(model.infer({"features": w[None]})["logit"].ravel()[0]) for w in windows])
        for name, model in ((n, open_model(entry, path, shapes=shape, runtime=n)) for n in ("openvino", "litert"))
    }
    assert scores["openvino"].max() > 0.99 and scores["openvino"].min() < 0.01
    assert np.array_equal(scores["openvino"] >= threshold, scores["litert"] >= threshold)
    assert np.abs(scores["openvino"] - scores["litert"]).max() < 0.02


def test_the_streaming_detector_runs_on_litert() -> None:
    use_runtime("litert")
    detector = load_amelia(MODELS)
    assert detector.model.runtime == "litert"


@pytest.mark.parametrize(
    ("name", "sentences"), [("intent-minilm-bank", SENTENCES), ("intent-e5-multilingual", SENTENCES + SENTENCES_ZH)]
)
def test_the_intent_models_give_the_same_top_intent(name: str, sentences: list[str]) -> None:
    entry, path = verified_model_path(MODELS, name)
    tokenizer = MODELS / entry.assets["tokenizer"]
    openvino = TextEncoder(open_model(entry, path, runtime="openvino"), tokenizer).encode(sentences)
    litert = TextEncoder(open_model(entry, path, runtime="litert"), tokenizer).encode(sentences)
    assert np.array_equal(openvino.logits.argmax(axis=1), litert.logits.argmax(axis=1))
    cosines = (openvino.embeddings * litert.embeddings).sum(axis=1)
    assert cosines.min() > 0.97


@pytest.mark.parametrize("profile", ["steel_surface", "magnetic_tile"])
def test_the_defect_profiles_give_the_same_verdict(profile: str) -> None:
    openvino = DefectClassifier(MODELS, profile)
    use_runtime("litert")
    litert = DefectClassifier(MODELS, profile)
    assert (openvino.model.runtime, litert.model.runtime) == ("openvino", "litert")
    for photo in PHOTOS:
        expected, got = openvino.classify(load_image(photo)), litert.classify(load_image(photo))
        assert (got.label, got.defective) == (expected.label, expected.defective), photo.name
        if expected.label != "not_recognised":  # a photo of another product is far from both models' data
            assert abs(got.confidence - expected.confidence) < 0.1  # two int8 quantizations of one model


def test_the_backbone_agrees_with_the_onnx_reference_on_both_runtimes() -> None:
    """Against onnxruntime's reading of the same QDQ file, at the two sizes parts are taught at (LiteRT resizes its
    input): both runtimes' maps point the same way, so a part's bank serves on either."""
    entry, path = verified_model_path(MODELS, BACKBONE)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for side in (224, 320):
        models = [
            open_model(entry, path, shapes={"image": [1, 3, side, side]}, runtime=n) for n in ("openvino", "litert")
        ]
        for photo in PHOTOS[:3]:
            image = {"image": to_tensor(load_image(photo), side)}
            expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, image), strict=True))
            for model in models:
                got = model.infer(image)
                for layer, value in expected.items():
                    assert got[layer].shape == value.shape
                    cosine = float(
                        got[layer].ravel() @ value.ravel() / np.linalg.norm(got[layer]) / np.linalg.norm(value)
                    )
                    assert cosine > 0.98, (model.runtime, side, photo.name, layer)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b))


def test_a_part_taught_on_openvino_is_inspected_on_litert(tmp_path: Path) -> None:
    """What the fleet does when it pushes a part taught at an x86 kiosk to a Raspberry Pi."""
    use_runtime("openvino")
    extractor = PatchFeatureExtractor(MODELS, 224, "standard")
    folder = tmp_path / "flange"
    enrol_part("flange", "Flange 80 mm", {f"good_{seed}.png": flange(seed) for seed in range(6)}, extractor, folder)
    taught = AnomalyInspector(folder, "flange", MODELS)
    use_runtime("litert")
    pushed = AnomalyInspector(folder, "flange", MODELS)
    assert (taught.extractor.model.runtime, pushed.extractor.model.runtime) == ("openvino", "litert")
    for photo in (flange(7), flange(8), flange(500, "chip"), flange(501, "crack")):
        expected, got = taught.classify(photo), pushed.classify(photo)
        assert got.label == expected.label
        assert abs(got.defect_score - expected.defect_score) < 0.1


def test_the_board_crops_are_typed_the_same() -> None:
    pcb = FIXTURES / "pcb"
    openvino = PcbDetector(MODELS / MANIFEST["pcb"].file)
    use_runtime("litert")
    litert = PcbDetector(MODELS / MANIFEST["pcb"].file)
    for template in sorted(pcb.glob("*_temp.png")):
        crops = extract(load_binary(template), load_binary(template.with_name(template.name.replace("temp", "test"))))
        assert len(crops.crops) > 0
        expected = openvino.crop_model.predict_proba(crops.crops)
        got = litert.crop_model.predict_proba(crops.crops)
        assert np.array_equal(expected.argmax(axis=1), got.argmax(axis=1))


def test_the_updater_probes_the_runtime_the_kiosk_runs() -> None:
    use_runtime("litert")
    for name in ("amelia", "intent-minilm-bank", "magnetic_tile", "patch-features"):
        probe_model(MODELS, name)


def test_a_tampered_tflite_is_refused(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS, models, ignore=shutil.ignore_patterns("intent-*", "*_surface*", "magnetic*", "pcb*"))
    tflite = models / MANIFEST[AMELIA].assets["litert"]
    tflite.write_bytes(tflite.read_bytes()[:-100])
    use_runtime("litert")
    with pytest.raises(ModelIntegrityError, match="does not match the sha256"):
        load_amelia(models)


def test_the_cli_runs_the_kiosk_on_the_configured_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    answers = {}
    for name in ("openvino", "litert"):
        monkeypatch.setenv("KIOSK_INFERENCE__RUNTIME", name)
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / name), "ask", "--json", SENTENCES[2]])
        assert result.exit_code == 0, result.output
        answers[name] = json.loads(result.output.strip().splitlines()[-1])
        assert runtime.selected_runtime() == name
    assert answers["openvino"]["intent"] == answers["litert"]["intent"] == "lost_or_stolen_card"
