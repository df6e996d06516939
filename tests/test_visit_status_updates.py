"""A message that does not say the visit's state does not change the stored one (HL7 v2: A08 "update patient
information", A31, BAR, DFT, orders, results describe a visit, they do not admit, discharge or cancel it). The
status the patient class PV1-2 gives (IG PatientClass[EncounterStatus]: in progress unless preadmit) is that of a
visit the hub has not stored; an event that says the status (A01, A03, A11, A13 …) and PV1-45 replace it. Before,
an A08 or a BAR after the discharge reopened the visit (in-progress), an A08 after A11 revived a cancelled one.
Through the real pipeline (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.mapping.engine import Converter
from hub.mapping.nulls import KEEP_EXTENSION_URL
from tests.mapping.conftest import mappings_copy
from tests.test_conversion_semantics import (
    convert,
    entry_marks,
    ids,
    message,
    mpi,  # noqa: F401  (the fixture)
    msh,
    pv1,
    read,
    rich_pid,
)

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"


def other(code: str, event: str, structure: str, control: str, *segments: str) -> bytes:
    return message(
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260321083000||{code}^{event}^{structure}|{control}|P|2.5.1",
        f"EVN|{event}|20260321083000",
        rich_pid(),
        *segments,
    )


def discharged(session, settings) -> str:
    convert(session, settings, message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1()))
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f45="20260320100000"))
    convert(session, settings, a03)
    eid = ids(settings, a03)["Encounter"]
    assert read(session, "Encounter", eid)["status"] == "finished"
    return eid


@pytest.mark.parametrize(
    "raw",
    [
        message(msh("A08", "U1", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f14="7")),
        message(msh("A31", "U1", "ADT_A05"), "EVN|A31", rich_pid(), pv1()),
        message(msh("A54", "U1", "ADT_A54"), "EVN|A54", rich_pid(), pv1(f7="D011^王^十一")),
        other("BAR", "P05", "BAR_P05", "U1", pv1()),
        other("DFT", "P03", "DFT_P03", "U1", pv1(), "FT1|1|||20260321||CG|C001^挂号费|||1"),
    ],
    ids=["A08", "A31", "A54", "BAR^P05", "DFT^P03"],
)
def test_a_message_after_the_discharge_does_not_reopen_the_visit(mpi, settings, raw):  # noqa: F811
    eid = discharged(mpi, settings)
    assert "status" in entry_marks(settings, raw, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, raw)
    after = read(mpi, "Encounter", eid)
    assert after["status"] == "finished"
    assert after["period"]["end"] == "2026-03-20T10:00:00+08:00"


def test_an_a08_does_not_revive_a_cancelled_visit_and_an_event_still_sets_the_status(mpi, settings):  # noqa: F811
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(mpi, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    convert(mpi, settings, message(msh("A11", "C2", "ADT_A09"), "EVN|A11", rich_pid(), pv1()))
    assert read(mpi, "Encounter", eid)["status"] == "cancelled"
    convert(mpi, settings, message(msh("A08", "C3", "ADT_A01"), "EVN|A08", rich_pid(), pv1()))
    assert read(mpi, "Encounter", eid)["status"] == "cancelled"
    # an A01 says the status (in progress): it replaces the stored one, and writes no keep mark
    a01 = message(msh("A01", "C4", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    assert "status" not in entry_marks(settings, a01, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, a01)
    assert read(mpi, "Encounter", eid)["status"] == "in-progress"
    # an A08 with the discharge time (PV1-45): finished, from the visit data
    a08 = message(msh("A08", "C5", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f45="20260320100000"))
    assert "status" not in entry_marks(settings, a08, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, a08)
    assert read(mpi, "Encounter", eid)["status"] == "finished"


def test_an_a08_of_a_visit_the_hub_has_not_stored_has_the_status_of_its_class(mpi, settings):  # noqa: F811
    a08 = message(msh("A08", "C1", "ADT_A01"), "EVN|A08", rich_pid(), pv1())
    convert(mpi, settings, a08)
    assert read(mpi, "Encounter", ids(settings, a08)["Encounter"])["status"] == "in-progress"


@pytest.mark.parametrize(
    ("template", "rule", "reason"),
    [
        (
            "resource/Encounter.yaml",
            "  - path: location\n    from: PV1-3\n    stored_wins: true\n    elements:\n"
            "      - path: location\n        type: PL_Reference\n",
            "'stored_wins' is for a single-valued element",
        ),
        (
            "resource/Observation.yaml",
            "  - path: status\n    from: OBX-11\n    table: v2-0085\n    stored_wins: true\n",
            "'stored_wins' is for a single-valued element of a type the hub merges",
        ),
    ],
)
def test_stored_wins_is_for_a_single_valued_element_of_a_merged_type(tmp_path: Path, template, rule, reason):
    mappings = mappings_copy(tmp_path)
    path = mappings / template
    path.write_text(path.read_text(encoding="utf-8") + rule, encoding="utf-8")
    with pytest.raises(MappingTemplateError, match=reason):
        Converter.load(mappings)


def test_a_booking_plans_a_new_visit_and_leaves_a_stored_one_as_it_is(mpi, settings):  # noqa: F811
    def s12(control: str, visit: str) -> bytes:
        return message(
            f"MSH|^~\\&|RIS|{HOSPITAL}|HUB|CITY|20260321083000||SIU^S12^SIU_S12|{control}|P|2.5.1",
            "SCH|P77^HIS|F88^RIS||||||NORMAL|30|min|||||||||||||||Booked",
            rich_pid(),
            pv1(f2="O", f19=f"{visit}^^^SZRMYY^VN", f44=""),
            "RGS|1",
            "AIS|1||73030^X-ray shoulder^C4|202604010900",
        )

    new = s12("S1", "V0100")
    convert(mpi, settings, new)
    assert read(mpi, "Encounter", ids(settings, new)["Encounter"])["status"] == "planned"
    # an appointment booked for a visit in progress (the patient admitted, A01) does not make it planned again
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(mpi, settings, a01)
    stay = s12("S2", "V0001")
    assert ids(settings, stay)["Encounter"] == ids(settings, a01)["Encounter"]
    convert(mpi, settings, stay)
    assert read(mpi, "Encounter", ids(settings, a01)["Encounter"])["status"] == "in-progress"
