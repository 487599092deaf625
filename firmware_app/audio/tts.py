"""Spoken answers: offline text-to-speech with flite or espeak-ng, and a player that the customer can talk over.

``SpeechSynthesizer`` turns a reply into the kiosk's one audio format (16 kHz mono int16, ``frames.py``). It runs
the Debian engines as subprocesses (no shell, with a timeout) rather than binding a library: they are tiny, fast
(tens of milliseconds for a few seconds of speech) and a hung or crashing engine cannot take the kiosk with it.
English uses the configured engine; Chinese always uses espeak-ng, because flite has no Chinese voice.

Replies are written for the screen, so ``prepare_text`` first rewrites them for the ear (reference codes spelled
out, "£5" as "5 pounds", times as "3 p.m.", markdown dropped) and keeps only the first few sentences.

``SpokenReplies`` plays them on an ``AudioOutput`` (the ``Speaker``, or ``WavFileOutput`` for tests, demos and
``kiosk listen``) from its own thread, so neither the screen nor the listening loop waits for speech, and
``stop()`` cuts it when the customer starts talking (barge-in).
"""

from __future__ import annotations

import enum
import logging
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import soundfile as sf
import soxr

from firmware_app.audio.frames import SAMPLE_RATE_HZ
from firmware_app.audio.sinks import PLAY_CHUNK_MS, WavSink
from firmware_app.audio.sources import float_to_int16
from firmware_app.config import SpeechConfig
from firmware_app.events import Language
from firmware_app.health import Health

log = logging.getLogger(__name__)

Engine = Literal["flite", "espeak-ng", "none"]

ENGINE_TIMEOUT_S = 10.0  # a Pi 4 synthesizes a capped reply in well under a second; more means the engine hangs
CACHE_SIZE = 32  # the greeting, prompts and confirmations repeat all day; each entry is a few hundred kB at most
# flite has no words-per-minute setting, only a duration stretch. At stretch 1.0 its voices read a 61-word
# answer in 15.9-18.3 s, as long as espeak-ng takes at 170 wpm, so one tts_rate_wpm means the same with both.
FLITE_NATURAL_WPM = 170

# A reply longer than this keeps the customer standing through a monologue; the whole text stays on the screen.
MAX_SPOKEN_SENTENCES = 4
MAX_SPOKEN_CHARS: dict[Language, int] = {"en": 400, "zh": 120}  # about 25 s of speech in each language
REST_ON_SCREEN: dict[Language, str] = {"en": "The rest is on the screen.", "zh": "其余内容请看屏幕。"}
_LANGUAGE_NAMES: dict[Language, str] = {"en": "English", "zh": "Chinese"}

_SILENCE = np.zeros(0, dtype=np.int16)
_SILENCE.flags.writeable = False


class TtsError(RuntimeError):
    """Speech could not be made: the engine is not installed, the voice does not exist, or the engine failed or
    hung. The message says which, and what to do about it."""


# --- Text for the ear -------------------------------------------------------------------------------------
# re.ASCII where \b or \w must see a boundary between Chinese and Latin ("编号KB-1A2B3C4D", "热线020 ...").

