"""Training and dev data of the multilingual (English + Chinese) bank intent model.

Why a module of its own: the label set grows from 78 to 99 (77 BANKING77 intents, the bank pack's 16 FAQ
ids, five dialogue labels, ``oos`` last as the kiosk's IntentClassifier requires) and Chinese data comes from
three places. The English part and the out-of-scope pools are the MiniLM recipe's ``data.py``, reused.

Sources (nothing from ``shared/data/conversations``, the evaluation set):
- BANKING77 train (in-scope, English); BANKING77 dev for model selection;
- the pack's ``examples_zh`` (4 per intent), FAQ ``question`` + ``alternatives`` in en and zh;
- ``models/recipes/intent/data/zh_mixed_train.jsonl`` and ``zh_dev.jsonl`` (hand-written, another helper), when
  present;
- CLINC150 ``greeting``, ``goodbye``, ``thank_you`` train as English examples of the dialogue labels (so they
  are taken out of the out-of-scope pool, with the small-talk intents that a kiosk FAQ answers);
- a small seed list below for the dialogue labels nothing else covers (block_card, talk_to_human).
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.append(str(REPO / "models" / "recipes" / "intent"))  # the MiniLM recipe's data.py
sys.path.append(str(REPO))

from data import OOS_LABEL, default_data_dir, load_intent_data  # noqa: E402

from firmware_app.packs import load_pack  # noqa: E402

DIALOGUE_LABELS = ("block_card", "talk_to_human", "thanks", "greeting", "goodbye")
DATA_DIR = REPO / "models" / "recipes" / "intent" / "data"
ZH_TRAIN = DATA_DIR / "zh_mixed_train.jsonl"
ZH_DEV = DATA_DIR / "zh_dev.jsonl"
# CLINC150 intents that become positives of a dialogue label.
CLINC_POSITIVES = {"greeting": "greeting", "goodbye": "goodbye", "thank_you": "thanks"}
# CLINC150 intents too close to a pack FAQ (about_kiosk_assistant, languages) to be negatives.
CLINC_NOT_NEGATIVE = frozenset({"are_you_a_bot", "what_can_i_ask_you", "change_language", "who_made_you"})

# Seed examples for labels no public set covers; the helper's zh_mixed file adds many more.
SEED: dict[str, list[str]] = {
    "block_card": [
        "block my card",
        "please freeze my card right now",
        "I need to block my debit card",
        "stop my card immediately",
        "can you lock my card",
        "冻结我的卡",
        "帮我把卡锁了",
        "我要临时冻结银行卡",
        "马上停用我的卡",
    ],
    "talk_to_human": [
        "I want to talk to a person",
        "can I speak to a real human",
        "get me a member of staff",
        "let me talk to someone at the counter",
        "I'd like to speak to an advisor",
        "我要找人工服务",
        "转人工",
        "我想跟工作人员说话",
        "请叫一个柜员过来",
    ],
}


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    lang: str


@dataclass(frozen=True)
class MultilingualData:
    """Plain lists; ``labels[-1] == "oos"``."""

    labels: list[str]
    train: list[Example]
    dev_en: list[tuple[str, str]]
    dev_zh: list[tuple[str, str]]
    negatives_train: list[str]
    negatives_dev: list[str]
    oos_calibration: list[str]
    sources: dict[str, int]


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _clinc_by_intent(data_dir: Path) -> dict[str, list[str]]:
    clinc = json.loads((data_dir / "clinc150" / "data_full_train_val.json").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for text, label in clinc["train"] + clinc["val"]:
        out.setdefault(label, []).append(text)
    return out


def load_multilingual_data(data_dir: Path | None = None, use_helper_files: bool = True) -> MultilingualData:
    """Everything the recipe trains and selects models on."""
    data_dir = data_dir or default_data_dir()
    base = load_intent_data(data_dir)
    pack = load_pack(REPO / "packs" / "bank")
    faq_ids = [f.id for f in pack.faq]
    labels = [*base.labels, *faq_ids, *DIALOGUE_LABELS, OOS_LABEL]
    known = set(labels)
    sources: dict[str, int] = {}

    train = [Example(t, lab, "en") for t, lab in base.train]
    sources["banking77_train"] = len(train)
    pack_rows = [Example(t, i.id, "zh") for i in pack.intents for t in i.examples_zh]
    for f in pack.faq:
        pack_rows += [Example(t, f.id, "en") for t in [f.question.en, *f.alternatives.en]]
        pack_rows += [Example(t, f.id, "zh") for t in [f.question.zh, *f.alternatives.zh]]
    train += pack_rows
    sources["pack_examples_zh_and_faq"] = len(pack_rows)
    seed = [Example(t, lab, "zh" if HAS_CJK.search(t) else "en") for lab, ts in SEED.items() for t in ts]
    train += seed
    sources["seed_dialogue"] = len(seed)

    clinc = _clinc_by_intent(data_dir)
    clinc_pos = [Example(t, lab, "en") for intent, lab in CLINC_POSITIVES.items() for t in clinc[intent]]
    train += clinc_pos
    sources["clinc_greeting_goodbye_thank_you"] = len(clinc_pos)
    dropped = {t for intent in [*CLINC_POSITIVES, *CLINC_NOT_NEGATIVE] for t in clinc[intent]}

    negatives_train = [t for t in base.negatives_train if t not in dropped]
    negatives_dev = [t for t in base.negatives_dev if t not in dropped]

    dev_zh: list[tuple[str, str]] = []
    if use_helper_files and ZH_TRAIN.exists():
        rows = _read_jsonl(ZH_TRAIN)
        unknown = sorted({r["label"] for r in rows} - known)
        if unknown:
            print(f"warning: {ZH_TRAIN.name}: skipping unknown labels {unknown}", file=sys.stderr)
        helper = [Example(r["text"], r["label"], r.get("lang", "zh")) for r in rows if r["label"] in known]
        train += helper
        sources["zh_mixed_train"] = len(helper)
    if use_helper_files and ZH_DEV.exists():
        rows = _read_jsonl(ZH_DEV)
        dev_zh = [(r["text"], r["label"]) for r in rows if r["label"] in known]
        sources["zh_dev"] = len(dev_zh)
    train_texts = {e.text for e in train}
    dev_zh = [(t, lab) for t, lab in dev_zh if t not in train_texts]
    return MultilingualData(
        labels=labels,
        train=train,
        dev_en=base.dev,
        dev_zh=dev_zh,
        negatives_train=negatives_train,
        negatives_dev=negatives_dev,
        oos_calibration=base.oos_calibration,
        sources=sources,
    )


# ---- entity augmentation: card endings, amounts, dates and merchants must not move the intent ----
MERCHANTS_EN = ("Tesco", "Amazon", "Starbucks", "Uber", "Sainsbury's", "Boots", "Ryanair", "Netflix")
MERCHANTS_ZH = ("星巴克", "淘宝", "京东", "麦当劳", "沃尔玛", "携程", "美团", "特易购")
ZH_DIGITS = "零一二三四五六七八九"
HAS_CJK = re.compile(r"[\u4e00-\u9fff]")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")


def _digits(rng: random.Random, n: int = 4) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def augment_en(text: str, rng: random.Random) -> str:
    """Insert a card ending after "card", else append an amount / date / merchant phrase."""
    if re.search(r"\bcard\b", text) and rng.random() < 0.6:
        return re.sub(r"\bcard\b", f"card ending {_digits(rng)}", text, count=1)
    choice = rng.randrange(4)
    stem = text.rstrip("?.! ")
    end = text[len(stem) :]
    if choice == 0:
        return f"{stem} - it was £{rng.randint(5, 2000)}.{rng.randint(0, 99):02d}{end}"
    if choice == 1:
        return f"{stem} on {rng.randint(1, 28)} {rng.choice(MONTHS)}{end}"
    if choice == 2:
        return f"{stem} at {rng.choice(MERCHANTS_EN)}{end}"
    return f"{stem}, card ending {_digits(rng)}{end}"


def augment_zh(text: str, rng: random.Random) -> str:
    """Insert 尾号xxxx (Arabic or Chinese digits) before 卡, else prepend a date / merchant or add an amount."""
    digits = _digits(rng)
    ending = digits if rng.random() < 0.6 else "".join(ZH_DIGITS[int(d)] for d in digits)
    if "卡" in text and "尾号" not in text and rng.random() < 0.6:
        i = text.index("卡")
        return f"{text[:i]}尾号{ending}的{text[i:]}"
    choice = rng.randrange(3)
    if choice == 0:
        return f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日{text}"
    if choice == 1:
        return f"我在{rng.choice(MERCHANTS_ZH)}消费了{rng.randint(5, 5000)}元，{text}"
    return f"{text.rstrip('？?。')}，金额{rng.randint(5, 5000)}元"


def augmented(train: list[Example], en_fraction: float, zh_copies: int, seed: int) -> list[Example]:
    """Entity-inserted copies: ``en_fraction`` of English examples once, every Chinese example ``zh_copies``
    times (Chinese data is scarce). ``oos`` rows are not augmented."""
    rng = random.Random(seed)
    out = []
    for ex in train:
        if ex.label == OOS_LABEL:
            continue
        if HAS_CJK.search(ex.text):
            out += [Example(augment_zh(ex.text, rng), ex.label, "zh") for _ in range(zh_copies)]
        elif rng.random() < en_fraction:
            out.append(Example(augment_en(ex.text, rng), ex.label, "en"))
    return out
