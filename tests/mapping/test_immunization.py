"""VXU^V04 → Immunization, field by field: a Chinese vaccination record (GB18030), its status events, the corpus."""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.fhir.validation import validate_bundle
from hub.mapping import convert_bytes

from .conftest import convert, one, ref, resources
from .order_messages import HOSPITAL, corpus_message, encoded, message, msh, orc, pid, pv1, segment

UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
V2_0443 = "http://terminology.hl7.org/CodeSystem/v2-0443"


def rxa(**fields: str) -> str:
    # RXA-3 when, RXA-5 vaccine (CVX by its table's HL7 name, with the national code as the alternate),
    # RXA-6/7 amount and units, RXA-9 00 new record, RXA-10 administering nurse, RXA-11 where (facility),
    # RXA-15 lot, RXA-16 expiry, RXA-17 manufacturer, RXA-20 completion status, RXA-21 action code
    base = {
        1: "0",
        2: "1",
        3: "20260315093000",
        5: "45^Hep B, unspecified formulation^HL70292^0201^乙肝疫苗（CHO）^CNVAC",
        6: "1",
        7: "mL^mL^UCUM",
        9: "00^新接种^NIP001",
        10: "N02^赵^敏",
        11: f"^^^{HOSPITAL}",
        15: "B2026A",
        16: "20270630",
        17: "HUALAN^华兰生物^MVX",
        20: "CP",
        21: "A",
    }
    return segment("RXA", base, **fields)


OBSERVATIONS = (
    # OBX-3 what the observation is about (LOINC), OBX-4 sub-id, OBX-5 the value
    "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V01^Not VFC eligible^HL70064||||||F",
    "OBX|2|CE|30963-3^Vaccine funding source^LN|2|PHC70^Private^CDCPHINVS||||||F",
    "OBX|3|CE|69764-9^Document type^LN|3|253088698300026411121116^Hepatitis B VIS^cdcgs1vis||||||F",
    "OBX|4|DT|29769-7^Date VIS presented^LN|3|20260315||||||F",
)


def vxu(*order: str, control: str = "VX1", charset: str = "") -> str:
    # ORC-3 the immunization's id (filler order number), ORC-12 ordering doctor
    body = order or (orc(f1="RE", f2="", f3=f"IZ-1001^{HOSPITAL}"), rxa(), "RXR|IM^肌肉注射^HL70162|LA^左上臂^HL70163")
    return message(msh("VXU", "V04", "VXU_V04", control, charset=charset), pid(), pv1(), *body, *OBSERVATIONS)


def immunization(converter, *order: str, control: str = "VX1") -> dict:
    return one(convert(converter, vxu(*order, control=control)), "Immunization")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    bundle = convert_bytes(encoded(vxu(charset="GB18030")), Settings(data_dir=tmp_path_factory.mktemp("vxu")))
    assert validate_bundle(bundle, models=True) == []
    return bundle


