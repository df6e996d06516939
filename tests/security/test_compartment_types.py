"""Every type of the R4 Patient CompartmentDefinition is patient data, and searchable in a patient's compartment by
the parameters the definition names.

A type the definition lists but ``compartment.COMPARTMENT`` does not was *directory data*: any token holding
``patient/*.rs`` read and searched every patient's resources of it (a Claim, a ChargeItem of DFT^P03), and a type
listed there whose compartment parameter was not indexed could not be searched by a patient at all (403).
"""

from __future__ import annotations

import pytest

from hub.fhir.search_params import params_for
from hub.security.compartment import COMPARTMENT, compartment_search, is_patient_data

# The R4 (4.0.1) Patient CompartmentDefinition, http://hl7.org/fhir/R4/compartmentdefinition-patient.html: each
# resource type and the search parameters that put a resource of it in a patient's compartment (Patient itself,
# by ``link``, is the compartment's own record here: a patient's search of Patient is by ``_id``).
R4_PATIENT_COMPARTMENT: dict[str, tuple[str, ...]] = {
    "Account": ("subject",),
    "AdverseEvent": ("subject",),
    "AllergyIntolerance": ("patient", "recorder", "asserter"),
    "Appointment": ("actor",),
    "AppointmentResponse": ("actor",),
    "AuditEvent": ("patient",),
    "Basic": ("patient", "author"),
    "BodyStructure": ("patient",),
    "CarePlan": ("patient", "performer"),
    "CareTeam": ("patient", "participant"),
    "ChargeItem": ("subject",),
    "Claim": ("patient", "payee"),
    "ClaimResponse": ("patient",),
    "ClinicalImpression": ("subject",),
    "Communication": ("subject", "sender", "recipient"),
    "CommunicationRequest": ("subject", "sender", "recipient", "requester"),
    "Composition": ("subject", "author", "attester"),
    "Condition": ("patient", "asserter"),
    "Consent": ("patient",),
    "Coverage": ("policy-holder", "subscriber", "beneficiary", "payor"),
    "CoverageEligibilityRequest": ("patient",),
    "CoverageEligibilityResponse": ("patient",),
    "DetectedIssue": ("patient",),
    "DeviceRequest": ("subject", "performer"),
    "DeviceUseStatement": ("subject",),
    "DiagnosticReport": ("subject",),
    "DocumentManifest": ("subject", "author", "recipient"),
    "DocumentReference": ("subject", "author"),
    "Encounter": ("patient",),
    "EnrollmentRequest": ("subject",),
    "EpisodeOfCare": ("patient",),
    "ExplanationOfBenefit": ("patient", "payee"),
    "FamilyMemberHistory": ("patient",),
    "Flag": ("patient",),
    "Goal": ("patient",),
    "Group": ("member",),
    "ImagingStudy": ("patient",),
    "Immunization": ("patient",),
    "ImmunizationEvaluation": ("patient",),
    "ImmunizationRecommendation": ("patient",),
    "Invoice": ("subject", "patient", "recipient"),
    "List": ("subject", "source"),
    "MeasureReport": ("patient",),
    "Media": ("subject",),
    "MedicationAdministration": ("patient", "performer", "subject"),
    "MedicationDispense": ("subject", "patient", "receiver"),
    "MedicationRequest": ("subject",),
    "MedicationStatement": ("subject",),
    "MolecularSequence": ("patient",),
    "NutritionOrder": ("patient",),
    "Observation": ("subject", "performer"),
    "Person": ("patient",),
    "Procedure": ("patient", "performer"),
    "Provenance": ("patient",),
    "QuestionnaireResponse": ("subject", "author"),
    "RelatedPerson": ("patient",),
    "RequestGroup": ("subject", "participant"),
    "ResearchSubject": ("individual",),
    "RiskAssessment": ("subject",),
    "Schedule": ("actor",),
    "ServiceRequest": ("subject", "performer"),
    "Specimen": ("subject",),
    "SupplyDelivery": ("patient",),
    "SupplyRequest": ("subject",),
    "VisionPrescription": ("patient",),
}


