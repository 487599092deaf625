"""What the fast recognizer may hear: a trigram language model built from the active pack, and a digits grammar.

PocketSphinx's generic English model gets about one word in four wrong on real speech; restricted to the
sentences a deployment expects (the pack's intent examples and FAQ questions) it gets most of them right, in a
fraction of the time. The pack is small (a few hundred sentences), so the model is smoothed (interpolated
Witten-Bell, which needs no held-out data) and its unigrams are mixed with a general-English background taken
from the generic model that ships with PocketSphinx: a paraphrase the pack does not contain still decodes, word
by word. ``pocketsphinx.lm`` (the wheel's builder) only knows a fixed discount and no background, hence the
compact ARPA writer here.

Every word needs a pronunciation: CMUdict's, or, for names it lacks ("Kestrel"), flite's letter-to-sound rules
(``t2p``, installed with the kiosk's speech synthesis); a word neither knows is dropped and logged. The
decoder gets a dictionary of just these words: it starts in about 35 ms instead of 350 ms with all of CMUdict.

Building takes about a second, so the result is cached in a folder named after the pack's ``content_sha256``
(and this builder's version): a changed pack gets a new model on the next start, an unchanged one reuses it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pocketsphinx

from firmware_app.packs import Pack

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # part of the cache key: bump when the model built from the same pack changes
# The most frequent words of the generic English model that stay speakable, and their share of the unigrams.
# Measured on 40 synthesized bank questions and 8 unrelated sentences: 2,000 words at 0.15 gave 8.6% / 65% word
# errors, 5,000 at 0.3 gave 6.8% / 43%; 10,000 was no better in-domain and about 15% slower to decode.
BACKGROUND_WORDS = 5_000
BACKGROUND_WEIGHT = 0.3
LM_FILE, DICT_FILE, MANIFEST_FILE = "domain.lm", "domain.dict", "manifest.json"

# What customers say to the kiosk besides questions: replies to its prompts (the pack's flows ask for yes/no,
# a day, a time, a topic) and conversation control. The pack's acts are regular expressions, not sentences.
KIOSK_REPLIES = (
    "yes",
    "yes please",
    "no",
    "no thanks",
    "no thank you",
    "that's right",
    "that's wrong",
    "okay",
    "cancel",
    "cancel that",
    "stop",
    "never mind",
    "start over",
    "hello",
    "hi",
    "good morning",
    "good afternoon",
    "thank you",
    "thanks",
    "goodbye",
    "bye",
    "that's all thanks",
    "can i speak to a person",
    "i want to talk to someone",
    "i'd like to speak to a member of staff",
    "i want to make a complaint",
    "i'd like to book an appointment",
    "next tuesday",
    "this friday",
    "tomorrow",
    "tomorrow morning",
    "monday afternoon",
    "wednesday",
    "thursday",
    "saturday",
    "on the third of december",
    "the twenty first of january",
    "at ten thirty",
    "at half past two",
    "at two pm",
    "at eleven o'clock in the morning",
    "quarter to four",
)

# ------------------------------------------------------------------------------------- numbers as words

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_SCALES = ((1_000_000_000, "billion"), (1_000_000, "million"), (1_000, "thousand"))


def number_words(n: int) -> str:
    """``n`` (0 or more) as British English words: 105 -> "one hundred and five"."""
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _UNITS[n % 10])
    if n < 1000:
        rest = n % 100
        return f"{_UNITS[n // 100]} hundred" + ("" if rest == 0 else " and " + number_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            rest = n % scale
            joiner = " and " if 0 < rest < 100 else " "
            return f"{number_words(n // scale)} {name}" + ("" if rest == 0 else joiner + number_words(rest))
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """``n`` as an ordinal: 3 -> "third", 21 -> "twenty first"."""
    *head, last = number_words(n).split()
    if last in _ORDINALS:
        last = _ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


# ---------------------------------------------------------------------------------------- normalising


def _money(match: re.Match[str]) -> str:
    pounds, pence = match.group(1).replace(",", ""), match.group(2)
    return f"{pounds} pounds" + (f" {pence}" if pence and pence != "00" else "")


def _clock(match: re.Match[str]) -> str:
    minutes = int(match.group(2))
    return f"{match.group(1)} " + ("o'clock" if minutes == 0 else f"oh {minutes}" if minutes < 10 else str(minutes))


def _decimal(match: re.Match[str]) -> str:
    return f"{match.group(1)} point " + " ".join(_UNITS[int(d)] for d in match.group(2))


def _number_read(digits: str) -> str:
    """How a number is said: "47" -> "forty seven", but "0047" (a code, a phone number) digit by digit."""
    return " ".join(_UNITS[int(d)] for d in digits) if digits.startswith("0") else number_words(int(digits))


_NUMBER_REWRITES = (
    (re.compile(r"£\s?(\d[\d,]*)(?:\.(\d\d))?"), _money),
    (re.compile(r"\b(\d{1,2}):(\d\d)\b"), _clock),
    (re.compile(r"\b(\d+)\s?(?:-|–|to)\s?(\d+)\b"), lambda m: f"{m.group(1)} to {m.group(2)}"),
    (re.compile(r"\b(\d+)\.(\d+)\b"), _decimal),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b"), lambda m: ordinal_words(int(m.group(1)))),
    (re.compile(r"(\d),(\d{3})\b"), lambda m: m.group(1) + m.group(2)),
    (re.compile(r"%"), lambda _m: " percent"),
    (re.compile(r"&"), lambda _m: " and "),
    (re.compile(r"\d+"), lambda m: f" {_number_read(m.group(0))} "),
)


def normalise(text: str) -> list[str]:
    """``text`` as the words a speaker says: lowercase, numbers in words, no punctuation.

    "£5 for 2-3 days?" -> ["five", "pounds", "for", "two", "to", "three", "days"]. Apostrophes inside words stay
    ("don't" is one CMUdict word); hyphenated words are split unless the whole is one dictionary word.
    """
    text = text.lower().replace("’", "'")
    for pattern, rewrite in _NUMBER_REWRITES:
        text = pattern.sub(rewrite, text)
    words: list[str] = []
    for token in re.findall(r"[a-z0-9'.-]+", text):
        token = token.strip("'.-")
        if token:
            words.extend([token.replace(".", "")] if "-" not in token else _split_hyphens(token))
    return words


def _split_hyphens(token: str) -> list[str]:
    return [token] if token in _dictionary() else [part for part in token.split("-") if part]


# ------------------------------------------------------------------------------------- pronunciations

_T2P_PHONES = {"ax": "AH", "axr": "ER"}  # flite's phones that CMUdict spells differently; the rest are equal


@functools.cache
def _dictionary() -> dict[str, list[str]]:
    """CMUdict from the PocketSphinx wheel: word -> its pronunciations (read once, on first use)."""
    words: dict[str, list[str]] = {}
    with open(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as file:
        for line in file:
            word, _, phones = line.partition(" ")
            words.setdefault(word.split("(", 1)[0], []).append(phones.split("#", 1)[0].strip())
    return words


def _letter_to_sound(word: str) -> str | None:
    """flite's pronunciation of ``word`` in CMUdict phones, or None when flite's ``t2p`` is not installed."""
    t2p = shutil.which("t2p")
    if t2p is None or not re.fullmatch(r"[a-z']+", word):
        return None
    output = subprocess.run([t2p, word], capture_output=True, text=True, timeout=10, check=False).stdout
    phones = [re.sub(r"\d", "", p) for p in output.split() if p != "pau"]
    return " ".join(_T2P_PHONES.get(p, p.upper()) for p in phones) or None


# ------------------------------------------------------------------------------------------ the corpus


def pack_sentences(pack: Pack) -> list[str]:
    """The English sentences customers are expected to say to this pack's kiosk (before normalising)."""
    sentences = [*KIOSK_REPLIES]
    for intent in pack.intents:
        sentences += [*intent.examples, intent.title.en]
    for entry in pack.faq:
        sentences += [entry.question.en, *entry.alternatives.en]
    for flow in pack.flows:
        sentences.append(flow.title.en)
        for slot in flow.slots:
            sentences += [choice for texts in slot.choices.values() for choice in texts.en]
    return sentences


