"""VXU^V04 participations (v2.8+: PRT in the ORDER group, after the ORC or after the RXA): PRT-4 AP (administering
provider, RXA-10's role) and OP (ordering provider, ORC-12's role) are Immunization.performer with that function
(R4 binding v2-0443); one person named by the field and by a line of the same role is one performer; a withdrawn
line (PRT-2 DE, D, UN) names nobody and takes the person it names out of that function."""

from __future__ import annotations

from .conftest import convert, one
from .order_messages import HOSPITAL, message, orc, pid, pv1
from .test_immunization import rxa

V2_0443 = "http://terminology.hl7.org/CodeSystem/v2-0443"
AP = {"coding": [{"system": V2_0443, "code": "AP", "display": "Administering Provider"}]}
OP = {"coding": [{"system": V2_0443, "code": "OP", "display": "Ordering Provider"}]}
RXR = "RXR|IM^肌肉注射^HL70162|LA^左上臂^HL70163"


def vxu(control: str, *order: str) -> str:
    msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315093000||VXU^V04^VXU_V04|{control}|P|2.8"
    return message(msh, pid(), pv1(), *order)


def prt(seq: int, role: str, who: str, action: str = "AD") -> str:
    # PRT-2 action code (table 0287), PRT-4 participation (table 0912), PRT-5 the person (XCN)
    return f"PRT|{seq}|{action}||{role}^^HL70912|{who}"