def test_every_r4_compartment_type_is_patient_data() -> None:
    assert sorted(t for t in R4_PATIENT_COMPARTMENT if not is_patient_data(t)) == []
    assert sorted(set(R4_PATIENT_COMPARTMENT) - set(COMPARTMENT)) == []


@pytest.mark.parametrize("rtype", sorted(COMPARTMENT))
def test_every_compartment_type_is_searchable_in_a_compartment(rtype: str) -> None:
    assert compartment_search(rtype), f"a patient's search of {rtype} would be refused"


@pytest.mark.parametrize(("rtype", "names"), sorted(R4_PATIENT_COMPARTMENT.items()))
def test_the_r4_parameters_name_the_compartment_elements(rtype: str, names: tuple[str, ...]) -> None:
    """Each parameter of the definition is indexed, and every element it reads is one the access policy checks on a
    read (so that a read and a search agree)."""
    params = params_for(rtype)
    elements = {f"{rtype}.{path}" for path in COMPARTMENT[rtype][1]}
    for name in names:
        assert name in params, f"{rtype}: R4 parameter {name} is not indexed"
        read_by = {part.strip() for part in params[name].expression.split("|")}
        assert read_by <= elements, f"{rtype}.{name} reads {read_by - elements}, which a read does not check"
    # and the compartment search covers every element the definition's parameters read
    searched = {part.strip() for n in compartment_search(rtype) for part in params[n].expression.split("|")}
    assert elements <= searched


def test_a_supply_request_is_in_the_compartment_of_the_patient_it_is_delivered_to() -> None:
    """R4 puts a SupplyRequest in the compartment by ``subject`` (``SupplyRequest.deliverTo``), not by ``requester``:
    a home-care supply for 张三 ordered by a nurse is his, and one 李四 asked to be delivered to 张三 is not 李四's."""
    from hub.security.compartment import patients_of

    by_nurse = {
        "resourceType": "SupplyRequest",
        "id": "sr-zhangsan",
        "status": "active",
        "itemCodeableConcept": {"text": "一次性胰岛素注射针头"},
        "quantity": {"value": 100},
        "requester": {"reference": "Practitioner/nurse-chenjing", "display": "陈静"},
        "deliverTo": {"reference": "Patient/p-zhangsan"},
    }
    assert patients_of(by_nurse) == {"p-zhangsan"}
    by_li = {**by_nurse, "requester": {"reference": "Patient/p-lisi"}}
    assert patients_of(by_li) == {"p-zhangsan"}
    assert compartment_search("SupplyRequest") == ("subject",)
    assert params_for("SupplyRequest")["subject"].expression == "SupplyRequest.deliverTo"


# Definitions checked against the R4 (4.0.1) resource pages' search tables where 7ecdb86 had another id: a shared
# definition ("Common": clinical-patient, clinical-date, clinical-identifier, clinical-code) or the type's own.
R4_DEFINITIONS: dict[tuple[str, str], str] = {
    ("ClinicalImpression", "patient"): "clinical-patient",
    ("ClinicalImpression", "date"): "clinical-date",
    ("Flag", "identifier"): "Flag-identifier",
    ("List", "code"): "clinical-code",
    ("SupplyRequest", "identifier"): "clinical-identifier",
    ("SupplyRequest", "date"): "clinical-date",
    # and some 7ecdb86 had right, of either kind
    ("CarePlan", "patient"): "clinical-patient",
    ("DeviceUseStatement", "identifier"): "DeviceUseStatement-identifier",
    ("MedicationStatement", "status"): "medications-status",
    ("EpisodeOfCare", "care-manager"): "EpisodeOfCare-care-manager",
}


@pytest.mark.parametrize(("key", "definition"), sorted(R4_DEFINITIONS.items()))
def test_the_r4_definition_of_each_parameter(key: tuple[str, str], definition: str) -> None:
    rtype, name = key
    assert params_for(rtype)[name].definition == f"http://hl7.org/fhir/SearchParameter/{definition}"


def test_care_manager_is_a_practitioner_only() -> None:
    """R4 EpisodeOfCare-care-manager: EpisodeOfCare.careManager.where(resolve() is Practitioner)."""
    assert params_for("EpisodeOfCare")["care-manager"].targets == ("Practitioner",)


