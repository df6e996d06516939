"""Header reading (decoding, allow-lists) and the ACK writer, checked field by field and against hl7apy."""

from __future__ import annotations

import pytest

from hub.errors import Hl7Error, Hl7ParseError, Hl7Rejected
from hub.hl7 import er7
from hub.hl7.ack import accept_ack_due, ack_code, ack_code_for_error, build_ack
from hub.hl7.header import derive_structure, parse_header, read_header, salvage_header


def message(
    *,
    version: str = "2.5.1",
    msh9: str = "ADT^A01^ADT_A01",
    control: str = "CTRL1",
    msh15: str = "",
    msh16: str = "",
    msh18: str = "",
    sender: str = "HIS^1.2.156.1^ISO",  # MSH-3 as an HD with components: echoed verbatim
    facility: str = "HOSP_A",
    sep: str = "\r",
) -> str:
    msh = (
        f"MSH|^~\\&|{sender}|{facility}|HUB|CITY|20260315083000||{msh9}|{control}|P|{version}"
        f"|||{msh15}|{msh16}||{msh18}"  # MSH-13, 14 empty; MSH-15, 16 ack types; MSH-17 empty; MSH-18 charset
    )
    return sep.join([msh, "EVN|A01|20260315083000", "PID|1||MRN1^^^HOSP_A^MR||Zhang^San"]) + sep


# Reading the header ------------------------------------------------------------------------------


def test_header_fields_are_read_from_msh(settings):
    header, text = read_header(message(msh15="AL", msh16="NE", msh18="UNICODE UTF-8").encode(), settings)
    assert header.sending_application == "HIS^1.2.156.1^ISO"
    assert header.sending_facility == "HOSP_A"
    assert (header.receiving_application, header.receiving_facility) == ("HUB", "CITY")
    assert (header.message_code, header.trigger_event, header.structure) == ("ADT", "A01", "ADT_A01")
    assert header.message_type == "ADT^A01"
    assert (header.control_id, header.processing_id, header.version) == ("CTRL1", "P", "2.5.1")
    assert (header.accept_ack_type, header.application_ack_type) == ("AL", "NE")
    assert header.enhanced_mode
    assert header.charset == "UNICODE UTF-8" and header.codec == "utf-8"
    assert header.dedup_key == ("HIS^1.2.156.1^ISO", "HOSP_A", "CTRL1")
    assert text.startswith("MSH|") and "PID|1||MRN1" in text


@pytest.mark.parametrize(
    ("msh9", "structure"),
    [
        ("ADT^A04", "ADT_A01"),  # table 0354: A04 shares A01's structure
        ("ADT^A08", "ADT_A01"),
        ("ADT^A31", "ADT_A05"),
        ("ADT^A40", "ADT_A39"),
        ("ORU^R01", "ORU_R01"),
        ("SIU^S14", "SIU_S12"),
        ("ADT^A04^ADT_A01", "ADT_A01"),  # MSH-9.3 given wins
        ("ORM^O01^ORM_O01", "ORM_O01"),
    ],
)
def test_structure_is_msh_9_3_or_derived(settings, msh9, structure):
    header, _ = read_header(message(msh9=msh9).encode(), settings)
    assert header.structure == structure


def test_derive_structure_edges():
    assert derive_structure("ACK", "A01") == "ACK"
    assert derive_structure("ADT", "") == "ADT"
    assert derive_structure("", "A01") == ""


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_any_segment_terminator_and_a_bom(settings, sep):
    raw = b"\xef\xbb\xbf" + message(sep=sep).encode()
    header, text = read_header(raw, settings)
    assert header.control_id == "CTRL1" and header.version == "2.5.1"
    assert not text.startswith("\ufeff")
    assert len(er7.parse(text).segments) == 3


def test_gb18030_by_msh_18(settings):
    raw = message(msh18="GB18030").replace("Zhang^San", "张^三").encode("gb18030")
    header, text = read_header(raw, settings)
    assert header.codec == "gb18030"
    assert "张^三" in text


def test_gb18030_by_the_senders_default(settings):
    raw = message(sender="LIS_GBK").replace("Zhang^San", "李^四").encode("gb18030")
    custom = settings.model_copy(update={"sender_charsets": {"LIS_GBK^HOSP_A": "GBK"}})
    header, text = read_header(raw, custom)
    assert header.codec == "gb18030"  # GBK is decoded with its superset
    assert "李^四" in text


