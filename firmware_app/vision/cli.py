"""``kiosk vision``: the product profiles' defect classifier on image files (JSON lines on stdout), and teaching
the kiosk a new part from good photos.

``classify`` prints one line per image and keeps going past unreadable files (each gets an ``error`` line) and
photos the quality gate refuses (a ``retake`` line with the reason, as the camera screen would ask), then exits 1
if any photo was not inspected, so a batch run both reports everything and signals the failure to scripts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from firmware_app.config import KioskSettings
from firmware_app.inference.manifest import ModelIntegrityError
from firmware_app.vision.anomaly import DETAIL_LAYERS, EnrolmentError
from firmware_app.vision.capture import IMAGE_SUFFIXES, ImageError, load_image
from firmware_app.vision.defects import NOT_RECOGNISED
from firmware_app.vision.enrolment import DEFAULT_DETAIL, DEFAULT_SIDE_PX, enrol_folder, passes, set_threshold
from firmware_app.vision.metrics import classification_scores
from firmware_app.vision.profiles import PairwiseProfile, PhotoClassifier, enrolled_profiles, open_profile
from firmware_app.vision.quality import check_quality


def _settings(ctx: click.Context) -> KioskSettings:
    settings: KioskSettings = ctx.find_root().obj["settings"]
    return settings


@click.group()
def vision() -> None:
    """Technician photos: defect recognition by product profile."""


def _open(ctx: click.Context, profile: str) -> PhotoClassifier:
    """The profile's model, or a one-line error that says what to do."""
    settings = _settings(ctx)
    try:
        return open_profile(profile, settings.data_dir, settings.models_dir)
    except PairwiseProfile as error:
        raise click.UsageError(str(error)) from error
    except (ModelIntegrityError, ValueError, OSError, RuntimeError) as error:
        raise click.ClickException(str(error)) from error


PROFILE_HELP = "Product profile: a trained model in models/int8/manifest.json or a part taught with `enrol`."


@vision.command("classify")
@click.option("--profile", required=True, help=PROFILE_HELP)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def classify(ctx: click.Context, profile: str, images: tuple[Path, ...]) -> None:
    """One JSON line per image: file, quality (the gate's verdict), then label, confidence, defective,
    defect_score and boxes; or `retake` (the gate's reason) or `error`."""
    classifier = _open(ctx, profile)
    skips = (classifier.entry.model_extra or {}).get("quality_gate_skips", [])
    failed = False
    for path in images:
        start = time.perf_counter()
        try:
            image = load_image(path)
        except ImageError as error:
            click.echo(json.dumps({"file": str(path), "error": str(error)}))
            failed = True
            continue
        report = check_quality(image)
        quality = {
            "ok": passes(report, skips),
            "reasons": list(report.reasons),
            "sharpness": round(report.sharpness, 3),
            "brightness": round(report.brightness, 1),
        }
        if not quality["ok"]:
            click.echo(json.dumps({"file": str(path), "quality": quality, "retake": report.reasons[0]}))
            failed = True
            continue
        result = classifier.classify(image)
        ms = round((time.perf_counter() - start) * 1000, 1)
        click.echo(json.dumps({"file": str(path), "quality": quality, **result.as_json(), "ms": ms}))
    if failed:
        sys.exit(1)


@vision.command("enrol")
@click.option("--profile", required=True, help="The new part's profile name (lower case, digits, - and _).")
@click.option("--good", required=True, type=click.Path(path_type=Path), help="A folder of 4-64 photos of good parts.")
@click.option("--title", default="", help='What staff and technicians call the part, e.g. "Pump seal 40 mm".')
@click.option(
    "--detail",
    type=click.Choice(sorted(DETAIL_LAYERS)),
    default=DEFAULT_DETAIL,
    show_default=True,
    help="fine: thin structures such as a board's tracks (slower); standard: surfaces.",
)
@click.option(
    "--side-px",
    type=click.IntRange(64, 640),
    default=DEFAULT_SIDE_PX,
    show_default=True,
    help="Photos are inspected at this square size (a multiple of 16).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write the profile folder here (to stage it on the backend) instead of this kiosk's profiles.",
)
@click.pass_context
def enrol(
    ctx: click.Context, profile: str, good: Path, title: str, detail: str, side_px: int, out: Path | None
) -> None:
    """Teach the kiosk a part from photos of good ones: one JSON line with the profile, the photos used and left
    out, the threshold, the size and the seconds it took. `classify --profile NAME` inspects it afterwards."""
    settings = _settings(ctx)
    try:
        enrolment = enrol_folder(
            profile,
            title,
            good,
            settings.data_dir,
            settings.models_dir,
            out,
            side_px,
            detail,  # type: ignore[arg-type]
        )
    except (EnrolmentError, ModelIntegrityError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(enrolment.summary(), ensure_ascii=False))


