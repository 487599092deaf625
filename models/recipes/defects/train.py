"""Fine-tune EfficientNet-Lite0 with a CAM head on one product profile (CPU, one thread, reproducible).

Speed on a kiosk-class CPU: the frozen early blocks are run once per image view (``--views`` augmented copies of
each training image, the first unaugmented) and cached; training then only runs the last blocks, with random
flips of the cached 14x14 feature maps as extra augmentation. Class imbalance (magnetic tile: 420 free vs 22
fray) is handled with inverse-frequency class weights in the loss. One extra last class, ``not_recognised``, is
trained on pictures of other things (``outliers.py``) so that the kiosk can refuse them.

    python models/recipes/defects/train.py --profile steel_surface --out build/defects
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from data import PROFILES, split, tensor_batch, tensor_images
from model import FROZEN_BLOCKS, CamNet, FrozenStem, TrainableTop, backbone
from outliers import outliers
from torch import nn


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def stem_features(stem: FrozenStem, items: list, rng: np.random.Generator | None, batch: int = 32) -> torch.Tensor:
    """The frozen part's output for image files or RGB arrays (augmented when ``rng`` is given)."""
    chunks = []
    for i in range(0, len(items), batch):
        part = items[i : i + batch]
        tensors = tensor_images(part, rng) if isinstance(part[0], np.ndarray) else tensor_batch(part, rng)
        chunks.append(stem(torch.from_numpy(tensors)))
    return torch.cat(chunks)


def flip_features(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal / vertical flips of each cached feature map (photos of a surface have no up or left)."""
    flips_h = torch.rand(x.shape[0], generator=generator) < 0.5
    flips_v = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flips_h[:, None, None, None], x.flip(3), x)
    return torch.where(flips_v[:, None, None, None], x.flip(2), x)


@torch.no_grad()
def evaluate(top: TrainableTop, features: torch.Tensor, labels: torch.Tensor) -> float:
    top.eval()
    logits = torch.cat([top(features[i : i + 64])[0] for i in range(0, len(features), 64)])
    return float((logits.argmax(1) == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="steel_surface")
    parser.add_argument("--out", type=Path, default=Path("build/defects"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--weight-power", type=float, default=1.0, help="Class weights (1/frequency)**power; 0.5 softens them."
    )
    parser.add_argument("--frozen-blocks", type=int, default=FROZEN_BLOCKS, help="Blocks kept at ImageNet weights.")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    profile = PROFILES[args.profile]
    out = args.out / profile.name
    out.mkdir(parents=True, exist_ok=True)
    train, dev = split(profile, args.seed)
    start = time.perf_counter()

    net = backbone().eval()
    stem = FrozenStem(net, args.frozen_blocks).eval()
    for parameter in stem.parameters():
        parameter.requires_grad_(False)
    rng = np.random.default_rng(args.seed)
    classes = len(profile.labels) + 1  # the last one is not_recognised
    train_paths = [p for p, _ in train]
    others = [image for group in outliers(profile, "train").values() for image in group]
    views = [stem_features(stem, train_paths, None), stem_features(stem, others, None)]
    for _ in range(args.views - 1):
        views += [stem_features(stem, train_paths, rng), stem_features(stem, others, rng)]
    train_x = torch.cat(views)
    train_y = torch.tensor(([y for _, y in train] + [classes - 1] * len(others)) * args.views)
    dev_x = stem_features(stem, [p for p, _ in dev], None)
    dev_y = torch.tensor([y for _, y in dev])
    eval_others = [image for group in outliers(profile, "eval").values() for image in group]
    ood_x = stem_features(stem, eval_others, None)
    cache_s = time.perf_counter() - start
    print(f"cached {len(train_x)} train views and {len(dev_x)} dev images in {cache_s:.0f} s", flush=True)

    top = TrainableTop(net, classes, args.frozen_blocks)
    counts = torch.bincount(train_y, minlength=classes).float()
    weights = (counts.sum() / (len(counts) * counts)) ** args.weight_power
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=0.05)
    optimizer = torch.optim.AdamW(
        [
            {"params": top.cam.parameters(), "lr": args.lr * 3},
            {"params": [p for n, p in top.named_parameters() if not n.startswith("cam.")], "lr": args.lr},
        ],
        weight_decay=1e-4,
    )
    steps = args.epochs * ((len(train_x) + args.batch_size - 1) // args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, [args.lr * 3, args.lr], total_steps=steps)
    generator = torch.Generator().manual_seed(args.seed)
    history = []
    for epoch in range(args.epochs):
        top.train()
        order = torch.randperm(len(train_x), generator=generator)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            index = order[i : i + args.batch_size]
            logits, _, _ = top(flip_features(train_x[index], generator))
            loss = loss_fn(logits, train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(index)
        accuracy = evaluate(top, dev_x, dev_y)
        rejected = evaluate(top, ood_x, torch.full((len(ood_x),), classes - 1))
        history.append(
            {"epoch": epoch + 1, "loss": total / len(train_x), "dev_accuracy": accuracy, "ood_rejected": rejected}
        )
        print(json.dumps(history[-1]), flush=True)

    top.eval()
    with torch.no_grad():
        pooled = torch.cat([top(train_x[i : i + 64])[2] for i in range(0, len(train_x), 64)])
    normalised = nn.functional.normalize(pooled, dim=1)
    prototypes = torch.stack([normalised[train_y == c].mean(0) for c in range(classes)])
    model = CamNet(stem, top, prototypes).eval()
    torch.save(model.state_dict(), out / "camnet.pt")
    train_s = time.perf_counter() - start
    report = {
        "profile": profile.name,
        "args": {k: str(v) for k, v in vars(args).items()},
        "train_images": len(train),
        "train_outliers": len(others),
        "dev_images": len(dev),
        "history": history,
        "dev_accuracy_torch": history[-1]["dev_accuracy"],
        "cache_seconds": round(cache_s, 1),
        "train_seconds": round(train_s, 1),
    }
    (out / "train_report.json").write_text(json.dumps(report, indent=1))
    print(f"done in {train_s:.0f} s -> {out / 'camnet.pt'}")


if __name__ == "__main__":
    main()
