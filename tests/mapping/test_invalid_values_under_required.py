"""An invalid value below an element FHIR requires: left out and reported when that cannot make the output invalid
R4 (the containers above it certain to exist anyway), refused only where it could.

Before, an invalid value anywhere below a required first element (DocumentReference.content …) refused the whole
message: an MDM^T02 with an impossible TXA-6 (read into content.attachment.creation, an optional leaf) was lost.
"""

from __future__ import annotations

import pytest

from hub.errors import ConversionError
from hub.hl7 import er7

from .conftest import convert, one, with_report
from .test_mdm import mdm
from .test_siu import siu


def txa(origination: str) -> str:
    # TXA-2 document type, TXA-4 activity time, TXA-6 origination time (the one that is invalid here), TXA-12 the
    # unique document number, TXA-16 the file name, TXA-17 completion status, TXA-19 availability
    return f"TXA|1|DS^出院小结^HL70270|TX|202603200900||{origination}||||||DOC-1^EMR||||ds1.txt|AU||AV"


def invalid_at(report: list[dict[str, str]], location: str) -> list[str]:
    return [e["detail"] for e in report if e["code"] == "invalid-value" and e["location"] == location]


@pytest.mark.parametrize("origination", ["2026-13-45", "20261345"])
def test_an_invalid_origination_time_leaves_the_attachment_without_creation(converter, origination):
    text = mdm("T02", "OBX|1|TX|DS||患者一般情况良好||||||F", txa=txa(origination))
    bundle, report = with_report(converter, text)
    document = one(bundle, "DocumentReference")
    (content,) = document["content"]
    assert content["attachment"]["contentType"] == "text/plain" and "creation" not in content["attachment"]
    # TXA-6 is read twice: the document's date (then TXA-4's time) and the attachment's creation, each left out
    assert document["date"] == "2026-03-20T09:00:00+08:00"
    details = invalid_at(report, "TXA^1^6")
    assert [d for d in details if "attachment.creation" in d] == ["TXA-6 → attachment.creation: month out of range"]
    assert origination not in str(report)
    # strict conversion still refuses it
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai", strict=True)
    assert caught.value.location == "TXA^1^6"


@pytest.mark.parametrize("obx", ["OBX|1|ED|DS||EMR^AP^PDF^Base64^JVBERi0=||||||F", "OBX|1|RP|DS||||||||F"])
def test_every_content_item_keeps_its_attachment(converter, obx):
    # an ED, a reference pointer with no pointer: the attachment is certain (a content type), so an invalid TXA-6
    # is left out there too; a lone empty RP no longer leaves the DocumentReference without its required content
    for origination in ("20261345", ""):
        text = mdm("T02", obx, txa=txa(origination))
        bundle, report = with_report(converter, text)
        (content,) = one(bundle, "DocumentReference")["content"]
        assert content["attachment"]["contentType"] in ("application/pdf", "application/octet-stream")
        assert "creation" not in content["attachment"]
        assert bool(invalid_at(report, "TXA^1^6")) == bool(origination)


def test_a_repeating_ed_leaves_out_creation_item_by_item(converter):
    text = mdm("T02", "OBX|1|ED|DS||EMR^AP^PDF^Base64^JVBERi0=~EMR^IM^JPEG^Base64^/9j/||||||F", txa=txa("20261345"))
    bundle, report = with_report(converter, text)
    contents = one(bundle, "DocumentReference")["content"]
    assert [c["attachment"]["contentType"] for c in contents] == ["application/pdf", "image/jpeg"]
    assert all("creation" not in c["attachment"] for c in contents)
    assert invalid_at(report, "TXA^1^6")


def test_a_notification_without_content_whose_attachment_is_not_certain_is_still_refused(converter):
    # no OBX: the attachment describing the document may hold nothing but TXA-6's creation (its type, number,
    # file name and title may all be absent while the data-absent mark's condition does not hold), so leaving an
    # invalid TXA-6 out could leave DocumentReference.content empty: refused, where the invalid value is
    text = mdm("T01", txa=txa("20261345"))
    with pytest.raises(ConversionError) as caught:
        convert(converter, text)
    assert caught.value.location == "TXA^1^6" and "attachment.creation" in caught.value.message


def test_an_invalid_participant_time_keeps_the_participant(converter):
    # Appointment.participant is required: the participant stays (its status is certain), its period is left out
    # AIP-3 person, AIP-4 role, AIP-6 start date/time (no date), AIP-12 filler status
    text = siu("S12", extra=("AIP|2||D002^赵^六|RAD^Radiologist||20261345||||||Booked",))
    bundle, report = with_report(converter, text)
    appointment = one(bundle, "Appointment")
    (person,) = [p for p in appointment["participant"] if p.get("actor", {}).get("display") == "赵六"]
    assert "period" not in person and person["status"] == "accepted"
    assert invalid_at(report, "AIP^2^6")
