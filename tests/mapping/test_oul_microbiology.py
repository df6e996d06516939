"""Microbiology in the specimen-, container- and order-oriented result messages (OUL^R21 … R24) → FHIR.

The same culture and susceptibility panels as an ORU^R01 (tests/mapping/test_microbiology.py), as a LIS sends
them by specimen (R22), by container (R23), by order (R24) or in the older R21: each organism is an OBX of the
culture order with a sub-id of its own; each organism's susceptibility panel is a child order (OBR-11 G) whose
OBR-29 (EIP: placer^filler) names the culture's order and OBR-26 (PRL: OBX-3^OBX-4^text) the organism's OBX. Each
susceptibility Observation is derivedFrom its organism's Observation, by the organism's key, as in ORU^R01.
"""

from __future__ import annotations

import pytest

from hub.mapping import Converter

from .conftest import convert, ref, resources
from .order_messages import message, msh, pid, pv1, segment
from .test_microbiology import by_code, organism

# the hospital as its ORU^R01 names it (MSH-4 HD with its OID): the reports are keyed on it
FACILITY = "SZRMYY^2.16.156.10011.1.5.1^ISO"
SPM = "SPM|1|BC100&HIS^BC900&LIS||BLD^全血^HL70487|||||||||||||20260312080000|20260312083000"  # SPM-2, -4, -17, -18
SAC = "SAC|||BC100-1^HIS"  # SAC-3: the blood culture bottle


def obr(n: int, placer: str, filler: str, service: str, *, parent: str = "", eip: str = "") -> str:
    # OBR-2 placer, OBR-3 filler, OBR-4 the test, OBR-7 collected, OBR-11 G (a generated order: the panel),
    # OBR-24 MB microbiology, OBR-25 F final, OBR-26 parent result (PRL), OBR-29 parent order (EIP)
    fields = {1: str(n), 2: placer, 3: filler, 4: service, 7: "20260312080000", 24: "MB", 25: "F"}
    if parent or eip:
        fields.update({11: "G", 26: parent, 29: eip})
    return segment("OBR", fields)


def orc(placer: str, filler: str) -> str:
    return f"ORC|RE|{placer}|{filler}||CM"


CULTURE_OBR = obr(1, "SQ1001^HIS", "LAB2001^LIS", "XYPY^血培养^L")
CULTURE_ORC = orc("SQ1001^HIS", "LAB2001^LIS")
ORGANISMS = [
    "OBX|1|CWE|ORG^细菌鉴定^L|1|112283007^大肠埃希菌^SCT||||||F",
    "OBX|2|CWE|ORG^细菌鉴定^L|2|KPN^肺炎克雷伯菌^L||||||F",
]
PANEL_1_OBR = obr(
    2,
    "SQ1001^HIS",
    "LAB2001-1^LIS",
    "YMJC^药敏试验^L",
    parent="ORG&细菌鉴定&L^1^大肠埃希菌",
    eip="SQ1001&HIS^LAB2001&LIS",
)
PANEL_1_ORC = orc("SQ1001^HIS", "LAB2001-1^LIS")
PANEL_1 = [
    "OBX|1|SN|AMK^阿米卡星^L|1|<=^2|ug/mL||敏感|||F",
    "OBX|2|NM|CIP^环丙沙星^L|1|2|ug/mL||中介|||F",
]
PANEL_2_OBR = obr(
    3,
    "SQ1001^HIS",
    "LAB2001-2^LIS",
    "YMJC^药敏试验^L",
    parent="ORG&细菌鉴定&L^2^肺炎克雷伯菌",
    eip="SQ1001&HIS^LAB2001&LIS",
)
PANEL_2_ORC = orc("SQ1001^HIS", "LAB2001-2^LIS")
PANEL_2 = ["OBX|1|SN|IPM^亚胺培南^L|1|>=^16|ug/mL||耐药|||F"]


def r22(control: str = "MB22") -> str:
    # by specimen: SPM, its container, then each order (OBR, ORC, results) of the specimen
    return message(
        msh("OUL", "R22", "OUL_R22", control, facility=FACILITY),
        pid(),
        pv1(),
        SPM,
        SAC,
        CULTURE_OBR,
        CULTURE_ORC,
        *ORGANISMS,
        PANEL_1_OBR,
        PANEL_1_ORC,
        *PANEL_1,
        PANEL_2_OBR,
        PANEL_2_ORC,
        *PANEL_2,
    )


def r23(control: str = "MB23") -> str:
    # by container: the same grouping here (the container's orders are the specimen's)
    return r22(control).replace("OUL^R22^OUL_R22", "OUL^R23^OUL_R23")


