"""Search through the index: token, string, date (prefixes, partial dates, periods), reference (and chains),
quantity, _id, _lastUpdated, modifiers, AND/OR, paging, and the errors for what is not supported."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.errors import InvalidInput, NotFound
from hub.fhir import store
from tests.fhir.factories import observation, patient


def ids(session: Session, rtype: str, *params: tuple[str, str], **kw: Any) -> list[str]:
    return [r["id"] for r in store.search(session, rtype, list(params), **kw).resources]


@pytest.fixture
def people(session: Session) -> Session:
    store.put(
        session,
        patient(
            "p1",
            name=[{"family": "Müller", "given": ["Zoë", "Anna"]}],
            identifier=[
                {"system": "urn:hub:mrn:h1", "value": "100"},
                {"value": "no-system"},
                {"system": "urn:hub:mrn:h1", "value": "a,b|c"},
            ],
            telecom=[{"system": "phone", "value": "13900000001"}, {"system": "email", "value": "z@example.org"}],
            address=[{"line": ["1 Shennan Road"], "city": "Shenzhen", "postalCode": "518000"}],
            birthDate="1990-03-07",
        ),
    )
    store.put(
        session,
        patient(
            "p2",
            name=[{"family": "张", "given": ["三"], "text": "张三"}],
            identifier=[{"system": "urn:hub:mrn:h2", "value": "100"}],
            gender="female",
            birthDate="1985-11",
        ),
    )
    store.put(session, patient("p3", name=[{"family": "Muller"}], birthDate="2001", gender="other"))
    store.put(session, {"resourceType": "Patient", "id": "p4"})
    session.commit()
    return session


def test_token_forms(people: Session) -> None:
    assert ids(people, "Patient", ("identifier", "urn:hub:mrn:h1|100")) == ["p1"]
    assert ids(people, "Patient", ("identifier", "100")) == ["p1", "p2"]
    assert ids(people, "Patient", ("identifier", "|no-system")) == ["p1"]
    assert ids(people, "Patient", ("identifier", "|100")) == []
    assert ids(people, "Patient", ("identifier", "urn:hub:mrn:h2|")) == ["p2"]
    assert ids(people, "Patient", ("identifier", r"urn:hub:mrn:h1|a\,b\|c")) == ["p1"]
    assert ids(people, "Patient", ("gender", "female")) == ["p2"]
    assert ids(people, "Patient", ("gender", "http://hl7.org/fhir/administrative-gender|female")) == ["p2"]
    assert ids(people, "Patient", ("gender", "male,other")) == ["p1", "p3"]
    assert ids(people, "Patient", ("gender:not", "male")) == ["p2", "p3", "p4"]
    assert ids(people, "Patient", ("gender:missing", "true")) == ["p4"]
    assert ids(people, "Patient", ("gender:missing", "false")) == ["p1", "p2", "p3"]
    assert ids(people, "Patient", ("phone", "13900000001")) == ["p1"]
    assert ids(people, "Patient", ("telecom", "email|z@example.org")) == ["p1"]
    assert ids(people, "Patient", ("email", "13900000001")) == []


def test_string_matching(people: Session) -> None:
    # Starts-with, case and accents ignored.
    assert ids(people, "Patient", ("name", "mul")) == ["p1", "p3"]
    assert ids(people, "Patient", ("family", "MÜLLER")) == ["p1", "p3"]
    assert ids(people, "Patient", ("given", "zoe")) == ["p1"]
    assert ids(people, "Patient", ("name", "anna")) == ["p1"]
    assert ids(people, "Patient", ("name", "ller")) == []
    assert ids(people, "Patient", ("name:contains", "ller")) == ["p1", "p3"]
    assert ids(people, "Patient", ("name:exact", "Müller")) == ["p1"]
    assert ids(people, "Patient", ("name:exact", "müller")) == []
    assert ids(people, "Patient", ("name", "张")) == ["p2"]
    assert ids(people, "Patient", ("name", "张三")) == ["p2"]
    assert ids(people, "Patient", ("address", "shenz")) == ["p1"]  # the city
    assert ids(people, "Patient", ("address", "1 shennan")) == ["p1"]  # the line
    assert ids(people, "Patient", ("address", "shenn")) == []  # a value starts with the text asked for
    assert ids(people, "Patient", ("address-city", "shenzhen")) == ["p1"]
    assert ids(people, "Patient", ("address-postalcode", "518")) == ["p1"]
    # LIKE wildcards are plain characters.
    assert ids(people, "Patient", ("name:contains", "%")) == []
    assert ids(people, "Patient", ("name", "_")) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-03-07", ["p1"]),
        ("1990-03", ["p1"]),
        ("1990", ["p1"]),
        ("eq1990-03-08", []),
        ("1985-11-15", []),  # a month is not within a day
        ("1985-11", ["p2"]),
        ("1985", ["p2"]),
        ("ne1990-03-07", ["p2", "p3"]),
        ("lt1990-03-07", ["p2"]),
        ("le1990-03-07", ["p1", "p2"]),
        ("gt1990-03-07", ["p3"]),
        ("ge1990-03-07", ["p1", "p3"]),
        ("ge1990", ["p1", "p3"]),
        ("gt1990", ["p3"]),
        ("sa1985-11-30", ["p1", "p3"]),
        ("eb2001-01-01", ["p1", "p2"]),
        ("eb2001-06", ["p1", "p2"]),  # 2001 as a whole does not end before June
        ("lt2001-06", ["p1", "p2", "p3"]),  # but it starts before
        ("2001-06", []),
        ("ap1990-03-07", ["p1"]),
    ],
)
def test_date_prefixes_on_partial_dates(people: Session, value: str, expected: list[str]) -> None:
    assert ids(people, "Patient", ("birthdate", value)) == expected


def test_dates_with_time_zones_and_periods(session: Session) -> None:
    # 10:00 in Shanghai is 02:00 UTC: the same local day, whichever way the date is asked for.
    store.put(session, observation("o1", when="2024-03-01T10:00:00+08:00"))
    store.put(session, observation("o2", when="2024-03-01T23:30:00Z"))  # 2024-03-02 07:30 in Shanghai
    store.put(session, observation("o3", when="2024-03-03T00:00:00.5+08:00"))
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-02-28T09:00:00+08:00", "end": "2024-03-02T12:00:00+08:00"},
    }
    store.put(session, encounter)
    store.put(session, dict(encounter, id="e2", period={"start": "2024-03-05"}))  # still in hospital
    session.commit()
    assert ids(session, "Observation", ("date", "2024-03-01")) == ["o1"]
    assert ids(session, "Observation", ("date", "2024-03-02")) == ["o2"]
    assert ids(session, "Observation", ("date", "2024-03-01T23:30:00Z")) == ["o2"]
    assert ids(session, "Observation", ("date", "2024-03-01T02:00:00Z")) == ["o1"]
    assert ids(session, "Observation", ("date", "2024-03-01T10:00+08:00")) == ["o1"]
    assert ids(session, "Observation", ("date", "ge2024-03-02")) == ["o2", "o3"]
    assert ids(session, "Observation", ("date", "ge2024-03-01"), ("date", "lt2024-03-03")) == ["o1", "o2"]
    assert ids(session, "Observation", ("date", "2024-03-03T00:00:00.5+08:00")) == ["o3"]
    assert ids(session, "Observation", ("date", "2024-03-03T00:00:00+08:00")) == ["o3"]  # that second holds .5 s
    assert ids(session, "Observation", ("date", "2024-03-03T00:00:00.4+08:00")) == []
    assert ids(session, "Observation", ("date", "2024-03")) == ["o1", "o2", "o3"]
    # Periods: within, overlapping, open-ended.
    assert ids(session, "Encounter", ("date", "2024-03")) == []  # e1 begins in February, e2 never ends
    assert ids(session, "Encounter", ("date", "2024")) == ["e1"]
    assert ids(session, "Encounter", ("date", "ge2024-03-01")) == ["e1", "e2"]
    assert ids(session, "Encounter", ("date", "lt2024-03-01")) == ["e1"]
    assert ids(session, "Encounter", ("date", "gt2030-01-01")) == ["e2"]
    assert ids(session, "Encounter", ("date", "sa2024-03-02")) == ["e2"]
    assert ids(session, "Encounter", ("date", "eb2024-03-05")) == ["e1"]


def test_references_and_chains(people: Session) -> None:
    store.put(people, observation("o1", pid="p1"))
    store.put(people, observation("o2", pid="p2", code="2345-7"))
    store.put(people, observation("o3", pid="p2", subject={"reference": "Group/g1"}))
    store.put(people, observation("o4", subject={"reference": "http://other.example/fhir/Patient/p1/_history/3"}))
    people.commit()
    assert ids(people, "Observation", ("patient", "p1")) == ["o1", "o4"]
    assert ids(people, "Observation", ("patient", "Patient/p1")) == ["o1", "o4"]
    assert ids(people, "Observation", ("patient", "http://127.0.0.1:8000/fhir/Patient/p1")) == ["o1", "o4"]
    assert ids(people, "Observation", ("patient", "Patient/p1,Patient/p2")) == ["o1", "o2", "o4"]
    assert ids(people, "Observation", ("subject", "Group/g1")) == ["o3"]
    assert ids(people, "Observation", ("subject", "g1")) == ["o3"]
    assert ids(people, "Observation", ("subject:Patient", "p2")) == ["o2"]
    assert ids(people, "Observation", ("patient", "g1")) == []
    # Chains: the patient's identifier, name.
    assert ids(people, "Observation", ("subject:Patient.identifier", "urn:hub:mrn:h2|100")) == ["o2"]
    assert ids(people, "Observation", ("patient.identifier", "100")) == ["o1", "o2", "o4"]
    assert ids(people, "Observation", ("patient.name", "zhang,张")) == ["o2"]
    assert ids(people, "Observation", ("patient.gender:not", "female")) == ["o1", "o4"]
    assert ids(people, "Observation", ("patient.identifier", "100"), ("code", "2345-7")) == ["o2"]
    # A deleted patient no longer matches through a chain.
    store.delete(people, "Patient", "p2")
    people.commit()
    assert ids(people, "Observation", ("patient.identifier", "urn:hub:mrn:h2|100")) == []


def test_quantity_token_and_multiple_parameters(session: Session) -> None:
    store.put(session, observation("o1"))  # 13.5 g/dL, final, 718-7
    store.put(session, observation("o2", valueQuantity={"value": 140, "unit": "mmol/L"}, status="preliminary"))
    store.put(session, observation("o3", code="2345-7", valueQuantity={"value": 13.46, "code": "g/dL"}))
    session.commit()
    assert ids(session, "Observation", ("value-quantity", "13.5")) == ["o1", "o3"]  # 13.45 ≤ v < 13.55
    assert ids(session, "Observation", ("value-quantity", "13.50")) == ["o1"]
    assert ids(session, "Observation", ("value-quantity", "gt13.5")) == ["o2"]
    assert ids(session, "Observation", ("value-quantity", "le13.5")) == ["o1", "o3"]
    assert ids(session, "Observation", ("value-quantity", "140||mmol/L")) == ["o2"]
    assert ids(session, "Observation", ("value-quantity", "13.5|http://unitsofmeasure.org|g/dL")) == ["o1"]
    assert ids(session, "Observation", ("value-quantity", "ap130")) == ["o2"]
    assert ids(session, "Observation", ("code", "http://loinc.org|718-7"), ("status", "final")) == ["o1"]
    assert ids(session, "Observation", ("code", "718-7"), ("status", "preliminary")) == ["o2"]
    assert ids(session, "Observation", ("code", "718-7,2345-7"), ("status:not", "preliminary")) == ["o1", "o3"]
    assert ids(session, "Observation", ("_id", "o1,o3")) == ["o1", "o3"]
    assert ids(session, "Observation", ("_id:not", "o1")) == ["o2", "o3"]


def test_last_updated_tag_and_paging(session: Session) -> None:
    for n in range(7):
        store.put(session, patient(f"p{n}", meta={"tag": [{"system": "urn:hub:producer", "code": f"h{n % 2}"}]}))
    session.commit()
    stamp = store.read(session, "Patient", "p3")["meta"]["lastUpdated"]
    assert ids(session, "Patient", ("_lastUpdated", f"eq{stamp}")) == ["p3"]
    assert ids(session, "Patient", ("_lastUpdated", f"gt{stamp}")) == ["p4", "p5", "p6"]
    assert ids(session, "Patient", ("_lastUpdated", f"le{stamp}")) == ["p0", "p1", "p2", "p3"]
    assert ids(session, "Patient", ("_lastUpdated", f"lt{stamp}")) == ["p0", "p1", "p2"]
    assert len(ids(session, "Patient", ("_lastUpdated", f"ge{stamp[:10]}"))) == 7
    assert ids(session, "Patient", ("_lastUpdated", "lt2000")) == []
    assert ids(session, "Patient", ("_tag", "urn:hub:producer|h1")) == ["p1", "p3", "p5"]

    page = store.search(session, "Patient", [], count=3)
    assert (page.total, [r["id"] for r in page.resources]) == (7, ["p0", "p1", "p2"])
    page = store.search(session, "Patient", [], count=3, offset=6)
    assert (page.total, [r["id"] for r in page.resources]) == (7, ["p6"])
    page = store.search(session, "Patient", [], count=3, offset=9)
    assert (page.total, page.resources) == (7, [])
    page = store.search(session, "Patient", [("_tag", "urn:hub:producer|h0")], count=0)
    assert (page.total, page.resources) == (4, [])


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ([("nope", "1")], "nope"),
        ([("name:nope", "x")], "name:nope"),
        ([("name:not", "x")], "name:not"),
        ([("birthdate", "1990-13-01")], "birthdate"),
        ([("birthdate", "yesterday")], "birthdate"),
        ([("birthdate", "")], "birthdate"),
        ([("gender", "a,,b")], "gender"),
        ([("gender:missing", "maybe")], "gender:missing"),
        ([("identifier", "a|b|c")], "identifier"),
        ([("name", " ")], "name"),
        ([("gender.name", "x")], "gender.name"),
        ([("organization.nope", "x")], "organization.nope"),
        ([("general-practitioner.name", "x")], "general-practitioner.name"),
        ([("_id:missing", "true")], "_id:missing"),
        ([("_sort", "organization")], "_sort"),
        ([("_include", "Observation:patient")], "_include"),
    ],
)
def test_invalid_searches_are_refused(session: Session, params, expression) -> None:
    with pytest.raises(InvalidInput) as info:
        store.search(session, "Patient", params)
    assert info.value.expression == expression


def test_invalid_reference_and_quantity_values(session: Session) -> None:
    for params in (
        [("patient", "Group/g1")],
        [("patient:Group", "g1")],
        [("value-quantity", "abc")],
        [("value-quantity", "1|x")],
        [("value-quantity", "NaN")],
    ):
        with pytest.raises(InvalidInput):
            store.search(session, "Observation", params)
    with pytest.raises(NotFound):
        store.search(session, "Nope", [])


def test_lenient_handling_ignores_unknown_parameters(people: Session) -> None:
    result = store.search(people, "Patient", [("nope", "1"), ("gender", "female")], strict=False)
    assert [r["id"] for r in result.resources] == ["p2"]
    assert result.params == [("gender", "female")]
    assert result.ignored == ["nope"]
