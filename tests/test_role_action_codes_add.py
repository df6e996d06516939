"""ROL-2 / PRT-2 `AD` (add) and `UC` (unchanged) beside the stored people of the same role, through the store.

HL7 table 0287: AD adds this person in this role, UC says this person's role is unchanged; neither says anything of
the other people the hub has stored in that role. So a second person added in a role stays beside the stored one,
a UC line keeps every stored person of its role, and the same person sent again with AD is still one participant
(the key merge: the richer item kept). A field of the role the message gives (PV1-7) replaces the stored items of
that role as before, the line's person beside the field's. Inbox row → convert_message → store, read back
(SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.nulls import KEEP_EXTENSION_URL
from tests.role_messages import a01, a08, adt_v28, bar
from tests.test_conversion_semantics import (
    admit_with_four_doctors,
    convert,
    entry_marks,
    ids,
    mpi,  # noqa: F401  (the fixture)
    pv1,
    read,
)

V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V2_0443 = "http://terminology.hl7.org/CodeSystem/v2-0443"


def people(encounter: dict[str, Any]) -> list[tuple[str, str]]:
    """(participant type code, the person's id number) of every participant, sorted."""
    return sorted(
        (p["type"][0]["coding"][0]["code"], p["individual"]["identifier"]["value"])
        for p in encounter.get("participant", [])
    )


def of(encounter: dict[str, Any], code: str, who: str) -> dict[str, Any]:
    [found] = [
        p
        for p in encounter["participant"]
        if p["type"][0]["coding"][0]["code"] == code and p["individual"]["identifier"]["value"] == who
    ]
    return found


# -- ROL AD: a second person in a role ---------------------------------------------------------------------------


def test_rol_ad_of_a_second_attending_doctor_adds_him_beside_the_stored_one(mpi, settings):  # noqa: F811
    # A01: 王一 D001 attending by ROL, with the start of his role (ROL-5)
    first = a01("ROL|1|AD|AT^Attending^HL70443|D001^王^一|20260315083000")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    stored = of(read(mpi, "Encounter", eid), "ATND", "D001")

    # A08 (PV1-7 empty): 刘十一 D011 added as a second attending doctor
    raw = a08("C2", "ROL|1|AD|AT^Attending^HL70443|D011^刘^十一|20260316090000")
    beside = f"+participant[type.coding.system={V3}][type.coding.code=ATND]"
    assert beside in entry_marks(settings, raw, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, raw)
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("ATND", "D001"), ("ATND", "D011")]
    assert of(after, "ATND", "D001") == stored
    assert of(after, "ATND", "D011")["period"]["start"].startswith("2026-03-16T09:00:00")


def test_rol_ad_of_the_same_person_again_stays_one_participant_the_richer_kept(mpi, settings):  # noqa: F811
    first = a01("ROL|1|AD|AT^Attending^HL70443|D001^王^一^^^^^^SZRMYY|20260315083000")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]

    # the same line again without the start or the authority, beside a new consultant: D001 is not doubled and
    # keeps what only the stored item had
    convert(
        mpi,
        settings,
        a08("C2", "ROL|1|AD|AT^Attending^HL70443|D001^王^一", "ROL|2|AD|CP^Consulting Provider^HL70443|D003^赵^三"),
    )
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("ATND", "D001"), ("CON", "D003")]
    attending = of(after, "ATND", "D001")
    assert attending["period"]["start"].startswith("2026-03-15T08:30:00")
    assert attending["individual"]["identifier"]["system"]

    # and once more, with a second attending doctor added: still one D001
    convert(mpi, settings, a08("C3", "ROL|1|AD|AT^Attending^HL70443|D001^王^一", "ROL|2|AD|AT^Attending|D011^刘^十一"))
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("ATND", "D001"), ("ATND", "D011"), ("CON", "D003")]
    assert of(after, "ATND", "D001")["period"]["start"].startswith("2026-03-15T08:30:00")


