"""The bench harness: runs the benchmarks, stores their JSON in bench/results/ and writes bench/REPORT.md.

    python -m bench.run [--data-dir ../shared/data] [--only intent,sentiment]

Every number in the report comes from the JSON written by the same run; the report names the command, the
machine and the time, so a number can always be traced back to how it was measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import (
    bench_anomaly,
    bench_asr,
    bench_board_check,
    bench_console,
    bench_conversations,
    bench_degraded,
    bench_intent,
    bench_knowledge,
    bench_litert,
    bench_photo_quality,
    bench_sentiment,
    bench_soak,
    bench_speech_mode,
    bench_sync,
    bench_systemd,
    bench_ui,
    bench_vision,
    bench_vision_robustness,
    bench_wakeword,
    wheels_aarch64,
)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPORT = BENCH_DIR / "REPORT.md"


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "openvino": metadata.version("openvino"),
        "platform": platform.platform(),
    }


def _intent_section(r: dict[str, Any]) -> list[str]:
    acc, base, zh = r["accuracy"], r["baseline_tfidf_logreg"], r["accuracy"]["zh_dev"]
    lines = [
        "## Intent model (int8, OpenVINO)",
        "",
        "| threads | p50 ms | p95 ms | load ms (median) | model MB | process RSS MB after the run |",
        "|---|---|---|---|---|---|",
    ]
    for lat in r["latency"]:
        pinned = " (pinned to 1 core)" if lat["pinned_to_one_core"] else ""
        lines.append(
            f"| {lat['threads']}{pinned} | {lat['latency_ms_p50']} | {lat['latency_ms_p95']} | "
            f"{lat['load_ms_median']} | {lat['model_mb']} | {lat['rss_mb_after']} |"
        )
    lines += [
        "",
        f"Latency is per utterance, tokenization included, over {r['latency'][0]['utterances']} BANKING77 dev "
        "utterances, one at a time.",
        "",
        f"Whole kiosk process (database, pack, both models, dialogue; 100 English and 100 Chinese questions "
        f"answered): peak RSS **{r['kiosk_peak_rss_mb']} MB** ({r['kiosk_rss_mb_after']} MB at the end).",
        "",
        "The whole understanding step per turn (model, entities, sentiment, acts, language: `kiosk nlu predict`'s "
        "`ms`), one pinned core:",
        "",
        "| language | utterances | p50 ms | p95 ms |",
        "|---|---|---|---|",
        *(
            f"| {language} | {u['utterances']} | {u['ms_p50']} | {u['ms_p95']} |"
            for language, u in r["understanding_one_core"].items()
        ),
        "",
        f"Accuracy on {acc['dev']}, at the shipped threshold {acc['threshold']['en']:.4f}:",
        "",
        "| metric | value |",
        "|---|---|",
        f"| BANKING77 dev accuracy (rejections count as errors) | **{acc['accuracy']:.4f}** |",
        f"| in-scope queries answered | {acc['in_scope_answered']:.4f} |",
        f"| CLINC150 oos_val rejected | {acc['oos_rejected']:.4f} |",
        f"| out-of-scope AUROC (in_scope_score) | {acc['auroc']:.4f} |",
        f"| TF-IDF + logistic regression baseline, same dev set | {base['accuracy']:.4f}"
        f" (p50 {base['latency_ms_p50']} ms) |",
        f"| int8 model minus baseline | {r['accuracy_minus_baseline']:+.4f} |",
        "",
        f"Chinese and mixed single questions (`{zh['file']}`, {zh['n']} written by us, 20 out of scope; "
        f"threshold {zh['threshold']['zh']:.4f}): accuracy **{zh['accuracy']:.4f}**, in scope answered "
        f"{zh['in_scope_answered']:.4f}, out of scope rejected {zh['oos_rejected']:.4f}.",
        "",
    ]
    return lines


def _sentiment_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Sentiment and frustration",
        "",
        "| data | system | n | accuracy | frustrated P | frustrated R | frustrated F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for file, systems in r.items():
        for system, s in systems.items():
            f = s["frustrated"]
            lines.append(
                f"| {Path(file).name} | {system} | {s['n']} | {s['accuracy']:.3f} | {f['precision']:.3f} | "
                f"{f['recall']:.3f} | {f['f1']:.3f} |"
            )
    return [*lines, "", "The labelled examples were written by us (tests/fixtures); see the caveat in the README.", ""]


def _knowledge_section(r: dict[str, Any]) -> list[str]:
    return [
        "## Knowledge store",
        "",
        "| metric | value |",
        "|---|---|",
        f"| general-FAQ paraphrases answered with the right entry ({r['paraphrases']}) |"
        f" {r['answered_with_right_entry']:.3f} |",
        f"| unrelated questions declined ({r['unrelated']}) | {r['unrelated_declined']:.3f} |",
        f"| English hybrid search (FTS5 + semantic), median ms | {r['search_ms_p50_en_hybrid']} |",
        f"| Chinese hybrid search (trigram + semantic, query embedded), median ms | {r['search_ms_p50_zh_hybrid']} |",
        "",
        "Paraphrases and unrelated questions: tests/fixtures/faq_paraphrases.csv (written for this project).",
        "",
    ]


BENCHMARKS: dict[str, tuple[Callable[[Path], dict[str, Any]], Callable[[dict[str, Any]], list[str]]]] = {
    "intent": (bench_intent.run, _intent_section),
    "knowledge": (bench_knowledge.run, _knowledge_section),
    "conversations": (bench_conversations.run, bench_conversations.report_section),
    "sentiment": (lambda _data: bench_sentiment.run(bench_sentiment.DEFAULT_CSVS), _sentiment_section),
    "ui": (bench_ui.run, bench_ui.report_section),
    "speech_mode": (bench_speech_mode.run, bench_speech_mode.report_section),
    "degraded": (bench_degraded.run, bench_degraded.report_section),
    "soak": (bench_soak.run, bench_soak.report_section),  # about 25 minutes: 1,000 fault cycles
    "photo_quality": (bench_photo_quality.run, bench_photo_quality.report_section),
    "wakeword": (bench_wakeword.run, bench_wakeword.report_section),
    "asr": (bench_asr.run, bench_asr.report_section),
    "vision": (bench_vision.run, bench_vision.report_section),
    "board_check": (bench_board_check.run, bench_board_check.report_section),
    "vision_robustness": (bench_vision_robustness.run, bench_vision_robustness.report_section),
    "anomaly": (bench_anomaly.run, bench_anomaly.report_section),
    "sync": (bench_sync.run, bench_sync.report_section),
    "console": (bench_console.run, bench_console.report_section),
    "systemd": (bench_systemd.run, bench_systemd.report_section),
    "litert": (bench_litert.run, bench_litert.report_section),
    "wheels": (wheels_aarch64.run, wheels_aarch64.report_section),  # pip download of aarch64 wheels: needs PyPI
}
# A benchmark whose JSON file is not named after it.
RESULT_FILES = {"wheels": wheels_aarch64.RESULT.name}


def result_file(name: str) -> Path:
    return RESULTS_DIR / RESULT_FILES.get(name, f"{name}.json")


def write_report(results: dict[str, dict[str, Any]], command: str) -> None:
    info = machine()
    lines = [
        "# Benchmark report",
        "",
        f"Produced by `{command}` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, OpenVINO {info['openvino']}.",
        "",
    ]
    for name, (_, section) in BENCHMARKS.items():
        if name in results:
            lines += section(results[name])
    REPORT.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=bench_intent.DEFAULT_DATA)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS))
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for name in args.only.split(","):
        results[name] = BENCHMARKS[name][0](args.data_dir)
        result_file(name).write_text(json.dumps({"machine": machine(), **results[name]}, indent=1) + "\n")
    for name in BENCHMARKS:  # keep the other sections of the report from their last run
        if name not in results and result_file(name).exists():
            results[name] = json.loads(result_file(name).read_text())
            results[name].pop("machine", None)
    write_report(
        results, "python -m bench.run " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())
    )


if __name__ == "__main__":
    main()
