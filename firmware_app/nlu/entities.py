"""Pull the structured values a banking conversation needs out of one customer utterance.

The dialogue layer asks "which card?", "how much?", "when?"; this module answers from the raw text
so the kiosk never has to ask twice. Every recogniser is a small regular expression (or
libphonenumber for phone numbers, which knows every region's numbering plan far better than we could)
that proposes candidates; `extract_entities` then keeps a non-overlapping subset so that, for
example, the digits of a phone number are never also reported as a card ending or a time.

Spans cover the value itself, not the cue words that introduce it: in "ending in 1234" the
card_last4 span is "1234", in "ref 88231" the reference span is "88231". Phrases that *are* the value
("next Tuesday", "50 pounds", "half past three") are covered whole.

All patterns are compiled with re.ASCII so that `\\b` and `\\w` treat Chinese characters as
boundaries: "转账300元" must still see "300" as a number.
"""

from __future__ import annotations

import bisect
import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from firmware_app.events import Entity
from firmware_app.privacy import EMAIL_RE, iter_phone_numbers

__all__ = ["ZH_CARD_ENDING_CUE", "extract_entities"]

_FLAGS = re.ASCII | re.IGNORECASE


@dataclass(frozen=True)
class _Context:
    """What a recogniser needs besides the text: the day relative dates count from and the locale."""

    today: datetime.date
    region: str
    currency: str


# --------------------------------------------------------------------------------------------- email

# The leading look-behind makes the engine try a match only at the start of a run of address
# characters; without it a 10,000-character word with no "@" would be rescanned from every position.


def _emails(text: str, _ctx: _Context) -> Iterator[Entity]:
    for match in EMAIL_RE.finditer(text):
        yield _entity("email", text, match, match.group().lower())


# --------------------------------------------------------------------------------------------- phone


def _phones(text: str, ctx: _Context) -> Iterator[Entity]:
    for start, end, e164 in iter_phone_numbers(text, ctx.region):
        yield Entity(kind="phone", text=text[start:end], value=e164, start=start, end=end)


# ----------------------------------------------------------------------------------------- reference

_REFERENCE_RES = (
    # Ticket-style ids: letters, a dash, then an alphanumeric code with at least one digit (KB-7F3A2C).
    re.compile(r"\b(?P<val>[a-z]{2,5}-(?=[a-z]*\d)[a-z0-9]{3,12})\b", _FLAGS),
    # A reference word followed by a code that contains at least one digit ("reference number AB123456").
    re.compile(
        r"\b(?:ref(?:erence)?|case|ticket)\b\.?(?:\s+(?:number|no\.?|num|id))?(?:\s+is)?\s*[:#]?\s*"
        r"(?P<val>(?=[a-z-]*\d)[a-z0-9][a-z0-9-]{3,19})\b",
        _FLAGS,
    ),
)


def _references(text: str, _ctx: _Context) -> Iterator[Entity]:
    for pattern in _REFERENCE_RES:
        for match in pattern.finditer(text):
            yield _entity("reference", text, match, match.group("val").upper())


# -------------------------------------------------------------------------------------------- amount

_UNIT_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_UNITS = {word: number for number, word in enumerate(_UNIT_WORDS)}
_TENS = {
    word: 10 * n
    for n, word in enumerate(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), 2)
}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
# At most nine words: enough for "two hundred and fifty thousand", and the bound keeps a long run of number
# words that never reaches a currency from being rescanned from every one of its words.
_WORD_NUMBER = rf"(?:an?\s+(?=hundred|thousand))?(?:{_NUMBER_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_NUMBER_WORD})){{0,8}}"

_CURRENCY_CODES = {
    "£": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP", "pence": "GBP", "gbp": "GBP",
    "$": "USD", "us$": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "usd": "USD",
    "€": "EUR", "euro": "EUR", "euros": "EUR", "eur": "EUR",
    "¥": "CNY", "￥": "CNY", "yuan": "CNY", "rmb": "CNY", "cny": "CNY", "元": "CNY", "块": "CNY",
    "块钱": "CNY", "人民币": "CNY",
}  # fmt: skip
_PREFIX = r"(?P<pre>us\$|[£$€¥￥]|(?:gbp|usd|eur|cny|rmb)(?![a-z])|人民币)"
_SUFFIX = (
    r"(?P<suf>pounds?|quid|sterling|pence|dollars?|bucks|euros?|yuan|gbp|usd|eur|cny|rmb)\b|(?P<zh>块钱|[元块]|人民币)"
)
_DIGITS = r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)(?!\d|[.,]\d)"
_MULTIPLIER = r"(?:\s?(?P<mult>k|grand|thousand|million)\b)"
_MULTIPLIERS = {"k": 1000, "grand": 1000, "thousand": 1000, "million": 1_000_000}

