"""fhirpy, an independently written FHIR client library, drives the hub's FHIR API on a real socket.

The whole app (``create_app``) runs under uvicorn; a hospital system registered with the built-in token endpoint
gets its token by OAuth 2 client credentials (HTTP Basic, ``POST /auth/token``) and hands it to fhirpy's
``SyncFHIRClient``. Everything below goes through fhirpy's own request building, paging and error mapping
(404/410 → ``ResourceNotFound``, 412 → ``MultipleResourcesFound``, other errors → ``OperationOutcome``): create,
read, vread, update with ``If-Match``, conditional create (``If-None-Exist`` and fhirpy's ``get_or_create``),
search by token, string, date prefixes, reference and chain, ``_sort``, every page by ``next`` links (also while
another resource is inserted), ``_include``/``_revinclude``, transaction (atomic) and batch Bundles, delete and
410, history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, MultipleResourcesFound, OperationOutcome, ResourceNotFound
from pydantic import SecretStr

from hub.config import AuthClient, Settings
from tests.support.fhir_client import rest_settings, serve_hub

CLIENT_ID = "his-fhirpy"
CLIENT_SECRET = "fhirpy-his-secret-7f3a"
ORGANIZATION = "org-fhirpy"
MRN = "urn:oid:1.2.156.112604.1.2.1"  # a hospital's medical record numbers
LOINC = "http://loinc.org"


@pytest.fixture
def hub_url(settings: Settings) -> Iterator[str]:
    """The hub's base URL; the system ``his-fhirpy`` (organisation ``org-fhirpy``) is registered with it."""
    client = AuthClient(
        secret=SecretStr(CLIENT_SECRET), organization=ORGANIZATION, scopes=["system/*.cruds"], purposes=["TREAT"]
    )
    with serve_hub(rest_settings(settings, auth_clients={CLIENT_ID: client})) as hub:
        yield str(hub.base_url).rstrip("/")


