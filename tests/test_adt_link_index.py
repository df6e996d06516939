"""ADT^A24 (link patient information) and ADT^A37 (unlink) reach the master patient index, as A40 merges do:
through the real pipeline (inbox row → convert_message → store → index), on SQLite and on PostgreSQL
(HUB_TEST_DATABASE_URL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.identity import linking, records
from hub.identity.tables import MpiReview, MpiSource
from tests.test_adt_event_semantics import all_ids
from tests.test_conversion_semantics import convert, message, mpi, msh, read

__all__ = ["mpi"]  # the fixture, used by the tests below


def person(mrn: str, name: str, birth: str, sex: str) -> str:
    return f"PID|1||{mrn}^^^SZRMYY^MR||{name}||{birth}|{sex}"


# Three records of one hospital that no automatic rule would put together (different names, birth dates, sexes,
# no resident ID number): only the hospital's A24 says who is who.
ONE = person("MRN1001", "张三", "19800101", "M")
TWO = person("MRN1002", "李梅", "19750505", "F")
THREE = person("MRN1003", "王五", "19900909", "M")


def registered(session: Any, settings: Any, pid: str, control: str) -> str:
    a28 = message(msh("A28", control, "ADT_A05"), "EVN|A28", pid, "PV1|1|N")
    convert(session, settings, a28)
    return all_ids(settings, a28, "Patient")[0]


def masters(session: Any, *ids: str) -> list[str | None]:
    return [linking.master_of(session, pid) for pid in ids]


def test_a24_puts_two_records_under_one_master_and_a37_separates_only_that_pair(mpi, settings):
    one, two, three = (registered(mpi, settings, pid, f"R{i}") for i, pid in enumerate((ONE, TWO, THREE)))
    assert len(set(masters(mpi, one, two, three))) == 3, "three people until the hospital says otherwise"

    convert(mpi, settings, message(msh("A24", "L1", "ADT_A24"), "EVN|A24", ONE, TWO))
    convert(mpi, settings, message(msh("A24", "L2", "ADT_A24"), "EVN|A24", ONE, THREE))
    first, second, third = masters(mpi, one, two, three)
    assert first is not None and first == second == third
    master = read(mpi, "Patient", first)
    assert sorted(records.links_of(master, "seealso")) == sorted([one, two, three])
    for pid in (one, two, three):
        assert records.links_of(read(mpi, "Patient", pid), "refer") == [first]

    # The same A24 again changes nothing.
    convert(mpi, settings, message(msh("A24", "L3", "ADT_A24"), "EVN|A24", ONE, TWO))
    assert masters(mpi, one, two, three) == [first, first, first]

    convert(mpi, settings, message(msh("A37", "U1", "ADT_A37"), "EVN|A37", ONE, TWO))
    after = masters(mpi, one, two, three)
    assert after[0] == after[2] == first, "the first record stays with the person's other records"
    assert after[1] not in (None, first), "the unlinked record has a master of its own"
    assert records.links_of(read(mpi, "Patient", two), "refer") == [after[1]]
    assert mpi.get(MpiSource, two).basis == "operator"  # placed by the hospital's decision, not by a rule
    assert sorted(records.links_of(read(mpi, "Patient", first), "seealso")) == sorted([one, three])
    distinct = mpi.scalars(select(MpiReview).where(MpiReview.status == "distinct")).all()
    assert {frozenset((r.patient_a, r.patient_b)) for r in distinct} == {frozenset((one, two))}

    # A hospital update of the unlinked record does not put it back; a new A24 does.
    convert(mpi, settings, message(msh("A08", "U2", "ADT_A01"), "EVN|A08", TWO + "|||北京路1号", "PV1|1|N"))
    assert linking.master_of(mpi, two) == after[1]
    convert(mpi, settings, message(msh("A24", "L4", "ADT_A24"), "EVN|A24", TWO, ONE))
    assert masters(mpi, one, two, three) == [linking.master_of(mpi, one)] * 3


def test_a24_of_records_the_hub_has_not_seen_indexes_and_links_them(mpi, settings):
    convert(mpi, settings, message(msh("A24", "N1", "ADT_A24"), "EVN|A24", ONE, TWO))
    ids = all_ids(settings, message(msh("A24", "N1", "ADT_A24"), "EVN|A24", ONE, TWO), "Patient")
    first, second = masters(mpi, *ids)
    assert first is not None and first == second
    assert sorted(records.links_of(read(mpi, "Patient", first), "seealso")) == sorted(ids)


def test_a37_of_records_under_different_masters_only_records_the_decision(mpi, settings):
    one, two = (registered(mpi, settings, pid, f"D{i}") for i, pid in enumerate((ONE, TWO)))
    before = masters(mpi, one, two)
    convert(mpi, settings, message(msh("A37", "D3", "ADT_A37"), "EVN|A37", ONE, TWO))
    assert masters(mpi, one, two) == before
    distinct = mpi.scalars(select(MpiReview).where(MpiReview.status == "distinct")).all()
    assert {frozenset((r.patient_a, r.patient_b)) for r in distinct} == {frozenset((one, two))}