_AMOUNT_RES = (
    re.compile(rf"{_PREFIX}\s?{_DIGITS}{_MULTIPLIER}?", _FLAGS),
    re.compile(rf"{_DIGITS}{_MULTIPLIER}?\s?(?:{_SUFFIX})", _FLAGS),
    # "5k" / "2 grand" with no currency at all: slang multipliers only ever count money, in the kiosk's currency.
    re.compile(rf"{_DIGITS}\s?(?P<mult>k|grand)\b", _FLAGS),
    re.compile(rf"\b(?P<words>{_WORD_NUMBER})\s+(?:{_SUFFIX})", _FLAGS),
)


def _words_to_int(words: str) -> int:
    """Read an English number phrase such as "two hundred and fifty" (small numbers only)."""
    total = current = 0
    for token in re.findall(r"[a-z]+", words.lower()):
        if token in _UNITS:
            current += _UNITS[token]
        elif token in _TENS:
            current += _TENS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        elif token == "thousand":
            total += max(current, 1) * 1000
            current = 0
    return total + current


def _amounts(text: str, ctx: _Context) -> Iterator[Entity]:
    for pattern in _AMOUNT_RES:
        for match in pattern.finditer(text):
            groups = match.groupdict()
            cue = (groups.get("pre") or groups.get("suf") or groups.get("zh") or "").lower()
            if groups.get("words"):
                number = Decimal(_words_to_int(groups["words"]))
            else:
                number = Decimal(groups["num"].replace(",", ""))
            number *= _MULTIPLIERS.get((groups.get("mult") or "").lower(), 1)
            if cue == "pence":
                number /= 100
            yield _entity("amount", text, match, f"{number:.2f} {_CURRENCY_CODES.get(cue, ctx.currency)}")


# ---------------------------------------------------------------------------------------------- date

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"),
         ("november", "nov"), ("december", "dec")],
        1,
    )
    for name in names
}  # fmt: skip
_MONTH = rf"(?P<month>{'|'.join(sorted(_MONTHS, key=len, reverse=True))})\b\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?![\d:])"
_YEAR = r"(?:,?\s+(?P<year>\d{4})\b)?"
_RELATIVE_DAYS = {
    "today": 0, "tonight": 0, "tomorrow": 1, "day after tomorrow": 2, "yesterday": -1,
    "今天": 0, "今晚": 0, "明天": 1, "后天": 2, "大后天": 3, "昨天": -1,
}  # fmt: skip

_DATE_RES = (
    re.compile(r"\b(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})\b", _FLAGS),
    re.compile(r"\b(?P<day>\d{1,2})([/.-])(?P<month>\d{1,2})\2(?P<year>\d{4}|\d{2})\b", _FLAGS),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}{_YEAR}", _FLAGS),
    re.compile(rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}{_YEAR}", _FLAGS),
    # "the 5th" alone is too often "the 3rd time"; a preposition makes it a date.
    re.compile(r"\b(?:on|by|from|until|till|before|after)\s+(?P<val>the\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th))\b", _FLAGS),
    re.compile(r"(?:(?P<year>\d{4})年)?(?P<month>\d{1,2})月(?P<day>\d{1,2})[日号號]", _FLAGS),
)
_RELATIVE_RE = re.compile(
    r"\b(?:the\s+)?(?P<en>day\s+after\s+tomorrow|today|tonight|tomorrow|yesterday)\b|(?P<zh>大后天|后天|今天|今晚|明天|昨天)",
    _FLAGS,
)
_WEEKDAY_RE = re.compile(rf"\b(?:(?P<mod>next|this|coming|last)\s+)?(?P<weekday>{'|'.join(_WEEKDAYS)})\b", _FLAGS)
_ZH_WEEKDAY_RE = re.compile(r"(?P<mod>下个?|这个?|本|上个?)?(?:星期|礼拜|周)(?P<weekday>[一二三四五六日天])")


