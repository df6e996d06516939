"""Every resource the mapper emits names its producer: the sending facility's Organization, by the same
deterministic id the mapper gives that Organization (hub/security/access.py, PRODUCER_TAG_SYSTEM) — in the Bundle,
and in the store, where the access policy reads it and `_tag` finds it."""

from __future__ import annotations

from hub.fhir import store
from hub.hl7 import er7
from hub.security.access import PRODUCER_TAG_SYSTEM, producer_of, producer_param

from .conftest import one

ADT = (
    "MSH|^~\\&|HIS|{facility}|HUB|CITY|20260315083000||ADT^A01^ADT_A01|{control}|P|2.5.1\r"
    "EVN|A01|20260315083000\r"
    "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M\r"
    "NK1|1|李四|SPO^配偶^HL70063\r"
    "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN\r"
    "AL1|1|DA|PCN^青霉素^L\r"
    "DG1|1||J18.9^肺炎^I10\r"
)
ORU = (
    "MSH|^~\\&|LIS|{facility}|HUB|CITY|20260315093000||ORU^R01^ORU_R01|{control}|P|2.5.1\r"
    "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M\r"
    "OBR|1|P100^HIS|F200^LIS|2345-7^Glucose^LN|||20260315090000||||||||||||||||||F\r"
    "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F\r"
    "SPM|1|S1^F1||BLD^Blood^HL70487\r"
)


def _tags(resource: dict) -> list[dict]:
    return [t for t in resource.get("meta", {}).get("tag", []) if t.get("system") == PRODUCER_TAG_SYSTEM]


def _convert(converter, template: str, facility: str = "SZRMYY^2.16.156.10011.1.5.1^ISO", control: str = "1"):
    return converter.convert(er7.parse(template.format(facility=facility, control=control)))


def test_every_resource_names_the_sending_facility_organization(converter):
    for template in (ADT, ORU):
        bundle = _convert(converter, template)
        organization = bundle["entry"][0]["resource"]
        assert organization["resourceType"] == "Organization"
        assert organization["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.156.10011.1.5.1"}]
        assert organization["name"] == "SZRMYY"
        types = set()
        for entry in bundle["entry"]:
            resource = entry["resource"]
            types.add(resource["resourceType"])
            assert _tags(resource) == [{"system": PRODUCER_TAG_SYSTEM, "code": organization["id"]}], resource
            assert producer_of(resource) == organization["id"]
        assert len(types) >= 4


def test_the_producer_is_the_facility_not_the_application_nor_the_message(converter):
    first = one(_convert(converter, ADT, control="1"), "Organization")["id"]
    assert one(_convert(converter, ADT, control="2"), "Organization")["id"] == first
    assert one(_convert(converter, ORU, control="3"), "Organization")["id"] == first  # LIS of the same hospital
    other = one(_convert(converter, ADT, facility="OTHERHOSP"), "Organization")
    assert other["id"] != first
    assert other["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": "urn:hub:id:OTHERHOSP"}]


def test_a_sender_without_facility_is_named_by_its_application_or_is_the_unnamed_sender(converter):
    by_app = one(_convert(converter, ADT, facility=""), "Organization")
    assert by_app["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": "urn:hub:id:HIS"}]
    nameless = ADT.replace("MSH|^~\\&|HIS|", "MSH|^~\\&||")
    unnamed = one(_convert(converter, nameless, facility=""), "Organization")
    assert unnamed["name"] == "unnamed sender (MSH-3 and MSH-4 empty)"
    for entry in _convert(converter, nameless, facility="")["entry"]:
        assert producer_of(entry["resource"]) == unnamed["id"]


def test_the_store_keeps_the_producer_and_tag_search_finds_what_a_facility_produced(converter, session):
    ours = _convert(converter, ORU)
    theirs = _convert(converter, ORU.replace("MRN0001", "MRN0002"), facility="OTHERHOSP", control="9")
    store.apply_bundle(session, ours)
    store.apply_bundle(session, theirs)
    session.commit()
    producer = one(ours, "Organization")["id"]
    observation = one(ours, "Observation")
    stored = store.read(session, "Observation", observation["id"])
    assert producer_of(stored) == producer
    found = store.search(session, "Observation", [producer_param(producer)])
    assert [r["id"] for r in found.resources] == [observation["id"]]
    organization = store.read(session, "Organization", producer)
    assert producer_of(organization) == producer
