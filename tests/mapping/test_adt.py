"""ADT^A01/A04/A08 (and A03) → Patient and Encounter, checked field by field."""

from __future__ import annotations

import pytest

from hub.errors import ConversionError
from hub.hl7 import er7
from hub.identity.resident_id import SYSTEM as RESIDENT_ID_SYSTEM

from .conftest import convert, one, ref, resources

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
VALID_RESIDENT_ID = "440305198001011235"  # GB 11643 check character 5
INVALID_RESIDENT_ID = "440305198001011236"  # same number, wrong check character


def segment(name: str, **fields: str) -> str:
    """A segment from numbered fields: ``segment("PID", f3="MRN0001", f8="M")``."""
    numbered = {int(key[1:]): value for key, value in fields.items()}
    values = [numbered.get(i, "") for i in range(1, max(numbered) + 1)]
    return "|".join([name, *values])


def pid(**fields: str) -> str:
    base = {"f1": "1", "f3": "MRN0001^^^SZRMYY^MR", "f5": "张三", "f7": "19800101", "f8": "M"}
    return segment("PID", **{**base, **fields})


def pv1(**fields: str) -> str:
    return segment("PV1", **{"f1": "1", "f2": "I", "f19": "V0001^^^SZRMYY^VN", **fields})


def adt(event: str = "A01", *, pid: str | None = None, pv1: str | None = None, extra: tuple[str, ...] = ()) -> str:
    segments = [
        # MSH-4 sending facility (namespace^OID^ISO), MSH-9 type^event^structure
        f"MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||ADT^{event}^ADT_A01|C{event}|P|2.5.1"
        "||||||UNICODE UTF-8",
        f"EVN|{event}|20260315083000",
        pid
        or (
            # PID-3: MRN at the hospital, and the resident ID card number declared NNCHN
            f"PID|1||MRN0001^^^SZRMYY^MR~{VALID_RESIDENT_ID}^^^^NNCHN"
            # PID-5 name sent unsplit (张三), PID-7 birth date, PID-8 sex
            "||张三||19800101|M"
            # PID-11 home address, PID-13 mobile phone and e-mail
            "|||深南大道1号^^深圳市^广东省^518000^CHN^H||13800138000^PRN^CP~^NET^Internet^zs@example.cn"
            # PID-16 marital status (coded, with the v2 table name)
            "|||M^已婚^HL70002"
        ),
        # NK1-2 name, NK1-3 relationship, NK1-5 phone, NK1-7 contact role
        "NK1|1|李四|SPO^配偶^HL70063||13900139000^PRN^PH||C",
        pv1
        or (
            # PV1-2 class, PV1-3 location (ward^room^bed^facility), PV1-7 attending, PV1-10 service,
            # PV1-17 admitting, PV1-19 visit number, PV1-44 admit time
            "PV1|1|I|内科^301^2^SZRMYY||||D001^王^五^^^^主任医师|||MED|||||||D002^赵^六||V0001^^^SZRMYY^VN"
            "|||||||||||||||||||||||||20260315083000"
        ),
        # PV2-3 admit reason
        "PV2|||R10.9^腹痛^I10",
        *extra,
    ]
    return "\r".join(segments) + "\r"


def test_a01_patient_field_by_field(converter):
    bundle = convert(converter, adt("A01"))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    patient = one(bundle, "Patient")
    assert patient["identifier"] == [
        {
            "type": {"coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}]},
            "system": "urn:hub:id:SZRMYY",
            "value": "MRN0001",
            "assigner": {"display": "SZRMYY"},
        },
        {
            "type": {
                "coding": [
                    {
                        "system": V2_0203,
                        "code": "NNCHN",
                        "display": "National Person Identifier where the xxx is the ISO table 3166 3-character "
                        "(alphabetic) country code",
                    }
                ]
            },
            "system": RESIDENT_ID_SYSTEM,
            "value": VALID_RESIDENT_ID,
        },
    ]
    # The unsplit Chinese name is split into family and given; the name as sent is the text.
    assert patient["name"] == [{"family": "张", "given": ["三"], "text": "张三"}]
    assert patient["gender"] == "male"
    assert patient["birthDate"] == "1980-01-01"
    assert patient["address"] == [
        {
            "use": "home",
            "line": ["深南大道1号"],
            "city": "深圳市",
            "state": "广东省",
            "postalCode": "518000",
            "country": "CHN",
        }
    ]
    assert patient["telecom"] == [
        # PID-13 is the home number (IG PID[Patient]: use home when XTN.2 is empty), a mobile phone too
        {"system": "phone", "value": "13800138000", "use": "home"},
        {"system": "email", "value": "zs@example.cn", "use": "home"},
    ]
    # The translation first, the sender's v2 coding kept beside it.
    assert patient["maritalStatus"] == {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"},
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0002", "code": "M", "display": "已婚"},
        ],
        "text": "已婚",
    }
    assert patient["contact"] == [
        {
            "relationship": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                            "code": "C",
                            "display": "Emergency Contact",
                        }
                    ]
                },
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "SPO", "display": "配偶"}
                    ],
                    "text": "配偶",
                },
            ],
            "name": {"family": "李", "given": ["四"], "text": "李四"},
            "telecom": [{"system": "phone", "value": "13900139000", "use": "home"}],
        }
    ]
    assert "deceasedBoolean" not in patient and "deceasedDateTime" not in patient


