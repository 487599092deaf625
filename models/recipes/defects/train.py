"""Fine-tune EfficientNet-Lite0 with a CAM head on one product profile (CPU, one thread, reproducible).

Speed on a kiosk-class CPU: the frozen early blocks are run once per image view (``--views`` augmented copies of
each training image, the first unaugmented) and cached; training then only runs the last blocks, with random
flips of the cached 14x14 feature maps as extra augmentation. Class imbalance (magnetic tile: 420 free vs 22
fray) is handled with (softened) inverse-frequency class weights in the loss; tiny defects (a tile's blowhole)
want ``--pool mix`` (see ``model.py``). One extra last class, ``not_recognised``, is trained on pictures of other
things (``outliers.py``) so that the kiosk can refuse them.

    python models/recipes/defects/train.py --profile steel_surface --out build/defects --epochs 10 --views 3
    python models/recipes/defects/train.py --profile magnetic_tile --out build/defects --epochs 12 --views 3 \
        --weight-power 0.5 --pool mix
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
from sklearn.metrics import f1_score, roc_auc_score
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
def predict(top: TrainableTop, features: torch.Tensor) -> torch.Tensor:
    top.eval()
    return torch.cat([top(features[i : i + 64])[0] for i in range(0, len(features), 64)])


def dev_scores(logits: torch.Tensor, labels: torch.Tensor, ok: list[int]) -> dict[str, float]:
    """Dev accuracy and macro-F1 (argmax over the product's classes), and defect-vs-ok AUROC where defined."""
    logits = logits[:, :-1]
    predicted = logits.argmax(1).numpy()
    result = {
        "dev_accuracy": float((predicted == labels.numpy()).mean()),
        "dev_macro_f1": float(f1_score(labels.numpy(), predicted, average="macro")),
    }
    if ok:
        defect_score = 1 - logits.softmax(1)[:, ok].sum(1)
        result["dev_defect_auroc"] = float(roc_auc_score(~np.isin(labels.numpy(), ok), defect_score.numpy()))
    return result


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
    parser.add_argument(
        "--pool", choices=["mean", "mix"], default="mean", help="Logits from the CAM: its mean, or mean and peak."
    )
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
    # Only the stem's own layers: ``stem.parameters()`` is the whole backbone (it holds ``net``), and freezing
    # that left the "trained" last blocks at ImageNet weights, so only the 1x1 CAM layer learned.
    for layer in (net._conv_stem, net._bn0, *net._blocks[: args.frozen_blocks]):
        layer.requires_grad_(False)
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
    ok = [profile.labels.index(label) for label in profile.ok_labels]
    eval_others = [image for group in outliers(profile, "eval").values() for image in group]
    ood_x = stem_features(stem, eval_others, None)
    cache_s = time.perf_counter() - start
    print(f"cached {len(train_x)} train views and {len(dev_x)} dev images in {cache_s:.0f} s", flush=True)

    top = TrainableTop(net, classes, args.frozen_blocks, args.pool)
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
        rejected = float((predict(top, ood_x).argmax(1) == classes - 1).float().mean())
        scores = dev_scores(predict(top, dev_x), dev_y, ok)
        history.append({"epoch": epoch + 1, "loss": total / len(train_x), **scores, "ood_rejected": rejected})
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
