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
from hub.mapping.codegen import RulePlan, generate, generate_condition
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
    "OBX|1|TX|A^A^L||line\r"
    "OBX|2|ST|B^B^L||&only^A&B|||^H\r",
    # a microbiology order: an isolate and its susceptibilities (LOINC codes of the antibiotic table, an
    # interpretation in OBX-8, a local code with [Susc in its text), escapes, subcomponents, a parent result
    "MSH|^~\\&|LIS|SZ|HUB|CITY|20260315093000||ORU^R01^ORU_R01|L3|P|2.5.1\r"
    "PID|1||MRN3^^^SZ&2.16.840.1.113883&ISO^MR||王^五\r"
    "OBR|1|P3|F3|600-7^Bacteria identified^LN" + "|" * 22 + "^^^^^^\r"
    "OBX|1|CWE|600-7^Bacteria identified^LN|1|112283007^大肠埃希菌^SCT||||||F\r"
    "OBX|2|NM|18864-9^Ampicillin [Susceptibility]^LN|1.1|>=32|ug/mL||R|||F\r"
    "OBX|3|ST|AMK^阿米卡星 [Susc]^LN|1-1|\\F\\X||| S |||F\r"
    "OBX|4|ST|XJJD^细菌鉴定^L|2|&sub^^C~\\T\\^A&B^C|||~R|||F\r"
    # a LIS's own code first, LOINC as the alternate identifier (the antibiotic table's alternate_system)
    "OBX|5|NM|AMK^阿米卡星^99LIS^18860-7^阿米卡星^LN|1.2|8|ug/mL|||||F\r"
    "OBX|6|NM|AMK^阿米卡星^99LIS^18860-7^阿米卡星^L~X^^^18864-9^^LN|1.3|4\r"
    "OBR|2|P4|F4|18769-0^MIC panel^LN" + "|" * 22 + "600-7&Bacteria&LN^1^112283007|||P3&HIS^F3&LIS\r"
    "OBX|1|ST|18906-8^Ciprofloxacin [Susceptibility]^LN||^^~||||||F\r",
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
    {"from": "OBX-5", "in": ["|X"]},
    {"from": "OBX-5", "in": ["", "LINE"]},
    {"from": "OBX-5.1", "present": True},
    {"from": "OBX-5.2", "in": ["A"]},
    {"from": "OBX-5.3", "in": ["C"]},
    {"from": "OBX-5.1.2", "present": True},
    {"from": "OBX-5.1.2", "in": ["SUB", "B"]},
    {"from": "OBX-8", "in": ["R", "S"]},
    {"from": "OBX-3", "in_table": "antibiotic-susceptibility"},
    {"from": "OBX-3.2", "matches": "\\[Susc"},
    {"from": "OBX-4.1", "matches": "[.-]"},
    {"from": "OBR-26.1.1", "present": True},
    {"from": "OBR-26.1.3", "present": False},
    {"from": "OBR-29.2.1", "present": True},
    {"from": "OBR-26.2", "in": ["1"]},
    {"from": "PID-3.4.2", "present": True},
    {"from": "MSH-4", "in": ["SZ"]},
    {"from": "SPM", "scope": "group", "present": True},
    {"from": "OBX-5", "scope": "own", "present": True},
    {"any": [{"event": ["A01"]}, {"from": "OBX-2", "in": ["NM"]}, {"from": "OBR", "present": False}]},
    {"all": [{"event": ["R01"]}, {"from": "OBX-5", "present": True}, {"from": "MSH-9", "in": ["ORU"]}]},
    {"any": [{"from": "GT1-11", "scope": "below", "in": ["SEL"]}, {"from": "OBX-8", "present": True}]},
    # every segment of a scope (the OBX of an order, read from its OBR; the orders around an OBX)
    {"from": "OBX-8", "scope": "below", "in": ["R"]},
    {"from": "OBX-5.1", "scope": "below", "present": True},
    {"from": "OBX-3.1", "scope": "below", "in_table": "antibiotic-susceptibility"},
    {"any": [{"from": "OBX-2", "scope": "below", "in": ["ST"]}, {"from": "OBX-4.1", "scope": "below", "matches": "-"}]},
    {"from": "OBR-26.1.1", "scope": "around", "present": True},
    {"from": "OBR-4.3", "scope": "around", "in": ["LN"]},
    {"from": "OBX-3.3", "scope": "inner", "in": ["L"]},
    {"from": "OBX-5", "scope": "inner", "present": True},
    # the derivedFrom condition of a susceptibility in its isolate's order (message/ORU_R01.yaml)
    {
        "all": [
            {
                "any": [
                    {"from": "OBX-8", "in": ["S", "I", "R", "敏感", "耐药"]},
                    {"from": "OBX-3", "in_table": "antibiotic-susceptibility"},
                    {"all": [{"from": "OBX-3.2", "matches": "\\[Susc"}, {"from": "OBX-3.3", "in": ["LN"]}]},
                ]
            },
            {"from": "OBR-26.1.1", "present": False},
        ]
    },
    # the isolate's (resource/Observation.yaml)
    {
        "all": [
            {
                "any": [
                    {"from": "OBX-2", "in": ["CE", "CWE", "CNE"]},
                    {"all": [{"from": "OBX-2", "in": ["ST", "TX"]}, {"from": "OBX-3", "in_table": "local-lab-tests"}]},
                ]
            },
            {"not": {"from": "OBX-4.1", "matches": "[.-]"}},
            {"not": {"any": [{"from": "OBX-8", "in": ["S", "R"]}, {"from": "OBX-3.3", "in": ["LN"]}]}},
        ]
    },
]


