"""A person's roles from other segments survive a later message that names the person in one role only.

The patient's spouse named by NK1 (next of kin, NK1-7 C emergency contact), GT1 (guarantor) and IN1 (insured) of
one A01 is one RelatedPerson (mappings/README.md, "One person, many segments"). NK1 is the authority for the
contact roles (NK1-7, table 0131): a DFT whose GT1 alone names the spouse, or an order whose IN1 alone does, says
nothing about them, so the stored ones stay; an A08 whose NK1 names the spouse without NK1-7 replaces them (the
contact role is gone). Inbox row → convert_message → store, read back (SQLite; PostgreSQL with
HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.nulls import KEEP_EXTENSION_URL
from tests.mapping.test_financial_guarantor import PV1, message, pid, segment
from tests.mapping.test_one_related_person import WIFE_GT1, WIFE_IN1
from tests.test_conversion_semantics import convert, entry_marks, ids, mpi, read  # noqa: F401  (the fixture)

V2_0131 = "http://terminology.hl7.org/CodeSystem/v2-0131"
KEEP_CONTACT_ROLES = f"+relationship[coding.system={V2_0131}]"
# the wife as next of kin: NK1-3 spouse, NK1-7 C (emergency contact)
WIFE_NK1 = segment("NK1", f1="1", f2="王芳", f3="SPO^配偶^HL70063", f5="13800138000^PRN^PH", f7="C^紧急联系人^HL70131")


def raw(msg_type: str, *segments: str, control: str) -> bytes:
    return message(msg_type, *segments, control=control).encode("utf-8")


def roles(person: dict[str, Any]) -> list[tuple[str, str]]:
    """(table, code) of each relationship's first coding."""
    return sorted((r["coding"][0]["system"].rsplit("/", 1)[-1], r["coding"][0]["code"]) for r in person["relationship"])


def admit(session: Any, settings: Any) -> str:
    """An A01 naming the wife as next of kin, guarantor and insured; the RelatedPerson's id."""
    a01 = raw("ADT^A01^ADT_A01", pid(), WIFE_NK1, PV1, WIFE_GT1, WIFE_IN1, control="R0001")
    convert(session, settings, a01)
    rid = ids(settings, a01)["RelatedPerson"]
    assert roles(read(session, "RelatedPerson", rid)) == [("v2-0131", "C"), ("v3-RoleCode", "SPS")]
    return rid


def test_a_dft_naming_the_spouse_as_guarantor_keeps_the_contact_role(mpi, settings):  # noqa: F811
    rid = admit(mpi, settings)
    dft = raw("DFT^P03^DFT_P03", pid(), PV1, "FT1|1|||20260316||CG|C001^床位费||1", WIFE_GT1, control="R0002")
    assert ids(settings, dft)["RelatedPerson"] == rid
    assert KEEP_CONTACT_ROLES in entry_marks(settings, dft, "RelatedPerson", KEEP_EXTENSION_URL)
    convert(mpi, settings, dft)
    wife = read(mpi, "RelatedPerson", rid)
    # the GT1's relationship (GT1-11 spouse) is the stored one, not doubled; the NK1's contact role stays
    assert roles(wife) == [("v2-0131", "C"), ("v3-RoleCode", "SPS")]
    # then an A08 whose NK1 names her without NK1-7: the NK1 says her contact roles, none now
    nk1 = segment("NK1", f1="1", f2="王芳", f3="SPO^配偶^HL70063", f5="13800138000^PRN^PH")
    a08 = raw("ADT^A08^ADT_A01", pid(), nk1, PV1, control="R0003")
    assert KEEP_CONTACT_ROLES not in entry_marks(settings, a08, "RelatedPerson", KEEP_EXTENSION_URL)
    convert(mpi, settings, a08)
    assert roles(read(mpi, "RelatedPerson", rid)) == [("v3-RoleCode", "SPS")]


def test_an_order_naming_the_spouse_as_insured_keeps_the_contact_role(mpi, settings):  # noqa: F811
    rid = admit(mpi, settings)
    orc = "ORC|NW|ORD001^HIS||||||||||D001^王^一"
    obr = "OBR|1|ORD001^HIS||CBC^血常规^LOCAL"
    order = raw("OML^O21^OML_O21", pid(), PV1, WIFE_IN1, orc, obr, control="R0004")
    assert ids(settings, order)["RelatedPerson"] == rid
    convert(mpi, settings, order)
    assert roles(read(mpi, "RelatedPerson", rid)) == [("v2-0131", "C"), ("v3-RoleCode", "SPS")]


