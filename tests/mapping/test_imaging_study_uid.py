"""An imaging report names its study: the DICOM Study Instance UID a RIS or PACS sends as a result (IHE Radiology,
OBX-2 HD, OBX-3 "Study Instance UID" or DICOM 110180) or in IHE's ZDS segment is an ImagingStudy, keyed on the UID
as an imaging order's study is (OMI IPC-3, ORM ZDS-1), and DiagnosticReport.imagingStudy names it."""

from __future__ import annotations

from .conftest import convert, one, ref, resources

UID = "1.2.156.112605.1.20261127.777"
MSH = "MSH|^~\\&|RIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HIS|SZRMYY|20261127150000||{type}|{control}|P|{version}"
PID = "PID|1||0012345^^^SZRMYY^MR~440305199003157718^^^CHN^NNCHN||王小明||19900315|M"
PV1 = "PV1|1|I|心内科^301^02^SZRMYY||||1234^李^医生"
# OBR-2/3 the numbers, OBR-4 the procedure, OBR-7 when the images were taken, OBR-24 CT, OBR-25 final
OBR = (
    "OBR|1|ORD777^HIS|RIS777^RIS|CT001^胸部CT平扫^L|||20261127140000|20261127141500||||||||1234^李^医生||||||"
    "20261127150000||CT|{status}"
)
FINDINGS = "OBX|2|TX|59776-5^影像所见^LN|1|双肺纹理清晰，未见明显实质性病变。||||||F"
IMPRESSION = "OBX|3|TX|19005-8^影像诊断^LN|1|胸部CT平扫未见明显异常。||||||F"


def oru(*segments: str, status: str = "F", pid: bool = True) -> str:
    head = [MSH.format(type="ORU^R01^ORU_R01", control="RIS1", version="2.5.1")]
    if pid:
        head += [PID, PV1]
    return "\r".join([*head, "ORC|RE|ORD777^HIS|RIS777^RIS||CM", OBR.format(status=status), *segments]) + "\r"


def study_of(bundle):
    study = one(bundle, "ImagingStudy")
    assert one(bundle, "DiagnosticReport")["imagingStudy"] == [ref(study)]
    return study