def generic_unigrams(words: Iterable[str], top: int = BACKGROUND_WORDS) -> dict[str, float]:
    """Unigram probabilities from PocketSphinx's generic English model: of ``words`` and of its ``top`` most
    frequent words (the background vocabulary). Words it does not know are left out.

    The model file has no word list, so every CMUdict word is looked up (about 0.3 s, once per build).
    """
    generic = pocketsphinx.NGramModel.readfile(pocketsphinx.get_model_path("en-us/en-us.lm.bin"))
    logmath = pocketsphinx.LogMath()
    candidates = {w for w in _dictionary() if re.fullmatch(r"[a-z][a-z']*", w)} | set(words)
    scores = {word: generic.prob([word]) for word in candidates}
    unknown = generic.prob(["</unknown word/>"])
    ranked = sorted((w for w, s in scores.items() if s > unknown), key=scores.__getitem__, reverse=True)
    chosen = set(ranked[:top]) | (set(words) & set(ranked))
    return {word: logmath.exp(scores[word]) for word in chosen}


# --------------------------------------------------------------------------------------- the ARPA model

Ngram = tuple[str, ...]


def witten_bell_arpa(sentences: Iterable[list[str]], prior: Mapping[str, float], prior_weight: float) -> Iterator[str]:
    """An interpolated Witten-Bell trigram model of ``sentences`` as the lines of an ARPA file.

    P(w | h) = l(h) c(h w) / c(h) + (1 - l(h)) P(w | shorter h), with l(h) = c(h) / (c(h) + T(h)) where T(h) is
    the number of different words seen after h. In ARPA's back-off form a seen n-gram carries this
    interpolated probability and a history's back-off weight is exactly 1 - l(h). The unigrams mix the corpus's
    relative frequencies with ``prior`` (word -> weight, normalised here; a corpus word it lacks gets its
    smallest weight): (1 - prior_weight) c(w) / N + prior_weight P_prior(w). The vocabulary is both.
    """
    counts: list[Counter[Ngram]] = [Counter(), Counter(), Counter()]
    for words in sentences:
        padded = ["<s>", *words, "</s>"]
        for order in (1, 2, 3):
            counts[order - 1].update(tuple(padded[i : i + order]) for i in range(len(padded) - order + 1))
    del counts[0][("<s>",)]  # a sentence start is never predicted
    followers: dict[Ngram, tuple[int, int]] = {}  # history -> (c(h), T(h))
    for gram, n in (*counts[1].items(), *counts[2].items()):
        total, types = followers.get(gram[:-1], (0, 0))
        followers[gram[:-1]] = (total + n, types + 1)

    vocabulary = {g[0] for g in counts[0]} | set(prior)
    floor = min(prior.values())
    prior_total = sum(prior.get(w, floor) for w in vocabulary)
    corpus_total = sum(counts[0].values())
    probability: dict[Ngram, float] = {
        (w,): (1 - prior_weight) * counts[0][(w,)] / corpus_total + prior_weight * prior.get(w, floor) / prior_total
        for w in vocabulary
    }
    for order in (2, 3):
        for gram, n in counts[order - 1].items():
            total, types = followers[gram[:-1]]
            probability[gram] = (n + types * _backed_off(gram[1:], probability, followers)) / (total + types)

    def line(gram: Ngram) -> str:
        text = f"{math.log10(probability[gram]) if gram in probability else -99.0:.4f} {' '.join(gram)}"
        if len(gram) < 3:
            total, types = followers.get(gram, (0, 0))
            text += f" {math.log10(types / (total + types)) if total else 0.0:.4f}"
        return text

    grams = [sorted(g for g in probability if len(g) == order) for order in (1, 2, 3)]
    grams[0].insert(0, ("<s>",))
    yield "\\data\\"
    yield from (f"ngram {order}={len(g)}" for order, g in enumerate(grams, 1))
    for order, ngrams in enumerate(grams, 1):
        yield f"\n\\{order}-grams:"
        yield from map(line, ngrams)
    yield "\n\\end\\"


