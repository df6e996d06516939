"""VXU^V04: vaccine information statements (VIS) sent without OBX-4 sub-ids, each one Immunization.education.

The CDC guide gives the OBX of one statement a sub-id; many senders leave OBX-4 empty and send each statement's
OBX in a row: its document type (69764-9) or vaccine type (30956-7), then its publication (29768-9) and
presentation (29769-7) dates. All OBX without a sub-id used to be one group, so every statement read the first
statement's dates. Now, when two of them share a code or two are statements, a statement runs from its OBX to just
before the next statement or the next OBX whose code it already has (``scope: sub_id`` of OBX without a sub-id);
a single statement without sub-ids reads the dates of every OBX without one, before or after it.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, resources
from .test_immunization_more import immunization, vxu

MMR = "OBX|{n}|CE|30956-7^vaccine type^LN|{sub}|03^MMR^CVX||||||F"
VARICELLA = "OBX|{n}|CE|30956-7^vaccine type^LN|{sub}|21^varicella^CVX||||||F"
HEP_B_VIS = "OBX|{n}|CE|69764-9^Document type^LN|{sub}|253088698300026411121116^Hepatitis B VIS^cdcgs1vis||||||F"
FLU_VIS = "OBX|{n}|CE|69764-9^Document type^LN|{sub}|253088698300010311120702^Influenza VIS^cdcgs1vis||||||F"
PUBLISHED = "OBX|{n}|TS|29768-9^Date vaccine information statement published^LN|{sub}|{date}||||||F"
PRESENTED = "OBX|{n}|TS|29769-7^Date vaccine information statement presented^LN|{sub}|{date}||||||F"


def obx(template: str, n: int, sub: str = "", date: str = "") -> str:
    return template.format(n=n, sub=sub, date=date)


def test_two_statements_by_vaccine_type_without_sub_ids(converter):
    # MMRV: the MMR statement and its dates, then the varicella statement and its dates, OBX-4 empty throughout
    shot = immunization(
        converter,
        obx(MMR, 1),
        obx(PUBLISHED, 2, date="20120420"),
        obx(PRESENTED, 3, date="20260314"),
        obx(VARICELLA, 4),
        obx(PUBLISHED, 5, date="20080313"),
        obx(PRESENTED, 6, date="20260315"),
    )
    # the varicella statement used to have the MMR statement's dates
    assert shot["education"] == [
        {"documentType": "MMR", "publicationDate": "2012-04-20", "presentationDate": "2026-03-14"},
        {"documentType": "varicella", "publicationDate": "2008-03-13", "presentationDate": "2026-03-15"},
    ]


def test_two_statements_by_document_type_without_sub_ids(converter):
    shot = immunization(
        converter,
        obx(HEP_B_VIS, 1),
        obx(PRESENTED, 2, date="20260314"),
        obx(FLU_VIS, 3),
        obx(PRESENTED, 4, date="20260315"),
    )
    assert shot["education"] == [
        {"documentType": "Hepatitis B VIS", "presentationDate": "2026-03-14"},
        {"documentType": "Influenza VIS", "presentationDate": "2026-03-15"},
    ]


def test_a_statement_without_a_date_of_its_own_takes_none_of_the_next(converter):
    # the first statement sent without dates: the second's document type ends it
    shot = immunization(converter, obx(HEP_B_VIS, 1), obx(FLU_VIS, 2), obx(PRESENTED, 3, date="20260315"))
    assert shot["education"] == [
        {"documentType": "Hepatitis B VIS"},
        {"documentType": "Influenza VIS", "presentationDate": "2026-03-15"},
    ]


def test_one_statement_without_a_sub_id_reads_its_dates_wherever_they_are(converter):
    # no code repeats: the OBX without a sub-id are one group, as before (dates sent before the statement)
    shot = immunization(converter, obx(PRESENTED, 1, date="20260315"), obx(PUBLISHED, 2, date="20120420"), obx(MMR, 3))
    assert shot["education"] == [
        {"documentType": "MMR", "publicationDate": "2012-04-20", "presentationDate": "2026-03-15"}
    ]


def test_statements_with_and_without_sub_ids(converter):
    # the sub-id'd statement keeps its own dates; the two without sub-ids each theirs
    shot = immunization(
        converter,
        obx(MMR, 1, sub="1"),
        obx(PUBLISHED, 2, sub="1", date="20120420"),
        obx(VARICELLA, 3),
        obx(PUBLISHED, 4, date="20080313"),
        obx(MMR, 5),
        obx(PUBLISHED, 6, date="20120421"),
        obx(PRESENTED, 7, date="20260316"),
    )
    assert shot["education"] == [
        {"documentType": "MMR", "publicationDate": "2012-04-20"},
        {"documentType": "varicella", "publicationDate": "2008-03-13"},
        {"documentType": "MMR", "publicationDate": "2012-04-21", "presentationDate": "2026-03-16"},
    ]


def test_a_bar_code_statement_then_a_vaccine_type_statement_without_sub_ids(converter):
    # 乙肝疫苗 and 水痘疫苗 given at one visit: the hepatitis B statement by its bar code (69764-9) with the day it
    # was handed over, then the varicella statement by its vaccine type (30956-7, CVX 21) with its edition and
    # the day it was handed over, OBX-4 empty throughout. No code repeats in the first statement, so the group of
    # OBX without sub-ids was one: the bar-code statement took the varicella edition's publication date. Each
    # statement now ends where the next starts (CDC guide: a statement's OBX follow it).
    shot = immunization(
        converter,
        obx(HEP_B_VIS, 1),
        obx(PRESENTED, 2, date="20260314"),
        obx(VARICELLA, 3),
        obx(PUBLISHED, 4, date="20080313"),
        obx(PRESENTED, 5, date="20260315"),
    )
    assert shot["education"] == [
        {"documentType": "Hepatitis B VIS", "presentationDate": "2026-03-14"},
        {"documentType": "varicella", "publicationDate": "2008-03-13", "presentationDate": "2026-03-15"},
    ]


def test_a_bar_code_statement_then_a_vaccine_type_statement_each_with_one_date(converter):
    # no code repeats at all (one presentation date, one publication date): still two statements, each its own
    shot = immunization(
        converter,
        obx(HEP_B_VIS, 1),
        obx(PRESENTED, 2, date="20260314"),
        obx(MMR, 3),
        obx(PUBLISHED, 4, date="20120420"),
    )
    assert shot["education"] == [
        {"documentType": "Hepatitis B VIS", "presentationDate": "2026-03-14"},
        {"documentType": "MMR", "publicationDate": "2012-04-20"},
    ]


def test_every_obx_of_the_statements_stays_an_observation(converter):
    bundle = convert(
        converter,
        vxu(obx(MMR, 1), obx(PUBLISHED, 2, date="20120420"), obx(VARICELLA, 3), obx(PUBLISHED, 4, date="20080313")),
    )
    assert len(resources(bundle, "Observation")) == 4
    assert len(one(bundle, "Immunization")["education"]) == 2


# v2's OBSERVATION group: an NTE after an OBX is that OBX's comment ------------------------------------------------


def test_an_nte_after_an_obx_is_that_observation_s_note_only(converter):
    # each NTE used to be every observation's note and the vaccination's too (OBX and NTE were flat in ORDER)
    bundle = convert(
        converter,
        vxu(
            "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible^HL70064||||||F",
            "NTE|1||资格已核实",
            "OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC1^Federal funds^CDCPHINVS||||||F",
            "NTE|1||中央财政",
        ),
    )
    shot = one(bundle, "Immunization")
    assert "note" not in shot
    notes = {o["code"]["coding"][0]["code"]: o["note"] for o in resources(bundle, "Observation")}
    assert notes == {"64994-7": [{"text": "资格已核实"}], "30963-3": [{"text": "中央财政"}]}
    # the vaccination still reads both observations
    assert shot["programEligibility"][0]["coding"][0]["code"] == "V02"
    assert shot["fundingSource"]["coding"][0]["code"] == "VXC1"


def test_statements_with_comments_between_their_obx(converter):
    shot = immunization(
        converter,
        obx(MMR, 1),
        "NTE|1||家长已阅读",
        obx(PUBLISHED, 2, date="20120420"),
        obx(VARICELLA, 3),
        obx(PUBLISHED, 4, date="20080313"),
        "NTE|1||第二份",
    )
    assert shot["education"] == [
        {"documentType": "MMR", "publicationDate": "2012-04-20"},
        {"documentType": "varicella", "publicationDate": "2008-03-13"},
    ]