def test_the_study_instance_uid_result_is_the_study_the_report_names(converter):
    bundle = convert(converter, oru(f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F", FINDINGS, IMPRESSION))
    study = study_of(bundle)
    assert study["identifier"] == [{"system": "urn:dicom:uid", "value": f"urn:oid:{UID}"}]
    assert study["status"] == "available"
    assert study["subject"] == ref(one(bundle, "Patient")) and study["encounter"] == ref(one(bundle, "Encounter"))
    assert study["started"] == "2026-11-27T14:00:00+08:00"
    order = {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "ORD777"}}
    assert study["basedOn"] == [order]
    assert study["procedureCode"][0]["text"] == "胸部CT平扫"
    # the result itself stays an Observation of the report, its value the UID (not "uid^^ISO")
    uid_result = next(o for o in resources(bundle, "Observation") if o["code"].get("text") == "Study Instance UID")
    assert uid_result["valueString"] == UID


def test_the_uid_as_dicom_code_110180_in_the_universal_id_and_in_zds(converter):
    coded = convert(converter, oru(f"OBX|1|HD|110180^Study Instance UID^DCM|1|^{UID}^ISO||||||F", FINDINGS))
    zds = convert(converter, oru(FINDINGS, f"ZDS|{UID}^RIS^Application^DICOM"))
    both = convert(converter, oru(f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F", f"ZDS|{UID}^RIS^Application^DICOM"))
    ids = {study_of(b)["id"] for b in (coded, zds, both)}
    assert len(ids) == 1  # one study, whichever way it is named, and once when named twice


def test_a_cancelled_report_cancels_the_study_and_a_report_without_pid_keeps_it(converter):
    assert study_of(convert(converter, oru(f"ZDS|{UID}^RIS^Application^DICOM", status="X")))["status"] == "cancelled"
    study = study_of(convert(converter, oru(f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F", FINDINGS, pid=False)))
    assert "reference" not in study["subject"]  # unknown (data-absent-reason), not an invented patient


def test_a_report_without_a_study_uid_names_no_study(converter):
    bundle = convert(converter, oru(FINDINGS, IMPRESSION))
    assert resources(bundle, "ImagingStudy") == [] and "imagingStudy" not in one(bundle, "DiagnosticReport")


def test_the_study_an_ihe_orm_schedules_is_the_study_its_report_names(converter):
    orm = "\r".join(
        [
            MSH.format(type="ORM^O01", control="RIS0", version="2.3.1"),
            PID,
            PV1,
            "ORC|NW|ORD777^HIS|RIS777^RIS||SC",
            "OBR|1|ORD777^HIS|RIS777^RIS|CT001^胸部CT平扫^L||||||||||||1234^李^医生||ACC777|||||CT",
            f"ZDS|{UID}^RIS^Application^DICOM",
        ]
    )
    scheduled = one(convert(converter, orm + "\r"), "ImagingStudy")
    assert scheduled["status"] == "registered" and "started" not in scheduled
    # OBR-18, IHE's accession number, beside the UID
    assert scheduled["identifier"][1]["value"] == "ACC777"
    assert scheduled["identifier"][1]["type"]["coding"][0]["code"] == "ACSN"
    assert scheduled["basedOn"] == [ref(one(convert(converter, orm + "\r"), "ServiceRequest"))]
    cancelled = convert(converter, orm.replace("ORC|NW|", "ORC|CA|") + "\r")
    assert one(cancelled, "ImagingStudy")["status"] == "cancelled"
    reported = study_of(convert(converter, oru(f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F")))
    assert reported["id"] == scheduled["id"]


def test_a_study_two_orders_share_is_based_on_both(converter):
    # IHE: one examination ordered twice (two orders, one study: the same ZDS-1), each with its accession number
    orm = "\r".join(
        [
            MSH.format(type="ORM^O01", control="RIS2", version="2.3.1"),
            PID,
            PV1,
            "ORC|NW|ORD777^HIS|RIS777^RIS||SC",
            "OBR|1|ORD777^HIS|RIS777^RIS|CT001^胸部CT平扫^L||||||||||||1234^李^医生||ACC777|||||CT",
            f"ZDS|{UID}^RIS^Application^DICOM",
            "ORC|NW|ORD778^HIS|RIS778^RIS||SC",
            "OBR|2|ORD778^HIS|RIS778^RIS|CT002^上腹部CT平扫^L||||||||||||1234^李^医生||ACC778|||||CT",
            f"ZDS|{UID}^RIS^Application^DICOM",
        ]
    )
    bundle = convert(converter, orm + "\r")
    study = one(bundle, "ImagingStudy")
    assert study["basedOn"] == [ref(order) for order in resources(bundle, "ServiceRequest")]
    assert len(study["basedOn"]) == 2
    assert [i["value"] for i in study["identifier"]] == [f"urn:oid:{UID}", "ACC777", "ACC778"]

    # the report of both orders, each order's results naming the study by its UID
    report = oru(
        f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F",
        "ORC|RE|ORD778^HIS|RIS778^RIS||CM",
        OBR.format(status="F").replace("ORD777", "ORD778").replace("RIS777", "RIS778").replace("OBR|1|", "OBR|2|"),
        f"OBX|1|HD|^Study Instance UID|1|{UID}||||||F",
    )
    reported = convert(converter, report)
    study = one(reported, "ImagingStudy")
    assert [item["identifier"]["value"] for item in study["basedOn"]] == ["ORD777", "ORD778"]
    assert all(r["imagingStudy"] == [ref(study)] for r in resources(reported, "DiagnosticReport"))
