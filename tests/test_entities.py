"""Entity extraction: every kind, its normalised value and span, and the ways it must not misfire."""

from __future__ import annotations

import datetime
import itertools
import time

import pytest

from firmware_app.nlu.entities import Entity, extract_entities

TODAY = datetime.date(2026, 11, 21)  # a Saturday


def found(text: str, **kwargs: str) -> list[tuple[str, str]]:
    return [(entity.kind, entity.value) for entity in extract_entities(text, today=TODAY, **kwargs)]


def test_today_is_a_saturday() -> None:
    assert TODAY.weekday() == 5


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Can I send £50 to my son?", "50.00 GBP"),
        ("50 pounds please", "50.00 GBP"),
        ("it cost 50 quid", "50.00 GBP"),
        ("$20.50", "20.50 USD"),
        ("20 dollars", "20.00 USD"),
        ("€100", "100.00 EUR"),
        ("EUR 100", "100.00 EUR"),
        ("USD50", "50.00 USD"),
        ("100 euros", "100.00 EUR"),
        ("£1,250.75", "1250.75 GBP"),
        ("1,250.75 pounds", "1250.75 GBP"),
        ("£0.99", "0.99 GBP"),
        ("5k", "5000.00 GBP"),
        ("£5k", "5000.00 GBP"),
        ("$1.5k", "1500.00 USD"),
        ("pay 5 grand", "5000.00 GBP"),
        ("5 pence", "0.05 GBP"),
        ("¥300", "300.00 CNY"),
        ("￥300", "300.00 CNY"),
        ("300元", "300.00 CNY"),
        ("300块钱", "300.00 CNY"),
        ("300 yuan", "300.00 CNY"),
        ("人民币300", "300.00 CNY"),
        ("300人民币", "300.00 CNY"),
        ("100 CNY", "100.00 CNY"),
        ("我想转账300元给妈妈", "300.00 CNY"),
        ("fifty pounds", "50.00 GBP"),
        ("twenty-five quid", "25.00 GBP"),
        ("a hundred euros", "100.00 EUR"),
        ("two hundred and fifty pounds", "250.00 GBP"),
        ("two thousand dollars", "2000.00 USD"),
    ],
)
def test_amounts(text: str, value: str) -> None:
    assert found(text) == [("amount", value)]


def test_amount_span_covers_the_currency() -> None:
    [entity] = extract_entities("send 50 pounds now", today=TODAY)
    assert entity == Entity(kind="amount", text="50 pounds", value="50.00 GBP", start=5, end=14)


def test_default_currency_applies_to_multiplier_only_amounts() -> None:
    assert found("5k", currency="EUR") == [("amount", "5000.00 EUR")]
    assert found("£5k", currency="EUR") == [("amount", "5000.00 GBP")]


@pytest.mark.parametrize(
    "text",
    ["I paid 20.50 for 3 items", "withdraw 200", "The fee was 12.5%", "I have 2 accounts", "1,250.75", "room 101"],
)
def test_bare_numbers_are_not_amounts(text: str) -> None:
    assert [kind for kind, _ in found(text)] == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("today", "2026-11-21"),
        ("tonight", "2026-11-21"),
        ("tomorrow", "2026-11-22"),
        ("yesterday", "2026-11-20"),
        ("the day after tomorrow", "2026-11-23"),
        ("day after tomorrow", "2026-11-23"),
        ("Saturday", "2026-11-21"),  # today's own weekday name means today
        ("Sunday", "2026-11-22"),
        ("Tuesday", "2026-11-24"),
        ("Can I come in on Monday?", "2026-11-23"),
        ("next Tuesday", "2026-11-24"),
        ("next Saturday", "2026-11-28"),
        ("next Sunday", "2026-11-22"),  # ambiguous: the next occurrence after today
        ("this Friday", "2026-11-27"),
        ("last Monday", "2026-11-16"),
        ("last Saturday", "2026-11-14"),
        ("on the 5th", "2026-12-05"),
        ("on the 21st", "2026-11-21"),
        ("by the 30th", "2026-11-30"),
        ("on the 31st", "2026-12-31"),  # November has no 31st
        ("5 March", "2027-03-05"),
        ("5th of March", "2027-03-05"),
        ("March 5th", "2027-03-05"),
        ("March 5", "2027-03-05"),
        ("Mar. 5th, 2028", "2028-03-05"),
        ("the 2nd of December 2026", "2026-12-02"),
        ("December 2nd", "2026-12-02"),
        ("21st November", "2026-11-21"),
        ("20 November", "2027-11-20"),  # yesterday's date named without a year is next year's
        ("29 Feb", "2028-02-29"),
        ("5/3/2027", "2027-03-05"),
        ("5.3.2027", "2027-03-05"),
        ("12/11/26", "2026-11-12"),
        ("2026-12-01", "2026-12-01"),
        ("2026/12/01", "2026-12-01"),
        ("今天", "2026-11-21"),
        ("明天", "2026-11-22"),
        ("后天", "2026-11-23"),
        ("大后天", "2026-11-24"),
        ("星期二", "2026-11-24"),
        ("周二", "2026-11-24"),
        ("礼拜六", "2026-11-21"),
        ("星期天", "2026-11-22"),
        ("下周二", "2026-11-24"),
        ("下周日", "2026-11-29"),  # 下周 is the calendar week after this one
        ("下个星期五", "2026-11-27"),
        ("上周五", "2026-11-13"),
        ("12月5日", "2026-12-05"),
        ("12月5号", "2026-12-05"),
        ("2027年1月2日", "2027-01-02"),
    ],
)
def test_dates(text: str, value: str) -> None:
    assert found(text) == [("date", value)]


