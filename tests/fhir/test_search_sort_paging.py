"""_sort (several keys, descending, missing values last, id as the tie-breaker) and keyset paging: pages followed
by their cursors neither repeat nor skip rows while resources are written and deleted between the fetches."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.errors import InvalidInput
from hub.fhir import store
from hub.fhir.search import SearchResult
from tests.fhir.factories import observation, patient


def ids(result: SearchResult) -> list[str]:
    return [r["id"] for r in result.resources]


def search(session: Session, rtype: str, *params: tuple[str, str], **kw: Any) -> SearchResult:
    return store.search(session, rtype, list(params), **kw)


@pytest.fixture
def people(session: Session) -> Session:
    rows = [
        ("a", "Zhao", "1990-01-01", "male"),
        ("b", "Ahn", "1985-05-05", "female"),
        ("c", "Müller", "1990-01-01", "female"),
        ("d", "Ahn", "2001-07-07", "male"),
        ("e", None, None, None),
    ]
    for pid, family, birth, gender in rows:
        resource: dict[str, Any] = {"resourceType": "Patient", "id": pid}
        if family:
            resource["name"] = [{"family": family}]
        if birth:
            resource["birthDate"] = birth
        if gender:
            resource["gender"] = gender
        store.put(session, resource)
    session.commit()
    return session


def test_sort_by_one_key_both_ways_with_missing_values_last(people: Session) -> None:
    assert ids(search(people, "Patient", ("_sort", "birthdate"))) == ["b", "a", "c", "d", "e"]
    assert ids(search(people, "Patient", ("_sort", "-birthdate"))) == ["d", "a", "c", "b", "e"]
    assert ids(search(people, "Patient", ("_sort", "family"))) == ["b", "d", "c", "a", "e"]
    assert ids(search(people, "Patient", ("_sort", "-family"))) == ["a", "c", "b", "d", "e"]
    assert ids(search(people, "Patient", ("_sort", "-_id"))) == ["e", "d", "c", "b", "a"]


def test_sort_by_several_keys(people: Session) -> None:
    assert ids(search(people, "Patient", ("_sort", "family,-birthdate"))) == ["d", "b", "c", "a", "e"]
    assert ids(search(people, "Patient", ("_sort", "-birthdate,family"))) == ["d", "c", "a", "b", "e"]
    # Repeated _sort parameters add keys in order.
    assert ids(search(people, "Patient", ("_sort", "gender"), ("_sort", "-_id"))) == ["c", "b", "d", "a", "e"]
    result = search(people, "Patient", ("_sort", "gender"), ("_sort", "-_id"), ("gender", "male"))
    assert result.params == [("gender", "male"), ("_sort", "gender,-_id")]


def test_sort_by_last_updated_and_quantity(session: Session) -> None:
    for n, value in enumerate([5.5, 1.25, 9, 3]):
        obs = observation(f"o{n}")
        obs["valueQuantity"]["value"] = value
        store.put(session, obs)
        session.commit()
    assert ids(search(session, "Observation", ("_sort", "-_lastUpdated"))) == ["o3", "o2", "o1", "o0"]
    assert ids(search(session, "Observation", ("_sort", "value-quantity"))) == ["o1", "o3", "o0", "o2"]
    result = search(session, "Observation", ("_sort", "-value-quantity"), count=2)
    assert ids(result) == ["o2", "o0"]
    assert ids(search(session, "Observation", ("_sort", "-value-quantity"), ("_cursor", result.next_cursor))) == [
        "o3",
        "o1",
    ]


@pytest.mark.parametrize(
    "value",
    ["", "-", "nope", "organization", "birthdate,birthdate", "a,b,c,d,e,f"],
)
def test_bad_sorts_are_refused(people: Session, value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        search(people, "Patient", ("_sort", value))
    assert info.value.expression == "_sort"


def test_lenient_sort_ignores_what_it_cannot_sort_by(people: Session) -> None:
    result = search(people, "Patient", ("_sort", "organization"), ("gender", "male"), strict=False)
    assert ids(result) == ["a", "d"] and result.ignored == ["_sort"] and result.params == [("gender", "male")]


def _walk(session: Session, params: list[tuple[str, str]], count: int, between: Any = None) -> list[list[str]]:
    """Every page, following next cursors; ``between(n)`` runs after page n is read."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        extra = [("_cursor", cursor)] if cursor else []
        result = store.search(session, "Observation", params + extra, count=count)
        pages.append(ids(result))
        if between is not None:
            between(len(pages))
        if result.next_cursor is None:
            return pages
        cursor = result.next_cursor
        assert len(pages) < 50


