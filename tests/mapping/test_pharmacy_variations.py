"""Pharmacy messages as real senders vary them: where the timing is, how frequency and route are written (codes,
Chinese words, words no table knows), the v2.3 TQ, hospital drug codes.

Each test is one message a sender could send, converted by the shipped mappings and checked field by field
(``convert`` validates every Bundle against the R4 schema and the R4B models); what the operator must map is in
the conversion report.
"""

from __future__ import annotations

from .conftest import convert, dosage_of, one, with_report

UCUM = "http://unitsofmeasure.org"
ROUTE_V3 = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"

PATIENT = "PID|1||MRN001^^^SZRMYY^MR||李四||19700101|M"


def rde(*order: str, version: str = "2.5", event: str = "O11", structure: str = "RDE_O11") -> str:
    msh = f"MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260315083000||RDE^{event}^{structure}|RDE1|P|{version}"
    return "\r".join([msh, PATIENT, "PV1|1|O|内科门诊", *order])


def test_the_one_timing_after_orc_is_the_encoded_orders_timing(converter):
    # v2.5 senders with one timing put it in the order's TIMING group (TQ1 right after ORC), not after RXE:
    # TQ1-3 "tid" (lower case), TQ1-7/8 start and end; RXE-3/5 0.5 g, RXE-10/11 24 粒, RXE-12 2 refills
    bundle = convert(
        converter,
        rde(
            "ORC|NW|ORD1001^HIS|||||||20260315080000|||D001^王医生",
            "TQ1|1||tid||||20260315|20260322",
            "RXE||YP001^阿莫西林胶囊^L|0.5||g|CAP^胶囊^L|||N|24|粒|2",
            "RXR|口服",
        ),
    )
    dosage = dosage_of(bundle)
    assert dosage["timing"]["repeat"] == {
        "frequency": 3,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15", "end": "2026-03-22"},
    }
    assert dosage["timing"]["code"]["coding"][0]["code"] == "TID"
    assert dosage["route"]["coding"][0] == {"system": ROUTE_V3, "code": "PO", "display": "Swallow, oral"}
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 0.5, "unit": "g", "system": UCUM, "code": "g"}
    request = one(bundle, "MedicationRequest")
    assert request["dispenseRequest"] == {
        "validityPeriod": {"start": "2026-03-15", "end": "2026-03-22"},
        "numberOfRepeatsAllowed": 2,
        "quantity": {"value": 24, "unit": "粒"},
    }
    assert request["requester"]["display"] == "王医生"


def test_the_encoded_orders_own_timing_wins_over_the_orders(converter):
    # the pharmacy changed the frequency: the TQ1 after RXE (q8h) is the encoded order's, the order's (bid) is not
    bundle = convert(
        converter,
        rde("ORC|XO|ORD1001^HIS", "TQ1|1||bid", "RXE||YP001^阿莫西林胶囊^L|0.5||g", "TQ1|1||q8h", "RXR|PO"),
    )
    assert dosage_of(bundle)["timing"]["repeat"] == {"frequency": 1, "period": 8, "periodUnit": "h"}


def test_a_service_duration_bounds_the_timing(converter):
    # TQ1-6 service duration 7 天 (days), no start or end: the timing lasts seven days (a UCUM time unit)
    bundle = convert(converter, rde("ORC|NW|ORD1002", "RXE||YP001^阿莫西林胶囊^L|0.5||g", "TQ1|1||每日三次|||7^天"))
    repeat = dosage_of(bundle)["timing"]["repeat"]
    assert repeat == {
        "frequency": 3,
        "period": 1,
        "periodUnit": "d",
        "boundsDuration": {"value": 7, "unit": "天", "system": UCUM, "code": "d"},
    }


def test_a_service_duration_in_a_unit_of_no_time_is_left_out(converter):
    # FHIR drt-1: a Duration needs a UCUM time code; "7^盒" (boxes) is no duration
    bundle = convert(converter, rde("ORC|NW|ORD1003", "RXE||YP001^阿莫西林胶囊^L|0.5||g", "TQ1|1||bid|||7^盒"))
    assert "boundsDuration" not in dosage_of(bundle)["timing"]["repeat"]


