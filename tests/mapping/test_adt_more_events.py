"""The rest of the ADT trigger events (v2.5.1 chapter 3): swap patients (A17), bed status (A20), link and unlink
(A24/A37), cancel pre-admit (A38), moves (A43/A44), visit number changes (A50/A51), cancels of leave of absence
(A52/A53), changes of attending and consulting doctor and their cancels (A54/A55, A61/A62), and the merge and
identifier-change family beyond A34/A40/A41/A46/A47 (A18, A30, A35, A36, A39, A42, A48, A49)."""

from __future__ import annotations

import pytest

from hub.mapping.nulls import NULL_EXTENSION_URL

from .conftest import convert, one, ref, resources

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
# PID-3 MRN, PID-5 name, PID-7 birth date, PID-8 sex, PID-18 account number
PID = "PID|1||MRN0002^^^SZRMYY^MR||张三||19800101|M||||||||||ACC2^^^SZRMYY^AN"
# PV1-2 class, PV1-3 location, PV1-6 prior location, PV1-7 attending, PV1-9 consulting, PV1-19 visit number,
# PV1-44 admit time
PV1 = (
    "PV1|1|I|内科^301^2|||内科^305^1|D001^王^五||D009^钱^七||||||||||V0002^^^SZRMYY^VN"
    "|||||||||||||||||||||||||20260315083000"
)
# MRG-1 prior identifier list, MRG-2 prior alternate id, MRG-3 prior account, MRG-5 prior visit number, MRG-7 name
MRG = "MRG|MRN0001^^^SZRMYY^MR|ALT1^^^SZRMYY^PI|ACC1^^^SZRMYY^AN||V0001^^^SZRMYY^VN||张三"
VN = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN", "display": "Visit number"}


def adt(event: str, structure: str, *segments: str, pid: str | None = PID) -> str:
    msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^{event}^{structure}|C{event}|P|2.5.1"
    head = [msh, f"EVN|{event}|20260315083000"] + ([pid] if pid else [])
    return "\r".join([*head, *segments]) + "\r"


def with_field(segment: str, number: int, value: str) -> str:
    fields = segment.split("|")
    fields += [""] * (number + 1 - len(fields))
    fields[number] = value
    return "|".join(fields)


def values(resource):
    return [(i["value"], i.get("use")) for i in resource.get("identifier", [])]


def by_value(items):
    return {r["identifier"][0]["value"]: r for r in items}


def marks(bundle, rid):
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].endswith(f"/{rid}")]
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == NULL_EXTENSION_URL]


def stored_record(converter, mrn: str):
    """The Patient an A08 about that MRN makes (its id is the stored record's)."""
    return one(convert(converter, adt("A08", "ADT_A01", PV1, pid=PID.replace("MRN0002", mrn))), "Patient")


def test_a17_swaps_two_patients_beds(converter):
    # each PV1-3 is where that patient now lies, PV1-6 where they were
    first = "PV1|1|I|内科^302^1|||内科^301^2|||||||||||||V0001^^^SZRMYY^VN"
    second = "PV1|1|I|内科^301^2|||内科^302^1|||||||||||||V0002^^^SZRMYY^VN"
    other = "PID|2||MRN0003^^^SZRMYY^MR||李四||19750505|F"
    bundle = convert(converter, adt("A17", "ADT_A17", first, other, second))
    zhang, li = resources(bundle, "Patient")
    assert (zhang["name"][0]["text"], li["name"][0]["text"]) == ("张三", "李四")
    encounters = by_value(resources(bundle, "Encounter"))
    assert encounters["V0001"]["subject"] == ref(zhang) and encounters["V0002"]["subject"] == ref(li)
    for visit, now, before in (("V0001", "302 1", "301 2"), ("V0002", "301 2", "302 1")):
        encounter = encounters[visit]
        assert encounter["status"] == "in-progress"
        assert [(loc["location"]["display"], loc["status"]) for loc in encounter["location"]] == [
            (f"内科 {now}", "active"),
            (f"内科 {before}", "completed"),
        ]
    # derived from the event alone (no MSH-9.3), too
    text = adt("A17", "ADT_A17", first, other, second).replace("ADT^A17^ADT_A17", "ADT^A17")
    assert len(resources(convert(converter, text), "Encounter")) == 2