@pytest.fixture(scope="module")
def compiler() -> Compiler:
    lib = read_library(DEFAULT_MAPPINGS_DIR)
    tables = {name: (Table(model), path) for name, (model, path) in lib.tables.items()}
    return Compiler(FhirSchema(), lib.datatypes, tables)


def _every_segment() -> list[Ctx]:
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
    found = []
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
                found.extend(Ctx(env, node, seg) for seg in segs)
    return found


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
    # The condition as a function of its own (a message rule's 'when').
    when = generate_condition(tree, "test")
    assert compiler.condition_fn(cond, unit, False, "when") is not closure
    # Rules that read a source (OBX-1: items only in an OBX) or make a value under the condition: the condition
    # is asked only when the source has items; the same rules with the closure called instead must agree.
    specs = [
        ValueSpec.model_validate({"path": "valueString", "from": "OBX-1", "when": spec}),
        ValueSpec.model_validate({"path": "note", "elements": [{"path": "text", "value": "x"}], "when": spec}),
        ValueSpec.model_validate({"path": "method.text", "format": "#{OBX-1}", "when": spec}),
    ]
    plans = compiler._plans(specs, "Observation", unit, False)
    assert all(p.when_tree is not None for p in plans)
    rules = generate(plans, "test")
    for p in plans:
        p.when_tree = None
    called = generate(plans, "test")
    answers = set()
    for ctx in _every_segment():
        expected = closure(ctx, None, 0)
        answers.add(expected)
        out: dict[str, Any] = {}
        fill(out, ctx, None, 0)
        where = (ctx.seg.name, ctx.seg.line)
        assert out.get("answer", False) == expected, where
        assert when(ctx, None, 0) is expected, where
        first: dict[str, Any] = {}
        second: dict[str, Any] = {}
        rules(first, ctx, None, 0)
        called(second, ctx, None, 0)
        assert first == second, where
    assert len(answers) == 2 or spec in ALWAYS_THE_SAME, "the messages reach both answers"


# conditions whose answer no segment of the messages changes (kept for the other paths they take)
ALWAYS_THE_SAME: list[dict[str, Any]] = [
    {"from": "MSH-2", "present": True},
    {"from": "MSH-9", "in": ["ORU"]},
    {"from": "MSH-9.2", "in": ["R01"]},
    {"from": "MSH-4", "in": ["SZ"]},
    {"from": "SAC", "present": True},
    {"from": "OBX", "repeats": True},
    {"from": "OBX-3.3", "valid": "resident-id"},
    {"all": [{"event": ["R01"]}, {"from": "OBX-5", "present": True}, {"from": "MSH-9", "in": ["ORU"]}]},
]


