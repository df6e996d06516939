"""ADT and financial messages as real senders vary them: v2.3 to v2.8 field habits, Chinese senders' spellings.

Each test is one message a sender could send, converted by the shipped mappings, checked field by field (and
valid R4: ``convert`` validates every Bundle against the schema and the R4B models).
"""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import Settings
from hub.hl7 import er7
from hub.mapping import convert_bytes

from .conftest import convert, one, resources

V2_0004 = "http://terminology.hl7.org/CodeSystem/v2-0004"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"


def segment(name: str, **fields: str) -> str:
    """A segment from numbered fields: ``segment("PID", f3="MRN0001", f8="M")``."""
    numbered = {int(key[1:]): value for key, value in fields.items()}
    return "|".join([name, *[numbered.get(i, "") for i in range(1, max(numbered) + 1)]])


def message(*segments: str, event: str = "A01", structure: str = "ADT_A01", version: str = "2.5.1") -> str:
    msh = f"MSH|^~\\&|HIS|RMYY|HUB|CITY|20260315083000||ADT^{event}^{structure}|V{event}|P|{version}||||||UNICODE UTF-8"
    return "\r".join([msh, f"EVN|{event}|20260315083000", *segments])


def pid(**fields: str) -> str:
    return segment("PID", **{"f1": "1", "f3": "MRN77^^^RMYY^MR", "f5": "张三", "f7": "19800101", "f8": "M", **fields})


def pv1(**fields: str) -> str:
    return segment("PV1", **{"f1": "1", "f2": "I", "f19": "V77^^^RMYY^VN", **fields})


def patient_of(converter: Any, *segments: str, **kwargs: str) -> dict[str, Any]:
    return one(convert(converter, message(*segments, **kwargs)), "Patient")


def telecoms(resource: dict[str, Any]) -> list[tuple[str | None, str, str | None]]:
    return [(t.get("system"), t["value"], t.get("use")) for t in resource.get("telecom", [])]


# -- telecom ---------------------------------------------------------------------------------------------------


def test_v23_telecom_with_a_number_and_an_email_in_one_repetition_keeps_both(converter):
    # v2.3: the number in XTN.1 as written ("(020)88888888"), the e-mail address in XTN.4 of the same repetition
    patient = patient_of(
        converter, pid(f13="(020)88888888^^^ouyang@example.cn", f14="(0755)88888888X123"), pv1(), version="2.3"
    )
    assert telecoms(patient) == [
        ("phone", "(020)88888888", "home"),
        ("phone", "(0755)88888888X123", "work"),
        ("email", "ouyang@example.cn", "home"),
    ]


def test_an_email_said_by_the_use_code_net_or_written_in_xtn_1_is_an_email(converter):
    patient = patient_of(converter, pid(f13="zs@example.cn^NET~li@example.cn~13800138000^PRN^CP"), pv1())
    assert telecoms(patient) == [
        ("email", "zs@example.cn", "home"),
        ("email", "li@example.cn", "home"),
        ("phone", "13800138000", "home"),
    ]


def test_a_number_in_its_parts_and_junk_in_xtn_4_make_no_email(converter):
    # XTN.5 country, XTN.6 area, XTN.7 local number, XTN.8 extension (v2.5+); XTN.4 "5555" is no e-mail address
    patient = patient_of(converter, pid(f13="^PRN^PH^5555^86^755^88888888^12"), pv1())
    assert telecoms(patient) == [("phone", "+86 755 88888888 X12", "home")]


