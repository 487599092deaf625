"""What a fleet manager can put in a release from the console: the artifacts staged on the backend.

The staging folder (``fleet web --artifacts``, default ``artifacts`` beside the database) holds what the recipes
and the content team produce, one folder each: a domain pack (a folder with ``pack.yaml``) or models (a folder
with the ``manifest.json`` the kiosk reads, one entry per model file). The console lists them and signs the ones
chosen with the release key given to ``fleet web --release-key``; nothing is uploaded through the browser, so a
release holds only files that someone with access to the backend put there.

A part enrolled at a kiosk is such a models folder: ``kiosk vision enrol --profile NAME --good PHOTOS --out
<staging>/NAME`` writes it there (or copy a kiosk's ``<data_dir>/vision/profiles/NAME`` folder), and it is listed
and released like any model (``model/NAME/NAME.bank.npz``). It brings only the part's memory bank: the kiosks
that install it inspect with their own ``patch-features`` backbone, so one whose backbone is not the one the part
was enrolled with fails the release's self-test and rolls back (enrol the part again for that backbone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from fleet.releases import MODELS_MANIFEST, ArtifactSource, model_source, pack_source


@dataclass(frozen=True)
class Staged:
    """One artifact the console offers: ``key`` is how a form names it (``pack/<folder>`` or
    ``model/<folder>/<file>``), relative to the staging folder."""

    key: str
    kind: str  # "pack" or "model"
    name: str
    version: str


def staged(root: Path) -> list[Staged]:
    """Every pack and model in the staging folder, by folder name; unreadable folders are left out."""
    found: list[Staged] = []
    for folder in sorted(path for path in root.glob("*") if path.is_dir()) if root.is_dir() else []:
        try:
            if (folder / "pack.yaml").is_file():
                meta = yaml.safe_load((folder / "pack.yaml").read_text(encoding="utf-8"))
                found.append(Staged(f"pack/{folder.name}", "pack", str(meta["id"]), str(meta["version"])))
            elif (folder / MODELS_MANIFEST).is_file():
                manifest = json.loads((folder / MODELS_MANIFEST).read_text(encoding="utf-8"))
                found += [
                    Staged(f"model/{folder.name}/{entry['file']}", "model", str(entry["name"]), str(entry["version"]))
                    for entry in manifest["models"]
                    if (folder / entry["file"]).is_file()
                ]
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
            continue
    return found


def source(root: Path, key: str) -> ArtifactSource:
    """The artifact a form chose, read from the staging folder; ``ValueError`` for a key it does not list (a
    name the form never offered, a path out of the folder)."""
    if key not in {item.key for item in staged(root)}:
        raise ValueError(f"no staged artifact {key!r}")
    kind, _, rest = key.partition("/")
    return pack_source(root / rest) if kind == "pack" else model_source(root / rest)