def practitioner(ident: str, name: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": "urn:hub:id:SZRMYY", "value": ident}, "display": name}


def performers(bundle: dict) -> list[tuple[str, str]]:
    return [
        (p["function"]["coding"][0]["code"], p["actor"]["identifier"]["value"])
        for p in one(bundle, "Immunization")["performer"]
    ]


def test_v2_9_style_prt_lines_name_the_ordering_and_administering_providers(converter):
    # ORC-12 and RXA-10 empty: the doctor who ordered the dose and the nurse who gave it are PRT lines
    bundle = convert(
        converter,
        vxu(
            "VXP1",
            orc(f1="RE", f2="", f3=f"IZ-4001^{HOSPITAL}", f12=""),
            prt(1, "OP", "D1101^周^晓明^^^^^^SZRMYY"),
            rxa(f10=""),
            prt(2, "AP", "N1201^吴^丽娟^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert one(bundle, "Immunization")["performer"] == [
        {"function": AP, "actor": practitioner("N1201", "吴丽娟")},
        {"function": OP, "actor": practitioner("D1101", "周晓明")},
    ]


def test_a_line_naming_the_field_s_person_again_is_one_performer(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP2",
            # ORC-12 the doctor D001 王伟 and RXA-10 the nurse N02 赵敏, each named again by a PRT line of their role
            orc(f1="RE", f2="", f3=f"IZ-4002^{HOSPITAL}"),
            prt(1, "OP", "D001^王^伟^^^^^^SZRMYY"),
            rxa(f10="N02^赵^敏^^^^^^SZRMYY"),
            prt(2, "AP", "N02^赵^敏^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert one(bundle, "Immunization")["performer"] == [
        {"function": AP, "actor": practitioner("N02", "赵敏")},
        {"function": OP, "actor": practitioner("D001", "王伟")},
    ]


def test_another_person_is_another_performer_and_one_person_in_two_roles_is_two(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP3",
            orc(f1="RE", f2="", f3=f"IZ-4003^{HOSPITAL}", f12=""),
            # a clinic doctor who ordered and gave the dose himself, with a nurse who gave it with him
            prt(1, "OP", "D1102^郑^建华^^^^^^SZRMYY"),
            rxa(f10="D1102^郑^建华^^^^^^SZRMYY"),
            prt(2, "AP", "N1202^冯^婷^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert performers(bundle) == [("AP", "D1102"), ("AP", "N1202"), ("OP", "D1102")]


def test_a_withdrawn_line_names_nobody_and_takes_the_field_s_person_out(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP4",
            # the record corrected: RXA-10's nurse 赵敏 did not give the dose (AP withdrawn), 吴丽娟 did; ORC-12's
            # doctor is withdrawn as the ordering provider
            orc(f1="RE", f2="", f3=f"IZ-4004^{HOSPITAL}"),
            prt(1, "OP", "D001^王^伟^^^^^^SZRMYY", action="DE"),
            rxa(f10="N02^赵^敏^^^^^^SZRMYY"),
            prt(2, "AP", "N02^赵^敏^^^^^^SZRMYY", action="UN"),
            prt(3, "AP", "N1201^吴^丽娟^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert performers(bundle) == [("AP", "N1201")]


def test_other_roles_and_an_observation_s_prt_are_no_performers(converter):
    # guard: the entering nurse (EP) is no performer, and a PRT of an OBX (its OBSERVATION group) is the
    # observation's, not the vaccination's
    bundle = convert(
        converter,
        vxu(
            "VXP5",
            orc(f1="RE", f2="", f3=f"IZ-4005^{HOSPITAL}", f12=""),
            prt(1, "EP", "N1203^陈^曦^^^^^^SZRMYY"),
            rxa(f10=""),
            RXR,
            "OBX|1|CE|30963-3^Vaccine funding source^LN|1|VXC2^国家免疫规划^CDCPHINVS||||||F",
            prt(1, "AP", "N1204^林^静^^^^^^SZRMYY"),
        ),
    )
    assert "performer" not in one(bundle, "Immunization")


# -- a withdrawn line that names its person without an identifier (^王^伟): withdrawn by name (XCN_text) ----------


def named(bundle: dict) -> list[tuple[str, str]]:
    """(function, display) of each performer: persons named with or without an identifier alike."""
    return [
        (p["function"]["coding"][0]["code"], p["actor"]["display"])
        for p in one(bundle, "Immunization").get("performer", [])
    ]


def test_a_withdrawn_name_only_ap_line_takes_rxa_10_s_person_of_that_name_out(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP6",
            orc(f1="RE", f2="", f3=f"IZ-4006^{HOSPITAL}", f12=""),
            # RXA-10 the nurse N03 王伟, withdrawn as the administering provider by a line naming him by name only
            rxa(f10="N03^王^伟^^^^^^SZRMYY"),
            "PRT|1|DE||AP^Administering Provider^HL70443|^王^伟",
            prt(2, "AP", "N1201^吴^丽娟^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert named(bundle) == [("AP", "吴丽娟")]


def test_a_withdrawn_name_only_op_line_takes_orc_12_s_person_out_of_that_function_only(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP7",
            # ORC-12 the doctor D001 王伟, who also gave the dose (RXA-10): withdrawn (UN) as the ordering provider
            # by name; he stays the administering provider, and another AP line of him by number is him again
            orc(f1="RE", f2="", f3=f"IZ-4007^{HOSPITAL}"),
            prt(1, "OP", "^王^伟", action="UN"),
            rxa(f10="D001^王^伟^^^^^^SZRMYY"),
            prt(2, "AP", "D001^王^伟^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert named(bundle) == [("AP", "王伟")]


def test_a_withdrawn_name_only_line_takes_a_line_of_that_name_out(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP8",
            orc(f1="RE", f2="", f3=f"IZ-4008^{HOSPITAL}", f12=""),
            prt(1, "OP", "D001^王^伟^^^^^^SZRMYY"),
            prt(2, "OP", "^王^伟", action="D"),
            rxa(f10=""),
            prt(3, "AP", "^赵^敏"),
            prt(4, "AP", "^赵^敏", action="DE"),
            prt(5, "AP", "N1201^吴^丽娟^^^^^^SZRMYY"),
            RXR,
        ),
    )
    assert named(bundle) == [("AP", "吴丽娟")]


def test_a_name_only_withdrawal_of_another_person_keeps_rxa_10_and_orc_12(converter):
    bundle = convert(
        converter,
        vxu(
            "VXP9",
            # guard: 刘洋 is withdrawn by name in both functions; the field's persons 赵敏 (AP) and 王伟 (OP) stay
            orc(f1="RE", f2="", f3=f"IZ-4009^{HOSPITAL}"),
            prt(1, "OP", "^刘^洋", action="DE"),
            rxa(f10="N02^赵^敏^^^^^^SZRMYY"),
            prt(2, "AP", "^刘^洋", action="DE"),
            RXR,
        ),
    )
    assert named(bundle) == [("AP", "赵敏"), ("OP", "王伟")]
