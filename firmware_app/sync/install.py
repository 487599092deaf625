"""Installing a downloaded release: unpack into a new version folder, switch atomically, self-test, or roll back.

Layout under ``{data_dir}/updates/``::

    models/versions/{release}/   a complete models folder: manifest.json and every model file
    models/current               symlink to the active version (or to the shipped models/int8 after a rollback)
    packs/versions/{release}/    the domain pack folder
    packs/current                symlink to the active pack
    pending.json                 present only between a switch and the end of its self-test

The settings follow ``current`` (``KioskSettings._installed_updates_win``), so switching is one ``os.replace`` of a
new symlink over the old: at every instant ``current`` names either the old version or the new one, complete.
A new models version holds the models the kiosk had plus the release's (hard links where the file system
allows), so models not in the release keep working. A part enrolled at a kiosk (kind ``anomaly``, its memory bank)
is released like any model and joins the manifest the same way; it brings no backbone, so its self-test loads it
with the kiosk's own ``patch-features`` and fails (rolls back) if that is not the one the part was enrolled with. A
released model never replaces one of its name of the other sort (a part for a trained model, or the reverse).

``pending.json`` records where each link pointed before the switch and is written (and synced) before it. If
the kiosk dies during the self-test, the marker is still there at the next start and ``recover`` puts the old
links back before anything loads a model: a release that crashes the kiosk cannot keep it crashing.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from firmware_app.config import installed_link
from firmware_app.inference.manifest import (
    ENROLLED_KIND,
    MANIFEST_NAME,
    ModelIntegrityError,
    load_manifest,
    verified_model_path,
)
from firmware_app.inference.probe import ProbeFailed, probe_model
from firmware_app.packs import PackError, load_pack
from firmware_app.sync.unpack import Limits, UnpackRefused, unpack
from kiosk_link import wire
from kiosk_link.durable import point_symlink, write_bytes_atomically
from kiosk_link.trust import UpdateRefused

Kind = Literal["models", "packs"]
PENDING = "pending.json"


def _place(source: Path, target: Path) -> None:
    """A hard link (no copy of a large model) where source and target share a file system, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _model_files(entry: dict[str, Any]) -> list[str]:
    """The files a models-manifest entry names: the model and its assets (a tokenizer, say), plain file names."""
    names = [entry["file"], *entry.get("assets", {}).values()]
    if any(not isinstance(name, str) or Path(name).name != name for name in names):
        raise ValueError(f"model {entry.get('name')!r} names a file outside its folder")
    return names


def _check_replaces(installed: dict[str, Any] | None, released: dict[str, Any]) -> None:
    """A released model may replace an installed one of its name only if both are enrolled parts or neither is:
    a part enrolled as ``amelia`` (or ``patch-features``) must not silently take the place of the wake word (or
    of the backbone every part needs), and would pass its own self-test while doing so."""
    installed_part, released_part = (
        entry is not None and entry.get("kind") == ENROLLED_KIND for entry in (installed, released)
    )
    if installed is not None and installed_part != released_part:
        what = {True: "an enrolled part", False: "a trained model"}
        raise ValueError(
            f"model {released['name']!r} is {what[released_part]}, and the kiosk's model of"
            f" that name is {what[installed_part]}: release it under another name"
        )


def installed_releases(data_dir: Path) -> tuple[str, ...]:
    """The releases the kiosk serves its models and pack from (the version folders the ``current`` links name),
    for staff; empty while it serves what it shipped with, or was rolled back to."""
    releases: list[str] = []
    for kind in ("models", "packs"):
        link = installed_link(data_dir, kind)
        if link.is_symlink():
            target = link.parent / os.readlink(link)
            if target.parent == link.parent / "versions" and target.name not in releases:
                releases.append(target.name)
    return tuple(releases)


@dataclass(frozen=True)
class Staged:
    """A release unpacked into new version folders, not yet switched to."""

    release_id: str
    sequence: int
    folders: dict[Kind, Path]
    models: list[str]  # names of the models the release brings


