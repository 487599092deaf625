"""The technician's camera: the preview, the quality gate, what the product's model recognises, and filing the
photo as a ticket.

Filing writes files, so it is where the disk can run out: a photo is filed only above ``[privacy]
photo_floor_mb`` of free space, and a full disk while writing (ENOSPC, SQLite's "disk is full") files nothing
and leaves no half-written photo behind, while the technician keeps the photo and the note on the screen.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from firmware_app import audit
from firmware_app.app import Kiosk
from firmware_app.config import PCB_PROFILE
from firmware_app.dialogue.session import Session
from firmware_app.events import AnswerCard, TicketCreated, TicketRequested
from firmware_app.inference.manifest import MANIFEST_NAME, ModelIntegrityError
from firmware_app.packs import Guidance, ProfileGuidance, Text
from firmware_app.screen.core import ScreenCore
from firmware_app.screen.state import Finding, FormState, PhotoState
from firmware_app.screen.strings import t
from firmware_app.storage import MB, ensure_room, is_disk_full
from firmware_app.vision.capture import ImageError, PhotoSource, downscale, save_photo
from firmware_app.vision.defects import NOT_RECOGNISED
from firmware_app.vision.profiles import profile_folder, read_entry
from firmware_app.vision.quality import check_quality
from firmware_app.vision.recognition import Recognition, RecognitionUnavailable, Recognizer, summary

log = logging.getLogger(__name__)


class CameraScreens(ScreenCore):
    """The camera, inspection and note screens. ``camera`` and ``recognizer`` may be replaced at any time (a
    test's image files, a demo's still picture, a recogniser with its own models)."""

    camera: PhotoSource | None
    recognizer: Recognizer

    def open_camera(self) -> None:
        """The camera screen, for technicians only: from the staff screen (behind the staff PIN), which starts
        the technician's visit, or again within that visit (a retake, back from teaching). Anywhere else (a
        customer's visit) it does nothing. The camera's back arrow goes to the home screen of the technician's
        visit, which ends like any visit ("That's all" or the idle timeout)."""
        with self._lock:
            self._touched()
            if not self._camera_allowed():
                log.info("camera refused: not opened from the staff screen", extra={"screen": self._state.screen})
                return
            if self._state.screen == "admin":
                audit.record(self.kiosk.db, "staff", "technician_camera_opened")
                self._set(admin=None)
            self._require_session()
            self._technician = True
            self._back = "home"
            self._set(screen="camera", photo=self._photo(self._camera_frame()), form=None, teach=None)

    def _camera_allowed(self) -> bool:
        """The staff screen is showing (the PIN was given), or the visit is a technician's."""
        return self._state.screen == "admin" or (self._technician and self._session is not None)

    def retake(self) -> None:
        with self._lock:
            self.open_camera()

    def refresh_preview(self) -> None:
        """A new preview frame (the UI calls this at its preview rate while the camera screen is shown)."""
        with self._lock:
            if self._state.screen == "camera":
                self._set(photo=self._photo(self._camera_frame()))

    def choose_profile(self, profile: str) -> None:
        """The product the part is (a tap on the camera screen); kept for the rest of the visit."""
        with self._lock:
            self._touched()
            photo = self._state.photo
            if profile not in self.recognizer.profiles or photo is None:
                return
            self._profile = profile
            self._set(photo=replace(photo, profile=profile))

    def capture(self, image: np.ndarray | None = None, analyse: bool = True) -> None:
        """Take the photo (the current camera frame, or a picked image) and run the quality gate on it; a good
        photo goes to the inspection screen, which says "analysing" until ``analyse`` has the verdict (the tour
        passes ``analyse=False`` to photograph that state)."""
        with self._lock:
            self._touched()
            frame = image if image is not None else self._camera_frame()
            if frame is None:
                self._set(notice="no_camera")
                return
            quality = check_quality(frame)
            if not quality.ok:
                self._back = "camera"
                self._set(screen="photo_result", photo=replace(self._photo(frame), quality=quality), form=None)
                return
            # Recognised at the size it is filed at, so the boxes are in the attached photo's pixels.
            photo = replace(self._photo(downscale(frame)), quality=quality, analysing=True)
            self._back = "home"
            self._set(screen="inspection", photo=photo, form=None)
            if analyse:
                self.analyse()

    def analyse(self) -> None:
        """Recognise the photo on the inspection screen with the chosen profile's model: the verdict, the
        annotated picture, and the pack's guidance for what was found."""
        with self._lock:
            photo = self._state.photo
            if self._state.screen != "inspection" or photo is None or photo.image is None:
                return
            try:
                recognition = self.recognizer.recognise(photo.profile, photo.image)
            except RecognitionUnavailable:
                self._set(photo=replace(photo, analysing=False, unavailable=True))
                return
            log.info("photo recognised", extra={"verdict": summary(photo.profile, recognition.inspection)})
            self._set(photo=explained(photo, recognition, self.kiosk.pack.guidance))

    def file_photo(self) -> None:
        """File the photo on the inspection screen: the note's keyboard, under the photo."""
        with self._lock:
            self._touched()
            photo = self._state.photo
            if photo is None or photo.verdict in (None, "analysing"):
                return
            self._back = "inspection"
            prompt = t("photo_note_prompt", self._state.language)
            self._set(screen="photo_result", form=FormState("photo_note", prompt, "keyboard"))

    def _file_photo_ticket(self, note: str) -> None:
        """The photo with its note as a ticket, shown with its reference; on a full disk, a "storage full"
        notice over the photo and the note, which stay on the screen."""
        photo = self._state.photo
        if photo is None or photo.image is None:
            return
        session = self._require_session()
        created = file_photo_ticket(self.kiosk, session, photo, note)
        if created is None:
            self._set(notice="storage_full")
            return
        self._add_bubble("customer", note, "touch")
        text = t("photo_filed", session.language, reference=created.reference)
        card = AnswerCard(title=t("photo_filed_title", session.language), body=text, reference=created.reference)
        self._set(
            screen="ticket",
            card=card,
            caption=text,
            reference=created.reference,
            qr_text=f"{self.kiosk.pack.manifest.name.en} ticket {created.reference}",
            form=None,
            photo=replace(photo, note=note),
        )

    def _photo(self, image: np.ndarray | None) -> PhotoState:
        """A fresh photo state: the picture, and the product it will be recognised as (with the choice)."""
        guidance = self.kiosk.pack.guidance
        recognizer = self.recognizer
        profiles = recognizer.profiles
        titles = {profile: part_title(recognizer, profile) for profile in profiles if profile not in guidance.profiles}
        names = tuple((profile, profile_name(guidance.profiles, profile, titles.get(profile))) for profile in profiles)
        chosen = self._profile if self._profile in profiles else profiles[0]
        return PhotoState(image=image, profile=chosen, profiles=names)

    def _camera_frame(self) -> np.ndarray | None:
        if self.camera is None:
            return None
        try:
            return self.camera.frame()
        except (OSError, ImageError) as error:
            log.warning("camera frame failed: %s", error)
            return None


