"""The resident identity card number checker, against check characters computed here from the standard."""

from __future__ import annotations

from datetime import date

import pytest

from hub.identity import resident_id

# GB 11643-1999 weights, written out as the standard lists them (not derived from the module under test).
STANDARD_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
# Remainder of the weighted sum mod 11 → check character, as tabulated in the standard.
STANDARD_TABLE = {0: "1", 1: "0", 2: "X", 3: "9", 4: "8", 5: "7", 6: "6", 7: "5", 8: "4", 9: "3", 10: "2"}
TODAY = date(2026, 1, 1)


def full(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, STANDARD_WEIGHTS, strict=True))
    return first17 + STANDARD_TABLE[total % 11]


def wrong_check(number: str) -> str:
    right = number[17]
    return number[:17] + next(c for c in "0123456789X" if c != right)


def test_published_example_from_the_standard():
    # The worked example printed in GB 11643-1999: a woman born 1949-12-31 in Chaoyang district, Beijing.
    parsed = resident_id.parse("11010519491231002X", today=TODAY)
    assert parsed is not None
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"
    assert parsed.region == "110105"
    assert parsed.province == "11"


@pytest.mark.parametrize(
    ("first17", "born", "sex"),
    [
        ("44030419900307123", date(1990, 3, 7), "male"),  # Shenzhen Futian, sequence 123 odd
        ("31010120000229004", date(2000, 2, 29), "female"),  # leap day in a leap century year
        ("51010719851111888", date(1985, 11, 11), "female"),
        ("65010219700101001", date(1970, 1, 1), "male"),
        ("81000019950505005", date(1995, 5, 5), "male"),  # Hong Kong residents' residence permit
    ],
)
def test_valid_numbers(first17, born, sex):
    number = full(first17)
    parsed = resident_id.parse(number, today=TODAY)
    assert parsed is not None, number
    assert parsed.value == number
    assert parsed.birth_date == born
    assert parsed.sex == sex
    assert resident_id.validate(number, today=TODAY)
    assert resident_id.check_char(first17) == number[17]


def test_every_check_character_including_x_is_reachable_and_only_the_right_one_passes():
    seen = set()
    for seq in range(100, 400):
        number = full(f"44030419900307{seq:03d}")
        seen.add(number[17])
        assert resident_id.validate(number, today=TODAY)
        for c in "0123456789X":
            if c != number[17]:
                assert not resident_id.validate(number[:17] + c, today=TODAY)
    assert seen == set("0123456789X")


def test_x_is_case_insensitive_and_spacing_full_width_tolerated():
    assert resident_id.validate("11010519491231002x", today=TODAY)
    assert resident_id.validate(" 110105 19491231 002X ", today=TODAY)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002X")  # ０-９ and Ｘ
    parsed = resident_id.parse(full_width, today=TODAY)
    assert parsed is not None and parsed.value == "11010519491231002X"


@pytest.mark.parametrize(
    "first17",
    [
        "44030419900230123",  # 30 February
        "44030419001301123",  # month 13
        "44030419000229123",  # 1900 is not a leap year
        "44030427000101123",  # far future
        "44030418000101123",  # before 1850
        "44030420260615123",  # after TODAY
    ],
)
def test_bad_birth_dates_fail_even_with_a_right_check_character(first17):
    assert not resident_id.validate(full(first17), today=TODAY)


@pytest.mark.parametrize(
    "first17",
    [
        "99030419900307123",  # no province 99
        "71010119900307123",  # Taiwan province code: not issued on resident cards
        "10030419900307123",  # no province 10
        "44000019900307123",  # a bare province code is not a residence
        "44030019900307123",  # nor a bare prefecture code
        "81010119900307123",  # residence permits carry 810000 exactly
    ],
)
def test_bad_regions_fail_even_with_a_right_check_character(first17):
    assert not resident_id.validate(full(first17), today=TODAY)


@pytest.mark.parametrize(
    "value",
    ["", "1101051949123100", "11010519491231002XX", "1101051949123100AX", "X1010519491231002", None, 11010519491231002],
)
def test_malformed_values(value):
    assert not resident_id.validate(value, today=TODAY)
    assert resident_id.parse(value, today=TODAY) is None


def test_wrong_check_character_never_validates():
    for first17 in ("44030419900307123", "11010519491231002", "31010120000229004"):
        assert not resident_id.validate(wrong_check(full(first17)), today=TODAY)


def test_legacy_15_digit_numbers_are_not_valid_but_convert():
    legacy = "110105491231002"  # region, YYMMDD, sequence: the pre-1999 form of the standard's example
    assert not resident_id.validate(legacy, today=TODAY)
    assert resident_id.parse(legacy, today=TODAY) is None
    assert resident_id.from_legacy(legacy, today=TODAY) == "11010519491231002X"
    assert resident_id.from_legacy("440304900230123", today=TODAY) is None  # 30 February
    assert resident_id.from_legacy("11010519491231002X", today=TODAY) is None


def test_check_char_rejects_bad_input():
    with pytest.raises(ValueError):
        resident_id.check_char("1234")
    with pytest.raises(ValueError):
        resident_id.check_char("1101051949123100X")


def test_identifier_declarations():
    assert resident_id.is_resident_id_identifier({"system": resident_id.SYSTEM, "value": "x"})
    assert resident_id.is_resident_id_identifier({"type": {"coding": [{"code": "NNCHN"}]}, "value": "x"})
    assert not resident_id.is_resident_id_identifier({"system": "urn:oid:2.16.156.10011.1.5", "value": "x"})
    assert not resident_id.is_resident_id_identifier("nope")


def test_a_foreigners_permanent_residence_id_card_of_2023():
    # 外国人永久居留身份证 (2023): 9, the province that issued it (11 Beijing), the holder's nationality (840, ISO
    # 3166 numeric), the birth date, the sequence (odd: a man) and the GB 11643 check character
    number = full("91184019850615001")
    parsed = resident_id.parse(number, today=TODAY)
    assert parsed is not None, number
    assert (parsed.birth_date, parsed.sex) == (date(1985, 6, 15), "male")
    assert (parsed.region, parsed.province) == ("911840", "11")
    assert parsed.is_foreigners_permanent_residence
    assert not parsed.is_residence_permit
    assert not resident_id.parse(full("11010519491231002"), today=TODAY).is_foreigners_permanent_residence


@pytest.mark.parametrize(
    "first17",
    [
        "90084019850615001",  # no province 00
        "98184019850615001",  # issued by a mainland province, not 81 (Hong Kong)
        "97184019850615001",  # nor 71 (Taiwan)
        "91100019850615001",  # no nationality 000
        "91184019851315001",  # month 13
    ],
)
def test_a_foreigners_permanent_residence_id_card_with_a_bad_province_nationality_or_date_fails(first17):
    assert not resident_id.validate(full(first17), today=TODAY)


def test_a_foreigners_permanent_residence_id_card_with_a_wrong_check_character_fails():
    assert not resident_id.validate(wrong_check(full("91184019850615001")), today=TODAY)
    assert resident_id.from_legacy("911840850615001", today=TODAY) is None  # it never had a 15-digit form
