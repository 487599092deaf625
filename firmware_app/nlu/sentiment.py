"""Tell how a customer feels from one utterance, so the kiosk can hand an annoyed customer to a person.

The base is VADER (Hutto & Gilbert, 2014: "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of
Social Media Text"), a published lexicon-and-rules method that needs no model file and runs offline. Out of
the box it is wrong for a bank kiosk in two opposite ways, and this module corrects both:

* It reads the *topic* as the *tone*. Its lexicon was built from social media, where "stolen", "fraud",
  "declined" or "lost" carry strong negative affect; here they are what a perfectly calm customer is asking
  about. Likewise "please", "help", "credit", "interest" and "save" are request and product words, not praise.
  Those words are taken out of the lexicon (`_TOPIC_WORDS`), so a problem report reads as neutral.
* It misses how customers complain. "This is the third time", "still hasn't arrived", "waste of time", "I want
  my money back" contain few or no lexicon words. A small documented lexicon of customer-service frustration
  cues (`_FRUSTRATION_CUES`), together with shouting (ALL CAPS words, "!!!") and negated praise ("not
  helpful"), supplies that signal.

Each cue pulls the score towards -1 (positive Chinese cues towards +1): the result is a convex blend of
VADER's compound score and the cue evidence, so it stays in [-1, 1].

A turn is *frustrated* when it shows annoyance or anger with the service: any frustration cue, or a strongly
negative VADER score that is not only worry, fear or grief (`_DISTRESS_WORDS`): a customer who is frightened
their savings are gone needs reassurance, not the hand-off counter.

Chinese text gets no VADER score (its lexicon is English); a short list of Chinese frustration and thanks
cues decides, and anything else is neutral.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = ["Sentiment", "analyze_sentiment"]


@dataclass(frozen=True)
class Sentiment:
    """How one utterance reads.

    label is "negative", "neutral" or "positive"; score is in [-1, 1]; frustrated says the customer is
    annoyed, angry or upset with the service, which is what the kiosk's hand-off policy counts.
    """

    label: str
    score: float
    frustrated: bool


# Hutto & Gilbert's recommended cut-offs on the compound score for a three-way label.
_POSITIVE_THRESHOLD = 0.05
_NEGATIVE_THRESHOLD = -0.05
# Below this (with worry and grief words ignored) a turn is angry even with no cue: VADER's "strongly negative".
_ANGER_THRESHOLD = -0.5
# How far one cue pulls the score towards -1 (or +1); two cues or more decide it outright.
_CUE_WEIGHT = 0.5
# Negated words at least this positive in VADER's lexicon ("not helpful", "never happy") read as complaints;
# weaker ones ("not sure", "not clear", "not ok") are usually hedging or a plain question.
_NEGATED_PRAISE_MIN_VALENCE = 1.7

# What happened to the account, not how the customer feels about it, and the request and product vocabulary
# that VADER scores as praise. Removed from the lexicon so that "my card was stolen, can you help please?"
# is neutral.
_TOPIC_WORDS = frozenset({
    "lost", "lose", "losing", "loss", "losses", "stolen", "steal", "stole", "stealing", "theft", "thief", "thieves",
    "robbed", "crime", "fraud", "fraudulent", "fraudster", "fraudsters", "hacked", "hack", "hacker", "charged",
    "charges", "charge", "problem", "problems", "error", "errors", "fail", "fails", "failed", "failure", "declined",
    "decline", "denied", "deny", "rejected", "reject", "refused", "refuse", "blocked", "block", "cancel",
    "cancelled", "stop", "stopped", "dispute", "disputes", "disputed", "suspicious", "suspect", "suspected",
    "missing", "miss", "missed", "stuck", "negative", "debt", "debts", "owe", "owed", "owing", "penalty", "warning",
    "emergency", "risk", "victim", "fake", "illegal", "trouble", "fault", "damaged", "broken", "arrest", "threat",
    "attack", "pay", "paid", "no", "please", "help", "helping", "like", "want", "credit", "interest", "save",
    "saving", "savings", "safe", "free", "bonus", "reward", "rewards", "benefit", "benefits", "gift", "worth",
    "rich", "share", "secure", "security", "protect", "protection", "trust", "care", "support", "accept",
    "accepted", "approve", "approved", "yes", "ok", "okay", "sure", "fine", "well", "hope", "true", "important",
    "urgent", "alert", "number",
})  # fmt: skip

# Negative feelings that are not aimed at the bank. They make a turn negative but not frustrated.
_DISTRESS_WORDS = frozenset({
    "worried", "worry", "worrying", "scared", "afraid", "fear", "frightened", "terrified", "anxious", "nervous",
    "panic", "panicking", "stress", "stressed", "sad", "grief", "grieving", "lonely", "died", "death", "dead",
    "passed", "ill", "sick", "confused", "unsure", "concerned", "devastated",
})  # fmt: skip

_FRUSTRATION_CUES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # Repetition: the customer has been through this before.
        r"\b(?:second|third|fourth|fifth|sixth|umpteenth|hundredth|\d+(?:st|nd|rd|th))\s+time\b",
        r"\b(?:asked|told|called|rang|rung|phoned|explained|tried|been|come|came|written|emailed|said|chased)\b"
        r"[^.!?]{0,30}?\b(?:two|three|four|five|six|seven|eight|nine|ten|several|many|multiple|countless|\d+)"
        r"\s+times\b",
        r"\bhow\s+many\s+(?:more\s+)?times\s+(?:do|does|have|must|should|will)\b",
        r"\bevery\s+single\s+time\b",
        # "again!" is exasperation; "can I try again?" is a question, so no question mark here.
        r"\bnot\s+(?:this|that|you)\s+again\b|\b(?:yet\s+)?again\s*!",
        # Waiting and broken promises.
        r"\bstill\s+(?:not|no|nothing|nobody|waiting|broken|wrong|can'?t|won'?t|\w+n'?t)\b",
        r"\b(?:been|kept|keep)\s+(?:\w+\s+)?waiting\b|\bwaiting\s+(?:for\s+)?(?:weeks|months|ages|hours|forever)\b",
        # Not "abroad for weeks" or "put my card on hold": the customer must have been kept waiting.
        r"\bbeen\b[^.!?]{0,30}?\bfor\s+(?:weeks|months|ages)\b|\b(?:been|was|kept|left)\s+on\s+hold\b",
        r"\bit'?s\s+been\s+(?:over\s+)?(?:a|an|\d+|two|three|four|five|six|seven|eight|several|many)\s+"
        r"(?:days?|weeks?|months?|hours?)\b",
        r"\bnever\s+(?:called|rang|phoned|rung|replied|responded|answered|arrived|came|happened|heard|listen\w*|"
        r"help\w*|got\s+back|get\s+back|sort\w*)\b|\bpromised\b",
        # Not "nobody else knows my PIN": that is a security question.
        r"\b(?:nobody|no\s*-?\s*one)\b(?!\s+else)\s+(?:\w+\s+){0,2}?(?:help|know|listen|care|answer|call|repl|"
        r"respond|bother|sort|seem|ever|tell|(?:get|got|come|came)\s+back)",
        # Verdicts on the service.
        r"\bwast(?:e|es|ed|ing)\s+(?:of\s+)?(?:my\s+|our\s+|your\s+)?(?:time|money|day|morning|afternoon|life)\b",
        r"\b(?:ridiculous|useless|unacceptable|pathetic|disgrace(?:ful)?|shambles|shambolic|incompetent|hopeless|"
        r"appalling|atrocious|disgusting|outrageous|absurd|laughable|rubbish|unbelievable|diabolical|"
        r"(?<!tell me a )(?<!tell us a )(?<!know a )joke|"
        r"terrible\s+service|not\s+(?:good\s+enough|acceptable|fair|on))\b",
        r"\brip[\s-]?off\b|\b(?:is|are|a|total|complete|absolute|such)\s+(?:a\s+)?scam\b|\b(?:crooks|cowboys)\b|"
        r"\bdaylight\s+robbery\b",
        r"\bdid\s+nothing\b|\bdone\s+nothing\b|\bwhat'?s\s+the\s+point\b|\bwhat\s+is\s+the\s+point\b",
        # The customer's own feelings about the service.
        r"\b(?:fed\s+up|sick\s+(?:and\s+tired\s+)?of|tired\s+of|had\s+enough|fuming|livid|furious|angry|annoyed|"
        r"annoying|irritat\w*|frustrat\w*|upset|infuriat\w*|exasperat\w*|(?:losing|lost)\s+my\s+patience|"
        r"doing\s+my\s+head\s+in|can'?t\s+believe|cannot\s+believe|not\s+happy|unhappy|not\s+impressed|"
        r"disappoint\w*|hate|ugh+|argh+|ffs)\b",
        # Demands to be refunded, escalated or let go.
        r"\b(?:want|give\s+me|need)\s+my\s+money\s+back\b",
        r"\b(?:real|actual|proper)\s+(?:human|person|people)\b|\b(?:speak|talk)\s+to\s+(?:a|the|your)\s+"
        r"(?:manager|supervisor)\b",
        # Not a question about complaints ("how does your complaints process work?", "reply to complaints").
        r"\b(?:ombudsman|complain(?:ing|ed|s)?|(?<!your\s)(?<!the\s)(?<!to\s)complaints?(?!\s+(?:process|procedure|policy)))\b",
        r"\bclos(?:e|ing)\s+my\s+account\s+and\b|\b(?:go|going|move|moving|take|taking)\s+(?:my\s+\w+\s+)?"
        r"elsewhere\b|\bswitch(?:ing)?\s+banks?\b",
        # Talking down to the kiosk or its staff.
        r"\byou\s+(?:people|lot)\b|\bare\s+you\s+(?:even\s+)?listening\b|\b(?:not|never)\s+listen\w*\b",
        r"\bstop\s+asking\b|\bthat'?s\s+not\s+what\s+i\s+(?:asked|said|meant)\b|\bexcuses\b",
        r"\b(?:doesn'?t|does\s+not|don'?t|can'?t|never)\s+understand\s+(?:anything|a\s+word|me|what)\b",
    )
)
_REPEATED_PUNCTUATION = re.compile(r"[!！]{2,}|[?？]+[!！]|[!！][?？]+")
_SHOUTED_WORD = re.compile(r"\b[A-Z]{3,}\b")
# A lone "YES" or "HELP" is a button-style answer; shouting needs a sentence around it.
_SHOUTING_MIN_WORDS = 3
# Capitalised by convention, not by shouting.
_ACRONYMS = frozenset({
    "ATM", "PIN", "ISA", "IBAN", "BIC", "SWIFT", "CVV", "CVC", "SMS", "OTP", "USA", "GBP", "USD", "EUR", "CNY",
    "RMB", "HMRC", "DVLA", "NHS", "PDF", "BACS", "CHAPS", "APR", "AER", "FAQ", "SIM", "PAYE", "VAT", "REF", "ISO",
    "KYC", "FCA", "FOS", "NFC", "URL", "APP", "DWP", "HSBC", "TSB", "RBS",
})  # fmt: skip
# "no" is left out: "no thanks" and "no, that's great" answer a question rather than complain.
_NEGATORS = frozenset({"not", "never", "nothing", "hardly", "cannot"})
# Negated gratitude is still gratitude: "can't thank you enough", "don't thank me".
_GRATITUDE = frozenset({"thank", "thanks", "thankful", "grateful", "appreciate", "appreciated"})
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")

# Chinese has no VADER lexicon; these substrings carry the signal instead.
_ZH_FRUSTRATION_CUES = (
    "太差", "气死", "生气", "投诉", "没用", "浪费", "又", "还没", "受够", "骗子", "垃圾", "差劲", "不满", "失望",
    "烦死", "离谱", "无语", "搞什么", "破银行", "破机器", "什么破", "一点用", "有什么用", "这么麻烦", "烦不烦", "烦人",
    "懂不懂", "有毛病", "笨", "蠢", "傻", "太慢", "等了半天", "岂有此理", "废物", "坑人", "糟透",
)  # fmt: skip
# Thanks and praise, unless negated (不/没): "没有帮助" is not thanks.
_ZH_POSITIVE_CUES = re.compile(r"(?<![不没])(?:谢谢|感谢|多谢|太好了|很好|满意|不错|有帮助|真棒|方便)")


class _Analyzers:
    """The two VADER analyzers: one for tone, one that also ignores worry and grief (for anger).

    Built once, lazily, because each loads VADER's 7,500-word lexicon from disk. After construction they are
    only read, which is safe from any number of threads.
    """

    def __init__(self) -> None:
        self.tone = SentimentIntensityAnalyzer()
        for word in _TOPIC_WORDS:
            self.tone.lexicon.pop(word, None)
        self.anger = copy.copy(self.tone)
        self.anger.lexicon = {word: value for word, value in self.tone.lexicon.items() if word not in _DISTRESS_WORDS}


_analyzers: _Analyzers | None = None
_analyzers_lock = threading.Lock()


def _get_analyzers() -> _Analyzers:
    global _analyzers
    if _analyzers is None:
        with _analyzers_lock:
            if _analyzers is None:
                _analyzers = _Analyzers()
    return _analyzers


def _has_negated_praise(text: str, lexicon: dict[str, float]) -> bool:
    """True for "not helpful", "wasn't at all happy": a negator followed within three words by strong praise."""
    tokens = _TOKEN.findall(text.lower())
    return any(
        (token in _NEGATORS or token.endswith("n't"))
        and any(
            lexicon.get(word, 0.0) >= _NEGATED_PRAISE_MIN_VALENCE and word not in _GRATITUDE
            for word in tokens[i + 1 : i + 4]
        )
        for i, token in enumerate(tokens)
    )


def _frustration_cue_count(text: str, lexicon: dict[str, float]) -> int:
    """How many separate signs of annoyance the text shows (each pattern, shouting and negated praise count once)."""
    shouting = len(text.split()) >= _SHOUTING_MIN_WORDS and any(
        word not in _ACRONYMS for word in _SHOUTED_WORD.findall(text)
    )
    return (
        sum(1 for cue in _FRUSTRATION_CUES if cue.search(text))
        + sum(1 for cue in _ZH_FRUSTRATION_CUES if cue in text)
        + bool(_REPEATED_PUNCTUATION.search(text))
        + shouting
        + _has_negated_praise(text, lexicon)
    )


def _blend(score: float, cues: int, towards: float) -> float:
    """Move `score` towards `towards` (+1 or -1) by `_CUE_WEIGHT` per cue, reaching it at two cues."""
    weight = min(1.0, _CUE_WEIGHT * cues)
    return (1.0 - weight) * score + weight * towards


def analyze_sentiment(text: str) -> Sentiment:
    """Label one customer utterance negative, neutral or positive, and say whether it is frustrated."""
    analyzers = _get_analyzers()
    score = analyzers.tone.polarity_scores(text)["compound"]
    score = _blend(score, len(_ZH_POSITIVE_CUES.findall(text)), towards=1.0)
    cues = _frustration_cue_count(text, analyzers.tone.lexicon)
    score = _blend(score, cues, towards=-1.0)
    frustrated = cues > 0 or (
        score <= _ANGER_THRESHOLD and analyzers.anger.polarity_scores(text)["compound"] <= _ANGER_THRESHOLD
    )
    if frustrated or score <= _NEGATIVE_THRESHOLD:
        label = "negative"
    elif score >= _POSITIVE_THRESHOLD:
        label = "positive"
    else:
        label = "neutral"
    return Sentiment(label=label, score=round(score, 4), frustrated=frustrated)