def _next_weekday(today: datetime.date, weekday: int, *, after_today: bool) -> datetime.date:
    """The first `weekday` on or after today (strictly after when `after_today`)."""
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and after_today:
        ahead = 7
    return today + datetime.timedelta(days=ahead)


def _english_weekday(today: datetime.date, modifier: str, weekday: int) -> datetime.date:
    """Resolve "Tuesday", "this Friday", "next Tuesday", "last Monday".

    "next X" is ambiguous in English (this coming X or the one a week later?); the kiosk takes the
    next occurrence strictly after today, so only today's own weekday name moves a week ahead.
    """
    if modifier == "last":
        return today - datetime.timedelta(days=(today.weekday() - weekday - 1) % 7 + 1)
    return _next_weekday(today, weekday, after_today=modifier == "next")


def _chinese_weekday(today: datetime.date, modifier: str, weekday: int) -> datetime.date:
    """Resolve 周二 / 下周二 / 这周二 / 上周二: 下周 means the calendar week after this one (weeks start Monday)."""
    monday = today - datetime.timedelta(days=today.weekday())
    weeks = {"下": 1, "上": -1, "这": 0, "本": 0}.get(modifier[:1])
    if weeks is None:
        return _next_weekday(today, weekday, after_today=False)
    return monday + datetime.timedelta(weeks=weeks, days=weekday)


def _first_valid_on_or_after(today: datetime.date, candidates: Iterator[tuple[int, int, int]]) -> datetime.date | None:
    """The first (year, month, day) candidate that is a real date not before today."""
    for year, month, day in candidates:
        try:
            date = datetime.date(year, month, day)
        except ValueError:
            continue
        if date >= today:
            return date
    return None


