"""Typed kiosk configuration: defaults < TOML file < environment variables.

The defaults run the whole kiosk on a laptop with no microphone, camera or broker. A device reads
``/etc/kiosk/kiosk.toml`` (or the file named by ``KIOSK_CONFIG``); any field can be overridden from the
environment as ``KIOSK_<FIELD>`` or ``KIOSK_<SECTION>__<FIELD>`` (for example ``KIOSK_DIALOGUE__IDLE_TIMEOUT_S=60``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from kiosk_link.pin_hash import DEMO_PIN_HASH, check_stored
from kiosk_link.secret_store import DEFAULT_KEY_PATH

REPO_ROOT = Path(__file__).resolve().parent.parent
DEVICE_CONFIG_PATH = Path("/etc/kiosk/kiosk.toml")
PCB_PROFILE = "pcb"  # the pairwise profile: a photo compared with a golden template, not classified


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kestrel-kiosk"


class InferenceConfig(BaseModel):
    """Which runtime runs the kiosk's models (``firmware_app.inference.runtime``)."""

    model_config = ConfigDict(extra="forbid")

    # auto: LiteRT on ARM boards (Raspberry Pi, Jetson), OpenVINO on x86; openvino / litert: that one everywhere.
    runtime: Literal["auto", "openvino", "litert"] = "auto"


