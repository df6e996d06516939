"""Order responses (ORL, ORR, ORG): the filler's acknowledgment of an order, refused as a response (as ORI, ORP)."""

from __future__ import annotations

import pytest

from hub.errors import ConversionError

from .conftest import convert
from .order_messages import message, msh, obr, orc, pid


@pytest.mark.parametrize(
    ("code", "event", "structure", "answers"),
    [
        ("ORL", "O22", "ORL_O22", r"a laboratory order \(OML\^O21\)"),
        ("ORL", "O34", "ORL_O34", r"a specimen-oriented laboratory order \(OML\^O33\)"),
        ("ORL", "O36", "ORL_O36", r"a container-oriented laboratory order \(OML\^O35\)"),
        ("ORR", "O02", "ORR_O02", r"a general order \(ORM\^O01\)"),
        ("ORG", "O20", "ORG_O20", r"a general clinical order \(OMG\^O19\)"),
    ],
)
def test_an_order_response_is_refused_as_a_response(converter, code, event, structure, answers):
    # v2.5.1 ch. 4: the application acknowledgment the filler sends back (MSA, the orders as it received them); it
    # places, changes and cancels nothing: refused with that reason at MSH-9.2, not as an unknown structure
    text = message(msh(code, event, structure, "R1"), "MSA|AA|OML1", pid(), orc(f1="OK"), obr())
    with pytest.raises(ConversionError, match=answers) as caught:
        convert(converter, text)
    assert caught.value.location == "MSH^1^9^2"
    # without MSH-9.3 the structure is table 0354's
    with pytest.raises(ConversionError, match=answers):
        convert(converter, message(msh(code, event, "", "R2"), "MSA|AA|OML1"))
