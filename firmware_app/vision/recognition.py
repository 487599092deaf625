"""Recognition of a technician's photo by product profile: which defect, how sure, and where.

A profile is a model in the manifest (``models/int8/manifest.json``) named in ``[vision] profiles``, or a part
taught to the kiosk from good photos (``kiosk vision enrol``, or released by the fleet), which is offered
without any configuration: classification profiles run ``DefectClassifier`` and enrolled parts
``AnomalyInspector`` (label, heat map, a box; ``profiles.open_profile`` picks); the pairwise ``pcb`` profile
compares the photo with the configured golden template (``PcbDetector``, a box per defect). Models are loaded
on first use and kept, one per profile, so a kiosk that never sees a board never loads the board model, and
the second photo does not pay for the first load.

A model that cannot be loaded (missing, corrupt, sha256 not matching the manifest, no template) raises
``RecognitionUnavailable`` with the reason; the kiosk says recognition is unavailable and the technician can
still file the photo. The next photo tries again, so a model restored by the fleet is picked up without a
restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware_app.config import PCB_PROFILE, VisionConfig
from firmware_app.events import DefectBox, Inspection
from firmware_app.health import Health
from firmware_app.inference.manifest import ModelEntry, ModelIntegrityError, load_manifest
from firmware_app.vision.capture import ImageError, decode_image
from firmware_app.vision.defects import NOT_RECOGNISED, annotate, draw_rectangles
from firmware_app.vision.pcb.detector import PcbDetector, check_board
from firmware_app.vision.pcb.errors import NotTheTemplateBoard
from firmware_app.vision.pcb.masks import binarise
from firmware_app.vision.profiles import PhotoClassifier, enrolled_profiles, open_profile

log = logging.getLogger(__name__)

NO_DEFECT = "none"  # the pcb profile's label when the board matches its template


class RecognitionUnavailable(RuntimeError):
    """The profile's model (or the template it needs) cannot be loaded; the message says why."""


@dataclass(frozen=True)
class Recognition:
    """The verdict for the ticket and the picture for the screen and the ticket (heat map and boxes drawn)."""

    inspection: Inspection
    annotated: np.ndarray  # RGB uint8, the photo's size


class _PcbProfile:
    """The golden template as a copper mask and the verified tree ensemble, loaded together."""

    def __init__(self, models_dir: Path, template: Path) -> None:
        entries = load_manifest(models_dir)
        if PCB_PROFILE not in entries:
            raise ModelIntegrityError(f"model {PCB_PROFILE!r} is not in the manifest of {models_dir}")
        self.entry = entries[PCB_PROFILE]
        self.template = binarise(decode_image(template, cv2.IMREAD_GRAYSCALE), name=str(template))
        # The detector checks both of its files against the manifest (the trees and the crop network).
        self.detector = PcbDetector(models_dir / self.entry.file, self.entry.thresholds.get("min_score", 0.4))

    def recognise(self, image: np.ndarray) -> Recognition:
        test = binarise(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), name="photo")
        try:
            check_board(self.template, test, name="the photo")
        except NotTheTemplateBoard as refusal:  # another board, or no board: nothing to compare
            log.info("pcb photo refused", extra={"reason": refusal.reason})
            inspection = Inspection(
                profile=PCB_PROFILE,
                model=self.entry.name,
                model_version=self.entry.version,
                label=NOT_RECOGNISED,
                confidence=1.0,
                defective=False,
                defect_score=0.0,
                boxes=(),
            )
            return Recognition(inspection, image.copy())
        found, method = self.detector.detect_masks(self.template, test)
        boxes = tuple(DefectBox(tuple(b["box"]), b["label"], float(b["score"])) for b in found)
        log.info("pcb inspection", extra={"boxes": len(boxes), "alignment": method})
        best = max(boxes, key=lambda box: box.score, default=None)
        inspection = Inspection(
            profile=PCB_PROFILE,
            model=self.entry.name,
            model_version=self.entry.version,
            label=best.label if best is not None else NO_DEFECT,
            confidence=best.score if best is not None else 1.0,
            defective=best is not None,
            defect_score=best.score if best is not None else 0.0,
            boxes=boxes,
        )
        return Recognition(inspection, draw_boxes(image, boxes))


