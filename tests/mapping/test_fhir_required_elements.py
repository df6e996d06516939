"""A resource that FHIR R4 requires an element of, and that the message gives no value for (an allergy in an order
message without its patient, an appointment with no one and nothing taking part): the message is refused with a
ConversionError at the segment the resource is made of, never converted to a Bundle that is not valid R4."""

from __future__ import annotations

import pytest

from hub.errors import ConversionError
from hub.hl7 import er7

MSH = "MSH|^~\\&|HIS|H1|HUB|CITY|20260315083000||{}|C1|P|2.5.1"


def message(kind: str, *segments: str) -> str:
    return "\r".join([MSH.format(kind), *segments]) + "\r"


def refused(converter, text: str) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text))
    return caught.value


def test_an_allergy_without_a_patient_is_refused_at_its_segment(converter):
    # the PATIENT group of an order message is optional: a PD1 opens it without a PID, and no order is made
    text = message("RDE^O11^RDE_O11", "PD1|||市医院^^H1", "AL1|1|DA|PCN^青霉素^L", "ORC|NW|RX1^HIS")
    error = refused(converter, text)
    assert error.location == "AL1^1"
    assert "AllergyIntolerance.patient" in error.message


@pytest.mark.parametrize("resource", ["AIG|1||", "AIL|1||", "AIP|1||", "AIS|1||", "AIG|1|D|EQ1^超声仪"])
def test_an_appointment_with_no_participant_is_refused(converter, resource):
    # no patient, and a resource that names no one (or is taken off the appointment): R4 needs a participant
    sch = "SCH|P1^HIS|F1^RIS||||||||||||||||||||||||Booked"
    error = refused(converter, message("SIU^S12^SIU_S12", sch, "RGS|1", resource))
    assert error.location == "SCH^1"
    assert "Appointment.participant" in error.message
