"""Other converters' expected outputs in the development corpus, applied to the store: real bundles (batch and
transaction, PUT and DELETE, urn:uuid fullUrls) go in, and applying each one again changes nothing."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db.tables import OutboxEvent
from hub.errors import InvalidInput
from hub.fhir import store
from tests.conftest import CORPUS

BUNDLES = sorted(CORPUS.glob("**/*.expected.json"))
# Upstream quirks the corpus README lists: an entry without ``request``.
REFUSED = {
    "OUL-R24-01.expected.json": "Bundle.entry[100].request",
    "VXU-V04-01.expected.json": "Bundle.entry[88].request",
}


@pytest.mark.skipif(not BUNDLES, reason="the HL7 v2 corpus is not on this machine")
def test_corpus_bundles_apply_and_reapply_as_no_ops(session: Session) -> None:
    applied = 0
    for path in BUNDLES:
        bundle = json.loads(path.read_bytes())
        if path.name in REFUSED:
            with pytest.raises(InvalidInput) as info:
                store.apply_bundle(session, copy.deepcopy(bundle))
            assert info.value.expression == REFUSED[path.name]
            session.rollback()
            continue
        first = store.apply_bundle(session, copy.deepcopy(bundle))
        session.commit()
        assert len(first) == len(bundle["entry"]), path.name
        events = session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one()
        again = store.apply_bundle(session, copy.deepcopy(bundle))
        session.commit()
        assert [r.changed for r in again] == [False] * len(again), path.name
        assert session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == events, path.name
        applied += 1
    assert applied == len(BUNDLES) - len(REFUSED) >= 80
    # The references now point at Type/id, and the index answers for them.
    patients = store.search(session, "Patient", [], count=1000).resources
    assert patients
    some = next(r for r in store.search(session, "Observation", [], count=1000).resources if "subject" in r)
    assert not some["subject"]["reference"].startswith("urn:")
    target = some["subject"]["reference"]
    assert some["id"] in {
        r["id"] for r in store.search(session, "Observation", [("subject", target)], count=1000).resources
    }
