"""Remove personal data from customer text before it is stored or written to a log.

The kiosk keeps transcripts for tickets and hand-offs, and logs for the fleet; neither may hold a full card
number, a phone number, an e-mail address, an identity document number or bank account details. What the
dialogue genuinely needs (the last four digits of a card, amounts, dates, times, ticket references) is kept.

Redaction runs as an ordered list of substitutions, most specific first: an 18-digit Chinese resident ID is
replaced before the generic card-number rule could mistake it for a card. Every placeholder is free of the
patterns that produced it, so `redact` is idempotent: redacting an already-redacted text changes nothing.

Numbers arrive typed with any separators ("4111.1111.1111.1111", "5555/5555/5555/4444", "4111_1111_...") and
spoken: speech recognition and customers write digits as words ("four one one one", "oh" and "double" too),
in Chinese (四一一一, 幺 for 1, 〇 and 零 for 0) or mixed with digits. Every run of 13 to 19 digits is taken for a
card whether or not its Luhn check digit fits: a mistyped or misheard card is still the customer's card, and
nothing the kiosk needs is that long. Said as words, a run of 10 to 12 digits is a phone number; a shorter one
(the last four digits "one two three four") stays, as digits do. A Chinese mobile (1[3-9] and nine digits) is a
phone number in any region, with or without +86. E-mail addresses are also caught as said: "john dot smith at
example dot com", "john点smith艾特example点com".
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

__all__ = ["EMAIL_RE", "iter_phone_numbers", "mask_card_last4", "redact"]

_FLAGS = re.ASCII | re.IGNORECASE

EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,}\b", _FLAGS)

# An address as said or typed with words: "dot" or 点 for ".", "at" or 艾特 for "@". The local part and domain are
# bounded so a long run of "a dot a dot ..." costs linear time. A domain ends where no "dot" and label follow, and
# one that goes on to another "at" is part of someone's local part ("mail me at john dot smith at example dot com").
# Written separators take no spaces round them ("Hello. john" is no local part), spoken ones need them.
_DOT = r"(?:\.|\s+dot\s+|\s*[点點]\s*)"
_AT = r"(?:\s*(?:[@＠]|艾特)\s*|\s+at(?:\s+sign)?\s+)"
_LOCAL_SEP = rf"(?:{_DOT}|[_+-]|\s+(?:underscore|dash|hyphen|plus)\s+|\s*下划线\s*)"
_LABEL = r"[a-z0-9]+(?:(?:-|\s+(?:dash|hyphen)\s+)[a-z0-9]+)*"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![a-z0-9])(?P<local>[a-z0-9]+(?:{_LOCAL_SEP}[a-z0-9]+){{0,8}})(?P<at>{_AT})"
    rf"(?:{_LABEL}{_DOT}){{1,6}}[a-z]{{2,24}}(?![a-z0-9])(?!{_DOT}[a-z0-9])"
    rf"(?!(?:{_LOCAL_SEP}[a-z0-9]+){{0,8}}{_AT}{_LABEL}{_DOT})",
    _FLAGS,
)
_SPOKEN_DOT = re.compile(r"(?<![a-z])dot(?![a-z])|[点點]", _FLAGS)


def iter_phone_numbers(text: str, region: str) -> Iterator[tuple[int, int, str]]:
    """Yield (start, end, E.164) for every phone number libphonenumber finds in `text`.

    Leniency VALID (the library default) rejects digit runs that merely could be numbers, such as
    amounts, dates and account numbers, which the looser POSSIBLE leniency would happily accept. A number
    written as phone numbers are (a leading + or 0 and at least ten digits) is taken at POSSIBLE too: ranges
    kept for drama and testing (07700 900xxx) and newly issued ones are not "valid" yet still someone's phone.
    """
    found = [(m.start, m.end, m.number) for m in phonenumbers.PhoneNumberMatcher(text, region)]
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
        digits = sum(c.isdigit() for c in match.raw_string)
        if (
            match.raw_string[:1] in "+0"
            and digits >= 10
            and all(match.end <= s or match.start >= e for s, e, _ in found)
        ):
            found.append((match.start, match.end, match.number))
    for start, end, number in sorted(found, key=lambda f: f[0]):
        yield start, end, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_CARD_MIN_DIGITS, _CARD_MAX_DIGITS = 13, 19

# Each rule's replacement keeps the cue words (group 1 when present) and replaces only the number.
# Chinese resident ID: 6-digit region, a 19xx/20xx birth date, 3-digit sequence, check digit or X. It goes before
# the card rule, which would take its 18 digits for a card.
_RESIDENT_ID = re.compile(
    r"(?<![0-9a-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dx](?![0-9a-z])", _FLAGS
)
# The other identifiers go after the card rule, so a card typed 411-11-1111-... is not half taken for an SSN.
_ID_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # UK National Insurance number, e.g. QQ 12 34 56 C (prefix letters are not validated: QQ is the
    # specimen prefix and still must not be stored).
    (re.compile(r"\b[a-z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[a-d]\b", _FLAGS), "[ID]"),
    # US Social Security number, not the middle of a longer number ("+44 700-00-0000-0" is a phone number).
    (re.compile(r"(?<![\d+])(?<!\d[ ./_-])\d{3}-\d{2}-\d{4}(?![ ./_-]?\d)", _FLAGS), "[ID]"),
    # Passport numbers look like any other code, so only when the customer says it is one.
    (
        re.compile(r"\b(passport(?:\s+(?:number|no\.?|num))?(?:\s+is)?\s*[:#]?\s*)(?=[a-z]*\d)[a-z0-9]{6,9}\b", _FLAGS),
        r"\1[ID]",
    ),
    (re.compile(r"\b(sort\s*code(?:\s+is)?\s*[:#]?\s*)\d{2}[-\s]?\d{2}[-\s]?\d{2}\b", _FLAGS), r"\1[ACCOUNT]"),
    (
        re.compile(r"\b((?:account|acct|a/c)(?:\s+(?:number|no\.?|num))?(?:\s+is)?\s*[:#]?\s*)\d{8}\b", _FLAGS),
        r"\1[ACCOUNT]",
    ),
)
# A run of digits, each gap spaces or one of . / _ - and the Chinese commas speech recognition writes at pauses,
# with spaces either side of it allowed; a leading "+" marks a phone number instead. The ASCII comma is no
# separator: it groups thousands in amounts.
_DIGIT_RUN = re.compile(r"(?<![\d+])\d(?:(?: *[./_\-，、] *| +)?\d)*")
# A Chinese mobile number: +86, 0086 or (+86) optional, then 1[3-9] and nine digits, spaces, dashes or Chinese
# commas anywhere.
_CN_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)86[\s-]?|\(\+?86\)\s?)?1[\s\-，、]?[3-9](?:[\s\-，、]?\d){9}(?!\d)")

# Digits as words: English ("oh" and "o" are zeros inside a run), Chinese (幺 is how a 1 is read in a string of
# digits), and the financial capitals written on forms.
_WORD_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "零": "0", "〇": "0", "幺": "1", "一": "1", "壹": "1", "二": "2", "两": "2", "贰": "2", "三": "3", "叁": "3",
    "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7", "八": "8", "捌": "8",
    "九": "9", "玖": "9",
}  # fmt: skip
_REPEATS = {"double": 2, "triple": 3}
_EN_WORDS = "|".join(sorted((w for w in [*_WORD_DIGITS, *_REPEATS] if w.isascii()), key=len, reverse=True))
_ZH_DIGITS = "".join(w for w in _WORD_DIGITS if not w.isascii())
_SPOKEN_TOKEN = rf"(?:(?<![a-z])(?:double|triple)\s+)?(?:(?<![a-z])(?:{_EN_WORDS})(?![a-z])|\d|[{_ZH_DIGITS}])"
# Digits and digit words in a row, with any separators between them, after an optional plus (加 in Chinese).
_SPOKEN_RUN = re.compile(rf"(?:(?<![a-z])plus\s+|\+|加)?{_SPOKEN_TOKEN}(?:[\s,.、，/_-]*{_SPOKEN_TOKEN})*", _FLAGS)
_SPOKEN_PIECE = re.compile(rf"{_EN_WORDS}|\d|[{_ZH_DIGITS}]", _FLAGS)
_SPOKEN_PHONE_MIN_DIGITS = 10


def mask_card_numbers(text: str) -> tuple[str, list[str]]:
    """``text`` with every full card number (13-19 digits) shown as "•••• 1234", and the endings found.

    The kiosk reads a customer's words through this before anything keeps them, so a card number typed or said
    in full is never stored, logged or sent, while its last four digits still identify the card."""
    endings: list[str] = []

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if not _CARD_MIN_DIGITS <= len(digits) <= _CARD_MAX_DIGITS:
            return match.group()
        endings.append(digits[-4:])
        return mask_card_last4(digits[-4:])

    return _DIGIT_RUN.sub(mask, text), endings


def _redact_card_number(match: re.Match[str]) -> str:
    """Replace a 13-19 digit run with its last four; a longer run is some other identifier; shorter ones stay.

    A run that starts 00 is an international call ("0086 138 0013 8000"): no card number starts with 0."""
    digits = re.sub(r"\D", "", match.group())
    if len(digits) < _CARD_MIN_DIGITS:
        return match.group()
    return "[PHONE]" if digits.startswith("00") else _long_number(digits)


def _long_number(digits: str) -> str:
    """The placeholder for 13 digits or more: a card's last four, or [ID] past the longest card."""
    return "[ID]" if len(digits) > _CARD_MAX_DIGITS else f"[CARD ****{digits[-4:]}]"