def _calendar_date(today: datetime.date, groups: dict[str, str | None]) -> datetime.date | None:
    """Build the date a day/month/year match names; a missing year or month means the next such date."""
    day = int(groups["day"] or 0)
    month_text = (groups.get("month") or "").lower()
    if groups.get("year"):
        year = int(groups["year"] or 0)
        year += 2000 if year < 100 else 0
        try:
            return datetime.date(year, _MONTHS.get(month_text) or int(month_text), day)
        except ValueError:
            return None
    if month_text:
        month = _MONTHS.get(month_text) or int(month_text)
        return _first_valid_on_or_after(today, ((today.year + i, month, day) for i in range(9)))
    months_ahead = ((today.year + (today.month - 1 + i) // 12, (today.month - 1 + i) % 12 + 1) for i in range(13))
    return _first_valid_on_or_after(today, ((year, month, day) for year, month in months_ahead))


def _resolve_date(match: re.Match[str], today: datetime.date) -> datetime.date | None:
    """Turn a match of any of the date patterns into the calendar day it names (None if there is no such day)."""
    groups = match.groupdict()
    if "weekday" not in groups and "en" not in groups:
        return _calendar_date(today, groups)
    if groups.get("en") or groups.get("zh"):
        key = " ".join((groups["en"] or groups["zh"] or "").lower().split())
        return today + datetime.timedelta(days=_RELATIVE_DAYS[key])
    modifier = (groups["mod"] or "").lower()
    if groups["weekday"] in _ZH_WEEKDAYS:
        return _chinese_weekday(today, modifier, _ZH_WEEKDAYS[groups["weekday"]])
    return _english_weekday(today, modifier, _WEEKDAYS.index(groups["weekday"].lower()))


def _dates(text: str, ctx: _Context) -> Iterator[Entity]:
    for pattern in (*_DATE_RES, _RELATIVE_RE, _WEEKDAY_RE, _ZH_WEEKDAY_RE):
        for match in pattern.finditer(text):
            date = _resolve_date(match, ctx.today)
            if date is not None:
                yield _entity("date", text, match, date.isoformat())


# ---------------------------------------------------------------------------------------------- time

_HOUR_WORDS = {word: number for number, word in enumerate(_UNIT_WORDS[1:13], 1)}
_ZH_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_HOUR_WORD = rf"(?P<hour>{'|'.join(_HOUR_WORDS)})"
_HOUR = rf"(?P<hour>1[0-2]|0?[1-9]|{'|'.join(_HOUR_WORDS)})"
_AMPM = r"(?P<ampm>[ap])\.?\s?m\b\.?"
_ZH_AFTERNOON_PERIODS = frozenset({"下午", "晚上", "傍晚", "中午"})

_TIME_RES = (
    re.compile(rf"\b(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)(?:\s?{_AMPM})?(?![\w:])", _FLAGS),
    re.compile(rf"\b(?P<hour>1[0-2]|0?[1-9])(?:\.(?P<minute>[0-5]\d))?\s?{_AMPM}", _FLAGS),
    re.compile(r"\b(?:(?P<noon>noon|midday)|(?P<midnight>midnight))\b", _FLAGS),
    re.compile(rf"\b(?:(?P<half>half)|(?P<quarter>quarter))\s+(?:(?P<to>to)|past)\s+{_HOUR}\b", _FLAGS),
    # "half three" is British for 15:30; only with the hour in words, as "half 2 of them" is no time.
    re.compile(rf"\b(?P<half>half)\s+{_HOUR_WORD}\b", _FLAGS),
    re.compile(rf"\b{_HOUR}\s*o'?\s?clock\b", _FLAGS),
    # A bare "at 3": only when nothing number-like follows, so "at 3 pounds" or "at 3.5%" stay untouched.
    # Digits only: "at one point" is not a time.
    re.compile(
        r"\bat\s+(?P<val>(?P<hour>1[0-2]|0?[1-9]))(?![\w:%£$€]|[.,]\d|\s+(?:\d|pounds?|quid|dollars?|euros?|percent)\b)",
        _FLAGS,
    ),
)
# Chinese-numeral hours need a period word or 半/钟: on its own "一点" usually means "a little".
_ZH_TIME_RE = re.compile(
    r"(?P<period>上午|早上|早晨|中午|下午|晚上|傍晚|凌晨)?(?<![一二两三四五六七八九十\d])(?P<hour>\d{1,2}|十[一二]|[一二两三四五六七八九十])\s*[点點时]"
    r"(?:(?P<half>半)|(?P<quarter>一刻)|(?P<minute>[0-5]?\d)分?|(?P<oclock>钟))?"
)


def _daytime_hour(hour: int) -> int:
    """Read an hour given without am/pm: the kiosk's conversations are about opening hours, so 1-7 mean pm."""
    return hour + 12 if 1 <= hour <= 7 else hour


def _clock_time(groups: dict[str, str | None]) -> tuple[int, int]:
    """Turn a matched English time phrase into (hour, minute) on the 24-hour clock."""
    if groups.get("noon"):
        return 12, 0
    if groups.get("midnight"):
        return 0, 0
    hour_text = (groups["hour"] or "").lower()
    hour = _HOUR_WORDS.get(hour_text) or int(hour_text)
    minute = int(groups.get("minute") or 0)
    if groups.get("half"):
        minute = 30
    elif groups.get("quarter"):
        minute = 15
    if groups.get("to"):
        hour, minute = (hour - 2) % 12 + 1, 60 - minute
    ampm = (groups.get("ampm") or "").lower()
    if ampm:
        return hour % 12 + (12 if ampm == "p" else 0), minute
    if hour_text.startswith("0") or hour > 12:
        return hour, minute
    return _daytime_hour(hour), minute


def _chinese_clock_time(groups: dict[str, str | None]) -> tuple[int, int] | None:
    """Turn 下午3点 / 上午十点半 into (hour, minute); None for a bare Chinese numeral without period or 钟."""
    hour_text = groups["hour"] or ""
    period = groups.get("period")
    if not hour_text.isdigit() and not (period or groups.get("half") or groups.get("oclock")):
        return None
    hour = int(hour_text) if hour_text.isdigit() else sum(_ZH_NUMERALS[char] for char in hour_text)
    minute = 30 if groups.get("half") else 15 if groups.get("quarter") else int(groups.get("minute") or 0)
    if hour > 23:
        return None
    if period is None:
        return _daytime_hour(hour), minute
    # 中午 ("midday") spans 11 to 1: 中午11点 and 中午12点 are morning/noon, 中午1点 is 13:00.
    afternoon = period in _ZH_AFTERNOON_PERIODS and hour < 12 and not (period == "中午" and hour >= 11)
    return (hour + 12 if afternoon else hour), minute


def _times(text: str, _ctx: _Context) -> Iterator[Entity]:
    for pattern in _TIME_RES:
        for match in pattern.finditer(text):
            hour, minute = _clock_time(match.groupdict())
            yield _entity("time", text, match, f"{hour:02d}:{minute:02d}")
    for match in _ZH_TIME_RE.finditer(text):
        clock = _chinese_clock_time(match.groupdict())
        if clock is not None:
            yield _entity("time", text, match, f"{clock[0]:02d}:{clock[1]:02d}")


# ---------------------------------------------------------------------------------------- card_last4

# The words a Chinese customer puts before a card ending: 尾号4812, 后四位是4812, 最后四位数字是4812.
ZH_CARD_ENDING_CUE = r"(?:尾号|尾数|后四位|最后四位)(?:数字|号码)?(?:是|为)?"
_FOUR_DIGITS = r"(?<!\d)(?P<val>\d(?:[ -]?\d){3})(?![ -]?\d)"
_CARD_LAST4_RES = (
    re.compile(rf"\b(?:ending|ends?)\s+(?:(?:in|with)\s+)?{_FOUR_DIGITS}", _FLAGS),
    re.compile(
        r"\blast\s+(?:four|4)(?:\s+(?:digits|numbers))?(?:\s+of\s+(?:my|the)\s+card)?(?:\s+(?:are|is))?\s*[:-]?\s*"
        + _FOUR_DIGITS,
        _FLAGS,
    ),
    re.compile(rf"\bcard(?:\s+number)?\s*[:#]?\s*{_FOUR_DIGITS}", _FLAGS),
    re.compile(rf"{ZH_CARD_ENDING_CUE}\s*{_FOUR_DIGITS}", _FLAGS),
    # A reply that is nothing but four digits answers the kiosk's "which card?" question.
    re.compile(r"\A\s*(?P<val>\d(?:\s?\d){3})\s*[.!]?\s*\Z", _FLAGS),
)


def _card_last4s(text: str, _ctx: _Context) -> Iterator[Entity]:
    for pattern in _CARD_LAST4_RES:
        for match in pattern.finditer(text):
            yield _entity("card_last4", text, match, re.sub(r"\D", "", match.group("val")))


# ------------------------------------------------------------------------------------------ assembly


def _entity(kind: str, text: str, match: re.Match[str], value: str) -> Entity:
    """Build an entity spanning the match's "val" group when it has one (the value without its cue words)."""
    group = "val" if "val" in match.re.groupindex else 0
    start, end = match.span(group)
    return Entity(kind=kind, text=text[start:end], value=value, start=start, end=end)


# Earlier recognisers win overlaps: the more specific and better validated a recogniser, the earlier it comes.
_RECOGNISERS: tuple[Callable[[str, _Context], Iterator[Entity]], ...] = (
    _emails,
    _references,
    _phones,
    _amounts,
    _dates,
    _times,
    _card_last4s,
)


def extract_entities(text: str, *, today: datetime.date, region: str = "GB", currency: str = "GBP") -> list[Entity]:
    """Find every entity in `text`, non-overlapping and sorted by position.

    `today` anchors relative dates, `region` is the ISO country used to read national phone numbers,
    and `currency` is the ISO code assumed when an amount names no currency ("5k").
    """
    ctx = _Context(today=today, region=region, currency=currency)
    candidates = [(rank, entity) for rank, recognise in enumerate(_RECOGNISERS) for entity in recognise(text, ctx)]
    # Within one kind prefer the longest phrase ("day after tomorrow" over "tomorrow").
    candidates.sort(key=lambda pair: (pair[0], pair[1].start - pair[1].end, pair[1].start))
    taken: list[Entity] = []  # non-overlapping and sorted, so only the two neighbours can overlap a newcomer
    starts: list[int] = []
    for _rank, entity in candidates:
        index = bisect.bisect_right(starts, entity.start)
        before_is_clear = index == 0 or taken[index - 1].end <= entity.start
        after_is_clear = index == len(taken) or entity.end <= taken[index].start
        if before_is_clear and after_is_clear:
            taken.insert(index, entity)
            starts.insert(index, entity.start)
    return taken
