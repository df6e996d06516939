"""The ADT events beyond admit/transfer/discharge, through the real pipeline (inbox row → convert_message →
store and the master patient index): what the store holds after each sequence. Link and unlink (A24/A37), leave
of absence and its cancels (A21/A22/A52/A53), cancel pre-admit (A38), visit number change and visit merge
(A50/A42), merge of patient and account (A36), change of attending doctor and its cancel (A54/A55), bed status
(A20). Runs on SQLite and on PostgreSQL (HUB_TEST_DATABASE_URL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from hub.conversion import apply_converted
from hub.db.tables import Resource
from hub.hl7 import er7
from hub.identity import linking, records
from hub.identity.tables import MpiMerge, MpiSource
from hub.mapping import get_converter
from hub.mapping.nulls import NULL_EXTENSION_URL
from tests.test_conversion_semantics import convert, message, mpi, msh, pv1, read, rich_pid

__all__ = ["mpi"]  # the fixture, used by the tests below


def all_ids(settings: Any, raw: bytes, rtype: str) -> list[str]:
    """The ids of every resource of that type the message makes, in Bundle order (the ids are deterministic)."""
    bundle = get_converter(settings).convert(er7.parse(raw.decode("utf-8")))
    return [e["request"]["url"].split("/")[1] for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]


def registered(mpi: Any, settings: Any, pid_segment: str) -> tuple[bytes, str]:
    """An A28 (add person information, no visit) of ``pid_segment`` stored: the message and its Patient id."""
    a28 = message(msh("A28", "C1", "ADT_A05"), "EVN|A28", pid_segment, "PV1|1|N")
    convert(mpi, settings, a28)
    return a28, all_ids(settings, a28, "Patient")[0]


def person(mrn: str, name: str = "张三") -> str:
    return f"PID|1||{mrn}^^^SZRMYY^MR||{name}||19800101|M"


def test_a24_links_two_records_and_a37_unlinks_only_that_pair(mpi, settings):
    a28s = [
        message(msh("A28", f"C{i}", "ADT_A05"), "EVN|A28", person(mrn, name), "PV1|1|N")
        for i, (mrn, name) in enumerate((("MRN0001", "张三"), ("MRN0002", "张叁"), ("MRN0003", "章三")))
    ]
    for raw in a28s:
        convert(mpi, settings, raw)
    one, two, three = (all_ids(settings, raw, "Patient")[0] for raw in a28s)
    refer = records.links_of(read(mpi, "Patient", one), "refer")
    assert refer, "the index linked the record to its master"

    convert(mpi, settings, message(msh("A24", "C4", "ADT_A24"), "EVN|A24", person("MRN0001"), person("MRN0002")))
    convert(mpi, settings, message(msh("A24", "C5", "ADT_A24"), "EVN|A24", person("MRN0001"), person("MRN0003")))
    stored = read(mpi, "Patient", one)
    assert records.links_of(stored, "seealso") == [three, two]  # the latest A24's first, then the stored ones
    assert records.links_of(stored, "refer"), "the index's link stays"
    assert records.links_of(read(mpi, "Patient", two), "seealso") == [one]

    convert(mpi, settings, message(msh("A37", "C6", "ADT_A37"), "EVN|A37", person("MRN0001"), person("MRN0002")))
    stored = read(mpi, "Patient", one)
    assert records.links_of(stored, "seealso") == [three]  # the A37 undid the link with MRN0002 only
    assert records.links_of(stored, "refer"), "the index's link stays"
    assert records.links_of(read(mpi, "Patient", two), "seealso") == []
    assert records.links_of(read(mpi, "Patient", three), "seealso") == [one]


def test_leave_of_absence_and_its_cancels(mpi, settings):
    def send(event: str, control: str, structure: str) -> str:
        raw = message(msh(event, control, structure), f"EVN|{event}", rich_pid(), pv1())
        convert(mpi, settings, raw)
        return read(mpi, "Encounter", all_ids(settings, raw, "Encounter")[0])["status"]

    assert send("A01", "C1", "ADT_A01") == "in-progress"
    assert send("A21", "C2", "ADT_A21") == "onleave"
    assert send("A52", "C3", "ADT_A52") == "in-progress"  # the leave did not happen
    assert send("A21", "C4", "ADT_A21") == "onleave"
    assert send("A22", "C5", "ADT_A21") == "in-progress"
    assert send("A53", "C6", "ADT_A52") == "onleave"  # the return did not happen


def test_a38_cancels_the_pre_admission(mpi, settings):
    a05 = message(msh("A05", "C1", "ADT_A05"), "EVN|A05", rich_pid(), pv1(f2="P", f44=""))
    convert(mpi, settings, a05)
    eid = all_ids(settings, a05, "Encounter")[0]
    assert read(mpi, "Encounter", eid)["status"] == "planned"
    convert(mpi, settings, message(msh("A38", "C2", "ADT_A38"), "EVN|A38", rich_pid(), pv1(f2="P", f44="")))
    cancelled = read(mpi, "Encounter", eid)
    assert cancelled["status"] == "cancelled" and cancelled["class"]["code"] == "PRENC"


def test_a50_renumbers_the_visit_and_a42_merges_a_duplicate(mpi, settings):
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f36="01^Home"))
    convert(mpi, settings, a01)
    old = all_ids(settings, a01, "Encounter")[0]
    # A50: visit V0001 is now V0002
    a50 = message(
        msh("A50", "C2", "ADT_A50"),
        "EVN|A50",
        rich_pid(),
        "MRG|MRN0001^^^SZRMYY^MR||||V0001^^^SZRMYY^VN",
        pv1(f19="V0002^^^SZRMYY^VN"),
    )
    convert(mpi, settings, a50)
    new = all_ids(settings, a50, "Encounter")[0]
    assert new != old
    prior = read(mpi, "Encounter", old)
    assert prior["status"] == "entered-in-error"
    # the rest of the prior record stays (its class is not replaced by "unknown")
    assert prior["class"]["code"] == "IMP" and prior["period"]["start"] == "2026-03-15T08:30:00+08:00"
    renumbered = read(mpi, "Encounter", new)
    assert renumbered["status"] == "in-progress"
    assert [(i["value"], i.get("use")) for i in renumbered["identifier"]] == [("V0002", None), ("V0001", "old")]

    # A second visit V0003 turns out to be the same stay: A42 merges it into V0002
    dup = message(msh("A01", "C3", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f19="V0003^^^SZRMYY^VN"))
    convert(mpi, settings, dup)
    a42 = message(
        msh("A42", "C4", "ADT_A39"),
        "EVN|A42",
        rich_pid(),
        "MRG|MRN0001^^^SZRMYY^MR||||V0003^^^SZRMYY^VN",
        pv1(f19="V0002^^^SZRMYY^VN"),
    )
    convert(mpi, settings, a42)
    assert read(mpi, "Encounter", all_ids(settings, dup, "Encounter")[0])["status"] == "entered-in-error"
    merged = read(mpi, "Encounter", new)
    assert merged["status"] == "in-progress"
    assert {(i["value"], i.get("use")) for i in merged["identifier"]} == {
        ("V0002", None),
        ("V0001", "old"),
        ("V0003", "old"),
    }


def test_a36_merges_the_patient_through_the_index_and_closes_the_prior_account(mpi, settings):
    first = message(msh("A04", "C1", "ADT_A01"), "EVN|A04", rich_pid("MRN0001") + "||ACC1^^^SZRMYY^AN", pv1(f2="O"))
    second = message(
        msh("A04", "C2", "ADT_A01"),
        "EVN|A04",
        person("MRN0002") + "||||||||||ACC2^^^SZRMYY^AN",
        pv1(f2="O", f19="V0002^^^SZRMYY^VN"),
    )
    convert(mpi, settings, first)
    convert(mpi, settings, second)
    source, target = all_ids(settings, first, "Patient")[0], all_ids(settings, second, "Patient")[0]
    prior_account, account = all_ids(settings, first, "Account")[0], all_ids(settings, second, "Account")[0]
    assert read(mpi, "Account", prior_account)["status"] == "active"

    a36 = message(
        msh("A36", "C3", "ADT_A30"),
        "EVN|A36",
        person("MRN0002") + "||||||||||ACC2^^^SZRMYY^AN",
        "MRG|MRN0001^^^SZRMYY^MR||ACC1^^^SZRMYY^AN",
    )
    convert(mpi, settings, a36)
    merged = read(mpi, "Patient", source)
    assert merged["active"] is False and records.links_of(merged, "replaced-by") == [target]
    assert records.links_of(read(mpi, "Patient", target), "replaces") == [source]
    row = mpi.get(MpiSource, source)
    assert row is not None and (row.status, row.replaced_by) == ("replaced", target)
    assert linking.master_of(mpi, source) == linking.master_of(mpi, target)
    assert read(mpi, "Account", prior_account)["status"] == "inactive"
    assert read(mpi, "Account", account)["status"] == "active"


def test_a54_changes_the_attending_doctor_and_a55_restores_it(mpi, settings):
    def attending(event: str, control: str, structure: str, doctor: str) -> list[str]:
        raw = message(msh(event, control, structure), f"EVN|{event}", rich_pid(), pv1(f7=doctor))
        convert(mpi, settings, raw)
        encounter = read(mpi, "Encounter", all_ids(settings, raw, "Encounter")[0])
        assert encounter["status"] == "in-progress" and encounter["location"][0]["status"] == "active"
        return [
            p["individual"]["identifier"]["value"]
            for p in encounter["participant"]
            if p["type"][0]["coding"][0]["code"] == "ATND"
        ]

    assert attending("A01", "C1", "ADT_A01", "D001^王^五") == ["D001"]
    assert attending("A54", "C2", "ADT_A54", "D020^赵^六") == ["D020"]
    assert attending("A55", "C3", "ADT_A54", "D001^王^五") == ["D001"]


def test_a20_bed_status_versions_one_location(session, settings):
    def bed(status: str, control: str) -> dict[str, Any]:
        raw = message(msh("A20", control, "ADT_A20"), "EVN|A20", f"NPU|内科^301^2^SZRMYY|{status}")
        convert(session, settings, raw)
        return read(session, "Location", all_ids(settings, raw, "Location")[0])

    assert bed("O", "C1")["operationalStatus"]["code"] == "O"
    location = bed("H", "C2")
    assert location["operationalStatus"]["code"] == "H" and location["meta"]["versionId"] == "2"
    assert bed("U", "C3")["operationalStatus"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0116",
        "code": "U",
        "display": "Unoccupied",
    }


def test_an_a08_repeating_the_a01s_obx_updates_one_observation(session, settings):
    weight = "OBX|1|NM|29463-7^体重^LN||70|kg^kg^UCUM|||||F|||20260315080000"
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1(), weight)
    convert(session, settings, a01)
    # the A08 repeats the weight, corrected (same OBX-3 and OBX-14)
    a08 = message(msh("A08", "C2", "ADT_A01"), "EVN|A08", rich_pid(), pv1(), weight.replace("||70|", "||71|"))
    convert(session, settings, a08)
    [oid] = set(all_ids(settings, a01, "Observation")) | set(all_ids(settings, a08, "Observation"))
    stored = read(session, "Observation", oid)
    assert stored["valueQuantity"]["value"] == 71 and stored["meta"]["versionId"] == "2"
    rows = session.scalars(
        select(Resource.id).where(Resource.resource_type == "Observation", Resource.deleted.is_(False))
    ).all()
    assert rows == [oid]


def test_a17_swaps_the_stored_beds(mpi, settings):
    def admit(control: str, pid: str, bed: str, visit: str) -> str:
        raw = message(msh("A01", control, "ADT_A01"), "EVN|A01", pid, pv1(f3=bed, f19=visit))
        convert(mpi, settings, raw)
        return all_ids(settings, raw, "Encounter")[0]

    zhang = admit("C1", person("MRN0001"), "内科^301^1", "V0001^^^SZRMYY^VN")
    li = admit("C2", person("MRN0002", "李四"), "内科^302^1", "V0002^^^SZRMYY^VN")
    a17 = message(
        msh("A17", "C3", "ADT_A17"),
        "EVN|A17",
        person("MRN0001"),
        pv1(f3="内科^302^1", f6="内科^301^1", f19="V0001^^^SZRMYY^VN"),
        person("MRN0002", "李四"),
        pv1(f3="内科^301^1", f6="内科^302^1", f19="V0002^^^SZRMYY^VN"),
    )
    convert(mpi, settings, a17)

    def beds(eid: str) -> list[tuple[str, str]]:
        return [(loc["location"]["display"], loc["status"]) for loc in read(mpi, "Encounter", eid)["location"]]

    assert beds(zhang) == [("内科 302 1", "active"), ("内科 301 1", "completed")]
    assert beds(li) == [("内科 301 1", "active"), ("内科 302 1", "completed")]
    assert read(mpi, "Encounter", zhang)["period"]["start"] == "2026-03-15T08:30:00+08:00"  # kept from the A01


@pytest.mark.parametrize(("event", "structure"), [("A18", "ADT_A18"), ("A30", "ADT_A30"), ("A39", "ADT_A39")])
def test_older_merge_events_merge_through_the_index(mpi, settings, event, structure):
    first = message(msh("A28", "C1", "ADT_A05"), "EVN|A28", rich_pid("MRN0001"), "PV1|1|N")
    second = message(msh("A28", "C2", "ADT_A05"), "EVN|A28", person("MRN0002"), "PV1|1|N")
    convert(mpi, settings, first)
    convert(mpi, settings, second)
    source, target = all_ids(settings, first, "Patient")[0], all_ids(settings, second, "Patient")[0]
    convert(
        mpi,
        settings,
        message(msh(event, "C3", structure), f"EVN|{event}", person("MRN0002"), "MRG|MRN0001^^^SZRMYY^MR"),
    )
    assert records.links_of(read(mpi, "Patient", source), "replaced-by") == [target]
    assert records.links_of(read(mpi, "Patient", target), "replaces") == [source]
    assert mpi.get(MpiSource, source).status == "replaced"


def test_a44_moves_the_account_and_a49_renumbers_it(mpi, settings):
    first = message(
        msh("A04", "C1", "ADT_A01"), "EVN|A04", person("MRN0001") + "||||||||||ACC1^^^SZRMYY^AN", pv1(f2="O")
    )
    convert(mpi, settings, first)
    second = message(msh("A28", "C2", "ADT_A05"), "EVN|A28", person("MRN0002", "张叁"), "PV1|1|N")
    convert(mpi, settings, second)
    account = all_ids(settings, first, "Account")[0]
    new_owner = all_ids(settings, second, "Patient")[0]
    # A44: account ACC1 was filed under MRN0001 by mistake; it is MRN0002's
    a44 = message(
        msh("A44", "C3", "ADT_A43"),
        "EVN|A44",
        person("MRN0002", "张叁") + "||||||||||ACC1^^^SZRMYY^AN",
        "MRG|MRN0001^^^SZRMYY^MR||ACC1^^^SZRMYY^AN",
    )
    convert(mpi, settings, a44)
    moved = read(mpi, "Account", account)
    assert moved["subject"] == [{"reference": f"Patient/{new_owner}"}] and moved["status"] == "active"
    # A49: the account number changes to ACC7
    a49 = message(
        msh("A49", "C4", "ADT_A30"),
        "EVN|A49",
        person("MRN0002", "张叁") + "||||||||||ACC7^^^SZRMYY^AN",
        "MRG|MRN0002^^^SZRMYY^MR||ACC1^^^SZRMYY^AN",
    )
    convert(mpi, settings, a49)
    assert read(mpi, "Account", account)["status"] == "inactive"
    renumbered = read(mpi, "Account", all_ids(settings, a49, "Account")[0])
    assert renumbered["status"] == "active" and renumbered["identifier"][0]["value"] == "ACC7"
    assert mpi.get(MpiSource, new_owner).status != "replaced"  # no patient merge


def test_a48_changes_the_stored_alternate_id(mpi, settings):
    _, pid = registered(mpi, settings, "PID|1||MRN0001^^^SZRMYY^MR|ALT1^^^SZRMYY^PI|张三||19800101|M")
    a48 = message(
        msh("A48", "C2", "ADT_A30"),
        "EVN|A48",
        "PID|1||MRN0001^^^SZRMYY^MR|ALT2^^^SZRMYY^PI|张三",
        "MRG|MRN0001^^^SZRMYY^MR|ALT1^^^SZRMYY^PI",
    )
    convert(mpi, settings, a48)
    stored = read(mpi, "Patient", pid)
    assert [(i["value"], i.get("use")) for i in stored["identifier"]] == [
        ("MRN0001", None),
        ("ALT1", "old"),
        ("ALT2", None),
    ]
    assert stored["birthDate"] == "1980-01-01" and stored.get("active") is not False


def test_a61_changes_the_consulting_doctor_and_a62_restores_it(mpi, settings):
    def consultants(event: str, control: str, structure: str, doctor: str) -> list[str]:
        raw = message(msh(event, control, structure), f"EVN|{event}", rich_pid(), pv1(f7="D001^王^五", f9=doctor))
        convert(mpi, settings, raw)
        encounter = read(mpi, "Encounter", all_ids(settings, raw, "Encounter")[0])
        return [
            p["individual"]["identifier"]["value"]
            for p in encounter["participant"]
            if p["type"][0]["coding"][0]["code"] == "CON"
        ]

    assert consultants("A01", "C1", "ADT_A01", "D009^钱^七") == ["D009"]
    assert consultants("A61", "C2", "ADT_A61", "D021^冯^十") == ["D021"]
    assert consultants("A62", "C3", "ADT_A61", "D009^钱^七") == ["D009"]


def test_a_link_mark_never_deletes_the_index_links(mpi, settings):
    a28, pid = registered(mpi, settings, rich_pid())
    assert records.links_of(read(mpi, "Patient", pid), "refer")
    # one Patient whose link list a message marks deleted (an A37 names two): no pair to unlink, nothing removed
    bundle = get_converter(settings).convert(er7.parse(a28.decode("utf-8")))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"] == f"Patient/{pid}"]
    entry["extension"] = [{"url": NULL_EXTENSION_URL, "valueString": "link"}]
    apply_converted(mpi, bundle)
    mpi.commit()
    assert records.links_of(read(mpi, "Patient", pid), "refer")


def test_a43_moves_the_record_to_another_person_id(mpi, settings):
    _, pid = registered(mpi, settings, "PID|1|P9^^^SZRMYY^PN|MRN0001^^^SZRMYY^MR||张三||19800101|M")
    a43 = message(
        msh("A43", "C2", "ADT_A43"),
        "EVN|A43",
        "PID|1|P10^^^SZRMYY^PN|MRN0001^^^SZRMYY^MR||张三||19800101|M",
        "MRG|MRN0001^^^SZRMYY^MR|||P9^^^SZRMYY^PN",
    )
    convert(mpi, settings, a43)
    stored = read(mpi, "Patient", pid)
    assert [(i["value"], i.get("use")) for i in stored["identifier"]] == [
        ("MRN0001", None),
        ("P9", "old"),
        ("P10", None),
    ]
    assert stored.get("active") is not False and records.links_of(stored, "refer")


def test_a_merge_naming_the_record_itself_replaces_nothing(mpi, settings):
    _, pid = registered(mpi, settings, rich_pid())
    # MRG-1 repeats PID-3: the engine makes a numbered twin of the patient marked replaced-by it; the hub stores
    # neither a twin nor a merge
    a34 = message(msh("A34", "C2", "ADT_A30"), "EVN|A34", person("MRN0001"), "MRG|MRN0001^^^SZRMYY^MR")
    patients = all_ids(settings, a34, "Patient")
    assert len(patients) == 2 and patients[0] == pid
    convert(mpi, settings, a34)
    stored = read(mpi, "Patient", pid)
    assert stored.get("active") is not False and records.links_of(stored, "replaces") == []
    assert mpi.scalars(select(MpiMerge)).all() == []
    rows = mpi.scalars(select(Resource.id).where(Resource.resource_type == "Patient", Resource.id == patients[1]))
    assert rows.all() == []
