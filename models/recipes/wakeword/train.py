"""Train the "Amelia" wake-word model: a small depthwise-separable 1-D CNN over 1.2 s of front-end features.

Input: ``[batch, 120, 40]`` features (120 frames of 10 ms, the 40 ``pymicro_features`` channels, as the kiosk
computes them); output: the probability that "Amelia" ended in the last 300 ms of the window. About 1.2 M
multiply-adds and 34 k parameters per window.

Each epoch draws 30,000 positive and 90,000 negative windows from the streams of ``data.py`` (from the second
epoch on, half of the negatives are the highest-scoring 45,000 of 60,000 scored by the previous epoch's model),
with light SpecAugment (time and channel masks). The checkpoint kept is the one with the best recall of
validation "Amelia" clips at a window false-positive rate of 1e-4 on the validation negatives.

    python models/recipes/wakeword/train.py [--work build/wakeword] [--epochs 12]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from data import DEFAULT_OUT, FEATURES, WINDOW_FRAMES
from torch import nn

FEATURE_SCALE = 1 / 16  # the front end's values run 0-26


class DSBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, kernel, stride, kernel // 2, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.pointwise = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn2(self.pointwise(self.act(self.bn1(self.depthwise(x))))))


class AmeliaNet(nn.Module):
    """features [B, 120, 40] -> probability [B, 1]."""

    def __init__(self, channels: int = 64, window: int = WINDOW_FRAMES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(FEATURES, channels, 5, 2, 2, bias=False), nn.BatchNorm1d(channels), nn.ReLU()
        )
        self.blocks = nn.Sequential(
            DSBlock(channels, 9, 1), DSBlock(channels, 9, 2), DSBlock(channels, 9, 1), DSBlock(channels, 9, 2)
        )
        steps = window
        for stride in (2, 1, 2, 1, 2):
            steps = (steps + stride - 1) // stride
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels * steps, 1)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        x = features.transpose(1, 2) * FEATURE_SCALE
        x = self.blocks(self.stem(x))
        return self.head(self.dropout(x.flatten(1)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(features))


def windows(features: np.ndarray, ends: np.ndarray) -> torch.Tensor:
    idx = ends[:, None] + np.arange(-WINDOW_FRAMES + 1, 1)[None, :]
    return torch.from_numpy(features[idx].astype(np.float32))


def spec_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    t0 = torch.randint(0, WINDOW_FRAMES, (b, 1), generator=gen)
    tw = torch.randint(0, 10, (b, 1), generator=gen)
    f0 = torch.randint(0, FEATURES, (b, 1), generator=gen)
    fw = torch.randint(0, 5, (b, 1), generator=gen)
    t = torch.arange(WINDOW_FRAMES)[None, :]
    f = torch.arange(FEATURES)[None, :]
    tmask = ((t >= t0) & (t < t0 + tw))[:, :, None]
    fmask = ((f >= f0) & (f < f0 + fw))[:, None, :]
    return x.masked_fill(tmask | fmask, 0.0)


@torch.no_grad()
def score(model: AmeliaNet, features: np.ndarray, ends: np.ndarray, batch: int = 2048) -> np.ndarray:
    model.eval()
    out = [model(windows(features, ends[i : i + batch])).squeeze(1).numpy() for i in range(0, len(ends), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def validate(model: AmeliaNet, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    pos = np.where(labels == 1)[0]
    neg = np.where(labels == 0)[0]
    pos_scores, neg_scores = score(model, features, pos), score(model, features, neg)
    # one event = a run of consecutive positive frames; its score is the best window of the run
    runs = np.split(pos_scores, np.where(np.diff(pos) > 1)[0] + 1)
    event_best = np.array([r.max() for r in runs])
    threshold = float(np.quantile(neg_scores, 1 - 1e-4))
    return {
        "events": len(runs),
        "recall_at_fpr_1e-4": float((event_best > threshold).mean()),
        "recall_at_0.5": float((event_best > 0.5).mean()),
        "negative_windows_over_0.5": float((neg_scores > 0.5).mean()),
        "threshold_fpr_1e-4": threshold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--positives-per-epoch", type=int, default=30_000)
    parser.add_argument("--negatives-per-epoch", type=int, default=90_000)
    parser.add_argument("--hard-pool", type=int, default=60_000)
    parser.add_argument("--hard-negatives", type=int, default=45_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    feats = np.load(args.work / "train_features.npy")
    labels = np.load(args.work / "train_labels.npy")
    val_feats = np.load(args.work / "val_features.npy")
    val_labels = np.load(args.work / "val_labels.npy")
    pos_all, neg_all = np.where(labels == 1)[0], np.where(labels == 0)[0]
    print(f"train windows: {len(pos_all)} positive, {len(neg_all)} negative", flush=True)

    model = AmeliaNet()
    params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = (args.positives_per_epoch + args.negatives_per_epoch) // args.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    loss_fn = nn.BCEWithLogitsLoss()
    history, best, hard = [], -1.0, np.zeros(0, dtype=np.int64)
    t_start = time.time()
    for epoch in range(args.epochs):
        t0 = time.time()
        pos = rng.choice(pos_all, args.positives_per_epoch, replace=len(pos_all) < args.positives_per_epoch)
        n_hard = min(len(hard), args.hard_negatives)
        neg = np.concatenate([rng.choice(neg_all, args.negatives_per_epoch - n_hard, replace=False), hard[:n_hard]])
        ends = np.concatenate([pos, neg])
        targets = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.float32)
        order = rng.permutation(len(ends))
        model.train()
        total = 0.0
        for step in range(steps_per_epoch):
            sel = order[step * args.batch_size : (step + 1) * args.batch_size]
            x = spec_augment(windows(feats, ends[sel]), gen)
            y = torch.from_numpy(targets[sel])[:, None]
            loss = loss_fn(model.logits(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        # hard negatives for the next epoch: the highest-scoring of a random pool
        pool = rng.choice(neg_all, min(args.hard_pool, len(neg_all)), replace=False)
        pool_scores = score(model, feats, pool)
        hard = pool[np.argsort(-pool_scores)]
        metrics = validate(model, val_feats, val_labels)
        record = {
            "epoch": epoch + 1,
            "loss": round(total / steps_per_epoch, 5),
            "pool_over_0.5": float((pool_scores > 0.5).mean()),
            **metrics,
            "seconds": round(time.time() - t0, 1),
        }
        history.append(record)
        print(json.dumps(record), flush=True)
        key = metrics["recall_at_fpr_1e-4"] - metrics["negative_windows_over_0.5"]
        if key >= best:
            best = key
            torch.save(model.state_dict(), args.work / f"best_seed{args.seed}.pt")
    torch.save(model.state_dict(), args.work / f"last_seed{args.seed}.pt")
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "parameters": params,
        "history": history,
        "train_seconds": round(time.time() - t_start, 1),
        "train_positive_windows": len(pos_all),
        "train_negative_windows": len(neg_all),
    }
    (args.work / f"train_summary_seed{args.seed}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"parameters": params, "train_seconds": summary["train_seconds"]}))


if __name__ == "__main__":
    main()
