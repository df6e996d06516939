"""Results the hub used to refuse or lose, through the real pipeline (inbox row → convert_message → store): an
ORU^R01 without OBR and its correction in a later message; an array (NA) stored as SampledData with its period
said to be unknown."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.test_conversion_semantics import HOSPITAL, convert, ids, message, read


def _oru(control: str, *segments: str) -> bytes:
    return message(
        f"MSH|^~\\&|LIS|{HOSPITAL}|HUB|CITY|20260315093000||ORU^R01|{control}|P|2.3",
        "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F",
        *segments,
    )


def test_a_result_without_an_order_is_stored_and_its_correction_replaces_it(session: Session, settings: Any) -> None:
    first = _oru("L1", "OBX|1|NM|GLU^血糖^L||5.6|mmol/L|3.9-6.1||||F|||20260315080000")
    convert(session, settings, first)
    rid = ids(settings, first)["Observation"]
    stored = read(session, "Observation", rid)
    assert stored["status"] == "final" and stored["valueQuantity"]["value"] == 5.6
    assert "DiagnosticReport" not in ids(settings, first)

    corrected = _oru("L2", "OBX|1|NM|GLU^血糖^L||5.9|mmol/L|3.9-6.1||||C|||20260315080000")
    convert(session, settings, corrected)
    assert ids(settings, corrected)["Observation"] == rid
    now = read(session, "Observation", rid)
    assert now["meta"]["versionId"] == "2"
    assert now["status"] == "corrected" and now["valueQuantity"]["value"] == 5.9


def test_a_numeric_array_is_stored_as_sampled_data(session: Session, settings: Any) -> None:
    raw = _oru(
        "L3",
        "OBR|1|P1|F1|ECG^心电图^L|||20260315080000|||||||||||||||||EC|F",
        "OBX|1|NA|LEAD2^II导联^L||0.1^0.3^-0.2^0.0|mV^^UCUM|||||F",
    )
    convert(session, settings, raw)
    stored = read(session, "Observation", ids(settings, raw)["Observation"])
    assert stored["valueSampledData"]["data"] == "0.1 0.3 -0.2 0.0"
    assert stored["valueSampledData"]["dimensions"] == 1
    assert stored["valueSampledData"]["origin"] == {
        "value": 0,
        "unit": "mV",
        "system": "http://unitsofmeasure.org",
        "code": "mV",
    }
    assert stored["valueSampledData"]["_period"]["extension"][0]["valueCode"] == "unknown"
