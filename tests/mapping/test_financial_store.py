"""Guarantors and insured persons through the real pipeline (inbox row → convert_message → store): an A08 that
updates the guarantor updates the same RelatedPerson and Account; an A08 without GT1 keeps them. SQLite, or
PostgreSQL with HUB_TEST_DATABASE_URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.conversion import CONVERTED, convert_message
from hub.fhir import store
from hub.hl7 import er7
from hub.mapping import get_converter
from tests.support.inbox import receive

from .test_financial_guarantor import MOTHER, MOTHERS_POLICY, PV1, message, pid


def deliver(session: Session, settings: Any, text: str) -> dict[str, list[str]]:
    """Store the message as ingestion does and convert it; the ids it writes, by type (they are deterministic)."""
    outcome = convert_message(session, receive(session, text), settings)
    assert outcome.status == CONVERTED, outcome.error
    session.commit()
    written: dict[str, list[str]] = {}
    for entry in get_converter(settings).convert(er7.parse(text))["entry"]:
        rtype, rid = entry["request"]["url"].split("/")
        written.setdefault(rtype, []).append(rid)
    return written


def test_an_a08_updates_the_stored_guarantor_and_insured(session, settings):
    first = deliver(session, settings, message("ADT^A01^ADT_A01", pid(), PV1, MOTHER, MOTHERS_POLICY))
    (account_id,) = first["Account"]
    guarantor_id, insured_id = first["RelatedPerson"]
    # the mother moved; the HIS sends A08 with the new address in GT1 and IN1
    moved = message(
        "ADT^A08^ADT_A01",
        pid(),
        PV1,
        MOTHER.replace("科技园路1号", "深南大道2号"),
        MOTHERS_POLICY.replace("科技园路1号", "深南大道2号"),
        control="M0002",
    )
    second = deliver(session, settings, moved)
    assert second["Account"] == [account_id] and second["RelatedPerson"] == [guarantor_id, insured_id]
    for rid in (guarantor_id, insured_id):
        person = store.read(session, "RelatedPerson", rid)
        assert person["address"][0]["line"] == ["深圳市南山区深南大道2号"]
        assert person["meta"]["versionId"] == "2"
        assert person["name"][0]["text"] == "王芳"
    account = store.read(session, "Account", account_id)
    assert account["guarantor"][0]["party"] == {"reference": f"RelatedPerson/{guarantor_id}"}
    coverage = store.read(session, "Coverage", second["Coverage"][0])
    assert coverage["subscriber"] == {"reference": f"RelatedPerson/{insured_id}"}

    # an A08 about the patient alone (no GT1): the account keeps its guarantor (an absent segment keeps)
    deliver(session, settings, message("ADT^A08^ADT_A01", pid(), PV1, control="M0003"))
    kept = store.read(session, "Account", account_id)
    assert kept["guarantor"] == account["guarantor"]