def test_a01_encounter_field_by_field(converter):
    bundle = convert(converter, adt("A01"))
    patient = one(bundle, "Patient")
    encounter = one(bundle, "Encounter")
    assert encounter["status"] == "in-progress"
    assert encounter["class"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "IMP",
        "display": "inpatient encounter",
    }
    assert encounter["identifier"] == [
        {
            "type": {"coding": [{"system": V2_0203, "code": "VN", "display": "Visit number"}]},
            "system": "urn:hub:id:SZRMYY",
            "value": "V0001",
            "assigner": {"display": "SZRMYY"},
        }
    ]
    assert encounter["subject"] == ref(patient)
    assert encounter["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    participants = {p["type"][0]["coding"][0]["code"]: p["individual"] for p in encounter["participant"]}
    assert participants == {
        "ATND": {"identifier": {"value": "D001"}, "display": "王五"},
        "ADM": {"identifier": {"value": "D002"}, "display": "赵六"},
    }
    assert encounter["location"] == [{"location": {"display": "SZRMYY 内科 301 2"}, "status": "active"}]
    assert encounter["serviceType"] == {"coding": [{"code": "MED"}]}
    assert encounter["reasonCode"] == [
        {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "R10.9", "display": "腹痛"}], "text": "腹痛"}
    ]
    # Entries: PUT by type and id, fullUrl urn:uuid:<id>.
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"


def test_a04_registers_a_planned_outpatient_visit(converter):
    visit = pv1(f2="O", f3="门诊^^^SZRMYY", f19="V0002^^^SZRMYY^VN", f44="202603150900")
    encounter = one(convert(converter, adt("A04", pv1=visit)), "Encounter")
    # IG ConceptMap table-hl70003-to-encounter-status: A04 (register a patient) → planned
    assert encounter["status"] == "planned"
    assert encounter["class"]["code"] == "AMB"
    # YYYYMMDDHHMM: minutes precision, zero seconds added as FHIR requires, the sender's offset.
    assert encounter["period"] == {"start": "2026-03-15T09:00:00+08:00"}


@pytest.mark.parametrize(
    ("times", "status"),
    [
        ({"f44": "20260315083000"}, "in-progress"),  # admitted (PV1-44)
        ({"f44": "20260315083000", "f45": "20260320120000"}, "finished"),  # discharged (PV1-45)
        ({}, "in-progress"),  # no times: the patient class (I) says in progress (IG PatientClass[EncounterStatus])
        ({"f2": "P"}, "planned"),  # a preadmit
        ({"f2": "U"}, "unknown"),  # the class is unknown
    ],
)
def test_a08_keeps_the_status_the_visit_data_say(converter, times, status):
    encounter = one(convert(converter, adt("A08", pv1=pv1(f3="内科^301^2", **times))), "Encounter")
    assert encounter["status"] == status


def test_a08_without_pv1_updates_the_patient_only(converter):
    text = adt("A08").replace("\rPV1|", "\rZZZ|").replace("\rPV2|", "\rZZY|")
    bundle = convert(converter, text)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Organization"  # the sending facility, producer of the rest
    assert "Patient" in kinds
    assert "Encounter" not in kinds


