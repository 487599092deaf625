"""The kiosk's recognizers, made from its settings and the active pack."""

from __future__ import annotations

from collections.abc import Callable

from firmware_app.asr.policy import AsrPolicy, LazyRecognizer, Mode
from firmware_app.config import KioskSettings
from firmware_app.nlu.intent import OOS, IntentReader
from firmware_app.packs import Pack


def fast_recognizer(settings: KioskSettings, pack: Pack) -> LazyRecognizer:
    """PocketSphinx with the pack's language model (built once per pack version, cached in the data folder)."""
    from firmware_app.asr.sphinx import PocketSphinxRecognizer

    return LazyRecognizer(lambda: PocketSphinxRecognizer(pack, settings.data_dir / "asr"))


def accurate_recognizer(settings: KioskSettings, pack: Pack) -> LazyRecognizer:
    """Whisper tiny.en int8, prompted with the pack's vocabulary."""
    from firmware_app.asr.whisper import WhisperRecognizer

    return LazyRecognizer(lambda: WhisperRecognizer(pack=pack, threads=settings.speech.asr_threads))


def in_scope_of(classifier: IntentReader) -> Callable[[str], bool]:
    """The intent model's verdict on a transcript: does the pack cover it? (Whisper hears the rest.)"""
    return lambda text: classifier.predict(text).intent != OOS


def build_policy(
    settings: KioskSettings, pack: Pack, in_scope: Callable[[str], bool] | None = None, mode: Mode | None = None
) -> AsrPolicy:
    """The configured policy (``mode`` overrides ``speech.asr_engine``, as ``kiosk asr transcribe --engine``)."""
    speech = settings.speech
    return AsrPolicy(
        mode or speech.asr_engine,
        fast_recognizer(settings, pack),
        accurate_recognizer(settings, pack),
        escalate_below=speech.escalate_below,
        escalate_digits_below=speech.escalate_digits_below,
        escalate_max_audio_s=speech.escalate_max_audio_s,
        in_scope=in_scope,
    )