def test_the_default_of_a_sender_named_in_its_own_charset(settings):
    # MSH-4 港島診所 in Big5 bytes: the configuration names the sender as text, not as its Latin-1 reading
    raw = message(sender="HIS", facility="港島診所").replace("Zhang^San", "陳^大文").encode("big5")
    custom = settings.model_copy(update={"sender_charsets": {"HIS^港島診所": "BIG5"}})
    header, text = read_header(raw, custom)
    assert header.codec == "big5" and header.sending_facility == "港島診所"
    assert "陳^大文" in text


def test_bytes_invalid_in_the_declared_charset_are_a_parse_error(settings):
    raw = message(msh18="UNICODE UTF-8").replace("Zhang", "张").encode("gb18030")
    with pytest.raises(Hl7ParseError) as info:
        read_header(raw, settings)
    assert info.value.hl7_code == "102"


@pytest.mark.parametrize("msh18", ["GB-18030", "GB_18030", "gb-2312", "UNICODE_UTF-8"])
def test_a_charset_spelled_with_dashes_or_underscores(settings, msh18):
    # the vendors' spellings of table 0211's GB 18030, GB 2312 and UNICODE UTF-8
    raw = message(msh18=msh18).replace("Zhang", "张").encode("utf-8" if "UTF" in msh18 else "gb18030")
    header, text = read_header(raw, settings)
    assert "张^San" in text and header.codec in {"gb18030", "utf-8"}


def test_unknown_charset_is_table_value_not_found(settings):
    with pytest.raises(Hl7ParseError) as info:
        read_header(message(msh18="EBCDIC-XYZ").encode(), settings)
    assert info.value.hl7_code == "103" and info.value.location == "MSH^1^18"


@pytest.mark.parametrize(
    ("kwargs", "error", "code", "location"),
    [
        ({"msh9": ""}, Hl7ParseError, "101", "MSH^1^9"),
        ({"control": ""}, Hl7ParseError, "101", "MSH^1^10"),
        ({"msh9": "XYZ^Z01"}, Hl7Rejected, "200", "MSH^1^9^1^1"),
        ({"version": "3.0"}, Hl7Rejected, "203", "MSH^1^12"),
        ({"version": ""}, Hl7ParseError, "101", "MSH^1^12"),
        ({"control": "X" * 200}, Hl7ParseError, "102", "MSH^1^10"),
        ({"control": "A\x00B"}, Hl7ParseError, "102", "MSH^1^10"),
    ],
)
def test_header_errors(settings, kwargs, error, code, location):
    with pytest.raises(error) as info:
        read_header(message(**kwargs).encode(), settings)
    assert info.value.hl7_code == code
    assert info.value.location == location


def test_event_outside_an_event_allow_list_is_201(settings):
    custom = settings.model_copy(update={"allowed_message_types": ["ADT^A01", "ADT^A04", "ORU"]})
    read_header(message(msh9="ADT^A04").encode(), custom)
    read_header(message(msh9="ORU^R01").encode(), custom)
    with pytest.raises(Hl7Rejected) as info:
        read_header(message(msh9="ADT^A08").encode(), custom)
    assert (info.value.hl7_code, info.value.location) == ("201", "MSH^1^9^1^2")


@pytest.mark.parametrize("raw", [b"", b"hello", b"PID|1||x\r", b"MSH", b"MSHa^~\\&|x"])
def test_no_usable_msh_is_a_parse_error(settings, raw):
    with pytest.raises(Hl7ParseError):
        read_header(raw, settings)


def test_salvaged_header_reads_latin1_bytes_of_an_undecodable_message(settings):
    raw = message(msh18="UNICODE UTF-8", facility="张医院").encode("gb18030")  # 张 = D5 C5: not UTF-8
    with pytest.raises(Hl7ParseError):
        parse_header(raw, settings)
    header = salvage_header(raw)
    assert header is not None and header.codec == "latin-1"
    assert header.control_id == "CTRL1"
    assert header.sending_facility.encode("latin-1") == "张医院".encode("gb18030")
    assert salvage_header(b"no header here") is None


# The ACK ----------------------------------------------------------------------------------------


