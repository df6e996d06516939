"""The v2.7+ PRT segment of an order, a result and a document, read for the element its role (table 0912) means;
one person named by a field and by a PRT line of the same role is one item (``unique`` with leaves)."""

from __future__ import annotations

from .conftest import convert, one, resources
from .order_messages import message, msh, orc, pid, pv1, segment
from .test_omp import rxo
from .test_pharmacy import ROUTE, rds, rxd, rxe, tq1

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
PID = "PID|1||MRN20260315^^^SZRMYY^MR||刘^德华||19680927|M"


def person(ident: str, name: str) -> dict:
    """The reference a PRT line makes of its person (PRT-5): a Practitioner by identifier and name."""
    return {"type": "Practitioner", "identifier": {"system": "urn:hub:id:SZRMYY", "value": ident}, "display": name}


def prt(seq: int, role: str, who: str, action: str = "AD") -> str:
    # PRT-2 action code (table 0287), PRT-4 participation (table 0912), PRT-5 the person (XCN)
    return f"PRT|{seq}|{action}||{role}^^HL70912|{who}"


def oru(*order: str) -> str:
    msh_ = f"MSH|^~\\&|LIS|{HOSPITAL}|HUB|CITY|20260315103000||ORU^R01^ORU_R01|L20260315001|P|2.8"
    return message(msh_, PID, *order)


def lipid_obr(**fields: str) -> str:
    # OBR-4 lipid panel, OBR-7 collection time, OBR-25 F final, OBR-32 principal result interpreter (a CNN: its
    # parts are subcomponents), OBR-34 technician
    base = {
        1: "1",
        2: "A1001^HIS",
        3: "L2001^LIS",
        4: "24331-1^血脂四项^LN",
        7: "20260315080000",
        25: "F",
        32: "D2001&李&明&&&&&&SZRMYY",
        34: "T3002&孙&丽&&&&&&SZRMYY",
    }
    return segment("OBR", base, **fields)


def cholesterol_obx(**fields: str) -> str:
    # OBX-16 responsible observer (the technician who ran the test)
    base = {
        1: "1",
        2: "NM",
        3: "2093-3^总胆固醇^LN",
        5: "5.2",
        6: "mmol/L",
        7: "3.1-5.7",
        11: "F",
        14: "20260315090000",
        16: "T3001^郑^强^^^^^^SZRMYY",
    }
    return segment("OBX", base, **fields)


def test_a_prt_naming_a_fields_person_again_is_one_interpreter_and_one_performer(converter):
    bundle = convert(
        converter,
        oru(
            "ORC|RE|A1001^HIS|L2001^LIS|||||||||D1001^王^建国^^^^^^SZRMYY",
            lipid_obr(),
            # OBR-32's doctor again as the principal result interpreter, OBR-34's technician again as TN
            prt(1, "PRI", "D2001^李^明^^^^^^SZRMYY"),
            prt(2, "TN", "T3002^孙^丽^^^^^^SZRMYY"),
            # an assistant/alternate interpreter (AI) is read as the assistant result interpreter (ARI): a performer
            prt(3, "AI", "D2002^周^敏^^^^^^SZRMYY"),
            cholesterol_obx(),
            # OBX-16's technician again, as the responsible observer of the result
            prt(1, "RO", "T3001^郑^强^^^^^^SZRMYY"),
        ),
    )
    report = one(bundle, "DiagnosticReport")
    # the richer item (the PRT line's, with its type) in the field's place
    assert report["resultsInterpreter"] == [person("D2001", "李明")]
    assert report["performer"] == [person("T3002", "孙丽"), person("D2002", "周敏")]
    assert one(bundle, "Observation")["performer"] == [person("T3001", "郑强")]


