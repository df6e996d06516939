"""REF^I12…I15 → the referral ServiceRequest, its providers (Practitioner, Organization from PRD) and context."""

from __future__ import annotations

import pytest

from tests.support.paths import CORPUS

from .conftest import convert, one, ref, resources, with_report


def ref_message(event: str, rf1: str | None = None) -> str:
    segments = [
        f"MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||REF^{event}^REF_I12|R{event}|P|2.5.1",
        # RF1-1 status (0283), RF1-2 priority (0280), RF1-3 type (0281), RF1-6 originating referral id,
        # RF1-7 effective date, RF1-10 reason, RF1-11 external referral id
        rf1
        or "RF1|A^Accepted^HL70283|S^STAT^HL70280|Med^Medical^HL70281|||R-1^HIS|20260315|||C^Consult^HL70336|X-9^CITY",
        # PRD-1 role (RP referring, RT referred to), PRD-2 name, PRD-3 address, PRD-5 phone, PRD-7 identifier
        # (number^type), PRD-10 organization (v2.7+)
        "PRD|RP^Referring Provider^HL70286|王^五|深南大道1号^^深圳市||0755-1234^WPN^PH||D001^SL",
        "PRD|RT^Referred to Provider^HL70286|李^四|||||D777^SL|||市人民医院^^^^^^^^^ORG-9",
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
        "DG1|1||I10^Essential hypertension^I10|||F",
        "IN1|1|PLAN1|C001^^^SZRMYY|深圳医保局",
        "PV1|1|O|||||||||||||||||V0001^^^SZRMYY^VN",
    ]
    return "\r".join(segments) + "\r"


def test_i12_referral_field_by_field(converter):
    bundle = convert(converter, ref_message("I12"))
    referral, patient = one(bundle, "ServiceRequest"), one(bundle, "Patient")
    referring, referred = resources(bundle, "Practitioner")
    [organization] = [o for o in resources(bundle, "Organization") if o.get("name") == "市人民医院"]
    assert referral["status"] == "active" and referral["intent"] == "order"
    assert referral["priority"] == "stat"
    assert referral["identifier"][0]["value"] == "R-1"
    assert referral["identifier"][0]["type"]["coding"][0]["code"] == "PLAC"
    assert referral["identifier"][1] == {"system": "urn:hub:id:CITY", "value": "X-9"}
    assert referral["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0281",
        "code": "Med",
        "display": "Medical",
    }
    assert referral["subject"] == ref(patient)
    assert referral["encounter"] == ref(one(bundle, "Encounter"))
    assert referral["authoredOn"] == "2026-03-15"
    assert referral["reasonCode"][0]["coding"][0]["code"] == "C"
    assert referral["requester"] == ref(referring)
    assert referral["performer"] == [ref(referred), ref(organization)]
    assert referral["reasonReference"] == [ref(one(bundle, "Condition"))]
    assert referral["insurance"] == [ref(one(bundle, "Coverage"))]
    assert referring["name"][0]["text"] == "王五"
    assert referring["identifier"][0]["value"] == "D001" and referring["identifier"][0]["type"] == {"text": "SL"}
    assert referring["telecom"][0]["value"] == "0755-1234"
    assert organization["identifier"][0]["value"] == "ORG-9"


@pytest.mark.parametrize(("event", "status"), [("I12", "active"), ("I13", "active"), ("I14", "revoked")])
def test_events_name_the_same_referral(converter, event, status):
    referral = one(convert(converter, ref_message(event)), "ServiceRequest")
    assert referral["status"] == status
    assert referral["id"] == one(convert(converter, ref_message("I12")), "ServiceRequest")["id"]


@pytest.mark.parametrize(("code", "status"), [("P", "active"), ("R", "revoked"), ("E", "revoked"), ("", "unknown")])
def test_referral_status(converter, code, status):
    rf1 = f"RF1|{code}|||||R-1^HIS"
    assert one(convert(converter, ref_message("I12", rf1)), "ServiceRequest")["status"] == status


def test_the_same_provider_in_two_referrals_is_one_practitioner(converter):
    first = resources(convert(converter, ref_message("I12")), "Practitioner")
    other = ref_message("I12", "RF1|A|||||R-2^HIS")
    assert [p["id"] for p in resources(convert(converter, other), "Practitioner")] == [p["id"] for p in first]


def test_every_corpus_referral_converts(converter):
    count = 0
    for path in sorted(CORPUS.rglob("REF-*.hl7")):
        bundle = convert(converter, path.read_bytes().decode("utf-8-sig"))
        referral = one(bundle, "ServiceRequest")
        assert referral["requester"]["reference"].startswith("Practitioner/"), path.name
        assert resources(bundle, "Practitioner")
        count += 1
    assert count == 4


