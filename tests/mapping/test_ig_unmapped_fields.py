"""The fields hospitals send most that no rule read (``unmapped-field``), each decided by what the HL7 v2-to-FHIR
IG (hl7.org/fhir/uv/v2mappings, the segment maps' CSV sources) says of it: mapped where the IG maps it to an R4
element, declared ``not_carried`` (with the reason) where the IG maps it to nothing, or only to a US or veterinary
extension; either way the conversion report no longer lists it, and a field still read by no rule still is."""

from __future__ import annotations

from .conftest import one, resources, with_report
from .order_messages import message, msh, obr, orc, pid, pv1, segment
from .test_unmapped_fields import fields_of


def adt(*segments: str) -> str:
    """An ADT^A01 with the patient, the visit and the segments given."""
    return message(msh("ADT", "A01", "ADT_A01", "ADTIG1"), "EVN|A01|20260315083000", *segments)


def test_fields_the_ig_maps_to_nothing_or_to_a_us_or_veterinary_extension_are_declared(converter):
    # PID-27 veterans military status (IG: an undefined extension), PID-35/36 species and breed (patient-animal,
    # veterinary), PID-39 tribal citizenship (US); PD1-1 living dependency, PD1-16/17 immunization registry status
    # and its date (IG PD1[Patient]: none); PV1-41 account status (IG PV1[Encounter]: none); IN1-37 policy
    # deductible, IN1-44 the insured's employer's address (IG IN1[Coverage]: none); IN2 (no IG map): IN2-1 the
    # insured's employee id, IN2-5 mail claim party, IN2-6 the Medicare card number, IN2-10 the military id,
    # IN2-34 the insured's language, IN2-49/50 the employer's contact person and number, IN2-64 the employer's
    # number, IN2-72 the patient's relationship to the insured (IN1-17 says it)
    text = adt(
        pid(f27="C^退伍军人", f35="337915000^Homo sapiens^SCT", f36="BR1^混种", f39="T1^某部落"),
        segment("PD1", {1: "S^独居", 16: "A^在册", 17: "20250101"}),
        pv1(f41="A^正常"),
        segment(
            "IN1",
            {**INSURANCE, 37: "500", 44: "深南大道1号"},
        ),
        segment(
            "IN2",
            {
                1: "E001",
                5: "P",
                6: "1EG4TE5MK72",
                10: "MIL01",
                34: "zh^中文",
                49: "王^芳",
                50: "0755-1234567",
                61: "",
                64: "0755-7654321",
                72: "01",
            },
        ),
    )
    _bundle, report = with_report(converter, text)
    declared = {
        "PID-27", "PID-35", "PID-36", "PID-39", "PD1-1", "PD1-16", "PD1-17", "PV1-41", "IN1-37", "IN1-44",
        "IN2-1", "IN2-5", "IN2-6", "IN2-10", "IN2-34", "IN2-49", "IN2-50", "IN2-64", "IN2-72",
    }  # fmt: skip
    assert declared.isdisjoint(fields_of(report))


def test_a_field_the_ig_maps_and_no_rule_reads_is_still_reported(converter):
    # PV1-18 patient type: the IG leaves it to the implementer; the hub does not choose for a hospital: reported
    _bundle, report = with_report(converter, adt(pid(), pv1(f18="01^普通")))
    assert "PV1-18" in fields_of(report)


def test_the_place_of_worship_is_the_congregation_extension(converter):
    # IG PD1[Patient] row 14: extension patient-congregation, its name (XON.1) as a string; one per patient
    bundle, report = with_report(converter, adt(pid(), segment("PD1", {14: "基督教深圳堂~天主教圣母堂"}), pv1()))
    patient = one(bundle, "Patient")
    assert {"url": CONGREGATION, "valueString": "基督教深圳堂"} in patient["extension"]
    assert [e for e in patient["extension"] if e["url"] == CONGREGATION] == [
        {"url": CONGREGATION, "valueString": "基督教深圳堂"}
    ]
    assert "PD1-14" not in fields_of(report)


