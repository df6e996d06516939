"""Microbiology results (culture and susceptibility) as Chinese LIS send them in ORU^R01 → FHIR.

v2 ch. 7 ("Microbiology", "Susceptibility"): the culture report lists each organism isolated as an OBX of its own
sub-id (OBX-4 1, 2 …); each organism's susceptibility panel is a child order (OBR-11 G, a generated order) whose
OBR-29 (EIP: placer^filler) names the parent order and OBR-26 (PRL: OBX-3^OBX-4^text) the organism's OBX. Each
susceptibility Observation is derived from its organism's Observation (Observation.derivedFrom), by the organism's
key, so the reference holds whether the culture comes in the same message or an earlier one.
"""

from __future__ import annotations

import pytest

from hub.errors import MappingTemplateError
from hub.mapping import Converter

from .conftest import convert, mappings_copy, one, ref, resources, with_report
from .order_messages import obr as order_obr
from .order_messages import orc, orm

SCT = "http://snomed.info/sct"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

MSH = "MSH|^~\\&|LIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315103000||ORU^R01^ORU_R01|{id}|P|2.5.1"
PID = "PID|1||P0012345^^^SZRMYY^MR||王芳||19800101|F"
PV1 = "PV1|1|I|ICU^01^02"


def obr(n: int, placer: str, filler: str, service: str, *, action: str = "", parent: str = "", eip: str = "") -> str:
    """An OBR: 2 placer, 3 filler, 4 service, 7 collected, 11 specimen action code, 22 reported, 24 section,
    25 status, 26 parent result (PRL), 29 parent (EIP)."""
    fields = [""] * 30
    fields[1], fields[2], fields[3], fields[4] = str(n), placer, filler, service
    fields[7], fields[11], fields[22], fields[24], fields[25] = "20260312080000", action, "20260315100000", "MB", "F"
    fields[26], fields[29] = parent, eip
    return "OBR|" + "|".join(fields[1:])


CULTURE = [
    "ORC|RE|SQ1001^HIS|LAB2001^LIS||CM",
    obr(1, "SQ1001^HIS", "LAB2001^LIS", "XYPY^血培养^L"),
    # two organisms, sub-ids 1 and 2: one coded in SNOMED CT, one in the laboratory's own codes
    "OBX|1|CWE|ORG^细菌鉴定^L|1|112283007^大肠埃希菌^SCT||||||F",
    "OBX|2|CWE|ORG^细菌鉴定^L|2|KPN^肺炎克雷伯菌^L||||||F",
]
# the susceptibility panel of organism 1: OBR-26 ORG (the organism OBX-3), sub-id 1; OBR-29 the culture's numbers
PANEL_1 = [
    "ORC|RE|SQ1001^HIS|LAB2001-1^LIS||CM",
    obr(
        2,
        "SQ1001^HIS",
        "LAB2001-1^LIS",
        "YMJC^药敏试验^L",
        action="G",
        parent="ORG&细菌鉴定&L^1^大肠埃希菌",
        eip="SQ1001&HIS^LAB2001&LIS",
    ),
    "OBX|1|SN|AMK^阿米卡星^L|1|<=^2|ug/mL||敏感|||F",  # MIC ≤ 2, susceptible (敏感)
    "OBX|2|NM|CIP^环丙沙星^L|1|2|ug/mL||中介|||F",  # intermediate (中介)
    "OBX|3|SN|AMP^氨苄西林^L|1|>=^32|ug/mL||R|||F",  # resistant, as the code R
]
PANEL_2 = [
    "ORC|RE|SQ1001^HIS|LAB2001-2^LIS||CM",
    obr(
        3,
        "SQ1001^HIS",
        "LAB2001-2^LIS",
        "YMJC^药敏试验^L",
        action="G",
        parent="ORG&细菌鉴定&L^2^肺炎克雷伯菌",
        eip="SQ1001&HIS^LAB2001&LIS",
    ),
    "OBX|1|SN|IPM^亚胺培南^L|1|>=^16|ug/mL||耐药|||F",  # carbapenem resistant (耐药)
]


def message(*segments: str, control_id: str = "MICRO0001") -> str:
    return "\r".join([MSH.format(id=control_id), PID, PV1, *segments]) + "\r"


