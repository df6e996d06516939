"""A v2 number keeps its digits in FHIR: OBX-5 ``1.50`` is the decimal 1.50, not 1.5 (FHIR R4 datatypes, decimal:
the precision is part of the value). Quantities, reference ranges, structured numerics and amounts alike."""

from __future__ import annotations

import orjson

from hub.fhir import jsoncodec
from hub.fhir.jsoncodec import FhirDecimal

from .conftest import convert, resources
from .order_messages import orc
from .test_oru import HEADER, obx
from .test_pharmacy import rde, rxe

OBSERVATIONS = [
    obx(1, "NM", "2823-3^Potassium^LN", "1.50", "mmol/L", "3.90-6.10", "L"),
    obx(2, "NM", "1988-5^CRP^LN", "0.10", "mg/L", "<0.50"),
    obx(3, "SN", "5195-3^HBsAg^LN", "<^0.050", "IU/mL"),
    obx(4, "SN", "2000-8^Calcium range^LN", "^2.10^-^2.60", "mmol/L"),
    obx(5, "SN", "5196-1^HBsAg titer^LN", "^1^:^128"),
    obx(6, "NM", "2160-0^Creatinine^LN", "+007.50", "umol/L", "45-84"),
    obx(7, "NM", "2951-2^Sodium^LN", ".5", "mmol/L"),
    obx(8, "NM", "718-7^Hemoglobin^LN", "132", "g/L", "115-150"),
    obx(9, "MO", "73586-6^Price^LN", "12.50^CNY"),
    obx(10, "NM", "2345-7^Glucose^LN", "5.60", "mmol/L", "3.90--6.10"),  # a doubled separator
]


def _bundle(converter):
    return convert(converter, "\r".join([*HEADER, *OBSERVATIONS]) + "\r")


def _by_code(bundle, code):
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code]
    return found


def _same(value, text):
    """``value`` is a FhirDecimal of exactly ``text`` (and equal to its float, as any number is compared)."""
    assert isinstance(value, FhirDecimal), repr(value)
    assert value.text == text
    assert value == float(text)


def test_quantities_and_reference_ranges_keep_their_digits(converter):
    bundle = _bundle(converter)
    potassium = _by_code(bundle, "2823-3")
    _same(potassium["valueQuantity"]["value"], "1.50")
    _same(potassium["referenceRange"][0]["low"]["value"], "3.90")
    _same(potassium["referenceRange"][0]["high"]["value"], "6.10")
    assert potassium["referenceRange"][0]["text"] == "3.90-6.10"
    crp = _by_code(bundle, "1988-5")
    _same(crp["valueQuantity"]["value"], "0.10")
    _same(crp["referenceRange"][0]["high"]["value"], "0.50")
    glucose = _by_code(bundle, "2345-7")["referenceRange"][0]
    _same(glucose["low"]["value"], "3.90")
    _same(glucose["high"]["value"], "6.10")


def test_structured_numerics_keep_their_digits(converter):
    bundle = _bundle(converter)
    hbsag = _by_code(bundle, "5195-3")["valueQuantity"]
    assert hbsag["comparator"] == "<"
    _same(hbsag["value"], "0.050")
    calcium = _by_code(bundle, "2000-8")["valueRange"]
    _same(calcium["low"]["value"], "2.10")
    _same(calcium["high"]["value"], "2.60")
    titer = _by_code(bundle, "5196-1")["valueRatio"]
    assert titer["numerator"]["value"] == 1 and type(titer["numerator"]["value"]) is int
    assert titer["denominator"]["value"] == 128 and type(titer["denominator"]["value"]) is int


def test_v2_spellings_json_does_not_allow_are_written_as_json_numbers(converter):
    """v2's NM allows a sign, leading zeros and a bare leading point; JSON does not: the digits after the point
    are kept, the rest is JSON's spelling of the same number."""
    bundle = _bundle(converter)
    _same(_by_code(bundle, "2160-0")["valueQuantity"]["value"], "7.50")
    _same(_by_code(bundle, "2951-2")["valueQuantity"]["value"], "0.5")
    _same(_by_code(bundle, "73586-6")["valueQuantity"]["value"], "12.50")


def test_integers_stay_integers(converter):
    bundle = _bundle(converter)
    hemoglobin = _by_code(bundle, "718-7")
    assert type(hemoglobin["valueQuantity"]["value"]) is int
    assert [type(hemoglobin["referenceRange"][0][k]["value"]) for k in ("low", "high")] == [int, int]


def test_the_bundle_bytes_carry_the_digits_as_sent(converter):
    data = jsoncodec.dumps(_bundle(converter), option=orjson.OPT_SORT_KEYS)
    for text in (b'"value":1.50', b'"value":3.90', b'"value":6.10', b'"value":0.10', b'"value":0.050'):
        assert text in data
    assert b'"value":2.10' in data and b'"value":2.60' in data and b'"value":12.50' in data
    assert jsoncodec.dumps(jsoncodec.loads(data), option=orjson.OPT_SORT_KEYS) == data


def _decimal_texts(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*map(_decimal_texts, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_decimal_texts, value)) if value else set()
    return {value.text} if isinstance(value, FhirDecimal) else set()


def test_dose_amounts_and_strengths_keep_their_digits(converter):
    # RXE-3 give amount, RXE-19 total daily dose, RXE-25 give strength
    order = rde(orc(f2="RX100^HIS", f3=""), rxe(f3="0.50", f19="1.50^g", f25="0.250"), "RXR|PO^口服^HL70162")
    bundle = convert(converter, order)
    request = resources(bundle, "MedicationRequest")[0]
    dose = request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    _same(dose["value"], "0.50")
    assert {"0.50", "1.50", "0.250"} <= _decimal_texts(bundle)
