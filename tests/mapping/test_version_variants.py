"""The common message types as senders of v2.3 to v2.8 write them, and the envelope variations that say nothing
about the content (MSH-9 without a structure, MSH-12 with a VID's other components, the v2.7 truncation
character, other delimiters, line ends, empty trailing fields, Z-segments): every form converts to valid R4 and
to the same resources as the plain form. Then what the sweep found: a segment out of place split the group it
interrupted, and a wrong MSH-9.3 decided the structure over the trigger event.

Every message here is written for these tests; fields that matter carry a comment.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from hub.errors import ConversionError
from hub.fhir import jsoncodec
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7

from .conftest import convert, one, resources

VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.6", "2.7", "2.8"]
MSH9 = {
    "A01": "ADT^A01^ADT_A01",
    "A04": "ADT^A04^ADT_A01",
    "A08": "ADT^A08^ADT_A01",
    "A03": "ADT^A03^ADT_A03",
    "A28": "ADT^A28^ADT_A05",
    "A31": "ADT^A31^ADT_A05",
    "A40": "ADT^A40^ADT_A39",
    "R01": "ORU^R01^ORU_R01",
    "O01": "ORM^O01^ORM_O01",
    "O21": "OML^O21^OML_O21",
    "S12": "SIU^S12^SIU_S12",
    "S15": "SIU^S15^SIU_S12",
    "T02": "MDM^T02^MDM_T02",
    "V04": "VXU^V04^VXU_V04",
    "O11": "RDE^O11^RDE_O11",
}
TS = "20260315083000"
DOCTOR = "D1001^王^建国^^^^^^RMYY"  # XCN: id, family, given, …, XCN.9 assigning authority


def fields(name: str, values: dict[int, str]) -> str:
    return "|".join([name, *[values.get(i, "") for i in range(1, max(values) + 1)]])


def message(event: str, version: str, *, msh9: str | None = None, msh12: str | None = None) -> str:
    """One message of the event's structure in ``version`` (CE in v2.3-2.5, CWE from v2.6: same components)."""
    msh9, msh12 = msh9 or MSH9[event], msh12 or version
    msh = f"MSH|^~\\&|HIS|RMYY|HUB|CITY|{TS}||{msh9}|C{event}|P|{msh12}|||AL|NE||UNICODE UTF-8"
    pid = "PID|1||MRN0001^^^RMYY^MR||张三||19800101|M|||人民路1号^^深圳市^广东省^518000^CHN^H||13800138000^PRN^CP"
    # PV1-3 location, PV1-7 attending doctor, PV1-19 visit number, PV1-44 admitted
    pv1 = fields("PV1", {1: "1", 2: "I", 3: "W01^101^1^RMYY", 7: DOCTOR, 10: "MED", 19: "V0001^^^RMYY^VN", 44: TS})
    orc = f"ORC|NW|P9^HIS||||||||||{DOCTOR}"
    if event in ("A01", "A04", "A08", "A03"):
        if event == "A03":
            pv1 += f"|{TS}"  # PV1-45 discharged
        segments = [
            f"EVN|{event}|{TS}",
            pid,
            pv1,
            "AL1|1|DA|70618^青霉素^RXNORM|SV|皮疹",
            f"DG1|1||J18.9^肺炎^I10||{TS}|A",
        ]
    elif event in ("A28", "A31"):
        segments = [f"EVN|{event}|{TS}", pid, "PV1|1|N", "AL1|1|DA|70618^青霉素^RXNORM|SV|皮疹"]
    elif event == "A40":
        segments = [f"EVN|{event}|{TS}", pid, "MRG|MRN0002^^^RMYY^MR"]
    elif event == "R01":
        segments = [
            pid,
            pv1,
            "ORC|RE|P1^HIS|F1^LIS||CM",
            f"OBR|1|P1^HIS|F1^LIS|24331-1^血脂^LN|||{TS}||||||||||||||||||F",
            f"OBX|1|NM|2093-3^总胆固醇^LN||5.2|mmol/L|3.0-5.7|N|||F|||{TS}",
            "OBX|2|CE|600-7^培养^LN||3092008^金黄色葡萄球菌^SCT||||||F",
        ]
    elif event in ("O01", "O21"):
        segments = [pid, pv1, orc, f"OBR|1|P9^HIS||24331-1^血脂^LN|||{TS}|||||||||{DOCTOR}"]
    elif event in ("S12", "S15"):
        segments = [
            # SCH-11 timing quantity: duration 30, start TS
            f"SCH|A1^HIS|A1^HIS|||||ROUTINE^常规^HL70276|||^^30^{TS}||||||||||||||Booked",
            pid,
            "RGS|1",
            f"AIS|1||CT01^胸部CT^L|{TS}|||30|min",
            f"AIP|1||{DOCTOR}|D^医生^L|{TS}",
        ]
    elif event == "T02":
        segments = [
            f"EVN|T02|{TS}",
            pid,
            pv1,
            f"TXA|1|DS|TX|{TS}|{DOCTOR}||{TS}|||||DOC1^HIS||||||AU",
            "OBX|1|TX|DS^出院小结^L||患者恢复良好||||||F",
        ]
    elif event == "V04":
        segments = [
            pid,
            "ORC|RE|P4^HIS|F4^HIS",
            f"RXA|0|1|{TS}|{TS}|08^HepB^CVX|0.5|mL^mL^UCUM||00^新接种^NIP001||||||L123||MSD^默沙东^MVX||CP|A",
            "RXR|IM^肌内注射^HL70162|LA^左臂^HL70163",
        ]
    else:  # O11
        segments = [
            pid,
            pv1,
            orc,
            f"RXE|^^^{TS}^^R|A001^阿莫西林胶囊^L|0.5||g^g^UCUM|CAP^胶囊^L||||20|CAP^粒^L|2",
            "RXR|PO^口服^HL70162",
        ]
    return "\r".join([msh, *segments])


