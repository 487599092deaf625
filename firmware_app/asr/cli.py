"""``kiosk asr transcribe``: speech recognition on recordings, one JSON line per file.

The engines load inside the command, so the rest of the ``kiosk`` command line starts without them.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from firmware_app.config import KioskSettings
from firmware_app.events import Event, Reply

if TYPE_CHECKING:
    from firmware_app.asr.policy import Mode
    from firmware_app.asr.types import Grammar


@click.group()
def asr() -> None:
    """Speech recognition on recorded audio."""


@asr.command("transcribe")
@click.option(
    "--engine",
    type=click.Choice(["fast", "accurate", "auto"]),
    help="fast: PocketSphinx with the pack's language model; accurate: Whisper; auto: fast, escalating to "
    "Whisper when unsure or out of scope. Default: the configured one.",
)
@click.option("--grammar", type=click.Choice(["digits"]), help="Recognize digits and amounts only.")
@click.argument("files", nargs=-1, required=True)
@click.pass_context
def transcribe(ctx: click.Context, engine: str | None, grammar: str | None, files: tuple[str, ...]) -> None:
    """The words in each FILE (WAV or FLAC, 8-48 kHz, mono or stereo), one JSON line per file.

    Each line has the file as given, the text, the engine that produced it, its confidence (0-1), the
    recognition time in seconds and the audio length; a file that cannot be used gets an error field instead,
    and the exit status is 1.
    """
    from firmware_app.app import build_nlu
    from firmware_app.asr.engines import build_policy, in_scope_of
    from firmware_app.asr.policy import with_engine_seconds
    from firmware_app.asr.types import AsrAudioError, read_audio
    from firmware_app.packs import load_pack

    settings: KioskSettings = ctx.find_root().obj["settings"]
    pack = load_pack(settings.pack_dir)
    in_scope = None
    if (engine or settings.speech.asr_engine) == "auto" and grammar is None:
        in_scope = in_scope_of(build_nlu(settings, pack).classifiers["en"])
    policy = build_policy(settings, pack, in_scope, mode=cast("Mode | None", engine))
    failed = False
    for file in files:
        try:
            decision = policy.transcribe(read_audio(file), cast("Grammar | None", grammar))
        except AsrAudioError as error:
            failed = True
            click.echo(json.dumps({"file": file, "error": str(error)}, ensure_ascii=False))
            continue
        transcript = with_engine_seconds(decision)
        record = {
            "file": file,
            "text": transcript.text,
            "engine": transcript.engine,
            "confidence": round(transcript.confidence, 4),
            "seconds": round(transcript.seconds, 4),
            "audio_s": round(transcript.audio_s, 3),
            "escalated": decision.escalated,
        }
        click.echo(json.dumps(record, ensure_ascii=False))
    if failed:
        ctx.exit(1)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--replies",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the spoken replies as WAV files (default: DATA_DIR/replies).",
)
@click.option("--push-to-talk", is_flag=True, help="Start listening at the start of each file, as after a tap.")
@click.pass_context
def listen(ctx: click.Context, files: tuple[Path, ...], replies: Path | None, push_to_talk: bool) -> None:
    """The whole voice path on recordings: wake word -> capture -> speech recognition -> understanding ->
    dialogue -> reply, spoken into a WAV file.

    FILES are heard one after another as one conversation (several WAVs, or one long WAV with several turns),
    each followed by a second of silence. Every event is printed as a JSON line with ``t_audio_s`` (where in
    the audio it happened) and ``t_wall_s`` (processing time since the start). No screen is built: the voice
    pipeline answers through a visit of its own.
    """
    from firmware_app.app import Kiosk
    from firmware_app.audio.sources import FileSequence
    from firmware_app.audio.tts import WavFileOutput
    from firmware_app.kiosk_voice import ScreenlessVisit, voice_for

    settings: KioskSettings = ctx.find_root().obj["settings"]
    folder = replies or settings.data_dir / "replies"
    folder.mkdir(parents=True, exist_ok=True)
    kiosk = Kiosk(settings)
    sources = FileSequence(files)
    voice = voice_for(kiosk, sources, WavFileOutput(folder), ScreenlessVisit(kiosk), wait_for_engines=True)
    started = time.perf_counter()

    replied = threading.Event()

    def show(event: Event) -> None:
        record = {"t_audio_s": round(voice.listener.stream_s, 2), "t_wall_s": round(time.perf_counter() - started, 3)}
        click.echo(json.dumps({**record, **event.to_dict()}, ensure_ascii=False))
        if isinstance(event, Reply):
            replied.set()

    kiosk.bus.subscribe(show)
    try:
        for frame in sources.frames():
            if push_to_talk and sources.file_started:
                voice.push_to_talk()
            voice.step(frame)
            if replied.is_set():  # the reply is written before more audio is heard, as a customer would wait
                replied.clear()
                voice.wait_until_quiet()
        voice.finish()
        voice.wait_until_quiet()
    finally:
        voice.close()
        kiosk.close()
