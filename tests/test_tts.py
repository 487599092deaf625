"""Spoken answers with the real Debian engines (flite, espeak-ng): the audio they make, the text they are given,
their errors, and barge-in on a player whose ``play()`` blocks for as long as the sound lasts."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firmware_app.audio.frames import SAMPLE_RATE_HZ
from firmware_app.audio.tts import (
    REST_ON_SCREEN,
    SpeechState,
    SpeechSynthesizer,
    SpokenReplies,
    TtsError,
    WavFileOutput,
    prepare_text,
)
from firmware_app.config import SpeechConfig

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("espeak-ng") is None,
    reason="needs the Debian packages flite and espeak-ng (scripts/setup.sh installs them)",
)

ANSWER = "New cards usually arrive within 3-5 working days. You can follow yours in the app under Cards > Track."
GREETING_ZH = "您好，我能帮您什么？"
# espeak-ng 1.51's "cmn" voice reads the pinyin of many characters as English ("nin two hao three", espeak-ng
# issues #1028 and #1236); "cmn-latn-pinyin" reads them as Mandarin.
MANDARIN = "cmn-latn-pinyin"


def duration_s(samples: np.ndarray) -> float:
    return len(samples) / SAMPLE_RATE_HZ


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


@pytest.mark.parametrize(
    ("synthesizer", "text", "language"),
    [
        (SpeechSynthesizer("flite", "slt"), ANSWER, "en"),
        (SpeechSynthesizer("flite", "kal"), ANSWER, "en"),  # an 8 kHz voice, resampled
        (SpeechSynthesizer("espeak-ng", "en-gb"), ANSWER, "en"),  # 22.05 kHz, resampled
        (SpeechSynthesizer("flite", voice_zh=MANDARIN), GREETING_ZH, "zh"),  # Chinese goes to espeak-ng
    ],
    ids=["flite-slt", "flite-kal", "espeak-en", "espeak-zh"],
)
def test_speech_is_16khz_int16_of_a_plausible_length(synthesizer: SpeechSynthesizer, text: str, language: str) -> None:
    samples = synthesizer.synthesize(text, language)  # type: ignore[arg-type]

    assert samples.dtype == np.int16 and samples.ndim == 1
    assert 0.5 < duration_s(samples) < 10
    assert rms(samples) > 500  # speech, not silence


def test_the_mandarin_voice_reads_chinese_characters_as_mandarin() -> None:
    phonemes = subprocess.run(
        ["espeak-ng", "-v", MANDARIN, "-q", "-x", "--stdin"],
        input=GREETING_ZH.encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()

    assert "(en)" not in phonemes  # no switch to English pronunciation
    assert phonemes.split()[:2] == ["n'i35n_|", "X'Au214_|"]  # nín hǎo


@pytest.mark.parametrize("engine", ["flite", "espeak-ng"])
def test_the_speaking_rate_changes_the_duration(engine: str) -> None:
    voice = "slt" if engine == "flite" else "en"
    slow = SpeechSynthesizer(engine, voice, rate_wpm=120).synthesize(ANSWER, "en")  # type: ignore[arg-type]
    fast = SpeechSynthesizer(engine, voice, rate_wpm=240).synthesize(ANSWER, "en")  # type: ignore[arg-type]

    assert duration_s(slow) / duration_s(fast) > 1.5


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Your reference is KB-1A2B3C4D.", "Your reference is K, B, 1, A, 2, B, 3, C, 4, D."),
        (
            "It costs £50, or £12.50, or £0.50 or £1,000.",
            "It costs 50 pounds, or 12 pounds 50, or 50 pence or 1,000 pounds.",
        ),
        ("Call our 24/7 card line.", "Call our twenty-four seven card line."),
        ("Open 9:00-17:00, Saturday 9:30-13:00.", "Open 9 a.m. to 5 p.m., Saturday 9:30 a.m. to 1 p.m."),
        ("Come at 3pm or 12:00.", "Come at 3 p.m. or 12 noon."),
        ("Call 020 7946 0321.", "Call 0 2 0, 7 9 4 6, 0 3 2 1."),
        ("Block the card ending 4821?", "Block the card ending 4 8 2 1?"),
        ("We'll call you on +44 ••••••• 456.", "We'll call you on the number ending 4 5 6."),
        ("Go to Cards > Freeze & wait.", "Go to Cards, then Freeze and wait."),
        ("**Steps**\n- Open the app\n- Tap [Cards](https://kestrel.example/cards)", "Steps. Open the app. Tap Cards."),
        ("See https://kestrel.example/help for more.", "See the link on the screen for more."),
        ("It’s 3–5 days — café hours.", "It's 3 to 5 days, cafe hours."),
        ("  \n - \n", ""),
    ],
)
def test_english_is_rewritten_for_the_ear(text: str, spoken: str) -> None:
    assert prepare_text(text, "en") == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("营业时间为9:00至17:30。", "营业时间为9点至17点30分。"),
        ("您的参考编号是KB-AAD381FB。", "您的参考编号是 K B A A D 3 8 1 F B 。"),
        ("要冻结尾号为 4821 的卡吗？", "要冻结尾号为四八二一 的卡吗?"),
        ("超过£200的部分收取0.5%。", "超过200英镑的部分收取百分之0点5。"),
        ("进入“卡片 > 冻结”（Cards > Freeze）。", "进入“卡片，冻结”。"),
        ("热线020 7946 0321。", "热线零二零，七九四六，零三二一。"),
    ],
)
def test_chinese_is_rewritten_for_the_ear(text: str, spoken: str) -> None:
    assert prepare_text(text, "zh") == spoken


def test_a_long_answer_is_cut_to_its_first_sentences_and_says_where_the_rest_is() -> None:
    answer = " ".join(f"Sentence number {n} explains one more detail of the answer." for n in range(1, 9))

    spoken = prepare_text(answer, "en")

    assert spoken.startswith("Sentence number 1 ") and "Sentence number 4 " in spoken
    assert "Sentence number 5" not in spoken and spoken.endswith(REST_ON_SCREEN["en"])
    assert prepare_text("Short. Answer.", "en") == "Short. Answer."


@pytest.mark.parametrize(
    ("synthesizer", "language", "listed"),
    [
        (SpeechSynthesizer("flite", "nobody"), "en", "kal, awb_time, kal16, awb, rms, slt"),
        (SpeechSynthesizer("espeak-ng", "slt"), "en", "en-gb"),  # a flite voice given to espeak-ng
        (SpeechSynthesizer(voice_zh="nobody"), "zh", "cmn, cmn-latn-pinyin"),
    ],
)
def test_a_missing_voice_is_an_error_listing_the_voices(
    synthesizer: SpeechSynthesizer, language: str, listed: str
) -> None:
    with pytest.raises(TtsError, match=f"no voice .* speech.tts_voice_{language} .*{listed}"):
        synthesizer.synthesize("Hello 您好", language)  # type: ignore[arg-type]


@pytest.mark.parametrize(("engine", "language"), [("flite", "en"), ("espeak-ng", "en"), ("flite", "zh")])
def test_a_missing_engine_names_the_package_to_install(
    engine: str, language: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    package = "espeak-ng" if engine == "espeak-ng" or language == "zh" else "flite"
    synthesizer = SpeechSynthesizer(engine, "en" if engine == "espeak-ng" else "slt")  # type: ignore[arg-type]

    with pytest.raises(TtsError, match=f"{package} is not installed.*apt-get install {package}"):
        synthesizer.synthesize("Hello 您好", language)  # type: ignore[arg-type]


def test_an_engine_that_runs_too_long_is_stopped() -> None:
    synthesizer = SpeechSynthesizer("flite", "slt")
    synthesizer.synthesize("Hello.", "en")  # lists flite's voices while there is time
    synthesizer.timeout_s = 0.001

    with pytest.raises(TtsError, match=r"flite took longer than 0\.001 s"):
        synthesizer.synthesize(ANSWER, "en")


def test_a_silent_kiosk_makes_no_sound(tmp_path: Path) -> None:
    synthesizer = SpeechSynthesizer.from_config(SpeechConfig(tts_engine="none"))
    states: list[SpeechState] = []

    assert not synthesizer.enabled
    assert len(synthesizer.synthesize(ANSWER, "en")) == 0 and len(synthesizer.synthesize(GREETING_ZH, "zh")) == 0
    output = WavFileOutput(tmp_path)
    replies = SpokenReplies(synthesizer, output, lambda state, _text: states.append(state))
    replies.say(ANSWER)
    time.sleep(0.1)
    replies.close()
    assert states == [] and output.paths == []


def test_recent_phrases_come_from_the_cache() -> None:
    synthesizer = SpeechSynthesizer("flite", "slt", cache_size=2)
    first = synthesizer.synthesize("Hello there.", "en")

    assert synthesizer.synthesize("Hello there.", "en") is first
    assert not first.flags.writeable  # shared, so nobody may change it
    synthesizer.synthesize("Goodbye.", "en")
    synthesizer.synthesize("Thank you.", "en")
    assert synthesizer.synthesize("Hello there.", "en") is not first  # the oldest was evicted


class StateLog:
    """Collects on_state calls and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[SpeechState, str]] = []
        self._changed = threading.Condition()

    def __call__(self, state: SpeechState, text: str) -> None:
        with self._changed:
            self.events.append((state, text))
            self._changed.notify_all()

    def wait_for(self, state: SpeechState, text: str, timeout_s: float = 5.0) -> float:
        """Waits until (state, text) was reported; returns the time it arrived."""
        with self._changed:
            assert self._changed.wait_for(lambda: (state, text) in self.events, timeout_s), self.events
        return time.monotonic()