def test_aa_swaps_sender_and_receiver_and_echoes_the_control_id(settings, acks):
    header, _ = read_header(message(msh18="UNICODE UTF-8").encode(), settings)
    ack = build_ack(header, "AA")
    parsed = er7.parse(ack)
    msh = parsed.msh
    assert (msh[3], msh[4], msh[5], msh[6]) == ("HUB", "CITY", "HIS^1.2.156.1^ISO", "HOSP_A")
    assert msh[9] == "ACK^A01^ACK"
    assert msh[11] == "P" and msh[12] == "2.5.1" and msh[18] == "UNICODE UTF-8"
    assert msh[10] and msh[10] != "CTRL1" and len(msh[10]) <= 20
    assert [s.name for s in parsed.segments] == ["MSH", "MSA"]
    assert parsed.first("MSA").fields[1:3] == ["AA", "CTRL1"]
    acks.validate(ack)


def test_each_ack_has_its_own_control_id(settings):
    header, _ = read_header(message().encode(), settings)
    ids = {er7.parse(build_ack(header, "AA")).msh[10] for _ in range(1000)}
    assert len(ids) == 1000


def test_the_ack_uses_the_messages_delimiters(settings):
    raw = b"MSH#$%\\*#HIS#HOSP#HUB#CITY#20260315083000##ADT$A01$ADT_A01#C9#P#2.5.1\rPID#1\r"
    header, _ = read_header(raw, settings)
    error = Hl7Rejected("bad # and $ in text", hl7_code="200", location="MSH^1^9^1^1")
    ack = build_ack(header, "AR", error=error)
    parsed = er7.parse(ack)
    assert parsed.delimiters.field == "#" and parsed.delimiters.component == "$"
    assert parsed.msh[9] == "ACK$A01$ACK"
    err = parsed.first("ERR")
    assert err is not None and err[2] == "MSH$1$9$1$1"
    assert parsed.unescape(err[8]) == "bad # and $ in text"


ERROR_CLASSES = [
    Hl7ParseError("the message does not start with an MSH segment", hl7_code="100", location="MSH^1"),
    Hl7ParseError("MSH-9 (message type) is missing", hl7_code="101", location="MSH^1^9"),
    Hl7ParseError("MSH-10 (message control id) is missing", hl7_code="101", location="MSH^1^10"),
    Hl7ParseError("bad bytes", hl7_code="102", location="MSH^1^18"),
    Hl7Rejected("message type XYZ is not accepted", hl7_code="200", location="MSH^1^9^1^1"),
    Hl7Rejected("trigger event ADT^Z99 is not accepted", hl7_code="201", location="MSH^1^9^1^2"),
    Hl7Rejected("HL7 version 9.9 is not accepted", hl7_code="203", location="MSH^1^12"),
    Hl7Rejected("the message is larger than 1000 bytes | accepted", hl7_code="207", location="MSH^1"),
    Hl7Error("the hub cannot store the message now", hl7_code="206", location="MSH^1"),
]


@pytest.mark.parametrize("error", ERROR_CLASSES, ids=lambda e: e.hl7_code)
def test_err_segment_in_v2_5_and_later(settings, error):
    header, _ = read_header(message(version="2.5.1").encode(), settings)
    ack = build_ack(header, "AR", error=error)
    parsed = er7.parse(ack)
    assert parsed.first("MSA").fields[1:3] == ["AR", "CTRL1"]
    assert parsed.unescape(parsed.first("MSA")[3]) == error.message  # MSA-3 (backward compatible in 2.5.1)
    err = parsed.first("ERR")
    assert err is not None
    assert err[1] == ""  # ERR-1 is for versions before 2.5
    assert err[2] == error.location  # ERR-2 location (ERL)
    assert parsed.get(err, 3, 1) == error.hl7_code and parsed.get(err, 3, 3) == "HL70357"
    assert parsed.get(err, 3, 2)  # the table's text for the code
    assert err[4] == "E"
    assert parsed.unescape(err[8]) == error.message


@pytest.mark.parametrize("error", ERROR_CLASSES, ids=lambda e: e.hl7_code)
def test_err_1_for_versions_before_2_5(settings, error):
    header, _ = read_header(message(version="2.3", msh9="ADT^A01").encode(), settings)
    parsed = er7.parse(build_ack(header, "AR", error=error))
    err = parsed.first("ERR")
    assert err is not None and len(err) == 1
    location = error.location.split("^")
    assert parsed.get(err, 1, 1) == location[0]
    assert parsed.get(err, 1, 2) == "1"
    assert parsed.get(err, 1, 3) == (location[2] if len(location) > 2 else "")
    assert parsed.get(err, 1, 4, 1) == error.hl7_code
    assert parsed.get(err, 1, 4, 3) == "HL70357"


