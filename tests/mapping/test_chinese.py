"""Chinese senders: names split whether or not the sender splits them, resident identity card numbers wherever they
are sent (valid ones on the national system, invalid ones kept and flagged, never promoted), local times in the
sender's zone — in UTF-8, GBK and GB18030 messages alike."""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.hl7 import er7
from hub.identity.resident_id import is_resident_id_identifier
from hub.mapping import convert_bytes, convert_bytes_with_report

from .conftest import convert, one

RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
VALID = "11010519491231002X"  # GB 11643 example (region 110105, born 1949-12-31, check character X)
VALID_2 = "440305198001011235"
INVALID = "110105194912310021"  # the same with a wrong check character
FLAG = {"url": "urn:hub:fhir:StructureDefinition:resident-id-invalid", "valueBoolean": True}


def message(*, name: str = "张三", pid3: str = "MRN0001^^^SZRMYY^MR", pid19: str = "", msh18: str = "") -> str:
    return (
        f"MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|C1|P|2.5.1||||||{msh18}\r"
        "EVN|A01|20260315083000\r"
        # PID-5 name, PID-7 birth date (a date), PID-11 address as Chinese HIS send it (all in XAD.1)
        f"PID|1||{pid3}||{name}||19800101|M|||广东省深圳市福田区深南大道1号^^深圳市^广东省^518000^CHN^H"
        f"||||||||{pid19}\r"
        # PV1-44 admit time without an offset: the sender's local time
        "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN|||||||||||||||||||||||||202603150830\r"
    )


@pytest.mark.parametrize(
    ("sent", "family", "given", "text"),
    [
        ("张三", "张", ["三"], "张三"),  # unsplit, in XPN.1
        ("欧阳娜娜", "欧阳", ["娜娜"], "欧阳娜娜"),  # compound surname
        ("诸葛孔明", "诸葛", ["孔明"], "诸葛孔明"),
        ("司马相如", "司马", ["相如"], "司马相如"),
        ("张 三", "张", ["三"], "张三"),  # the sender put a space between family and given name
        ("^张三", "张", ["三"], "张三"),  # the whole name in XPN.2, XPN.1 empty
        ("张^三", "张", ["三"], "张三"),  # split by the sender: kept as sent
        ("欧^阳娜娜", "欧", ["阳娜娜"], "欧阳娜娜"),  # the sender's split is trusted, even of a compound surname
        ("王^小^明", "王", ["小", "明"], "王小明"),  # XPN.3: second given name
    ],
)
def test_chinese_names_are_split_and_keep_their_text(converter, sent, family, given, text):
    name = one(convert(converter, message(name=sent)), "Patient")["name"][0]
    assert (name["family"], name["given"], name["text"]) == (family, given, text)


def test_the_pinyin_beside_the_chinese_name_says_its_representation(converter):
    # XPN.8 name representation code (table 4000: I ideographic, A alphabetic, P phonetic): the core extension
    # iso21090-EN-representation (IDE, ABC, SYL) tells the name in characters from its pinyin
    names = one(convert(converter, message(name="张三^^^^^^L^I~ZHANG^SAN^^^^^L^A")), "Patient")["name"]
    representation = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
    assert [(n["text"], n["extension"]) for n in names] == [
        ("张三", [{"url": representation, "valueCode": "IDE"}]),
        ("ZHANG SAN", [{"url": representation, "valueCode": "ABC"}]),
    ]


@pytest.mark.parametrize(
    ("sent", "text"),
    [
        # the pinyin (A alphabetic, P phonetic) of a name in characters (I) beside it: family name first, as the
        # Chinese write it in pinyin too (GB/T 28039-2011), whichever repetition comes first
        ("张三^^^^^^L^I~ZHANG^SAN^^^^^L^A", "ZHANG SAN"),
        ("ZHANG^SAN^^^^^L^P~张三^^^^^^L^I", "ZHANG SAN"),
        ("欧阳^娜娜^^^^^L^I~OUYANG^NANA^^^^^L^A", "OUYANG NANA"),
        # the sender's assembly order (XPN.11 G, given name first) wins
        ("张三^^^^^^L^I~ZHANG^SAN^^^^^L^A^^^G", "SAN ZHANG"),
        # no name in characters beside it: a name in letters says nothing of its origin (a foreigner's name from a
        # Chinese HIS is given name first), whatever XPN.8 says
        ("SMITH^JOHN^^^^^L^A", "JOHN SMITH"),
        ("ZHANG^SAN", "SAN ZHANG"),
        # XPN.8 I on a name in letters (a sender's slip) is no name in characters
        ("SMITH^JOHN^^^^^L^I~SMITH^JOHN^^^^^L^A", "JOHN SMITH"),
    ],
)
def test_the_pinyin_of_a_name_in_characters_is_family_name_first(converter, sent, text):
    names = one(convert(converter, message(name=sent)), "Patient")["name"]
    romanized = [n for n in names if not any("\u4e00" <= ch <= "\u9fff" for ch in n["text"])]
    assert romanized[-1]["text"] == text


