"""Remote configuration on the wire: the settings the fleet changes on one kiosk, retained on its ``config``."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from kiosk_link.wire.core import WireModel

SettingKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]{1,64}){1,2}$")]
SettingValue = StrictBool | StrictInt | StrictFloat | Annotated[str, Field(max_length=200)]


class RemoteConfigV1(WireModel):
    """Retained on ``config`` (-> device): settings changed from the kiosk's own file, as dotted keys
    (``dialogue.idle_timeout_s``). The whole message is the desired state: a key left out returns to the
    kiosk's own value. Which keys may change live, and their bounds, are for the kiosk to judge (a refusal is
    reported in its status), so one backend can configure kiosks of different software versions."""

    SCHEMA: ClassVar[str] = "kiosk.config/1"

    schema_id: Literal["kiosk.config/1"] = Field(default="kiosk.config/1", alias="schema")
    revision: int = Field(ge=1)
    settings: dict[SettingKey, SettingValue] = Field(default_factory=dict, max_length=64)
