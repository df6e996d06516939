"""Search parameters of the R4 Patient compartment types that have none in :mod:`hub.fhir.search_params` itself.

Every type the R4 Patient CompartmentDefinition lists (http://hl7.org/fhir/R4/compartmentdefinition-patient.html)
can be stored by the hub; a patient may search the ones of their compartment
(:func:`hub.security.compartment.compartment_search`), which needs one indexed reference parameter per compartment
element. These are the R4 SearchParameters of those types that name a compartment element (``patient``,
``subject``, ``performer``, ``author`` …), plus the few every client asks for (``identifier``, ``status``, a date),
with the R4 expressions written in the path language (``X.where(resolve() is Patient)`` becomes a reference
parameter whose only target is Patient). :mod:`hub.fhir.search_params` adds them to its registry; data only here, so
that the registry module stays readable.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["token", "string", "date", "reference"]


class Spec(NamedTuple):
    """One parameter: name, type, expression, the R4 SearchParameter id, reference targets."""

    name: str
    type: Kind
    expression: str
    definition: str
    targets: tuple[str, ...] = ()


_PATIENT = ("Patient",)


def _id(t: str, definition: str = "") -> Spec:
    return Spec("identifier", "token", f"{t}.identifier", definition or f"{t}-identifier")


def _status(t: str, definition: str = "") -> Spec:
    return Spec("status", "token", f"{t}.status", definition or f"{t}-status")


def _patient(t: str, element: str, definition: str = "") -> Spec:
    """``patient``: the element when it refers to a Patient."""
    return Spec("patient", "reference", f"{t}.{element}", definition or f"{t}-patient", _PATIENT)


def _ref(t: str, name: str, element: str, definition: str = "") -> Spec:
    return Spec(name, "reference", f"{t}.{element}", definition or f"{t}-{name}")


def _subject(t: str, clinical: bool = False) -> list[Spec]:
    """``patient`` and ``subject`` on ``T.subject`` (``clinical-patient`` where R4 shares the definition)."""
    return [
        _patient(t, "subject", "clinical-patient" if clinical else ""),
        _ref(t, "subject", "subject"),
    ]


PARAMS: dict[str, list[Spec]] = {
    "AdverseEvent": [
        _ref("AdverseEvent", "subject", "subject"),
        _ref("AdverseEvent", "recorder", "recorder"),
        Spec("actuality", "token", "AdverseEvent.actuality", "AdverseEvent-actuality"),
        Spec("category", "token", "AdverseEvent.category", "AdverseEvent-category"),
        Spec("event", "token", "AdverseEvent.event", "AdverseEvent-event"),
        Spec("date", "date", "AdverseEvent.date", "AdverseEvent-date"),
        Spec("seriousness", "token", "AdverseEvent.seriousness", "AdverseEvent-seriousness"),
        Spec("severity", "token", "AdverseEvent.severity", "AdverseEvent-severity"),
        _ref("AdverseEvent", "substance", "suspectEntity.instance"),
    ],
    "AppointmentResponse": [
        _id("AppointmentResponse"),
        _ref("AppointmentResponse", "actor", "actor"),
        _patient("AppointmentResponse", "actor"),
        _ref("AppointmentResponse", "appointment", "appointment"),
        Spec("part-status", "token", "AppointmentResponse.participantStatus", "AppointmentResponse-part-status"),
    ],
    "Basic": [
        _id("Basic"),
        *_subject("Basic"),
        _ref("Basic", "author", "author"),
        Spec("code", "token", "Basic.code", "Basic-code"),
        Spec("created", "date", "Basic.created", "Basic-created"),
    ],
    "BodyStructure": [
        _id("BodyStructure"),
        _patient("BodyStructure", "patient"),
        Spec("location", "token", "BodyStructure.location", "BodyStructure-location"),
        Spec("morphology", "token", "BodyStructure.morphology", "BodyStructure-morphology"),
    ],
    "CarePlan": [
        _id("CarePlan", "clinical-identifier"),
        *_subject("CarePlan", clinical=True),
        _ref("CarePlan", "encounter", "encounter"),
        _status("CarePlan"),
        Spec("intent", "token", "CarePlan.intent", "CarePlan-intent"),
        Spec("category", "token", "CarePlan.category", "CarePlan-category"),
        Spec("date", "date", "CarePlan.period", "clinical-date"),
        _ref("CarePlan", "performer", "activity.detail.performer"),
        _ref("CarePlan", "care-team", "careTeam"),
        _ref("CarePlan", "goal", "goal"),
        _ref("CarePlan", "based-on", "basedOn"),
    ],
    "CareTeam": [
        _id("CareTeam", "clinical-identifier"),
        *_subject("CareTeam", clinical=True),
        _ref("CareTeam", "encounter", "encounter"),
        _status("CareTeam"),
        Spec("category", "token", "CareTeam.category", "CareTeam-category"),
        Spec("date", "date", "CareTeam.period", "clinical-date"),
        _ref("CareTeam", "participant", "participant.member"),
    ],
    "ChargeItem": [
        _id("ChargeItem"),
        *_subject("ChargeItem"),
        _ref("ChargeItem", "context", "context"),
        Spec("code", "token", "ChargeItem.code", "ChargeItem-code"),
        Spec("occurrence", "date", "ChargeItem.occurrence[x]", "ChargeItem-occurrence"),
        Spec("entered-date", "date", "ChargeItem.enteredDate", "ChargeItem-entered-date"),
        _ref("ChargeItem", "enterer", "enterer"),
        _ref("ChargeItem", "performer-actor", "performer.actor"),
        _ref("ChargeItem", "performing-organization", "performingOrganization"),
        _ref("ChargeItem", "requesting-organization", "requestingOrganization"),
        _ref("ChargeItem", "account", "account"),
        _ref("ChargeItem", "service", "service"),
    ],
    "Claim": [
        _id("Claim"),
        _patient("Claim", "patient"),
        _ref("Claim", "payee", "payee.party"),
        _status("Claim"),
        Spec("use", "token", "Claim.use", "Claim-use"),
        Spec("created", "date", "Claim.created", "Claim-created"),
        _ref("Claim", "provider", "provider"),
        _ref("Claim", "insurer", "insurer"),
        _ref("Claim", "enterer", "enterer"),
        _ref("Claim", "facility", "facility"),
        _ref("Claim", "encounter", "item.encounter"),
    ],
    "ClaimResponse": [
        _id("ClaimResponse"),
        _patient("ClaimResponse", "patient"),
        _status("ClaimResponse"),
        Spec("use", "token", "ClaimResponse.use", "ClaimResponse-use"),
        Spec("created", "date", "ClaimResponse.created", "ClaimResponse-created"),
        _ref("ClaimResponse", "insurer", "insurer"),
        _ref("ClaimResponse", "requestor", "requestor"),
        _ref("ClaimResponse", "request", "request"),
        Spec("outcome", "token", "ClaimResponse.outcome", "ClaimResponse-outcome"),
    ],
    "ClinicalImpression": [
        _id("ClinicalImpression"),
        *_subject("ClinicalImpression", clinical=True),
        _ref("ClinicalImpression", "encounter", "encounter"),
        _status("ClinicalImpression"),
        Spec("date", "date", "ClinicalImpression.date", "clinical-date"),
        _ref("ClinicalImpression", "assessor", "assessor"),
    ],
    "CommunicationRequest": [
        _id("CommunicationRequest"),
        *_subject("CommunicationRequest"),
        _ref("CommunicationRequest", "encounter", "encounter"),
        _status("CommunicationRequest"),
        Spec("category", "token", "CommunicationRequest.category", "CommunicationRequest-category"),
        Spec("priority", "token", "CommunicationRequest.priority", "CommunicationRequest-priority"),
        Spec("authored", "date", "CommunicationRequest.authoredOn", "CommunicationRequest-authored"),
        _ref("CommunicationRequest", "sender", "sender"),
        _ref("CommunicationRequest", "recipient", "recipient"),
        _ref("CommunicationRequest", "requester", "requester"),
    ],
    "Composition": [
        _id("Composition", "clinical-identifier"),
        *_subject("Composition", clinical=True),
        _ref("Composition", "encounter", "encounter", "clinical-encounter"),
        _status("Composition"),
        Spec("type", "token", "Composition.type", "clinical-type"),
        Spec("category", "token", "Composition.category", "Composition-category"),
        Spec("date", "date", "Composition.date", "clinical-date"),
        Spec("title", "string", "Composition.title", "Composition-title"),
        _ref("Composition", "author", "author"),
        _ref("Composition", "attester", "attester.party"),
    ],
    "CoverageEligibilityRequest": [
        _id("CoverageEligibilityRequest"),
        _patient("CoverageEligibilityRequest", "patient"),
        _status("CoverageEligibilityRequest"),
        Spec("created", "date", "CoverageEligibilityRequest.created", "CoverageEligibilityRequest-created"),
        _ref("CoverageEligibilityRequest", "provider", "provider"),
        _ref("CoverageEligibilityRequest", "enterer", "enterer"),
        _ref("CoverageEligibilityRequest", "facility", "facility"),
    ],
    "CoverageEligibilityResponse": [
        _id("CoverageEligibilityResponse"),
        _patient("CoverageEligibilityResponse", "patient"),
        _status("CoverageEligibilityResponse"),
        Spec("created", "date", "CoverageEligibilityResponse.created", "CoverageEligibilityResponse-created"),
        _ref("CoverageEligibilityResponse", "insurer", "insurer"),
        _ref("CoverageEligibilityResponse", "request", "request"),
        _ref("CoverageEligibilityResponse", "requestor", "requestor"),
        Spec("outcome", "token", "CoverageEligibilityResponse.outcome", "CoverageEligibilityResponse-outcome"),
    ],
    "DetectedIssue": [
        _id("DetectedIssue", "clinical-identifier"),
        _patient("DetectedIssue", "patient", "clinical-patient"),
        _ref("DetectedIssue", "author", "author"),
        Spec("code", "token", "DetectedIssue.code", "DetectedIssue-code"),
        Spec("identified", "date", "DetectedIssue.identified[x]", "DetectedIssue-identified"),
        _ref("DetectedIssue", "implicated", "implicated"),
    ],
    "DeviceRequest": [
        _id("DeviceRequest", "clinical-identifier"),
        *_subject("DeviceRequest", clinical=True),
        _ref("DeviceRequest", "encounter", "encounter", "clinical-encounter"),
        _status("DeviceRequest"),
        Spec("intent", "token", "DeviceRequest.intent", "DeviceRequest-intent"),
        Spec("code", "token", "DeviceRequest.codeCodeableConcept", "clinical-code"),
        _ref("DeviceRequest", "device", "codeReference"),
        Spec("authored-on", "date", "DeviceRequest.authoredOn", "DeviceRequest-authored-on"),
        _ref("DeviceRequest", "performer", "performer"),
        _ref("DeviceRequest", "requester", "requester"),
    ],
    "DeviceUseStatement": [
        _id("DeviceUseStatement"),
        *_subject("DeviceUseStatement", clinical=True),
        _ref("DeviceUseStatement", "device", "device"),
    ],
    "DocumentManifest": [
        Spec(
            "identifier",
            "token",
            "DocumentManifest.masterIdentifier | DocumentManifest.identifier",
            "clinical-identifier",
        ),
        *_subject("DocumentManifest", clinical=True),
        _status("DocumentManifest"),
        Spec("type", "token", "DocumentManifest.type", "clinical-type"),
        Spec("created", "date", "DocumentManifest.created", "DocumentManifest-created"),
        _ref("DocumentManifest", "author", "author"),
        _ref("DocumentManifest", "recipient", "recipient"),
        _ref("DocumentManifest", "item", "content"),
    ],
    "EnrollmentRequest": [
        _id("EnrollmentRequest"),
        _patient("EnrollmentRequest", "candidate"),
        Spec("subject", "reference", "EnrollmentRequest.candidate", "EnrollmentRequest-subject"),
        _status("EnrollmentRequest"),
    ],
    "EpisodeOfCare": [
        _id("EpisodeOfCare", "clinical-identifier"),
        _patient("EpisodeOfCare", "patient", "clinical-patient"),
        _status("EpisodeOfCare"),
        Spec("type", "token", "EpisodeOfCare.type", "clinical-type"),
        Spec("date", "date", "EpisodeOfCare.period", "clinical-date"),
        _ref("EpisodeOfCare", "organization", "managingOrganization"),
        # R4: EpisodeOfCare.careManager.where(resolve() is Practitioner)
        Spec("care-manager", "reference", "EpisodeOfCare.careManager", "EpisodeOfCare-care-manager", ("Practitioner",)),
        _ref("EpisodeOfCare", "condition", "diagnosis.condition"),
    ],
    "ExplanationOfBenefit": [
        _id("ExplanationOfBenefit"),
        _patient("ExplanationOfBenefit", "patient"),
        _ref("ExplanationOfBenefit", "payee", "payee.party"),
        _status("ExplanationOfBenefit"),
        Spec("created", "date", "ExplanationOfBenefit.created", "ExplanationOfBenefit-created"),
        _ref("ExplanationOfBenefit", "provider", "provider"),
        _ref("ExplanationOfBenefit", "enterer", "enterer"),
        _ref("ExplanationOfBenefit", "facility", "facility"),
        _ref("ExplanationOfBenefit", "claim", "claim"),
        _ref("ExplanationOfBenefit", "coverage", "insurance.coverage"),
        _ref("ExplanationOfBenefit", "encounter", "item.encounter"),
    ],
    "FamilyMemberHistory": [
        _id("FamilyMemberHistory", "clinical-identifier"),
        _patient("FamilyMemberHistory", "patient", "clinical-patient"),
        _status("FamilyMemberHistory"),
        Spec("relationship", "token", "FamilyMemberHistory.relationship", "FamilyMemberHistory-relationship"),
        Spec("code", "token", "FamilyMemberHistory.condition.code", "clinical-code"),
        Spec("date", "date", "FamilyMemberHistory.date", "clinical-date"),
    ],
    "Flag": [
        _id("Flag"),
        *_subject("Flag", clinical=True),
        _ref("Flag", "encounter", "encounter", "clinical-encounter"),
        Spec("date", "date", "Flag.period", "clinical-date"),
        _ref("Flag", "author", "author"),
    ],
    "Goal": [
        _id("Goal", "clinical-identifier"),
        *_subject("Goal", clinical=True),
        Spec("lifecycle-status", "token", "Goal.lifecycleStatus", "Goal-lifecycle-status"),
        Spec("achievement-status", "token", "Goal.achievementStatus", "Goal-achievement-status"),
        Spec("category", "token", "Goal.category", "Goal-category"),
        Spec("start-date", "date", "Goal.startDate", "Goal-start-date"),
        Spec("target-date", "date", "Goal.target.dueDate", "Goal-target-date"),
    ],
    "Group": [
        _id("Group"),
        Spec("type", "token", "Group.type", "Group-type"),
        Spec("code", "token", "Group.code", "Group-code"),
        Spec("actual", "token", "Group.actual", "Group-actual"),
        _ref("Group", "member", "member.entity"),
        _ref("Group", "managing-entity", "managingEntity"),
    ],
    "ImmunizationEvaluation": [
        _id("ImmunizationEvaluation"),
        _patient("ImmunizationEvaluation", "patient"),
        _status("ImmunizationEvaluation"),
        Spec("date", "date", "ImmunizationEvaluation.date", "ImmunizationEvaluation-date"),
        Spec(
            "target-disease", "token", "ImmunizationEvaluation.targetDisease", "ImmunizationEvaluation-target-disease"
        ),
        _ref("ImmunizationEvaluation", "immunization-event", "immunizationEvent"),
    ],
    "ImmunizationRecommendation": [
        _id("ImmunizationRecommendation"),
        _patient("ImmunizationRecommendation", "patient"),
        Spec("date", "date", "ImmunizationRecommendation.date", "ImmunizationRecommendation-date"),
        Spec(
            "vaccine-type",
            "token",
            "ImmunizationRecommendation.recommendation.vaccineCode",
            "ImmunizationRecommendation-vaccine-type",
        ),
        Spec(
            "status",
            "token",
            "ImmunizationRecommendation.recommendation.forecastStatus",
            "ImmunizationRecommendation-status",
        ),
    ],
    "Invoice": [
        _id("Invoice"),
        *_subject("Invoice"),
        _ref("Invoice", "recipient", "recipient"),
        _status("Invoice"),
        Spec("type", "token", "Invoice.type", "Invoice-type"),
        Spec("date", "date", "Invoice.date", "Invoice-date"),
        _ref("Invoice", "issuer", "issuer"),
        _ref("Invoice", "account", "account"),
        _ref("Invoice", "participant", "participant.actor"),
    ],
    "List": [
        _id("List", "clinical-identifier"),
        *_subject("List", clinical=True),
        _ref("List", "encounter", "encounter", "clinical-encounter"),
        _ref("List", "source", "source"),
        _status("List"),
        Spec("code", "token", "List.code", "clinical-code"),
        Spec("title", "string", "List.title", "List-title"),
        Spec("date", "date", "List.date", "clinical-date"),
        _ref("List", "item", "entry.item"),
    ],
    "MeasureReport": [
        _id("MeasureReport"),
        *_subject("MeasureReport"),
        _status("MeasureReport"),
        Spec("date", "date", "MeasureReport.date", "MeasureReport-date"),
        Spec("period", "date", "MeasureReport.period", "MeasureReport-period"),
        _ref("MeasureReport", "reporter", "reporter"),
        _ref("MeasureReport", "evaluated-resource", "evaluatedResource"),
    ],
    "Media": [
        _id("Media"),
        *_subject("Media"),
        _ref("Media", "encounter", "encounter"),
        _status("Media"),
        Spec("type", "token", "Media.type", "Media-type"),
        Spec("modality", "token", "Media.modality", "Media-modality"),
        Spec("created", "date", "Media.created[x]", "Media-created"),
        _ref("Media", "operator", "operator"),
        _ref("Media", "based-on", "basedOn"),
    ],
    "MedicationStatement": [
        _id("MedicationStatement", "clinical-identifier"),
        *_subject("MedicationStatement", clinical=True),
        _ref("MedicationStatement", "context", "context"),
        Spec("status", "token", "MedicationStatement.status", "medications-status"),
        Spec("category", "token", "MedicationStatement.category", "MedicationStatement-category"),
        Spec("code", "token", "MedicationStatement.medicationCodeableConcept", "clinical-code"),
        _ref("MedicationStatement", "medication", "medicationReference", "medications-medication"),
        Spec("effective", "date", "MedicationStatement.effective[x]", "MedicationStatement-effective"),
        _ref("MedicationStatement", "source", "informationSource"),
        _ref("MedicationStatement", "part-of", "partOf"),
    ],
    "MolecularSequence": [
        _id("MolecularSequence"),
        _patient("MolecularSequence", "patient"),
        Spec("type", "token", "MolecularSequence.type", "MolecularSequence-type"),
    ],
    "NutritionOrder": [
        _id("NutritionOrder", "clinical-identifier"),
        _patient("NutritionOrder", "patient", "clinical-patient"),
        _ref("NutritionOrder", "encounter", "encounter", "clinical-encounter"),
        _status("NutritionOrder"),
        Spec("datetime", "date", "NutritionOrder.dateTime", "NutritionOrder-datetime"),
        _ref("NutritionOrder", "provider", "orderer"),
    ],
    "Person": [
        _id("Person"),
        Spec("name", "string", "Person.name", "Person-name"),
        Spec("birthdate", "date", "Person.birthDate", "individual-birthdate"),
        _patient("Person", "link.target"),
        _ref("Person", "link", "link.target"),
        _ref("Person", "organization", "managingOrganization"),
    ],
    "QuestionnaireResponse": [
        _id("QuestionnaireResponse"),
        *_subject("QuestionnaireResponse"),
        _ref("QuestionnaireResponse", "encounter", "encounter"),
        _status("QuestionnaireResponse"),
        Spec("authored", "date", "QuestionnaireResponse.authored", "QuestionnaireResponse-authored"),
        _ref("QuestionnaireResponse", "author", "author"),
        _ref("QuestionnaireResponse", "source", "source"),
    ],
    "RequestGroup": [
        _id("RequestGroup"),
        *_subject("RequestGroup"),
        _ref("RequestGroup", "encounter", "encounter"),
        _status("RequestGroup"),
        Spec("intent", "token", "RequestGroup.intent", "RequestGroup-intent"),
        Spec("authored", "date", "RequestGroup.authoredOn", "RequestGroup-authored"),
        _ref("RequestGroup", "author", "author"),
        _ref("RequestGroup", "participant", "action.participant"),
    ],
    "ResearchSubject": [
        _id("ResearchSubject"),
        _ref("ResearchSubject", "individual", "individual"),
        _patient("ResearchSubject", "individual"),
        _status("ResearchSubject"),
        _ref("ResearchSubject", "study", "study"),
        Spec("date", "date", "ResearchSubject.period", "ResearchSubject-date"),
    ],
    "RiskAssessment": [
        _id("RiskAssessment", "clinical-identifier"),
        *_subject("RiskAssessment", clinical=True),
        _ref("RiskAssessment", "encounter", "encounter", "clinical-encounter"),
        Spec("date", "date", "RiskAssessment.occurrence[x]", "clinical-date"),
        _ref("RiskAssessment", "performer", "performer"),
        Spec("method", "token", "RiskAssessment.method", "RiskAssessment-method"),
        _ref("RiskAssessment", "condition", "condition"),
    ],
    "SupplyDelivery": [
        _id("SupplyDelivery", "clinical-identifier"),
        _patient("SupplyDelivery", "patient", "clinical-patient"),
        _status("SupplyDelivery"),
        _ref("SupplyDelivery", "receiver", "receiver"),
        _ref("SupplyDelivery", "supplier", "supplier"),
    ],
    "SupplyRequest": [
        _id("SupplyRequest", "clinical-identifier"),
        _status("SupplyRequest"),
        Spec("category", "token", "SupplyRequest.category", "SupplyRequest-category"),
        Spec("date", "date", "SupplyRequest.authoredOn", "clinical-date"),
        _ref("SupplyRequest", "requester", "requester"),
        _ref("SupplyRequest", "subject", "deliverTo"),
        _ref("SupplyRequest", "supplier", "supplier"),
    ],
    "VisionPrescription": [
        _id("VisionPrescription", "clinical-identifier"),
        _patient("VisionPrescription", "patient", "clinical-patient"),
        _ref("VisionPrescription", "encounter", "encounter", "clinical-encounter"),
        _status("VisionPrescription"),
        Spec("datewritten", "date", "VisionPrescription.dateWritten", "VisionPrescription-datewritten"),
        _ref("VisionPrescription", "prescriber", "prescriber"),
    ],
}
