"""Remote configuration on the kiosk: live keys applied in place, anything else refused with a reason and the
configuration in force kept, saved across restarts (no broker: test_sync_health covers the MQTT path); and the
wire's schema of the live keys, which the backend checks against, held to the kiosk's own fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from firmware_app.config import KioskSettings, load_settings
from firmware_app.sync.remote_config import FILE_NAME, RemoteConfig
from kiosk_link import wire


@pytest.fixture
def settings(tmp_path: Path) -> KioskSettings:
    return load_settings(data_dir=tmp_path, device_id="kiosk-config-01")


def config(revision: int, **settings: wire.SettingValue) -> wire.RemoteConfigV1:
    return wire.RemoteConfigV1(revision=revision, settings={k.replace("__", "."): v for k, v in settings.items()})


def test_live_keys_change_the_objects_the_readers_hold(settings: KioskSettings) -> None:
    dialogue, ui = settings.dialogue, settings.ui
    remote = RemoteConfig(settings)
    report = remote.apply(config(1, dialogue__idle_timeout_s=45, ui__thanks_s=2.5, sync__telemetry_interval_s=5))
    assert report == wire.ConfigReportV1(revision=1, state="applied")
    assert settings.dialogue is dialogue and dialogue.idle_timeout_s == 45 and ui.thanks_s == 2.5
    assert settings.sync.telemetry_interval_s == 5 and remote.revision == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nlu.model_name": "other"}, "not settable remotely: nlu.model_name"),
        ({"listening.thresholds.amelia": 0.4}, "not settable remotely: listening.thresholds.amelia"),
        ({"dialogue.idle_timeout_s": 0}, "dialogue.idle_timeout_s: Input should be greater than 0"),
        ({"dialogue.idle_timeout_s": "60"}, "dialogue.idle_timeout_s: Input should be a valid number"),
        ({"dialogue.oos_turns_before_handoff": 1.5}, "dialogue.oos_turns_before_handoff: Input should be a valid int"),
        (
            {"sync.telemetry_interval_s": 0.01},
            "sync.telemetry_interval_s: Input should be greater than or equal to 0.5",
        ),
    ],
)
def test_a_refused_configuration_leaves_the_one_in_force(
    settings: KioskSettings, changes: dict[str, wire.SettingValue], reason: str
) -> None:
    remote = RemoteConfig(settings)
    remote.apply(config(1, dialogue__idle_timeout_s=45))
    report = remote.apply(wire.RemoteConfigV1(revision=2, settings={**changes, "ui.thanks_s": 3.0}))
    assert report.state == "refused" and report.revision == 2
    assert report.reason is not None and report.reason.startswith(reason)
    assert settings.dialogue.idle_timeout_s == 45 and settings.ui.thanks_s == 6.0  # all or nothing
    assert remote.revision == 1
    assert (
        RemoteConfig(load_settings(data_dir=settings.data_dir)).path.read_bytes()
        == config(1, dialogue__idle_timeout_s=45).encode()
    )


def test_a_key_left_out_returns_to_the_kiosks_own_value(settings: KioskSettings) -> None:
    remote = RemoteConfig(settings)
    remote.apply(config(1, dialogue__idle_timeout_s=45, ui__thanks_s=2.5))
    remote.apply(config(2, ui__thanks_s=4.0))
    assert settings.dialogue.idle_timeout_s == 90.0 and settings.ui.thanks_s == 4.0


def test_the_configuration_survives_a_restart_and_a_corrupt_file_is_ignored(settings: KioskSettings) -> None:
    RemoteConfig(settings).apply(config(3, dialogue__troubled_turns_before_handoff=5))
    restarted = load_settings(data_dir=settings.data_dir)
    remote = RemoteConfig(restarted)
    remote.load()
    assert restarted.dialogue.troubled_turns_before_handoff == 5 and remote.revision == 3
    assert remote.report == wire.ConfigReportV1(revision=3, state="applied")
    # The retained message again after a refusal of something else: still in force, reported as applied.
    remote.refuse(None, "malformed: not JSON")
    assert remote.apply(config(3, dialogue__troubled_turns_before_handoff=5)) == remote.report
    assert remote.report == wire.ConfigReportV1(revision=3, state="applied")

    (settings.data_dir / FILE_NAME).write_bytes(b'{"schema": "kiosk.config/1", "revision": 4, "settings": {')
    fresh = load_settings(data_dir=settings.data_dir)
    ignored = RemoteConfig(fresh)
    ignored.load()
    assert ignored.revision == 0 and fresh.dialogue.troubled_turns_before_handoff == 3


def kiosk_field(settings: KioskSettings, key: str) -> FieldInfo:
    section, _, field = key.partition(".")
    model = type(getattr(settings, section))
    assert issubclass(model, BaseModel) and field in model.model_fields, key
    return model.model_fields[field]


def test_the_wire_schema_has_the_type_and_bounds_of_each_kiosk_field(settings: KioskSettings) -> None:
    """The backend checks against the wire's copy of the schema (it may not import the kiosk): the two cannot drift."""
    for key, kind in wire.LIVE_SETTINGS.items():
        wanted, own = FieldInfo.from_annotation(kind), kiosk_field(settings, key)
        assert (wanted.annotation, wanted.metadata) == (own.annotation, own.metadata), key


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"dialogue.idle_timeout_s": 60, "ui.thanks_s": 2.5, "dialogue.oos_turns_before_handoff": 1}, []),
        ({"sync.telemetry_interval_s": 0.5, "ui.idle_warning_s": 0}, []),  # the bounds themselves
        ({"nlu.model_name": "other", "a.b": 1}, ["not settable remotely: a.b, nlu.model_name (settable: "]),
        ({"dialogue.idle_timeout_s": "60"}, ["dialogue.idle_timeout_s: Input should be a valid number"]),
        ({"ui.thanks_s": True}, ["ui.thanks_s: Input should be a valid number"]),
        ({"dialogue.troubled_turns_before_handoff": 2.0}, ["dialogue.troubled_turns_before_handoff: Input should be"]),
        ({"dialogue.oos_turns_before_handoff": 0}, ["dialogue.oos_turns_before_handoff: Input should be greater"]),
        ({"sync.telemetry_interval_s": 0.4, "ui.thanks_s": 0}, ["sync.telemetry_interval_s: ", "ui.thanks_s: "]),
    ],
)
def test_the_wire_schema_refuses_what_the_kiosk_would(
    settings: KioskSettings, changes: dict[str, Any], problems: list[str]
) -> None:
    found = wire.validate_settings(changes)
    assert len(found) == len(problems) and all(f.startswith(p) for f, p in zip(found, problems, strict=True)), found
    report = RemoteConfig(settings).apply(wire.RemoteConfigV1(revision=1, settings=changes))
    assert report.state == ("refused" if found else "applied"), report
