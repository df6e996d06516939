"""OMI^O23 (imaging order) → ServiceRequest, ImagingStudy, Patient, Encounter, Observation; ORI^O24 refused."""

from __future__ import annotations

import pytest

from hub.errors import ConversionError

from .conftest import convert, one, ref, resources
from .order_messages import message, msh, orc, pid, pv1, segment, tq1

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
STUDY_UID = "1.2.156.112604.1.2.1001.20260315.1"


def obr(**fields: str) -> str:
    # OBR-2/3 order numbers, OBR-4 the procedure (a local code, Chinese name), OBR-24 diagnostic section (CT),
    # OBR-31 reason for study
    base = {1: "1", 2: "P500^HIS", 3: "F600^RIS", 4: "CT0101^胸部CT平扫^L", 24: "CT", 31: "R05^咳嗽^I10"}
    return segment("OBR", base, **fields)


def ipc(**fields: str) -> str:
    # IPC-1 accession identifier, IPC-2 requested procedure id, IPC-3 Study Instance UID, IPC-4 scheduled
    # procedure step id, IPC-5 modality (DICOM), IPC-6 protocol code, IPC-7 scheduled station name,
    # IPC-8 scheduled procedure step location, IPC-9 scheduled AE title
    base = {
        1: "ACC20260315001^RIS",
        2: "RP001",
        3: STUDY_UID,
        4: "SPS001",
        5: "CT^Computed Tomography^DCM",
        6: "P-CHEST^胸部平扫方案^L",
        7: "CT1",
        8: "CT01^CT室一^L",
        9: "CTAE01",
    }
    return segment("IPC", base, **fields)


def omi(*order: str, control: str = "OMI1") -> str:
    body = order or (orc(f2="P500^HIS", f3="F600^RIS"), tq1(), obr(), "NTE|1||请带既往片", ipc())
    return message(msh("OMI", "O23", "OMI_O23", control), pid(), pv1(), *body)


