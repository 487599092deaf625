"""The whole voice path, timed: synthetic questions through the kiosk's voice pipeline with no screen, in a
worker process pinned to one core (``bench.bench_asr`` plans the clips, starts it and reports the result).

The pipeline runs on a ``ScreenlessVisit`` (asr_engine "auto", tts "none", push-to-talk per question, a new visit
for each) and hears the questions as one stream; the time runs from the moment the end-pointer publishes
``UtteranceCaptured`` to the ``Reply`` event and to the end of the turn (``ReplyEnded``: the reply handed to the
voice; a screen listening to the pipeline has it by then), split into fast-path and escalated utterances.

    python -m bench.bench_voice_path --worker --plan build/bench_asr/plan.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_asr import Clip, load_clips, ms_stats, pin_to_one_core, read_samples


@dataclass
class Turn:
    """What one question through the voice path produced, with the clock times of its events."""

    intent: str
    captured_at: float = 0.0
    reply_at: float = 0.0
    turn_end_at: float = 0.0
    reply_intent: str | None = None
    escalated: str | None = None
    engine: str = ""
    heard: str = ""
    nothing_heard: bool = False


class VoicePathProbe:
    """Times each utterance from ``UtteranceCaptured`` (published by the listening loop before the pipeline's
    next stages run, and stamped at once because the bus is synchronous) to the ``Reply`` and to the end of the
    turn (``ReplyEnded``: the reply handed to the voice, where the loop reads on)."""

    def __init__(self) -> None:
        self.turn: Turn | None = None

    def on_event(self, event: Any) -> None:
        from firmware_app.events import NothingHeard, Reply, ReplyEnded, Transcribed, UtteranceCaptured

        turn = self.turn
        if turn is None:
            return
        if isinstance(event, UtteranceCaptured):
            turn.captured_at = time.perf_counter()
        elif isinstance(event, NothingHeard):
            turn.nothing_heard = True
        elif not turn.captured_at:
            return  # the greeting of the visit, before the question
        elif isinstance(event, Transcribed):
            turn.escalated, turn.engine, turn.heard = event.escalated, event.engine, event.text
        elif isinstance(event, Reply) and not turn.reply_at:
            turn.reply_at = time.perf_counter()
            turn.reply_intent = event.intent
        elif isinstance(event, ReplyEnded) and turn.reply_at and not turn.turn_end_at:
            turn.turn_end_at = time.perf_counter()


def voice_path_worker(plan: dict[str, Any]) -> dict[str, Any]:
    """Synthetic questions through the voice pipeline: capture -> ASR (auto) -> NLU -> dialogue -> reply."""
    started = time.perf_counter()
    questions = _voice_questions(load_clips(plan, "synthetic"), plan["voice_questions"])
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as folder:
        turns, settings_used = _run_voice_path(questions, Path(folder))
    return {
        **voice_path_summary(turns),
        "voices": sorted({c.group for c in questions}),
        "settings": settings_used,
        "worker_s": round(time.perf_counter() - started, 1),
    }


def voice_path_summary(turns: list[Turn]) -> dict[str, Any]:
    """Latency from the end of each utterance to its reply and to the end of its turn, fast path and escalated
    apart."""
    answered = [t for t in turns if t.reply_at]

    def to(attribute: str, keep: Callable[[Turn], bool]) -> dict[str, Any]:
        return ms_stats([getattr(t, attribute) - t.captured_at for t in answered if keep(t)])

    def escalated(turn: Turn) -> bool:
        return turn.escalated is not None

    def every(_turn: Turn) -> bool:
        return True

    return {
        "questions": len(turns),
        "answered": len(answered),
        "nothing_heard": sum(t.nothing_heard for t in turns),
        "not_understood": sum(bool(t.captured_at) and not t.reply_at for t in turns),
        "to_reply_fast_path": to("reply_at", _fast_path),
        "to_reply_escalated": to("reply_at", escalated),
        "to_reply_all": to("reply_at", every),
        "to_turn_end_fast_path": to("turn_end_at", _fast_path),
        "to_turn_end_escalated": to("turn_end_at", escalated),
        "to_turn_end_all": to("turn_end_at", every),
        "escalations": dict(Counter(t.escalated for t in answered if t.escalated)),
        "reply_intent_accuracy": round(sum(t.reply_intent == t.intent for t in turns) / len(turns), 4)
        if turns
        else None,
    }


def _fast_path(turn: Turn) -> bool:
    return turn.engine == "fast" and turn.escalated is None


def _voice_questions(clips: list[Clip], count: int) -> list[Clip]:
    """``count`` different questions, the voices taking turns."""
    by_text: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_text[clip.reference].append(clip)
    chosen = []
    for i, versions in enumerate(list(by_text.values())[:count]):
        chosen.append(versions[i % len(versions)])
    return chosen


def _run_voice_path(questions: list[Clip], folder: Path) -> tuple[list[Turn], dict[str, Any]]:
    from firmware_app.app import Kiosk
    from firmware_app.audio.sources import FileSequence
    from firmware_app.config import load_settings
    from firmware_app.kiosk_voice import ScreenlessVisit, voice_for

    settings = load_settings(
        data_dir=folder,
        speech={"asr_engine": "auto", "tts_engine": "none"},
        listening={"wake_words": []},
    )
    kiosk = Kiosk(settings)
    visit = ScreenlessVisit(kiosk)
    source = FileSequence([c.path for c in questions], gap_s=1.5)
    voice = voice_for(kiosk, source, None, visit, wait_for_engines=True)
    _warm_up(voice.recognition.policy, visit, questions[0])
    probe = VoicePathProbe()
    kiosk.bus.subscribe(probe.on_event)
    turns: list[Turn] = []
    try:
        for frame in _frames_with_turns(source, questions, turns, visit, voice, probe):
            voice.step(frame)
        voice.finish()
    finally:
        voice.close()
        kiosk.close()
    used = {"asr_engine": "auto", "silence_ms": settings.listening.silence_ms, "trigger": "push-to-talk"}
    return turns, used


def _warm_up(policy: Any, visit: Any, clip: Clip) -> None:
    """One question through both engines and the dialogue first: first-call costs are start-up, not replies."""
    samples = read_samples(clip)
    policy.fast.get().transcribe(samples)
    policy.accurate.get().transcribe(samples)
    visit.respond(clip.reference)
    visit.end()


def _frames_with_turns(
    source: Any, questions: list[Clip], turns: list[Turn], visit: Any, voice: Any, probe: VoicePathProbe
) -> Iterator[np.ndarray]:
    """The stream's frames; at the start of each file a new visit (its greeting comes before the question, as
    after a tap on the attract screen) and a tap on the microphone button."""
    index = 0
    for frame in source.frames():
        if source.file_started:
            visit.end()  # each question in a new visit: no flow or numpad left from the last one
            turns.append(Turn(questions[index].label))
            probe.turn = turns[-1]
            visit.start()
            voice.push_to_talk()
            index += 1
        yield frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", required=True, help="run in this process (pinned)")
    parser.add_argument("--plan", type=Path, required=True, help="the clips, as bench.bench_asr planned them")
    args = parser.parse_args()
    pin_to_one_core()
    print(json.dumps(voice_path_worker(json.loads(args.plan.read_text(encoding="utf-8")))))


if __name__ == "__main__":
    main()
