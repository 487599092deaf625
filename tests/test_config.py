"""Kiosk settings: defaults < TOML file (``KIOSK_CONFIG``) < ``KIOSK_*`` environment < keyword overrides."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from firmware_app import config
from firmware_app.config import REPO_ROOT, KioskSettings, load_settings


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ``KIOSK_*`` variables, a private XDG data home, and no device config file; returns the XDG home."""
    for name in list(os.environ):
        if name.upper().startswith("KIOSK_"):
            monkeypatch.delenv(name)
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    monkeypatch.setattr(config, "DEVICE_CONFIG_PATH", tmp_path / "etc" / "kiosk.toml")
    return xdg


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """Write ``text`` as the kiosk TOML and point ``KIOSK_CONFIG`` at it."""
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("KIOSK_CONFIG", str(path))
    return path


@pytest.mark.parametrize("with_empty_file", [False, True], ids=["no-config-file", "empty-KIOSK_CONFIG"])
def test_defaults_need_no_hardware_and_no_config(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_empty_file: bool
) -> None:
    """With no file (or an empty one) every field has a laptop-friendly default and nothing is created on disk."""
    if with_empty_file:
        write_config(tmp_path, monkeypatch, "")
    settings = load_settings()

    assert settings.device_id == f"kiosk-{socket.gethostname()}"
    assert settings.data_dir == clean_env / "kestrel-kiosk"
    assert settings.pack_dir == REPO_ROOT / "packs" / "bank"
    assert settings.models_dir == REPO_ROOT / "models" / "int8"
    assert (settings.language, settings.region, settings.currency) == ("en", "GB", "GBP")
    assert (settings.log_level, settings.log_format) == ("WARNING", "json")
    assert settings.nlu.model_name == "intent-minilm-bank"
    assert settings.nlu.oos_threshold is None
    assert settings.nlu.inference_threads == 0
    assert settings.nlu.faq_answer_similarity == 0.55
    assert settings.dialogue.oos_turns_before_handoff == 2
    assert settings.dialogue.troubled_turns_before_handoff == 3
    assert settings.dialogue.idle_timeout_s == 90.0
    assert not settings.data_dir.exists(), "loading settings must not create directories"


