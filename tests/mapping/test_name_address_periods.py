"""When a name or an address was valid (HumanName.period, Address.period), the name's use (table 0200) and the
order its parts are written in (XPN.11, table 0444).

IG XPN[HumanName] rows 10, 12, 13: XPN.12 effective date and XPN.13 expiration date (v2.5+) are the period; XPN.10
name validity range (DR, v2.4, deprecated in v2.5) only "IF XPN.12 NOT VALUED AND XPN.13 NOT VALUED". XAD.13/14 and
XAD.12 (DR) the same way for an address. A sender in transition fills both: the period is the effective dates', not
a start from one and an end from the other. Dates stay dates; a time of day gets the sender's zone.

Each test converts one ADT^A01 of a Shenzhen hospital (PID-3 the medical record number and the resident identity
card number, valid GB 11643) with the shipped mappings; ``convert`` validates the Bundle (R4 schema, R4B models).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.mapping.conftest import convert, one, resources

RESIDENT_ID = "440304198705123626"  # 深圳市福田区, born 1987-05-12, check digit 6


def _adt(version: str, pid5: str, pid11: str = "", nk1: str = "") -> str:
    # PID-5 patient name(s), PID-11 address(es); NK1-2 the contact's name
    segments = [
        f"MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|NAME{version}|P|{version}||||||UNICODE UTF-8",
        "EVN|A01|20260315083000",
        f"PID|1||MRN20260315^^^SZRMYY^MR~{RESIDENT_ID}^^^CHN^NNCHN||{pid5}||19870512|F|||{pid11}",
        "PV1|1|I|NEURO^0301^02^SZRMYY",
    ]
    if nk1:
        segments.insert(3, nk1)
    return "\r".join(segments) + "\r"


def _patient(converter: Any, text: str) -> dict[str, Any]:
    return one(convert(converter, text), "Patient")


# Names ---------------------------------------------------------------------------------------------------------


def test_v251_effective_date_with_a_validity_range_is_the_period_of_the_effective_date(converter):
    # v2.5.1: her name since 2015-06-01 (XPN.12); the sender still fills the old range XPN.10 with the earlier name's
    # dates (1987-05-12 to 2015-05-31). Before: end 2015-05-31 from XPN.10.2, a period that ends before it starts.
    patient = _patient(converter, _adt("2.5.1", "林^晓雯^^^^^L^^^19870512&20150531^^20150601"))
    (name,) = patient["name"]
    assert name["family"] == "林" and name["given"] == ["晓雯"] and name["use"] == "official"
    assert name["period"] == {"start": "2015-06-01"}


def test_v251_expiration_date_alone_leaves_the_validity_range_out(converter):
    # the earlier name 林小雯, expired (XPN.13) at the change; XPN.10 says another start the message does not confirm.
    # A third repetition as a v2.4 sender writes it, the range XPN.10 alone: that range is its period.
    patient = _patient(
        converter,
        _adt(
            "2.5.1",
            "林^晓雯^^^^^L^^^^^20150601~林^小雯^^^^^B^^^19870512&20150531^^^20150531~林^雯雯^^^^^N^^^19870512&20050831",
        ),
    )
    current, earlier, nickname = patient["name"]
    assert current["period"] == {"start": "2015-06-01"}
    assert earlier["use"] == "old" and earlier["period"] == {"end": "2015-05-31"}
    assert nickname["use"] == "nickname" and nickname["period"] == {"start": "1987-05-12", "end": "2005-08-31"}


@pytest.mark.parametrize(("code", "use"), [("MSK", "anonymous"), ("NAV", "temp"), ("msk", "anonymous")])
def test_v28_masked_and_unavailable_names_have_the_igs_use(converter, code, use):
    # IG ConceptMap table-hl70200-to-name-use: MSK (masked) anonymous, NAV (temporarily unavailable) temp; before,
    # both gave a name without use. Valid from admission until noon the next day: a date stays a date (the
    # official name's XPN.12), a time of day gets the sender's zone (+08:00)
    patient = _patient(
        converter, _adt("2.8", f"林^晓雯^^^^^L^^^^^20150601~***^^^^^^{code}^^^^^202603150830^20260316120000")
    )
    official, masked = patient["name"]
    assert official["period"] == {"start": "2015-06-01"}
    assert masked["use"] == use
    assert masked["period"] == {"start": "2026-03-15T08:30:00+08:00", "end": "2026-03-16T12:00:00+08:00"}


def test_the_assembly_order_is_kept_and_a_family_first_latin_name_reads_so(converter):
    # XPN.11 (IG XPN[HumanName] row 11): F family name first, as Chinese names are written, also in the pinyin of
    # her passport; G given name first. Before: no extension, and the pinyin name's text was "Xiaowen LIN".
    order = "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order"
    patient = _patient(converter, _adt("2.5.1", "林^晓雯^^^^^L^^^^F~LIN^Xiaowen^^^^^L^^^^F~Lin^Wendy^^^^^N^^^^G"))
    chinese, pinyin, english = patient["name"]
    assert chinese["extension"] == [{"url": order, "valueCode": "F"}] and chinese["text"] == "林晓雯"
    assert pinyin["extension"] == [{"url": order, "valueCode": "F"}] and pinyin["text"] == "LIN Xiaowen"
    assert english["extension"] == [{"url": order, "valueCode": "G"}] and english["text"] == "Wendy Lin"


def test_a_contacts_name_reads_its_period_alike(converter):
    # NK1-2 is an XPN too: the mother's name, effective dates and the legacy range together
    nk1 = "NK1|1|陈^秀英^^^^^L^^^19600101&20001231^^20010101|MTH^母亲^HL70063|||13923456789"
    bundle = convert(converter, _adt("2.5.1", "林^晓雯^^^^^L", nk1=nk1))
    names = [c["name"] for c in one(bundle, "Patient").get("contact", [])] or [
        r["name"][0] for r in resources(bundle, "RelatedPerson")
    ]
    assert names[0]["period"] == {"start": "2001-01-01"}


# Addresses -----------------------------------------------------------------------------------------------------


def test_v251_address_effective_date_with_a_validity_range(converter):
    # moved to 深南大道 on 2020-07-01 (XAD.13); XAD.12 still the former address's range 2010-01-01 to 2020-06-30
    # The former address as a v2.4 sender writes it (the range XAD.12 alone) keeps that range.
    address = (
        "深南大道6008号^^深圳市^广东省^518034^CHN^H^^440304^^^20100101&20200630^20200701"
        "~福华路88号^^深圳市^广东省^518033^CHN^BA^^^^^20100101&20200630"
    )
    patient = _patient(converter, _adt("2.5.1", "林^晓雯^^^^^L", address))
    home, former = patient["address"]
    assert home["use"] == "home" and home["city"] == "深圳市"
    assert home["period"] == {"start": "2020-07-01"}
    assert former["use"] == "old" and former["period"] == {"start": "2010-01-01", "end": "2020-06-30"}


def test_v28_address_expiration_date_with_a_legacy_range(converter):
    # v2.8: the old address expired 2020-06-30 (XAD.14); the withdrawn XAD.12 still carries a start, not taken
    # The current one (C, temporary) from 09:00 on admission day to a date: the time gets +08:00, the date stays.
    address = (
        "福华路88号^^深圳市^广东省^518033^CHN^BA^^440304^^^20100101&^^20200630"
        "~深南大道6008号^^深圳市^广东省^518034^CHN^C^^^^^^202603150900^20260415"
    )
    patient = _patient(converter, _adt("2.8", "林^晓雯^^^^^L", address))
    old, current = patient["address"]
    assert old["use"] == "old" and old["period"] == {"end": "2020-06-30"}
    assert current["use"] == "temp"
    assert current["period"] == {"start": "2026-03-15T09:00:00+08:00", "end": "2026-04-15"}
