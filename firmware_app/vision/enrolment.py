"""Teaching the kiosk a new part from good photos, and moving its threshold: one place for the CLI and the screen.

Photos a person would retake (the quality gate's verdict) are left out of the bank, with the reason, so one
blurred photo cannot teach the kiosk that blur is normal. If most photos fail the gate for the same reason,
that is how this part looks (DeepPCB's binarised scans are clipped black and white: "too dark" or "too bright" by
their share of copper, so the two count as one exposure family; a dark rubber seal is "too dark"), so the reason
is recorded in the profile as one the gate skips for this part, instead of refusing
every photo of it later.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np

from firmware_app.config import PCB_PROFILE
from firmware_app.inference.manifest import ModelIntegrityError, load_manifest
from firmware_app.vision.anomaly import (
    MIN_PHOTOS,
    Detail,
    EnrolmentError,
    PatchFeatureExtractor,
    write_manifest,
    write_profile,
)
from firmware_app.vision.capture import IMAGE_SUFFIXES, ImageError, load_image
from firmware_app.vision.profiles import enrolled_root, read_entry
from firmware_app.vision.quality import QualityReport, RetakeReason, check_quality

# Exposure is one family: binarised board scans are "too dark" or "too bright" by how much copper they show.
FAMILY = {"too_dark": "exposure", "too_bright": "exposure"}
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DEFAULT_SIDE_PX = 224
DEFAULT_DETAIL: Detail = "standard"


@dataclass
class Enrolment:
    """What enrolment did: the profile's manifest entry and the photos it left out, with why."""

    entry: dict[str, Any]
    folder: Path
    left_out: dict[str, str] = field(default_factory=dict)  # photo -> reason

    def summary(self) -> dict[str, Any]:
        facts = self.entry["enrolment"]
        return {
            "profile": self.entry["name"],
            "title": self.entry["title"],
            "folder": str(self.folder),
            "photos": facts["photos"],
            "left_out": self.left_out,
            "quality_gate_skips": self.entry.get("quality_gate_skips", []),
            "threshold": round(self.entry["thresholds"]["score"], 4),
            "bank_patches": facts["bank_patches"],
            "size_bytes": self.entry["size_bytes"],
            "seconds": facts["seconds"],
        }


def check_name(name: str, models_dir: Path) -> None:
    """A profile name is a folder name and a manifest key: short, lower case, and not a trained model's."""
    if not PROFILE_NAME.match(name):
        raise EnrolmentError(f"profile name {name!r}: use 1-40 lower-case letters, digits, '-' or '_'")
    try:
        taken = {
            entry_name
            for entry_name, entry in load_manifest(models_dir).items()
            if "kind" not in (entry.model_extra or {})
        }
    except ModelIntegrityError:
        taken = set()
    if name == PCB_PROFILE or name in taken:
        raise EnrolmentError(f"profile name {name!r} is a shipped model's: choose another")


def read_photos(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The folder's readable photos by file name, and the unreadable ones with the reason."""
    if not folder.is_dir():
        raise EnrolmentError(f"{folder} is not a folder of photos")
    photos, refused = {}, {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        try:
            photos[path.name] = load_image(path)
        except ImageError as error:
            refused[path.name] = str(error)
    return photos, refused


def gate(photos: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str], list[RetakeReason]]:
    """The photos good enough to learn from, those left out (reason), and the reasons that are this part's look."""
    reports = {name: check_quality(photo) for name, photo in photos.items()}
    families = Counter(
        FAMILY.get(report.reasons[0], report.reasons[0]) for report in reports.values() if report.reasons
    )
    common = {family for family, count in families.items() if count > len(photos) / 2}
    normal = [reason for reason in get_args(RetakeReason) if FAMILY.get(reason, reason) in common]
    kept = {name: photos[name] for name, report in reports.items() if passes(report, normal)}
    left_out = {name: f"retake: {report.reasons[0]}" for name, report in reports.items() if not passes(report, normal)}
    return kept, left_out, normal


def passes(report: QualityReport, skips: Sequence[str]) -> bool:
    return all(reason in skips for reason in report.reasons)


def enrol_part(
    name: str,
    title: str,
    photos: dict[str, np.ndarray],
    extractor: PatchFeatureExtractor,
    folder: Path,
) -> Enrolment:
    """Enrol the good ``photos`` (by name) as profile ``name`` into ``folder``."""
    kept, left_out, skips = gate(photos)
    if len(kept) < MIN_PHOTOS:
        raise EnrolmentError(
            f"only {len(kept)} of {len(photos)} photos are good enough to learn from (at least {MIN_PHOTOS}):"
            f" {left_out}"
        )
    entry = write_profile(
        folder, name, title or name, extractor, list(kept.values()), extra={"quality_gate_skips": skips}
    )
    return Enrolment(entry, folder, left_out)


def enrol_folder(
    name: str,
    title: str,
    good: Path,
    data_dir: Path,
    models_dir: Path,
    out: Path | None = None,
    side_px: int = DEFAULT_SIDE_PX,
    detail: Detail = DEFAULT_DETAIL,
) -> Enrolment:
    """``kiosk vision enrol``: the photos in ``good`` as profile ``name`` (in the kiosk's profiles, or ``out``)."""
    check_name(name, models_dir)
    photos, unreadable = read_photos(good)
    extractor = PatchFeatureExtractor(models_dir, side_px, detail)
    enrolment = enrol_part(name, title, photos, extractor, out or enrolled_root(data_dir) / name)
    enrolment.left_out.update(unreadable)
    return enrolment


@dataclass(frozen=True)
class ThresholdEffect:
    """A threshold and what it does to the part's own good photos (left-out scores)."""

    threshold: float
    enrolment_photos: int
    flagged: int  # enrolment photos this threshold would call defective

    def as_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 4),
            "enrolment_photos": self.enrolment_photos,
            "flagged": self.flagged,
        }


def threshold_effect(entry: dict[str, Any], threshold: float | None = None) -> ThresholdEffect:
    good_scores = entry["calibration"]["good_scores"]
    chosen = float(entry["thresholds"]["score"] if threshold is None else threshold)
    return ThresholdEffect(chosen, len(good_scores), sum(score >= chosen for score in good_scores))


def set_threshold(name: str, data_dir: Path, factor: float) -> tuple[ThresholdEffect, ThresholdEffect]:
    """Move an enrolled part's threshold to ``factor`` times the calibrated one (below 1 tightens: more photos
    are called defective); the effect before and after. Only this kiosk's own parts: a released part's threshold
    is the fleet's, changed by releasing it again."""
    if not 0.5 <= factor <= 2.0:
        raise EnrolmentError(f"factor {factor} is out of range: 0.5 (much tighter) to 2.0 (much looser)")
    folder = enrolled_root(data_dir) / name
    try:
        entry = read_entry(folder, name)
    except (OSError, ModelIntegrityError) as error:
        raise EnrolmentError(f"{name!r} is not a part enrolled on this kiosk") from error
    before = threshold_effect(entry)
    entry["thresholds"] = {"score": float(entry["calibration"]["threshold"]) * factor}
    write_manifest(folder, entry)
    return before, threshold_effect(entry)
