"""ROL-2 / PRT-2 action codes (HL7 table 0287) in the converter and the merge: UN (unlink) withdraws as DE does,
UC (unchanged) is a keep mark of its role and person whose stored item wins over the message's (``keep_stored``),
CO (correct) is the message's item. The pipeline tests (A01 then A08 through the store) are in
tests/test_role_action_codes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.mapping.engine import Converter
from hub.mapping.nulls import NULL_EXTENSION_URL
from hub.updates import merge_update

from .conftest import convert, mappings_copy, one, resources
from .test_keep_marks import V3, adt, marks_of, pv1
from .test_lab_variations import MSH, PID, observation


def role(code: str, who: str) -> str:
    return f"participant[type.coding.system={V3}][type.coding.code={code}][individual.identifier.value={who}]"


def encounter_of(bundle) -> dict:
    [found] = [e["resource"] for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    return found


def test_un_withdraws_and_uc_keeps_the_stored_role(converter):
    bundle = convert(
        converter,
        adt(
            "A08",
            pv1(f17="D004^孙^四"),
            "ROL|1|UN|CP^Consulting Provider^HL70443|D031^周^九",
            "ROL|2|UC|AT^Attending^HL70443|D001^王^一",
            "ROL|3|CO|RP^Referring Provider^HL70443|D002^李^二",
        ),
    )
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == [role("CON", "D031")]
    assert role("ATND", "D001") in marks_of(bundle, "Encounter")
    # the unlinked consultant is no participant of the message; the unchanged and corrected ones are
    codes = [p["type"][0]["coding"][0]["code"] for p in encounter_of(bundle)["participant"]]
    assert sorted(codes) == ["ADM", "ATND", "REF"]


def test_uc_of_the_patients_own_doctor_is_a_keep_mark_of_the_patient(converter):
    # ROL-3 PP is the patient's general practitioner, not a participant of the visit: no Encounter mark
    bundle = convert(converter, adt("A08", pv1(), "ROL|1|UC|PP^Primary Care Provider^HL70443|D009^钱^九"))
    assert "generalPractitioner[identifier.value=D009]" in marks_of(bundle, "Patient")
    assert not [m for m in marks_of(bundle, "Encounter") if m.startswith("participant")]


def test_a_keep_mark_that_matches_the_messages_items_puts_the_stored_ones_in_their_place():
    def item(code: str, who: str, start: str | None = None) -> dict:
        out: dict = {"type": [{"coding": [{"system": V3, "code": code}]}], "individual": {"identifier": {"value": who}}}
        if start:
            out["period"] = {"start": start}
        return out

    stored = {
        "resourceType": "Encounter",
        "id": "e1",
        "participant": [item("ATND", "D001", "2026-03-15T08:30:00+08:00"), item("CON", "D003")],
    }
    new = {"resourceType": "Encounter", "id": "e1", "participant": [item("ATND", "D001"), item("ADM", "D004")]}
    merged = merge_update(stored, new, kept=[role("ATND", "D001")])
    # the stored attending doctor in the place of the message's (UC: unchanged), the consultant not kept (no mark)
    assert merged["participant"] == [stored["participant"][0], item("ADM", "D004")]
    assert new["participant"] == [item("ATND", "D001"), item("ADM", "D004")]  # not changed
    # nothing stored of that role and person: the message's item stands
    merged = merge_update(stored, new, kept=[role("ATND", "D002")])
    assert merged["participant"] == new["participant"]


def test_prt_un_is_withdrawn_from_a_result_report_and_specimen(converter):
    text = "\r".join(
        [
            MSH.format(n=1).replace("|2.5.1", "|2.8"),
            PID,
            "ORC|RE|P100^HIS|F200^LIS",
            "PRT|1|UN||OP^Ordering Provider^HL70443|D300^张^医生^^^^^^SZRMYY",
            "OBR|1|P100^HIS|F200^LIS|24323-8^CMP^LN|||20260315080000|||||||||||||||20260315091500||CH|F",
            "PRT|2|UN||PRI^Principal Result Interpreter^HL70443|D400^李^主任^^^^^^SZRMYY",
            "PRT|3|AD||TN^Technician^HL70443|T500^赵^技师^^^^^^SZRMYY",
            "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F",
            "PRT|4|UN||RO^Responsible Observer^HL70443|T800^周^技师^^^^^^SZRMYY",
            "PRT|5|UC||RO^Responsible Observer^HL70443|T801^吴^技师^^^^^^SZRMYY",
            "SPM|1|S1^S9001&LIS||SER^Serum^HL70487|||||||||||||20260315080000|202603150830",
            "PRT|6|UN||SC^Specimen Collector^HL70443|N600^钱^护士^^^^^^SZRMYY",
        ]
    )
    bundle = convert(converter, text + "\r")
    report = one(bundle, "DiagnosticReport")
    assert "resultsInterpreter" not in report
    assert [p["identifier"]["value"] for p in report["performer"]] == ["T500"]
    # a result is sent whole: the unchanged observer is one of its performers, the unlinked one is not
    assert [p["identifier"]["value"] for p in observation(bundle, "2345-7")["performer"]] == ["T801"]
    assert "collector" not in one(bundle, "Specimen").get("collection", {})


def test_prt_un_is_withdrawn_from_an_order(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315093000||OML^O21^OML_O21|O1|P|2.8",
            PID,
            "ORC|NW|P100^HIS||G1^HIS|||||20260315080000",
            "PRT|1|UN||OP^Ordering Provider^HL70443|D300^张^医生^^^^^^SZRMYY",
            "OBR|1|P100^HIS||24323-8^CMP^LN",
            "ORC|CA|P101^HIS",
            "PRT|2|UN||OP^Ordering Provider^HL70443|D301^孙^医生^^^^^^SZRMYY",
        ]
    )
    placed, cancelled = resources(convert(converter, text + "\r"), "ServiceRequest")
    assert "requester" not in placed and "requester" not in cancelled


# -- the keep_stored key ---------------------------------------------------------------------------------------

UC_RULE = (
    "        keep_stored: [type.coding.system, type.coding.code, individual.identifier.value]\n        elements:\n"
)


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("        keep_stored: [type.coding.code]\n        elements:\n", None),
        ("        keep_stored: []\n        elements:\n", "'keep_stored' is for a list element"),
        (
            "        keep_stored: [type.coding.code]\n        withdraw: [type.coding.code]\n        elements:\n",
            "either withdraws its items or keeps them as stored",
        ),
    ],
)
def test_the_keep_stored_key(tmp_path: Path, new: str, reason: str | None):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message/ADT_A01.yaml"
    text = path.read_text(encoding="utf-8")
    assert UC_RULE in text
    path.write_text(text.replace(UC_RULE, new, 1), encoding="utf-8")
    if reason is None:
        Converter.load(mappings)
        return
    with pytest.raises(MappingTemplateError, match=reason):
        Converter.load(mappings)


def test_keep_stored_is_for_a_list_of_a_type_the_hub_merges(tmp_path: Path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "resource/Observation.yaml"
    text = path.read_text(encoding="utf-8")
    rule = "  - path: performer\n    from: PRT\n    keep_stored: [identifier.value]\n    elements:\n"
    rule += "      - path: identifier.value\n        from: PRT-5.1\n"
    path.write_text(text + rule, encoding="utf-8")
    with pytest.raises(MappingTemplateError, match="'keep_stored' is for a type the hub merges"):
        Converter.load(mappings)
    path.write_text(text + "  - path: status\n    from: OBX-11\n    keep_stored: [code]\n", encoding="utf-8")
    with pytest.raises(MappingTemplateError, match="'keep_stored' is for a list element"):
        Converter.load(mappings)
