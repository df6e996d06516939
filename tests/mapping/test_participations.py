"""People taking part in a visit, an order or a result: the v2.7+ PRT segment (participation) where a v2.8 sender
puts it, and one participant per person and role (``unique`` with leaves, hub.mapping.merging)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.mapping.engine import Converter
from hub.mapping.merging import merge_into
from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL

from .conftest import convert, mappings_copy, one, resources
from .test_keep_marks import V3, marks_of

V2_0912 = "http://terminology.hl7.org/CodeSystem/v2-0912"
HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
PID = "PID|1||MRN20260315^^^SZRMYY^MR||刘^德华||19680927|M"
# PV1-7 attending doctor 王建国 (D1001 of the hospital's staff register), PV1-19 visit number
PV1 = "|".join(
    ["PV1", "1", "I", "心内科^0312^2", "", "", "", "D1001^王^建国^^^^^^SZRMYY", *[""] * 11, "IP26031501^^^SZRMYY^VN"]
)
EVENT_LOCATION = "http://hl7.org/fhir/StructureDefinition/event-location"


def adt(*segments: str, version: str = "2.8", event: str = "A01") -> str:
    msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^{event}^ADT_A01|P{event}1|P|{version}"
    return "\r".join([msh, f"EVN|{event}|20260315083000", *segments]) + "\r"


def roles(encounter: dict) -> list[tuple[str, str]]:
    """(first coding's code, person's identifier) of each participant, in order."""
    return [
        (p["type"][0]["coding"][0]["code"], p["individual"]["identifier"]["value"]) for p in encounter["participant"]
    ]


# -- PRT of a visit (Encounter.participant) --------------------------------------------------------------------


def test_v28_adt_a01_prt_after_pv1_are_the_visits_participants(converter):
    bundle = convert(
        converter,
        adt(
            PID,
            # the patient's own doctor (PRT-4 PP): the Patient's general practitioner, no participant of the visit
            "PRT|1|AD||PP^Primary Care Provider^HL70912|G2001^陈^淑芬^^^^^^SQWSZX",
            PV1,
            "PV2|||^胸痛待查",
            # the attending doctor PV1-7 names, with the start of the role (PRT-11): one participant, with its period
            "PRT|2|AD||AT^Attending Provider^HL70912|D1001^王^建国^^^^^^SZRMYY||||||20260315083000",
            # a consultant, from the 16th to the 18th (PRT-11/PRT-12)
            "PRT|3|AD||CP^Consulting Provider^HL70912|D1002^赵^立新^^^^^^SZRMYY||||||20260316090000|20260318170000",
            # who keyed the admission in: an entering provider is no participant of the visit
            "PRT|4|AD||EP^Entering Provider^HL70912|N3005^孙^丽^^^^^^SZRMYY",
            "PR1|1||0066^经皮冠状动脉介入治疗^ICD9CM|||20260316100000",
            # the surgeon of a procedure (PRT in PROCEDURE): the procedure's, not the visit's
            "PRT|5|AD||AT^Attending Provider^HL70912|D1009^钱^志强^^^^^^SZRMYY",
        ),
    )
    encounter = one(bundle, "Encounter")
    assert roles(encounter) == [("ATND", "D1001"), ("CON", "D1002")]
    attending, consultant = encounter["participant"]
    assert attending["type"][0]["coding"][1] == {"system": V2_0912, "code": "AT", "display": "Attending Provider"}
    assert attending["individual"]["display"] == "王建国"
    assert attending["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    assert consultant["period"] == {"start": "2026-03-16T09:00:00+08:00", "end": "2026-03-18T17:00:00+08:00"}
    # a role a PRT gives is the message's: no keep mark of the stored consultant (PV1-9 is empty)
    assert f"participant[type.coding.system={V3}][type.coding.code=CON]" not in marks_of(bundle, "Encounter")
    [doctor] = one(bundle, "Patient")["generalPractitioner"]
    assert doctor["identifier"]["value"] == "G2001"
    assert doctor["display"] == "陈淑芬"


def test_prt_action_codes_of_a_visit(converter):
    bundle = convert(
        converter,
        adt(
            PID,
            PV1,
            # PRT-2 DE (table 0287 delete): the stored referrer with that number goes
            "PRT|1|DE||RP^Referring Provider^HL70912|D2010^周^海燕^^^^^^SZRMYY",
            # UC (unchanged): the stored consultant stays as stored; the line's own item stands when none is stored
            "PRT|2|UC||CP^Consulting Provider^HL70912|D1002^赵^立新^^^^^^SZRMYY",
            event="A08",
        ),
    )
    referrer = f"participant[type.coding.system={V3}][type.coding.code=REF][individual.identifier.value=D2010]"
    consultant = f"participant[type.coding.system={V3}][type.coding.code=CON][individual.identifier.value=D1002]"
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == [referrer]
    assert consultant in marks_of(bundle, "Encounter", KEEP_EXTENSION_URL)
    assert roles(one(bundle, "Encounter")) == [("ATND", "D1001"), ("CON", "D1002")]


def test_v27_oru_r01_prt_of_the_visit_the_order_and_the_result(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260316103000||ORU^R01^ORU_R01|L26031601|P|2.7",
            PID,
            PV1,
            # the visit's attending doctor again, with the start of the role: one participant of the Encounter
            "PRT|1|AD||AT^Attending Provider^HL70912|D1001^王^建国^^^^^^SZRMYY||||||20260315083000",
            "ORC|RE|H5501^HIS|L7701^LIS",
            "OBR|1|H5501^HIS|L7701^LIS|CTNI^肌钙蛋白I^L|||20260316080000",
            # the order's interpreter and the laboratory that performed it (IG ORU_R01 row 4.2.4)
            "PRT|1|AD||PRI^Principal Result Interpreter^HL70912|D3001^吴^晓燕^^^^^^SZRMYY",
            "PRT|2|AD||PO^Performing Organization^HL70912||||检验科^^^^^SZRMYY&2.16.156.10011.1.5.1&ISO^^^^LAB01",
            "OBX|1|NM|CTNI^肌钙蛋白I^L||0.82|ng/mL|0-0.04|H|||F|||20260316100000",
            # who measured it and where (IG row 4.2.4.3.2: performer; PRT-9 the location, extension event-location)
            "PRT|1|AD||RO^Responsible Observer^HL70912|T4001^郑^小红^^^^^^SZRMYY||||急诊检验室^^^SZRMYY",
        ]
    )
    bundle = convert(converter, text + "\r")
    encounter = one(bundle, "Encounter")
    assert roles(encounter) == [("ATND", "D1001")]
    assert encounter["participant"][0]["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    report = one(bundle, "DiagnosticReport")
    assert [r["identifier"]["value"] for r in report["resultsInterpreter"]] == ["D3001"]
    assert [r["identifier"]["value"] for r in report["performer"]] == ["LAB01"]
    observation = one(bundle, "Observation")
    assert [p["identifier"]["value"] for p in observation["performer"]] == ["T4001"]
    assert {"url": EVENT_LOCATION, "valueReference": {"display": "SZRMYY 急诊检验室"}} in observation["extension"]


def test_v27_oml_o21_prt_of_the_visit(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260316073000||OML^O21^OML_O21|O26031601|P|2.7",
            PID,
            # the patient's own doctor (PATIENT.PRT) and the visit's admitting doctor (PATIENT_VISIT.PRT)
            "PRT|1|AD||PP^Primary Care Provider^HL70912|G2001^陈^淑芬^^^^^^SQWSZX",
            PV1,
            "PRT|2|AD||AD^Admitting Provider^HL70912|D1003^黄^伟^^^^^^SZRMYY||||||20260315080000",
            "ORC|NW|H5502^HIS",
            # the ordering provider (ORDER.PRT OP): the ServiceRequest's requester, no participant of the visit
            "PRT|1|AD||OP^Ordering Provider^HL70912|D1001^王^建国^^^^^^SZRMYY",
            "OBR|1|H5502^HIS||CTNI^肌钙蛋白I^L",
        ]
    )
    bundle = convert(converter, text + "\r")
    encounter = one(bundle, "Encounter")
    # PV1-7 attending, then the admitting doctor of the PRT
    assert roles(encounter) == [("ATND", "D1001"), ("ADM", "D1003")]
    assert encounter["participant"][1]["period"] == {"start": "2026-03-15T08:00:00+08:00"}
    assert one(bundle, "ServiceRequest")["requester"]["identifier"]["value"] == "D1001"
    assert [d["identifier"]["value"] for d in one(bundle, "Patient")["generalPractitioner"]] == ["G2001"]


@pytest.mark.parametrize(("event", "structure"), [("A02", "ADT_A02"), ("A15", "ADT_A15")])
def test_a_transfer_reads_the_visits_rol_and_prt(converter, event, structure):
    # IG ADT_A02 row 18: the ROL after PV1 are the Encounter's participants, as in ADT_A01 (and so are the PRT)
    text = adt(
        PID,
        PV1,
        "ROL|1|AD|CP^Consulting Provider^HL70443|D1002^赵^立新^^^^^^SZRMYY|20260316090000",
        "PRT|1|AD||RP^Referring Provider^HL70912|D2010^周^海燕^^^^^^SZRMYY",
        event=event,
    ).replace("ADT_A01", structure, 1)
    encounter = one(convert(converter, text), "Encounter")
    assert roles(encounter) == [("CON", "D1002"), ("ATND", "D1001"), ("REF", "D2010")]


def test_a_documents_prt_is_no_participant_of_the_visit(converter):
    # MDM's PRT beside the PV1 (a flat grammar) are the document's: its author and transcriptionist
    text = "\r".join(
        [
            "MSH|^~\\&|EMR|SZRMYY|HUB|CITY|20260320100000||MDM^T02^MDM_T02|M26032001|P|2.8",
            "EVN|T02|20260320100000",
            PID,
            PV1,
            "PRT|1|AD||AUT^Author/Event Initiator^HL70912|D1001^王^建国^^^^^^SZRMYY",
            "PRT|2|AD||TR^Transcriptionist^HL70912|N3006^何^静^^^^^^SZRMYY",
            "TXA|1|DS^出院小结^HL70270|TX|||20260320100000|||||||DOC26032001^EMR||||||AU",
            "OBX|1|TX|18842-5^出院小结^LN||患者胸痛缓解，准予出院。",
        ]
    )
    assert roles(one(convert(converter, text + "\r"), "Encounter")) == [("ATND", "D1001")]


# -- one participant per person and role -----------------------------------------------------------------------


def test_pv1_7_and_rol_at_naming_the_same_doctor_are_one_participant(converter):
    bundle = convert(
        converter,
        adt(
            PID,
            PV1,
            # the same attending doctor, with the start of the role (ROL-5)
            "ROL|1|AD|AT^Attending^HL70443|D1001^王^建国^^^^^^SZRMYY|20260315083000",
            # the same person in another role stays a participant of its own
            "ROL|2|AD|CP^Consulting Provider^HL70443|D1001^王^建国^^^^^^SZRMYY",
            # another attending doctor (a second one, as a teaching ward has) stays a participant of their own
            "ROL|3|AD|AT^Attending^HL70443|D1004^林^美玲^^^^^^SZRMYY",
            version="2.5.1",
        ),
    )
    encounter = one(bundle, "Encounter")
    assert sorted(roles(encounter)) == [("ATND", "D1001"), ("ATND", "D1004"), ("CON", "D1001")]
    [same] = [p for p in encounter["participant"] if roles({"participant": [p]}) == [("ATND", "D1001")]]
    # the richer of the two (the ROL's: its period, table 0443's code) completed by what PV1-7 gave
    assert same["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    assert same["individual"] == {
        "identifier": {"system": "urn:hub:id:SZRMYY", "value": "D1001"},
        "display": "王建国",
    }
    assert [c["code"] for c in same["type"][0]["coding"]] == ["ATND", "AT"]


def test_pv1_7_and_prt_at_naming_the_same_doctor_are_one_participant(converter):
    bundle = convert(
        converter,
        adt(PID, PV1, "PRT|1|AD||AT^Attending Provider^HL70912|D1001^王^建国||||||20260315083000"),
    )
    [attending] = one(bundle, "Encounter")["participant"]
    assert attending["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    # the identifier's system PV1-7 gave (XCN.9) and the PRT left out is kept
    assert attending["individual"]["identifier"] == {"system": "urn:hub:id:SZRMYY", "value": "D1001"}


def test_the_same_general_practitioner_in_pd1_4_and_rol_pp_is_one(converter):
    bundle = convert(
        converter,
        adt(
            PID,
            "PD1|||社区卫生服务中心^^SQWSZX|G2001^陈^淑芬^^^^^^SQWSZX",
            "ROL|1|AD|PP^Primary Care Provider^HL70443|G2001^陈^淑芬^^^^^^SQWSZX|20200101",
            PV1,
            version="2.5.1",
        ),
    )
    practitioners = [g for g in one(bundle, "Patient")["generalPractitioner"] if g["type"] == "Practitioner"]
    assert [g["identifier"]["value"] for g in practitioners] == ["G2001"]


def test_a_doctor_without_identifier_is_not_merged_by_name(converter):
    # nothing tells two people of the same name apart: both stay (the merge needs every leaf of the key)
    bundle = convert(converter, adt(PID, PV1, "ROL|1|AD|AT^Attending^HL70443|^王^建国", version="2.5.1"))
    encounter = one(bundle, "Encounter")
    assert [p["individual"]["display"] for p in encounter["participant"]] == ["王建国", "王建国"]
    assert resources(bundle, "Encounter") == [encounter]


def test_merge_into_keeps_the_richer_item_completed_by_the_other():
    coding = [{"system": "s", "code": "ATND"}]
    items: list = [{"type": [{"coding": coding}], "individual": {"identifier": {"system": "h", "value": "D1"}}}]
    leaves = (("type", "coding", "code"), ("individual", "identifier", "value"))
    later = {"type": [{"coding": coding}], "individual": {"identifier": {"value": "D1"}}, "period": {"start": "2026"}}
    merge_into(items, later, leaves)
    assert items == [
        {
            "type": [{"coding": coding}],
            "individual": {"identifier": {"value": "D1", "system": "h"}},
            "period": {"start": "2026"},
        }
    ]
    assert later == {
        "type": [{"coding": coding}],
        "individual": {"identifier": {"value": "D1"}},
        "period": {"start": "2026"},
    }
    # another person: added; the same item again: not added twice
    other = {"type": [{"coding": coding}], "individual": {"identifier": {"value": "D2"}}}
    merge_into(items, other, leaves)
    merge_into(items, dict(other), leaves)
    assert [i["individual"]["identifier"]["value"] for i in items] == ["D1", "D2"]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("  - path: gender\n    from: PID-8\n    unique: [code]\n", "'unique' with leaves is for a list element"),
        ("  - path: telecom\n    from: PID-13\n    type: XTN\n    unique: []\n", "'unique' with leaves is for a list"),
    ],
)
def test_unique_leaves_are_for_a_list_element(tmp_path: Path, rule: str, reason: str):
    mappings = mappings_copy(tmp_path)
    path = mappings / "resource/Patient.yaml"
    path.write_text(path.read_text(encoding="utf-8") + rule, encoding="utf-8")
    with pytest.raises(MappingTemplateError, match=reason):
        Converter.load(mappings)
