"""Encapsulated data (ED) always comes with a content type (R4 att-1), and a document never loses its content.

R4's Attachment invariant att-1: "If the Attachment has data, it SHALL have a contentType". A document's OBX of a
type that is not text (NM, DT, SN …) is carried as text, and is typed text/plain like TX. The content type of
an ED comes from its subtype (ED.3, v2 table 0291, or a MIME subtype the sender writes: DOCX, msword); a subtype
the mime table does not know (or none) used to leave the data without any type, an attachment a FHIR server
rejects. It is now application/octet-stream (RFC 2046: data of no known type), and the common word-processing
subtypes have their own types. An MDM whose only OBX is such an ED, with data that does not decode and no
origination time, used to lose its one content item altogether (DocumentReference.content is 1..*): the
attachment now keeps that type, so the DocumentReference stays valid.
"""

from __future__ import annotations

import pytest

from .conftest import convert, one
from .test_lab_more import PID, PV1, message, obx
from .test_mdm import mdm

ATTACHMENT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("ed", "content_type"),
    [
        ("EMR^AP^DOCX^Base64^UEsDBA==", DOCX),  # a Word document, by the subtype the sender writes
        ("EMR^Application^msword^Base64^0M8R4A==", "application/msword"),
        ("EMR^AP^XYZ^Base64^AAEC", "application/octet-stream"),  # a subtype nobody knows
        ("EMR^^^Base64^AAEC", "application/octet-stream"),  # no type at all
        ("EMR^AP^PDF^Base64^JVBERg==", "application/pdf"),  # known subtypes keep their type
    ],
)
def test_a_documents_data_always_has_a_content_type(converter, ed, content_type):
    document = one(convert(converter, mdm("T02", f"OBX|1|ED|PDF^Report||{ed}||||||F")), "DocumentReference")
    (content,) = document["content"]
    assert content["attachment"]["contentType"] == content_type and content["attachment"]["data"]


@pytest.mark.parametrize("obx", ["OBX|1|NM|3141-9^体重^LN||90|kg", "OBX|1|DT|8665-2^末次月经^LN||20260301"])
def test_a_documents_value_of_another_type_is_text_with_its_type(converter, obx):
    # a value that is not text (NM, DT …) is carried as its text, base64 of its UTF-8: text/plain, as for TX
    document = one(convert(converter, mdm("T02", obx)), "DocumentReference")
    (content,) = document["content"]
    assert content["attachment"]["contentType"] == "text/plain" and content["attachment"]["data"]


def test_a_document_whose_only_data_does_not_decode_keeps_a_content_item(converter):
    # TXA-6 (origination, the attachment's creation) left empty: the ED is all the content there is
    txa = "TXA|1|DS^出院小结^HL70270|ED|202603200900||||||||DOC-7^EMR||||||AU||AV"
    text = mdm("T02", "OBX|1|ED|PDF^Report||EMR^^^Base64^<Base64 encoded>||||||F", txa=txa)
    document = one(convert(converter, text), "DocumentReference")
    assert document["content"] == [{"attachment": {"contentType": "application/octet-stream"}}]


def test_a_results_data_always_has_a_content_type(converter):
    result = obx(1, "18748-4^影像报告^LN", "PACS^AP^XYZ^Base64^AAEC", kind="ED")
    observation = one(convert(converter, message(PID, PV1, result)), "Observation")
    (value,) = [e for e in observation["extension"] if e["url"] == ATTACHMENT]
    assert value["valueAttachment"] == {"contentType": "application/octet-stream", "data": "AAEC"}
