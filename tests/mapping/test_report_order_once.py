"""A report names its order once: OBR-2 and ORC-2 are the same placer order number (v2.5.1 §4.5.1.2 ORC-2, "the
same as OBR-2"; IG ORU_R01 row 4.2.1.1 DiagnosticReport.basedOn). A sender that writes the number once with its
issuer (EI.2/EI.3) and once without — the hub then gives the bare one the sending facility's system — names one
order, not two; a genuinely different number in ORC-2 stays an order of its own.
"""

from __future__ import annotations

import pytest

from .conftest import convert, one
from .order_messages import message, msh, obr, orc, pid, pv1, segment

# MSH-4 is SZRMYY: a placer number without issuer gets urn:hub:id:SZRMYY; EMR is the issuer the other field names
EMR = {"system": "urn:hub:id:EMR", "value": "P100"}
OID = {"system": "urn:oid:2.16.156.10011.1.5", "value": "P100"}


def spm() -> str:
    return segment("SPM", {1: "1", 2: "S100&HIS^S900&LIS", 4: "SER^血清^HL70487", 17: "20260315084500"})


def result() -> str:
    return "OBX|1|NM|718-7^血红蛋白^LN||135|g/L|||||F"


def report_message(structure: str, orc_2: str, obr_2: str) -> str:
    """One order's results in the given structure, its placer number ORC-2 and OBR-2 as given."""
    code, event = structure.split("_")
    head = [msh(code, event, structure, f"{structure}-1"), pid(), pv1()]
    order, detail = orc(f1="RE", f2=orc_2), obr(f2=obr_2, f25="F")
    body = {
        "ORU_R01": [order, detail, result()],
        "ORU_R30": [order, detail, result()],
        "OUL_R21": [order, detail, result()],
        "OUL_R22": [spm(), detail, order, result()],
        "OUL_R23": [spm(), "SAC|||C100^HIS", detail, order, result()],
        "OUL_R24": [detail, order, spm(), result()],
    }[structure]
    text = message(*head, *body)
    return text.replace("|2.5.1", "|2.4", 1) if structure == "OUL_R21" else text


STRUCTURES = ["ORU_R01", "ORU_R30", "OUL_R21", "OUL_R22", "OUL_R23", "OUL_R24"]


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize(
    ("orc_2", "obr_2", "named"),
    [
        # ORC-2 with its issuer, OBR-2 without: the issuer the sender gave, once
        ("P100^EMR", "P100", EMR),
        # OBR-2 with its issuer, ORC-2 without
        ("P100", "P100^EMR", EMR),
        # the universal id alone (EI.3/EI.4) on one side
        ("P100^^2.16.156.10011.1.5^ISO", "P100", OID),
        ("P100", "P100^^2.16.156.10011.1.5^ISO", OID),
        # the same number and issuer, one with a trailing empty component
        ("P100^EMR^", "P100^EMR", EMR),
        # two issuers for one number (the sender's slip): one order, the order detail's (OBR-2) number
        ("P100^^2.16.156.10011.1.5^ISO", "P100^EMR", EMR),
    ],
)
def test_one_order_named_once(converter, structure, orc_2, obr_2, named):
    report = one(convert(converter, report_message(structure, orc_2, obr_2)), "DiagnosticReport")
    assert report["basedOn"] == [{"type": "ServiceRequest", "identifier": named}]


@pytest.mark.parametrize("structure", STRUCTURES)
def test_a_different_number_stays_an_order_of_its_own(converter, structure):
    report = one(convert(converter, report_message(structure, "P200", "P100^EMR")), "DiagnosticReport")
    assert [item["identifier"] for item in report["basedOn"]] == [EMR, {"system": "urn:hub:id:SZRMYY", "value": "P200"}]
