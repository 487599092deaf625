"""Remove personal data from customer text before it is stored or written to a log.

The kiosk keeps transcripts for tickets and hand-offs, and logs for the fleet; neither may hold a full card
number, a phone number, an e-mail address, an identity document number or bank account details. What the
dialogue genuinely needs (the last four digits of a card, amounts, dates, times, ticket references) is kept.

Redaction runs as an ordered list of substitutions, most specific first: an 18-digit Chinese resident ID is
replaced before the generic card-number rule could mistake it for a card. Every placeholder is free of the
patterns that produced it, so `redact` is idempotent: redacting an already-redacted text changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

__all__ = ["EMAIL_RE", "iter_phone_numbers", "mask_card_last4", "redact"]

_FLAGS = re.ASCII | re.IGNORECASE

EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,}\b", _FLAGS)


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
_ID_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Chinese resident ID: 6-digit region, a 19xx/20xx birth date, 3-digit sequence, check digit or X.
    (
        re.compile(
            r"(?<![0-9a-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dx](?![0-9a-z])", _FLAGS
        ),
        "[ID]",
    ),
    # UK National Insurance number, e.g. QQ 12 34 56 C (prefix letters are not validated: QQ is the
    # specimen prefix and still must not be stored).
    (re.compile(r"\b[a-z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[a-d]\b", _FLAGS), "[ID]"),
    # US Social Security number.
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b", _FLAGS), "[ID]"),
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
# A run of digits with single spaces or dashes between them; a leading "+" marks a phone number instead.
_DIGIT_RUN = re.compile(r"(?<![\d+])\d(?:[ -]?\d)*")


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
    """Replace a 13-19 digit run with its last four; a longer run is some other identifier; shorter ones stay."""
    digits = re.sub(r"\D", "", match.group())
    if len(digits) > _CARD_MAX_DIGITS:
        return "[ID]"
    if len(digits) >= _CARD_MIN_DIGITS:
        return f"[CARD ****{digits[-4:]}]"
    return match.group()


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
    text = EMAIL_RE.sub("[EMAIL]", text)
    for pattern, replacement in _ID_RULES:
        text = pattern.sub(replacement, text)
    text = _DIGIT_RUN.sub(_redact_card_number, text)
    return _redact_phone_numbers(text, region)


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
