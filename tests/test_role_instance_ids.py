"""ROL-1 / PRT-1 role instance ids: the line's id identifies its participant across messages, through the store.

HL7 v2 gives ROL-1 (role instance id, EI) and PRT-1 (participation instance id, EI) to identify a role line across
messages. When the sender gives one with its assigning authority (EI.2 or EI.3), the participant carries it
(extension urn:hub:fhir:StructureDefinition:hl7v2-role-instance-id) and is matched by it: an AD line of a known
instance that differs from the stored item (a start time added, a person named without an identifier) is not
stored twice, a CO/UP line corrects that item (its person too) and leaves the role's other people, a DE line
deletes exactly that one. Without an id (or with a bare set number, ``ROL|1|``) the lines are matched as before.
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


def instance(participant: dict[str, Any]) -> str | None:
    for extension in participant.get("extension", []):
        if extension["url"] == INSTANCE_URL:
            return str(extension["valueIdentifier"]["value"])
    return None


def roles(encounter: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [p for p in encounter.get("participant", []) if p["type"][0]["coding"][0]["code"] == code]


def name(participant: dict[str, Any]) -> str:
    return str(participant["individual"].get("display", ""))


def test_ad_of_a_known_instance_with_a_start_added_is_not_stored_twice(mpi, settings):  # noqa: F811
    # a consultant named without an identifier (XCN.1 empty), line RL3001 of the hospital's HIS
    first = a01(f"ROL|RL3001^SZRMYY_HIS|AD|{CP}|^钱^十三")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    assert len(roles(read(mpi, "Encounter", eid), "CON")) == 1
    # the same line again, now with the start of the role: one consultant, with the start
    convert(mpi, settings, a08("C2", f"ROL|RL3001^SZRMYY_HIS|AD|{CP}|^钱^十三|20260315083000"))
    [after] = roles(read(mpi, "Encounter", eid), "CON")
    assert after["period"]["start"].startswith("2026-03-15T08:30:00")
    assert "钱" in name(after) and instance(after) == "RL3001"


def test_co_of_an_instance_corrects_that_item_and_keeps_the_others_of_the_role(mpi, settings):  # noqa: F811
    first = a01(
        f"ROL|RL3001^SZRMYY_HIS|AD|{CP}|^钱^十三|20260315083000",
        f"ROL|RL3002^SZRMYY_HIS|AD|{CP}|D003^赵^三|20260315090000",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    # CO RL3001: the name was misspelt (钱十三 -> 钱世三); the line leaves the start out
    convert(mpi, settings, a08("C2", f"ROL|RL3001^SZRMYY_HIS|CO|{CP}|^钱^世三"))
    consultants = roles(read(mpi, "Encounter", eid), "CON")
    assert sorted(name(p) for p in consultants) == ["赵三", "钱世三"]  # not 钱十三 beside 钱世三, D003 kept
    [corrected] = [p for p in consultants if instance(p) == "RL3001"]
    assert corrected["period"]["start"].startswith("2026-03-15T08:30:00")  # what the line left empty stays
    [other] = [p for p in consultants if instance(p) == "RL3002"]
    assert other["individual"]["identifier"]["value"] == "D003"


def test_co_of_an_instance_names_another_person(mpi, settings):  # noqa: F811
    first = a01(
        f"ROL|RL4001^SZRMYY_HIS|AD|{AT}|D001^王^一^^^^^^SZRMYY|20260315083000",
        f"ROL|RL4002^SZRMYY_HIS|AD|{AT}|D021^吴^二十一^^^^^^SZRMYY",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    # UP RL4001: the attending doctor of that line is 刘十一 D011, not 王一 D001
    convert(mpi, settings, a08("C2", f"ROL|RL4001^SZRMYY_HIS|UP|{AT}|D011^刘^十一^^^^^^SZRMYY"))
    attending = roles(read(mpi, "Encounter", eid), "ATND")
    assert sorted(p["individual"]["identifier"]["value"] for p in attending) == ["D011", "D021"]
    [d011] = [p for p in attending if p["individual"]["identifier"]["value"] == "D011"]
    assert instance(d011) == "RL4001" and name(d011) == "刘十一"
    assert d011["period"]["start"].startswith("2026-03-15T08:30:00")


def test_de_of_an_instance_deletes_exactly_that_one(mpi, settings):  # noqa: F811
    # the same consultant in two spells of the stay (two role lines), and one named without identifier
    first = a01(
        f"ROL|RL5001^SZRMYY_HIS|AD|{CP}|D003^赵^三|20260315083000|20260316170000",
        f"ROL|RL5002^SZRMYY_HIS|AD|{CP}|D003^赵^三|20260318090000",
        f"ROL|RL5003^SZRMYY_HIS|AD|{CP}|^钱^十三",
    )
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    assert len(roles(read(mpi, "Encounter", eid), "CON")) == 3
    convert(
        mpi,
        settings,
        a08("C2", f"ROL|RL5001^SZRMYY_HIS|DE|{CP}|D003^赵^三", f"ROL|RL5003^SZRMYY_HIS|DE|{CP}|^钱^十三"),
    )
    [left] = roles(read(mpi, "Encounter", eid), "CON")
    assert left["period"]["start"].startswith("2026-03-18T09:00:00")
    assert instance(left) == "RL5002"


def test_a_bare_set_number_in_rol_1_is_no_instance_id(mpi, settings):  # noqa: F811
    # 'ROL|1|', 'ROL|2|' number the lines of one message (the corpus's senders do so): not kept, not matched
    first = a01(f"ROL|1|AD|{CP}|D003^赵^三")
    convert(mpi, settings, first)
    eid = ids(settings, first)["Encounter"]
    convert(mpi, settings, a08("C2", f"ROL|1|AD|{AT}|D001^王^一"))
    after = read(mpi, "Encounter", eid)
    assert [p["individual"]["identifier"]["value"] for p in roles(after, "CON")] == ["D003"]
    assert [p["individual"]["identifier"]["value"] for p in roles(after, "ATND")] == ["D001"]
    assert not [p for p in after["participant"] if instance(p)]


def test_prt_1_identifies_the_participation_in_a_bar(mpi, settings):  # noqa: F811
    p01 = bar(
        "B1",
        "P01",
        "PRT|PT7001^SZRMYY_HIS|AD||CP^Consulting Provider^HL70912|^钱^十三",
        "PRT|PT7002^SZRMYY_HIS|AD||CP^Consulting Provider^HL70912|D003^赵^三",
    )
    convert(mpi, settings, p01)
    eid = ids(settings, p01)["Encounter"]
    convert(
        mpi,
        settings,
        bar("B2", "P05", "PRT|PT7001^SZRMYY_HIS|CO||CP^Consulting Provider^HL70912|^钱^世三||||||20260315083000"),
    )
    consultants = roles(read(mpi, "Encounter", eid), "CON")
    assert sorted(name(p) for p in consultants) == ["赵三", "钱世三"]
    [corrected] = [p for p in consultants if instance(p) == "PT7001"]
    assert "世三" in name(corrected) and corrected["period"]["start"].startswith("2026-03-15T08:30:00")
    convert(mpi, settings, bar("B3", "P05", "PRT|PT7002^SZRMYY_HIS|DE||CP^Consulting Provider^HL70912|D003^赵^三"))
    assert [name(p) for p in roles(read(mpi, "Encounter", eid), "CON")] == ["钱世三"]