@pytest.mark.parametrize(
    ("xtn", "value"),
    [
        # the area code with its domestic trunk prefix 0: in international form the 0 goes (+86 755, not +86 0755)
        ("^PRN^PH^^86^0755^88888888", "+86 755 88888888"),
        ("^PRN^PH^^+86^010^66666666", "+86 10 66666666"),  # the country code written with its +
        ("^PRN^PH^^86^^075588888888", "+86 75588888888"),  # no area code: the trunk 0 before the local number
        ("^PRN^PH^^^0755^88888888", "0755 88888888"),  # no country code: the domestic form stays as sent
        ("^PRN^PH^^39^06^12345678", "+39 06 12345678"),  # Italy: the 0 is part of the number
    ],
)
def test_the_trunk_prefix_goes_in_the_international_form(converter, xtn, value):
    patient = patient_of(converter, pid(f13=xtn), pv1())
    assert telecoms(patient) == [("phone", value, "home")]


def test_next_of_kin_email_beside_the_number(converter):
    bundle = convert(converter, message(pid(), "NK1|1|李四|SPO^配偶|||(020)1234^^^nk@example.cn", pv1()))
    related = one(bundle, "RelatedPerson")
    assert telecoms(related) == [("phone", "(020)1234", None), ("email", "nk@example.cn", None)]
    assert telecoms(one(bundle, "Patient")["contact"][0]) == telecoms(related)


# -- names and identifiers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "family", "given"),
    [
        ("司马相如", "司马", ["相如"]),
        ("诸葛亮", "诸葛", ["亮"]),
        ("欧阳娜娜", "欧阳", ["娜娜"]),
        ("^张三", "张", ["三"]),
    ],
)
def test_compound_surnames_and_names_sent_in_xpn_2(converter, sent, family, given):
    name = patient_of(converter, pid(f5=sent), pv1())["name"][0]
    assert (name["family"], name["given"], name["text"]) == (family, given, sent.lstrip("^"))


def test_a_latin_name_with_degree_and_professional_suffix(converter):
    # XPN.4 suffix, XPN.5 prefix, XPN.6 degree, XPN.7 name type, XPN.14 professional suffix (v2.5+)
    name = patient_of(converter, pid(f5="SMITH^JOHN^Q^JR^DR^MD^L^^^^^^^FACP"), pv1())["name"][0]
    assert name["use"] == "official"
    assert (name["family"], name["given"], name["prefix"]) == ("SMITH", ["JOHN", "Q"], ["DR"])
    assert name["suffix"] == ["JR", "MD", "FACP"]


def test_mothers_maiden_name(converter):
    patient = patient_of(converter, pid(f6="刘^^^^^^M"), pv1())
    assert patient["extension"] == [
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": "刘"}
    ]


def test_v23_external_and_alternate_ids_and_a_lower_case_check_character(converter):
    # PID-2 external id and PID-4 alternate id (withdrawn after v2.3.1, still sent), the resident ID number in
    # PID-3 under the type RI with a lower-case check character, and repeated in PID-19
    patient = patient_of(
        converter,
        pid(
            f2="P222^^^RMYY^PI",
            f3="MRN77^^^RMYY^MR~11010519491231002x^^^^RI",
            f4="A444^^^OTHER^PN",
            f19="11010519491231002X",
        ),
        pv1(),
        version="2.3",
    )
    by_value = {i["value"]: i for i in patient["identifier"]}
    assert set(by_value) == {"MRN77", "11010519491231002X", "P222", "A444"}
    assert by_value["11010519491231002X"]["system"] == RESIDENT_ID_SYSTEM
    assert by_value["P222"]["system"] == "urn:hub:id:RMYY"
    assert by_value["A444"]["system"] == "urn:hub:id:OTHER"
    assert by_value["A444"]["type"]["coding"][0]["code"] == "PN"


@pytest.mark.parametrize("declared", ["GB 18030-2000", "GB18030", "GBK", "gb2312", "CP936"])
def test_gb18030_spelled_as_senders_spell_it(tmp_path, declared):
    text = message(pid(f5="欧阳娜娜", f11="北京路1号^^广州市^广东省^510000^CHN^H^^越秀区"), pv1())
    raw = text.replace("UNICODE UTF-8", declared).encode("gb18030")
    patient = one(convert_bytes(raw, Settings(data_dir=tmp_path)), "Patient")
    assert (patient["name"][0]["family"], patient["name"][0]["given"]) == ("欧阳", ["娜娜"])
    address = patient["address"][0]
    assert (address["line"], address["city"], address["state"], address["district"]) == (
        ["北京路1号"],
        "广州市",
        "广东省",
        "越秀区",
    )


