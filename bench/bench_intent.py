"""Intent model benchmark: latency (tokenization included) on 1 and 2 threads, load time, RSS, accuracy on
dev, out-of-scope numbers, and a TF-IDF + logistic regression baseline on the same dev set.

Latency and memory are measured in child processes so each configuration starts cold and the 1-thread run can
be pinned to one core (``sched_setaffinity``), as on a kiosk where the UI owns the other core.

    python -m bench.bench_intent [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stats import percentile
from firmware_app.config import load_settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
ZH_DEV = REPO / "models" / "recipes" / "intent" / "data" / "zh_dev.jsonl"
LATENCY_UTTERANCES = 400
LOAD_REPEATS = 5


def _rss_mb() -> float:
    """Resident memory now (the peak would count the repeated loads of the load-time measurement)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
    return round(int(line.split()[1]) / 1024, 1)


def _latencies_ms(call: Callable[[str], object], texts: list[str]) -> list[float]:
    """Milliseconds per call over the first ``LATENCY_UTTERANCES`` texts, one at a time, after 20 warm-up calls."""
    texts = texts[:LATENCY_UTTERANCES]
    for text in texts[:20]:
        call(text)
    latencies = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _dev_rows(data_dir: Path) -> list[tuple[str, str]]:
    with (data_dir / "banking77" / "dev.csv").open(encoding="utf-8") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def _clinc_oos_val(data_dir: Path) -> list[str]:
    clinc = json.loads((data_dir / "clinc150" / "data_full_train_val.json").read_text(encoding="utf-8"))
    return [text for text, _ in clinc["oos_val"]]


def worker(threads: int, data_dir: Path) -> dict[str, Any]:
    """Runs in a child process: load times, per-utterance latency and peak RSS for one thread setting."""
    if threads == 1:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from firmware_app.inference.manifest import verified_model_path
    from firmware_app.nlu.intent import IntentClassifier

    settings = load_settings()
    load_ms = []
    for _ in range(LOAD_REPEATS):
        classifier = None
        gc.collect()
        started = time.perf_counter()
        classifier = IntentClassifier.from_models_dir(settings.models_dir, settings.nlu.model_name, threads=threads)
        load_ms.append((time.perf_counter() - started) * 1000)
    latencies = _latencies_ms(classifier.predict, [t for t, _ in _dev_rows(data_dir)])
    _, path = verified_model_path(settings.models_dir, settings.nlu.model_name)
    return {
        "threads": threads,
        "pinned_to_one_core": threads == 1,
        "utterances": len(latencies),
        "latency_ms_p50": round(statistics.median(latencies), 3),
        "latency_ms_p95": round(percentile(latencies, 0.95), 3),
        "load_ms_median": round(statistics.median(load_ms), 1),
        "model_mb": round(path.stat().st_size / 1e6, 2),
        "rss_mb_after": _rss_mb(),
    }


def _zh_dev_rows() -> list[tuple[str, str]]:
    """Our Chinese (and mixed) single questions over the 77 intents, the FAQ and the kiosk's own intents."""
    with ZH_DEV.open(encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in map(json.loads, handle)]


def understanding_worker(data_dir: Path) -> dict[str, Any]:
    """The whole understanding step per turn (model, entities, sentiment, acts, language), as ``kiosk nlu
    predict`` reports it in ``ms``, on one pinned core, per language."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from firmware_app.app import build_nlu
    from firmware_app.packs import load_pack

    settings = load_settings(nlu={"inference_threads": 1})
    engine = build_nlu(settings, load_pack(settings.pack_dir))
    result: dict[str, Any] = {}
    for language, texts in (("en", [t for t, _ in _dev_rows(data_dir)]), ("zh", [t for t, _ in _zh_dev_rows()])):
        latencies = _latencies_ms(engine.understand, texts)
        result[language] = {
            "utterances": len(latencies),
            "ms_p50": round(statistics.median(latencies), 2),
            "ms_p95": round(percentile(latencies, 0.95), 2),
        }
    return {"understanding_one_core": result}


def kiosk_rss_worker(data_dir: Path) -> dict[str, Any]:
    """Peak RSS of a whole kiosk process (database, pack, both models, dialogue) after answering 200 questions,
    half of them in Chinese."""
    import tempfile

    from firmware_app.app import Kiosk

    with tempfile.TemporaryDirectory() as tmp:
        kiosk = Kiosk(load_settings(data_dir=Path(tmp)))
        session, _ = kiosk.start_session("en")
        for text, _ in _dev_rows(data_dir)[:100] + _zh_dev_rows()[:100]:
            kiosk.handle_text(session, text)
            if session.flow is not None:
                kiosk.handle_text(session, "cancel")
        kiosk.close()
    return {
        "kiosk_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "kiosk_rss_mb_after": _rss_mb(),
    }


def accuracy(data_dir: Path) -> dict[str, Any]:
    """BANKING77 dev accuracy and out-of-scope numbers of the shipped model, through the kiosk's NLU."""
    from firmware_app.app import build_nlu
    from firmware_app.nlu.evaluation import evaluate_rows
    from firmware_app.packs import load_pack

    settings = load_settings()
    engine = build_nlu(settings, load_pack(settings.pack_dir))
    rows = _dev_rows(data_dir) + [(t, "oos") for t in _clinc_oos_val(data_dir)]
    chinese = _zh_dev_rows()
    return {
        "dev": "BANKING77 dev (1,003) + CLINC150 oos_val (100)",
        **evaluate_rows(engine, rows),
        "zh_dev": {"file": str(ZH_DEV.relative_to(REPO)), **evaluate_rows(engine, chinese)},
    }


