"""Remote configuration: the few kiosk settings the fleet may change live, validated, applied and persisted.

A setting is live only where every reader looks it up at the moment of use: the dialogue reads its hand-off
thresholds per turn, the kiosk and the screen read the idle timeout and the screen timers per tick, the sync
reads its telemetry interval per loop. Applying one is therefore assigning the new value to the section object
those readers already hold. Anything else (a model, a wake-word threshold baked into its detector at start, the
broker address) is refused with a reason rather than stored and silently not applied.

A message is applied whole or not at all: every key is checked against ``wire.LIVE_KEYS`` (the schema the
backend checks too, before it sends anything), then each section it touches is rebuilt through that section's own
pydantic model (strictly: "60" is not a number), so the bounds applied are those of ``firmware_app.config``
whatever a backend of another version let through. The message is the desired state: a key it
leaves out returns to the value the kiosk has from its own file and environment.

The applied message is kept in ``remote-config.json`` in the data dir (temporary file, fsync, rename) and
applied again at start, before anything reads the settings. A refused message leaves the previous one in force.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from firmware_app import audit
from firmware_app.config import KioskSettings
from kiosk_link import wire
from kiosk_link.durable import write_bytes_atomically

log = logging.getLogger(__name__)

FILE_NAME = "remote-config.json"


class ConfigRefused(ValueError):
    """A remote configuration that cannot be applied; the message is the reason reported to the fleet."""


def _section(settings: KioskSettings, key: str) -> tuple[BaseModel, str]:
    name, _, field = key.partition(".")
    section = getattr(settings, name)
    assert isinstance(section, BaseModel)
    return section, field


class RemoteConfig:
    """The remote configuration in force on one kiosk, and what became of the last one received."""

    def __init__(self, settings: KioskSettings, path: Path | None = None) -> None:
        self.settings = settings
        self.path = path or settings.data_dir / FILE_NAME
        # The kiosk's own values of the live keys: where a later message drops a key, it returns to these.
        self._own = {key: getattr(*_section(settings, key)) for key in wire.LIVE_KEYS}
        self.applied: wire.RemoteConfigV1 | None = None
        self.report: wire.ConfigReportV1 | None = None

    @property
    def revision(self) -> int:
        return self.applied.revision if self.applied else 0

    def load(self) -> None:
        """Apply the configuration saved by an earlier run; one this version refuses is logged and ignored."""
        if not self.path.is_file():
            return
        try:
            saved = wire.parse(self.path.read_bytes(), wire.RemoteConfigV1)
            self._assign(saved, self._validated(saved.settings))
            self.report = wire.ConfigReportV1(revision=saved.revision, state="applied")
        except (wire.WireError, ConfigRefused) as exc:
            log.warning("saved remote configuration ignored", extra={"reason": str(exc)})

    def apply(self, config: wire.RemoteConfigV1) -> wire.ConfigReportV1:
        """Apply and save ``config``, or refuse it and keep the one in force; the report says which, and why."""
        if config != self.applied:  # equal: the retained message again, on a reconnect or after a restart
            try:
                values = self._validated(config.settings)
                self._save(config)
            except (ConfigRefused, OSError) as exc:
                return self.refuse(config.revision, str(exc))
            self._assign(config, values)
            keys = sorted(config.settings)
            log.info("remote configuration applied", extra={"revision": config.revision, "keys": keys})
            self._audit("remote_config_applied", {"revision": config.revision, "keys": keys})
        self.report = wire.ConfigReportV1(revision=config.revision, state="applied")
        return self.report

    def refuse(self, revision: int | None, reason: str) -> wire.ConfigReportV1:
        """Report a configuration that was not applied (also one the wire refused); the one in force stays."""
        log.warning("remote configuration refused", extra={"revision": revision, "reason": reason})
        if self.report is None or (self.report.revision, self.report.state) != (revision, "refused"):
            self._audit("remote_config_refused", {"revision": revision, "reason": reason[:300]})
        self.report = wire.ConfigReportV1(revision=revision, state="refused", reason=reason[:300])
        return self.report

    def _audit(self, action: str, detail: Mapping[str, Any]) -> None:
        """An audit entry for a change the fleet made (or tried), written after the file (not in the database, so
        not in one transaction with it); a database that cannot take it does not undo the configuration."""
        try:
            audit.record_to(self.settings.database_path, "fleet", action, detail)
        except sqlite3.Error:
            log.exception("audit entry for the remote configuration not written")

    def _assign(self, config: wire.RemoteConfigV1, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            section, field = _section(self.settings, key)
            setattr(section, field, value)
        self.applied = config

    def _validated(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Every live key's new value (changed or the kiosk's own), or ``ConfigRefused``."""
        unknown = sorted(set(changes) - wire.LIVE_KEYS)
        if unknown:
            raise ConfigRefused(f"not settable remotely: {', '.join(unknown)}")
        wanted = self._own | dict(changes)
        by_section: dict[str, dict[str, Any]] = {}
        for key, value in wanted.items():
            name, _, field = key.partition(".")
            by_section.setdefault(name, {})[field] = value
        for name, values in by_section.items():
            current = getattr(self.settings, name)
            try:
                type(current).model_validate(current.model_dump() | values, strict=True)
            except ValidationError as exc:
                problems = (f"{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
                raise ConfigRefused("; ".join(problems)) from None
        return wanted

    def _save(self, config: wire.RemoteConfigV1) -> None:
        """Write atomically: a power cut leaves the old file or the new one, never half of one."""
        write_bytes_atomically(self.path, config.encode())