def test_a_vaccination_in_gb18030_field_by_field(record):
    shot = one(record, "Immunization")
    assert shot["identifier"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "FILL",
                        "display": "Filler Identifier",
                    }
                ]
            },
            "system": f"urn:hub:id:{HOSPITAL}",
            "value": "IZ-1001",
        }
    ]
    assert shot["status"] == "completed"
    # CVX by table 0292's name: the CVX coding first, the sender's (v2-0292 and the national code) after it
    assert shot["vaccineCode"] == {
        "coding": [
            {"system": CVX, "code": "45"},
            {
                "system": "http://terminology.hl7.org/CodeSystem/v2-0292",
                "code": "45",
                "display": "Hep B, unspecified formulation",
            },
            {"system": "urn:hub:code:SZRMYY:CNVAC", "code": "0201", "display": "乙肝疫苗（CHO）"},
        ],
        "text": "Hep B, unspecified formulation",
    }
    assert shot["patient"] == ref(one(record, "Patient"))
    assert shot["encounter"] == ref(one(record, "Encounter"))
    assert shot["occurrenceDateTime"] == "2026-03-15T09:30:00+08:00"
    assert shot["primarySource"] is True
    assert "reportOrigin" not in shot
    assert shot["location"] == {"display": HOSPITAL}
    assert shot["manufacturer"] == {
        "identifier": {"system": "http://hl7.org/fhir/sid/mvx", "value": "HUALAN"},
        "display": "华兰生物",
    }
    assert shot["lotNumber"] == "B2026A"
    assert shot["expirationDate"] == "2027-06-30"
    assert shot["site"] == {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0163", "code": "LA", "display": "左上臂"}],
        "text": "左上臂",
    }
    assert shot["route"] == {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
                "code": "IM",
                "display": "Injection, intramuscular",
            },
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0162", "code": "IM", "display": "肌肉注射"},
        ],
        "text": "肌肉注射",
    }
    assert shot["doseQuantity"] == {"value": 1, "unit": "mL", "system": UCUM, "code": "mL"}
    assert shot["performer"] == [
        {
            "function": {"coding": [{"system": V2_0443, "code": "AP", "display": "Administering Provider"}]},
            "actor": {"identifier": {"value": "N02"}, "display": "赵敏"},
        },
        {
            "function": {"coding": [{"system": V2_0443, "code": "OP", "display": "Ordering Provider"}]},
            "actor": {"identifier": {"system": f"urn:hub:id:{HOSPITAL}", "value": "D001"}, "display": "王伟"},
        },
    ]
    assert "isSubpotent" not in shot and "statusReason" not in shot


def test_the_order_s_observations(record):
    shot = one(record, "Immunization")
    assert shot["programEligibility"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0064",
                    "code": "V01",
                    "display": "Not VFC eligible",
                }
            ],
            "text": "Not VFC eligible",
        }
    ]
    assert shot["fundingSource"] == {
        "coding": [{"system": "urn:oid:2.16.840.1.114222.4.5.274", "code": "PHC70", "display": "Private"}],
        "text": "Private",
    }
    # the statement and its presentation date share the sub-id 3
    assert shot["education"] == [{"documentType": "Hepatitis B VIS", "presentationDate": "2026-03-15"}]


def test_a_refused_vaccination_is_not_done_with_its_reason(converter):
    order = (orc(f1="RE", f2="", f3="IZ-1002"), rxa(f6="999", f18="00^家长拒绝^NIP002", f20="RE"))
    shot = immunization(converter, *order)
    assert shot["status"] == "not-done"
    assert shot["statusReason"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:NIP002", "code": "00", "display": "家长拒绝"}],
        "text": "家长拒绝",
    }
    assert "doseQuantity" not in shot  # 999: amount unknown


def test_a_deleted_record_is_entered_in_error_under_the_same_id(converter):
    given = immunization(converter)
    deleted = immunization(converter, orc(f1="RE", f2="", f3=f"IZ-1001^{HOSPITAL}"), rxa(f21="D"), control="VX2")
    assert deleted["id"] == given["id"]
    assert deleted["status"] == "entered-in-error"


def test_a_partial_dose_and_a_historical_record(converter):
    partial = immunization(converter, orc(f1="RE", f3="IZ-1003"), rxa(f20="PA"))
    assert partial["status"] == "completed"
    assert partial["isSubpotent"] is True
    historical = immunization(converter, orc(f1="RE", f3="IZ-1004"), rxa(f9="01^历史记录^NIP001", f10=""))
    assert historical["primarySource"] is False
    # NIP001 (the CDC's table) has no FHIR system here: the code is kept in the sender's system of that name
    assert historical["reportOrigin"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:NIP001", "code": "01", "display": "历史记录"}],
        "text": "历史记录",
    }
    assert [p["function"]["coding"][0]["code"] for p in historical["performer"]] == ["OP"]


def test_a_national_vaccine_code_is_not_taken_for_cvx(converter):
    shot = immunization(converter, orc(f1="RE", f3="IZ-1005"), rxa(f5="02^乙肝疫苗^CNVAC"))
    assert shot["vaccineCode"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:CNVAC", "code": "02", "display": "乙肝疫苗"}],
        "text": "乙肝疫苗",
    }


