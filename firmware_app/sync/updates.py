"""The kiosk's side of signed updates: a release arrives, is checked, fetched chunk by chunk, installed, reported.

It runs on the sync link's thread: the link routes the retained release and the chunks to it (``routes``), ``poll``
returns what to publish (chunk requests, status reports). A release is acted on only after ``kiosk_link.trust``
verified its signature;
its sequence number is then remembered (``state.json``), so an older one is refused as a replay and the same one
delivered again (the retained copy, on every reconnect) either resumes its unfinished download or is ignored.

Requests keep ``window`` chunks in flight; a chunk not answered within ``chunk_timeout_s`` (the link dropped,
the backend died) is asked for again, and one whose bytes do not match its signed hash is dropped and asked for
again, up to ``MAX_CHUNK_RETRIES`` times. The staging file is the download's progress (``transfer``), so a
restart resumes from the missing chunks. Final outcomes are kept in ``state.json`` until handed to the link, so
a rollback done at start-up (``recover_interrupted_update``) is reported once the kiosk is online.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from packaging.version import Version

from firmware_app.config import KioskSettings, UpdatesConfig
from firmware_app.packs import load_pack
from firmware_app.sync.install import Installer, Staged
from firmware_app.sync.telemetry import model_versions
from firmware_app.sync.transfer import Download
from kiosk_link import wire
from kiosk_link.durable import write_bytes_atomically
from kiosk_link.routing import Receiver, Route, counted
from kiosk_link.trust import UpdateRefused, load_public_key, verified_manifest

log = logging.getLogger(__name__)
STATE = "state.json"
MAX_CHUNK_RETRIES = 5
FINAL_STATES = ("installed", "rolled_back", "failed", "refused")


def _state_path(data_dir: Path) -> Path:
    return data_dir / "updates" / STATE


def _load_state(data_dir: Path) -> dict[str, Any]:
    """``sequence``/``release_id``/``finished`` of the newest verified release seen, and ``unreported`` outcomes."""
    path = _state_path(data_dir)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"unreported": []}


def _save_state(data_dir: Path, state: dict[str, Any]) -> None:
    _state_path(data_dir).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(_state_path(data_dir), json.dumps(state).encode())


def recover_interrupted_update(settings: KioskSettings) -> str | None:
    """Undo a switch whose self-test never finished (the kiosk died); call before anything loads a model.

    The release is remembered as handled, so its retained manifest does not install it again at every start."""
    rolled_back = Installer(settings.data_dir, settings.models_dir, settings.pack_dir).rollback()
    if rolled_back is None:
        return None
    release_id, sequence = rolled_back
    log.warning("rolled back an update interrupted during its self-test", extra={"release": release_id})
    state = _load_state(settings.data_dir)
    report = wire.UpdateStatusV1(
        release_id=release_id,
        state="rolled_back",
        reason="interrupted",
        detail="the kiosk stopped during installation or self-test",
    )
    state["unreported"].append(report.model_dump(mode="json", by_alias=True))
    if sequence >= state.get("sequence", 0):
        state |= {"sequence": sequence, "release_id": release_id, "finished": True}
    _save_state(settings.data_dir, state)
    return release_id


def check_applicable(
    manifest: wire.ReleaseManifestV1, config: UpdatesConfig, kiosk_version: str, now: datetime
) -> None:
    """``UpdateRefused`` unless this kiosk should install the (verified) release: its channel, unexpired, not
    needing a newer kiosk, no artifact above the size cap. The kiosk's policy, so it lives here and not with the
    signature check the backend shares."""
    if manifest.channel != config.channel:
        raise UpdateRefused("wrong_channel", f"release for {manifest.channel!r}, kiosk on {config.channel!r}")
    if manifest.expires_at <= now:
        raise UpdateRefused("expired", f"expired at {manifest.expires_at.isoformat()}")
    if Version(kiosk_version) < Version(manifest.min_kiosk_version):
        raise UpdateRefused("kiosk_too_old", f"needs kiosk {manifest.min_kiosk_version}, this is {kiosk_version}")
    for artifact in manifest.artifacts:
        if artifact.size > config.max_artifact_bytes:
            raise UpdateRefused(
                "oversize", f"{artifact.name} is {artifact.size} bytes, the limit is {config.max_artifact_bytes}"
            )


def _installed_versions(staged: Staged) -> tuple[dict[str, str], wire.PackV1 | None]:
    """The model versions of the release's new models folder (complete: the kiosk's models with the release's
    added), and its pack as the status names one; both as installed, whatever the kiosk still has loaded."""
    models = model_versions(staged.folders["models"]) if "models" in staged.folders else {}
    if "packs" not in staged.folders:
        return models, None
    pack = load_pack(staged.folders["packs"])
    return models, wire.PackV1(id=pack.manifest.id, version=pack.manifest.version, sha256=pack.content_sha256)


@dataclass
class _Transfer:
    manifest: wire.ReleaseManifestV1
    staging: Path
    downloads: dict[str, Download]
    in_flight: dict[tuple[str, int], float] = field(default_factory=dict)  # (artifact, index) -> sent at
    retries: Counter[tuple[str, int]] = field(default_factory=Counter)
    verifying: bool = False  # every chunk is in and "verifying" was reported

    @property
    def done(self) -> int:
        return sum(download.done for download in self.downloads.values())

    @property
    def total(self) -> int:
        return sum(len(download.artifact.chunks) for download in self.downloads.values())


class Updater:
    def __init__(self, settings: KioskSettings, kiosk_version: str) -> None:
        if settings.updates.public_key is None:
            raise ValueError("[updates] public_key is not set: this kiosk trusts no release key")
        self.config: UpdatesConfig = settings.updates
        self.data_dir = settings.data_dir
        self.kiosk_version = kiosk_version
        self.rejected: Counter[str] = Counter()  # chunks refused by the wire schema, by reason
        self._key = load_public_key(settings.updates.public_key)
        self._installer = Installer(settings.data_dir, settings.models_dir, settings.pack_dir)
        self._release_topic = wire.release_topic(settings.updates.channel)
        self._offer_topic = wire.device_topic(settings.device_id, "release")  # a rollout's offer to this kiosk
        self._chunk_topic = wire.device_topic(settings.device_id, "update/chunk")
        self._request_topic = wire.device_topic(settings.device_id, "update/request")
        self._status_topic = wire.device_topic(settings.device_id, "update/status")
        chunk = Route(wire.UpdateChunkV1, self._on_chunk, counted(self.rejected, log, "update chunk refused"))
        # Releases are read raw: their signature is checked over the payload before anything in it is trusted.
        self.routes: dict[str, Receiver] = {
            self._release_topic: self._on_release,
            self._offer_topic: self._on_release,
            self._chunk_topic: chunk,
        }
        self._progress: list[bytes] = []  # in-memory reports (downloading, verifying, installing)
        # Also told every report as it is made (the kiosk shows them to staff and reloads after an install).
        self.on_report: Callable[[wire.UpdateStatusV1], None] | None = None
        # Told after an install what it put in place: the version of every model (none where the release brought
        # no models) and the pack (None where it brought none); the link announces them in its status.
        self.on_installed: Callable[[dict[str, str], wire.PackV1 | None], None] | None = None
        self._transfer: _Transfer | None = None
        recover_interrupted_update(settings)
        self._state = _load_state(settings.data_dir)

    @classmethod
    def from_settings(cls, settings: KioskSettings) -> Updater | None:
        """The updater, or None where no release key is configured."""
        return cls(settings, version("kestrel-kiosk")) if settings.updates.public_key else None

    @property
    def topics(self) -> tuple[str, ...]:
        """The release, this kiosk's offer and its chunks, in that order."""
        return tuple(self.routes)

    @property
    def status_topic(self) -> str:
        """Reports go here, retained: a backend that was down when the outcome came still learns it."""
        return self._status_topic

    def reconnected(self) -> None:
        """Requests sent on a lost connection may never be answered: ask again right away."""
        if self._transfer is not None:
            self._transfer.in_flight.clear()

    def poll(self) -> list[tuple[str, bytes]]:
        """What to publish now: status reports, then chunk requests.

        Once every chunk is in, one poll says "verifying" and the next installs, so the fleet hears that the
        kiosk is busy before the longest step, not after it."""
        transfer = self._transfer
        if transfer is not None and transfer.done == transfer.total:
            if transfer.verifying:
                self._install(transfer)
            else:
                transfer.verifying = True
                self._report(transfer.manifest.release_id, "verifying")
        messages = [(self._status_topic, payload) for payload in self._progress]
        unreported = [wire.UpdateStatusV1.model_validate(report) for report in self._state["unreported"]]
        messages += [(self._status_topic, report.encode()) for report in unreported]
        self._progress.clear()
        if self._state["unreported"]:
            self._state["unreported"] = []
            _save_state(self.data_dir, self._state)
        if self._transfer is not None:
            messages += self._requests(self._transfer)
        return messages

    def _requests(self, transfer: _Transfer) -> list[tuple[str, bytes]]:
        now = time.monotonic()
        for key, sent_at in list(transfer.in_flight.items()):
            if now - sent_at > self.config.chunk_timeout_s:
                del transfer.in_flight[key]
        requests: list[tuple[str, bytes]] = []
        for name, download in transfer.downloads.items():
            for index in sorted(download.missing):
                if len(transfer.in_flight) >= self.config.window:
                    return requests
                if (name, index) not in transfer.in_flight:
                    transfer.in_flight[name, index] = now
                    request = wire.UpdateRequestV1(release_id=transfer.manifest.release_id, artifact=name, index=index)
                    requests.append((self._request_topic, request.encode()))
        return requests

    def _on_release(self, payload: bytes | bytearray) -> None:
        if not payload:  # a retained release cleared (an offer withdrawn): nothing new to act on
            return
        try:
            manifest = verified_manifest(payload, self._key)
        except UpdateRefused as exc:
            self._report(None, "refused", exc.reason, exc.detail)
            return
        seen = self._state.get("sequence", 0)
        if manifest.sequence < seen or (manifest.sequence == seen and manifest.release_id != self._state["release_id"]):
            self._report(manifest.release_id, "refused", "replay", f"sequence {manifest.sequence}, seen {seen}")
            return
        if manifest.sequence == seen and (self._state["finished"] or self._transfer is not None):
            return  # the retained copy of a release already handled, or being fetched
        self._state |= {"sequence": manifest.sequence, "release_id": manifest.release_id, "finished": False}
        _save_state(self.data_dir, self._state)
        try:
            check_applicable(manifest, self.config, self.kiosk_version, datetime.now(UTC))
        except UpdateRefused as exc:
            self._finish(manifest.release_id, "refused", exc.reason, exc.detail)
            return
        self._start(manifest)

    def _start(self, manifest: wire.ReleaseManifestV1) -> None:
        """Fetch ``manifest``'s artifacts into staging, keeping whatever chunks an earlier try left there."""
        staging_root = self.data_dir / "updates" / "staging"
        for old in staging_root.glob("*"):
            if old.name != manifest.release_id:  # an abandoned release
                shutil.rmtree(old, ignore_errors=True)
        staging = staging_root / manifest.release_id
        downloads = {artifact.name: Download(staging, artifact) for artifact in manifest.artifacts}
        self._transfer = _Transfer(manifest, staging, downloads)
        self._report(manifest.release_id, "downloading")
        log.info("downloading release", extra={"release": manifest.release_id, "done": self._transfer.done})

    def _on_chunk(self, chunk: wire.UpdateChunkV1) -> None:
        transfer = self._transfer
        download = transfer.downloads.get(chunk.artifact) if transfer else None
        if transfer is None or download is None or chunk.release_id != transfer.manifest.release_id:
            return  # an answer to a request of an abandoned release
        key = (chunk.artifact, chunk.index)
        transfer.in_flight.pop(key, None)
        if chunk.error is not None:
            self._finish(chunk.release_id, "failed", "unavailable", f"{chunk.artifact}[{chunk.index}]: {chunk.error}")
            return
        try:
            data = base64.b64decode(chunk.data or "", validate=True)
        except binascii.Error:
            data = b""
        if download.write(chunk.index, data):
            if transfer.done % max(1, transfer.total // 10) == 0:  # progress, about every tenth of the chunks
                self._report(chunk.release_id, "downloading")
        else:
            transfer.retries[key] += 1
            log.warning("corrupted chunk dropped", extra={"artifact": chunk.artifact, "index": chunk.index})
            if transfer.retries[key] > MAX_CHUNK_RETRIES:
                detail = f"{chunk.artifact}[{chunk.index}] corrupted {transfer.retries[key]} times"
                self._finish(chunk.release_id, "failed", "hash_mismatch", detail)

    def _install(self, transfer: _Transfer) -> None:
        """Verify the whole artifacts, unpack, switch, self-test; roll back if the self-test fails."""
        manifest = transfer.manifest
        for name, download in transfer.downloads.items():
            if not download.whole_file_matches():
                download.path.unlink()
                self._finish(manifest.release_id, "failed", "hash_mismatch", f"{name}: sha256 of the whole artifact")
                return
        self._report(manifest.release_id, "installing")
        try:
            staged = self._installer.stage(manifest, {name: d.path for name, d in transfer.downloads.items()})
        except UpdateRefused as exc:
            self._finish(manifest.release_id, "failed", exc.reason, exc.detail)
            return
        self._installer.switch(staged)
        try:
            self._installer.self_test(staged)
        except UpdateRefused as exc:
            self._installer.rollback()
            log.warning("update rolled back", extra={"release": manifest.release_id, "detail": exc.detail})
            self._finish(manifest.release_id, "rolled_back", exc.reason, exc.detail)
            return
        self._installer.commit()
        log.info("update installed", extra={"release": manifest.release_id})
        self._finish(manifest.release_id, "installed")
        if self.on_installed is not None:
            self.on_installed(*_installed_versions(staged))

    def _finish(
        self,
        release_id: str,
        state: wire.UpdateState,
        reason: wire.UpdateReason | None = None,
        detail: str | None = None,
    ) -> None:
        """The release is done with, one way or another: remember that, drop its staging, report the outcome."""
        if self._transfer is not None:
            shutil.rmtree(self._transfer.staging, ignore_errors=True)
            self._transfer = None
        self._state["finished"] = True
        self._report(release_id, state, reason, detail)

    def _report(
        self,
        release_id: str | None,
        state: wire.UpdateState,
        reason: wire.UpdateReason | None = None,
        detail: str | None = None,
    ) -> None:
        transfer = self._transfer
        progress = (transfer.done, transfer.total) if transfer else (0, 0)
        status = wire.UpdateStatusV1(
            release_id=release_id,
            state=state,
            reason=reason,
            detail=detail[:300] if detail else None,
            done=progress[0],
            total=progress[1],
        )
        log.info("update status", extra={"release": release_id, "state": state, "reason": reason})
        if state in FINAL_STATES:  # kept until handed to the link: a crash must not lose an outcome
            self._state["unreported"].append(status.model_dump(mode="json", by_alias=True))
            _save_state(self.data_dir, self._state)
        else:
            self._progress.append(status.encode())
        if self.on_report is not None:
            self.on_report(status)
