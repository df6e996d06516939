"""Microbiology results whose LOINC code is the alternate identifier (OBX-3.4, coding system OBX-3.6 LN).

Many Chinese LIS send their own code first and LOINC beside it: `AMK^阿米卡星^99LIS^18860-7^Amikacin
[Susceptibility]^LN`. The susceptibility test (terminology/antibiotic-susceptibility.yaml) and the
organism-identification test (terminology/organism-identified.yaml) find the LOINC code in either triplet of OBX-3
(the tables' `alternate_system: LN`); a code in the alternate triplet under another coding system is not taken for
LOINC.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.hl7 import er7
from hub.mapping import Converter
from hub.mapping.codegen import RulePlan, generate
from hub.mapping.compiler import Compiler, Unit
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.library import read_library
from hub.mapping.runtime import Ctx, Env
from hub.mapping.structure import group_segments, parse_structure
from hub.mapping.templates import Condition
from hub.mapping.terminology import Table

from .conftest import convert, ref, with_report
from .test_microbiology_one_order import E_COLI, message, observation, organism_obx, unresolved


def test_an_mic_alone_under_a_local_code_with_loinc_as_the_alternate(converter: Converter):
    # OBX-3.1 the LIS's own code (no overlay lists it), OBX-3.4 LOINC, OBX-3.6 LN; no OBX-8: the MIC alone
    bundle, report = with_report(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|SN|AMK^阿米卡星^99LIS^18860-7^阿米卡星^LN|1.1|<=^2|ug/mL|||||F",
            "OBX|3|NM|IPM^亚胺培南^99LIS^18932-4^亚胺培南^LN|1.2|0.25|ug/mL|||||F",
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "18860-7")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18932-4")["derivedFrom"] == [ref(e_coli)]
    assert unresolved(report) == []


def test_an_interpretation_as_the_value_in_the_isolate_s_group_under_an_alternate_loinc_code(converter: Converter):
    # sub-id '1' like the isolate, OBX-5 the interpretation (CWE), no OBX-8: without the alternate LOINC code read it
    # was a second coded result of group 1, two isolates, and nothing was derived from either
    bundle, report = with_report(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|CWE|CIP^环丙沙星^99LIS^18906-8^环丙沙星^LN|1|R^耐药^HL70078||||||F",
            "OBX|3|CWE|SXT^复方新诺明^99LIS^18998-5^复方新诺明^LN|1|S^敏感^HL70078||||||F",
        ),
    )
    e_coli = observation(bundle, "600-7", "1")
    assert observation(bundle, "18906-8")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18998-5")["derivedFrom"] == [ref(e_coli)]
    assert "derivedFrom" not in e_coli
    assert unresolved(report) == []


def test_an_organism_in_words_under_a_local_culture_code_with_loinc_as_the_alternate(converter: Converter):
    bundle, report = with_report(
        converter,
        message(
            "OBX|1|ST|XJJD^血培养鉴定^99LIS^600-7^细菌鉴定^LN|1|大肠埃希菌||||||F",
            "OBX|2|SN|AMK^阿米卡星^99LIS^18860-7^阿米卡星^LN|1.1|<=^2|ug/mL|||||F",
            "OBX|3|ST|NPY^尿培养鉴定^99LIS^630-4^尿培养^LN|2|肺炎克雷伯菌||||||F",
            "OBX|4|SN|IPM^亚胺培南^99LIS^18932-4^亚胺培南^LN|2.1|>=^16|ug/mL||R|||F",
        ),
    )
    e_coli, kpn = observation(bundle, "600-7", "1"), observation(bundle, "630-4", "2")
    assert e_coli["valueCodeableConcept"] == {"text": "大肠埃希菌"}
    assert kpn["valueCodeableConcept"] == {"text": "肺炎克雷伯菌"}
    assert "valueString" not in e_coli and "valueString" not in kpn
    assert observation(bundle, "18860-7")["derivedFrom"] == [ref(e_coli)]
    assert observation(bundle, "18932-4")["derivedFrom"] == [ref(kpn)]
    assert unresolved(report) == []


def test_an_alternate_code_of_another_coding_system_is_not_taken_for_loinc(converter: Converter):
    # guard: the same digits in OBX-3.4 under the LIS's second local system (99ZD), not LN: no susceptibility,
    # no organism by that code
    bundle = convert(
        converter,
        message(
            organism_obx(1, "1", E_COLI),
            "OBX|2|SN|AMK^阿米卡星^99LIS^18860-7^阿米卡星^99ZD|1.1|<=^2|ug/mL|||||F",
            "OBX|3|ST|BZ^备注^99LIS^600-7^备注^99ZD|2|需氧瓶培养18小时报阳||||||F",
        ),
    )
    (amk,) = [o for o in bundle_observations(bundle) if o["code"]["coding"][0]["code"] == "AMK"]
    assert "derivedFrom" not in amk
    (note,) = [o for o in bundle_observations(bundle) if o["code"]["coding"][0]["code"] == "BZ"]
    assert note["valueString"] == "需氧瓶培养18小时报阳"


def bundle_observations(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]


# The same test compiled both ways (written in line by the code generator, and the closure Compiler.condition gives
# where a condition cannot be written in line) answers alike, OBX by OBX: the identifier, the alternate one under LN
# only, each repetition, an escaped or empty alternate.
ALTERNATES = [
    ("18860-7^阿米卡星^LN", True),
    ("AMK^阿米卡星^99LIS^18860-7^阿米卡星^LN", True),
    ("AMK^阿米卡星^99LIS^18860-7^阿米卡星^ln", True),
    ("AMK^阿米卡星^99LIS^18860-7^阿米卡星^99ZD", False),
    ("AMK^阿米卡星^99LIS^^阿米卡星^LN", False),
    ("AMK^阿米卡星^99LIS^18860-7", False),
    ("XX^甲^99LIS~AMK^阿米卡星^99LIS^18860-7^阿米卡星^LN", True),
    ("2345-7^Glucose^LN^GLU^葡萄糖^99LIS", False),
    ('""', False),
]


@pytest.mark.parametrize(("obx_3", "expected"), ALTERNATES)
def test_in_line_and_closure_agree_on_the_alternate_identifier(obx_3: str, expected: bool):
    lib = read_library(DEFAULT_MAPPINGS_DIR)
    tables = {name: (Table(model), path) for name, (model, path) in lib.tables.items()}
    compiler = Compiler(FhirSchema(), lib.datatypes, tables)
    cond = Condition.model_validate({"from": "OBX-3", "in_table": "antibiotic-susceptibility"})
    unit = Unit("test")
    tree = compiler.condition_inline(cond, unit, False)
    assert tree is not None
    closure = compiler.condition(cond, unit, False)
    plan = RulePlan(steps=["answer"], is_list=False, choice=(), unique=False, required=False)
    plan.when_tree = tree
    plan.when = closure
    plan.constant = (True,)
    fill = generate([plan], "test")
    text = (
        "MSH|^~\\&|LIS|GZSRMYY|HUB|CITY|20260318101500||ORU^R01^ORU_R01|MB1|P|2.5.1\r"
        "PID|1||0008812736^^^GZSRMYY^MR||陈^建国\r"
        "OBR|1|ZY20260316017^HIS|XJ2603160042^LIS|XJPY^血培养^L\r"
        f"OBX|1|SN|{obx_3}|1.1|<=^2|ug/mL|||||F\r"
    )
    message = er7.parse(text)
    structure = parse_structure(["MSH", "PID", {"ORDER+": ["OBR", {"OBSERVATION*": ["OBX"]}]}])
    root, _ = group_segments(structure, message.segments)
    (observation,) = root.children["ORDER"][0].children["OBSERVATION"]
    ctx = Ctx(Env(message, UTC, "R01", "ORU_R01", root), observation, observation.segs["OBX"][0])
    out: dict[str, Any] = {}
    fill(out, ctx, None, 0)
    assert out.get("answer", False) is expected
    assert closure(ctx, None, 0) is expected