# -- encounter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "system", "code"),
    [
        ("E", ACT_CODE, "EMER"),
        ("I", ACT_CODE, "IMP"),
        ("O", ACT_CODE, "AMB"),
        ("P", ACT_CODE, "PRENC"),
        ("R", V2_0004, "R"),
        ("B", V2_0004, "B"),
        ("C", V2_0004, "C"),
        ("U", V2_0004, "U"),
        ("住院", ACT_CODE, "IMP"),
    ],
)
def test_patient_class_per_the_igs_concept_map(converter, sent, system, code):
    encounter = one(convert(converter, message(pid(), pv1(f2=sent), event="A08")), "Encounter")
    assert (encounter["class"]["system"], encounter["class"]["code"]) == (system, code)
    assert encounter["status"] == {"P": "planned", "U": "unknown"}.get(sent, "in-progress")


def test_a_discharge_with_building_floor_and_description_pv2_dates_length_priority_and_referral(converter):
    bundle = convert(
        converter,
        message(
            pid(),
            pv1(
                f3="内科病区^301^02^RMYY^^^住院楼^3F",
                f6="外科^201^1^RMYY",
                f8="R01^赵^医生",
                f36="01^常规离院^HL70112",
                f44="20260315083000.123+0800",
                f45="202603200900",
            ),
            segment("PV2", f3="R51^头痛^I10", f8="20260315", f9="20260325", f11="5", f13="R02^钱^医生", f25="2"),
            event="A03",
            structure="ADT_A03",
            version="2.7",
        ),
    )
    encounter = one(bundle, "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["period"] == {"start": "2026-03-15T08:30:00.123+08:00", "end": "2026-03-20T09:00:00+08:00"}
    assert encounter["location"] == [
        # discharged: the patient has left the assigned location too
        {"location": {"display": "RMYY 住院楼 3F 内科病区 301 02"}, "status": "completed"},
        {"location": {"display": "RMYY 外科 201 1"}, "status": "completed"},
    ]
    assert encounter["extension"] == [
        {
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate",
            "valueDateTime": "2026-03-15",
        },
        {
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate",
            "valueDateTime": "2026-03-25",
        },
    ]
    assert encounter["length"] == {"value": 5, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
    assert encounter["priority"]["coding"][0]["code"] == "2"
    referrers = [
        p["individual"]["display"] for p in encounter["participant"] if p["type"][0]["coding"][0]["code"] == "REF"
    ]
    assert referrers == ["赵医生", "钱医生"]
    assert encounter["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"
    assert encounter["reasonCode"][0]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "R51",
        "display": "头痛",
    }


def test_a_timestamp_offset_and_precision_are_kept(converter):
    encounter = one(
        convert(
            converter, message(pid(), pv1(f44="200603150830-0500", f45="2006032009"), event="A03", structure="ADT_A03")
        ),
        "Encounter",
    )
    assert encounter["period"] == {"start": "2006-03-15T08:30:00-05:00", "end": "2006-03-20T09:00:00+08:00"}


# -- the patient's own doctor, relationships -------------------------------------------------------------------


def test_primary_care_provider_from_pd1_and_rol(converter):
    patient = patient_of(
        converter,
        pid(),
        segment("PD1", f4="G01^刘^医生^^^^^^RMYY"),
        "ROL|1|AD|PP^Primary Care Provider^HL70443|G02^陈^医生",
        "ROL|2|DE|PP|G03^孙^医生",
        pv1(),
        "ROL|3|AD|AT|D09^周^医生",
    )
    assert [(g["identifier"]["value"], g["display"]) for g in patient["generalPractitioner"]] == [
        ("G01", "刘医生"),
        ("G02", "陈医生"),
    ]


@pytest.mark.parametrize(
    ("sent", "code"), [("儿子", "SONC"), ("女儿", "DAUC"), ("丈夫", "HUSB"), ("外婆", "MGRMTH"), ("本人", "ONESELF")]
)
def test_chinese_relationship_text_in_nk1_3(converter, sent, code):
    related = one(convert(converter, message(pid(), f"NK1|1|王五|{sent}||13700137000", pv1())), "RelatedPerson")
    coding = related["relationship"][0]["coding"][0]
    assert (coding["system"], coding["code"]) == (ROLE_CODE, code)


def test_allergy_diagnosis_procedure_and_insurance_of_a_v23_admission(converter):
    bundle = convert(
        converter,
        message(
            pid(),
            pv1(),
            "AL1|1|DA^药物过敏^HL70127|青霉素^Penicillin^L|SV^严重^HL70128|皮疹~呼吸困难|20200101",
            segment("DG1", f1="1", f2="I10", f3="J18.9^肺炎^I10", f5="20260315", f6="A", f15="1", f16="D01^王^五"),
            segment("PR1", f1="1", f2="ICD9", f3="36.06^冠脉支架置入^I9C", f5="20260316100000", f11="D01^王^五"),
            segment(
                "IN1",
                f1="1",
                f2="PLAN1^城镇职工医保",
                f3="INS01^^^RMYY",
                f4="深圳市医保局",
                f12="20260101",
                f13="20261231",
                f17="SEL^本人",
                f36="POL123",
            ),
            version="2.3",
        ),
    )
    allergy = one(bundle, "AllergyIntolerance")
    assert (allergy["category"], allergy["criticality"], allergy["onsetDateTime"]) == (
        ["medication"],
        "high",
        "2020-01-01",
    )
    assert [r["manifestation"][0]["text"] for r in allergy["reaction"]] == ["皮疹", "呼吸困难"]
    condition = one(bundle, "Condition")
    assert condition["code"]["coding"][0]["code"] == "J18.9"
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    procedure = one(bundle, "Procedure")
    assert (procedure["code"]["coding"][0]["code"], procedure["performedDateTime"]) == (
        "36.06",
        "2026-03-16T10:00:00+08:00",
    )
    coverage = one(bundle, "Coverage")
    assert coverage["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert coverage["identifier"][0]["value"] == "POL123"
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    [payor] = [o for o in resources(bundle, "Organization") if o.get("name") == "深圳市医保局"]
    assert coverage["payor"] == [{"reference": f"Organization/{payor['id']}"}]
    assert resources(bundle, "Encounter")


def test_every_variation_parses(converter):
    # the helper's messages are well formed ER7 (a guard for the tests above)
    assert er7.parse(message(pid(), pv1())).msh[9].startswith("ADT^A01")


def test_bar_p01_visit_providers_from_rol_and_v28_prt(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|RMYY|HUB|CITY|20260315083000||BAR^P01^BAR_P01|B1|P|2.8",
            "EVN|P01|20260315083000",
            pid(f18="ACC1"),
            "PRT|1|AD||PP|G01^刘^医生",  # the patient's own doctor: not a provider of the visit
            pv1(),
            "ROL|3|AD|CP|D02^赵^六",
            "PRT|2|AD||AT^Attending Provider^HL70912|D01^王^五||||||20260315",
            "PRT|4|DE||RP|D03^钱^七",  # withdrawn (action code DE)
        ]
    )
    encounter = one(convert(converter, text), "Encounter")
    assert [(p["type"][0]["coding"][0]["code"], p["individual"]["display"]) for p in encounter["participant"]] == [
        ("CON", "赵六"),
        ("ATND", "王五"),
    ]
    assert encounter["participant"][1]["period"] == {"start": "2026-03-15"}


@pytest.mark.parametrize(
    ("sent", "destination"),
    [
        ("HOSP2", {"display": "HOSP2", "identifier": {"value": "HOSP2"}}),  # v2.5: DLD.1 a code (IS)
        ("HOSP2&第二医院&L^20260320", {"display": "第二医院", "identifier": {"value": "HOSP2"}}),  # v2.7+: a CWE
        ("&第二医院", {"display": "第二医院"}),
    ],
)
def test_discharged_to_location_as_v25_and_v27_send_it(converter, sent, destination):
    text = message(pid(), pv1(f36="02", f37=sent, f45="20260320090000"), event="A03", structure="ADT_A03")
    assert one(convert(converter, text), "Encounter")["hospitalization"]["destination"] == destination


def test_v27_pid_40_telecommunication_information(converter):
    # v2.7 moves the numbers to PID-40 (PID-13/14 withdrawn): XTN.2 says the use, the number comes in its parts
    # (XTN.5 country, XTN.6 area, XTN.7 local, XTN.8 extension) or unformatted (XTN.12)
    patient = patient_of(
        converter,
        pid(
            f40="^PRN^CP^^86^^13800138000~^WPN^PH^^^0755^88886666^801~^NET^Internet^zs@example.cn"
            "~^PRS^CP^^^^^^^^^+8613900139000"
        ),
        pv1(),
        version="2.7",
    )
    assert telecoms(patient) == [
        ("phone", "+86 13800138000", "home"),
        ("phone", "0755 88886666 X801", "work"),
        ("email", "zs@example.cn", None),
        ("phone", "+8613900139000", "mobile"),
    ]


@pytest.mark.parametrize(
    ("status", "clinical", "abatement"),
    [("", "resolved", "2026-04-01"), ("A", "active", None), ("R", "resolved", "2026-04-01")],
)
def test_a_problem_with_a_resolution_date_is_never_active_and_abated(converter, status, clinical, abatement):
    # FHIR con-4: an abated Condition is inactive, resolved or in remission
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|RMYY|HUB|CITY|20260315083000||PPR^PC1^PPR_PC1|P1|P|2.3.1",
            pid(),
            segment("PRB", f1="AD", f2="20260315", f3="I10^高血压^I10", f4="PRB1", f9="20260401", f14=status),
        ]
    )
    problem = one(convert(converter, text), "Condition")
    assert problem["clinicalStatus"]["coding"][0]["code"] == clinical
    assert problem.get("abatementDateTime") == abatement


