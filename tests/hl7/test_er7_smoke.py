from hub.hl7 import er7


def test_msh_fields_are_numbered_as_in_the_standard():
    m = er7.parse("MSH|^~\\&|HIS|HOSP|HUB|CITY|20260101120000||ADT^A01^ADT_A01|42|P|2.5\rPID|1||123^^^H^MR||Zhang^San")
    assert m.msh[1] == "|"
    assert m.msh[9] == "ADT^A01^ADT_A01"
    assert m.get(m.msh, 9, 2) == "A01"
    pid = m.first("PID")
    assert pid is not None and m.get(pid, 5, 2) == "San"


def test_database_migrates(session):
    from sqlalchemy import text

    assert session.execute(text("select count(*) from inbox")).scalar_one() == 0


def test_padding_after_the_last_segment_is_not_glued_to_its_last_field():
    # A DOS end-of-file (^Z, 0x1A) or NUL padding after the last segment terminator, as files and fixed-size
    # buffers leave them: not a wrapped continuation of the last field (PV1-3 would read "W1^101^1\n\x1a",
    # and a FHIR string may not hold those characters).
    base = (
        "MSH|^~\\&|HIS|HOSP|HUB|CITY|20260101120000||ADT^A01^ADT_A01|42|P|2.5.1\r"
        "PID|1||123^^^H^MR||张^三\rPV1|1|I|W1^101^1"
    )
    for tail in ["\r\x1a", "\r\n\x1a", "\r\x00\x00\x00", "\n\x00\x1a\r\n", "\r \x1a \r"]:
        m = er7.parse(base + tail)
        assert [s.name for s in m.segments] == ["MSH", "PID", "PV1"], repr(tail)
        pv1 = m.first("PV1")
        assert pv1 is not None and pv1[3] == "W1^101^1", repr(tail)
    # a ^Z or NUL padding with no terminator before it, and NUL bytes in front of a wrapped line
    for tail in ["\x1a", "\x00\x00", "\r\n\x00\x1a"]:
        pv1 = er7.parse(base + tail).first("PV1")
        assert pv1 is not None and pv1[3] == "W1^101^1", repr(tail)
    pv1 = er7.parse(base + "\r\x00\x00附注\r").first("PV1")
    assert pv1 is not None and pv1[3] == "W1^101^1\n附注"
    # text that wraps onto the next line is still the field's continuation
    wrapped = er7.parse(base + "\r第二行\r")
    pv1 = wrapped.first("PV1")
    assert pv1 is not None and pv1[3] == "W1^101^1\n第二行"