@pytest.mark.parametrize(
    ("sort", "new_found"),
    [
        ([], {"o99"}),  # by id: o99 sorts after the first page, o00a before it
        ([("_sort", "date")], {"o99"}),
        ([("_sort", "-date,code")], {"o00a"}),
        ([("_sort", "-_lastUpdated")], set()),  # both are the newest: before the reading position
    ],
)
def test_pages_neither_repeat_nor_skip_while_rows_come_and_go(session: Session, sort, new_found) -> None:
    for n in range(10):
        store.put(session, observation(f"o{n:02d}", when=f"2024-03-{n + 1:02d}T10:00:00+08:00"))
    session.commit()
    expected = [r for page in _walk(session, sort, 3) for r in page]
    assert sorted(expected) == [f"o{n:02d}" for n in range(10)]

    def churn(page: int) -> None:
        # After the first page: a new resource ahead of the reading position (it must show up exactly once,
        # or not at all when it sorts before the position), and one already read is deleted.
        if page == 1:
            store.put(session, observation("o99", when="2024-03-31T10:00:00+08:00"))
            store.put(session, observation("o00a", when="2023-01-01T10:00:00+08:00"))
            store.delete(session, "Observation", expected[0])
            session.commit()

    seen = [r for page in _walk(session, sort, 3, churn) for r in page]
    assert len(seen) == len(set(seen)), seen  # nothing twice
    assert set(expected) <= set(seen)  # nothing that stayed was skipped
    assert set(seen) - set(expected) == new_found  # a row written ahead of the reading position is found


def test_previous_and_last_cursors(session: Session) -> None:
    for n in range(7):
        store.put(session, observation(f"o{n}", when=f"2024-03-0{n + 1}"))
    session.commit()
    first = search(session, "Observation", ("_sort", "-date"), count=3)
    assert ids(first) == ["o6", "o5", "o4"] and first.previous_cursor is None and first.cursor is None
    assert first.total == 7
    second = search(session, "Observation", ("_sort", "-date"), ("_cursor", first.next_cursor), count=3)
    assert ids(second) == ["o3", "o2", "o1"] and second.total == 7
    back = search(session, "Observation", ("_sort", "-date"), ("_cursor", second.previous_cursor), count=3)
    assert ids(back) == ["o6", "o5", "o4"] and back.previous_cursor is None
    last = search(session, "Observation", ("_sort", "-date"), ("_cursor", first.last_cursor), count=3)
    assert ids(last) == ["o2", "o1", "o0"] and last.next_cursor is None
    before_last = search(session, "Observation", ("_sort", "-date"), ("_cursor", last.previous_cursor), count=3)
    assert ids(before_last) == ["o5", "o4", "o3"]
    third = search(session, "Observation", ("_sort", "-date"), ("_cursor", second.next_cursor), count=3)
    assert ids(third) == ["o0"] and third.next_cursor is None and third.previous_cursor is not None
    # Deleting what follows the cursor leaves an empty page whose previous page is the last one.
    store.delete(session, "Observation", "o0")
    session.commit()
    empty = search(session, "Observation", ("_sort", "-date"), ("_cursor", second.next_cursor), count=3)
    assert ids(empty) == [] and empty.next_cursor is None
    again = search(session, "Observation", ("_sort", "-date"), ("_cursor", empty.previous_cursor), count=3)
    assert ids(again) == ["o3", "o2", "o1"]


def test_cursors_belong_to_their_sort_and_cannot_be_forged(session: Session) -> None:
    for n in range(4):
        store.put(session, observation(f"o{n}"))
    session.commit()
    page = search(session, "Observation", ("_sort", "date"), count=2)
    assert page.next_cursor
    for params in (
        [("_sort", "-date"), ("_cursor", page.next_cursor)],
        [("_cursor", page.next_cursor)],
        [("_sort", "date"), ("_cursor", "not-a-cursor")],
        [("_sort", "date"), ("_cursor", "eyJzIjoiZGF0ZSIsImQiOiJhIiwiayI6WyJ4Il0sImkiOiJvMSJ9")],  # "k": ["x"]
        [("_sort", "date"), ("_cursor", "x" * 5000)],
        [("_cursor", page.next_cursor), ("_cursor", page.next_cursor)],
    ):
        with pytest.raises(InvalidInput) as info:
            store.search(session, "Observation", params, count=2)
        assert info.value.expression == "_cursor", params


def test_offset_paging_still_works_and_links_continue_by_cursor(session: Session) -> None:
    for n in range(5):
        store.put(session, patient(f"p{n}"))
    session.commit()
    page = search(session, "Patient", count=2, offset=2)
    assert ids(page) == ["p2", "p3"] and page.total == 5
    assert ids(search(session, "Patient", ("_cursor", page.next_cursor), count=2)) == ["p4"]
    assert ids(search(session, "Patient", ("_cursor", page.previous_cursor), count=2)) == ["p0", "p1"]


def test_total_none_and_summary_count(session: Session) -> None:
    for n in range(4):
        store.put(session, patient(f"p{n}"))
    session.commit()
    result = search(session, "Patient", ("_total", "none"), count=2)
    assert result.total is None and ids(result) == ["p0", "p1"] and ("_total", "none") in result.params
    counted = search(session, "Patient", ("_summary", "count"))
    assert counted.total == 4 and counted.resources == [] and counted.next_cursor is None
    assert search(session, "Patient", ("_total", "accurate"), count=2).total == 4
    assert search(session, "Patient", ("_total", "estimate"), count=2).total == 4
    with pytest.raises(InvalidInput):
        search(session, "Patient", ("_total", "sometimes"))