class NluConfig(BaseModel):
    """Intent model and text understanding."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = "intent-minilm-bank"
    # The model that reads Chinese and mixed Chinese-English text (and embeds the Chinese FAQ for search); the
    # same name as model_name serves both languages with one model.
    multilingual_model_name: str = "intent-e5-multilingual"
    # English asks the multilingual model too, and takes its answer when it is an FAQ question or one of the
    # kiosk's own intents (labels the English model lacks) and at least this sure; None: English model alone.
    second_opinion_confidence: float | None = Field(default=0.65, ge=0, le=1)
    # None: use the threshold calibrated in the model manifest.
    oos_threshold: float | None = None
    inference_threads: int = Field(default=0, ge=0, description="0 lets the runtime choose")
    # While an intent model cannot be loaded (damaged, missing), questions are read by keyword search and loading
    # is tried again at most this often (seconds), on the next question: a repaired model serves without a restart.
    model_retry_s: float = Field(default=5.0, ge=0)
    # Semantic similarity above which an FAQ entry answers a question the intent model called out-of-scope.
    faq_answer_similarity: float = Field(default=0.55, ge=0, le=1)
    # The same for Chinese, on the multilingual model's scale: on our Chinese dev questions 0.70 lets 2 of 20
    # out-of-scope questions through, while the right entry of an in-scope question scores 0.78 (median); the
    # intent model itself answers most of those (a development number: chosen on that set).
    faq_answer_similarity_zh: float = Field(default=0.70, ge=0, le=1)


class DialogueConfig(BaseModel):
    """Hand-off policy and session lifetime."""

    model_config = ConfigDict(extra="forbid")

    oos_turns_before_handoff: int = Field(default=2, ge=1)
    # Frustrated turns in one visit (however spread out), or answers a flow could not use, before a hand-off.
    troubled_turns_before_handoff: int = Field(default=3, ge=1)
    idle_timeout_s: float = Field(default=90.0, gt=0)


class UiConfig(BaseModel):
    """The touchscreen: its size, its timers and the staff PIN."""

    model_config = ConfigDict(extra="forbid")

    fullscreen: bool = True
    # Window size when not full screen (a desktop); a kiosk display uses its native resolution.
    window_size: tuple[int, int] = (1280, 800)
    large_text: bool = False  # start in large-text / high-contrast mode
    elderly: bool = False  # start in elderly mode (适老化: bigger type and targets, doubled idle timeouts)
    # The technician's camera: an OpenCV device index or path; None for a kiosk without one.
    camera_device: int | str | None = 0
    camera_retry_s: float = Field(default=5.0, gt=0)  # a missing camera is tried again this often
    # Seconds before the idle timeout when the screen asks "Are you still there?" (and says it): at least 20
    # (WCAG 2.2.1), however low this is set; doubled, like the timeout, in elderly mode.
    idle_warning_s: float = Field(default=20.0, ge=0)
    # How long the thank-you screen stays before the kiosk returns to its attract screen.
    thanks_s: float = Field(default=6.0, gt=0)
    # The staff PIN as scrypt$n$r$p$salt$hash (kiosk_link.pin_hash): ``kiosk-provision`` sets a device's own. The
    # default is the demo PIN 2468, which `kiosk doctor` fails on; the old name admin_pin_sha256 and its unsalted
    # sha256 are still read (the PIN works, doctor says to set it again).
    admin_pin_hash: str = Field(
        default=DEMO_PIN_HASH, validation_alias=AliasChoices("admin_pin_hash", "admin_pin_sha256")
    )
    # This many wrong PINs in a row lock the staff screen for admin_lockout_s; each further lock-out before a
    # right PIN lasts twice as long, up to admin_lockout_max_s. Kept in the database: a restart does not reset it.
    admin_attempts_before_lockout: int = Field(default=3, ge=1)
    admin_lockout_s: float = Field(default=60.0, ge=0)
    admin_lockout_max_s: float = Field(default=3600.0, ge=0)

    @field_validator("admin_pin_hash")
    @classmethod
    def _a_pin_hash(cls, value: str) -> str:
        return check_stored(value)

    @model_validator(mode="after")
    def _lockouts_in_order(self) -> UiConfig:
        if self.admin_lockout_s > self.admin_lockout_max_s:
            raise ValueError("[ui] admin_lockout_s must not exceed admin_lockout_max_s")
        return self


class ListeningConfig(BaseModel):
    """The microphone, the loudspeaker, wake words and how an utterance is cut out of the audio."""

    model_config = ConfigDict(extra="forbid")

    # PortAudio device index or (part of) its name; None for the system default.
    input_device: int | str | None = None
    output_device: int | str | None = None
    wake_words: list[str] = ["amelia"]  # empty: push-to-talk only
    thresholds: dict[str, float] = {}  # per wake word; a word not listed uses its model's calibrated cutoff
    refractory_s: float = Field(default=2.0, ge=0)  # one spoken wake word gives one detection
    # Silero VAD speech probability that counts as speech (released 0.15 below it).
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    start_ms: int = Field(default=200, gt=0)  # unbroken speech that starts an utterance
    silence_ms: int = Field(default=700, gt=0)  # non-speech that ends it
    max_utterance_s: float = Field(default=15.0, gt=0)
    pre_roll_ms: int = Field(default=300, ge=0)  # audio kept from before the speech started
    no_speech_s: float = Field(default=5.0, gt=0)  # after a wake word or tap, how long to wait for speech
    # A microphone, wake word or recognizer that is missing or cannot load is tried again this often, so voice
    # comes back by itself within 10 s of the repair (touch serves meanwhile).
    retry_s: float = Field(default=5.0, gt=0)


class SpeechConfig(BaseModel):
    """Speech recognition (which engine, when to escalate) and the spoken answers."""

    model_config = ConfigDict(extra="forbid")

    # "auto": PocketSphinx first, Whisper when it is unsure or NLU finds the question out of scope;
    # "fast": PocketSphinx only (a Pi 4); "accurate": Whisper only.
    asr_engine: Literal["auto", "fast", "accurate"] = "auto"
    # The fast result's confidence below which "auto" asks Whisper; numbers (card digits, amounts) are checked
    # by Whisper unless the fast engine is very sure, as a wrong digit blocks the wrong card.
    escalate_below: float = Field(default=0.6, ge=0, le=1)
    escalate_digits_below: float = Field(default=0.95, ge=0, le=1)
    # "auto" does not escalate utterances longer than this (Whisper would blow the reply's latency budget).
    escalate_max_audio_s: float = Field(default=10.0, gt=0)
    asr_threads: int = Field(default=1, ge=1)
    # Spoken answers: the engine, its voice per language, and the speaking rate in words per minute.
    tts_engine: Literal["flite", "espeak-ng", "none"] = "flite"
    tts_voice_en: str = "slt"
    # espeak-ng's Mandarin read from characters (flite has no Chinese); plain "cmn" reads many characters as
    # English pinyin on espeak-ng 1.51 (espeak-ng issues #1028, #1044).
    tts_voice_zh: str = "cmn-latn-pinyin"
    tts_rate_wpm: int = Field(default=170, ge=80, le=400)
    # Speech over the kiosk's voice interrupts it. Needs a microphone with echo cancellation (a speakerphone);
    # without one set it false, and the wake word or a touch still interrupt.
    barge_in_on_speech: bool = True


class VisionConfig(BaseModel):
    """Technician photos: which product profiles the kiosk recognises, and how much CPU recognition may take."""

    model_config = ConfigDict(extra="forbid")

    # Classification profiles, each a model in the manifest (``models/int8/manifest.json``); the first is the
    # camera's default. A new product is a manifest entry and a name here, nothing in the code.
    profiles: list[str] = Field(default=["steel_surface", "magnetic_tile"], min_length=1)
    # The defect-free board the pairwise ``pcb`` profile compares photos with; the profile is offered only
    # when one is configured, since without it there is nothing to compare against.
    pcb_template: Path | None = None
    inference_threads: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _pcb_needs_a_template(self) -> VisionConfig:
        if PCB_PROFILE in self.profiles:
            raise ValueError(f"{PCB_PROFILE!r} is not a classification profile: set [vision] pcb_template instead")
        return self

    @property
    def active_profiles(self) -> tuple[str, ...]:
        """The profiles a technician can choose, in the order offered."""
        pair = (PCB_PROFILE,) if self.pcb_template is not None else ()
        return (*dict.fromkeys(self.profiles), *pair)


class SyncConfig(BaseModel):
    """Fleet sync over MQTT. Off by default: a kiosk with no broker keeps its tickets in the outbox."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=1883, ge=1, le=65535)
    keepalive_s: int = Field(default=30, ge=1)  # a dead link is noticed within 1.5x this
    # How long the broker keeps this kiosk's session (its queued acknowledgements) while it is offline.
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    reconnect_min_s: float = Field(default=1.0, gt=0)  # reconnect delays double from here, with jitter...
    reconnect_max_s: float = Field(default=60.0, gt=0)  # ...up to this
    # A ticket published this long ago without an acknowledgement is published again (the backend may have died).
    ack_timeout_s: float = Field(default=30.0, gt=0)
    poll_s: float = Field(default=0.2, gt=0)  # how often the outbox is checked for new rows
    batch: int = Field(default=100, ge=1)  # rows published per check
    # Health (queue depth, latencies, errors, disk) and service analytics are reported this often while online.
    telemetry_interval_s: float = Field(default=60.0, ge=0.5)
    # TLS with this kiosk's certificate (``kiosk-provision`` writes all three); None: plain MQTT, for a test or
    # development broker only, as the fleet broker has no plain listener.
    ca_file: Path | None = None  # the fleet CA: the only issuer trusted for the broker's certificate
    cert_file: Path | None = None  # this kiosk's certificate; its common name is the device id
    key_file: Path | None = None  # plain PEM, or sealed (``*.sealed``: kiosk_link.secret_store) as provisioned
    # What opens a sealed key_file with the key-file backend (systemd-creds needs nothing here).
    sealing_key_file: Path = DEFAULT_KEY_PATH

    @model_validator(mode="after")
    def _delays_in_order(self) -> SyncConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("[sync] reconnect_min_s must not exceed reconnect_max_s")
        return self

    @model_validator(mode="after")
    def _tls_all_or_nothing(self) -> SyncConfig:
        if len({self.ca_file is None, self.cert_file is None, self.key_file is None}) > 1:
            raise ValueError("[sync] ca_file, cert_file and key_file go together: all three or none")
        return self


