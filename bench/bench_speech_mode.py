"""Speech mode benchmark: how soon a key is heard, and whether everything shown is said.

In a child process pinned to one core (``sched_setaffinity``), the real UI (SDL's dummy video driver) in speech
mode walks the whole tour in English (flite) and Chinese (espeak-ng). On every state it presses the "next" key
a few times and times each press from the key event posted to the first samples handed to the audio output
(which then plays them in real time, as the loudspeaker does, so barge-in cuts real playback). The synthesizer's
cache is off: each item is synthesized afresh, the slowest case (on a kiosk the items of a screen repeat and are
served from the cache). It also counts the texts drawn on each state that speech mode never said.

    python -m bench.bench_speech_mode
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import percentile
from bench.worker import bench_main, harness_command, run_worker

FIRST_SOUND_TARGET_MS = 300.0
PRESSES_PER_STATE = 3


class _TimedOutput:
    """An audio output that notes when the first samples arrive and plays them in real time (nothing is heard:
    the machine has no loudspeaker)."""

    def __init__(self) -> None:
        self.first_sound_at: float | None = None
        self.connected = True
        self._stop = threading.Event()

    def play(self, samples: np.ndarray) -> bool:
        from firmware_app.audio.frames import SAMPLE_RATE_HZ

        if self.first_sound_at is None:
            self.first_sound_at = time.perf_counter()
        self._stop.clear()
        self._stop.wait(len(samples) / SAMPLE_RATE_HZ)
        return not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()


def worker() -> dict[str, Any]:
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import pygame

    from firmware_app.app import Kiosk
    from firmware_app.audio.tts import SpeechSynthesizer, SpokenReplies
    from firmware_app.config import load_settings
    from firmware_app.screen.controller import KioskController
    from kiosk_ui.app import KioskUI
    from kiosk_ui.screen_reader import unspoken_texts
    from kiosk_ui.tour import synthetic_part_photo, tour

    logging.getLogger().addHandler(logging.NullHandler())
    result: dict[str, Any] = {"pinned_to_one_core": True, "languages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        kiosk = Kiosk(load_settings(data_dir=Path(tmp), device_id="kiosk-bench-01"))
        for language in ("en", "zh"):
            controller = KioskController(lambda: kiosk)
            output = _TimedOutput()
            voice = SpokenReplies(SpeechSynthesizer("flite", cache_size=0), output)
            ui = KioskUI(controller, (1280, 800), synchronous=True, voice=voice)
            controller.set_language(language)  # type: ignore[arg-type]
            controller.headphones_changed(True)
            latencies_s: list[float] = []
            states = shown = unsaid = 0
            unsaid_examples: list[str] = []
            screen, said = "", []
            for name in tour(controller, synthetic_part_photo()):
                ui.frame()
                if controller.state.screen != screen:
                    screen, said = controller.state.screen, []
                for index, item in enumerate(ui.speech.items):  # a keyboard's keys are said once it is chosen
                    if item.keys:
                        ui.speech.focus = index
                        for command in ("select", *["next"] * (len(item.keys) - 1), "back"):
                            ui.speech.command(command)  # type: ignore[arg-type]
                said += ui.speech.transcript
                ui.speech.transcript.clear()
                lost = unspoken_texts(ui.widgets, said, language)  # type: ignore[arg-type]
                states += 1
                shown += len(unspoken_texts(ui.widgets, [], language))  # type: ignore[arg-type]
                unsaid += len(lost)
                unsaid_examples += [f"{name}: {text}" for text in lost[:2]]
                for _ in range(PRESSES_PER_STATE):
                    output.first_sound_at = None
                    started = time.perf_counter()
                    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_DOWN, mod=0))
                    ui.pump()
                    ui.frame()
                    while output.first_sound_at is None and time.perf_counter() - started < 5:
                        time.sleep(0.0005)
                    latencies_s.append((output.first_sound_at or time.perf_counter()) - started)
                ui.speech.transcript.clear()
            controller.headphones_changed(False)
            ui.close()
            voice.close()
            controller.close_admin()
            ms = [s * 1000 for s in latencies_s]
            result["languages"][language] = {
                "engine": "flite" if language == "en" else "espeak-ng",
                "states": states,
                "texts_shown": shown,
                "texts_not_said": unsaid,
                "not_said_examples": unsaid_examples[:10],
                "spoken_share": round(1 - unsaid / shown, 4) if shown else None,
                "key_presses": len(ms),
                "first_sound_ms_p50": round(statistics.median(ms), 1),
                "first_sound_ms_p95": round(percentile(ms, 0.95), 1),
                "first_sound_ms_max": round(max(ms), 1),
            }
    return result


def run(_data_dir: Path | None = None) -> dict[str, Any]:
    return {"command": harness_command(), "target_ms": FIRST_SOUND_TARGET_MS, **run_worker("bench_speech_mode", [])}


def report_section(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Speech mode (the screen read aloud)",
        "",
        f"`{r.get('command', 'python -m bench.bench_speech_mode')}`: the real UI in speech mode, one process pinned"
        ' to one core, walking the whole tour; on each state the "next" key is pressed'
        f" {PRESSES_PER_STATE} times, timed from the key event to the first samples handed to the audio output, with"
        " the synthesizer's cache off (every item synthesized afresh).",
        "",
        "| language | engine | tour states | texts shown | not said | key presses | first sound p50 ms | p95 ms |"
        " max ms | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for language, s in r["languages"].items():
        lines.append(
            f"| {language} | {s['engine']} | {s['states']} | {s['texts_shown']} | {s['texts_not_said']} |"
            f" {s['key_presses']} | {s['first_sound_ms_p50']} | {s['first_sound_ms_p95']} |"
            f" {s['first_sound_ms_max']} | <= {r['target_ms']:.0f} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    bench_main(worker, run)