def test_data_dir_falls_back_to_home_without_xdg(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without XDG_DATA_HOME the data lives under ~/.local/share/kestrel-kiosk."""
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings().data_dir == tmp_path / "home" / ".local" / "share" / "kestrel-kiosk"


def test_device_config_file_is_read_when_kiosk_config_unset(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device file (/etc/kiosk/kiosk.toml) applies when present and KIOSK_CONFIG is not set."""
    device_file = tmp_path / "etc" / "kiosk.toml"
    device_file.parent.mkdir()
    device_file.write_text('device_id = "branch-7-kiosk-2"\n', encoding="utf-8")
    assert config.config_file_path() == device_file
    assert load_settings().device_id == "branch-7-kiosk-2"


def test_toml_values_apply(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Top-level and section values from the TOML file replace the defaults; untouched fields keep theirs."""
    write_config(
        tmp_path,
        monkeypatch,
        """
device_id = "branch-42"
data_dir = "/var/lib/kiosk"
language = "zh"
region = "CN"
currency = "CNY"
log_format = "text"

[nlu]
oos_threshold = 0.42
inference_threads = 2

[dialogue]
idle_timeout_s = 30
oos_turns_before_handoff = 4
""",
    )
    settings = load_settings()

    assert settings.device_id == "branch-42"
    assert settings.data_dir == Path("/var/lib/kiosk")
    assert (settings.language, settings.region, settings.currency) == ("zh", "CN", "CNY")
    assert settings.log_format == "text"
    assert settings.nlu.oos_threshold == 0.42
    assert settings.nlu.inference_threads == 2
    assert settings.nlu.model_name == "intent-minilm-bank"
    assert settings.dialogue.idle_timeout_s == 30.0
    assert settings.dialogue.oos_turns_before_handoff == 4
    assert settings.dialogue.troubled_turns_before_handoff == 3


def test_env_overrides_toml_including_nested(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KIOSK_FIELD and KIOSK_SECTION__FIELD beat the file; the rest of a TOML section still applies."""
    write_config(
        tmp_path,
        monkeypatch,
        'language = "zh"\nregion = "CN"\n[dialogue]\nidle_timeout_s = 30\noos_turns_before_handoff = 4\n',
    )
    monkeypatch.setenv("KIOSK_LANGUAGE", "en")
    monkeypatch.setenv("KIOSK_DIALOGUE__IDLE_TIMEOUT_S", "60")
    monkeypatch.setenv("KIOSK_NLU__INFERENCE_THREADS", "3")
    settings = load_settings()

    assert settings.language == "en"
    assert settings.region == "CN"
    assert settings.dialogue.idle_timeout_s == 60.0
    assert settings.dialogue.oos_turns_before_handoff == 4
    assert settings.nlu.inference_threads == 3


def test_keyword_overrides_beat_env_and_toml(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_settings(**overrides) (the CLI's flags) wins over every other source."""
    write_config(tmp_path, monkeypatch, 'log_level = "WARNING"\n')
    monkeypatch.setenv("KIOSK_LOG_LEVEL", "ERROR")
    assert load_settings(log_level="DEBUG").log_level == "DEBUG"
    assert load_settings().log_level == "ERROR"


def test_missing_config_file_is_an_error(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KIOSK_CONFIG naming a missing file fails loudly, naming the path, instead of silently using defaults."""
    missing = tmp_path / "nowhere" / "kiosk.toml"
    monkeypatch.setenv("KIOSK_CONFIG", str(missing))
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_settings()


@pytest.mark.parametrize(
    ("toml", "location"),
    [
        ("colour = 'blue'\n", ("colour",)),
        ("language = 'fr'\n", ("language",)),
        ("log_format = 'xml'\n", ("log_format",)),
        ("[dialogue]\nidle_timeout_s = -5\n", ("dialogue", "idle_timeout_s")),
        ("[dialogue]\nidle_timeout_s = 0\n", ("dialogue", "idle_timeout_s")),
        ("[dialogue]\noos_turns_before_handoff = 0\n", ("dialogue", "oos_turns_before_handoff")),
        ("[nlu]\nfaq_answer_similarity = 1.5\n", ("nlu", "faq_answer_similarity")),
        ("[nlu]\ninference_threads = -1\n", ("nlu", "inference_threads")),
    ],
)
def test_invalid_toml_is_rejected(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, location: tuple[str, ...]
) -> None:
    """Unknown keys and out-of-range or unsupported values raise ValidationError pointing at the field."""
    write_config(tmp_path, monkeypatch, toml)
    with pytest.raises(ValidationError) as excinfo:
        load_settings()
    assert [tuple(error["loc"]) for error in excinfo.value.errors()] == [location]


@pytest.mark.parametrize(
    ("name", "value", "location"),
    [
        ("KIOSK_LANGUAGE", "fr", ("language",)),
        ("KIOSK_DIALOGUE__IDLE_TIMEOUT_S", "-1", ("dialogue", "idle_timeout_s")),
        ("KIOSK_DIALOGUE__IDLE_TIMEOUT_S", "soon", ("dialogue", "idle_timeout_s")),
    ],
)
def test_invalid_env_is_rejected(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, location: tuple[str, ...]
) -> None:
    """Environment values are validated like file values."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as excinfo:
        load_settings()
    assert [tuple(error["loc"]) for error in excinfo.value.errors()] == [location]


def test_unknown_key_in_a_section_is_rejected(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo inside a section ('idle_timeout' for 'idle_timeout_s') should fail like a top-level typo does."""
    write_config(tmp_path, monkeypatch, "[dialogue]\nidle_timeout = 30\n")
    with pytest.raises(ValidationError):
        load_settings()


@pytest.mark.parametrize("data_dir", ["/var/lib/kiosk", "relative/data"])
def test_database_path_is_inside_data_dir(clean_env: Path, data_dir: str) -> None:
    """The SQLite file always lives directly in data_dir, wherever that is."""
    settings = KioskSettings(data_dir=Path(data_dir))
    assert settings.database_path == Path(data_dir) / "kiosk.db"
    assert settings.database_path.parent == settings.data_dir
    assert settings.database_path.is_relative_to(settings.data_dir)


def test_vision_offers_the_classifiers_and_pcb_only_with_a_template(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().vision.active_profiles == ("steel_surface", "magnetic_tile")
    assert load_settings().vision.inference_threads == 1
    write_config(
        tmp_path,
        monkeypatch,
        '[vision]\nprofiles = ["magnetic_tile", "steel_surface"]\npcb_template = "/srv/golden.png"\n'
        "inference_threads = 2\n",
    )
    vision = load_settings().vision
    assert vision.active_profiles == ("magnetic_tile", "steel_surface", "pcb")
    assert vision.pcb_template == Path("/srv/golden.png") and vision.inference_threads == 2


@pytest.mark.parametrize(
    "section",
    ['profiles = ["pcb"]', "profiles = []", "inference_threads = 0", "camera = 1"],
    ids=["pcb-without-template", "no-profile", "no-thread", "unknown-key"],
)
def test_vision_mistakes_are_refused(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    write_config(tmp_path, monkeypatch, f"[vision]\n{section}\n")
    with pytest.raises(ValidationError):
        load_settings()