@pytest.mark.parametrize(
    "text", ["31/2/2027", "This is the 3rd time I've called", "the 5th", "may I ask", "I sat down", "周末", "next week"]
)
def test_not_dates(text: str) -> None:
    assert [kind for kind, _ in found(text)] == []


def test_longest_relative_date_wins() -> None:
    [entity] = extract_entities("the day after tomorrow", today=TODAY)
    assert (entity.start, entity.end, entity.value) == (0, 22, "2026-11-23")


def test_date_resolves_against_given_today() -> None:
    monday = datetime.date(2026, 11, 23)
    assert [e.value for e in extract_entities("next Tuesday", today=monday)] == ["2026-11-24"]
    assert [e.value for e in extract_entities("Monday", today=monday)] == ["2026-11-23"]
    assert [e.value for e in extract_entities("next Monday", today=monday)] == ["2026-11-30"]
    assert [e.value for e in extract_entities("下周二", today=monday)] == ["2026-12-01"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3pm", "15:00"),
        ("3 pm", "15:00"),
        ("3 p.m.", "15:00"),
        ("3:30pm", "15:30"),
        ("3.30pm", "15:30"),
        ("10am", "10:00"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("15:30", "15:30"),
        ("08:30", "08:30"),
        ("3:30", "15:30"),  # no am/pm: daytime
        ("half past three", "15:30"),
        ("half three", "15:30"),
        ("quarter past 10", "10:15"),
        ("quarter to four", "15:45"),
        ("3 o'clock", "15:00"),
        ("see you at 3", "15:00"),
        ("at 3, please", "15:00"),
        ("at 11", "11:00"),
        ("at 12", "12:00"),
        ("noon", "12:00"),
        ("midday", "12:00"),
        ("midnight", "00:00"),
        ("下午3点", "15:00"),
        ("下午三点", "15:00"),
        ("上午10点半", "10:30"),
        ("上午十点半", "10:30"),
        ("晚上8点", "20:00"),
        ("中午12点", "12:00"),
        ("中午1点", "13:00"),
        ("下午3点15分", "15:15"),
        ("三点钟", "15:00"),
    ],
)
def test_times(text: str, value: str) -> None:
    assert found(text) == [("time", value)]


@pytest.mark.parametrize(
    "text",
    ["at one point", "at 3 pounds", "at 3.5%", "我想问一点事情", "half 2 of them", "I have 2 apples", "at 30 days"],
)
def test_not_times(text: str) -> None:
    assert "time" not in [kind for kind, _ in found(text)]


def test_at_hour_span_is_the_number() -> None:
    [entity] = extract_entities("at 3", today=TODAY)
    assert (entity.text, entity.start, entity.end) == ("3", 3, 4)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("my card ending in 1234 was declined", "1234"),
        ("the one that ends with 1234", "1234"),
        ("last four digits are 1234", "1234"),
        ("last 4: 1234", "1234"),
        ("the last four of my card are 1234", "1234"),
        ("card 1234", "1234"),
        ("card number 1234", "1234"),
        ("ending in 12 34", "12 34"),
        ("1 2 3 4", "1 2 3 4"),
        ("1234", "1234"),
        ("  1234. ", "1234"),
        ("尾号1234", "1234"),
    ],
)
def test_card_last4(text: str, span: str) -> None:
    [entity] = extract_entities(text, today=TODAY)
    assert (entity.kind, entity.value, entity.text) == ("card_last4", "1234", span)
    assert text[entity.start : entity.end] == span


@pytest.mark.parametrize(
    "text",
    ["card 1234 5678 9012 3456", "I have 1234 reasons", "ending in 12345", "12345", "my pin is 1234 ok", "1 2 3"],
)
def test_not_card_last4(text: str) -> None:
    assert "card_last4" not in [kind for kind, _ in found(text)]


