"""VXU^V04: a dose not administered and why, as the CDC immunization guide sends it.

RXA-20 NA (not administered), often with RXA-5 CVX 998 "no vaccine administered" and RXA-6 999; the reason is not
RXA-18 (a refusal reason, RXA-20 RE) but an OBX of the order: 59784-9 disease with presumed immunity and 75505-8
serological evidence of immunity (R4 immunization-status-reason IMMUNE), 30945-0 vaccination contraindication or
precaution (MEDPREC). Immunization.status not-done, statusReason the translated reason with the sender's coding of
the OBX value after it; the OBX stays an Observation partOf the Immunization.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, ref, resources
from .order_messages import message, msh, orc, pid
from .test_immunization import rxa

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SNOMED = "http://snomed.info/sct"
IMMUNE = {"system": ACT_REASON, "code": "IMMUNE", "display": "immunity"}
MEDPREC = {"system": ACT_REASON, "code": "MEDPREC", "display": "medical precaution"}

NO_VACCINE = "998^No vaccine administered^CVX"
# OBX-3 what the observation is about, OBX-4 sub-id, OBX-5 its value (a SNOMED CT code)
VARICELLA_IMMUNE = "OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F"
HEP_B_TITRE = "OBX|1|CE|75505-8^Serological evidence of immunity^LN|1|271511000^Hepatitis B immune^SCT||||||F"
EGG_ALLERGY = "OBX|1|CE|30945-0^Vaccination contraindication^LN|1|91930004^Allergy to eggs^SCT||||||F"


def record(converter, *observations: str, **rxa_fields: str) -> dict:
    # ORC-3 the record's id; the RXA as test_immunization's (a hepatitis B dose given) with the fields given
    order = (orc(f1="RE", f2="", f3="IZ-3001"), rxa(**rxa_fields))
    return convert(converter, message(msh("VXU", "V04", "VXU_V04", "VXN1"), pid(), *order, *observations))


def not_given(converter, *observations: str, **rxa_fields: str) -> dict:
    return one(record(converter, *observations, **rxa_fields), "Immunization")


def test_not_administered_for_presumed_immunity(converter):
    shot = not_given(converter, VARICELLA_IMMUNE, f20="NA", f5=NO_VACCINE, f6="999")
    assert shot["status"] == "not-done"
    assert shot["statusReason"] == {
        "coding": [IMMUNE, {"system": SNOMED, "code": "38907003", "display": "Varicella infection"}],
        "text": "Varicella infection",
    }
    assert "doseQuantity" not in shot  # 999: unknown


def test_not_administered_for_serological_evidence_of_immunity(converter):
    shot = not_given(converter, HEP_B_TITRE, f20="NA")
    assert shot["statusReason"]["coding"][0] == IMMUNE
    assert shot["statusReason"]["coding"][1]["code"] == "271511000"


def test_not_administered_for_a_contraindication(converter):
    shot = not_given(converter, EGG_ALLERGY, f20="NA")
    assert shot["status"] == "not-done"
    assert shot["statusReason"] == {
        "coding": [MEDPREC, {"system": SNOMED, "code": "91930004", "display": "Allergy to eggs"}],
        "text": "Allergy to eggs",
    }


def test_a_contraindication_written_as_text(converter):
    shot = not_given(converter, "OBX|1|ST|30945-0^禁忌症^LN|1|鸡蛋过敏||||||F", f20="NA")
    assert shot["statusReason"] == {"coding": [MEDPREC], "text": "鸡蛋过敏"}


def test_cvx_998_without_a_completion_status_is_not_done(converter):
    # the CDC guide's "no vaccine administered" says the dose was not given even when RXA-20 is left empty
    shot = not_given(converter, VARICELLA_IMMUNE, f20="", f5=NO_VACCINE, f6="999")
    assert shot["status"] == "not-done"
    assert shot["statusReason"]["coding"][0] == IMMUNE
    # … and a record deleted (RXA-21 D) is entered in error whatever it says
    assert not_given(converter, f20="", f21="D", f5=NO_VACCINE)["status"] == "entered-in-error"


def test_a_contraindication_observed_on_a_dose_given_is_no_reason(converter):
    shot = not_given(converter, EGG_ALLERGY, f20="CP")
    assert shot["status"] == "completed" and "statusReason" not in shot


def test_the_refusal_reason_wins_over_an_obx(converter):
    shot = not_given(converter, VARICELLA_IMMUNE, f20="NA", f18="00^家长拒绝^NIP002")
    assert shot["statusReason"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:NIP002", "code": "00", "display": "家长拒绝"}],
        "text": "家长拒绝",
    }


def test_the_first_reason_is_the_reason(converter):
    shot = not_given(converter, EGG_ALLERGY, VARICELLA_IMMUNE.replace("OBX|1|", "OBX|2|"), f20="NA")
    assert shot["statusReason"]["coding"][0] == MEDPREC


def test_the_reason_stays_an_observation_of_the_record(converter):
    bundle = record(converter, VARICELLA_IMMUNE, f20="NA", f5=NO_VACCINE)
    shot, observation = one(bundle, "Immunization"), one(bundle, "Observation")
    assert observation["partOf"] == [ref(shot)]
    assert observation["code"]["coding"][0]["code"] == "59784-9"
    assert len(resources(bundle, "Immunization")) == 1
