"""Fine-tune the top of multilingual-e5-small as a 99-way intent classifier (+ sentence embedding) on 2 CPU cores.

Why this shape: a full 12-layer fine-tune does not fit a CPU budget of minutes. The embeddings and the lower
``--freeze-layers`` layers stay as pre-trained, so their output (hidden states at layer K) is computed once
and cached (float16); each step only runs the top ``12 - K`` layers, mean pooling and the linear head
(the MiniLM recipe's ``IntentNet`` head: logits + L2-normalised pooled embedding). Out-of-scope sentences keep
the original model's embedding (cosine distillation), as in the MiniLM recipe, so the embedding still serves
semantic FAQ search. No "query: " prefix: the kiosk feeds raw text.

Writes ``best.pt`` (full model state of the epoch with the best dev score = mean of BANKING77 dev accuracy
and zh_dev accuracy when there is a zh dev set), ``labels.json`` and ``train_log.json`` into ``--out``.

    python models/recipes/intent_multilingual/train_e5.py --out build/intent_e5
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from load_e5 import load_e5
from ml_data import OOS_LABEL, Example, augmented, load_multilingual_data
from tokenizers import Tokenizer
from torch import nn
from transformers import XLMRobertaModel, get_linear_schedule_with_warmup

MAX_TOKENS = 64


class IntentE5Net(nn.Module):
    """e5 encoder, mean pooling, linear head; returns (logits, L2-normalised embedding) like ``IntentNet``."""

    def __init__(self, encoder: XLMRobertaModel, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-6)
        return self.head(self.dropout(pooled)), nn.functional.normalize(pooled, dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pool(hidden, attention_mask)

    def top(self, hidden: torch.Tensor, attention_mask: torch.Tensor, first_layer: int) -> torch.Tensor:
        """Run encoder layers ``first_layer..`` on cached hidden states; returns the last hidden state."""
        additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.encoder.encoder.layer[first_layer:]:
            hidden = layer(hidden, additive)
        return hidden


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def tokenize(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids[:MAX_TOKENS] for e in tokenizer.encode_batch(texts)]


def pad(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), 1, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.tensor(s)
        mask[row, : len(s)] = 1
    return ids, mask


@torch.no_grad()
def cache_layer(
    model: IntentE5Net, seqs: list[list[int]], layer: int, teacher_rows: set[int], batch_size: int = 64
) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
    """Hidden states after ``layer`` encoder layers (float16, one [tokens, 384] tensor per text) and, for
    ``teacher_rows``, the original model's L2-normalised mean-pooled embedding."""
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    cached: list[torch.Tensor | None] = [None] * len(seqs)
    teacher: dict[int, torch.Tensor] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = pad([seqs[i] for i in rows])
        out = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states[layer]
        for n, i in enumerate(rows):
            cached[i] = hidden[n, : len(seqs[i])].to(torch.float16).clone()
        wanted = [n for n, i in enumerate(rows) if i in teacher_rows]
        if wanted:
            _, emb = model.pool(out.last_hidden_state[wanted], mask[wanted])
            for n, e in zip(wanted, emb, strict=True):
                teacher[rows[n]] = e.clone()
    return cached, teacher  # type: ignore[return-value]


def stack(cached: list[torch.Tensor], rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(cached[i]) for i in rows)
    hidden = torch.zeros((len(rows), length, cached[rows[0]].shape[1]))
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for n, i in enumerate(rows):
        hidden[n, : len(cached[i])] = cached[i].float()
        mask[n, : len(cached[i])] = 1
    return hidden, mask


@torch.no_grad()
def cached_logits(model: IntentE5Net, cached: list[torch.Tensor], rows: list[int], layer: int) -> np.ndarray:
    model.eval()
    out = []
    order = sorted(rows, key=lambda i: len(cached[i]))
    for start in range(0, len(order), 128):
        chunk = order[start : start + 128]
        hidden, mask = stack(cached, chunk)
        logits, _ = model.pool(model.top(hidden, mask, layer), mask)
        out.append(logits.numpy())
    by_row = dict(zip(order, np.concatenate(out), strict=True))
    return np.stack([by_row[i] for i in rows])


