"""Microbiology through the real pipeline (inbox row → convert_message → store): a culture, then a day later the
susceptibility panel of one of its organisms. The susceptibilities name the stored organism (derivedFrom), a
receiver finds them by the R4 search parameter derived-from (the organism lists no hasMember, mappings/README.md
"Sub-ids"), and a panel that names its parent in a way its key is not made of is stored without a reference to a
resource that does not exist, the inbox row saying why."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.orm import Session

from hub.db.tables import InboxMessage
from hub.fhir import store
from hub.hl7 import er7
from hub.mapping import get_converter
from tests.mapping.test_microbiology import CULTURE, PANEL_1, PANEL_2
from tests.mapping.test_microbiology import message as oru
from tests.test_conversion_semantics import convert, read


def _bundle_ids(settings: Any, raw: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in get_converter(settings).convert(er7.parse(raw.decode("utf-8")))["entry"]:
        rtype, rid = entry["request"]["url"].split("/")
        out.setdefault(rtype, []).append(rid)
    return out


def _observation_code(resource: dict[str, Any]) -> str:
    return str(resource["code"]["coding"][0]["code"])


def test_a_later_panel_names_the_stored_organism_and_is_found_by_derived_from(session: Session, settings: Any) -> None:
    culture = oru(*CULTURE, control_id="MBP1").encode("utf-8")
    convert(session, settings, culture)
    organisms = [
        o
        for o in (read(session, "Observation", rid) for rid in _bundle_ids(settings, culture)["Observation"])
        if _observation_code(o) == "ORG"
    ]
    klebsiella = next(o for o in organisms if o["valueCodeableConcept"]["coding"][0]["code"] == "KPN")

    panel = oru(*PANEL_2, control_id="MBP2").encode("utf-8")
    convert(session, settings, panel)
    found = store.search(session, "Observation", [("derived-from", f"Observation/{klebsiella['id']}")])
    assert [_observation_code(o) for o in found.resources] == ["IPM"]
    # the reference names a stored resource; the organism lists no members
    derived = found.resources[0]["derivedFrom"][0]["reference"]
    assert read(session, *derived.split("/"))["id"] == klebsiella["id"]
    assert "hasMember" not in read(session, "Observation", klebsiella["id"])


def test_a_later_panel_naming_its_parent_by_placer_number_alone_is_stored_without_it(
    session: Session, settings: Any
) -> None:
    convert(session, settings, oru(*CULTURE, control_id="MBP3").encode("utf-8"))
    # OBR-29 without the culture's filler number: the culture's report is keyed on its filler number
    panel = [PANEL_2[0], PANEL_2[1].replace("SQ1001&HIS^LAB2001&LIS", "SQ1001&HIS"), *PANEL_2[2:]]
    raw = oru(*panel, control_id="MBP4").encode("utf-8")
    inbox_id = convert(session, settings, raw)
    (rid,) = _bundle_ids(settings, raw)["Observation"]
    assert "derivedFrom" not in read(session, "Observation", rid)
    row = session.get(InboxMessage, inbox_id)
    assert row is not None and row.report is not None
    # (beside the local codes the library's empty tables do not translate)
    assert [r["location"] for r in orjson.loads(row.report) if r["code"] == "unresolved-reference"] == ["OBR^1"]


def test_a_panel_spelling_more_than_its_isolate_names_the_stored_isolate_once_per_panel_reported(
    session: Session, settings: Any
) -> None:
    # one message: the culture's organisms sent without the coding system (OBX-3 ORG^细菌鉴定); panel 2's OBR-26
    # says ORG&细菌鉴定&L^2 (names isolate 2), panel 1's (three results) ORG&细菌鉴定&L without a sub-id (either
    # isolate): left out, one report entry at its OBR
    culture = [*CULTURE[:2], *(s.replace("|ORG^细菌鉴定^L|", "|ORG^细菌鉴定|") for s in CULTURE[2:])]
    first = [PANEL_1[0], PANEL_1[1].replace("ORG&细菌鉴定&L^1^大肠埃希菌", "ORG&细菌鉴定&L"), *PANEL_1[2:]]
    raw = oru(*culture, *first, *PANEL_2, control_id="MBP5").encode("utf-8")
    inbox_id = convert(session, settings, raw)
    stored = [read(session, "Observation", rid) for rid in _bundle_ids(settings, raw)["Observation"]]
    by_code = {_observation_code(o): o for o in stored if _observation_code(o) != "ORG"}
    (kpn,) = [o for o in stored if o.get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code") == "KPN"]
    assert by_code["IPM"]["derivedFrom"] == [{"reference": f"Observation/{kpn['id']}"}]
    for code in ("AMK", "CIP", "AMP"):
        assert "derivedFrom" not in by_code[code]
    # every stored derivation names a stored resource
    for o in stored:
        for d in o.get("derivedFrom", []):
            assert read(session, *d["reference"].split("/"))
    row = session.get(InboxMessage, inbox_id)
    assert row is not None and row.report is not None
    assert [r["location"] for r in orjson.loads(row.report) if r["code"] == "unresolved-reference"] == ["OBR^2"]