LONG = "This answer takes several seconds to say, so there is plenty of time to talk over it before it ends."
SHORT = "Yes."


def test_a_reply_is_written_whole_to_its_wav_file(tmp_path: Path) -> None:
    synthesizer = SpeechSynthesizer("flite", "slt")
    log = StateLog()
    replies = SpokenReplies(synthesizer, WavFileOutput(tmp_path), log)

    replies.say(SHORT)
    log.wait_for(SpeechState.FINISHED, SHORT)
    replies.close()

    assert log.events == [(SpeechState.STARTED, SHORT), (SpeechState.FINISHED, SHORT)]
    written, rate_hz = sf.read(tmp_path / "reply-0001.wav", dtype="int16")
    assert rate_hz == SAMPLE_RATE_HZ and np.array_equal(written, synthesizer.synthesize(SHORT, "en"))


def test_stop_cuts_the_reply_at_once_for_barge_in(tmp_path: Path) -> None:
    log = StateLog()
    output = WavFileOutput(tmp_path, realtime=True)
    replies = SpokenReplies(SpeechSynthesizer("flite", "slt"), output, log)
    assert not replies.stop()  # nothing to stop yet

    replies.say(LONG)
    log.wait_for(SpeechState.STARTED, LONG)
    time.sleep(0.3)
    assert replies.is_speaking
    asked = time.monotonic()
    assert replies.stop()
    stopped = time.monotonic()
    interrupted = log.wait_for(SpeechState.INTERRUPTED, LONG)
    replies.close()

    assert stopped - asked < 0.1 and interrupted - asked < 0.1
    assert not replies.is_speaking
    assert log.events == [(SpeechState.STARTED, LONG), (SpeechState.INTERRUPTED, LONG)]
    heard = sf.info(output.paths[0]).duration
    assert 0.25 < heard < 0.5  # only what played before the customer spoke