def test_a_message_whose_nk1_gives_the_contact_role_replaces_it_whatever_segment_comes_first(mpi, settings):  # noqa: F811
    rid = admit(mpi, settings)
    # a BAR names the insured (IN1) and the guarantor (GT1) before the next of kin (NK1, now N next of kin only)
    nk1 = segment("NK1", f1="1", f2="王芳", f3="SPO^配偶^HL70063", f7="N^Next-of-Kin^HL70131")
    bar = raw("BAR^P01^BAR_P01", pid(), PV1, WIFE_GT1, nk1, WIFE_IN1, control="R0005")
    assert KEEP_CONTACT_ROLES not in entry_marks(settings, bar, "RelatedPerson", KEEP_EXTENSION_URL)
    convert(mpi, settings, bar)
    assert roles(read(mpi, "RelatedPerson", rid)) == [("v2-0131", "N"), ("v3-RoleCode", "SPS")]


def test_the_hl7_null_in_the_guarantors_relationship_deletes_that_relationship_only(mpi, settings):  # noqa: F811
    # the wife named by her number (NK1-33, GT1-2): one person whatever relationship each segment gives
    nk1 = segment("NK1", f1="1", f2="王芳", f3="SPO^配偶^HL70063", f7="C^紧急联系人^HL70131", f33="G001^^^SZRMYY")
    gt1 = segment("GT1", f1="1", f2="G001^^^SZRMYY", f3="王芳", f11="SPO^配偶^HL70063")
    a01 = raw("ADT^A01^ADT_A01", pid(), nk1, PV1, gt1, control="R0006")
    convert(mpi, settings, a01)
    rid = ids(settings, a01)["RelatedPerson"]
    assert roles(read(mpi, "RelatedPerson", rid)) == [("v2-0131", "C"), ("v3-RoleCode", "SPS")]
    # a DFT whose GT1-11 is "": the guarantor's relationship goes, the next of kin's contact role stays
    nulled = segment("GT1", f1="1", f2="G001^^^SZRMYY", f3="王芳", f11='""')
    dft = raw("DFT^P03^DFT_P03", pid(), PV1, "FT1|1|||20260316||CG|C001^床位费||1", nulled, control="R0007")
    assert ids(settings, dft)["RelatedPerson"] == rid
    convert(mpi, settings, dft)
    assert roles(read(mpi, "RelatedPerson", rid)) == [("v2-0131", "C")]
    # an A08 whose NK1-3 and NK1-7 are "": the NK1 deletes the list
    gone = segment("NK1", f1="1", f2="王芳", f3='""', f7='""', f33="G001^^^SZRMYY")
    a08 = raw("ADT^A08^ADT_A01", pid(), gone, PV1, control="R0008")
    convert(mpi, settings, a08)
    assert "relationship" not in read(mpi, "RelatedPerson", rid)


def test_a_dft_naming_the_spouse_as_insured_and_guarantor_keeps_the_phone_it_leaves_empty(mpi, settings):  # noqa: F811
    rid = admit(mpi, settings)
    phones = sorted(t["value"] for t in read(mpi, "RelatedPerson", rid)["telecom"])
    assert phones == ["075588886666", "13800138000"]  # GT1-7 her work phone, NK1-5 and GT1-6 her home phone
    # a DFT whose GT1 gives her home phone and leaves GT1-7 empty, beside her IN1 (the DFT's IN1 rule comes first):
    # the empty GT1-7 keeps the stored work phone, as in a DFT whose GT1 alone names her
    gt1 = segment("GT1", f1="1", f3="王芳", f6="13800138000^PRN^PH", f11="SPO^配偶^HL70063")
    dft = raw("DFT^P03^DFT_P03", pid(), PV1, "FT1|1|||20260316||CG|C001^床位费||1", gt1, WIFE_IN1, control="R0006")
    assert ids(settings, dft)["RelatedPerson"] == rid
    convert(mpi, settings, dft)
    assert sorted(t["value"] for t in read(mpi, "RelatedPerson", rid)["telecom"]) == phones