@vision.command("threshold")
@click.option("--profile", required=True, help="A part enrolled on this kiosk.")
@click.option(
    "--factor",
    type=float,
    default=1.0,
    show_default=True,
    help="Times the calibrated threshold: below 1 tightens (more photos called defective), above loosens.",
)
@click.pass_context
def threshold(ctx: click.Context, profile: str, factor: float) -> None:
    """Move an enrolled part's threshold and show what it does to the part's own good photos."""
    try:
        before, after = set_threshold(profile, _settings(ctx).data_dir, factor)
    except EnrolmentError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps({"profile": profile, "before": before.as_json(), "after": after.as_json()}))


@vision.command("profiles")
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """The profiles this kiosk can inspect: trained, enrolled, and the pairwise board check."""
    settings = _settings(ctx)
    enrolled = enrolled_profiles(settings.data_dir, settings.models_dir)
    click.echo(
        json.dumps(
            {
                "trained": list(settings.vision.profiles),
                "enrolled": enrolled,
                "pairwise": list(settings.vision.active_profiles[len(settings.vision.profiles) :]),
            }
        )
    )


@vision.command("eval")
@click.option("--profile", required=True, help=PROFILE_HELP)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def evaluate(ctx: click.Context, profile: str, folder: Path) -> None:
    """Accuracy, macro-F1 and defect-vs-free AUROC on FOLDER/<label>/*.jpg (labels as in the profile)."""
    classifier = _open(ctx, profile)
    truth, predicted, defect_scores, rejected, ms = [], [], [], 0, []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if label_dir.name not in classifier.labels:
            raise click.ClickException(f"{label_dir.name!r} is not a label of {profile}: {classifier.labels}")
        for path in sorted(label_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.stem.endswith("_mask"):
                continue
            start = time.perf_counter()
            result = classifier.classify(load_image(path))
            ms.append((time.perf_counter() - start) * 1000)
            rejected += result.label == NOT_RECOGNISED
            truth.append(label_dir.name)
            predicted.append(max(result.probabilities, key=result.probabilities.__getitem__))
            defect_scores.append(1.0 - sum(result.probabilities[ok] for ok in classifier.ok_labels))
    if not truth:
        raise click.ClickException(f"no images in class subfolders of {folder}")
    report: dict[str, object] = {
        "profile": profile,
        **classification_scores(truth, predicted, defect_scores, classifier.ok_labels),
        "not_recognised": rejected,
        "ms_per_image": round(float(np.mean(ms)), 2),
    }
    click.echo(json.dumps(report))


@vision.command("detect")
@click.option("--profile", type=click.Choice(["pcb"]), default="pcb", show_default=True, help="The pairwise profile.")
@click.option("--template", type=click.Path(path_type=Path), help="The defect-free board (with one TEST image).")
@click.option("--pairs", type=click.Path(path_type=Path), help="A CSV of `template,test` lines: many pairs, one load.")
@click.argument("test", required=False, type=click.Path(path_type=Path))
@click.pass_context
def detect(ctx: click.Context, profile: str, template: Path | None, pairs: Path | None, test: Path | None) -> None:
    """Defects of a board against its template: one JSON line per test image with `file` and `boxes`
    (`box` [x1, y1, x2, y2] in the test image's pixels, `label`, `score`), or `error`; exit status 1 if any
    pair could not be read."""
    from firmware_app.vision.pcb.detector import detect_pairs, read_pairs_csv
    from firmware_app.vision.pcb.errors import PcbError

    try:
        if pairs is not None and template is None and test is None:
            todo = read_pairs_csv(pairs)
        elif pairs is None and template is not None and test is not None:
            todo = [(template, test)]
        else:
            raise click.UsageError("give either --template T.png TEST.png or --pairs LIST.csv")
        failed = False
        for result in detect_pairs(todo):
            failed |= "error" in result
            click.echo(json.dumps(result, ensure_ascii=False))
    except PcbError as error:
        raise click.ClickException(str(error)) from error
    if failed:
        ctx.exit(1)