def _token(hub_url: str) -> str:
    answer = httpx.post(
        f"{hub_url}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.cruds"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture
def token(hub_url: str) -> str:
    return _token(hub_url)


@pytest.fixture
def fhir(hub_url: str, token: str) -> SyncFHIRClient:
    return SyncFHIRClient(f"{hub_url}/fhir", authorization=f"Bearer {token}")


def _client(hub_url: str, token: str, **headers: str) -> SyncFHIRClient:
    """A fhirpy client that sends extra headers (If-Match, If-None-Exist, Prefer) with every request."""
    return SyncFHIRClient(f"{hub_url}/fhir", authorization=f"Bearer {token}", extra_headers=headers)


def _patient(family: str, given: str, gender: str, birth_date: str, mrn: str) -> dict[str, Any]:
    return {
        "identifier": [{"system": MRN, "value": mrn}],
        "name": [{"family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth_date,
    }


def _ids(resources: Any) -> set[str]:
    return {r.id for r in resources}


# -- tokens ---------------------------------------------------------------------------------------------------------


def test_token_endpoint_and_bearer(hub_url: str, fhir: SyncFHIRClient) -> None:
    capability = SyncFHIRClient(f"{hub_url}/fhir").execute("metadata", method="get")  # public
    assert capability["resourceType"] == "CapabilityStatement" and capability["fhirVersion"] == "4.0.1"
    with pytest.raises(AuthorizationError):
        SyncFHIRClient(f"{hub_url}/fhir").resources("Patient").fetch()
    with pytest.raises(AuthorizationError):
        SyncFHIRClient(f"{hub_url}/fhir", authorization="Bearer not-a-token").resources("Patient").fetch()
    wrong = httpx.post(
        f"{hub_url}/auth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "wrong"), timeout=10
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert fhir.resources("Patient").fetch() == []


# -- create, read, update, delete, history ------------------------------------------------------------------------


def test_create_read_update_delete_history(hub_url: str, token: str, fhir: SyncFHIRClient) -> None:
    patient = fhir.resource("Patient", **_patient("Wang", "Fang", "female", "1980-02-03", "1001"))
    patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"
    # REST writes are stamped with the writer's organisation.
    assert {"system": "urn:hub:producer", "code": ORGANIZATION} in patient["meta"]["tag"]

    read = fhir.reference("Patient", patient.id).to_resource()
    assert read["name"][0]["family"] == "Wang" and read["birthDate"] == "1980-02-03"
    assert fhir.get("Patient", patient.id)["id"] == patient.id

    patient["birthDate"] = "1980-02-04"
    patient.save()
    assert patient["meta"]["versionId"] == "2"

    # A versioned update with a stale version is refused (412, which fhirpy reports as MultipleResourcesFound).
    stale = _client(hub_url, token, **{"If-Match": 'W/"1"'}).resource("Patient", **{**patient, "gender": "other"})
    with pytest.raises(MultipleResourcesFound) as refused:
        stale.save()
    assert '"conflict"' in str(refused.value)
    assert fhir.get("Patient", patient.id)["gender"] == "female"
    current = _client(hub_url, token, **{"If-Match": 'W/"2"'}).resource("Patient", **{**patient, "gender": "other"})
    current.save()
    assert current["meta"]["versionId"] == "3" and fhir.get("Patient", patient.id)["gender"] == "other"

    first = fhir.execute(f"Patient/{patient.id}/_history/1", method="get")
    assert first["birthDate"] == "1980-02-03" and first["meta"]["versionId"] == "1"

    patient.delete()
    with pytest.raises(ResourceNotFound) as gone:
        fhir.get("Patient", patient.id)
    assert '"deleted"' in str(gone.value)  # 410 Gone, not 404
    with pytest.raises(ResourceNotFound) as unknown:
        fhir.get("Patient", "never-stored")
    assert '"not-found"' in str(unknown.value)

    history = fhir.execute(f"Patient/{patient.id}/_history", method="get")
    assert history["type"] == "history"
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "PUT", "POST"]
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"][1:]] == ["3", "2", "1"]
    type_history = fhir.execute("Patient/_history", method="get")
    assert len([e for e in type_history["entry"] if e["fullUrl"].endswith(f"/Patient/{patient.id}")]) == 4


def test_conditional_create(hub_url: str, token: str, fhir: SyncFHIRClient) -> None:
    body = _patient("Li", "Na", "female", "1992-07-01", "2002")
    # If-None-Exist (the FHIR header) through fhirpy's extra headers.
    conditional = _client(hub_url, token, **{"If-None-Exist": f"identifier={MRN}|2002"})
    first = conditional.resource("Patient", **body)
    first.save()
    again = conditional.resource("Patient", **{**body, "gender": "other"})
    again.save()
    assert again.id == first.id and again["meta"]["versionId"] == "1" and again["gender"] == "female"

    # fhirpy's own conditional create: the criteria in the query of the POST.
    search = fhir.resources("Patient").search(identifier=f"{MRN}|2003")
    made, created = search.get_or_create(
        fhir.resource("Patient", **_patient("Li", "Lei", "male", "1990-01-01", "2003"))
    )
    assert created
    found, created_again = search.get_or_create(
        fhir.resource("Patient", **_patient("Li", "Lei", "male", "1990", "2003"))
    )
    assert not created_again and found.id == made.id
    assert len(search.fetch_all()) == 1

    # Criteria in both places are refused, not guessed between.
    with pytest.raises(OperationOutcome) as both:
        conditional.resources("Patient").search(identifier=f"{MRN}|2003").get_or_create(conditional.resource("Patient"))
    assert "If-None-Exist" in str(both.value)

    # Two matches: 412.
    fhir.resource("Patient", **_patient("Li", "Lei", "male", "1990-01-01", "2004")).save()
    fhir.resource("Patient", **_patient("Li", "Lei", "male", "1990-01-01", "2004")).save()
    with pytest.raises(MultipleResourcesFound):
        fhir.resources("Patient").search(identifier=f"{MRN}|2004").get_or_create(
            fhir.resource("Patient", gender="male")
        )
    assert len(fhir.resources("Patient").search(identifier=f"{MRN}|2004").fetch_all()) == 2


# -- search -------------------------------------------------------------------------------------------------------


@pytest.fixture
def clinic(fhir: SyncFHIRClient) -> dict[str, Any]:
    """Three patients and their observations, written through fhirpy."""
    wang = fhir.resource("Patient", **_patient("Wang", "Fang", "female", "1980-02-03", "3001"))
    li = fhir.resource("Patient", **_patient("Li", "Na", "female", "1992-07-01", "3002"))
    zhang = fhir.resource("Patient", **_patient("Zhang", "Wei", "male", "1975-11-30", "3003"))
    for patient in (wang, li, zhang):
        patient.save()

    def observation(patient: Any, code: str, when: str, value: float) -> Any:
        obs = fhir.resource(
            "Observation",
            status="final",
            code={"coding": [{"system": LOINC, "code": code}]},
            subject=patient.to_reference(),
            effectiveDateTime=when,
            valueQuantity={"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
        )
        obs.save()
        return obs

    observations = {
        "wang-march": observation(wang, "2345-7", "2024-03-01T08:00:00+08:00", 5.4),
        "wang-may": observation(wang, "2345-7", "2024-05-01T08:00:00+08:00", 6.1),
        "li-april": observation(li, "4548-4", "2024-04-01T09:30:00+08:00", 7.2),
    }
    return {"wang": wang, "li": li, "zhang": zhang, **observations}


def test_search_parameters(hub_url: str, token: str, fhir: SyncFHIRClient, clinic: dict[str, Any]) -> None:
    wang, li, zhang = clinic["wang"].id, clinic["li"].id, clinic["zhang"].id
    patients = fhir.resources("Patient")
    observations = fhir.resources("Observation")
    # token
    assert _ids(patients.search(gender="female").fetch_all()) == {wang, li}
    assert _ids(patients.search(gender="male,female").fetch_all()) == {wang, li, zhang}
    assert _ids(patients.search(gender__not="female").fetch_all()) == {zhang}
    assert _ids(patients.search(identifier=f"{MRN}|3002").fetch_all()) == {li}
    assert _ids(observations.search(code=f"{LOINC}|2345-7").fetch_all()) == {
        clinic["wang-march"].id,
        clinic["wang-may"].id,
    }
    assert _ids(patients.search(_id=f"{wang},{zhang}").fetch_all()) == {wang, zhang}
    # string: starts with, case and accents ignored; :exact; :contains
    assert _ids(patients.search(name="wan").fetch_all()) == {wang}
    assert _ids(patients.search(family__exact="Wang").fetch_all()) == {wang}
    assert patients.search(family__exact="wang").fetch_all() == []
    assert _ids(patients.search(name__contains="an").fetch_all()) == {wang, zhang}
    # date prefixes
    assert _ids(patients.search(birthdate__ge="1980").fetch_all()) == {wang, li}
    assert _ids(patients.search(birthdate__lt="1980-02-03").fetch_all()) == {zhang}
    assert _ids(patients.search(birthdate="1980-02").fetch_all()) == {wang}
    assert _ids(patients.search(birthdate__ge="1976", birthdate__le="1990").fetch_all()) == {wang}
    assert _ids(observations.search(date__gt="2024-03-31").fetch_all()) == {
        clinic["wang-may"].id,
        clinic["li-april"].id,
    }
    assert _ids(observations.search(date__le="2024-03-01").fetch_all()) == {clinic["wang-march"].id}
    # reference (a fhirpy resource is sent as its reference), patient, chain
    assert _ids(observations.search(subject=clinic["wang"]).fetch_all()) == {
        clinic["wang-march"].id,
        clinic["wang-may"].id,
    }
    assert _ids(observations.search(patient=li).fetch_all()) == {clinic["li-april"].id}
    assert _ids(observations.search(subject__Patient__name="li").fetch_all()) == {clinic["li-april"].id}
    assert _ids(observations.search(subject__Patient__birthdate__lt="1985", date__ge="2024-04").fetch_all()) == {
        clinic["wang-may"].id
    }
    assert observations.search(subject__Patient__gender="male").fetch_all() == []
    # quantity
    assert _ids(observations.search(value_quantity__gt="6").fetch_all()) == {
        clinic["wang-may"].id,
        clinic["li-april"].id,
    }
    # _sort
    assert [p.id for p in patients.sort("birthdate").fetch_all()] == [zhang, wang, li]
    assert [p.id for p in patients.sort("-birthdate").fetch_all()] == [li, wang, zhang]
    assert [o.id for o in observations.search(patient=wang).sort("-date").fetch_all()] == [
        clinic["wang-may"].id,
        clinic["wang-march"].id,
    ]
    # first() and get() (fhirpy's _count=1 / _count=2)
    assert patients.sort("-birthdate").first().id == li
    assert patients.search(identifier=f"{MRN}|3003").get().id == zhang
    with pytest.raises(MultipleResourcesFound):
        patients.search(gender="female").get()
    # count(): fhirpy adds its server's _totalMethod, which a lenient search ignores
    lenient = _client(hub_url, token, Prefer="handling=lenient").resources("Patient")
    assert lenient.search(gender="female").count() == 2
    # an unknown parameter is refused (strict handling), not ignored
    with pytest.raises(OperationOutcome) as refused:
        patients.search(shoe_size="42").fetch()
    assert "shoe-size" in str(refused.value)


def test_paging_through_every_page(fhir: SyncFHIRClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    **_patient("Page", f"N{n}", "female", f"19{50 + n}-01-01", f"P{n}"),
                },
                "request": {"method": "POST", "url": "Patient"},
            }
            for n in range(23)
        ],
    }
    fhir.execute("/", method="post", data=bundle)
    search = fhir.resources("Patient").search(family="page").sort("birthdate").limit(5)

    everything = search.fetch_all()  # fhirpy follows the next links to the end
    assert len(everything) == 23 and len(_ids(everything)) == 23
    assert [p["birthDate"] for p in everything] == sorted(p["birthDate"] for p in everything)

    # The same walk by hand, counting pages; a patient inserted before the current page meanwhile does not shift it.
    page = search.fetch_raw()
    sizes, seen = [], []
    while True:
        sizes.append(len(page.get("entry", [])))
        seen.extend(e["resource"]["id"] for e in page.get("entry", []))
        if len(sizes) == 2:
            fhir.resource("Patient", **_patient("Page", "Early", "male", "1900-01-01", "P-early")).save()
        relations = {link["relation"]: link["url"] for link in page["link"]}
        assert relations["self"].startswith(fhir.url) and "first" in relations
        if "next" not in relations:
            break
        page = fhir.execute(relations["next"], method="get")
    assert sizes == [5, 5, 5, 5, 3]
    assert len(seen) == 23 and set(seen) == _ids(everything)
    assert len(search.fetch_all()) == 24  # a new walk sees it, first


def test_include_and_revinclude(fhir: SyncFHIRClient, clinic: dict[str, Any]) -> None:
    search = fhir.resources("Observation").search(code=f"{LOINC}|2345-7").include("Observation", "subject")
    bundle = search.fetch_raw()
    modes = {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"] for e in bundle["entry"]}
    assert modes == {
        ("Observation", clinic["wang-march"].id): "match",
        ("Observation", clinic["wang-may"].id): "match",
        ("Patient", clinic["wang"].id): "include",
    }
    assert _ids(search.fetch()) == {clinic["wang-march"].id, clinic["wang-may"].id}  # fhirpy keeps the matches

    reverse = fhir.resources("Patient").search(_id=clinic["li"].id).revinclude("Observation", "subject").fetch_raw()
    assert [(e["resource"]["resourceType"], e["search"]["mode"]) for e in reverse["entry"]] == [
        ("Patient", "match"),
        ("Observation", "include"),
    ]


# -- transaction and batch ----------------------------------------------------------------------------------------


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_transaction_is_all_or_nothing(fhir: SyncFHIRClient) -> None:
    existing = fhir.resource("Patient", **_patient("Zhao", "Lei", "male", "1970-01-01", "4001"))
    existing.save()
    patient_url = "urn:uuid:6c1f0b59-3c52-4d0a-9b1e-3a5f2d1e9c01"
    ok = fhir.execute(
        "/",
        method="post",
        data=_transaction(
            {
                "fullUrl": patient_url,
                "resource": {"resourceType": "Patient", **_patient("Sun", "Li", "female", "1988-08-08", "4002")},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "2345-7"}]},
                    "subject": {"reference": patient_url},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": {**existing.serialize(), "gender": "unknown"},
                "request": {"method": "PUT", "url": f"Patient/{existing.id}", "ifMatch": 'W/"1"'},
            },
            {"request": {"method": "GET", "url": f"Patient?identifier={MRN}|4002"}},
        ),
    )
    assert ok["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in ok["entry"]]
    assert statuses == ["201 Created", "201 Created", "200 OK", "200 OK"]
    new_patient = ok["entry"][0]["response"]["location"].split("/")[1]
    observation = fhir.get("Observation", ok["entry"][1]["response"]["location"].split("/")[1])
    assert observation["subject"]["reference"] == f"Patient/{new_patient}"  # urn:uuid resolved
    assert fhir.get("Patient", existing.id)["meta"]["versionId"] == "2"
    assert ok["entry"][3]["resource"]["total"] == 1  # the GET sees the transaction's own writes

    # A failing entry (an invalid date) rolls every entry back; the outcome names it.
    with pytest.raises(OperationOutcome) as failed:
        fhir.execute(
            "/",
            method="post",
            data=_transaction(
                {
                    "resource": {"resourceType": "Patient", **_patient("Qian", "Yu", "female", "1999-09-09", "4003")},
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": {**fhir.get("Patient", existing.id), "gender": "male"},
                    "request": {"method": "PUT", "url": f"Patient/{existing.id}"},
                },
                {
                    "resource": {"resourceType": "Patient", "birthDate": "not-a-date"},
                    "request": {"method": "POST", "url": "Patient"},
                },
            ),
        )
    assert "Bundle.entry[2]" in str(failed.value)
    assert fhir.resources("Patient").search(identifier=f"{MRN}|4003").fetch() == []
    kept = fhir.get("Patient", existing.id)
    assert kept["gender"] == "unknown" and kept["meta"]["versionId"] == "2"


def test_batch_entries_stand_alone(fhir: SyncFHIRClient) -> None:
    known = fhir.resource("Patient", **_patient("Zhou", "Min", "female", "1985-05-05", "5001"))
    known.save()
    answer = fhir.execute(
        "/",
        method="post",
        data={
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {
                    "resource": {"resourceType": "Patient", **_patient("Wu", "Hao", "male", "1991-01-01", "5002")},
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": {"resourceType": "Patient", "birthDate": "1991-13-01"},
                    "request": {"method": "POST", "url": "Patient"},
                },
                {"request": {"method": "GET", "url": f"Patient/{known.id}"}},
                {"request": {"method": "GET", "url": "Patient/never-stored"}},
                {"request": {"method": "DELETE", "url": f"Patient/{known.id}"}},
            ],
        },
    )
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in answer["entry"]]
    assert statuses[0] == "201" and statuses[2] == "200" and statuses[3] == "404" and statuses[4] in ("200", "204")
    assert statuses[1] in ("400", "422")
    assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert answer["entry"][2]["resource"]["id"] == known.id
    assert len(fhir.resources("Patient").search(identifier=f"{MRN}|5002").fetch()) == 1  # made despite entry 1
    with pytest.raises(ResourceNotFound):
        fhir.get("Patient", known.id)  # deleted by entry 4