def digest(bundle: dict[str, Any]) -> str:
    return hashlib.sha256(jsoncodec.dumps(bundle, option=orjson.OPT_SORT_KEYS)).hexdigest()


def envelope_variants(event: str, version: str) -> dict[str, str]:
    plain = message(event, version)
    code, trigger = MSH9[event].split("^")[:2]
    return {
        # MSH-9 without the structure (v2.3 has none): table 0354 gives it (ADT^A04 → ADT_A01)
        "msh9 two components": message(event, version, msh9=f"{code}^{trigger}"),
        # MSH-12 as a VID: version ^ internationalization code ^ international version
        "msh12 vid": message(event, version, msh12=f"{version}^CHN^HL70399"),
        # v2.7+: a fifth encoding character, the truncation character
        "truncation character": plain.replace("MSH|^~\\&|", "MSH|^~\\&#|", 1),
        # other component, repetition and subcomponent separators (MSH-2 says which)
        "other delimiters": plain.replace("^", "!").replace("~", "@").replace("&", "%"),
        "field separator #": plain.replace("|", "#"),
        "line feeds": plain.replace("\r", "\n"),
        "crlf and blank lines": plain.replace("\r", "\r\n") + "\r\n\r\n",
        "trailing empty fields": "\r".join(s + "||||" for s in plain.split("\r")),
        "z-segments": plain + "\rZPI|1|户籍|深圳\rZXX|a^b",
    }


@pytest.mark.parametrize("event", list(MSH9))
def test_every_version_and_envelope_variant_converts_alike(converter, event):
    for version in VERSIONS:
        base = converter.convert(er7.parse(message(event, version)), sender_timezone="Asia/Shanghai")
        assert validate_bundle(base) == [], (event, version)
        expected = digest(base)
        for label, text in envelope_variants(event, version).items():
            bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
            assert digest(bundle) == expected, (event, version, label)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("20260315083000+0800", "2026-03-15T08:30:00+08:00"),
        ("20260315083000-0500", "2026-03-15T08:30:00-05:00"),
        ("20260315083000.1234+0800", "2026-03-15T08:30:00.1234+08:00"),
        ("20260315083000.5", "2026-03-15T08:30:00.5+08:00"),  # no offset: the sender's zone
        ("202603150830", "2026-03-15T08:30:00+08:00"),
        ("2026031508", "2026-03-15T08:00:00+08:00"),
        ("20260315", "2026-03-15"),
        ("202603", "2026-03"),
        ("2026", "2026"),
        ("20260315083000^S", "2026-03-15T08:30:00+08:00"),  # TS.2 degree of precision (v2.3-2.5)
    ],
)
def test_timestamps_of_every_precision_and_offset(converter, sent, expected):
    text = message("A01", "2.4").replace(f"|{TS}", f"|{sent}")
    encounter = one(convert(converter, text), "Encounter")
    assert encounter["period"]["start"] == expected


# -- a segment out of place does not split the group it interrupts -------------------------------------------------


