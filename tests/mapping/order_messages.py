"""Hand-written order, result, pharmacy and immunization messages for the mapping tests, one field per keyword.

Each builder returns the ER7 text of one message (segments joined by CR); keywords replace or add fields
(``orc(f1="CA")``), so that a test says which field it is about. The defaults are a Shenzhen hospital
(SZRMYY) with Chinese names and texts; :func:`encoded` turns a message into the bytes a sender would send.
"""

from __future__ import annotations

from pathlib import Path

from hub.hl7 import er7
from tests.support.paths import CORPUS

HOSPITAL = "SZRMYY"


def segment(name: str, base: dict[int, str], **fields: str) -> str:
    """A segment from numbered fields: the base, updated by ``f<n>="value"`` keywords ("" leaves it empty)."""
    numbered = {**base, **{int(key[1:]): value for key, value in fields.items()}}
    last = max((n for n, v in numbered.items() if v), default=1)
    return "|".join([name, *[numbered.get(i, "") for i in range(1, last + 1)]])


def msh(
    code: str,
    event: str,
    structure: str,
    control: str,
    *,
    facility: str = HOSPITAL,
    charset: str = "",
    application: str = "HIS",
) -> str:
    # MSH-3 sending application, MSH-4 sending facility, MSH-9 type^event^structure, MSH-10 control id,
    # MSH-18 character set
    return (
        f"MSH|^~\\&|{application}|{facility}|HUB|CITY|20260315083000||{code}^{event}^{structure}|{control}|P|2.5.1"
        f"||||||{charset}"
    )


def pid(**fields: str) -> str:
    # PID-3 medical record number of the hospital, PID-5 name (unsplit Chinese), PID-7 birth date, PID-8 sex
    return segment("PID", {1: "1", 3: f"MRN0001^^^{HOSPITAL}^MR", 5: "张三", 7: "19800101", 8: "M"}, **fields)


def pv1(**fields: str) -> str:
    # PV1-2 patient class (O outpatient), PV1-19 visit number
    return segment("PV1", {1: "1", 2: "O", 19: f"V0001^^^{HOSPITAL}^VN"}, **fields)


def orc(**fields: str) -> str:
    # ORC-1 order control (NW new), ORC-2 placer order number^issuer, ORC-3 filler's, ORC-4 placer group,
    # ORC-9 transaction time, ORC-10 entered by, ORC-12 ordering provider (id^family^given …^assigning authority),
    # ORC-21 ordering facility
    base = {
        1: "NW",
        2: "P100^HIS",
        3: "F200^LIS",
        4: "G10^HIS",
        9: "20260315083000",
        10: "N01^李^娜",
        12: f"D001^王^伟^^^^^^{HOSPITAL}",
        21: "深圳市人民医院",
    }
    return segment("ORC", base, **fields)


def tq1(**fields: str) -> str:
    # TQ1-7 start, TQ1-8 end, TQ1-9 priority (S stat)
    return segment("TQ1", {1: "1", 7: "20260315090000", 8: "20260315100000", 9: "S"}, **fields)


def obr(**fields: str) -> str:
    # OBR-2/3 order numbers, OBR-4 the test (LOINC, Chinese name), OBR-24 diagnostic section (HM haematology),
    # OBR-31 reason for study
    base = {1: "1", 2: "P100^HIS", 3: "F200^LIS", 4: "58410-2^血常规^LN", 24: "HM", 31: "R07.4^胸痛^I10"}
    return segment("OBR", base, **fields)


def message(*segments: str) -> str:
    return "\r".join(segments) + "\r"


def orm(
    *order: str, control: str = "ORM1", facility: str = HOSPITAL, charset: str = "", application: str = "HIS"
) -> str:
    """ORM^O01: patient, visit, then the order segments given (default: ORC, TQ1, OBR, NTE, DG1)."""
    body = order or (
        orc(),
        tq1(),
        obr(),
        "NTE|1||空腹采血",
        # DG1-3 diagnosis code, DG1-4 its description
        "DG1|1||I20.0^不稳定型心绞痛^I10|不稳定型心绞痛||A",
    )
    return message(
        msh("ORM", "O01", "ORM_O01", control, facility=facility, charset=charset, application=application),
        pid(),
        pv1(),
        *body,
    )


def encoded(text: str, charset: str = "gb18030") -> bytes:
    """The message as a sender would put it on the wire (MSH-18 says which charset)."""
    return text.encode(charset)


def corpus_message(name: str) -> er7.Message:
    """A development-corpus message by file name (BOM and line ends as stored)."""
    path = next(Path(CORPUS).rglob(name))
    return er7.parse(path.read_bytes().decode("utf-8-sig"))
