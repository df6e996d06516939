"""OML^O33 (specimen-oriented order), OML^O35 (specimen-container-oriented order), OUL^R21 (unsolicited laboratory
observation, v2.4–v2.6) and ORU^R30–R32 (point-of-care observation): the resources and their references."""

from __future__ import annotations

import pytest

from .conftest import convert, one, ref, resources

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def message(code: str, structure: str, *segments: str, version: str = "2.5.1") -> str:
    header = f"MSH|^~\\&|LIS|{HOSPITAL}|HUB|CITY|20260316080000||{code}^{structure}|{structure}-1|P|{version}"
    patient = (
        "PID|1||MRN0003^^^SZRMYY^MR||王小明||19880101|M",
        "PV1|1|O|检验科^^^SZRMYY||||||||||||||||V0033^^^SZRMYY^VN",
    )
    return "\r".join((header, *patient, *segments)) + "\r"


# One venous blood specimen (SPM-2.2 the laboratory's id), its volume, and the orders performed on it
SPECIMEN = (
    "SPM|1|^S2026031601&LIS||BLD^Whole blood^HL70487|||||||||||||20260316075000|20260316075500",
    "OBX|1|NM|3167-4^Volume of Specimen^LN||5|mL^mL^UCUM||||||F",
)
CBC = ("ORC|NW|P31^HIS||||||||||D008^孙^丽", "OBR|1|P31^HIS||58410-2^CBC panel - Blood^LN|||20260316075000")
CMP = (
    "ORC|NW|P32^HIS||||||||||D008^孙^丽",
    "OBR|2|P32^HIS||24323-8^Comprehensive metabolic panel^LN|||20260316075000",
    # a question answered at order entry
    "OBX|1|CWE|8691-8^History of Travel^LN||N^否^HL70136||||||F",
)


