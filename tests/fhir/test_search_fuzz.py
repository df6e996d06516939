"""Arbitrary search parameters never fail with anything but InvalidInput (400): no database error, no 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from hub.errors import InvalidInput
from hub.fhir import store
from hub.fhir.search_params import params_for
from tests.fhir.factories import observation, patient

TYPES = ("Patient", "Observation", "Encounter", "AuditEvent")
_known = sorted({name for t in TYPES for name in params_for(t)})
_names = st.one_of(
    st.sampled_from(_known),
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
_values = st.lists(_pieces, min_size=1, max_size=4).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rtype=st.sampled_from(TYPES), params=st.lists(st.tuples(_names, _values), max_size=3), strict=st.booleans())
def test_arbitrary_parameters_are_answered_or_refused(session: Session, rtype, params, strict) -> None:
    if not session.info.get("seeded"):
        store.put(session, patient("p1"))
        store.put(session, observation("o1"))
        session.commit()
        session.info["seeded"] = True
    try:
        result = store.search(session, rtype, params, count=5, strict=strict)
    except InvalidInput as exc:
        assert exc.message
    else:
        assert result.total >= len(result.resources)
    finally:
        session.rollback()