def test_a_v231_record_without_orc(converter):
    # v2.3.1/2.4 immunization messages send RXA without ORC: keyed on the patient, the vaccine and the time
    text = message(msh("VXU", "V04", "VXU_V04", "OLD1"), pid(), rxa(), "RXR|IM", rxa(f3="20260415093000"))
    first, second = resources(convert(converter, text), "Immunization")
    assert first["id"] != second["id"]
    again = message(msh("VXU", "V04", "VXU_V04", "OLD2"), pid(), rxa())
    assert one(convert(converter, again), "Immunization")["id"] == first["id"]
    assert first["route"]["coding"][0]["code"] == "IM"
    assert "route" not in second


def test_corpus_cdc_message(converter):
    bundle = converter.convert(corpus_message("IZ_1_1.1_Admin_Child_Max_Message.hl7"))
    shot = one(bundle, "Immunization")
    assert shot["vaccineCode"]["coding"][0] == {
        "system": CVX,
        "code": "140",
        "display": "Influenza, seasonal, injectable, preservative free",
    }
    assert shot["occurrenceDateTime"] == "2012-08-14"
    assert shot["doseQuantity"] == {"value": 0.5, "unit": "MilliLiter [SI Volume Units]", "system": UCUM, "code": "mL"}
    assert shot["lotNumber"] == "Z0860BB"
    assert shot["expirationDate"] == "2012-11-04"
    assert shot["manufacturer"] == {
        "identifier": {"system": "http://hl7.org/fhir/sid/mvx", "value": "CSL"},
        "display": "CSL Behring",
    }
    assert shot["route"]["coding"] == [
        {"system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "code": "C28161", "display": "Intramuscular"}
    ]
    assert shot["programEligibility"][0]["coding"][0]["code"] == "V05"
    assert shot["primarySource"] is True
    assert shot["identifier"][0]["value"] == "IZ-783274"


def test_corpus_v28_message(converter):
    bundle = converter.convert(corpus_message("VXU-V04-01.hl7"))
    shot = one(bundle, "Immunization")
    assert shot["vaccineCode"]["coding"] == [
        {"system": "http://hl7.org/fhir/sid/ndc", "code": "49281021588", "display": "TENIVAC"}
    ]
    assert [i["value"] for i in shot["identifier"]] == ["13696", "4422"]
    assert shot["education"] == [
        {"documentType": "Tetanus/Diphtheria (Td) Vaccine VIS", "presentationDate": "2021-08-18"}
    ]
    assert shot["fundingSource"]["coding"][0]["code"] == "PHC70"
    # the person's observations before the order (OBX under PID) are not the vaccination's
    assert len(shot["programEligibility"]) == 1


def test_every_obx_is_an_observation_and_those_of_an_order_are_part_of_it(converter):
    # IG VXU_V04 rows 11.1 (PERSON_OBSERVATION.OBX) and 12.6.1 (ORDER.OBSERVATION.OBX: partOf the Immunization)
    person = "OBX|1|NM|8302-2^Body height^LN||110|cm^cm^UCUM||||||F|||20260315"
    text = vxu().replace("ORC|", person + "\rORC|", 1)
    bundle = convert(converter, text)
    shot, patient = one(bundle, "Immunization"), one(bundle, "Patient")
    observations = {o["code"]["coding"][0]["code"]: o for o in resources(bundle, "Observation")}
    assert sorted(observations) == ["29769-7", "30963-3", "64994-7", "69764-9", "8302-2"]
    assert "partOf" not in observations["8302-2"]
    assert observations["8302-2"]["valueQuantity"]["value"] == 110
    for code in ("29769-7", "30963-3", "64994-7", "69764-9"):
        assert observations[code]["partOf"] == [ref(shot)] and observations[code]["subject"] == ref(patient)
    assert observations["64994-7"]["valueCodeableConcept"]["coding"][0]["code"] == "V01"
    assert observations["29769-7"]["valueDateTime"] == "2026-03-15"
    # the Immunization still reads them (the person's height is not its eligibility)
    assert shot["programEligibility"][0]["coding"][0]["code"] == "V01"