def _spoken_digits(spoken: str) -> str:
    """The digits a run of digit words and digits stands for: "double four one" is "441"."""
    digits: list[str] = []
    repeat = 1
    for piece in _SPOKEN_PIECE.findall(spoken.lower()):
        if piece in _REPEATS:
            repeat = _REPEATS[piece]
            continue
        digits.append(_WORD_DIGITS.get(piece, piece) * repeat)
        repeat = 1
    return "".join(digits)


def _redact_spoken_number(match: re.Match[str]) -> str:
    """A card or phone number said in words, or in digits with spoken pauses; short runs stay."""
    spoken = match.group()
    if not re.search(r"[^\d\s,.、，/_+-]", spoken) and ", " not in spoken:
        # Digits only are the digit rules' to read, unless speech recognition wrote its pauses as ", " between
        # them ("0 7, 9 7, 6 1 6"), which no amount has: a comma that groups thousands has no space after it.
        return spoken
    digits = _spoken_digits(spoken)
    if len(digits) < _SPOKEN_PHONE_MIN_DIGITS:
        return spoken
    dialled = spoken[0] in "+加" or spoken[:4].lower() == "plus" or digits.startswith("00")
    return "[PHONE]" if dialled or len(digits) < _CARD_MIN_DIGITS else _long_number(digits)


