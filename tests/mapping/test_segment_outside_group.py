"""A required segment that is in the message but outside the group it belongs to is refused for what it is.

A pharmacy robot's dispense (RDS^O13) or a ward's administration record (RAS^O17) sent without the ORC that opens
each order (v2.5.1 ch. 4: ORC is required in the ORDER group of RDS_O13 and RAS_O17) leaves the RXD or RXA with no
order to sit in. The message is refused (segment sequence error, 100, at that segment), and the operator is told
that the segment is there but out of its group, which begins with ORC: not that the segment is missing, which
would send them looking for a segment that the message plainly has.
"""

from __future__ import annotations

import pytest

from hub.errors import ConversionError

from .conftest import convert
from .order_messages import message, msh, pid, segment


def _rxd() -> str:
    # RXD-1 dispense sub-id, RXD-2 the drug dispensed (local code, Chinese name), RXD-3 when, RXD-4/5 how much
    return segment("RXD", {1: "1", 2: "Y3001^阿莫西林胶囊^L", 3: "20260315093000", 4: "24", 5: "粒^粒"})


def _rxa() -> str:
    # RXA-3 when given, RXA-5 the drug given, RXA-6/7 how much
    return segment("RXA", {1: "0", 2: "1", 3: "20260315100000", 5: "Y3002^头孢呋辛钠^L", 6: "1.5", 7: "g^g^UCUM"})


@pytest.mark.parametrize(
    ("header", "body", "name"),
    [
        (msh("RDS", "O13", "RDS_O13", "RDS9001"), _rxd(), "RXD"),
        (msh("RAS", "O17", "RAS_O17", "RAS9001"), _rxa(), "RXA"),
    ],
)
def test_a_segment_without_the_orc_of_its_order_is_refused_as_out_of_place(converter, header, body, name):
    with pytest.raises(ConversionError) as caught:
        convert(converter, message(header, pid(), body))
    error = caught.value
    assert (error.hl7_code, error.location) == ("100", f"{name}^1")
    text = str(error)
    assert "missing" not in text, text
    assert f"the {name} segment is outside its ORDER group" in text and "ORC" in text, text


def test_a_segment_that_is_absent_is_still_reported_missing(converter):
    with pytest.raises(ConversionError, match="the RXD segment is missing") as caught:
        convert(converter, message(msh("RDS", "O13", "RDS_O13", "RDS9002"), pid(), segment("ORC", {1: "RE"})))
    assert caught.value.location == "RXD^1"


def test_a_group_whose_own_first_segment_is_absent_names_the_next_one(converter):
    # ADT^A24 links two patients: the second PID opens the group OTHER. Sent with one PID (and an MRG in place of
    # the second), the second PID is missing: said so, at PID^2, not "the PID segment is outside its OTHER group"
    header = msh("ADT", "A24", "ADT_A24", "A249001")
    with pytest.raises(ConversionError) as caught:
        convert(converter, message(header, segment("EVN", {1: "A24"}), pid(), segment("MRG", {1: "MRN0002^^^H^MR"})))
    error = caught.value
    assert (error.hl7_code, error.location) == ("100", "PID^2"), str(error)
    assert "the second PID segment is missing" in str(error) and "OTHER" in str(error), str(error)