def test_a20_updates_a_beds_status(converter):
    housekeeping = convert(converter, adt("A20", "ADT_A20", "NPU|内科^301^2^SZRMYY|H", pid=None))
    location = one(housekeeping, "Location")
    assert location["operationalStatus"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0116",
        "code": "H",
        "display": "Housekeeping",
    }
    assert location["name"] == "SZRMYY 内科 301 2" and location["status"] == "active"
    assert location["physicalType"]["coding"][0]["code"] == "bd"
    assert location["managingOrganization"] == ref(one(housekeeping, "Organization"))
    assert resources(housekeeping, "Patient") == []
    # the same bed later: the same Location, another status; another bed: another Location
    free = one(convert(converter, adt("A20", "ADT_A20", "NPU|内科^301^2^SZRMYY|U", pid=None)), "Location")
    assert free["id"] == location["id"] and free["operationalStatus"]["code"] == "U"
    other = one(convert(converter, adt("A20", "ADT_A20", "NPU|内科^301^3^SZRMYY|U", pid=None)), "Location")
    assert other["id"] != location["id"]
    # a ward without room and bed
    ward = one(convert(converter, adt("A20", "ADT_A20", "NPU|ICU|C", pid=None)), "Location")
    assert ward["physicalType"]["coding"][0]["code"] == "wa" and ward["operationalStatus"]["code"] == "C"


def test_a24_links_the_two_records_and_a37_unlinks_them(converter):
    other = "PID|2||MRN0003^^^SZRMYY^MR||张三||19800101|M"
    # PV1 is optional after each PID; the second PID opens the second set
    bundle = convert(converter, adt("A24", "ADT_A24", "PV1|1|N", other, "PV1|1|N"))
    first, second = resources(bundle, "Patient")
    assert first["id"] == stored_record(converter, "MRN0002")["id"]
    assert second["id"] == stored_record(converter, "MRN0003")["id"]
    assert first["link"] == [{"other": ref(second), "type": "seealso"}]
    assert second["link"] == [{"other": ref(first), "type": "seealso"}]
    assert resources(bundle, "Encounter") == []

    unlinked = convert(converter, adt("A37", "ADT_A37", other))
    first, second = resources(unlinked, "Patient")
    assert "link" not in first and "link" not in second
    assert marks(unlinked, first["id"]) == ["link"] and marks(unlinked, second["id"]) == ["link"]


def test_a38_cancels_the_pre_admission(converter):
    bundle = convert(converter, adt("A38", "ADT_A38", PV1.replace("PV1|1|I|", "PV1|1|P|"), "DG1|1||I10^高血压^I10"))
    assert one(bundle, "Encounter")["status"] == "cancelled"
    assert one(bundle, "Encounter")["id"] == one(convert(converter, adt("A05", "ADT_A05", PV1)), "Encounter")["id"]
    assert resources(bundle, "Condition") == []


def test_a43_moves_the_record_and_a44_moves_the_account(converter):
    # A43: the identifier list MRN0002 (PID-3 = MRG-1) is now under person P10 (PID-2), no longer P9 (MRG-4)
    pid = PID.replace("PID|1||", "PID|1|P10^^^SZRMYY^PN|")
    a43 = convert(converter, adt("A43", "ADT_A43", "MRG|MRN0002^^^SZRMYY^MR|||P9^^^SZRMYY^PN", pid=pid))
    assert one(a43, "Patient")["id"] == stored_record(converter, "MRN0002")["id"]
    assert values(one(a43, "Patient")) == [("MRN0002", None), ("P9", "old"), ("P10", None)]
    assert resources(a43, "Account") == []
    # A44: the account PID-18 (= MRG-3) now belongs to the patient of PID-3 (MRG-1 the one it was under)
    a44 = convert(converter, adt("A44", "ADT_A43", "MRG|MRN0001^^^SZRMYY^MR||ACC2^^^SZRMYY^AN"))
    account = one(a44, "Account")
    assert account["subject"] == [ref(one(a44, "Patient"))] and account["status"] == "active"
    # without PID-18: the account MRG-3 names, its status not the message's to say
    a44 = convert(
        converter, adt("A44", "ADT_A43", "MRG|MRN0001^^^SZRMYY^MR||ACC2^^^SZRMYY^AN", pid=PID.rsplit("|", 1)[0])
    )
    moved = one(a44, "Account")
    assert moved["id"] == account["id"] and moved["status"] == "unknown"
    assert moved["subject"] == [ref(one(a44, "Patient"))]


def test_a50_changes_the_visit_number(converter):
    before = one(convert(converter, adt("A01", "ADT_A01", PV1.replace("V0002", "V0001"))), "Encounter")
    bundle = convert(converter, adt("A50", "ADT_A50", MRG, PV1))
    encounters = by_value(resources(bundle, "Encounter"))
    renumbered, prior = encounters["V0002"], encounters["V0001"]
    assert prior["id"] == before["id"] and prior["status"] == "entered-in-error"
    assert values(renumbered) == [("V0002", None), ("V0001", "old")]
    assert renumbered["identifier"][1]["type"]["coding"] == [VN]
    assert renumbered["status"] == "in-progress" and renumbered["subject"] == ref(one(bundle, "Patient"))
    assert prior["subject"] == ref(one(bundle, "Patient"))


