"""/openapi.json is true to the FHIR routes: every status the routes really answer (exercised here over a socket) is
documented for that operation by its own code, bodies are FHIR JSON, and the bearer scheme is declared on exactly
the authenticated routes."""

from __future__ import annotations

import re

import httpx

from tests.support.fhir_client import FHIR_JSON, Tokens, rest_settings, serve_hub


def _operation(spec: dict, method: str, path: str) -> tuple[str, dict]:
    """The OpenAPI operation whose path template matches ``path`` (literal paths win, as in the router)."""
    candidates = []
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        if method.lower() in operations and re.match(pattern, path):
            candidates.append((template.count("{"), template, operations[method.lower()]))
    assert candidates, (method, path)
    _, template, operation = min(candidates)
    return template, operation


def test_openapi_documents_what_the_routes_answer(settings) -> None:
    s = rest_settings(settings)
    with serve_hub(s) as hub:
        spec = hub.get("/openapi.json").json()
        auth = {**Tokens(s).operator(), "Content-Type": FHIR_JSON}
        patient_only = Tokens(s).patient("p1", "patient/*.rs")
        patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
        exercised: list[httpx.Response] = [
            hub.get("/fhir/metadata"),
            hub.get("/fhir/metadata", params={"_format": "xml"}),
            hub.get("/fhir/Patient/p1"),  # 401
            hub.put("/fhir/Patient/p1", json=patient, headers=auth),  # 201
            hub.put("/fhir/Patient/p1", json={**patient, "gender": "male"}, headers=auth),  # 200
            hub.put("/fhir/Patient/p1", json=patient, headers={**auth, "If-Match": 'W/"1"'}),  # 412
            hub.put("/fhir/Patient/p1", json={**patient, "gender": "F"}, headers=auth),  # 422
            hub.put("/fhir/Patient/p1", content=b"<Patient/>", headers={**auth, "Content-Type": "application/xml"}),
            hub.put("/fhir/AuditEvent/a1", json={"resourceType": "AuditEvent", "id": "a1"}, headers=auth),  # 405
            hub.put("/fhir/Patient", json=patient, params={"_id": "p1"}, headers=auth),  # 200
            hub.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=auth),  # 201
            hub.post("/fhir/Patient", json={"resourceType": "Patient"}, headers={**auth, "If-None-Exist": "_id=p1"}),
            hub.post("/fhir/Patient", json={"resourceType": "Patient", "x": 1}, headers=auth),  # 400
            hub.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=patient_only),  # 403
            hub.get("/fhir/Patient/p1", headers=auth),
            hub.get("/fhir/Patient/p1", headers={**auth, "If-None-Match": 'W/"3"'}),  # 304 (v3: the conditional PUT)
            hub.get("/fhir/Patient/p1/_history/1", headers=auth),
            hub.get("/fhir/Patient/p1/_history", headers=auth),
            hub.get("/fhir/Patient/_history", headers=auth),
            hub.get("/fhir/Patient", headers=auth),
            hub.get("/fhir/Patient", params={"shoe": "1"}, headers=auth),  # 400
            hub.get("/fhir/Shoe", headers=auth),  # 404
            hub.post(
                "/fhir/Patient/_search", data={"gender": "male"}, headers={"Authorization": auth["Authorization"]}
            ),
            hub.post("/fhir", json={"resourceType": "Bundle", "type": "batch"}, headers=auth),
            hub.post("/fhir", json={"resourceType": "Bundle", "type": "document"}, headers=auth),  # 400
            hub.delete("/fhir/Patient/p1", headers={**auth, "If-Match": 'W/"9"'}),  # 412
            hub.delete("/fhir/Patient/p1", headers=auth),  # 204
            hub.delete("/fhir/Patient/p1", headers={**auth, "Prefer": "return=OperationOutcome"}),  # 200
            hub.get("/fhir/Patient/p1", headers=auth),  # 410
        ]
    seen: set[tuple[str, str, int]] = set()
    for response in exercised:
        method, path = response.request.method, response.request.url.path
        template, operation = _operation(spec, method, path)
        status = response.status_code
        seen.add((method, template, status))
        assert str(status) in operation["responses"], (method, template, status, sorted(operation["responses"]))
        documented = operation["responses"][str(status)]
        if response.content:
            assert response.headers["content-type"] == FHIR_JSON, (method, path)
            assert FHIR_JSON in documented.get("content", {}), (method, template, status)
        authenticated = template not in ("/fhir/metadata",)
        assert ("security" in operation) is authenticated, template
    assert {status for _, _, status in seen} >= {200, 201, 204, 304, 400, 401, 403, 404, 405, 406, 410, 412, 415, 422}
    body = spec["paths"]["/fhir/{resource_type}"]["post"]["requestBody"]
    assert set(body["content"]) == {FHIR_JSON, "application/json"}
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
