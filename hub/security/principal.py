"""Who is asking: the principal behind a verified access token.

Claims the hub reads from an access token (the built-in endpoint writes them; an external identity provider
must map its own to these):

    sub              the user name or, for a system, the client id
    client_id        the OAuth client (``azp`` is accepted when it is missing)
    scope            SMART scopes, space separated
    role             patient | practitioner | pharmacist | operator | system
    organization     the Organization id the principal works for (its data is "produced by" it)
    patient          the Patient id in context; for a patient user, themselves
    fhirUser         the FHIR resource of the user (Patient/…, Practitioner/…)
    purpose_of_use   v3 ActReason codes (TREAT, ETREAT, PUBHLTH, HOPERAT …)
    jti              token id, quoted in AuditEvent.agent.policy
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hub.errors import Unauthorized
from hub.security.scopes import ScopeSet

Role = Literal["patient", "practitioner", "pharmacist", "operator", "system"]
ROLES: tuple[Role, ...] = ("patient", "practitioner", "pharmacist", "operator", "system")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    subject: str
    client_id: str
    role: Role
    scopes: ScopeSet
    organization: str | None = None
    patient: str | None = None
    fhir_user: str | None = None
    purposes: tuple[str, ...] = ()
    token_id: str | None = None
    issuer: str = ""

    @property
    def is_patient(self) -> bool:
        """A patient acting for themselves: confined to their own compartment whatever the scopes say."""
        return self.role == "patient"

    @property
    def hub_wide(self) -> bool:
        """An operator of the hub: not bound to one organisation's data."""
        return self.role == "operator"

    @property
    def is_user(self) -> bool:
        """A person (as opposed to a system acting on its own)."""
        return self.role != "system"

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        """Build the principal from verified token claims.

        Raises:
            Unauthorized: the claims lack what the hub needs (subject, a known role, a patient for a patient).
        """
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("the token has no subject")
        client_id = claims.get("client_id") or claims.get("azp") or sub
        role = claims.get("role", "system")
        if role not in ROLES:
            raise Unauthorized("the token's role is not one the hub knows")
        scope = claims.get("scope", "")
        if isinstance(scope, list):
            scope = " ".join(str(s) for s in scope)
        if not isinstance(scope, str):
            raise Unauthorized("the token's scope is not a string")
        patient = _opt_str(claims.get("patient"))
        fhir_user = _opt_str(claims.get("fhirUser"))
        if role == "patient":
            if patient is None and fhir_user and fhir_user.startswith("Patient/"):
                patient = fhir_user.removeprefix("Patient/")
            if patient is None:
                raise Unauthorized("a patient token names no patient")
        purposes = claims.get("purpose_of_use", ())
        if isinstance(purposes, str):
            purposes = purposes.split()
        return cls(
            subject=sub,
            client_id=str(client_id),
            role=role,
            scopes=ScopeSet.parse(scope),
            organization=_opt_str(claims.get("organization")),
            patient=patient,
            fhir_user=fhir_user,
            purposes=tuple(str(p) for p in purposes),
            token_id=_opt_str(claims.get("jti")),
            issuer=str(claims.get("iss", "")),
        )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
