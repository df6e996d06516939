"""ADT events beyond admit/discharge: allergies, diagnoses, procedures, next of kin, insurance and roles of the
A01 family; cancellations (A11/A12/A13), the person deleted (A29), merges and identifier changes (A40, A41, A47),
adverse reactions (A60); and the HL7 null ("") marked on the Bundle entries."""

from __future__ import annotations

import pytest

from hub.errors import MappingTemplateError
from hub.mapping import Converter
from hub.mapping.nulls import NULL_EXTENSION_URL

from .conftest import convert, mappings_copy, one, ref, resources

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M|||深南大道1号^^深圳市||13800138000|||||ACC9^^^SZRMYY^AN"
# PV1-2 class, PV1-3 location, PV1-7 attending, PV1-19 visit number, PV1-44 admit time
PV1 = "PV1|1|I|内科^301^2||||D001^王^五||||||||||||V0001^^^SZRMYY^VN|||||||||||||||||||||||||20260315083000"


def msh(event: str, structure: str) -> str:
    return f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^{event}^{structure}|C{event}|P|2.5.1"


def adt(event: str, structure: str, *segments: str, pid: str = PID) -> str:
    return "\r".join([msh(event, structure), f"EVN|{event}|20260315083000", pid, *segments]) + "\r"


def entries(bundle, rtype):
    return [e for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]


def marks(entry):
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == NULL_EXTENSION_URL]


FULL = [
    # NK1-2 name, NK1-3 relationship (table 0063), NK1-5 phone, NK1-7 contact role
    "NK1|1|李四|SPO^配偶^HL70063||13900139000||C",
    PV1,
    # ROL-2 action, ROL-3 role (table 0443), ROL-4 person, ROL-5 begin
    "ROL|1|AD|CP^Consulting Provider^HL70443|D009^钱^七|20260315090000",
    "ROL|2|AD|PP^Primary Care Provider^HL70443|D010^孙^八",
    # AL1-2 allergen type, AL1-3 allergen, AL1-4 severity, AL1-5 reaction, AL1-6 identification date
    "AL1|1|DA|70618^Penicillin^RXNORM|SV|皮疹~呼吸困难|20200101",
    # DG1-3 diagnosis, DG1-5 date, DG1-6 type (A admitting), DG1-16 clinician
    "DG1|1||I10^Essential hypertension^I10||20260315|A||||||||||D001^王^五",
    # PR1-3 procedure, PR1-5 date/time, PR1-6 functional type, PR1-11 surgeon
    "PR1|1||0DTJ4ZZ^Appendectomy^I10P||20260316100000|P^Procedure^HL70230|||||D003^周^九",
    # IN1-2 plan, IN1-3 company id, IN1-4 company name, IN1-12/13 plan dates, IN1-17 relationship (self),
    # IN1-36 policy number
    "IN1|1|PLAN1^城镇职工医保|C001^^^SZRMYY|深圳医保局||||||||20260101|20261231||||SEL^Self^HL70063"
    "|||||||||||||||||||POL123",
]


