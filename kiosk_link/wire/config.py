"""Remote configuration on the wire: the settings the fleet changes on one kiosk, retained on its ``config``, and
the schema of the settings it may change (``LIVE_SETTINGS``), which both ends check against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, TypeAdapter, ValidationError

from kiosk_link.wire.core import MAX_COUNT, WireModel

SettingKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]{1,64}){1,2}$")]
SettingValue = StrictBool | StrictInt | StrictFloat | Annotated[str, Field(max_length=200)]

# The settings a kiosk applies live (``firmware_app.sync.remote_config`` says why these), each with the type and
# bounds of its field in ``firmware_app.config``: the backend refuses anything else before it is stored and sent,
# rather than leaving it to the kiosk to refuse later. Here, not in the kiosk, because the backend may not import
# the kiosk; ``tests/test_sync_remote_config.py`` holds these to the kiosk's own fields so they cannot drift.
LIVE_SETTINGS: dict[str, Any] = {
    "dialogue.idle_timeout_s": Annotated[float, Field(gt=0)],
    "dialogue.oos_turns_before_handoff": Annotated[int, Field(ge=1)],
    "dialogue.troubled_turns_before_handoff": Annotated[int, Field(ge=1)],
    "ui.idle_warning_s": Annotated[float, Field(ge=0)],
    "ui.thanks_s": Annotated[float, Field(gt=0)],
    "sync.telemetry_interval_s": Annotated[float, Field(ge=0.5)],
}
LIVE_KEYS = frozenset(LIVE_SETTINGS)
_ADAPTERS: dict[str, TypeAdapter[Any]] = {key: TypeAdapter(kind) for key, kind in LIVE_SETTINGS.items()}


def validate_settings(settings: Mapping[str, object]) -> list[str]:
    """What is wrong with ``settings`` as remote configuration, one problem per line naming its key; empty when
    nothing is. Strict, as the kiosk is: "60" is text, not a number, and 1.0 is not a count."""
    unknown = sorted(set(settings) - LIVE_KEYS)
    settable = ", ".join(sorted(LIVE_KEYS))
    problems = [f"not settable remotely: {', '.join(unknown)} (settable: {settable})"] if unknown else []
    for key, value in settings.items():
        if key in LIVE_KEYS:
            try:
                _ADAPTERS[key].validate_python(value, strict=True)
            except ValidationError as exc:
                problems += [f"{key}: {error['msg']}" for error in exc.errors()]
    return problems


class RemoteConfigV1(WireModel):
    """Retained on ``config`` (-> device): settings changed from the kiosk's own file, as dotted keys
    (``dialogue.idle_timeout_s``). The whole message is the desired state: a key left out returns to the
    kiosk's own value. The backend sends only what ``validate_settings`` passes; the kiosk checks again against
    its own configuration, which has the last word (a refusal is reported in its status)."""

    SCHEMA: ClassVar[str] = "kiosk.config/1"

    schema_id: Literal["kiosk.config/1"] = Field(default="kiosk.config/1", alias="schema")
    # From 1, and bounded like every count: the kiosk reports it back in its status (a 64-bit column).
    revision: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    settings: dict[SettingKey, SettingValue] = Field(default_factory=dict, max_length=64)