def test_a_frequency_no_table_knows_stays_text(converter):
    # "饭后每日两次" (twice a day after meals) is no code: Timing.code keeps it as text, not as a code without
    # a system; a Chinese frequency the table knows (每日两次) is coded BID
    bundle = convert(converter, rde("ORC|NW|ORD1004", "RXE||YP002^阿司匹林肠溶片^L|100||mg", "TQ1|1||饭后每日两次"))
    assert dosage_of(bundle)["timing"] == {"code": {"text": "饭后每日两次"}}
    bundle = convert(converter, rde("ORC|NW|ORD1005", "RXE||YP002^阿司匹林肠溶片^L|100||mg", "TQ1|1||每日两次"))
    timing = dosage_of(bundle)["timing"]
    assert timing["code"]["coding"][0]["code"] == "BID"
    assert timing["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    # Q12H: its repeat is understood, its code (no GTS abbreviation) kept as text
    bundle = convert(converter, rde("ORC|NW|ORD1006", "RXE||YP003^头孢呋辛钠^L|1.5||g", "TQ1|1||Q12H"))
    timing = dosage_of(bundle)["timing"]
    assert timing == {"code": {"text": "Q12H"}, "repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}


def test_chinese_route_names_translate_and_an_unknown_route_is_reported(converter):
    for word, code in (("肌内注射", "IM"), ("静脉推注", "IVINJ"), ("皮下", "SQ"), ("冲服", "PO")):
        text = rde("ORC|NW|ORD2001", "RXE||YP003^头孢呋辛钠^L|1.5||g", f"RXR|{word}")
        route = dosage_of(convert(converter, text))["route"]
        assert route["coding"][0]["code"] == code, word
        assert route["coding"][1] == {"code": word}
    # 静脉泵入 (by syringe pump) is in no table: kept as sent and reported, so the hospital's overlay can map it
    bundle, report = with_report(converter, rde("ORC|NW|ORD2002", "RXE||YP003^头孢呋辛钠^L|1.5||g", "RXR|静脉泵入"))
    assert dosage_of(bundle)["route"] == {"coding": [{"code": "静脉泵入"}]}
    reported = {"code": "unmapped-local-code", "table": "local-routes", "value": "静脉泵入", "location": "RXR^1^1"}
    assert reported in report


def test_a_route_of_a_standard_system_is_kept_and_not_reported(converter):
    # an NCIt route (C38288 oral) is a standard code: kept with its system, nothing to map
    bundle, report = with_report(converter, rde("ORC|NW|ORD2003", "RXE||YP001^阿莫西林^L|1||g", "RXR|C38288^ORAL^NCIT"))
    route = dosage_of(bundle)["route"]
    assert route["coding"] == [
        {"system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "code": "C38288", "display": "ORAL"}
    ]
    assert not [entry for entry in report if entry.get("table") == "local-routes"]


def test_a_hospital_drug_code_is_reported_and_a_standard_one_is_not(converter):
    bundle, report = with_report(converter, rde("ORC|NW|ORD3001", "RXE||YP001^阿莫西林胶囊^L|0.5||g"))
    assert one(bundle, "Medication")["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "YP001", "display": "阿莫西林胶囊"}],
        "text": "阿莫西林胶囊",
    }
    assert {
        "code": "unmapped-local-code",
        "table": "local-drugs",
        "value": "YP001",
        "system": "L",
        "display": "阿莫西林胶囊",
        "location": "RXE^1^2",
    } in report
    # an RxNorm code is no local code
    bundle, report = with_report(converter, rde("ORC|NW|ORD3002", "RXE||197361^Amlodipine 5 MG^RXNORM|5||mg"))
    assert one(bundle, "Medication")["code"]["coding"][0]["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert not [entry for entry in report if entry.get("table") == "local-drugs"]


def test_a_v23_order_with_its_timing_in_rxe_1_and_orc_7(converter):
    # v2.3 RDE^O01: no TQ1; RXE-1 TQ (quantity 1, interval "饭后两次" no code, start, end), ORC-7 the same order's
    # TQ with BID; RXE-3/5 100 mg, RXE-6 片 (tablet), RXE-10/11 30 片, RXE-12 0 refills
    text = rde(
        "ORC|NW|ORD4001|||||1^BID^^20260315080000^20260320080000",
        "RXE|1^饭后两次^^20260315080000^20260320080000|YP002^阿司匹林肠溶片^L|100||mg|片|||N|30|片|0",
        "RXR|口服",
        version="2.3",
        event="O01",
        structure="RDE_O01",
    )
    bundle = convert(converter, text)
    dosage = dosage_of(bundle)
    # RXE-1's interval is text; the repeat comes from ORC-7's BID
    assert dosage["timing"]["code"] == {"text": "饭后两次"}
    assert dosage["timing"]["repeat"]["frequency"] == 2
    assert dosage["timing"]["repeat"]["boundsPeriod"] == {
        "start": "2026-03-15T08:00:00+08:00",
        "end": "2026-03-20T08:00:00+08:00",
    }
    assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    request = one(bundle, "MedicationRequest")
    assert request["dispenseRequest"]["numberOfRepeatsAllowed"] == 0
    assert request["dispenseRequest"]["quantity"] == {"value": 30, "unit": "片"}
    assert one(bundle, "Medication")["form"] == {"coding": [{"code": "片"}]}


def test_a_dispense_reads_the_orders_timing_and_keeps_an_uncoded_frequency_as_text(converter):
    msh = "MSH|^~\\&|PHARM|SZRMYY|HUB|CITY|20260316100000||RDS^O13^RDS_O13|RDS1|P|2.5"
    text = "\r".join(
        [
            msh,
            PATIENT,
            "ORC|RE|ORD1001^HIS|F5001^PHARM||CM",
            "TQ1|1||饭后每日两次",
            "RXE||YP001^阿莫西林胶囊^L|0.5||g",
            # RXD-1 first fill, RXD-3 when, RXD-4/5 amount, RXD-7 prescription number, RXD-10 pharmacist,
            # RXD-18 lot, RXD-19 expiry
            "RXD|1|YP001^阿莫西林胶囊^L|20260316095500|24|粒||RX0001|||P001^陈静||||||||B20260301|20280201",
            "RXR|口服",
        ]
    )
    bundle = convert(converter, text)
    dispense = one(bundle, "MedicationDispense")
    assert dispense["quantity"] == {"value": 24, "unit": "粒"}
    assert dispense["whenHandedOver"] == "2026-03-16T09:55:00+08:00"
    (dosage,) = dispense["dosageInstruction"]
    assert dosage["timing"] == {"code": {"text": "饭后每日两次"}}
    assert dosage["route"]["coding"][0]["code"] == "PO"
    dispensed = [m for m in bundle["entry"] if m["resource"]["resourceType"] == "Medication"]
    batches = [m["resource"].get("batch") for m in dispensed]
    assert {"lotNumber": "B20260301", "expirationDate": "2028-02-01"} in batches


def test_an_administration_on_the_ward(converter):
    msh = "MSH|^~\\&|NIS|SZRMYY|HUB|CITY|20260316100000||RAS^O17^RAS_O17|RAS1|P|2.5"
    # RXA-3/4 start and end of the infusion, RXA-5 the compound as the ward writes it, RXA-6/7 250 ml,
    # RXA-10 the nurse, RXA-15 lot, RXA-16 expiry, RXA-20 CP; RXR 静滴 (drip) on the left hand
    rxa = (
        "RXA|1|1|20260316090000|20260316093000|YP010^0.9%氯化钠注射液250ml+头孢呋辛钠1.5g^L|250|ml|||N01^张护士"
        "|||||B888|20270101||||CP"
    )
    text = "\r".join([msh, PATIENT, "PV1|1|I|5病区^12^3", "ORC|RE|ORD5001^HIS", rxa, "RXR|静滴|LA^左手^HL70163"])
    bundle, report = with_report(converter, text)
    administration = one(bundle, "MedicationAdministration")
    assert administration["status"] == "completed"
    assert administration["effectivePeriod"] == {
        "start": "2026-03-16T09:00:00+08:00",
        "end": "2026-03-16T09:30:00+08:00",
    }
    assert administration["performer"][0]["actor"]["display"] == "张护士"
    dosage = administration["dosage"]
    assert dosage["dose"] == {"value": 250, "unit": "ml", "system": UCUM, "code": "mL"}
    assert dosage["route"]["coding"][0] == {"system": ROUTE_V3, "code": "IVINJ", "display": "Injection, intravenous"}
    assert administration["request"] == {
        "type": "MedicationRequest",
        "identifier": {"system": "urn:hub:id:HIS", "value": "ORD5001"},
    }
    given = one(bundle, "Medication")
    # RXA-16 expiry (a date: Medication.batch.expirationDate is a dateTime, kept at day precision)
    assert given["batch"] == {"lotNumber": "B888", "expirationDate": "2027-01-01"}
    assert [entry["table"] for entry in report if entry["code"] == "unmapped-local-code"] == ["local-drugs"]


def test_a_give_with_an_uncoded_frequency_and_a_chinese_route(converter):
    msh = "MSH|^~\\&|PHARM|SZRMYY|HUB|CITY|20260316100000||RGV^O15^RGV_O15|RGV1|P|2.5"
    # RXG-3 the give's TQ (interval "饭后一次", start), RXG-4 the drug, RXG-5/7 0.5 g
    rxg = "RXG|1||^饭后一次^^20260316080000|YP001^阿莫西林胶囊^L|0.5||g"
    bundle, report = with_report(converter, "\r".join([msh, PATIENT, "ORC|RE|ORD6001^HIS", rxg, "RXR|口服"]))
    (dosage,) = one(bundle, "MedicationRequest")["dosageInstruction"]
    assert dosage["timing"] == {
        "code": {"text": "饭后一次"},
        "repeat": {"boundsPeriod": {"start": "2026-03-16T08:00:00+08:00"}},
    }
    assert dosage["route"]["coding"][0]["code"] == "PO"
    reported = [entry for entry in report if entry.get("table") == "local-drugs"]
    assert [(entry["value"], entry["location"]) for entry in reported] == [("YP001", "RXG^1^4")]


def test_dose_units_as_chinese_prescriptions_write_them(converter):
    # RXE-5 give units: Chinese words and the spellings of micro get their UCUM code; a tablet (片) is no UCUM unit
    for unit, code in (("毫克", "mg"), ("mcg", "ug"), ("μg", "ug"), ("国际单位", "[IU]"), ("ml", "mL")):
        bundle = convert(converter, rde("ORC|NW|ORD7001", f"RXE||YP020^某药^L|8||{unit}"))
        dose = dosage_of(bundle)["doseAndRate"][0]["doseQuantity"]
        assert dose == {"value": 8, "unit": unit, "system": UCUM, "code": code}, unit
    bundle = convert(converter, rde("ORC|NW|ORD7002", "RXE||YP002^阿司匹林肠溶片^L|1||片"))
    assert dosage_of(bundle)["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "片"}


def test_a_v23_tq_duration_bounds_or_counts_the_timing(converter):
    def repeat_of(tq: str) -> dict:
        text = rde(
            "ORC|NW|ORD8001",
            f"RXE|{tq}|YP002^阿司匹林肠溶片^L|100||mg",
            version="2.3",
            event="O01",
            structure="RDE_O01",
        )
        return dosage_of(convert(converter, text))["timing"]["repeat"]

    # TQ.3 D7: for seven days; X10: ten times; a start and end (TQ.4/5) say the bounds themselves
    assert repeat_of("1^TID^D7") == {
        "frequency": 3,
        "period": 1,
        "periodUnit": "d",
        "boundsDuration": {"value": 7, "unit": "d", "system": UCUM, "code": "d"},
    }
    assert repeat_of("1^Q8H^X10") == {"frequency": 1, "period": 8, "periodUnit": "h", "count": 10}
    assert repeat_of("1^BID^INDEF") == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert repeat_of("1^BID^D3^20260315^20260318")["boundsPeriod"] == {"start": "2026-03-15", "end": "2026-03-18"}
    assert "boundsDuration" not in repeat_of("1^BID^D3^20260315^20260318")


def test_a_give_amount_written_as_a_range_or_a_word_is_the_dosage_text(converter):
    # RXE-3 "1-2" (tablets), "适量" (a suitable amount, for an ointment) are no numbers: no dose, the amount as
    # written with its unit (RXE-5) and the instructions (RXE-7) is the text
    bundle = convert(converter, rde("ORC|NW|ORD9001", "RXE||YP030^布洛芬片^L|1-2||片||^疼痛时服用", "TQ1|1||PRN"))
    dosage = dosage_of(bundle)
    assert dosage["text"] == "1-2片 疼痛时服用"
    assert dosage["asNeededBoolean"] is True
    assert "doseAndRate" not in dosage
    bundle = convert(converter, rde("ORC|NW|ORD9002", "RXE||YP031^红霉素软膏^L|适量", "RXR|外用"))
    assert dosage_of(bundle)["text"] == "适量"
    # a number stays a dose, the instructions the text
    bundle = convert(converter, rde("ORC|NW|ORD9003", "RXE||YP030^布洛芬片^L|1||片||^疼痛时服用"))
    dosage = dosage_of(bundle)
    assert dosage["text"] == "疼痛时服用"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "片"}


def test_at_bedtime_with_an_explicit_time_keeps_only_the_when(converter):
    # TQ1-3 睡前 (at bedtime) says when; TQ1-4 21:00 would contradict it in FHIR (timeOfDay or when, not both)
    bundle = convert(converter, rde("ORC|NW|ORD9101", "RXE||YP040^艾司唑仑片^L|1||mg", "TQ1|1||睡前|2100"))
    repeat = dosage_of(bundle)["timing"]["repeat"]
    assert repeat == {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}
    # st: once, now
    bundle = convert(converter, rde("ORC|NW|ORD9102", "RXE||YP041^地塞米松注射液^L|5||mg", "TQ1|1||st"))
    assert dosage_of(bundle)["timing"]["repeat"] == {"count": 1}