class UpdatesConfig(BaseModel):
    """Signed model and pack updates from the fleet (they travel over the [sync] link).

    Off until provisioning writes the fleet's public key and names it here: a kiosk that trusts no key installs
    nothing."""

    model_config = ConfigDict(extra="forbid")

    public_key: Path | None = None  # the fleet's Ed25519 release key (PEM)
    channel: str = "stable"
    max_artifact_bytes: int = Field(default=256 * 1024 * 1024, gt=0)  # a bigger artifact is refused, not fetched
    window: int = Field(default=8, ge=1)  # chunk requests in flight at once
    chunk_timeout_s: float = Field(default=5.0, gt=0)  # a chunk not answered by then is asked for again


class PrivacyConfig(BaseModel):
    """Retention of customers' words and technicians' photos, and the disk-space guard (``firmware_app.retention``).

    Counted from the backend's acknowledgement, never from filing: a ticket the fleet has not stored keeps
    everything, however old."""

    model_config = ConfigDict(extra="forbid")

    transcript_retention_days: float = Field(default=30.0, ge=0)  # transcript, entities and summary text
    photo_retention_days: float = Field(default=30.0, ge=0)
    purge_interval_s: float = Field(default=3600.0, gt=0)  # the retention pass runs at start and this often
    # Below this much free space in the data dir, acknowledged tickets' photos are pruned early, oldest first.
    low_disk_mb: int = Field(default=512, ge=0)
    # Below this, a new photo is refused ("storage full") rather than half written.
    photo_floor_mb: int = Field(default=64, ge=0)