def _redact_spoken_emails(text: str) -> str:
    """Replace each address, written or said, with [EMAIL]. A candidate that is no address is skipped by one
    character only, so an address inside it ("me at 0.aa" of "me at 0.aa.0@0.com") is still found."""
    pieces: list[str] = []
    position = start = 0
    while match := _SPOKEN_EMAIL.search(text, start):
        if _is_address(match):
            pieces += [text[position : match.start()], "[EMAIL]"]
            position = start = match.end()
        else:
            start = match.start() + 1
    return "".join(pieces) + text[position:]


def _is_address(match: re.Match[str]) -> bool:
    """False for a plain "at" with nothing else said or written: "I was at Leeds.It" is no address."""
    said_at = "@" not in match["at"] and "＠" not in match["at"] and "艾特" not in match["at"]
    return not (said_at and not _SPOKEN_DOT.search(match.group()) and match["local"].isalnum())


def _redact_phone_numbers(text: str, region: str) -> str:
    """Replace each valid phone number (libphonenumber's reading for `region`) with [PHONE]."""
    pieces: list[str] = []
    position = 0
    for start, end, _e164 in iter_phone_numbers(text, region):
        pieces += [text[position:start], "[PHONE]"]
        position = end
    return "".join(pieces) + text[position:]


def redact(text: str, *, region: str = "GB") -> str:
    """Return `text` with personal data replaced by placeholders; `region` reads national phone numbers."""
    text = _redact_spoken_emails(text)  # first: "john dot smith@x.com" is one address
    text = EMAIL_RE.sub("[EMAIL]", text)
    text = _RESIDENT_ID.sub("[ID]", text)
    text = _SPOKEN_RUN.sub(_redact_spoken_number, text)
    text = _DIGIT_RUN.sub(_redact_card_number, text)
    for pattern, replacement in _ID_RULES:
        text = pattern.sub(replacement, text)
    # libphonenumber before the Chinese mobile rule, which would take the digits after "+49 " for a Chinese mobile
    text = _redact_phone_numbers(text, region)
    return _CN_MOBILE.sub("[PHONE]", text)


def mask_card_last4(last4: str) -> str:
    """Show a card ending on screen as "•••• 1234", so a customer can recognise the card without it being read out."""
    digits = "".join(last4.split())
    if not re.fullmatch(r"\d{4}", digits, re.ASCII):
        raise ValueError(f"expected the last four digits of a card, got {last4!r}")
    return f"•••• {digits}"


def mask_contact(value: str) -> str:
    """Show a phone number or e-mail address on screen so its owner recognises it and onlookers learn little:
    "+44 ••••••• 123", "j•••@example.com"."""
    if "@" in value:
        user, _, domain = value.partition("@")
        return f"{user[:1]}•••@{domain}"
    digits = value.lstrip("+")
    country = value[: len(value) - len(digits)] + digits[:2] if value.startswith("+") else ""
    return f"{country} {'•' * 7} {digits[-3:]}".strip()


def mask_for_display(text: str, *, region: str = "GB") -> str:
    """What the screen may show of a customer's words: card numbers as "•••• 1234", phone numbers and e-mail
    addresses masked as in ``mask_contact``; everything else unchanged."""
    text = EMAIL_RE.sub(lambda m: mask_contact(m.group()), text)
    text, _endings = mask_card_numbers(text)
    pieces: list[str] = []
    position = 0
    for start, end, e164 in iter_phone_numbers(text, region):
        pieces += [text[position:start], mask_contact(e164)]
        position = end
    return "".join(pieces) + text[position:]
