"""A document's OBX of a structured type (CE, CWE, SN, XPN …) is carried whole as text, not its first component.

MDM content is one attachment per OBX, text as base64 of its UTF-8 (DocumentReference.content). A value of a
type with components (a coded diagnosis POS^阳性^L, a structured numeric >^120) was read as its first component
only, so that the attachment said "POS" or ">" and the rest of the value was lost without a word. All of its
components are now kept, separated by a space (the datatype components_text, which results use for a value of a
type they cannot read); text types (TX, ST, FT) and numbers are carried as before.
"""

from __future__ import annotations

import base64

import pytest

from .conftest import convert, one
from .test_mdm import mdm


@pytest.mark.parametrize(
    ("obx", "text"),
    [
        ("OBX|1|CE|29548-5^诊断^LN||POS^阳性^L||||||F", "POS 阳性 L"),
        (
            "OBX|1|CWE|29548-5^诊断^LN||I10^原发性高血压^I10~E11.9^2型糖尿病^I10||||||F",
            "I10 原发性高血压 I10\nE11.9 2型糖尿病 I10",  # each repetition a line
        ),
        ("OBX|1|SN|8480-6^收缩压^LN||>^120|mm[Hg]|||||F", "> 120"),
        ("OBX|1|TX|18842-5^出院小结^LN||患者一般情况良好||||||F", "患者一般情况良好"),
        ("OBX|1|NM|3141-9^体重^LN||72|kg|||||F", "72"),
    ],
)
def test_a_structured_value_is_carried_whole(converter, obx, text):
    document = one(convert(converter, mdm("T02", obx)), "DocumentReference")
    (content,) = document["content"]
    assert base64.b64decode(content["attachment"]["data"]).decode("utf-8") == text