def test_a_new_reply_replaces_the_one_playing_and_the_one_queued(tmp_path: Path) -> None:
    log = StateLog()
    output = WavFileOutput(tmp_path, realtime=True)
    replies = SpokenReplies(SpeechSynthesizer("flite", "slt"), output, log)

    replies.say(LONG)
    log.wait_for(SpeechState.STARTED, LONG)
    replies.say("This one is obsolete before it is said.")
    replies.say(SHORT)
    log.wait_for(SpeechState.FINISHED, SHORT)
    replies.close()

    assert log.events == [
        (SpeechState.STARTED, LONG),
        (SpeechState.INTERRUPTED, LONG),
        (SpeechState.STARTED, SHORT),
        (SpeechState.FINISHED, SHORT),
    ]
    assert len(output.paths) == 2


def test_interrupt_does_not_wait_and_a_reply_interrupted_as_it_starts_is_not_played(tmp_path: Path) -> None:
    """A touch handled under the screen's lock: ``interrupt()`` returns at once. When it lands while the
    STARTED news is being handed on (the screen's thread holds its lock then), nothing of the reply plays."""
    output = WavFileOutput(tmp_path, realtime=True)
    interrupted_during_start: list[bool] = []

    def on_state(state: SpeechState, text: str) -> None:
        if state is SpeechState.STARTED and not interrupted_during_start:
            interrupted_during_start.append(True)
            replies.interrupt()  # as a touch would, from the screen's side, at this very moment

    replies = SpokenReplies(SpeechSynthesizer("flite", "slt"), output, on_state)
    replies.say(LONG)
    assert replies.wait_until_quiet(5.0)
    assert interrupted_during_start and output.paths == []  # the obsolete reply never reached the speaker

    log = StateLog()
    replies.on_state = log
    replies.say(LONG)
    log.wait_for(SpeechState.STARTED, LONG)
    asked = time.monotonic()
    replies.interrupt()
    assert time.monotonic() - asked < 0.05
    log.wait_for(SpeechState.INTERRUPTED, LONG, timeout_s=1.0)
    replies.close()