def test_the_observations_sent_with_a_referral(converter):
    # OBSERVATION group: a report per OBR (status OBR-25), its OBX its results; the referral's supporting info.
    # The OBR is no order of the referral: no ServiceRequest besides the referral.
    results = (
        "OBR|1|P-1^HIS|F-1^LIS|22310-7^H. pylori Ab^LN|||202601200900" + "|" * 18 + "F\r"
        "OBX|1|ST|22310-7^H. pylori Ab^LN||Positive||||||F|||202601201000\r"
        "NTE|1||阳性\r"
        "OBR|2|P-2^HIS|F-2^LIS|8867-4^Heart rate^LN\r"
        "OBX|1|NM|8867-4^Heart rate^LN||72|/min|60-100|N|||F\r"
    )
    text = ref_message("I12").replace("PV1|", results + "PV1|", 1)
    bundle = convert(converter, text)
    referral = one(bundle, "ServiceRequest")
    first, second = resources(bundle, "DiagnosticReport")
    pylori, pulse = resources(bundle, "Observation")
    assert first["status"] == "final" and first["code"]["coding"][0]["code"] == "22310-7"
    assert first["result"] == [ref(pylori)] and second["result"] == [ref(pulse)]
    assert pylori["valueString"] == "Positive" and pylori["note"] == [{"text": "阳性"}]
    assert pulse["valueQuantity"]["value"] == 72
    assert pylori["subject"] == ref(one(bundle, "Patient"))
    assert referral["supportingInfo"] == [ref(first), ref(second)]
    assert "supportingInfo" not in one(convert(converter, ref_message("I12")), "ServiceRequest")


def test_the_participations_of_a_referrals_results_are_read(converter):
    # v2.8 REF_I12 gives each result of the OBSERVATION group its PRT (RESULTS_NOTES: OBX, PRT*, NTE*); v2.9 also
    # the order's (OBSERVATION: OBR, PRT*, NTE*). They were unplaced (converted to nothing, reported).
    text = (
        ref_message("I12")
        .replace("|P|2.5.1", "|P|2.8")
        .replace(
            "PV1|",
            "\r".join(
                [
                    "OBR|1|||22310-7^H. pylori Ab^LN|||20260314120000",
                    # PRT-4 PRI principal result interpreter (table 0912), PRT-5 the person
                    "PRT|1|AD||PRI^Principal Result Interpreter^HL70912|D300^赵^六",
                    "OBX|1|ST|22310-7^H. pylori Ab^LN||Positive||||||F",
                    # PRT-4 RO responsible observer: the result's performer (IG ORU_R01 row 4.2.4.3.2)
                    "PRT|2|AD||RO^Responsible Observer^HL70912|D200^钱^七",
                    "PV1|",
                ]
            ),
            1,
        )
    )
    bundle, report = with_report(converter, text)
    assert [e for e in report if e["code"] == "unplaced-segment"] == []
    observation, report_resource = one(bundle, "Observation"), one(bundle, "DiagnosticReport")
    assert [p["identifier"]["value"] for p in observation["performer"]] == ["D200"]
    assert [p["identifier"]["value"] for p in report_resource["resultsInterpreter"]] == ["D300"]


def test_the_referrals_notes(converter):
    # v2.5.1 REF_I12 ends with the referral's notes (NTE*, after PATIENT_VISIT): IG NTE[ServiceRequest], NTE-3
    # text, NTE-5 who entered it, NTE-6 when. They were converted to nothing and nobody was told.
    text = ref_message("I12") + "NTE|1||建议行冠脉造影\rNTE|2||请携带既往心电图||D001^王^五|20260315090000\r"
    bundle, report = with_report(converter, text)
    referral = one(bundle, "ServiceRequest")
    assert referral["note"] == [
        {"text": "建议行冠脉造影"},
        {
            "text": "请携带既往心电图",
            "authorReference": {"identifier": {"value": "D001"}, "display": "王五"},
            "time": "2026-03-15T09:00:00+08:00",
        },
    ]
    assert report == []
    # the notes of a result stay the result's
    results = "OBR|1|||22310-7^H. pylori Ab^LN\rOBX|1|ST|22310-7^H. pylori Ab^LN||Positive||||||F\rNTE|1||阳性\r"
    bundle = convert(converter, ref_message("I12").replace("PV1|", results + "PV1|", 1))
    assert "note" not in one(bundle, "ServiceRequest")
    assert one(bundle, "Observation")["note"] == [{"text": "阳性"}]
