"""References between the resources of one message (``ref``/``refs``) never cross into a sibling order or patient.

A rule's ``ref``/``refs`` looks for the resources of that name in its own group, then in the groups around it;
what was made inside another instance of a repeating group (the order before, another patient's results) is not
its own: an order without OBX has no results, a result group without PID has no patient.
"""

from __future__ import annotations

from hub.hl7 import er7

from .conftest import convert, ref, resources
from .order_messages import message, msh, obr, orc, orm, pid, pv1


def oru(*segments: str) -> str:
    return message(msh("ORU", "R01", "ORU_R01", "R1"), *segments)


def test_a_report_without_results_does_not_list_the_previous_report_s(converter):
    bundle = convert(
        converter,
        oru(
            pid(),
            "OBR|1|P1^HIS|F1^LIS|2345-7^葡萄糖^LN",
            "OBX|1|NM|2345-7^葡萄糖^LN||5.6|mmol/L|||||F",
            "SPM|1|S1&HIS||SER^血清^HL70487",
            # the second order's results are not in yet: no OBX, no SPM
            "OBR|2|P2^HIS|F2^LIS|58410-2^血常规^LN",
        ),
    )
    first, second = resources(bundle, "DiagnosticReport")
    (observation,) = resources(bundle, "Observation")
    (specimen,) = resources(bundle, "Specimen")
    assert first["result"] == [ref(observation)]
    assert first["specimen"] == [ref(specimen)]
    assert "result" not in second
    assert "specimen" not in second
    # what the first order's observation refers to is still its own order's
    assert observation["specimen"] == ref(specimen)


def test_a_result_group_without_its_patient_does_not_take_another_patient(converter):
    bundle = convert(
        converter,
        oru(
            # a first PATIENT_RESULT without PID: whose results these are, the message does not say …
            "OBR|1|P9^HIS|F9^LIS|2345-7^葡萄糖^LN",
            "OBX|1|NM|2345-7^葡萄糖^LN||7.1|mmol/L|||||F",
            # … and the next PATIENT_RESULT's patient is not theirs
            pid(),
            "OBR|1|P1^HIS|F1^LIS|2345-7^葡萄糖^LN",
            "OBX|1|NM|2345-7^葡萄糖^LN||5.6|mmol/L|||||F",
        ),
    )
    (patient,) = resources(bundle, "Patient")
    orphan, own = resources(bundle, "Observation")
    assert own["subject"] == ref(patient)
    assert "subject" not in orphan
    assert "subject" not in resources(bundle, "DiagnosticReport")[0]


def test_each_order_has_only_its_own_specimens_and_answers(converter):
    text = orm(
        orc(),
        obr(),
        "OBX|1|NM|29463-7^体重^LN||70|kg|||||F",
        "SPM|1|S100&HIS||BLD^全血^HL70487",
        # a second order, without answers or specimen
        orc(f2="P101^HIS", f3="F201^LIS"),
        obr(f2="P101^HIS", f3="F201^LIS", f4="2345-7^葡萄糖^LN"),
    )
    first, second = resources(convert(converter, text), "ServiceRequest")
    assert len(first["specimen"]) == 1 and len(first["supportingInfo"]) == 1
    assert "specimen" not in second
    assert "supportingInfo" not in second


def test_a_patient_and_a_visit_outside_the_order_groups_are_everyone_s(converter):
    # PID and PV1 sit in their own group beside the orders: every order refers to them
    text = message(msh("OML", "O21", "OML_O21", "L1"), pid(), pv1(), orc(), obr(), orc(f2="P2^HIS"), obr(f2="P2^HIS"))
    bundle = converter.convert(er7.parse(text))
    patient = resources(bundle, "Patient")[0]
    for request in resources(bundle, "ServiceRequest"):
        assert request["subject"] == ref(patient)
        assert request["encounter"] == ref(resources(bundle, "Encounter")[0])
