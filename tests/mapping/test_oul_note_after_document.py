"""An NTE sent after a TXA in an OUL^R22 order is the order's note, also when the order has a note already.

v2.8.2 OUL_R22 ORDER: OBR, PRT*, [COMMON_ORDER: ORC, PRT*, [ORDER_DOCUMENT: OBX, PRT*, TXA]], NTE*, TIMING_QTY*,
RESULT*, CTI* (hl7apy v2_8_2): what follows a TXA is the order's NTE. The library leaves ORDER_DOCUMENT out (its OBX
is a result until the TXA that follows, mappings/message/OUL_R22.yaml) and gives the ORDER TXA* before its NTE*, so
an OBX, TXA, NTE after an order note is a result, a TXA out of order (after the result) and a note: the order's,
DiagnosticReport's note (R5 cross-version extension), as it was when the order had no note before (the corpus's
OUL-R22/R23/R24 send OBR, ORC, OBX, TXA, NTE). 84ffef6's grouping rule sent it to the result before (the open order
"already had" an NTE, and the result the TXA closed takes an NTE in order): the Observation got the order's note.
"""

from __future__ import annotations

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.hl7 import er7
from hub.mapping.library import read_library
from hub.mapping.structure import group_segments, parse_structure

from .conftest import convert, one, resources
from .order_messages import message, msh, obr, orc, pid, pv1

NOTE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"
SPM = "SPM|1|BC318&HIS^BC918&LIS||BLD^全血^HL70487|||||||||||||20260316073000|20260316080000"
RESULT = "OBX|1|NM|718-7^血红蛋白^LN||128|g/L|130-175|L|||F"
TXA = "TXA|1|LR^检验报告^L|TX|20260316100000||||||||BG2026031600042^LIS||||||AU"


def oul(*order: str) -> str:
    return message(msh("OUL", "R22", "OUL_R22", "OUL0316"), pid(), pv1(), SPM, obr(), orc(f1="RE"), *order)


def notes(bundle: dict) -> tuple[list[str], list[str]]:
    report = one(bundle, "DiagnosticReport")
    (observation,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "718-7"]
    order_notes = [e["valueAnnotation"]["text"] for e in report.get("extension", []) if e["url"] == NOTE]
    return order_notes, [n["text"] for n in observation.get("note", [])]


def test_a_note_after_a_stray_txa_is_the_order_s_when_the_order_has_a_note(converter):
    bundle = convert(converter, oul("NTE|1||标本轻度溶血", RESULT, TXA, "NTE|2||报告已审核"))
    order_notes, result_notes = notes(bundle)
    assert order_notes == ["标本轻度溶血", "报告已审核"]
    assert result_notes == []


def test_as_when_the_order_has_no_note_before(converter):
    # guard: the corpus's shape (OUL-R22-01: OBR, ORC, OBX, TXA, NTE)
    bundle = convert(converter, oul(RESULT, TXA, "NTE|1||报告已审核"))
    assert notes(bundle) == (["报告已审核"], [])


def test_a_note_right_after_the_result_stays_the_result_s(converter):
    # guard: an NTE after the OBX (before any TXA) is the result's (RESULT: OBX, PRT, TCD, SID, NTE)
    bundle = convert(converter, oul("NTE|1||标本轻度溶血", RESULT, "NTE|2||复查后结果", TXA))
    assert notes(bundle) == (["标本轻度溶血"], ["复查后结果"])


def test_the_groups_the_segments_go_to():
    template = read_library(DEFAULT_MAPPINGS_DIR).messages["OUL_R22"][0]
    text = oul("NTE|1||标本轻度溶血", RESULT, TXA, "NTE|2||报告已审核")
    root, unplaced = group_segments(parse_structure(template.structure), er7.parse(text).segments)
    (specimen,) = root.children["SPECIMEN"]
    (order,) = specimen.children["ORDER"]
    (result,) = order.children["RESULT"]
    assert [s.fields[3] for s in order.segs["NTE"]] == ["标本轻度溶血", "报告已审核"]
    assert "NTE" not in result.segs
    assert [s.name for s in order.segs["TXA"]] == ["TXA"]
    assert unplaced == []
