"""OUL^R22/R23/R24 (laboratory results by specimen, container or order) → Specimen, DiagnosticReport, Observation.

Hand-written messages (Chinese test names) and the corpus: each specimen with its containers (SAC), each order's
report with its results and specimens, the order it answers named by its placer number.
"""

from __future__ import annotations

import pytest

from .conftest import convert, one, ref, resources
from .order_messages import corpus_message, message, msh, obr, orc, pid, pv1, segment

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
UCUM = "http://unitsofmeasure.org"


def spm(**fields: str) -> str:
    # SPM-2 placer&issuer^filler&issuer specimen ids, SPM-4 type, SPM-17 collected, SPM-18 received
    base = {1: "1", 2: "S100&HIS^S900&LIS", 4: "SER^血清^HL70487", 17: "20260315084500", 18: "20260315090000"}
    return segment("SPM", base, **fields)


def sac(**fields: str) -> str:
    # SAC-3 container id, SAC-21 container volume, SAC-22 available volume, SAC-24 volume units
    return segment("SAC", {3: "C100^HIS", 21: "5", 22: "3", 24: "mL"}, **fields)


def result(n: int, code: str, value: str, units: str, status: str = "F") -> str:
    # OBX-2 NM, OBX-3 code, OBX-5 value, OBX-6 units, OBX-11 result status
    return f"OBX|{n}|NM|{code}||{value}|{units}|||||{status}"


def r22(status: str = "F") -> str:
    return message(
        msh("OUL", "R22", "OUL_R22", "U1"),
        pid(),
        pv1(),
        spm(),
        # an observation about the specimen itself
        "OBX|1|ST|8251-1^外观^LN||溶血||||||F",
        sac(),
        # OBR-7 observation time, OBR-22 reported, OBR-25 result status
        obr(f7="20260315084500", f22="20260315100000", f25=status),
        orc(f1="RE"),
        result(1, "6690-2^白细胞^LN", "12.5", "10*9/L", status),
        "NTE|1||复查",
        result(2, "718-7^血红蛋白^LN", "135", "g/L", status),
    )


@pytest.fixture(scope="module")
def specimen_results(converter):
    return convert(converter, r22())


def test_r22_the_specimen_with_its_container(specimen_results):
    specimen = one(specimen_results, "Specimen")
    assert [(i["type"]["coding"][0]["code"], i["system"], i["value"]) for i in specimen["identifier"]] == [
        ("FILL", "urn:hub:id:LIS", "S900"),
        ("PLAC", "urn:hub:id:HIS", "S100"),
    ]
    assert specimen["container"] == [
        {
            "identifier": [{"system": "urn:hub:id:HIS", "value": "C100"}],
            "capacity": {"value": 5, "unit": "mL", "system": UCUM, "code": "mL"},
            "specimenQuantity": {"value": 3, "unit": "mL", "system": UCUM, "code": "mL"},
        }
    ]
    assert specimen["collection"] == {"collectedDateTime": "2026-03-15T08:45:00+08:00"}
    assert specimen["receivedTime"] == "2026-03-15T09:00:00+08:00"
    assert specimen["subject"] == ref(one(specimen_results, "Patient"))


def test_r22_the_report_of_the_specimen_s_order(specimen_results):
    report = one(specimen_results, "DiagnosticReport")
    specimen = one(specimen_results, "Specimen")
    white, haemoglobin, appearance = resources(specimen_results, "Observation")
    assert report["status"] == "final"
    assert report["code"]["coding"] == [{"system": "http://loinc.org", "code": "58410-2", "display": "血常规"}]
    assert report["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P100"}}
    ]
    assert report["specimen"] == [ref(specimen)]
    # the order's results, not the observation about the specimen
    assert report["result"] == [ref(white), ref(haemoglobin)]
    assert report["effectiveDateTime"] == "2026-03-15T08:45:00+08:00"
    assert report["issued"] == "2026-03-15T10:00:00+08:00"
    assert report["encounter"] == ref(one(specimen_results, "Encounter"))