def test_the_a01_family_makes_allergies_diagnoses_procedures_contacts_insurance_and_account(converter):
    bundle = convert(converter, adt("A01", "ADT_A01", *FULL))
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")

    allergy = one(bundle, "AllergyIntolerance")
    assert allergy["patient"] == ref(patient) and allergy["encounter"] == ref(encounter)
    assert allergy["type"] == "allergy" and allergy["category"] == ["medication"]
    assert allergy["criticality"] == "high"
    assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"
    assert allergy["code"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "70618",
        "display": "Penicillin",
    }
    assert [r["manifestation"][0]["text"] for r in allergy["reaction"]] == ["皮疹", "呼吸困难"]
    assert allergy["onsetDateTime"] == "2020-01-01"

    condition = one(bundle, "Condition")
    assert condition["subject"] == ref(patient) and condition["encounter"] == ref(encounter)
    assert condition["category"][0]["coding"][0]["code"] == "encounter-diagnosis"
    # DG1-6 A (admitting): provisional, the sender's code kept beside the translation
    assert condition["verificationStatus"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "provisional",
            "display": "Provisional",
        },
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0052", "code": "A"},
    ]
    assert condition["code"]["coding"][0]["code"] == "I10"
    assert condition["onsetDateTime"] == "2026-03-15"
    assert condition["asserter"]["identifier"]["value"] == "D001"

    procedure = one(bundle, "Procedure")
    assert procedure["status"] == "completed"
    assert procedure["performedDateTime"] == "2026-03-16T10:00:00+08:00"
    assert procedure["performer"] == [
        {"function": {"text": "surgeon"}, "actor": {"identifier": {"value": "D003"}, "display": "周九"}}
    ]

    related = one(bundle, "RelatedPerson")
    assert related["patient"] == ref(patient)
    assert related["relationship"][0]["coding"][:2] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "SPS", "display": "spouse"},
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "SPO", "display": "配偶"},
    ]
    assert related["name"][0]["text"] == "李四"

    coverage = one(bundle, "Coverage")
    assert coverage["beneficiary"] == ref(patient) and coverage["subscriber"] == ref(patient)
    assert coverage["status"] == "active"
    assert coverage["identifier"] == [{"value": "POL123"}]
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert coverage["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    # the payor is the insurance company's Organization (IN1-3 id, IN1-4 name)
    [payor] = [o for o in resources(bundle, "Organization") if o.get("name") == "深圳医保局"]
    assert coverage["payor"] == [ref(payor)]
    assert coverage["class"][0]["value"] == "PLAN1"

    account = one(bundle, "Account")
    assert account["identifier"][0]["value"] == "ACC9" and account["status"] == "active"
    assert account["subject"] == [ref(patient)]

    # ROL: the consulting provider is a participant of the visit; the patient's own (PP) is not.
    roles = [p for p in encounter["participant"] if p["individual"]["identifier"]["value"] in ("D009", "D010")]
    assert len(roles) == 1
    assert roles[0]["type"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
        "code": "CON",
        "display": "consultant",
    }
    assert roles[0]["period"] == {"start": "2026-03-15T09:00:00+08:00"}


@pytest.mark.parametrize(("event", "structure"), [("A04", "ADT_A01"), ("A08", "ADT_A01"), ("A05", "ADT_A05")])
def test_the_same_allergy_and_diagnosis_keep_their_ids_across_events(converter, event, structure):
    first = convert(converter, adt("A01", "ADT_A01", *FULL))
    again = convert(converter, adt(event, structure, *FULL))
    for rtype in ("AllergyIntolerance", "Condition", "Procedure", "RelatedPerson", "Coverage", "Account"):
        assert one(first, rtype)["id"] == one(again, rtype)["id"], rtype


def test_a_diagnosis_with_action_code_d_is_deleted(converter):
    # DG1-21 action code D (table 0206)
    dg1 = "DG1|1||I10^Essential hypertension^I10|||F|||||||||||||||D"
    kept = convert(converter, adt("A08", "ADT_A01", PV1, "DG1|1||I10^Essential hypertension^I10|||F"))
    bundle = convert(converter, adt("A08", "ADT_A01", PV1, dg1))
    [entry] = entries(bundle, "Condition")
    assert entry == {
        "fullUrl": f"urn:uuid:{one(kept, 'Condition')['id']}",
        "request": {"method": "DELETE", "url": f"Condition/{one(kept, 'Condition')['id']}"},
    }


def test_a03_ends_the_visit_at_the_discharge_or_event_time(converter):
    discharged = PV1 + "|20260320100000"
    assert one(convert(converter, adt("A03", "ADT_A03", discharged)), "Encounter")["period"]["end"] == (
        "2026-03-20T10:00:00+08:00"
    )
    # no PV1-45: EVN-6 (event occurred), else EVN-2 (recorded)
    text = adt("A03", "ADT_A03", PV1).replace("EVN|A03|20260315083000", "EVN|A03|20260321080000||||20260321073000")
    encounter = one(convert(converter, text), "Encounter")
    assert encounter["status"] == "finished" and encounter["period"]["end"] == "2026-03-21T07:30:00+08:00"
    encounter = one(convert(converter, adt("A03", "ADT_A03", PV1)), "Encounter")
    assert encounter["period"]["end"] == "2026-03-15T08:30:00+08:00"


def test_a01_starts_the_visit_at_the_admit_or_event_time(converter):
    # PV1-44 admit time first; without it the admission happened when the event occurred (EVN-6), else when it was
    # recorded (EVN-2), as A03 ends the visit. The visit had no start at all.
    assert one(convert(converter, adt("A01", "ADT_A01", PV1)), "Encounter")["period"] == {
        "start": "2026-03-15T08:30:00+08:00"
    }
    unstamped = PV1.removesuffix("20260315083000")
    evn6 = "EVN|A01|20260315083000||||20260315081500"
    text = adt("A01", "ADT_A01", unstamped).replace("EVN|A01|20260315083000", evn6)
    assert one(convert(converter, text), "Encounter")["period"] == {"start": "2026-03-15T08:15:00+08:00"}
    assert one(convert(converter, adt("A01", "ADT_A01", unstamped)), "Encounter")["period"] == {
        "start": "2026-03-15T08:30:00+08:00"
    }
    # an update (A08) or a registration (A04) is no admission: no start from its event
    for event in ("A08", "A04"):
        assert "period" not in one(convert(converter, adt(event, "ADT_A01", unstamped)), "Encounter")


def test_a13_marks_the_discharge_deleted(converter):
    bundle = convert(converter, adt("A13", "ADT_A01", PV1 + "|20260320100000"))
    [entry] = entries(bundle, "Encounter")
    assert entry["resource"]["status"] == "in-progress"
    assert "end" not in entry["resource"]["period"]
    # and the location the discharge completed, now active again (the message's item)
    assert marks(entry) == [
        "period.end",
        "hospitalization.dischargeDisposition",
        "hospitalization.destination",
        "location[status=completed][location.display=内科 301 2]",
    ]
    # the marks are valid R4 (an extension of the entry) and only A13 has them
    assert marks(entries(convert(converter, adt("A01", "ADT_A01", PV1)), "Encounter")[0]) == []


def test_a25_cancelled_pending_discharge_keeps_the_visit_open(converter):
    # A25 cancels a pending discharge (A16): the patient is not discharged, the visit goes on (in progress), so a
    # discharge time the message still carries in PV1-45 is no end of the visit
    encounter = one(convert(converter, adt("A25", "ADT_A21", PV1 + "|20260320100000")), "Encounter")
    assert encounter["status"] == "in-progress"
    assert encounter["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    # an event that ends the visit still reads PV1-45
    assert one(convert(converter, adt("A03", "ADT_A03", PV1 + "|20260320100000")), "Encounter")["period"]["end"]


def test_a11_cancels_and_a12_cancels_a_transfer(converter):
    assert one(convert(converter, adt("A11", "ADT_A09", PV1)), "Encounter")["status"] == "cancelled"
    # A12: PV1-3 is where the patient was before the cancelled transfer
    encounter = one(convert(converter, adt("A12", "ADT_A12", PV1)), "Encounter")
    assert encounter["status"] == "in-progress"
    assert encounter["location"][0]["location"]["display"].endswith("内科 301 2")


@pytest.mark.parametrize(
    ("event", "structure", "status"),
    [
        # IG ConceptMap table-hl70003-to-encounter-status
        ("A01", "ADT_A01", "in-progress"),
        ("A04", "ADT_A01", "planned"),
        ("A13", "ADT_A01", "in-progress"),
        ("A02", "ADT_A02", "in-progress"),
        ("A03", "ADT_A03", "finished"),
        ("A05", "ADT_A05", "planned"),
        # pending transfer and pending discharge: the patient is still in the visit, whatever the class says
        ("A15", "ADT_A15", "in-progress"),
        ("A16", "ADT_A16", "in-progress"),
    ],
)
def test_the_trigger_event_decides_the_encounter_status(converter, event, structure, status):
    preadmit = PV1.replace("PV1|1|I|", "PV1|1|P|")  # a class that alone would say planned
    for visit in (PV1, preadmit):
        if event in ("A03",):
            visit = visit + "|20260320120000"  # PV1-45 discharge time
        assert one(convert(converter, adt(event, structure, visit)), "Encounter")["status"] == status


def test_a26_cancelled_pending_transfer_keeps_no_pending_location(converter):
    # PV1-42 pending location; PV2-1 prior pending location (v2 requires it in an A26)
    fields = PV1.split("|")
    fields[42] = "外科^201^1"
    visit = "|".join(fields)
    pending = "PV2|外科^201^1"

    def statuses(bundle):
        return [loc["status"] for loc in one(bundle, "Encounter")["location"]]

    # A15 (pending transfer): the pending location is reserved, the prior pending one planned (IG PV1/PV2[Encounter])
    assert statuses(convert(converter, adt("A15", "ADT_A15", visit, pending))) == ["active", "reserved", "planned"]
    # A26 cancels it: only where the patient is
    assert statuses(convert(converter, adt("A26", "ADT_A21", visit, pending))) == ["active"]


def test_the_hl7_null_is_marked_and_an_empty_field_is_not(converter):
    # PID-8 sex and PID-11 address sent as "", PID-13 phone empty
    pid = 'PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|""|||""'
    bundle = convert(converter, adt("A08", "ADT_A01", PV1, pid=pid))
    [entry] = entries(bundle, "Patient")
    assert marks(entry) == ["gender", "address"]
    assert "gender" not in entry["resource"] and "address" not in entry["resource"]
    # a "" in a field that another rule fills from elsewhere is no deletion: PID-2 "" but the MRN in PID-3
    pid = 'PID|1|""|MRN0001^^^SZRMYY^MR||张三'
    assert marks(entries(convert(converter, adt("A08", "ADT_A01", PV1, pid=pid)), "Patient")[0]) == []


def test_a29_deletes_the_person(converter):
    person = convert(converter, adt("A28", "ADT_A05", "PV1|1|N"))
    bundle = convert(converter, adt("A29", "ADT_A21", "PV1|1|N"))
    [entry] = entries(bundle, "Patient")
    pid = one(person, "Patient")["id"]
    assert entry == {"fullUrl": f"urn:uuid:{pid}", "request": {"method": "DELETE", "url": f"Patient/{pid}"}}
    assert entries(bundle, "Encounter") == []


@pytest.mark.parametrize(("event", "structure"), [("A40", "ADT_A39"), ("A47", "ADT_A30"), ("A34", "ADT_A30")])
def test_a_merge_or_identifier_change_marks_the_named_record_replaced(converter, event, structure):
    old = one(convert(converter, adt("A04", "ADT_A01", PV1, pid="PID|1||MRN0001^^^SZRMYY^MR||张三")), "Patient")
    # PID-3 the surviving record, MRG-1 the record it replaces (MRG-7 its name)
    bundle = convert(
        converter,
        adt(event, structure, "MRG|MRN0001^^^SZRMYY^MR||||||张三", pid="PID|1||MRN0002^^^SZRMYY^MR||张三"),
    )
    survivor, replaced = resources(bundle, "Patient")
    assert replaced["id"] == old["id"]  # the MRG record is keyed as the stored one
    assert replaced["active"] is False
    assert replaced["link"] == [{"other": ref(survivor), "type": "replaced-by"}]
    assert replaced["identifier"][0]["value"] == "MRN0001"
    assert "link" not in survivor


def test_a41_closes_the_prior_account(converter):
    prior = one(convert(converter, adt("A08", "ADT_A01", PV1, pid=PID.replace("ACC9", "ACC1"))), "Account")
    bundle = convert(converter, adt("A41", "ADT_A39", "MRG|MRN0001^^^SZRMYY^MR||ACC1^^^SZRMYY^AN"))
    accounts = {a["identifier"][0]["value"]: a for a in resources(bundle, "Account")}
    assert accounts["ACC9"]["status"] == "active"
    assert accounts["ACC1"]["status"] == "inactive" and accounts["ACC1"]["id"] == prior["id"]
    assert len(resources(bundle, "Patient")) == 1  # no patient merge for A41


def test_a60_adverse_reactions(converter):
    # IAM-2 type, IAM-3 allergen, IAM-4 severity, IAM-5 reaction, IAM-6 action, IAM-7 unique id,
    # IAM-9 sensitivity (intolerance), IAM-11 onset, IAM-17 clinical status (confirmed)
    iam = "IAM|1|DA^Drug allergy^HL70127|70618^Penicillin^RXNORM|MO|皮疹|A|A-1^HIS||IN||20200101||||||C"
    delete = "IAM|2|FA|256349002^Peanut^SCT|||D|A-2^HIS"  # IAM-6 action code D: deleted
    bundle = convert(converter, adt("A60", "ADT_A60", PV1, iam, "NTE|1||服药后出现", delete))
    allergy = one(bundle, "AllergyIntolerance")
    assert allergy["type"] == "intolerance" and allergy["category"] == ["medication"]
    assert allergy["criticality"] == "low"
    assert allergy["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert allergy["onsetDateTime"] == "2020-01-01"
    assert allergy["note"] == [{"text": "服药后出现"}]
    assert allergy["identifier"] == [{"system": "urn:hub:id:HIS", "value": "A-1"}]
    # the same allergen from an AL1 is the same AllergyIntolerance
    al1 = one(convert(converter, adt("A08", "ADT_A01", PV1, "AL1|1|DA|70618^Penicillin^RXNORM")), "AllergyIntolerance")
    assert al1["id"] == allergy["id"]
    [deleted] = [e for e in entries(bundle, "AllergyIntolerance") if e["request"]["method"] == "DELETE"]
    assert "resource" not in deleted


def test_a_corpus_a60_and_the_misnamed_siu_12_convert(converter):
    from tests.support.paths import CORPUS

    for name in ("ADT-A60-01.hl7", "SIU_12.hl7"):
        path = next(CORPUS.rglob(name))
        bundle = convert(converter, path.read_bytes().decode("utf-8-sig"))
        assert one(bundle, "Patient")
    assert resources(
        convert(converter, next(CORPUS.rglob("ADT-A60-01.hl7")).read_bytes().decode("utf-8-sig")), "AllergyIntolerance"
    )


def test_a_delete_rule_inside_elements_is_rejected_at_load(tmp_path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "resource" / "Coverage.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("      - path: value\n        type: string\n", "      - path: value\n        value: '\"\"'\n", 1)
    )
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "resource/Coverage.yaml" in (caught.value.file or "") and "not inside 'elements'" in caught.value.message


def test_a_delete_rule_names_an_element_of_the_resource(tmp_path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message" / "ADT_A01.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "      - path: period.end\n        value: '\"\"'", "      - path: period.ended\n        value: '\"\"'"
        )
    )
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "no element 'ended'" in caught.value.message