def oversampled(train: list[Example], min_per_label: int) -> list[Example]:
    """Repeat the examples of rare labels (FAQ, dialogue labels) up to about ``min_per_label`` per epoch."""
    counts = Counter(e.label for e in train)
    out = []
    for e in train:
        out += [e] * max(1, math.ceil(min_per_label / counts[e.label]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("build/intent_e5"))
    parser.add_argument("--freeze-layers", type=int, default=9, help="K: layers below this are frozen and cached")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--negative-pool", type=int, default=6000)
    parser.add_argument("--negatives-per-epoch", type=int, default=3000)
    parser.add_argument("--augment-en", type=float, default=0.3, help="share of English examples copied with entities")
    parser.add_argument("--augment-zh", type=int, default=2, help="entity copies of every Chinese example")
    parser.add_argument("--min-per-label", type=int, default=60)
    parser.add_argument("--distill-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-train", type=int, default=0, help="debug: cap the number of training texts")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    started_all = time.time()
    data = load_multilingual_data()
    labels = data.labels
    index = {label: i for i, label in enumerate(labels)}
    rng = random.Random(args.seed)
    train = data.train + augmented(data.train, args.augment_en, args.augment_zh, args.seed)
    train_unique = list({(e.text, e.label): e for e in train}.values())
    if args.max_train:
        train_unique = rng.sample(train_unique, args.max_train)
    negatives = rng.sample(data.negatives_train, min(args.negative_pool, len(data.negatives_train)))

    tokenizer = Tokenizer.from_file(str(args.out / "tokenizer.json"))
    keep_ids = np.load(args.out / "keep_ids.npy")
    model = IntentE5Net(load_e5(keep_ids=keep_ids), len(labels))
    texts = [e.text for e in train_unique] + negatives + [t for t, _ in data.dev_en] + [t for t, _ in data.dev_zh]
    n_train, n_neg, n_en = len(train_unique), len(negatives), len(data.dev_en)
    neg_rows = list(range(n_train, n_train + n_neg))
    en_rows = list(range(n_train + n_neg, n_train + n_neg + n_en))
    zh_rows = list(range(n_train + n_neg + n_en, len(texts)))
    t0 = time.time()
    cached, teacher = cache_layer(model, tokenize(tokenizer, texts), args.freeze_layers, set(neg_rows))
    cache_seconds = round(time.time() - t0, 1)
    print(json.dumps({"cached_texts": len(texts), "cache_seconds": cache_seconds}), flush=True)

    for p in model.parameters():
        p.requires_grad_(False)
    top_params = [p for layer in model.encoder.encoder.layer[args.freeze_layers :] for p in layer.parameters()]
    for p in [*top_params, *model.head.parameters()]:
        p.requires_grad_(True)
    epoch_train = oversampled(train_unique, args.min_per_label)
    row_of = {(e.text, e.label): i for i, e in enumerate(train_unique)}
    train_items = [(row_of[(e.text, e.label)], index[e.label]) for e in epoch_train]
    steps_per_epoch = (len(train_items) + args.negatives_per_epoch + args.batch_size - 1) // args.batch_size
    optimizer = torch.optim.AdamW(
        [{"params": top_params, "lr": args.lr}, {"params": model.head.parameters(), "lr": args.head_lr}],
        weight_decay=0.01,
    )
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(0.06 * steps_per_epoch * args.epochs), steps_per_epoch * args.epochs
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    oos_index = index[OOS_LABEL]
    en_gold = np.array([index[lab] for _, lab in data.dev_en])
    zh_gold = np.array([index[lab] for _, lab in data.dev_zh])

    log: list[dict] = []
    best = -1.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        model.encoder.embeddings.eval()
        started = time.time()
        chosen = rng.sample(neg_rows, min(args.negatives_per_epoch, len(neg_rows)))
        items = train_items + [(i, oos_index) for i in chosen]
        rng.shuffle(items)
        total = 0.0
        for start in range(0, len(items), args.batch_size):
            batch = items[start : start + args.batch_size]
            rows = [i for i, _ in batch]
            hidden, mask = stack(cached, rows)
            logits, embedding = model.pool(model.top(hidden, mask, args.freeze_layers), mask)
            loss = loss_fn(logits, torch.tensor([y for _, y in batch]))
            distil = [n for n, i in enumerate(rows) if i in teacher]
            if distil and args.distill_weight:
                wanted = torch.stack([teacher[rows[n]] for n in distil])
                loss = loss + args.distill_weight * (1 - (embedding[distil] * wanted).sum(dim=1)).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top_params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item() * len(batch)
            if epoch == 1 and start == 10 * args.batch_size:
                print(json.dumps({"seconds_per_step": round((time.time() - started) / 11, 3)}), flush=True)
        en_acc = float((cached_logits(model, cached, en_rows, args.freeze_layers).argmax(1) == en_gold).mean())
        zh_acc = (
            float((cached_logits(model, cached, zh_rows, args.freeze_layers).argmax(1) == zh_gold).mean())
            if zh_rows
            else None
        )
        score = en_acc if zh_acc is None else (en_acc + zh_acc) / 2
        entry = {
            "epoch": epoch,
            "loss": total / len(items),
            "dev_accuracy_banking77": en_acc,
            "dev_accuracy_zh": zh_acc,
            "seconds": round(time.time() - started, 1),
        }
        log.append(entry)
        print(json.dumps(entry), flush=True)
        if score > best:
            best = score
            torch.save(model.state_dict(), args.out / "best.pt")
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1))
    (args.out / "train_log.json").write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "sources": data.sources,
                "train_texts_unique": n_train,
                "train_items_per_epoch": len(train_items) + args.negatives_per_epoch,
                "cache_seconds": cache_seconds,
                "total_seconds": round(time.time() - started_all, 1),
                "epochs": log,
                "best_dev_score": best,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