def test_another_person_in_the_same_role_stays_an_item_of_their_own(converter):
    bundle = convert(
        converter,
        oru(
            lipid_obr(f34=""),
            # a second interpreter beside OBR-32's, and a person without identifier (never merged by name)
            prt(1, "PRI", "D2003^吴^刚^^^^^^SZRMYY"),
            cholesterol_obx(),
            prt(1, "RO", "T3005^钱^进^^^^^^SZRMYY"),
        ),
    )
    report = one(bundle, "DiagnosticReport")
    assert [r["identifier"]["value"] for r in report["resultsInterpreter"]] == ["D2001", "D2003"]
    assert [p["identifier"]["value"] for p in one(bundle, "Observation")["performer"]] == ["T3001", "T3005"]


# -- pharmacy orders: the ordering provider (PRT-4 OP) is MedicationRequest.requester --------------------------


def rde(*order: str) -> str:
    return message(msh("RDE", "O11", "RDE_O11", "RX8"), pid(), pv1(), *order)


def test_rde_ordering_provider_prt_after_orc_is_the_requester_when_orc_12_is_empty(converter):
    bundle = convert(
        converter,
        rde(
            orc(f2="RX200^HIS", f3="", f12=""),
            # v2.9 moves the ordering provider from ORC-12 to a PRT line after the ORC
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            ROUTE,
        ),
    )
    assert one(bundle, "MedicationRequest")["requester"] == person("D1003", "陈志远")


