"""Encapsulated data (OBX-2 ED) that cannot be decoded is reported, never dropped without a word.

OBX-5 of an ED is source application ^ type of data ^ subtype ^ encoding (v2 table 0299: A, Hex, Base64) ^ data.
Data that is not what its encoding says (invalid Base64, odd Hex digits) or whose encoding is none the hub can
decode cannot become the attachment's bytes: it is left out, the attachment keeps its content type, and the
conversion report says so (invalid-value at OBX^n^5, never the data). An OBX-5 that repeats (several EDs) keeps
every repetition: a component each of the Observation, an attachment each of the DocumentReference.
"""

from __future__ import annotations

import pytest

from .conftest import one, with_report
from .test_lab_more import PID, PV1, message, obx
from .test_mdm import mdm

ATTACHMENT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value"

UNDECODABLE = [
    "PACS^AP^PDF^Base64^JVBER*g==",  # ED.4 Base64, ED.5 with a character Base64 has not
    "PACS^AP^PDF^Hex^25504G",  # ED.4 Hex, ED.5 not hex digits
    "PACS^AP^PDF^UUENCODE^begin 644 r.pdf",  # ED.4 an encoding v2 does not define
]


def invalid_values(report):
    return [e for e in report if e["code"] == "invalid-value"]


@pytest.mark.parametrize("ed", UNDECODABLE)
def test_a_results_undecodable_data_is_reported_and_its_type_kept(converter, ed):
    bundle, report = with_report(converter, message(PID, PV1, obx(2, "18748-4^影像报告^LN", ed, kind="ED")))
    observation = one(bundle, "Observation")
    (value,) = [e for e in observation["extension"] if e["url"] == ATTACHMENT]
    assert value["valueAttachment"] == {"contentType": "application/pdf"}
    (entry,) = invalid_values(report)
    assert entry["location"] == "OBX^1^5" and "OBX-5" in entry["detail"]
    assert ed.rsplit("^", 1)[1] not in entry["detail"]  # never the data


@pytest.mark.parametrize("ed", UNDECODABLE)
def test_a_documents_undecodable_data_is_reported_and_its_type_kept(converter, ed):
    text = mdm("T02", "OBX|1|TX|DS||第一段||||||F", f"OBX|2|ED|PDF^Report||{ed}||||||F")
    bundle, report = with_report(converter, text)
    document = one(bundle, "DocumentReference")
    assert [c["attachment"]["contentType"] for c in document["content"]] == ["text/plain", "application/pdf"]
    assert "data" not in document["content"][1]["attachment"]
    (entry,) = invalid_values(report)
    assert entry["location"] == "OBX^2^5" and "OBX-5" in entry["detail"]


@pytest.mark.parametrize(
    "ed",
    ["PACS^AP^PDF^Base64^JVBE\\.br\\Rg==", "PACS^AP^PDF^HEX^25504446", "PACS^TEXT^PLAIN^A^ok", "PACS^TEXT^PLAIN^^ok"],
)
def test_data_that_decodes_is_carried_without_a_report(converter, ed):
    bundle, report = with_report(converter, message(PID, PV1, obx(1, "18748-4^影像报告^LN", ed, kind="ED")))
    (value,) = [e for e in one(bundle, "Observation")["extension"] if e["url"] == ATTACHMENT]
    assert value["valueAttachment"]["data"]
    assert invalid_values(report) == []


# OBX-5 ED that repeats (several documents or images in one OBX) -------------------------------------------
PDF_AND_JPEG = "PACS^AP^PDF^Base64^JVBERg==~PACS^IM^JPEG^Base64^/9j/4A=="
COMPONENT_VALUE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.component.value"


def component_attachments(observation):
    values = [e for c in observation["component"] for e in c["extension"]]
    return [e["valueAttachment"] for e in values if e["url"] == COMPONENT_VALUE]


def test_each_repetition_of_a_results_ed_is_a_component(converter):
    bundle, report = with_report(converter, message(PID, PV1, obx(1, "18748-4^影像报告^LN", PDF_AND_JPEG, kind="ED")))
    observation = one(bundle, "Observation")
    assert component_attachments(observation) == [
        {"contentType": "application/pdf", "data": "JVBERg=="},
        {"contentType": "image/jpeg", "data": "/9j/4A=="},
    ]
    assert all(c["code"]["coding"][0]["code"] == "18748-4" for c in observation["component"])
    assert "extension" not in observation  # no value beside components of its own code (obs-7)
    assert invalid_values(report) == []


def test_a_repetition_that_does_not_decode_keeps_its_type_and_is_reported(converter):
    ed = "PACS^AP^PDF^Base64^JVBERg==~PACS^IM^JPEG^Base64^/9j/*A=="
    bundle, report = with_report(converter, message(PID, PV1, obx(1, "18748-4^影像报告^LN", ed, kind="ED")))
    assert component_attachments(one(bundle, "Observation")) == [
        {"contentType": "application/pdf", "data": "JVBERg=="},
        {"contentType": "image/jpeg"},
    ]
    assert [e["location"] for e in invalid_values(report)] == ["OBX^1^5"]


def test_each_repetition_of_a_documents_ed_is_an_attachment(converter):
    text = mdm("T02", "OBX|1|TX|DS||第一段||||||F", f"OBX|2|ED|PDF^Report||{PDF_AND_JPEG}||||||F")
    bundle, report = with_report(converter, text)
    attachments = [c["attachment"] for c in one(bundle, "DocumentReference")["content"]]
    assert [(a["contentType"], a.get("data")) for a in attachments] == [
        ("text/plain", "56ys5LiA5q61"),
        ("application/pdf", "JVBERg=="),
        ("image/jpeg", "/9j/4A=="),
    ]
    assert all(a["creation"] == "2026-03-20T10:00:00+08:00" for a in attachments)
    assert invalid_values(report) == []
