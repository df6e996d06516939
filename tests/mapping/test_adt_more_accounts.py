"""The patient's account (PID-18) in the other ADT events about a patient and a visit: cancel transfer (A12),
pending transfer (A15), leave of absence and the cancels of ADT_A21 (A21-A27, A32, A33), cancel pre-admit (A38),
the cancels of ADT_A52 (A52, A53, A55), changes of attending and consulting doctor (A54, A61, A62), visit number
changes (A50, A51), move visit (A45) and adverse reactions (A60). The IG's ADT message maps make an Account of
every PID they map (PID[Account], e.g. ADT_A01, ADT_A02 row 6); the hub does the same for these structures, the
IG having none of their own, rather than drop the account number. A29 deletes the person: no Account."""

from __future__ import annotations

import pytest

from .conftest import ref, resources, with_report

FACILITY = "NORTHWARD^2.16.840.1.113883.3.9901^ISO"
PID = "PID|1||M7101^^^NORTHWARD^MR||Haddad^Samir||19660204|M||||||||||AC66021^^^NORTHWARD^AN"
PV1 = "PV1|1|I|W6^3^1|||W5^2^2|D77^Brandt^Ilse||D78^Moreau^Luc||||||||||V99101^^^NORTHWARD^VN"
MRG = "MRG|M7100^^^NORTHWARD^MR||||V99100^^^NORTHWARD^VN"
IAM = "IAM|1|DA^Drug allergy^HL70127|1191^Aspirin^RXNORM|MO^Moderate^HL70128|Rash|A^Add^HL70206|IAM7101"


def message(event: str, structure: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|PAS|{FACILITY}|HUB|CITY|20260402101500||ADT^{event}^{structure}|Y{event}|P|2.5.1"
    return "\r".join([msh, f"EVN|{event}|20260402101500", *segments]) + "\r"


@pytest.mark.parametrize(
    ("event", "structure", "segments"),
    [
        ("A12", "ADT_A12", [PID, PV1]),
        ("A15", "ADT_A15", [PID, PV1]),
        ("A21", "ADT_A21", [PID, PV1]),
        ("A22", "ADT_A21", [PID, PV1]),
        ("A23", "ADT_A21", [PID, PV1]),
        ("A27", "ADT_A21", [PID, PV1]),
        ("A38", "ADT_A38", [PID, PV1]),
        ("A52", "ADT_A52", [PID, PV1]),
        ("A54", "ADT_A54", [PID, PV1]),
        ("A61", "ADT_A61", [PID, PV1]),
        ("A50", "ADT_A50", [PID, MRG, PV1]),
        ("A45", "ADT_A45", [PID, MRG, PV1]),
        ("A60", "ADT_A60", [PID, PV1, IAM]),
    ],
)
def test_the_account_number_makes_the_patients_account(converter, event, structure, segments):
    bundle, report = with_report(converter, message(event, structure, *segments))
    [account] = resources(bundle, "Account")
    [patient] = resources(bundle, "Patient")
    assert [i["value"] for i in account["identifier"]] == ["AC66021"]
    assert account["subject"] == [ref(patient)]
    assert not [r for r in report if r.get("location", "").startswith("PID^1^18")]


def test_deleting_the_person_makes_no_account(converter):
    bundle, _ = with_report(converter, message("A29", "ADT_A21", PID, "PV1|1|N"))
    assert resources(bundle, "Account") == []
