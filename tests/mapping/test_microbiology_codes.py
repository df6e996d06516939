"""Microbiology results recognised by their test code: antibiotic susceptibility tests and organism identification.

terminology/antibiotic-susceptibility.yaml lists LOINC's susceptibility codes of the common antibiotics (class ABXBACT)
and terminology/organism-identified.yaml LOINC's organism-identification codes; a hospital's overlay adds its LIS's
own codes, translated to LOINC. A result under an antibiotic's code is a susceptibility without an interpretation
(OBX-8) too (an MIC alone), derived from its isolate; a text result (ST) under an organism-identification code is
an isolate (the organism in words: valueCodeableConcept.text), as a coded one is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import Converter

from .conftest import convert, mappings_copy, ref, resources, with_report
from .order_messages import message as oul_message
from .order_messages import msh as oul_msh
from .order_messages import pid, pv1
from .test_microbiology_one_order import CULTURE_OBR, E_COLI, message, observation, organism_obx, unresolved

# The overlay of 广州市第二人民医院's LIS (MSH-4 GZSRMYY): its own antibiotic codes and the code of its culture
# result, each with the LOINC code it means.
OVERLAY = """\
overlay: gzsrmyy
description: 广州市第二人民医院 LIS
senders:
  - {facility: GZSRMYY}
tables:
  antibiotic-susceptibility:
    codes:
      AMK: {code: 18860-7, display: "Amikacin [Susceptibility]"}
      TZP: {code: 18970-4, display: "Piperacillin+Tazobactam [Susceptibility]"}
      SXT: {code: 18998-5, display: "Trimethoprim+Sulfamethoxazole [Susceptibility]"}
  organism-identified:
    codes:
      XJJD: {code: 11475-1, display: "Microorganism identified in Specimen by Culture"}