def test_r22_results_and_the_observation_of_the_specimen(specimen_results):
    specimen = one(specimen_results, "Specimen")
    white, haemoglobin, appearance = resources(specimen_results, "Observation")
    assert white["valueQuantity"] == {"value": 12.5, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"}
    assert white["note"] == [{"text": "复查"}]
    assert white["status"] == "final"
    assert white["code"]["text"] == "白细胞"
    assert haemoglobin["valueQuantity"]["value"] == 135
    assert appearance["valueString"] == "溶血"
    for observation in (white, haemoglobin, appearance):
        assert observation["specimen"] == ref(specimen)
        assert observation["subject"] == ref(one(specimen_results, "Patient"))


def test_r22_result_status_of_a_preliminary_report(converter):
    bundle = convert(converter, r22("P"))
    assert one(bundle, "DiagnosticReport")["status"] == "preliminary"
    assert {o["status"] for o in resources(bundle, "Observation")} == {"preliminary", "final"}


def test_r24_each_order_with_its_own_specimens_and_results(converter):
    text = message(
        msh("OUL", "R24", "OUL_R24", "U2"),
        pid(),
        pv1(),
        obr(f25="F"),
        orc(f1="RE"),
        spm(),
        sac(),
        result(1, "6690-2^白细胞^LN", "6.1", "10*9/L"),
        obr(f1="2", f2="P101^HIS", f3="F201^LIS", f4="2345-7^葡萄糖^LN", f25="F"),
        orc(f1="RE", f2="P101^HIS", f3="F201^LIS"),
        # the result before the specimen (an OBX right after SPM is the specimen's own, by the grammar)
        result(1, "2345-7^葡萄糖^LN", "5.6", "mmol/L"),
        spm(f2="S101&HIS^S901&LIS", f4="PLAS^血浆^HL70487"),
    )
    bundle = convert(converter, text)
    first, second = resources(bundle, "DiagnosticReport")
    serum, plasma = resources(bundle, "Specimen")
    white, glucose = resources(bundle, "Observation")
    assert first["specimen"] == [ref(serum)] and first["result"] == [ref(white)]
    assert second["specimen"] == [ref(plasma)] and second["result"] == [ref(glucose)]
    assert second["basedOn"][0]["identifier"] == {"system": "urn:hub:id:HIS", "value": "P101"}
    assert glucose["specimen"] == ref(plasma)
    assert serum["container"][0]["identifier"] == [{"system": "urn:hub:id:HIS", "value": "C100"}]
    assert "container" not in plasma


def test_r23_the_container_s_orders_are_the_specimen_s(converter):
    text = message(
        msh("OUL", "R23", "OUL_R23", "U3"),
        pid(),
        spm(),
        sac(),
        obr(f25="F"),
        result(1, "6690-2^白细胞^LN", "6.1", "10*9/L"),
    )
    bundle = convert(converter, text)
    report = one(bundle, "DiagnosticReport")
    specimen = one(bundle, "Specimen")
    assert report["specimen"] == [ref(specimen)]
    assert one(bundle, "Observation")["specimen"] == ref(specimen)
    assert specimen["container"][0]["capacity"]["value"] == 5
    assert "encounter" not in report  # no PV1


def test_the_same_result_sent_again_has_the_same_ids(converter):
    first = convert(converter, r22())
    again = convert(converter, r22("C"))
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in again["entry"]]
    assert {o["status"] for o in resources(again, "Observation") if o["code"]["text"] != "外观"} == {"corrected"}
    assert one(again, "DiagnosticReport")["status"] == "corrected"


@pytest.mark.parametrize("name", ["OUL-R22-01.hl7", "OUL-R23-01.hl7", "OUL-R24-01.hl7"])
def test_corpus_oul_one_specimen_one_report(converter, name):
    bundle = converter.convert(corpus_message(name))
    report = one(bundle, "DiagnosticReport")
    specimen = one(bundle, "Specimen")
    assert report["specimen"] == [ref(specimen)]
    assert report["basedOn"] == [
        {
            "type": "ServiceRequest",
            "identifier": {"system": "urn:hub:id:L", "value": "5ca95f51971d414bbcb4be9ca88e9846"},
        }
    ]
    assert [i["value"] for i in report["identifier"]] == ["40bcbe96bcbf8cda8b07403263b92cb4"] + [
        "5ca95f51971d414bbcb4be9ca88e9846"
    ]
    # SPM-2.1 placer specimen id; SAC-3 its container
    assert specimen["identifier"][0]["value"] == "2017-PAT-123456-1"
    assert specimen["container"][0]["identifier"][0]["value"] == "2017-PAT-123456-1-2-5"
    observations = resources(bundle, "Observation")
    assert len(observations) == 6
    # four results (the OBX of the order's document, an ED without code or data, is none), the specimen's own
    # observation, the patient's (the OBX after the PID): all but the patient's are of the specimen
    assert [o.get("specimen") for o in observations].count(ref(specimen)) == 5
    assert len(report["result"]) == 4


def test_corpus_oul_r24_two_orders(converter):
    bundle = converter.convert(corpus_message("OUL-R24-02.hl7"))
    first, second = resources(bundle, "DiagnosticReport")
    specimen = one(bundle, "Specimen")
    assert first["specimen"] == [ref(specimen)]
    assert "specimen" not in second  # the second order sent no SPM
    # the first order's document OBX (an ED without code or data) is no result
    assert len(first["result"]) == 2 and len(second["result"]) == 2
    assert not set(map(str, first["result"])) & set(map(str, second["result"]))


