"""Small HL7 v2 messages built for tests; each field that matters is commented."""

from __future__ import annotations


def adt_a01(
    control_id: str,
    *,
    mrn: str = "MRN0001",
    family: str = "Zhang",
    given: str = "San",
    facility: str = "HOSP_A",
    event: str = "A01",
    sep: str = "\r",
) -> str:
    segments = [
        # MSH-3/4 sender (dedup key with MSH-10), MSH-9 type, MSH-10 control id, MSH-12 version, MSH-18 charset
        f"MSH|^~\\&|HIS|{facility}|HUB|CITY|20260315083000||ADT^{event}^ADT_A01|{control_id}|P|2.5.1"
        "||||||UNICODE UTF-8",
        "EVN|A01|20260315083000",
        # PID-3 MRN with assigning authority, PID-5 name, PID-7 birth date, PID-8 sex
        f"PID|1||{mrn}^^^{facility}^MR||{family}^{given}||19800101|M|||Jianshe Road 1^^Shenzhen^GD^518000^CHN",
        # PV1-2 patient class, PV1-19 visit number, PV1-44 admit time
        f"PV1|1|I|W1^101^1^{facility}||||||||||||||||V{control_id}|||||||||||||||||||||||||20260315083000",
    ]
    return sep.join(segments) + sep


def oru_r01(control_id: str, *, mrn: str = "MRN0001", facility: str = "HOSP_A", observations: int = 3) -> str:
    segments = [
        f"MSH|^~\\&|LIS|{facility}|HUB|CITY|20260315093000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^{facility}^MR||Li^Si||19750505|F",
        # OBR-2/3 placer/filler order numbers (report id), OBR-4 test, OBR-7 observed at, OBR-25 result status
        f"OBR|1|P{control_id}|F{control_id}|24323-8^Comprehensive metabolic panel^LN|||20260315090000"
        + "||||||||||||||||||F",
    ]
    for i in range(1, observations + 1):
        # OBX-2 value type, OBX-3 code, OBX-5 value, OBX-6 unit, OBX-7 range, OBX-8 flag, OBX-11 status
        segments.append(f"OBX|{i}|NM|2345-7^Glucose^LN||{90 + i}|mg/dL^mg/dL^UCUM|70-99|N|||F|||20260315090000")
    return "\r".join(segments) + "\r"
