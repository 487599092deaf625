"""Telemetry on the kiosk (latency percentiles, error counts) and the wire models of status, telemetry, remote
configuration and analytics: valid ones round-trip, and any payload is parsed or refused with a reason."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from firmware_app.events import Reply, SessionEnded, Transcribed, UserSaid
from firmware_app.sync.telemetry import HealthRecorder
from kiosk_link import wire
from tests.test_sync_wire import json_values


def test_reply_latency_is_measured_from_the_customers_words() -> None:
    health = HealthRecorder(window=4)
    for n in range(6):
        health.on_event(UserSaid(session_id="s", text="hi", language="en"))
        health.record("reply", float(n))  # the recorder's own samples, to check the window and the ranks
    health.on_event(Reply(session_id="s", text="hello", language="en", kind="info"))
    health.on_event(Reply(session_id="other", text="greeting", language="en", kind="info"))  # no words: no sample
    health.on_event(Transcribed(text="hi", engine="fast", confidence=0.9, seconds=0.25, audio_s=1.0))
    health.on_event(UserSaid(session_id="gone", text="hi", language="en"))
    health.on_event(SessionEnded(session_id="gone", reason="reset"))
    latencies = health.latencies()
    reply = latencies["reply"]
    assert reply.count == 4  # the window keeps the newest samples: 3, 4, 5 and the measured one (under 1 ms)
    assert (reply.p50_ms, reply.p95_ms, reply.max_ms) == (3.0, 5.0, 5.0)
    assert latencies["asr"] == wire.LatencyV1(count=1, p50_ms=250.0, p95_ms=250.0, max_ms=250.0)


def test_warnings_and_errors_are_counted_by_level() -> None:
    health = HealthRecorder()
    logger = logging.getLogger("tests.telemetry")
    logger.addHandler(health)
    try:
        logger.warning("one")
        logger.error("two")
        logger.error("three")
        logger.info("not counted")
    finally:
        logger.removeHandler(health)
    assert health.errors() == {"log.warning": 1, "log.error": 2}


def valid_payloads() -> list[wire.WireModel]:
    return [
        wire.StatusV1(
            state="online",
            versions={"kiosk": "0.1.0", "model:intent-minilm-bank": "1.0.0"},
            pack=wire.PackV1(id="bank", version="1.0.0", sha256="a" * 64),
            config=wire.ConfigReportV1(revision=None, state="refused", reason="malformed: not JSON"),
        ),
        wire.TelemetryV1(
            sent_at=datetime.now(UTC),
            uptime_s=12.5,
            queue_depth=3,
            latencies={"reply": wire.LatencyV1(count=2, p50_ms=30, p95_ms=80, max_ms=80)},
            errors={"log.error": 1},
            free_disk_bytes=10**9,
        ),
        wire.RemoteConfigV1(revision=2, settings={"dialogue.idle_timeout_s": 60, "ui.thanks_s": 2.5}),
        wire.AnalyticsV1(
            day=date(2026, 11, 21),
            conversations=3,
            resolved=2,
            handoffs=1,
            top_intents=[wire.CountedV1(name="change_pin", count=2)],
        ),
    ]


@pytest.mark.parametrize("payload", valid_payloads(), ids=lambda p: p.SCHEMA)
def test_valid_payloads_round_trip(payload: wire.WireModel) -> None:
    assert wire.parse(payload.encode(), type(payload)) == payload


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (wire.AnalyticsV1, {"day": "2026-11-21", "conversations": 1, "resolved": 1, "handoffs": 1}),
        (wire.AnalyticsV1, {"day": "2026-11-21", "conversations": 1, "resolved": 0, "handoffs": 0, "ratings": [1]}),
        (wire.RemoteConfigV1, {"revision": 1, "settings": {"no_section": 1}}),
        (wire.RemoteConfigV1, {"revision": 1, "settings": {"dialogue.idle_timeout_s": [60]}}),
        (wire.RemoteConfigV1, {"revision": 0, "settings": {}}),
        (wire.TelemetryV1, {"sent_at": "now", "uptime_s": 1, "queue_depth": 0}),
        (wire.TelemetryV1, {"sent_at": "2026-11-21T10:00:00Z", "uptime_s": 1, "queue_depth": -1}),
        (wire.StatusV1, {"state": "online", "pack": {"id": "bank", "version": "1", "sha256": "not-hex"}}),
    ],
)
def test_invalid_payloads_are_refused(model: type[wire.WireModel], body: dict[str, object]) -> None:
    with pytest.raises(wire.WireError) as refused:
        wire.parse(json.dumps({"schema": model.SCHEMA, **body}).encode(), model)
    assert refused.value.reason == "invalid"


def test_too_many_keys_are_refused_by_size_or_count() -> None:
    many = {f"section.key{n}": n for n in range(65)}
    with pytest.raises(wire.WireError, match="invalid"):
        wire.parse(
            json.dumps({"schema": "kiosk.config/1", "revision": 1, "settings": many}).encode(), wire.RemoteConfigV1
        )
    huge = json.dumps({"schema": "kiosk.telemetry/1", "pad": "x" * wire.MAX_PAYLOAD_BYTES}).encode()
    with pytest.raises(wire.WireError, match="oversized"):
        wire.parse(huge, wire.TelemetryV1)


NEW_MODELS: list[type[wire.WireModel]] = [wire.StatusV1, wire.TelemetryV1, wire.RemoteConfigV1, wire.AnalyticsV1]
fields = st.sampled_from(
    [
        *("state", "versions", "pack", "config", "sent_at", "uptime_s", "queue_depth", "latencies", "errors"),
        *("revision", "settings", "day", "conversations", "resolved", "handoffs", "ratings", "top_intents"),
        "out_of_scope",
    ]
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda schema, body: json.dumps({**body, "schema": schema}).encode(),
        st.sampled_from([m.SCHEMA for m in NEW_MODELS] + ["kiosk.telemetry/2", "kiosk.config/0"]),
        st.dictionaries(fields, json_values, max_size=6),
    ),
    model=st.sampled_from(NEW_MODELS),
)
def test_any_payload_on_the_new_topics_is_parsed_or_refused(payload: bytes, model: type[wire.WireModel]) -> None:
    try:
        parsed = wire.parse(payload, model)
    except wire.WireError as refused:
        assert refused.reason in ("oversized", "malformed", "wrong_schema", "unsupported_version", "invalid")
    else:
        assert isinstance(parsed, model)
