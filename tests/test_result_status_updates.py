"""Result status changes through the real pipeline (inbox row → convert_message → store): a preliminary result
made final by an OBX without the value (OBX-11 U) keeps its value; a corrected result (C) with its value replaces
it whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.fhir import store
from hub.hl7 import er7
from hub.mapping import get_converter
from tests.test_conversion_semantics import HOSPITAL, convert, message


def _oru(control: str, obx: str) -> bytes:
    return message(
        f"MSH|^~\\&|LIS|{HOSPITAL}|HUB|CITY|20260315093000||ORU^R01^ORU_R01|{control}|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F",
        "ORC|RE|P100^HIS|F200^LIS",
        "OBR|1|P100^HIS|F200^LIS|2345-7^Glucose^LN|||20260315080000||||||||||||||||||F",
        obx,
    )


def _observation(session: Session, settings: Any, raw: bytes) -> dict[str, Any]:
    bundle = get_converter(settings).convert(er7.parse(raw.decode("utf-8")))
    rid = next(e["request"]["url"].split("/")[1] for e in bundle["entry"] if e["request"]["url"].startswith("Obs"))
    return store.read(session, "Observation", rid)


def test_a_status_change_without_the_value_keeps_the_value(session: Session, settings: Any) -> None:
    preliminary = _oru("R1", "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L^mmol/L^UCUM|3.9-6.1|N|||P|||20260315083000")
    convert(session, settings, preliminary)
    stored = _observation(session, settings, preliminary)
    assert stored["status"] == "preliminary" and stored["valueQuantity"]["value"] == 5.6

    final = _oru("R2", "OBX|1|NM|2345-7^Glucose^LN||||||||U|||20260315083000")
    convert(session, settings, final)
    now = _observation(session, settings, final)
    assert now["id"] == stored["id"] and now["meta"]["versionId"] == "2"
    assert now["status"] == "final"
    assert now["valueQuantity"] == stored["valueQuantity"] and now["referenceRange"] == stored["referenceRange"]
    assert now["interpretation"] == stored["interpretation"]


def test_a_corrected_result_replaces_the_value_whole(session: Session, settings: Any) -> None:
    first = _oru("R3", "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L^mmol/L^UCUM|3.9-6.1|N|||F|||20260315083000")
    convert(session, settings, first)
    corrected = _oru("R4", "OBX|1|NM|2345-7^Glucose^LN||7.2|mmol/L^mmol/L^UCUM||H|||C|||20260315083000")
    convert(session, settings, corrected)
    now = _observation(session, settings, corrected)
    assert now["status"] == "corrected" and now["valueQuantity"]["value"] == 7.2
    assert "referenceRange" not in now  # sent whole: what the correction leaves out is gone
    assert now["interpretation"][0]["coding"][0]["code"] == "H"
