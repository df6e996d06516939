"""A report's corrections and cancels through the real pipeline (inbox row → convert_message → store).

A LIS corrects one result of a report by sending the order with only that result (OBR-25 C, OBX-11 C), and
cancels a report with its OBR alone (OBR-25 X): the report keeps its other results, in the lab's order, and a
message that leaves OBR-25 or the interpreter empty keeps what is stored (v2: an empty field keeps). A result is
deleted by OBX-11 D or W (entered-in-error, still listed), or by a whole resend of the report (a result sent again
as final or preliminary) that leaves it out: v2's snapshot mode, the report lists what the message lists and the
dropped result becomes entered-in-error. A report corrected in every result it sends (OBR-25 C, all OBX-11 C) cannot
be told from a correction of those results alone: it keeps the results it leaves out. A cancelled report (OBR-25 X)
cancels its stored results."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.fhir import store
from tests.test_conversion_semantics import HOSPITAL, convert, ids, message

ALT = "OBX|1|NM|ALT^谷丙转氨酶^L||35|U/L|9-50|N|||F"
AST = "OBX|2|NM|AST^谷草转氨酶^L||30|U/L|15-40|N|||F"
GGT = "OBX|3|NM|GGT^谷氨酰转肽酶^L||45|U/L|10-60|N|||F"


def _oru(control: str, status: str, *obx: str, interpreter: str = "0567&张&审核") -> bytes:
    # OBR-7 collected, OBR-22 reported, OBR-24 CH, OBR-25 the report's status, OBR-32 the interpreter
    return message(
        f"MSH|^~\\&|LIS|{HOSPITAL}|HUB|CITY|20261127093000||ORU^R01^ORU_R01|{control}|P|2.5.1",
        "PID|1||0012345^^^SZRMYY^MR~440305199003157718^^^CHN^NNCHN||王小明||19900315|M",
        "ORC|RE|ORD001^HIS|LAB001^LIS||CM",
        "OBR|1|ORD001^HIS|LAB001^LIS|LFT^肝功能^L|||20261127080000|||||||||||||||20261127090000||CH|"
        f"{status}|||||||{interpreter}",
        *obx,
    )


def _report(session: Session, settings: Any, raw: bytes) -> dict[str, Any]:
    return store.read(session, "DiagnosticReport", ids(settings, raw)["DiagnosticReport"])


def _results(session: Session, report: dict[str, Any]) -> list[tuple[str, str, float]]:
    out = []
    for item in report["result"]:
        obs = store.read(session, "Observation", item["reference"].split("/")[1])
        out.append((obs["code"]["coding"][0]["code"], obs["status"], obs["valueQuantity"]["value"]))
    return out


def test_a_correction_of_one_result_keeps_the_others(session: Session, settings: Any) -> None:
    final = _oru("C1", "F", ALT, AST)
    convert(session, settings, final)
    assert _results(session, _report(session, settings, final)) == [("ALT", "final", 35), ("AST", "final", 30)]

    corrected = _oru("C2", "C", "OBX|2|NM|AST^谷草转氨酶^L||42|U/L|15-40|H|||C")
    convert(session, settings, corrected)
    report = _report(session, settings, corrected)
    assert report["status"] == "corrected" and report["meta"]["versionId"] == "2"
    assert _results(session, report) == [("ALT", "final", 35), ("AST", "corrected", 42)]


def test_a_cancel_without_results_keeps_them_listed(session: Session, settings: Any) -> None:
    convert(session, settings, _oru("X1", "F", ALT, AST))
    cancelled = _oru("X2", "X")
    convert(session, settings, cancelled)
    report = _report(session, settings, cancelled)
    assert report["status"] == "cancelled"
    assert [code for code, _, _ in _results(session, report)] == ["ALT", "AST"]


def test_a_whole_resend_is_the_report_in_its_order(session: Session, settings: Any) -> None:
    convert(session, settings, _oru("P1", "P", ALT.replace("|F", "|P"), AST.replace("|F", "|P")))
    final = _oru("P2", "F", GGT, AST, ALT)
    convert(session, settings, final)
    report = _report(session, settings, final)
    assert report["status"] == "final"
    assert [(code, status) for code, status, _ in _results(session, report)] == [
        ("GGT", "final"),
        ("AST", "final"),
        ("ALT", "final"),
    ]


def test_empty_report_fields_keep_what_is_stored(session: Session, settings: Any) -> None:
    convert(session, settings, _oru("E1", "F", ALT, AST))
    # a resend of one result without the report's status and interpreter (a LIS's result-only message)
    thin = _oru("E2", "", "OBX|1|NM|ALT^谷丙转氨酶^L||36|U/L|9-50|N|||C", interpreter="")
    convert(session, settings, thin)
    report = _report(session, settings, thin)
    assert report["status"] == "final"
    assert report["resultsInterpreter"][0]["display"] == "张审核"
    assert _results(session, report) == [("ALT", "corrected", 36), ("AST", "final", 30)]


def _observation(session: Session, report: dict[str, Any], code: str) -> dict[str, Any]:
    for obs in _stored_results(session, report):
        if obs["code"]["coding"][0]["code"] == code:
            return obs
    raise AssertionError(f"no result {code}")


def _stored_results(session: Session, report: dict[str, Any]) -> list[dict[str, Any]]:
    return [store.read(session, "Observation", item["reference"].split("/")[1]) for item in report["result"]]


def test_a_whole_corrected_resend_without_a_result_drops_it(session: Session, settings: Any) -> None:
    # the final report lists three results; the corrected report is sent whole (the unchanged results again as F,
    # the changed one as C) without GGT: the lab's report no longer has it
    final = _oru("W1", "F", ALT, AST, GGT)
    convert(session, settings, final)
    dropped = _observation(session, _report(session, settings, final), "GGT")

    corrected = _oru("W2", "C", ALT, "OBX|2|NM|AST^谷草转氨酶^L||42|U/L|15-40|H|||C")
    convert(session, settings, corrected)
    report = _report(session, settings, corrected)
    assert report["status"] == "corrected"
    assert _results(session, report) == [("ALT", "final", 35), ("AST", "corrected", 42)]
    # the result the report withdrew is no current result of the patient any more (v2 snapshot: deleted)
    gone = store.read(session, "Observation", dropped["id"])
    assert gone["status"] == "entered-in-error" and gone["valueQuantity"]["value"] == 45


def test_a_final_report_without_a_preliminary_result_drops_it(session: Session, settings: Any) -> None:
    convert(session, settings, _oru("W3", "P", ALT.replace("|F", "|P"), GGT.replace("|F", "|P")))
    final = _oru("W4", "F", ALT)
    convert(session, settings, final)
    report = _report(session, settings, final)
    assert _results(session, report) == [("ALT", "final", 35)]


def test_a_cancelled_report_cancels_its_stored_results(session: Session, settings: Any) -> None:
    convert(session, settings, _oru("X3", "F", ALT, AST, "OBX|3|NM|GGT^谷氨酰转肽酶^L||45|U/L|10-60|N|||D"))
    cancelled = _oru("X4", "X")
    convert(session, settings, cancelled)
    report = _report(session, settings, cancelled)
    assert report["status"] == "cancelled"
    assert [(o["code"]["coding"][0]["code"], o["status"]) for o in _stored_results(session, report)] == [
        ("ALT", "cancelled"),
        ("AST", "cancelled"),
        ("GGT", "entered-in-error"),  # a deleted result stays deleted
    ]


def test_a_report_corrected_in_every_result_it_sends_keeps_the_others(session: Session, settings: Any) -> None:
    # a report of three final results sent again corrected (OBR-25 C) with two results, both as C, without GGT:
    # it reads exactly like a lab's correction of the two values alone (the pattern below), so GGT is kept — a
    # message of corrections only cannot say it is the whole report, and dropping would withdraw a valid result
    final = _oru("K1", "F", ALT, AST, GGT)
    convert(session, settings, final)
    corrected = _oru(
        "K2",
        "C",
        "OBX|1|NM|ALT^谷丙转氨酶^L||38|U/L|9-50|N|||C",
        "OBX|2|NM|AST^谷草转氨酶^L||42|U/L|15-40|H|||C",
    )
    convert(session, settings, corrected)
    report = _report(session, settings, corrected)
    assert report["status"] == "corrected"
    assert _results(session, report) == [("ALT", "corrected", 38), ("AST", "corrected", 42), ("GGT", "final", 45)]


def test_a_correction_of_one_result_of_three_keeps_the_other_two(session: Session, settings: Any) -> None:
    final = _oru("K3", "F", ALT, AST, GGT)
    convert(session, settings, final)
    # how many labs correct one value: the order with that result alone, OBR-25 C and OBX-11 C
    corrected = _oru("K4", "C", "OBX|1|NM|AST^谷草转氨酶^L||42|U/L|15-40|H|||C")
    convert(session, settings, corrected)
    report = _report(session, settings, corrected)
    assert report["status"] == "corrected"
    assert _results(session, report) == [("ALT", "final", 35), ("AST", "corrected", 42), ("GGT", "final", 45)]