def test_oml_o33_orders_performed_on_one_specimen(converter):
    sac = "SAC|||C2026031601^LIS" + "|" * 18 + "5|4.5||mL"
    bundle = convert(converter, message("OML^O33", "OML_O33", *SPECIMEN, sac, *CBC, *CMP))
    patient, encounter, specimen = one(bundle, "Patient"), one(bundle, "Encounter"), one(bundle, "Specimen")
    cbc, cmp_ = resources(bundle, "ServiceRequest")
    assert [s["code"]["coding"][0]["code"] for s in (cbc, cmp_)] == ["58410-2", "24323-8"]
    for order in (cbc, cmp_):
        assert order["specimen"] == [ref(specimen)]
        assert order["subject"] == ref(patient) and order["encounter"] == ref(encounter)
        assert order["intent"] == "order" and order["status"] == "active"
    assert cbc["identifier"][0]["value"] == "P31" and cbc["requester"]["display"] == "孙丽"
    assert specimen["identifier"][0]["type"]["coding"][0]["code"] == "FILL"
    assert specimen["identifier"][0]["value"] == "S2026031601"
    assert specimen["type"]["coding"][0]["code"] == "BLD" and specimen["subject"] == ref(patient)
    assert specimen["container"] == [
        {
            "identifier": [{"system": "urn:hub:id:LIS", "value": "C2026031601"}],
            "capacity": {"value": 5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
            "specimenQuantity": {"value": 4.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
        }
    ]
    travel, volume = resources(bundle, "Observation")  # in rule order: the orders', then the specimen's
    # the specimen's own observation is of the specimen; the order-entry answer supports its order only
    assert volume["code"]["coding"][0]["code"] == "3167-4" and volume["specimen"] == ref(specimen)
    assert cmp_["supportingInfo"] == [ref(travel)] and "supportingInfo" not in cbc


def test_oml_o33_a_cancelled_order_without_its_obr(converter):
    cancel = ("ORC|CA|P31^HIS||||||||||D008^孙^丽",)
    bundle = convert(converter, message("OML^O33", "OML_O33", *SPECIMEN, *cancel, *CMP))
    # in rule order: the OBR's ServiceRequest, then the one of the ORC alone
    active, cancelled = resources(bundle, "ServiceRequest")
    assert cancelled["status"] == "revoked" and active["status"] == "active"
    # the cancel names the same order as the OBR that placed it
    placed = one(convert(converter, message("OML^O33", "OML_O33", *SPECIMEN, *CBC)), "ServiceRequest")
    assert cancelled["id"] == placed["id"]


def test_oml_o35_orders_per_container_of_the_specimen(converter):
    edta = "SAC|||C01^LIS" + "|" * 18 + "5|||mL|||EDTA^EDTA K2^HL70371"
    plain = "SAC|||C02^LIS" + "|" * 18 + "5|||mL"
    bundle = convert(converter, message("OML^O35", "OML_O35", *SPECIMEN, edta, *CBC, plain, *CMP))
    specimen = one(bundle, "Specimen")
    assert [c["identifier"][0]["value"] for c in specimen["container"]] == ["C01", "C02"]
    assert specimen["container"][0]["additiveCodeableConcept"]["coding"][0]["code"] == "EDTA"
    orders = resources(bundle, "ServiceRequest")
    assert [o["identifier"][0]["value"] for o in orders] == ["P31", "P32"]
    assert all(o["specimen"] == [ref(specimen)] for o in orders)
    # the order in the second container keeps its own order-entry answer
    travel = next(o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "8691-8")
    assert orders[1]["supportingInfo"] == [ref(travel)] and "supportingInfo" not in orders[0]


def test_two_specimens_each_with_its_orders(converter):
    urine = ("SPM|2|^S2026031602&LIS||UR^Urine^HL70487",)
    ua = ("ORC|NW|P33^HIS", "OBR|3|P33^HIS||24356-8^Urinalysis complete panel^LN")
    bundle = convert(converter, message("OML^O33", "OML_O33", *SPECIMEN, *CBC, *urine, *ua))
    blood, urine_ = resources(bundle, "Specimen")
    cbc, urinalysis = resources(bundle, "ServiceRequest")
    assert cbc["specimen"] == [ref(blood)] and urinalysis["specimen"] == [ref(urine_)]


def test_oul_r21_results_of_each_order(converter):
    segments = (
        # SAC-2 accession number, SAC-3 container id, SAC-6 specimen source (SPS: its first component a CWE)
        "SAC||A2026-0316-01^LIS|C2026031602^LIS|||BLD&全血&HL70070",
        "ORC|RE|P51^HIS|F51^LIS",
        "OBR|1|P51^HIS|F51^LIS|GLU^血糖^L|||20260316070000" + "|" * 15 + "20260316133000|||F",
        "OBX|1|NM|2345-7^Glucose^LN||6.8|mmol/L|3.9-6.1|H|||F|||20260316130000",
        "NTE|1||空腹",
        "OBX|2|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.3|N|||F|||20260316130000",
        "ORC|RE|P52^HIS|F52^LIS",
        "OBR|1|P52^HIS|F52^LIS|718-7^Hemoglobin^LN|||20260316070000" + "|" * 15 + "20260316133000|||F",
        "OBX|1|NM|718-7^Hemoglobin^LN||128|g/L|115-150|N|||F",
    )
    bundle = convert(converter, message("OUL^R21", "OUL_R21", *segments, version="2.4"))
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    glucose_report, hb_report = resources(bundle, "DiagnosticReport")
    glucose, potassium, hb = resources(bundle, "Observation")
    assert glucose_report["result"] == [ref(glucose), ref(potassium)] and hb_report["result"] == [ref(hb)]
    assert glucose_report["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P51"}}
    ]
    assert glucose_report["status"] == "final" and glucose_report["issued"] == "2026-03-16T13:30:00+08:00"
    assert glucose_report["subject"] == ref(patient) and glucose_report["encounter"] == ref(encounter)
    assert glucose["valueQuantity"]["value"] == 6.8 and glucose["interpretation"][0]["coding"][0]["code"] == "H"
    assert glucose["note"] == [{"text": "空腹"}] and glucose["subject"] == ref(patient)
    assert encounter["status"] == "unknown"  # a result is not a visit event
    # no SPM: the specimen is the one in the container (SAC), the specimen of its order's report and results
    # (the second order sends no container: no specimen, not the first order's)
    specimen = one(bundle, "Specimen")
    assert specimen["container"] == [{"identifier": [{"system": "urn:hub:id:LIS", "value": "C2026031602"}]}]
    assert specimen["accessionIdentifier"] == {"system": "urn:hub:id:LIS", "value": "A2026-0316-01"}
    assert specimen["type"]["coding"][-1]["code"] == "BLD" and specimen["type"]["text"] == "全血"
    assert specimen["subject"] == ref(patient)
    assert glucose_report["specimen"] == [ref(specimen)] and glucose["specimen"] == ref(specimen)
    assert "specimen" not in hb_report and "specimen" not in hb


