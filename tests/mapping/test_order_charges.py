"""FT1 in an ORM^O01 order: the charge of the ordered service, a ChargeItem as a DFT^P03 makes it (the HL7
v2-to-FHIR IG maps the order's FT1 to nothing, OML_O21 row 6.5), of the patient and the visit, based on the order's
ServiceRequest. A payment line (FT1-6 PY …) is no charge: reported, never converted. Before, every FT1 of an order
was reported whole (unmapped-segment) and dropped."""

from __future__ import annotations

from .conftest import one, ref, resources, with_report
from .order_messages import obr, orc, orm

CHARGE = "FT1|1|T-300||20260315||CG|CBC01^血常规^L|||1|25&CNY"
PAYMENT = "FT1|2|T-301||20260315||PY|CASH^现金|||1|-25&CNY"


def test_an_orders_charge_is_a_charge_item_of_the_order(converter):
    bundle, report = with_report(converter, orm(orc(), obr(), CHARGE))
    charge = one(bundle, "ChargeItem")
    assert charge["identifier"][0]["value"] == "T-300"
    assert charge["code"]["coding"][0]["code"] == "CBC01"
    assert charge["subject"] == ref(one(bundle, "Patient"))
    assert charge["context"] == ref(one(bundle, "Encounter"))
    assert charge["supportingInformation"] == [ref(one(bundle, "ServiceRequest"))]
    assert not [e for e in report if e["code"] == "unmapped-segment"]


def test_a_payment_line_of_an_order_is_reported_not_converted(converter):
    bundle, report = with_report(converter, orm(orc(), obr(), CHARGE, PAYMENT))
    assert [c["identifier"][0]["value"] for c in resources(bundle, "ChargeItem")] == ["T-300"]
    assert [(e["code"], e["location"]) for e in report if e["code"] == "unmapped-segment"] == [
        ("unmapped-segment", "FT1^2")
    ]
    assert "现金" not in str(report)
