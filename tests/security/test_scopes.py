"""SMART scopes: v2 and v1 syntax, granting, narrowing a request, granular queries."""

from __future__ import annotations

import pytest

from hub.security.scopes import Scope, ScopeError, ScopeSet, narrow, parse_scope, token_matches


@pytest.mark.parametrize(
    ("text", "context", "rtype", "perms"),
    [
        ("system/Observation.rs", "system", "Observation", "rs"),
        ("patient/*.rs", "patient", "*", "rs"),
        ("user/Patient.cruds", "user", "Patient", "cruds"),
        ("user/Patient.cud", "user", "Patient", "cud"),
        ("patient/Observation.read", "patient", "Observation", "rs"),
        ("patient/Observation.write", "patient", "Observation", "cud"),
        ("system/*.*", "system", "*", "cruds"),
        ("system/Encounter.s", "system", "Encounter", "s"),
    ],
)
def test_parse(text, context, rtype, perms):
    scope = parse_scope(text)
    assert scope is not None
    assert (scope.context, scope.resource_type, scope.permissions) == (context, rtype, frozenset(perms))


@pytest.mark.parametrize(
    "text",
    [
        "system/Observation.sr",
        "system/Observation.rr",
        "system/Observation.x",
        "system/observation.rs",
        "system/Observation",
        "admin/Observation.rs",
        "system/Observation.rs?foo=bar",
        "patient/.rs",
        "system/Observation.",
        "user/Patient.read?",
    ],
)
def test_malformed(text):
    if not text.startswith(("patient/", "user/", "system/")):
        assert parse_scope(text) is None
        return
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_non_resource_scopes_grant_nothing():
    scopes = ScopeSet.parse("openid fhirUser launch/patient offline_access")
    assert scopes.resource == ()
    assert scopes.other == {"openid", "fhirUser", "launch/patient", "offline_access"}
    assert scopes.granting("read", "Patient") == []


def test_granting_by_interaction():
    scopes = ScopeSet.parse("system/Observation.rs system/Patient.r")
    assert scopes.granting("read", "Observation")
    assert scopes.granting("search-type", "Observation")
    assert not scopes.granting("create", "Observation")
    assert scopes.granting("vread", "Patient")
    assert not scopes.granting("search-type", "Patient")
    assert not scopes.granting("read", "Encounter")
    with pytest.raises(ValueError):
        scopes.granting("frobnicate", "Patient")


def test_malformed_scope_in_token_grants_nothing_but_request_is_strict():
    assert ScopeSet.parse("system/Observation.sr system/Patient.rs").granting("read", "Observation") == []
    with pytest.raises(ScopeError):
        ScopeSet.parse("system/Observation.sr", strict=True)


def test_narrow_grants_covered_and_overlap():
    allowed = ["system/*.rs", "system/Observation.cruds"]
    assert str(narrow(None, allowed)) == "system/*.rs system/Observation.cruds"
    granted = narrow("system/Encounter.rs system/Observation.c", allowed)
    assert [str(s) for s in granted.resource] == ["system/Encounter.rs", "system/Observation.c"]
    # Asked for more than allowed: only the overlap.
    assert [str(s) for s in narrow("system/Patient.cruds", allowed).resource] == ["system/Patient.rs"]
    # Another context is never granted.
    assert narrow("user/Patient.rs", allowed).resource == ()
    # Identity scopes are granted to anyone who asks; unknown others are not.
    assert narrow("openid made-up system/Patient.r", allowed).other == {"openid"}


def test_granular_query():
    scope = parse_scope(
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    )
    assert scope is not None
    lab = {
        "resourceType": "Observation",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
    }
    vital = {
        "resourceType": "Observation",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
    }
    assert scope.matches(lab) and not scope.matches(vital)
    assert (
        str(scope)
        == "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    )
    # A scope with a query does not cover a request without it; the unrestricted one covers the restricted.
    unrestricted = parse_scope("patient/Observation.rs")
    assert unrestricted is not None
    assert unrestricted.covers(scope) and not scope.covers(unrestricted)


def test_token_matches_forms():
    r = {
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "meta": {"tag": [{"system": "urn:x", "code": "t"}]},
    }
    assert token_matches(r, "status", "final")
    assert token_matches(r, "status", "amended,final")
    assert not token_matches(r, "status", "amended")
    assert token_matches(r, "code", "http://loinc.org|718-7")
    assert token_matches(r, "code", "http://loinc.org|")
    assert not token_matches(r, "code", "|718-7")
    assert token_matches(r, "code", "718-7")
    assert token_matches(r, "_tag", "urn:x|t")
    assert not token_matches(r, "code", "http://snomed.info/sct|718-7")


def test_scope_str_roundtrip():
    for text in ["system/Observation.rs", "patient/*.cruds", "user/Patient.c"]:
        assert str(parse_scope(text)) == text
    assert str(Scope("patient", "Observation", frozenset("rs"))) == "patient/Observation.rs"
