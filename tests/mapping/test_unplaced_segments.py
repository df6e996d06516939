"""Segments the message structure has no place for (an ORC in an ADT^A01, an RXA in an ORU^R01) are converted to
nothing: the conversion report says so (``unplaced-segment``: where, never the segment's text) rather than dropping
them without a word."""

from __future__ import annotations

import pytest

from .conftest import one, resources, with_report

MSH = "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315093000||{type}|{control}|P|2.5.1"
PID = "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F"
PV1 = "PV1|1|I|W1^101^1^SZRMYY||||||||||||||||V100^^^SZRMYY^VN"
DETAIL = "the message structure has no place for this segment: it is converted to nothing"


def message(kind: str, *segments: str, control: str = "Q1") -> str:
    return "\r".join([MSH.format(type=kind, control=control), *segments]) + "\r"


def unplaced(report):
    return [e for e in report if e["code"] == "unplaced-segment"]


def test_a_segment_the_structure_has_no_place_for_is_reported(converter):
    # ADT_A01 names no ORC nor RXA: both are converted to nothing, and reported where they are
    text = message("ADT^A01^ADT_A01", "EVN|A01", PID, "ORC|NW|P1", PV1, "RXA|0|1|20260315||CVX^X")
    bundle, report = with_report(converter, text)
    assert unplaced(report) == [
        {"code": "unplaced-segment", "location": "ORC^1", "detail": DETAIL},
        {"code": "unplaced-segment", "location": "RXA^1", "detail": DETAIL},
    ]
    # the rest of the message is converted as before
    assert one(bundle, "Patient")["identifier"][0]["value"] == "MRN0001"
    assert len(resources(bundle, "Encounter")) == 1
    # the report never carries the segment's text
    assert "P1" not in str(unplaced(report)) and "CVX" not in str(unplaced(report))


def test_the_second_segment_of_a_name_is_located_by_its_sequence(converter):
    text = message("ADT^A01^ADT_A01", "EVN|A01", PID, "ORC|NW|P1", PV1, "ORC|NW|P2")
    _bundle, report = with_report(converter, text)
    assert [e["location"] for e in unplaced(report)] == ["ORC^1", "ORC^2"]


def test_a_message_whose_segments_all_have_a_place_reports_none(converter):
    # a site's Z-segment joins the group that is open (v2.5.1 §2.8.3): placed, not reported
    text = message("ADT^A01^ADT_A01", "EVN|A01", PID, PV1, "ZPV|1|X")
    _bundle, report = with_report(converter, text)
    assert unplaced(report) == []


# v2.8 puts an insurance's authorizations (AUT) and referrals (RF1) in the INSURANCE group of ADT_A01, ADT_A03,
# ADT_A05 and ADT_A16 (v2.9: AUTHORIZATION and REFERRAL groups, each with its PRT). The HL7 v2-to-FHIR IG maps
# neither in an ADT message (ADT_A01 rows 29.6 and 29.7): placed, and reported as not converted.
IN1 = "IN1|1|BAV^Blue Advantage HMO|IC-1^^^SZRMYY^NIIP|Blue Cross"
AUT = "AUT|PPO|HC02|HIIC|20220110|20220310|AUTH001"
RF1 = "RF1|P^Pending^HL70283|A^ASAP^HL70280|EXTERNAL|||REF001"
PRT = "PRT|1|AD||RP^Referring Provider^HL70912|D100^王^伟"


def _insurance_message(kind: str) -> str:
    return message(kind, "EVN|" + kind.split("^")[1], PID, PV1, IN1, AUT, PRT, RF1, PRT, "ACC|20140317")


@pytest.mark.parametrize("kind", ["ADT^A01^ADT_A01", "ADT^A03^ADT_A03", "ADT^A05^ADT_A05", "ADT^A16^ADT_A16"])
def test_an_insurances_authorization_and_referral_are_placed_and_reported_as_not_converted(converter, kind):
    bundle, report = with_report(converter, _insurance_message(kind).replace("|P|2.5.1", "|P|2.8"))
    assert unplaced(report) == []
    unmapped = {e["location"]: e["detail"] for e in report if e["code"] == "unmapped-segment"}
    # the accident (ACC-1, its date) is read by no rule of an ADT: reported whole too
    assert set(unmapped) == {"AUT^1", "RF1^1", "ACC^1"}
    assert "INSURANCE" in unmapped["AUT^1"] and "INSURANCE" in unmapped["RF1^1"]
    # the report never carries the segment's text
    assert "AUTH001" not in str(report) and "REF001" not in str(report)
    # the insurance is converted as before, and the ACC after the referral keeps its place
    assert len(resources(bundle, "Coverage")) == 1