def test_a_name_with_a_middle_dot_is_not_split(converter):
    name = one(convert(converter, message(name="阿卜杜·热合曼")), "Patient")["name"][0]
    assert name == {"family": "阿卜杜·热合曼", "text": "阿卜杜·热合曼"}


def test_a_latin_name_keeps_its_text_order(converter):
    name = one(convert(converter, message(name="Everyman^Adam^A^III^Dr")), "Patient")["name"][0]
    assert name["text"] == "Dr Adam A Everyman III"


def test_an_address_of_only_its_type_is_no_address(converter):
    # the HIS's template always sends a work address repetition, empty but for its type (XAD.7 B)
    text = message().replace("^518000^CHN^H|", "^518000^CHN^H~^^^^^^B|")
    assert [a["use"] for a in one(convert(converter, text), "Patient")["address"]] == ["home"]


@pytest.mark.parametrize("codec", ["utf-8", "gbk", "gb18030"])
def test_names_and_addresses_in_every_chinese_charset(tmp_path, codec):
    declared = {"utf-8": "UNICODE UTF-8", "gbk": "GBK", "gb18030": "GB18030"}[codec]
    raw = message(name="欧阳娜娜", msh18=declared).encode(codec)
    bundle = convert_bytes(raw, Settings(data_dir=tmp_path))
    patient = one(bundle, "Patient")
    assert patient["name"] == [{"family": "欧阳", "given": ["娜娜"], "text": "欧阳娜娜"}]
    assert patient["address"][0]["line"] == ["广东省深圳市福田区深南大道1号"]
    assert patient["address"][0]["city"] == "深圳市"


def test_gb18030_four_byte_characters(tmp_path):
    # 𬭚 (U+2CB5A) is outside GBK: GB18030 writes it in four bytes
    raw = message(name="李𬭚", msh18="GB18030").encode("gb18030")
    name = one(convert_bytes(raw, Settings(data_dir=tmp_path)), "Patient")["name"][0]
    assert (name["family"], name["given"], name["text"]) == ("李", ["𬭚"], "李𬭚")


@pytest.mark.parametrize(("declared", "configured"), [("GBK", None), ("GB18030", None), ("GB2312", None), ("", "GBK")])
def test_utf_8_bytes_from_a_sender_that_says_gbk_are_read_as_utf_8(tmp_path, declared, configured):
    # an interface engine re-encoded the HIS's GBK message in UTF-8 and left MSH-18 (or the sender's setting) as it
    # was: read as GBK, 欧阳娜娜 would be 娆ч槼濞滃:
    raw = message(name="欧阳娜娜", msh18=declared).encode("utf-8")
    settings = Settings(data_dir=tmp_path, sender_charsets={"HIS": configured} if configured else {})
    patient = one(convert_bytes(raw, settings), "Patient")
    assert patient["name"][0]["text"] == "欧阳娜娜"
    assert patient["address"][0]["city"] == "深圳市"


def test_gbk_bytes_that_happen_to_be_valid_utf_8_stay_gbk(tmp_path):
    # 卢 and 路 in GBK are the bytes of ¬ and · in UTF-8: no Chinese character in that reading, so the declaration holds
    text = message(name="卢^路", msh18="GBK").replace("广东省深圳市福田区深南大道1号^^深圳市^广东省", "路^^^")
    raw = text.encode("gbk")
    patient = one(convert_bytes(raw, Settings(data_dir=tmp_path)), "Patient")
    assert patient["name"][0]["text"] == "卢路"
    assert patient["address"][0]["line"] == ["路"]


# Resident identity card numbers ------------------------------------------------------------------------------


def _national(patient: dict) -> list[dict]:
    return [i for i in patient["identifier"] if i.get("system") == RESIDENT_ID_SYSTEM]