RELATIVE: list[dict[str, Any]] = [
    {"from": "1", "in": ["X", "Y"]},
    {"from": "1", "in": ["", "X"]},
    {"from": "2", "present": True},
    {"from": "2", "present": False},
    {"from": "3", "matches": "^[A-Z]+$"},
    {"from": "1", "valid": "resident-id"},
    {"from": "1", "in_table": "v2-0085"},
    {"from": "4", "equals": "iso"},
    {"all": [{"from": "1", "in": ["X"]}, {"from": "3", "matches": "C"}, {"event": ["R01"]}]},
    {"any": [{"from": "2", "present": True}, {"from": "1", "in": ["F"]}, {"from": "OBX-2", "in": ["NM"]}]},
    {"not": {"any": [{"from": "1", "in_table": "v2-0085"}, {"from": "3", "matches": "C"}]}},
]
RAW = [
    ("X^B^C^ISO", 0),
    ("x&y^^CC", 0),
    ("\\T\\^^^iso", 0),
    ('""^""^C', 0),
    ("  X  ^ &b ^ C", 0),
    ("F", 0),
    ("", 0),
    ("X&B&C", 1),
    ("F&&C", 1),
    ("X", 2),
    ("11010519491231002X^B", 0),
]


def test_a_coded_field_of_every_segment_is_asked_of_the_closure(compiler):
    # the identifiers of each OBX's OBX-3 (LOINC as the alternate identifier too): not written in line, so that a
    # rule reading it answers as the closure does (the second repetition of OBX|6's OBX-3 is 18864-9^^LN)
    cond = Condition.model_validate({"from": "OBX-3", "scope": "below", "in_table": "antibiotic-susceptibility"})
    assert compiler.condition_inline(cond, Unit("test"), False) is None


@pytest.mark.parametrize("spec", RELATIVE, ids=lambda spec: str(spec))
def test_a_condition_on_the_current_value_answers_as_its_closure(compiler, spec):
    cond = Condition.model_validate(spec)
    unit = Unit("test")
    tree = compiler.condition_inline(cond, unit, True)
    assert tree is not None, "the condition is written in line"
    closure = compiler.condition(cond, unit, True)
    when = generate_condition(tree, "test")
    answers = set()
    ctx = _every_segment()[4]
    for raw, level in RAW:
        expected = closure(ctx, raw, level)
        assert when(ctx, raw, level) is expected, (raw, level)
        answers.add(expected)
    assert len(answers) == 2


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


@pytest.mark.parametrize(
    "spec",
    [
        {"from": "NTE-3", "scope": "around", "in": ["医嘱备注"]},
        {"from": "NTE-3", "scope": "below", "in": ["复查"]},
        {"from": "NTE-3", "scope": "inner", "in": ["复查"]},
        {"from": "NTE-3", "in": ["全院通知"]},
    ],
    ids=str,
)
def test_a_segment_at_two_levels_is_read_as_the_closure_reads_it(compiler, spec):
    # NTE after the MSH and in the order: 'around' reads the order's and the message's, 'up' the nearest only
    structure = parse_structure(["MSH", "NTE", {"ORDER+": ["OBR", "NTE", {"OBSERVATION*": ["OBX", "NTE"]}]}])
    message = er7.parse(
        "MSH|^~\\&|LIS|SZ|HUB|CITY|20260315093000||ORU^R01^ORU_R01|L9|P|2.5.1\r"
        "NTE|1||全院通知\r"
        "OBR|1|P9|F9|A^B^LN\r"
        "NTE|1||医嘱备注\r"
        "OBX|1|ST|A^A^L||x\r"
        "NTE|1||复查\r"
    )
    root, _ = group_segments(structure, message.segments)
    env = Env(message, UTC, "R01", "ORU_R01", root)
    cond = Condition.model_validate(spec)
    unit = Unit("test")
    tree = compiler.condition_inline(cond, unit, False)
    assert tree is not None
    closure = compiler.condition(cond, unit, False)
    when = generate_condition(tree, "test")
    (order,) = root.children["ORDER"]
    (observation,) = order.children["OBSERVATION"]
    answers = set()
    for node, seg in (
        (root, None),
        (root, root.segs["NTE"][0]),
        (order, order.segs["OBR"][0]),
        (order, None),
        (observation, observation.segs["OBX"][0]),
    ):
        ctx = Ctx(env, node, seg)
        answers.add(closure(ctx, None, 0))
        assert when(ctx, None, 0) is closure(ctx, None, 0), (node.path, seg)
    assert answers == {True, False}
