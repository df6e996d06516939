"""hub.study_orders: a study's orders named by reference (order messages) and by placer number (reports)."""

from __future__ import annotations

from typing import Any

from hub.study_orders import placer_numbers, united

A, B = "ServiceRequest/a", "ServiceRequest/b"
ORDERS = {A: {"ORD1"}, B: {"ORD2"}}


def ref(reference: str) -> dict[str, Any]:
    return {"reference": reference}


def number(value: str, system: str = "urn:hub:id:HIS") -> dict[str, Any]:
    return {"type": "ServiceRequest", "identifier": {"system": system, "value": value}}


def test_a_number_of_a_stored_order_is_its_reference_and_the_other_order_stays() -> None:
    assert united([number("ORD1")], [ref(B), ref(A)], ORDERS) == [ref(A), ref(B)]


def test_a_number_sent_without_its_issuer_names_the_order_of_that_number() -> None:
    # the report's OBR-2 without a namespace has its sender (MSH-3) for system, the order message's the placer's
    assert united([number("ORD1", "urn:hub:id:RIS")], [ref(A), ref(B)], ORDERS) == [ref(A), ref(B)]
    assert united([ref(A)], [number("ORD1", "urn:hub:id:RIS")], ORDERS) == [ref(A)]


def test_a_reference_replaces_the_number_of_its_order_and_keeps_another_number() -> None:
    assert united([ref(A)], [number("ORD3"), number("ORD1")], ORDERS) == [ref(A), number("ORD3")]


def test_the_same_form_is_united_as_before() -> None:
    assert united([number("ORD2")], [number("ORD1"), number("ORD2")], {}) == [number("ORD2"), number("ORD1")]
    assert united([ref(B)], [ref(A)], {}) == [ref(B), ref(A)]


def test_an_order_the_hub_cannot_compare_is_left_to_the_message() -> None:
    # a reference to an order the hub does not have may be the one the report names by number
    assert united([number("ORD1")], [ref("ServiceRequest/gone")], ORDERS) == [number("ORD1")]
    # a number, when the message's reference names an order whose numbers are unknown
    assert united([ref("ServiceRequest/new")], [number("ORD1")], ORDERS) == [ref("ServiceRequest/new")]
    # but an order named as the message names its own stays
    assert united([ref("ServiceRequest/new")], [ref(A), number("ORD1")], ORDERS)[:2] == [
        ref("ServiceRequest/new"),
        ref(A),
    ]


def test_placer_numbers_reads_only_what_the_message_does_not_give() -> None:
    placer = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PLAC"}
    filler = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "FILL"}
    given = {
        "resourceType": "ServiceRequest",
        "id": "a",
        "identifier": [
            {"type": {"coding": [placer]}, "system": "urn:hub:id:HIS", "value": "ORD1"},
            {"type": {"coding": [filler]}, "system": "urn:hub:id:RIS", "value": "R1"},
        ],
    }
    stored_b = {
        "resourceType": "ServiceRequest",
        "id": "b",
        "identifier": [{"type": {"coding": [placer]}, "value": "X"}],
    }
    asked: list[set[tuple[str, str]]] = []

    def read(keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        asked.append(keys)
        return {key: stored_b for key in keys if key == ("ServiceRequest", "b")}

    study = {"resourceType": "ImagingStudy", "basedOn": [ref(B)]}
    assert placer_numbers([(study, {"basedOn": [ref(A)]})], [given], read) == {
        A: {"ORD1"},
        B: {"X"},
    }
    assert asked == [{("ServiceRequest", "b")}]
    # a study the hub has not stored has no list to unite with: nothing is read
    assert placer_numbers([(None, {"basedOn": [ref(B)]})], [], read) == {} and len(asked) == 1
