"""HL7 v2 batches for tests: a hospital's nightly batch (FHS/BHS … BTS/FTS) and the messages in it; each
field that matters is commented."""

from __future__ import annotations

BOM = b"\xef\xbb\xbf"


def adt(control_id: str, *, mrn: str, family: str, given: str, version: str = "2.5.1", sep: str = "\r") -> str:
    segments = [
        # MSH-3/4 sender, MSH-9 type, MSH-10 control id (dedup key with MSH-3/4), MSH-12 version
        f"MSH|^~\\&|HIS|SZ_PEOPLES_2|HUB|CITY|20260316013000||ADT^A01^ADT_A01|{control_id}|P|{version}",
        "EVN|A01|20260316013000",
        # PID-3 MRN, PID-5 name, PID-7 birth date, PID-8 sex
        f"PID|1||{mrn}^^^SZ_PEOPLES_2^MR||{family}^{given}||19670412|M",
        "PV1|1|I|NEURO^0312^2^SZ_PEOPLES_2",
    ]
    return sep.join(segments) + sep


def oru(control_id: str, *, mrn: str, family: str, given: str, msh9: str = "ORU^R01^ORU_R01", sep: str = "\r") -> str:
    segments = [
        f"MSH|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||{msh9}|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^SZ_PEOPLES_2^MR||{family}^{given}||19820923|F",
        # OBR-3 filler order number, OBR-4 the test, OBR-7 observed at, OBR-25 final
        f"OBR|1||F{control_id}|2345-7^Glucose^LN|||20260315220000|||||||||||||||||F",
        # OBX-5 value, OBX-6 unit, OBX-7 range, OBX-11 final
        "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L^mmol/L^UCUM|3.9-6.1|N|||F",
    ]
    return sep.join(segments) + sep


def nightly(control_ids: tuple[str, str, str] = ("NR0316001", "NR0316002", "NR0316003"), sep: str = "\r") -> list[str]:
    """Two admissions and a glucose result, as a hospital's nightly batch carries them."""
    a, b, c = control_ids
    return [
        adt(a, mrn="0012873", family="Chen", given="Zhiqiang", sep=sep),
        oru(b, mrn="0045190", family="Wang", given="Xiuying", sep=sep),
        adt(c, mrn="0031766", family="Liu", given="Jianguo", sep=sep),
    ]


def wrap(
    messages: list[str],
    *,
    fhs: bool = True,
    count: int | str | None = None,
    batch_id: str = "B20260316",
    file_id: str = "F20260316",
    sep: str = "\r",
) -> str:
    """A batch: FHS (FHS-11 file id), BHS (BHS-11 batch id), the messages, BTS (BTS-1 count), FTS (FTS-1 = 1)."""
    bts1 = str(len(messages) if count is None else count)
    head = f"BHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||{batch_id}{sep}"
    tail = f"BTS|{bts1}{sep}"
    if fhs:
        head = f"FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||{file_id}{sep}" + head
        tail += f"FTS|1{sep}"
    return head + "".join(messages) + tail
