"""The board check: before looking for defects, make sure the test image shows the template's board.

Without it, a test image of another board, of a page of text or of anything else is still aligned as well as it
can be, and every difference becomes a "defect" (a page of text gave 9-14 ``copper`` boxes). After the alignment
(``alignment.align_pair``), the pair is refused (``NotTheTemplateBoard``, reason ``not_the_template_board``) when
any of these fails. The numbers are from ``python -m bench.bench_board_check`` (DeepPCB, one core): 0 of the
1,000 real pairs refused; 307 of 307 dev templates paired with another board design's test image refused, and
725 of 725 non-board pictures (text, noise, blank pages, steel and tile photos, another board turned 90 degrees).

- ``unmatched`` (at most ``MAX_UNMATCHED`` = 0.15): the copper pixels of both masks with no copper on the other
  within ``MATCH_RADIUS_PX`` = 2 px, as a share of all their copper. On the template's board only the defects
  and edge pixels that a residual misalignment moves by more than 2 px are left: at most 0.040 on the 100 dev
  pairs and 0.074 on the 900 train pairs. On another board most copper lands on laminate: at least 0.184 for
  the 307 other-design pairs (two dense boards, whose copper often lies within 2 px of the other's by chance),
  0.50 for a page of text. The share is taken of at least ``COPPER_FLOOR`` = 10% of the pixels: DeepPCB has
  bare corners of a board (the template has no copper at all, the test 135-406 pixels of added defects) that
  would otherwise be 100% unmatched; with the floor they are below 0.01. The price: a blank page cannot be told
  from a template with less than 1.5% copper.
- ``differ`` (at most ``MAX_DIFFER`` = 0.15): the share of pixels that differ (the XOR): at most 0.060 on the
  real pairs. Noise, steel and tile textures and a black page have copper within 2 px of most of the
  template's (``unmatched`` as low as 0.056), but differ in 0.22 or more of the pixels.
- ``in_view`` (at least ``MIN_IN_VIEW`` = 0.8): the share of the template that lands inside the test image; a
  picture of part of the board cannot be checked elsewhere. This one is a policy, not a separation: the real
  pairs keep 0.963 or more, a photo held 15 degrees askew and 30 px off 0.88 (0.81 where ORB + ECC fit a
  slightly perspective homography). DeepPCB's other pairs of the same group are crops of one larger scan, and
  18 of 193 overlap the template with their copper matching: 14 keep at most 0.78 of it in view and one fell
  back, and are refused; three keep 0.81-0.95 in view and are accepted (they do show the template's board). A
  blank white page is refused here too: phase correlation shifts the template's copper out of frame (0.25).
- the alignment did not fall back (``fallback``: neither the identity, a translation nor ORB brought the pair
  within ``alignment.ALIGNED_XOR_SHARE``): never on the real pairs, whose boxes would be noise if it did; all
  307 other-design pairs fell back, with 0-12 consistent ORB features.

The three numbers are counted where the warped template covers the test image and cost 0.35 ms (median; 0.8 ms
p95) on a 640x640 pair; the alignment is not repeated: the extraction takes it over. ``alignment`` itself tries
ORB before a cheap alignment would be refused here: a sparse board photographed 4 degrees askew differs in only
3-5% of its pixels (under ``ALIGNED_XOR_SHARE``, so ORB never ran), but its copper does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from firmware_app.vision.pcb.errors import NotTheTemplateBoard

if TYPE_CHECKING:  # alignment imports this module (see the docstring's last paragraph)
    from firmware_app.vision.pcb.aligned import Alignment

MATCH_RADIUS_PX = 2
COPPER_FLOOR = 0.1
MAX_UNMATCHED = 0.15
MAX_DIFFER = 0.15
MIN_IN_VIEW = 0.8
IN_VIEW_STEP_PX = 8  # the grid of template points that ``in_view`` maps into the test image
FALLBACK = "fallback"  # alignment.align's method when nothing brought the pair into line


@dataclass(frozen=True)
class BoardMatch:
    """How well the aligned template matches the test image (see the module's docstring)."""

    method: str
    unmatched: float
    differ: float
    in_view: float
    inliers: int | None  # consistent ORB features, when the alignment tried ORB

    @property
    def same_board(self) -> bool:
        return (
            self.unmatched <= MAX_UNMATCHED
            and self.differ <= MAX_DIFFER
            and self.in_view >= MIN_IN_VIEW
            and self.method != FALLBACK
        )

    def refusal(self, name: str = "TEST") -> str | None:
        """``None`` for the template's board, else why not, in plain words with the measured numbers."""
        if self.same_board:
            return None
        found = []
        if self.inliers is not None:
            only = "only " if self.method == FALLBACK else ""
            found.append(f"{only}{self.inliers} matching features after alignment")
        found.append(f"{self.unmatched:.0%} of the copper has no counterpart within {MATCH_RADIUS_PX} px")
        found.append(f"{self.differ:.0%} of pixels differ")
        partial = self.in_view < MIN_IN_VIEW
        if partial:
            found.append(f"only {self.in_view:.0%} of the template's board is in the picture")
        copper_matches = self.unmatched <= MAX_UNMATCHED and self.differ <= MAX_DIFFER
        verdict, advice = "does not show the template's board", "photograph the same board as the template"
        if partial:
            advice += ", all of it"
        elif copper_matches:  # only the alignment fell back: perhaps the board, at an angle ORB could not undo
            verdict, advice = "cannot be lined up with the template's board", advice + ", square on"
        return f"{name} {verdict}: {', '.join(found)}; {advice}"

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "method": self.method,
            "unmatched": round(self.unmatched, 4),
            "differ": round(self.differ, 4),
            "in_view": round(self.in_view, 4),
            "inliers": self.inliers,
        }


