"""A decimal keeps its digits from the v2 text to the API and from a client's body back to it (FHIR R4 datatypes,
decimal: 1.50 is not 1.5, and a server must not change it): stored, read, searched, in _history and _include,
merged with a later message, whatever the database."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session

from hub.fhir import store
from hub.fhir.jsoncodec import FhirDecimal
from tests.test_conversion_semantics import HOSPITAL, convert, ids, message

FHIR_JSON = "application/fhir+json"


def _oru(control: str, status: str = "F") -> bytes:
    return message(
        f"MSH|^~\\&|LIS|{HOSPITAL}|HUB|CITY|20260315093000||ORU^R01|{control}|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F",
        "OBR|1|P100^HIS|F200^LIS|24323-8^Metabolic panel^LN|||20260315080000|||||||||||||||20260315091500||CH|F",
        f"OBX|1|NM|2823-3^Potassium^LN||1.50|mmol/L|3.90-6.10|L|||{status}",
        f"OBX|2|SN|5195-3^HBsAg^LN||<^0.050|IU/mL||||{status}",
    )


def _observation_ids(settings, raw: bytes) -> tuple[str, str]:
    from hub.hl7 import er7
    from hub.mapping import get_converter

    bundle = get_converter(settings).convert(er7.parse(raw.decode("utf-8")))
    found = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    return found[0], found[1]


def test_a_converted_result_reads_back_with_its_digits(session: Session, settings, client: httpx.Client) -> None:
    raw = _oru("D1")
    convert(session, settings, raw)
    potassium, hbsag = _observation_ids(settings, raw)

    stored = store.read(session, "Observation", potassium)
    value = stored["valueQuantity"]["value"]
    assert isinstance(value, FhirDecimal) and value.text == "1.50"

    read = client.get(f"/fhir/Observation/{potassium}")
    assert read.status_code == 200
    assert b'"value":1.50,' in read.content
    assert b'"value":3.90,' in read.content and b'"value":6.10,' in read.content
    assert b'"value":0.050,' in client.get(f"/fhir/Observation/{hbsag}").content
    assert b'"value": 1.50,' in client.get(f"/fhir/Observation/{potassium}", params={"_pretty": "true"}).content

    history = client.get(f"/fhir/Observation/{potassium}/_history")
    assert b'"value":1.50,' in history.content
    assert b'"value":1.50,' in client.get(f"/fhir/Observation/{potassium}/_history/1").content

    # numbers are still searched by value: 1.50 > 1.4, and 1.50 is 1.5 within the precision asked
    found = client.get("/fhir/Observation", params={"value-quantity": "gt1.4"})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [potassium]
    assert b'"value":1.50,' in found.content
    below = client.get("/fhir/Observation", params={"value-quantity": "lt1.4"}).json()["entry"]
    assert [e["resource"]["id"] for e in below] == [hbsag]
    assert len(client.get("/fhir/Observation", params={"value-quantity": "1.5"}).json()["entry"]) == 1

    report = ids(settings, raw)["DiagnosticReport"]
    included = client.get(
        "/fhir/DiagnosticReport", params={"_id": report, "_include": "DiagnosticReport:result"}
    ).content
    assert b'"value":1.50,' in included and b'"value":0.050,' in included


def test_a_later_message_merged_with_the_stored_result_keeps_the_digits(
    session: Session, settings, client: httpx.Client
) -> None:
    convert(session, settings, _oru("D2"))
    again = _oru("D3")
    convert(session, settings, again)  # the same content: no new version
    potassium, _ = _observation_ids(settings, again)
    assert store.read(session, "Observation", potassium)["meta"]["versionId"] == "1"

    corrected = _oru("D4", status="C")
    convert(session, settings, corrected)
    now = client.get(f"/fhir/Observation/{potassium}")
    assert now.json()["meta"]["versionId"] == "2" and now.json()["status"] == "corrected"
    assert b'"value":1.50,' in now.content and b'"value":3.90,' in now.content


def _observation(rid: str, value: str) -> bytes:
    """A client's Observation as JSON text: ``value`` is written as given (a dict would make it a float)."""
    head = '{"resourceType":"Observation","id":"' + rid + '","status":"final","code":{"text":"CRP"},'
    quantity = '"valueQuantity":{"value":' + value + ',"unit":"mg/L"},'
    return (head + quantity + '"referenceRange":[{"high":{"value":5.00,"unit":"mg/L"}}]}').encode()


def test_a_client_s_decimal_is_stored_and_returned_as_sent(client: httpx.Client) -> None:
    put = client.put(
        "/fhir/Observation/crp1", content=_observation("crp1", "0.010"), headers={"Content-Type": FHIR_JSON}
    )
    assert put.status_code == 201, put.text
    assert b'"value":0.010,' in put.content
    read = client.get("/fhir/Observation/crp1")
    assert b'"value":0.010,' in read.content and b'"value":5.00,' in read.content

    # the same number with other digits is another value: a new version
    again = client.put(
        "/fhir/Observation/crp1", content=_observation("crp1", "0.01"), headers={"Content-Type": FHIR_JSON}
    )
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "2"
    assert b'"value":0.01,' in client.get("/fhir/Observation/crp1").content
    assert b'"value":0.010,' in client.get("/fhir/Observation/crp1/_history/1").content

    posted = client.post(
        "/fhir/Observation", content=_observation("x", "1.2500e1"), headers={"Content-Type": FHIR_JSON}
    )
    assert posted.status_code == 201, posted.text
    assert b'"value":1.2500e1,' in client.get(posted.headers["Location"].split("/_history")[0]).content
    found = client.get("/fhir/Observation", params={"value-quantity": "gt12"}).json()["entry"]
    assert [e["resource"]["valueQuantity"]["value"] for e in found] == [12.5]