def test_rol_ad_keeps_the_doctor_an_earlier_pv1_named_in_that_role(mpi, settings):  # noqa: F811
    eid = admit_with_four_doctors(mpi, settings)  # PV1-7 D001, PV1-8 D002, PV1-9 D003, PV1-17 D004
    convert(mpi, settings, a08("C2", "ROL|1|AD|CP^Consulting Provider^HL70443|D013^钱^十三"))
    assert people(read(mpi, "Encounter", eid)) == [
        ("ADM", "D004"),
        ("ATND", "D001"),
        ("CON", "D003"),
        ("CON", "D013"),
        ("REF", "D002"),
    ]


def test_a_field_of_the_role_the_message_gives_still_replaces_the_stored_people_of_that_role(
    mpi,  # noqa: F811
    settings,
):
    eid = admit_with_four_doctors(mpi, settings)
    # PV1-7 names the attending doctor D005 (the stored D001 is no longer), and a ROL AD line adds D011
    raw = a08("C2", "ROL|1|AD|AT^Attending^HL70443|D011^刘^十一", pv1_segment=pv1(f7="D005^周^五"))
    assert not [m for m in entry_marks(settings, raw, "Encounter", KEEP_EXTENSION_URL) if "ATND" in m]
    convert(mpi, settings, raw)
    assert [who for code, who in people(read(mpi, "Encounter", eid)) if code == "ATND"] == ["D005", "D011"]


def test_rol_ad_beside_de_and_co_of_the_same_role(mpi, settings):  # noqa: F811
    first = a01(
        "ROL|1|AD|AT^Attending^HL70443|D001^王^一",
        "ROL|2|AD|AT^Attending^HL70443|D011^刘^十一",
        "ROL|3|AD|CP^Consulting Provider^HL70443|D003^赵^三|20260315083000",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    assert people(read(mpi, "Encounter", eid)) == [("ATND", "D001"), ("ATND", "D011"), ("CON", "D003")]
    # DE withdraws D001; AD adds D021 beside D011; CO corrects D003's start
    convert(
        mpi,
        settings,
        a08(
            "C2",
            "ROL|1|DE|AT^Attending^HL70443|D001^王^一",
            "ROL|2|AD|AT^Attending^HL70443|D021^吴^二十一",
            "ROL|3|CO|CP^Consulting Provider^HL70443|D003^赵^三|20260315100000",
        ),
    )
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("ATND", "D011"), ("ATND", "D021"), ("CON", "D003")]
    assert of(after, "CON", "D003")["period"]["start"].startswith("2026-03-15T10:00:00")


def test_rol_ad_in_a_role_no_field_has(mpi, settings):  # noqa: F811
    # RT (referred to provider) has no v3 participation type: the sender's coding is the role
    first = a01("ROL|1|AD|RT^Referred to Provider^HL70443|D020^郑^二十")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    convert(mpi, settings, a08("C2", "ROL|1|AD|RT^Referred to Provider^HL70443|D030^冯^三十"))
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("RT", "D020"), ("RT", "D030")]
    assert {c["system"] for p in after["participant"] for c in p["type"][0]["coding"]} == {V2_0443}


def test_rol_li_links_a_second_person_as_ad_adds_one(mpi, settings):  # noqa: F811
    first = a01("ROL|1|AD|RP^Referring Provider^HL70443|D002^李^二")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    convert(mpi, settings, a08("C2", "ROL|1|LI|RP^Referring Provider^HL70443|D012^陈^十二"))
    assert people(read(mpi, "Encounter", eid)) == [("REF", "D002"), ("REF", "D012")]


# -- ROL UC: the other stored people of the role stay -------------------------------------------------------------


def test_rol_uc_keeps_every_stored_person_of_its_role(mpi, settings):  # noqa: F811
    first = a01(
        "ROL|1|AD|CP^Consulting Provider^HL70443|D003^赵^三|20260315083000",
        "ROL|2|AD|CP^Consulting Provider^HL70443|D013^钱^十三|20260315090000",
        "ROL|3|AD|AT^Attending^HL70443|D001^王^一",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    stored = read(mpi, "Encounter", eid)
    # UC of one consultant (without his start): both consultants stay as stored, the attending doctor too
    convert(mpi, settings, a08("C2", "ROL|1|UC|CP^Consulting Provider^HL70443|D003^赵^三"))
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("ATND", "D001"), ("CON", "D003"), ("CON", "D013")]
    for who in ("D003", "D013"):
        assert of(after, "CON", who) == of(stored, "CON", who)


