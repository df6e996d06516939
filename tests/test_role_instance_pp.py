"""ROL-1 / PRT-1 role instance ids of the patient's own doctor (ROL-3, PRT-4 ``PP``: primary care provider, a role of
HL7 table 0443; ROL-2, PRT-2 are the action codes of table 0287), through the store.

The line's id, given with its authority, is kept on the ``Patient.generalPractitioner`` Reference (extension
urn:hub:fhir:StructureDefinition:hl7v2-role-instance-id, as on a visit's participant): a ``CO``/``UP`` line of a known
instance corrects that doctor and keeps the patient's other doctors, ``DE``/``UN`` withdraws exactly that one (a
doctor named without an identifier too), else, no stored doctor carrying the id, the doctor of that number stored
without one. Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.merging import INSTANCE_URL
from tests.role_messages import a01, a08, adt_v28
from tests.test_conversion_semantics import (
    convert,
    ids,
    mpi,  # noqa: F401  (the fixture)
    read,
)

PP = "PP^Primary Care Provider^HL70443"
PP_0912 = "PP^Primary Care Provider^HL70912"


def doctors(patient: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(the doctor's number, else his name; the line's instance id) of each general practitioner, sorted."""
    out = []
    for g in patient.get("generalPractitioner", []):
        ident = [e["valueIdentifier"]["value"] for e in g.get("extension", []) if e["url"] == INSTANCE_URL]
        out.append((g.get("identifier", {}).get("value") or g.get("display", ""), ident[0] if ident else None))
    return sorted(out)


def test_co_of_an_instance_corrects_that_doctor_and_keeps_the_others(mpi, settings):  # noqa: F811
    first = a01(f"ROL|RL8001^SZRMYY_HIS|AD|{PP}|D009^钱^九", f"ROL|RL8002^SZRMYY_HIS|AD|{PP}|D019^孙^十九")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    assert doctors(read(mpi, "Patient", pid)) == [("D009", "RL8001"), ("D019", "RL8002")]
    # CO RL8001: the patient's doctor of that line is 褚二十九 D029, not D009; D019 stays
    convert(mpi, settings, a08("C2", f"ROL|RL8001^SZRMYY_HIS|CO|{PP}|D029^褚^二十九"))
    after = read(mpi, "Patient", pid)
    assert doctors(after) == [("D019", "RL8002"), ("D029", "RL8001")]
    [d029] = [g for g in after["generalPractitioner"] if g["identifier"]["value"] == "D029"]
    assert d029["display"] == "褚二十九"
    # DE RL8002: that one goes
    convert(mpi, settings, a08("C3", f"ROL|RL8002^SZRMYY_HIS|DE|{PP}|D019^孙^十九"))
    assert doctors(read(mpi, "Patient", pid)) == [("D029", "RL8001")]


def test_a_doctor_named_without_an_identifier_is_corrected_and_withdrawn_by_the_id(mpi, settings):  # noqa: F811
    first = a01(f"ROL|RL8001^SZRMYY_HIS|AD|{PP}|^钱^九", pd1="PD1||||D019^孙^十九^^^^^^SZRMYY")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    assert doctors(read(mpi, "Patient", pid)) == [("D019", None), ("钱九", "RL8001")]
    convert(mpi, settings, a08("C2", f"ROL|RL8001^SZRMYY_HIS|CO|{PP}|^钱^久"))
    assert doctors(read(mpi, "Patient", pid)) == [("D019", None), ("钱久", "RL8001")]
    convert(mpi, settings, a08("C3", f"ROL|RL8001^SZRMYY_HIS|DE|{PP}|^钱^久"))
    assert doctors(read(mpi, "Patient", pid)) == [("D019", None)]


def test_de_with_an_id_withdraws_the_doctor_stored_without_one(mpi, settings):  # noqa: F811
    first = a01(pd1="PD1|||社区医院^^^^^^^^^C001|D009^钱^九^^^^^^SZRMYY")
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    convert(mpi, settings, a08("C2", f"ROL|RL8101^SZRMYY_HIS|DE|{PP}|D009^钱^九"))
    assert doctors(read(mpi, "Patient", pid)) == [("C001", None)]


def test_prt_pp_co_of_an_instance_keeps_the_other_doctor(mpi, settings):  # noqa: F811
    first = adt_v28(
        "C1",
        "A01",
        f"PRT|PT8001^SZRMYY_HIS|AD||{PP_0912}|D009^钱^九",
        f"PRT|PT8002^SZRMYY_HIS|AD||{PP_0912}|D019^孙^十九",
    )
    convert(mpi, settings, first)
    pid = ids(settings, first)["Patient"]
    convert(mpi, settings, adt_v28("C2", "A08", f"PRT|PT8001^SZRMYY_HIS|UP||{PP_0912}|D029^褚^二十九"))
    assert doctors(read(mpi, "Patient", pid)) == [("D019", "PT8002"), ("D029", "PT8001")]
    convert(mpi, settings, adt_v28("C3", "A08", f"PRT|PT8002^SZRMYY_EMR|DE||{PP_0912}|D019^孙^十九"))
    # another system's PT8002: not this line; the doctor D019 is stored with an id, so no fallback either
    assert doctors(read(mpi, "Patient", pid)) == [("D019", "PT8002"), ("D029", "PT8001")]
    convert(mpi, settings, adt_v28("C4", "A08", f"PRT|PT8002^SZRMYY_HIS|DE||{PP_0912}|D019^孙^十九"))
    assert doctors(read(mpi, "Patient", pid)) == [("D029", "PT8001")]
