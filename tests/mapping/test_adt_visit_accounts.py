"""The patient's account (PID-18) in the ADT events whose IG message map makes one from the PID (PID[Account]):
transfer (ADT_A02 row 6), patient departing, arriving and cancel admit (ADT_A09, A10, A11 row 6) and swap patients
(ADT_A17 rows 6 and 13, one Account per patient). As in ADT_A01, the account number is the Account's identifier
within the sending facility and the patient its subject; the number is not dropped as an unmapped field."""

from __future__ import annotations

import pytest

from .conftest import convert, ref, resources, with_report

FACILITY = "NORTHWARD^2.16.840.1.113883.3.9901^ISO"


def message(event: str, structure: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|PAS|{FACILITY}|HUB|CITY|20260402101500||ADT^{event}^{structure}|X{event}|P|2.5.1"
    return "\r".join([msh, f"EVN|{event}|20260402101500", *segments]) + "\r"


def pid(mrn: str, account: str) -> str:
    # PID-3 MRN, PID-5 name, PID-7 birth date, PID-8 sex, PID-18 account number (CX, type AN)
    return f"PID|1||{mrn}^^^NORTHWARD^MR||Okafor^Adaeze||19770912|F||||||||||{account}^^^NORTHWARD^AN"


def pv1(bed: str, visit: str) -> str:
    # PV1-2 class, PV1-3 location, PV1-19 visit number
    return f"PV1|1|I|W4^{bed}^1|||||||||||||||||{visit}^^^NORTHWARD^VN"


def account_numbers(bundle) -> list[str]:
    return sorted(i["value"] for a in resources(bundle, "Account") for i in a["identifier"])


@pytest.mark.parametrize(
    ("event", "structure"),
    [("A02", "ADT_A02"), ("A09", "ADT_A09"), ("A10", "ADT_A09"), ("A11", "ADT_A09")],
)
def test_the_account_of_the_pid_is_an_account_of_the_patient(converter, event, structure):
    text = message(event, structure, pid("M7001", "AC55012"), pv1("12", "V88001"))
    bundle, report = with_report(converter, text)
    [account] = resources(bundle, "Account")
    [patient] = resources(bundle, "Patient")
    assert account["identifier"][0]["value"] == "AC55012"
    assert account["identifier"][0]["type"]["coding"][0]["code"] == "AN"
    assert account["subject"] == [ref(patient)]
    assert account["status"] == "active"
    assert not [r for r in report if r.get("location", "").startswith("PID^1^18")]


def test_a_swap_makes_each_patients_account(converter):
    text = message(
        "A17",
        "ADT_A17",
        pid("M7001", "AC55012"),
        pv1("12", "V88001"),
        pid("M7002", "AC55013").replace("Okafor^Adaeze", "Lindqvist^Maja"),
        pv1("14", "V88002"),
    )
    bundle, report = with_report(converter, text)
    patients = {p["identifier"][0]["value"]: p for p in resources(bundle, "Patient")}
    owners = {a["identifier"][0]["value"]: a["subject"] for a in resources(bundle, "Account")}
    assert owners == {"AC55012": [ref(patients["M7001"])], "AC55013": [ref(patients["M7002"])]}
    assert not [r for r in report if r.get("location", "").startswith("PID^")]


def test_no_account_number_no_account(converter):
    text = message("A02", "ADT_A02", pid("M7001", "AC55012").replace("AC55012^^^NORTHWARD^AN", ""), pv1("12", "V1"))
    assert account_numbers(convert(converter, text)) == []