def test_rde_ordering_provider_prt_after_rxe_and_orc_12_first(converter):
    # a PRT OP of the encoded order itself (after RXE)
    bundle = convert(
        converter, rde(orc(f2="RX201^HIS", f3="", f12=""), rxe(), prt(1, "OP", "D1004^林^海^^^^^^SZRMYY"), ROUTE)
    )
    assert one(bundle, "MedicationRequest")["requester"] == person("D1004", "林海")
    # ORC-12 names the prescriber: a PRT OP is only the fallback (requester is one reference)
    bundle = convert(converter, rde(orc(f2="RX202^HIS", f3=""), prt(1, "OP", "D1004^林^海^^^^^^SZRMYY"), rxe(), ROUTE))
    assert one(bundle, "MedicationRequest")["requester"]["identifier"]["value"] == "D001"
    # a withdrawn participation (PRT-2 DE) and another role (PH, the pharmacist) name no requester
    bundle = convert(
        converter,
        rde(
            orc(f2="RX203^HIS", f3="", f12="", f21=""),  # nor ORC-21 (the ordering facility)
            prt(1, "OP", "D1004^林^海^^^^^^SZRMYY", action="DE"),
            rxe(),
            prt(1, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    assert "requester" not in one(bundle, "MedicationRequest")


def test_omp_ordering_provider_prt_is_the_requester(converter):
    text = message(
        msh("OMP", "O09", "OMP_O09", "OMP8"),
        pid(),
        pv1(),
        orc(f2="CP301^HIS", f3="", f12=""),
        prt(1, "OP", "G2001^何^静^^^^^^SZRMYY"),
        rxo(),
        ROUTE,
    )
    assert one(convert(converter, text), "MedicationRequest")["requester"] == person("G2001", "何静")


# The order's PRT OP (after ORC) beside the encoded order's own PRT lines of other roles (after RXE: the pharmacist
# who checked it, PH): the ordering provider is still the requester. Before scope 'around', a rule read the PRT of the
# nearest group that has any, the RXE's, and so found no OP.


def test_rde_orc_ordering_provider_beside_the_rxe_pharmacist_is_the_requester(converter):
    bundle = convert(
        converter,
        rde(
            orc(f2="RX204^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            prt(1, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    assert one(bundle, "MedicationRequest")["requester"] == person("D1003", "陈志远")


def test_rde_orc_ordering_provider_beside_a_withdrawn_rxe_one_is_the_requester(converter):
    # the RXE's own OP line withdrawn (PRT-2 DE) is no OP of the encoded order; the ORC's names the prescriber
    bundle = convert(
        converter,
        rde(
            orc(f2="RX205^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            prt(1, "OP", "D1004^林^海^^^^^^SZRMYY", action="DE"),
            prt(2, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    assert one(bundle, "MedicationRequest")["requester"] == person("D1003", "陈志远")


def test_omp_orc_ordering_provider_beside_the_rxo_participations_is_the_requester(converter):
    text = message(
        msh("OMP", "O09", "OMP_O09", "OMP9"),
        pid(),
        pv1(),
        orc(f2="CP302^HIS", f3="", f12=""),
        prt(1, "OP", "G2001^何^静^^^^^^SZRMYY"),
        rxo(),
        # the pharmacist who will verify the order (PH) and the order's entering person (EP), of the RXO
        prt(1, "PH", "P5002^吴^敏^^^^^^SZRMYY"),
        prt(2, "EP", "N6001^周^婷^^^^^^SZRMYY"),
        ROUTE,
    )
    assert one(convert(converter, text), "MedicationRequest")["requester"] == person("G2001", "何静")


def test_the_encoded_order_s_own_ordering_provider_wins_over_the_orc_s(converter):
    # guard: the nearest OP is the requester (requester is one reference), in RDE (RXE's) and OMP (RXO's)
    bundle = convert(
        converter,
        rde(
            orc(f2="RX206^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            prt(1, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            prt(2, "OP", "D1004^林^海^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    assert one(bundle, "MedicationRequest")["requester"] == person("D1004", "林海")
    text = message(
        msh("OMP", "O09", "OMP_O09", "OMP10"),
        pid(),
        pv1(),
        orc(f2="CP303^HIS", f3="", f12=""),
        prt(1, "OP", "G2001^何^静^^^^^^SZRMYY"),
        rxo(),
        prt(1, "OP", "G2002^郭^晓东^^^^^^SZRMYY"),
        ROUTE,
    )
    assert one(convert(converter, text), "MedicationRequest")["requester"] == person("G2002", "郭晓东")


def test_each_encoded_drug_reads_its_own_ordering_provider_else_the_orc_s(converter):
    # two drugs encoded after one ORC (ENCODING repeats): the first names its own OP, the second only a
    # pharmacist: the ORC's OP is its requester, not the first drug's
    bundle = convert(
        converter,
        rde(
            orc(f2="RX207^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(f15="RX2026-0101"),
            prt(1, "OP", "D1004^林^海^^^^^^SZRMYY"),
            ROUTE,
            rxe(f2="X0002^布洛芬缓释胶囊^L", f15="RX2026-0102"),
            prt(1, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    first, second = resources(bundle, "MedicationRequest")
    assert first["requester"] == person("D1004", "林海")
    assert second["requester"] == person("D1003", "陈志远")


def test_orc_12_still_wins_over_every_prt(converter):
    # guard: ORC-12 names the prescriber (D001): no PRT OP, the RXE's nor the ORC's, replaces it
    bundle = convert(
        converter,
        rde(
            orc(f2="RX208^HIS", f3=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            prt(1, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    assert one(bundle, "MedicationRequest")["requester"]["identifier"]["value"] == "D001"


# -- documents (MDM): PRT AUT is an author, PRT VP the authenticator ---------------------------------------------


def mdm(*prts: str, txa9: str = "D001^王^五^^^^^^SZRMYY", txa22: str = "") -> str:
    msh_ = f"MSH|^~\\&|EMR|{HOSPITAL}|HUB|CITY|20260320100000||MDM^T02^MDM_T02|DT0208|P|2.8"
    # TXA-2 discharge summary, TXA-9 originator, TXA-12 unique document number, TXA-17 AU authenticated,
    # TXA-19 AV available, TXA-22 authentication person
    txa = segment(
        "TXA",
        {
            1: "1",
            2: "DS^出院小结^HL70270",
            3: "TX",
            6: "20260320100000",
            9: txa9,
            12: "DOC-20260320-1^EMR",
            17: "AU",
            19: "AV",
            22: txa22,
        },
    )
    return message(
        msh_,
        "EVN|T02|20260320100000",
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
        "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN",
        *prts,
        txa,
        "OBX|1|TX|DS^出院小结||患者一般情况良好，建议门诊随访||||||F",
    )


def test_mdm_prt_author_and_verifying_provider(converter):
    bundle = convert(
        converter,
        mdm(
            # TXA-9's doctor again as the author, a resident who wrote the summary with him, the verifying doctor
            prt(1, "AUT", "D001^王^五^^^^^^SZRMYY"),
            prt(2, "AUT", "D005^杨^帆^^^^^^SZRMYY"),
            prt(3, "VP", "D002^赵^六^^^^^^SZRMYY"),
        ),
    )
    document = one(bundle, "DocumentReference")
    assert document["author"] == [person("D001", "王五"), person("D005", "杨帆")]
    assert document["authenticator"] == person("D002", "赵六")


def test_mdm_txa_22_is_the_authenticator_before_a_prt_vp(converter):
    bundle = convert(
        converter,
        mdm(
            prt(1, "VP", "D002^赵^六^^^^^^SZRMYY"),
            prt(2, "AUT", "D007^马^丽^^^^^^SZRMYY", action="DE"),
            txa9="",
            txa22="D003^刘^洋^^^^^^SZRMYY",
        ),
    )
    document = one(bundle, "DocumentReference")
    assert document["authenticator"]["identifier"]["value"] == "D003"
    assert "author" not in document  # a withdrawn author line names nobody


# -- dispenses and administrations: PRT DP and PB, PRT AP ---------------------------------------------------------


def test_rds_dispensing_provider_and_packer(converter):
    bundle = convert(
        converter,
        rds(
            orc(f1="RE", f2="RX100^HIS", f3=""),
            tq1(),
            rxe(),
            ROUTE,
            # RXD-10 the dispensing pharmacist 陈静; PRT DP names her again, PRT PB who packed the capsules
            rxd(f10="P001^陈^静^^^^^^SZRMYY"),
            prt(1, "DP", "P001^陈^静^^^^^^SZRMYY"),
            prt(2, "PB", "P002^罗^小燕^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    dispenser, packer = one(bundle, "MedicationDispense")["performer"]
    assert dispenser == {"actor": person("P001", "陈静")}
    assert packer["actor"] == person("P002", "罗小燕")
    assert packer["function"]["coding"][0]["code"] == "packager"


def test_ras_administering_provider_prt(converter):
    def ras(rxa10: str, *prts: str) -> str:
        return message(
            f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315093000||RAS^O17^RAS_O17|RAS0008|P|2.8",
            "PID|1||MRN0001^^^SZRMYY^MR||李娜||19750312|F",
            "PV1|1|I|心内科^0305^02^SZRMYY||||D005^周^建国",
            "ORC|RE|P20260315001^HIS|F77^PHARM||IP",
            # RXA-10 the nurse who gave the dose (N012 王芳), RXA-20 CP complete
            f"RXA|1|1|20260315090500|20260315091000|0401^硝苯地平控释片^L|30|mg|TAB^片剂^L||{rxa10}"
            "|||||B2403|20271231|BAY^拜耳^MVX|||CP|A",
            *prts,
            "RXR|PO^口服^HL70162",
        )

    # the nurse RXA-10 names, named again by a PRT AP line: one performer
    bundle = convert(converter, ras("N012^王^芳^^^^^^SZRMYY", prt(1, "AP", "N012^王^芳^^^^^^SZRMYY")))
    [nurse] = one(bundle, "MedicationAdministration")["performer"]
    assert nurse["actor"] == person("N012", "王芳")
    assert nurse["function"]["coding"][0]["code"] == "AP"
    # v2.9: RXA-10 empty, the administering provider in a PRT line
    bundle = convert(converter, ras("", prt(1, "AP", "N015^吴^晓红^^^^^^SZRMYY")))
    [nurse] = one(bundle, "MedicationAdministration")["performer"]
    assert nurse["actor"] == person("N015", "吴晓红")