_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.ASCII)
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_LINE_MARKER = re.compile(r"^\s*(?:[-*•#>]+|\d+[.)])\s+", re.MULTILINE)  # bullets, numbered steps, headings
_EMPHASIS = re.compile(r"\*\*|__|~~|[*`]")
_LATIN_GLOSS = re.compile(r"\([^()\u3400-\u9fff]*[A-Za-z][^()\u3400-\u9fff]*\)")  # Chinese "（Cards > Freeze）"
# Ticket references such as KB-1A2B3C4D; a masked phone number such as "+44 ••••••• 456".
_REFERENCE = re.compile(r"\b[A-Z]{2,4}-(?=[0-9A-Z]*\d)[0-9A-Z]{4,}\b", re.ASCII)
_MASKED_NUMBER = re.compile(r"(?:\+\d{1,3}\s*)?[•*]{2,}[\s•*]*(\d{2,4})\b", re.ASCII)
_CARD_ENDING = {"en": re.compile(r"\b(ending(?: in)?)\s+(\d{3,4})\b"), "zh": re.compile(r"(尾号[为是]?)\s*(\d{3,4})")}
# Phone numbers as the UK writes them: "020 7946 0321", "07911 123456", "+44 20 7946 0321".
_PHONE = re.compile(r"(?<![\w.,])(?:\+\d{1,3}|0\d{1,4})(?:[ -]?\d{3,4}){1,3}(?!\w)", re.ASCII)
_MONEY = re.compile(r"([£$€¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?")
_RANGE = re.compile(r"(?<![\w:.-])(\d+(?::\d\d)?)\s?[-–]\s?(\d+(?::\d\d)?)(?![\w:-])", re.ASCII)  # "9:00-17:00"
_CLOCK = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?!\s?[ap]\.?m\b)")
_AM_PM = re.compile(r"(\d)\s?([ap])\.?m\b\.?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_DECIMAL = re.compile(r"(\d)\.(\d)")
_SENTENCE_END = {"en": re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])"), "zh": re.compile(r"(?<=[。!?])\s*")}

_CURRENCIES_EN = {
    "£": ("pound", "pounds", "pence"),
    "$": ("dollar", "dollars", "cents"),
    "€": ("euro", "euros", "cents"),
    "¥": ("yuan", "yuan", "fen"),
}
_CURRENCIES_ZH = {"£": "英镑", "$": "美元", "€": "欧元", "¥": "元"}
_ZH_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
_WORDS_EN = [
    (re.compile(r"\b24/7\b"), "twenty-four seven"),  # flite: "twenty four slash seven"
    (re.compile(r"\be\.g\.(?=\s)"), "for example"),
    (re.compile(r"\bi\.e\.(?=\s)"), "that is"),
    (re.compile(r"\betc\.(?=\s|$)"), "and so on"),
    (re.compile(r"\s*—\s*"), ", "),
    (re.compile(r"\s&\s"), " and "),
    (re.compile(r"\s>\s"), ", then "),  # menu paths: "Cards > Freeze"
    (re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])"), " or "),
]
_WORDS_ZH = [(re.compile(r"24/7"), "全天候"), (re.compile(r"\s*>\s*"), "，"), (re.compile(r"\s*&\s*"), "和")]
_TYPOGRAPHY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "•": " "})


def prepare_text(text: str, language: Language, *, whole: bool = False) -> str:
    """The part of a reply worth saying, rewritten so the engines read it well; "" when nothing is left. With
    ``whole`` every sentence is kept: speech mode reads everything shown, to a customer who cannot see it."""
    plain = _plain_sentences(text, language)
    sentences = [s for s in _SENTENCE_END[language].split(plain) if s.strip()]
    if not sentences:
        return ""
    kept = sentences[:1]
    for sentence in sentences[1:] if whole else sentences[1:MAX_SPOKEN_SENTENCES]:
        if not whole and len(" ".join([*kept, sentence])) > MAX_SPOKEN_CHARS[language]:
            break
        kept.append(sentence)
    if len(kept) < len(sentences):
        kept.append(REST_ON_SCREEN[language])
    spoken = (" " if language == "en" else "").join(kept)
    return _for_english(spoken) if language == "en" else _for_chinese(spoken)


def _plain_sentences(text: str, language: Language) -> str:
    """Markdown and list layout removed; each line ends as a sentence so bullets get a pause, not a run-on."""
    text = unicodedata.normalize("NFKC", text)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _URL.sub("the link on the screen" if language == "en" else "屏幕上的链接", text)
    text = _MASKED_NUMBER.sub(lambda m: _masked_number(m.group(1), language), text)
    text = _EMPHASIS.sub("", _LINE_MARKER.sub("", text))
    stop = "." if language == "en" else "。"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line if line[-1] in ".!?。:;," else line + stop for line in lines]
    return re.sub(r"\s+", " ", (" " if language == "en" else "").join(lines)).strip()


