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
