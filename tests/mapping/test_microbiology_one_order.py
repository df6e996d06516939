"""Organisms and their susceptibilities in ONE order (OBR), as many Chinese LIS send a culture → FHIR.

v2 ch. 7 gives each organism of a culture an OBX of its own sub-id (OBX-4); a LIS that sends the susceptibilities in
the same order numbers them under it: '1' the isolate, '1.1', '1.2' (or '1-1') its antibiotics, or '1' again. Each
susceptibility Observation is derivedFrom its isolate's Observation (the same order, the same sub-id group); without
sub-ids, the order's only isolate — with two, no guess: no derivedFrom and one unresolved-reference for the order.
"""

from __future__ import annotations

import pytest

from hub.mapping import Converter

from .conftest import convert, ref, resources, with_report
from .order_messages import message as oul_message
from .order_messages import msh as oul_msh
from .order_messages import pid, pv1

MSH = "MSH|^~\\&|LIS|GZSRMYY^2.16.156.10011.1.5.7^ISO|HUB|CITY|20260318101500||ORU^R01^ORU_R01|{id}|P|2.5.1"
PID = "PID|1||0008812736^^^GZSRMYY^MR||陈^建国||19571103|M"
PV1 = "PV1|1|I|HXK^21^05"
# the blood culture order: OBR-2 placer, OBR-3 filler, OBR-4 the test, OBR-7 collected, OBR-22 reported,
# OBR-24 MB, OBR-25 F
CULTURE_OBR = (
    "OBR|1|ZY20260316017^HIS|XJ2603160042^LIS|XJPY^血培养^L|||20260316073000|||||||||||||||20260318100000||MB|F"
)
E_COLI = "112283007^Escherichia coli^SCT^EC^大肠埃希菌^L"
K_PNEUMONIAE = "56415008^Klebsiella pneumoniae^SCT^KPN^肺炎克雷伯菌^L"


def message(*results: str, control_id: str = "MB0318001") -> str:
    return "\r".join([MSH.format(id=control_id), PID, PV1, CULTURE_OBR, *results]) + "\r"


def organism_obx(n: int, sub_id: str, value: str) -> str:
    # OBX-2 CWE, OBX-3 LOINC 600-7 bacteria identified, OBX-4 its sub-id, OBX-5 the organism (SNOMED CT, local)
    return f"OBX|{n}|CWE|600-7^Bacteria identified^LN|{sub_id}|{value}||||||F"


def mic(n: int, sub_id: str, code: str, value: str, flag: str) -> str:
    # OBX-3 the antibiotic's LOINC susceptibility code, OBX-5 the MIC (SN), OBX-6 ug/mL, OBX-8 S/I/R (or the words)
    return f"OBX|{n}|SN|{code}^LN|{sub_id}|{value}|ug/mL||{flag}|||F"


AMC = "18862-3^Amoxicillin+Clavulanate [Susceptibility]"
CIP = "18906-8^Ciprofloxacin [Susceptibility]"
IPM = "18932-4^Imipenem [Susceptibility]"


def observation(bundle: dict, code: str, sub_id: str | None = None) -> dict:
    found = [
        o
        for o in resources(bundle, "Observation")
        if any(c.get("code") == code for c in o["code"]["coding"]) and (sub_id is None or _sub_id(o) == sub_id)
    ]
    assert len(found) == 1, (code, sub_id, len(found))
    return found[0]


def _sub_id(obs: dict) -> str | None:
    for e in obs.get("extension", []):
        if e["url"].endswith("observation-v2-subid"):
            for part in e["extension"]:
                if part["url"] == "original-sub-identifier":
                    return part["valueString"]
    return None


def unresolved(report: list[dict]) -> list[tuple[str, str]]:
    return [(r["location"], r["detail"]) for r in report if r["code"] == "unresolved-reference"]


def test_two_isolates_each_with_its_susceptibilities_by_dotted_sub_ids(converter: Converter):
    bundle, report = with_report(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            mic(2, "1.1", AMC, "<=^2", "S"),
            mic(3, "1.2", CIP, ">=^4", "R"),
            organism_obx(4, "2", K_PNEUMONIAE),
            mic(5, "2.1", IPM, ">=^16", "耐药"),  # a carbapenem-resistant Klebsiella, as the LIS writes it
            # another order of the message: a coded result and a number sharing sub-id 1, no susceptibility
            "OBR|2|ZY20260316018^HIS|XJ2603160043^LIS|BLDTYPE^血型^L|||20260316073000||||||||||||||||||F",
            "OBX|1|CWE|882-1^ABO and Rh group^LN|1|278149003^Blood group A Rh(D) positive^SCT||||||F",
            "OBX|2|NM|718-7^Hemoglobin^LN|1|132|g/L|130-175|N|||F",
        ),
    )
    e_coli, kpn = observation(bundle, "600-7", "1"), observation(bundle, "600-7", "2")
    assert observation(bundle, "18862-3")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18932-4")["derivedFrom"] == [ref(kpn)]
    assert "derivedFrom" not in e_coli and "derivedFrom" not in kpn
    assert "derivedFrom" not in observation(bundle, "718-7")
    assert unresolved(report) == []


