"""MDM^T01…T11 → DocumentReference: TXA fields, OBX content as attachments, status by event and TXA-17/19."""

from __future__ import annotations

import base64

import pytest

from tests.support.paths import CORPUS

from .conftest import convert, one, ref, resources

LOINC = "http://loinc.org"


def mdm(event: str, *obx: str, txa: str | None = None) -> str:
    structure = "MDM_T02" if event in ("T02", "T04", "T06", "T08", "T10") else "MDM_T01"
    segments = [
        f"MSH|^~\\&|EMR|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||MDM^{event}^{structure}|D{event}|P|2.5.1",
        f"EVN|{event}|20260315083000",
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
        "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN",
        # TXA-2 type (0270), TXA-3 presentation, TXA-4 activity time, TXA-6 origination time, TXA-9 originator,
        # TXA-12 unique document number, TXA-13 parent, TXA-16 file name, TXA-17 completion (0271),
        # TXA-18 confidentiality (0272), TXA-19 availability (0273), TXA-22 authenticator
        txa
        or "TXA|1|DS^出院小结^HL70270|TX|202603200900||202603201000|||D001^王^五|||DOC-1^EMR|DOC-0^EMR|||ds1.txt"
        "|AU|R|AV|||D002^赵^六",
        *obx,
    ]
    return "\r".join(segments) + "\r"


def decoded(attachment):
    return base64.b64decode(attachment["data"]).decode("utf-8")


def test_t02_document_field_by_field(converter):
    bundle = convert(
        converter,
        mdm("T02", "OBX|1|TX|DS^出院小结||患者一般情况良好~建议随访||||||F", "OBX|2|FT|DS||第二段\\.br\\第三行||||||F"),
    )
    document, patient, encounter = one(bundle, "DocumentReference"), one(bundle, "Patient"), one(bundle, "Encounter")
    assert document["masterIdentifier"] == {"system": "urn:hub:id:EMR", "value": "DOC-1"}
    assert document["identifier"] == [{"value": "ds1.txt"}]
    assert document["status"] == "current" and document["docStatus"] == "final"
    assert document["type"]["coding"] == [
        {"system": LOINC, "code": "18842-5", "display": "Discharge summary"},
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0270", "code": "DS", "display": "出院小结"},
    ]
    assert document["subject"] == ref(patient)
    assert document["context"] == {"period": {"start": "2026-03-20T09:00:00+08:00"}, "encounter": [ref(encounter)]}
    assert document["date"] == "2026-03-20T10:00:00+08:00"
    assert document["author"] == [{"identifier": {"value": "D001"}, "display": "王五"}]
    assert document["authenticator"] == {"identifier": {"value": "D002"}, "display": "赵六"}
    assert document["securityLabel"][0]["coding"][0]["code"] == "R"
    assert "relatesTo" not in document  # a T02 is an original: its parent number replaces nothing
    first, second = document["content"]
    # every repetition of a text OBX, one per line; FT's \.br\ a line break
    assert (
        first["attachment"]["contentType"] == "text/plain"
        and decoded(first["attachment"]) == "患者一般情况良好\n建议随访"
    )
    # … and its data is that plain text (no FT escapes left in it), so text/plain rather than text/x-hl7-ft
    assert second["attachment"]["contentType"] == "text/plain" and decoded(second["attachment"]) == "第二段\n第三行"
    assert first["attachment"]["creation"] == "2026-03-20T10:00:00+08:00"


def test_an_encapsulated_pdf_and_a_placeholder(converter):
    pdf = base64.b64encode(b"%PDF-1.4 minimal").decode()
    bundle = convert(
        converter,
        mdm(
            "T02",
            f"OBX|1|ED|PDF^Report||EMR^AP^PDF^Base64^{pdf}||||||F",
            "OBX|2|ED|PDF^Report||EMR^AP^PDF^Base64^<Base64 encoded>||||||F",
        ),
    )
    good, placeholder = one(bundle, "DocumentReference")["content"]
    assert good["attachment"] == {
        "contentType": "application/pdf",
        "data": pdf,
        "creation": "2026-03-20T10:00:00+08:00",
    }
    # not base64: no data, the rest of the document is kept
    assert placeholder["attachment"] == {"contentType": "application/pdf", "creation": "2026-03-20T10:00:00+08:00"}


def test_t01_without_content_describes_the_document(converter):
    document = one(convert(converter, mdm("T01")), "DocumentReference")
    assert document["content"] == [
        {
            # the text is not in the message: marked absent, so that a later status change keeps a stored text
            "extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
            ],
            "attachment": {
                "contentType": "text/plain",
                "creation": "2026-03-20T10:00:00+08:00",
                "title": "出院小结",
            },
        }
    ]