@pytest.mark.parametrize("structure", ["ADT_A01", "BAR_P01"])
def test_the_visits_diagnoses_name_each_dg1s_condition_with_its_use_and_rank(converter, structure):
    # IG DG1[Encounter]: Encounter.diagnosis per DG1 — its Condition, DG1-6 as the use, DG1-15 as the rank
    event, code = ("A01", "ADT") if structure == "ADT_A01" else ("P01", "BAR")
    text = message(
        pid(f18="ACC1"),
        pv1(),
        segment("DG1", f1="1", f3="J18.9^肺炎^I10", f6="A^入院诊断", f15="1"),
        segment("DG1", f1="2", f3="I10^高血压^I10", f6="F", f15="2"),
        segment("DG1", f1="3", f3="E11^糖尿病^I10", f6="W", f15="0"),  # 0: not in the ranking
        segment("DG1", f1="4", f3="K29^胃炎^I10", f21="D"),  # deleted: no diagnosis of the visit
        event=event,
        structure=structure,
    ).replace(f"ADT^{event}", f"{code}^{event}")
    bundle = convert(converter, text)
    conditions = {c["code"]["coding"][0]["code"]: f"Condition/{c['id']}" for c in resources(bundle, "Condition")}
    diagnoses = one(bundle, "Encounter")["diagnosis"]
    assert [d["condition"]["reference"] for d in diagnoses] == [
        conditions["J18.9"],
        conditions["I10"],
        conditions["E11"],
    ]
    assert [d.get("rank") for d in diagnoses] == [1, 2, None]
    assert [d["use"]["coding"][0]["code"] for d in diagnoses] == ["AD", "DD", "W"]
    assert diagnoses[0]["use"]["coding"][1] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0052",
        "code": "A",
        "display": "入院诊断",
    }