def test_oul_r21_the_patient_s_note_is_a_note_of_each_report(converter):
    # NTE right after the PID (PATIENT.NTE): a note of each report (R5 DiagnosticReport.note), as in an ORU^R01
    segments = (
        "OBR|1|P51^HIS|F51^LIS|GLU^血糖^L|||20260316070000" + "|" * 15 + "20260316133000|||F",
        "OBX|1|NM|2345-7^Glucose^LN||6.8|mmol/L|3.9-6.1|H|||F|||20260316130000",
        "OBR|2|P52^HIS|F52^LIS|718-7^Hemoglobin^LN|||20260316070000" + "|" * 15 + "20260316133000|||F",
        "OBX|1|NM|718-7^Hemoglobin^LN||128|g/L|115-150|N|||F",
    )
    text = message("OUL^R21", "OUL_R21", *segments, version="2.4").replace("\rPV1|", "\rNTE|1||患者空腹\rPV1|", 1)
    bundle = convert(converter, text)
    note = {"url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"}
    note["valueAnnotation"] = {"text": "患者空腹"}
    assert [report["extension"] for report in resources(bundle, "DiagnosticReport")] == [[note], [note]]
    assert all("note" not in observation for observation in resources(bundle, "Observation"))


@pytest.mark.parametrize("event", ["R30", "R31", "R32"])
def test_oru_r30_point_of_care_results(converter, event):
    segments = (
        "ORC|NW||POC778^POCT" + "|" * 18 + "ICU^^^SZRMYY",
        "OBR|1||POC778^POCT|24336-0^Gas panel - Arterial blood^LN|||20260316101000" + "|" * 15 + "20260316101200|||F",
        "OBX|1|NM|2744-1^pH of Arterial blood^LN||7.32||7.35-7.45|L|||F|||20260316101000",
        "OBX|2|NM|2019-8^Carbon dioxide [Partial pressure] in Arterial blood^LN||52|mm[Hg]|35-45|H|||F",
        "NTE|1||吸氧 3L/min",
    )
    text = message(f"ORU^{event}", "ORU_R30", *segments)
    # an OBX about the patient before the visit (v2.8 PATIENT_OBSERVATION): no result of the report
    text = text.replace("\rPV1|", "\rOBX|1|NM|8310-5^Body temperature^LN||37.8|Cel|||||F\rPV1|", 1)
    bundle = convert(converter, text)
    patient, report = one(bundle, "Patient"), one(bundle, "DiagnosticReport")
    ph, pco2, temperature = resources(bundle, "Observation")
    assert report["code"]["coding"][0]["code"] == "24336-0" and report["status"] == "final"
    assert report["result"] == [ref(ph), ref(pco2)]
    assert report["identifier"][0]["value"] == "POC778" and report["subject"] == ref(patient)
    assert ph["valueQuantity"]["value"] == 7.32 and pco2["note"] == [{"text": "吸氧 3L/min"}]
    assert temperature["code"]["coding"][0]["code"] == "8310-5" and temperature["subject"] == ref(patient)
