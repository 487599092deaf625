"""Training and calibration data for the bank intent model, read from ``../shared/data``.

In-scope: BANKING77 (77 intents), plus the hand-written colloquial English lines of
``data/en_colloquial_*.jsonl`` (visits are chattier and misspelt where BANKING77 is tidy; see ``data/SOURCE.md``).
Out-of-scope negatives: CLINC150 (minus its banking and credit-card domains and the few intents that duplicate a
BANKING77 intent), HWU64 (minus currency questions), SNIPS, the CLINC150 ``oos_train`` queries and the colloquial
file's ``oos`` lines. CLINC150 ``oos_val`` is kept back for calibration and dev metrics.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

OOS_LABEL = "oos"

# CLINC150 domains and intents that overlap BANKING77's scope: never use them as negatives.
CLINC_EXCLUDED_DOMAINS = frozenset({"banking", "credit_cards"})
CLINC_EXCLUDED_INTENTS = frozenset({"exchange_rate", "find_phone", "direct_deposit"})
HWU_EXCLUDED_LABELS = frozenset({"qa_currency"})


COLLOQUIAL_TRAIN = Path(__file__).resolve().parent / "data" / "en_colloquial_train.jsonl"
COLLOQUIAL_DEV = Path(__file__).resolve().parent / "data" / "en_colloquial_dev.jsonl"


@dataclass(frozen=True)
class IntentData:
    """Everything the recipe needs, as plain lists."""

    labels: list[str]
    train: list[tuple[str, str]]
    dev: list[tuple[str, str]]
    negatives_train: list[str]
    negatives_dev: list[str]
    oos_calibration: list[str]
    colloquial_train: list[tuple[str, str]]  # in-scope labels and "oos"
    colloquial_dev: list[tuple[str, str]]


def default_data_dir() -> Path:
    """``KIOSK_DATA_DIR`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("KIOSK_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _read_csv(path: Path, text_col: str, label_col: str) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row[text_col].strip(), row[label_col].strip()) for row in csv.DictReader(handle)]


def read_jsonl_pairs(path: Path) -> list[tuple[str, str]]:
    """``(text, label)`` of a JSON Lines file with ``text`` and ``label`` keys."""
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [(row["text"].strip(), row["label"]) for row in rows]


def _clinc_negatives(data_dir: Path) -> tuple[list[str], list[str], list[str]]:
    clinc = json.loads((data_dir / "clinc150" / "data_full_train_val.json").read_text(encoding="utf-8"))
    domains = json.loads((data_dir / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    excluded = set(CLINC_EXCLUDED_INTENTS)
    for domain in CLINC_EXCLUDED_DOMAINS:
        excluded.update(domains[domain])
    train = [t for t, label in clinc["train"] if label not in excluded]
    train += [t for t, _ in clinc["oos_train"]]
    dev = [t for t, label in clinc["val"] if label not in excluded]
    oos_val = [t for t, _ in clinc["oos_val"]]
    return train, dev, oos_val


def load_intent_data(data_dir: Path | None = None) -> IntentData:
    """Load BANKING77 plus the out-of-scope negative pools."""
    data_dir = data_dir or default_data_dir()
    labels = json.loads((data_dir / "banking77" / "categories.json").read_text(encoding="utf-8"))
    train = _read_csv(data_dir / "banking77" / "train.csv", "text", "category")
    dev = _read_csv(data_dir / "banking77" / "dev.csv", "text", "category")
    clinc_train, clinc_dev, oos_val = _clinc_negatives(data_dir)
    hwu_train = [
        t for t, lab in _read_csv(data_dir / "hwu64" / "train.csv", "text", "label") if lab not in HWU_EXCLUDED_LABELS
    ]
    hwu_dev = [
        t for t, lab in _read_csv(data_dir / "hwu64" / "dev.csv", "text", "label") if lab not in HWU_EXCLUDED_LABELS
    ]
    snips_train = [t for t, _ in _read_csv(data_dir / "snips" / "train.csv", "text", "label")]
    snips_dev = [t for t, _ in _read_csv(data_dir / "snips" / "dev.csv", "text", "label")]
    return IntentData(
        labels=list(labels),
        train=train,
        dev=dev,
        negatives_train=clinc_train + hwu_train + snips_train,
        negatives_dev=clinc_dev + hwu_dev + snips_dev,
        oos_calibration=oos_val,
        colloquial_train=read_jsonl_pairs(COLLOQUIAL_TRAIN),
        colloquial_dev=read_jsonl_pairs(COLLOQUIAL_DEV),
    )