def _in_view(template_shape: tuple[int, int], alignment: Alignment, test_shape: tuple[int, int]) -> float:
    """Share of a grid of template points that the alignment's transform puts inside the test image."""
    if alignment.matrix is None:
        return 1.0  # identity, or the template stretched onto the test image
    height, width = template_shape
    ys, xs = np.mgrid[0:height:IN_VIEW_STEP_PX, 0:width:IN_VIEW_STEP_PX]
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).astype(np.float64)
    matrix = alignment.matrix.astype(np.float64)
    if matrix.shape == (2, 3):
        matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
    x, y, w = matrix @ points
    ahead = w > 1e-9  # a homography can throw points behind the camera
    x, y = x[ahead] / w[ahead], y[ahead] / w[ahead]
    inside = (x >= 0) & (x < test_shape[1]) & (y >= 0) & (y < test_shape[0])
    return float(np.count_nonzero(inside)) / points.shape[1]


def unmatched_copper(warped: np.ndarray, valid: np.ndarray, test: np.ndarray) -> float:
    """Copper pixels (of both masks, where ``valid``) with no copper on the other mask within ``MATCH_RADIUS_PX``,
    as a share of all those copper pixels, or of ``COPPER_FLOOR`` of the valid pixels on a nearly bare board."""
    inside = valid.astype(bool)
    template_copper = warped.astype(bool) & inside
    test_copper = test.astype(bool) & inside
    side = 2 * MATCH_RADIUS_PX + 1
    kernel = np.ones((side, side), np.uint8)
    near_template = cv2.dilate(template_copper.view(np.uint8), kernel).view(bool)
    near_test = cv2.dilate(test_copper.view(np.uint8), kernel).view(bool)
    lone = np.count_nonzero(test_copper & ~near_template) + np.count_nonzero(template_copper & ~near_test)
    copper = np.count_nonzero(template_copper) + np.count_nonzero(test_copper)
    floor = COPPER_FLOOR * np.count_nonzero(inside)
    return float(lone / max(copper, floor)) if floor else 1.0


def _differ(warped: np.ndarray, valid: np.ndarray, test: np.ndarray) -> float:
    """Share of the valid pixels where the two masks differ."""
    inside = valid.astype(bool)
    covered = np.count_nonzero(inside)
    return float(np.count_nonzero((warped != test) & inside) / covered) if covered else 1.0


def measure(template_shape: tuple[int, int], alignment: Alignment, test: np.ndarray) -> BoardMatch:
    """The three numbers for an aligned pair, counted only where the warped template covers the test image."""
    warped, valid = alignment.warped, alignment.valid
    return BoardMatch(
        method=alignment.method,
        unmatched=unmatched_copper(warped, valid, test),
        differ=_differ(warped, valid, test),
        in_view=_in_view(template_shape, alignment, test.shape[:2]),
        inliers=alignment.inliers,
    )


def check(match: BoardMatch, name: str = "TEST") -> BoardMatch:
    """``match``, or ``NotTheTemplateBoard`` (reason ``not_the_template_board``) when it is another board."""
    refusal = match.refusal(name)
    if refusal is not None:
        raise NotTheTemplateBoard(refusal)
    return match