def by_code(bundle: dict, code: str) -> list[dict]:
    return [o for o in resources(bundle, "Observation") if any(c.get("code") == code for c in o["code"]["coding"])]


def organism(bundle: dict, sub_id: str) -> dict:
    found = [
        o
        for o in by_code(bundle, "ORG")
        if any(
            e["url"].endswith("observation-v2-subid")
            and {"url": "original-sub-identifier", "valueString": sub_id} in e["extension"]
            for e in o.get("extension", [])
        )
    ]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def micro(converter: Converter) -> dict:
    return convert(converter, message(*CULTURE, *PANEL_1, *PANEL_2))


def test_the_culture_lists_each_organism_as_a_coded_observation(micro):
    first, second = organism(micro, "1"), organism(micro, "2")
    assert first["valueCodeableConcept"]["coding"][0] == {"system": SCT, "code": "112283007", "display": "大肠埃希菌"}
    assert second["valueCodeableConcept"]["coding"][0]["code"] == "KPN"
    assert second["valueCodeableConcept"]["coding"][0]["display"] == "肺炎克雷伯菌"
    culture = [r for r in resources(micro, "DiagnosticReport") if r["code"]["coding"][0]["code"] == "XYPY"][0]
    assert culture["result"] == [ref(first), ref(second)]


def test_each_susceptibility_is_derived_from_its_organism(micro):
    first, second = organism(micro, "1"), organism(micro, "2")
    for code in ("AMK", "CIP", "AMP"):
        assert one({"entry": [{"resource": o} for o in by_code(micro, code)]}, "Observation")["derivedFrom"] == [
            ref(first)
        ]
    assert by_code(micro, "IPM")[0]["derivedFrom"] == [ref(second)]
    # the culture's own results derive from nothing
    assert "derivedFrom" not in first and "derivedFrom" not in second


def test_each_panel_is_its_own_report_of_its_own_results(micro):
    reports = {r["code"]["coding"][0]["code"]: r for r in resources(micro, "DiagnosticReport")}
    panels = [r for r in resources(micro, "DiagnosticReport") if r["code"]["coding"][0]["code"] == "YMJC"]
    assert len(panels) == 2 and "XYPY" in reports
    assert [len(p["result"]) for p in panels] == [3, 1]
    assert panels[0]["result"] == [ref(by_code(micro, c)[0]) for c in ("AMK", "CIP", "AMP")]


def test_mic_values_and_interpretations_chinese_and_coded(micro):
    amk, cip, amp, ipm = (by_code(micro, c)[0] for c in ("AMK", "CIP", "AMP", "IPM"))
    assert amk["valueQuantity"]["comparator"] == "<=" and amk["valueQuantity"]["value"] == 2
    assert cip["valueQuantity"]["value"] == 2 and "comparator" not in cip["valueQuantity"]
    assert amp["valueQuantity"]["comparator"] == ">=" and amp["valueQuantity"]["value"] == 32
    assert ipm["valueQuantity"]["value"] == 16
    codes = [o["interpretation"][0]["coding"][0] for o in (amk, cip, amp, ipm)]
    assert [(c["system"], c["code"]) for c in codes] == [(V3_INTERPRETATION, x) for x in ("S", "I", "R", "R")]
    # the Chinese word as sent stays beside the translation
    assert amk["interpretation"][0]["coding"][1]["code"] == "敏感"
    assert ipm["interpretation"][0]["coding"][1]["code"] == "耐药"


def test_a_panel_sent_after_the_culture_names_the_same_organism(converter, micro):
    # the laboratory reports the susceptibilities a day later, in a message of their own
    later = convert(converter, message(*PANEL_2, control_id="MICRO0002"))
    assert by_code(later, "IPM")[0]["derivedFrom"] == [ref(organism(micro, "2"))]
    assert not by_code(later, "ORG")  # the organism is not repeated: the reference is by its key