def _backed_off(gram: Ngram, probability: Mapping[Ngram, float], followers: Mapping[Ngram, tuple[int, int]]) -> float:
    """P(gram[-1] | gram[:-1]) as the model answers it: listed, or backed off to a shorter history."""
    if gram in probability:
        return probability[gram]
    total, types = followers.get(gram[:-1], (0, 0))
    return (types / (total + types) if total else 1.0) * _backed_off(gram[1:], probability, followers)


# ---------------------------------------------------------------------------------------------- building


@dataclass(frozen=True)
class DomainModel:
    """A built model: its folder (ARPA LM and dictionary) and what went into it."""

    folder: Path
    sentences: int
    words: int
    guessed: tuple[str, ...]  # pronounced by flite's letter-to-sound rules
    dropped: tuple[str, ...]  # no pronunciation at all: left out of the model

    @property
    def lm_path(self) -> Path:
        return self.folder / LM_FILE

    @property
    def dict_path(self) -> Path:
        return self.folder / DICT_FILE


def domain_model(pack: Pack, cache_dir: Path) -> DomainModel:
    """The model for ``pack``, from ``cache_dir`` when this pack content was built before, else built now.

    The build happens in a temporary folder renamed into place at the end, so a crash or a second process
    building at the same time never leaves a half-written model behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = cache_dir / f"{pack.content_sha256}-v{BUILDER_VERSION}"
    if not (folder / MANIFEST_FILE).exists():
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
        try:
            stats = _build(pack, building)
            os.replace(building, folder)
        except OSError:
            if not (folder / MANIFEST_FILE).exists():  # not just another process finishing first
                raise
        else:
            log.info("built speech language model", extra={"pack": pack.manifest.id, **stats, "folder": str(folder)})
        finally:
            shutil.rmtree(building, ignore_errors=True)
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return DomainModel(
        folder=folder,
        sentences=manifest["sentences"],
        words=manifest["words"],
        guessed=tuple(manifest["guessed"]),
        dropped=tuple(manifest["dropped"]),
    )


def _build(pack: Pack, folder: Path) -> dict[str, object]:
    """Write the LM, the dictionary and the manifest of ``pack`` into ``folder``; returns the manifest."""
    cmudict = _dictionary()
    sentences = [words for words in map(normalise, pack_sentences(pack)) if words]
    pronunciations = {word: cmudict[word] for word in DIGITS_VOCABULARY}
    guessed: list[str] = []
    dropped: list[str] = []
    for word in sorted({w for words in sentences for w in words} - set(cmudict)):
        phones = _letter_to_sound(word)
        (guessed if phones else dropped).append(word)
        if phones:
            pronunciations[word] = [phones]
    if dropped:
        log.warning("words without a pronunciation left out of the speech model", extra={"words": dropped})
    sentences = [kept for words in sentences if (kept := [w for w in words if w not in dropped])]
    corpus_words = {w for words in sentences for w in words}
    prior = generic_unigrams(corpus_words)
    lines = witten_bell_arpa(sentences, prior, BACKGROUND_WEIGHT)
    (folder / LM_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")

    vocabulary = corpus_words | set(prior)
    pronunciations |= {word: cmudict[word] for word in vocabulary if word in cmudict}
    with open(folder / DICT_FILE, "w", encoding="utf-8") as file:
        for word, variants in sorted(pronunciations.items()):
            for i, phones in enumerate(variants, 1):
                file.write(f"{word}{f'({i})' if i > 1 else ''} {phones}\n")
    manifest = {"sentences": len(sentences), "words": len(vocabulary), "guessed": guessed, "dropped": dropped}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


# ------------------------------------------------------------------------------------- the digits grammar

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")  # fmt: skip
_CURRENCIES = ("pounds", "pound", "quid", "pence", "euros", "euro", "dollars", "dollar")
_LEAD_INS = ("it's", "it is", "ending in", "it ends in", "my card ends in", "the last four digits are")


def _jsgf_choice(phrases: Iterable[str]) -> str:
    return " | ".join(phrases)


# Card endings and other digit strings ("four two double one", "oh"), amounts ("forty five pounds") and dates
# ("the third of may"), for a reply that can only be one of these, such as the card-ending prompt.
DIGITS_JSGF = f"""#JSGF V1.0;
grammar digits;
<digit> = oh | zero | {_jsgf_choice(_UNITS[1:10])};
<digits> = (<digit> | double <digit> | triple <digit>)+;
<below_hundred> = {_jsgf_choice(_UNITS[1:])} | ({_jsgf_choice(_TENS[2:])}) [{_jsgf_choice(_UNITS[1:10])}];
<below_thousand> = <below_hundred> | (a | {_jsgf_choice(_UNITS[1:10])}) hundred [[and] <below_hundred>];
<number> = <below_thousand> [thousand [[and] <below_thousand>]];
<money> = <number> ({_jsgf_choice(_CURRENCIES)}) [[and] <below_hundred> [pence]];
<ordinal> = {_jsgf_choice(ordinal_words(n) for n in range(1, 32))};
<month> = {_jsgf_choice(_MONTHS)};
<date> = [the] <ordinal> [of] <month> | <month> [the] <ordinal>;
public <reply> = [{_jsgf_choice(_LEAD_INS)}] (<digits> | <number> | <money> | <date>);
"""

DIGITS_VOCABULARY = frozenset(
    word for rule in re.findall(r"=(.*);", DIGITS_JSGF) for word in re.findall(r"[a-z']+", re.sub(r"<\w+>", "", rule))
)


# ------------------------------------------------------------------------------- spoken numbers as numerals

_DIGIT_VALUES = {"oh": 0, "zero": 0} | {word: n for n, word in enumerate(_UNITS[1:10], 1)}
_SMALL_VALUES = {word: n for n, word in enumerate(_UNITS)} | {word: 10 * n for n, word in enumerate(_TENS) if n > 1}
_ORDINAL_VALUES = {ordinal_words(n): n for n in range(1, 32)}
_REPEATS = {"double": 2, "triple": 3}


def spoken_numbers(words: list[str], *, digit_runs_only: bool = False) -> str:
    """``words`` joined with spoken numbers as numerals: runs of digits joined ("four two double one" -> "4211"),
    numbers ("forty five pounds" -> "45 pounds") and ordinals ("the third of may" -> "the 3rd of may").

    With ``digit_runs_only`` (free speech from the language model) only runs of two or more digits change, as
    "one" or "oh" alone is more often a word than a number ("a new one", "oh no").
    """
    out: list[str] = []
    run: list[str] = []  # the digits of the current run, and the words they came from
    run_words: list[str] = []

    def flush() -> None:
        if run:
            out.append("".join(run) if len(run) > 1 or not digit_runs_only else run_words[0])
        run.clear()
        run_words.clear()

    i = 0
    while i < len(words):
        word = words[i]
        if word in _REPEATS and i + 1 < len(words) and words[i + 1] in _DIGIT_VALUES:
            run += [str(_DIGIT_VALUES[words[i + 1]])] * _REPEATS[word]
            run_words += words[i : i + 2]
            i += 2
            continue
        value, end = (None, i) if word in ("oh", "zero") else _number(words, i)
        if word in _DIGIT_VALUES and end <= i + 1:
            run.append(str(_DIGIT_VALUES[word]))
            run_words.append(word)
            i += 1
            continue
        flush()
        ordinal = _ordinal(words, i) if not digit_runs_only else None
        if ordinal:
            out.append(ordinal[0])
            i = ordinal[1]
        elif value is not None and not digit_runs_only:
            out.append(str(value))
            i = end
        else:
            out.append(word)
            i += 1
    flush()
    return " ".join(out)


def _ordinal(words: list[str], i: int) -> tuple[str, int] | None:
    """The ordinal spoken from ``words[i]`` as a numeral ("twenty first" -> "21st") and where it ends."""
    for end in (i + 2, i + 1):
        n = _ORDINAL_VALUES.get(" ".join(words[i:end])) if end <= len(words) else None
        if n:
            suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            return f"{n}{suffix}", end
    return None


def _number(words: list[str], i: int) -> tuple[int | None, int]:
    """The cardinal number spoken from ``words[i]`` (as the digits grammar allows it) and where it ends."""
    value, i = _below_thousand(words, i)
    if value is not None and i < len(words) and words[i] == "thousand":
        value *= 1000
        rest, end = _below_thousand(words, i + 2 if words[i + 1 : i + 2] == ["and"] else i + 1)
        value, i = (value + rest, end) if rest is not None else (value, i + 1)
    return value, i


def _below_thousand(words: list[str], i: int) -> tuple[int | None, int]:
    if words[i + 1 : i + 2] == ["hundred"] and (words[i] == "a" or 0 < _SMALL_VALUES.get(words[i], 0) < 10):
        hundreds = 100 * (1 if words[i] == "a" else _SMALL_VALUES[words[i]])
        rest, end = _below_hundred(words, i + 3 if words[i + 2 : i + 3] == ["and"] else i + 2)
        return (hundreds + rest, end) if rest is not None else (hundreds, i + 2)
    return _below_hundred(words, i)


def _below_hundred(words: list[str], i: int) -> tuple[int | None, int]:
    value = _SMALL_VALUES.get(words[i]) if i < len(words) else None
    if value is None or value == 0:
        return None, i
    unit = _SMALL_VALUES.get(words[i + 1], 0) if i + 1 < len(words) else 0
    if value >= 20 and value % 10 == 0 and 0 < unit < 10:
        return value + unit, i + 2
    return value, i + 1