def test_a51_changes_the_alternate_visit_id(converter):
    # the visit keeps its number (PV1-19): the same Encounter, its prior alternate id (MRG-6) old
    visit = with_field(PV1, 50, "ALTV2^^^SZRMYY^VN")
    bundle = convert(converter, adt("A51", "ADT_A50", "MRG|MRN0002^^^SZRMYY^MR|||||ALTV1^^^SZRMYY^VN", visit))
    encounter = one(bundle, "Encounter")
    assert values(encounter) == [("V0002", None), ("ALTV2", None), ("ALTV1", "old")]
    # a visit known only by its alternate id: the prior record is the obsolete duplicate
    visit = with_field(visit, 19, "")
    bundle = convert(converter, adt("A51", "ADT_A50", "MRG|MRN0002^^^SZRMYY^MR|||||ALTV1^^^SZRMYY^VN", visit))
    statuses = {e["identifier"][0]["value"]: e["status"] for e in resources(bundle, "Encounter")}
    assert statuses == {"ALTV2": "in-progress", "ALTV1": "entered-in-error"}


@pytest.mark.parametrize(
    ("event", "structure", "status"),
    [("A52", "ADT_A52", "in-progress"), ("A53", "ADT_A52", "onleave"), ("A55", "ADT_A52", "in-progress")],
)
def test_cancels_of_a_leave_of_absence(converter, event, structure, status):
    bundle = convert(converter, adt(event, structure, PV1, "PV2|||^腹痛"))
    encounter = one(bundle, "Encounter")
    assert encounter["status"] == status
    assert encounter["id"] == one(convert(converter, adt("A21", "ADT_A21", PV1)), "Encounter")["id"]


@pytest.mark.parametrize(
    ("event", "structure", "field", "code"),
    [
        ("A54", "ADT_A54", 7, "ATND"),
        ("A55", "ADT_A54", 7, "ATND"),
        ("A55", "ADT_A52", 7, "ATND"),
        ("A61", "ADT_A61", 9, "CON"),
        ("A62", "ADT_A61", 9, "CON"),
    ],
)
def test_changes_of_attending_and_consulting_doctor(converter, event, structure, field, code):
    visit = with_field(PV1, field, "D020^赵^六")
    rol = "ROL|1|AD|RP^Referring Provider^HL70443|D030^孙^八|20260316090000"
    removed = "ROL|2|DE|CP^Consulting Provider^HL70443|D031^周^九"
    segments = (visit, rol, removed) if structure != "ADT_A52" else (visit,)
    encounter = one(convert(converter, adt(event, structure, *segments)), "Encounter")
    people = {
        p["individual"]["identifier"]["value"]: (p["type"][0]["coding"][0]["code"], p["individual"].get("display"))
        for p in encounter["participant"]
    }
    assert people["D020"] == (code, "赵六")
    if structure != "ADT_A52":
        assert people["D030"][0] == "REF"  # ROL-3 RP (table 0443) → referrer
        assert "D031" not in people  # ROL-2 DE: deleted
    assert encounter["status"] == "in-progress"  # the visit data's (class I), not the event's


@pytest.mark.parametrize(
    ("event", "structure", "segments"),
    [
        ("A18", "ADT_A18", (MRG, PV1)),
        ("A30", "ADT_A30", (MRG,)),
        ("A36", "ADT_A30", (MRG,)),
        ("A39", "ADT_A39", (MRG,)),
    ],
)
def test_merges_mark_the_named_record_replaced(converter, event, structure, segments):
    old = stored_record(converter, "MRN0001")
    bundle = convert(converter, adt(event, structure, *segments))
    survivor, replaced = resources(bundle, "Patient")
    assert replaced["id"] == old["id"] and replaced["active"] is False
    assert replaced["link"] == [{"other": ref(survivor), "type": "replaced-by"}]
    assert "link" not in survivor
    accounts = {a["identifier"][0]["value"]: a["status"] for a in resources(bundle, "Account")}
    # A36 merges the account too (MRG-3 into PID-18)
    assert accounts == ({"ACC2": "active", "ACC1": "inactive"} if event == "A36" else {})


@pytest.mark.parametrize("event", ["A35", "A49"])
def test_account_merges_and_changes_close_the_prior_account(converter, event):
    prior = one(convert(converter, adt("A08", "ADT_A01", PV1, pid=PID.replace("ACC2", "ACC1"))), "Account")
    bundle = convert(converter, adt(event, "ADT_A30", MRG))
    accounts = by_value(resources(bundle, "Account"))
    assert accounts["ACC1"]["id"] == prior["id"] and accounts["ACC1"]["status"] == "inactive"
    assert accounts["ACC2"]["status"] == "active"
    assert len(resources(bundle, "Patient")) == 1  # the patient record is not merged