def _masked_number(last_digits: str, language: Language) -> str:
    if language == "en":
        return "the number ending " + " ".join(last_digits)
    return "尾号为" + last_digits.translate(_ZH_DIGITS) + "的号码"


def _spelled_digits(number: str, language: Language) -> str:
    """A phone or card number digit by digit, its groups separated by a pause ("0 2 0, 7 9 4 6")."""
    groups = [g for g in re.split(r"[\s-]+", number) if g]
    if language == "en":
        return ", ".join(" ".join(g.replace("+", "plus ")) for g in groups)
    return "，".join(g.replace("+", "加").translate(_ZH_DIGITS) for g in groups)


def _for_english(text: str) -> str:
    text = text.translate(_TYPOGRAPHY)
    text = _REFERENCE.sub(lambda m: ", ".join(m.group().replace("-", "")), text)  # "K, B, 1, A, ..."
    text = _CARD_ENDING["en"].sub(lambda m: f"{m.group(1)} {_spelled_digits(m.group(2), 'en')}", text)
    text = _PHONE.sub(lambda m: _spelled_digits(m.group(), "en"), text)
    text = _MONEY.sub(_money_en, text)
    for pattern, words in _WORDS_EN:
        text = pattern.sub(words, text)
    text = _RANGE.sub(r"\1 to \2", text)
    text = _CLOCK.sub(_twelve_hour, text)
    text = _AM_PM.sub(r"\1 \2.m.", text)
    text = re.sub(r"(?<=\.m\.)\.", "", text)  # "at 5 p.m.." where "17:00." ended a sentence
    # flite reads UTF-8 as stray bytes: keep ASCII ("café" -> "cafe"); other scripts cannot be said in English.
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", text).strip()


def _money_en(match: re.Match[str]) -> str:
    symbol, whole, cents = match.groups()
    one, many, minor = _CURRENCIES_EN[symbol]
    if cents and whole == "0":
        return f"{int(cents)} {minor}"
    amount = f"{whole} {one if whole == '1' else many}"
    return f"{amount} {cents}" if cents and cents != "00" else amount  # "12 pounds 50", as people say it


def _twelve_hour(match: re.Match[str]) -> str:
    hour, minutes = int(match.group(1)), match.group(2)
    suffix = "a.m." if hour < 12 else "p.m."
    if (hour, minutes) == (12, "00"):
        return "12 noon"
    hour = hour % 12 or 12
    return f"{hour} {suffix}" if minutes == "00" else f"{hour}:{minutes} {suffix}"


def _for_chinese(text: str) -> str:
    text = _LATIN_GLOSS.sub("", text)  # English labels repeated for the screen, e.g. "“冻结”（Freeze）"
    text = _REFERENCE.sub(lambda m: " " + " ".join(m.group().replace("-", "")) + " ", text)
    text = _CARD_ENDING["zh"].sub(lambda m: m.group(1) + _spelled_digits(m.group(2), "zh"), text)
    text = _PHONE.sub(lambda m: _spelled_digits(m.group(), "zh"), text)
    text = _MONEY.sub(
        lambda m: m.group(2) + ("." + m.group(3) if m.group(3) else "") + _CURRENCIES_ZH[m.group(1)], text
    )
    for pattern, words in _WORDS_ZH:
        text = pattern.sub(words, text)
    text = _RANGE.sub(r"\1至\2", text)
    text = _CLOCK.sub(lambda m: f"{int(m.group(1))}点" + ("" if m.group(2) == "00" else f"{int(m.group(2))}分"), text)
    text = _PERCENT.sub(r"百分之\1", text)
    text = _DECIMAL.sub(r"\1点\2", text)  # espeak-ng drops the point: "0.5" would be "零五"
    return re.sub(r"\s+", " ", text).strip()


