"""A ``withdraw`` rule's ``otherwise`` leaves: a ROL-2 ``DE`` line with a role instance id (ROL-1, PRT-1) withdraws
the stored participant of that id, else — no stored participant carries it — the one of its role and person stored
without an id (before the sender sent ids). The mark (``…[id selectors]|[role and person selectors]``), its merge,
and the template key. The pipeline tests are in tests/test_role_instance_withdraw.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.mapping.engine import Converter
from hub.mapping.merging import INSTANCE_URL
from hub.mapping.nullmark import NullMark
from hub.mapping.nulls import NULL_EXTENSION_URL
from hub.updates import merge_update

from .conftest import convert, mappings_copy
from .test_keep_marks import V3, adt, marks_of, pv1

HIS = "urn:hub:id:SZRMYY_HIS"
ID_SELECTORS = f"[extension.valueIdentifier.system={HIS}][extension.valueIdentifier.value=RL5001]"
ROLE_SELECTORS = f"[type.coding.system={V3}][type.coding.code=CON][individual.identifier.value=D003]"


def consultant(who: str, start: str, instance: str | None = None) -> dict:
    item: dict = {
        "type": [{"coding": [{"system": V3, "code": "CON"}]}],
        "individual": {"identifier": {"value": who}},
        "period": {"start": start},
    }
    if instance is not None:
        item["extension"] = [{"url": INSTANCE_URL, "valueIdentifier": {"system": HIS, "value": instance}}]
    return item


def test_the_mark_reads_and_writes_its_otherwise_selectors():
    text = f"participant{ID_SELECTORS}|{ROLE_SELECTORS}"
    mark = NullMark.parse(text)
    assert mark.where == (
        ("extension.valueIdentifier.system", HIS),
        ("extension.valueIdentifier.value", "RL5001"),
    )
    assert [leaf for leaf, _ in mark.otherwise] == [
        "type.coding.system",
        "type.coding.code",
        "individual.identifier.value",
    ]
    assert str(mark) == text
    assert NullMark.parse(f"participant{ID_SELECTORS}").otherwise == ()
    with pytest.raises(ValueError):
        NullMark.parse("participant|")


def test_the_merge_withdraws_the_instance_else_the_item_of_that_role_and_person_without_an_id():
    new = {"resourceType": "Encounter", "id": "e1", "status": "in-progress"}
    mark = f"participant{ID_SELECTORS}|{ROLE_SELECTORS}"
    # nothing stored with RL5001: the D003 item without an id goes, the spell with another id and D013 stay
    stored = {
        "resourceType": "Encounter",
        "id": "e1",
        "participant": [
            consultant("D003", "2026-03-15T08:30:00+08:00"),
            consultant("D003", "2026-03-18T09:00:00+08:00", "RL5002"),
            consultant("D013", "2026-03-15T09:00:00+08:00"),
        ],
    }
    merged = merge_update(stored, new, [mark])
    assert merged["participant"] == stored["participant"][1:]
    # RL5001 stored: that one goes, not the item of the same role and person without an id
    stored["participant"].append(consultant("D003", "2026-03-16T08:00:00+08:00", "RL5001"))
    merged = merge_update(stored, new, [mark])
    assert merged["participant"] == stored["participant"][:3]


def test_a_de_line_with_an_id_writes_the_role_and_person_as_otherwise_selectors(converter):
    line = "ROL|RL5001^SZRMYY_HIS|DE|CP^Consulting Provider^HL70443|{}"
    bundle = convert(converter, adt("A08", pv1(), line.format("D003^赵^三")))
    assert f"participant{ID_SELECTORS}|{ROLE_SELECTORS}" in marks_of(bundle, "Encounter", NULL_EXTENSION_URL)
    # a person without an identifier: the instance only
    bundle = convert(converter, adt("A08", pv1(), line.format("^钱^十三")))
    assert f"participant{ID_SELECTORS}" in marks_of(bundle, "Encounter", NULL_EXTENSION_URL)
    # a bare set number is no id: the role and person, as before
    bundle = convert(converter, adt("A08", pv1(), "ROL|1|DE|CP^Consulting Provider^HL70443|D003^赵^三"))
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == [f"participant{ROLE_SELECTORS}"]


def test_otherwise_is_for_a_withdraw_rule_only(tmp_path: Path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message/ADT_A01.yaml"
    text = path.read_text(encoding="utf-8")
    rule = "        withdraw: [extension.valueIdentifier.system, extension.valueIdentifier.value]\n"
    assert rule in text
    path.write_text(text.replace(rule, "", 1), encoding="utf-8")
    with pytest.raises(MappingTemplateError, match="'otherwise'"):
        Converter.load(mappings)
