"""The patient directory the access policy consults, backed by the master patient index and the FHIR store.

Links come from the index's own tables (``hub.identity.linking``: hub-owned, so a hospital cannot widen a
patient's compartment by writing ``Patient.link``); Consents from the store's search index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.fhir import store
from hub.identity import linking
from hub.security.compartment import patient_id_of

# A patient keeps few Consents; more than this is read page by page.
_PAGE = 100


class StoreDirectory:
    """:class:`~hub.security.access.PatientDirectory` on the database of one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def linked(self, patient_id: str) -> set[str]:
        """The person's other Patient records (master, earlier masters and hospital records), per the index."""
        return set(linking.expand_patient_ids(self.session, patient_id, include_linked=True)) - {patient_id}

    def masters_of(self, patient_id: str) -> set[str]:
        return linking.masters_of(self.session, patient_id)

    def consents(self, patient_id: str) -> list[dict[str, Any]]:
        ref = f"Patient/{patient_id}"
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = store.search(self.session, "Consent", [("patient", ref)], count=_PAGE, offset=offset)
            resources = [dict(r) for r in page.resources]
            # The index answered; check the element itself as well.
            out.extend(r for r in resources if patient_id_of(r.get("patient")) == patient_id)
            if len(resources) < _PAGE:
                return out
            offset += _PAGE
