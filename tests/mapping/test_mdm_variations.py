"""Document messages (MDM) as real senders vary them: a Chinese discharge summary in TX repetitions, FT with line
breaks, a PDF in an ED, the events that name the same document again (status change, edit) or a new one
(addendum, replacement).

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

import base64
from typing import Any

from .conftest import convert, one, resources

LOINC = "http://loinc.org"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def mdm(event: str, txa: str, *obx: str, version: str = "2.5") -> str:
    structure = "MDM_T02" if event in ("T02", "T04", "T06", "T08", "T10") else "MDM_T01"
    return "\r".join(
        [
            f"MSH|^~\\&|EMR|SZRMYY|HUB|CITY|20260315083000||MDM^{event}^{structure}|M{event}|P|{version}",
            f"EVN|{event}|20260315083000",
            "PID|1||MRN001^^^SZRMYY^MR||李四||19700101|M",
            "PV1|1|I|5病区^12^3||||||||||||||||V001^^^SZRMYY^VN",
            txa,
            *obx,
        ]
    )


def txa(*, number: str = "DOC-100^EMR", parent: str = "", completion: str = "AU", availability: str = "AV") -> str:
    # TXA-2 type (DS discharge summary, a table 0270 code with a Chinese name), TXA-3 presentation, TXA-4 activity,
    # TXA-5 primary activity provider, TXA-6 origination, TXA-12 unique document number, TXA-13 parent,
    # TXA-16 file name, TXA-17 completion, TXA-19 availability, TXA-22 authenticator
    fields = [
        "TXA",
        "1",
        "DS^出院小结^L",
        "TX",
        "20260315080000",
        "D001^王^医生",
        "20260315081500",
        "",
        "",
        "",
        "",
        "",
        number,
        parent,
        "",
        "",
        "DOC-100.txt",
        completion,
        "",
        availability,
        "",
        "",
        "D002^赵^主任",
    ]
    return "|".join(fields)


def text_of(attachment: dict[str, Any]) -> str:
    return base64.b64decode(attachment["data"]).decode("utf-8")


def test_a_chinese_discharge_summary_field_by_field(converter):
    text = mdm(
        "T02",
        txa(),
        # TX with repetitions: one line each
        "OBX|1|TX|18842-5^出院小结^LN||入院诊断：社区获得性肺炎~出院诊断：肺炎（已愈）||||||F",
        # FT with \.br\ line breaks
        "OBX|2|FT|18842-5^出院小结^LN||出院医嘱：\\.br\\1. 阿莫西林 0.5g tid\\.br\\2. 一周后复查||||||F",
        # a PDF as base64 in an ED
        "OBX|3|ED|PDF^PDF^L||^application^pdf^Base64^JVBERi0xLjQKJcfsj6IK||||||F",
    )
    document = one(convert(converter, text), "DocumentReference")
    assert document["masterIdentifier"] == {"system": "urn:hub:id:EMR", "value": "DOC-100"}
    assert document["status"] == "current"
    assert document["docStatus"] == "final"
    # DS is table 0270's discharge summary: LOINC 18842-5 first, the sender's coding after it
    assert document["type"]["coding"][0] == {"system": LOINC, "code": "18842-5", "display": "Discharge summary"}
    assert document["type"]["text"] == "出院小结"
    assert document["date"] == "2026-03-15T08:15:00+08:00"
    assert document["author"] == [{"identifier": {"value": "D001"}, "display": "王医生"}]
    assert document["authenticator"] == {"identifier": {"value": "D002"}, "display": "赵主任"}
    assert document["context"]["period"] == {"start": "2026-03-15T08:00:00+08:00"}
    tx, ft, pdf = (content["attachment"] for content in document["content"])
    assert tx["contentType"] == "text/plain"
    assert text_of(tx) == "入院诊断：社区获得性肺炎\n出院诊断：肺炎（已愈）"
    # the FT's escapes are resolved: the data is plain text, and says so
    assert ft["contentType"] == "text/plain"
    assert text_of(ft) == "出院医嘱：\n1. 阿莫西林 0.5g tid\n2. 一周后复查"
    assert pdf["contentType"] == "application/pdf"
    assert pdf["data"] == "JVBERi0xLjQKJcfsj6IK"


def test_status_change_and_edit_are_the_same_document(converter):
    original = one(convert(converter, mdm("T02", txa(completion="IP"), "OBX|1|TX|||初稿")), "DocumentReference")
    assert original["docStatus"] == "preliminary"
    changed = one(convert(converter, mdm("T04", txa(completion="LA"), "OBX|1|TX|||终稿")), "DocumentReference")
    edited = one(convert(converter, mdm("T08", txa(completion="AU"), "OBX|1|TX|||修改稿")), "DocumentReference")
    assert original["id"] == changed["id"] == edited["id"]
    assert changed["docStatus"] == "final"
    assert text_of(edited["content"][0]["attachment"]) == "修改稿"
    assert "relatesTo" not in changed and "relatesTo" not in edited


def test_an_addendum_and_a_replacement_are_new_documents_about_the_parent(converter):
    original = one(convert(converter, mdm("T02", txa(), "OBX|1|TX|||原文")), "DocumentReference")
    addendum = one(
        convert(converter, mdm("T06", txa(number="DOC-101^EMR", parent="DOC-100^EMR"), "OBX|1|TX|||补充")),
        "DocumentReference",
    )
    replacement, replaced = resources(
        convert(converter, mdm("T10", txa(number="DOC-102^EMR", parent="DOC-100^EMR"), "OBX|1|TX|||更正")),
        "DocumentReference",
    )
    assert len({original["id"], addendum["id"], replacement["id"]}) == 3
    parent = {"identifier": {"system": "urn:hub:id:EMR", "value": "DOC-100"}}
    assert addendum["relatesTo"] == [{"code": "appends", "target": parent}]
    assert replacement["relatesTo"] == [{"code": "replaces", "target": parent}]
    # the replaced document is the original, superseded (the addendum left it as it was)
    assert replaced["id"] == original["id"] and replaced["status"] == "superseded"


def test_an_obsolete_or_cancelled_document(converter):
    obsolete = one(convert(converter, mdm("T04", txa(availability="OB"), "OBX|1|TX|||旧版")), "DocumentReference")
    assert obsolete["status"] == "superseded"
    cancelled = one(convert(converter, mdm("T11", txa(availability=""))), "DocumentReference")
    assert cancelled["status"] == "entered-in-error"


def test_a_v23_notification_without_content_describes_the_document(converter):
    # v2.3 T01: no OBX; the content is an attachment that describes the document (TXA-3 TX → text/plain, the
    # title from TXA-2), marked data-absent-reason: the text itself is not in the message
    document = one(convert(converter, mdm("T01", txa(), version="2.3")), "DocumentReference")
    assert document["content"] == [
        {
            "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}],
            "attachment": {"contentType": "text/plain", "creation": "2026-03-15T08:15:00+08:00", "title": "出院小结"},
        }
    ]


def test_chinese_document_type_names_translate_to_loinc(converter):
    for name, loinc in (("入院记录", "34117-2"), ("出院记录", "18842-5"), ("会诊记录", "11488-4")):
        text = mdm("T02", txa().replace("DS^出院小结^L", name), "OBX|1|TX|||正文")
        document_type = one(convert(converter, text), "DocumentReference")["type"]
        assert document_type["coding"][0]["system"] == LOINC and document_type["coding"][0]["code"] == loinc, name
        assert {"code": name} in document_type["coding"]
    # a hospital's own type code stays as sent
    text = mdm("T02", txa().replace("DS^出院小结^L", "HLJL^护理记录^L"), "OBX|1|TX|||正文")
    document_type = one(convert(converter, text), "DocumentReference")["type"]
    assert document_type == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "HLJL", "display": "护理记录"}],
        "text": "护理记录",
    }


def test_a_status_change_that_names_the_document_by_number_alone_is_valid(converter):
    # T03 with TXA-12 only (no type, presentation, time, title): the placeholder content's title is the number;
    # with nothing at all, the attachment itself says it is absent (DocumentReference.content is required)
    by_number = mdm("T03", "TXA|1|||||||||||DOC-100^EMR|||||AU")
    (content,) = one(convert(converter, by_number), "DocumentReference")["content"]
    assert content == {
        "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}],
        "attachment": {"title": "DOC-100"},
    }
    (content,) = one(convert(converter, mdm("T03", "TXA|1")), "DocumentReference")["content"]
    assert content["attachment"] == {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}]}
