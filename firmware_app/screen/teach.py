"""Teaching the kiosk a new part from photos of good ones, and moving a taught part's threshold.

"Teach a new part" on the camera screen asks for the staff PIN (the staff corner's gate: the same lock-out and
the same audit), then the part's title on the on-screen keyboard (a default title is typed in already, so a
tap on Send is enough), then photos from the camera: each goes through the quality gate, and a photo to retake
is not kept (the screen says why). With at least ``MIN_TEACH_PHOTOS`` kept, "Learn this part" enrols them
(``vision.enrolment``). That takes seconds; like the inspection it runs as the UI's action on its worker
thread while the screen says "Learning…". The part gets a profile name of its own (``part-3``) and is offered
on the camera screen at once, by its title.

The staff screen's "Taught parts" lists the parts taught on this kiosk; each one's threshold steps through
``THRESHOLD_FACTORS`` (times the threshold learned from its photos), and the screen says what the new
threshold does to the part's own good photos.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from firmware_app import audit
from firmware_app.inference.manifest import ModelIntegrityError
from firmware_app.screen.camera import CameraScreens
from firmware_app.screen.state import FormState, PartView, TeachResult, TeachState
from firmware_app.screen.strings import STRINGS, t
from firmware_app.vision.anomaly import MAX_PHOTOS, EnrolmentError, PatchFeatureExtractor
from firmware_app.vision.capture import downscale
from firmware_app.vision.enrolment import (
    DEFAULT_DETAIL,
    DEFAULT_SIDE_PX,
    check_name,
    enrol_part,
    set_threshold,
    threshold_effect,
)
from firmware_app.vision.profiles import enrolled_root, read_entry
from firmware_app.vision.quality import check_quality

log = logging.getLogger(__name__)

MIN_TEACH_PHOTOS = 10  # "10-30 good examples": fewer leave the threshold to chance
MAX_TEACH_PHOTOS = min(30, MAX_PHOTOS)
TEACH_PHOTO_SIDE_PX = 512  # the photos are kept this small: enrolment looks at 224 pixels, 30 photos stay ~20 MB
MAX_TITLE_CHARS = 40
# The thresholds staff can choose, as multiples of the one learned from the part's photos: below 1 is stricter
# (more photos called defective), above 1 looser.
THRESHOLD_FACTORS = (0.7, 0.85, 1.0, 1.2, 1.4)
_PHOTO_NUMBER = re.compile(r"photo-(\d+)")


class TeachScreens(CameraScreens):
    """Teaching a new part (the ``teach`` screen) and the taught parts' thresholds (the ``parts`` screen)."""

    # --- the title, after the staff PIN ------------------------------------------------------------------------

    def _start_teaching(self) -> None:
        """The right staff PIN for "Teach a new part": the title's keyboard, the default title typed in."""
        language = self._state.language
        _, number = free_part_name(self.recognizer.profiles, self.recognizer.data_dir, self.recognizer.models_dir)
        title = t("default_part_title", language, number=str(number))
        prompt = t("part_title_prompt", language)
        self._back = "camera"
        form = FormState("part_title", prompt, "keyboard", draft=title, max_chars=MAX_TITLE_CHARS)
        self._set(screen="form", form=form, teach=None)

    def _begin_capture(self, title: str) -> None:
        """The title is sent: the teach screen with the live picture, no photos taken yet."""
        name, _ = free_part_name(self.recognizer.profiles, self.recognizer.data_dir, self.recognizer.models_dir)
        self._back = "camera"
        log.info("teaching a new part", extra={"profile": name})
        self._set(screen="teach", form=None, teach=TeachState(name, title, preview=self._camera_frame()))

    # --- the photos ----------------------------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """The live picture of the teach screen while it takes photos; else the camera screen's."""
        with self._lock:
            teach = self._state.teach
            if self._state.screen == "teach" and teach is not None and teach.phase == "capture":
                frame = self._camera_frame()
                if frame is not None:
                    self._set(teach=replace(teach, preview=frame))
                return
        super().refresh_preview()

    def teach_capture(self) -> None:
        """One more photo of a good part: kept when the quality gate passes it, else shown with the reason."""
        with self._lock:
            self._touched()
            teach = self._teaching("capture")
            if teach is None or teach.count >= MAX_TEACH_PHOTOS:
                return
            frame = self._camera_frame()
            if frame is None:
                self._set(notice="no_camera")
                return
            quality = check_quality(frame)
            if not quality.ok:
                log.info("teaching photo not kept", extra={"reasons": list(quality.reasons)})
                self._set(teach=replace(teach, preview=frame, refused=quality))
                return
            kept = downscale(frame, TEACH_PHOTO_SIDE_PX)
            self._set(teach=replace(teach, preview=frame, refused=None, photos=(*teach.photos, kept)))

    def teach_more(self) -> None:
        """After a failed enrolment: back to taking photos, with the photos kept so far."""
        with self._lock:
            self._touched()
            teach = self._teaching("failed")
            if teach is not None:
                self._set(teach=replace(teach, phase="capture", error="", detail="", preview=self._camera_frame()))

    # --- learning --------------------------------------------------------------------------------------------------

    def learn_part(self, learn: bool = True) -> None:
        """ "Learn this part": the screen says "Learning…" until ``learn`` has enrolled the photos (the tour passes
        ``learn=False`` to photograph that state)."""
        with self._lock:
            self._touched()
            teach = self._teaching("capture")
            if teach is None or teach.count < MIN_TEACH_PHOTOS:
                return
            self._set(teach=replace(teach, phase="learning", refused=None))
            if learn:
                self.finish_learning()

    def finish_learning(self) -> None:
        """Enrol the photos on the teach screen: the part is then offered on the camera screen (and chosen for
        the rest of the visit), or the screen says why it could not be learned."""
        with self._lock:
            teach = self._teaching("learning")
            if teach is not None:
                self._set(teach=self._learned(teach))

    def _learned(self, teach: TeachState) -> TeachState:
        data_dir, models_dir = self.recognizer.data_dir, self.recognizer.models_dir
        if data_dir is None:
            return replace(teach, phase="failed", error="teach_no_folder")
        photos = {f"photo-{number:02d}.png": photo for number, photo in enumerate(teach.photos, 1)}
        try:
            check_name(teach.name, models_dir)
            extractor = PatchFeatureExtractor(models_dir, DEFAULT_SIDE_PX, DEFAULT_DETAIL)
            enrolment = enrol_part(teach.name, teach.title, photos, extractor, enrolled_root(data_dir) / teach.name)
        except EnrolmentError as error:
            log.warning("part not learned: %s", error, extra={"profile": teach.name})
            return replace(teach, phase="failed", error="teach_failed_photos", detail=str(error))
        except (ModelIntegrityError, RuntimeError, ValueError) as error:  # OpenVINO's unreadable model: RuntimeError
            log.error("part not learned, the feature model is unavailable: %s", error, extra={"profile": teach.name})
            return replace(teach, phase="failed", error="teach_no_model", detail=str(error))
        except OSError as error:
            log.error("part not learned, not saved: %s", error, extra={"profile": teach.name})
            return replace(teach, phase="failed", error="teach_not_saved", detail=str(error))
        effect = threshold_effect(enrolment.entry)
        left_out = tuple(
            (_photo_number(photo), reason.removeprefix("retake: ")) for photo, reason in enrolment.left_out.items()
        )
        result = TeachResult(int(enrolment.entry["enrolment"]["photos"]), left_out, effect.threshold, effect.flagged)
        audit.record(
            self.kiosk.db,
            "staff",
            "part_taught",
            {"profile": teach.name, "title": teach.title, "photos": result.photos, "threshold": effect.threshold},
        )
        log.info("part learned", extra={"profile": teach.name, "photos": result.photos})
        self.recognizer.refresh_enrolled()
        self._profile = teach.name
        return replace(teach, phase="learned", result=result, photos=teach.photos[-1:], preview=None)

    def _teaching(self, phase: str) -> TeachState | None:
        """The part being taught, if the teach screen shows it in ``phase``."""
        teach = self._state.teach
        if self._state.screen != "teach" or teach is None or teach.phase != phase:
            return None
        return teach

    # --- the taught parts' thresholds (staff) ---------------------------------------------------------------

    def open_parts(self) -> None:
        """The staff screen's "Taught parts" (only from the staff screen: the PIN was given)."""
        with self._lock:
            self._touched()
            admin = self._state.admin
            if self._state.screen != "admin" or admin is None:
                return
            self._set(screen="parts", admin=replace(admin, parts=taught_parts(self.recognizer.data_dir)))

    def close_parts(self) -> None:
        """Back from the taught parts to the staff screen."""
        with self._lock:
            self._touched()
            if self._state.screen == "parts":
                self._set(screen="admin")

    def step_threshold(self, profile: str, step: int) -> None:
        """Move ``profile``'s threshold to the next stricter (``step`` < 0) or looser factor; the part is reloaded
        for the next photo."""
        with self._lock:
            self._touched()
            admin, data_dir = self._state.admin, self.recognizer.data_dir
            if self._state.screen != "parts" or admin is None or data_dir is None:
                return
            part = next((part for part in admin.parts if part.name == profile), None)
            factor = next_factor(part.factor, step) if part is not None else None
            if factor is None:
                return
            try:
                before, after = set_threshold(profile, data_dir, factor)
            except EnrolmentError as error:
                log.warning("threshold not changed: %s", error, extra={"profile": profile})
                return
            self.recognizer.refresh_enrolled(changed=profile)
            detail = {"profile": profile, "factor": factor, "before": before.threshold, "after": after.threshold}
            audit.record(self.kiosk.db, "staff", "part_threshold", {**detail, "flagged": after.flagged})
            log.info("threshold changed", extra=detail)
            self._set(admin=replace(admin, parts=taught_parts(data_dir)))


