"""The ``kiosk`` command as a user and the evaluation run it: real process, real stdin/stdout."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

KIOSK = Path(sys.executable).with_name("kiosk")


def kiosk(
    *args: str, data_dir: Path, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(KIOSK), "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_nlu_predict_writes_one_json_line_per_input_line(data_dir: Path) -> None:
    lines = ["I lost my card", "", "what's the weather tomorrow?", "a" * 10_000, "我的卡丢了"]
    stdin = ("\n".join(lines) + "\n").encode() + b"\xff\xfe\x00binary\n"
    result = kiosk("nlu", "predict", data_dir=data_dir, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(records) == len(lines) + 1
    for record in records:
        assert {"text", "intent", "confidence", "in_scope_score"} <= record.keys()
    assert records[0]["intent"] == "lost_or_stolen_card"
    assert records[1]["intent"] == "oos" and records[1]["in_scope_score"] == 0.0
    assert records[2]["intent"] == "oos"


def test_nlu_eval_prints_accuracy_and_out_of_scope_numbers(data_dir: Path) -> None:
    result = kiosk("nlu", "eval", "--csv", str(FIXTURES / "intent_smoke.csv"), data_dir=data_dir)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["n"] == 51 and report["accuracy"] >= 0.9 and report["oos_rejected"] >= 0.8 and report["auroc"] > 0.9


def test_ask_answers_one_question(data_dir: Path) -> None:
    result = kiosk("ask", "I lost my card", data_dir=data_dir)
    assert result.returncode == 0, result.stderr.decode()
    assert "AI assistant" in result.stdout.decode() and "last four digits" in result.stdout.decode()


def test_ask_json_is_a_reply_event(data_dir: Path) -> None:
    result = kiosk("ask", "--json", "What are your opening hours?", data_dir=data_dir)
    reply = json.loads(result.stdout)
    assert reply["type"] == "reply" and reply["card"]["source_id"] == "opening_hours"


def test_faq_search(data_dir: Path) -> None:
    result = kiosk("faq", "search", "营业时间", data_dir=data_dir)
    hits = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert hits and hits[0]["id"] == "opening_hours"


def test_chat_conversation_and_tickets_commands(data_dir: Path) -> None:
    result = kiosk("chat", data_dir=data_dir, stdin=b"my card was stolen\n4821\nyes\n\n")
    assert result.returncode == 0, result.stderr.decode()
    listed = kiosk("tickets", "list", data_dir=data_dir).stdout.decode()
    reference = listed.split()[0]
    assert reference.startswith("KB-") and "card_block" in listed
    shown = json.loads(kiosk("tickets", "show", reference, data_dir=data_dir).stdout)
    assert shown["reference"] == reference and shown["transcript"]
    missing = kiosk("tickets", "show", "KB-00000000", data_dir=data_dir)
    assert missing.returncode == 1 and b"no ticket" in missing.stderr


def test_broken_pack_is_a_clear_error_not_a_traceback(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text("id: [", encoding="utf-8")
    result = kiosk("ask", "hello", data_dir=data_dir, env={"KIOSK_PACK_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert b"Error:" in result.stderr and b"Traceback" not in result.stderr


def test_logs_go_to_stderr_as_json(data_dir: Path) -> None:
    result = kiosk("ask", "hello", data_dir=tmp_data(data_dir), env={"KIOSK_LOG_LEVEL": "INFO"})
    for line in result.stderr.decode().splitlines():
        assert json.loads(line)["level"]


def tmp_data(base: Path) -> Path:
    fresh = base / "fresh"
    fresh.mkdir(exist_ok=True)
    return fresh


@pytest.mark.parametrize(
    "args",
    [
        ("faq", "search", "\udcff\udcfe card"),  # invalid UTF-8 on the command line (surrogate escapes)
        ("faq", "search", "\x01\x1b[2J\x7f"),
        ("ask", "\udcff\udcfe card \x01"),
        ("ask", "\ud800 lone surrogate"),
    ],
)
def test_commands_take_invalid_text_without_a_traceback(data_dir: Path, args: tuple[str, ...]) -> None:
    argv = [a.encode("utf-8", "surrogateescape") if "\udcff" in a else a.encode("utf-8", "surrogatepass") for a in args]
    result = subprocess.run(
        [os.fsencode(KIOSK), b"--data-dir", os.fsencode(data_dir), *argv], capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr


def test_a_binary_question_still_counts_in_the_visit_analytics(tmp_path: Path) -> None:
    result = kiosk("ask", "\udcff\udcfe what are your opening hours", data_dir=tmp_path)
    assert result.returncode == 0 and b"Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "kiosk.db") as db:
        assert db.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 1
