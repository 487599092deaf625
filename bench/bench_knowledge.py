"""Knowledge-store benchmark: FAQ answers through the real dialogue, and search latency.

On tests/fixtures/faq_paraphrases.csv (paraphrases of the general FAQ written for this project, plus unrelated
questions): how many paraphrases are answered with the right entry, how many unrelated questions are (wrongly)
answered from the FAQ, and the median latency of a hybrid search in each language (words or trigrams, and meaning;
the query embedded by its language's model).

    python -m bench.bench_knowledge
"""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from firmware_app.app import Kiosk
from firmware_app.config import load_settings

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faq_paraphrases.csv"
EN_QUERIES = ["what time do you close today", "which documents do I need to open a new account", "is there wifi"]
ZH_QUERIES = ["营业时间", "我的卡丢了", "汇率", "开户需要什么证件"]
REPEATS = 50


def _median_ms(kiosk: Kiosk, queries: list[str], lang: str) -> float:
    times = []
    for _ in range(REPEATS):
        for query in queries:
            started = time.perf_counter()
            kiosk.knowledge.search(query, lang)  # type: ignore[arg-type]
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        kiosk = Kiosk(load_settings(data_dir=Path(tmp)))
        with FIXTURE.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        right = wrong_answer = declined_ok = 0
        for row in rows:
            session, _ = kiosk.start_session("en")
            reply = kiosk.handle_text(session, row["text"])
            source = reply.card.source_id if reply.card else None
            if row["expected"] == "none":
                declined_ok += source is None
            elif source == row["expected"]:
                right += 1
            kiosk.end_session(session, "reset")
        paraphrases = sum(r["expected"] != "none" for r in rows)
        unrelated = len(rows) - paraphrases
        wrong_answer = unrelated - declined_ok
        result = {
            "paraphrases": paraphrases,
            "answered_with_right_entry": round(right / paraphrases, 4),
            "unrelated": unrelated,
            "unrelated_declined": round(declined_ok / unrelated, 4),
            "unrelated_answered_from_faq": wrong_answer,
            "faq_answer_similarity": kiosk.settings.nlu.faq_answer_similarity,
            "search_ms_p50_en_hybrid": _median_ms(kiosk, EN_QUERIES, "en"),
            "search_ms_p50_zh_hybrid": _median_ms(kiosk, ZH_QUERIES, "zh"),
        }
        kiosk.close()
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