def test_v23_a40_without_a_structure_in_msh_9_merges_the_mrg_record(converter):
    # v2.3 MSH-9 has no structure (ADT^A40): the event's structure comes from table 0354; MRG-1 without an
    # assigning authority is a number of the sending facility; MRG-7 the prior name
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|RMYY|HUB|CITY|20260315083000||ADT^A40|M1|P|2.3",
            "EVN|A40|20260315083000",
            pid(),
            segment("MRG", f1="OLD1", f7="张叁"),
        ]
    )
    survivor, replaced = resources(convert(converter, text), "Patient")
    assert replaced["identifier"][0] == {"system": "urn:hub:id:RMYY", "value": "OLD1"}
    assert replaced["name"][0]["text"] == "张叁"
    assert replaced["active"] is False
    assert replaced["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]


def test_a_15_digit_pre_1999_resident_id_is_weak_evidence_not_an_invalid_number(converter):
    # 15 digits (region, YYMMDD, sequence; no check character): declared by its type (PID-3) or in PID-19. It is
    # typed NNCHN without the national system, not flagged invalid, and the patient index reads its 18-digit form
    # as weaker evidence; a 15-digit number with an impossible date stays flagged.
    from hub.identity import matching, resident_id

    text = message(pid(f3="MRN77^^^RMYY^MR~110105491231002^^^^ID~110105491331002^^^^ID", f19="440305800101123"), pv1())
    conversion = converter.convert_with_report(er7.parse(text))
    patient = one(conversion.bundle, "Patient")
    by_value = {i["value"]: i for i in patient["identifier"]}
    for legacy in ("110105491231002", "440305800101123"):
        assert by_value[legacy]["type"]["coding"][0]["code"] == "NNCHN"
        assert by_value[legacy].get("system") != resident_id.SYSTEM
        assert "extension" not in by_value[legacy]
    assert "extension" in by_value["110105491331002"]  # 1949-13-31: no date
    assert conversion.report == [{"code": "invalid-resident-id", "location": "PID^1"}]
    profile = matching.profile_of(patient)
    assert profile.resident_ids == frozenset()
    assert resident_id.from_legacy("110105491231002") in profile.other_ids


def test_allergy_type_and_severity_as_chinese_his_systems_write_them(converter):
    allergy = one(convert(converter, message(pid(), pv1(), "AL1|1|药物|青霉素|重度|皮疹")), "AllergyIntolerance")
    assert (allergy["type"], allergy["category"], allergy["criticality"]) == ("allergy", ["medication"], "high")


def test_an_allergen_diagnosis_or_procedure_sent_as_words_is_also_the_concepts_text(converter):
    bundle = convert(
        converter,
        message(
            pid(),
            pv1(),
            "AL1|1|DA|青霉素",
            "DG1|1||高血压",
            "DG1|2||I10^高血压^I10",
            "DG1|3||E11",
            "PR1|1||阑尾切除术||20260316",
        ),
    )
    allergy, procedure = one(bundle, "AllergyIntolerance"), one(bundle, "Procedure")
    assert allergy["code"] == {"coding": [{"code": "青霉素"}], "text": "青霉素"}
    assert procedure["code"] == {"coding": [{"code": "阑尾切除术"}], "text": "阑尾切除术"}
    codes = [c["code"] for c in resources(bundle, "Condition")]
    assert codes[0] == {"coding": [{"code": "高血压"}], "text": "高血压"}
    assert codes[1]["text"] == "高血压" and codes[1]["coding"][0]["code"] == "I10"
    assert codes[2] == {"coding": [{"code": "E11"}]}  # a code alone is no text