@pytest.mark.parametrize("event", ["R22", "R23", "R24"])
def test_an_observation_about_the_patient_is_no_result(converter, event):
    # OBX right after the PID (PATIENT_OBSERVATION): the patient's body weight, not a result of the order
    weight = "OBX|1|NM|29463-7^体重^LN||62.5|kg^kg^UCUM|||||F|||20260315080000"
    if event == "R24":
        body = [obr(f25="F"), orc(f1="RE"), result(1, "6690-2^白细胞^LN", "6.1", "10*9/L"), spm()]
    else:
        body = [spm(), sac(), obr(f25="F"), orc(f1="RE"), result(1, "6690-2^白细胞^LN", "6.1", "10*9/L")]
    bundle = convert(converter, message(msh("OUL", event, f"OUL_{event}", "U9"), pid(), weight, pv1(), *body))
    weight_observation, white = sorted(resources(bundle, "Observation"), key=lambda o: o["code"]["coding"][0]["code"])
    assert weight_observation["code"]["coding"][0]["code"] == "29463-7"
    assert weight_observation["valueQuantity"] == {"value": 62.5, "unit": "kg", "system": UCUM, "code": "kg"}
    assert weight_observation["effectiveDateTime"] == "2026-03-15T08:00:00+08:00"
    assert weight_observation["subject"] == ref(one(bundle, "Patient"))
    assert "specimen" not in weight_observation  # the order's specimen is not the patient's weight's
    assert white["specimen"] == ref(one(bundle, "Specimen"))
    assert one(bundle, "DiagnosticReport")["result"] == [ref(white)]


def test_the_order_s_document_is_a_document_reference(converter):
    # v2.8 ORDER_DOCUMENT after the ORC: an OBX, its TXA (TXA-2 document type, TXA-12 unique document number,
    # TXA-17 completion status AU authenticated, TXA-19 availability AV available)
    txa = "TXA|1|PATH^病理报告^L||20260315100000||||||||DOC100^LIS|||||AU||AV"
    text = message(
        msh("OUL", "R22", "OUL_R22", "U3"),
        pid(),
        pv1(),
        spm(),
        obr(f25="F"),
        orc(f1="RE"),
        "OBX|1|ED|PDF^报告^L||^AP^PDF^Base64^JVBERi0xLjQ=||||||F",
        txa,
        result(2, "6690-2^白细胞^LN", "6.1", "10*9/L"),
    )
    bundle = convert(converter, text)
    document = one(bundle, "DocumentReference")
    assert document["masterIdentifier"]["value"] == "DOC100"
    assert document["type"]["coding"][0]["code"] == "PATH"
    assert document["status"] == "current"
    assert document["docStatus"] == "final"
    assert document["subject"] == ref(one(bundle, "Patient"))
    assert document["context"]["encounter"] == [ref(one(bundle, "Encounter"))]


NOTE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"


@pytest.mark.parametrize("event", ["R22", "R23", "R24"])
def test_the_patient_s_note_is_a_note_of_each_report(converter, event):
    # NTE right after the PID (PATIENT.NTE: fasting, drawn at home …): as in an ORU^R01 (a91165a), a note of each
    # report of the patient's results (R5 DiagnosticReport.note), before the order's own NTE; R4's Patient has no
    # note, and neither the specimen nor the results carry it (their reports do)
    first = [obr(f25="F"), orc(f1="RE"), "NTE|1||标本轻度溶血", result(1, "6690-2^白细胞^LN", "6.1", "10*9/L")]
    first.append("NTE|1||复查")
    second = [
        obr(f1="2", f2="P101^HIS", f3="F201^LIS", f4="2345-7^葡萄糖^LN", f25="F"),
        orc(f1="RE", f2="P101^HIS", f3="F201^LIS"),
        result(1, "2345-7^葡萄糖^LN", "5.6", "mmol/L"),
    ]
    body = [*first, spm(), *second] if event == "R24" else [spm(), sac(), *first, *second]
    patient_note = "NTE|1||患者空腹采血|||20260315070000"
    # (an NTE right after the MSH is the message's, not the patient's: no note of the reports)
    header = [msh("OUL", event, f"OUL_{event}", "U10"), "NTE|1||批量上传"]
    bundle = convert(converter, message(*header, pid(), patient_note, pv1(), *body))
    fasting = {"url": NOTE, "valueAnnotation": {"text": "患者空腹采血", "time": "2026-03-15T07:00:00+08:00"}}
    haemolysed = {"url": NOTE, "valueAnnotation": {"text": "标本轻度溶血"}}
    blood_count, glucose_report = resources(bundle, "DiagnosticReport")
    assert blood_count["extension"] == [fasting, haemolysed]
    assert glucose_report["extension"] == [fasting]
    white, glucose = resources(bundle, "Observation")
    assert white["note"] == [{"text": "复查"}]
    assert "note" not in glucose
    assert "note" not in one(bundle, "Specimen") and "note" not in one(bundle, "Patient")
