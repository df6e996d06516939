"""PATCH with a JSON Patch (RFC 6902) through the whole app over a real socket: the change is a new version, a
failed test or a missing path writes nothing (422), malformed patches are 400, If-Match and the caller's rights
hold as for PUT, and the patch is on the audit trail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.db import get_sessionmaker
from hub.fhir.validation import validate_r4
from tests.support.fhir_client import FHIR_JSON, Tokens, audit_events, rest_settings, serve_hub, subtype

JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def tokens(settings):
    return Tokens(rest_settings(settings))


@pytest.fixture
def hub(settings):
    s = rest_settings(settings)
    with serve_hub(s) as client:
        client.headers.update({**Tokens(s).system("org-a"), "Content-Type": FHIR_JSON})
        yield client


def _patient(hub: httpx.Client) -> dict[str, Any]:
    body = {
        "resourceType": "Patient",
        "name": [{"family": "李", "given": ["四"]}],
        "gender": "male",
        "birthDate": "1985-11-11",
        "telecom": [{"system": "phone", "value": "13800138000"}],
    }
    created = hub.post("/fhir/Patient", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _patch(hub: httpx.Client, pid: str, ops: Any, **headers: str) -> httpx.Response:
    return hub.patch(f"/fhir/Patient/{pid}", json=ops, headers={"Content-Type": JSON_PATCH, **headers})


def test_a_patch_makes_a_new_version_and_is_audited(hub: httpx.Client, settings) -> None:
    pid = _patient(hub)["id"]
    r = _patch(
        hub,
        pid,
        [
            {"op": "test", "path": "/gender", "value": "male"},
            {"op": "replace", "path": "/birthDate", "value": "1985-11-12"},
            {"op": "add", "path": "/telecom/-", "value": {"system": "email", "value": "li@example.cn"}},
            {"op": "remove", "path": "/gender"},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["birthDate"] == "1985-11-12" and "gender" not in body
    assert [t["system"] for t in body["telecom"]] == ["phone", "email"]
    assert body["meta"]["versionId"] == "2" and r.headers["etag"] == 'W/"2"' and validate_r4(body) == []
    assert hub.get(f"/fhir/Patient/{pid}").json() == body
    with get_sessionmaker(settings)() as session:
        patched = [e for e in audit_events(session, pid) if subtype(e) == "patch"]
    assert len(patched) == 1 and patched[0]["action"] == "U"
    assert patched[0]["outcome"] == "0"


def test_a_failed_test_or_a_missing_path_writes_nothing(hub: httpx.Client) -> None:
    pid = _patient(hub)["id"]
    failed = _patch(
        hub,
        pid,
        [
            {"op": "replace", "path": "/birthDate", "value": "1990-01-01"},
            {"op": "test", "path": "/gender", "value": "female"},
        ],
    )
    assert failed.status_code == 422, failed.text
    issue = failed.json()["issue"][0]
    assert "operation 1" in issue["diagnostics"] and "male" not in issue["diagnostics"]  # where, not the value
    missing = _patch(hub, pid, [{"op": "remove", "path": "/address"}])
    assert missing.status_code == 422 and "operation 0" in missing.json()["issue"][0]["diagnostics"]
    index = _patch(hub, pid, [{"op": "replace", "path": "/telecom/5/value", "value": "1"}])
    assert index.status_code == 422
    same = hub.get(f"/fhir/Patient/{pid}").json()
    assert same["birthDate"] == "1985-11-11" and same["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        ({"op": "remove", "path": "/gender"}, 400),  # not an array
        ([], 400),
        ([{"op": "frobnicate", "path": "/gender"}], 400),
        ([{"op": "replace", "path": "gender", "value": "female"}], 400),  # not a JSON Pointer
        ([{"op": "add", "path": "/gender"}], 400),  # no value
        ([{"op": "move", "path": "/x"}], 400),  # no from
        ([{"op": "replace", "path": "/id", "value": "another"}], 422),  # not this resource any more
        ([{"op": "replace", "path": "/gender", "value": "robot"}], 422),  # the result breaks the R4 value set
        ([{"op": "add", "path": "/birthDate", "value": "yesterday"}], 422),  # the result's date is no date
    ],
)
def test_malformed_patches_and_invalid_results(hub: httpx.Client, ops: Any, status: int) -> None:
    pid = _patient(hub)["id"]
    r = _patch(hub, pid, ops)
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert hub.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_content_type_if_match_and_not_found(hub: httpx.Client) -> None:
    pid = _patient(hub)["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    wrong_type = hub.patch(f"/fhir/Patient/{pid}", json=ops, headers={"Content-Type": FHIR_JSON})
    assert wrong_type.status_code == 415
    assert _patch(hub, pid, ops, **{"If-Match": 'W/"7"'}).status_code == 412
    assert _patch(hub, pid, ops, **{"If-Match": 'W/"1"'}).status_code == 200
    assert _patch(hub, "no-such-patient", ops).status_code == 404
    assert hub.delete(f"/fhir/Patient/{pid}").status_code == 204
    assert _patch(hub, pid, ops).status_code == 410


def test_only_who_may_read_and_update_it_patches(hub: httpx.Client, tokens: Tokens) -> None:
    pid = _patient(hub)["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    other_org = _patch(hub, pid, ops, **tokens.system("org-b"))
    assert other_org.status_code in (403, 404)  # another hospital's record is not its to change (nor to see)
    write_only = _patch(hub, pid, ops, **tokens.system("org-a", scopes="system/Patient.u"))
    assert write_only.status_code == 403  # a patch shows the resource: reading it must be granted too
    patient = _patch(hub, pid, ops, **tokens.patient(pid))
    assert patient.status_code == 403  # patient/*.rs: no update
    assert hub.get(f"/fhir/Patient/{pid}").json()["gender"] == "male"
