"""The patient compartment: which resources are a patient's data, and whose.

After the FHIR R4 Patient CompartmentDefinition (http://hl7.org/fhir/R4/compartmentdefinition-patient.html):
every type it lists but Patient itself, with the elements its parameters name (those that may reference a
Patient). A resource type listed here is *patient data*: reading it is subject to compartment, organisation
isolation and consent. Other types (Organization, Practitioner, Location, HealthcareService, Medication, Slot …)
are directory data, shared with anyone holding the scope: a type the CompartmentDefinition lists must be here, or
every patient's resources of it would be shared so (``tests/security/test_compartment_types.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from hub.fhir.search_params import params_for

#: resource type → (the search parameter that selects the compartment, element paths that reference a Patient)
COMPARTMENT: dict[str, tuple[str, tuple[str, ...]]] = {
    "Account": ("patient", ("subject",)),
    "AdverseEvent": ("subject", ("subject",)),
    "AllergyIntolerance": ("patient", ("patient", "recorder", "asserter")),
    "Appointment": ("patient", ("participant.actor",)),
    "AppointmentResponse": ("patient", ("actor",)),
    "AuditEvent": ("patient", ("agent.who", "entity.what")),
    "Basic": ("patient", ("subject", "author")),
    "BodyStructure": ("patient", ("patient",)),
    "CarePlan": ("patient", ("subject", "activity.detail.performer")),
    "CareTeam": ("patient", ("subject", "participant.member")),
    "ChargeItem": ("patient", ("subject",)),
    "Claim": ("patient", ("patient", "payee.party")),
    "ClaimResponse": ("patient", ("patient",)),
    "ClinicalImpression": ("patient", ("subject",)),
    "Communication": ("patient", ("subject", "sender", "recipient")),
    "CommunicationRequest": ("patient", ("subject", "sender", "recipient", "requester")),
    "Composition": ("patient", ("subject", "author", "attester.party")),
    "Condition": ("patient", ("subject", "asserter")),
    "Consent": ("patient", ("patient",)),
    "Coverage": ("patient", ("beneficiary", "subscriber", "policyHolder", "payor")),
    "CoverageEligibilityRequest": ("patient", ("patient",)),
    "CoverageEligibilityResponse": ("patient", ("patient",)),
    "DetectedIssue": ("patient", ("patient",)),
    "DeviceRequest": ("patient", ("subject", "performer")),
    "DeviceUseStatement": ("patient", ("subject",)),
    "DiagnosticReport": ("patient", ("subject",)),
    "DocumentManifest": ("patient", ("subject", "author", "recipient")),
    "DocumentReference": ("patient", ("subject", "author")),
    "Encounter": ("patient", ("subject",)),
    "EnrollmentRequest": ("patient", ("candidate",)),
    "EpisodeOfCare": ("patient", ("patient",)),
    "ExplanationOfBenefit": ("patient", ("patient", "payee.party")),
    "FamilyMemberHistory": ("patient", ("patient",)),
    "Flag": ("patient", ("subject",)),
    "Goal": ("patient", ("subject",)),
    "Group": ("member", ("member.entity",)),
    "ImagingStudy": ("patient", ("subject",)),
    "Immunization": ("patient", ("patient",)),
    "ImmunizationEvaluation": ("patient", ("patient",)),
    "ImmunizationRecommendation": ("patient", ("patient",)),
    "Invoice": ("patient", ("subject", "recipient")),
    "List": ("patient", ("subject", "source")),
    "MeasureReport": ("patient", ("subject",)),
    "Media": ("patient", ("subject",)),
    "MedicationAdministration": ("patient", ("subject", "performer.actor")),
    "MedicationDispense": ("patient", ("subject", "receiver")),
    "MedicationRequest": ("patient", ("subject",)),
    "MedicationStatement": ("patient", ("subject",)),
    "MolecularSequence": ("patient", ("patient",)),
    "NutritionOrder": ("patient", ("patient",)),
    "Observation": ("patient", ("subject", "performer")),
    "Person": ("patient", ("link.target",)),
    "Procedure": ("patient", ("subject", "performer.actor")),
    "Provenance": ("patient", ("target",)),
    "QuestionnaireResponse": ("patient", ("subject", "author")),
    "RelatedPerson": ("patient", ("patient",)),
    "RequestGroup": ("patient", ("subject", "action.participant")),
    "ResearchSubject": ("patient", ("individual",)),
    "RiskAssessment": ("patient", ("subject",)),
    "Schedule": ("actor", ("actor",)),
    "ServiceRequest": ("patient", ("subject", "performer")),
    "Specimen": ("patient", ("subject",)),
    "SupplyDelivery": ("patient", ("patient",)),
    "SupplyRequest": ("subject", ("deliverTo",)),
    "Task": ("patient", ("for",)),
    "VisionPrescription": ("patient", ("patient",)),
}


#: Types R4 leaves out of the Patient compartment ("never in this compartment") whose element may still name a
#: patient: a Device implanted in or assigned to a patient (``Device.patient``), a Contract whose subject is one.
#: Such a resource that names a Patient is that patient's data (compartment, isolation, consent), as a stricter
#: reading than R4's: otherwise any token holding ``patient/Device.rs`` would read every patient's implants. One
#: that names none (a ward's infusion pump, a payer agreement) stays directory data.
NAMING_PATIENT: dict[str, tuple[str, ...]] = {
    "Device": ("patient",),
    "Contract": ("subject",),
}


def is_patient_data(resource_type: str) -> bool:
    """Whether resources of this type belong to a patient (Patient itself included)."""
    return resource_type == "Patient" or resource_type in COMPARTMENT


def is_patient_resource(resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` is patient data: its type is, or it is of a :data:`NAMING_PATIENT` type and names a
    Patient."""
    rtype = str(resource.get("resourceType"))
    return is_patient_data(rtype) or (rtype in NAMING_PATIENT and bool(patients_of(resource)))


