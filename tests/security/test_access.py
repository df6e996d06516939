"""The access policy on resources in hand: scopes, compartment, isolation, purpose grants, consent, writes.

The patient directory here is a dictionary of resources (the policy's own logic under test); the store-backed
directory is exercised end to end in test_protected_app.py.
"""

from __future__ import annotations

import pytest

from hub.errors import Forbidden
from hub.security.access import PRODUCER_TAG_SYSTEM, Access, authorize, producer_of, stamp_producer
from hub.security.principal import Principal
from hub.security.scopes import ScopeSet


class DictDirectory:
    def __init__(self, *resources):
        self.resources = list(resources)

    def _patients(self):
        return [r for r in self.resources if r["resourceType"] == "Patient"]

    def linked(self, patient_id):
        for p in self._patients():
            if p["id"] == patient_id and producer_of(p) is None:
                return {link["other"]["reference"].split("/")[1] for link in p.get("link", [])}
        return set()

    def masters_of(self, patient_id):
        return {p["id"] for p in self._patients() if producer_of(p) is None and patient_id in self.linked(p["id"])}

    def consents(self, patient_id):
        return [
            r
            for r in self.resources
            if r["resourceType"] == "Consent" and r["patient"]["reference"] == f"Patient/{patient_id}"
        ]


def tagged(resource, org):
    return stamp_producer(resource, org) if org else dict(resource)


def obs(oid, patient, org, category="laboratory"):
    return tagged(
        {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}
            ],
            "subject": {"reference": f"Patient/{patient}"},
        },
        org,
    )


def patient(pid, org=None, links=()):
    p = {"resourceType": "Patient", "id": pid}
    if links:
        p["link"] = [{"other": {"reference": f"Patient/{x}"}, "type": "seealso"} for x in links]
    return tagged(p, org)


def deny_consent(pid, org):
    return {
        "resourceType": "Consent",
        "id": f"c-{pid}-{org}",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "patient": {"reference": f"Patient/{pid}"},
        "provision": {
            "type": "permit",
            "provision": [{"type": "deny", "actor": [{"reference": {"reference": f"Organization/{org}"}}]}],
        },
    }


def principal(scopes, role="system", org=None, patient_id=None, purposes=()):
    return Principal(
        subject="s",
        client_id="c",
        role=role,
        scopes=ScopeSet.parse(scopes),
        organization=org,
        patient=patient_id,
        purposes=tuple(purposes),
    )


def access(p, settings, *resources):
    return Access(p, settings, DictDirectory(*resources))


# -- scopes ---------------------------------------------------------------------------------------------------


def test_authorize_matrix():
    sys = principal("system/Observation.rs")
    assert authorize(sys, "read", "Observation")
    assert authorize(sys, "search-type", "Observation")
    for interaction, rtype in [("create", "Observation"), ("read", "Patient"), ("delete", "Observation")]:
        with pytest.raises(Forbidden):
            authorize(sys, interaction, rtype)
    # A system cannot use user/ or patient/ scopes; patient/ scopes need a patient in context.
    with pytest.raises(Forbidden):
        authorize(principal("user/*.rs"), "read", "Observation")
    with pytest.raises(Forbidden):
        authorize(principal("patient/*.rs", role="practitioner"), "read", "Observation")
    assert authorize(principal("patient/*.rs", role="practitioner", patient_id="p1"), "read", "Observation")


# -- patient compartment ----------------------------------------------------------------------------------------


