"""``kiosk converse`` as the independent check runs it (a real process, stdin to stdout) and the bench's scorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_conversations import check_turn, score, score_visit
from tests.conftest import FIXTURES
from tests.test_cli import kiosk

VISITS = FIXTURES / "conversations" / "visits.jsonl"
RECORD_KEYS = {"conversation", "turn", "say", "reply", "reply_lang", "answer_id", "declined", "flow", "slots"}
RECORD_KEYS |= {"tickets", "handoff"}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    data_dir = tmp_path_factory.mktemp("converse")
    result = kiosk("converse", data_dir=data_dir, stdin=VISITS.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_one_line_per_turn_with_every_field(played: list[dict]) -> None:
    visits = [json.loads(line) for line in VISITS.read_text(encoding="utf-8").splitlines()]
    assert len(played) == sum(len(v["turns"]) for v in visits)
    assert all(record.keys() == RECORD_KEYS for record in played)
    assert [r["turn"] for r in played if r["conversation"] == "t-en-appointment"] == [0, 1, 2]


def test_the_sample_visits_all_pass(played: list[dict]) -> None:
    visits = [json.loads(line) for line in VISITS.read_text(encoding="utf-8").splitlines()]
    result = score(visits, played)
    assert result["failures"] == {}
    assert result["passed_share"] == 1.0


def test_tickets_carry_their_slot_values_and_dates_follow_the_visits_clock(played: list[dict]) -> None:
    [booked] = [t for r in played for t in r["tickets"] if t["type"] == "appointment"]
    assert booked["fields"] == {"topic": "mortgages", "date": "2026-12-08", "time": "14:00"}
    assert booked["reference"].startswith("KB-") and booked["priority"] == "normal"


def test_test_tickets_stay_out_of_a_real_kiosk(tmp_path: Path) -> None:
    """Without --data-dir the run uses a scratch database; with it, tickets land where the caller asked."""
    line = VISITS.read_text(encoding="utf-8").splitlines()[0].encode()
    result = kiosk("converse", data_dir=tmp_path, stdin=line)
    assert result.returncode == 0
    listed = kiosk("tickets", "list", data_dir=tmp_path)
    assert "card_block" in listed.stdout.decode()


def test_bad_lines_get_an_error_line_and_the_run_goes_on(tmp_path: Path) -> None:
    good = b'{"id": "ok", "lang": "en", "now": "2026-12-07T10:00:00", "turns": [{"say": "\\ud800 hi \\u0000"}]}'
    stdin = b"\n".join([b"\xff\xfe not json", b"[1, 2]", b'{"id": "no-now", "turns": []}', good, b""])
    result = kiosk("converse", data_dir=tmp_path, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [("error" in r) for r in records] == [True, True, True, False]
    assert records[-1]["conversation"] == "ok" and "\ufffd" in records[-1]["say"]


def test_the_scorer_checks_every_kind_of_expectation() -> None:
    got = {
        "answer_id": "card_arrival", "declined": False, "flow": None, "handoff": False, "reply_lang": "en",
        "tickets": [{"type": "card_block", "fields": {"card_last4": "7781"}}],
    }  # fmt: skip
    assert check_turn({"answer": ["card_delivery_estimate", "card_arrival"]}, got) == []
    assert check_turn({"ticket": {"type": "card_block", "card_last4": "7781"}}, got) == []
    assert len(check_turn({"ticket": {"type": "card_block", "card_last4": "1111"}}, got)) == 1
    assert len(check_turn({"no_ticket": True, "flow": "lost_card", "reply_lang": "zh", "answer": "x"}, got)) == 4


def test_an_unexpected_ticket_fails_the_visit() -> None:
    visit = {"id": "v", "lang": "en", "turns": [{"say": "hi", "expect": {}}]}
    record = {"answer_id": None, "declined": False, "flow": None, "handoff": True, "reply_lang": "en",
              "tickets": [{"type": "handoff", "fields": {}}]}  # fmt: skip
    result = score_visit(visit, [record])
    assert not result["passed"] and "1 tickets filed, 0 expected" in result["failures"][0]