@pytest.mark.parametrize(
    ("text", "region", "value"),
    [
        ("call me on 020 7946 0321", "GB", "+442079460321"),
        ("+44 20 7946 0321", "GB", "+442079460321"),
        ("my mobile is 07946 032112", "GB", "+447946032112"),
        ("+1 212 555 0143", "GB", "+12125550143"),
        ("(212) 555-0143", "US", "+12125550143"),
        ("我的手机是13800138000", "CN", "+8613800138000"),
    ],
)
def test_phones(text: str, region: str, value: str) -> None:
    assert found(text, region=region) == [("phone", value)]


def test_phone_digits_are_not_also_card_or_time() -> None:
    assert found("call 07946 032112 about the card ending 1234") == [
        ("phone", "+447946032112"),
        ("card_last4", "1234"),
    ]
    assert found("0207 946 0321") == [("phone", "+442079460321")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Email John.Doe@Example.COM please", "john.doe@example.com"),
        ("a.b+kiosk@mail.co.uk.", "a.b+kiosk@mail.co.uk"),
        ("邮箱是wang.li@example.cn谢谢", "wang.li@example.cn"),
    ],
)
def test_emails(text: str, value: str) -> None:
    assert found(text) == [("email", value)]


@pytest.mark.parametrize("text", ["x@y", "hello@@x.com", "@home", "me at example dot com"])
def test_not_emails(text: str) -> None:
    assert "email" not in [kind for kind, _ in found(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("REF-12345", "REF-12345"),
        ("ref 88231", "88231"),
        ("ref: 88231", "88231"),
        ("reference number AB123456", "AB123456"),
        ("my reference is ab123456", "AB123456"),
        ("ticket KB-7F3A2C", "KB-7F3A2C"),
        ("kb-7f3a2c", "KB-7F3A2C"),
        ("Ticket: 123456", "123456"),
        ("case no. 4411-22", "4411-22"),
    ],
)
def test_references(text: str, value: str) -> None:
    assert found(text) == [("reference", value)]


@pytest.mark.parametrize("text", ["REF-ABC", "ref 12", "e-mail", "COVID-19", "in case you know", "a follow-up"])
def test_not_references(text: str) -> None:
    assert "reference" not in [kind for kind, _ in found(text)]


def test_mixed_sentence_sorted_and_non_overlapping() -> None:
    text = "My card ending in 1234 was charged £20 on 12/11/2026 at 14:05, ref 88231, call 020 7946 0321"
    entities = extract_entities(text, today=TODAY)
    assert [(e.kind, e.value) for e in entities] == [
        ("card_last4", "1234"),
        ("amount", "20.00 GBP"),
        ("date", "2026-11-12"),
        ("time", "14:05"),
        ("reference", "88231"),
        ("phone", "+442079460321"),
    ]
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
    for left, right in itertools.pairwise(entities):
        assert left.end <= right.start


def test_mixed_english_and_chinese() -> None:
    assert found("我想 transfer £50 明天下午3点, card ending 4821") == [
        ("amount", "50.00 GBP"),
        ("date", "2026-11-22"),
        ("time", "15:00"),
        ("card_last4", "4821"),
    ]
    assert found("我想12月5号上午10点半来") == [("date", "2026-12-05"), ("time", "10:30")]


def test_date_is_not_an_amount_and_amount_is_not_a_date() -> None:
    assert found("5/3/2027") == [("date", "2027-03-05")]
    assert found("£5 on 5/3/2027 at 3pm") == [("amount", "5.00 GBP"), ("date", "2027-03-05"), ("time", "15:00")]
    assert found("at 5 March") == [("date", "2027-03-05")]
    assert found("at 3 pounds") == [("amount", "3.00 GBP")]


@pytest.mark.parametrize(
    "text",
    [
        "What's my balance?",
        "How do I change my PIN?",
        "How many times can I withdraw cash in a day?",
        "I lost my card",
        "Can I speak to someone about a loan?",
        "我的卡丢了，怎么办？",
    ],
)
def test_plain_questions_have_no_entities(text: str) -> None:
    assert extract_entities(text, today=TODAY) == []


@pytest.mark.parametrize("text", ["", "   ", "\x00\xff\xfe\x01", "\ufffd\ufffd", "🙂🙂🙂", "\n\t\r"])
def test_empty_and_garbage(text: str) -> None:
    assert extract_entities(text, today=TODAY) == []


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10_000,
        "1 " * 5_000,
        "one two " * 1_250,
        "x@" * 5_000,
        "AB-" * 3_333,
        "1." * 5_000,
        "\x00\xff" * 5_000,
        "£1 at 3 on the 5th 020 7946 0321 " * 300,
        "£1 " * 3_333,
    ],
)
def test_long_input_is_fast(text: str) -> None:
    started = time.perf_counter()
    extract_entities(text, today=TODAY)
    assert time.perf_counter() - started < 2.0


def test_long_input_finds_everything() -> None:
    text = "Pay £1 tomorrow. " * 500
    entities = extract_entities(text, today=TODAY)
    assert len(entities) == 1000
    assert {e.value for e in entities} == {"1.00 GBP", "2026-11-22"}
