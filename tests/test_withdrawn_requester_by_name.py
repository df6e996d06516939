"""A withdrawn ordering provider named without an identifier (only a name, ``^王^伟``) is withdrawn by that name.

A PRT line with PRT-2 ``DE``/``D``/``UN`` and PRT-4 ``OP`` whose PRT-5 names the person without an id number (a
clinic HIS that sends doctors by name) says, as one with an id does, that this person no longer orders it: within
the message the person is not the requester, however ORC-12 names them, and the stored order of that requester
loses them (``requester[display=王伟]``). Before, only ``PRT-5.1`` was compared and marked, so the name stayed.
"""

from __future__ import annotations

from hub.fhir import store
from tests.test_withdrawn_requester import WANG, deliver, oml, omp, orc, prt, rde, the_id, versions

WANG_BY_NAME = "^王^伟"
LIU_BY_NAME = "^刘^洋"


def test_a_withdrawn_name_only_provider_leaves_the_stored_prescription_without_requester(session, settings):
    placed = rde("N1", orc("NW", doctor=WANG_BY_NAME))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    assert store.read(session, "MedicationRequest", rid)["requester"]["display"] == "王伟"
    deliver(session, settings, rde("N2", orc("XO", doctor=""), prt("D", WANG_BY_NAME)))
    history = versions(session, "MedicationRequest", rid)
    assert len(history) == 2 and "requester" not in history[0]
    assert history[0]["dosageInstruction"] == history[1]["dosageInstruction"]


def test_a_name_only_withdrawal_wins_over_orc_12_naming_the_same_doctor(session, settings):
    bundle_text = rde("N3", orc("NW", doctor=WANG_BY_NAME), prt("DE", WANG_BY_NAME))
    rid = the_id(settings, bundle_text, "MedicationRequest/")
    deliver(session, settings, bundle_text)
    assert "requester" not in store.read(session, "MedicationRequest", rid)


def test_a_name_only_withdrawal_of_the_doctor_stored_with_his_number(session, settings):
    # stored as D001 王伟; the HIS withdraws him by name only: the order's one ordering provider of that name goes
    placed = rde("N4", orc("NW"))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    deliver(session, settings, rde("N5", orc("XO", doctor=""), prt("UN", WANG_BY_NAME)))
    assert "requester" not in store.read(session, "MedicationRequest", rid)
    assert WANG.startswith("D001")


def test_a_name_only_withdrawal_of_another_doctor_keeps_the_stored_requester(session, settings):
    placed = rde("N6", orc("NW", doctor=WANG_BY_NAME))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    deliver(session, settings, rde("N7", orc("XO", doctor=""), prt("DE", LIU_BY_NAME)))
    assert store.read(session, "MedicationRequest", rid)["requester"]["display"] == "王伟"


def test_a_withdrawn_name_only_provider_leaves_the_stored_lab_order_without_requester(session, settings):
    placed = oml("N8", orc("NW", doctor=WANG_BY_NAME))
    rid = the_id(settings, placed, "ServiceRequest/")
    deliver(session, settings, placed)
    assert store.read(session, "ServiceRequest", rid)["requester"]["display"] == "王伟"
    deliver(session, settings, oml("N9", orc("XO", doctor=""), prt("DE", WANG_BY_NAME)))
    history = versions(session, "ServiceRequest", rid)
    assert len(history) == 2 and "requester" not in history[0]


def test_a_name_only_withdrawal_wins_over_orc_12_of_a_lab_order(session, settings):
    text = oml("N10", orc("NW", doctor=WANG_BY_NAME), prt("DE", WANG_BY_NAME))
    rid = the_id(settings, text, "ServiceRequest/")
    deliver(session, settings, text)
    assert "requester" not in store.read(session, "ServiceRequest", rid)


def test_a_withdrawn_name_only_provider_leaves_the_stored_original_order_without_requester(session, settings):
    placed = omp("N11", orc("NW", doctor=WANG_BY_NAME))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    deliver(session, settings, omp("N12", orc("XO", doctor=""), prt("D", WANG_BY_NAME)))
    history = versions(session, "MedicationRequest", rid)
    assert len(history) == 2 and "requester" not in history[0]
