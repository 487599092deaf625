"""``kiosk wake`` (wake words on recordings: scan, evaluate) and ``kiosk audio`` (the sound cards the kiosk sees).

Machine-readable output is JSON lines on stdout. The models and PortAudio load inside the commands, so the rest
of the ``kiosk`` command line starts without them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from firmware_app.config import KioskSettings

if TYPE_CHECKING:
    from firmware_app.audio.sources import AudioDevice

AUDIO_SUFFIXES = (".wav", ".flac")


def _settings(ctx: click.Context) -> KioskSettings:
    settings: KioskSettings = ctx.find_root().obj["settings"]
    return settings


@click.group()
def wake() -> None:
    """Wake words on recorded audio."""


@wake.command("scan")
@click.option(
    "--wake-word", "names", multiple=True, metavar="NAME", help="Listen for this one (repeatable); default: all."
)
@click.argument("files", nargs=-1, required=True)
@click.pass_context
def wake_scan(ctx: click.Context, names: tuple[str, ...], files: tuple[str, ...]) -> None:
    """Wake words heard in each FILE (WAV or FLAC, 8-48 kHz), one JSON line per file.

    Each line has the file as given and its detections (wake word, seconds from the start, score), or an error;
    the exit status is 1 when any file could not be read.
    """
    from firmware_app.audio.frames import AudioFormatError
    from firmware_app.audio.sources import WavSource
    from firmware_app.audio.wakeword import available_wake_words, build_wake_words, scan

    settings = _settings(ctx)
    wake_words = build_wake_words(
        names or available_wake_words(settings.models_dir),
        settings.models_dir,
        settings.listening.thresholds,
        settings.listening.refractory_s,
    )
    failed = False
    for file in files:
        try:
            detections = scan(WavSource(file).frames(), wake_words)
        except AudioFormatError as error:
            failed = True
            click.echo(json.dumps({"file": file, "error": str(error)}, ensure_ascii=False))
            continue
        record = {
            "file": file,
            "detections": [
                {"wake_word": d.wake_word, "time_s": round(d.time_s, 2), "score": round(d.score, 4)} for d in detections
            ],
        }
        click.echo(json.dumps(record, ensure_ascii=False))
    if failed:
        ctx.exit(1)


@dataclass
class _FolderResult:
    """How one wake word fared on every recording of one folder."""

    files: int = 0
    files_with_detection: int = 0
    detections: int = 0
    audio_s: float = 0.0
    unreadable: int = 0


def _run_folder(folder: Path, wake_word: str, settings: KioskSettings, threshold: float | None) -> _FolderResult:
    from firmware_app.audio.frames import AudioFormatError
    from firmware_app.audio.sources import WavSource
    from firmware_app.audio.wakeword import build_wake_words, scan

    paths = sorted(path for path in folder.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file())
    if not paths:
        raise click.ClickException(f"{folder} holds no WAV or FLAC files")
    thresholds = {wake_word: threshold} if threshold is not None else None
    wake_words = build_wake_words([wake_word], settings.models_dir, thresholds, settings.listening.refractory_s)
    result = _FolderResult()
    for path in paths:
        try:
            source = WavSource(path)
            hits = scan(source.frames(), wake_words)
        except AudioFormatError as error:
            result.unreadable += 1
            click.echo(f"skipped: {error}", err=True)
            continue
        result.files += 1
        result.files_with_detection += bool(hits)
        result.detections += len(hits)
        result.audio_s += source.duration_s
    return result


def _default_wake_word(positives: Path, models_dir: Path) -> str:
    """The positives' folder name when it names an installed wake word (``.../amelia``), as data sets lay it out."""
    from firmware_app.audio.wakeword import available_wake_words

    if positives.name in available_wake_words(models_dir):
        return positives.name
    raise click.UsageError(f"name the wake word with --wake-word ({positives.name!r} is not one)")


@wake.command("eval")
@click.option("--positives", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--negatives", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--wake-word", "name", metavar="NAME", help="Default: the name of the positives folder.")
@click.option("--threshold", type=float, help="Default: the configured one, else the model's own cutoff.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def wake_eval(
    ctx: click.Context, positives: Path, negatives: Path, name: str | None, threshold: float | None, as_json: bool
) -> None:
    """False-reject rate and false accepts per hour of one wake word.

    Every WAV/FLAC file under --positives should trigger it (a file without a detection is a false reject);
    every detection in the files under --negatives is a false accept.
    """
    settings = _settings(ctx)
    wake_word = name or _default_wake_word(positives, settings.models_dir)
    if threshold is None:
        threshold = settings.listening.thresholds.get(wake_word)
    pos = _run_folder(positives, wake_word, settings, threshold)
    neg = _run_folder(negatives, wake_word, settings, threshold)
    negative_hours = neg.audio_s / 3600
    report = {
        "wake_word": wake_word,
        "threshold": threshold,
        "positives": pos.files,
        "false_rejects": pos.files - pos.files_with_detection,
        "false_reject_rate": round((pos.files - pos.files_with_detection) / pos.files, 4) if pos.files else None,
        "negatives": neg.files,
        "negative_hours": round(negative_hours, 4),
        "false_accepts": neg.detections,
        "false_accepts_per_hour": round(neg.detections / negative_hours, 3) if negative_hours else None,
        "unreadable_files": pos.unreadable + neg.unreadable,
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"wake word: {wake_word} (threshold: {threshold if threshold is not None else 'model default'})")
    if pos.files:
        click.echo(
            f"false rejects: {report['false_rejects']} of {pos.files} positives ({report['false_reject_rate']:.1%})"
        )
    if negative_hours:
        click.echo(
            f"false accepts: {neg.detections} in {negative_hours:.2f} h of negative audio ({neg.files} files): "
            f"{report['false_accepts_per_hour']} per hour"
        )
    if report["unreadable_files"]:
        click.echo(f"unreadable files skipped: {report['unreadable_files']}")


@click.group()
def audio() -> None:
    """The sound cards the kiosk can use."""


def _output_devices() -> list[AudioDevice]:
    """Every device PortAudio can play to (``sources`` lists only the inputs)."""
    from firmware_app.audio.sources import AudioDevice, open_portaudio

    portaudio = open_portaudio()
    try:
        infos = [portaudio.get_device_info_by_index(index) for index in range(portaudio.get_device_count())]
    finally:
        portaudio.terminate()
    return [
        AudioDevice(
            int(info["index"]), str(info["name"]), int(info["maxOutputChannels"]), int(info["defaultSampleRate"])
        )
        for info in infos
        if int(info["maxOutputChannels"]) > 0
    ]


@audio.command("devices")
def audio_devices() -> None:
    """List the microphones and speakers PortAudio sees, with the index or name the configuration can use."""
    from firmware_app.audio.sources import list_input_devices

    listings = {"input": list_input_devices(), "output": _output_devices()}
    if not any(listings.values()):
        click.echo(
            "No audio devices found: PortAudio sees no sound card (is one plugged in, and may this user use it?)"
        )
        return
    for direction, devices in listings.items():
        click.echo(f"{direction} devices:" if devices else f"{direction} devices: none")
        for device in devices:
            click.echo(f"  {device.index}: {device.name} ({device.channels} ch, {device.default_rate_hz} Hz)")
