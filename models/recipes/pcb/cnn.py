"""The ``pcb`` profile's crop network: a small CNN that types each candidate from its template / test / difference
crop (``firmware_app.vision.pcb.crops.candidate_crops``), trained on CPU and shipped as int8 ONNX (NNCF).

Why a CNN next to the trees: the trees only see hand-made numbers (areas, piece counts, widths), and most of
their remaining errors were opens typed as mousebites and back. What tells those apart in DeepPCB is the
defect's drawn shape (an open is a thin stroke across a track, a mousebite a ragged bite out of an edge), which a
few convolutions see directly. On two random folds of 180 train pairs (fitted on the other 720), the trees alone
scored F 0.975, the network alone about 0.98 and the even average of both 0.987 (weights 0.4 and 0.6: 0.987,
0.986). At 32x32 px and ~60 k weights it costs a few milliseconds per pair on one core.
"""

from __future__ import annotations

from pathlib import Path

import nncf
import numpy as np
import onnx
import torch
from torch import nn

from firmware_app.vision.pcb.crops import CROP_PX
from firmware_app.vision.pcb.labels import CLASSES

EPOCHS = 25
BATCH = 128
CALIBRATION = 300


def crop_net() -> nn.Sequential:
    """Four 3x3 conv blocks (16-32-64-64 channels) and global pooling: enough for 32x32 binary crops."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(3, 16),
        nn.MaxPool2d(2),
        *block(16, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        nn.MaxPool2d(2),
        *block(64, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, len(CLASSES)),
    )


def train(crops: np.ndarray, targets: np.ndarray, seed: int, epochs: int = EPOCHS) -> nn.Sequential:
    """Class-balanced cross-entropy, AdamW with a one-cycle schedule, and flips / transposes of each batch (a
    defect's type does not depend on its orientation). One thread, fixed seed."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y = torch.from_numpy(crops), torch.from_numpy(targets.astype(np.int64))
    counts = np.bincount(targets, minlength=len(CLASSES))
    weight = torch.tensor(len(targets) / (len(CLASSES) * np.maximum(counts, 1)), dtype=torch.float32)
    model = crop_net()
    optimiser = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    steps = epochs * -(-len(y) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for start in range(0, len(y), BATCH):
            batch = order[start : start + BATCH]
            images = x[batch]
            if torch.rand(1) < 0.5:
                images = images.flip(3)
            if torch.rand(1) < 0.5:
                images = images.flip(2)
            if torch.rand(1) < 0.5:
                images = images.transpose(2, 3)
            optimiser.zero_grad()
            loss_fn(model(images), y[batch]).backward()
            optimiser.step()
            schedule.step()
    return model.eval()


def export_int8(model: nn.Sequential, crops: np.ndarray, out: Path, seed: int) -> None:
    """Float ONNX (dynamic batch), then NNCF post-training int8 quantization calibrated on training crops."""
    float_path = out.with_name(out.name.replace(".int8.", ".float."))
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, CROP_PX, CROP_PX),),
        str(float_path),
        opset_version=17,
        dynamo=False,
        input_names=["crops"],
        output_names=["logits"],
        dynamic_axes={"crops": {0: "batch"}, "logits": {0: "batch"}},
    )
    chosen = np.random.default_rng(seed).choice(len(crops), size=min(CALIBRATION, len(crops)), replace=False)
    dataset = nncf.Dataset([{"crops": crops[i : i + 1]} for i in sorted(chosen)])
    quantized = nncf.quantize(onnx.load(str(float_path)), dataset, subset_size=len(chosen))
    onnx.save(quantized, str(out))
    float_path.unlink()
