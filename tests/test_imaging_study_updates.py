"""An imaging study through the real pipeline (inbox row → convert_message → store): the study an imaging order
schedules (OMI^O23 IPC) and the study its report names by its Study Instance UID (ORU^R01) are one ImagingStudy,
which the report makes available without losing what the order said (modality, scheduled protocol)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.fhir import store
from tests.test_conversion_semantics import HOSPITAL, convert, ids, message

UID = "1.2.156.112605.1.20261127.888"
PID = "PID|1||0012345^^^SZRMYY^MR~440305199003157718^^^CHN^NNCHN||王小明||19900315|M"


def _omi() -> bytes:
    return message(
        f"MSH|^~\\&|RIS|{HOSPITAL}|HUB|CITY|20261127100000||OMI^O23^OMI_O23|RIS100|P|2.5.1",
        PID,
        "ORC|NW|ORD888^HIS|RIS888^RIS||SC",
        "OBR|1|ORD888^HIS|RIS888^RIS|MR002^头颅MRI平扫^L||||||||||||||||||||MR",
        # IPC-1 accession, IPC-2 requested procedure, IPC-3 Study Instance UID, IPC-4 step, IPC-5 modality
        f"IPC|ACC888^RIS|RP888|{UID}|SPS888|MR^Magnetic Resonance^DCM|P-HEAD^头颅平扫方案^L|MR1|MR01^磁共振一室^L|MRAE",
    )


def _oru(status: str = "F") -> bytes:
    return message(
        f"MSH|^~\\&|RIS|{HOSPITAL}|HUB|CITY|20261127160000||ORU^R01^ORU_R01|RIS101|P|2.5.1",
        PID,
        "ORC|RE|ORD888^HIS|RIS888^RIS||CM",
        f"OBR|1|ORD888^HIS|RIS888^RIS|MR002^头颅MRI平扫^L|||20261127143000||||||||||||||20261127160000||MR|{status}",
        f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F",
        "OBX|2|TX|18782-3^影像所见^LN|1|脑实质未见异常信号。||||||F",
    )


def test_the_report_makes_the_scheduled_study_available_keeping_the_order_s(session: Session, settings: Any) -> None:
    omi, oru = _omi(), _oru()
    study_id = ids(settings, omi)["ImagingStudy"]
    assert ids(settings, oru)["ImagingStudy"] == study_id
    convert(session, settings, omi)
    scheduled = store.read(session, "ImagingStudy", study_id)
    assert scheduled["status"] == "registered" and scheduled["modality"][0]["code"] == "MR"

    convert(session, settings, oru)
    reported = store.read(session, "ImagingStudy", study_id)
    assert reported["meta"]["versionId"] == "2"
    assert reported["status"] == "available" and reported["started"] == "2026-11-27T14:30:00+08:00"
    # what only the order said stays: the modality, the accession number, the scheduled protocol
    assert reported["modality"] == scheduled["modality"]
    assert {i["value"] for i in reported["identifier"]} == {f"urn:oid:{UID}", "ACC888"}
    assert reported["description"] == scheduled["description"]
    report = store.read(session, "DiagnosticReport", ids(settings, oru)["DiagnosticReport"])
    assert report["imagingStudy"] == [{"reference": f"ImagingStudy/{study_id}"}]
    # the order the report names by placer number is the one the study was scheduled for: listed once, as the
    # order message's reference (it resolves), in the study as in the report (by placer number, once)
    assert (
        reported["basedOn"]
        == scheduled["basedOn"]
        == [{"reference": f"ServiceRequest/{ids(settings, omi)['ServiceRequest']}"}]
    )
    assert report["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "ORD888"}}
    ]


def _orm(placer: str, control: str) -> bytes:
    # IHE Radiology Scheduled Workflow: ORM^O01 v2.3.1, ZDS-1 the Study Instance UID, OBR-18 the accession number
    return message(
        f"MSH|^~\\&|RIS|{HOSPITAL}|HUB|CITY|20261127100000||ORM^O01|{control}|P|2.3.1",
        PID,
        f"ORC|NW|{placer}^HIS|R{placer}^RIS||SC",
        f"OBR|1|{placer}^HIS|R{placer}^RIS|MR002^头颅MRI平扫^L||||||||||||||A{placer}|||||MR",
        f"ZDS|{UID}^RIS^Application^DICOM",
    )


def _report_of(placer: str, control: str) -> bytes:
    return message(
        f"MSH|^~\\&|RIS|{HOSPITAL}|HUB|CITY|20261127160000||ORU^R01^ORU_R01|{control}|P|2.5.1",
        PID,
        f"ORC|RE|{placer}^HIS|R{placer}^RIS||CM",
        f"OBR|1|{placer}^HIS|R{placer}^RIS|MR002^头颅MRI平扫^L|||20261127143000||||||||||||||20261127160000||MR|F",
        f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F",
    )


def test_a_study_two_orders_share_in_two_messages_is_based_on_both(session: Session, settings: Any) -> None:
    first, second = _orm("ORD901", "RIS201"), _orm("ORD902", "RIS202")
    study_id = ids(settings, first)["ImagingStudy"]
    convert(session, settings, first)
    convert(session, settings, second)
    study = store.read(session, "ImagingStudy", study_id)
    orders = [f"ServiceRequest/{ids(settings, m)['ServiceRequest']}" for m in (second, first)]
    assert [item["reference"] for item in study["basedOn"]] == orders
    assert {i["value"] for i in study["identifier"]} == {f"urn:oid:{UID}", "AORD901", "AORD902"}

    # each order's report names the study and its order by placer number: the order it names is the stored one
    # (its reference stays, resolvable), and the report keeps the other order
    convert(session, settings, _report_of("ORD901", "RIS203"))
    study = store.read(session, "ImagingStudy", study_id)
    assert [item["reference"] for item in study["basedOn"]] == orders[::-1]
    convert(session, settings, _report_of("ORD902", "RIS204"))
    study = store.read(session, "ImagingStudy", study_id)
    assert [item["reference"] for item in study["basedOn"]] == orders


def test_an_order_after_a_report_of_another_order_of_the_study_keeps_it(session: Session, settings: Any) -> None:
    # the report of one order comes first (its order by placer number), then the orders of the study (by reference)
    report, second, first = _report_of("ORD911", "RIS211"), _orm("ORD912", "RIS212"), _orm("ORD911", "RIS213")
    study_id = ids(settings, report)["ImagingStudy"]
    convert(session, settings, report)
    convert(session, settings, second)
    study = store.read(session, "ImagingStudy", study_id)
    assert study["basedOn"] == [
        {"reference": f"ServiceRequest/{ids(settings, second)['ServiceRequest']}"},
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "ORD911"}},
    ]
    # the reported order's own message: its reference stands for the placer number, listed once
    convert(session, settings, first)
    study = store.read(session, "ImagingStudy", study_id)
    assert [item["reference"] for item in study["basedOn"]] == [
        f"ServiceRequest/{ids(settings, m)['ServiceRequest']}" for m in (first, second)
    ]


def test_a_report_naming_its_order_without_the_issuer_names_the_stored_order(session: Session, settings: Any) -> None:
    first, second = _orm("ORD931", "RIS231"), _orm("ORD932", "RIS232")
    convert(session, settings, first)
    convert(session, settings, second)
    # the report's OBR-2 without its namespace: its system is the sender's (MSH-3 PACS), the order's HIS
    report = message(
        f"MSH|^~\\&|PACS|{HOSPITAL}|HUB|CITY|20261127160000||ORU^R01^ORU_R01|PACS231|P|2.5.1",
        PID,
        "OBR|1|ORD931||MR002^头颅MRI平扫^L|||20261127143000||||||||||||||20261127160000||MR|F",
        f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F",
    )
    convert(session, settings, report)
    study = store.read(session, "ImagingStudy", ids(settings, report)["ImagingStudy"])
    assert [item["reference"] for item in study["basedOn"]] == [
        f"ServiceRequest/{ids(settings, m)['ServiceRequest']}" for m in (first, second)
    ]
