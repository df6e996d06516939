"""A withdrawn ordering provider line (PRT-2 DE, D or UN, PRT-4 OP) of a pharmacy order: the person it names is not
the MedicationRequest's requester, also when ORC-12, RXE-13 or another OP line of the order names them (HL7 table
0287: DE "delete", UN "unlink": the person no longer has that role; table 0206 D of the v2.8 PRT)."""

from __future__ import annotations

import pytest

from hub.mapping.templates import Condition

from .conftest import convert, one
from .order_messages import message, msh, orc, pid, pv1
from .test_omp import rxo
from .test_order_participations import person, prt, rde
from .test_pharmacy import ROUTE, rxe


def requester(bundle: dict) -> dict | None:
    return one(bundle, "MedicationRequest").get("requester")


def test_rxe_withdrawn_op_hides_the_orc_s_op_line_of_the_same_person(converter):
    bundle = convert(
        converter,
        rde(
            orc(f2="RX301^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),  # the ordering provider, at the ORC
            rxe(),
            # the encoded order withdraws him (the prescription was moved to another doctor's name), beside the
            # pharmacist who checked it
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY", action="DE"),
            prt(2, "PH", "P5001^黄^芳^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    # not 陈志远: the ordering facility (ORC-21) is what is left
    assert requester(bundle) == {"display": "深圳市人民医院"}


def test_withdrawn_op_hides_orc_12_and_the_next_op_is_the_requester(converter):
    # ORC-12 names 王伟 (D001); the RXE's lines withdraw him and name 林海 as the ordering provider
    bundle = convert(
        converter,
        rde(
            orc(f2="RX302^HIS", f3=""),
            rxe(),
            prt(1, "OP", "D001^王^伟^^^^^^SZRMYY", action="UN"),
            prt(2, "OP", "D1004^林^海^^^^^^SZRMYY"),
            ROUTE,
        ),
    )
    assert requester(bundle) == person("D1004", "林海")
    # the withdrawal sent at the ORC itself (a v2.9 sender repeating ORC-12 as a PRT line), PRT-2 D of table 0206
    bundle = convert(
        converter,
        rde(orc(f2="RX303^HIS", f3="", f21=""), prt(1, "OP", "D001^王^伟^^^^^^SZRMYY", action="D"), rxe(), ROUTE),
    )
    assert requester(bundle) is None


def test_rxe_13_of_a_withdrawn_person_is_no_requester(converter):
    bundle = convert(
        converter,
        rde(
            orc(f2="RX304^HIS", f3="", f12="", f21=""),
            rxe(f13="D1005^张^伟^^^^^^SZRMYY"),  # RXE-13 the ordering provider's DEA number (an XCN)
            prt(1, "OP", "D1005^张^伟^^^^^^SZRMYY", action="DE"),
            ROUTE,
        ),
    )
    assert requester(bundle) is None


def test_omp_rxo_withdrawn_op_hides_the_orc_s(converter):
    text = message(
        msh("OMP", "O09", "OMP_O09", "OMP21"),
        pid(),
        pv1(),
        orc(f2="CP401^HIS", f3="", f12="", f21=""),
        prt(1, "OP", "G2001^何^静^^^^^^SZRMYY"),
        rxo(),
        prt(1, "OP", "G2001^何^静^^^^^^SZRMYY", action="UN"),
        ROUTE,
    )
    assert requester(convert(converter, text)) is None


def test_a_withdrawn_line_of_another_person_hides_nobody_else(converter):
    # guard: the withdrawn line names 林海; ORC-12's 王伟 and the ORC's OP line's 陈志远 are not hidden
    bundle = convert(
        converter,
        rde(orc(f2="RX305^HIS", f3=""), rxe(), prt(1, "OP", "D1004^林^海^^^^^^SZRMYY", action="DE"), ROUTE),
    )
    assert requester(bundle)["identifier"]["value"] == "D001"
    bundle = convert(
        converter,
        rde(
            orc(f2="RX306^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            prt(1, "OP", "D1004^林^海^^^^^^SZRMYY", action="DE"),
            ROUTE,
        ),
    )
    assert requester(bundle) == person("D1003", "陈志远")
    # a withdrawn line of another role (PH) of the same person hides no OP
    bundle = convert(
        converter,
        rde(
            orc(f2="RX307^HIS", f3="", f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            rxe(),
            prt(1, "PH", "D1003^陈^志远^^^^^^SZRMYY", action="DE"),
            ROUTE,
        ),
    )
    assert requester(bundle) == person("D1003", "陈志远")


def test_among_is_a_condition_operator_with_from():
    cond = Condition.model_validate(
        {"from": "ORC-12.1", "among": {"from": "PRT-5.1", "scope": "around", "where": {"from": "PRT-4", "in": ["OP"]}}}
    )
    assert cond.among is not None and cond.among.scope == "around"
    with pytest.raises(ValueError, match="needs 'from'"):
        Condition.model_validate({"among": {"from": "PRT-5.1"}})
    with pytest.raises(ValueError):
        Condition.model_validate({"from": "ORC-12.1", "among": {"from": "PRT-5.1", "scope": "sub_id"}})


def test_among_needs_a_field_to_compare(tmp_path):
    from pathlib import Path

    from hub.errors import MappingTemplateError
    from hub.mapping import Converter

    from .conftest import mappings_copy

    mappings: Path = mappings_copy(tmp_path)
    template = mappings / "resource" / "MedicationRequest.yaml"
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace("from: PRT-5.1\n              scope: around", "from: PRT\n              scope: around", 1),
        encoding="utf-8",
    )
    with pytest.raises(MappingTemplateError, match="'among' compares texts"):
        Converter.load(mappings)


def test_among_compares_texts_a_text_built_in_makes(tmp_path):
    from pathlib import Path

    from hub.errors import MappingTemplateError
    from hub.mapping import Converter

    from .conftest import mappings_copy

    mappings: Path = mappings_copy(tmp_path)
    template = mappings / "resource" / "MedicationRequest.yaml"
    text = template.read_text(encoding="utf-8")
    assert "type: XCN_text\n              scope: around" in text
    template.write_text(
        text.replace("type: XCN_text\n              scope: around", "type: dateTime\n              scope: around", 1),
        encoding="utf-8",
    )
    with pytest.raises(MappingTemplateError, match="no text built-in"):
        Converter.load(mappings)


# -- lab orders (OML^O21): the same for ServiceRequest.requester ---------------------------------------------------


def oml(control: str, *order: str) -> str:
    from .order_messages import obr

    msh_ = f"MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315083000||OML^O21^OML_O21|{control}|P|2.8"
    return message(msh_, pid(), pv1(), *[obr() if s == "OBR" else s for s in order])


def test_lab_order_withdrawn_op_hides_orc_12_and_the_orc_s_op_line(converter):
    # ORC-12 王伟 (D001) withdrawn after the OBR; the requester is the next OP line's doctor
    bundle = convert(
        converter,
        oml(
            "OML31",
            orc(),
            "OBR",
            prt(1, "OP", "D001^王^伟^^^^^^SZRMYY", action="DE"),
            prt(2, "OP", "D1004^林^海^^^^^^SZRMYY"),
        ),
    )
    assert one(bundle, "ServiceRequest")["requester"] == person("D1004", "林海")
    # the ORC's OP line (ORC-12 empty) withdrawn by the OBR's: the ordering facility is left
    bundle = convert(
        converter,
        oml(
            "OML32",
            orc(f12=""),
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY"),
            "OBR",
            prt(1, "OP", "D1003^陈^志远^^^^^^SZRMYY", action="UN"),
        ),
    )
    assert one(bundle, "ServiceRequest")["requester"] == {"display": "深圳市人民医院"}


def test_an_orc_alone_with_a_withdrawn_op_line_of_orc_12_s_person(converter):
    # a status change sent as ORC alone (ServiceRequestORC), ORC-12's doctor withdrawn by the ORC's PRT
    bundle = convert(
        converter,
        oml("OML33", orc(f1="SC", f5="IP", f21=""), prt(1, "OP", "D001^王^伟^^^^^^SZRMYY", action="DE")),
    )
    assert "requester" not in one(bundle, "ServiceRequest")
    # guard: another person's withdrawn line leaves ORC-12
    bundle = convert(
        converter,
        oml("OML34", orc(f1="SC", f5="IP"), prt(1, "OP", "D1004^林^海^^^^^^SZRMYY", action="DE")),
    )
    assert one(bundle, "ServiceRequest")["requester"]["identifier"]["value"] == "D001"
