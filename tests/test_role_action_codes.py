"""ROL-2 / PRT-2 action codes (HL7 table 0287) against the stored resource, through the real pipeline.

AD add, CO correct, DE delete, LI link, UC unchanged, UN unlink (v2.5.1 ch. 15, ROL-2; PRT-2 has the same table).
UN removes the link of that person in that role, as DE does; UC keeps the stored item of that role and person as
it is stored, though the message's own list replaces the stored one; CO replaces the item of that role and person
with the message's. Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL
from tests.role_messages import a01, a08, bar
from tests.test_conversion_semantics import (
    admit_with_four_doctors,
    convert,
    doctors,
    entry_marks,
    ids,
    mpi,  # noqa: F401  (the fixture)
    pv1,
    read,
)

V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def role(code: str, who: str) -> str:
    return f"participant[type.coding.system={V3}][type.coding.code={code}][individual.identifier.value={who}]"


def participant(encounter: dict[str, Any], code: str) -> dict[str, Any]:
    [found] = [p for p in encounter["participant"] if p["type"][0]["coding"][0]["code"] == code]
    return found


# -- UN: unlink ------------------------------------------------------------------------------------------------


def test_rol_un_unlinks_that_person_from_that_role(mpi, settings):  # noqa: F811
    eid = admit_with_four_doctors(mpi, settings)
    # A08: PV1-17 names a new admitting doctor, PV1-7/8/9 empty (kept); ROL UN: the consultant D003 is unlinked
    raw = a08("C2", "ROL|1|UN|CP^Consulting Provider^HL70443|D003^赵^三", pv1_segment=pv1(f17="D005^周^五"))
    assert entry_marks(settings, raw, "Encounter") == [role("CON", "D003")]
    convert(mpi, settings, raw)
    assert doctors(read(mpi, "Encounter", eid)) == {"ADM": "D005", "ATND": "D001", "REF": "D002"}
    # a message whose only participant line is UN: the link goes all the same, the others stay
    convert(mpi, settings, a08("C3", "ROL|1|UN|AT^Attending^HL70443|D001^王^一"))
    assert doctors(read(mpi, "Encounter", eid)) == {"ADM": "D005", "REF": "D002"}


def test_rol_un_unlinks_the_patients_own_doctor(mpi, settings):  # noqa: F811
    first = a01("ROL|1|AD|PP^Primary Care Provider^HL70443|D009^钱^九")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    assert [g["identifier"]["value"] for g in read(mpi, "Patient", pid)["generalPractitioner"]] == ["D009"]
    convert(mpi, settings, a08("C2", "ROL|1|UN|PP^Primary Care Provider^HL70443|D009^钱^九"))
    assert "generalPractitioner" not in read(mpi, "Patient", pid)


def test_prt_un_in_a_bar_unlinks_that_person_from_that_role(mpi, settings):  # noqa: F811
    p01 = bar(
        "B1",
        "P01",
        "PRT|1|AD||AT^Attending^HL70912|D001^王^一",
        "PRT|2|AD||CP^Consulting Provider^HL70912|D003^赵^三",
    )
    convert(mpi, settings, p01)
    eid = ids(settings, p01)["Encounter"]
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D001", "CON": "D003"}
    convert(mpi, settings, bar("B2", "P05", "PRT|1|UN||CP^Consulting Provider^HL70912|D003^赵^三"))
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D001"}
    # PRT UC: the attending doctor stays as stored: the start time (PRT-11) the UC line gives and the P01 did not is
    # not taken
    stored = participant(read(mpi, "Encounter", eid), "ATND")
    convert(
        mpi,
        settings,
        bar(
            "B3",
            "P05",
            "PRT|1|UC||AT^Attending^HL70912|D001^王^一||||||20260316080000",
            "PRT|2|AD||RP^Referring Provider^HL70912|D002^李^二",
        ),
    )
    after = read(mpi, "Encounter", eid)
    assert doctors(after) == {"ATND": "D001", "REF": "D002"}
    assert participant(after, "ATND") == stored


# -- UC: unchanged ---------------------------------------------------------------------------------------------


def test_rol_uc_keeps_the_stored_role_as_it_is(mpi, settings):  # noqa: F811
    # A01: the attending doctor by ROL, with the time the role began (ROL-5) and the doctor's authority (XCN.9)
    first = a01("ROL|1|AD|AT^Attending^HL70443|D001^王^一^^^^^^SZRMYY|20260315083000", pv1_segment=pv1(f9="D003^赵^三"))
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    stored = participant(read(mpi, "Encounter", eid), "ATND")
    assert stored["period"]["start"].startswith("2026-03-15T08:30:00")

    # A08: the same line UC (unchanged), without the start time or the authority, and PV1-9 names a new
    # consultant: the message's participant list replaces the stored one, the attending doctor stays as stored
    raw = a08("C2", "ROL|1|UC|AT^Attending^HL70443|D001^王^一", pv1_segment=pv1(f9="D013^钱^三"))
    assert role("ATND", "D001") in entry_marks(settings, raw, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, raw)
    after = read(mpi, "Encounter", eid)
    assert doctors(after) == {"ATND": "D001", "CON": "D013"}
    assert participant(after, "ATND") == stored

    # UC as the only participant line: nothing changes
    convert(mpi, settings, a08("C3", "ROL|1|UC|AT^Attending^HL70443|D001^王^一"))
    assert read(mpi, "Encounter", eid)["participant"] == after["participant"]


def test_rol_uc_of_a_role_the_hub_does_not_have_adds_it(mpi, settings):  # noqa: F811
    # the hub missed the message that added the role: the line's own item is the best it knows
    eid = admit_with_four_doctors(mpi, settings)
    convert(mpi, settings, a08("C2", "ROL|1|UC|RT^Referred to Provider^HL70443|D020^郑^二十"))
    after = read(mpi, "Encounter", eid)
    assert "D020" in [p["individual"]["identifier"]["value"] for p in after["participant"]]
    assert {"ATND", "REF", "CON", "ADM"} <= set(doctors(after))


def test_rol_uc_keeps_the_patients_own_doctor_as_stored(mpi, settings):  # noqa: F811
    # PD1-3 primary facility, PD1-4 primary care provider (an XCN with its authority)
    first = a01(pd1="PD1|||社区医院^^^^^^^^^C001|D009^钱^九^^^^^^SZRMYY")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    [doctor] = [g for g in read(mpi, "Patient", pid)["generalPractitioner"] if g["identifier"]["value"] == "D009"]

    # A08: PD1-3 names another facility, PD1-4 empty; ROL PP UC names the doctor, unchanged. The general
    # practitioners have no discriminator (the message's list replaces the stored one), but the doctor the
    # message says is unchanged stays as stored
    raw = a08("C2", "ROL|1|UC|PP^Primary Care Provider^HL70443|D009^钱^九", pd1="PD1|||社区医院二^^^^^^^^^C002")
    assert "generalPractitioner[identifier.value=D009]" in entry_marks(settings, raw, "Patient", KEEP_EXTENSION_URL)
    convert(mpi, settings, raw)
    practitioners = read(mpi, "Patient", pid)["generalPractitioner"]
    assert doctor in practitioners
    assert [g.get("identifier", {}).get("value") for g in practitioners] == ["C002", "D009"]


# -- CO: correct -----------------------------------------------------------------------------------------------


def test_rol_co_replaces_the_stored_role_of_that_person(mpi, settings):  # noqa: F811
    first = a01("ROL|1|AD|AT^Attending^HL70443|D001^王^一|20260315083000", pv1_segment=pv1(f8="D002^李^二"))
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    # CO: the role began an hour later, and the name was misspelt; PV1-8 empty keeps the referrer
    convert(mpi, settings, a08("C2", "ROL|1|CO|AT^Attending^HL70443|D001^汪^一|20260315093000"))
    after = read(mpi, "Encounter", eid)
    assert doctors(after) == {"ATND": "D001", "REF": "D002"}
    attending = participant(after, "ATND")
    assert attending["period"]["start"].startswith("2026-03-15T09:30:00")
    assert attending["individual"]["display"] == "汪一"
    assert len(after["participant"]) == 2  # replaced, not doubled

    # a correction of the person: the attending doctor was D011, not D001
    convert(mpi, settings, a08("C3", "ROL|1|CO|AT^Attending^HL70443|D011^王^十一"))
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D011", "REF": "D002"}


def test_rol_de_un_uc_and_co_in_one_message(mpi, settings):  # noqa: F811
    eid = admit_with_four_doctors(mpi, settings)
    raw = a08(
        "C2",
        "ROL|1|UC|AT^Attending^HL70443|D001^王^一",
        "ROL|2|DE|RP^Referring Provider^HL70443|D002^李^二",
        "ROL|3|UN|CP^Consulting Provider^HL70443|D003^赵^三",
        "ROL|4|CO|AD^Admitting^HL70443|D014^孙^十四",
    )
    assert entry_marks(settings, raw, "Encounter", NULL_EXTENSION_URL) == [role("REF", "D002"), role("CON", "D003")]
    convert(mpi, settings, raw)
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D001", "ADM": "D014"}
