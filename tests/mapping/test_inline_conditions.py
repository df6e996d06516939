"""Conditions on absolute paths and formats written in line by the code generator answer as their closures do.

A generated function reads an absolute path's leaf texts once per call and tests them in line; the closure
(:meth:`Compiler.condition`) walks the path's items each time. Both are run on every segment of messages made
to reach the odd cases (repetitions, empty repetitions, HL7 nulls, escapes, a missing segment) and must agree.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.hl7 import er7
from hub.mapping.codegen import RulePlan, generate
from hub.mapping.compiler import Compiler, Target, Unit
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.library import read_library
from hub.mapping.runtime import Ctx, Env
from hub.mapping.structure import group_segments, parse_structure
from hub.mapping.templates import Condition, ValueSpec
from hub.mapping.terminology import Table

MESSAGES = [
    "MSH|^~\\&|LIS|SZ|HUB|CITY|20260315093000||ORU^R01^ORU_R01|L1|P|2.5.1\r"
    "PID|1||MRN1^^^SZ^MR||李^四||19750505|F\r"
    "OBR|1|P1|F1|24323-8^Panel^LN\r"
    "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F\r"
    "OBX|2|nm|2160-0^Creat^LN||60~120|umol/L||H~L|||C\r"
    'OBX|3|ST|X^Text^L||a~~b|||""|||F\r'
    "OBX|4|CWE|Y^Y^L||\\T\\^x|||^N~|||\r"
    'OBX|5|""|Z^Z^L||""\r'
    "SPM|1|S1||SER^Serum^HL70487\r",
    "MSH|^~\\&|LIS|SZ|HUB|CITY|20260315093000||ORU^R01^ORU_R01|L2|P|2.5.1\r"
    "PID|1||MRN2^^^SZ^MR\r"
    "OBR|1|P2|F2|A^B^LN\r"
    "OBX|1|TX|A^A^L||line\r",
]

CONDITIONS: list[dict[str, Any]] = [
    {"from": "OBX-2", "in": ["NM"]},
    {"from": "OBX-2", "in": ["ST", "TX"]},
    {"from": "OBX-2", "not_in": ["NM"]},
    {"from": "OBX-2", "equals": "cwe"},
    {"from": "OBX-5", "repeats": True},
    {"from": "OBX-5", "repeats": False},
    {"from": "OBX-5", "present": True},
    {"from": "OBX-5", "present": False},
    {"from": "OBX-5.2", "present": True},
    {"from": "OBX-8", "in": ["L"]},
    {"from": "OBX-8.2", "in": ["N"]},
    {"from": "OBX-8", "present": True},
    {"from": "OBX-5", "matches": "^[0-9]+$"},
    {"from": "OBX-11", "in_table": "v2-0085"},
    {"from": "OBX-3.3", "valid": "resident-id"},
    {"from": "OBR-4.3", "in": ["LN"]},
    {"from": "OBR", "present": True},
    {"from": "SPM", "present": True},
    {"from": "SPM", "present": False},
    {"from": "SAC", "present": True},
    {"from": "OBX", "repeats": True},
    {"from": "OBX", "scope": "own", "present": True},
    {"from": "OBX-2", "scope": "group", "in": ["NM"]},
    {"from": "MSH-9", "in": ["ORU"]},
    {"from": "MSH-9.2", "in": ["R01"]},
    {"from": "MSH-2", "present": True},
    {"all": [{"from": "OBX-2", "in": ["NM"]}, {"from": "OBX-5", "repeats": False}]},
    {"any": [{"from": "OBR", "present": True}, {"from": "SPM", "present": True}]},
    {"not": {"all": [{"from": "OBX-5", "repeats": True}, {"from": "OBX-2", "in": ["NM", "SN"]}]}},
]


@pytest.fixture(scope="module")
def compiler() -> Compiler:
    lib = read_library(DEFAULT_MAPPINGS_DIR)
    tables = {name: (Table(model), path) for name, (model, path) in lib.tables.items()}
    return Compiler(FhirSchema(), lib.datatypes, tables)


@pytest.mark.parametrize("spec", CONDITIONS, ids=lambda spec: str(spec))
def test_a_condition_written_in_line_answers_as_its_closure(compiler, spec):
    cond = Condition.model_validate(spec)
    unit = Unit("test")
    tree = compiler.condition_inline(cond, unit, False)
    assert tree is not None, "the condition is written in line"
    closure = compiler.condition(cond, unit, False)
    # A rule setting a constant under the condition: the generated function writes the condition in line.
    plan = RulePlan(steps=["answer"], is_list=False, choice=(), unique=False, required=False)
    plan.when_tree = tree
    plan.when = closure
    plan.constant = (True,)
    fill = generate([plan], "test")
    structure = parse_structure(
        [
            "MSH",
            {
                "PATIENT_RESULT+": [
                    {"PATIENT?": ["PID"]},
                    {"ORDER_OBSERVATION+": ["OBR", {"OBSERVATION*": ["OBX"]}, {"SPECIMEN*": ["SPM"]}]},
                ]
            },
        ]
    )
    checked = 0
    for text in MESSAGES:
        message = er7.parse(text)
        root, _ = group_segments(structure, message.segments)
        env = Env(message, UTC, "R01", "ORU_R01", root)
        stack = [root]
        while stack:
            node = stack.pop()
            for children in node.children.values():
                stack.extend(children)
            for segs in node.segs.values():
                for seg in segs:
                    ctx = Ctx(env, node, seg)
                    out: dict[str, Any] = {}
                    fill(out, ctx, None, 0)
                    assert out.get("answer", False) == closure(ctx, None, 0), (seg.name, seg.line)
                    checked += 1
    assert checked > 10


FORMATS = ["{4.1} {7} {8} {1} {2} {3}", "urn:oid:{2}", "urn:hub:id:{2|uri}", "{1.2|upper}-{3.1}", "x{1}y"]
VALUES = [
    ("A^B^C^D&E&F^^^G^H", 0),
    ("^^^&X^", 0),
    ("  a  b ^ c ^\\T\\x", 0),
    ('""^B', 0),
    ("D&E&F", 1),
    ("", 0),
    ("P&Q", 2),
    ("P", 2),
]


@pytest.mark.parametrize("text", FORMATS)
@pytest.mark.parametrize("code", [False, True], ids=["string", "code"])
def test_a_format_written_in_line_gives_what_its_function_gives(compiler, text, code):
    spec = ValueSpec.model_validate({"format": text})
    target = Target("code" if code else "string", name="test")
    render = compiler._format(spec, target, Unit("test"), True)
    plan = RulePlan(steps=["answer"], is_list=False, choice=(), unique=False, required=False)
    plan.values = render
    plan.fmt = render.inline
    assert plan.fmt is not None, "the format is written in line"
    fill = generate([plan], "test")
    message = er7.parse(MESSAGES[0])
    root, _ = group_segments(parse_structure(["MSH"]), message.segments[:1])
    ctx = Ctx(Env(message, UTC, "R01", "ORU_R01", root), root, message.segments[0])
    for raw, level in VALUES:
        out: dict[str, Any] = {}
        fill(out, ctx, raw, level)
        assert out.get("answer") == (render(ctx, raw, level) or [None])[0], (raw, level)


@pytest.mark.parametrize("kind", ["ref", "refs"])
@pytest.mark.parametrize("is_list", [False, True], ids=["single", "list"])
def test_a_reference_written_in_line_gives_what_its_function_gives(compiler, kind, is_list):
    spec = ValueSpec.model_validate({kind: "observation"})
    values = compiler._reference(spec, Target("Reference", is_list, name="test"), Unit("test"))
    plan = RulePlan(steps=["answer"], is_list=is_list, choice=(), unique=False, required=False)
    plan.values = values
    plan.ref = values.ref
    inline = generate([plan], "test")
    plan.ref = None
    called = generate([plan], "test")
    structure = parse_structure(["MSH", {"ORDER+": ["OBR", {"OBSERVATION*": ["OBX"]}]}])
    message = er7.parse(MESSAGES[0])
    root, _ = group_segments(structure, message.segments)
    env = Env(message, UTC, "R01", "ORU_R01", root)
    (order,) = root.children["ORDER"]
    for i, observation in enumerate(order.children["OBSERVATION"]):
        observation.register("observation", "Observation", f"o{i}")
    root.freeze()
    for node in (root, order, *order.children["OBSERVATION"]):
        ctx = Ctx(env, node, None)
        first: dict[str, Any] = {}
        second: dict[str, Any] = {}
        inline(first, ctx, None, 0)
        called(second, ctx, None, 0)
        assert first == second
    assert first["answer"] == ([{"reference": "Observation/o4"}] if is_list else {"reference": "Observation/o4"})