def test_a03_discharge_finishes_the_encounter(converter):
    visit = pv1(f3="内科^301^2^SZRMYY", f44="20260315083000", f45="20260320113000")
    text = adt("A03", pv1=visit).replace("ADT^A03^ADT_A01", "ADT^A03^ADT_A03")
    encounter = one(convert(converter, text), "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["period"] == {"start": "2026-03-15T08:30:00+08:00", "end": "2026-03-20T11:30:00+08:00"}
    # the patient has left the assigned location (PV1-3): completed (FHIR Encounter.location.status: "not to be
    # used when the patient is currently at the location"), as the temporary one (PV1-11)
    assert encounter["location"][0]["status"] == "completed"
    text = adt("A03", pv1=pv1(f3="内科^301^2", f11="放射科^001^1")).replace("ADT^A03^ADT_A01", "ADT^A03^ADT_A03")
    assert [loc["status"] for loc in one(convert(converter, text), "Encounter")["location"]] == ["completed"] * 2


def test_hl7_null_means_no_value(converter):
    # PID-8 and PID-11 are "" (delete the value): in a full-resource PUT the element is simply absent.
    pid = 'PID|1||MRN0001^^^SZRMYY^MR||Zhang^San||19800101|""|||""'
    patient = one(convert(converter, adt(pid=pid)), "Patient")
    assert "gender" not in patient
    assert "address" not in patient
    assert patient["name"] == [{"family": "Zhang", "given": ["San"], "text": "San Zhang"}]


def test_escapes_are_resolved(converter):
    # \T\ is the subcomponent separator, \F\ the field separator, \S\ the component separator.
    pid = r"PID|1||MRN0001^^^SZRMYY^MR||O\T\Brien^Ann\F\Marie||19800101|F|||Road\S\1^^City"
    patient = one(convert(converter, adt(pid=pid)), "Patient")
    assert patient["name"][0]["family"] == "O&Brien"
    assert patient["name"][0]["given"] == ["Ann|Marie"]
    assert patient["address"][0]["line"] == ["Road^1"]


def test_compound_surname_and_split_names(converter):
    pid = "PID|1||MRN0001^^^SZRMYY^MR||欧阳娜娜~司马^光^^^^^A||19800101|F"
    names = one(convert(converter, adt(pid=pid)), "Patient")["name"]
    assert names[0] == {"family": "欧阳", "given": ["娜娜"], "text": "欧阳娜娜"}
    # Already split by the sender: kept as sent, text without a space.
    assert names[1] == {"use": "usual", "family": "司马", "given": ["光"], "text": "司马光"}


def test_invalid_resident_id_is_kept_but_not_promoted(converter):
    pid = f"PID|1||MRN0001^^^SZRMYY^MR~{INVALID_RESIDENT_ID}^^^^NNCHN||张三||19800101|M"
    identifiers = one(convert(converter, adt(pid=pid)), "Patient")["identifier"]
    second = identifiers[1]
    assert second["value"] == INVALID_RESIDENT_ID
    assert second["system"] != RESIDENT_ID_SYSTEM
    assert second["type"] == {"text": "NNCHN"}  # the sender's declaration kept, not the national type coding


def test_resident_id_in_pid_19(converter):
    identifiers = one(convert(converter, adt(pid=pid(f19=VALID_RESIDENT_ID))), "Patient")["identifier"]
    assert {"system": RESIDENT_ID_SYSTEM, "value": VALID_RESIDENT_ID} == {
        k: identifiers[1][k] for k in ("system", "value")
    }
    assert identifiers[1]["type"]["coding"][0]["code"] == "NNCHN"
    # Anything else is what the IG makes of PID-19 outside the US: type SB, no system.
    other = one(convert(converter, adt(pid=pid(f19="123-45-6789"))), "Patient")["identifier"][1]
    assert other == {
        "type": {"coding": [{"system": V2_0203, "code": "SB", "display": "Social Beneficiary Identifier"}]},
        "value": "123-45-6789",
    }


def test_deceased(converter):
    # PID-29 date of death, PID-30 death indicator
    assert one(convert(converter, adt(pid=pid(f30="Y"))), "Patient")["deceasedBoolean"] is True
    patient = one(convert(converter, adt(pid=pid(f29="202601021530", f30="Y"))), "Patient")
    assert patient["deceasedDateTime"] == "2026-01-02T15:30:00+08:00"
    assert "deceasedBoolean" not in patient  # one variant of deceased[x] only


def test_birth_date_stays_a_date_and_timestamps_keep_precision_and_zone(converter):
    patient = pid(f7="198808181126+0215")
    visit = pv1(f44="2026031508", f45="20260701120000.25-0300")
    bundle = convert(converter, adt("A08", pid=patient, pv1=visit), tz="America/New_York")
    assert one(bundle, "Patient")["birthDate"] == "1988-08-18"
    period = one(bundle, "Encounter")["period"]
    # An hour only: minutes and seconds filled; 15 March 2026 is summer time in New York (-04:00).
    assert period["start"] == "2026-03-15T08:00:00-04:00"
    # An explicit offset and fractional seconds are kept.
    assert period["end"] == "2026-07-01T12:00:00.25-03:00"
    winter = adt("A08", pid=patient, pv1=visit.replace("2026031508", "2026011508"))
    assert one(convert(converter, winter, tz="America/New_York"), "Encounter")["period"]["start"] == (
        "2026-01-15T08:00:00-05:00"
    )


def test_iso_like_timestamps_from_chinese_his_systems(converter):
    visit = pv1(f44="2026-03-15 08:30:00")
    assert one(convert(converter, adt(pv1=visit)), "Encounter")["period"]["start"] == "2026-03-15T08:30:00+08:00"


def test_gb_t_2261_sex_codes(converter):
    assert one(convert(converter, adt(pid=pid(f8="2"))), "Patient")["gender"] == "female"


def test_missing_pid_is_a_conversion_error_with_location(converter):
    text = "\r".join(line for line in adt().split("\r") if not line.startswith("PID"))
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text))
    assert caught.value.location == "PID^1"


