"""``present`` reads a whole value: a field (or component) is present when any of its components, subcomponents or
repetitions has text, not only its first component; the HL7 null ``""`` and whitespace are no text (README,
"Conditions"). The closure (:meth:`Compiler.condition`) and the condition the code generator writes in line
answer alike."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.hl7 import er7
from hub.mapping.codegen import RulePlan, generate
from hub.mapping.compiler import Compiler, Unit
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.library import read_library
from hub.mapping.runtime import Ctx, Env
from hub.mapping.structure import group_segments, parse_structure
from hub.mapping.templates import Condition
from hub.mapping.terminology import Table

from .conftest import convert, one, ref, resources
from .test_financial_guarantor import PV1, message, pid, segment

# PID-5 as sent → whether {from: PID-5, present: true} holds
FIELDS = [
    ("张^三", True),
    ("^芳^^^^^L", True),  # no family name, the given name in XPN.2
    ("^^^^^^L", True),  # only the name type code: text all the same
    ("&王^芳", True),  # a subcomponent after an empty first one (FN.2, own surname prefix … here the surname)
    ("~^芳", True),  # an empty repetition, then a name
    ('""', False),  # the HL7 null
    ('""^""', False),  # null components
    ('^""^&""', False),
    ("^ ^", False),  # whitespace only
    ("^^^", False),
    ("", False),
]


@pytest.fixture(scope="module")
def compiler() -> Compiler:
    lib = read_library(DEFAULT_MAPPINGS_DIR)
    tables = {name: (Table(model), path) for name, (model, path) in lib.tables.items()}
    return Compiler(FhirSchema(), lib.datatypes, tables)


def _answers(compiler: Compiler, spec: dict[str, Any], raw: str | None, level: int, pid5: str) -> tuple[bool, bool]:
    """The closure's and the generated function's answer to a condition, on a PID whose PID-5 is ``pid5`` and a
    current value ``raw`` at ``level``."""
    cond = Condition.model_validate(spec)
    unit = Unit("test")
    relative = raw is not None
    tree = compiler.condition_inline(cond, unit, relative)
    assert tree is not None, "the condition is written in line"
    closure = compiler.condition(cond, unit, relative)
    plan = RulePlan(steps=["answer"], is_list=False, choice=(), unique=False, required=False)
    plan.when_tree = tree
    plan.when = closure
    plan.constant = (True,)
    fill = generate([plan], "test")
    text = f"MSH|^~\\&|HIS|SZ|HUB|CITY|20260315093000||ADT^A08^ADT_A01|C1|P|2.5.1\rPID|1||M1^^^SZ^MR||{pid5}\r"
    msg = er7.parse(text)
    root, _ = group_segments(parse_structure(["MSH", "PID"]), msg.segments)
    env = Env(msg, UTC, "A08", "ADT_A01", root)
    out: dict[str, Any] = {}
    answers = []
    for seg in msg.segments:  # from the PID itself, and from another segment (the MSH) reading the PID
        ctx = Ctx(env, root, seg)
        out = {}
        fill(out, ctx, raw, level)
        answers.append((out.get("answer", False), closure(ctx, raw, level)))
    assert answers[0] == answers[1]
    return answers[0]


@pytest.mark.parametrize(("pid5", "expected"), FIELDS)
def test_a_field_is_present_when_any_component_has_text(compiler, pid5, expected):
    assert _answers(compiler, {"from": "PID-5", "present": True}, None, 0, pid5) == (expected, expected)
    assert _answers(compiler, {"from": "PID-5", "present": False}, None, 0, pid5) == (not expected, not expected)


@pytest.mark.parametrize(
    ("pid3", "expected"),
    [("M1^^^&2.16.1&ISO", True), ("M1^^^SZ", True), ('M1^^^""&""', False), ("M1^^^^MR", False)],
)
def test_a_component_is_present_when_any_subcomponent_has_text(compiler, pid3, expected):
    # CX.4, the assigning authority (HD): a universal id without a namespace is an authority all the same
    spec = {"from": "PID-3.4", "present": True}
    cond = Condition.model_validate(spec)
    closure = compiler.condition(cond, Unit("test"), False)
    text = f"MSH|^~\\&|HIS|SZ|HUB|CITY|20260315093000||ADT^A08^ADT_A01|C1|P|2.5.1\rPID|1||{pid3}\r"
    msg = er7.parse(text)
    root, _ = group_segments(parse_structure(["MSH", "PID"]), msg.segments)
    ctx = Ctx(Env(msg, UTC, "A08", "ADT_A01", root), root, msg.segments[1])
    assert closure(ctx, None, 0) is expected
    # the same component read relatively, in a datatype whose current value is the field repetition
    assert _answers(compiler, {"from": "4", "present": True}, pid3, 0, "张三") == (expected, expected)


def _insurance(insured_name: str) -> str:
    # IN1-17 MTH: the insured is the patient's mother; IN1-16 her name; no IN1-49
    in1 = segment(
        "IN1", f1="1", f2="PLAN1^城镇职工医保", f3="C001^^^SZRMYY", f4="深圳医保局", f16=insured_name, f17="MTH"
    )
    return message("ADT^A01^ADT_A01", pid(), PV1, in1)


def test_an_insured_named_without_a_family_name_is_the_subscriber(converter):
    # IN1-16 ^芳^^^^^L: given name only; the subscriber rule's {from: IN1-16, present: true} holds
    bundle = convert(converter, _insurance("^芳^^^^^L"))
    mother, coverage = one(bundle, "RelatedPerson"), one(bundle, "Coverage")
    assert coverage["subscriber"] == ref(mother)
    assert mother["name"] == [{"use": "official", "given": ["芳"], "text": "芳"}]


@pytest.mark.parametrize("insured_name", ['""', '""^""', "^ ^"])
def test_an_insured_name_that_is_null_or_blank_names_no_subscriber(converter, insured_name):
    bundle = convert(converter, _insurance(insured_name))
    assert resources(bundle, "RelatedPerson") == []
    assert "subscriber" not in one(bundle, "Coverage")


def test_a_sending_facility_named_by_its_universal_id_is_not_known_by_its_application(converter):
    # MSH-4 ^372521^L: no namespace, a universal id (HD.2); MSH-3 the application. The application's identifier
    # is for a sender without a facility (resource/SendingFacility.yaml: {from: MSH-4, present: false})
    text = (
        "MSH|^~\\&|^372520^L|^372521^L|HUB|CITY|20260315083000||ADT^A08^ADT_A01|M1|P|2.5.1\r"
        "EVN|A08|20260315083000\r"
        "PID|1||MRN0001^^^SZRMYY^MR||张三\r"
    )
    organizations = [o for o in resources(convert(converter, text), "Organization") if o["name"] == "372521"]
    assert len(organizations) == 1
    assert organizations[0]["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": "urn:hub:id:372521"}]
