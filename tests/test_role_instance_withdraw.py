"""ROL-1 / PRT-1 role instance ids against what is stored: the authority tells two senders' ids apart, and a line
with an id reaches a participant stored before the sender sent ids.

* A ``DE`` (``UN``) line withdraws the stored participant of its instance id, the id's authority (EI.2, EI.3)
  included: the HIS's line RL5001 and the EMR's line RL5001 are two instances, and deleting one keeps the other.
* When no stored participant carries the line's id, a ``DE`` line withdraws the stored participants of its role and
  person that carry no id (stored from lines without one), as a ``DE`` line without an id does; those of the role
  and person that carry another id are other instances and stay.
* A ``CO`` (``UP``) line with an id of a participant stored without one, same role and person, corrects that item and
  gives it the id: one participant, not two.

Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.merging import INSTANCE_URL
from tests.role_messages import a01, a08, bar
from tests.test_conversion_semantics import (
    convert,
    ids,
    mpi,  # noqa: F401  (the fixture)
    read,
)

CP = "CP^Consulting Provider^HL70443"
AT = "AT^Attending^HL70443"
CP_0912 = "CP^Consulting Provider^HL70912"


def instance(participant: dict[str, Any]) -> tuple[str, str] | None:
    for extension in participant.get("extension", []):
        if extension["url"] == INSTANCE_URL:
            return str(extension["valueIdentifier"]["system"]), str(extension["valueIdentifier"]["value"])
    return None


def people(encounter: dict[str, Any], code: str) -> list[str]:
    """The person's id number of each participant of that type, sorted."""
    return sorted(
        p["individual"]["identifier"]["value"]
        for p in encounter.get("participant", [])
        if p["type"][0]["coding"][0]["code"] == code
    )


def of(encounter: dict[str, Any], code: str, who: str) -> list[dict[str, Any]]:
    return [
        p
        for p in encounter.get("participant", [])
        if p["type"][0]["coding"][0]["code"] == code and p["individual"]["identifier"]["value"] == who
    ]


# -- the id's authority ------------------------------------------------------------------------------------------


