"""VXU^V04: what the OBX of a vaccination say about it, read into the Immunization (FHIR R4's v2 mappings of
Immunization: education, reaction, note), and the engine's ``scope: sub_id`` that groups those OBX.

Vaccine information statements as the CDC guide sends them: the OBX of one statement share a sub-id (OBX-4); a
statement is named by its document type (69764-9) or by the vaccine type it is for (30956-7); its publication
(29768-9) and presentation (29769-7) dates are the OBX with the same sub-id. Every OBX stays an Observation too
(IG VXU_V04 row 12.6.1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import Converter
from hub.mapping.templates import Condition, ValueSpec

from .conftest import convert, mappings_copy, one, ref, resources
from .order_messages import HOSPITAL, corpus_message, message, msh, orc, pid, pv1
from .test_immunization import rxa

SNOMED = "http://snomed.info/sct"


def vxu(*observations: str, control: str = "VXM1") -> str:
    order = (orc(f1="RE", f2="", f3=f"IZ-2001^{HOSPITAL}"), rxa(), "RXR|IM^肌肉注射^HL70162|LA^左上臂^HL70163")
    return message(msh("VXU", "V04", "VXU_V04", control), pid(), pv1(), *order, *observations)


def immunization(converter, *observations: str) -> dict:
    return one(convert(converter, vxu(*observations)), "Immunization")


def test_statements_are_grouped_by_their_sub_id(converter):
    # a combination vaccine (MMRV) given with two statements, each named by its vaccine type (CVX 03 MMR,
    # 21 varicella), each with its edition (publication) and the day it was handed over; the OBX of the two
    # statements interleaved, as some senders order them by code
    shot = immunization(
        converter,
        "OBX|1|CE|30956-7^vaccine type^LN|1|03^MMR^CVX||||||F",
        "OBX|2|CE|30956-7^vaccine type^LN|2|21^varicella^CVX||||||F",
        "OBX|3|TS|29768-9^Date vaccine information statement published^LN|1|20120420||||||F",
        "OBX|4|TS|29768-9^Date vaccine information statement published^LN|2|20080313||||||F",
        "OBX|5|TS|29769-7^Date vaccine information statement presented^LN|2|20260315||||||F",
        "OBX|6|TS|29769-7^Date vaccine information statement presented^LN|1|20260314||||||F",
    )
    assert shot["education"] == [
        {"documentType": "MMR", "publicationDate": "2012-04-20", "presentationDate": "2026-03-14"},
        {"documentType": "varicella", "publicationDate": "2008-03-13", "presentationDate": "2026-03-15"},
    ]


def test_a_statement_named_by_its_document_type_with_its_presentation_date(converter):
    # the VIS bar code (GS1 GDTI, cdcgs1vis) with its title; the presentation date of the same sub-id, a time
    # of day kept; a date of another sub-id (another statement) is not this one's
    shot = immunization(
        converter,
        "OBX|1|CE|69764-9^Document type^LN|3|253088698300026411121116^Hepatitis B VIS^cdcgs1vis||||||F",
        "OBX|2|TS|29769-7^Date VIS presented^LN|3|202603150930||||||F",
        "OBX|3|TS|29768-9^Date VIS published^LN|4|20120202||||||F",
    )
    assert shot["education"] == [
        {"documentType": "Hepatitis B VIS", "presentationDate": "2026-03-15T09:30:00+08:00"},
    ]


def test_the_cdc_corpus_message_gets_its_statement(converter):
    # IZ_1_1.1: eligibility in sub-id 1, the statement (vaccine type 88, published 2012-07-02, presented
    # 2012-08-14) in sub-id 2 — before, only a document type (69764-9) made an education, so it had none

    shot = one(converter.convert(corpus_message("IZ_1_1.1_Admin_Child_Max_Message.hl7")), "Immunization")
    assert shot["education"] == [
        {
            "documentType": "Influenza, unspecified formulation",
            "publicationDate": "2012-07-02",
            "presentationDate": "2012-08-14",
        }
    ]
    v28 = one(converter.convert(corpus_message("VXU-V04-01.hl7")), "Immunization")
    assert v28["education"] == [
        {"documentType": "Tetanus/Diphtheria (Td) Vaccine VIS", "presentationDate": "2021-08-18"}
    ]


def test_without_sub_ids_one_statement_still_gets_its_dates(converter):
    # a sender that leaves OBX-4 empty: the OBX without a sub-id are one group
    shot = immunization(
        converter,
        "OBX|1|CE|69764-9^Document type^LN||253088698300012711120420^MMR VIS^cdcgs1vis||||||F",
        "OBX|2|DT|29769-7^Date VIS presented^LN||20260315||||||F",
    )
    assert shot["education"] == [{"documentType": "MMR VIS", "presentationDate": "2026-03-15"}]


def test_a_reaction_names_its_observation(converter):
    # 31044-1 reaction (SNOMED CT 39579001 anaphylaxis), observed at OBX-14; its Observation is the detail
    bundle = convert(
        converter,
        vxu("OBX|1|CE|31044-1^Reaction^LN|5|39579001^Anaphylaxis^SCT||||||F|||20260315094500"),
    )
    shot = one(bundle, "Immunization")
    (observation,) = resources(bundle, "Observation")
    assert observation["valueCodeableConcept"]["coding"][0] == {
        "system": SNOMED,
        "code": "39579001",
        "display": "Anaphylaxis",
    }
    assert observation["partOf"] == [ref(shot)]
    assert shot["reaction"] == [{"date": "2026-03-15T09:45:00+08:00", "detail": ref(observation)}]


def test_two_reactions_each_name_their_own_observation(converter):
    bundle = convert(
        converter,
        vxu(
            "OBX|1|CE|31044-1^Reaction^LN|1|39579001^Anaphylaxis^SCT||||||F",
            "OBX|2|CE|31044-1^Reaction^LN|2|81308009^Disorder of brain^SCT||||||F|||20260316",
        ),
    )
    shot = one(bundle, "Immunization")
    by_code = {o["valueCodeableConcept"]["coding"][0]["code"]: o for o in resources(bundle, "Observation")}
    assert shot["reaction"] == [
        {"detail": ref(by_code["39579001"])},
        {"date": "2026-03-16", "detail": ref(by_code["81308009"])},
    ]


def test_an_annotation_comment_obx_is_a_note(converter):
    # 48767-8 annotation comment (FHIR R4's v2 mapping of Immunization.note), beside an NTE right after the RXA and
    # RXR (the vaccination's); an NTE after an OBX is that OBX's comment (v2 VXU_V04 OBSERVATION: OBX, NTE), the
    # note of its Observation only
    bundle = convert(
        converter,
        vxu(
            "NTE|1||家长已签知情同意书",
            "OBX|1|ST|48767-8^Annotation comment^LN|1|接种后留观30分钟，无不良反应||||||F",
            "NTE|1||由护士记录",
        ),
    )
    shot = one(bundle, "Immunization")
    assert shot["note"] == [{"text": "家长已签知情同意书"}, {"text": "接种后留观30分钟，无不良反应"}]
    assert one(bundle, "Observation")["note"] == [{"text": "由护士记录"}]


def test_no_obx_no_education_reaction_or_note(converter):
    shot = immunization(converter)
    assert not {"education", "reaction", "note", "programEligibility", "fundingSource"} & set(shot)


def test_sub_id_scope_is_for_obx_only(tmp_path: Path):
    # the scope compares OBX-4 (observation sub-id); on another segment its field 4 means something else
    root = mappings_copy(tmp_path)
    path = root / "resource" / "Immunization.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "      - path: publicationDate\n        from: OBX-5",
            "      - path: publicationDate\n        from: RXA-5",
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="sub_id"):
        Converter.load(root)


def test_sub_id_is_a_scope_of_rules_not_of_conditions():
    assert ValueSpec.model_validate({"path": "x", "from": "OBX-5", "scope": "sub_id"}).scope == "sub_id"
    with pytest.raises(ValueError):
        Condition.model_validate({"from": "OBX-3", "scope": "sub_id", "present": True})


def test_a_note_written_in_rxa_9_is_a_note_not_the_record_s_origin(converter):
    # RXA-9 administration notes: the NIP001 source code (00 new record) says the primary source; a note written
    # beside it (no code) is a note — it used to become the report origin, or nothing
    text = vxu().replace("00^新接种^NIP001", "00^新接种^NIP001~^接种后留观30分钟无异常")
    shot = one(convert(converter, text), "Immunization")
    assert shot["primarySource"] is True
    assert "reportOrigin" not in shot
    assert shot["note"] == [{"text": "接种后留观30分钟无异常"}]
    # a historical record (01) with a note: the origin is the code's, the note a note
    text = vxu().replace("00^新接种^NIP001", "01^历史记录^NIP001~^家长提供接种证")
    shot = one(convert(converter, text.replace("VXM1", "VXM2")), "Immunization")
    assert shot["primarySource"] is False
    assert shot["reportOrigin"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:NIP001", "code": "01", "display": "历史记录"}],
        "text": "历史记录",
    }
    assert shot["note"] == [{"text": "家长提供接种证"}]


def test_a_refusal_without_a_reason_says_the_patient_objected(converter):
    # RXA-20 RE (refused) and NA (not administered) are both not-done: a refusal without RXA-18 keeps that it was
    # refused (PATOBJ); a refusal with its reason keeps the reason; NA says nothing more
    def shot(**fields: str) -> dict:
        order = (orc(f1="RE", f2="", f3="IZ-2002"), rxa(**fields))
        return one(convert(converter, message(msh("VXU", "V04", "VXU_V04", "VXR"), pid(), *order)), "Immunization")

    refused = shot(f20="RE", f6="999")
    assert refused["status"] == "not-done"
    assert refused["statusReason"] == {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "PATOBJ",
                "display": "patient objection",
            }
        ]
    }
    with_reason = shot(f20="RE", f18="00^家长拒绝^NIP002")
    assert with_reason["statusReason"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:NIP002", "code": "00", "display": "家长拒绝"}],
        "text": "家长拒绝",
    }
    not_given = shot(f20="NA")
    assert not_given["status"] == "not-done" and "statusReason" not in not_given


# Any mix of a vaccination's observations converts to valid FHIR -------------------------------------------------

OBX_KINDS = [
    ("CE", "69764-9^Document type^LN", ["253088698300026411121116^Hepatitis B VIS^cdcgs1vis", "^MMR VIS", ""]),
    ("CE", "30956-7^vaccine type^LN", ["03^MMR^CVX", "21", ""]),
    ("TS", "29768-9^Date VIS published^LN", ["20120420", "201204", "not a date", ""]),
    ("TS", "29769-7^Date VIS presented^LN", ["20260315", "202603150930", "13/03/2026", ""]),
    ("CE", "31044-1^Reaction^LN", ["39579001^Anaphylaxis^SCT", "^发热", ""]),
    ("ST", "48767-8^Annotation comment^LN", ["留观30分钟", ""]),
    ("CE", "64994-7^Eligibility^LN", ["V02^VFC eligible^HL70064", ""]),
    ("NM", "30973-2^Dose number^LN", ["2", "第二剂", ""]),
]


@st.composite
def vaccination_observations(draw: st.DrawFn) -> str:
    value_type, code, values = draw(st.sampled_from(OBX_KINDS))
    sub_id = draw(st.sampled_from(["", "1", "2", "3"]))
    when = draw(st.sampled_from(["", "20260315094500", "bad"]))
    return f"OBX|1|{value_type}|{code}|{sub_id}|{draw(st.sampled_from(values))}||||||F|||{when}"


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(observations=st.lists(vaccination_observations(), min_size=0, max_size=6))
def test_any_vaccination_observations_convert_to_valid_fhir(converter, observations):
    bundle = converter.convert(er7.parse(vxu(*observations)), sender_timezone="Asia/Shanghai")
    assert validate_bundle(bundle, models=True) == []
    shot = one(bundle, "Immunization")
    # FHIR imm-1: each education has a document type or a reference; one per statement named in the message
    named = sum(1 for o in observations if o.split("|")[3].startswith(("69764-9", "30956-7")) and o.split("|")[5])
    assert len(shot.get("education", [])) == named
    assert all("documentType" in e for e in shot.get("education", []))
    # every reaction names an Observation of the Bundle
    ids = {f"Observation/{o['id']}" for o in resources(bundle, "Observation")}
    assert all(r["detail"]["reference"] in ids for r in shot.get("reaction", []))


def test_a_historical_record_s_source_is_an_immunization_origin(converter):
    # RXA-9 NIP001: 02 other provider, 03 parent's written record, 04 parent's recall, 06 birth certificate,
    # 07 school record translate to immunization-origin, the sender's coding kept after; 01 (unspecified) as sent
    origin = "http://terminology.hl7.org/CodeSystem/immunization-origin"
    expected = {"02": "provider", "03": "record", "04": "recall", "06": "record", "07": "school"}
    for code, translated in expected.items():
        text = vxu().replace("00^新接种^NIP001", f"{code}^历史记录^NIP001")
        shot = one(convert(converter, text), "Immunization")
        assert shot["primarySource"] is False
        first, sent = shot["reportOrigin"]["coding"]
        assert first["system"] == origin and first["code"] == translated
        assert sent == {"system": "urn:hub:code:SZRMYY:NIP001", "code": code, "display": "历史记录"}
    unspecified = one(convert(converter, vxu().replace("00^新接种^NIP001", "01^历史记录^NIP001")), "Immunization")
    assert unspecified["reportOrigin"]["coding"] == [
        {"system": "urn:hub:code:SZRMYY:NIP001", "code": "01", "display": "历史记录"}
    ]