def test_an_orders_note_before_its_obr_keeps_the_order_together(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|LIS|RMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|V1|P|2.5.1",
            "PID|1||MRN0001^^^RMYY^MR||张三||19800101|M",
            "ORC|RE|P1^HIS|F1^LIS||CM",  # ORC-2 placer order number
            "NTE|1||空腹采血",  # the structure has the order's NTE after OBR: sent before it
            "OBR|1||F1^LIS|24331-1^血脂^LN|||20260315080000||||||||||||||||||F",  # OBR-2 empty
            "OBX|1|NM|2093-3^总胆固醇^LN||5.2|mmol/L|3.0-5.7|N|||F",
        ]
    )
    report = one(convert(converter, text), "DiagnosticReport")
    # before, the OBR opened a second order without the ORC: no basedOn, no note
    assert {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P1"}} in report["basedOn"]
    assert "空腹采血" in orjson.dumps(report).decode()


def test_a_note_between_orc_and_rxa_keeps_the_vaccinations_order_numbers(converter):
    text = message("V04", "2.5.1").replace("\rRXA|", "\rNTE|1||家长陪同\rRXA|", 1)
    immunization = one(convert(converter, text), "Immunization")
    assert {i["value"] for i in immunization["identifier"]} == {"P4", "F4"}  # ORC-2, ORC-3
    assert immunization["note"] == [{"text": "家长陪同"}]


@pytest.mark.parametrize(("event", "route"), [("V04", "IM"), ("O11", "PO")])
def test_a_segment_out_of_place_before_rxr_does_not_cost_the_route(converter, event, route):
    # IN1 belongs before the orders; sent between the RXA/RXE and its RXR
    text = message(event, "2.5.1").replace("\rRXR|", "\rIN1|1|P01|INS01^^^RMYY|医保\rRXR|", 1)
    bundle = convert(converter, text)
    if event == "V04":
        given = one(bundle, "Immunization")["route"]
    else:
        (dosage,) = one(bundle, "MedicationRequest")["dosageInstruction"]
        given = dosage["route"]
    assert route in [c["code"] for c in given["coding"]]
    assert len(resources(bundle, "Coverage")) == 1  # and the IN1 is still read


@pytest.mark.parametrize("intruder", ["PD1|||RMYY诊所", "GT1|1||钱^七", "PV1|1|O"])
def test_a_patient_level_segment_between_orc_and_rxa_keeps_the_order_numbers(converter, intruder):
    # the structure has PD1, GT1, PV1 before the orders: sent between ORC and RXA they closed the order, and the
    # RXA opened a second one without the ORC
    text = message("V04", "2.5.1").replace("\rRXA|", f"\r{intruder}\rRXA|", 1)
    immunization = one(convert(converter, text), "Immunization")
    assert {i["value"] for i in immunization["identifier"]} == {"P4", "F4"}
    assert "IM" in [c["code"] for c in immunization["route"]["coding"]]


def test_an_observation_between_rxe_and_rxr_does_not_cost_the_route(converter):
    # RDE_O11 has the order's OBX after RXE's group (RXE, RXR, RXC): an OBX before the RXR closed that group
    text = message("O11", "2.5.1").replace("\rRXR|", "\rOBX|1|NM|3141-9^体重^LN||70|kg|||||F\rRXR|", 1)
    (dosage,) = one(convert(converter, text), "MedicationRequest")["dosageInstruction"]
    assert "PO" in [c["code"] for c in dosage["route"]["coding"]]


# -- MSH-9.3 that contradicts the trigger event ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msh9", "status"),
    [
        ("ADT^A03^ADT_A01", "finished"),  # a discharge sent with the admission's structure
        ("ADT^A01^ADT_A03", "in-progress"),  # an admission sent with the discharge's structure
        ("ADT^A01^ADT_A21", "in-progress"),  # a structure whose events list leaves A01 out (was refused)
    ],
)
def test_the_trigger_event_decides_over_a_wrong_structure(converter, msh9, status):
    # an A01 body (no PV1-45): only the structure can make the visit finished
    text = message("A01", "2.5").replace(MSH9["A01"], msh9, 1)
    assert one(convert(converter, text), "Encounter")["status"] == status


@pytest.mark.parametrize(
    ("event", "msh9", "rtype"),
    [
        ("R01", "ORU^R01^ORM_O01", "DiagnosticReport"),
        ("T02", "MDM^T02^MDM_T01", "DocumentReference"),
        ("O11", "RDE^O11^RDE_O01", "MedicationRequest"),
        ("O21", "OML^O21^OML_O33", "ServiceRequest"),
    ],
)
def test_a_structure_that_does_not_map_the_event_gives_way_to_table_0354(converter, event, msh9, rtype):
    # before: refused at MSH^1^9^2 ("no mapping for trigger event … of structure …")
    wrong = convert(converter, message(event, "2.5").replace(MSH9[event], msh9, 1))
    right = convert(converter, message(event, "2.5"))
    assert len(resources(wrong, rtype)) == 1
    assert resources(wrong, rtype) == resources(right, rtype)