def test_patient_sees_only_own_compartment(settings):
    a = access(principal("patient/*.rs", role="patient", patient_id="p1"), settings)
    a.check_read(obs("o1", "p1", "org-a"))
    a.check_read(patient("p1", "org-a"))
    with pytest.raises(Forbidden):
        a.check_read(obs("o2", "p2", "org-a"))
    with pytest.raises(Forbidden):
        a.check_read(patient("p2", "org-a"))
    # Directory data is readable with the scope.
    a.check_read({"resourceType": "Organization", "id": "org-a"})
    results = [obs("o1", "p1", "org-a"), obs("o2", "p2", "org-a"), patient("p2")]
    assert [r["id"] for r in a.filter(results)] == ["o1"]
    # every element of the compartment: the subject, and a performer that is the patient (R4 CompartmentDefinition)
    assert a.search_scope("Observation").params == (("patient,performer", "Patient/p1"),)
    assert a.search_scope("Coverage").params == (("patient,subscriber,policy-holder,payor", "Patient/p1"),)
    assert a.search_scope("Patient").params == (("_id", "p1"),)
    assert a.search_scope("Organization").params == ()


def test_patient_with_user_scope_is_still_confined(settings):
    a = access(principal("user/*.cruds", role="patient", patient_id="p1"), settings)
    with pytest.raises(Forbidden):
        a.check_read(obs("o2", "p2", "org-a"))


def test_master_patient_covers_linked_records(settings):
    master = patient("m1", None, links=("a-1", "b-7"))
    a = access(principal("patient/*.rs", role="patient", patient_id="m1"), settings, master)
    a.check_read(obs("o1", "a-1", "org-a"))
    a.check_read(obs("o2", "b-7", "org-b"))
    with pytest.raises(Forbidden):
        a.check_read(obs("o3", "c-3", "org-c"))
    assert a.search_scope("Observation").params == (("patient,performer", "Patient/a-1,Patient/b-7,Patient/m1"),)


def test_links_of_a_hospital_record_are_not_followed(settings):
    # A hospital-produced Patient claiming a link to someone else gives its patient nothing more.
    forged = patient("a-1", "org-a", links=("victim",))
    a = access(principal("patient/*.rs", role="patient", patient_id="a-1"), settings, forged)
    with pytest.raises(Forbidden):
        a.check_read(obs("o9", "victim", "org-b"))


