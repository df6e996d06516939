"""MDM document events through the real pipeline: inbox row → convert_message → store.

A T02 brings the text of a document; a T03 (status change without content) or a T11 (cancel) names the same
document without its text, and must not erase it; a T04 with content replaces it. Runs on SQLite and on PostgreSQL
(HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import base64

from hub.updates import merge_update, uninformative

from .test_conversion_semantics import convert, ids, message, msh, read

DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"


def txa(completion: str, availability: str = "AV") -> str:
    # TXA-2 type, TXA-3 presentation, TXA-6 origination, TXA-12 unique document number, TXA-17 completion status,
    # TXA-19 availability
    return f"TXA|1|DS^出院小结^HL70270|TX|||20260320100000||||||DOC-9^EMR|||||{completion}||{availability}"


def text_of(document: dict) -> list[str]:
    return [base64.b64decode(c["attachment"]["data"]).decode("utf-8") for c in document["content"]]


def test_a_status_change_without_content_keeps_the_documents_text(session, settings):
    t02 = message(msh("T02", "D1", "MDM_T02"), PID, txa("IP"), "OBX|1|TX|||出院小结正文~第二行||||||F")
    convert(session, settings, t02)
    doc_id = ids(settings, t02)["DocumentReference"]
    assert read(session, "DocumentReference", doc_id)["docStatus"] == "preliminary"
    # T03: the document is now authenticated; the message has no OBX
    convert(session, settings, message(msh("T03", "D2", "MDM_T01"), PID, txa("AU")))
    stored = read(session, "DocumentReference", doc_id)
    assert stored["docStatus"] == "final"
    assert text_of(stored) == ["出院小结正文\n第二行"]
    # T04 with content: the new text replaces the old
    convert(session, settings, message(msh("T04", "D3", "MDM_T02"), PID, txa("LA"), "OBX|1|TX|||修订后正文"))
    assert text_of(read(session, "DocumentReference", doc_id)) == ["修订后正文"]
    # T11 cancels it: entered in error, its text still there for the record
    convert(session, settings, message(msh("T11", "D4", "MDM_T01"), PID, txa("LA", availability="")))
    stored = read(session, "DocumentReference", doc_id)
    assert stored["status"] == "entered-in-error"
    assert text_of(stored) == ["修订后正文"]


def test_a_placeholder_list_is_uninformative_and_keeps_the_stored_one():
    placeholder = [{"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}], "attachment": {"title": "x"}}]
    real = [{"attachment": {"contentType": "text/plain", "data": "5q2j5paH"}}]
    assert uninformative("content", placeholder)
    assert not uninformative("content", real) and not uninformative("content", [])
    assert not uninformative("content", [*placeholder, *real])
    stored = {"resourceType": "DocumentReference", "id": "d", "status": "current", "content": real}
    new = {"resourceType": "DocumentReference", "id": "d", "status": "entered-in-error", "content": placeholder}
    merged = merge_update(stored, new)
    assert merged["content"] == real and merged["status"] == "entered-in-error"
    # a document stored without its text gets the placeholder
    assert merge_update({"resourceType": "DocumentReference", "id": "d"}, new)["content"] == placeholder