def installed_link(data_dir: Path, kind: Literal["models", "packs"]) -> Path:
    """The ``current`` symlink the updater switches atomically to the installed models or pack."""
    return data_dir / "updates" / kind / "current"


class KioskSettings(BaseSettings):
    """All settings of one kiosk."""

    model_config = SettingsConfigDict(env_prefix="KIOSK_", env_nested_delimiter="__", extra="forbid")

    device_id: str = Field(default_factory=lambda: f"kiosk-{socket.gethostname()}")
    data_dir: Path = Field(default_factory=_default_data_dir)
    pack_dir: Path = REPO_ROOT / "packs" / "bank"
    models_dir: Path = REPO_ROOT / "models" / "int8"
    # OpenVINO's compiled models and the pack's sentence vectors, kept between starts: a kiosk on a new database
    # starts its models in 0.2 s of CPU instead of 1.1 s and installs the pack without 1.3 s of embedding, for
    # about 115 MB of disk. Off unless set (KIOSK_MODEL_CACHE_DIR), as a card-sized disk may not want it.
    model_cache_dir: Path | None = None
    language: Literal["en", "zh"] = "en"
    region: str = "GB"
    currency: str = "GBP"
    log_level: str = "WARNING"  # the device service runs with KIOSK_LOG_LEVEL=INFO
    log_format: Literal["json", "text"] = "json"
    inference: InferenceConfig = InferenceConfig()
    nlu: NluConfig = NluConfig()
    dialogue: DialogueConfig = DialogueConfig()
    ui: UiConfig = UiConfig()
    listening: ListeningConfig = ListeningConfig()
    speech: SpeechConfig = SpeechConfig()
    vision: VisionConfig = VisionConfig()
    sync: SyncConfig = SyncConfig()
    updates: UpdatesConfig = UpdatesConfig()
    privacy: PrivacyConfig = PrivacyConfig()

    @model_validator(mode="after")
    def _installed_updates_win(self) -> KioskSettings:
        self.follow_installed_updates()
        return self

    def follow_installed_updates(self) -> None:
        """Once the updater has installed a release, its ``current`` links replace the shipped models and pack
        (checked when the settings are made, and again by a kiosk reloading after its first install).

        The settings keep the link itself, not its target, so whatever loads a model later (a vision profile on
        first use, the next start) follows the link to the version installed, or rolled back to, by then."""
        models, pack = installed_link(self.data_dir, "models"), installed_link(self.data_dir, "packs")
        if models.is_dir():
            self.models_dir = models
        if pack.is_dir():
            self.pack_dir = pack

    @property
    def database_path(self) -> Path:
        return self.data_dir / "kiosk.db"

    @property
    def health_report_path(self) -> Path:
        """What runs degraded, as the running kiosk last wrote it (``firmware_app.health.HealthReport``)."""
        return self.data_dir / "health.json"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = config_file_path()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def config_file_path() -> Path | None:
    """``KIOSK_CONFIG`` if set (it must exist), else the device file when present."""
    named = os.environ.get("KIOSK_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"KIOSK_CONFIG names {path}, which does not exist")
        return path
    return DEVICE_CONFIG_PATH if DEVICE_CONFIG_PATH.is_file() else None


def load_settings(**overrides: object) -> KioskSettings:
    """Build the settings; keyword overrides win over every other source (used by the CLI and tests)."""
    return KioskSettings(**overrides)  # type: ignore[arg-type]