def test_granular_scope_query(settings):
    scope = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    a = access(principal(scope, role="patient", patient_id="p1"), settings)
    a.check_read(obs("o1", "p1", "org-a", "laboratory"))
    with pytest.raises(Forbidden):
        a.check_read(obs("o2", "p1", "org-a", "vital-signs"))
    assert a.search_scope("Observation").params == (
        ("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),
        ("patient,performer", "Patient/p1"),
    )


# -- organisation isolation, purpose, consent ----------------------------------------------------------------


def test_system_reads_what_it_produced(settings):
    a = access(principal("system/*.rs", org="org-b"), settings)
    a.check_read(obs("o1", "p1", "org-b"))
    with pytest.raises(Forbidden, match="another organisation"):
        a.check_read(obs("o2", "p1", "org-a"))
    with pytest.raises(Forbidden):
        a.check_read(obs("o3", "p1", None))  # hub-produced without a purpose
    a.check_read({"resourceType": "Practitioner", "id": "dr"})  # directory data is shared
    assert a.search_scope("Observation").params == (("_tag", f"{PRODUCER_TAG_SYSTEM}|org-b"),)


def test_treatment_purpose_reads_across_organisations(settings):
    a = access(principal("system/*.rs", org="org-a", purposes=["TREAT"]), settings)
    a.check_read(obs("o2", "p1", "org-b"))
    assert a.search_scope("Observation").params == ()
    # Never someone else's audit trail.
    with pytest.raises(Forbidden):
        a.check_read({"resourceType": "AuditEvent", "id": "ae", "entity": [{"what": {"reference": "Patient/p1"}}]})
    assert a.search_scope("AuditEvent").params == (("_tag", f"{PRODUCER_TAG_SYSTEM}|org-a"),)


def test_purpose_grants_only_its_types(settings):
    a = access(principal("system/*.rs", org="org-ph", purposes=["PUBHLTH"]), settings)
    a.check_read({**obs("o1", "p1", "org-b")})
    with pytest.raises(Forbidden):
        a.check_read(
            tagged({"resourceType": "MedicationRequest", "id": "m", "subject": {"reference": "Patient/p1"}}, "org-b")
        )


def test_consent_refusal(settings):
    directory = (deny_consent("p1", "org-a"),)
    a = access(principal("system/*.rs", org="org-a", purposes=["TREAT"]), settings, *directory)
    with pytest.raises(Forbidden, match="refused sharing"):
        a.check_read(obs("o1", "p1", "org-b"))
    a.check_read(obs("o2", "p1", "org-a"))  # its own record stays readable
    a.check_read(obs("o3", "p2", "org-b"))  # another patient's is unaffected
    results = [obs("o1", "p1", "org-b"), obs("o2", "p1", "org-a"), obs("o3", "p2", "org-b")]
    assert [r["id"] for r in a.filter(results)] == ["o2", "o3"]
    # Another organisation is not refused.
    b = access(principal("system/*.rs", org="org-c", purposes=["TREAT"]), settings, *directory)
    b.check_read(obs("o1", "p1", "org-b"))


def test_consent_on_master_covers_hospital_records(settings):
    master = patient("m1", None, links=("b-7",))
    a = access(principal("system/*.rs", org="org-a", purposes=["TREAT"]), settings, master, deny_consent("m1", "org-a"))
    with pytest.raises(Forbidden, match="refused"):
        a.check_read(obs("o1", "b-7", "org-b"))


def test_operator_is_hub_wide(settings):
    a = access(principal("user/*.cruds", role="operator"), settings, deny_consent("p1", "org-a"))
    a.check_read(obs("o1", "p1", "org-b"))
    assert a.search_scope("Observation").params == ()


def test_user_without_organisation_reads_no_patient_data(settings):
    a = access(principal("user/*.rs", role="practitioner", purposes=["TREAT"]), settings)
    with pytest.raises(Forbidden):
        a.check_read(obs("o1", "p1", "org-b"))
    with pytest.raises(Forbidden):
        a.search_scope("Observation")
    a.check_read({"resourceType": "Location", "id": "l"})


# -- writes ---------------------------------------------------------------------------------------------------


def test_system_write_is_stamped_and_isolated(settings):
    a = access(principal("system/*.cruds", org="org-a"), settings)
    stored = a.check_write("create", obs("o1", "p1", None))
    assert producer_of(stored) == "org-a"
    with pytest.raises(Forbidden, match="another organisation"):
        a.check_write("create", obs("o2", "p1", "org-b"))
    with pytest.raises(Forbidden, match="belongs to another organisation"):
        a.check_write("update", obs("o3", "p1", None), existing=obs("o3", "p1", "org-b"))
    with pytest.raises(Forbidden):
        a.check_write("delete", None, existing=obs("o3", "p1", "org-b"))
    assert a.check_write("delete", None, existing=obs("o4", "p1", "org-a")) is None
    # Scope: a read-only system cannot write.
    with pytest.raises(Forbidden):
        access(principal("system/*.rs", org="org-a"), settings).check_write("create", obs("o1", "p1", None))


def test_patient_writes_in_own_compartment(settings):
    a = access(principal("patient/Consent.cruds patient/*.rs", role="patient", patient_id="p1"), settings)
    own = deny_consent("p1", "org-a")
    assert a.check_write("create", own) == own
    with pytest.raises(Forbidden, match="outside"):
        a.check_write("create", deny_consent("p2", "org-a"))
    with pytest.raises(Forbidden):
        a.check_write("create", obs("o1", "p1", None))  # no write scope on Observation
    with pytest.raises(Forbidden, match="mark"):
        a.check_write("create", stamp_producer(own, "org-a"))
    with pytest.raises(Forbidden):
        a.check_write("update", own, existing=deny_consent("p2", "org-a"))


def test_stamp_replaces_foreign_tag():
    r = stamp_producer(
        stamp_producer({"resourceType": "Observation", "meta": {"tag": [{"system": "x", "code": "y"}]}}, "org-a"),
        "org-b",
    )
    assert producer_of(r) == "org-b"
    assert {"system": "x", "code": "y"} in r["meta"]["tag"]
    assert len(r["meta"]["tag"]) == 2
