"""Logging: one JSON object per line on stderr, nothing personal in messages, extra fields or tracebacks."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from firmware_app.logs import JsonFormatter, RedactingTextFormatter, configure_logging

CARD = "4111 1111 1111 1111"
EMAIL = "jo.bloggs@example.com"
PHONE = "07911 123456"
SECRETS = [CARD, CARD.replace(" ", ""), EMAIL, "bloggs", PHONE, PHONE.replace(" ", "")]


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """configure_logging() replaces the root handlers; take ours off again and restore the level afterwards."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if isinstance(handler.formatter, JsonFormatter | RedactingTextFormatter):
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(err: str) -> list[dict[str, Any]]:
    """Parse stderr as JSON lines, failing if any line is not a JSON object."""
    records = [json.loads(line) for line in err.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached the log"


def test_json_lines_on_stderr_with_redacted_message_and_extra(capsys: pytest.CaptureFixture[str]) -> None:
    """Each record is one JSON object on its own stderr line; message and string extras are redacted."""
    configure_logging("INFO", "json")
    log = logging.getLogger("kiosk.test")
    log.info("customer typed card %s", CARD, extra={"customer_email": EMAIL, "card": CARD, "turns": 3})
    log.warning("call back on %s", PHONE)
    log.debug("not shown at INFO")

    out, err = capsys.readouterr()
    assert out == "", "stdout is reserved for the CLI"
    first, second = json_lines(err)
    assert first["level"] == "info"
    assert first["logger"] == "kiosk.test"
    assert first["msg"] == "customer typed card [CARD ****1111]"
    assert first["customer_email"] == "[EMAIL]"
    assert first["card"] == "[CARD ****1111]"
    assert first["turns"] == 3
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", first["ts"])
    assert second["level"] == "warning"
    assert second["msg"] == "call back on [PHONE]"
    assert_no_secrets(err)


def test_json_keeps_what_staff_need(capsys: pytest.CaptureFixture[str]) -> None:
    """Card endings, ticket references and amounts survive redaction; non-ASCII text stays readable."""
    configure_logging("INFO", "json")
    logging.getLogger("kiosk").info("ticket KB-3F2B8C1E for card ending 4821, £250.00, 挂失")
    (record,) = json_lines(capsys.readouterr().err)
    assert record["msg"] == "ticket KB-3F2B8C1E for card ending 4821, £250.00, 挂失"


def test_level_is_applied(capsys: pytest.CaptureFixture[str]) -> None:
    """configure_logging('warning') drops info records (level names are case-insensitive)."""
    configure_logging("warning", "json")
    log = logging.getLogger("kiosk.level")
    log.info("dropped")
    log.error("kept")
    assert [record["msg"] for record in json_lines(capsys.readouterr().err)] == ["kept"]


def test_text_format_redacts(capsys: pytest.CaptureFixture[str]) -> None:
    """The human-readable format is redacted too, timestamp and level intact."""
    configure_logging("INFO", "text")
    logging.getLogger("kiosk.text").info("card %s mail %s phone %s", CARD, EMAIL, PHONE)
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} INFO kiosk\.text: ", line), line
    assert line.endswith("card [CARD ****1111] mail [EMAIL] phone [PHONE]")
    assert_no_secrets(err)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_exceptions_are_logged_redacted(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    """logger.exception() includes the traceback, with personal data in the exception text redacted."""
    configure_logging("INFO", fmt)
    try:
        raise ValueError(f"payment declined for {CARD} / {EMAIL}")
    except ValueError:
        logging.getLogger("kiosk.exc").exception("could not file ticket for %s", EMAIL)
    err = capsys.readouterr().err
    assert_no_secrets(err)
    if fmt == "json":
        (record,) = json_lines(err)
        assert record["level"] == "error"
        assert record["msg"] == "could not file ticket for [EMAIL]"
        assert record["exc"].startswith("Traceback (most recent call last):")
        assert record["exc"].endswith("ValueError: payment declined for [CARD ****1111] / [EMAIL]")
    else:
        assert "could not file ticket for [EMAIL]" in err
        assert "Traceback (most recent call last):" in err
        assert "ValueError: payment declined for [CARD ****1111] / [EMAIL]" in err


def test_configure_logging_replaces_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    """Calling configure_logging twice does not duplicate output (one handler on the root logger)."""
    configure_logging("INFO", "json")
    configure_logging("INFO", "json")
    logging.getLogger("kiosk").info("once")
    assert len(json_lines(capsys.readouterr().err)) == 1


def test_structured_extra_values_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """Personal data nested in a dict/list extra (or a card number passed as an int) must not reach the log."""
    configure_logging("INFO", "json")
    logging.getLogger("kiosk").info(
        "entities", extra={"entities": [{"kind": "email", "value": EMAIL}], "card": int(CARD.replace(" ", ""))}
    )
    assert_no_secrets(capsys.readouterr().err)