def r24(control: str = "MB24") -> str:
    # by order: each order with its specimen (SPM after the ORC) and its container, then its results (an OBX right
    # after the SPM would be the specimen's own, by the grammar)
    return message(
        msh("OUL", "R24", "OUL_R24", control, facility=FACILITY),
        pid(),
        pv1(),
        CULTURE_OBR,
        CULTURE_ORC,
        SPM,
        SAC,
        *ORGANISMS,
        PANEL_1_OBR,
        PANEL_1_ORC,
        *PANEL_1,
        PANEL_2_OBR,
        PANEL_2_ORC,
        *PANEL_2,
    )


def r21(control: str = "MB21") -> str:
    # v2.4–v2.6: each order's container (SAC) first, then ORC, OBR, results
    return message(
        msh("OUL", "R21", "OUL_R21", control, facility=FACILITY),
        pid(),
        pv1(),
        SAC,
        CULTURE_ORC,
        CULTURE_OBR,
        *ORGANISMS,
        PANEL_1_ORC,
        PANEL_1_OBR,
        *PANEL_1,
        PANEL_2_ORC,
        PANEL_2_OBR,
        *PANEL_2,
    )


MESSAGES = {"R21": r21, "R22": r22, "R23": r23, "R24": r24}


@pytest.mark.parametrize("event", sorted(MESSAGES))
def test_each_susceptibility_is_derived_from_its_organism(converter: Converter, event: str):
    bundle = convert(converter, MESSAGES[event]())
    first, second = organism(bundle, "1"), organism(bundle, "2")
    assert [o["derivedFrom"] for o in by_code(bundle, "AMK") + by_code(bundle, "CIP")] == [[ref(first)]] * 2
    assert by_code(bundle, "IPM")[0]["derivedFrom"] == [ref(second)]
    assert "derivedFrom" not in first and "derivedFrom" not in second
    # three reports: the culture (its organisms) and a panel per organism (its susceptibilities)
    results = {r["code"]["coding"][0]["code"] + r["id"]: r["result"] for r in resources(bundle, "DiagnosticReport")}
    assert sorted(len(r) for r in results.values()) == [1, 2, 2]


@pytest.mark.parametrize("event", sorted(MESSAGES))
def test_the_organism_has_the_id_it_has_in_an_oru(converter: Converter, event: str):
    # the organism is keyed on its report (the culture's filler number) and OBX-3, OBX-4, whatever the message:
    # a panel sent in an ORU^R01 names the organism an OUL made, and the other way round
    from .test_microbiology import CULTURE
    from .test_microbiology import message as oru

    oul = convert(converter, MESSAGES[event]())
    assert organism(oul, "1")["id"] == organism(convert(converter, oru(*CULTURE)), "1")["id"]


def test_a_panel_sent_after_the_culture_names_the_same_organism(converter: Converter):
    culture = convert(
        converter,
        message(msh("OUL", "R22", "OUL_R22", "MB22A", facility=FACILITY), pid(), SPM, CULTURE_OBR, *ORGANISMS),
    )
    later = convert(
        converter, message(msh("OUL", "R22", "OUL_R22", "MB22B", facility=FACILITY), pid(), SPM, PANEL_2_OBR, *PANEL_2)
    )
    assert by_code(later, "IPM")[0]["derivedFrom"] == [ref(organism(culture, "2"))]
    assert not by_code(later, "ORG")


def test_no_parent_result_no_derivation(converter: Converter):
    text = r22().replace("ORG&细菌鉴定&L^1^大肠埃希菌", "")
    bundle = convert(converter, text)
    assert "derivedFrom" not in by_code(bundle, "AMK")[0]
    assert by_code(bundle, "IPM")[0]["derivedFrom"] == [ref(organism(bundle, "2"))]


@pytest.mark.parametrize("event", sorted(MESSAGES))
def test_a_parent_named_by_its_placer_number_and_code_alone(converter: Converter, event: str):
    # OBR-29 without the culture's filler number (its report is keyed on it), OBR-26 without the coding system:
    # the parent is found among this message's results, as in ORU^R01
    text = (
        MESSAGES[event]()
        .replace("ORG&细菌鉴定&L^2^肺炎克雷伯菌", "ORG^2")
        .replace("SQ1001&HIS^LAB2001&LIS", "SQ1001&HIS")
    )
    bundle = convert(converter, text)
    assert by_code(bundle, "IPM")[0]["derivedFrom"] == [ref(organism(bundle, "2"))]
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "1"))]


@pytest.mark.parametrize("event", sorted(MESSAGES))
def test_an_isolate_sent_without_its_coding_system(converter: Converter, event: str):
    # OBR-26 spells ORG&细菌鉴定&L^n and the filler number, but the culture's organisms are OBX-3 ORG^细菌鉴定 (no
    # coding system): each panel still names its organism of this message, never an id no resource has
    text = MESSAGES[event]().replace("|ORG^细菌鉴定^L|", "|ORG^细菌鉴定|")
    bundle = convert(converter, text)
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "1"))]
    assert by_code(bundle, "IPM")[0]["derivedFrom"] == [ref(organism(bundle, "2"))]
