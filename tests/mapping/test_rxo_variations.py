"""Pharmacy orders as the prescriber places them (RXO: OMP^O09 continuous prescriptions, ORM^O01 pharmacy orders)
as Chinese senders vary them: routes and sites in words, frequencies no table knows, service durations, the v2.3
TQ, a give amount that is no number, hospital drug codes. The RXO side behaves as the encoded order (RXE, see
test_pharmacy_variations.py) does.

Each test is one message a sender could send, converted by the shipped mappings and checked field by field
(``convert`` and ``with_report`` validate every Bundle); what the operator must map is in the conversion report.
"""

from __future__ import annotations

from .conftest import convert, dosage_of, one, with_report

UCUM = "http://unitsofmeasure.org"
ROUTE_V3 = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
V2_0163 = "http://terminology.hl7.org/CodeSystem/v2-0163"

PATIENT = "PID|1||MRN002^^^SZRMYY^MR||王五||19650302|F"
VISIT = "PV1|1|O|心内科门诊"


def omp(*order: str) -> str:
    msh = "MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401090000||OMP^O09^OMP_O09|OMP1|P|2.5.1"
    return "\r".join([msh, PATIENT, VISIT, *order])


def orm(*order: str, version: str = "2.5") -> str:
    msh = f"MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401090000||ORM^O01^ORM_O01|ORM1|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *order])


def test_a_continuous_prescription_in_chinese_words(converter):
    # OMP^O09: TQ1-3 饭后每日两次 (twice a day after meals: no code), TQ1-6 service duration 14 天;
    # RXO-2/4 1 片, RXO-5 片剂, RXO-11/12 28 片, RXO-13 2 refills; RXR-1 口服 (oral), RXR-2 no site
    bundle = convert(
        converter,
        omp(
            "ORC|NW|CP500^HIS|||||||20260401085500|||D002^赵医生",
            "TQ1|1||饭后每日两次|||14^天",
            "RXO|YP010^二甲双胍缓释片^L|1||片|TAB^片剂^L||||G||28|片|2",
            "RXR|口服",
        ),
    )
    dosage = dosage_of(bundle)
    assert dosage["timing"] == {
        "code": {"text": "饭后每日两次"},
        "repeat": {"boundsDuration": {"value": 14, "unit": "天", "system": UCUM, "code": "d"}},
    }
    assert dosage["route"]["coding"][0] == {"system": ROUTE_V3, "code": "PO", "display": "Swallow, oral"}
    assert dosage["route"]["coding"][1] == {"code": "口服"}
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "片"}
    request = one(bundle, "MedicationRequest")
    assert request["dispenseRequest"] == {"numberOfRepeatsAllowed": 2, "quantity": {"value": 28, "unit": "片"}}
    assert request["substitution"]["allowedCodeableConcept"]["coding"][0]["code"] == "G"
    assert one(bundle, "Medication")["form"]["coding"][0]["code"] == "TAB"


def test_a_frequency_the_table_knows_is_coded(converter):
    # 每日两次 is BID in table 0335: coded, and its repeat understood
    bundle = convert(converter, omp("ORC|NW|CP501^HIS", "TQ1|1||每日两次", "RXO|YP010^二甲双胍缓释片^L|0.5||g"))
    timing = dosage_of(bundle)["timing"]
    assert timing["code"]["coding"][0]["code"] == "BID"
    assert timing["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}


def test_a_service_duration_in_a_unit_of_no_time_is_left_out(converter):
    # FHIR drt-1: a Duration needs a UCUM time code; "2^盒" (boxes) is no duration
    bundle = convert(converter, omp("ORC|NW|CP502^HIS", "TQ1|1||bid|||2^盒", "RXO|YP010^二甲双胍缓释片^L|0.5||g"))
    assert "boundsDuration" not in dosage_of(bundle)["timing"]["repeat"]


def test_a_give_amount_that_is_no_number_is_the_dosage_text(converter):
    # RXO-2 "1-2" (one to two tablets), RXO-4 片, RXO-7 instructions 疼痛时服用: no dose, the text as written
    bundle = convert(
        converter,
        omp("ORC|NW|CP503^HIS", "TQ1|1||必要时", "RXO|YP011^布洛芬缓释胶囊^L|1-2||粒|||^疼痛时服用", "RXR|口服"),
    )
    dosage = dosage_of(bundle)
    assert dosage["text"] == "1-2粒 疼痛时服用"
    assert "doseAndRate" not in dosage
    assert dosage["asNeededBoolean"] is True
    # a number is a dose, and the text is the instructions alone
    bundle = convert(converter, omp("ORC|NW|CP504^HIS", "RXO|YP011^布洛芬缓释胶囊^L|1||粒|||^疼痛时服用"))
    dosage = dosage_of(bundle)
    assert dosage["text"] == "疼痛时服用"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "粒"}


