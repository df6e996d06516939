"""The search parameters the hub indexes, as data: name, type, extraction path (see :mod:`hub.fhir.paths`).

Every R4 resource type that can be stored has the common parameters (``_id``, ``_lastUpdated``, ``_tag``,
``_profile``, ``_security``, ``_source``); the types below add their own. The expressions follow the R4
SearchParameter definitions (http://hl7.org/fhir/R4/searchparameter-registry.html), written in the path
language: ``X.where(resolve() is Patient)`` becomes a reference parameter with ``targets=("Patient",)``.

To add a parameter, add a line here: the index tables are generic (one per parameter *type*), so no schema
migration is needed; the indexer extracts it on the next write of a resource, ``hub db upgrade`` and ``hub serve``
rebuild the rows of the type's resources already stored (:mod:`hub.fhir.index_state` notices the changed
parameters), and the search builder and the CapabilityStatement pick it up.
The parameters of the other R4 Patient compartment types (CarePlan, Claim, Goal …) are in
:mod:`hub.fhir.compartment_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from hub.fhir.compartment_params import PARAMS as COMPARTMENT_TYPE_PARAMS
from hub.fhir.paths import Path, compile_path

ParamType = Literal["token", "string", "date", "reference", "quantity", "uri"]

# The R4 (4.0.1) resource types, less the two that are never stored (OperationOutcome, Parameters).
RESOURCE_TYPES: frozenset[str] = frozenset(
    """
    Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent Basic
    Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam CatalogEntry
    ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication
    CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage
    CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric
    DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis
    Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
    EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal GraphDefinition Group
    GuidanceResponse HealthcareService ImagingStudy Immunization ImmunizationEvaluation ImmunizationRecommendation
    ImplementationGuide InsurancePlan Invoice Library Linkage List Location Measure MeasureReport Media Medication
    MedicationAdministration MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement
    MedicinalProduct MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
    MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged
    MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition MessageHeader
    MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition
    Organization OrganizationAffiliation Patient PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner
    PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson RequestGroup
    ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
    RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition
    StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer
    SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification SupplyDelivery
    SupplyRequest Task TerminologyCapabilities TestReport TestScript ValueSet VerificationResult
    VisionPrescription
    """.split()
)

_SP = "http://hl7.org/fhir/SearchParameter/"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter of one resource type.

    Attributes:
        name: the parameter name (``identifier``, ``value-quantity``).
        type: token, string, date, reference, quantity or uri (uri values are indexed as tokens without system).
        expression: the extraction path; empty for ``_id`` and ``_lastUpdated``, read from the resource row.
        targets: reference: the only target types indexed and searched (``patient`` → ``("Patient",)``).
        system: token: the code system of plain ``code`` values (``gender`` → administrative-gender).
        shape: the datatype at the path when its JSON shape is ambiguous (``ContactPoint``).
        definition: the canonical URL of the R4 SearchParameter this one implements.
        documentation: a line for the CapabilityStatement.
    """

    name: str
    type: ParamType
    expression: str
    targets: tuple[str, ...] = ()
    system: str | None = None
    shape: str | None = None
    definition: str | None = None
    documentation: str = ""
    paths: tuple[Path, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.expression:
            object.__setattr__(self, "paths", compile_path(self.expression))

    @property
    def column(self) -> str | None:
        """``id`` / ``last_updated`` for the parameters answered from the resource row itself."""
        return {"_id": "id", "_lastUpdated": "last_updated"}.get(self.name)


def _p(
    name: str,
    type_: ParamType,
    expression: str,
    definition: str | None = None,
    *,
    targets: tuple[str, ...] = (),
    system: str | None = None,
    shape: str | None = None,
    doc: str = "",
) -> SearchParam:
    return SearchParam(
        name,
        type_,
        expression,
        targets=targets,
        system=system,
        shape=shape,
        definition=_SP + definition if definition else None,
        documentation=doc,
    )


PATIENT = ("Patient",)
COMMON: tuple[SearchParam, ...] = (
    _p("_id", "token", "", "Resource-id", doc="Logical id of the resource"),
    _p("_lastUpdated", "date", "", "Resource-lastUpdated", doc="When the resource version last changed"),
    _p("_tag", "token", "Resource.meta.tag", "Resource-tag", doc="Tags applied to the resource"),
    _p("_profile", "uri", "Resource.meta.profile", "Resource-profile", doc="Profiles the resource claims"),
    _p("_security", "token", "Resource.meta.security", "Resource-security", doc="Security labels"),
    _p("_source", "uri", "Resource.meta.source", "Resource-source", doc="Where the resource comes from"),
)

_TELECOM = "ContactPoint"
_GENDER = "http://hl7.org/fhir/administrative-gender"


def _clinical(t: str, subject: str = "subject") -> list[SearchParam]:
    """patient / subject / encounter / identifier as most clinical resources define them."""
    return [
        _p("identifier", "token", f"{t}.identifier", "clinical-identifier"),
        _p("patient", "reference", f"{t}.{subject}", "clinical-patient", targets=PATIENT),
        _p("subject", "reference", f"{t}.{subject}", f"{t}-subject"),
        _p("encounter", "reference", f"{t}.encounter", "clinical-encounter", targets=("Encounter",)),
    ]


_BY_TYPE: dict[str, list[SearchParam]] = {
    "Patient": [
        _p("identifier", "token", "Patient.identifier", "Patient-identifier"),
        _p("name", "string", "Patient.name", "Patient-name", doc="Any part of the name (family, given, text…)"),
        _p("family", "string", "Patient.name.family", "individual-family"),
        _p("given", "string", "Patient.name.given", "individual-given"),
        _p("birthdate", "date", "Patient.birthDate", "individual-birthdate"),
        _p("gender", "token", "Patient.gender", "individual-gender", system=_GENDER),
        _p("telecom", "token", "Patient.telecom", "individual-telecom", shape=_TELECOM),
        _p("phone", "token", "Patient.telecom.where(system='phone')", "individual-phone", shape=_TELECOM),
        _p("email", "token", "Patient.telecom.where(system='email')", "individual-email", shape=_TELECOM),
        _p("address", "string", "Patient.address", "individual-address"),
        _p("address-city", "string", "Patient.address.city", "individual-address-city"),
        _p("address-postalcode", "string", "Patient.address.postalCode", "individual-address-postalcode"),
        _p("address-state", "string", "Patient.address.state", "individual-address-state"),
        _p("address-country", "string", "Patient.address.country", "individual-address-country"),
        _p("language", "token", "Patient.communication.language", "Patient-language"),
        _p("active", "token", "Patient.active", "Patient-active"),
        _p("death-date", "date", "Patient.deceasedDateTime", "Patient-death-date"),
        _p("organization", "reference", "Patient.managingOrganization", "Patient-organization"),
        _p("general-practitioner", "reference", "Patient.generalPractitioner", "Patient-general-practitioner"),
        _p("link", "reference", "Patient.link.other", "Patient-link"),
    ],
    "Practitioner": [
        _p("identifier", "token", "Practitioner.identifier", "Practitioner-identifier"),
        _p("name", "string", "Practitioner.name", "Practitioner-name"),
        _p("family", "string", "Practitioner.name.family", "individual-family"),
        _p("given", "string", "Practitioner.name.given", "individual-given"),
        _p("telecom", "token", "Practitioner.telecom", "individual-telecom", shape=_TELECOM),
        _p("gender", "token", "Practitioner.gender", "individual-gender", system=_GENDER),
        _p("active", "token", "Practitioner.active", "Practitioner-active"),
        _p("phone", "token", "Practitioner.telecom.where(system='phone')", "individual-phone", shape=_TELECOM),
        _p("email", "token", "Practitioner.telecom.where(system='email')", "individual-email", shape=_TELECOM),
        _p("address", "string", "Practitioner.address", "individual-address"),
        _p("address-city", "string", "Practitioner.address.city", "individual-address-city"),
        _p("communication", "token", "Practitioner.communication", "Practitioner-communication"),
    ],
    "PractitionerRole": [
        _p("identifier", "token", "PractitionerRole.identifier", "PractitionerRole-identifier"),
        _p("practitioner", "reference", "PractitionerRole.practitioner", "PractitionerRole-practitioner"),
        _p("organization", "reference", "PractitionerRole.organization", "PractitionerRole-organization"),
        _p("location", "reference", "PractitionerRole.location", "PractitionerRole-location"),
        _p("service", "reference", "PractitionerRole.healthcareService", "PractitionerRole-service"),
        _p("role", "token", "PractitionerRole.code", "PractitionerRole-role"),
        _p("specialty", "token", "PractitionerRole.specialty", "PractitionerRole-specialty"),
        _p("active", "token", "PractitionerRole.active", "PractitionerRole-active"),
        _p("date", "date", "PractitionerRole.period", "PractitionerRole-date"),
        _p("telecom", "token", "PractitionerRole.telecom", "PractitionerRole-telecom", shape=_TELECOM),
        _p(
            "phone",
            "token",
            "PractitionerRole.telecom.where(system='phone')",
            "PractitionerRole-phone",
            shape=_TELECOM,
        ),
        _p(
            "email",
            "token",
            "PractitionerRole.telecom.where(system='email')",
            "PractitionerRole-email",
            shape=_TELECOM,
        ),
        _p("endpoint", "reference", "PractitionerRole.endpoint", "PractitionerRole-endpoint"),
    ],
    "Organization": [
        _p("identifier", "token", "Organization.identifier", "Organization-identifier"),
        _p("name", "string", "Organization.name | Organization.alias", "Organization-name"),
        _p("type", "token", "Organization.type", "Organization-type"),
        _p("active", "token", "Organization.active", "Organization-active"),
        _p("partof", "reference", "Organization.partOf", "Organization-partof"),
        _p("address", "string", "Organization.address", "Organization-address"),
        _p("address-city", "string", "Organization.address.city", "Organization-address-city"),
        _p("endpoint", "reference", "Organization.endpoint", "Organization-endpoint"),
    ],
    "Location": [
        _p("identifier", "token", "Location.identifier", "Location-identifier"),
        _p("name", "string", "Location.name | Location.alias", "Location-name"),
        _p("status", "token", "Location.status", "Location-status"),
        _p("type", "token", "Location.type", "Location-type"),
        _p("organization", "reference", "Location.managingOrganization", "Location-organization"),
        _p("partof", "reference", "Location.partOf", "Location-partof"),
        _p("address", "string", "Location.address", "Location-address"),
        _p("address-city", "string", "Location.address.city", "Location-address-city"),
        _p("operational-status", "token", "Location.operationalStatus", "Location-operational-status"),
        _p("endpoint", "reference", "Location.endpoint", "Location-endpoint"),
    ],
    "HealthcareService": [
        _p("identifier", "token", "HealthcareService.identifier", "HealthcareService-identifier"),
        _p("name", "string", "HealthcareService.name", "HealthcareService-name"),
        _p("organization", "reference", "HealthcareService.providedBy", "HealthcareService-organization"),
        _p("location", "reference", "HealthcareService.location", "HealthcareService-location"),
        _p("service-type", "token", "HealthcareService.type", "HealthcareService-service-type"),
        _p("specialty", "token", "HealthcareService.specialty", "HealthcareService-specialty"),
        _p("active", "token", "HealthcareService.active", "HealthcareService-active"),
        _p("service-category", "token", "HealthcareService.category", "HealthcareService-service-category"),
        _p("characteristic", "token", "HealthcareService.characteristic", "HealthcareService-characteristic"),
        _p("program", "token", "HealthcareService.program", "HealthcareService-program"),
        _p("endpoint", "reference", "HealthcareService.endpoint", "HealthcareService-endpoint"),
    ],
    "Encounter": [
        _p("identifier", "token", "Encounter.identifier", "clinical-identifier"),
        _p("patient", "reference", "Encounter.subject", "clinical-patient", targets=PATIENT),
        _p("subject", "reference", "Encounter.subject", "Encounter-subject"),
        _p("status", "token", "Encounter.status", "Encounter-status"),
        _p("class", "token", "Encounter.class", "Encounter-class"),
        _p("type", "token", "Encounter.type", "clinical-type"),
        _p("date", "date", "Encounter.period", "clinical-date"),
        _p("participant", "reference", "Encounter.participant.individual", "Encounter-participant"),
        _p(
            "practitioner",
            "reference",
            "Encounter.participant.individual",
            "Encounter-practitioner",
            targets=("Practitioner",),
        ),
        _p("location", "reference", "Encounter.location.location", "Encounter-location"),
        _p("service-provider", "reference", "Encounter.serviceProvider", "Encounter-service-provider"),
        _p("episode-of-care", "reference", "Encounter.episodeOfCare", "Encounter-episode-of-care"),
        _p("based-on", "reference", "Encounter.basedOn", "Encounter-based-on"),
        _p("reason-code", "token", "Encounter.reasonCode", "Encounter-reason-code"),
        _p("reason-reference", "reference", "Encounter.reasonReference", "Encounter-reason-reference"),
        _p("diagnosis", "reference", "Encounter.diagnosis.condition", "Encounter-diagnosis"),
        _p("appointment", "reference", "Encounter.appointment", "Encounter-appointment"),
        _p("part-of", "reference", "Encounter.partOf", "Encounter-part-of"),
        _p("account", "reference", "Encounter.account", "Encounter-account"),
        _p("length", "quantity", "Encounter.length", "Encounter-length"),
        _p("location-period", "date", "Encounter.location.period", "Encounter-location-period"),
        _p(
            "special-arrangement",
            "token",
            "Encounter.hospitalization.specialArrangement",
            "Encounter-special-arrangement",
        ),
    ],
    "Observation": [
        *_clinical("Observation"),
        _p("code", "token", "Observation.code", "clinical-code"),
        _p("category", "token", "Observation.category", "Observation-category"),
        _p("status", "token", "Observation.status", "Observation-status"),
        _p("date", "date", "Observation.effective[x]", "clinical-date"),
        _p("value-quantity", "quantity", "Observation.valueQuantity", "Observation-value-quantity"),
        _p("value-concept", "token", "Observation.valueCodeableConcept", "Observation-value-concept"),
        _p("value-string", "string", "Observation.valueString", "Observation-value-string"),
        _p("value-date", "date", "Observation.valueDateTime | Observation.valuePeriod", "Observation-value-date"),
        _p("specimen", "reference", "Observation.specimen", "Observation-specimen"),
        _p("performer", "reference", "Observation.performer", "Observation-performer"),
        _p("based-on", "reference", "Observation.basedOn", "Observation-based-on"),
        _p("part-of", "reference", "Observation.partOf", "Observation-part-of"),
        _p("has-member", "reference", "Observation.hasMember", "Observation-has-member"),
        _p("derived-from", "reference", "Observation.derivedFrom", "Observation-derived-from"),
        _p("device", "reference", "Observation.device", "Observation-device"),
        _p("focus", "reference", "Observation.focus", "Observation-focus"),
        _p("method", "token", "Observation.method", "Observation-method"),
        _p("data-absent-reason", "token", "Observation.dataAbsentReason", "Observation-data-absent-reason"),
        _p("component-code", "token", "Observation.component.code", "Observation-component-code"),
        _p(
            "component-value-quantity",
            "quantity",
            "Observation.component.valueQuantity",
            "Observation-component-value-quantity",
        ),
        _p(
            "component-value-concept",
            "token",
            "Observation.component.valueCodeableConcept",
            "Observation-component-value-concept",
        ),
        _p("combo-code", "token", "Observation.code | Observation.component.code", "Observation-combo-code"),
        _p(
            "combo-value-quantity",
            "quantity",
            "Observation.valueQuantity | Observation.component.valueQuantity",
            "Observation-combo-value-quantity",
        ),
        _p(
            "combo-value-concept",
            "token",
            "Observation.valueCodeableConcept | Observation.component.valueCodeableConcept",
            "Observation-combo-value-concept",
        ),
    ],
    "DiagnosticReport": [
        *_clinical("DiagnosticReport"),
        _p("code", "token", "DiagnosticReport.code", "clinical-code"),
        _p("category", "token", "DiagnosticReport.category", "DiagnosticReport-category"),
        _p("status", "token", "DiagnosticReport.status", "DiagnosticReport-status"),
        _p("date", "date", "DiagnosticReport.effective[x]", "clinical-date"),
        _p("issued", "date", "DiagnosticReport.issued", "DiagnosticReport-issued"),
        _p("result", "reference", "DiagnosticReport.result", "DiagnosticReport-result"),
        _p("specimen", "reference", "DiagnosticReport.specimen", "DiagnosticReport-specimen"),
        _p("performer", "reference", "DiagnosticReport.performer", "DiagnosticReport-performer"),
        _p(
            "results-interpreter",
            "reference",
            "DiagnosticReport.resultsInterpreter",
            "DiagnosticReport-results-interpreter",
        ),
        _p("based-on", "reference", "DiagnosticReport.basedOn", "DiagnosticReport-based-on"),
        _p("conclusion", "token", "DiagnosticReport.conclusionCode", "DiagnosticReport-conclusion"),
        _p("media", "reference", "DiagnosticReport.media.link", "DiagnosticReport-media"),
    ],
    "Specimen": [
        _p("identifier", "token", "Specimen.identifier", "Specimen-identifier"),
        _p("accession", "token", "Specimen.accessionIdentifier", "Specimen-accession"),
        _p("patient", "reference", "Specimen.subject", "Specimen-patient", targets=PATIENT),
        _p("subject", "reference", "Specimen.subject", "Specimen-subject"),
        _p("type", "token", "Specimen.type", "Specimen-type"),
        _p("status", "token", "Specimen.status", "Specimen-status"),
        _p("collected", "date", "Specimen.collection.collected[x]", "Specimen-collected"),
        _p("bodysite", "token", "Specimen.collection.bodySite", "Specimen-bodysite"),
        _p("collector", "reference", "Specimen.collection.collector", "Specimen-collector"),
        _p("parent", "reference", "Specimen.parent", "Specimen-parent"),
        _p("container", "token", "Specimen.container.type", "Specimen-container"),
        _p("container-id", "token", "Specimen.container.identifier", "Specimen-container-id"),
    ],
    "ServiceRequest": [
        *_clinical("ServiceRequest"),
        _p("code", "token", "ServiceRequest.code", "clinical-code"),
        _p("category", "token", "ServiceRequest.category", "ServiceRequest-category"),
        _p("status", "token", "ServiceRequest.status", "ServiceRequest-status"),
        _p("intent", "token", "ServiceRequest.intent", "ServiceRequest-intent"),
        _p("priority", "token", "ServiceRequest.priority", "ServiceRequest-priority"),
        _p("authored", "date", "ServiceRequest.authoredOn", "ServiceRequest-authored"),
        _p("occurrence", "date", "ServiceRequest.occurrence[x]", "ServiceRequest-occurrence"),
        _p("requester", "reference", "ServiceRequest.requester", "ServiceRequest-requester"),
        _p("performer", "reference", "ServiceRequest.performer", "ServiceRequest-performer"),
        _p("specimen", "reference", "ServiceRequest.specimen", "ServiceRequest-specimen"),
        _p("based-on", "reference", "ServiceRequest.basedOn", "ServiceRequest-based-on"),
        _p("requisition", "token", "ServiceRequest.requisition", "ServiceRequest-requisition"),
        _p("body-site", "token", "ServiceRequest.bodySite", "ServiceRequest-body-site"),
        _p("replaces", "reference", "ServiceRequest.replaces", "ServiceRequest-replaces"),
        _p("instantiates-uri", "uri", "ServiceRequest.instantiatesUri", "ServiceRequest-instantiates-uri"),
    ],
    "Condition": [
        *_clinical("Condition"),
        _p("code", "token", "Condition.code", "clinical-code"),
        _p("category", "token", "Condition.category", "Condition-category"),
        _p("clinical-status", "token", "Condition.clinicalStatus", "Condition-clinical-status"),
        _p("verification-status", "token", "Condition.verificationStatus", "Condition-verification-status"),
        _p("severity", "token", "Condition.severity", "Condition-severity"),
        _p("onset-date", "date", "Condition.onsetDateTime | Condition.onsetPeriod", "Condition-onset-date"),
        _p("recorded-date", "date", "Condition.recordedDate", "Condition-recorded-date"),
        _p(
            "abatement-date",
            "date",
            "Condition.abatementDateTime | Condition.abatementPeriod",
            "Condition-abatement-date",
        ),
        _p("onset-info", "string", "Condition.onsetString", "Condition-onset-info"),
        _p("asserter", "reference", "Condition.asserter", "Condition-asserter"),
        _p("body-site", "token", "Condition.bodySite", "Condition-body-site"),
        _p("evidence", "token", "Condition.evidence.code", "Condition-evidence"),
        _p("evidence-detail", "reference", "Condition.evidence.detail", "Condition-evidence-detail"),
        _p("stage", "token", "Condition.stage.summary", "Condition-stage"),
    ],
    "AllergyIntolerance": [
        _p("identifier", "token", "AllergyIntolerance.identifier", "clinical-identifier"),
        _p("patient", "reference", "AllergyIntolerance.patient", "clinical-patient", targets=PATIENT),
        _p(
            "code",
            "token",
            "AllergyIntolerance.code | AllergyIntolerance.reaction.substance",
            "clinical-code",
        ),
        _p("clinical-status", "token", "AllergyIntolerance.clinicalStatus", "AllergyIntolerance-clinical-status"),
        _p(
            "verification-status",
            "token",
            "AllergyIntolerance.verificationStatus",
            "AllergyIntolerance-verification-status",
        ),
        _p("type", "token", "AllergyIntolerance.type", "AllergyIntolerance-type"),
        _p("category", "token", "AllergyIntolerance.category", "AllergyIntolerance-category"),
        _p("criticality", "token", "AllergyIntolerance.criticality", "AllergyIntolerance-criticality"),
        _p("date", "date", "AllergyIntolerance.recordedDate", "clinical-date"),
        _p("recorder", "reference", "AllergyIntolerance.recorder", "AllergyIntolerance-recorder"),
        _p("asserter", "reference", "AllergyIntolerance.asserter", "AllergyIntolerance-asserter"),
        _p("onset", "date", "AllergyIntolerance.reaction.onset", "AllergyIntolerance-onset"),
        _p("last-date", "date", "AllergyIntolerance.lastOccurrence", "AllergyIntolerance-last-date"),
        _p(
            "manifestation",
            "token",
            "AllergyIntolerance.reaction.manifestation",
            "AllergyIntolerance-manifestation",
        ),
        _p("severity", "token", "AllergyIntolerance.reaction.severity", "AllergyIntolerance-severity"),
        _p("route", "token", "AllergyIntolerance.reaction.exposureRoute", "AllergyIntolerance-route"),
    ],
    "Immunization": [
        _p("identifier", "token", "Immunization.identifier", "clinical-identifier"),
        _p("patient", "reference", "Immunization.patient", "clinical-patient", targets=PATIENT),
        _p("status", "token", "Immunization.status", "Immunization-status"),
        _p("vaccine-code", "token", "Immunization.vaccineCode", "Immunization-vaccine-code"),
        _p("date", "date", "Immunization.occurrence[x]", "clinical-date"),
        _p("location", "reference", "Immunization.location", "Immunization-location"),
        _p("performer", "reference", "Immunization.performer.actor", "Immunization-performer"),
        _p("manufacturer", "reference", "Immunization.manufacturer", "Immunization-manufacturer"),
        _p("lot-number", "string", "Immunization.lotNumber", "Immunization-lot-number"),
        _p("status-reason", "token", "Immunization.statusReason", "Immunization-status-reason"),
        _p("reason-code", "token", "Immunization.reasonCode", "Immunization-reason-code"),
        _p("reason-reference", "reference", "Immunization.reasonReference", "Immunization-reason-reference"),
        _p("reaction", "reference", "Immunization.reaction.detail", "Immunization-reaction"),
        _p("reaction-date", "date", "Immunization.reaction.date", "Immunization-reaction-date"),
        _p("series", "string", "Immunization.protocolApplied.series", "Immunization-series"),
        _p(
            "target-disease",
            "token",
            "Immunization.protocolApplied.targetDisease",
            "Immunization-target-disease",
        ),
    ],
    "DocumentReference": [
        _p("identifier", "token", "DocumentReference.identifier | DocumentReference.masterIdentifier"),
        _p("patient", "reference", "DocumentReference.subject", "clinical-patient", targets=PATIENT),
        _p("subject", "reference", "DocumentReference.subject", "DocumentReference-subject"),
        _p("status", "token", "DocumentReference.status", "DocumentReference-status"),
        _p("type", "token", "DocumentReference.type", "clinical-type"),
        _p("category", "token", "DocumentReference.category", "DocumentReference-category"),
        _p("date", "date", "DocumentReference.date", "DocumentReference-date"),
        _p("author", "reference", "DocumentReference.author", "DocumentReference-author"),
        _p("custodian", "reference", "DocumentReference.custodian", "DocumentReference-custodian"),
        _p("encounter", "reference", "DocumentReference.context.encounter", "clinical-encounter"),
        _p("period", "date", "DocumentReference.context.period", "DocumentReference-period"),
        _p("description", "string", "DocumentReference.description", "DocumentReference-description"),
        _p("event", "token", "DocumentReference.context.event", "DocumentReference-event"),
        _p("facility", "token", "DocumentReference.context.facilityType", "DocumentReference-facility"),
        _p("setting", "token", "DocumentReference.context.practiceSetting", "DocumentReference-setting"),
        _p("related", "reference", "DocumentReference.context.related", "DocumentReference-related"),
        _p("format", "token", "DocumentReference.content.format", "DocumentReference-format"),
        _p(
            "contenttype",
            "token",
            "DocumentReference.content.attachment.contentType",
            "DocumentReference-contenttype",
        ),
        _p("language", "token", "DocumentReference.content.attachment.language", "DocumentReference-language"),
        _p("location", "uri", "DocumentReference.content.attachment.url", "DocumentReference-location"),
        _p("relatesto", "reference", "DocumentReference.relatesTo.target", "DocumentReference-relatesto"),
        _p("relation", "token", "DocumentReference.relatesTo.code", "DocumentReference-relation"),
        _p("security-label", "token", "DocumentReference.securityLabel", "DocumentReference-security-label"),
        _p("authenticator", "reference", "DocumentReference.authenticator", "DocumentReference-authenticator"),
    ],
    "ImagingStudy": [
        _p("identifier", "token", "ImagingStudy.identifier", "clinical-identifier"),
        _p("patient", "reference", "ImagingStudy.subject", "clinical-patient", targets=PATIENT),
        _p("subject", "reference", "ImagingStudy.subject", "ImagingStudy-subject"),
        _p("status", "token", "ImagingStudy.status", "ImagingStudy-status"),
        _p("started", "date", "ImagingStudy.started", "ImagingStudy-started"),
        _p("modality", "token", "ImagingStudy.series.modality", "ImagingStudy-modality"),
        _p("basedon", "reference", "ImagingStudy.basedOn", "ImagingStudy-basedon"),
        _p("encounter", "reference", "ImagingStudy.encounter", "ImagingStudy-encounter"),
        _p("series", "token", "ImagingStudy.series.uid", "ImagingStudy-series"),
        _p("instance", "token", "ImagingStudy.series.instance.uid", "ImagingStudy-instance"),
        _p("bodysite", "token", "ImagingStudy.series.bodySite", "ImagingStudy-bodysite"),
        _p("dicom-class", "token", "ImagingStudy.series.instance.sopClass", "ImagingStudy-dicom-class"),
        _p("performer", "reference", "ImagingStudy.series.performer.actor", "ImagingStudy-performer"),
        _p("interpreter", "reference", "ImagingStudy.interpreter", "ImagingStudy-interpreter"),
        _p("referrer", "reference", "ImagingStudy.referrer", "ImagingStudy-referrer"),
        _p("reason", "token", "ImagingStudy.reasonCode", "ImagingStudy-reason"),
        _p("endpoint", "reference", "ImagingStudy.endpoint | ImagingStudy.series.endpoint", "ImagingStudy-endpoint"),
    ],
    "Schedule": [
        _p("identifier", "token", "Schedule.identifier", "Schedule-identifier"),
        _p("active", "token", "Schedule.active", "Schedule-active"),
        _p("actor", "reference", "Schedule.actor", "Schedule-actor"),
        _p("date", "date", "Schedule.planningHorizon", "Schedule-date"),
        _p("service-type", "token", "Schedule.serviceType", "Schedule-service-type"),
        _p("specialty", "token", "Schedule.specialty", "Schedule-specialty"),
    ],
    "Slot": [
        _p("identifier", "token", "Slot.identifier", "Slot-identifier"),
        _p("schedule", "reference", "Slot.schedule", "Slot-schedule"),
        _p("status", "token", "Slot.status", "Slot-status"),
        _p("start", "date", "Slot.start", "Slot-start"),
        _p("service-type", "token", "Slot.serviceType", "Slot-service-type"),
        _p("specialty", "token", "Slot.specialty", "Slot-specialty"),
        _p("appointment-type", "token", "Slot.appointmentType", "Slot-appointment-type"),
    ],
    "Appointment": [
        _p("identifier", "token", "Appointment.identifier", "Appointment-identifier"),
        _p("status", "token", "Appointment.status", "Appointment-status"),
        _p("date", "date", "Appointment.start", "Appointment-date"),
        _p("actor", "reference", "Appointment.participant.actor", "Appointment-actor"),
        _p("patient", "reference", "Appointment.participant.actor", "Appointment-patient", targets=PATIENT),
        _p(
            "practitioner",
            "reference",
            "Appointment.participant.actor",
            "Appointment-practitioner",
            targets=("Practitioner",),
        ),
        _p("location", "reference", "Appointment.participant.actor", "Appointment-location", targets=("Location",)),
        _p("part-status", "token", "Appointment.participant.status", "Appointment-part-status"),
        _p("slot", "reference", "Appointment.slot", "Appointment-slot"),
        _p("service-type", "token", "Appointment.serviceType", "Appointment-service-type"),
        _p("appointment-type", "token", "Appointment.appointmentType", "Appointment-appointment-type"),
        _p("based-on", "reference", "Appointment.basedOn", "Appointment-based-on"),
        _p("reason-code", "token", "Appointment.reasonCode", "Appointment-reason-code"),
        _p("reason-reference", "reference", "Appointment.reasonReference", "Appointment-reason-reference"),
        _p("specialty", "token", "Appointment.specialty", "Appointment-specialty"),
        _p("service-category", "token", "Appointment.serviceCategory", "Appointment-service-category"),
        _p("supporting-info", "reference", "Appointment.supportingInformation", "Appointment-supporting-info"),
    ],
    "Medication": [
        _p("identifier", "token", "Medication.identifier", "Medication-identifier"),
        _p("code", "token", "Medication.code", "clinical-code"),
        _p("status", "token", "Medication.status", "Medication-status"),
        _p("form", "token", "Medication.form", "Medication-form"),
        _p("ingredient", "reference", "Medication.ingredient.itemReference", "Medication-ingredient"),
        _p(
            "ingredient-code",
            "token",
            "Medication.ingredient.itemCodeableConcept",
            "Medication-ingredient-code",
        ),
        _p("manufacturer", "reference", "Medication.manufacturer", "Medication-manufacturer"),
        _p("lot-number", "token", "Medication.batch.lotNumber", "Medication-lot-number"),
        _p("expiration-date", "date", "Medication.batch.expirationDate", "Medication-expiration-date"),
    ],
    "MedicationRequest": [
        *_clinical("MedicationRequest"),
        _p("code", "token", "MedicationRequest.medicationCodeableConcept", "clinical-code"),
        _p("medication", "reference", "MedicationRequest.medicationReference", "medications-medication"),
        _p("status", "token", "MedicationRequest.status", "medications-status"),
        _p("intent", "token", "MedicationRequest.intent", "MedicationRequest-intent"),
        _p("category", "token", "MedicationRequest.category", "MedicationRequest-category"),
        _p("priority", "token", "MedicationRequest.priority", "MedicationRequest-priority"),
        _p("authoredon", "date", "MedicationRequest.authoredOn", "MedicationRequest-authoredon"),
        _p("requester", "reference", "MedicationRequest.requester", "MedicationRequest-requester"),
        _p(
            "intended-dispenser",
            "reference",
            "MedicationRequest.dispenseRequest.performer",
            "MedicationRequest-intended-dispenser",
        ),
        _p("date", "date", "MedicationRequest.dosageInstruction.timing"),
    ],
    "MedicationDispense": [
        _p("identifier", "token", "MedicationDispense.identifier", "clinical-identifier"),
        _p("patient", "reference", "MedicationDispense.subject", "clinical-patient", targets=PATIENT),
        _p("subject", "reference", "MedicationDispense.subject", "MedicationDispense-subject"),
        _p("context", "reference", "MedicationDispense.context", "MedicationDispense-context"),
        _p("code", "token", "MedicationDispense.medicationCodeableConcept", "clinical-code"),
        _p("medication", "reference", "MedicationDispense.medicationReference", "medications-medication"),
        _p("status", "token", "MedicationDispense.status", "medications-status"),
        _p(
            "prescription",
            "reference",
            "MedicationDispense.authorizingPrescription",
            "MedicationDispense-prescription",
        ),
        _p("performer", "reference", "MedicationDispense.performer.actor", "MedicationDispense-performer"),
        _p("type", "token", "MedicationDispense.type", "MedicationDispense-type"),
        _p("whenhandedover", "date", "MedicationDispense.whenHandedOver", "MedicationDispense-whenhandedover"),
        _p("whenprepared", "date", "MedicationDispense.whenPrepared", "MedicationDispense-whenprepared"),
        _p("destination", "reference", "MedicationDispense.destination", "MedicationDispense-destination"),
        _p("receiver", "reference", "MedicationDispense.receiver", "MedicationDispense-receiver"),
        _p(
            "responsibleparty",
            "reference",
            "MedicationDispense.substitution.responsibleParty",
            "MedicationDispense-responsibleparty",
        ),
    ],
    "MedicationAdministration": [
        _p("identifier", "token", "MedicationAdministration.identifier", "clinical-identifier"),
        _p("patient", "reference", "MedicationAdministration.subject", "clinical-patient", targets=PATIENT),
        _p("subject", "reference", "MedicationAdministration.subject", "MedicationAdministration-subject"),
        _p("context", "reference", "MedicationAdministration.context", "MedicationAdministration-context"),
        _p("code", "token", "MedicationAdministration.medicationCodeableConcept", "clinical-code"),
        _p("medication", "reference", "MedicationAdministration.medicationReference", "medications-medication"),
        _p("status", "token", "MedicationAdministration.status", "medications-status"),
        _p("request", "reference", "MedicationAdministration.request", "MedicationAdministration-request"),
        _p(
            "effective-time",
            "date",
            "MedicationAdministration.effective[x]",
            "MedicationAdministration-effective-time",
        ),
        _p(
            "performer",
            "reference",
            "MedicationAdministration.performer.actor",
            "MedicationAdministration-performer",
        ),
    ],
    "Provenance": [
        _p("target", "reference", "Provenance.target", "Provenance-target"),
        _p("patient", "reference", "Provenance.target", "Provenance-patient", targets=PATIENT),
        _p("agent", "reference", "Provenance.agent.who", "Provenance-agent"),
        _p("entity", "reference", "Provenance.entity.what", "Provenance-entity"),
        _p("location", "reference", "Provenance.location", "Provenance-location"),
        _p("recorded", "date", "Provenance.recorded", "Provenance-recorded"),
        _p("when", "date", "Provenance.occurredDateTime", "Provenance-when"),
        _p("agent-type", "token", "Provenance.agent.type", "Provenance-agent-type"),
        _p("agent-role", "token", "Provenance.agent.role", "Provenance-agent-role"),
        _p("signature-type", "token", "Provenance.signature.type", "Provenance-signature-type"),
    ],
    "AuditEvent": [
        _p("date", "date", "AuditEvent.recorded", "AuditEvent-date"),
        _p("type", "token", "AuditEvent.type", "AuditEvent-type"),
        _p("subtype", "token", "AuditEvent.subtype", "AuditEvent-subtype"),
        _p("action", "token", "AuditEvent.action", "AuditEvent-action"),
        _p("outcome", "token", "AuditEvent.outcome", "AuditEvent-outcome"),
        _p("agent", "reference", "AuditEvent.agent.who", "AuditEvent-agent"),
        _p("agent-name", "string", "AuditEvent.agent.name", "AuditEvent-agent-name"),
        _p("agent-role", "token", "AuditEvent.agent.role", "AuditEvent-agent-role"),
        _p("altid", "token", "AuditEvent.agent.altId", "AuditEvent-altid"),
        _p("address", "string", "AuditEvent.agent.network.address", "AuditEvent-address"),
        _p("policy", "uri", "AuditEvent.agent.policy", "AuditEvent-policy"),
        _p("entity", "reference", "AuditEvent.entity.what", "AuditEvent-entity"),
        _p("entity-type", "token", "AuditEvent.entity.type", "AuditEvent-entity-type"),
        _p("entity-role", "token", "AuditEvent.entity.role", "AuditEvent-entity-role"),
        _p(
            "patient",
            "reference",
            "AuditEvent.agent.who | AuditEvent.entity.what",
            "AuditEvent-patient",
            targets=PATIENT,
        ),
        _p("purpose", "token", "AuditEvent.purposeOfEvent | AuditEvent.agent.purposeOfUse", "AuditEvent-purpose"),
        _p("source", "reference", "AuditEvent.source.observer", "AuditEvent-source"),
        _p("site", "token", "AuditEvent.source.site", "AuditEvent-site"),
    ],
    "Consent": [
        _p("identifier", "token", "Consent.identifier", "clinical-identifier"),
        _p("patient", "reference", "Consent.patient", "clinical-patient", targets=PATIENT),
        _p("status", "token", "Consent.status", "Consent-status"),
        _p("scope", "token", "Consent.scope", "Consent-scope"),
        _p("category", "token", "Consent.category", "Consent-category"),
        _p("date", "date", "Consent.dateTime", "clinical-date"),
        _p("period", "date", "Consent.provision.period", "Consent-period"),
        _p("actor", "reference", "Consent.provision.actor.reference", "Consent-actor"),
        _p("action", "token", "Consent.provision.action", "Consent-action"),
        _p("purpose", "token", "Consent.provision.purpose", "Consent-purpose"),
        _p("data", "reference", "Consent.provision.data.reference", "Consent-data"),
        _p("organization", "reference", "Consent.organization", "Consent-organization"),
        _p("consentor", "reference", "Consent.performer", "Consent-consentor"),
        _p("security-label", "token", "Consent.provision.securityLabel", "Consent-security-label"),
        _p("source-reference", "reference", "Consent.sourceReference", "Consent-source-reference"),
    ],
    "Task": [
        _p("identifier", "token", "Task.identifier", "Task-identifier"),
        _p("status", "token", "Task.status", "Task-status"),
        _p("business-status", "token", "Task.businessStatus", "Task-business-status"),
        _p("intent", "token", "Task.intent", "Task-intent"),
        _p("priority", "token", "Task.priority", "Task-priority"),
        _p("code", "token", "Task.code", "Task-code"),
        _p("patient", "reference", "Task.for", "Task-patient", targets=PATIENT),
        _p("subject", "reference", "Task.for", "Task-subject"),
        _p("focus", "reference", "Task.focus", "Task-focus"),
        _p("owner", "reference", "Task.owner", "Task-owner"),
        _p("requester", "reference", "Task.requester", "Task-requester"),
        _p("encounter", "reference", "Task.encounter", "Task-encounter"),
        _p("based-on", "reference", "Task.basedOn", "Task-based-on"),
        _p("part-of", "reference", "Task.partOf", "Task-part-of"),
        _p("group-identifier", "token", "Task.groupIdentifier", "Task-group-identifier"),
        _p("authored-on", "date", "Task.authoredOn", "Task-authored-on"),
        _p("modified", "date", "Task.lastModified", "Task-modified"),
        _p("period", "date", "Task.executionPeriod", "Task-period"),
        _p("performer", "token", "Task.performerType", "Task-performer"),
    ],
    "Communication": [
        _p("identifier", "token", "Communication.identifier", "Communication-identifier"),
        _p("patient", "reference", "Communication.subject", "Communication-patient", targets=PATIENT),
        _p("subject", "reference", "Communication.subject", "Communication-subject"),
        _p("encounter", "reference", "Communication.encounter", "Communication-encounter"),
        _p("status", "token", "Communication.status", "Communication-status"),
        _p("category", "token", "Communication.category", "Communication-category"),
        _p("medium", "token", "Communication.medium", "Communication-medium"),
        _p("sent", "date", "Communication.sent", "Communication-sent"),
        _p("received", "date", "Communication.received", "Communication-received"),
        _p("recipient", "reference", "Communication.recipient", "Communication-recipient"),
        _p("sender", "reference", "Communication.sender", "Communication-sender"),
        _p("based-on", "reference", "Communication.basedOn", "Communication-based-on"),
        _p("part-of", "reference", "Communication.partOf", "Communication-part-of"),
    ],
    "RelatedPerson": [
        _p("identifier", "token", "RelatedPerson.identifier", "RelatedPerson-identifier"),
        _p("patient", "reference", "RelatedPerson.patient", "RelatedPerson-patient", targets=PATIENT),
        _p("name", "string", "RelatedPerson.name", "RelatedPerson-name"),
        _p("relationship", "token", "RelatedPerson.relationship", "RelatedPerson-relationship"),
        _p("telecom", "token", "RelatedPerson.telecom", "individual-telecom", shape=_TELECOM),
    ],
    "Procedure": [
        *_clinical("Procedure"),
        _p("code", "token", "Procedure.code", "clinical-code"),
        _p("status", "token", "Procedure.status", "Procedure-status"),
        _p("date", "date", "Procedure.performed[x]", "clinical-date"),
        _p("performer", "reference", "Procedure.performer.actor", "Procedure-performer"),
    ],
    "Account": [
        _p("identifier", "token", "Account.identifier", "Account-identifier"),
        _p("status", "token", "Account.status", "Account-status"),
        _p("type", "token", "Account.type", "Account-type"),
        _p("name", "string", "Account.name", "Account-name"),
        _p("patient", "reference", "Account.subject", "Account-patient", targets=PATIENT),
        _p("subject", "reference", "Account.subject", "Account-subject"),
        _p("owner", "reference", "Account.owner", "Account-owner"),
        _p("period", "date", "Account.servicePeriod", "Account-period"),
    ],
    "Coverage": [
        _p("identifier", "token", "Coverage.identifier", "Coverage-identifier"),
        _p("status", "token", "Coverage.status", "Coverage-status"),
        _p("type", "token", "Coverage.type", "Coverage-type"),
        _p("beneficiary", "reference", "Coverage.beneficiary", "Coverage-beneficiary", targets=PATIENT),
        _p("patient", "reference", "Coverage.beneficiary", "Coverage-patient", targets=PATIENT),
        _p("payor", "reference", "Coverage.payor", "Coverage-payor"),
        _p("policy-holder", "reference", "Coverage.policyHolder", "Coverage-policy-holder"),
        _p("subscriber", "reference", "Coverage.subscriber", "Coverage-subscriber"),
        _p("class-type", "token", "Coverage.class.type", "Coverage-class-type"),
        # R4 defines class-value as a string parameter (R5 made it a token)
        _p("class-value", "string", "Coverage.class.value", "Coverage-class-value"),
        _p("dependent", "string", "Coverage.dependent", "Coverage-dependent"),
    ],
    "Device": [
        _p("identifier", "token", "Device.identifier", "Device-identifier"),
        _p("patient", "reference", "Device.patient", "Device-patient", targets=PATIENT),
        _p("organization", "reference", "Device.owner", "Device-organization"),
        _p("type", "token", "Device.type", "Device-type"),
        _p("status", "token", "Device.status", "Device-status"),
    ],
}


for _rtype, _specs in COMPARTMENT_TYPE_PARAMS.items():
    if _rtype in _BY_TYPE:
        raise ValueError(f"{_rtype}: search parameters defined in two modules")
    _BY_TYPE[_rtype] = [_p(s.name, s.type, s.expression, s.definition, targets=s.targets) for s in _specs]


def _build() -> dict[str, Mapping[str, SearchParam]]:
    registry: dict[str, Mapping[str, SearchParam]] = {}
    for rtype in sorted(RESOURCE_TYPES):
        params = {p.name: p for p in COMMON}
        for p in _BY_TYPE.get(rtype, ()):
            if p.name in params:
                raise ValueError(f"{rtype}: search parameter {p.name} defined twice")
            params[p.name] = p
        registry[rtype] = MappingProxyType(params)
    unknown = set(_BY_TYPE) - RESOURCE_TYPES
    if unknown:
        raise ValueError(f"search parameters for unknown resource types: {sorted(unknown)}")
    return registry


REGISTRY: Mapping[str, Mapping[str, SearchParam]] = MappingProxyType(_build())


def params_for(resource_type: str) -> Mapping[str, SearchParam]:
    """The search parameters of ``resource_type`` by name (empty for a type the hub does not store)."""
    return REGISTRY.get(resource_type, MappingProxyType({}))


def indexed_params(resource_type: str) -> tuple[SearchParam, ...]:
    """The parameters extracted into the index tables when a resource of this type is written."""
    return _INDEXED.get(resource_type, ())


_INDEXED: dict[str, tuple[SearchParam, ...]] = {
    rtype: tuple(p for p in params.values() if p.paths) for rtype, params in REGISTRY.items()
}


#: Parameter types a search can be sorted by (``_sort``), besides ``_id`` and ``_lastUpdated``.
SORTABLE_TYPES: frozenset[str] = frozenset({"date", "string", "token", "uri", "quantity"})


def sort_param(resource_type: str, name: str) -> SearchParam | None:
    """The parameter ``_sort=name`` sorts ``resource_type`` by, or None when it cannot sort by it."""
    param = params_for(resource_type).get(name)
    if param is None or not (param.column is not None or param.type in SORTABLE_TYPES):
        return None
    return param


def reference_params(resource_type: str) -> tuple[SearchParam, ...]:
    """The reference parameters of ``resource_type`` (what ``_include=Type:*`` follows)."""
    return tuple(p for p in params_for(resource_type).values() if p.type == "reference")


def include_values(resource_type: str) -> list[str]:
    """``_include`` values a search of ``resource_type`` accepts (CapabilityStatement ``searchInclude``)."""
    params = reference_params(resource_type)
    return [f"{resource_type}:{p.name}" for p in params] + ([f"{resource_type}:*"] if params else [])


def revinclude_values(resource_type: str) -> list[str]:
    """``_revinclude`` values that name ``resource_type`` as their parameter's only kind of target
    (``Observation:patient`` for Patient); every other reference parameter of every type is accepted too, but
    listing each for every type would make the CapabilityStatement enormous."""
    return sorted(
        f"{source}:{p.name}"
        for source in _BY_TYPE
        for p in reference_params(source)
        if p.targets and resource_type in p.targets
    )
