"""convert_bytes: decoding by MSH-18 or the sender's charset, then the sender's time zone; get_converter caching."""

from __future__ import annotations

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR, Settings
from hub.errors import Hl7ParseError
from hub.mapping import convert_bytes, get_converter

from .conftest import mappings_copy, one


def _message(msh18: str = "") -> str:
    return (
        f"MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|1|P|2.5.1||||||{msh18}\r"
        "EVN|A01\r"
        "PID|1||MRN0001^^^SZRMYY^MR||欧阳^娜娜||19800101|F|||福田区深南大道1号^^深圳市^广东省\r"
        "PV1|1|I|||||||||||||||||V1|||||||||||||||||||||||||202603150830\r"
    )


def test_gb18030_declared_in_msh_18(tmp_path):
    settings = Settings(data_dir=tmp_path)
    bundle = convert_bytes(_message("GB18030").encode("gb18030"), settings)
    patient = one(bundle, "Patient")
    assert patient["name"][0]["text"] == "欧阳娜娜"
    assert patient["address"][0]["line"] == ["福田区深南大道1号"]


def test_the_sender_charset_and_timezone_apply_when_msh_18_is_empty(tmp_path):
    settings = Settings(
        data_dir=tmp_path, sender_charsets={"HIS": "GBK"}, sender_timezones={"HIS^SZRMYY": "Asia/Tokyo"}
    )
    bundle = convert_bytes(_message().encode("gbk"), settings)
    assert one(bundle, "Patient")["name"][0]["family"] == "欧阳"
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+09:00"


def test_bytes_that_are_not_a_message(tmp_path):
    with pytest.raises(Hl7ParseError):
        convert_bytes(b"hello", Settings(data_dir=tmp_path))


def test_one_converter_per_mappings_directory(tmp_path):
    shipped = get_converter(Settings(data_dir=tmp_path))
    assert get_converter(Settings(data_dir=tmp_path, mappings_dir=DEFAULT_MAPPINGS_DIR)) is shipped
    other = get_converter(Settings(data_dir=tmp_path, mappings_dir=mappings_copy(tmp_path)))
    assert other is not shipped


@pytest.mark.parametrize(("msh18", "codec"), [("UNICODE UTF-8", "utf-8"), ("GBK", "gbk"), ("", "gb18030")])
def test_a_sender_named_in_chinese_gets_its_timezone_and_charset(tmp_path, msh18, codec):
    # MSH-4 新疆医院: the sender's settings are keyed on its name as sent, whatever the charset of its bytes
    text = _message(msh18).replace("|HIS|SZRMYY|", "|HIS|新疆医院|")
    settings = Settings(
        data_dir=tmp_path,
        sender_charsets={"HIS^新疆医院": "GB18030"},
        sender_timezones={"HIS^新疆医院": "Asia/Urumqi"},
    )
    bundle = convert_bytes(text.encode(codec), settings)
    assert one(bundle, "Patient")["name"][0]["text"] == "欧阳娜娜"
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+06:00"


def test_a_sender_named_in_chinese_gets_its_configured_charset(tmp_path):
    # Big5 (a Taiwanese or Hong Kong sender's charset) is no GB 18030: only the configuration can say it
    text = _message().replace("|HIS|SZRMYY|", "|HIS|港島診所|").replace("欧阳^娜娜", "歐陽^娜娜")
    text = text.replace("福田区深南大道1号^^深圳市^广东省", "皇后大道中1號^^香港")
    settings = Settings(data_dir=tmp_path, sender_charsets={"HIS^港島診所": "BIG5"})
    assert one(convert_bytes(text.encode("big5"), settings), "Patient")["name"][0]["text"] == "歐陽娜娜"