def free_part_name(taken: tuple[str, ...], data_dir: Path | None, models_dir: Path) -> tuple[str, int]:
    """The first free ``part-<n>`` profile name (and its n): no profile, no folder and no shipped model has it."""
    number = 0
    while True:
        number += 1
        name = f"part-{number}"
        if name in taken or (data_dir is not None and (enrolled_root(data_dir) / name).exists()):
            continue
        try:
            check_name(name, models_dir)
        except EnrolmentError:
            continue
        return name, number


def taught_parts(data_dir: Path | None) -> tuple[PartView, ...]:
    """The parts taught on this kiosk with their thresholds (a released part's threshold is the fleet's)."""
    if data_dir is None:
        return ()
    parts = []
    for folder in sorted(enrolled_root(data_dir).glob("*")):
        try:
            entry = read_entry(folder, folder.name)
            learned = float(entry["calibration"]["threshold"])
            effect = threshold_effect(entry)
        except (OSError, ValueError, KeyError, TypeError, ModelIntegrityError):
            continue
        title = str(entry.get("title") or folder.name)
        factor = effect.threshold / learned if learned > 0 else 1.0
        parts.append(PartView(folder.name, title, factor, effect.threshold, effect.enrolment_photos, effect.flagged))
    return tuple(parts)


def next_factor(factor: float, step: int) -> float | None:
    """The next factor of ``THRESHOLD_FACTORS`` below (``step`` < 0) or above ``factor``; None at the end."""
    if step < 0:
        lower = [option for option in THRESHOLD_FACTORS if option < factor - 1e-6]
        return lower[-1] if lower else None
    higher = [option for option in THRESHOLD_FACTORS if option > factor + 1e-6]
    return higher[0] if higher else None


def left_out_reason(reason: str) -> str:
    """The message key for a photo enrolment left out (``reason_blurred``), or its own words."""
    return f"reason_{reason}" if f"reason_{reason}" in STRINGS else reason


def _photo_number(photo: str) -> int:
    match = _PHOTO_NUMBER.match(photo)
    return int(match[1]) if match else 0