@pytest.mark.parametrize(
    ("event", "status", "relation"),
    [
        ("T03", "current", None),  # status change
        ("T05", "current", "appends"),  # addendum
        ("T06", "current", "appends"),
        ("T09", "current", "replaces"),  # replacement
        ("T10", "current", "replaces"),
        ("T11", "entered-in-error", None),  # cancel
    ],
)
def test_events(converter, event, status, relation):
    obx = () if event in ("T03", "T05", "T09", "T11") else ("OBX|1|TX|DS||text||||||F",)
    document, *parents = resources(convert(converter, mdm(event, *obx)), "DocumentReference")
    assert document["status"] == status
    parent = {"system": "urn:hub:id:EMR", "value": "DOC-0"}
    if relation is None:
        assert "relatesTo" not in document
    else:
        assert document["relatesTo"] == [{"code": relation, "target": {"identifier": parent}}]
    # a replacement supersedes its parent (TXA-13), keyed as that document is: an addendum leaves it as it is
    if relation == "replaces":
        [replaced] = parents
        assert replaced["status"] == "superseded" and replaced["masterIdentifier"] == parent
        assert (
            replaced["id"]
            == one(convert(converter, mdm("T01", txa="TXA|1|DS|TX|||||||||DOC-0^EMR")), "DocumentReference")["id"]
        )
    else:
        assert parents == []
    assert document["id"] == one(convert(converter, mdm("T01")), "DocumentReference")["id"]


@pytest.mark.parametrize(
    ("txa17", "txa19", "doc_status", "status"),
    [("IP", "", "preliminary", "current"), ("LA", "OB", "final", "superseded"), ("", "CA", None, "entered-in-error")],
)
def test_completion_and_availability(converter, txa17, txa19, doc_status, status):
    txa = f"TXA|1|PN|TX|||||||||DOC-2^EMR|||||{txa17}||{txa19}"
    document = one(convert(converter, mdm("T01", txa=txa)), "DocumentReference")
    assert document.get("docStatus") == doc_status and document["status"] == status
    assert document["type"]["coding"][0]["code"] == "28570-0"


def test_every_corpus_mdm_converts(converter):
    from hub.hl7 import er7

    count = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".hl7", ".txt") or path.name.startswith("LICENSE"):
            continue
        text = path.read_bytes().decode("utf-8-sig")
        message = er7.parse(text)
        if message.get(message.msh, 9, 1) != "MDM":
            continue
        for document in resources(convert(converter, text), "DocumentReference"):  # a replacement's parent too
            assert document["content"], path.name
        count += 1
    assert count == 11


def test_the_orders_of_a_document_are_service_requests(converter):
    # IG MDM_T02 rows 7.1/7.3 (ORC, OBR → ServiceRequest) and 8 (DocumentReference.context.related → them)
    text = mdm("T02", "OBX|1|TX|DS||正文||||||F")
    order = (
        "ORC|SC|ORD-7^HIS|F-7^RIS\r"
        "TQ1|1||||||202603200800|202603200830\r"
        "OBR|1|ORD-7^HIS|F-7^RIS|US01^腹部超声^L\r"
        "NTE|1||空腹\r"
        "ORC|NW|ORD-8^HIS\r"
        "OBR|1|ORD-8^HIS||CT02^胸部CT^L\r"
    )
    text = text.replace("TXA|", order + "TXA|", 1)
    bundle = convert(converter, text)
    first, second = resources(bundle, "ServiceRequest")
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    assert first["identifier"][0]["value"] == "ORD-7" and first["code"]["coding"][0]["code"] == "US01"
    assert first["status"] == "unknown"  # SC only says the status changed; ORC-5 is empty
    assert second["status"] == "active"  # NW
    assert first["subject"] == ref(patient) and first["encounter"] == ref(encounter)
    # TQ1 of its own order only
    assert first["occurrencePeriod"] == {"start": "2026-03-20T08:00:00+08:00", "end": "2026-03-20T08:30:00+08:00"}
    assert "occurrencePeriod" not in second
    assert first["note"] == [{"text": "空腹"}] and "note" not in second
    document = one(bundle, "DocumentReference")
    assert document["context"]["related"] == [ref(first), ref(second)]
    # a document without orders names none
    assert "related" not in one(convert(converter, mdm("T01")), "DocumentReference")["context"]