@pytest.mark.parametrize("declared", ["NNCHN", "RI", "SFZ", "身份证", "idcard"])
def test_a_valid_number_declared_in_pid_3_gets_the_national_system(converter, declared):
    patient = one(convert(converter, message(pid3=f"MRN0001^^^SZRMYY^MR~{VALID}^^^^{declared}")), "Patient")
    national = _national(patient)
    assert [i["value"] for i in national] == [VALID]
    assert national[0]["type"]["coding"][0]["code"] == "NNCHN"
    assert is_resident_id_identifier(national[0])


@pytest.mark.parametrize("declared", ["身份证号", "身份证号码", "SFZH"])
def test_the_type_codes_chinese_senders_also_use_declare_the_number(tmp_path, declared):
    # the words vendors type into CX.5
    valid = one(
        convert_bytes(message(pid3=f"MRN0001^^^SZRMYY^MR~{VALID}^^^^{declared}").encode(), Settings(data_dir=tmp_path)),
        "Patient",
    )
    assert [i["value"] for i in _national(valid)] == [VALID]
    result = convert_bytes_with_report(
        message(pid3=f"MRN0001^^^SZRMYY^MR~{INVALID}^^^^{declared}").encode(), Settings(data_dir=tmp_path)
    )
    kept = next(i for i in one(result.bundle, "Patient")["identifier"] if i["value"] == INVALID)
    assert (kept["type"], kept["extension"]) == ({"text": declared}, [FLAG])
    assert {"code": "invalid-resident-id", "location": "PID^1"} in result.report


@pytest.mark.parametrize(
    "pid3",
    [
        VALID,  # the only identifier, without a type: some clinics number their patients by the card
        f"MRN0001^^^SZRMYY^MR~{VALID}",  # beside the record number, no type
        f"MRN0001^^^SZRMYY^MR~{VALID.lower()}",  # lower-case check character
        f"MRN0001^^^SZRMYY^MR~{VALID}^^^^NI",  # table 0203 national unique individual identifier
    ],
)
def test_a_valid_number_in_pid_3_without_a_type_or_as_ni_gets_the_national_system(converter, pid3):
    national = _national(one(convert(converter, message(pid3=pid3)), "Patient"))
    assert [(i["value"], i["type"]["coding"][0]["code"]) for i in national] == [(VALID, "NNCHN")]


def test_an_untyped_number_that_fails_the_check_stays_the_senders_plain_identifier(tmp_path):
    # without a type nothing says it is meant as a resident ID: no flag, no report, never promoted
    result = convert_bytes_with_report(
        message(pid3=f"MRN0001^^^SZRMYY^MR~{INVALID}").encode(), Settings(data_dir=tmp_path)
    )
    patient = one(result.bundle, "Patient")
    assert {"system": "urn:hub:id:SZRMYY", "value": INVALID} in patient["identifier"]
    assert _national(patient) == [] and result.report == []


def test_a_valid_number_without_a_type_in_pid_4_and_nk1_33_gets_the_national_system(converter):
    text = message(pid3="MRN0001^^^SZRMYY^MR").replace("||张三||", f"|{VALID}|张三||")
    text = text.replace("PV1|", f"NK1|1|张^大|FTH{'|' * 30}{VALID_2}\rPV1|")
    bundle = convert(converter, text)
    assert [i["value"] for i in _national(one(bundle, "Patient"))] == [VALID]
    assert [i["value"] for i in _national(one(bundle, "RelatedPerson"))] == [VALID_2]


def test_a_lower_case_check_character_and_full_width_digits_are_normalised(converter):
    sent = "１１０１０５１９４９１２３１００２x"  # full-width digits, lower-case x
    patient = one(convert(converter, message(pid3=f"{sent}^^^^NNCHN")), "Patient")
    assert [i["value"] for i in _national(patient)] == [VALID]


@pytest.mark.parametrize("where", ["pid3", "pid19"])
def test_an_invalid_number_is_kept_flagged_reported_and_never_promoted(tmp_path, where):
    text = message(pid3=f"MRN0001^^^SZRMYY^MR~{INVALID}^^^^NNCHN") if where == "pid3" else message(pid19=INVALID)
    result = convert_bytes_with_report(text.encode(), Settings(data_dir=tmp_path))
    patient = one(result.bundle, "Patient")
    kept = [i for i in patient["identifier"] if i["value"] == INVALID]
    assert len(kept) == 1
    identifier = kept[0]
    assert identifier.get("system") != RESIDENT_ID_SYSTEM
    assert identifier["type"] == {"text": "NNCHN"}  # the declared type only as text: never the NNCHN coding
    assert identifier["extension"] == [FLAG]
    assert not is_resident_id_identifier(identifier)  # the patient index never trusts it
    assert _national(patient) == []
    assert {"code": "invalid-resident-id", "location": "PID^1"} in result.report
    assert INVALID not in str(result.report)  # the report never holds the number