def test_a_structure_that_names_its_events_keeps_them(converter):
    # ADT_A52 and ADT_A54 both list A55 (cancel change attending doctor): the sender's MSH-9.3 stands
    text = "\r".join(
        [
            f"MSH|^~\\&|HIS|RMYY|HUB|CITY|{TS}||ADT^A55^ADT_A54|C55|P|2.5",
            f"EVN|A55|{TS}",
            "PID|1||MRN0001^^^RMYY^MR||张三||19800101|M",
            "PV1|1|I|W01^101^1^RMYY||||D1001^王^建国|||MED||||||||V0001^^^RMYY^VN",
        ]
    )
    assert converter.structure_of(er7.parse(text)) == ("ADT", "A55", "ADT_A54")


@pytest.mark.parametrize(
    ("msh9", "location"),
    [
        ("ADT", "MSH^1^9"),  # no trigger event: no structure
        ("ZZZ^Z01^ZZZ_Z01", "MSH^1^9"),  # no template
    ],
)
def test_what_cannot_be_placed_is_refused_at_msh_9(converter, msh9, location):
    with pytest.raises(ConversionError) as err:
        converter.convert(er7.parse(message("A01", "2.5").replace(MSH9["A01"], msh9, 1)))
    assert err.value.location == location


@pytest.mark.parametrize("event", ["A01", "A03", "A08", "A40"])
def test_v2_1_trigger_event_is_evn_1(converter, event):
    # v2.1's MSH-9 is the message type alone (an ID); the trigger event is EVN-1 (its MSH-9 became a CM with
    # the event in v2.2). Before: every v2.1 ADT was refused at MSH^1^9, after its AA.
    v21 = message(event, "2.1", msh9="ADT")
    assert converter.structure_of(er7.parse(v21)) == ("ADT", event, MSH9[event].split("^")[2])
    sent_alone = convert(converter, v21)
    with_event = convert(converter, message(event, "2.1"))
    for rtype in ("Patient", "Encounter"):
        assert resources(sent_alone, rtype) == resources(with_event, rtype)


def test_v2_2_and_later_need_the_event_in_msh_9(converter):
    # from v2.2 on MSH-9.2 is the trigger event and EVN-1 only a copy kept for backward compatibility
    with pytest.raises(ConversionError) as err:
        converter.convert(er7.parse(message("A01", "2.2", msh9="ADT")))
    assert err.value.location == "MSH^1^9"


def test_lower_case_segment_ids_are_refused_where_the_segment_is_missing(converter):
    # segment ids are upper case (v2.5.1 §2.5); "pid|…" reads as a continuation line of EVN, so PID is missing
    text = "\r".join(s if s.startswith("MSH") else s[:3].lower() + s[3:] for s in message("A01", "2.5").split("\r"))
    with pytest.raises(ConversionError) as err:
        converter.convert(er7.parse(text))
    assert err.value.location == "PID^1"


def test_two_messages_in_one_text_are_refused_at_the_second_msh(converter):
    # before: one Bundle with both messages' patients, and the ORU's results as the admission's observations
    text = message("A03", "2.3") + "\r" + message("R01", "2.5")
    with pytest.raises(ConversionError) as err:
        converter.convert(er7.parse(text))
    assert err.value.location == "MSH^2"


# -- codes sent in lower case ------------------------------------------------------------------------------------------

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def test_identifier_types_in_lower_case_are_the_tables_codes(converter):
    # CX.5 "mr", "vn": before, a coding {code: mr} without a system (v2-0203 matched case exactly)
    text = message("A01", "2.5").replace("MRN0001^^^RMYY^MR", "MRN0001^^^RMYY^mr").replace("^RMYY^VN", "^RMYY^vn")
    bundle = convert(converter, text)
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    assert patient["identifier"][0]["type"] == {
        "coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}]
    }
    assert encounter["identifier"][0]["type"]["coding"] == [
        {"system": V2_0203, "code": "VN", "display": "Visit number"}
    ]


def test_a_code_matched_in_another_case_is_kept_in_its_systems_spelling(converter):
    # PID-16 "m": the sender's coding is kept beside the translation, as v2-0002's M (codes are case-sensitive:
    # before, {system: v2-0002, code: m}, no code of that system)
    text = message("A01", "2.5").replace("|13800138000^PRN^CP", "|13800138000^PRN^CP|||m^已婚^HL70002", 1)
    marital = one(convert(converter, text), "Patient")["maritalStatus"]
    assert [c["code"] for c in marital["coding"]] == ["M", "M"]
    assert marital["coding"][1]["system"] == "http://terminology.hl7.org/CodeSystem/v2-0002"
