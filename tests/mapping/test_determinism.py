"""Deterministic ids: the same thing gets the same id in every message; different things never share one."""

from __future__ import annotations

import re

from hub.fhir import jsoncodec
from hub.hl7 import er7

from .conftest import convert, one, resources

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def adt(
    control: str,
    *,
    facility: str = "HOSP_A",
    mrn: str = "MRN0001",
    authority: str = "",
    event: str = "A01",
    visit: str = "V0001",
    name: str = "Zhang^San",
) -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HIS|{facility}|HUB|CITY|20260315083000||ADT^{event}|{control}|P|2.5.1",
                f"EVN|{event}|20260315083000",
                # PID-3 without an assigning authority unless one is given: the sending facility (MSH-4) scopes it
                f"PID|1||{mrn}^^^{authority}^MR||{name}||19800101|M",
                f"PV1|1|I|W1^101^1||||||||||||||||{visit}|||||||||||||||||||||||||20260315083000",
            ]
        )
        + "\r"
    )


def oru(control: str, *, facility: str = "HOSP_A", mrn: str = "MRN0001", value: str = "5.6", status: str = "F") -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LIS|{facility}|HUB|CITY|20260315093000||ORU^R01|{control}|P|2.5.1",
                f"PID|1||{mrn}^^^^MR||Zhang^San||19800101|M",
                "PV1|1|I|||||||||||||||||V0001",
                "OBR|1|P1|F1^LIS|24323-8^Metabolic panel^LN|||20260315080000",
                f"OBX|1|NM|2345-7^Glucose^LN||{value}|mmol/L|||||{status}",
                f"OBX|2|NM|2160-0^Creatinine^LN||80|umol/L|||||{status}",
            ]
        )
        + "\r"
    )


def ids(bundle):
    return {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}


def test_same_input_same_bundle(converter):
    text = oru("C1")
    first = jsoncodec.dumps(converter.convert(er7.parse(text)))
    second = jsoncodec.dumps(converter.convert(er7.parse(text)))
    assert first == second


def test_a_second_loaded_converter_gives_the_same_ids(converter):
    from hub.config import DEFAULT_MAPPINGS_DIR
    from hub.mapping import Converter

    other = Converter.load(DEFAULT_MAPPINGS_DIR)
    text = adt("C1")
    assert ids(converter.convert(er7.parse(text))) == ids(other.convert(er7.parse(text)))


def test_ids_are_valid_fhir_ids_and_uuids(converter):
    for text in (adt("C1"), oru("C2")):
        for _rtype, rid in ids(convert(converter, text)):
            assert UUID.match(rid), rid


def test_same_patient_same_id_in_every_message(converter):
    admit = one(convert(converter, adt("C1", event="A01")), "Patient")
    update = one(convert(converter, adt("C2", event="A08", name="Zhang^Sanfeng")), "Patient")
    result = one(convert(converter, oru("C3")), "Patient")
    assert admit["id"] == update["id"] == result["id"]


def test_same_mrn_at_two_facilities_never_collides(converter):
    a = one(convert(converter, adt("C1", facility="HOSP_A")), "Patient")
    b = one(convert(converter, adt("C1", facility="HOSP_B")), "Patient")
    assert a["id"] != b["id"]
    assert a["identifier"][0]["system"] != b["identifier"][0]["system"]
    # Also when the MRN names two different assigning authorities at one facility.
    c = one(convert(converter, adt("C2", authority="AUTH_1")), "Patient")
    d = one(convert(converter, adt("C2", authority="AUTH_2")), "Patient")
    assert c["id"] != d["id"]


def test_same_visit_same_encounter(converter):
    admit = one(convert(converter, adt("C1", event="A01")), "Encounter")
    update = one(convert(converter, adt("C2", event="A08")), "Encounter")
    other_visit = one(convert(converter, adt("C3", visit="V0002")), "Encounter")
    assert admit["id"] == update["id"] != other_visit["id"]
    other_facility = one(convert(converter, adt("C1", facility="HOSP_B")), "Encounter")
    assert other_facility["id"] != admit["id"]


def test_a_corrected_result_replaces_the_same_resources(converter):
    first = convert(converter, oru("C1", value="5.6", status="F"))
    corrected = convert(converter, oru("C9", value="5.9", status="C"))
    assert ids(first) == ids(corrected)
    glucose = resources(corrected, "Observation")[0]
    assert glucose["status"] == "corrected" and glucose["valueQuantity"]["value"] == 5.9
    # Another facility's order F1 is another report.
    elsewhere = convert(converter, oru("C1", facility="HOSP_B"))
    assert one(elsewhere, "DiagnosticReport")["id"] != one(first, "DiagnosticReport")["id"]


def test_two_observations_with_the_same_key_both_survive(converter):
    text = oru("C1").replace("2160-0^Creatinine^LN", "2345-7^Glucose^LN")
    observations = resources(convert(converter, text), "Observation")
    assert len({o["id"] for o in observations}) == 2
    assert ids(converter.convert(er7.parse(text))) == ids(converter.convert(er7.parse(text)))
