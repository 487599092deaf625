"""Service analytics: scripted visits through the real kiosk give the expected daily aggregates (with the
unanswered questions redacted), and ``fleet stats`` reports them per device and fleet-wide as text, JSON, CSV
and a PNG chart (no broker: the transport is covered in test_sync_health)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from firmware_app.app import Kiosk
from firmware_app.config import load_settings
from firmware_app.sync.analytics import active_days, daily_report, normalise_question
from fleet.cli import main
from fleet.stats import since_day
from fleet.store import FleetStore
from kiosk_link import wire
from tests.conftest import fixed_today

CARD_QUESTION = "can you recommend a pizza place near 4111 1111 1111 1111?"


@pytest.fixture(scope="module")
def visited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    """A kiosk of its own after four scripted visits: answered and rated 5; two unanswered questions and a
    hand-off; a tapped topic rated 3; and one visit with no customer turn at all."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("analytics"), device_id="kiosk-stats-01", log_format="text"
    )
    kiosk = Kiosk(settings, today=fixed_today)
    session, _ = kiosk.start_session()
    assert kiosk.handle_text(session, "How do I change my PIN?").kind == "answer"
    kiosk.handle_text(session, "thanks, goodbye")
    kiosk.record_rating(session.id, 5, "en")

    session, _ = kiosk.start_session()
    assert kiosk.handle_text(session, "What's the weather like tomorrow?").kind == "out_of_scope"
    assert kiosk.handle_text(session, CARD_QUESTION).kind == "handoff"
    kiosk.end_session(session, "handoff")

    session, _ = kiosk.start_session()
    assert kiosk.choose(session, "change_pin").kind == "answer"
    kiosk.end_session(session, "idle_timeout")
    kiosk.record_rating(session.id, 3, "en")

    session, _ = kiosk.start_session()
    kiosk.end_session(session, "idle_timeout")
    yield kiosk
    kiosk.close()


def test_scripted_visits_give_the_expected_aggregates(visited: Kiosk) -> None:
    today = datetime.now(UTC).date()
    assert active_days(visited.db, today) == [today]
    report = daily_report(visited.db, today)
    assert (report.conversations, report.resolved, report.handoffs) == (3, 2, 1)
    assert report.ratings == [0, 0, 1, 0, 1]
    assert report.top_intents == [wire.CountedV1(name="change_pin", count=2)]
    assert [q.name for q in report.out_of_scope] == [
        "can you recommend a pizza place near [card ****#]",
        "what's the weather like tomorrow",
    ]
    assert "4111" not in report.encode().decode()  # redacted before it was ever stored
    assert "4111" not in json.dumps(visited.db.execute("SELECT * FROM visit_topics").fetchall())
    assert daily_report(visited.db, date(2020, 1, 1)).conversations == 0


def test_questions_are_counted_under_one_redacted_form() -> None:
    same = {
        normalise_question(text, "GB") for text in ("Is branch 12 open?", "  is BRANCH 14 open ", "is branch 9 open!")
    }
    assert same == {"is branch # open"}
    # Every number goes, whether or not it reads as a phone or card number.
    assert normalise_question("call me on 07700 900123 or a@b.com", "GB") == "call me on [phone] or [email]"
    assert normalise_question("my ref is 12 345", "GB") == "my ref is # #"


@pytest.fixture
def fleet_db(tmp_path: Path, visited: Kiosk) -> Path:
    """The kiosk's report for today, and two days of a second kiosk, as ``fleet serve`` stores them."""
    store = FleetStore(tmp_path / "fleet.db")
    store.set_analytics("kiosk-stats-01", daily_report(visited.db, datetime.now(UTC).date()))
    for day, conversations in ((date(2026, 11, 20), 4), (date(2026, 11, 21), 6)):
        store.set_analytics(
            "kiosk-stats-02",
            wire.AnalyticsV1(
                day=day,
                conversations=conversations,
                resolved=conversations - 2,
                handoffs=1,
                ratings=[1, 0, 0, 0, 1],
                top_intents=[wire.CountedV1(name="lost_card", count=3)],
                out_of_scope=[wire.CountedV1(name="what's the weather like tomorrow", count=1)],
            ),
        )
    # A later report of the same device and day replaces the earlier one rather than adding to it.
    store.set_analytics(
        "kiosk-stats-02", wire.AnalyticsV1(day=date(2026, 11, 20), conversations=2, resolved=2, handoffs=0)
    )
    store.close()
    return tmp_path / "fleet.db"


def test_fleet_stats_per_device_and_fleet_wide(fleet_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(fleet_db), "stats", "--json", "--csv", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    one, two, fleet = (json.loads(line) for line in result.output.splitlines())
    assert (one["device_id"], one["conversations"], one["resolution_rate"], one["handoff_rate"]) == (
        "kiosk-stats-01",
        3,
        0.6667,
        0.3333,
    )
    assert (two["days"], two["conversations"], two["resolved"], two["handoffs"]) == (2, 8, 6, 1)
    assert fleet["device_id"] == "(fleet)" and fleet["conversations"] == 11 and fleet["resolved"] == 8
    assert fleet["ratings"] == [1, 0, 1, 0, 2] and fleet["mean_rating"] == 3.5
    assert fleet["top_intents"][0] == {"name": "lost_card", "count": 3}
    assert fleet["out_of_scope"][0] == {"name": "what's the weather like tomorrow", "count": 2}

    rows = list(csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8")))
    second = [
        (r["day"], r["conversations"], r["resolution_rate"], r["ratings_1"])
        for r in rows
        if r["device_id"] == "kiosk-stats-02"
    ]
    assert second == [("2026-11-20", "2", "1.0", "0"), ("2026-11-21", "6", "0.6667", "1")]
    assert len(rows) == 3

    only = runner.invoke(main, ["--db", str(fleet_db), "stats", "--device", "kiosk-stats-02", "--since", "2026-11-21"])
    assert only.exit_code == 0, only.output
    first = only.output.splitlines()[0].split()
    assert first[:6] == ["kiosk-stats-02", "days", "1", "conversations", "6", "resolved"]
    assert "top intents:" in only.output and "lost_card" in only.output

    png = tmp_path / "stats.png"
    drawn = runner.invoke(main, ["--db", str(fleet_db), "stats", "--png", str(png)])
    assert drawn.exit_code == 0, drawn.output
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600

    bad = runner.invoke(main, ["--db", str(fleet_db), "stats", "--since", "last week"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_since_takes_a_date_or_days_back() -> None:
    assert since_day("7d", date(2026, 11, 21)) == date(2026, 11, 15)
    assert since_day("1d", date(2026, 11, 21)) == date(2026, 11, 21)
    assert since_day("2026-11-01", date(2026, 11, 21)) == date(2026, 11, 1)