def test_v2_7_has_no_msa_3(settings):
    header, _ = read_header(message(version="2.7").encode(), settings)
    parsed = er7.parse(build_ack(header, "AR", error=ERROR_CLASSES[4]))
    assert len(parsed.first("MSA")) == 2
    assert parsed.first("ERR")[3].startswith("200^")


def test_ack_without_a_header(acks):
    ack = build_ack(None, "AR", error=ERROR_CLASSES[0])
    parsed = er7.parse(ack)
    assert parsed.msh[12] == "2.5.1"
    assert parsed.first("MSA").fields[1:3] == ["AR", ""]  # nothing to echo: no MSH-10 was readable
    assert parsed.get(parsed.first("ERR"), 3, 1) == "100"


@pytest.mark.parametrize(
    "version", ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"]
)
def test_every_ack_kind_is_valid_for_hl7apy_strict(settings, acks, version):
    assert version in acks.hl7apy_versions
    old = version < "2.3.1"
    msh9 = "ADT^A01" if old else "ADT^A01^ADT_A01"
    sender = "HIS" if version < "2.3" else "HIS^1.2.156.1^ISO"  # MSH-3 is ST before 2.3, HD after
    for msh15, msh16 in (("", ""), ("AL", "NE")):
        raw = message(version=version, msh9=msh9, msh15=msh15, msh16=msh16, sender=sender).encode()
        header, _ = read_header(raw, settings)
        kinds: list[tuple[str, Hl7Error | None]] = [(ack_code(header, "accept"), None)]
        kinds += [(ack_code_for_error(header, e), e) for e in ERROR_CLASSES]
        for code, error in kinds:
            acks.validate(build_ack(header, code, error=error))


def test_ack_without_a_header_differs_from_the_structure_only_by_msa_2(acks):
    """The one ACK that cannot be fully valid: MSA-2 is required, but there was no MSH-10 to echo."""
    ack = build_ack(None, "AR", error=ERROR_CLASSES[0])
    with pytest.raises(Exception, match="MSA_2"):
        acks.validate(ack)
    acks.validate(ack.replace("MSA|AR|", "MSA|AR|unknown"))


def test_codes_by_mode(settings):
    original, _ = read_header(message().encode(), settings)
    enhanced, _ = read_header(message(msh15="AL").encode(), settings)
    only_16, _ = read_header(message(msh16="AL").encode(), settings)
    assert [ack_code(original, o) for o in ("accept", "error", "reject")] == ["AA", "AE", "AR"]
    assert [ack_code(enhanced, o) for o in ("accept", "error", "reject")] == ["CA", "CE", "CR"]
    assert ack_code(only_16, "accept") == "CA"
    assert ack_code_for_error(enhanced, ERROR_CLASSES[4]) == "CR"
    assert ack_code_for_error(original, ERROR_CLASSES[4]) == "AR"


@pytest.mark.parametrize(
    ("msh15", "due"),
    [
        ("AL", {"CA": True, "CE": True, "CR": True}),
        ("NE", {"CA": False, "CE": False, "CR": False}),
        ("ER", {"CA": False, "CE": True, "CR": True}),
        ("SU", {"CA": True, "CE": False, "CR": False}),
        ("", {"CA": True, "CE": True, "CR": True}),  # enhanced by MSH-16 alone: taken as AL
    ],
)
def test_accept_ack_conditions(settings, msh15, due):
    header, _ = read_header(message(msh15=msh15, msh16="AL").encode(), settings)
    assert header.enhanced_mode
    assert {code: accept_ack_due(header, code) for code in due} == due


def test_original_mode_always_answers(settings):
    header, _ = read_header(message().encode(), settings)
    assert not header.enhanced_mode
    assert all(accept_ack_due(header, code) for code in ("AA", "AE", "AR"))
    assert accept_ack_due(None, "AR")


def test_an_ack_is_not_acknowledged_unless_it_asks(settings):
    ack, _ = read_header(message(msh9="ACK^A01^ACK").encode(), settings)
    assert not any(accept_ack_due(ack, code) for code in ("AA", "AE", "AR"))
    asking, _ = read_header(message(msh9="ACK^A01^ACK", msh15="AL", msh16="NE").encode(), settings)
    assert accept_ack_due(asking, "CA")
