"""Consent evaluation: deny for an organisation, nested exceptions, period, purpose, class, status, scope."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.security.consent import any_denies, denies

PRIVACY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]}


def consent(provision, *, status="active", scope=PRIVACY):
    c = {"resourceType": "Consent", "status": status, "patient": {"reference": "Patient/p1"}, "provision": provision}
    if scope is not None:
        c["scope"] = scope
    return c


def actor(org):
    return {"role": {"coding": [{"code": "IRCP"}]}, "reference": {"reference": f"Organization/{org}"}}


def test_deny_named_organisation_only():
    c = consent({"type": "deny", "actor": [actor("org-b")]})
    assert denies(c, "org-b")
    assert not denies(c, "org-a")


def test_permit_with_nested_deny():
    c = consent({"type": "permit", "provision": [{"type": "deny", "actor": [actor("org-b")]}]})
    assert denies(c, "org-b")
    assert not denies(c, "org-a")


def test_deny_all_with_nested_permit():
    c = consent({"type": "deny", "provision": [{"type": "permit", "actor": [actor("org-a")]}]})
    assert not denies(c, "org-a")
    assert denies(c, "org-b")
    assert denies(c, "org-c")


def test_period():
    c = consent({"type": "deny", "actor": [actor("org-b")], "period": {"start": "2024-01-01", "end": "2024-06-30"}})
    assert denies(c, "org-b", at=datetime(2024, 3, 1, tzinfo=UTC))
    assert denies(c, "org-b", at=datetime(2024, 6, 30, 23, 0, tzinfo=UTC))  # a date end covers the whole day
    assert not denies(c, "org-b", at=datetime(2024, 7, 1, 0, 1, tzinfo=UTC))
    assert not denies(c, "org-b", at=datetime(2023, 12, 31, tzinfo=UTC))


def test_purpose_and_class():
    c = consent(
        {
            "type": "permit",
            "provision": [
                {
                    "type": "deny",
                    "actor": [actor("org-b")],
                    "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "PUBHLTH"}],
                    "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}],
                }
            ],
        }
    )
    assert denies(c, "org-b", purposes=["PUBHLTH"], resource_type="Observation")
    assert not denies(c, "org-b", purposes=["TREAT"], resource_type="Observation")
    assert not denies(c, "org-b", purposes=["PUBHLTH"], resource_type="Immunization")


def test_inactive_or_other_scope_ignored():
    p = {"type": "deny", "actor": [actor("org-b")]}
    assert not denies(consent(p, status="inactive"), "org-b")
    assert not denies(consent(p, status="proposed"), "org-b")
    research = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]}
    assert not denies(consent(p, scope=research), "org-b")
    assert denies(consent(p, scope=None), "org-b")


def test_refusal_wins_over_permission():
    permit = consent({"type": "permit"})
    deny = consent({"type": "deny", "actor": [actor("org-b")]})
    assert any_denies([permit, deny], "org-b")
    assert not any_denies([permit], "org-b")
    assert not any_denies([], "org-b")


def test_absolute_actor_reference():
    c = consent(
        {"type": "deny", "actor": [{"reference": {"reference": "https://hub.example/fhir/Organization/org-b"}}]}
    )
    assert denies(c, "org-b")
    assert not denies(c, "b")