def test_a_parent_diagnosis_is_the_condition_it_is_due_to(converter):
    # IG DG1[Condition] row 22: extension condition-dueTo, a Reference(Condition) by the parent's identifier (DG1-20)
    parent = segment("DG1", {1: "1", 3: "I10^高血压^I10", 6: "F", 20: "D1^HIS"})
    child = segment("DG1", {1: "2", 3: "I11.9^高血压性心脏病^I10", 6: "F", 20: "D2^HIS", 22: "D1^HIS"})
    bundle, report = with_report(converter, adt(pid(), pv1(), parent, child))
    conditions = {c["identifier"][0]["value"]: c for c in resources(bundle, "Condition")}
    assert conditions["D2"]["extension"] == [
        {"url": DUE_TO, "valueReference": {"type": "Condition", "identifier": conditions["D1"]["identifier"][0]}}
    ]
    assert "extension" not in conditions["D1"]
    assert "DG1-22" not in fields_of(report)


def test_a_procedures_treating_unit_and_parent_procedure(converter):
    # IG PR1[Procedure] row 23: location (PL[Location]), the first unit; row 25: partOf, Reference(Procedure) by the
    # parent's identifier (PR1-19)
    parent = segment("PR1", {1: "1", 3: "88.56^冠状动脉造影^ICD9CM", 5: "202603151000", 19: "P1"})
    child = segment(
        "PR1",
        {1: "2", 3: "36.06^冠脉支架植入^ICD9CM", 5: "202603151030", 19: "P2", 23: "心导管室~介入病房", 25: "P1"},
    )
    bundle, report = with_report(converter, adt(pid(), pv1(), parent, child))
    procedures = {p["identifier"][0]["value"]: p for p in resources(bundle, "Procedure")}
    assert procedures["P2"]["location"] == {"display": "心导管室"}
    assert procedures["P2"]["partOf"] == [{"type": "Procedure", "identifier": procedures["P1"]["identifier"][0]}]
    assert "partOf" not in procedures["P1"] and "location" not in procedures["P1"]
    assert not {"PR1-23", "PR1-25"} & fields_of(report)


def test_the_insureds_group_employer_is_the_policy_holder(converter):
    # IG IN1[Coverage] row 11: policyHolder, the employer's Organization (XON[Organization]); here by identifier
    # (IN1-10 is the group employer's id in the IG, XON.10 here) and name
    in1 = segment("IN1", {**INSURANCE, 11: "深圳市某科技有限公司^^^^^^^^^91440300X"})
    bundle, report = with_report(converter, adt(pid(), pv1(), in1))
    holder = one(bundle, "Coverage")["policyHolder"]
    assert holder["type"] == "Organization"
    assert holder["display"] == "深圳市某科技有限公司"
    assert holder["identifier"]["value"] == "91440300X"
    assert "IN1-11" not in fields_of(report)


# IN1-2 the plan, IN1-3 and IN1-4 the insurer, IN1-17 SEL: the patient is the insured
INSURANCE = {1: "1", 2: "CZJ^城镇职工医保", 3: "SZYB^^^SZ", 4: "深圳市医疗保障局", 17: "SEL"}
CONGREGATION = "http://hl7.org/fhir/StructureDefinition/patient-congregation"
DUE_TO = "http://hl7.org/fhir/StructureDefinition/condition-dueTo"


def test_the_last_update_of_the_patient_record_is_declared(converter):
    # PID-33 (IG: meta.lastUpdated, which the store stamps itself) and PID-34 (IG: an extension it does not name)
    _bundle, report = with_report(converter, adt(pid(f33="20260314120000", f34="SZRMYY"), pv1()))
    assert not {"PID-33", "PID-34"} & fields_of(report)


def test_the_producer_of_a_result_is_a_performing_organization(converter):
    # IG OBX[Observation] row 15: performer, the producer's Organization by identifier (CWE.1, its system CWE.3)
    obx = "OBX|1|NM|718-7^血红蛋白^LN||98|g/L|||||F||||SZLAB^深圳市临床检验中心^99LAB"
    bundle, report = with_report(converter, adt(pid(), pv1(), obx))
    performers = one(bundle, "Observation")["performer"]
    assert performers == [
        {
            "type": "Organization",
            "identifier": {"system": "urn:hub:code:SZRMYY:99LAB", "value": "SZLAB"},
            "display": "深圳市临床检验中心",
        }
    ]
    assert "OBX-15" not in fields_of(report)


