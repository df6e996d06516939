"""A hexadecimal escape (v2.5.1 §2.7.4, \\Xdddd\\) holds bytes of the sender's charset: a Chinese sender's GB18030
bytes (\\XC4E3BAC3\\ is 你好) are read as GB18030, not as Latin-1 mojibake; UTF-8 bytes and ASCII stay as before."""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.hl7 import er7
from hub.mapping import convert_bytes_with_report

B = "\\"


@pytest.mark.parametrize(
    ("hex_bytes", "text"),
    [("C4E3BAC3", "你好"), ("B0A1", "啊"), ("E4BDA0E5A5BD", "你好"), ("0D0A", "\r\n"), ("41", "A"), ("E9", "é")],
)
def test_hex_escape_bytes_in_the_sender_s_charset(hex_bytes, text):
    assert er7.unescape(f"{B}X{hex_bytes}{B}") == text


def test_a_gb18030_result_with_a_hex_escape(tmp_path):
    raw = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20261127093015||ORU^R01^ORU_R01|HX001|P|2.5.1|||||CHN|GB18030",
            "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
            "OBR|1|ORD8^HIS|LAB8^LIS|BIO^生化^L|||20261127070500",
            # OBX-5: 标本 then 溶血 sent as GB18030 hex bytes
            f"OBX|1|ST|COM^备注^L||标本{B}XC8DCD1AA{B}||||||F",
        ]
    ).encode("gb18030")
    bundle = convert_bytes_with_report(raw + b"\r", Settings(data_dir=tmp_path)).bundle
    (observation,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observation["valueString"] == "标本溶血"
