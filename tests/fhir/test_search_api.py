"""Search over HTTP: paging links that keep working while data changes, included entries, subsetted matches,
strict and lenient handling, page sizes from the settings, links on the request's base when none is configured.
Bundles are checked against the R4 JSON schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.fhir import store
from hub.fhir.subsetting import SUBSETTED
from tests.fhir.factories import observation, patient
from tests.fhir.test_fhir_api import local, outcome, valid_r4


@pytest.fixture
def data(session: Session) -> Session:
    store.put(session, patient("p1", managingOrganization={"reference": "Organization/h1"}))
    store.put(session, patient("p2"))
    store.put(session, {"resourceType": "Organization", "id": "h1", "name": "First Hospital"})
    for n in range(7):
        store.put(session, observation(f"o{n}", pid="p1" if n % 2 else "p2", when=f"2024-03-0{n + 1}T10:00:00+08:00"))
    session.commit()
    return session


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def get(client: httpx.Client, url: str, **kw: Any) -> dict[str, Any]:
    response = client.get(url, **kw)
    assert response.status_code == 200, response.text
    bundle = response.json()
    valid_r4(bundle)
    return bundle


def matches(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_pages_by_links_survive_inserts_and_deletes(data: Session, client: httpx.Client) -> None:
    bundle = get(client, "/fhir/Observation", params={"_sort": "-date", "_count": "3"})
    assert matches(bundle) == ["o6", "o5", "o4"] and bundle["total"] == 7
    assert set(links(bundle)) == {"self", "first", "next", "last"}
    # Between the fetches: a newer Observation (sorts before the position: not on later pages) and an older one
    # (after it: found once), and one already read is deleted.
    store.put(data, observation("o-new", when="2024-04-01T10:00:00+08:00"))
    store.put(data, observation("o-old", when="2024-01-01T10:00:00+08:00"))
    store.delete(data, "Observation", "o6")
    data.commit()
    seen = matches(bundle)
    url = local(links(bundle)["next"])
    while url:
        page = get(client, url)
        seen.extend(matches(page))
        assert "previous" in links(page)
        url = local(links(page)["next"]) if "next" in links(page) else ""
    assert seen == ["o6", "o5", "o4", "o3", "o2", "o1", "o0", "o-old"]
    last = get(client, local(links(bundle)["last"]))
    assert matches(last) == ["o1", "o0", "o-old"] and "next" not in links(last)
    back = get(client, local(links(last)["previous"]))
    assert matches(back) == ["o4", "o3", "o2"]


def test_link_parameters(data: Session, app, client: httpx.Client) -> None:
    app.state.settings.fhir_base_url = "http://127.0.0.1:8000/fhir"
    bundle = get(
        client,
        "/fhir/Observation",
        params=[("patient", "p1"), ("_sort", "date"), ("_count", "2"), ("_include", "Observation:patient")],
    )
    query = parse_qsl(urlsplit(links(bundle)["self"]).query)
    assert query == [("patient", "p1"), ("_sort", "date"), ("_include", "Observation:patient"), ("_count", "2")]
    next_query = dict(parse_qsl(urlsplit(links(bundle)["next"]).query))
    assert next_query["_cursor"] and next_query["_sort"] == "date" and next_query["patient"] == "p1"
    assert links(bundle)["self"].startswith("http://127.0.0.1:8000/fhir/Observation?")  # the configured base
    page2 = get(client, local(links(bundle)["next"]))
    assert dict(parse_qsl(urlsplit(links(page2)["self"]).query))["_cursor"] == next_query["_cursor"]


def test_forged_cursor_is_a_400(data: Session, client: httpx.Client) -> None:
    issue = outcome(client.get("/fhir/Observation", params={"_cursor": "bm90IGEgY3Vyc29y"}), 400)
    assert issue["expression"] == ["_cursor"]


def test_included_entries(data: Session, client: httpx.Client) -> None:
    bundle = get(
        client,
        "/fhir/Observation",
        params=[("patient", "p1"), ("_include", "Observation:patient"), ("_include:iterate", "Patient:organization")],
    )
    modes = [(e["search"]["mode"], e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    assert modes == [
        ("match", "Observation", "o1"),
        ("match", "Observation", "o3"),
        ("match", "Observation", "o5"),
        ("include", "Patient", "p1"),
        ("include", "Organization", "h1"),  # included by the second (:iterate) round
    ]
    assert bundle["total"] == 3  # the total counts matches only
    assert bundle["entry"][4]["fullUrl"].endswith("/fhir/Organization/h1")


def test_elements_and_summary(data: Session, client: httpx.Client) -> None:
    bundle = get(client, "/fhir/Observation", params={"_id": "o1", "_elements": "subject"})
    (entry,) = bundle["entry"]
    assert set(entry["resource"]) == {"resourceType", "id", "meta", "status", "code", "subject"}
    assert SUBSETTED in entry["resource"]["meta"]["tag"]
    counted = get(client, "/fhir/Observation", params={"_summary": "count"})
    assert counted["total"] == 7 and "entry" not in counted and set(links(counted)) == {"self"}
    summary = get(client, "/fhir/Patient", params={"_id": "p1", "_summary": "true"})
    assert SUBSETTED in summary["entry"][0]["resource"]["meta"]["tag"]
    untotalled = get(client, "/fhir/Observation", params={"_total": "none", "_count": "2"})
    assert "total" not in untotalled and len(matches(untotalled)) == 2 and "next" in links(untotalled)


def test_strict_and_lenient_handling(data: Session, client: httpx.Client) -> None:
    for params in ({"_sort": "patient"}, {"_include": "Observation:nope"}, {"name:text": "x"}, {"_has": "x"}):
        issue = outcome(client.get("/fhir/Observation", params=params), 400)
        assert issue["expression"] == [next(iter(params))], params
        issue = outcome(client.get("/fhir/Observation", params=params, headers={"Prefer": "handling=strict"}), 400)
    bundle = get(
        client,
        "/fhir/Observation",
        params=[("patient", "p1"), ("_sort", "patient"), ("_include", "Observation:nope"), ("_has", "x")],
        headers={"Prefer": "handling=lenient"},
    )
    assert matches(bundle) == ["o1", "o3", "o5"]
    assert parse_qsl(urlsplit(links(bundle)["self"]).query) == [("patient", "p1"), ("_count", "50")]
    warning = bundle["entry"][-1]
    assert warning["search"]["mode"] == "outcome" and warning["resource"]["issue"][0]["severity"] == "warning"
    assert "_has" in warning["resource"]["issue"][0]["diagnostics"]


def test_page_sizes_come_from_the_settings(data: Session, app, client: httpx.Client) -> None:
    settings: Settings = app.state.settings
    settings.fhir_search_default_count = 2
    settings.fhir_search_max_count = 4
    assert len(matches(get(client, "/fhir/Observation"))) == 2
    capped = get(client, "/fhir/Observation", params={"_count": "1000"})
    assert len(matches(capped)) == 4 and dict(parse_qsl(urlsplit(links(capped)["self"]).query))["_count"] == "4"


def test_links_use_the_request_base_without_a_configured_one(data: Session, app, client: httpx.Client) -> None:
    app.state.settings.fhir_base_url = ""
    bundle = get(client, "/fhir/Observation", params={"_count": "2"})
    base = str(client.base_url).rstrip("/")
    assert links(bundle)["next"].startswith(f"{base}/fhir/Observation?")
    assert bundle["entry"][0]["fullUrl"] == f"{base}/fhir/Observation/o0"
