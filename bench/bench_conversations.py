"""Score whole visits: ``kiosk converse`` on ``conversations/dev.jsonl``, judged as CONVERSATION_TESTS.md says.

A visit passes when every expectation of every turn holds and the visit rules hold (the tickets filed are exactly
the expected ones; no turn fails). The command is run as the independent check runs it, in a subprocess::

    python -m bench.bench_conversations [--file ../shared/data/conversations/dev.jsonl]

and the JSON it prints has the share of visits passed per language, the share of expectations met and every
failure with what was expected and what the kiosk did.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV_FILE = Path("conversations") / "dev.jsonl"
TURN_KEYS = ("answer", "declined", "flow", "ticket", "no_ticket", "handoff", "reply_lang")


def converse(lines: list[str]) -> list[dict[str, Any]]:
    """Run ``kiosk converse`` on the lines; its JSON output records."""
    done = subprocess.run(
        [sys.executable, "-m", "firmware_app.cli", "converse"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _ticket_matches(expected: dict[str, Any], ticket: dict[str, Any]) -> bool:
    fields = ticket.get("fields", {})
    return ticket["type"] == expected["type"] and all(
        str(fields.get(key)) == str(value) for key, value in expected.items() if key != "type"
    )


def check_turn(expect: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """The expectations of one turn that did not hold, as readable lines (empty: the turn is right)."""
    failed = []
    if "answer" in expect:
        wanted = expect["answer"] if isinstance(expect["answer"], list) else [expect["answer"]]
        if got["answer_id"] not in wanted:
            failed.append(f"answer: wanted {wanted}, got {got['answer_id']}")
    for key in ("declined", "flow", "handoff", "reply_lang"):
        if key in expect and got[key] != expect[key]:
            failed.append(f"{key}: wanted {expect[key]}, got {got[key]}")
    if "ticket" in expect and not any(_ticket_matches(expect["ticket"], t) for t in got["tickets"]):
        failed.append(f"ticket: wanted {expect['ticket']}, got {got['tickets']}")
    if expect.get("no_ticket") and got["tickets"]:
        failed.append(f"no_ticket: got {got['tickets']}")
    return failed


def score_visit(visit: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Expectations met in one visit, plus the visit rules (exactly the expected tickets, no failed turn)."""
    failures: list[str] = []
    met = total = 0
    for number, turn in enumerate(visit["turns"]):
        got = records[number] if number < len(records) else None
        expect = {k: v for k, v in turn["expect"].items() if k in TURN_KEYS}
        if got is None or "error" in got:
            failures.append(f"turn {number}: no result ({got})")
            total += len(expect)
            continue
        failed = check_turn(expect, got)
        total += len(expect)
        met += len(expect) - len(failed)
        failures += [f"turn {number} ({turn['say']!r}): {f}" for f in failed]
    expected_tickets = sum(1 for t in visit["turns"] if "ticket" in t["expect"])
    filed = sum(len(r.get("tickets", [])) for r in records)
    if filed != expected_tickets:
        failures.append(f"visit: {filed} tickets filed, {expected_tickets} expected")
    return {
        "id": visit["id"],
        "lang": visit["lang"],
        "passed": not failures,
        "met": met,
        "total": total,
        "failures": failures,
    }


def score(visits: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, Any]:
    by_visit: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_visit.setdefault(record.get("conversation", ""), []).append(record)
    results = [score_visit(v, by_visit.get(v["id"], [])) for v in visits]
    passed: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for result in results:
        count[result["lang"]] += 1
        passed[result["lang"]] += result["passed"]
    met, total = sum(r["met"] for r in results), sum(r["total"] for r in results)
    return {
        "visits": len(results),
        "passed": sum(passed.values()),
        "passed_share": round(sum(passed.values()) / len(results), 4) if results else 0.0,
        "passed_share_by_language": {lang: round(passed[lang] / count[lang], 4) for lang in sorted(count)},
        "visits_by_language": dict(sorted(count.items())),
        "expectations_met": met,
        "expectations": total,
        "expectations_met_share": round(met / total, 4) if total else 0.0,
        "failures": {r["id"]: r["failures"] for r in results if not r["passed"]},
    }


def run(data_dir: Path) -> dict[str, Any]:
    path = data_dir / DEV_FILE
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = score([json.loads(line) for line in lines], converse(lines))
    return {"command": "python -m bench.run --only conversations", "file": str(DEV_FILE), **result}


def report_section(r: dict[str, Any]) -> list[str]:
    by_lang = ", ".join(
        f"{lang} {share:.1%} of {r['visits_by_language'][lang]}"
        for lang, share in r["passed_share_by_language"].items()
    )
    lines = [
        "## Whole visits (`kiosk converse`)",
        "",
        f"`{r['command']}` on `{r['file']}` (a development set: the dialogue was tuned on it).",
        "",
        f"Visits fully right: **{r['passed_share']:.1%}** ({r['passed']} of {r['visits']}; {by_lang}). "
        f"Expectations met: {r['expectations_met_share']:.1%} ({r['expectations_met']} of {r['expectations']}).",
        "",
    ]
    if r["failures"]:
        lines += ["Visits that failed:", ""]
        lines += [f"- `{visit}`: " + "; ".join(failures) for visit, failures in r["failures"].items()]
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_DATA / DEV_FILE)
    args = parser.parse_args()
    lines = [line for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(json.dumps(score([json.loads(line) for line in lines], converse(lines)), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