def test_an_impossible_date_is_left_out_and_reported_or_refused_when_strict(converter):
    message = er7.parse(adt(pid=pid(f7="19801301")))
    result = converter.convert_with_report(message)
    patient = one(result.bundle, "Patient")
    assert "birthDate" not in patient and patient["gender"] == "male"  # the rest of the patient is there
    assert result.report == [
        {"code": "invalid-value", "location": "PID^1^7", "detail": "PID-7 → birthDate: month out of range"}
    ]
    with pytest.raises(ConversionError) as caught:
        converter.convert(message, strict=True)
    assert caught.value.location == "PID^1^7"
    assert "19801301" not in caught.value.message  # values (PHI) never go into errors


def test_unknown_sender_timezone(converter):
    with pytest.raises(ConversionError, match="time zone"):
        converter.convert(er7.parse(adt()), sender_timezone="Mars/Olympus_Mons")


def test_obx_of_an_adt_is_an_observation_of_the_patient_and_visit(converter):
    # OBX-2 NM, OBX-3 LOINC body weight, OBX-5 value, OBX-6 unit, OBX-11 F final, OBX-14 time measured
    weight = "OBX|1|NM|29463-7^Body weight^LN||62.5|kg^kilogram^UCUM|||||F|||20260315082000"
    # OBX-2 CWE: a coded answer (OBX-5 is a CWE); no OBX-11 and no time
    smoker = "OBX|2|CWE|72166-2^Tobacco smoking status^LN||8517006^Ex-smoker^SCT"
    for event in ("A01", "A04", "A08"):
        bundle = convert(converter, adt(event, extra=(weight, smoker)))
        patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
        by_code = {o["code"]["coding"][0]["code"]: o for o in resources(bundle, "Observation")}
        assert set(by_code) == {"29463-7", "72166-2"}
        body_weight = by_code["29463-7"]
        assert body_weight["status"] == "final"
        assert body_weight["subject"] == ref(patient) and body_weight["encounter"] == ref(encounter)
        assert body_weight["valueQuantity"]["value"] == 62.5
        assert body_weight["valueQuantity"]["unit"] == "kilogram"
        assert body_weight["effectiveDateTime"] == "2026-03-15T08:20:00+08:00"
        smoking = by_code["72166-2"]
        assert smoking["status"] == "unknown"  # OBX-11 is required in v2; absent, FHIR's status is unknown
        assert smoking["valueCodeableConcept"]["coding"][0] == {
            "system": "http://snomed.info/sct",
            "code": "8517006",
            "display": "Ex-smoker",
        }
        assert "effectiveDateTime" not in smoking


def test_obx_of_a_person_only_message_has_no_encounter(converter):
    # A28 adds a person; its PV1 (class N, not applicable) describes no visit: the observation is the patient's
    obx = "OBX|1|NM|8302-2^Body height^LN||172|cm^centimeter^UCUM|||||F"
    text = adt("A28", pv1="PV1|1|N", extra=(obx,)).replace("ADT^A28^ADT_A01", "ADT^A28^ADT_A05")
    bundle = convert(converter, text)
    assert resources(bundle, "Encounter") == []
    observation = one(bundle, "Observation")
    assert observation["subject"] == ref(one(bundle, "Patient"))
    assert "encounter" not in observation
    assert observation["valueQuantity"]["value"] == 172


@pytest.mark.parametrize("event", ["A28", "A31"])
def test_person_message_with_a_described_visit_makes_the_encounter(converter, event):
    # IG ADT_A05 row 16: the PV1 is an Encounter. PV1-2 P (preadmit) → planned, by the visit data, not by the event
    visit = pv1(f2="P", f19="V0009^^^SZRMYY^VN")
    text = adt(event, pv1=visit).replace(f"ADT^{event}^ADT_A01", f"ADT^{event}^ADT_A05")
    encounter = one(convert(converter, text), "Encounter")
    assert encounter["status"] == "planned"
    assert encounter["class"]["code"] == "PRENC"
    # discharged (PV1-45): finished, with its end
    visit = pv1(f2="I", f44="20260301080000", f45="20260305100000")
    text = adt(event, pv1=visit).replace(f"ADT^{event}^ADT_A01", f"ADT^{event}^ADT_A05")
    encounter = one(convert(converter, text), "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["period"]["end"] == "2026-03-05T10:00:00+08:00"
    # an empty PV1 (only its set id) is no visit
    text = adt(event, pv1="PV1|1").replace(f"ADT^{event}^ADT_A01", f"ADT^{event}^ADT_A05")
    assert resources(convert(converter, text), "Encounter") == []