def file_photo_ticket(kiosk: Kiosk, session: Session, photo: PhotoState, note: str) -> TicketCreated | None:
    """The photo and, when the model ran, its annotated copy, filed with the verdict and the note; None when the
    disk is full (under ``[privacy] photo_floor_mb`` before writing, or ENOSPC / SQLite "disk is full" while
    writing): nothing is filed and this ticket's files are removed, earlier tickets and photos untouched."""
    assert photo.image is not None
    ticket_id = str(uuid.uuid4())
    data_dir = kiosk.settings.data_dir
    attachments = [f"photos/{ticket_id}.jpg"]
    inspection = photo.recognition.inspection if photo.recognition is not None else None
    try:
        ensure_room(data_dir, kiosk.settings.privacy.photo_floor_mb * MB)
        save_photo(photo.image, data_dir / attachments[0])
        if photo.recognition is not None:
            attachments.append(f"photos/{ticket_id}-annotated.jpg")
            save_photo(photo.recognition.annotated, data_dir / attachments[1])
        return kiosk.file_ticket(
            TicketRequested(
                ticket_id=ticket_id,
                ticket_type="technician_photo",
                priority="normal",
                summary=f"Technician photo, {summary(photo.profile, inspection)}. Note: {note}",
                language=session.language,
                session_id=session.id,
                attachments=tuple(attachments),
                inspection=inspection,
            )
        )
    except (OSError, sqlite3.OperationalError) as exc:
        if not is_disk_full(exc):
            raise
        _remove(data_dir, attachments)
        log.error("photo not filed: storage full", extra={"error": str(exc)})
        return None


def _remove(data_dir: Path, names: list[str]) -> None:
    for name in names:
        (data_dir / name).unlink(missing_ok=True)


def explained(photo: PhotoState, recognition: Recognition, guidance: Guidance) -> PhotoState:
    """The photo with its verdict, what was found by name and confidence (each kind once, at its surest
    box), and the guidance the pack links to it. An ok result without a name of its own (a board that
    matches its template) lists nothing: the verdict says it all."""
    inspection = recognition.inspection
    found: dict[str, float] = {}
    if inspection.label != NOT_RECOGNISED:
        found = {inspection.label: inspection.confidence} if not inspection.boxes else {}
        for box in sorted(inspection.boxes, key=lambda box: -box.score):
            found.setdefault(box.label, box.score)
    findings = []
    for label, confidence in found.items():
        linked = guidance.label(photo.profile, label)
        if linked is not None or inspection.defective:
            findings.append(Finding(linked.name if linked else Text(en=label, zh=label), confidence))
    entries = {entry.id: entry for label in found for entry in guidance.entries_for(photo.profile, label)}
    return replace(
        photo,
        analysing=False,
        recognition=recognition,
        findings=tuple(findings),
        guidance=tuple(entries.values()),
    )


def profile_name(profiles: Mapping[str, ProfileGuidance], profile: str, title: str | None = None) -> Text:
    """A profile's name on the screen from the pack's guidance; where the pack has none yet, the ``title`` it was
    taught with (an enrolled part), else its model name."""
    spec = profiles.get(profile)
    if spec is not None:
        return spec.name
    shown = title or profile
    return Text(en=shown, zh=shown)


def part_title(recognizer: Recognizer, profile: str) -> str | None:
    """The title an enrolled part was taught with (its manifest entry's ``title``); None for any other profile.
    Read again only when the part's manifest changes (the preview asks ten times a second)."""
    if profile == PCB_PROFILE:
        return None
    folder = profile_folder(profile, recognizer.data_dir, recognizer.models_dir)
    if folder is None:
        return None
    try:
        stamp = (folder / MANIFEST_NAME).stat().st_mtime_ns
    except OSError:
        return None
    return _entry_title(folder, profile, stamp)


@lru_cache(maxsize=64)
def _entry_title(folder: Path, profile: str, stamp: int) -> str | None:
    """``stamp`` (the manifest's modification time) is only the cache's key."""
    try:
        title = read_entry(folder, profile).get("title")
    except (OSError, ValueError, ModelIntegrityError):
        return None
    return str(title) if title else None