FOREIGNER = "911840198506150011"  # 外国人永久居留身份证 (2023): 9, issued in Beijing (11), a US national (840)


@pytest.mark.parametrize("where", ["pid3", "pid19"])
def test_a_foreigners_permanent_residence_id_card_is_a_resident_id(tmp_path, where):
    def text(number: str) -> str:
        return message(pid3=f"MRN0001^^^SZRMYY^MR~{number}^^^^NNCHN") if where == "pid3" else message(pid19=number)

    valid = convert_bytes_with_report(text(FOREIGNER).encode(), Settings(data_dir=tmp_path))
    assert [i["value"] for i in _national(one(valid.bundle, "Patient"))] == [FOREIGNER]
    assert valid.report == []
    invalid = FOREIGNER[:17] + "0"  # a wrong check character
    result = convert_bytes_with_report(text(invalid).encode(), Settings(data_dir=tmp_path))
    patient = one(result.bundle, "Patient")
    assert _national(patient) == []
    assert next(i for i in patient["identifier"] if i["value"] == invalid)["extension"] == [FLAG]
    assert {"code": "invalid-resident-id", "location": "PID^1"} in result.report


def test_pid_19_valid_invalid_and_other(converter):
    valid = one(convert(converter, message(pid19=VALID_2)), "Patient")
    assert [i["value"] for i in _national(valid)] == [VALID_2]
    ssn = one(convert(converter, message(pid19="123-45-6789")), "Patient")
    other = next(i for i in ssn["identifier"] if i["value"] == "123-45-6789")
    assert "extension" not in other and "system" not in other
    assert other["type"]["coding"][0]["code"] == "SB"


def test_a_valid_number_in_pid_3_and_pid_19_is_one_identifier(converter):
    patient = one(convert(converter, message(pid3=f"MRN0001^^^SZRMYY^MR~{VALID}^^^^NNCHN", pid19=VALID)), "Patient")
    assert len(_national(patient)) == 1


# Time zones ---------------------------------------------------------------------------------------------------


def test_local_times_are_the_senders_zone_with_the_offset_and_dates_stay_dates(tmp_path):
    default = convert_bytes(message().encode(), Settings(data_dir=tmp_path))
    assert one(default, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+08:00"  # Asia/Shanghai
    assert one(default, "Patient")["birthDate"] == "1980-01-01"
    urumqi = Settings(data_dir=tmp_path, sender_timezones={"HIS^SZRMYY": "Asia/Urumqi"})
    bundle = convert_bytes(message().encode(), urumqi)
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+06:00"
    assert one(bundle, "Patient")["birthDate"] == "1980-01-01"


def test_an_offset_sent_is_kept(converter):
    text = message().replace("|202603150830\r", "|202603150830+0900\r")
    bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+09:00"


# A name sent where the staff number goes --------------------------------------------------------------------------


def _participants(text: str, converter) -> list[dict]:
    return [p["individual"] for p in one(convert(converter, text), "Encounter")["participant"]]


def test_a_chinese_name_alone_in_xcn_1_is_a_name_not_an_identifier(converter):
    # PV1-7 attending doctor 王伟 with no number; PV1-8 referring doctors: one by number and name, one by name alone
    text = message().replace("PV1|1|I|内科^301^2||||", "PV1|1|I|内科^301^2||||王伟|D002^李^娜~阿卜杜·热合曼")
    assert _participants(text, converter) == [
        {"display": "王伟"},
        {"identifier": {"value": "D002"}, "display": "李娜"},
        {"display": "阿卜杜·热合曼"},
    ]


@pytest.mark.parametrize(
    ("xcn", "individual"),
    [
        ("内科001", {"identifier": {"value": "内科001"}}),  # a number that has letters of a name in it: a number
        ("SMITH", {"identifier": {"value": "SMITH"}}),  # the IG: XCN.1 is the identifier, whatever it looks like
        ("王伟^王^伟", {"identifier": {"value": "王伟"}, "display": "王伟"}),  # a name given too: XCN.1 a number
    ],
)
def test_xcn_1_stays_an_identifier_unless_it_is_a_chinese_name_alone(converter, xcn, individual):
    text = message().replace("PV1|1|I|内科^301^2||||", f"PV1|1|I|内科^301^2||||{xcn}")
    assert _participants(text, converter) == [individual]
