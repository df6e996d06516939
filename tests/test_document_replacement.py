"""MDM T09/T10 replacement through the real pipeline: the parent document (TXA-13) is superseded.

A discharge summary (出院小结) is stored by a T02; the ward corrects it and the EMR sends a T10 with a new document
number (TXA-12) naming the old one as parent (TXA-13). FHIR: the new DocumentReference relatesTo the old with code
replaces, and the old one's status is superseded (it was left current before the fix, so a reader saw two current
versions of one summary). The old text stays for the record. Runs on SQLite and on PostgreSQL
(HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import base64

from hub.hl7 import er7
from hub.mapping import get_converter

from .test_conversion_semantics import convert, ids, message, msh, read

PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"


def txa(number: str, parent: str = "") -> str:
    # TXA-2 type, TXA-3 presentation, TXA-6 origination, TXA-12 document number, TXA-13 parent, TXA-17 completion
    # status, TXA-19 availability
    return f"TXA|1|DS^出院小结^HL70270|TX|||20260320100000||||||{number}|{parent}||||AU||AV"


def text_of(document: dict) -> list[str]:
    return [base64.b64decode(c["attachment"]["data"]).decode("utf-8") for c in document["content"]]


def test_a_t10_supersedes_the_parent_document_and_keeps_its_text(session, settings):
    t02 = message(msh("T02", "D1", "MDM_T02"), PID, txa("DOC-1^EMR"), "OBX|1|TX|||出院小结初稿")
    convert(session, settings, t02)
    parent_id = ids(settings, t02)["DocumentReference"]
    assert read(session, "DocumentReference", parent_id)["status"] == "current"

    t10 = message(msh("T10", "D2", "MDM_T02"), PID, txa("DOC-2^EMR", "DOC-1^EMR"), "OBX|1|TX|||出院小结更正稿")
    convert(session, settings, t10)
    new_id = ids(settings, t10)["DocumentReference"]
    assert new_id != parent_id
    new = read(session, "DocumentReference", new_id)
    assert new["status"] == "current"
    assert new["relatesTo"] == [
        {"code": "replaces", "target": {"identifier": {"system": "urn:hub:id:EMR", "value": "DOC-1"}}}
    ]
    assert text_of(new) == ["出院小结更正稿"]

    parent = read(session, "DocumentReference", parent_id)
    assert parent["status"] == "superseded"
    assert text_of(parent) == ["出院小结初稿"]  # the placeholder content does not replace the stored text
    assert parent["type"]["coding"][0]["code"] == "18842-5"  # nor does the parent lose what it was


def test_a_t09_without_content_supersedes_the_parent_too(session, settings):
    t02 = message(msh("T02", "E1", "MDM_T02"), PID, txa("DOC-7^EMR"), "OBX|1|TX|||原文")
    convert(session, settings, t02)
    parent_id = ids(settings, t02)["DocumentReference"]
    convert(session, settings, message(msh("T09", "E2", "MDM_T01"), PID, txa("DOC-8^EMR", "DOC-7^EMR")))
    assert read(session, "DocumentReference", parent_id)["status"] == "superseded"


def test_an_addendum_or_a_parent_that_is_the_document_itself_supersedes_nothing(session, settings):
    t02 = message(msh("T02", "F1", "MDM_T02"), PID, txa("DOC-5^EMR"), "OBX|1|TX|||原文")
    convert(session, settings, t02)
    parent_id = ids(settings, t02)["DocumentReference"]
    # T06 addendum: the parent is appended to, not replaced
    t06 = message(msh("T06", "F2", "MDM_T02"), PID, txa("DOC-6^EMR", "DOC-5^EMR"), "OBX|1|TX|||补充")
    convert(session, settings, t06)
    assert read(session, "DocumentReference", parent_id)["status"] == "current"
    # a T10 whose TXA-13 repeats its own number: one document, current
    t10 = message(msh("T10", "F3", "MDM_T02"), PID, txa("DOC-5^EMR", "DOC-5^EMR"), "OBX|1|TX|||更正")
    bundle = get_converter(settings).convert(er7.parse(t10.decode("utf-8")))
    assert [e["request"]["url"].split("/")[0] for e in bundle["entry"]].count("DocumentReference") == 1
    convert(session, settings, t10)
    assert read(session, "DocumentReference", parent_id)["status"] == "current"
