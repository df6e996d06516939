"""BAR^P05 (update account), BAR^P06 (end account), BAR^P10 (APC groups) → Account, Encounter, Condition, Procedure."""

from __future__ import annotations

import pytest

from hub.hl7.header import derive_structure

from .conftest import convert, one, ref, resources
from .test_financial import DG1, IN1, PR1, PV1, message


@pytest.mark.parametrize(
    ("code", "event", "structure"),
    [
        ("BAR", "P05", "BAR_P05"),
        ("BAR", "P06", "BAR_P06"),
        ("BAR", "P10", "BAR_P10"),
        ("OMP", "O09", "OMP_O09"),
        ("ORP", "O10", "ORP_O10"),
        ("OMI", "O23", "OMI_O23"),
        ("ORI", "O24", "ORI_O24"),
    ],
)
def test_table_0354_names_each_event_its_own_structure(code, event, structure):
    assert derive_structure(code, event) == structure


def test_p05_updates_what_p01_added(converter):
    added = convert(converter, message("BAR", "P01", "BAR_P01", PV1, DG1, PR1, IN1))
    # the update: a second insurance and another diagnosis; the same account, visit, coverage, procedure
    second = "IN1|2|PLAN2^商业保险|C002^^^SZRMYY|平安保险||||||||20260101|||||SEL^Self^HL70063"
    diabetes = "DG1|2||E11^Type 2 diabetes^I10|||F"
    updated = convert(converter, message("BAR", "P05", "BAR_P05", PV1, DG1, diabetes, PR1, IN1, second))
    account = one(updated, "Account")
    assert account["id"] == one(added, "Account")["id"] and account["status"] == "active"
    assert one(updated, "Encounter")["id"] == one(added, "Encounter")["id"]
    coverages = resources(updated, "Coverage")
    assert len(coverages) == 2 and coverages[0]["id"] == one(added, "Coverage")["id"]
    # the account names every insurance's Coverage, in message order
    assert account["coverage"] == [{"coverage": ref(coverages[0])}, {"coverage": ref(coverages[1])}]
    assert sorted(c["code"]["coding"][0]["code"] for c in resources(updated, "Condition")) == ["E11", "I10"]
    assert one(updated, "Procedure")["id"] == one(added, "Procedure")["id"]
    # a v2.3.1 sender names the P01 structure for a P05 (its table 0354): converted alike
    old_style = convert(converter, message("BAR", "P05", "BAR_P01", PV1, DG1, PR1, IN1))
    assert one(old_style, "Account")["id"] == account["id"]


def test_p05_without_a_structure_in_msh_9(converter):
    bundle = convert(converter, message("BAR", "P05", "", PV1, DG1))
    assert one(bundle, "Account")["status"] == "active"
    assert one(bundle, "Condition")["code"]["coding"][0]["code"] == "I10"


def test_p06_ends_the_account(converter):
    added = one(convert(converter, message("BAR", "P01", "BAR_P01", PV1)), "Account")
    bundle = convert(converter, message("BAR", "P06", "BAR_P06", PV1))
    ended = one(bundle, "Account")
    assert ended["id"] == added["id"] and ended["status"] == "inactive"
    assert ended["subject"] == [ref(one(bundle, "Patient"))]
    assert (
        one(bundle, "Encounter")["id"]
        == one(convert(converter, message("BAR", "P01", "BAR_P01", PV1)), "Encounter")["id"]
    )
    # two accounts ended in one message: one PATIENT group each
    other = "PID|2||MRN0002^^^SZRMYY^MR||李四||19900202|F||||||||||ACC2^^^SZRMYY^AN"
    bundle = convert(converter, message("BAR", "P06", "BAR_P06", PV1, other))
    accounts = resources(bundle, "Account")
    assert [a["identifier"][0]["value"] for a in accounts] == ["ACC1", "ACC2"]
    assert all(a["status"] == "inactive" for a in accounts)
    patients = resources(bundle, "Patient")
    assert [a["subject"] for a in accounts] == [[ref(p)] for p in patients]


def test_p10_maps_the_visit_diagnoses_and_procedures_not_the_apc_groups(converter):
    # GP1 (visit grouping: type of bill, revenue codes) and GP2 (a procedure's APC) have no FHIR element
    gp1 = "GP1|131|0450|1"
    gp2 = "GP2|0450|1|125.00||||0612"
    bundle = convert(converter, message("BAR", "P10", "BAR_P10", PV1, DG1, gp1, PR1, gp2))
    assert one(bundle, "Account")["status"] == "active"
    condition, procedure = one(bundle, "Condition"), one(bundle, "Procedure")
    assert condition["code"]["coding"][0]["code"] == "I10"
    assert procedure["code"]["coding"][0]["code"] == "0DTJ4ZZ"
    assert procedure["subject"] == ref(one(bundle, "Patient"))
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {
        "Organization",
        "Patient",
        "Account",
        "Encounter",
        "Condition",
        "Procedure",
    }