# -- the patient's own doctor (ROL PP) -----------------------------------------------------------------------------


def general_practitioners(patient: dict[str, Any]) -> list[str]:
    return [g["identifier"]["value"] for g in patient.get("generalPractitioner", [])]


def test_rol_pp_ad_adds_a_second_general_practitioner_and_uc_keeps_both(mpi, settings):  # noqa: F811
    first = a01(pd1="PD1|||社区医院^^^^^^^^^C001|D009^钱^九^^^^^^SZRMYY")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    assert general_practitioners(read(mpi, "Patient", pid)) == ["D009", "C001"]

    convert(mpi, settings, a08("C2", "ROL|1|AD|PP^Primary Care Provider^HL70443|D019^孙^十九"))
    assert sorted(general_practitioners(read(mpi, "Patient", pid))) == ["C001", "D009", "D019"]

    # UC of one of them: the other stays too
    convert(mpi, settings, a08("C3", "ROL|1|UC|PP^Primary Care Provider^HL70443|D019^孙^十九"))
    practitioners = read(mpi, "Patient", pid)["generalPractitioner"]
    assert sorted(g["identifier"]["value"] for g in practitioners) == ["C001", "D009", "D019"]
    [d009] = [g for g in practitioners if g["identifier"]["value"] == "D009"]
    assert d009["identifier"].get("system")  # as stored (PD1-4's authority)

    # PD1-4 given names the doctors: it replaces them, the AD line's doctor beside
    convert(
        mpi,
        settings,
        a08("C4", "ROL|1|AD|PP^Primary Care Provider^HL70443|D029^褚^二十九", pd1="PD1||||D039^卫^三十九"),
    )
    assert sorted(general_practitioners(read(mpi, "Patient", pid))) == ["C001", "D029", "D039"]


# -- PRT (v2.7+) ------------------------------------------------------------------------------------------------


def test_prt_ad_and_uc_in_a_bar_keep_the_stored_people_of_the_role(mpi, settings):  # noqa: F811
    p01 = bar(
        "B1",
        "P01",
        "PRT|1|AD||CP^Consulting Provider^HL70912|D003^赵^三||||||20260315083000",
        "PRT|2|AD||AT^Attending^HL70912|D001^王^一",
    )
    convert(mpi, settings, p01)
    eid = ids(settings, p01)["Encounter"]
    stored = read(mpi, "Encounter", eid)
    # P05: a second consultant added
    convert(mpi, settings, bar("B2", "P05", "PRT|1|AD||CP^Consulting Provider^HL70912|D013^钱^十三"))
    after = read(mpi, "Encounter", eid)
    assert people(after) == [("ATND", "D001"), ("CON", "D003"), ("CON", "D013")]
    assert of(after, "CON", "D003") == of(stored, "CON", "D003")
    # P05: the first consultant unchanged; the second stays
    convert(mpi, settings, bar("B3", "P05", "PRT|1|UC||CP^Consulting Provider^HL70912|D003^赵^三"))
    assert people(read(mpi, "Encounter", eid)) == [("ATND", "D001"), ("CON", "D003"), ("CON", "D013")]


def test_prt_pp_ad_adds_a_second_general_practitioner(mpi, settings):  # noqa: F811
    first = adt_v28("C1", "A01", "PRT|1|AD||PP^Primary Care Provider^HL70912|D009^钱^九")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    convert(mpi, settings, adt_v28("C2", "A08", "PRT|1|AD||PP^Primary Care Provider^HL70912|D019^孙^十九"))
    assert sorted(general_practitioners(read(mpi, "Patient", pid))) == ["D009", "D019"]
    convert(mpi, settings, adt_v28("C3", "A08", "PRT|1|UC||PP^Primary Care Provider^HL70912|D009^钱^九"))
    assert sorted(general_practitioners(read(mpi, "Patient", pid))) == ["D009", "D019"]
