"""Patient consent to sharing (FHIR R4 Consent, scope ``patient-privacy``).

A patient refuses sharing with an organisation by an active Consent whose provision denies it::

    {"resourceType": "Consent", "status": "active",
     "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                           "code": "patient-privacy"}]},
     "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
     "patient": {"reference": "Patient/p1"},
     "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
     "provision": {"type": "permit",
                   "provision": [{"type": "deny",
                                  "actor": [{"role": {...}, "reference": {"reference": "Organization/org-b"}}]}]}}

Evaluation, per organisation, purpose of use and resource type: the top-level provision is the base rule
(a provision without ``actor`` applies to every organisation; one with ``actor`` to those named by
``Organization/<id>`` references); nested provisions are exceptions and override the rule they sit in when they
apply. A provision applies only within its ``period``, to the purposes in its ``purpose`` (if any) and to the
resource types in its ``class`` (if any). If any active consent of the patient ends in ``deny``, the
organisation may not read that patient's data produced by others. Consents with another scope (research,
treatment, adr) are about something else and are ignored here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

PRIVACY_SCOPE = "patient-privacy"
_RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"


def _parse_instant(value: Any, *, end: bool) -> datetime | None:
    """A FHIR dateTime as a UTC instant; a partial date counts from its start (or up to its end)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        if len(text) == 4:
            dt = datetime(int(text) + (1 if end else 0), 1, 1, tzinfo=UTC)
        elif len(text) == 7:
            y, m = int(text[:4]), int(text[5:7])
            if end:
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
            dt = datetime(y, m, 1, tzinfo=UTC)
        elif len(text) == 10:
            dt = datetime.fromisoformat(text).replace(tzinfo=UTC)
            if end:
                dt = dt.fromordinal(dt.toordinal() + 1).replace(tzinfo=UTC)
        else:
            dt = datetime.fromisoformat(text)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
    except ValueError:
        return None
    return dt.astimezone(UTC)


def _in_period(provision: Mapping[str, Any], at: datetime) -> bool:
    period = provision.get("period")
    if not isinstance(period, Mapping):
        return True
    start = _parse_instant(period.get("start"), end=False)
    end = _parse_instant(period.get("end"), end=True)
    return (start is None or start <= at) and (end is None or at < end)


def _codes(value: Any) -> set[str]:
    out: set[str] = set()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, Mapping):
            if isinstance(item.get("code"), str):
                out.add(item["code"])
            out |= _codes(item.get("coding", []))
    return out


def _applies(
    provision: Mapping[str, Any], organization: str, purposes: Iterable[str], resource_type: str | None, at: datetime
) -> bool:
    if not _in_period(provision, at):
        return False
    actors = provision.get("actor")
    if isinstance(actors, list) and actors:
        wanted = f"Organization/{organization}"
        refs = {
            a["reference"].get("reference")
            for a in actors
            if isinstance(a, Mapping) and isinstance(a.get("reference"), Mapping)
        }
        if not any(isinstance(r, str) and (r == wanted or r.endswith("/" + wanted)) for r in refs):
            return False
    purpose_codes = _codes(provision.get("purpose", []))
    if purpose_codes and not purpose_codes & set(purposes):
        return False
    classes = provision.get("class")
    if isinstance(classes, list) and classes and resource_type is not None:
        types = {
            c.get("code")
            for c in classes
            if isinstance(c, Mapping) and c.get("system", _RESOURCE_TYPES_SYSTEM) == _RESOURCE_TYPES_SYSTEM
        }
        if resource_type not in types:
            return False
    return True


def _decide(
    provision: Mapping[str, Any],
    organization: str,
    purposes: Sequence[str],
    resource_type: str | None,
    at: datetime,
    inherited: str | None,
) -> str | None:
    if not _applies(provision, organization, purposes, resource_type, at):
        return inherited
    kind = provision.get("type")
    decision = kind if kind in ("deny", "permit") else (inherited or "permit")
    for nested in provision.get("provision", []) or []:
        if isinstance(nested, Mapping):
            decision = _decide(nested, organization, purposes, resource_type, at, decision)
    return decision


def is_privacy_consent(consent: Mapping[str, Any]) -> bool:
    """An active patient-privacy Consent (one with no scope is read as privacy, the hub's only use)."""
    if consent.get("resourceType") != "Consent" or consent.get("status") != "active":
        return False
    scope = consent.get("scope")
    return scope is None or PRIVACY_SCOPE in _codes(scope)


def denies(
    consent: Mapping[str, Any],
    organization: str,
    *,
    purposes: Sequence[str] = (),
    resource_type: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Whether this Consent refuses ``organization`` access to its patient's data.

    Args:
        consent: a FHIR R4 Consent.
        organization: the Organization id of the reader.
        purposes: the reader's purposes of use.
        resource_type: the type being read (for provisions restricted by ``class``).
        at: the moment of access (default: now).
    """
    if not is_privacy_consent(consent):
        return False
    provision = consent.get("provision")
    if not isinstance(provision, Mapping):
        return False
    when = at or datetime.now(UTC)
    return _decide(provision, organization, purposes, resource_type, when, None) == "deny"


def any_denies(
    consents: Iterable[Mapping[str, Any]],
    organization: str,
    *,
    purposes: Sequence[str] = (),
    resource_type: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Whether any of the consents refuses ``organization`` (a refusal always wins)."""
    return any(denies(c, organization, purposes=purposes, resource_type=resource_type, at=at) for c in consents)
