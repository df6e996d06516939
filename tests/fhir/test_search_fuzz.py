"""Arbitrary search parameters never fail with anything but InvalidInput (400): no database error, no 500.

Result parameters too: ``_sort``, ``_include``/``_revinclude`` (``:iterate``), ``_elements``, ``_summary``,
``_total`` and forged ``_cursor`` values (random bytes, and well-formed cursors carrying odd values)."""

from __future__ import annotations

import base64

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from hub.errors import InvalidInput
from hub.fhir import store
from hub.fhir.search_params import params_for
from tests.fhir.factories import observation, patient

TYPES = ("Patient", "Observation", "Encounter", "AuditEvent", "DiagnosticReport", "MedicationRequest")
_known = sorted({name for t in TYPES for name in params_for(t)})
_RESULT_NAMES = [
    "_sort",
    "_include",
    "_include:iterate",
    "_revinclude",
    "_revinclude:iterate",
    "_elements",
    "_summary",
    "_total",
    "_cursor",
]
_names = st.one_of(
    st.sampled_from(_known),
    st.sampled_from(_RESULT_NAMES),
    st.builds(
        lambda n, m: f"{n}:{m}",
        st.sampled_from(_known),
        st.sampled_from(["not", "missing", "exact", "contains", "Patient", "text", "", "Nope"]),
    ),
    st.builds(
        lambda n, m: f"{n}.{m}",
        st.sampled_from(["patient", "subject", "subject:Patient", "organization"]),
        st.sampled_from(_known),
    ),
    st.text(max_size=20),
)
_pieces = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["|", ",", "\\", "\\,", "\\|", "%", "_", "\x00", "Patient/", "http://x/fhir/Patient/p1", "1e400"]),
    st.builds(
        lambda p, d: p + d,
        st.sampled_from(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "xx"]),
        st.sampled_from(
            ["2024", "2024-02", "2024-02-30", "0001-01-01", "9999-12-31T23:59:59Z", "2024-03-01T10:00+14:00", "1.5"]
        ),
    ),
)
_odd = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=12),
    st.sampled_from(["\x00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1e999999", "NaN", "-0", ""]),
    st.lists(st.text(max_size=3), max_size=2),
)
_cursor_bodies = st.fixed_dictionaries(
    {
        "s": st.sampled_from(["", "date", "-date", "_id", "value-quantity", "birthdate,family"]),
        "d": st.sampled_from(["a", "b", "x"]),
    },
    optional={"k": st.lists(_odd, max_size=3), "i": st.one_of(_odd, st.sampled_from(["o1", "p1", "a" * 65, "a/b"]))},
)
_cursors = st.one_of(
    _cursor_bodies.map(lambda b: base64.urlsafe_b64encode(orjson.dumps(b)).decode().rstrip("=")),
    st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.text(max_size=40),
)
_result_values = st.one_of(
    st.sampled_from(["-date", "date,-_id", "_lastUpdated", "-value-quantity", "family,-birthdate", "code", "-", ","]),
    st.builds(
        lambda src, p, t: f"{src}:{p}{t}",
        st.sampled_from([*TYPES, "Provenance", "Nope", ""]),
        st.sampled_from([*_known, "*", ""]),
        st.sampled_from(["", ":Patient", ":Observation", ":Nope", ":"]),
    ),
    st.sampled_from(["status,code", "Patient.name", "valueQuantity", "true", "text", "data", "count", "none"]),
    _cursors,
)
_values = st.one_of(st.lists(_pieces, min_size=1, max_size=4).map("".join), _result_values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rtype=st.sampled_from(TYPES), params=st.lists(st.tuples(_names, _values), max_size=3), strict=st.booleans())
def test_arbitrary_parameters_are_answered_or_refused(session: Session, rtype, params, strict) -> None:
    if not session.info.get("seeded"):
        store.put(session, patient("p1"))
        store.put(session, observation("o1"))
        store.put(session, observation("o2", pid="p2", when="2023-01-01"))
        store.put(
            session,
            {
                "resourceType": "DiagnosticReport",
                "id": "r1",
                "status": "final",
                "code": {"text": "CBC"},
                "subject": {"reference": "Patient/p1"},
                "result": [{"reference": "Observation/o1"}],
            },
        )
        session.commit()
        session.info["seeded"] = True
    try:
        result = store.search(session, rtype, params, count=5, strict=strict)
        for resource in result.resources:
            result.shaped(resource)
    except InvalidInput as exc:
        assert exc.message
    else:
        assert result.total is None or result.total >= len(result.resources)
        if result.next_cursor is not None:  # the cursors it hands out are accepted
            store.search(session, rtype, [*result.params, ("_cursor", result.next_cursor)], count=5, strict=strict)
    finally:
        session.rollback()


_SORTS = ["date", "-date", "_id", "-_lastUpdated", "-value-quantity", "code,-date", "status"]


_PLAUSIBLE = st.sampled_from(["2024-02-01T00:00:00+00:00", "2024-02-01T08:00:00+08:00", "13.5", "718-7", "final", "o2"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sort=st.sampled_from(_SORTS),
    direction=st.sampled_from(["a", "b"]),
    values=st.lists(st.one_of(_PLAUSIBLE, _PLAUSIBLE, _odd), min_size=1, max_size=2),
    rid=st.one_of(st.sampled_from(["o1", "o2", "zz", "0"]), st.sampled_from(["o3", "a.b"]), _odd),
)
def test_well_formed_cursors_with_odd_values_are_answered_or_refused(session: Session, sort, direction, values, rid):
    """A cursor made for the right sort but carrying any values: a page, or 400 (never a database error)."""
    if not session.info.get("seeded"):
        for n in range(4):
            store.put(session, observation(f"o{n}", when=f"2024-0{n + 1}-01"))
        session.commit()
        session.info["seeded"] = True
    width = len(sort.split(","))
    body = {"s": sort, "d": direction, "k": (values * width)[:width], "i": rid}
    cursor = base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")
    try:
        result = store.search(session, "Observation", [("_sort", sort), ("_cursor", cursor)], count=2)
    except InvalidInput as exc:
        assert exc.expression == "_cursor"
    else:
        assert len(result.resources) <= 2
    finally:
        session.rollback()