def test_dashed_sub_ids(converter: Converter):
    bundle = convert(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            mic(2, "1-1", AMC, "<=^2", "敏感"),
            organism_obx(3, "2", K_PNEUMONIAE),
            mic(4, "2-1", CIP, "^1", "中介"),
        ),
    )
    assert observation(bundle, "18862-3")["derivedFrom"] == [ref(observation(bundle, "600-7", "1"))]
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(observation(bundle, "600-7", "2"))]


def test_susceptibilities_with_their_isolate_s_own_sub_id(converter: Converter):
    # '1' for the isolate, its colony count and its antibiotics; '2' for the second organism's: the isolate is the
    # coded result that is no susceptibility (the colony count is a number, the antibiotics have S/I/R)
    bundle = convert(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|SN|564-5^Colony count^LN|1|>^100000|{CFU}/mL|||||F",
            mic(3, "1", AMC, "<=^2", "S"),
            mic(4, "1", CIP, ">=^4", "R"),
            organism_obx(5, "2", K_PNEUMONIAE),
            mic(6, "2", IPM, ">=^16", "R"),
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "18862-3")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18932-4")["derivedFrom"] == [ref(observation(bundle, "600-7", "2"))]
    assert "derivedFrom" not in observation(bundle, "564-5")


def test_local_antibiotic_codes_recognised_by_their_interpretation(converter: Converter):
    # the LIS's own antibiotic codes (no LOINC), sub-ids under the isolate: S/I/R or 敏感/耐药 say susceptibility
    bundle = convert(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|SN|AMK^阿米卡星^L|1.1|<=^2|ug/mL||敏感|||F",
            "OBX|3|NM|TZP^哌拉西林/他唑巴坦^L|1.2|8|ug/mL||S|||F",
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "AMK")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "TZP")["derivedFrom"] == [ref(e_coli)]


def test_no_sub_ids_and_one_isolate(converter: Converter):
    bundle, report = with_report(
        converter,
        message(organism_obx(1, "", E_COLI), mic(2, "", AMC, "<=^2", "S"), mic(3, "", CIP, ">=^4", "R")),
    )
    e_coli = observation(bundle, "600-7")
    assert observation(bundle, "18862-3")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(e_coli)]
    assert unresolved(report) == []


def test_no_sub_ids_and_two_isolates_names_none_and_reports_the_order_once(converter: Converter):
    bundle, report = with_report(
        converter,
        message(
            organism_obx(1, "", E_COLI),
            organism_obx(2, "", K_PNEUMONIAE),
            mic(3, "", AMC, "<=^2", "S"),
            mic(4, "", CIP, ">=^4", "R"),
            mic(5, "", IPM, ">=^16", "R"),
        ),
    )
    assert not [o for o in resources(bundle, "Observation") if "derivedFrom" in o]
    assert unresolved(report) == [
        ("OBR^1", "derivedFrom: no Observation made by this message has the key read from OBX-4"),
    ]


@pytest.mark.parametrize("event", ["R22", "R24"])
def test_oul_one_order(converter: Converter, event: str):
    spm = "SPM|1|BC318&HIS^BC918&LIS||BLD^全血^HL70487|||||||||||||20260316073000|20260316080000"
    sac = "SAC|||BC318-1^HIS"  # SAC-3: the blood culture bottle
    orc = "ORC|RE|ZY20260316017^HIS|XJ2603160042^LIS||CM"
    results = [organism_obx(1, "1", E_COLI), mic(2, "1.1", AMC, "<=^2", "S"), mic(3, "1.2", CIP, ">=^4", "R")]
    # R22 by specimen (SPM, SAC, then the order); R24 by order (the order, its SPM and SAC, then its results)
    order = [CULTURE_OBR, orc] if event == "R22" else [CULTURE_OBR, orc, spm, sac]
    head = [spm, sac] if event == "R22" else []
    text = oul_message(
        oul_msh("OUL", event, f"OUL_{event}", f"MB{event}0318", facility="GZSRMYY^2.16.156.10011.1.5.7^ISO"),
        pid(),
        pv1(),
        *head,
        *order,
        *results,
    )
    bundle = convert(converter, text)
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "18862-3")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(e_coli)]
