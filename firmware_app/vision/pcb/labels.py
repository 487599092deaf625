"""The defect classes of the ``pcb`` profile. One definition for the classifiers, the detector, the metrics and
the training recipe, because the order of ``CLASSES`` is the column order of both models' probabilities."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("open", "short", "mousebite", "spur", "copper", "pin-hole")
NONE_LABEL = "none"  # the classifiers' extra class for a candidate that is no defect
CLASSES: tuple[str, ...] = (*LABELS, NONE_LABEL)
