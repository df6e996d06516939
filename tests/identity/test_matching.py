"""Profiles, blocking keys and pair scores (pure functions, no database)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.identity import matching, resident_id
from hub.identity.matching import Profile, blocking_keys, compare, jaro_winkler, profile_of

TODAY = date(2026, 1, 1)
RID = "44030419900307123" + resident_id.check_char("44030419900307123")
OTHER_RID = "44030419900307131" + resident_id.check_char("44030419900307131")


def patient(name=None, birth=None, gender=None, phone=None, rid=None, address=None, **kw):
    p = {"resourceType": "Patient", **kw}
    if name is not None:
        p["name"] = [name if isinstance(name, dict) else {"text": name}]
    if birth:
        p["birthDate"] = birth
    if gender:
        p["gender"] = gender
    if phone:
        p["telecom"] = [{"system": "phone", "value": phone}]
    if rid:
        p["identifier"] = [{"system": resident_id.SYSTEM, "value": rid}]
    if address:
        p["address"] = [{"text": address}]
    return p


def prof(**kw) -> Profile:
    return profile_of(patient(**kw), today=TODAY)


def test_same_valid_resident_id_is_certain_whatever_else_differs():
    m = compare(prof(name="张三", rid=RID), prof(name="Li Si", birth="1970-01-01", gender="female", rid=RID))
    assert m.grade == "certain" and m.score == 1.0


def test_two_different_valid_resident_ids_are_certainly_not():
    m = compare(prof(name="张三", birth="1990-03-07", rid=RID), prof(name="张三", birth="1990-03-07", rid=OTHER_RID))
    assert m.grade == "certainly-not" and m.score == 0.0
    assert not m.reviewable


def test_invalid_check_digit_is_not_a_resident_id():
    bad = RID[:17] + ("0" if RID[17] != "0" else "1")
    p = prof(name="张三", rid=bad)
    assert not p.resident_ids
    assert bad in p.other_ids
    assert not any(kind == "rid" for kind, _ in blocking_keys(p))
    # The same invalid number on both sides is evidence, not certainty.
    m = compare(p, prof(name="王五", rid=bad))
    assert m.grade != "certain"
    assert any(e.outcome == "unverified" for e in m.evidence)


def test_legacy_number_is_strong_evidence_but_not_certain():
    legacy = "440304900307123"
    m = compare(prof(name="张三", birth="1990-03-07", rid=legacy), prof(name="张三", birth="1990-03-07", rid=RID))
    assert m.grade == "probable"
    assert m.score < 1.0
    assert any(e.outcome == "legacy" for e in m.evidence)


def test_hanzi_and_pinyin_in_either_order_agree_phonetically():
    base = prof(name="张三", birth="1990-03-07", gender="male")
    for other in ({"family": "Zhang", "given": ["San"]}, {"text": "San ZHANG"}, {"text": "zhangsan"}):
        m = compare(base, prof(name=other, birth="1990-03-07", gender="male"))
        assert [e.outcome for e in m.evidence if e.field == "name"] == ["phonetic"], other
        assert m.reviewable


def test_surname_with_several_readings():
    # 单 reads shan as a surname; lazy pinyin alone would say dan.
    m = compare(prof(name="单雄信"), prof(name={"family": "Shan", "given": ["Xiongxin"]}))
    assert [e.outcome for e in m.evidence if e.field == "name"] == ["phonetic"]


def test_near_match_scores_and_grades():
    a = prof(name="张三", birth="1990-03-07", gender="male", phone="+86 138 0013 8000")
    exact_demo = compare(a, prof(name="张三", birth="1990-03-07", gender="male"))
    assert exact_demo.grade == "probable" and 0.9 < exact_demo.score < 1.0
    swapped_day_month = compare(a, prof(name="张三", birth="1990-07-03", gender="male", phone="13800138000"))
    assert swapped_day_month.grade == "probable"
    homophone = compare(a, prof(name="章三", birth="1990-03-07", gender="male"))
    assert homophone.grade == "possible" and homophone.reviewable
    other_sex_similar_name = compare(a, prof(name="张珊", birth="1990-03-07", gender="female"))
    assert other_sex_similar_name.grade is None
    only_birth = compare(a, prof(name="李四", birth="1990-03-07", gender="male"))
    assert only_birth.grade is None and only_birth.score < 0.01
    # More agreement never lowers the score.
    assert exact_demo.score > homophone.score > other_sex_similar_name.score


def test_address_similarity_on_chinese_text_without_spaces():
    a = prof(name="张三", birth="1990-03-07", address="广东省深圳市福田区华强北路1号")
    same = compare(a, prof(name="张三", birth="1990-03-07", address="深圳市福田区华强北路1号"))
    other = compare(a, prof(name="张三", birth="1990-03-07", address="北京市海淀区中关村大街27号"))
    assert [e.outcome for e in same.evidence if e.field == "address"] == ["agree"]
    assert [e.outcome for e in other.evidence if e.field == "address"] == ["disagree"]
    assert same.score > other.score


def test_resident_id_fills_missing_birth_date_and_sex():
    p = prof(name="张三", rid=RID)
    assert p.birth_date == "1990-03-07" and p.sex == "male"


def test_phone_normalisation():
    assert matching.normalize_phone("+86 138-0013-8000") == "13800138000"
    assert matching.normalize_phone("0086 13800138000") == "13800138000"
    assert matching.normalize_phone("0755-8888 1234") == "075588881234"
    assert matching.normalize_phone("000000000") is None
    assert matching.normalize_phone("123") is None


def test_blocking_keys():
    keys = blocking_keys(prof(name="张三", birth="1990-03-07", phone="13800138000", rid=RID))
    assert ("rid", RID) in keys and ("idn", RID) in keys
    assert ("nbd", "1990-03-07|zhangsan") in keys
    assert ("bdi", "1990-03-07|z") in keys
    assert ("tel", "13800138000") in keys
    # A pinyin record of the same person shares the name + birth date key.
    assert ("nbd", "1990-03-07|zhangsan") in blocking_keys(prof(name="Zhang San", birth="1990-03-07"))


def test_profile_json_round_trip():
    p = prof(name="张三", birth="1990-03-07", gender="male", phone="13800138000", rid=RID, address="深圳市福田区")
    assert Profile.from_json(p.to_json()) == p


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("martha", "marhta", 0.961),
        ("dixon", "dicksonx", 0.813),
        ("abc", "abc", 1.0),
        ("abc", "xyz", 0.0),
        ("", "a", 0.0),
    ],
)
def test_jaro_winkler_reference_values(a, b, expected):
    # Values from Winkler's paper examples.
    assert jaro_winkler(a, b) == pytest.approx(expected, abs=0.001)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
patient_like = st.fixed_dictionaries(
    {"resourceType": st.just("Patient")},
    optional=dict.fromkeys(
        ("identifier", "name", "birthDate", "gender", "telecom", "address", "id", "link", "meta"), json_values
    ),
)


@settings(max_examples=150, deadline=None)
@given(patient_like, patient_like)
def test_any_json_patient_profiles_and_compares_without_error(a, b):
    # $match takes client input as it comes: malformed elements are ignored, never a server error.
    pa, pb = profile_of(a), profile_of(b)
    blocking_keys(pa)
    m = compare(pa, pb)
    assert 0.0 <= m.score <= 1.0
    assert Profile.from_json(pa.to_json()) == pa


def test_a_landline_in_international_form_is_the_same_number_as_in_the_domestic_one():
    # the converter writes a number sent with its country code in international form, the trunk 0 of the area code
    # dropped (XTN ^PRN^PH^^86^0755^88881234 → +86 755 88881234, 7c3276b); another hospital sends 0755-88881234
    domestic = matching.normalize_phone("0755-8888 1234")
    assert matching.normalize_phone("+86 755 88881234") == domestic
    assert matching.normalize_phone("+86 0755 88881234") == domestic  # the trunk 0 kept, as senders write it too
    assert matching.normalize_phone("0086 755 88881234") == domestic
    assert matching.normalize_phone("+86 10 6512 3456") == matching.normalize_phone("010-6512 3456")  # Beijing
    assert matching.normalize_phone("+86 138 0013 8000") == "13800138000"  # a mobile has no trunk prefix
    assert matching.normalize_phone("86123456") == "86123456"  # a local number that begins with 86 is no prefix
