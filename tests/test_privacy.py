"""Redaction of personal data: what goes, what must stay, and that running it twice changes nothing."""

from __future__ import annotations

import time

import pytest

from firmware_app.privacy import mask_card_last4, mask_contact, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My card is 4111 1111 1111 1111", "My card is [CARD ****1111]"),
        ("card 4111-1111-1111-1234 expires soon", "card [CARD ****1234] expires soon"),
        ("4111111111111234", "[CARD ****1234]"),
        ("amex 3782 822463 10005", "amex [CARD ****0005]"),
        ("13 digits 4222222222225", "13 digits [CARD ****2225]"),
        ("19 digits 6011 0000 0000 0000 123", "19 digits [CARD ****0123]"),
        ("1234 5678 9012 3456 7890 1234", "[ID]"),  # too long for a card, still not kept
        ("卡号6222021234567890123", "卡号[CARD ****0123]"),
    ],
)
def test_card_numbers_keep_only_last_four(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("call me on 020 7946 0321", "GB", "call me on [PHONE]"),
        ("+44 20 7946 0321 or 07946 032112", "GB", "[PHONE] or [PHONE]"),
        ("(212) 555-0143", "US", "[PHONE]"),
        ("我的手机是13800138000", "CN", "我的手机是[PHONE]"),
        ("+86 138 0013 8000", "GB", "[PHONE]"),
    ],
)
def test_phone_numbers(text: str, region: str, expected: str) -> None:
    assert redact(text, region=region) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail John.Doe@Example.com please", "mail [EMAIL] please"),
        ("a.b+kiosk@mail.co.uk.", "[EMAIL]."),
        ("邮箱wang.li@example.cn谢谢", "邮箱[EMAIL]谢谢"),
    ],
)
def test_emails(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NI number QQ 12 34 56 C", "NI number [ID]"),
        ("my NI is qq123456c", "my NI is [ID]"),
        ("SSN 123-45-6789", "SSN [ID]"),
        ("身份证 11010519491231002X 号", "身份证 [ID] 号"),
        ("身份证110105194912310021", "身份证[ID]"),
        ("passport number 123456789", "passport number [ID]"),
        ("my passport is AB1234567", "my passport is [ID]"),
        ("Passport: 533401372", "Passport: [ID]"),
        ("sort code 12-34-56", "sort code [ACCOUNT]"),
        ("sort code is 123456", "sort code is [ACCOUNT]"),
        ("account number 12345678", "account number [ACCOUNT]"),
        ("sort code 12-34-56 account number 12345678", "sort code [ACCOUNT] account number [ACCOUNT]"),
        ("a/c 12345678", "a/c [ACCOUNT]"),
    ],
)
def test_identity_and_account_numbers(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I paid £1,250.00 yesterday",
        "transfer $20.50 and €100",
        "on 5/3/2027 at 15:30",
        "2026-12-01 at 3pm",
        "my card ending in 1234",
        "last four digits are 1 2 3 4",
        "ticket KB-7F3A2C",
        "REF-12345 and reference number AB123456",
        "ref 88231",
        "the code 123456 on the screen",
        "I want to withdraw 500 pounds",
        "my passport expired",
        "What's my balance?",
        "我想转账300元",
        "",
        "\x00\xff\xfe",
    ],
)
def test_leaves_non_personal_data_alone(text: str) -> None:
    assert redact(text) == text


def test_mixed_sentence() -> None:
    text = (
        "Hi, card 4111 1111 1111 1234 (ending in 1234) was charged £1,250.00 on 5/3/2027 at 15:30; "
        "call 020 7946 0321 or mail me@example.com, ticket KB-7F3A2C, NI QQ 12 34 56 C"
    )
    assert redact(text) == (
        "Hi, card [CARD ****1234] (ending in 1234) was charged £1,250.00 on 5/3/2027 at 15:30; "
        "call [PHONE] or mail [EMAIL], ticket KB-7F3A2C, NI [ID]"
    )


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1234, phone 020 7946 0321, me@example.com",
        "sort code 12-34-56 account number 12345678 passport 123456789",
        "QQ 12 34 56 C 123-45-6789 11010519491231002X",
        "[CARD ****1234] [PHONE] [EMAIL] [ID] [ACCOUNT]",
        "0086 138 0013 8000",
    ],
)
def test_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_long_input_is_fast() -> None:
    text = "call 020 7946 0321, card 4111 1111 1111 1111, £1,250.00. " * 180
    started = time.perf_counter()
    redacted = redact(text)
    assert time.perf_counter() - started < 2.0
    assert "4111" not in redacted and "7946" not in redacted
    assert redacted.count("[PHONE]") == redacted.count("[CARD ****1111]") == 180


@pytest.mark.parametrize("text", ["a" * 10_000, "1 " * 5_000, "x@" * 5_000])
def test_long_garbage_is_fast(text: str) -> None:
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(("last4", "shown"), [("1234", "•••• 1234"), ("0007", "•••• 0007"), (" 1 2 3 4 ", "•••• 1234")])
def test_mask_card_last4(last4: str, shown: str) -> None:
    assert mask_card_last4(last4) == shown


@pytest.mark.parametrize("last4", ["", "123", "12345", "abcd", "12a4", "١٢٣٤"])
def test_mask_card_last4_rejects_anything_but_four_digits(last4: str) -> None:
    with pytest.raises(ValueError, match="last four digits"):
        mask_card_last4(last4)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+447911123456", "+44 ••••••• 456"),
        ("jo.bloggs@example.com", "j•••@example.com"),
        ("07911123456", "••••••• 456"),
    ],
)
def test_contacts_are_masked_for_the_screen(value: str, shown: str) -> None:
    assert mask_contact(value) == shown