def test_a_site_in_chinese_translates_and_a_coded_site_is_kept(converter):
    # an injection order: RXR-1 肌内注射 (intramuscular), RXR-2 左臀部 (left gluteus)
    text = omp("ORC|NW|CP505^HIS", "TQ1|1||once", "RXO|YP012^青霉素钠^L|80||万U", "RXR|肌内注射|左臀部")
    dosage = dosage_of(convert(converter, text))
    assert dosage["route"]["coding"][0]["code"] == "IM"
    assert dosage["site"]["coding"][0] == {"system": V2_0163, "code": "LG", "display": "Left Gluteus Medius"}
    # coded by the sender in table 0163: kept as coded
    text = omp("ORC|NW|CP506^HIS", "RXO|YP012^青霉素钠^L|80||万U", "RXR|IM|LD^左三角肌^HL70163")
    site = dosage_of(convert(converter, text))["site"]
    assert site == {"coding": [{"system": V2_0163, "code": "LD", "display": "左三角肌"}], "text": "左三角肌"}


def test_an_unknown_route_and_a_hospital_drug_code_are_reported(converter):
    # 静脉泵入 (by syringe pump) is in no route table; YP013 is the hospital's own drug code: both kept and reported
    bundle, report = with_report(
        converter, omp("ORC|NW|CP507^HIS", "TQ1|1||q8h", "RXO|YP013^盐酸胺碘酮注射液^L|150||mg", "RXR|静脉泵入")
    )
    assert dosage_of(bundle)["route"] == {"coding": [{"code": "静脉泵入"}]}
    assert one(bundle, "Medication")["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "YP013", "display": "盐酸胺碘酮注射液"}],
        "text": "盐酸胺碘酮注射液",
    }
    route = {"code": "unmapped-local-code", "table": "local-routes", "value": "静脉泵入", "location": "RXR^1^1"}
    assert route in report
    assert {
        "code": "unmapped-local-code",
        "table": "local-drugs",
        "value": "YP013",
        "system": "L",
        "display": "盐酸胺碘酮注射液",
        "location": "RXO^1^1",
    } in report


def test_a_standard_drug_code_is_not_reported(converter):
    bundle, report = with_report(converter, omp("ORC|NW|CP508^HIS", "RXO|197361^Amlodipine 5 MG^RXNORM|5||mg"))
    assert one(bundle, "Medication")["code"]["coding"][0]["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert not [entry for entry in report if entry.get("table") == "local-drugs"]


def test_an_orm_pharmacy_order_with_its_timing_in_orc_7(converter):
    # v2.3 ORM^O01: no TQ1; ORC-7 TQ quantity 1, interval 饭后两次 (no code), duration D7 (seven days);
    # RXO-2/4 100 mg, RXR-1 口服
    text = orm(
        "ORC|NW|ORD5001^HIS|||||1^饭后两次^D7",
        "RXO|YP002^阿司匹林肠溶片^L|100||mg|片",
        "RXR|口服",
        version="2.3",
    )
    bundle = convert(converter, text)
    dosage = dosage_of(bundle)
    assert dosage["timing"] == {
        "code": {"text": "饭后两次"},
        "repeat": {"boundsDuration": {"value": 7, "unit": "d", "system": UCUM, "code": "d"}},
    }
    assert dosage["route"]["coding"][0]["code"] == "PO"
    assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    # X10: ten times, a count (and a coded frequency)
    text = orm("ORC|NW|ORD5002^HIS|||||1^BID^X10", "RXO|YP002^阿司匹林肠溶片^L|100||mg", version="2.3")
    timing = dosage_of(convert(converter, text))["timing"]
    assert timing["code"]["coding"][0]["code"] == "BID"
    assert timing["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d", "count": 10}


def test_an_orm_pharmacy_order_with_explicit_times(converter):
    # TQ1-4 explicit times 08:00 and 20:00 with 每日两次 (BID): the times of day are kept
    text = orm("ORC|NW|ORD5003^HIS", "TQ1|1||每日两次|0800~2000", "RXO|YP002^阿司匹林肠溶片^L|100||mg", "RXR|口服")
    repeat = dosage_of(convert(converter, text))["timing"]["repeat"]
    assert repeat["timeOfDay"] == ["08:00:00", "20:00:00"]
    assert repeat["frequency"] == 2