def test_a_parent_named_by_its_placer_number_only(converter):
    # a culture without a filler number is keyed on its placer's; the child's OBR-29 gives only EIP.1
    culture = [CULTURE[0].replace("LAB2001^LIS", ""), obr(1, "SQ2002^HIS", "", "NYPY^尿培养^L"), CULTURE[2]]
    panel = [
        "ORC|RE|SQ2002-1^HIS",
        obr(2, "SQ2002-1^HIS", "", "YMJC^药敏试验^L", action="G", parent="ORG&细菌鉴定&L^1", eip="SQ2002&HIS"),
        "OBX|1|SN|AMK^阿米卡星^L|1|<=^2|ug/mL||S|||F",
    ]
    bundle = convert(converter, message(*culture, *panel))
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "1"))]


def test_no_parent_result_no_derivation(converter):
    # OBR-29 without OBR-26 names the order, not the organism: nothing to derive from
    panel = [PANEL_1[0], PANEL_1[1].replace("ORG&细菌鉴定&L^1^大肠埃希菌", ""), PANEL_1[2]]
    assert "derivedFrom" not in by_code(convert(converter, message(*panel)), "AMK")[0]


def test_a_key_reference_needs_a_resource_type(tmp_path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message" / "ORU_R01.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("resource: DiagnosticReport", "resource: Report", 1))
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "'Report' is not a FHIR R4 resource type" in caught.value.message


def test_the_child_order_is_based_on_its_parent_order(converter):
    # an order message for the panel (OBR-11 G, generated by the laboratory): ServiceRequest.basedOn names the
    # parent order by OBR-29 (IG OBR[ServiceRequest] row 29), its placer number first
    child = orm(
        orc(f2="P101^HIS", f3="F201^LIS"),
        order_obr(
            f2="P101^HIS", f3="F201^LIS", f4="YMJC^药敏试验^L", f11="G", f26="ORG&细菌鉴定&L^1", f29="P100&HIS^F200&LIS"
        ),
    )
    request = one(convert(converter, child), "ServiceRequest")
    assert request["intent"] == "reflex-order"
    assert [(b["type"], b["identifier"]["value"]) for b in request["basedOn"]] == [("ServiceRequest", "P100")]


# A child that does not spell its parent's key: only a parent this message makes is named (by any of the report's
# numbers; the isolate by OBX-3.1 and OBX-4 when OBR-26 gives no coding system), never an id no resource has.


def panel(eip: str, parent: str, *, filler: str = "LAB2001-1^LIS") -> list[str]:
    return [
        f"ORC|RE|SQ1001^HIS|{filler}||CM",
        obr(2, "SQ1001^HIS", filler, "YMJC^药敏试验^L", action="G", parent=parent, eip=eip),
        "OBX|1|SN|AMK^阿米卡星^L|1|<=^2|ug/mL||敏感|||F",
    ]


def bundle_ids(bundle: dict) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"] if "resource" in e}


def report_of(converter: Converter, text: str) -> tuple[dict, list[dict]]:
    return with_report(converter, text)


def test_a_parent_with_a_filler_number_named_by_its_placer_number(converter):
    # the culture has its filler number LAB2001 (its report is keyed on it); the panel's OBR-29 gives EIP.1 only
    bundle, report = report_of(converter, message(*CULTURE, *panel("SQ1001&HIS", "ORG&细菌鉴定&L^1")))
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "1"))]
    assert not [r for r in report if r["code"] == "unresolved-reference"]


def test_a_parent_result_without_its_coding_system(converter):
    # OBR-26 ORG^2: the isolate's OBX-3 ORG^细菌鉴定^L without the coding system, the sub-id picks the organism
    bundle = convert(converter, message(*CULTURE, *panel("SQ1001&HIS^LAB2001&LIS", "ORG^2")))
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "2"))]
    # placer number only and no coding system
    bundle = convert(converter, message(*CULTURE, *panel("SQ1001&HIS", "ORG^1")))
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "1"))]


def test_an_ambiguous_parent_result_names_none(converter):
    # ORG without a sub-id: both organisms of the culture match; none is chosen
    bundle, report = report_of(converter, message(*CULTURE, *panel("SQ1001&HIS^LAB2001&LIS", "ORG")))
    assert "derivedFrom" not in by_code(bundle, "AMK")[0]
    assert [r for r in report if r["code"] == "unresolved-reference"] == [
        {
            "code": "unresolved-reference",
            "location": "OBR^2",
            "detail": "derivedFrom: no Observation made by this message has the key read from OBR-29.2, OBR-26.1.1, "
            "OBR-26.1.3, OBR-26.2",
        }
    ]


