"""Guards: the DiagnosticReport and MedicationDispense rules that read PRT with ``scope: group`` find a participation
of their role among lines of other roles, wherever in their group it is sent. They have no nearest-group limit (the
one ``scope: around`` lifted for MedicationRequest.requester, whose rules read the first group that had any PRT):

* an order's ORC and OBR are one group in every result structure (ORU_R01 ORDER_OBSERVATION, OUL ORDER, ORU_R30
  the message itself), so a PRT after the ORC and one after the OBR are both the report's;
* a dispense's PRT are those after its RXD (DISPENSE); the ORC's and the RXE's are the order's participations, which
  a dispense never reads, whatever its own lines are."""

from __future__ import annotations

from .conftest import convert, one
from .order_messages import message, msh, orc, pid, pv1
from .test_order_participations import HOSPITAL, PID, cholesterol_obx, lipid_obr, oru, person, prt
from .test_pharmacy import ROUTE, rxd, rxe, tq1


def test_report_reads_a_prt_after_the_orc_beside_the_obr_s_lines_of_other_roles(converter):
    bundle = convert(
        converter,
        oru(
            "ORC|RE|A1001^HIS|L2001^LIS",
            # the principal result interpreter named after the ORC, before the OBR (v2.8 ORC, PRT, OBR senders)
            prt(1, "PRI", "D2003^吴^刚^^^^^^SZRMYY"),
            lipid_obr(f32="", f34=""),
            # the OBR's own lines: a technician and a results copy recipient (RCT: no element)
            prt(1, "TN", "T3003^何^琳^^^^^^SZRMYY"),
            prt(2, "RCT", "D2004^钱^进^^^^^^SZRMYY"),
            cholesterol_obx(f16=""),
        ),
    )
    report = one(bundle, "DiagnosticReport")
    assert report["resultsInterpreter"] == [person("D2003", "吴刚")]
    assert report["performer"] == [person("T3003", "何琳")]


def test_point_of_care_report_reads_the_orc_s_prt_beside_the_obr_s(converter):
    text = message(
        f"MSH|^~\\&|POC|{HOSPITAL}|HUB|CITY|20260315093000||ORU^R30^ORU_R30|P31|P|2.8",
        PID,
        "ORC|NW|P801^POC",
        prt(1, "PRI", "D2003^吴^刚^^^^^^SZRMYY"),
        "OBR|1|P801^POC||GLU^血糖^L|||20260315080000",
        prt(1, "TN", "T3003^何^琳^^^^^^SZRMYY"),
        "OBX|1|NM|GLU^血糖^L||6.1|mmol/L|3.9-6.1|N|||F",
    )
    report = one(convert(converter, text), "DiagnosticReport")
    assert report["resultsInterpreter"] == [person("D2003", "吴刚")]
    assert report["performer"] == [person("T3003", "何琳")]


def test_dispense_reads_its_dp_among_other_roles_and_never_the_order_s_lines(converter):
    bundle = convert(
        converter,
        message(
            msh("RDS", "O13", "RDS_O13", "DS21"),
            pid(),
            pv1(),
            orc(f1="RE", f2="RX110^HIS", f3=""),
            # the order's participations: the ordering provider and a pharmacist of the order (DP at the ORC: the
            # order's, not this fill's)
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            prt(2, "DP", "P009^孔^丽^^^^^^SZRMYY"),
            tq1(),
            rxe(),
            prt(1, "PB", "P008^邓^华^^^^^^SZRMYY"),  # the encoded order's line
            ROUTE,
            rxd(f10=""),
            # the fill's own lines: the packer first, then the dispensing pharmacist
            prt(1, "PB", "P002^罗^小燕^^^^^^SZRMYY"),
            prt(2, "DP", "P001^陈^静^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    # rule order: the dispensing provider (RXD-10, DP), then the packer
    dispenser, packer = one(bundle, "MedicationDispense")["performer"]
    assert dispenser == {"actor": person("P001", "陈静")}
    assert packer["actor"] == person("P002", "罗小燕")


def _dispense_with_fill_lines(*fill_lines: str) -> str:
    return message(
        msh("RDS", "O13", "RDS_O13", "DS22"),
        pid(),
        pv1(),
        orc(f1="RE", f2="RX111^HIS", f3=""),
        # the order names its dispensing pharmacist once (DP after the ORC)
        prt(1, "DP", "P009^孔^丽^^^^^^SZRMYY"),
        tq1(),
        rxe(),
        ROUTE,
        rxd(f10=""),
        *fill_lines,
        ROUTE,
    )


def test_dispense_whose_only_line_is_a_packer_takes_the_order_s_dp_as_a_dispense_with_no_line_does(converter):
    # no RXD-10 and no DP line of the fill's own: the order's DP dispenses it, whether or not the fill names a packer
    bare = one(convert(converter, _dispense_with_fill_lines()), "MedicationDispense")
    assert bare["performer"] == [{"actor": person("P009", "孔丽")}]
    packed = one(
        convert(converter, _dispense_with_fill_lines(prt(1, "PB", "P002^罗^小燕^^^^^^SZRMYY"))), "MedicationDispense"
    )
    dispenser, packer = packed["performer"]
    assert dispenser == {"actor": person("P009", "孔丽")}
    assert packer["actor"] == person("P002", "罗小燕")
    assert packer["function"]["coding"][0]["code"] == "packager"
    # a DP line of the fill's own (a withdrawn one does not count) replaces the order's
    own = one(
        convert(
            converter,
            _dispense_with_fill_lines(
                prt(1, "PB", "P002^罗^小燕^^^^^^SZRMYY"),
                prt(2, "DP", "P001^陈^静^^^^^^SZRMYY"),
            ),
        ),
        "MedicationDispense",
    )
    assert [p["actor"] for p in own["performer"]] == [person("P001", "陈静"), person("P002", "罗小燕")]