def test_an_imaging_order_field_by_field(converter):
    bundle = convert(converter, omi())
    order, study = one(bundle, "ServiceRequest"), one(bundle, "ImagingStudy")
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    assert order["status"] == "active" and order["intent"] == "order"
    assert order["code"]["coding"][0]["code"] == "CT0101" and order["code"]["text"] == "胸部CT平扫"
    assert order["subject"] == ref(patient)
    assert order["note"] == [{"text": "请带既往片"}]
    assert order["occurrencePeriod"] == {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T10:00:00+08:00"}
    # the study the order schedules: registered, its UID and accession number, the scheduled modality
    assert study["status"] == "registered"
    assert study["subject"] == ref(patient) and study["encounter"] == ref(encounter)
    assert study["basedOn"] == [ref(order)]
    uid, accession = study["identifier"]
    assert uid == {"system": "urn:dicom:uid", "value": f"urn:oid:{STUDY_UID}"}
    assert accession["type"]["coding"][0] == {"system": V2_0203, "code": "ACSN", "display": "Accession ID"}
    assert accession["value"] == "ACC20260315001"
    assert study["modality"] == [{"system": DCM, "code": "CT", "display": "Computed Tomography"}]
    assert study["referrer"]["identifier"]["value"] == "D001"
    assert study["location"] == {"display": "CT室一"}
    assert study["procedureCode"][0]["coding"][0]["code"] == "CT0101"
    assert study["description"] == "胸部平扫方案 CT1 CTAE01"


def test_the_study_is_keyed_on_its_uid(converter):
    # the same study sent again (a changed order) is the same ImagingStudy; without a UID, the accession number
    first = one(convert(converter, omi()), "ImagingStudy")
    again = one(convert(converter, omi(control="OMI2")), "ImagingStudy")
    assert again["id"] == first["id"]
    no_uid = omi(orc(f2="P501^HIS", f3=""), obr(f2="P501^HIS", f3=""), ipc(f3=""), control="OMI3")
    study = one(convert(converter, no_uid), "ImagingStudy")
    assert study["id"] != first["id"]
    assert [i["value"] for i in study["identifier"]] == ["ACC20260315001"]
    # an IPC naming neither makes no study
    bare = omi(orc(f2="P502^HIS", f3=""), obr(f2="P502^HIS", f3=""), ipc(f1="", f3=""), control="OMI4")
    assert resources(convert(converter, bare), "ImagingStudy") == []


def test_a_cancelled_imaging_order(converter):
    bundle = convert(converter, omi(orc(f1="CA", f2="P500^HIS", f3="F600^RIS"), obr(), ipc(), control="OMI5"))
    assert one(bundle, "ServiceRequest")["status"] == "revoked"
    assert one(bundle, "ServiceRequest")["id"] == one(convert(converter, omi()), "ServiceRequest")["id"]


def test_observations_of_the_order_and_two_orders(converter):
    creatinine = "OBX|1|NM|2160-0^肌酐^LN||88|umol/L^umol/L^UCUM|||||F"
    second = (orc(f2="P503^HIS", f3=""), obr(f2="P503^HIS", f3="", f4="MR0201^头颅MR^L"), ipc(f1="ACC2", f3="1.2.3.9"))
    bundle = convert(
        converter, omi(orc(f2="P500^HIS", f3="F600^RIS"), obr(), creatinine, ipc(), *second, control="OMI6")
    )
    orders, studies = resources(bundle, "ServiceRequest"), resources(bundle, "ImagingStudy")
    assert len(orders) == 2 and len(studies) == 2
    assert [s["basedOn"] for s in studies] == [[ref(orders[0])], [ref(orders[1])]]
    observation = one(bundle, "Observation")
    assert orders[0]["supportingInfo"] == [ref(observation)]
    assert "supportingInfo" not in orders[1]


def test_the_response_is_refused_as_a_response(converter):
    text = message(msh("ORI", "O24", "ORI_O24", "ORI1"), "MSA|AA|OMI1")
    with pytest.raises(
        ConversionError, match=r"ORI\^O24 of structure ORI_O24: a response to an imaging order"
    ) as caught:
        convert(converter, text)
    assert caught.value.location == "MSH^1^9^2"
    # without MSH-9.3 the structure comes from table 0354 (ORI^O24 → ORI_O24)
    text = message(msh("ORI", "O24", "", "ORI2"), "MSA|AA|OMI1")
    with pytest.raises(ConversionError, match="a response to an imaging order"):
        convert(converter, text)


def test_a_study_two_orders_share_is_one_study_based_on_both(converter):
    # the same Study Instance UID (IPC-3) under two orders, each with its accession number (IPC-1)
    second = (orc(f2="P504^HIS", f3=""), obr(f2="P504^HIS", f3="", f4="CT0102^上腹部CT^L"), ipc(f1="ACC2"))
    bundle = convert(converter, omi(orc(f2="P500^HIS", f3="F600^RIS"), obr(), ipc(), *second, control="OMI7"))
    orders, study = resources(bundle, "ServiceRequest"), one(bundle, "ImagingStudy")
    assert study["basedOn"] == [ref(orders[0]), ref(orders[1])]
    assert [i["value"] for i in study["identifier"]] == [f"urn:oid:{STUDY_UID}", "ACC20260315001", "ACC2"]


def test_two_steps_of_one_study_each_keep_their_modality_protocol_and_station(converter):
    # two IPC of one order, one study (the same IPC-3): a CT step and a PET step, each with its protocol (IPC-6),
    # station (IPC-7), room (IPC-8) and AE title (IPC-9). R4 ImagingStudy has one location and one description,
    # and a series needs its own UID (a scheduled step has none): the study lists each step's modality, and the
    # order each step's protocol (orderDetail), room (locationCode) and station (performer, a Device by its AE
    # title), so that neither step is lost
    pet = ipc(
        f4="SPS002",
        f5="PT^Positron emission tomography^DCM",
        f6="P-PET^全身PET方案^L",
        f7="PET1",
        f8="PT01^PET室^L",
        f9="PETAE01",
    )
    bundle = convert(converter, omi(orc(f2="P500^HIS", f3="F600^RIS"), obr(), ipc(), pet, control="OMI8"))
    order, study = one(bundle, "ServiceRequest"), one(bundle, "ImagingStudy")
    assert study["modality"] == [
        {"system": DCM, "code": "CT", "display": "Computed Tomography"},
        {"system": DCM, "code": "PT", "display": "Positron emission tomography"},
    ]
    assert [d["coding"][0]["code"] for d in order["orderDetail"]] == ["P-CHEST", "P-PET"]
    assert [d["text"] for d in order["orderDetail"]] == ["胸部平扫方案", "全身PET方案"]
    assert [c["coding"][0]["code"] for c in order["locationCode"]] == ["CT01", "PT01"]
    assert order["performer"] == [
        {"type": "Device", "identifier": {"value": "CTAE01"}, "display": "CT1"},
        {"type": "Device", "identifier": {"value": "PETAE01"}, "display": "PET1"},
    ]
    # the same modality twice is listed once
    second_ct = ipc(f4="SPS002", f6="P-ABD^腹部方案^L")
    bundle = convert(converter, omi(orc(f2="P500^HIS", f3="F600^RIS"), obr(), ipc(), second_ct, control="OMI9"))
    assert one(bundle, "ImagingStudy")["modality"] == [{"system": DCM, "code": "CT", "display": "Computed Tomography"}]
    assert len(one(bundle, "ServiceRequest")["orderDetail"]) == 2
    # a station sent by its AE title alone is named by it; a step without a station names none
    steps = (ipc(f7=""), ipc(f4="SPS002", f7="", f9=""))
    order = one(
        convert(converter, omi(orc(f2="P500^HIS", f3="F600^RIS"), obr(), *steps, control="OMI10")), "ServiceRequest"
    )
    assert order["performer"] == [{"type": "Device", "identifier": {"value": "CTAE01"}, "display": "CTAE01"}]
