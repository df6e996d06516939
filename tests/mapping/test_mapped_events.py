"""The light reading of message templates (ingestion's) agrees with the compiled library (the conversion's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR, Settings
from hub.errors import MappingTemplateError
from hub.mapping import get_converter
from hub.mapping.events import choose_structure, read_mapped, refusal
from tests.mapping.conftest import mappings_copy


def test_read_mapped_agrees_with_the_compiled_templates():
    converter = get_converter(Settings(mappings_dir=DEFAULT_MAPPINGS_DIR))
    light = read_mapped(DEFAULT_MAPPINGS_DIR)
    assert light == converter._mapped  # noqa: SLF001 - the two readings of one library
    assert light["ADT_A01"].events is None and light["SIU_S12"].refused  # every event of A01's; S25 refused


@pytest.mark.parametrize(
    ("msh9", "structure", "error"),
    [
        (("ADT", "A04", ""), "ADT_A01", None),  # table 0354
        (("ADT", "A03", "ADT_A01"), "ADT_A03", None),  # a wrong MSH-9.3 gives way to the event's structure
        (("ADT", "Z99", ""), "ADT_Z99", ("201", "MSH^1^9^2")),  # a mapped type, an unmapped event
        (("MFN", "M02", "MFN_M02"), "MFN_M02", ("200", "MSH^1^9")),  # a type no template maps
        (("SIU", "S25", "SIU_S12"), "SIU_S12", ("201", "MSH^1^9^2")),  # a query, refused on purpose with its reason
        (("SIU", "S25", ""), "SIU_S12", ("201", "MSH^1^9^2")),  # table 0354 names SIU_S12 too
    ],
)
def test_structure_and_refusal(msh9, structure, error):
    mapped = read_mapped(DEFAULT_MAPPINGS_DIR)
    code, event, given = msh9
    chosen = choose_structure(mapped, code, event, given)
    assert chosen == structure
    refused = refusal(mapped, code, event, chosen)
    if error is None:
        assert refused is None
    else:
        assert refused is not None and (refused.hl7_code, refused.location) == error
        if code == "SIU":
            assert "a schedule query" in refused.message


def test_a_broken_message_template_is_named(tmp_path: Path):
    root = mappings_copy(tmp_path)
    (root / "message" / "ADT_A01.yaml").write_text("message: ADT_A01\nevents: A01\n", encoding="utf-8")
    with pytest.raises(MappingTemplateError) as caught:
        read_mapped(root)
    assert caught.value.file is not None and caught.value.file.endswith("ADT_A01.yaml")