def test_a48_keeps_the_prior_alternate_id_as_old(converter):
    pid = "PID|1||MRN0002^^^SZRMYY^MR|ALT2^^^SZRMYY^PI|张三||19800101|M"
    bundle = convert(converter, adt("A48", "ADT_A30", "MRG|MRN0002^^^SZRMYY^MR|ALT1^^^SZRMYY^PI", pid=pid))
    patient = one(bundle, "Patient")
    assert patient["id"] == stored_record(converter, "MRN0002")["id"]
    assert values(patient) == [("MRN0002", None), ("ALT1", "old"), ("ALT2", None)]


def test_a42_merges_the_prior_visit_into_the_visit(converter):
    before = one(convert(converter, adt("A01", "ADT_A01", PV1.replace("V0002", "V0001"))), "Encounter")
    bundle = convert(converter, adt("A42", "ADT_A39", MRG, PV1))
    assert len(resources(bundle, "Patient")) == 1  # no patient merge
    encounters = by_value(resources(bundle, "Encounter"))
    assert encounters["V0001"]["id"] == before["id"] and encounters["V0001"]["status"] == "entered-in-error"
    assert values(encounters["V0002"]) == [("V0002", None), ("V0001", "old")]
    assert encounters["V0002"]["status"] == "in-progress"


WEIGHT = "OBX|1|NM|29463-7^体重^LN||70|kg^kg^UCUM|||||F|||20260315080000"  # OBX-14: when it was observed
HEIGHT = "OBX|2|NM|8302-2^身高^LN||175|cm^cm^UCUM|||||F"  # no OBX-14


def observation_ids(bundle):
    return {o["code"]["coding"][0]["code"]: o["id"] for o in resources(bundle, "Observation")}


def test_an_adt_obx_with_its_time_is_one_observation_of_the_patient_across_messages(converter):
    a01 = observation_ids(convert(converter, adt("A01", "ADT_A01", PV1, WEIGHT, HEIGHT)))
    a08 = observation_ids(convert(converter, adt("A08", "ADT_A01", PV1, WEIGHT, HEIGHT)))
    a02 = observation_ids(convert(converter, adt("A02", "ADT_A02", PV1, WEIGHT)))
    assert a01["29463-7"] == a08["29463-7"] == a02["29463-7"]
    # without OBX-14 an OBX is this message's: nothing says it is the same observation
    assert a01["8302-2"] != a08["8302-2"]
    # another time, another observation
    later = WEIGHT.replace("20260315080000", "20260316080000")
    assert observation_ids(convert(converter, adt("A08", "ADT_A01", PV1, later)))["29463-7"] != a01["29463-7"]


def test_the_same_obx_outside_adt_keeps_its_message_key(converter):
    # BAR_P01: an OBX of the visit has no report either; outside the ADT family it stays keyed on its message
    def bar(control: str) -> str:
        msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||BAR^P01^BAR_P01|{control}|P|2.5.1"
        return "\r".join([msh, "EVN|P01|20260315083000", PID, PV1, WEIGHT]) + "\r"

    first, second = (observation_ids(convert(converter, bar(c)))["29463-7"] for c in ("B1", "B2"))
    assert first != second
    assert first != observation_ids(convert(converter, adt("A01", "ADT_A01", PV1, WEIGHT)))["29463-7"]


def test_a46_with_a_prior_patient_id_changes_that_id_and_merges_nothing(converter):
    # the v2.3 form: MRG-1 repeats PID-3, MRG-4 the prior patient id (PID-2)
    pid = PID.replace("PID|1||", "PID|1|P10^^^SZRMYY^PN|")
    bundle = convert(converter, adt("A46", "ADT_A30", "MRG|MRN0002^^^SZRMYY^MR|||P9^^^SZRMYY^PN", pid=pid))
    patient = one(bundle, "Patient")
    assert patient["id"] == stored_record(converter, "MRN0002")["id"] and "link" not in patient
    assert values(patient) == [("MRN0002", None), ("P9", "old"), ("P10", None)]
    # without MRG-4: the record MRG-1 names is replaced, as for A47
    bundle = convert(converter, adt("A46", "ADT_A30", "MRG|MRN0001^^^SZRMYY^MR"))
    survivor, replaced = resources(bundle, "Patient")
    assert replaced["id"] == stored_record(converter, "MRN0001")["id"]
    assert replaced["link"] == [{"other": ref(survivor), "type": "replaced-by"}]