# Card endings said the way customers add them to a question; the model never saw these in training.
CARD_ENDING_VARIANTS = ("{text} My card ends in 7781.", "{text} It's the debit card ending 4812.", "card 0394: {text}")


def card_ending_masking(data_dir: Path) -> dict[str, Any]:
    """BANKING77 dev accuracy (closed set) with a card ending added to every question, read as it is and with
    the ending cut out first (``intent_text``, what the kiosk does): does masking keep the intent on track?"""
    from firmware_app.nlu.engine import intent_text
    from firmware_app.nlu.entities import extract_entities
    from firmware_app.nlu.intent import IntentClassifier

    settings = load_settings()
    classifier = IntentClassifier.from_models_dir(settings.models_dir, settings.nlu.model_name)
    rows = _dev_rows(data_dir)
    texts = [variant.format(text=text) for text, _ in rows for variant in CARD_ENDING_VARIANTS]
    gold = [label for _, label in rows for _ in CARD_ENDING_VARIANTS]
    masked = [intent_text(t, tuple(extract_entities(t, today=datetime.date(2026, 12, 7)))) for t in texts]
    result: dict[str, Any] = {"questions": len(texts)}
    for name, inputs in (("as_said", texts), ("masked", masked), ("without_ending", [t for t, _ in rows])):
        predictions = classifier.predict_many(inputs)
        wanted = gold if name != "without_ending" else [label for _, label in rows]
        result[name] = round(
            sum(p.best_in_scope == g for p, g in zip(predictions, wanted, strict=True)) / len(wanted), 4
        )
    return result


def tfidf_baseline(data_dir: Path) -> dict[str, Any]:
    """TF-IDF (word 1-2 grams + char 2-5 grams) + logistic regression, trained on the same train split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    with (data_dir / "banking77" / "train.csv").open(encoding="utf-8") as handle:
        train = [(r["text"], r["category"]) for r in csv.DictReader(handle)]
    dev = _dev_rows(data_dir)
    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(C=20, max_iter=2000),
    )
    model.fit([t for t, _ in train], [y for _, y in train])
    latencies = []
    correct = 0
    for text, label in dev:
        started = time.perf_counter()
        predicted = model.predict([text])[0]
        latencies.append((time.perf_counter() - started) * 1000)
        correct += predicted == label
    return {"accuracy": correct / len(dev), "latency_ms_p50": round(statistics.median(latencies), 3)}


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_intent", *args], cwd=REPO, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(data_dir: Path) -> dict[str, Any]:
    latency = [_child(["--worker", str(threads), "--data-dir", str(data_dir)]) for threads in (1, 2)]
    result: dict[str, Any] = {
        "latency": latency,
        **_child(["--kiosk-rss", "--data-dir", str(data_dir)]),
        **_child(["--understanding", "--data-dir", str(data_dir)]),
        "accuracy": accuracy(data_dir),
        "card_ending_masking": card_ending_masking(data_dir),
        "baseline_tfidf_logreg": tfidf_baseline(data_dir),
    }
    result["accuracy_minus_baseline"] = round(
        result["accuracy"]["accuracy"] - result["baseline_tfidf_logreg"]["accuracy"], 4
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KIOSK_DATA_SETS", DEFAULT_DATA)))
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kiosk-rss", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--understanding", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.data_dir)))
    elif args.kiosk_rss:
        print(json.dumps(kiosk_rss_worker(args.data_dir)))
    elif args.understanding:
        print(json.dumps(understanding_worker(args.data_dir)))
    else:
        print(json.dumps(run(args.data_dir), indent=1))


if __name__ == "__main__":
    main()