"""


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Converter:
    root: Path = mappings_copy(tmp_path_factory.mktemp("micro"))
    (root / "overlays").mkdir(exist_ok=True)
    (root / "overlays" / "gzsrmyy.yaml").write_text(OVERLAY, encoding="utf-8")
    return Converter.load(root)


def _with_report(converter: Converter, text: str) -> tuple[dict, list[dict]]:
    result = converter.convert_with_report(er7.parse(text), sender_timezone="Asia/Shanghai")
    assert validate_bundle(result.bundle, models=True) == []
    return result.bundle, result.report


def test_a_loinc_antibiotic_code_is_a_susceptibility_without_an_interpretation(converter: Converter):
    # MICs alone (no OBX-8), the antibiotics named in Chinese (no '[Susc' in OBX-3.2): the LOINC code says it
    bundle, report = with_report(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|SN|18864-9^氨苄西林^LN|1.1|>=^32|ug/mL|||||F",
            "OBX|3|NM|18932-4^亚胺培南^LN|1.2|0.25|ug/mL|||||F",
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "18864-9")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18932-4")["derivedFrom"] == [ref(e_coli)]
    assert unresolved(report) == []


def test_a_coded_susceptibility_in_the_isolate_s_group_is_no_second_isolate(converter: Converter):
    # the interpretation sent as the value (OBX-5 CWE, no OBX-8) under the isolate's own sub-id: once read as a
    # second coded result of group 1 (two isolates: no derivedFrom at all), now a susceptibility of the one isolate
    bundle, report = with_report(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|CWE|18906-8^环丙沙星^LN|1|R^耐药^HL70078||||||F",
            "OBX|3|CWE|18998-5^复方新诺明^LN|1|S^敏感^HL70078||||||F",
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18998-5")["derivedFrom"] == [ref(e_coli)]
    assert unresolved(report) == []


def test_a_hospital_s_own_antibiotic_codes_are_susceptibilities_with_their_loinc_coding(hospital: Converter):
    bundle, report = _with_report(
        hospital,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|SN|AMK^阿米卡星^L|1.1|<=^2|ug/mL|||||F",  # an MIC, no interpretation
            "OBX|3|NM|TZP^哌拉西林/他唑巴坦^L|1.2|64|ug/mL|||||F",
            "OBX|4|ST|SXT^复方新诺明^L|1.3|耐药||||||F",  # the interpretation as the value
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    for local, loinc, display in [
        ("AMK", "18860-7", "Amikacin [Susceptibility]"),
        ("TZP", "18970-4", "Piperacillin+Tazobactam [Susceptibility]"),
        ("SXT", "18998-5", "Trimethoprim+Sulfamethoxazole [Susceptibility]"),
    ]:
        susceptibility = observation(bundle, loinc)
        coding = susceptibility["code"]["coding"]
        assert coding[0] == {"system": "http://loinc.org", "code": loinc, "display": display}
        assert coding[1]["code"] == local  # the LIS's own coding kept beside
        assert susceptibility["derivedFrom"] == [ref(e_coli)]
    # translated by the microbiology table: no unmapped-local-code from the lab tests' table
    assert not [r for r in report if r["code"] == "unmapped-local-code" and r["location"].startswith("OBX")]
    assert unresolved(report) == []


def test_another_sender_s_local_antibiotic_code_is_not_recognised(hospital: Converter):
    # the same codes from a hospital without that overlay: local codes it never declared, no guess
    text = message(organism_obx(1, "1", E_COLI), "OBX|2|SN|AMK^阿米卡星^L|1.1|<=^2|ug/mL|||||F").replace(
        "GZSRMYY^2.16.156.10011.1.5.7^ISO", "FSSDYRMYY"
    )
    bundle, _ = _with_report(hospital, text)
    (amk,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "AMK"]
    assert "derivedFrom" not in amk


def test_an_organism_sent_as_text_is_an_isolate(converter: Converter):
    bundle, report = with_report(
        converter,
        message(
            "OBX|1|ST|600-7^细菌鉴定^LN|1|大肠埃希菌||||||F",
            "OBX|2|SN|18862-3^阿莫西林/克拉维酸^LN|1.1|<=^2|ug/mL||S|||F",
            "OBX|3|ST|630-4^尿培养^LN|2|Klebsiella pneumoniae||||||F",
            "OBX|4|SN|18932-4^亚胺培南^LN|2.1|>=^16|ug/mL||R|||F",
        ),
    )
    e_coli, kpn = observation(bundle, "600-7", "1"), observation(bundle, "630-4", "2")
    assert e_coli["valueCodeableConcept"] == {"text": "大肠埃希菌"}
    assert kpn["valueCodeableConcept"] == {"text": "Klebsiella pneumoniae"}
    assert "valueString" not in e_coli and "valueString" not in kpn
    assert observation(bundle, "18862-3")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18932-4")["derivedFrom"] == [ref(kpn)]
    assert unresolved(report) == []


def test_a_hospital_s_own_culture_code_with_an_organism_in_words(hospital: Converter):
    bundle, report = _with_report(
        hospital,
        message(
            "OBX|1|ST|XJJD^细菌鉴定^L||铜绿假单胞菌||||||F",  # no sub-id: the order's only isolate
            "OBX|2|SN|AMK^阿米卡星^L||<=^2|ug/mL||敏感|||F",
            "OBX|3|SN|18970-4^哌拉西林/他唑巴坦^LN||>=^128|ug/mL|||||F",
        ),
    )
    isolate = observation(bundle, "11475-1")
    assert isolate["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "11475-1",
        "display": "Microorganism identified in Specimen by Culture",
    }
    assert isolate["code"]["coding"][1]["code"] == "XJJD"
    assert isolate["valueCodeableConcept"] == {"text": "铜绿假单胞菌"}
    assert observation(bundle, "18860-7")["derivedFrom"] == [ref(isolate)]
    assert observation(bundle, "18970-4")["derivedFrom"] == [ref(isolate)]
    assert unresolved(report) == []


def test_other_text_results_of_a_culture_stay_text(converter: Converter):
    # a comment under a lab code of its own is no organism and no isolate: the coded isolate is still the only one
    bundle = convert(
        converter,
        message(
            organism_obx(1, "", E_COLI),
            "OBX|2|ST|PYBZ^培养备注^L||需氧瓶培养18小时报阳||||||F",
            "OBX|3|SN|18878-9^头孢唑林^LN||>=^64|ug/mL|||||F",
        ),
    )
    note = observation(bundle, "PYBZ")
    assert note["valueString"] == "需氧瓶培养18小时报阳"
    assert "derivedFrom" not in note
    assert observation(bundle, "18878-9")["derivedFrom"] == [ref(observation(bundle, "600-7"))]


@pytest.mark.parametrize("event", ["R22", "R24"])
def test_oul_organism_as_text_and_an_mic_alone(converter: Converter, event: str):
    spm = "SPM|1|BC318&HIS^BC918&LIS||UR^尿^HL70487|||||||||||||20260316073000|20260316080000"
    sac = "SAC|||BC318-1^HIS"  # SAC-3: the urine container
    orc = "ORC|RE|ZY20260316017^HIS|XJ2603160042^LIS||CM"
    results = [
        "OBX|1|ST|630-4^尿培养^LN|1|大肠埃希菌||||||F",
        "OBX|2|SN|18955-5^呋喃妥因^LN|1.1|<=^16|ug/mL|||||F",
    ]
    # R22 by specimen (SPM, SAC, then the order); R24 by order (the order, its SPM and SAC, then its results)
    order = [CULTURE_OBR, orc] if event == "R22" else [CULTURE_OBR, orc, spm, sac]
    head = [spm, sac] if event == "R22" else []
    text = oul_message(
        oul_msh("OUL", event, f"OUL_{event}", f"MC{event}0318", facility="GZSRMYY^2.16.156.10011.1.5.7^ISO"),
        pid(),
        pv1(),
        *head,
        *order,
        *results,
    )
    bundle = convert(converter, text)
    isolate = observation(bundle, "630-4", "1")
    assert isolate["valueCodeableConcept"] == {"text": "大肠埃希菌"}
    assert observation(bundle, "18955-5")["derivedFrom"] == [ref(isolate)]


def test_a_table_can_only_include_tables_that_exist(tmp_path: Path):
    root = mappings_copy(tmp_path)
    lab = root / "terminology" / "local-lab-tests.yaml"
    lab.write_text(lab.read_text(encoding="utf-8").replace("organism-identified]", "organisms]"), encoding="utf-8")
    with pytest.raises(MappingTemplateError, match=r"table local-lab-tests: 'include' names no table \['organisms'\]"):
        Converter.load(root)