# --- Synthesis --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Voice:
    engine: str
    name: str
    language: Language


class SpeechSynthesizer:
    """Text to 16 kHz mono int16 speech with the Debian engines; ``engine="none"`` is a silent kiosk.

    Thread-safe. Recent phrases are cached, keyed by engine, voice, rate and the prepared text.
    """

    def __init__(
        self,
        engine: Engine = "flite",
        voice_en: str = "slt",
        voice_zh: str = "cmn",
        rate_wpm: int = 170,
        *,
        timeout_s: float = ENGINE_TIMEOUT_S,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.engine = engine
        self.voice_en = voice_en
        self.voice_zh = voice_zh
        self.rate_wpm = rate_wpm
        self.timeout_s = timeout_s
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, int, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._flite_voices: list[str] | None = None

    @classmethod
    def from_config(cls, config: SpeechConfig) -> SpeechSynthesizer:
        return cls(config.tts_engine, config.tts_voice_en, config.tts_voice_zh, config.tts_rate_wpm)

    @property
    def enabled(self) -> bool:
        """False for a silent kiosk: ``synthesize`` then returns no samples."""
        return self.engine != "none"

    def synthesize(self, text: str, language: Language, *, whole: bool = False) -> np.ndarray:
        """Speech for ``text`` as 16 kHz mono int16 (read-only: it may be shared through the cache); empty when
        the kiosk is silent or the text has nothing to say. ``whole``: all of it (``prepare_text``). Raises
        ``TtsError``."""
        spoken = prepare_text(text, language, whole=whole) if self.enabled else ""
        if not spoken:
            return _SILENCE
        voice = (
            _Voice("espeak-ng", self.voice_zh, "zh") if language == "zh" else _Voice(self.engine, self.voice_en, "en")
        )
        key = (voice.engine, voice.name, self.rate_wpm, spoken)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        samples = self._run(voice, spoken)
        samples.flags.writeable = False
        with self._lock:
            self._cache[key] = samples
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return samples

    def _run(self, voice: _Voice, text: str) -> np.ndarray:
        binary = shutil.which(voice.engine)
        if binary is None:
            raise TtsError(
                f"{voice.engine} is not installed, so the kiosk cannot speak {_LANGUAGE_NAMES[voice.language]}: "
                f"install the Debian package with `sudo apt-get install {voice.engine}`"
            )
        with tempfile.TemporaryDirectory(prefix="kiosk-tts-") as folder:
            wav = Path(folder) / "speech.wav"
            if voice.engine == "flite":
                self._check_flite_voice(binary, voice)
                stretch = FLITE_NATURAL_WPM / self.rate_wpm
                command = [binary, "-voice", voice.name, "--setf", f"duration_stretch={stretch:.3f}"]
                result = self._call([*command, "-t", text, "-o", str(wav)], None)
            else:  # --stdin: text starting with "-" cannot be taken for an option
                command = [binary, "-v", voice.name, "-s", str(self.rate_wpm), "-w", str(wav), "--stdin"]
                result = self._call(command, text)
                if result.returncode != 0 and b"voice does not exist" in result.stderr:
                    raise TtsError(self._no_such_voice(voice, self._espeak_voices(binary, voice.language)))
            if result.returncode != 0:
                detail = result.stderr.decode(errors="replace").strip()[-300:] or "no message"
                raise TtsError(f"{voice.engine} failed with exit status {result.returncode}: {detail}")
            try:
                audio, rate_hz = sf.read(wav, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, OSError) as error:
                raise TtsError(f"{voice.engine} wrote no readable audio: {error}") from error
        if not len(audio):
            raise TtsError(f"{voice.engine} produced no audio for {text[:60]!r}")
        mono = audio.mean(axis=1)
        if rate_hz != SAMPLE_RATE_HZ:  # flite voices run at 8 or 16 kHz, espeak-ng at 22.05 kHz
            mono = soxr.resample(mono, rate_hz, SAMPLE_RATE_HZ)
        return float_to_int16(mono)

    def _call(self, command: list[str], stdin_text: str | None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                command,
                input=None if stdin_text is None else stdin_text.encode(),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise TtsError(f"{Path(command[0]).name} took longer than {self.timeout_s:g} s and was stopped") from error
        except OSError as error:
            raise TtsError(f"cannot run {command[0]}: {error}") from error

    def _check_flite_voice(self, binary: str, voice: _Voice) -> None:
        """flite quietly falls back to its default voice when the name is unknown, so check the list first."""
        if self._flite_voices is None:
            listing = self._call([binary, "-lv"], None).stdout.decode()
            self._flite_voices = listing.partition(":")[2].split()
        if voice.name not in self._flite_voices:
            raise TtsError(self._no_such_voice(voice, self._flite_voices))

    def _espeak_voices(self, binary: str, language: Language) -> list[str]:
        """The names espeak-ng accepts for ``language``: the "Language" and "Other Languages" columns of its
        ``--voices`` table, less MBROLA voices (File "mb/...", they need the mbrola package) and variants ("!v/...")."""
        listing = self._call([binary, f"--voices={language}"], None).stdout.decode(errors="replace")
        names: set[str] = set()
        for row in (line.split(maxsplit=5) for line in listing.splitlines()[1:]):
            if len(row) > 4 and not row[4].startswith(("mb/", "!v/")):
                names.update([row[1], *re.findall(r"\(([^\s()]+) \d+\)", row[5] if len(row) > 5 else "")])
        return sorted(names)

    @staticmethod
    def _no_such_voice(voice: _Voice, available: list[str]) -> str:
        return (
            f"{voice.engine} has no voice {voice.name!r} for {_LANGUAGE_NAMES[voice.language]}; "
            f"set speech.tts_voice_{voice.language} to one of: {', '.join(available) or 'none installed'}"
        )


# --- Playback ---------------------------------------------------------------------------------------------


class AudioOutput(Protocol):
    """Where speech is played: ``Speaker`` on a device, ``WavFileOutput`` in tests and demos."""

    @property
    def connected(self) -> bool:
        """False while there is no device to play on (a loudspeaker unplugged): nothing is synthesized for it."""
        ...

    def play(self, samples: np.ndarray) -> bool:
        """Play 16 kHz mono int16 samples, blocking; True when played to the end, False when ``stop()`` cut it."""
        ...

    def stop(self) -> None:
        """Cut the sound now playing, from any thread; a no-op when nothing plays."""
        ...


class WavFileOutput:
    """An ``AudioOutput`` that "plays" each utterance into its own WAV file in ``folder`` (reply-0001.wav, ...).

    With ``realtime=True`` playing takes as long as the sound lasts, like the loudspeaker, so ``stop()`` cuts it
    the same way and the file keeps only what a customer would have heard.
    """

    def __init__(self, folder: Path | str, realtime: bool = False) -> None:
        self.folder = Path(folder)
        self.realtime = realtime
        self.paths: list[Path] = []  # the files written so far, oldest first
        self.connected = True
        self._stop = threading.Event()

    def play(self, samples: np.ndarray) -> bool:
        self._stop.clear()
        chunk = SAMPLE_RATE_HZ * PLAY_CHUNK_MS // 1000
        started = time.monotonic()
        path = self.folder / f"reply-{len(self.paths) + 1:04d}.wav"
        with WavSink(path) as sink:
            for start in range(0, len(samples), chunk):
                if self._stop.is_set():
                    break
                sink.write(samples[start : start + chunk])
                if self.realtime:
                    time.sleep(max(0.0, started + sink.duration_s - time.monotonic()))
        self.paths.append(path)
        return not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()


class SpeechState(enum.Enum):
    STARTED = "started"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


StateCallback = Callable[[SpeechState, str], None]

CUT_RETRY_S = 0.005
CUT_TIMEOUT_S = 0.5  # an output that is still playing after this is broken; give up waiting for it


@dataclass(frozen=True)
class _Utterance:
    """One ``say`` or ``say_all``: its parts are played in turn, each whole when ``whole``."""

    generation: int
    parts: tuple[str, ...]
    language: Language
    whole: bool = False


def with_gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    """``samples`` made louder (or quieter) by ``gain_db``, clipped to int16 rather than wrapped."""
    if gain_db == 0:
        return samples
    louder = samples.astype(np.float32) * 10 ** (gain_db / 20)
    return np.clip(louder, -32768, 32767).astype(np.int16)


class SpokenReplies:
    """Says replies on ``output`` from a worker thread, newest first: each ``say()`` makes everything older
    obsolete (what is still being synthesized is dropped, what is playing is cut), because a customer who has
    moved on to the next question does not want the answer to the last one.

    ``on_state(state, text)`` runs on the worker thread when an utterance starts, finishes or is interrupted;
    it should only hand the news on (the screen's "speaking" indicator), never call ``say()`` or ``stop()``.
    """

    def __init__(
        self, synthesizer: SpeechSynthesizer, output: AudioOutput, on_state: StateCallback | None = None
    ) -> None:
        self.synthesizer = synthesizer
        self.output = output
        self.on_state = on_state
        self.health: Health | None = None  # told a reply that cannot be synthesized, and the next one that can
        self.gain_db = 0.0  # speech mode's volume control, applied to everything said from then on
        self._changed = threading.Condition()
        self._generation = 0  # bumped by say(), stop() and close(): an utterance from an older one is obsolete
        self._pending: _Utterance | None = None
        self._playing: int | None = None  # the generation inside output.play(), if any
        self._working = False  # the worker is on an utterance (synthesizing or playing one of its parts)
        self._closed = False
        # Synthesizes the next part of an utterance while one plays (``say_all``'s sentences).
        self._prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spoken-replies-next")
        self._worker = threading.Thread(target=self._run, name="spoken-replies", daemon=True)
        self._worker.start()

    @property
    def is_speaking(self) -> bool:
        with self._changed:
            return self._playing is not None

    def say(self, text: str, language: Language = "en") -> None:
        """Speak ``text`` as soon as it is synthesized, instead of anything said or queued before. Returns at
        once, or after the few milliseconds it takes to cut the utterance playing now."""
        self._replace_with((text,), language, whole=False)

    def say_all(self, parts: tuple[str, ...], language: Language) -> None:
        """Speak each of ``parts`` whole, one after the other, instead of anything said before (speech mode
        reading a screen item by item). Each sentence is synthesized on its own, while the one before plays, so
        that a long answer starts sounding as soon as its first sentence is ready."""
        sentences = tuple(s for part in parts for s in _SENTENCE_END[language].split(part.strip()) if s.strip())
        self._replace_with(sentences, language, whole=True)

    def _replace_with(self, parts: tuple[str, ...], language: Language, *, whole: bool) -> None:
        with self._changed:
            if self._closed:
                raise RuntimeError("SpokenReplies is closed")
            self._generation += 1
            self._pending = _Utterance(self._generation, parts, language, whole)
            self._changed.notify_all()
        self._cut_obsolete()

    def stop(self) -> bool:
        """Barge-in: cut what is playing and forget what is queued. Returns once the output is quiet (within
        ``PLAY_CHUNK_MS`` on the speaker); True when something was playing."""
        with self._changed:
            self._generation += 1
            self._pending = None
            was_playing = self._playing is not None
        self._cut_obsolete()
        return was_playing

    def interrupt(self) -> None:
        """Barge-in without waiting (a touch, handled under the screen's lock): what is queued is dropped and
        the output is told to stop once. ``stop()`` also waits until it is quiet."""
        with self._changed:
            self._generation += 1
            self._pending = None
            playing = self._playing is not None
        if playing:
            self.output.stop()

    def _still_current(self, utterance: _Utterance) -> bool:
        with self._changed:
            return utterance.generation == self._generation

    def wait_until_quiet(self, timeout_s: float) -> bool:
        """Wait until everything said has been played (``kiosk listen`` writes each reply before reading on);
        False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._pending is not None or self._playing is not None or self._working:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def close(self) -> None:
        """Stop speaking and end the worker thread."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self.stop()
        self._worker.join(timeout=CUT_TIMEOUT_S + self.synthesizer.timeout_s)
        self._prefetch.shutdown(wait=False, cancel_futures=True)

    def _cut_obsolete(self) -> None:
        # One output.stop() is not enough: Speaker.play() clears its stop flag as it starts, so a stop that lands
        # between the worker's last check and that moment would be lost. Repeat it until the worker is out.
        deadline = time.monotonic() + CUT_TIMEOUT_S
        with self._changed:
            while self._playing is not None and self._playing < self._generation:
                if time.monotonic() > deadline:
                    log.warning("the audio output did not stop within %.1f s", CUT_TIMEOUT_S)
                    return
                self.output.stop()
                self._changed.wait(CUT_RETRY_S)

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._pending is None and not self._closed:
                    self._changed.wait()
                if self._pending is None:
                    return
                utterance, self._pending = self._pending, None
                self._working = True
            try:
                self._speak(utterance)
            finally:
                with self._changed:
                    self._working = False
                    self._changed.notify_all()

    def _speak(self, utterance: _Utterance) -> None:
        """Play ``utterance``'s parts in turn, the next one synthesized while one plays, until one is superseded
        or cut."""
        parts = utterance.parts
        if not self.output.connected:
            return  # no loudspeaker: shown, not spoken (the output reports it to the kiosk's health)
        upcoming = self._prefetch.submit(self._synthesize, parts[0], utterance)
        for index, part in enumerate(parts):
            samples = upcoming.result()
            if index + 1 < len(parts):
                upcoming = self._prefetch.submit(self._synthesize, parts[index + 1], utterance)
            if not self._play(utterance, part, samples):
                return

    def _synthesize(self, text: str, utterance: _Utterance) -> np.ndarray:
        """Speech for one part (nothing when it was superseded before its turn, or cannot be synthesized)."""
        if not self._still_current(utterance):
            return _SILENCE
        try:
            samples = self.synthesizer.synthesize(text, utterance.language, whole=utterance.whole)
        except TtsError as error:
            log.error("cannot speak the reply: %s", error)
            if self.health is not None:
                self.health.degraded("speech_output", f"cannot synthesize: {error}", "text_only")
            return _SILENCE
        if self.health is not None:
            self.health.ok("speech_output")
        return samples

    def _play(self, utterance: _Utterance, text: str, samples: np.ndarray) -> bool:
        """Play one part; False when it was superseded or cut."""
        with self._changed:
            if utterance.generation != self._generation:
                return False  # superseded while it was being synthesized
            if not len(samples):
                return True  # nothing to say (or it failed): on to the next part
            self._playing = utterance.generation
        self._notify(SpeechState.STARTED, text)
        try:
            # interrupt() may have come while the news was handed on: then nothing is played
            finished = self._still_current(utterance) and self.output.play(with_gain(samples, self.gain_db))
        except Exception:
            log.exception("the audio output failed")
            finished = False
        finally:
            with self._changed:
                self._playing = None
                self._changed.notify_all()
        self._notify(SpeechState.FINISHED if finished else SpeechState.INTERRUPTED, text)
        return finished

    def _notify(self, state: SpeechState, text: str) -> None:
        if self.on_state is None:
            return
        try:
            self.on_state(state, text)
        except Exception:
            log.exception("the speech state callback failed")
