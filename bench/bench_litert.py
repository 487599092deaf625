"""Every kiosk model on OpenVINO and on LiteRT, one core: latency of one inference, and how often they agree.

Latency: in a child process pinned to one core, each model (through ``firmware_app.inference.runtime``, one thread)
runs the inputs the kiosk gives it, from ``tests/fixtures`` (sentences, a recording, photos, board crops), 200 times
after 20 warm-up runs; the median and p95 per runtime, and LiteRT's median over OpenVINO's. A sentence is
padded to LiteRT's 64 tokens and to OpenVINO's smallest bucket, as the kiosk runs them.

Agreement: on each model's dev items (1,003 BANKING77 sentences, 1,330 English and Chinese ones for the
multilingual model, 952 wake-word windows of 120 dev clips, 60 dev photos per defect profile, 849 crops of the
DeepPCB dev boards), as measured by the conversion recipe (``models/recipes/litert/parity.py``) and recorded in
each manifest entry: the ``.tflite`` read from the manifest is the one measured, so the report quotes it.

    python -m bench.run --only litert
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import percentile
from bench.worker import bench_main, harness_command, run_worker

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models" / "int8"
FIXTURES = REPO / "tests" / "fixtures"
RUNS, WARM_UP = 200, 20
SHAPES = {"amelia": {"features": [1, 120, 40]}, "patch-features": {"image": [1, 3, 224, 224]}}  # OpenVINO's


def _inputs(name: str, onnx_file: str) -> dict[str, np.ndarray]:
    """What the kiosk feeds the model, from the test fixtures."""
    from firmware_app.vision.capture import load_image

    photo = load_image(FIXTURES / "defects" / "neu_crazing_93.jpg")
    if name == "amelia":
        from tests.audio_samples import amelia_windows

        return {"features": amelia_windows()[0][None]}
    if name.startswith("intent-"):
        return {"text": np.array(["My new card still hasn't turned up in the post"])}
    if name == "patch-features":
        from firmware_app.vision.anomaly import to_tensor

        return {"image": to_tensor(photo, 224)}
    if name == "pcb":
        from firmware_app.vision.pcb.extraction import extract
        from firmware_app.vision.pcb.masks import load_binary

        board = FIXTURES / "pcb" / "00041001"
        return {
            "crops": extract(load_binary(Path(f"{board}_temp.png")), load_binary(Path(f"{board}_test.png"))).crops[:1]
        }
    from firmware_app.vision.defects import preprocess

    return {"image": preprocess(photo)}


def _runner(name: str, onnx_file: str, runtime: str) -> Any:
    """One inference as the kiosk makes it (a text through its ``TextEncoder``)."""
    from firmware_app.inference.encoder import TextEncoder
    from firmware_app.inference.manifest import load_manifest
    from firmware_app.inference.runtime import open_model

    entry = load_manifest(MODELS)[name]
    shapes = (
        {"features": [1, 120, 40]}
        if name == "amelia"
        else {"image": [1, 3, 224, 224]}
        if name == "patch-features"
        else None
    )
    model = open_model(entry, MODELS / onnx_file, threads=1, shapes=shapes, runtime=runtime)  # type: ignore[arg-type]
    if name.startswith("intent-"):
        encoder = TextEncoder(model, MODELS / entry.assets["tokenizer"])
        return lambda inputs: encoder.encode([str(inputs["text"][0])])
    return model.infer


def worker() -> dict[str, Any]:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from firmware_app.inference.manifest import load_manifest

    rows = []
    for entry in load_manifest(MODELS).values():
        for onnx_file, spec in entry.litert.items():
            inputs = _inputs(entry.name, onnx_file)
            row: dict[str, Any] = {"model": entry.name, "file": onnx_file}
            for runtime in ("openvino", "litert"):
                run = _runner(entry.name, onnx_file, runtime)
                for _ in range(WARM_UP):
                    run(inputs)
                times = []
                for _ in range(RUNS):
                    start = time.perf_counter()
                    run(inputs)
                    times.append((time.perf_counter() - start) * 1000)
                row[runtime] = {
                    "median_ms": round(statistics.median(times), 3),
                    "p95_ms": round(percentile(times, 0.95), 3),
                }
            row["litert_over_openvino"] = round(row["litert"]["median_ms"] / row["openvino"]["median_ms"], 2)
            extra = spec.model_extra or {}
            row["tflite_bytes"] = (MODELS / entry.assets[spec.asset]).stat().st_size
            row["quantization"] = extra["quantization"]
            row["dev_parity"] = extra["parity_with_openvino"]
            rows.append(row)
    return {"runs": RUNS, "pinned_to_one_core": True, "models": rows}


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    return {"command": harness_command(), **run_worker("bench_litert", [])}


def report_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## LiteRT and OpenVINO, every kiosk model",
        "",
        f"`{r.get('command', 'python -m bench.bench_litert')}`: one core, one thread, {r['runs']} runs after a"
        " warm-up; dev agreement from the conversion recipe (`models/recipes/litert/parity.py`, in the manifest).",
        "",
        "| model | tflite MB | OpenVINO ms (p95) | LiteRT ms (p95) | LiteRT / OpenVINO | dev items | same top-1"
        " | cosine median |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in r["models"]:
        parity = m["dev_parity"]
        agree = (
            "-"
            if "top1_agree" not in parity
            else f"{parity['top1_agree']} ({parity['top1_agree'] / parity['items']:.1%})"
        )
        lines.append(
            f"| {m['file']} | {m['tflite_bytes'] / 1e6:.1f} | {m['openvino']['median_ms']} ({m['openvino']['p95_ms']})"
            f" | {m['litert']['median_ms']} ({m['litert']['p95_ms']}) | {m['litert_over_openvino']} |"
            f" {parity['items']} | {agree} | {parity.get('cosine_median', '-')} |"
        )
    backbone = next((m for m in r["models"] if "cosine_median_with_onnxruntime" in m["dev_parity"]), None)
    if backbone is not None:
        reference = backbone["dev_parity"]["cosine_median_with_onnxruntime"]
        lines += [
            "",
            f"The anomaly backbone has no classes: against onnxruntime's reading of the same int8 file, LiteRT's"
            f" feature maps have a median cosine of {reference['litert']} and OpenVINO's {reference['openvino']},"
            " so a part taught on one runtime is inspected on the other (the fleet pushes parts between x86 and"
            " Arm kiosks).",
        ]
    return [*lines, ""]


if __name__ == "__main__":
    bench_main(worker, run)