def test_de_of_an_id_keeps_the_participant_of_the_same_id_from_another_authority(mpi, settings):  # noqa: F811
    # the HIS (namespace SZRMYY_HIS) and the EMR (SZRMYY_EMR) number their role lines each on its own: RL5001 twice
    first = a01(
        f"ROL|RL5001^SZRMYY_HIS|AD|{CP}|D003^赵^三|20260315083000",
        f"ROL|RL5001^SZRMYY_EMR|AD|{CP}|D013^钱^十三|20260315090000",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    assert people(read(mpi, "Encounter", eid), "CON") == ["D003", "D013"]
    # the EMR deletes its line: the HIS's consultant stays
    convert(mpi, settings, a08("C2", f"ROL|RL5001^SZRMYY_EMR|DE|{CP}|D013^钱^十三"))
    after = read(mpi, "Encounter", eid)
    assert people(after, "CON") == ["D003"]
    [d003] = of(after, "CON", "D003")
    assert instance(d003) is not None and instance(d003)[1] == "RL5001"
    assert d003["period"]["start"].startswith("2026-03-15T08:30:00")


def test_un_of_an_id_keeps_the_participant_of_the_same_id_from_another_universal_id(mpi, settings):  # noqa: F811
    # ids under two ISO OIDs (EI.3, EI.4): the hospital's HIS and its imaging department's system
    his, ris = "2.16.156.10011.1.5.1.9", "2.16.156.10011.1.5.1.12"
    first = a01(
        f"ROL|RL6001^^{his}^ISO|AD|{AT}|D001^王^一",
        f"ROL|RL6001^^{ris}^ISO|AD|{CP}|D021^吴^二十一",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    convert(mpi, settings, a08("C2", f"ROL|RL6001^^{ris}^ISO|UN|{CP}|D021^吴^二十一"))
    after = read(mpi, "Encounter", eid)
    assert people(after, "ATND") == ["D001"] and people(after, "CON") == []
    assert instance(of(after, "ATND", "D001")[0]) == (f"urn:oid:{his}", "RL6001")


def test_prt_de_of_an_id_keeps_the_participation_of_another_authority(mpi, settings):  # noqa: F811
    p01 = bar(
        "B1",
        "P01",
        f"PRT|PT7001^SZRMYY_HIS|AD||{CP_0912}|D003^赵^三",
        f"PRT|PT7001^SZRMYY_EMR|AD||{CP_0912}|D013^钱^十三",
    )
    convert(mpi, settings, p01)
    eid = ids(settings, p01)["Encounter"]
    convert(mpi, settings, bar("B2", "P05", f"PRT|PT7001^SZRMYY_HIS|DE||{CP_0912}|D003^赵^三"))
    assert people(read(mpi, "Encounter", eid), "CON") == ["D013"]


# -- a participant stored without an id ------------------------------------------------------------------------


def test_de_with_an_id_withdraws_the_participant_stored_without_one(mpi, settings):  # noqa: F811
    # the A01 came before the HIS sent ids (ROL|1| numbers the lines)
    first = a01(f"ROL|1|AD|{CP}|D003^赵^三|20260315083000", f"ROL|2|AD|{CP}|D013^钱^十三")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    convert(mpi, settings, a08("C2", f"ROL|RL5001^SZRMYY_HIS|DE|{CP}|D003^赵^三"))
    assert people(read(mpi, "Encounter", eid), "CON") == ["D013"]


def test_de_with_an_unknown_id_keeps_the_other_instances_of_the_role_and_person(mpi, settings):  # noqa: F811
    # the same consultant in two spells (two ids) and once from PV1-9 of an earlier message (no id): the DE line's id
    # is none of the stored ones, so it withdraws the item without an id only
    first = a01(f"ROL|RL5001^SZRMYY_HIS|AD|{CP}|D003^赵^三|20260315083000|20260316170000")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    convert(mpi, settings, a08("C2", f"ROL|RL5002^SZRMYY_HIS|AD|{CP}|D003^赵^三|20260318090000"))
    assert len(of(read(mpi, "Encounter", eid), "CON", "D003")) == 2
    convert(mpi, settings, a08("C3", f"ROL|RL5009^SZRMYY_HIS|DE|{CP}|D003^赵^三"))
    after = of(read(mpi, "Encounter", eid), "CON", "D003")
    assert sorted(instance(p)[1] for p in after if instance(p)) == ["RL5001", "RL5002"]


def test_prt_de_with_an_id_withdraws_the_participation_stored_without_one(mpi, settings):  # noqa: F811
    p01 = bar("B1", "P01", f"PRT|1|AD||{CP_0912}|D003^赵^三", f"PRT|2|AD||{CP_0912}|D013^钱^十三")
    convert(mpi, settings, p01)
    eid = ids(settings, p01)["Encounter"]
    convert(mpi, settings, bar("B2", "P05", f"PRT|PT7001^SZRMYY_HIS|DE||{CP_0912}|D013^钱^十三"))
    assert people(read(mpi, "Encounter", eid), "CON") == ["D003"]


def test_co_with_an_id_corrects_the_participant_stored_without_one(mpi, settings):  # noqa: F811
    first = a01(f"ROL|1|AD|{CP}|D003^赵^三|20260315083000", f"ROL|2|AD|{CP}|D013^钱^十三")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    # CO: the role began at ten, and the HIS now names the line RL5001
    convert(mpi, settings, a08("C2", f"ROL|RL5001^SZRMYY_HIS|CO|{CP}|D003^赵^三|20260315100000"))
    after = read(mpi, "Encounter", eid)
    assert people(after, "CON") == ["D003", "D013"]
    [d003] = of(after, "CON", "D003")
    assert d003["period"]["start"].startswith("2026-03-15T10:00:00")
    assert instance(d003) == ("urn:hub:id:SZRMYY_HIS", "RL5001")
    # and a later DE of that id withdraws it
    convert(mpi, settings, a08("C3", f"ROL|RL5001^SZRMYY_HIS|DE|{CP}|D003^赵^三"))
    assert people(read(mpi, "Encounter", eid), "CON") == ["D013"]


def test_up_with_an_id_corrects_the_participant_stored_without_one_in_a_bar(mpi, settings):  # noqa: F811
    p01 = bar("B1", "P01", f"PRT|1|AD||{CP_0912}|D003^赵^三", f"PRT|2|AD||{CP_0912}|D013^钱^十三")
    convert(mpi, settings, p01)
    eid = ids(settings, p01)["Encounter"]
    convert(mpi, settings, bar("B2", "P05", f"PRT|PT7001^SZRMYY_HIS|UP||{CP_0912}|D013^钱^十三||||||20260315110000"))
    after = read(mpi, "Encounter", eid)
    assert people(after, "CON") == ["D003", "D013"]
    [d013] = of(after, "CON", "D013")
    assert d013["period"]["start"].startswith("2026-03-15T11:00:00")
    assert instance(d013) == ("urn:hub:id:SZRMYY_HIS", "PT7001")