@pytest.mark.parametrize(
    ("eip", "parent"),
    [("SQ1001&HIS", "ORG&细菌鉴定&L^1"), ("SQ1001&HIS^LAB2001&LIS", "ORG^1"), ("SQ1001&HIS", "ORG^1")],
)
def test_a_parent_in_an_earlier_message_not_named_as_its_key_is_left_out_and_reported(converter, eip, parent):
    # the culture came yesterday; the panel names it in a way its key is not made of: no reference to an id that
    # no resource has (the key built from the placer number, or from OBX-3 without its coding system)
    culture = convert(converter, message(*CULTURE, control_id="MICRO0003"))
    bundle, report = report_of(converter, message(*panel(eip, parent), control_id="MICRO0004"))
    assert "derivedFrom" not in by_code(bundle, "AMK")[0]
    assert organism(culture, "1")["id"] not in str(bundle)
    assert [(r["code"], r["location"]) for r in report if r["code"] == "unresolved-reference"] == [
        ("unresolved-reference", "OBR^1")
    ]


def test_every_derivation_in_a_message_with_its_parent_names_a_resource_of_the_bundle(converter):
    for eip, parent in [
        ("SQ1001&HIS^LAB2001&LIS", "ORG&细菌鉴定&L^1"),
        ("SQ1001&HIS", "ORG&细菌鉴定&L^1"),
        ("SQ1001&HIS^LAB2001&LIS", "ORG^1"),
        ("SQ1001&HIS", "ORG^1^大肠埃希菌"),
        ("^LAB2001&LIS", "ORG^1"),
    ]:
        bundle = convert(converter, message(*CULTURE, *panel(eip, parent)))
        derived = by_code(bundle, "AMK")[0]["derivedFrom"]
        assert [d["reference"] for d in derived] == [f"Observation/{organism(bundle, '1')['id']}"], (eip, parent)
        assert {d["reference"] for d in derived} <= bundle_ids(bundle)


def test_the_report_says_which_fields_named_the_missing_parent(converter):
    # the parent order by its placer number alone, not in this message: its report is what is missing
    _bundle, report = report_of(converter, message(*panel("SQ1001&HIS", "ORG&细菌鉴定&L^1"), control_id="MICRO0005"))
    assert [r["detail"] for r in report if r["code"] == "unresolved-reference"] == [
        "id key: no DiagnosticReport made by this message has the key read from OBR-29.1"
    ]


def test_a_child_sharing_its_parent_s_placer_number_is_not_its_own_parent(converter):
    # the panel's own order has the culture's placer number SQ1001 (the placer's one request, two orders at the
    # laboratory); sent before the culture in one message, its OBR-29 SQ1001 still names the culture's report
    bundle = convert(converter, message(*panel("SQ1001&HIS", "ORG&细菌鉴定&L^1"), *CULTURE))
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "1"))]


# A sender whose OBR-26 spells more than the isolate's OBX does (a coding system its OBX-3 lacks, a sub-id its OBX-4
# leaves empty): the exact key would name an id no resource has. With the culture in the message, the panel names
# the one isolate that matches (an optional part empty on either side matches), else nothing, and says so once.


def test_a_parent_result_whose_code_has_no_coding_system(converter):
    # OBX-3 ORG^细菌鉴定 (no coding system); OBR-26 ORG&细菌鉴定&L^2 and the filler number: the exact-key rule
    culture = [*CULTURE[:2], CULTURE[2].replace("ORG^细菌鉴定^L", "ORG^细菌鉴定"), CULTURE[3].replace("^L|2|", "|2|")]
    bundle, report = report_of(converter, message(*culture, *panel("SQ1001&HIS^LAB2001&LIS", "ORG&细菌鉴定&L^2")))
    assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(organism(bundle, "2"))]
    assert not [r for r in report if r["code"] == "unresolved-reference"]