# The R4 (4.0.1) SearchParameter expressions of the compartment parameters of the types whose parameters are in
# search_params.py itself (the ones added before compartment_params.py; checked against the R4 definitions, e.g.
# AuditEvent-patient, Provenance-patient, Appointment-actor, MedicationDispense-receiver), written as the path
# language writes them: ``X.where(resolve() is Patient)`` is the path X with the target Patient.
R4_EXPRESSIONS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("Account", "subject"): ("Account.subject", ()),
    ("AllergyIntolerance", "patient"): ("AllergyIntolerance.patient", ("Patient",)),
    ("AllergyIntolerance", "recorder"): ("AllergyIntolerance.recorder", ()),
    ("AllergyIntolerance", "asserter"): ("AllergyIntolerance.asserter", ()),
    ("Appointment", "actor"): ("Appointment.participant.actor", ()),
    ("AuditEvent", "patient"): ("AuditEvent.agent.who | AuditEvent.entity.what", ("Patient",)),
    ("Communication", "subject"): ("Communication.subject", ()),
    ("Communication", "sender"): ("Communication.sender", ()),
    ("Communication", "recipient"): ("Communication.recipient", ()),
    ("Condition", "patient"): ("Condition.subject", ("Patient",)),
    ("Condition", "asserter"): ("Condition.asserter", ()),
    ("Consent", "patient"): ("Consent.patient", ("Patient",)),
    ("Coverage", "policy-holder"): ("Coverage.policyHolder", ()),
    ("Coverage", "subscriber"): ("Coverage.subscriber", ()),
    ("Coverage", "beneficiary"): ("Coverage.beneficiary", ("Patient",)),
    ("Coverage", "payor"): ("Coverage.payor", ()),
    ("DiagnosticReport", "subject"): ("DiagnosticReport.subject", ()),
    ("DocumentReference", "subject"): ("DocumentReference.subject", ()),
    ("DocumentReference", "author"): ("DocumentReference.author", ()),
    ("Encounter", "patient"): ("Encounter.subject", ("Patient",)),
    ("ImagingStudy", "patient"): ("ImagingStudy.subject", ("Patient",)),
    ("Immunization", "patient"): ("Immunization.patient", ("Patient",)),
    ("MedicationAdministration", "patient"): ("MedicationAdministration.subject", ("Patient",)),
    ("MedicationAdministration", "performer"): ("MedicationAdministration.performer.actor", ()),
    ("MedicationAdministration", "subject"): ("MedicationAdministration.subject", ()),
    ("MedicationDispense", "subject"): ("MedicationDispense.subject", ()),
    ("MedicationDispense", "patient"): ("MedicationDispense.subject", ("Patient",)),
    ("MedicationDispense", "receiver"): ("MedicationDispense.receiver", ()),
    ("MedicationRequest", "subject"): ("MedicationRequest.subject", ()),
    ("Observation", "subject"): ("Observation.subject", ()),
    ("Observation", "performer"): ("Observation.performer", ()),
    ("Procedure", "patient"): ("Procedure.subject", ("Patient",)),
    ("Procedure", "performer"): ("Procedure.performer.actor", ()),
    ("Provenance", "patient"): ("Provenance.target", ("Patient",)),
    ("RelatedPerson", "patient"): ("RelatedPerson.patient", ("Patient",)),
    ("Schedule", "actor"): ("Schedule.actor", ()),
    ("ServiceRequest", "subject"): ("ServiceRequest.subject", ()),
    ("ServiceRequest", "performer"): ("ServiceRequest.performer", ()),
    ("Specimen", "subject"): ("Specimen.subject", ()),
}


def test_every_compartment_parameter_of_the_older_types_is_checked() -> None:
    from hub.fhir.compartment_params import PARAMS

    older = {(t, n) for t, names in R4_PATIENT_COMPARTMENT.items() if t not in PARAMS for n in names}
    assert older == set(R4_EXPRESSIONS)


@pytest.mark.parametrize(("key", "expected"), sorted(R4_EXPRESSIONS.items()))
def test_the_older_types_compartment_parameters_have_the_r4_expressions(
    key: tuple[str, str], expected: tuple[str, tuple[str, ...]]
) -> None:
    rtype, name = key
    param = params_for(rtype)[name]
    assert (param.expression, param.targets) == expected