class _ClassifierProfile:
    def __init__(self, profile: str, classifier: PhotoClassifier) -> None:
        self.profile = profile
        self.classifier = classifier

    @property
    def entry(self) -> ModelEntry:
        return self.classifier.entry

    def recognise(self, image: np.ndarray) -> Recognition:
        result = self.classifier.classify(image)
        boxes = tuple(
            DefectBox(tuple(int(v) for v in b["box"]), str(b["label"]), float(b["score"]))  # type: ignore[attr-defined,arg-type]
            for b in result.boxes
        )
        inspection = Inspection(
            profile=self.profile,
            model=self.entry.name,
            model_version=self.entry.version,
            label=result.label,
            confidence=result.confidence,
            defective=result.defective,
            defect_score=result.defect_score,
            boxes=boxes,
        )
        return Recognition(inspection, annotate(image, result))


class Recognizer:
    """The active profiles' models, loaded lazily and cached; ``recognise`` is the one entry point."""

    def __init__(
        self, config: VisionConfig, models_dir: Path, data_dir: Path | None = None, health: Health | None = None
    ) -> None:
        self.config = config
        # Told which profiles' models cannot run (photos are then filed without a verdict) and when they run again.
        self.health = health
        self._unavailable: dict[str, str] = {}  # profile -> why its model cannot run
        self.models_dir = models_dir
        self.data_dir = data_dir
        self._loaded: dict[str, _ClassifierProfile | _PcbProfile] = {}
        self._enrolled: tuple[str, ...] = ()
        self.refresh_enrolled()

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.config.active_profiles, *self._enrolled]))

    def refresh_enrolled(self, changed: str | None = None) -> None:
        """Look again for enrolled parts (after an enrolment, or a threshold moved: ``changed`` is reloaded)."""
        self._enrolled = tuple(enrolled_profiles(self.data_dir, self.models_dir))
        if changed is not None:
            self._loaded.pop(changed, None)

    def recognise(self, profile: str, image: np.ndarray) -> Recognition:
        """The verdict of ``profile``'s model on an RGB photo; ``RecognitionUnavailable`` when it cannot run."""
        if profile not in self.profiles:
            raise ValueError(f"profile {profile!r} is not active; active: {self.profiles}")
        return self._model(profile).recognise(image)

    def _model(self, profile: str) -> _ClassifierProfile | _PcbProfile:
        model = self._loaded.get(profile)
        if model is None:
            try:
                model = self._loaded[profile] = self._load(profile)
            except RecognitionUnavailable as unavailable:
                self._unavailable[profile] = str(unavailable)
                self._report()
                raise
            if self._unavailable.pop(profile, None) is not None:
                self._report()
        return model

    def _report(self) -> None:
        """The profiles whose models cannot run, as one degraded ``defect_models`` (or ok when none is left)."""
        if self.health is None:
            return
        if self._unavailable:
            self.health.degraded("defect_models", "; ".join(self._unavailable.values()), "no_verdict")
        else:
            self.health.ok("defect_models")

    def _load(self, profile: str) -> _ClassifierProfile | _PcbProfile:
        try:
            if profile == PCB_PROFILE:
                assert self.config.pcb_template is not None  # active only with a template
                return _PcbProfile(self.models_dir, self.config.pcb_template)
            classifier = open_profile(profile, self.data_dir, self.models_dir, self.config.inference_threads)
            return _ClassifierProfile(profile, classifier)
        except (ModelIntegrityError, ImageError, OSError, ValueError, RuntimeError) as error:
            # OpenVINO reports an unreadable model as a RuntimeError; pcb.PcbError is a ValueError.
            log.error("recognition unavailable for profile %s: %s", profile, error)
            raise RecognitionUnavailable(f"{profile}: {error}") from error


def draw_boxes(image: np.ndarray, boxes: tuple[DefectBox, ...]) -> np.ndarray:
    """The photo with a red rectangle round each defect (a board has several, each of its own kind)."""
    out = image.copy()
    draw_rectangles(out, [box.box for box in boxes])
    return out


def summary(profile: str, inspection: Inspection | None) -> str:
    """The verdict in a ticket's summary: "steel_surface: scratches (97%)", "pcb: 3 defects (open, spur)",
    "magnetic_tile: no defect (free, 91%)", "pcb: no defect", "steel_surface: not recognised" or
    "steel_surface: recognition unavailable"."""
    if inspection is None:
        return f"{profile}: recognition unavailable"
    if inspection.label == NOT_RECOGNISED:
        return f"{profile}: not recognised"
    if len(inspection.boxes) > 1:
        kinds = ", ".join(dict.fromkeys(box.label for box in inspection.boxes))
        return f"{profile}: {len(inspection.boxes)} defects ({kinds})"
    if inspection.label == NO_DEFECT:
        return f"{profile}: no defect"
    if inspection.defective:
        return f"{profile}: {inspection.label} ({inspection.confidence:.0%})"
    return f"{profile}: no defect ({inspection.label}, {inspection.confidence:.0%})"
