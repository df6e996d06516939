"""The FHIR read API over a real socket: metadata, read, vread, history, search, paging, and an
OperationOutcome with the right status for every error. Bodies are checked against the official R4 schema."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jsonschema
import pytest
from sqlalchemy.orm import Session

from hub.fhir import store
from tests.conftest import FHIR_SCHEMA
from tests.fhir.factories import observation, patient


@cache
def _validator(type_name: str) -> jsonschema.Draft6Validator:
    schema = json.loads(FHIR_SCHEMA.read_text())
    return jsonschema.Draft6Validator({"$ref": f"#/definitions/{type_name}", "definitions": schema["definitions"]})


def valid_r4(resource: dict[str, Any]) -> None:
    """Raise unless ``resource`` (and each Bundle entry's resource) is valid against the R4 JSON schema."""
    if resource["resourceType"] == "Bundle":
        entries = resource.get("entry", [])
        shell = dict(resource, entry=[{k: v for k, v in e.items() if k != "resource"} for e in entries])
        if not entries:
            shell.pop("entry")
        _validator("Bundle").validate(shell)
        for entry in entries:
            if "resource" in entry:
                valid_r4(entry["resource"])
        return
    if resource["resourceType"] == "CapabilityStatement" and resource.get("fhirVersion") == "4.0.1":
        # The published R4 schema's FHIRVersion enum ends at 4.0.0, though 4.0.1 is the R4 release and is in the
        # R4 FHIRVersion code system; everything else about the statement is checked.
        resource = dict(resource, fhirVersion="4.0.0")
    _validator(resource["resourceType"]).validate(resource)


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OperationOutcome of an error response, checked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    valid_r4(body)
    return body["issue"][0]


def local(url: str) -> str:
    """The path and query of a link (the links use the configured base URL)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def data(session: Session) -> Session:
    store.put(session, patient("p1"))
    store.put(session, patient("p2", identifier=[{"system": "urn:hub:mrn:h2", "value": "7"}], gender="female"))
    for n in range(5):
        store.put(session, observation(f"o{n}", pid="p1" if n < 3 else "p2"))
    session.commit()
    store.put(session, patient("p1", gender="female"))
    store.put(session, patient("gone"))
    session.commit()
    store.delete(session, "Patient", "gone")
    session.commit()
    return session


def test_metadata_is_true_to_the_routes_and_parameters(client: httpx.Client) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    cs = response.json()
    valid_r4(cs)
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    patient_entry = resources["Patient"]
    assert [i["code"] for i in patient_entry["interaction"]] == [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ]
    assert patient_entry["readHistory"] is True and patient_entry["updateCreate"] is True
    assert patient_entry["conditionalCreate"] is True and patient_entry["conditionalUpdate"] is True
    assert patient_entry["conditionalRead"] == "not-match" and patient_entry["conditionalDelete"] == "not-supported"
    # AuditEvents are written by the hub alone: read and search only.
    assert [i["code"] for i in resources["AuditEvent"]["interaction"]] == [
        "read",
        "vread",
        "history-instance",
        "history-type",
        "search-type",
    ]
    assert "conditionalCreate" not in resources["AuditEvent"]
    params = {p["name"]: p for p in patient_entry["searchParam"]}
    assert params["identifier"]["type"] == "token"
    assert params["identifier"]["definition"] == "http://hl7.org/fhir/SearchParameter/Patient-identifier"
    assert {"name", "family", "given", "birthdate", "gender", "telecom", "address", "_id", "_lastUpdated"} <= set(
        params
    )
    observation_params = {p["name"]: p["type"] for p in resources["Observation"]["searchParam"]}
    assert observation_params["value-quantity"] == "quantity"
    assert observation_params["date"] == "date" and observation_params["patient"] == "reference"
    assert {"Encounter", "DiagnosticReport", "Specimen", "Task", "AuditEvent"} <= set(resources)
    assert cs["rest"][0]["interaction"] == [{"code": "transaction"}, {"code": "batch"}]
    assert cs["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_metadata_follows_routes_added_later(app, client: httpx.Client) -> None:
    from fastapi import APIRouter

    extra = APIRouter(prefix="/fhir")

    @extra.post("/Patient/$match")
    def match() -> None: ...

    @extra.get("/_history", name="history-system")
    def history_system() -> None: ...

    before = client.get("/fhir/metadata").json()
    assert "history-system" not in [i["code"] for i in before["rest"][0]["interaction"]]
    assert "operation" not in {r["type"]: r for r in before["rest"][0]["resource"]}["Patient"]
    app.include_router(extra)
    cs = client.get("/fhir/metadata").json()
    valid_r4(cs)
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert resources["Patient"]["operation"] == [
        {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}
    ]
    assert cs["rest"][0]["interaction"] == [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}]


def test_read_with_etag_and_last_modified(data: Session, client: httpx.Client) -> None:
    response = client.get("/fhir/Patient/p1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    body = response.json()
    valid_r4(body)
    assert body["gender"] == "female" and body["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    assert response.headers["last-modified"].endswith(" GMT")
    again = client.get("/fhir/Patient/p1", headers={"If-None-Match": 'W/"2"'})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/fhir/Patient/p1", headers={"If-None-Match": 'W/"1"'}).status_code == 200
    assert client.get("/fhir/Patient/p1", params={"_pretty": "true"}).text.startswith('{\n  "')


def test_vread_and_history(data: Session, client: httpx.Client) -> None:
    first = client.get("/fhir/Patient/p1/_history/1")
    assert first.status_code == 200 and first.json()["gender"] == "male"
    assert first.headers["etag"] == 'W/"1"'

    history = client.get("/fhir/Patient/p1/_history").json()
    valid_r4(history)
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert history["entry"][0]["fullUrl"].endswith("/fhir/Patient/p1")

    deleted = client.get("/fhir/Patient/gone/_history").json()
    valid_r4(deleted)
    assert [e["request"]["method"] for e in deleted["entry"]] == ["DELETE", "PUT"]
    assert "resource" not in deleted["entry"][0]

    page = client.get("/fhir/Patient/_history", params={"_count": 2}).json()
    valid_r4(page)
    assert len(page["entry"]) == 2
    following = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = client.get(local(following)).json()
    assert len(rest["entry"]) == 2
    assert {e["fullUrl"] for e in page["entry"]}.isdisjoint({e["fullUrl"] for e in rest["entry"]})

    since = client.get("/fhir/Observation/_history", params={"_since": "2999-01-01T00:00:00Z"}).json()
    assert "entry" not in since


def test_search_by_identifier(data: Session, client: httpx.Client) -> None:
    response = client.get("/fhir/Patient", params={"identifier": "urn:hub:mrn:h2|7"})
    assert response.status_code == 200
    bundle = response.json()
    valid_r4(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["p2"]
    assert bundle["entry"][0]["fullUrl"].endswith("/fhir/Patient/p2")
    assert bundle["entry"][0]["search"] == {"mode": "match"}
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert parse_qsl(urlsplit(self_link).query) == [("identifier", "urn:hub:mrn:h2|7"), ("_count", "50")]
    assert client.get("/fhir/Patient", params={"identifier": "urn:hub:mrn:h2|8"}).json()["total"] == 0


def test_search_paging_by_next_links(data: Session, client: httpx.Client) -> None:
    seen: list[str] = []
    url = "/fhir/Observation?patient=p1,p2&_count=2"
    pages = 0
    while url:
        bundle = client.get(url).json()
        valid_r4(bundle)
        assert bundle["total"] == 5
        seen.extend(e["resource"]["id"] for e in bundle.get("entry", []))
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = local(nxt[0]) if nxt else ""
        pages += 1
    assert pages == 3 and seen == ["o0", "o1", "o2", "o3", "o4"]
    count_only = client.get("/fhir/Observation", params={"patient": "p1", "_summary": "count"}).json()
    valid_r4(count_only)
    assert count_only["total"] == 3 and "entry" not in count_only


def test_search_by_name_date_and_chain(data: Session, client: httpx.Client) -> None:
    def found(path: str, **params: str) -> list[str]:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return [e["resource"]["id"] for e in response.json().get("entry", [])]

    assert found("/fhir/Patient", name="zha", birthdate="ge1990") == ["p1", "p2"]
    assert found("/fhir/Patient", gender="female", birthdate="1990-03-07") == ["p1", "p2"]
    assert found("/fhir/Observation", **{"subject:Patient.identifier": "urn:hub:mrn:h2|7"}) == ["o3", "o4"]
    assert found("/fhir/Observation", date="2024-03-01", code="http://loinc.org|718-7", patient="Patient/p2") == [
        "o3",
        "o4",
    ]


def test_lenient_handling(data: Session, client: httpx.Client) -> None:
    response = client.get(
        "/fhir/Patient", params={"foo": "1", "gender": "male"}, headers={"Prefer": "handling=lenient"}
    )
    assert response.status_code == 200
    bundle = response.json()
    valid_r4(bundle)
    assert bundle["total"] == 0
    assert bundle["entry"][-1]["search"] == {"mode": "outcome"}
    assert bundle["entry"][-1]["resource"]["issue"][0]["severity"] == "warning"
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "foo" not in self_link


ERROR_CASES = [
    ("GET", "/fhir/Nope/1", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Nope", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Nope/_history", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/unknown", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/bad%20id", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/%00", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/gone", {}, {}, 410, "deleted"),
    ("GET", "/fhir/Patient/gone/_history/2", {}, {}, 410, "deleted"),
    ("GET", "/fhir/Patient/p1/_history/9", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/p1/_history/x", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/p1/_history/²", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/unknown/_history", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient/p1/x/y/z", {}, {}, 404, "not-found"),
    ("GET", "/fhir/Patient", {"foo": "bar"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"birthdate": "notadate"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"name:nope": "x"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"name": "a\x00b"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"_count": "abc"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"_count": "-1"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"_offset": "99999999999999999999"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"_summary": "maybe"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient", {"_sort": "organization"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient/_history", {"_since": "yesterday"}, {}, 400, "invalid"),
    ("GET", "/fhir/Patient/_history", {"_since": "2024-01-01T00:00:00"}, {}, 400, "invalid"),
    ("GET", "/fhir/Observation", {"value-quantity": "1e99999"}, {}, 400, "invalid"),
    ("GET", "/fhir/Observation", {"date": "ap0001-01-01"}, {}, 200, None),
    ("GET", "/fhir/Patient/p1", {"_format": "xml"}, {}, 406, "not-supported"),
    ("GET", "/fhir/Patient", {}, {"Accept": "application/fhir+xml"}, 406, "not-supported"),
    ("GET", "/fhir/metadata", {"_format": "application/fhir+xml"}, {}, 406, "not-supported"),
    ("POST", "/fhir/Patient", {}, {}, 415, "not-supported"),
    ("PATCH", "/fhir/Patient/p1", {}, {}, 415, "not-supported"),  # a JSON Patch is application/json-patch+json
    ("PATCH", "/fhir/AuditEvent/a1", {}, {"Content-Type": "application/json-patch+json"}, 400, "invalid"),  # no body
    ("DELETE", "/fhir/AuditEvent/a1", {}, {}, 405, "not-supported"),
]


def test_errors_are_operation_outcomes(data: Session, client: httpx.Client) -> None:
    # One data set and one server for all cases (each case is a request; the set-up is what costs).
    for method, path, params, headers, status, code in ERROR_CASES:
        response = client.request(method, path, params=params, headers=headers)
        case = f"{method} {path} {params} {headers}"
        if code is None:
            assert response.status_code == status, case
            continue
        try:
            issue = outcome(response, status)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from exc
        assert issue["code"] == code, case
        assert issue["diagnostics"], case


def test_error_expression_names_the_parameter(data: Session, client: httpx.Client) -> None:
    issue = outcome(client.get("/fhir/Observation", params={"date": "soon"}), 400)
    assert issue["expression"] == ["date"]
    issue = outcome(client.get("/fhir/Observation", params={"_count": "x"}), 400)
    assert issue["expression"] == ["_count"]


def test_accept_variants(data: Session, client: httpx.Client) -> None:
    for accept in ("application/json", "application/fhir+json;q=0.9", "text/html,*/*;q=0.8", ""):
        assert client.get("/fhir/Patient/p1", headers={"Accept": accept}).status_code == 200
    assert client.get("/fhir/Patient/p1", params={"_format": "json"}).status_code == 200


SECRET = "Zh" + "ang San"  # not spelled out in the source lines a traceback shows


def test_unexpected_errors_are_500_outcomes_logged_without_their_message(app, client: httpx.Client, caplog) -> None:
    from fastapi import APIRouter

    from hub.errors import TooManyRequests

    extra = APIRouter()

    @extra.get("/fhir/Boom/{id}/explode")
    def explode(id: str) -> None:
        raise RuntimeError(f"row for patient {SECRET} {id}")

    @extra.get("/other/explode")
    def other() -> None:
        raise RuntimeError(SECRET)

    @extra.get("/fhir/Slow/{id}/down")
    def slow(id: str) -> None:
        error = TooManyRequests("slow down")
        error.headers = {"Retry-After": "7"}  # type: ignore[attr-defined]
        raise error

    app.include_router(extra)
    with caplog.at_level("ERROR"):
        issue = outcome(client.get("/fhir/Boom/MRN123/explode"), 500)
        plain = client.get("/other/explode")
    assert issue["code"] == "exception" and "Zhang" not in issue["diagnostics"]
    assert plain.status_code == 500 and "Zhang" not in plain.text
    assert "RuntimeError" in caplog.text
    assert "Zhang" not in caplog.text and "MRN123" not in caplog.text

    limited = client.get("/fhir/Slow/1/down")
    assert outcome(limited, 429)["code"] == "throttled"
    assert limited.headers["retry-after"] == "7"