def test_a_parent_result_without_a_sub_id(converter):
    # one organism, OBX-4 empty; OBR-26 names it with the sub-id 1
    culture = [*CULTURE[:2], CULTURE[2].replace("|ORG^细菌鉴定^L|1|", "|ORG^细菌鉴定^L||")]
    for eip in ("SQ1001&HIS^LAB2001&LIS", "SQ1001&HIS"):
        for parent in ("ORG&细菌鉴定&L^1^大肠埃希菌", "ORG^1"):
            bundle = convert(converter, message(*culture, *panel(eip, parent)))
            (isolate,) = by_code(bundle, "ORG")
            assert by_code(bundle, "AMK")[0]["derivedFrom"] == [ref(isolate)], (eip, parent)


def test_two_parent_results_without_sub_ids_name_none(converter):
    # both organisms without OBX-4: OBR-26's sub-id 1 cannot pick one
    culture = [*CULTURE[:2], *(s.replace("|ORG^细菌鉴定^L|1|", "|ORG^细菌鉴定^L||") for s in CULTURE[2:])]
    culture[3] = culture[3].replace("|ORG^细菌鉴定^L|2|", "|ORG^细菌鉴定^L||")
    bundle, report = report_of(converter, message(*culture, *panel("SQ1001&HIS^LAB2001&LIS", "ORG&细菌鉴定&L^1")))
    assert "derivedFrom" not in by_code(bundle, "AMK")[0]
    assert [(r["code"], r["location"]) for r in report if r["code"] == "unresolved-reference"] == [
        ("unresolved-reference", "OBR^2")
    ]


@pytest.mark.parametrize("parent", ["ORG&细菌鉴定&L^3", "MO&细菌&L^1"])
def test_a_parent_result_the_culture_in_the_message_does_not_have(converter, parent):
    # OBR-26 names sub-id 3, or another code; the culture in this message has ORG 1 and 2: nothing, not the key's id
    bundle, report = report_of(converter, message(*CULTURE, *panel("SQ1001&HIS^LAB2001&LIS", parent)))
    assert "derivedFrom" not in by_code(bundle, "AMK")[0]
    assert [r["location"] for r in report if r["code"] == "unresolved-reference"] == ["OBR^2"]


def test_an_unresolved_parent_is_reported_once_per_panel(converter):
    # a panel of three results whose parent result is ambiguous, and a second panel whose parent order is not in
    # the message: one entry for each child order, at its OBR (the fields, never their values)
    second = [
        "ORC|RE|SQ1001^HIS|LAB2001-2^LIS||CM",
        obr(
            3, "SQ9009^HIS", "LAB2001-2^LIS", "YMJC^药敏试验^L", action="G", parent="ORG&细菌鉴定&L^2", eip="SQ9009&HIS"
        ),
        "OBX|1|SN|IPM^亚胺培南^L|1|>=^16|ug/mL||耐药|||F",
        "OBX|2|SN|MEM^美罗培南^L|1|>=^16|ug/mL||耐药|||F",
    ]
    first = [*PANEL_1[:1], PANEL_1[1].replace("ORG&细菌鉴定&L^1^大肠埃希菌", "ORG"), *PANEL_1[2:]]
    bundle, report = report_of(converter, message(*CULTURE, *first, *second))
    for code in ("AMK", "CIP", "AMP", "IPM", "MEM"):
        assert "derivedFrom" not in by_code(bundle, code)[0]
    assert [r for r in report if r["code"] == "unresolved-reference"] == [
        {
            "code": "unresolved-reference",
            "location": "OBR^2",
            "detail": "derivedFrom: no Observation made by this message has the key read from OBR-29.2, OBR-26.1.1, "
            "OBR-26.1.3, OBR-26.2",
        },
        {
            "code": "unresolved-reference",
            "location": "OBR^3",
            "detail": "id key: no DiagnosticReport made by this message has the key read from OBR-29.1",
        },
    ]
    assert "王芳" not in str(report) and "SQ9009" not in str(report)


def test_or_earlier_needs_in_message(tmp_path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message" / "ORU_R01.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("in_message: true\n          or_earlier", "or_earlier", 1),
        encoding="utf-8",
    )
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "'or_earlier' needs 'in_message: true'" in caught.value.message