class Installer:
    def __init__(self, data_dir: Path, shipped_models: Path, shipped_pack: Path) -> None:
        self.root = data_dir / "updates"
        self._shipped: dict[Kind, Path] = {"models": shipped_models, "packs": shipped_pack}

    def active(self, kind: Kind) -> Path:
        """The folder ``kind`` is served from now (the target of ``current``, else the shipped one)."""
        link = installed_link(self.root.parent, kind)
        return link.parent / os.readlink(link) if link.is_symlink() else self._shipped[kind]

    def stage(self, manifest: wire.ReleaseManifestV1, files: dict[str, Path]) -> Staged:
        """Unpack the verified artifacts into new version folders; nothing is switched yet."""
        self.rollback()  # a switch that failed half-way (a full disk, say) must not become the "previous"
        folders: dict[Kind, Path] = {}
        models: list[str] = []
        try:
            model_artifacts = [a for a in manifest.artifacts if a.kind == "model"]
            if model_artifacts:
                folders["models"] = self._version_dir("models", manifest.release_id)
                models = self._stage_models(folders["models"], [(files[a.name], a.size) for a in model_artifacts])
            for pack in (a for a in manifest.artifacts if a.kind == "pack"):
                folders["packs"] = self._version_dir("packs", manifest.release_id)
                unpack(files[pack.name], folders["packs"], Limits.for_artifact(pack.size))
        except (OSError, UnpackRefused, ValueError, KeyError, ModelIntegrityError) as exc:
            for folder in folders.values():  # each named before anything is written to it: none is left behind
                shutil.rmtree(folder, ignore_errors=True)
            raise UpdateRefused("unpack_failed", f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        return Staged(manifest.release_id, manifest.sequence, folders, models)

    def _version_dir(self, kind: Kind, release_id: str) -> Path:
        folder = self.root / kind / "versions" / release_id
        shutil.rmtree(folder, ignore_errors=True)  # a half-unpacked folder from an earlier, interrupted try
        return folder

    def _stage_models(self, folder: Path, tars: list[tuple[Path, int]]) -> list[str]:
        """The active models folder with the release's models (each tar with its signed size) added or replaced,
        as a new complete ``folder``; the names of the models the release brings."""
        base = self.active("models")
        manifest = json.loads((base / MANIFEST_NAME).read_text(encoding="utf-8"))
        entries = {entry["name"]: entry for entry in manifest["models"]}
        new_names = []
        unpacked = folder / ".unpack"
        for tar_path, size in tars:
            unpack(tar_path, unpacked, Limits.for_artifact(size))
            for entry in json.loads((unpacked / MANIFEST_NAME).read_text(encoding="utf-8"))["models"]:
                _check_replaces(entries.get(entry["name"]), entry)
                for name in _model_files(entry):
                    os.replace(unpacked / name, folder / name)
                entries[entry["name"]] = entry
                new_names.append(entry["name"])
            shutil.rmtree(unpacked)
        released_files = {file_name for name in new_names for file_name in _model_files(entries[name])}
        for name, entry in entries.items():
            if name not in new_names:
                if clash := released_files.intersection(_model_files(entry)):
                    raise ValueError(f"the release's file {sorted(clash)[0]!r} is model {name!r}'s")
                for file_name in _model_files(entry):
                    _place(base / file_name, folder / file_name)
        manifest["models"] = list(entries.values())
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        for name in new_names:
            verified_model_path(folder, name)  # every file present and matching its entry's sha256
        return new_names

    def switch(self, staged: Staged) -> None:
        """Record where the links point (``pending.json``), then point them at the staged versions."""
        previous = {kind: str(self.active(kind)) for kind in staged.folders}
        marker = {"release_id": staged.release_id, "sequence": staged.sequence, "previous": previous}
        write_bytes_atomically(self.root / PENDING, json.dumps(marker).encode())
        for kind, folder in staged.folders.items():
            self._point(kind, folder)

    def _point(self, kind: Kind, folder: Path) -> None:
        link = installed_link(self.root.parent, kind)
        target = folder.relative_to(link.parent) if folder.is_relative_to(link.parent) else folder
        point_symlink(link, target)

    def self_test(self, staged: Staged) -> None:
        """Load what the release installed through the links, as the kiosk will, and run each probe."""
        try:
            for name in staged.models:
                probe_model(installed_link(self.root.parent, "models"), name)
            if "packs" in staged.folders:
                pack = load_pack(installed_link(self.root.parent, "packs"))
                if pack.manifest.intent_model not in load_manifest(self.active("models")):
                    raise PackError(f"the pack needs model {pack.manifest.intent_model!r}, which is not installed")
        except (ProbeFailed, ModelIntegrityError, PackError, OSError) as exc:
            raise UpdateRefused("self_test_failed", str(exc)[:300]) from exc

    def commit(self) -> None:
        """The self-test passed: forget the marker and delete versions that are neither current nor previous."""
        pending = self._pending()
        if pending is None:
            return
        (self.root / PENDING).unlink()
        keep = {Path(path).resolve() for path in pending["previous"].values()}
        for kind in ("models", "packs"):
            keep.add(self.active(kind).resolve())
            for folder in (self.root / kind / "versions").glob("*"):
                if folder.resolve() not in keep:
                    shutil.rmtree(folder, ignore_errors=True)

    def rollback(self) -> tuple[str, int] | None:
        """Put the links back where ``pending.json`` says they were; the release (id, sequence) undone, if any."""
        pending = self._pending()
        if pending is None:
            return None
        for kind, previous in pending["previous"].items():
            self._point(kind, Path(previous))
            shutil.rmtree(self.root / kind / "versions" / pending["release_id"], ignore_errors=True)
        (self.root / PENDING).unlink()
        return str(pending["release_id"]), int(pending["sequence"])

    def _pending(self) -> dict[str, Any] | None:
        path = self.root / PENDING
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