def test_the_patients_member_number_is_a_coverage_identifier(converter):
    # IN2-61 patient member number (no IG map; R4 Coverage.identifier: "the member id" the insurer issues)
    in2 = segment("IN2", {61: "M123456^^^SZYB^MB"})
    bundle, report = with_report(converter, adt(pid(), pv1(), segment("IN1", INSURANCE), in2))
    identifiers = one(bundle, "Coverage").get("identifier", [])
    assert any(i.get("value") == "M123456" for i in identifiers)
    assert "IN2-61" not in fields_of(report)


def test_the_mothers_identifier_is_a_related_person_mother(converter):
    # IG PID[Patient] row 21: CX[RelatedPerson-Mother] — a RelatedPerson of the patient, relationship MTH (v3
    # RoleCode), identifier the CX; a newborn's record names its mother's
    text = adt(pid(f21="MRN0999^^^SZRMYY^MR"), pv1())
    bundle, report = with_report(converter, text)
    patient = one(bundle, "Patient")
    mother = one(bundle, "RelatedPerson")
    assert mother["patient"] == {"reference": f"Patient/{patient['id']}"}
    assert mother["relationship"][0]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
    assert mother["relationship"][0]["coding"][0]["code"] == "MTH"
    assert [i["value"] for i in mother["identifier"]] == ["MRN0999"]
    assert "PID-21" not in fields_of(report)


def test_without_a_mothers_identifier_there_is_no_mother(converter):
    bundle, _report = with_report(converter, adt(pid(), pv1()))
    assert resources(bundle, "RelatedPerson") == []


def test_an_order_names_the_mother_too(converter):
    # every structure with a patient: an ORM's PID-21 as an ADT's
    text = message(msh("ORM", "O01", "ORM_O01", "ORMIG1"), pid(f21="MRN0999^^^SZRMYY^MR"), pv1(), orc(), obr())
    bundle, report = with_report(converter, text)
    assert one(bundle, "RelatedPerson")["relationship"][0]["coding"][0]["code"] == "MTH"
    assert "PID-21" not in fields_of(report)


def test_an_orders_result_status_is_declared(converter):
    # OBR-25 in an order (ORM, OML, OMG, DFT, MDM: the OBR makes a ServiceRequest only): IG OBR[ServiceRequest]
    # maps it to nothing; where the message makes a report, DiagnosticReport.status reads it
    text = message(msh("ORM", "O01", "ORM_O01", "ORMIG2"), pid(), pv1(), orc(), obr(f25="F"))
    _bundle, report = with_report(converter, text)
    assert "OBR-25" not in fields_of(report)


def test_the_reason_a_value_is_absent_is_the_data_absent_reason(converter):
    # OBX-32 observation value absent reason (v2.8.2, table 0960): the IG maps it to nothing; R4's
    # Observation.dataAbsentReason says exactly that, and only without a value (obs-6)
    obx = segment("OBX", {1: "1", 2: "NM", 3: "718-7^血红蛋白^LN", 6: "g/L", 11: "X", 32: "NA^标本溶血^HL70960"})
    bundle, report = with_report(converter, adt(pid(), pv1(), obx))
    observation = one(bundle, "Observation")
    assert observation["dataAbsentReason"]["coding"][0]["code"] == "NA"
    assert observation["dataAbsentReason"]["coding"][0]["display"] == "标本溶血"
    assert "OBX-32" not in fields_of(report)
    # with a value, no reason (obs-6): the value is the result
    valued = {1: "1", 2: "NM", 3: "718-7^血红蛋白^LN", 5: "98", 6: "g/L", 11: "F", 32: "NA^标本溶血^HL70960"}
    obx = segment("OBX", valued)
    bundle, _report = with_report(converter, adt(pid(), pv1(), obx))
    assert "dataAbsentReason" not in one(bundle, "Observation")
