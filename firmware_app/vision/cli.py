"""``kiosk vision``: the product profiles' defect classifier on image files (JSON lines on stdout).

``classify`` prints one line per image and keeps going past unreadable files (each gets an ``error`` line), then
exits 1 if any failed, so a batch run both reports everything and signals the failure to scripts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from firmware_app.config import KioskSettings
from firmware_app.vision.capture import IMAGE_SUFFIXES, ImageError, load_image
from firmware_app.vision.defects import NOT_RECOGNISED, DefectClassifier
from firmware_app.vision.metrics import classification_scores


def _settings(ctx: click.Context) -> KioskSettings:
    settings: KioskSettings = ctx.find_root().obj["settings"]
    return settings


@click.group()
def vision() -> None:
    """Technician photos: defect recognition by product profile."""


@vision.command("classify")
@click.option("--profile", required=True, help="Product profile (a model name in models/int8/manifest.json).")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def classify(ctx: click.Context, profile: str, images: tuple[Path, ...]) -> None:
    """One JSON line per image: file, label, confidence, defective, defect_score, boxes (or error)."""
    classifier = DefectClassifier(_settings(ctx).models_dir, profile)
    failed = False
    for path in images:
        start = time.perf_counter()
        try:
            image = load_image(path)
        except ImageError as error:
            click.echo(json.dumps({"file": str(path), "error": str(error)}))
            failed = True
            continue
        result = classifier.classify(image)
        ms = round((time.perf_counter() - start) * 1000, 1)
        click.echo(json.dumps({"file": str(path), **result.as_json(), "ms": ms}))
    if failed:
        sys.exit(1)


@vision.command("eval")
@click.option("--profile", required=True, help="Product profile (a model name in models/int8/manifest.json).")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def evaluate(ctx: click.Context, profile: str, folder: Path) -> None:
    """Accuracy, macro-F1 and defect-vs-free AUROC on FOLDER/<label>/*.jpg (labels as in the profile)."""
    classifier = DefectClassifier(_settings(ctx).models_dir, profile)
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