def compartment_param(resource_type: str) -> str | None:
    """The search parameter that restricts a search of this type to a patient (``_id`` for Patient)."""
    if resource_type == "Patient":
        return "_id"
    entry = COMPARTMENT.get(resource_type)
    return entry[0] if entry else None


@cache
def compartment_search(resource_type: str) -> tuple[str, ...]:
    """The search parameters that together find what :func:`patients_of` puts in a patient's compartment.

    One indexed reference parameter per compartment element (the element a parameter's expression names, one of
    its ``|`` alternatives; a parameter that may refer to a Patient), the compartment parameter first where it
    covers its element: ``Coverage`` → ``patient`` (the beneficiary), ``subscriber``, ``policy-holder``, ``payor``,
    as the R4 Patient CompartmentDefinition lists them. A search is in the compartment when *any* of them names
    the patient: searching by the first alone would miss what a read lets the patient see (a parent who is only
    the subscriber of a child's Coverage). Empty for ``Patient`` (its compartment is ``_id``) and for a type whose
    compartment parameter the store does not index (such a type cannot be searched in a compartment).
    """
    entry = COMPARTMENT.get(resource_type)
    params = params_for(resource_type)
    if entry is None or entry[0] not in params:
        return ()
    primary, paths = entry
    names: list[str] = []
    for path in paths:
        element = f"{resource_type}.{path}"
        covering = [
            p.name
            for p in params.values()
            if p.type == "reference"
            and (not p.targets or "Patient" in p.targets)
            and element in (part.strip() for part in p.expression.split("|"))
        ]
        if not covering:
            continue
        name = primary if primary in covering else covering[0]
        if name not in names:
            names.append(name)
    if primary in names:
        names.remove(primary)
    return (primary, *names)


def _walk(value: Any, parts: list[str]) -> Iterable[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, parts)
        return
    if not parts:
        yield value
        return
    if isinstance(value, Mapping):
        yield from _walk(value.get(parts[0]), parts[1:])


def patient_id_of(reference: Any) -> str | None:
    """The Patient id of a Reference (``Patient/1``, ``Patient/1/_history/2`` or an absolute URL ending so)."""
    if not isinstance(reference, Mapping):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    parts = ref.split("/")
    for i in range(len(parts) - 1):
        if parts[i] == "Patient" and parts[i + 1]:
            tail = parts[i + 2 :]
            if not tail or tail[0] == "_history":
                return parts[i + 1]
    return None


def patients_of(resource: Mapping[str, Any]) -> set[str]:
    """The ids of the Patients whose compartment ``resource`` is in (for a Patient: itself; for a
    :data:`NAMING_PATIENT` type, the Patients it names).

    Linked Patients (``Patient.link``) are not followed here; see :mod:`hub.security.access`.
    """
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return {rid} if isinstance(rid, str) else set()
    entry = COMPARTMENT.get(str(rtype))
    paths = entry[1] if entry is not None else NAMING_PATIENT.get(str(rtype), ())
    found: set[str] = set()
    for path in paths:
        for ref in _walk(resource, path.split(".")):
            pid = patient_id_of(ref)
            if pid is not None:
                found.add(pid)
    return found
